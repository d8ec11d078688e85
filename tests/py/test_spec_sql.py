"""A function whose SQL does not parse is refused when the spec loads
(`sluice check` and `sluice run`), with the spec's file:line:col and the
query's own line:col, instead of dead-lettering every batch at run time."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sluice():
    return os.environ.get("SLUICE_BIN") or str(Path(os.environ.get("SLUICE_BUILD", ROOT / "build")) / "sluice")


SPEC = """apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata: {name: q}
spec:
  runtime: sql
  sql:
    query: SELECT service, count(*) FROM events GROUP BY BY service
  triggers:
    web: {kind: http, attributes: {host: 127.0.0.1, port: 18777}}
  sinks:
    out: {kind: stdout}
"""


def test_bad_query_fails_check_and_run(tmp_path):
    spec = tmp_path / "f.yaml"
    spec.write_text(SPEC)
    for cmd in (["check"], ["run"]):
        r = subprocess.run([sluice(), *cmd, str(spec)], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, r
        assert f"{spec}:7:12: spec.sql.query: 1:47: expected an expression, found 'BY'" in r.stderr


def test_good_query_passes_check(tmp_path):
    spec = tmp_path / "f.yaml"
    spec.write_text(SPEC.replace("BY BY", "BY"))
    r = subprocess.run([sluice(), "check", str(spec)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
