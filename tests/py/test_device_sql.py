"""Queries that the GPU backend runs since the second device ABI (IN and
LIKE filters, count(DISTINCT), first/last/arg_min/arg_max, paths nested
more than one level) and the third (WHERE with OR, NOT, IS [NOT] NULL,
BETWEEN and bool columns; variances of values far from 0; bool_and and
bool_or; min/max of strings; exact quantiles; approx_count_distinct,
equal to the CPU's),
checked against DuckDB with `--device auto` (first
and last against the input order read in Python), plus queries it does not
run.

Without a GPU (CI) every query falls back to the CPU and must still equal
DuckDB. On a GPU machine (bench/gpu/run.sh) each supported query must say
it ran on the GPU and still equal DuckDB, and `--device gpu` must refuse an
unsupported query with a reason naming what has no device equivalent."""
import json
import random
import subprocess

import duckdb
import pytest

from sql_oracle import LOG_COLUMNS, compare, duck_columns, run_sluice, sluice_bin


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("devsql")
    logs = d / "logs.jsonl"
    subprocess.run([sluice_bin(), "gen", "--rows", "30000", "--seed", "21",
                    "--output", str(logs)], check=True)
    # Objects nested three levels, with nulls, missing members and escaped
    # strings.
    nest = d / "nest.jsonl"
    rnd = random.Random(5)
    with nest.open("w", encoding="utf-8") as f:
        for i in range(20000):
            b = {"c": rnd.randint(0, 300), "d": rnd.choice(["p", "q", "r\"s", "t\\u", None]),
                 "f": rnd.random() * 100, "ok": rnd.choice([True, False, False, None])}
            if i % 11 == 5:
                del b["c"]
            if i % 13 == 1:
                b["x"] = {"c": 99, "d": "nested-deeper"}
            # big: a mean far from 0 with a spread of 1, where variance
            # from plain sums of squares would cancel.
            o = {"k": rnd.choice(["x", "y", "z"]), "a": {"e": i % 5, "b": b},
                 "big": 1e6 + rnd.random()}
            if i % 3:
                o["flag"] = i % 17 != 4
            if i % 7 == 3:
                o["a"]["b"] = None
            f.write(json.dumps(o) + "\n")
    return {"L": logs, "N": nest}


_GPU = {}


def gpu_present(data):
    """Whether `--device gpu` runs a plain group-by here."""
    if "ok" not in _GPU:
        p = subprocess.run([sluice_bin(), "query", "--device", "gpu", "--no-progress",
                            f"SELECT service, count(*) FROM '{data['L']}' GROUP BY service"],
                           capture_output=True, text=True)
        _GPU["ok"] = p.returncode == 0
    return _GPU["ok"]


NEST_COLUMNS = {"k": "VARCHAR",
                "a": "STRUCT(e BIGINT, b STRUCT(c BIGINT, d VARCHAR, f DOUBLE, ok BOOLEAN))",
                "big": "DOUBLE", "flag": "BOOLEAN"}

