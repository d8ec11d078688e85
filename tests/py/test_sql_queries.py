"""`sluice query` against DuckDB on the same generated logs.

Every query runs twice: through `sluice query` (input named in FROM) and
through DuckDB (read_json with explicit columns, or, for the messy variant
whose truncated lines and 1e3-style integers DuckDB's reader treats
differently, a table built from Python's own json parser). Results must
match row for row (sorted unless the query orders), floats within 1e-9
relative."""
import json
import subprocess

import duckdb
import pyarrow as pa
import pytest

from sql_oracle import (ARTICLE_COLUMNS, LOG_COLUMNS, compare, duck_columns,
                        run_sluice, sluice_bin)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("sqldata")
    files = {
        "L": d / "logs.jsonl", "M": d / "messy.jsonl", "A": d / "article.jsonl",
    }
    subprocess.run([sluice_bin(), "gen", "--rows", "20000", "--seed", "7",
                    "--output", str(files["L"])], check=True)
    subprocess.run([sluice_bin(), "gen", "--rows", "20000", "--seed", "11", "--messy",
                    "--output", str(files["M"])], check=True)
    subprocess.run([sluice_bin(), "gen", "--rows", "30000", "--seed", "5", "--kind",
                    "article", "--output", str(files["A"])], check=True)
    con = duckdb.connect()
    # The messy file through Python's json module: bad lines dropped, 1e3
    # integers made ints, a typed Arrow table for DuckDB.
    rows = []
    for line in files["M"].read_text(encoding="utf-8").splitlines():
        try:
            o = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(o, dict):
            continue
        rows.append(o)
    import datetime as dt

    def ts(v):
        return None if v is None else dt.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")

    def as_int(v):
        return None if v is None else int(v)

    tbl = pa.table({
        "ts": pa.array([ts(o.get("ts")) for o in rows], pa.timestamp("us")),
        "level": [o.get("level") for o in rows],
        "service": [o.get("service") for o in rows],
        "host": [o.get("host") for o in rows],
        "region": [o.get("region") for o in rows],
        "method": [o.get("method") for o in rows],
        "path": [o.get("path") for o in rows],
        "status": pa.array([as_int(o.get("status")) for o in rows], pa.int64()),
        "bytes": pa.array([as_int(o.get("bytes")) for o in rows], pa.int64()),
        "latency_ms": pa.array([None if o.get("latency_ms") is None else float(o["latency_ms"])
                                for o in rows], pa.float64()),
        "user_id": pa.array([as_int(o.get("user_id")) for o in rows], pa.int64()),
        "trace_id": [o.get("trace_id") for o in rows],
        "geo": pa.array([o.get("geo") for o in rows],
                        pa.struct([("country", pa.string()), ("city", pa.string())])),
        "error": pa.array([o.get("error") for o in rows], pa.string()),
    })
    con.register("messy_tbl", tbl)
    messy_cols = {k: v for k, v in LOG_COLUMNS.items() if k not in ("geo", "tags", "user_agent")}
    messy_cols["geo.country"] = "VARCHAR"
    messy_cols["geo.city"] = "VARCHAR"
    return {
        "con": con,
        "files": files,
        "sluice": {
            "L": f"'{files['L']}'",
            "M": f"read_json('{files['M']}', columns => {duck_columns(messy_cols)})",
            "A": f"'{files['A']}'",
        },
        "duck": {
            "L": f"read_json('{files['L']}', columns = {duck_columns(LOG_COLUMNS)})",
            "M": "messy_tbl",
            "A": f"read_json('{files['A']}', columns = {duck_columns(ARTICLE_COLUMNS)})",
        },
    }


