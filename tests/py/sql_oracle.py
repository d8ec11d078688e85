"""Shared helpers for the SQL oracle tests: run `sluice query` and DuckDB on
the same generated input and compare results (order-insensitive unless the
query orders; floats within 1e-9 relative)."""
import datetime as dt
import decimal
import json
import math
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sluice_bin():
    env = os.environ.get("SLUICE_BIN")
    if env:
        return env
    for cand in ("build/sluice", "build-sql/sluice"):
        p = ROOT / cand
        if p.exists():
            return str(p)
    raise RuntimeError("sluice binary not found; build it or set SLUICE_BIN")


LOG_COLUMNS = {
    "ts": "TIMESTAMP", "level": "VARCHAR", "service": "VARCHAR", "host": "VARCHAR",
    "region": "VARCHAR", "method": "VARCHAR", "path": "VARCHAR", "status": "BIGINT",
    "bytes": "BIGINT", "latency_ms": "DOUBLE", "user_id": "BIGINT", "trace_id": "VARCHAR",
    "user_agent": "VARCHAR", "geo": "STRUCT(country VARCHAR, city VARCHAR)",
    "tags": "VARCHAR[]", "error": "VARCHAR",
}
ARTICLE_COLUMNS = {
    "company": "VARCHAR", "cpu_utilization": "DOUBLE", "latency": "DOUBLE",
    "packet_loss": "DOUBLE", "throughput": "DOUBLE", "cpu_utilization_is_error": "BOOLEAN",
    "latency_is_error": "BOOLEAN", "packet_loss_is_error": "BOOLEAN",
    "throughput_is_error": "BOOLEAN", "timestamp": "BIGINT",
}


def duck_columns(cols):
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in cols.items()) + "}"


def run_sluice(sql, *extra, stdin=None, check=True):
    p = subprocess.run([sluice_bin(), "query", "--format", "jsonl", *extra, sql],
                       capture_output=True, input=stdin, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"sluice failed ({p.returncode}): {p.stderr.decode()}\nSQL: {sql}")
    rows = []
    for line in p.stdout.decode().splitlines():
        if line.strip():
            rows.append([v for _, v in json.loads(line, object_pairs_hook=list)])
    return rows, p


def fmt_ts(v):
    s = v.strftime("%Y-%m-%d %H:%M:%S")
    if v.microsecond:
        s += (".%06d" % v.microsecond).rstrip("0")
    return s


def norm(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime):
        return fmt_ts(v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone(dt.timezone.utc).replace(tzinfo=None))
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def sort_key(row):
    out = []
    for v in row:
        if v is None:
            out.append((0, 0.0, ""))
        elif isinstance(v, bool):
            out.append((1, float(v), ""))
        elif isinstance(v, float):
            out.append((1, float(f"{v:.6g}") if math.isfinite(v) else v, ""))
        else:
            out.append((2, 0.0, str(v)))
    return out


def same(a, b, rel=1e-9):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and type(a) == type(b)
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)
    return a == b


def compare(got, want, ordered, sql, rel=1e-9):
    got = [[norm(v) for v in r] for r in got]
    want = [[norm(v) for v in r] for r in want]
    assert len(got) == len(want), f"row count {len(got)} != {len(want)}\nSQL: {sql}\n" \
        f"got[:5]={got[:5]}\nwant[:5]={want[:5]}"
    if not ordered:
        got = sorted(got, key=sort_key)
        want = sorted(want, key=sort_key)
    for i, (g, w) in enumerate(zip(got, want)):
        assert len(g) == len(w), f"row {i}: {len(g)} columns != {len(w)}\nSQL: {sql}"
        for j, (x, y) in enumerate(zip(g, w)):
            assert same(x, y, rel), f"row {i} col {j}: sluice {x!r} != duckdb {y!r}\n" \
                f"SQL: {sql}\nsluice row: {g}\nduckdb row: {w}"
