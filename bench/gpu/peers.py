#!/usr/bin/env python3
"""CPU peers for the benchmark queries Q1-Q6, end to end (JSON Lines file ->
aggregate -> zstd Parquet), one JSON line of timing per run on stdout.

  peers.py QUERY FILE OUTDIR [engine ...]     engines: duckdb pyarrow pandas polars
"""
import json
import os
import sys
import time

Q = {
    "q1": ("logs", "SELECT service, status, count(*) AS n, sum(bytes) AS bytes, avg(latency_ms) AS avg_latency, max(latency_ms) AS max_latency FROM t GROUP BY service, status"),
    "q2": ("logs", "SELECT date_trunc('minute', ts) AS minute, region, count(*) AS n, avg(latency_ms) AS avg_latency, sum(bytes) AS bytes FROM t GROUP BY 1, 2"),
    "q3": ("logs", "SELECT host, path, count(*) AS n FROM t WHERE status >= 500 GROUP BY host, path"),
    "q4": ("logs", "SELECT user_id, count(*) AS n, sum(bytes) AS bytes FROM t GROUP BY user_id"),
    "q5": ("logs", "SELECT geo.country AS country, count(*) AS n, avg(latency_ms) AS avg_latency FROM t GROUP BY 1"),
    "q6": ("article", "SELECT company, " + ", ".join(f"{f}({m}) AS {m}_{n}" for m in ["cpu_utilization", "latency", "packet_loss", "throughput"] for f, n in [("min", "min"), ("max", "max"), ("avg", "mean")]) + " FROM t GROUP BY company ORDER BY cpu_utilization_mean DESC LIMIT 10"),
}
COLS = {
    "q1": {"service": "VARCHAR", "status": "BIGINT", "bytes": "BIGINT", "latency_ms": "DOUBLE"},
    "q2": {"ts": "TIMESTAMP", "region": "VARCHAR", "latency_ms": "DOUBLE", "bytes": "BIGINT"},
    "q3": {"host": "VARCHAR", "path": "VARCHAR", "status": "BIGINT"},
    "q4": {"user_id": "BIGINT", "bytes": "BIGINT"},
    "q5": {"geo": "STRUCT(country VARCHAR)", "latency_ms": "DOUBLE"},
    "q6": {c: "DOUBLE" for c in ["cpu_utilization", "latency", "packet_loss", "throughput"]} | {"company": "VARCHAR"},
}


def run_duckdb(q, f, out):
    import duckdb
    con = duckdb.connect()
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLS[q].items()) + "}"
    sql = Q[q][1].replace("FROM t", f"FROM read_json('{f}', format='newline_delimited', columns={cols})")
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")


def run_pyarrow(q, f, out):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj
    import pyarrow.parquet as pq
    pt = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
          "TIMESTAMP": pa.timestamp("ms", tz="UTC"), "STRUCT(country VARCHAR)": pa.struct([("country", pa.string())])}
    schema = pa.schema([(k, pt[v]) for k, v in COLS[q].items()])
    t = pj.read_json(f, parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
    if q == "q1":
        r = t.group_by(["service", "status"]).aggregate([([], "count_all"), ("bytes", "sum"), ("latency_ms", "mean"), ("latency_ms", "max")])
    elif q == "q2":
        t = t.append_column("minute", pc.floor_temporal(t["ts"], unit="minute"))
        r = t.group_by(["minute", "region"]).aggregate([([], "count_all"), ("latency_ms", "mean"), ("bytes", "sum")])
    elif q == "q3":
        t = t.filter(pc.greater_equal(t["status"], 500))
        r = t.group_by(["host", "path"]).aggregate([([], "count_all")])
    elif q == "q4":
        r = t.group_by(["user_id"]).aggregate([([], "count_all"), ("bytes", "sum")])
    elif q == "q5":
        t = t.append_column("country", pc.struct_field(t["geo"], "country"))
        r = t.group_by(["country"]).aggregate([([], "count_all"), ("latency_ms", "mean")])
    else:
        aggs = [(m, fn) for m in ["cpu_utilization", "latency", "packet_loss", "throughput"] for fn in ["min", "max", "mean"]]
        r = t.group_by(["company"]).aggregate(aggs)
        r = r.sort_by([("cpu_utilization_mean", "descending")]).slice(0, 10)
    pq.write_table(r, out, compression="zstd")


def run_pandas(q, f, out):
    import pandas as pd
    df = pd.read_json(f, lines=True, dtype=False)
    if q == "q1":
        r = df.groupby(["service", "status"]).agg(n=("service", "size"), bytes=("bytes", "sum"), avg_latency=("latency_ms", "mean"), max_latency=("latency_ms", "max"))
    elif q == "q2":
        df["minute"] = pd.to_datetime(df["ts"], utc=True).dt.floor("min")
        r = df.groupby(["minute", "region"]).agg(n=("region", "size"), avg_latency=("latency_ms", "mean"), bytes=("bytes", "sum"))
    elif q == "q3":
        r = df[df["status"] >= 500].groupby(["host", "path"]).size().to_frame("n")
    elif q == "q4":
        r = df.groupby("user_id").agg(n=("user_id", "size"), bytes=("bytes", "sum"))
    elif q == "q5":
        df["country"] = df["geo"].str.get("country")
        r = df.groupby("country").agg(n=("country", "size"), avg_latency=("latency_ms", "mean"))
    else:
        ms = ["cpu_utilization", "latency", "packet_loss", "throughput"]
        r = df.groupby("company")[ms].agg(["min", "max", "mean"])
        r.columns = [f"{a}_{b}" for a, b in r.columns]
        r = r.nlargest(10, "cpu_utilization_mean")
    r.reset_index().to_parquet(out, compression="zstd")


def run_polars(q, f, out):
    import polars as pl
    lf = pl.scan_ndjson(f)
    if q == "q2":
        lf = lf.with_columns(pl.col("ts").str.to_datetime(time_zone="UTC"))
    pl.SQLContext(t=lf).execute(Q[q][1]).collect().write_parquet(out, compression="zstd")


def main():
    q, f, outdir = sys.argv[1:4]
    engines = sys.argv[4:] or ["duckdb", "pyarrow"]
    size = os.path.getsize(f)
    for e in engines:
        out = os.path.join(outdir, f"{q}.{e}.parquet")
        t0 = time.perf_counter()
        try:
            globals()["run_" + e](q, f, out)
            err = None
        except Exception as ex:  # a peer that cannot run the query is reported, not hidden
            err = f"{type(ex).__name__}: {ex}"[:300]
        secs = time.perf_counter() - t0
        rec = {"query": q, "engine": e, "mode": "end-to-end", "bytes": size, "seconds": secs}
        if err:
            rec["error"] = err
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