QUERIES = [
    # ---- flat and nested logs ------------------------------------------
    ("L", "SELECT count(*) FROM {L}"),
    ("L", "SELECT service, count(*) FROM {L} GROUP BY service"),
    ("L", "SELECT service, status, count(*), sum(bytes), avg(latency_ms), max(latency_ms) "
          "FROM {L} GROUP BY service, status"),
    ("L", "SELECT date_trunc('minute', ts) AS minute, region, count(*), avg(latency_ms), "
          "sum(bytes) FROM {L} GROUP BY 1, 2"),
    ("L", "SELECT host, path, count(*) FROM {L} WHERE status >= 500 GROUP BY host, path"),
    ("L", "SELECT user_id, count(*), sum(bytes) FROM {L} GROUP BY user_id"),
    ("L", "SELECT geo.country, count(*), avg(latency_ms) FROM {L} GROUP BY geo.country"),
    ("L", "SELECT level, min(latency_ms), max(latency_ms), stddev(latency_ms), "
          "variance(latency_ms), stddev_pop(latency_ms), var_pop(bytes) FROM {L} GROUP BY level"),
    ("L", "SELECT service, median(latency_ms), quantile_cont(latency_ms, 0.9), "
          "quantile_disc(bytes, 0.25), median(bytes) FROM {L} GROUP BY service"),
    ("L", "SELECT region, count(DISTINCT user_id), count(DISTINCT host) FROM {L} GROUP BY region"),
    ("L", "SELECT method, path, count(*) AS n FROM {L} GROUP BY ALL HAVING count(*) > 100"),
    ("L", "SELECT service, count(*) AS n FROM {L} GROUP BY service ORDER BY n DESC, service LIMIT 3"),
    ("L", "SELECT ts, service, latency_ms FROM {L} ORDER BY latency_ms DESC, trace_id LIMIT 10"),
    ("L", "SELECT ts, bytes FROM {L} ORDER BY bytes ASC, trace_id LIMIT 5 OFFSET 3"),
    ("L", "SELECT DISTINCT region FROM {L}"),
    ("L", "SELECT DISTINCT service, method FROM {L} ORDER BY service, method"),
    ("L", "SELECT count(*) FROM {L} WHERE status IN (500, 502, 503)"),
    ("L", "SELECT count(*) FROM {L} WHERE status NOT IN (200, 201)"),
    ("L", "SELECT count(*) FROM {L} WHERE latency_ms BETWEEN 100 AND 200"),
    ("L", "SELECT count(*) FROM {L} WHERE bytes NOT BETWEEN 1000 AND 90000"),
    ("L", "SELECT count(*) FROM {L} WHERE path LIKE '/api/v1/%'"),
    ("L", "SELECT count(*) FROM {L} WHERE user_agent ILIKE '%mozilla%'"),
    ("L", "SELECT count(*) FROM {L} WHERE path NOT LIKE '%s' AND host LIKE 'web-_5'"),
    ("L", "SELECT count(*), count(error) FROM {L} WHERE error IS NULL"),
    ("L", "SELECT status, count(*) FROM {L} WHERE error IS NOT NULL GROUP BY status"),
    ("L", "SELECT CASE WHEN status >= 500 THEN 'server' WHEN status >= 400 THEN 'client' "
          "ELSE 'ok' END AS cls, count(*) FROM {L} GROUP BY cls"),
    ("L", "SELECT CASE level WHEN 'ERROR' THEN 1 WHEN 'WARN' THEN 2 ELSE 3 END AS sev, "
          "count(*) FROM {L} GROUP BY 1"),
    ("L", "SELECT CAST(latency_ms AS BIGINT) % 10 AS d, count(*) FROM {L} GROUP BY d"),
    ("L", "SELECT service, sum(CAST(status >= 500 AS INTEGER)) AS errs FROM {L} GROUP BY service"),
    ("L", "SELECT lower(service), upper(region), length(host) FROM {L} ORDER BY ts, trace_id LIMIT 20"),
    ("L", "SELECT substr(trace_id, 1, 3) AS p, count(*) FROM {L} GROUP BY p HAVING count(*) > 5"),
    ("L", "SELECT concat(service, '-', region) AS k, count(*) FROM {L} GROUP BY k"),
    ("L", "SELECT service || ':' || method AS k, count(*) FROM {L} GROUP BY k"),
    ("L", "SELECT count(*) FROM {L} WHERE starts_with(path, '/api') AND contains(user_agent, 'Linux')"),
    ("L", "SELECT time_bucket(INTERVAL '5 minutes', ts) AS b, count(*) FROM {L} GROUP BY b"),
    ("L", "SELECT extract(hour FROM ts) AS h, extract(minute FROM ts) AS m, count(*) "
          "FROM {L} GROUP BY h, m"),
    ("L", "SELECT date_part('second', ts) AS s, count(*) FROM {L} GROUP BY s"),
    ("L", "SELECT min(epoch_ms(ts)), max(epoch_ms(ts)) FROM {L}"),
    ("L", "SELECT count(*) FROM {L} WHERE epoch_ms(ts) % 1000 < 100"),
    ("L", "SELECT coalesce(error, 'none') AS e, count(*) FROM {L} GROUP BY e"),
    ("L", "SELECT service, arg_min(host, latency_ms), arg_max(path, latency_ms) FROM {L} GROUP BY service"),
    ("L", "SELECT service, bool_and(status < 600), bool_or(status >= 500) FROM {L} GROUP BY service"),
    ("L", "SELECT avg(bytes) / 1000.0, sum(latency_ms) * 2, sum(bytes) - 7 FROM {L}"),
    ("L", "SELECT status // 100 AS c, count(*) FROM {L} GROUP BY c"),
    ("L", "SELECT -bytes, abs(-bytes), round(latency_ms, 1), floor(latency_ms), ceil(latency_ms) "
          "FROM {L} ORDER BY trace_id LIMIT 10"),
    ("L", "SELECT count(*) FROM {L} WHERE NOT (status = 200 OR status = 404)"),
    ("L", "SELECT count(*) FROM {L} WHERE status <> 200 AND latency_ms > 1000.5"),
    ("L", "SELECT greatest(bytes, 50000), least(status, 300) FROM {L} ORDER BY trace_id LIMIT 5"),
    ("L", "SELECT nullif(status, 200) AS s, count(*) FROM {L} GROUP BY s"),
    ("L", "SELECT geo.city, geo.country, count(*) FROM {L} GROUP BY ALL ORDER BY 3 DESC, 1 LIMIT 5"),
    ("L", "SELECT host, ts FROM {L} WHERE latency_ms > 1990 ORDER BY host, ts"),
    ("L", "SELECT service, sum(bytes) AS s FROM {L} GROUP BY service ORDER BY s DESC NULLS LAST"),
    ("L", "SELECT replace(path, '/api', '') AS p, count(*) FROM {L} GROUP BY 1"),
    ("L", "SELECT trim('  x  '), ltrim('  y'), rtrim('z  '), 7 // 2, 7 / 2, 2 * 3 + 1 FROM {L} LIMIT 1"),
    ("L", "SELECT service, count(*) FILTER_ALIAS FROM {L} GROUP BY service ORDER BY service"),
    ("L", "SELECT date_trunc('hour', ts) AS h, count(*), approx_quantile(bytes, 0.0) FROM {L} GROUP BY h"),
    ("L", "SELECT region, max(ts), min(ts) FROM {L} GROUP BY region"),
    ("L", "SELECT service, method, avg(latency_ms) FROM {L} WHERE region IN ('eu-west-1', 'us-east-1') "
          "GROUP BY service, method HAVING avg(latency_ms) > 500 ORDER BY 3 DESC"),
    ("L", "SELECT CAST(status AS VARCHAR) || '!' AS s, count(*) FROM {L} GROUP BY s"),
    ("L", "SELECT year(ts), month(ts), day(ts), hour(ts), count(*) FROM {L} GROUP BY ALL"),
    ("L", "SELECT upper(geo.country) AS c, count(DISTINCT geo.city) FROM {L} GROUP BY c"),
    ("L", "SELECT * FROM {L} WHERE status = 503 ORDER BY trace_id LIMIT 3"),
    ("L", "SELECT dayofweek(ts), week(ts), quarter(ts), dayofyear(ts), count(*) FROM {L} GROUP BY ALL"),
    ("L", "SELECT date_trunc('day', ts + INTERVAL '30 days') AS d, count(*) FROM {L} GROUP BY d"),
    ("L", "SELECT time_bucket(INTERVAL '1 month', ts) AS m, date_trunc('week', ts) AS w, count(*) "
          "FROM {L} GROUP BY ALL"),
    ("L", "SELECT count(*) FROM {L} WHERE ends_with(host, '7') OR region = 'eu-west-1' AND NOT method = 'GET'"),
    ("L", "SELECT epoch_ms(epoch_ms(ts)) = ts AS same, count(*) FROM {L} GROUP BY same"),
    ("L", "SELECT to_timestamp(epoch_ms(ts) // 1000) AS s, count(*) FROM {L} GROUP BY s "
          "ORDER BY 2 DESC, 1 LIMIT 5"),
    ("L", "SELECT service, count(DISTINCT path || method), min(path), max(host) FROM {L} GROUP BY service"),
    ("L", "SELECT CAST(ts AS DATE) AS d, CAST(ts AS VARCHAR) < '2' AS early, count(*) FROM {L} GROUP BY ALL"),
    ("L", "SELECT status, avg(bytes) FILTER_ALIAS FROM {L} GROUP BY status HAVING min(bytes) > 10 "
          "AND max(latency_ms) < 1999.9 ORDER BY n DESC LIMIT 4"),
    ("L", "SELECT level, count(*) * 100.0 / 20000 AS pct FROM {L} GROUP BY level"),
    ("L", "SELECT DISTINCT length(user_agent) AS l FROM {L} ORDER BY l"),
    ("L", "SELECT upper(substr(service, 2)), sum(bytes) FROM {L} WHERE status BETWEEN 200 AND 299 "
          "GROUP BY 1 ORDER BY 2 DESC"),
    # ---- messy variant: shuffled keys, nulls, 1e3 integers, bad lines --------
    ("M", "SELECT service, count(*), count(service), sum(bytes), avg(latency_ms) FROM {M} GROUP BY service"),
    ("M", "SELECT level, min(bytes), max(bytes), median(latency_ms) FROM {M} GROUP BY level"),
    ("M", "SELECT geo.country, count(*) FROM {M} GROUP BY 1 ORDER BY 2 DESC, 1 NULLS FIRST"),
    ("M", "SELECT count(*) FROM {M} WHERE latency_ms IS NULL"),
    ("M", "SELECT status, count(*) FROM {M} WHERE region IS NOT NULL AND status >= 400 GROUP BY status"),
    ("M", "SELECT service, latency_ms FROM {M} WHERE trace_id IS NOT NULL "
          "ORDER BY latency_ms DESC NULLS FIRST, trace_id LIMIT 10"),
    ("M", "SELECT coalesce(service, 'unknown') s, count(*) FROM {M} GROUP BY s"),
    ("M", "SELECT CASE WHEN bytes IS NULL THEN -1 ELSE bytes // 10000 END b, count(*) FROM {M} GROUP BY b"),
    ("M", "SELECT count(DISTINCT host), count(DISTINCT geo.city), count(geo.city) FROM {M}"),
    ("M", "SELECT date_trunc('hour', ts) h, stddev(latency_ms), sum(latency_ms) FROM {M} GROUP BY h"),
    ("M", "SELECT count(*) FROM {M} WHERE NOT (status = 200)"),
    ("M", "SELECT status IS NULL AS missing, count(*) FROM {M} GROUP BY 1"),
    ("M", "SELECT region, sum(bytes), min(latency_ms), max(trace_id) FROM {M} GROUP BY region"),
    ("M", "SELECT count(*) FROM {M} WHERE latency_ms = 0"),
    # ---- the article's rows ------------------------------------------------
    ("A", "SELECT company, min(cpu_utilization), max(cpu_utilization), avg(cpu_utilization), "
          "min(latency), max(latency), avg(latency), min(packet_loss), max(packet_loss), "
          "avg(packet_loss), min(throughput), max(throughput), avg(throughput) FROM {A} "
          "GROUP BY company ORDER BY avg(cpu_utilization) DESC LIMIT 10"),
    ("A", "SELECT company, sum(CAST(cpu_utilization_is_error AS INTEGER)) AS e FROM {A} GROUP BY company"),
    ("A", "SELECT date_trunc('second', epoch_ms(timestamp)) s, count(*), avg(throughput) FROM {A} GROUP BY s"),
    ("A", "SELECT count(*) FROM {A} WHERE latency_is_error OR packet_loss_is_error"),
    ("A", "SELECT company, stddev(latency), variance(throughput) FROM {A} "
          "WHERE NOT throughput_is_error GROUP BY company ORDER BY company"),
]