# Queries the GPU runs (device_plan.c), with the DuckDB source for each.
GPU_QUERIES = [
    ("L", "SELECT service, count(*), sum(bytes) FROM {L} WHERE status IN (500, 502, 503) GROUP BY service"),
    ("L", "SELECT region, count(*) FROM {L} WHERE status NOT IN (200, 201) GROUP BY region"),
    ("L", "SELECT service, method, avg(latency_ms) FROM {L} "
          "WHERE region IN ('eu-west-1', 'us-east-1') AND status < 400 GROUP BY service, method"),
    ("L", "SELECT service, count(*) FROM {L} WHERE path LIKE '/api/v1/%' GROUP BY service"),
    ("L", "SELECT level, count(*) FROM {L} WHERE user_agent ILIKE '%mozilla%' GROUP BY level"),
    ("L", "SELECT region, count(*) FROM {L} WHERE path NOT LIKE '%s' AND host LIKE 'web-_5' GROUP BY region"),
    ("L", "SELECT service, count(*) FROM {L} WHERE user_agent LIKE '%\\tmp\\%' GROUP BY service"),
    ("L", "SELECT region, count(DISTINCT user_id), count(DISTINCT host) FROM {L} GROUP BY region"),
    ("L", "SELECT service, count(DISTINCT latency_ms), count(DISTINCT user_agent), count(user_agent) "
          "FROM {L} GROUP BY service"),
    ("L", "SELECT count(DISTINCT geo.city), count(DISTINCT status) FROM {L} WHERE method IN ('GET', 'POST')"),
    ("L", "SELECT service, arg_min(host, latency_ms), arg_max(path, latency_ms), "
          "arg_min(latency_ms, latency_ms), arg_max(user_id, latency_ms) FROM {L} GROUP BY service"),
    ("L", "SELECT region, method, arg_max(trace_id, latency_ms) FROM {L} WHERE status >= 500 GROUP BY 1, 2"),
    ("N", "SELECT a.b.d AS d, count(*), sum(a.b.c), min(a.b.f), max(a.b.c) FROM {N} GROUP BY 1"),
    ("N", "SELECT k, a.e AS e, count(DISTINCT a.b.c), avg(a.b.f) FROM {N} WHERE a.b.d IN ('p', 'r\"s') GROUP BY 1, 2"),
    ("N", "SELECT k, count(*) FROM {N} WHERE a.b.d LIKE 't\\%' GROUP BY k"),
    # Third device ABI: WHERE with OR, NOT, IS [NOT] NULL, BETWEEN and bool
    # columns (three-valued, NULLs included), shifted variances,
    # bool_and/bool_or.
    ("L", "SELECT service, count(*), sum(bytes) FROM {L} WHERE status = 404 OR status >= 500 GROUP BY service"),
    ("L", "SELECT region, count(*) FROM {L} WHERE NOT (status = 200) AND method <> 'GET' GROUP BY region"),
    ("L", "SELECT service, count(*), avg(latency_ms) FROM {L} "
          "WHERE latency_ms BETWEEN 10.0 AND 200.0 AND status BETWEEN 200 AND 299 GROUP BY service"),
    ("L", "SELECT level, count(*) FROM {L} WHERE status NOT BETWEEN 200 AND 299 GROUP BY level"),
    ("L", "SELECT service, count(*) FROM {L} WHERE error IS NULL GROUP BY service"),
    ("L", "SELECT service, count(*), max(latency_ms) FROM {L} WHERE error IS NOT NULL GROUP BY service"),
    ("L", "SELECT region, count(*) FROM {L} WHERE (method = 'GET' OR path LIKE '/api/%') "
          "AND NOT (status IN (500, 503) OR error IS NOT NULL) GROUP BY region"),
    ("L", "SELECT service, count(*) FROM {L} WHERE NOT (error LIKE '%time%') GROUP BY service"),
    ("L", "SELECT service, count(*) FROM {L} WHERE status IN (200, NULL) OR error IS NULL GROUP BY service"),
    ("L", "SELECT service, count(*) FROM {L} WHERE NOT (status NOT IN (200, 404, NULL)) GROUP BY service"),
    ("L", "SELECT service, count(*) FROM {L} WHERE NOT (status NOT IN (200, 404)) OR NOT (bytes > 1000) "
          "GROUP BY service"),
    ("L", "SELECT service, stddev_samp(latency_ms), var_pop(latency_ms), var_samp(latency_ms) "
          "FROM {L} WHERE status <> 200 GROUP BY service"),
    ("N", "SELECT k, var_pop(big), var_samp(big), stddev_pop(big), stddev_samp(big), "
          "stddev_samp(a.b.f), avg(big) FROM {N} GROUP BY k"),
    ("N", "SELECT k, bool_and(a.b.ok), bool_or(a.b.ok), count(a.b.ok), bool_and(flag), bool_or(flag) "
          "FROM {N} GROUP BY k"),
    ("N", "SELECT a.e AS e, count(*), bool_or(flag) FROM {N} WHERE a.b.ok OR a.b.c IS NULL GROUP BY 1"),
    ("N", "SELECT k, count(*) FROM {N} WHERE NOT flag OR (a.b.d IS NOT NULL AND NOT a.b.ok) GROUP BY k"),
    # min/max of strings (decoded, bytewise; escapes, NULLs, missing).
    ("L", "SELECT service, min(host), max(host), min(user_agent), max(path), min(error), count(*) "
          "FROM {L} GROUP BY service"),
    ("L", "SELECT level, max(trace_id), min(geo.city), max(geo.country) FROM {L} WHERE status >= 400 GROUP BY level"),
    ("N", "SELECT k, min(a.b.d), max(a.b.d), count(a.b.d) FROM {N} GROUP BY k"),
    ("N", "SELECT a.e AS e, max(a.b.d), min(k) FROM {N} WHERE a.b.c IS NULL GROUP BY 1"),
    # Exact quantiles from (group, value) pairs sorted on the device.
    ("L", "SELECT service, median(latency_ms), quantile_cont(bytes, 0.9), quantile_disc(status, 0.25), "
          "quantile_disc(latency_ms, 0.75), median(user_id) FROM {L} GROUP BY service"),
    ("L", "SELECT region, method, median(bytes), quantile_cont(latency_ms, 0.33), count(*) FROM {L} "
          "WHERE status >= 400 OR latency_ms < 5.0 GROUP BY 1, 2"),
    ("N", "SELECT k, a.e AS e, median(a.b.c), quantile_disc(a.b.f, 0.1), quantile_cont(big, 0.999), "
          "quantile_cont(a.b.c, 0.0), quantile_disc(a.b.c, 1.0) FROM {N} GROUP BY 1, 2"),
    ("N", "SELECT median(a.b.f), quantile_disc(a.b.c, 0.5), count(*) FROM {N} WHERE a.b.d = 'p'"),
]

