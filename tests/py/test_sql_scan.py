"""Aggregates over plain JSON Lines files are read in parallel byte ranges
(docs/sql.md, "How a query runs"): each thread reads whole ranges with its own
reader and aggregates into its own table. These inputs are larger than
several ranges, so rows, lines and groups cross the range boundaries; the
results must match DuckDB (or Python's json module) exactly as the in-order
path did, and errors must still name the first bad line in input order."""
import json
import subprocess

import duckdb
import pytest

from sql_oracle import LOG_COLUMNS, compare, duck_columns, run_sluice, sluice_bin

MIB = 1 << 20


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """About 24 MB of generated logs: several ranges at any range size from
    1 to 8 MiB."""
    d = tmp_path_factory.mktemp("scan")
    f = d / "logs.jsonl"
    subprocess.run([sluice_bin(), "gen", "--rows", "64000", "--seed", "3", "--output", str(f)],
                   check=True)
    con = duckdb.connect()
    con.execute("SET threads=1")
    return {"file": f, "con": con,
            "duck": f"read_json('{f}', columns = {duck_columns(LOG_COLUMNS)})"}


QUERIES = [
    "SELECT service, status, count(*), sum(bytes), avg(latency_ms), max(latency_ms) "
    "FROM {src} GROUP BY service, status",
    "SELECT user_id, count(*), sum(bytes) FROM {src} GROUP BY user_id",
    "SELECT host, path, count(*) FROM {src} WHERE status >= 500 GROUP BY host, path",
    "SELECT date_trunc('minute', ts) AS m, region, count(*), min(bytes) FROM {src} GROUP BY 1, 2",
    "SELECT geo.country, count(*), count(DISTINCT user_id) FROM {src} GROUP BY 1",
    "SELECT count(*), sum(bytes), min(ts), max(ts) FROM {src}",
    "SELECT service, median(latency_ms), quantile_disc(bytes, 0.25) FROM {src} GROUP BY service",
    "SELECT status, count(*) FROM {src} WHERE error IS NOT NULL GROUP BY status",
]


@pytest.mark.parametrize("threads", ["1", "2", "3"])
@pytest.mark.parametrize("sql", QUERIES, ids=[f"s{i}" for i in range(len(QUERIES))])
def test_matches_duckdb(big, sql, threads):
    got, _ = run_sluice(sql.format(src=f"'{big['file']}'"), "--threads", threads)
    want = big["con"].sql(sql.format(src=big["duck"])).fetchall()
    compare(got, want, False, sql)


@pytest.mark.parametrize("threads", ["2", "3"])
def test_first_last_follow_input_order(big, threads):
    rows = [json.loads(x) for x in big["file"].read_text(encoding="utf-8").splitlines()]
    first, last = {}, {}
    for o in rows:
        first.setdefault(o["region"], o["trace_id"])
        last[o["region"]] = o["trace_id"]
    got, _ = run_sluice(f"SELECT region, first(trace_id), last(trace_id) FROM '{big['file']}' "
                        "GROUP BY region ORDER BY region", "--threads", threads)
    assert got == [[r, first[r], last[r]] for r in sorted(first)]


def write_lines(path, lines):
    data = "".join(x + "\n" for x in lines)
    path.write_text(data, encoding="utf-8")
    return data


def test_long_lines_across_ranges(tmp_path):
    """Lines longer than a range, starting just before a range boundary;
    NULL and empty-string group keys."""
    lines, want = [], {}
    i = size = 0
    while size < 20 * MIB:
        k = [None, "", "a", "b"][i % 4]
        n = 5 * MIB + 17 if i % 5000 == 4999 else i % 50
        lines.append(json.dumps({"k": k, "s": "x" * n}))
        size += len(lines[-1]) + 1
        c, t = want.get(k, (0, 0))
        want[k] = (c + 1, t + n)
        i += 1
    f = tmp_path / "long.jsonl"
    write_lines(f, lines)
    got, _ = run_sluice(f"SELECT k, count(*), sum(length(s)) FROM '{f}' GROUP BY k", "--threads", "2")
    compare(got, [[k, c, t] for k, (c, t) in want.items()], False, "long lines")


def bad_file(tmp_path, bad_at):
    lines = [json.dumps({"k": f"g{i % 7}", "v": i}) for i in range(400000)]
    for at in bad_at:
        lines[at] = '{"k": "bad", "v": '
    f = tmp_path / "bad.jsonl"
    write_lines(f, lines)
    return f, lines


def test_bad_line_named_in_input_order(tmp_path):
    f, lines = bad_file(tmp_path, [380000, 390000])  # both in late ranges
    _, p = run_sluice(f"SELECT k, count(*) FROM '{f}' GROUP BY k", "--threads", "2", check=False)
    off = sum(len(x) + 1 for x in lines[:380000])
    assert p.returncode != 0
    err = p.stderr.decode()
    assert f"JSON line 380001 (byte offset {off}," in err, err


