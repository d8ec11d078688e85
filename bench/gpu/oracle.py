#!/usr/bin/env python3
"""Independent oracle for the benchmark queries Q1-Q6 (pure Python, json
module): computes each query over a JSON Lines file and compares with a
result file written by `sluice bench-device --output` (or `sluice query`).

  oracle.py check QUERY DATA.jsonl RESULT.jsonl

Floats must agree within 1e-9 relative; group sets must be identical. Lines
that are not valid JSON objects are skipped (the engines count them as bad
lines)."""
import datetime as dt
import json
import math
import sys

REL = 1e-9
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def ts_ms(v):
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, str):
        s = v.replace("z", "Z")
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        try:
            d = dt.datetime.fromisoformat(s)
        except ValueError:
            return None
        if d.tzinfo is None:
            d = d.replace(tzinfo=dt.timezone.utc)
        return (d - EPOCH) // dt.timedelta(milliseconds=1)
    return None


def num(v, want_int):
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if want_int:
        if isinstance(v, float):
            return int(v) if v == int(v) else None
        return v
    return float(v)


def rows(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if isinstance(o, dict):
                yield o


def s(v):
    return v if isinstance(v, str) else None


class Agg:
    def __init__(self):
        self.n = 0
        self.sum = 0
        self.cnt = 0
        self.mn = None
        self.mx = None

    def add(self, v):
        if v is None:
            return
        self.cnt += 1
        self.sum += v
        self.mn = v if self.mn is None or v < self.mn else self.mn
        self.mx = v if self.mx is None or v > self.mx else self.mx

    def mean(self):
        return self.sum / self.cnt if self.cnt else None


def groupby(path, key_fn, vals, where=None):
    groups = {}
    for o in rows(path):
        if where and not where(o):
            continue
        k = key_fn(o)
        g = groups.get(k)
        if g is None:
            g = groups[k] = [0] + [Agg() for _ in vals]
        g[0] += 1
        for i, fn in enumerate(vals):
            g[i + 1].add(fn(o))
    return groups


def q(name, path):
    """Returns {key tuple: {column: value}}."""
    out = {}
    if name == "q1":
        g = groupby(path, lambda o: (s(o.get("service")), num(o.get("status"), True)),
                    [lambda o: num(o.get("bytes"), True), lambda o: num(o.get("latency_ms"), False)])
        for k, (n, b, lat) in g.items():
            out[k] = {"n": n, "bytes": b.sum if b.cnt else None, "avg_latency": lat.mean(), "max_latency": lat.mx}
    elif name == "q2":
        def key(o):
            t = ts_ms(o.get("ts"))
            return (None if t is None else t // 60000 * 60000, s(o.get("region")))
        g = groupby(path, key, [lambda o: num(o.get("latency_ms"), False), lambda o: num(o.get("bytes"), True)])
        for k, (n, lat, b) in g.items():
            out[k] = {"n": n, "avg_latency": lat.mean(), "bytes": b.sum if b.cnt else None}
    elif name == "q3":
        def where(o):
            st = num(o.get("status"), True)
            return st is not None and st >= 500
        g = groupby(path, lambda o: (s(o.get("host")), s(o.get("path"))), [], where)
        for k, (n,) in g.items():
            out[k] = {"n": n}
    elif name == "q4":
        g = groupby(path, lambda o: (num(o.get("user_id"), True),), [lambda o: num(o.get("bytes"), True)])
        for k, (n, b) in g.items():
            out[k] = {"n": n, "bytes": b.sum if b.cnt else None}
    elif name == "q5":
        def key(o):
            geo = o.get("geo")
            return (s(geo.get("country")) if isinstance(geo, dict) else None,)
        g = groupby(path, key, [lambda o: num(o.get("latency_ms"), False)])
        for k, (n, lat) in g.items():
            out[k] = {"n": n, "avg_latency": lat.mean()}
    elif name == "q6":
        ms = ["cpu_utilization", "latency", "packet_loss", "throughput"]
        g = groupby(path, lambda o: (s(o.get("company")),),
                    [(lambda m: (lambda o: num(o.get(m), False)))(m) for m in ms])
        full = {}
        for k, (n, *aggs) in g.items():
            r = {}
            for m, a in zip(ms, aggs):
                r[m + "_min"], r[m + "_max"], r[m + "_mean"] = a.mn, a.mx, a.mean()
            full[k] = r
        top = sorted(full.items(), key=lambda kv: -(kv[1]["cpu_utilization_mean"] or -math.inf))[:10]
        out = dict(top)
    else:
        raise SystemExit(f"unknown query {name}")
    return out


KEYS = {"q1": ["service", "status"], "q2": ["minute", "region"], "q3": ["host", "path"],
        "q4": ["user_id"], "q5": ["country"], "q6": ["company"]}


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)
    return a == b


def check(name, data, result):
    want = q(name, data)
    got = {}
    with open(result, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            k = tuple(r.pop(c) for c in KEYS[name])
            if name == "q2" and isinstance(k[0], str):  # sluice query writes timestamps as text
                k = (ts_ms(k[0].replace(" ", "T")),) + k[1:]
            if k in got:
                print(f"{name}: group {k} appears twice in the result")
                return 1
            got[k] = r
    errors = []
    if set(want) != set(got):
        miss = list(set(want) - set(got))[:5]
        extra = list(set(got) - set(want))[:5]
        errors.append(f"{name}: groups differ: {len(want)} expected, {len(got)} found; missing {miss}, extra {extra}")
    for k in set(want) & set(got):
        for col, v in want[k].items():
            if not close(v, got[k].get(col)):
                errors.append(f"{name}: group {k} column {col}: expected {v!r}, found {got[k].get(col)!r}")
                break
        if len(errors) > 10:
            break
    if errors:
        print("\n".join(errors))
        return 1
    print(f"{name}: {len(got)} groups match the oracle")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "check":
        raise SystemExit(__doc__)
    sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4]))