# approx_quantile: the CPU engine computes it exactly (as quantile_disc), and
# so does the GPU; checked against the CPU run, DuckDB's is approximate.
GPU_SAME_AS_CPU = [
    "SELECT service, approx_quantile(latency_ms, 0.5), approx_quantile(bytes, 0.99) FROM {L} "
    "GROUP BY service ORDER BY service",
]

# Queries the GPU does not run: `auto` falls back to the CPU.
CPU_QUERIES = [
    ("L", "SELECT service, quantile_disc(host, 0.5) FROM {L} GROUP BY service", "needs a number"),
    ("L", "SELECT service, median(ts) FROM {L} GROUP BY service", "needs a number"),
    ("L", "SELECT count(*) FROM {L} WHERE lower(method) = 'get' OR status = 404", "WHERE"),
    ("L", "SELECT service, sum(status + 1) FROM {L} GROUP BY service", "not a column"),
    # Variances of integers: the binder casts the column to DOUBLE first.
    ("L", "SELECT service, var_pop(bytes) FROM {L} GROUP BY service", "not a column"),
]


def sources(data):
    return (
        {"L": f"'{data['L']}'", "N": f"'{data['N']}'"},
        {"L": f"read_json('{data['L']}', columns = {duck_columns(LOG_COLUMNS)})",
         "N": f"read_json('{data['N']}', columns = {duck_columns(NEST_COLUMNS)})"},
    )


@pytest.mark.parametrize("ds,sql", GPU_QUERIES, ids=[f"gpu{i:02d}" for i in range(len(GPU_QUERIES))])
def test_gpu_query_matches_duckdb(data, ds, sql):
    s_src, d_src = sources(data)
    got, p = run_sluice(sql.format(**s_src), "--device", "auto")
    want = duckdb.sql(sql.format(**d_src)).fetchall()
    compare(got, want, False, sql)
    if gpu_present(data):
        assert "ran on gpu" in p.stderr.decode(), p.stderr.decode()


