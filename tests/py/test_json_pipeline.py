"""The pipelined JSON reader (json_pipe.c): morsels of whole lines parsed by
whichever worker is free and consumed in input order. Checks what the cuts
could break (lines at and across morsel boundaries, lines longer than a
morsel or than max_line_bytes, a last line without '\\n', FAIL stopping at
a late bad line) against pyarrow and DuckDB, and that reading a file keeps
its resident memory bounded."""
import ctypes
import io
import json
import os
import subprocess
import sys

import pytest

from jsonutil import ROOT, SlError, gen_logs

pa = pytest.importorskip("pyarrow")
pj = pytest.importorskip("pyarrow.json")
duckdb = pytest.importorskip("duckdb")

SCHEMA = "id: int64, s: utf8, x: float64"
PA_SCHEMA = pa.schema([("id", pa.int64()), ("s", pa.string()), ("x", pa.float64())])


def pyarrow_rows(text):
    t = pj.read_json(io.BytesIO(text), parse_options=pj.ParseOptions(
        explicit_schema=PA_SCHEMA, unexpected_field_behavior="ignore"))
    return t.to_pylist()


def duckdb_rows(path):
    con = duckdb.connect()
    res = con.execute("SELECT id, s, x FROM read_json(?, format='newline_delimited', "
                      "columns={'id': 'BIGINT', 's': 'VARCHAR', 'x': 'DOUBLE'}, "
                      "maximum_object_size=1000000000)", [str(path)])
    return [dict(zip(("id", "s", "x"), r)) for r in res.fetchall()]


def offsets_of(lines):
    out = [0]
    for ln in lines:
        out.append(out[-1] + len(ln.encode()) + 1)
    return out


def varied_lines(n, seed, long_every=0, long_len=0):
    """Lines of very different lengths (so morsel boundaries fall everywhere
    within lines); every long_every-th line carries a long_len string."""
    import random
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        k = long_len if long_every and i % long_every == long_every - 1 else rng.randrange(0, 300)
        s = "".join(rng.choice("abcdefghij \u00e9\u4e2d\"\\") for _ in range(k))
        lines.append(json.dumps({"id": i, "s": s, "x": rng.random() * 1000},
                                ensure_ascii=rng.random() < 0.5))
    return lines


def read_batches(sj, path, options):
    """Reads a file batch by batch; returns (batches, error message or None)."""
    L = sj.lib
    o, cb = sj._opts(options, None)
    err = SlError()
    rd = ctypes.c_void_p()
    if L.sl_json_open_file(str(path).encode(), o, ctypes.byref(rd), ctypes.byref(err)):
        L.sl_json_options_release(o)
        raise ValueError(err.msg.decode())
    L.sl_json_reader_next_arrow.argtypes = [ctypes.c_void_p] * 4
    arr = ctypes.create_string_buffer(128)
    sch = ctypes.create_string_buffer(128)
    batches, msg = [], None
    try:
        while True:
            rc = L.sl_json_reader_next_arrow(rd, arr, sch, ctypes.byref(err))
            if rc == -1:
                break
            if rc:
                msg = err.msg.decode()
                break
            batches.append(pa.RecordBatch._import_from_c(ctypes.addressof(arr),
                                                         ctypes.addressof(sch)))
    finally:
        L.sl_json_reader_free(rd)
        L.sl_json_options_release(o)
        del cb
    return batches, msg


@pytest.mark.parametrize("threads", [1, 2])
def test_many_small_morsels_match_oracles(sj, tmp_path, threads):
    lines = varied_lines(3000, seed=5)
    data = ("\n".join(lines) + "\n").encode()
    p = tmp_path / "v.jsonl"
    p.write_bytes(data)
    want = pyarrow_rows(data)
    assert duckdb_rows(p) == want
    # morsels from 1 byte (every line straddles many boundaries) upwards;
    # file (mapped) and buffer sources share the pipeline
    for chunk in (1, 7, 64, 333, 4096, 65536):
        opts = {"schema": SCHEMA, "threads": threads, "chunk_bytes": chunk, "batch_rows": 100}
        assert sj.read(path=str(p), options=opts).to_pylist() == want, chunk
        assert sj.read(data, options=opts).to_pylist() == want, chunk


