"""Helpers for the nats and mqtt trigger tests (test_nats.py, test_mqtt.py).

A broker is started by scripts/nats.sh or scripts/mosquitto.sh on a free port
with its own data folder, so it never clashes with one started by CI or a
developer. Functions run as the real `sluice run` binary; messages come from
`sluice publish`, which generates records {"seq": i, "bytes": i % 1000, ...};
the oracle is DuckDB over the Parquet output against values computed here.
"""
import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SLUICE_BUILD", ROOT / "build")).resolve()
SLUICE = str(BUILD / "sluice")
# The load generator (`sluice publish`) can be another build than the
# function under test: scripts/tsan.sh runs the function with the TSan
# binary and publishes with the release one, whose JetStream acks keep up.
TOOLS = os.environ.get("SLUICE_TOOLS", SLUICE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """scripts/<name>.sh start|stop with env pointing at a private port/dir."""

    def __init__(self, script, env_prefix, tmp):
        self.script = str(ROOT / "scripts" / script)
        self.port = free_port()
        self.env = dict(os.environ)
        self.env[f"SLUICE_{env_prefix}_PORT"] = str(self.port)
        self.env[f"SLUICE_{env_prefix}_DIR"] = str(tmp)
        if env_prefix == "NATS":
            self.env["SLUICE_NATS_MONITOR_PORT"] = str(free_port())

    def run(self, *args, check=True):
        p = subprocess.run([self.script, *args], env=self.env, capture_output=True,
                           text=True, timeout=60)
        if check and p.returncode != 0:
            pytest.fail(f"{self.script} {' '.join(args)} exited {p.returncode}\n"
                        f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}", pytrace=False)
        return p


def publish(kind, url, target, count, start=0, per_message=1, extra=()):
    cmd = [TOOLS, "publish", kind, "--url", url,
           "--subject" if kind == "nats" else "--topic", target,
           "--count", str(count), "--start", str(start),
           "--per-message", str(per_message), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p


def publish_bg(kind, url, target, count, start=0, per_message=1, extra=()):
    cmd = [TOOLS, "publish", kind, "--url", url,
           "--subject" if kind == "nats" else "--topic", target,
           "--count", str(count), "--start", str(start),
           "--per-message", str(per_message), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


SPEC = """
metadata: {{name: {name}}}
spec:
  runtime: passthrough
  input: {{schema: "ts: timestamp[ms], service: utf8, level: utf8, seq: int64, bytes: int64"}}
  triggers:
    {trigger}:
      kind: {kind}
      numWorkers: 2
      batch: {{maxEvents: 20000, maxWait: 100ms}}
      attributes: {attrs}
  sinks:
    pq:
      kind: parquet
      attributes: {{path: {out}, rollInterval: {roll}, rollRows: 50000}}
  admin: {{port: {admin}}}
"""


class Function:
    """One `sluice run` process with its spec, output folder and admin port."""

    def __init__(self, tmp, name, kind, attrs, trigger="src", roll="1s"):
        self.tmp = Path(tmp)
        self.out = self.tmp / "out"
        self.admin = free_port()
        self.trigger = trigger
        self.spec = self.tmp / "function.yaml"
        self.spec.write_text(SPEC.format(name=name, kind=kind, attrs=attrs, out=self.out,
                                         admin=self.admin, trigger=trigger, roll=roll))
        self.proc = None
        self.log = self.tmp / "sluice.log"

    def start(self, timeout=15):
        self.admin = self.admin  # same port on restart
        self.proc = subprocess.Popen([SLUICE, "run", str(self.spec)], cwd=self.tmp,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"))
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError("sluice exited: " + self.log.read_text()[-3000:])
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=1)
                c.request("GET", "/ready")
                if c.getresponse().status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("function not ready: " + self.log.read_text()[-3000:])

    def metrics(self):
        c = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=5)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or "{" not in line:
                continue
            name, rest = line.split("{", 1)
            labels, value = rest.rsplit("}", 1)
            if f'trigger="{self.trigger}"' in labels and "le=" not in labels:
                out[name] = float(value)
        return out

    def wait_metric(self, name, at_least, timeout=60):
        end = time.time() + timeout
        v = None
        while time.time() < end:
            v = self.metrics().get(name, 0)
            if v >= at_least:
                return v
            time.sleep(0.05)
        raise AssertionError(f"{name} = {v}, expected >= {at_least}; log:\n"
                             + self.log.read_text()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(60)
            assert rc == 0, self.log.read_text()[-3000:]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)


def rows(out):
    """(count, distinct seq, sum of bytes over distinct seq) of the Parquet files."""
    files = list(Path(out).rglob("*.parquet"))
    if not files:
        return (0, 0, 0)
    return duckdb.sql(
        f"select count(*), count(distinct seq), "
        f"(select coalesce(sum(bytes), 0) from (select distinct seq, bytes from "
        f"read_parquet('{out}/**/*.parquet')))"
        f" from read_parquet('{out}/**/*.parquet')").fetchall()[0]


def seqs(out):
    if not list(Path(out).rglob("*.parquet")):
        return set()
    return {r[0] for r in duckdb.sql(
        f"select distinct seq from read_parquet('{out}/**/*.parquet')").fetchall()}


def expected_bytes(start, count):
    return sum(i % 1000 for i in range(start, start + count))
