#!/usr/bin/env python3
"""HTTP ingestion of `sluice run` beside nginx (a ceiling), same machine,
same run, same requests.

Usage: .venv/bin/python bench/http_bench.py [--duration 10] [--rate 200]
           [--connections 16] [--out-json FILE]

Cases (wrk, one thread, POST bodies from a Lua script):
  1 event/request      one sample log record per POST
  1000 events/request  1000 records as JSON Lines per POST
against
  sluice   a passthrough function: http trigger -> micro-batches -> columns
           -> zstd Parquet (fsync at publish), 2 workers; each POST is
           answered only after its records went through the handler and the
           sink (not a fire-and-forget 200)
  nginx    `return 200` with the same body size limits: it reads and drops
           the body, so it is the cost of HTTP alone on this machine.
Then latency from request to Parquet visible: a client sends 10-event
requests at --rate requests/s for --duration s, each event carrying its own
sequence number; a watcher lists the output folder every 5 ms and reads each
new file's `seq` column; latency = time the row's file appeared - time its
request was sent. Prints p50/p99.

Nuclio's processor is not run: `go install
github.com/nuclio/nuclio/cmd/processor@latest` fails here (the module proxy
answers 403, see docs/benchmarks.md). Not a test: nothing is asserted.
"""
import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(os.path.abspath(os.environ.get("SLUICE_BUILD", os.path.join(ROOT, "build"))), "sluice")

LUA = """
local f = io.open("{body}", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
"""

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  client_max_body_size 32m;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 '{{"accepted":1,"rejected":0}}'; }}
  }}
}}
"""

SPEC = """metadata: {{name: bench}}
spec:
  runtime: passthrough
  logLevel: warn
  input: {{schema: "ts: timestamp[ms], level: utf8, service: utf8, host: utf8, path: utf8, status: int64, bytes: int64, latency_ms: float64, seq: int64"}}
  triggers:
    web:
      kind: http
      numWorkers: 2
      maxWorkers: 4
      batch: {{maxEvents: 50000, maxWait: {wait}}}
      attributes: {{port: {port}}}
  sinks:
    pq: {{kind: parquet, attributes: {{path: {out}, rollInterval: {roll}, rollRows: 2000000}}}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d never opened" % port)


def events(n, start=0):
    out = []
    for i in range(start, start + n):
        out.append(json.dumps({
            "ts": "2024-05-01T12:%02d:%02d.%03dZ" % ((i // 60000) % 60, (i // 1000) % 60, i % 1000),
            "level": ("INFO", "WARN", "ERROR")[i % 3], "service": "svc%d" % (i % 17),
            "host": "web-%02d" % (i % 40), "path": "/api/v1/items/%d" % (i % 1000),
            "status": (200, 200, 200, 404, 500)[i % 5], "bytes": (i * 7919) % 100000,
            "latency_ms": (i % 997) * 1.25, "seq": i}))
    return out


def run_wrk(port, body_file, duration, conns, tmp):
    lua = os.path.join(tmp, "post.lua")
    with open(lua, "w") as f:
        f.write(LUA.format(body=body_file))
    r = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % duration, "-s", lua,
                        "http://127.0.0.1:%d/" % port], capture_output=True, text=True)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", r.stdout)
    lat = re.search(r"Latency\s+([\d.]+\w+)", r.stdout)
    return (float(m.group(1)) if m else 0.0, int(non2xx.group(1)) if non2xx else 0,
            lat.group(1) if lat else "?")


def start_sluice(tmp, name, wait="5ms", roll="5s"):
    port = free_port()
    out = os.path.join(tmp, name)
    spec = os.path.join(tmp, name + ".yaml")
    with open(spec, "w") as f:
        f.write(SPEC.format(port=port, out=out, wait=wait, roll=roll))
    p = subprocess.Popen([SLUICE, "run", spec], cwd=tmp, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, name + ".log"), "w"))
    try:
        wait_port(port)
    except RuntimeError:
        p.kill()
        sys.exit("sluice did not start: " + open(os.path.join(tmp, name + ".log")).read())
    return p, port, out


def stop(p):
    p.send_signal(signal.SIGTERM)
    return p.wait(120)


def parquet_rows(out):
    import duckdb
    try:
        return duckdb.sql(f"select count(*) from read_parquet('{out}/**/*.parquet')").fetchall()[0][0]
    except Exception:
        return 0


