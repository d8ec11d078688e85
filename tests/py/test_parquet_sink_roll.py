"""The Parquet sink rolls files by size on encoded bytes: with rollBytes
small, a stream of records lands in several files, each (but the last) at
least rollBytes on disk, and together they hold every record (DuckDB)."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]


def sluice():
    return os.environ.get("SLUICE_BIN") or str(Path(os.environ.get("SLUICE_BUILD", ROOT / "build")) / "sluice")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_roll_by_bytes(tmp_path):
    port = free_port()
    out = tmp_path / "out"
    spec = tmp_path / "f.yaml"
    spec.write_text(f"""apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: roll}}
spec:
  runtime: passthrough
  input:
    schema: "service: utf8, host: utf8, trace_id: utf8, bytes: int64, latency_ms: float64"
  triggers:
    web:
      kind: http
      batch: {{maxEvents: 2000, maxWait: 20ms}}
      attributes: {{host: 127.0.0.1, port: {port}}}
  sinks:
    out: {{kind: parquet, attributes: {{path: {out}, rollBytes: 64KiB, rollInterval: 1h, compression: zstd}}}}
""")
    logs = tmp_path / "logs.jsonl"
    subprocess.run([sluice(), "gen", "--rows", "40000", "--seed", "5", "--output", str(logs)], check=True)
    p = subprocess.Popen([sluice(), "run", str(spec)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        lines = logs.read_text().splitlines(keepends=True)
        for i in range(0, len(lines), 4000):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/", data="".join(lines[i:i + 4000]).encode(),
                                         method="POST")
            assert json.loads(urllib.request.urlopen(req, timeout=30).read())["accepted"] == len(lines[i:i + 4000])
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    files = sorted(out.rglob("*.parquet"), key=lambda f: f.stat().st_mtime)
    assert len(files) >= 3, files
    sizes = [f.stat().st_size for f in files]
    assert sum(1 for s in sizes if s >= 64 * 1024) >= len(files) - 1, sizes
    n, b = duckdb.sql(f"SELECT count(*), sum(bytes) FROM read_parquet('{out}/**/*.parquet')").fetchall()[0]
    want = [json.loads(l) for l in lines]
    assert n == len(want) and b == sum(r["bytes"] for r in want)
