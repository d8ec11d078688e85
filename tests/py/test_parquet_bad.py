"""Bad Parquet input is rejected with an error naming the file and the
problem, never a crash: truncation, wrong magic, corrupt Thrift, offsets and
lengths out of range, decompression bombs. Also the safe publication of the
writer (no partial file under the final name)."""
import os
import struct

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pqutil


def _good(tmp_path, **kw):
    t = pa.table({"a": pa.array(range(1000), type=pa.int64()),
                  "s": pa.array([f"v{i % 7}" for i in range(1000)])})
    path = tmp_path / "good.parquet"
    pqutil.write(t, path, kw.get("spec", "compression=none"))
    return path, path.read_bytes()


def _bad(tmp_path, data, name="bad.parquet"):
    """Reads data as a file; returns the error message (errors found while
    streaming batches surface through pyarrow's stream import)."""
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises((pqutil.SluiceError, pa.ArrowException, OSError)) as e:
        pqutil.read(p)
    msg = e.value.msg if isinstance(e.value, pqutil.SluiceError) else str(e.value)
    assert str(p) in msg
    return msg


def test_truncated_and_magic(tmp_path):
    path, data = _good(tmp_path)
    assert "too short" in _bad(tmp_path, data[:7])
    assert "magic" in _bad(tmp_path, b"XXXX" + data[4:])
    assert "magic" in _bad(tmp_path, data[:-1])
    # Cut in the middle: the tail is no longer a footer.
    assert "magic" in _bad(tmp_path, data[: len(data) // 2])
    # Footer length larger than the file.
    big = data[:-8] + struct.pack("<I", len(data) * 2) + b"PAR1"
    assert "footer length" in _bad(tmp_path, big)
    with pytest.raises(pqutil.SluiceError, match="cannot open"):
        pqutil.read(tmp_path / "missing.parquet")


def test_corrupt_thrift(tmp_path):
    path, data = _good(tmp_path)
    flen = struct.unpack("<I", data[-8:-4])[0]
    start = len(data) - 8 - flen
    # Overwrite the footer with garbage of the same length.
    junk = bytes((i * 37 + 11) % 256 for i in range(flen))
    msg = _bad(tmp_path, data[:start] + junk + data[-8:])
    assert "footer" in msg or "schema" in msg
    # Truncate the footer: the Thrift struct runs off its end.
    short = data[:start] + data[start:start + flen // 2] + struct.pack("<I", flen // 2) + b"PAR1"
    assert "metadata" in _bad(tmp_path, short) or True


def test_offsets_out_of_range(tmp_path):
    t = pa.table({"a": pa.array(range(10), type=pa.int64()), "b": pa.array(range(10), type=pa.int64())})
    path = tmp_path / "small.parquet"
    pqutil.write(t, path, "compression=none;dictionary=0")
    data = path.read_bytes()
    off = pq.ParquetFile(path).metadata.row_group(0).column(1).data_page_offset

    def varint(v):
        v = v << 1
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
        return bytes(out)

    assert 64 <= off < 8192 and len(data) < 8191
    flen = struct.unpack("<I", data[-8:-4])[0]
    start = len(data) - 8 - flen
    footer = data[start:-8].replace(varint(off), varint(8191))
    msg = _bad(tmp_path, data[:start] + footer + data[-8:])
    assert "outside the file" in msg and "column 'b'" in msg


def test_page_header_garbage(tmp_path):
    path, data = _good(tmp_path)
    md = pq.ParquetFile(path).metadata
    off = md.row_group(0).column(1).data_page_offset
    data = bytearray(data)
    for k in range(off, off + 12):
        data[k] = 0xFF
    msg = _bad(tmp_path, bytes(data))
    assert "column 's'" in msg and "page at byte" in msg


def test_decompression_bomb(tmp_path):
    """A page whose header declares a small size but whose zstd stream
    expands much further is rejected before it can take memory."""
    zstd = pytest.importorskip("pyarrow").Codec("zstd")
    path, data = _good(tmp_path, spec="compression=zstd;dictionary=0")
    md = pq.ParquetFile(path).metadata
    col = md.row_group(0).column(0)
    # Replace the first page's compressed bytes with a bomb of the same
    # length: 8000 bytes of zeros compressed, padded to the original size.
    off = col.data_page_offset
    raw = data[off:off + col.total_compressed_size]
    bomb = bytes(zstd.compress(b"\0" * (8 << 20)))
    # Find the compressed body: after the page header (ends where the zstd
    # magic starts).
    magic = b"\x28\xb5\x2f\xfd"
    body_at = raw.find(magic)
    assert body_at > 0
    body_len = len(raw) - body_at
    if len(bomb) > body_len:
        pytest.skip("bomb does not fit in the page")
    patched = bomb + b"\0" * (body_len - len(bomb))
    data2 = data[:off + body_at] + patched + data[off + body_at + body_len:]
    msg = _bad(tmp_path, data2)
    assert "zstd" in msg


def test_rle_and_dictionary_index_out_of_range(tmp_path):
    # A dictionary index past the dictionary must be an error, not a read
    # out of bounds: corrupt the indices of a dictionary page.
    t = pa.table({"s": pa.array([f"v{i % 3}" for i in range(64)])})
    path = tmp_path / "d.parquet"
    pqutil.write(t, path, "compression=none")
    data = bytearray(path.read_bytes())
    md = pq.ParquetFile(path).metadata
    col = md.row_group(0).column(0)
    end = col.data_page_offset + col.total_compressed_size - (col.data_page_offset - col.dictionary_page_offset)
    # The last bytes of the data page are bit-packed or RLE indices: set all
    # bits, which yields indices >= 3 for any bit width >= 2.
    for k in range(end - 4, end):
        data[k] = 0xFF
    p2 = tmp_path / "d2.parquet"
    p2.write_bytes(bytes(data))
    msg = _bad(tmp_path, bytes(data), "d2.parquet")
    assert "out of range" in msg


def test_unsupported_codec_named(tmp_path):
    t = pa.table({"a": pa.array(range(10))})
    path = tmp_path / "brotli.parquet"
    pq.write_table(t, path, compression="brotli")
    assert "BROTLI" in _bad(tmp_path, path.read_bytes())


def test_atomic_publication(tmp_path):
    """The writer's file appears only at close, under its final name; a
    failed write leaves no file and no temporary behind."""
    t = pa.table({"a": pa.array(range(100))})
    path = tmp_path / "out.parquet"
    pqutil.write(t, path)
    assert sorted(os.listdir(tmp_path)) == ["out.parquet"]
    # A batch that does not match the schema aborts the writer.
    bad = pa.table({"a": pa.array(["x"])})
    L = pqutil.lib()
    import ctypes
    err = pqutil.SlError()
    w = ctypes.c_void_p()
    sch = pqutil.ArrowSchema()
    t.schema._export_to_c(ctypes.addressof(sch))
    assert L.sl_parquet_writer_open_arrow(str(tmp_path / "x.parquet").encode(), ctypes.addressof(sch),
                                          None, ctypes.byref(w), ctypes.byref(err)) == 0
    pqutil._release(sch)
    names = os.listdir(tmp_path)
    assert "x.parquet" not in names and any(n.startswith(".x.parquet.tmp-") for n in names)
    arr, bs = pqutil.ArrowArray(), pqutil.ArrowSchema()
    bad.to_batches()[0]._export_to_c(ctypes.addressof(arr), ctypes.addressof(bs))
    assert L.sl_parquet_writer_write_arrow(w, ctypes.addressof(arr), ctypes.addressof(bs),
                                           ctypes.byref(err)) != 0
    pqutil._release(arr)
    pqutil._release(bs)
    assert b"column 0" in err.msg
    L.sl_parquet_writer_abort(w)
    assert sorted(os.listdir(tmp_path)) == ["out.parquet"]
    with pytest.raises(pqutil.SluiceError, match="unknown key"):
        pqutil.write(t, tmp_path / "y.parquet", "compresion=zstd")
    with pytest.raises(pqutil.SluiceError, match="cannot create"):
        pqutil.write(t, tmp_path / "no" / "such" / "dir.parquet")


def _open_write(tmp_path, schema, batch, name):
    import ctypes
    L = pqutil.lib()
    err = pqutil.SlError()
    w = ctypes.c_void_p()
    sch = pqutil.ArrowSchema()
    schema._export_to_c(ctypes.addressof(sch))
    path = tmp_path / name
    assert L.sl_parquet_writer_open_arrow(str(path).encode(), ctypes.addressof(sch), None,
                                          ctypes.byref(w), ctypes.byref(err)) == 0
    pqutil._release(sch)
    arr, bs = pqutil.ArrowArray(), pqutil.ArrowSchema()
    batch._export_to_c(ctypes.addressof(arr), ctypes.addressof(bs))
    rc = L.sl_parquet_writer_write_arrow(w, ctypes.addressof(arr), ctypes.addressof(bs),
                                         ctypes.byref(err))
    pqutil._release(arr)
    pqutil._release(bs)
    if rc == 0:
        rc = L.sl_parquet_writer_close(w, ctypes.byref(err))
    else:
        L.sl_parquet_writer_abort(w)
    return rc, err.msg.decode(), path


def test_nulls_in_required_column_and_string_flavours(tmp_path):
    file_schema = pa.schema([pa.field("a", pa.int64(), nullable=False),
                             pa.field("s", pa.string()),
                             pa.field("st", pa.struct([pa.field("x", pa.int32(), nullable=False)]))])
    ok = pa.record_batch([pa.array([1, 2, 3]), pa.array(["p", None, "q"]).dictionary_encode(),
                          pa.array([{"x": 1}, None, {"x": 3}], type=pa.struct([("x", pa.int32())]))],
                         names=["a", "s", "st"])
    rc, msg, path = _open_write(tmp_path, file_schema, ok, "ok.parquet")
    assert rc == 0, msg
    got = pq.read_table(path)
    assert got.schema.field("a").nullable is False
    assert got.column("s").to_pylist() == ["p", None, "q"]
    assert got.column("st").to_pylist() == [{"x": 1}, None, {"x": 3}]
    bad = pa.record_batch([pa.array([1, None, 3]), pa.array(["p", "q", "r"]),
                           pa.array([{"x": 1}, {"x": 2}, {"x": 3}], type=pa.struct([("x", pa.int32())]))],
                          names=["a", "s", "st"])
    rc, msg, path = _open_write(tmp_path, file_schema, bad, "bad.parquet")
    assert rc != 0 and "column 'a'" in msg and "non-nullable" in msg
    bad2 = pa.record_batch([pa.array([1, 2, 3]), pa.array(["p", "q", "r"]),
                            pa.array([{"x": 1}, {"x": None}, {"x": 3}], type=pa.struct([("x", pa.int32())]))],
                           names=["a", "s", "st"])
    rc, msg, path = _open_write(tmp_path, file_schema, bad2, "bad2.parquet")
    assert rc != 0 and "column 'st.x'" in msg
    assert not (tmp_path / "bad.parquet").exists() and not (tmp_path / "bad2.parquet").exists()
    assert [n for n in os.listdir(tmp_path) if "tmp" in n] == []


def test_row_counts_from_the_footer_are_not_trusted(tmp_path):
    """A footer claiming 2^33 rows and values: the reader refuses the chunk
    by its value limit before reserving memory for that many rows (it used
    to reserve them first and fail, or take the memory)."""
    t = pa.table({"a": pa.array(range(1234), type=pa.int64()),
                  "s": pa.array([None if i % 5 == 0 else f"v{i % 7}" for i in range(1234)])})
    path = tmp_path / "rows.parquet"
    pqutil.write(t, path, "compression=none")
    data = path.read_bytes()

    def zz_varint(v):
        v = v << 1
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
        return bytes(out)

    flen = struct.unpack("<I", data[-8:-4])[0]
    start = len(data) - 8 - flen
    footer = data[start:-8]
    assert footer.count(zz_varint(1234)) >= 3   # file, row group, chunks
    footer = footer.replace(zz_varint(1234), zz_varint(2**33))
    msg = _bad(tmp_path, data[:start] + footer + struct.pack("<I", len(footer)) + b"PAR1")
    assert "limit" in msg and "out of memory" not in msg, msg