def ordered(sql):
    return " ORDER BY " in sql.upper()


@pytest.mark.parametrize("ds,sql", QUERIES, ids=[f"q{i:02d}" for i in range(len(QUERIES))])
def test_query_matches_duckdb(data, ds, sql):
    if "FILTER_ALIAS" in sql:  # an alias without AS
        sql = sql.replace("FILTER_ALIAS", "n")
    s_sql = sql.format(**data["sluice"])
    d_sql = sql.format(**data["duck"])
    extra = ["--skip-bad-lines"] if ds == "M" else []
    got, _ = run_sluice(s_sql, *extra)
    if "SELECT *" in sql:  # DuckDB keeps geo as a struct and tags as a list
        d_sql = d_sql.replace("SELECT *", "SELECT * EXCLUDE (geo, tags, error), geo.country, geo.city, error")
    want = data["con"].sql(d_sql).fetchall()
    compare(got, want, ordered(sql), s_sql)


def test_count_matches_python(data):
    lines = data["files"]["M"].read_text(encoding="utf-8").splitlines()
    good = 0
    for line in lines:
        try:
            json.loads(line)
            good += 1
        except json.JSONDecodeError:
            pass
    got, _ = run_sluice(f"SELECT count(*) FROM {data['sluice']['M']}", "--skip-bad-lines")
    assert got == [[good]]
    assert good < len(lines)  # the messy file does hold bad lines


def test_first_last_follow_input_order(data):
    rows = [json.loads(x) for x in data["files"]["L"].read_text(encoding="utf-8").splitlines()]
    first, last = {}, {}
    for o in rows:
        first.setdefault(o["service"], o["host"])
        last[o["service"]] = o["host"]
    got, _ = run_sluice(f"SELECT service, first(host), last(host) FROM {data['sluice']['L']} "
                        "GROUP BY service ORDER BY service")
    assert got == [[s, first[s], last[s]] for s in sorted(first)]


def test_approx_count_distinct_close(data):
    sql = "SELECT service, approx_count_distinct(user_id), count(DISTINCT user_id) FROM {L} GROUP BY service"
    got, _ = run_sluice(sql.format(**data["sluice"]))
    assert len(got) == 8
    for _, approx, exact in got:
        assert abs(approx - exact) <= 0.05 * exact
