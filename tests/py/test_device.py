"""Device selection without a GPU (CI has none): `--device`, SLUICE_DEVICE,
spec.device and /metrics say clearly where work runs, `gpu` fails with a
reason, `auto` falls back to the CPU with results equal to DuckDB's.
The GPU itself is tested by bench/gpu/run.sh on a GPU machine."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]


def sluice():
    b = os.environ.get("SLUICE_BIN") or str(Path(os.environ.get("SLUICE_BUILD", ROOT / "build")) / "sluice")
    assert Path(b).exists(), f"sluice binary not found at {b}"
    return b


def env_no_cuda(**extra):
    e = dict(os.environ)
    e.pop("SLUICE_DEVICE", None)
    e["SLUICE_CUDA_LIB"] = "/nonexistent/libsluice_cuda.so"
    e.update(extra)
    return e


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("dev")
    f = d / "logs.jsonl"
    subprocess.run([sluice(), "gen", "--rows", "20000", "--seed", "3", "--output", str(f)], check=True)
    return f


Q = "SELECT service, count(*) AS n, sum(bytes) AS b FROM '{f}' GROUP BY service ORDER BY service"


def test_gpu_required_fails_with_reason(logs):
    r = subprocess.run([sluice(), "query", "--device", "gpu", Q.format(f=logs)],
                       capture_output=True, text=True, env=env_no_cuda())
    assert r.returncode == 1
    assert "--device gpu" in r.stderr and "CUDA backend is not available" in r.stderr
    assert "/nonexistent/libsluice_cuda.so" in r.stderr


def test_bad_device_name(logs):
    r = subprocess.run([sluice(), "query", "--device", "tpu", Q.format(f=logs)],
                       capture_output=True, text=True, env=env_no_cuda())
    assert r.returncode == 2
    assert "expected auto, cpu, gpu or gpu:N, found 'tpu'" in r.stderr


@pytest.mark.parametrize("how", [["--device", "auto"], []])
def test_auto_falls_back_to_cpu_with_equal_results(logs, how, tmp_path):
    out = tmp_path / "r.jsonl"
    log = tmp_path / "where.log"
    e = env_no_cuda(SLUICE_DEVICE_LOG=str(log))
    if not how:
        e["SLUICE_DEVICE"] = "auto"
    r = subprocess.run([sluice(), "query", *how, "--no-progress", Q.format(f=logs), "--output", str(out)],
                       capture_output=True, text=True, env=e)
    assert r.returncode == 0, r.stderr
    assert "ran on cpu: device: the CUDA backend is not available" in r.stderr
    assert log.read_text().startswith("cpu: device: the CUDA backend is not available")
    got = [json.loads(l) for l in out.read_text().splitlines()]
    want = duckdb.sql(f"SELECT service, count(*) AS n, sum(bytes) AS b FROM read_json('{logs}') "
                      "GROUP BY service ORDER BY service").fetchall()
    assert [(g["service"], g["n"], g["b"]) for g in got] == [(w[0], w[1], int(w[2])) for w in want]


def test_cpu_never_tries_the_device(logs):
    r = subprocess.run([sluice(), "query", "--device", "cpu", "--no-progress", Q.format(f=logs)],
                       capture_output=True, text=True, env=env_no_cuda())
    assert r.returncode == 0
    assert "ran on cpu\n" in r.stderr


def test_bench_device_without_gpu(logs):
    r = subprocess.run([sluice(), "bench-device", "--file", str(logs), "--query", "q1"],
                       capture_output=True, text=True, env=env_no_cuda())
    assert r.returncode == 1 and "CUDA backend is not available" in r.stderr


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


SPEC = """apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {{name: dev}}
spec:
  runtime: sql
  device: {device}
  sql:
    query: SELECT service, count(*) AS n FROM events GROUP BY service
  input:
    schema: "service: utf8, bytes: int64"
  triggers:
    web:
      kind: http
      batch: {{maxEvents: 1000, maxWait: 50ms}}
      attributes: {{host: 127.0.0.1, port: {port}}}
  sinks:
    out: {{kind: parquet, attributes: {{path: {out}, rollInterval: 1s}}}}
"""


def test_spec_device_gpu_does_not_start(tmp_path):
    spec = tmp_path / "f.yaml"
    spec.write_text(SPEC.format(device="gpu", port=free_port(), out=tmp_path / "o"))
    r = subprocess.run([sluice(), "run", str(spec)], capture_output=True, text=True,
                       env=env_no_cuda(), timeout=30)
    assert r.returncode != 0
    assert f"{spec}: spec.device gpu" in r.stderr and "CUDA backend is not available" in r.stderr


def test_spec_device_auto_runs_on_cpu_and_says_so(tmp_path, logs):
    port = free_port()
    spec = tmp_path / "f.yaml"
    spec.write_text(SPEC.format(device="auto", port=port, out=tmp_path / "o"))
    p = subprocess.Popen([sluice(), "run", str(spec)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=env_no_cuda())
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        body = "".join(open(logs).readlines()[:500]).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, method="POST")
        assert json.loads(urllib.request.urlopen(req, timeout=10).read())["accepted"] == 500
        time.sleep(0.5)
        m = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'sluice_device_info{device="cpu"} 1' in m
        assert 'sluice_device_batches_total{device="gpu"} 0' in m
        cpu = [l for l in m.splitlines() if l.startswith('sluice_device_batches_total{device="cpu"}')]
        assert cpu and int(cpu[0].split()[-1]) >= 1
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0
    first = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    assert any(l.get("msg") == "no GPU, handlers run on the CPU" for l in first)
    assert any(l.get("msg") == "function started" and l.get("device") == "cpu" for l in first)


def test_query_without_from_says_cpu():
    """A query with no input never reaches the device choice: with --device
    cpu it still says where it ran (it printed "ran on " with nothing)."""
    r = subprocess.run([sluice(), "query", "--device", "cpu", "--no-progress", "SELECT 1 AS x"],
                       capture_output=True, text=True, env=env_no_cuda())
    assert r.returncode == 0, r.stderr
    assert "ran on cpu\n" in r.stderr
