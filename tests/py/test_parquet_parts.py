"""A row group of few columns is written as several row groups encoded at
once when the writer has more threads than columns (pq_writer.c
flush_parts): the rows, their order, nulls, nested columns and statistics
must come out exactly as with one thread. pyarrow reads the files; DuckDB
over the input is the oracle."""
import json
import random
import subprocess

import pytest

from sql_oracle import sluice_bin

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
duckdb = pytest.importorskip("duckdb")

ROWS = 300_000


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    r = random.Random(7)
    path = tmp_path_factory.mktemp("parts") / "rows.jsonl"
    with open(path, "w") as f:
        for i in range(ROWS):
            row = {"id": i, "k": "u%07d" % r.randrange(10**7),
                   "v": None if i % 97 == 0 else r.randrange(-10**9, 10**9),
                   "geo": {"country": r.choice(["BR", "DE", "IN", None])},
                   "tags": [r.choice("abc") for _ in range(i % 3)]}
            f.write(json.dumps(row) + "\n")
    return path


def write(src, out, threads):
    sql = ("SELECT id, k, v, geo.country AS country FROM '%s' ORDER BY id" % src)
    p = subprocess.run([sluice_bin(), "query", "--no-progress", "--threads", str(threads),
                        sql, "--output", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return pq.ParquetFile(str(out))


def test_parts_equal_one_thread_and_the_oracle(logs, tmp_path):
    one = write(logs, tmp_path / "one.parquet", 1)
    assert one.metadata.num_row_groups == 1
    want = duckdb.sql("SELECT id, k, v, geo.country AS country FROM "
                      "read_json('%s', format='newline_delimited') ORDER BY id"
                      % logs).fetchall()
    # four columns: two threads keep one row group; 3 -> 3 parts (about
    # four tasks a thread); 16 -> 4 (300,000 rows hold four parts of at
    # least 65,536)
    for threads, parts in ((2, 1), (3, 3), (16, 4)):
        f = write(logs, tmp_path / ("t%d.parquet" % threads), threads)
        md = f.metadata
        sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        assert md.num_row_groups == parts, threads
        assert sum(sizes) == ROWS and min(sizes) >= 1 << 16, sizes
        t = f.read()
        assert t.equals(one.read()), threads
        got = [tuple(r.values()) for r in t.to_pylist()]
        assert got == [tuple(r) for r in want], threads
        # each row group's statistics describe its own rows
        ids = t.column("id").to_pylist()
        at = 0
        for g, n in enumerate(sizes):
            st = md.row_group(g).column(0).statistics
            assert (st.min, st.max) == (ids[at], ids[at + n - 1])
            nulls = md.row_group(g).column(2).statistics.null_count
            assert nulls == sum(1 for x in t.column("v").to_pylist()[at:at + n] if x is None)
            at += n
