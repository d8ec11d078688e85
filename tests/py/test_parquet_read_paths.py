"""The reader's fast paths against pyarrow as the oracle.

Flat columns decode straight into Arrow buffers (validity bits from the
definition levels, values at their rows), row groups are decoded in windows
of parallel (group, column) tasks, and column buffers are recycled through a
buffer pool. These tests aim at the cases those paths special-case: pages
with no nulls, only nulls or some, page boundaries that do not fall on a
byte of the validity bitmap, dictionary pages with and without a fallback to
PLAIN, many row groups read in parallel and serially, and buffers reused
while earlier results are still alive.
"""
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pqutil

N = 5000


def _column(kind, pattern, rng):
    """Values of one type with a null pattern."""
    def value(i):
        if kind == "int32":
            return rng.randint(-(2**31), 2**31 - 1) if i % 3 else rng.randint(-5, 5)
        if kind == "int64":
            return rng.randint(-(2**63), 2**63 - 1) if i % 3 else rng.randint(0, 9)
        if kind == "float64":
            return rng.choice([rng.uniform(-1e6, 1e6), 0.5, -0.0])
        if kind == "bool":
            return rng.random() < 0.4
        if kind == "ts":
            return 1_764_000_000_000_000 + i * 1000 + rng.randint(0, 999)
        if kind == "str":
            return rng.choice(["", "a", "GET", "web-01.example.com", "/api/v1/users/" + str(i % 70),
                               "é€😀" * rng.randint(1, 12), "x" * rng.randint(30, 90)])
        raise AssertionError(kind)

    def present(i):
        if pattern == "none":
            return True
        if pattern == "all":
            return False
        if pattern == "halves":       # whole pages of nulls, then none
            return i >= N // 2
        if pattern == "stripes":      # runs that start and end mid-byte
            return (i // 13) % 2 == 0
        return rng.random() > 0.3     # random

    vals = [value(i) if present(i) else None for i in range(N)]
    typ = {"int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64(),
           "bool": pa.bool_(), "ts": pa.timestamp("us", tz="UTC"), "str": pa.string()}[kind]
    return pa.array(vals, type=typ)


def _table(seed):
    rng = random.Random(seed)
    cols = {}
    for kind in ["int32", "int64", "float64", "bool", "ts", "str"]:
        for pattern in ["none", "all", "halves", "stripes", "random"]:
            cols[f"{kind}_{pattern}"] = _column(kind, pattern, rng)
    cols["required"] = pa.array(range(N), type=pa.int64())
    schema = pa.schema([pa.field(k, v.type, nullable=k != "required") for k, v in cols.items()])
    return pa.table(cols, schema=schema)


def _same(got, want):
    assert got.schema.names == want.schema.names
    for name in want.schema.names:
        g, w = got.column(name), want.column(name)
        assert g.type == w.type, name
        assert g.null_count == w.null_count, name
        assert g.combine_chunks().equals(w.combine_chunks()), name


@pytest.mark.parametrize("dictionary", [True, False])
@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_pyarrow_pages_with_and_without_nulls(tmp_path, dictionary, version):
    """Small pages of 37-row write batches: page boundaries fall inside
    bytes of the validity bitmap; pages of only nulls and of no nulls."""
    t = _table(1)
    p = tmp_path / "t.parquet"
    pq.write_table(t, p, use_dictionary=dictionary, data_page_version=version,
                   data_page_size=700, write_batch_size=37, row_group_size=1900,
                   compression="snappy")
    assert pq.ParquetFile(p).metadata.num_row_groups == 3
    _same(pqutil.read(p), pq.read_table(p))


@pytest.mark.parametrize("spec", ["page_rows=333;row_group_rows=1200",
                                  "page_rows=1000;dictionary=0;page_version=2",
                                  "page_rows=77;delta=1;dictionary=0"])
def test_sluice_pages_with_and_without_nulls(tmp_path, spec):
    t = _table(2)
    p = tmp_path / "t.parquet"
    pqutil.write(t, p, spec)
    _same(pqutil.read(p), pq.read_table(p))
    _same(pqutil.read(p), t)


def test_dictionary_with_and_without_fallback(tmp_path):
    """A small dictionary limit makes the writers fall back to PLAIN in the
    middle of a column chunk; a large one keeps every page dictionary-
    encoded. Both are read exactly, for pyarrow's files and ours."""
    rng = random.Random(3)
    n = 20000
    t = pa.table({
        "s": pa.array([None if i % 11 == 0 else f"value-{rng.randint(0, 4000)}" for i in range(n)]),
        "i": pa.array([None if i % 7 == 0 else rng.randint(0, 3000) for i in range(n)], pa.int64()),
        "d": pa.array([rng.randint(0, 2000) / 8 for i in range(n)], pa.float64()),
        "low": pa.array([rng.choice(["GET", "POST", None]) for _ in range(n)]),
    })
    cases = []
    for limit, name in [(4000, "fallback"), (1 << 20, "dictionary")]:
        p = tmp_path / f"pa-{name}.parquet"
        pq.write_table(t, p, dictionary_pagesize_limit=limit, data_page_size=4096,
                       row_group_size=n)
        cases.append((p, name))
        p = tmp_path / f"sl-{name}.parquet"
        pqutil.write(t, p, f"dictionary_bytes={limit};page_rows=1500")
        cases.append((p, name))
    for p, name in cases:
        enc = pq.ParquetFile(p).metadata.row_group(0).column(0).encodings
        if name == "fallback":
            assert "PLAIN" in enc and ("RLE_DICTIONARY" in enc or "PLAIN_DICTIONARY" in enc), (p, enc)
        else:
            assert "RLE_DICTIONARY" in enc or "PLAIN_DICTIONARY" in enc
        _same(pqutil.read(p), pq.read_table(p))
        _same(pqutil.read(p), t)


def test_many_row_groups_parallel_equals_serial(tmp_path):
    """40 row groups of uneven sizes: the windowed parallel read, the
    serial read and pyarrow agree exactly, batches never span row groups
    and hold at most batch_rows rows."""
    t = _table(4)
    t = pa.concat_tables([t] * 4)
    p = tmp_path / "t.parquet"
    pq.write_table(t, p, row_group_size=499, compression="zstd")
    md = pq.ParquetFile(p).metadata
    assert md.num_row_groups == 41
    want = pq.read_table(p)
    serial = pqutil.read(p, threads=1)
    parallel = pqutil.read(p, threads=0)
    many = pqutil.read(p, threads=4)
    _same(serial, want)
    _same(parallel, want)
    _same(many, want)
    sizes = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
    got = [b.num_rows for b in pqutil.reader(p, batch_rows=200, threads=2)]
    expect = []
    for s in sizes:
        while s > 0:
            expect.append(min(s, 200))
            s -= 200
    assert got == expect


def test_buffer_pool_reuse_keeps_results_intact(tmp_path):
    """Reads through the shared pool reuse released buffers; a result that
    is still alive is never overwritten by a later read."""
    a = pa.concat_tables([_table(5)] * 8)   # buffers above the pool's minimum
    b = pa.concat_tables([_table(6)] * 6)
    pa_path, pb_path = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(a, pa_path, row_group_size=20000)
    pqutil.write(b, pb_path, "row_group_rows=15000")
    L = pqutil.lib()
    first = pqutil.read(pa_path)
    second = pqutil.read(pa_path)
    _same(first, a)
    del second
    assert L.sl_parquet_buffers_cached(pqutil.buffers()) > 0
    third = pqutil.read(pb_path)    # reuses the released blocks
    _same(first, a)                 # still intact
    _same(third, b)
    del third
    fourth = pqutil.read(pa_path)
    _same(fourth, a)
    _same(first, a)
    _same(pqutil.read(pa_path, pool=False), a)
