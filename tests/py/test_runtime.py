"""Integration tests of `sluice run` (the real binary) with DuckDB as oracle.

The binary is $SLUICE_BUILD/sluice or build/sluice. Each test runs its own
function on a free port in a temporary folder.
"""
import concurrent.futures as cf
import http.client
import json
import os
import signal
import socket
import subprocess
import time

import duckdb
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("SLUICE_BUILD", os.path.join(ROOT, "build")))
SLUICE = os.path.join(BUILD, "sluice")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def start(spec, cwd, env=None):
    p = subprocess.Popen([SLUICE, "run", spec], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    return p


def wait_ready(port, proc, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError("sluice exited: " + proc.stderr.read().decode())
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("function not ready")


def post(port, body, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    return r.status, json.loads(data) if data else None


def gen_lines(n, start=0):
    return [json.dumps({"ts": "2024-01-01T00:%02d:%02dZ" % ((i // 60) % 60, i % 60),
                        "service": "svc%d" % (i % 7), "seq": i, "bytes": i % 1000})
            for i in range(start, start + n)]


PARQUET_SPEC = """
metadata: {{name: t}}
spec:
  runtime: passthrough
  input: {{schema: "ts: timestamp[ms], service: utf8, seq: int64, bytes: int64"}}
  triggers:
    web:
      kind: http
      numWorkers: 2
      maxWorkers: 4
      batch: {{maxEvents: 20000, maxWait: 50ms}}
      attributes: {{port: {port}}}
  sinks:
    pq:
      kind: parquet
      attributes: {{path: {out}, rollRows: 200000, rollInterval: 2s}}
  deadLetter: {dead}
"""


def test_check_reports_file_line_column(tmp_path):
    spec = write(tmp_path / "function.yaml", """metadata:
  name: x
spec:
  runtime: passthrough
  triggers:
    web:
      kind: http
      attributes:
        port: abc
""")
    r = subprocess.run([SLUICE, "check", spec], capture_output=True, text=True)
    assert r.returncode == 1
    assert "function.yaml:9:15: spec.triggers.web.attributes.port: expected an integer in 0..65535, found 'abc'" in r.stderr
    spec2 = write(tmp_path / "f2.yaml", "metadata: {name: x}\nspec:\n  runtime: passthrough\n  tirggers: {}\n")
    r = subprocess.run([SLUICE, "check", spec2], capture_output=True, text=True)
    assert r.returncode == 1 and "f2.yaml:4:3: spec: unknown key 'tirggers'" in r.stderr
    spec3 = write(tmp_path / "f3.yaml", "metadata: {name: '${NOPE_NOT_SET}'}\nspec: {runtime: passthrough}\n")
    r = subprocess.run([SLUICE, "check", spec3], capture_output=True, text=True)
    assert r.returncode == 1 and "f3.yaml:1:18: environment variable 'NOPE_NOT_SET' is not set" in r.stderr


def test_million_lines_concurrent_clients_exactly_once(tmp_path):
    port = free_port()
    out, dead = tmp_path / "out", tmp_path / "dead.jsonl"
    spec = write(tmp_path / "f.yaml", PARQUET_SPEC.format(port=port, out=out, dead=dead))
    p = start(spec, tmp_path)
    try:
        wait_ready(port, p)
        total, per_req, clients = 1_000_000, 1000, 8
        bodies = ["\n".join(gen_lines(per_req, s)) for s in range(0, total, per_req)]

        def client(k):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            acc = 0
            for b in bodies[k::clients]:
                st, res = post(port, b, conn)
                assert st == 200, res
                acc += res["accepted"]
            return acc

        with cf.ThreadPoolExecutor(clients) as ex:
            accepted = sum(ex.map(client, range(clients)))
        assert accepted == total
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0
    rows = duckdb.sql(f"select count(*), count(distinct seq), sum(bytes) from '{out}/*.parquet'").fetchall()[0]
    assert rows == (total, total, sum(i % 1000 for i in range(total)))


def test_sigterm_under_load_loses_nothing_acknowledged(tmp_path):
    port = free_port()
    out, dead = tmp_path / "out", tmp_path / "dead.jsonl"
    spec = write(tmp_path / "f.yaml", PARQUET_SPEC.format(port=port, out=out, dead=dead))
    p = start(spec, tmp_path)
    wait_ready(port, p)
    acked = []
    stop = time.time() + 1.0

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        s = k * 10_000_000
        while True:
            lines = gen_lines(200, s)
            try:
                st, res = post(port, "\n".join(lines), conn)
            except (OSError, http.client.HTTPException):
                return
            if st == 200:
                acked.extend(range(s, s + 200))
            elif st == 503:
                return
            s += 200
            if time.time() > stop + 5:
                return

    with cf.ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(client, k) for k in range(4)]
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        for f in futs:
            f.result()
    assert p.wait(60) == 0
    assert acked
    got = {r[0] for r in duckdb.sql(f"select seq from '{out}/*.parquet'").fetchall()}
    assert set(acked) <= got


def test_malformed_events_reach_dead_letters_with_reasons(tmp_path):
    port = free_port()
    out, dead = tmp_path / "out", tmp_path / "dead.jsonl"
    spec = write(tmp_path / "f.yaml", PARQUET_SPEC.format(port=port, out=out, dead=dead))
    p = start(spec, tmp_path)
    try:
        wait_ready(port, p)
        good = gen_lines(3)
        body = "\n".join([good[0], '{"ts": "2024-01-01T00:00:00Z", "seq": ', good[1], "[1,2]", good[2]])
        st, res = post(port, body)
        assert st == 200 and res == {"accepted": 3, "rejected": 2}
        st, res = post(port, json.dumps([json.loads(g) for g in gen_lines(2, 10)]))
        assert st == 200 and res == {"accepted": 2, "rejected": 0}
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    letters = [json.loads(l) for l in open(dead)]
    assert [d["record"] for d in letters] == ['{"ts": "2024-01-01T00:00:00Z", "seq": ', "[1,2]"]
    assert all(d["reason"] and d["trigger"] == "web" for d in letters)
    assert [d["position"]["index"] for d in letters] == [1, 3]
    assert duckdb.sql(f"select count(*) from '{out}/*.parquet'").fetchall()[0][0] == 5


def test_cron_fires_on_schedule(tmp_path):
    spec = write(tmp_path / "f.yaml", """metadata: {name: c}
spec:
  runtime: passthrough
  admin: {port: %d}
  triggers:
    tick:
      kind: cron
      batch: {maxWait: 0ms}
      attributes: {schedule: "@every 300ms", body: '{"k": 1}'}
""" % free_port())
    p = start(spec, tmp_path)
    time.sleep(2.0)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    assert p.returncode == 0
    rows = [json.loads(l) for l in out.decode().splitlines()]
    assert 5 <= len(rows) <= 7
    ts = [time.mktime(time.strptime(r["cron_ts"][:19], "%Y-%m-%dT%H:%M:%S")) + int(r["cron_ts"][20:23]) / 1000
          for r in rows]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    assert all(abs(g - 0.3) < 0.002 for g in gaps), gaps


def test_file_trigger_resumes_after_kill9_without_duplicates(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    n_files, per_file = 6, 50_000
    for f in range(n_files):
        write(logs / ("f%02d.jsonl" % f), "\n".join(gen_lines(per_file, f * per_file)) + "\n")
    out = tmp_path / "out"
    spec = write(tmp_path / "f.yaml", """metadata: {name: files}
spec:
  runtime: passthrough
  admin: {port: %d}
  input: {schema: "ts: timestamp[ms], service: utf8, seq: int64, bytes: int64"}
  triggers:
    files:
      kind: file
      batch: {maxEvents: 10000, maxWait: 10ms}
      attributes: {path: "%s/*.jsonl", chunkBytes: 64KiB}
  sinks:
    pq: {kind: parquet, attributes: {path: %s, rollRows: 20000, fsync: false}}
""" % (free_port(), logs, out))
    p = start(spec, tmp_path)
    # Kill -9 once some files were published, before everything was read.
    end = time.time() + 30
    while time.time() < end and len(list(out.glob("*.parquet"))) < 3:
        time.sleep(0.01)
    p.kill()
    p.wait()
    p = start(spec, tmp_path)
    assert p.wait(120) == 0, p.stderr.read().decode()
    total = n_files * per_file
    rows = duckdb.sql(f"select count(*), count(distinct seq) from '{out}/*.parquet'").fetchall()[0]
    assert rows == (total, total)