@pytest.mark.parametrize("ds,sql,why", CPU_QUERIES, ids=[f"cpu{i:02d}" for i in range(len(CPU_QUERIES))])
def test_unsupported_falls_back_and_gpu_refuses(data, ds, sql, why):
    s_src, d_src = sources(data)
    got, p = run_sluice(sql.format(**s_src), "--device", "auto")
    compare(got, duckdb.sql(sql.format(**d_src)).fetchall(), False, sql)
    assert "ran on gpu" not in p.stderr.decode()
    if gpu_present(data):
        r = subprocess.run([sluice_bin(), "query", "--device", "gpu", sql.format(**s_src)],
                           capture_output=True, text=True)
        assert r.returncode == 1
        assert "this query cannot run on the GPU" in r.stderr and why in r.stderr, r.stderr


def test_first_last_follow_input_order(data):
    rows = [json.loads(x) for x in data["L"].read_text(encoding="utf-8").splitlines()]
    want = {}
    for o in rows:
        if o["status"] < 400:
            continue
        w = want.setdefault(o["service"], [o["host"], o.get("error"), o["latency_ms"], o["status"],
                                           None, None, None])
        w[4], w[5], w[6] = o["host"], o.get("error"), o["user_id"]
    got, p = run_sluice(f"SELECT service, first(host), first(error), first(latency_ms), first(status), "
                        f"last(host), last(error), last(user_id) FROM '{data['L']}' "
                        "WHERE status >= 400 GROUP BY service ORDER BY service", "--device", "auto")
    assert got == [[s, *want[s]] for s in sorted(want)]
    assert any(w[1] is None for w in want.values()) or any(w[5] is None for w in want.values())
    if gpu_present(data):
        assert "ran on gpu" in p.stderr.decode(), p.stderr.decode()


def test_approx_count_distinct_equals_cpu(data):
    """approx_count_distinct of integers on the GPU is the CPU engine's
    HyperLogLog: the same numbers, for groups with up to 64 distinct values
    (counted exactly) and with more (the register estimate); both within 5%
    of DuckDB's exact count(DISTINCT). Of doubles it stays on the CPU."""
    s_src, d_src = sources(data)
    for ds, sql, exact in [
        ("L", "SELECT service, approx_count_distinct(user_id), approx_count_distinct(status), "
              "approx_count_distinct(bytes) FROM {L} GROUP BY service ORDER BY service",
              "SELECT service, count(DISTINCT user_id), count(DISTINCT status), "
              "count(DISTINCT bytes) FROM {L} GROUP BY service ORDER BY service"),
        ("N", "SELECT k, approx_count_distinct(a.b.c), approx_count_distinct(a.e) FROM {N} "
              "WHERE a.e <> 3 GROUP BY k ORDER BY k",
              "SELECT k, count(DISTINCT a.b.c), count(DISTINCT a.e) FROM {N} "
              "WHERE a.e <> 3 GROUP BY k ORDER BY k"),
    ]:
        got, p = run_sluice(sql.format(**s_src), "--device", "auto")
        cpu, _ = run_sluice(sql.format(**s_src), "--device", "cpu")
        assert got == cpu, (sql, got, cpu)
        want = duckdb.sql(exact.format(**d_src)).fetchall()
        assert [r[0] for r in got] == [r[0] for r in want]
        for g, w in zip(got, want):
            for x, y in zip(g[1:], w[1:]):
                assert abs(x - y) <= 0.05 * y, (sql, g, w)
        if gpu_present(data):
            assert "ran on gpu" in p.stderr.decode(), p.stderr.decode()
    # Of doubles: the CPU's estimate (`auto` does not take the GPU).
    sql = "SELECT k, approx_count_distinct(big) FROM {N} GROUP BY k ORDER BY k".format(**s_src)
    got, p = run_sluice(sql, "--device", "auto")
    assert got == run_sluice(sql, "--device", "cpu")[0] and len(got) == 3
    assert "ran on gpu" not in p.stderr.decode()


@pytest.mark.parametrize("sql", GPU_SAME_AS_CPU)
def test_gpu_query_equals_cpu(data, sql):
    s_src, _ = sources(data)
    got, p = run_sluice(sql.format(**s_src), "--device", "auto")
    cpu, _ = run_sluice(sql.format(**s_src), "--device", "cpu")
    assert got == cpu and got, (got, cpu)
    if gpu_present(data):
        assert "ran on gpu" in p.stderr.decode(), p.stderr.decode()
