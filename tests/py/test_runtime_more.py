"""More integration tests of `sluice run` (the real binary): the built-in
default function, late records in HTTP answers, repeated kill -9 over plain,
gzip and zstd inputs, partition folders from an unsorted column. DuckDB is
the oracle. Binary: $SLUICE_BUILD/sluice or build/sluice."""
import gzip
import json
import os
import random
import signal
import subprocess
import time

import duckdb

from test_runtime import SLUICE, free_port, gen_lines, post, start, wait_ready, write


def test_default_function_aggregates_per_minute_like_duckdb(tmp_path):
    logs = tmp_path / "logs.jsonl"
    subprocess.run([SLUICE, "gen", "--rows", "30000", "-o", str(logs)], check=True)
    port = free_port()
    p = subprocess.Popen([SLUICE, "run", "--port", str(port), "--out", "out"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_ready(port, p)
        lines = logs.read_text().splitlines()
        for i in range(0, len(lines), 5000):
            st, res = post(port, "\n".join(lines[i:i + 5000]).encode())
            assert st == 200 and res == {"accepted": 5000, "rejected": 0}, res
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0
    got = duckdb.sql(f"""select minute, service, level, requests, bytes, max_latency_ms
        from read_parquet('{tmp_path}/out/**/*.parquet') order by all""").fetchall()
    want = duckdb.sql(f"""select date_trunc('minute', ts::timestamptz) as minute, service, level,
        count(*), sum(bytes), max(latency_ms) from read_json_auto('{logs}')
        group by all order by all""").fetchall()
    assert len(got) == len(want) and len(got) > 10
    for g, w in zip(got, want):
        assert g[0].timestamp() == w[0].timestamp() and g[1:] == w[1:]


WINDOW_SPEC = """
metadata: {{name: w}}
spec:
  runtime: sql
  sql:
    mode: window
    window: 1m
    allowedLateness: 0s
    timeColumn: ts
    query: "SELECT count(*) AS n FROM events"
  input: {{schema: "ts: timestamp[ms], k: int64"}}
  triggers:
    web: {{kind: http, batch: {{maxWait: 0ms}}, attributes: {{port: {port}}}}}
  sinks:
    pq: {{kind: parquet, attributes: {{path: {out}}}}}
  deadLetter: {dead}
"""


def test_late_record_is_rejected_in_the_answer_and_dead_lettered(tmp_path):
    port = free_port()
    out, dead = tmp_path / "out", tmp_path / "dead.jsonl"
    p = start(write(tmp_path / "f.yaml", WINDOW_SPEC.format(port=port, out=out, dead=dead)), tmp_path)
    try:
        wait_ready(port, p)
        assert post(port, '{"ts": "2024-01-01T00:00:10Z", "k": 1}') == (200, {"accepted": 1, "rejected": 0})
        # Watermark passes 00:01: the first window is emitted.
        assert post(port, '{"ts": "2024-01-01T00:02:00Z", "k": 2}') == (200, {"accepted": 1, "rejected": 0})
        st, res = post(port, '{"ts": "2024-01-01T00:00:20Z", "k": 3}\n{"ts": "2024-01-01T00:02:30Z", "k": 4}')
        assert (st, res) == (200, {"accepted": 1, "rejected": 1})
        # Every record rejected: 400 with the counts.
        assert post(port, '{"ts": "2024-01-01T00:00:30Z", "k": 5}') == (400, {"accepted": 0, "rejected": 1})
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    letters = [json.loads(l) for l in open(dead)]
    assert [json.loads(d["record"])["k"] for d in letters] == [3, 5]
    assert all(d["reason"].startswith("late record") for d in letters)
    assert duckdb.sql(f"select sum(n) from '{out}/*.parquet'").fetchall()[0][0] == 3


FILE_SPEC = """metadata: {{name: files}}
spec:
  runtime: passthrough
  admin: {{port: {admin}}}
  logLevel: {log_level}
  input: {{schema: "ts: timestamp[ms], service: utf8, seq: int64, bytes: int64"}}
  triggers:
    files:
      kind: file
      numWorkers: 2
      maxWorkers: 3
      batch: {{maxEvents: 7000, maxWait: 5ms}}
      attributes: {{path: "{logs}/*.jsonl*", chunkBytes: 32KiB{extra}}}
  sinks:
    pq: {{kind: parquet, attributes: {{path: {out}, rollRows: 15000, fsync: false, partition: "s={{service}}"}}}}
"""


def test_file_trigger_survives_repeated_kill9_on_plain_gz_zst(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    per_file, n = 40_000, 0
    for f in range(6):
        text = "\n".join(gen_lines(per_file, n)) + "\n"
        n += per_file
        name = logs / ("f%02d.jsonl" % f)
        if f % 3 == 1:
            with gzip.open(str(name) + ".gz", "wt") as g:
                g.write(text)
        elif f % 3 == 2:
            name.write_text(text)
            subprocess.run(["zstd", "-q", "--rm", str(name)], check=True)
        else:
            name.write_text(text)
    out = tmp_path / "out"
    spec = write(tmp_path / "f.yaml", FILE_SPEC.format(admin=free_port(), logs=logs, out=out, extra="",
                                                         log_level="info"))
    rnd = random.Random(7)
    for _ in range(6):
        p = start(spec, tmp_path)
        time.sleep(rnd.uniform(0.05, 0.45))
        p.kill()
        p.wait()
    p = start(spec, tmp_path)
    assert p.wait(120) == 0, p.stderr.read().decode()
    rows = duckdb.sql(f"select count(*), count(distinct seq), sum(seq) from "
                      f"read_parquet('{out}/**/*.parquet', hive_partitioning=true) where s = service").fetchall()[0]
    assert rows == (n, n, n * (n - 1) // 2)
    names = [q.name for q in out.glob("**/*.parquet")]
    assert names and all(x.startswith("part-f") for x in names)


def test_file_trigger_compacts_its_state_file_while_running(tmp_path):
    """A long run appends ~100 bytes per batch to the state file; with
    stateCompactBytes it is rewritten while running (also across kill -9)
    and stays small, and the output is still exact."""
    logs = tmp_path / "logs"
    logs.mkdir()
    per_file, n = 20_000, 0
    for f in range(6):
        write(logs / ("f%02d.jsonl" % f), "\n".join(gen_lines(per_file, n)) + "\n")
        n += per_file
    sizes, compactions = {}, {}
    for case, extra, kills in (("plain", "", 0), ("compact", ", stateCompactBytes: 1KiB", 0),
                               ("killed", ", stateCompactBytes: 1KiB", 3)):
        out, state = tmp_path / ("out-" + case), tmp_path / (case + ".state")
        spec = FILE_SPEC.format(admin=free_port(), logs=logs, out=out, log_level="debug",
                                extra=extra + ", stateFile: %s" % state)
        spec = write(tmp_path / (case + ".yaml"), spec.replace("maxEvents: 7000", "maxEvents: 1000"))
        rnd = random.Random(3)
        for _ in range(kills):
            p = start(spec, tmp_path)
            time.sleep(rnd.uniform(0.03, 0.15))
            p.kill()
            p.wait()
        p = start(spec, tmp_path)
        _, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr.decode()
        rows = duckdb.sql(f"select count(*), count(distinct seq), sum(seq) from "
                          f"read_parquet('{out}/**/*.parquet', hive_partitioning=true)").fetchall()[0]
        assert rows == (n, n, n * (n - 1) // 2), case
        sizes[case] = state.stat().st_size
        logs_ = [json.loads(l) for l in stderr.decode().splitlines() if l.startswith("{")]
        compactions[case] = [l for l in logs_ if l.get("msg") == "state file compacted"]
        assert not (tmp_path / (case + ".state.tmp")).exists()
    # 120 batches of 1000 lines: at the default threshold every batch left
    # its lines until the clean stop compacted the file once; with a small
    # one, it was rewritten while running too.
    assert len(compactions["plain"]) == 1, compactions
    assert compactions["plain"][0]["bytesBefore"] > 8000, compactions
    assert len(compactions["compact"]) >= 3, compactions
    assert all(c["bytesAfter"] < c["bytesBefore"] for c in compactions["compact"])
    assert sizes["compact"] < 1000 and sizes["killed"] < 1000, sizes


def test_partition_by_unsorted_column_groups_rows(tmp_path):
    port = free_port()
    out, dead = tmp_path / "out", tmp_path / "dead.jsonl"
    spec = write(tmp_path / "f.yaml", f"""metadata: {{name: p}}
spec:
  runtime: passthrough
  input: {{schema: "ts: timestamp[ms], service: utf8, seq: int64, bytes: int64"}}
  triggers:
    web: {{kind: http, batch: {{maxEvents: 100000, maxWait: 20ms}}, attributes: {{port: {port}}}}}
  sinks:
    pq: {{kind: parquet, attributes: {{path: {out}, partition: "svc={{service}}/b={{bytes}}"}}}}
""")
    p = start(spec, tmp_path)
    try:
        wait_ready(port, p)
        lines = [json.dumps({"ts": "2024-01-01T00:00:00Z", "service": "svc%d" % (i % 5),
                             "seq": i, "bytes": i % 3}) for i in range(30000)]
        assert post(port, "\n".join(lines)) == (200, {"accepted": 30000, "rejected": 0})
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    files = list(out.glob("**/*.parquet"))
    assert len(files) == 15  # one file per folder, not one per run of rows
    got = duckdb.sql(f"""select svc, b, count(*), min(seq), max(seq), bool_and(service = svc)
        from read_parquet('{out}/**/*.parquet', hive_partitioning=true) group by all order by all""").fetchall()
    want = duckdb.sql("""select 'svc' || (i % 5), i % 3, count(*), min(i), max(i), true
        from range(30000) t(i) group by all order by all""").fetchall()
    assert [(a, int(b), c, d, e, f) for a, b, c, d, e, f in got] == want


def get(port, path):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read().decode(), dict(r.getheaders())


def metric(text, name, labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no metric %s{%s} in\n%s" % (name, labels, text))


def test_metrics_health_and_sighup_reload(tmp_path):
    port = free_port()
    out = tmp_path / "out"
    spec_text = """metadata: {{name: m}}
spec:
  runtime: passthrough
  triggers:
    web: {{kind: http, attributes: {{port: {port}}}}}
  sinks:
    pq: {{kind: parquet, attributes: {{path: {out}, prefix: {prefix}}}}}
"""
    spec = write(tmp_path / "f.yaml", spec_text.format(port=port, out=out, prefix="a"))
    p = start(spec, tmp_path)
    try:
        wait_ready(port, p)
        assert get(port, "/live")[0] == 200
        body = "\n".join(gen_lines(1234))
        assert post(port, body) == (200, {"accepted": 1234, "rejected": 0})
        st, text, _ = get(port, "/metrics")
        assert st == 200
        assert metric(text, "sluice_events_total", 'trigger="web"') == 1234
        assert metric(text, "sluice_bytes_total", 'trigger="web"') >= len(body)
        assert metric(text, "sluice_batch_events_count", 'trigger="web"') >= 1
        assert metric(text, "sluice_sink_rows_total", 'sink="pq"') == 1234
        # An invalid spec: the running function stays and says why.
        write(tmp_path / "f.yaml", "metadata: {name: m}\nspec: {runtime: passthrough, tirggers: {}}\n")
        p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert post(port, "\n".join(gen_lines(10, 5000))) == (200, {"accepted": 10, "rejected": 0})
        # A valid one: the old runtime drains (publishes a-*), the new one runs.
        write(tmp_path / "f.yaml", spec_text.format(port=port, out=out, prefix="b"))
        p.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        wait_ready(port, p)
        assert len(list(out.glob("a-*.parquet"))) == 1
        assert post(port, "\n".join(gen_lines(7, 9000))) == (200, {"accepted": 7, "rejected": 0})
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    log = p.stderr.read().decode()
    assert "tirggers" in log
    assert len(list(out.glob("b-*.parquet"))) == 1
    assert duckdb.sql(f"select count(*) from '{out}/*.parquet'").fetchall()[0][0] == 1234 + 10 + 7


def test_busy_workers_answer_503_with_retry_after(tmp_path):
    import concurrent.futures as cf
    import http.client
    port = free_port()
    out = tmp_path / "out"
    spec = write(tmp_path / "f.yaml", f"""metadata: {{name: busy}}
spec:
  runtime: sql
  sql: {{query: "SELECT service, count(DISTINCT seq) AS n, quantile_cont(bytes, 0.5) AS q FROM events GROUP BY service"}}
  input: {{schema: "ts: timestamp[ms], service: utf8, seq: int64, bytes: int64"}}
  triggers:
    web:
      kind: http
      numWorkers: 1
      maxWorkers: 1
      workerAvailabilityTimeoutMilliseconds: 0
      batch: {{maxEvents: 1, maxWait: 0ms}}
      attributes: {{port: {port}, retryAfter: 2}}
  sinks:
    pq: {{kind: parquet, attributes: {{path: {out}}}}}
""")
    p = start(spec, tmp_path)
    body = "\n".join(gen_lines(100_000)).encode()
    try:
        wait_ready(port, p)

        def one(_):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("POST", "/", body=body)
            r = c.getresponse()
            r.read()
            return r.status, r.getheader("Retry-After")

        with cf.ThreadPoolExecutor(8) as ex:
            res = list(ex.map(one, range(16)))
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0
    assert {s for s, _ in res} <= {200, 503}
    assert any(s == 503 and ra == "2" for s, ra in res), res
    ok = sum(1 for s, _ in res if s == 200)
    assert ok >= 1
    # Only accepted requests were handled: each adds one row per service.
    assert duckdb.sql(f"select count(*) from '{out}/*.parquet'").fetchall()[0][0] == ok * 7


def test_native_c_handler_example(tmp_path):
    from test_runtime import BUILD, ROOT
    so = tmp_path / "liberrors_only.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-I", os.path.join(ROOT, "include"), "-o", str(so),
                    os.path.join(ROOT, "examples/native/errors_only.c"), "-L", BUILD, "-lsluice",
                    "-Wl,-rpath," + BUILD], check=True)
    port = free_port()
    spec = write(tmp_path / "f.yaml", f"""metadata: {{name: native}}
spec:
  runtime: c
  handler: {so}:errors_only
  input: {{schema: "service: utf8, status: int64"}}
  triggers:
    web: {{kind: http, numWorkers: 2, batch: {{maxWait: 10ms}}, attributes: {{port: {port}}}}}
  sinks:
    out: {{kind: stdout, attributes: {{path: {tmp_path}/out.jsonl}}}}
""")
    p = start(spec, tmp_path)
    recs = [{"service": "s%d" % (i % 4), "status": (200, 404, 500, 503)[i % 4] if i % 9 else None}
            for i in range(5000)]
    try:
        wait_ready(port, p)
        for i in range(0, 5000, 1000):
            assert post(port, "\n".join(json.dumps(r) for r in recs[i:i + 1000])) == \
                (200, {"accepted": 1000, "rejected": 0})
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0
    got = sorted((r["service"], r["status"]) for r in map(json.loads, open(tmp_path / "out.jsonl")))
    want = sorted((r["service"], r["status"]) for r in recs if r["status"] is not None and r["status"] >= 500)
    assert got == want and len(want) > 1000
    # drain ran on every initialised worker context and logged its counts
    seen = sum(int(m) for m in __import__("re").findall(r"saw (\d+) records", err.decode()))
    assert seen == 5000


def test_star_query_logs_the_list_columns_it_leaves_out(tmp_path):
    # A per-batch `SELECT *` over events with a list column: the rows and
    # scalar columns reach the Parquet sink, and the start of the run logs
    # (once) that `tags` is left out, rather than dropping it silently.
    port = free_port()
    spec = write(tmp_path / "function.yaml", f"""
metadata: {{name: star}}
spec:
  runtime: sql
  sql: {{query: "SELECT * FROM events"}}
  triggers:
    web:
      kind: http
      numWorkers: 2
      batch: {{maxEvents: 500, maxWait: 20ms}}
      attributes: {{port: {port}}}
  sinks:
    pq: {{kind: parquet, attributes: {{path: out}}}}
""")
    p = start(spec, tmp_path)
    lines = [json.dumps({"service": "s%d" % (i % 3), "n": i, "tags": ["a", "b"][: i % 3]})
             for i in range(3000)]
    try:
        wait_ready(port, p)
        for i in range(0, len(lines), 1000):
            st, res = post(port, "\n".join(lines[i:i + 1000]).encode())
            assert st == 200 and res == {"accepted": 1000, "rejected": 0}, res
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0
    logs = [json.loads(x) for x in p.stderr.read().decode().splitlines() if x.startswith("{")]
    notes = [x for x in logs if "leaves out list columns" in x.get("msg", "")]
    assert len(notes) == 1 and notes[0]["columns"] == "tags" and notes[0]["level"] == "warn"
    got = duckdb.sql(f"select count(*), sum(n), count(distinct service) "
                     f"from read_parquet('{tmp_path}/out/**/*.parquet')").fetchall()
    assert got == [(3000, sum(range(3000)), 3)]
    cols = duckdb.sql(f"describe select * from read_parquet('{tmp_path}/out/**/*.parquet')").fetchall()
    assert sorted(c[0] for c in cols) == ["n", "service"]