@pytest.mark.parametrize("threads", [1, 2])
def test_bad_lines_at_morsel_boundaries(sj, tmp_path, threads):
    text, bad = gen_logs(4000, seed=31, messy=True, bad_rate=0.05)
    data = text.encode()
    lines = text.split("\n")
    offs = offsets_of(lines)
    p = tmp_path / "messy.jsonl"
    p.write_bytes(data)
    good = "".join(ln + "\n" for i, ln in enumerate(lines[:-1], 1) if i not in set(bad))
    want_ids = [r["status"] for r in pj.read_json(io.BytesIO(good.encode()), parse_options=pj.ParseOptions(
        explicit_schema=pa.schema([("status", pa.int64())]),
        unexpected_field_behavior="ignore")).to_pylist()]
    # Morsel sizes around one line's length put the cuts at every position
    # of bad and good lines: at the first byte, inside, at the '\n'.
    for chunk in (97, 300, 301, 511, 1000, 4093):
        reported = []
        t = sj.read(path=str(p), options={"schema": "status: int64", "bad_lines": "skip",
                                          "threads": threads, "chunk_bytes": chunk,
                                          "batch_rows": 64}, bad=reported)
        assert [r[0] for r in reported] == bad, chunk
        assert [r[1] for r in reported] == [offs[n - 1] for n in bad], chunk
        assert [r[2] for r in reported] == [lines[n - 1] for n in bad], chunk
        assert t.column("status").to_pylist() == want_ids, chunk
        # FAIL names the first one, whatever the cuts
        with pytest.raises(ValueError) as e:
            sj.read(path=str(p), options={"schema": "status: int64", "threads": threads,
                                          "chunk_bytes": chunk})
        assert "line %d (byte offset %d" % (bad[0], offs[bad[0] - 1]) in str(e.value)


@pytest.mark.parametrize("threads", [1, 2])
def test_lines_longer_than_a_morsel(sj, tmp_path, threads):
    # every 50th line carries a 40 KB string: it spans ~40 morsels of 1 KiB
    lines = varied_lines(600, seed=9, long_every=50, long_len=40000)
    data = ("\n".join(lines) + "\n").encode()
    p = tmp_path / "long.jsonl"
    p.write_bytes(data)
    want = pyarrow_rows(data)
    assert duckdb_rows(p) == want
    for chunk in (1024, 5000, 1 << 20):
        opts = {"schema": SCHEMA, "threads": threads, "chunk_bytes": chunk, "batch_rows": 50}
        assert sj.read(path=str(p), options=opts).to_pylist() == want, chunk


@pytest.mark.parametrize("threads", [1, 2])
def test_lines_over_max_line_bytes_across_morsels(sj, tmp_path, threads):
    lines = varied_lines(400, seed=13, long_every=40, long_len=30000)
    data = ("\n".join(lines) + "\n").encode()
    offs = offsets_of(lines)
    p = tmp_path / "toolong.jsonl"
    p.write_bytes(data)
    limit = 20000
    too_long = [i + 1 for i, ln in enumerate(lines) if len(ln.encode()) > limit]
    assert len(too_long) == 10
    keep = "".join(ln + "\n" for i, ln in enumerate(lines, 1) if i not in set(too_long))
    want = pyarrow_rows(keep.encode())
    for chunk in (512, 4096, 25000, 1 << 20):
        reported = []
        t = sj.read(path=str(p), options={"schema": SCHEMA, "threads": threads,
                                          "chunk_bytes": chunk, "bad_lines": "skip",
                                          "max_line_bytes": limit, "batch_rows": 64},
                    bad=reported)
        assert [r[0] for r in reported] == too_long, chunk
        assert [r[1] for r in reported] == [offs[n - 1] for n in too_long], chunk
        for line_no, _, text, reason in reported:
            assert "max_line_bytes" in reason
            # the callback sees the line or its first max_line_bytes (the
            # last character may be cut, so compare the rest)
            assert lines[line_no - 1].startswith(text[:-1])
            if chunk < limit:  # split by the morsel grid: never parsed whole
                assert len(text) <= limit
        assert t.to_pylist() == want, chunk
        with pytest.raises(ValueError) as e:
            sj.read(path=str(p), options={"schema": SCHEMA, "threads": threads,
                                          "chunk_bytes": chunk, "max_line_bytes": limit})
        assert "line %d (byte offset %d" % (too_long[0], offs[too_long[0] - 1]) in str(e.value)


