"""sluice's Parquet writer and reader against pyarrow, DuckDB and Polars.

For random tables of every supported type (nulls, empty and very long
strings, nested lists and structs) written with every codec, dictionary on
and off, data page v1 and v2, several row groups and pages:
  - pyarrow, DuckDB and Polars read our files and get exactly our values;
  - our reader reads their files and gets exactly their values;
  - our column statistics equal pyarrow's for the same data and row groups.
"""
import datetime as dt
import random

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pqutil

ROWS = 2500
ROW_GROUP = 700


def _strings(rng, n, null_p=0.1, long_every=400):
    out = []
    alphabet = "abcxyzABC019 _-é€😀\"\\/"
    for i in range(n):
        r = rng.random()
        if r < null_p:
            out.append(None)
        elif r < null_p + 0.05:
            out.append("")
        elif i % long_every == 7:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(5000, 70000))))
        else:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))))
    return out


def random_table(seed=1, n=ROWS):
    rng = random.Random(seed)

    def maybe(v, p=0.12):
        return None if rng.random() < p else v

    i32 = [maybe(rng.choice([rng.randint(-(2**31), 2**31 - 1), rng.randint(-50, 50)])) for _ in range(n)]
    i64 = [maybe(rng.randint(-(2**63), 2**63 - 1)) for _ in range(n)]
    i64_low = [maybe(rng.randint(0, 20)) for _ in range(n)]
    f64 = [maybe(rng.choice([rng.uniform(-1e9, 1e9), 0.0, -0.0, float("inf"), -float("inf"), 1.5])) for _ in range(n)]
    b = [maybe(rng.random() < 0.5) for _ in range(n)]
    s = _strings(rng, n)
    s_low = [maybe(rng.choice(["GET", "POST", "PUT", "DELETE", ""])) for _ in range(n)]
    base = 1_700_000_000_000
    ts_ms = [maybe(base + rng.randint(-10**9, 10**9)) for _ in range(n)]
    ts_us = [maybe(base * 1000 + i * 1001 + rng.randint(0, 999)) for i in range(n)]
    d = [maybe(rng.randint(-30000, 30000)) for _ in range(n)]
    req = list(range(n))

    def lst(gen, p_null=0.1, p_empty=0.1):
        r = rng.random()
        if r < p_null:
            return None
        if r < p_null + p_empty:
            return []
        return [gen() for _ in range(rng.randint(1, 5))]

    l_i = [lst(lambda: maybe(rng.randint(-1000, 1000), 0.15)) for _ in range(n)]
    l_s = [lst(lambda: maybe(rng.choice(["a", "bb", "", "ccc" * 10]), 0.15)) for _ in range(n)]
    st = [maybe({"a": maybe(rng.randint(-5, 5)), "b": maybe(rng.choice(["x", "yy", ""])),
                 "c": lst(lambda: maybe(rng.randint(0, 9)))}) for _ in range(n)]
    ls = [lst(lambda: maybe({"x": maybe(rng.randint(0, 10**12)), "y": maybe(rng.choice(["p", "q"]))}))
          for _ in range(n)]
    ll = [lst(lambda: lst(lambda: maybe(rng.randint(0, 99)))) for _ in range(n)]

    schema = pa.schema([
        pa.field("i32", pa.int32()),
        pa.field("i64", pa.int64()),
        pa.field("i64_low", pa.int64()),
        pa.field("f64", pa.float64()),
        pa.field("b", pa.bool_()),
        pa.field("s", pa.string()),
        pa.field("s_low", pa.string()),
        pa.field("ts_ms", pa.timestamp("ms", tz="UTC")),
        pa.field("ts_us", pa.timestamp("us", tz="UTC")),
        pa.field("d", pa.date32()),
        pa.field("req", pa.int64(), nullable=False),
        pa.field("l_i", pa.list_(pa.int64())),
        pa.field("l_s", pa.list_(pa.string())),
        pa.field("st", pa.struct([pa.field("a", pa.int32()), pa.field("b", pa.string()),
                                  pa.field("c", pa.list_(pa.int32()))])),
        pa.field("ls", pa.list_(pa.struct([pa.field("x", pa.int64()), pa.field("y", pa.string())]))),
        pa.field("ll", pa.list_(pa.list_(pa.int32()))),
    ])
    cols = [i32, i64, i64_low, f64, b, s, s_low, ts_ms, ts_us, d, req, l_i, l_s, st, ls, ll]
    arrays = []
    for f, c in zip(schema, cols):
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(c, type=pa.int64()).cast(f.type))
        elif pa.types.is_date32(f.type):
            arrays.append(pa.array(c, type=pa.int32()).cast(f.type))
        else:
            arrays.append(pa.array(c, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def same(expected, got):
    """Exact equality after casting got to expected's types (a list's child
    name and a reader's string flavour are not values)."""
    got = got.select(expected.column_names)
    got = got.cast(expected.schema)
    assert got.num_rows == expected.num_rows
    for name in expected.column_names:
        a = expected.column(name).combine_chunks()
        b = got.column(name).combine_chunks()
        assert a.equals(b), f"column {name} differs:\n{a.to_pylist()[:20]}\n{b.to_pylist()[:20]}"


CODECS = ["none", "snappy", "zstd", "gzip", "lz4"]


@pytest.fixture(scope="module")
def table():
    return random_table(7)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("dictionary", [1, 0])
@pytest.mark.parametrize("page_version", [1, 2])
def test_peers_read_our_files(tmp_path, table, codec, dictionary, page_version):
    path = tmp_path / "ours.parquet"
    spec = (f"compression={codec};dictionary={dictionary};page_version={page_version};"
            f"row_group_rows={ROW_GROUP};page_bytes=4096")
    pqutil.write(table, path, spec, batch_rows=600)
    f = pq.ParquetFile(path)
    assert f.metadata.num_row_groups == -(-ROWS // ROW_GROUP)
    assert f.metadata.created_by.startswith("sluice version ")
    # Several pages per column chunk: the data page offsets leave room.
    col = f.metadata.row_group(0).column(0)
    assert col.compression == {"none": "UNCOMPRESSED", "lz4": "LZ4"}.get(codec, codec.upper())
    # pyarrow: values and types.
    got = pq.read_table(path)
    assert got.schema.field("req").nullable is False
    assert got.schema.field("ts_ms").type == pa.timestamp("ms", tz="UTC")
    assert got.schema.field("d").type == pa.date32()
    same(table, got)
    # DuckDB.
    con = duckdb.connect()
    types = dict(con.execute(f"select column_name, column_type from (describe select * from read_parquet('{path}'))").fetchall())
    assert types["i32"] == "INTEGER" and types["i64"] == "BIGINT" and types["s"] == "VARCHAR"
    assert types["ts_us"] == "TIMESTAMP WITH TIME ZONE" and types["d"] == "DATE"
    assert types["b"] == "BOOLEAN" and types["f64"] == "DOUBLE"
    assert types["l_i"] == "BIGINT[]" and types["st"].startswith("STRUCT(")
    same(table, con.sql(f"select * from read_parquet('{path}')").to_arrow_table())
    # Polars.
    same(table, pl.read_parquet(path).to_arrow())
    # And our own reader.
    same(table, pqutil.read(path))


def test_our_reader_on_pyarrow_files(tmp_path, table):
    variants = [
        dict(compression="zstd"),
        dict(compression="snappy", data_page_version="2.0"),
        dict(compression="gzip", use_dictionary=False),
        dict(compression="lz4", use_dictionary=False, data_page_version="2.0"),
        dict(compression="none", use_dictionary=False,
             column_encoding={"i64": "DELTA_BINARY_PACKED", "i32": "DELTA_BINARY_PACKED",
                              "s": "DELTA_LENGTH_BYTE_ARRAY", "s_low": "DELTA_BYTE_ARRAY",
                              "f64": "BYTE_STREAM_SPLIT"}),
        dict(compression="zstd", use_dictionary=False, data_page_version="2.0",
             column_encoding={"ts_us": "DELTA_BINARY_PACKED", "b": "RLE"}),
    ]
    for i, kw in enumerate(variants):
        path = tmp_path / f"pa{i}.parquet"
        pq.write_table(table, path, row_group_size=ROW_GROUP, data_page_size=2048, **kw)
        same(pq.read_table(path), pqutil.read(path))


def test_our_reader_on_duckdb_files(tmp_path, table):
    con = duckdb.connect()
    con.register("t", table)
    for i, opts in enumerate(["COMPRESSION zstd", "COMPRESSION snappy, ROW_GROUP_SIZE 1000",
                              "COMPRESSION uncompressed, PARQUET_VERSION v2",
                              "COMPRESSION gzip"]):
        path = tmp_path / f"duck{i}.parquet"
        con.execute(f"COPY t TO '{path}' (FORMAT parquet, {opts})")
        # DuckDB is the oracle for its own files (pyarrow rejects some v2
        # ones); its timestamps come back in microseconds.
        expected = con.sql(f"select * from read_parquet('{path}')").to_arrow_table()
        same(expected, pqutil.read(path))


def test_our_reader_on_polars_files(tmp_path, table):
    df = pl.from_arrow(table)
    for i, kw in enumerate([dict(compression="zstd"), dict(compression="snappy", row_group_size=500),
                            dict(compression="lz4", statistics=False),
                            dict(compression="uncompressed", use_pyarrow=False, data_page_size=1000)]):
        path = tmp_path / f"pl{i}.parquet"
        df.write_parquet(path, **kw)
        same(pq.read_table(path), pqutil.read(path))


def _stats(path):
    md = pq.ParquetFile(path).metadata
    out = []
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for c in range(rg.num_columns):
            col = rg.column(c)
            st = col.statistics
            out.append((g, col.path_in_schema, st.has_min_max,
                        st.min if st.has_min_max else None,
                        st.max if st.has_min_max else None,
                        st.null_count))
    return out


@pytest.mark.parametrize("dictionary", [1, 0])
def test_statistics_equal_pyarrow(tmp_path, dictionary):
    t = random_table(11)
    # NaN is left out of min/max, signed zeros are normalised, all-null and
    # all-NaN chunks have no min/max: cover those too.
    extra = pa.table({
        "nan": pa.array([float("nan") if i % 3 else i * 0.5 for i in range(ROWS)]),
        "zeros": pa.array([0.0 if i % 2 else -0.0 for i in range(ROWS)]),
        "allnull": pa.array([None] * ROWS, type=pa.string()),
        "allnan": pa.array([float("nan")] * ROWS),
        "bytes_order": pa.array([["z", "é", "Z", "a\x00", "~"][i % 5] for i in range(ROWS)]),
    })
    for name in extra.column_names:
        t = t.append_column(name, extra.column(name))
    ours = tmp_path / "ours.parquet"
    theirs = tmp_path / "theirs.parquet"
    pqutil.write(t, ours, f"row_group_rows={ROW_GROUP};dictionary={dictionary}")
    pq.write_table(t, theirs, row_group_size=ROW_GROUP, use_dictionary=bool(dictionary))
    a, b = _stats(ours), _stats(theirs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x[3], float) and x[3] != x[3]:
            continue
        assert x == y, f"statistics differ: ours {x} pyarrow {y}"


def test_projection_and_batches(tmp_path, table):
    path = tmp_path / "p.parquet"
    pqutil.write(table, path, f"row_group_rows={ROW_GROUP}")
    got = pqutil.read(path, columns=["s", "st.b", "i32"])
    assert got.column_names == ["i32", "s", "st"]  # file order
    assert got.schema.field("st").type == pa.struct([pa.field("b", pa.string())])
    assert got.column("st").to_pylist() == [
        None if v is None else {"b": v["b"]} for v in table.column("st").to_pylist()]
    rdr = pqutil.reader(path, batch_rows=256)
    sizes = [b.num_rows for b in rdr]
    assert max(sizes) <= 256 and sum(sizes) == ROWS
    with pytest.raises(pqutil.SluiceError, match="no column 'nope'"):
        pqutil.read(path, columns=["nope"])


def test_row_group_skipping(tmp_path):
    n = 10000
    t = pa.table({"k": pa.array(range(n), type=pa.int64()),
                  "name": pa.array([f"n{i // 1000:02d}" for i in range(n)]),
                  "x": pa.array([i * 0.25 for i in range(n)])})
    path = tmp_path / "s.parquet"
    pqutil.write(t, path, "row_group_rows=1000")
    assert pqutil.skipped(path, "k>=5000") == 5
    assert pqutil.skipped(path, "k<1000") == 9
    assert pqutil.skipped(path, "k=4321") == 9
    assert pqutil.skipped(path, "name=n07") == 9
    assert pqutil.skipped(path, "x>2000.0") == 8
    assert pqutil.skipped(path, "k>=5000;name<n06") == 9
    got = pqutil.read(path, predicates="k>=5000")
    assert got.column("k").to_pylist() == list(range(5000, n))
    # The same pruning on a file written by pyarrow.
    theirs = tmp_path / "t.parquet"
    pq.write_table(t, theirs, row_group_size=1000)
    assert pqutil.skipped(theirs, "k>=5000") == 5
    assert pqutil.skipped(theirs, "name=n07") == 9


def test_empty_and_kv_metadata(tmp_path):
    t = pa.table({"a": pa.array([], type=pa.int64()), "s": pa.array([], type=pa.string())})
    t = t.replace_schema_metadata({"origin": "test", "k2": "v2"})
    path = tmp_path / "e.parquet"
    pqutil.write(t, path)
    got = pq.read_table(path)
    assert got.num_rows == 0 and got.schema.names == ["a", "s"]
    assert pq.ParquetFile(path).metadata.metadata[b"origin"] == b"test"
    assert pqutil.read(path).num_rows == 0


def test_delta_integers(tmp_path, table):
    path = tmp_path / "delta.parquet"
    pqutil.write(table, path, f"dictionary=0;delta=1;row_group_rows={ROW_GROUP}")
    md = pq.ParquetFile(path).metadata
    encs = md.row_group(0).column(1).encodings
    assert "DELTA_BINARY_PACKED" in encs
    same(table, pq.read_table(path))
    same(table, duckdb.connect().sql(f"select * from read_parquet('{path}')").to_arrow_table())
    same(table, pqutil.read(path))


def test_dictionary_fallback(tmp_path):
    n = 20000
    t = pa.table({"u": pa.array([f"unique-value-{i:08d}" for i in range(n)]),
                  "low": pa.array([f"v{i % 10}" for i in range(n)])})
    path = tmp_path / "fb.parquet"
    pqutil.write(t, path, "dictionary_bytes=10000")
    theirs = tmp_path / "fb_pa.parquet"
    pq.write_table(t, theirs, dictionary_pagesize_limit=10000)
    ours_rg = pq.ParquetFile(path).metadata.row_group(0)
    pa_rg = pq.ParquetFile(theirs).metadata.row_group(0)
    # Like parquet-cpp: the leading pages keep the dictionary, the rest fall
    # back to PLAIN; a small dictionary never falls back.
    assert set(ours_rg.column(0).encodings) == set(pa_rg.column(0).encodings) == {"PLAIN", "RLE", "RLE_DICTIONARY"}
    assert ours_rg.column(0).dictionary_page_offset is not None
    assert ours_rg.column(0).total_compressed_size < 1.05 * pa_rg.column(0).total_compressed_size
    assert "RLE_DICTIONARY" in ours_rg.column(1).encodings
    same(t, pq.read_table(path))
    same(t, pqutil.read(path))


def test_no_dictionary_for_values_that_hardly_repeat(tmp_path):
    """A column chunk with more than 3/4 distinct values among its first
    half (at least 4096 values) is written PLAIN: its dictionary plus the
    indexes would not be smaller (docs/parquet.md). Columns that repeat keep
    theirs, also at 60% distinct."""
    n = 100000
    rng = random.Random(4)
    t = pa.table({"id": pa.array(rng.sample(range(10 ** 12), n), pa.int64()),
                  "s": pa.array([f"user-{rng.randrange(10 ** 9)}" for _ in range(n)]),
                  "low": pa.array([i % 37 for i in range(n)], pa.int64()),
                  "most": pa.array([rng.randrange(int(n * 0.6)) for _ in range(n)], pa.int64())})
    path = tmp_path / "nd.parquet"
    pqutil.write(t, path, "")
    theirs = tmp_path / "nd_pa.parquet"
    pq.write_table(t, theirs, compression="zstd")
    ours = pq.ParquetFile(path).metadata.row_group(0)
    pa_rg = pq.ParquetFile(theirs).metadata.row_group(0)
    for c in (0, 1):
        assert "RLE_DICTIONARY" not in ours.column(c).encodings
        assert ours.column(c).dictionary_page_offset is None
        # pyarrow dictionary-encodes these until 1 MiB, then falls back
        assert ours.column(c).total_compressed_size <= 1.02 * pa_rg.column(c).total_compressed_size
    for c in (2, 3):
        assert "RLE_DICTIONARY" in ours.column(c).encodings
    same(t, pq.read_table(path))
    same(t, pqutil.read(path))


def test_string_flavours_and_null_type(tmp_path):
    """large_string and dictionary<int32, string> columns are written as
    plain Parquet strings; a null-typed column as an all-null INT32."""
    vals = ["a", None, "", "long" * 1000, "a", "zz"] * 50
    t = pa.table({
        "large": pa.array(vals, type=pa.large_string()),
        "dict": pa.array(vals).dictionary_encode(),
        "nothing": pa.array([None] * len(vals), type=pa.null()),
    })
    path = tmp_path / "flavours.parquet"
    pqutil.write(t, path)
    got = pq.read_table(path)
    assert got.column("large").to_pylist() == vals
    assert got.column("dict").to_pylist() == vals
    assert got.column("nothing").null_count == len(vals)
    ours = pqutil.read(path)
    assert ours.column("large").to_pylist() == vals
    assert ours.column("dict").to_pylist() == vals
    assert ours.column("nothing").null_count == len(vals)
    assert duckdb.sql(f"select count(*), count(large), count(dict) from read_parquet('{path}')").fetchall() == \
        [(300, 250, 250)]


def test_deep_nesting(tmp_path):
    """Nulls at every level of list<struct<list<struct>>> and of nested
    structs; both directions against pyarrow."""
    rng = random.Random(5)

    def maybe(v, p=0.2):
        return None if rng.random() < p else v

    def inner():
        return maybe([maybe({"b": maybe(rng.randint(0, 9)), "c": maybe("x" * rng.randint(0, 3))})
                      for _ in range(rng.randint(0, 3))])

    deep = [maybe([maybe({"a": inner(), "k": maybe(rng.randint(0, 99))}) for _ in range(rng.randint(0, 4))])
            for _ in range(3000)]
    nested = [maybe({"s1": maybe({"s2": maybe({"v": maybe(rng.random())}), "w": maybe(rng.randint(0, 5))})})
              for _ in range(3000)]
    inner_t = pa.list_(pa.struct([("b", pa.int64()), ("c", pa.string())]))
    t = pa.table({
        "deep": pa.array(deep, type=pa.list_(pa.struct([("a", inner_t), ("k", pa.int32())]))),
        "nested": pa.array(nested, type=pa.struct([("s1", pa.struct([
            ("s2", pa.struct([("v", pa.float64())])), ("w", pa.int64())]))])),
    })
    for spec in ["page_bytes=512;row_group_rows=1000", "page_version=2;dictionary=0;compression=snappy"]:
        path = tmp_path / "deep.parquet"
        pqutil.write(t, path, spec, batch_rows=700)
        assert pq.read_table(path).to_pylist() == t.to_pylist()
        assert pqutil.read(path).to_pylist() == t.to_pylist()
        assert pqutil.read(path, columns=["nested.s1.w"]).column("nested").to_pylist() == [
            None if v is None else {"s1": None if v["s1"] is None else {"w": v["s1"]["w"]}} for v in nested]
    theirs = tmp_path / "deep_pa.parquet"
    pq.write_table(t, theirs, row_group_size=1000, data_page_size=512)
    assert pqutil.read(theirs).to_pylist() == t.to_pylist()