def latency_run(tmp, rate, duration):
    import pyarrow.parquet as pq
    p, port, out = start_sluice(tmp, "latency", wait="5ms", roll="100ms")
    sent = {}
    seen = {}
    done = threading.Event()

    def watch():
        known = set()
        while not done.is_set() or len(seen) < len(sent):
            now = time.time()
            for root, _, files in os.walk(out):
                for fn in files:
                    if fn.endswith(".parquet") and not fn.startswith("."):
                        path = os.path.join(root, fn)
                        if path in known:
                            continue
                        known.add(path)
                        for s in pq.read_table(path, columns=["seq"]).column("seq").to_pylist():
                            seen.setdefault(s, now)
            if done.is_set() and time.time() > done_at[0] + 5:
                break
            time.sleep(0.005)

    done_at = [0.0]
    w = threading.Thread(target=watch)
    w.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    n_req = int(rate * duration)
    t0 = time.time()
    seq = 0
    for k in range(n_req):
        due = t0 + k / rate
        d = due - time.time()
        if d > 0:
            time.sleep(d)
        body = "\n".join(events(10, seq)).encode()
        ts = time.time()
        conn.request("POST", "/", body=body)
        conn.getresponse().read()
        for s in range(seq, seq + 10):
            sent[s] = ts
        seq += 10
    done_at[0] = time.time()
    done.set()
    w.join()
    stop(p)
    lats = sorted(seen[s] - sent[s] for s in sent if s in seen)
    if not lats:
        return None
    return (lats[len(lats) // 2] * 1000, lats[min(len(lats) - 1, int(len(lats) * 0.99))] * 1000,
            len(lats), len(sent))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--connections", type=int, default=128)
    ap.add_argument("--big-connections", type=int, default=16)
    ap.add_argument("--max-wait", default="5ms")
    ap.add_argument("--out-json")
    a = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("%s is missing: bash scripts/deps.sh (TEST_PKGS)" % tool)
    cpu = "?"
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except (OSError, AttributeError):
        pass
    print("machine: %s, %d cores, %s" % (cpu, os.cpu_count(), platform.platform()))
    tmp = tempfile.mkdtemp(prefix="sluice-http-bench-")
    results = {}
    try:
        bodies = {1: "\n".join(events(1)) + "\n", 1000: "\n".join(events(1000)) + "\n"}
        files = {}
        for n, b in bodies.items():
            files[n] = os.path.join(tmp, "body%d.jsonl" % n)
            with open(files[n], "w") as f:
                f.write(b)
        nport = free_port()
        os.makedirs(os.path.join(tmp, "body"), exist_ok=True)
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(tmp=tmp, port=nport))
        nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf, "-p", tmp],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(nport)
        print("%-22s %-7s %12s %12s %9s %8s %10s" % ("case", "server", "requests/s", "events/s", "MB/s",
                                                   "non-2xx", "latency"))
        for n in (1, 1000):
            conns = a.connections if n == 1 else a.big_connections
            size = len(bodies[n].encode())
            row = {}
            for server in ("nginx", "sluice"):
                if server == "nginx":
                    rps, bad, lat = run_wrk(nport, files[n], a.duration, conns, tmp)
                    landed = None
                else:
                    p, port, out = start_sluice(tmp, "out%d" % n, wait=a.max_wait)
                    rps, bad, lat = run_wrk(port, files[n], a.duration, conns, tmp)
                    stop(p)
                    landed = parquet_rows(out)
                row[server] = {"rps": rps, "events_s": rps * n, "mb_s": rps * size / 1e6,
                               "non2xx": bad, "parquet_rows": landed}
                print("%-22s %-7s %12.0f %12.0f %9.1f %8d %10s%s" % (
                    "%d event%s/request" % (n, "" if n == 1 else "s"), server, rps, rps * n,
                    rps * size / 1e6, bad, lat,
                    "" if landed is None else "  (%d rows in Parquet)" % landed))
            print("%-22s sluice/nginx: %.2f" % ("", row["sluice"]["rps"] / max(row["nginx"]["rps"], 1e-9)))
            results["%d" % n] = row
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(10)
        lat = latency_run(tmp, a.rate, a.duration)
        if lat:
            print("request -> Parquet visible at %.0f requests/s x 10 events: p50 %.0f ms, p99 %.0f ms "
                  "(%d of %d events seen)" % (a.rate, *lat))
            results["latency"] = {"rate": a.rate, "p50_ms": lat[0], "p99_ms": lat[1],
                                  "seen": lat[2], "sent": lat[3]}
        results["cpu"] = cpu
        if a.out_json:
            with open(a.out_json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