@pytest.mark.parametrize("threads", [1, 2])
def test_fail_at_a_late_bad_line_hands_out_nothing_after_it(sj, tmp_path, threads):
    lines = varied_lines(20000, seed=17)
    bad_no = 18123
    lines[bad_no - 1] = lines[bad_no - 1][:-5]  # cut off: invalid JSON
    offs = offsets_of(lines)
    p = tmp_path / "late.jsonl"
    p.write_bytes(("\n".join(lines) + "\n").encode())
    want = pyarrow_rows(("\n".join(lines[:bad_no - 1]) + "\n").encode())
    for chunk in (2048, 65536):
        batches, msg = read_batches(sj, p, {"schema": SCHEMA, "threads": threads,
                                            "chunk_bytes": chunk, "batch_rows": 100})
        assert msg and "line %d (byte offset %d" % (bad_no, offs[bad_no - 1]) in msg
        got = pa.Table.from_batches(batches, schema=batches[0].schema).to_pylist() \
            if batches else []
        # batches come out in input order and none holds a row from after the
        # bad line (a prefix of the good rows before it)
        assert len(got) < bad_no
        assert got == want[:len(got)]
        assert len(got) > 0  # earlier morsels were handed out


@pytest.mark.parametrize("threads", [1, 2])
def test_no_trailing_newline(sj, tmp_path, threads):
    lines = varied_lines(2000, seed=21)
    for last in (lines[-1], '{"id": 7, "s": "x", "x": 1.5', "  "):
        body = "\n".join(lines[:-1] + [last])
        data = body.encode()  # no '\n' at the end
        p = tmp_path / "nonl.jsonl"
        p.write_bytes(data)
        complete = last.strip() == "" or last.endswith("}")
        want = pyarrow_rows(("\n".join(lines[:-1] + ([last] if complete else [])) + "\n")
                            .encode())
        for chunk in (100, 4096, 1 << 20):
            reported = []
            opts = {"schema": SCHEMA, "threads": threads, "chunk_bytes": chunk,
                    "bad_lines": "skip"}
            t = sj.read(path=str(p), options=opts, bad=reported)
            assert t.to_pylist() == want, (chunk, last)
            if complete:
                assert reported == []
            else:
                assert [(r[0], r[1], r[2]) for r in reported] == [
                    (len(lines), len(data) - len(last.encode()), last)]


def test_file_read_keeps_resident_memory_bounded(sj, tmp_path):
    """A 320 MB file read whole: the consumed part of the mapping is
    released, so peak RSS stays far below the file size."""
    text, _ = gen_logs(3000, seed=3)
    block = text.encode()
    p = tmp_path / "big.jsonl"
    reps = 320_000_000 // len(block) + 1
    with open(p, "wb") as f:
        for _ in range(reps):
            f.write(block)
    code = r"""
import ctypes, resource, sys
sys.path.insert(0, %r)
from jsonutil import SluiceJson, SlError
sj = SluiceJson(); L = sj.lib
o, _ = sj._opts({"schema": "status: int64, level: utf8", "threads": 2}, None)
err = SlError(); rd = ctypes.c_void_p()
assert L.sl_json_open_file(%r, o, ctypes.byref(rd), ctypes.byref(err)) == 0
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
L.sl_json_reader_next_arrow.argtypes = [ctypes.c_void_p] * 4
arr = ctypes.create_string_buffer(128); sch = ctypes.create_string_buffer(128)
n = 0
import pyarrow as pa
while True:
    rc = L.sl_json_reader_next_arrow(rd, arr, sch, ctypes.byref(err))
    if rc == -1: break
    assert rc == 0, err.msg
    n += pa.RecordBatch._import_from_c(ctypes.addressof(arr), ctypes.addressof(sch)).num_rows
L.sl_json_reader_free(rd)
print(n, base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""" % (os.path.join(ROOT, "tests", "py"), str(p).encode())
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr
    rows, base_kb, peak_kb = map(int, out.stdout.split())
    assert rows == reps * 3000
    size_mb = os.path.getsize(p) / 1e6
    grown_mb = (peak_kb - base_kb) / 1024
    assert grown_mb < 120, (grown_mb, size_mb)