def test_skipped_bad_lines_counted_once(tmp_path):
    bad = [5, 150000, 150001, 399999]
    f, lines = bad_file(tmp_path, bad)
    got, _ = run_sluice(f"SELECT count(*), sum(v) FROM '{f}'", "--threads", "2", "--skip-bad-lines")
    good = [i for i in range(len(lines)) if i not in bad]
    assert got == [[len(good), sum(good)]]


def test_byte_order_mark_only_at_file_start(tmp_path):
    """A BOM starts the file (skipped) and lines at 1, 2, 4 and 8 MiB, where
    ranges begin: there it is not the start of the input, so those lines are
    bad, as when the file is read in order."""
    out, pos, marks = [], 3, []
    targets = [1 * MIB, 2 * MIB, 4 * MIB, 8 * MIB]
    i = 0
    while pos < 10 * MIB:
        line = json.dumps({"v": i})
        if targets and pos == targets[0]:
            line = "\ufeff" + line
            marks.append(i)
            targets.pop(0)
        elif targets and pos + len(line) + 1 > targets[0] - 64:
            pad = targets[0] - pos - 1 - len(json.dumps({"v": i, "p": ""}))
            line = json.dumps({"v": i, "p": "y" * pad})
        out.append(line)
        pos += len(line.encode()) + 1
        i += 1
    assert len(marks) == 4
    f = tmp_path / "bom.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + "".join(x + "\n" for x in out).encode())
    got, _ = run_sluice(f"SELECT count(*) FROM '{f}'", "--threads", "2", "--skip-bad-lines")
    assert got == [[len(out) - len(marks)]]
    _, p = run_sluice(f"SELECT count(*) FROM '{f}'", "--threads", "2", check=False)
    assert p.returncode != 0 and f"JSON line {marks[0] + 1} " in p.stderr.decode()


def test_partition_keys_per_file(tmp_path):
    """Hive partition values come from the file each range belongs to."""
    want = {}
    for part, rows in (("a", 50000), ("b", 30000), ("c", 1)):
        d = tmp_path / f"part={part}"
        d.mkdir()
        lines = [json.dumps({"v": i}) for i in range(rows)]
        write_lines(d / "x.jsonl", lines)
        want[part] = [part, rows, sum(range(rows))]
    got, _ = run_sluice(f"SELECT part, count(*), sum(v) FROM '{tmp_path}' GROUP BY part",
                        "--threads", "2")
    compare(got, list(want.values()), False, "partitions")


def int_key_file(path, rows, extremes):
    """Integer keys in a small range (the direct table), NULLs, keys that grow
    with the row number (c), and with
    `extremes` a few keys far apart (negative, near the int64 limits), which
    turn the direct table into a hash table mid-scan."""
    import random
    rnd = random.Random(9)
    lines = []
    for i in range(rows):
        k = None if i % 97 == 0 else 5000 + rnd.randrange(20000)
        # the first range turns to hashing after 40000 rows; the second
        # and the last stay direct (merges see both kinds)
        wide = {40000: 10 ** 15, rows // 2: -(2 ** 63), rows // 2 + 1: 2 ** 63 - 1}
        if extremes and i in wide:
            k = wide[i]
        ts = f"2026-11-28T00:{(i // 600) % 60:02d}:{(i // 10) % 60:02d}Z"
        lines.append(json.dumps({"k": k, "v": i % 1000, "ts": ts, "c": i // 16}))
    write_lines(path, lines)


@pytest.mark.parametrize("extremes", [False, True], ids=["dense", "wide"])
def test_integer_keys_direct_and_hashed(tmp_path, extremes):
    f = tmp_path / "k.jsonl"
    int_key_file(f, 300000, extremes)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{f}', "
                "columns = {'k': 'BIGINT', 'v': 'BIGINT', 'ts': 'TIMESTAMP', 'c': 'BIGINT'})")
    for sql in ["SELECT k, count(*), sum(v), min(v) FROM {src} GROUP BY k",
                "SELECT DISTINCT k FROM {src}",
                "SELECT k // 3 AS b, count(*) FROM {src} WHERE v < 500 GROUP BY b",
                "SELECT ts, count(*), max(k) FROM {src} GROUP BY ts",
                "SELECT count(DISTINCT k) FROM {src}",
                # keys that creep up (and down): the direct table grows
                "SELECT c, count(*), sum(v) FROM {src} GROUP BY c",
                "SELECT -c AS n, max(v) FROM {src} GROUP BY n"]:
        want = con.sql(sql.format(src="t")).fetchall()
        for threads in ("1", "2", "3"):
            got, _ = run_sluice(sql.format(src=f"'{f}'"), "--threads", threads)
            compare(got, want, False, f"{sql} ({threads} threads)")


def same_as_duckdb(f, con, sql, threads):
    """sluice over file f against DuckDB over its table t ({src} in sql)."""
    if "first(" in sql:  # first/last: the input order decides, as in DuckDB with one thread
        con.execute("SET threads=1")
    want = con.sql(sql.format(src="t")).fetchall()
    got, _ = run_sluice(sql.format(src=f"'{f}'"), "--threads", threads)
    compare(got, want, "ORDER BY" in sql, f"{sql} ({threads} threads)")


@pytest.fixture(scope="module")
def many_groups(tmp_path_factory):
    """~16 MB (four 4 MiB ranges), 320K rows over ~190K keys: with two
    threads both partial tables hold over 64K groups, so their states merge
    and the result rows are built on all threads (docs/sql.md, "How a query
    runs"); one thread and four threads (smaller partials) merge serially."""
    import random
    rnd = random.Random(11)
    f = tmp_path_factory.mktemp("groups") / "many.jsonl"
    lines = []
    for i in range(320000):
        k = rnd.randrange(240000)
        v = None if i % 101 == 0 else rnd.randrange(-10 ** 6, 10 ** 6)
        lines.append(json.dumps({"k": k, "s": f"u{k % 100003}", "v": v,
                                 "x": rnd.random() * 100, "b": i % 3 == 0}))
    write_lines(f, lines)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{f}', columns = "
                "{'k': 'BIGINT', 's': 'VARCHAR', 'v': 'BIGINT', 'x': 'DOUBLE', 'b': 'BOOLEAN'})")
    return f, con


MANY_GROUP_QUERIES = [
    "SELECT k, count(*), sum(v), count(v), min(v), max(x), avg(v) FROM {src} GROUP BY k",
    "SELECT s, count(*), sum(x), var_samp(x), bool_or(b), first(v), last(v) FROM {src} GROUP BY s",
    "SELECT k, s, max(v), count(v), stddev_pop(x) FROM {src} GROUP BY k, s",
    # string values kept per group: states merge on one thread
    "SELECT k, min(s), count(*) FROM {src} GROUP BY k",
    "SELECT k % 90000 AS m, count(DISTINCT s), sum(v) FROM {src} GROUP BY m",
    "SELECT k, sum(v) AS t FROM {src} GROUP BY k HAVING count(*) > 2 ORDER BY t DESC, k LIMIT 20",
    # several keys of each kind, NULLs among them (v is NULL in 1% of rows)
    "SELECT v % 7 AS a, b, k % 5 AS c, count(*), sum(x) FROM {src} GROUP BY a, b, c",
    "SELECT s, v % 3 AS a, round(x) AS r, count(*) FROM {src} GROUP BY s, a, r",
    # string and integer keys only (their own probe loop), NULLs among them
    "SELECT v % 7 AS a, substr(s, 1, 3) AS p, count(*), min(x) FROM {src} GROUP BY a, p",
]


@pytest.mark.parametrize("threads", ["1", "2", "4"])
@pytest.mark.parametrize("sql", MANY_GROUP_QUERIES,
                         ids=[f"g{i}" for i in range(len(MANY_GROUP_QUERIES))])
def test_many_groups_merge_across_threads(many_groups, sql, threads):
    same_as_duckdb(*many_groups, sql, threads)


@pytest.fixture(scope="module", params=["creeping", "then-wide"])
def ident_keys(request, tmp_path_factory):
    """Integer keys that fill their range (docs/sql.md, identity tables):
    100K keys at random first, so each partial table turns into an identity
    table; then keys that creep up to 300K (the table's range grows, so two
    partials merge over different ranges); NULL keys in 1% of the rows. The
    "then-wide" file ends with keys a billion apart: the identity table
    packs its groups and goes back to a direct, then a hashed, table."""
    import random
    rnd = random.Random(3)
    f = tmp_path_factory.mktemp("ident") / f"{request.param}.jsonl"
    lines = []
    n = 420000
    for i in range(n):
        if i % 100 == 7:
            k = None
        elif i < 160000:
            k = rnd.randrange(100000)
        elif request.param == "then-wide" and i >= n - 20000:
            k = rnd.randrange(1, 50) * 10 ** 9
        else:
            k = 100000 + (i - 160000) * 200000 // (n - 160000) + rnd.randrange(-500, 500)
        v = None if i % 37 == 0 else rnd.randrange(-10 ** 6, 10 ** 6)
        lines.append(json.dumps({"k": k, "v": v, "x": rnd.random() * 100,
                                 "s": f"s{rnd.randrange(1000)}", "b": i % 5 != 0}))
    write_lines(f, lines)
    assert f.stat().st_size > 5 * 4 * MIB  # several ranges, so several partials
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{f}', columns = "
                "{'k': 'BIGINT', 'v': 'BIGINT', 'x': 'DOUBLE', 's': 'VARCHAR', 'b': 'BOOLEAN'})")
    return f, con


IDENT_QUERIES = [
    "SELECT k, count(*), sum(v), count(v), avg(v), min(x), max(v) FROM {src} GROUP BY k",
    # every kind of state is moved when the table's range grows and when its
    # groups are packed: strings, sketches of values, sequence numbers
    "SELECT k, min(s), max(s), bool_and(b), stddev_samp(x), arg_max(s, x) FROM {src} GROUP BY k",
    "SELECT k, count(DISTINCT v % 10), median(x), quantile_disc(v, 0.25) FROM {src} GROUP BY k",
    "SELECT k, first(v), last(s) FROM {src} GROUP BY k",
    "SELECT k, sum(v) AS t FROM {src} GROUP BY k HAVING count(*) > 1 ORDER BY t DESC, k LIMIT 25",
    "SELECT DISTINCT k FROM {src}",
]


@pytest.mark.parametrize("threads", ["1", "2", "3"])
@pytest.mark.parametrize("sql", IDENT_QUERIES,
                         ids=[f"i{i}" for i in range(len(IDENT_QUERIES))])
def test_identity_tables(ident_keys, sql, threads):
    same_as_duckdb(*ident_keys, sql, threads)


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_last_line_without_newline(tmp_path, threads):
    """The last range is mapped up to the end of the file: a last line
    without '\\n' (here also longer than the page it ends in) still counts."""
    lines = [json.dumps({"k": f"g{i % 5}", "v": i}) for i in range(600000)]
    lines.append(json.dumps({"k": "last", "v": 7, "pad": "z" * 10000}))
    f = tmp_path / "nonl.jsonl"
    f.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    assert f.stat().st_size > 3 * 4 * MIB
    con = duckdb.connect()
    sql = "SELECT k, count(*), sum(v) FROM {src} GROUP BY k"
    want = con.sql(sql.format(src=f"read_json('{f}', columns = {{'k': 'VARCHAR', 'v': 'BIGINT'}})")).fetchall()
    got, _ = run_sluice(sql.format(src=f"'{f}'"), "--threads", threads)
    compare(got, want, False, "last line without newline")


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_integer_sums_exact_across_64_bits(tmp_path, threads):
    """Integer sums keep the low 64 bits beside the count and carry into a
    high word (docs/sql.md): each group's values alternate near +2^63 and
    -2^63, so its running sum wraps the low word both ways again and again
    (in each partial and when partials merge) and still ends in range."""
    import random
    rnd = random.Random(9)
    lines, seen = [], {}
    big = 2 ** 63 - 1
    for i in range(400000):
        k = rnd.randrange(100000)
        n = seen.get(k, 0)
        seen[k] = n + 1
        m = big - 10 ** 6 - rnd.randrange(1000)  # pairs differ by < 1000
        v = m if n % 2 == 0 else -m
        if k % 5 == 0:
            v = rnd.randrange(-1000, 1000)
        lines.append(json.dumps({"k": k, "v": v}))
    f = tmp_path / "carry.jsonl"
    write_lines(f, lines)
    con = duckdb.connect()
    sql = "SELECT k, sum(v) AS s, avg(v) AS a, count(v) AS n FROM {src} GROUP BY k"
    want = con.sql(sql.format(src=f"read_json('{f}', columns = {{'k': 'BIGINT', 'v': 'BIGINT'}})")).fetchall()
    got, _ = run_sluice(sql.format(src=f"'{f}'"), "--threads", threads)
    compare(got, want, False, f"exact integer sums ({threads} threads)")
    exact = {r[0]: int(r[1]) for r in want}
    assert all(int(r[1]) == exact[int(r[0])] for r in got)  # exact, not within 1e-9


@pytest.mark.parametrize("threads", ["1", "2"])
def test_sum_overflow_reported_with_many_groups(tmp_path, threads):
    """One of 300K groups sums past BIGINT: the error comes out of the
    result rows built in group ranges on all threads as it does from one."""
    import random
    rnd = random.Random(5)
    lines = []
    for i in range(500000):
        k = 123 if i % 1000 == 0 else rnd.randrange(300000)
        v = 5 * 10 ** 18 if k == 123 else rnd.randrange(1000)
        lines.append(json.dumps({"k": k, "v": v}))
    f = tmp_path / "ovf.jsonl"
    write_lines(f, lines)
    assert sum(5 * 10 ** 18 for i in range(0, 500000, 1000)) > 2 ** 63 - 1
    _, p = run_sluice(f"SELECT k, sum(v) FROM '{f}' GROUP BY k", "--threads", threads, check=False)
    assert p.returncode != 0 and "sum() overflows BIGINT" in p.stderr.decode()
