#!/usr/bin/env python3
"""End-to-end query benchmark: a JSON Lines file (>= 1 GB, in the page cache)
-> aggregate -> zstd Parquet, with sluice, DuckDB, Polars and pandas run side
by side in the same session, each in its own process (wall time and peak RSS
measured per process).

    .venv/bin/python bench/query_bench.py [--gb 1.0] [--queries Q1,Q2] [--no-pandas]

Prints a Markdown table with wall time, input MB/s, peak RSS and the ratio of
each peer's time to sluice's (ratio > 1: sluice is faster). Not a test: no
assertion on the numbers."""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

LOG_COLS = {
    "ts": "TIMESTAMP", "level": "VARCHAR", "service": "VARCHAR", "host": "VARCHAR",
    "region": "VARCHAR", "method": "VARCHAR", "path": "VARCHAR", "status": "BIGINT",
    "bytes": "BIGINT", "latency_ms": "DOUBLE", "user_id": "BIGINT", "trace_id": "VARCHAR",
    "user_agent": "VARCHAR", "geo": "STRUCT(country VARCHAR, city VARCHAR)",
    "tags": "VARCHAR[]", "error": "VARCHAR",
}
ART_COLS = {
    "company": "VARCHAR", "cpu_utilization": "DOUBLE", "latency": "DOUBLE",
    "packet_loss": "DOUBLE", "throughput": "DOUBLE", "cpu_utilization_is_error": "BOOLEAN",
    "latency_is_error": "BOOLEAN", "packet_loss_is_error": "BOOLEAN",
    "throughput_is_error": "BOOLEAN", "timestamp": "BIGINT",
}
M4 = ["cpu_utilization", "latency", "packet_loss", "throughput"]
Q6_SELECT = ", ".join(f"min({m}) AS min_{m}, max({m}) AS max_{m}, avg({m}) AS mean_{m}" for m in M4)

QUERIES = {
    "Q1": ("logs", "SELECT service, status, count(*) AS n, sum(bytes) AS bytes, "
                   "avg(latency_ms) AS avg_latency, max(latency_ms) AS max_latency "
                   "FROM {src} GROUP BY service, status"),
    "Q2": ("logs", "SELECT date_trunc('minute', ts) AS minute, region, count(*) AS n, "
                   "avg(latency_ms) AS avg_latency, sum(bytes) AS bytes FROM {src} GROUP BY 1, 2"),
    "Q3": ("logs", "SELECT host, path, count(*) AS n FROM {src} WHERE status >= 500 GROUP BY host, path"),
    "Q4": ("logs", "SELECT user_id, count(*) AS n, sum(bytes) AS bytes FROM {src} GROUP BY user_id"),
    "Q5": ("logs", "SELECT geo.country AS country, count(*) AS n, avg(latency_ms) AS avg_latency "
                   "FROM {src} GROUP BY geo.country"),
    "Q6": ("article", f"SELECT company, {Q6_SELECT} FROM {{src}} GROUP BY company "
                      "ORDER BY mean_cpu_utilization DESC LIMIT 10"),
}

POLARS = {
    "Q1": "lf.group_by('service','status').agg(pl.len().alias('n'), pl.col('bytes').sum(), "
          "pl.col('latency_ms').mean().alias('avg_latency'), pl.col('latency_ms').max().alias('max_latency'))",
    "Q2": "lf.with_columns(pl.col('ts').str.to_datetime('%Y-%m-%dT%H:%M:%S%.fZ').dt.truncate('1m').alias('minute'))"
          ".group_by('minute','region').agg(pl.len().alias('n'), pl.col('latency_ms').mean(), pl.col('bytes').sum())",
    "Q3": "lf.filter(pl.col('status') >= 500).group_by('host','path').agg(pl.len().alias('n'))",
    "Q4": "lf.group_by('user_id').agg(pl.len().alias('n'), pl.col('bytes').sum())",
    "Q5": "lf.group_by(pl.col('geo').struct.field('country')).agg(pl.len().alias('n'), pl.col('latency_ms').mean())",
    "Q6": "lf.group_by('company').agg(" + ", ".join(
        f"pl.col('{m}').min().alias('min_{m}'), pl.col('{m}').max().alias('max_{m}'), "
        f"pl.col('{m}').mean().alias('mean_{m}')" for m in M4) + ").sort('mean_cpu_utilization', descending=True).head(10)",
}

PANDAS = {
    "Q1": "df.groupby(['service','status']).agg(n=('status','size'), bytes=('bytes','sum'), "
          "avg_latency=('latency_ms','mean'), max_latency=('latency_ms','max')).reset_index()",
    "Q2": "df.assign(minute=pd.to_datetime(df.ts).dt.floor('min')).groupby(['minute','region'])"
          ".agg(n=('region','size'), avg_latency=('latency_ms','mean'), bytes=('bytes','sum')).reset_index()",
    "Q3": "df[df.status >= 500].groupby(['host','path']).size().reset_index(name='n')",
    "Q4": "df.groupby('user_id').agg(n=('user_id','size'), bytes=('bytes','sum')).reset_index()",
    "Q5": "df.assign(country=df.geo.map(lambda g: g.get('country') if isinstance(g, dict) else None))"
          ".groupby('country').agg(n=('country','size'), avg_latency=('latency_ms','mean')).reset_index()",
    "Q6": "df.groupby('company').agg(" + ", ".join(
        f"min_{m}=('{m}','min'), max_{m}=('{m}','max'), mean_{m}=('{m}','mean')" for m in M4)
          + ").reset_index().nlargest(10, 'mean_cpu_utilization')",
}


def duck_cols(cols):
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in cols.items()) + "}"


def run(cmd):
    """Runs cmd; returns (seconds, peak RSS bytes, returncode, stderr)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    return dt, ru.ru_maxrss * 1024, os.waitstatus_to_exitcode(status), err


def load_page_cache(path):
    """Drops the file's cached pages and reads it back with 8 MiB reads, so
    every engine finds the whole file in the page cache in the same state.
    On Linux 6.x with ext4 the page cache holds a file in large folios when
    it was read or written with large I/O, and in 4 KiB pages when it was
    written with small writes; mapping or copying 4 KiB pages costs several
    times the kernel time (1.1 GB: ~0.23 CPU-s to map instead of ~0.06), so
    a file left as `sluice gen` or a 128 KiB `cat` happened to cache it would
    tilt the comparison."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 8 << 20):
            pass
    finally:
        os.close(fd)


def engine_cmds(q, files, out_dir, sluice, threads):
    kind, sql = QUERIES[q]
    f = files[kind]
    cols = LOG_COLS if kind == "logs" else ART_COLS
    cmds = {}
    # --no-fsync: DuckDB's COPY TO does not fsync its output (strace shows no
    # fsync/fdatasync), so neither does sluice here (its default fsyncs the
    # file and the folder: ~12 ms per query on this VM's disk)
    cmds["sluice"] = [sluice, "query", "--no-progress", "--no-fsync", "--threads", str(threads),
                      "--output", str(out_dir / f"{q}_sluice.parquet"), sql.format(src=f"'{f}'")]
    dsql = sql.format(src=f"read_json('{f}', columns = {duck_cols(cols)}, format = 'newline_delimited')")
    cmds["duckdb"] = [PY, "-c", (
        "import duckdb; c = duckdb.connect(); "
        f"c.execute('SET threads={threads}'); "
        f"c.execute({json.dumps(f'COPY ({dsql}) TO ')} + repr({str(out_dir / (q + '_duckdb.parquet'))!r}) "
        "+ ' (FORMAT parquet, COMPRESSION zstd)')")]
    pschema = ("{'ts': pl.String, 'level': pl.String, 'service': pl.String, 'host': pl.String, "
               "'region': pl.String, 'method': pl.String, 'path': pl.String, 'status': pl.Int64, "
               "'bytes': pl.Int64, 'latency_ms': pl.Float64, 'user_id': pl.Int64, 'trace_id': pl.String, "
               "'user_agent': pl.String, 'geo': pl.Struct({'country': pl.String, 'city': pl.String}), "
               "'tags': pl.List(pl.String), 'error': pl.String}") if kind == "logs" else (
               "{'company': pl.String, 'cpu_utilization': pl.Float64, 'latency': pl.Float64, "
               "'packet_loss': pl.Float64, 'throughput': pl.Float64, 'cpu_utilization_is_error': pl.Boolean, "
               "'latency_is_error': pl.Boolean, 'packet_loss_is_error': pl.Boolean, "
               "'throughput_is_error': pl.Boolean, 'timestamp': pl.Int64}")
    cmds["polars"] = [PY, "-c", (
        f"import os; os.environ['POLARS_MAX_THREADS'] = '{threads}'; import polars as pl; "
        f"lf = pl.scan_ndjson({str(f)!r}, schema={pschema}); "
        f"({POLARS[q]}).collect().write_parquet({str(out_dir / (q + '_polars.parquet'))!r}, compression='zstd')")]
    cmds["pandas"] = [PY, "-c", (
        "import pandas as pd; "
        f"df = pd.read_json({str(f)!r}, lines=True, dtype=False, convert_dates=False); "
        f"({PANDAS[q]}).to_parquet({str(out_dir / (q + '_pandas.parquet'))!r}, compression='zstd')")]
    return cmds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0, help="size of each input file")
    ap.add_argument("--data", default=None, help="folder for the input files (kept)")
    ap.add_argument("--queries", default="Q1,Q2,Q3,Q4,Q5,Q6")
    ap.add_argument("--engines", default="sluice,duckdb,polars,pandas")
    ap.add_argument("--no-pandas", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=1, help="runs per engine; the best is kept")
    ap.add_argument("--json", default=None, help="also write results here")
    a = ap.parse_args()
    sluice = os.environ.get("SLUICE_BIN") or str(ROOT / "build" / "sluice")
    data = Path(a.data or (Path(tempfile.gettempdir()) / "sluice-bench"))
    data.mkdir(parents=True, exist_ok=True)
    files = {"logs": data / f"logs-{a.gb:g}g.jsonl", "article": data / f"article-{a.gb:g}g.jsonl"}
    for kind, f in files.items():
        if not f.exists():
            subprocess.run([sluice, "gen", "--bytes", f"{a.gb:g}G", "--seed", "42", "--kind",
                            "logs" if kind == "logs" else "article", "--output", str(f)], check=True)
    engines = [e for e in a.engines.split(",") if not (a.no_pandas and e == "pandas")]
    out_dir = Path(tempfile.mkdtemp(prefix="sluice-bench-out-"))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    print(f"CPU: {cpu}, {os.cpu_count()} cores, threads={a.threads}; load before: {os.getloadavg()[0]:.2f}")
    results = []
    for q in a.queries.split(","):
        kind = QUERIES[q][0]
        size = files[kind].stat().st_size
        load_page_cache(files[kind])
        cmds = engine_cmds(q, files, out_dir, sluice, a.threads)
        row = {"query": q, "input_mb": size / 1e6}
        for e in engines:
            best = None
            for _ in range(a.runs):
                t, rss, rc, err = run(cmds[e])
                if rc != 0:
                    print(f"{q} {e} failed: {err.strip()[-300:]}", file=sys.stderr)
                    t = None
                    break
                if best is None or t < best[0]:
                    best = (t, rss)
            row[e] = {"s": best[0], "rss_mb": best[1] / 1e6} if best else None
            print(f"  {q} {e:7s} " + (f"{best[0]:7.2f} s  {size / 1e6 / best[0]:7.0f} MB/s  "
                                       f"{best[1] / 1e6:7.0f} MB RSS" if best else "failed"), flush=True)
        results.append(row)
    print()
    hdr = "| query | input | " + " | ".join(f"{e} s (MB/s, RSS MB)" for e in engines) + " | " + \
          " | ".join(f"{e}/sluice" for e in engines if e != "sluice") + " |"
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for r in results:
        cells = []
        for e in engines:
            v = r.get(e)
            cells.append(f"{v['s']:.2f} ({r['input_mb'] / v['s']:.0f}, {v['rss_mb']:.0f})" if v else "failed")
        ratios = []
        for e in engines:
            if e == "sluice":
                continue
            v, s = r.get(e), r.get("sluice")
            ratios.append(f"{v['s'] / s['s']:.2f}x" if v and s else "-")
        print(f"| {r['query']} | {r['input_mb']:.0f} MB | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps({"cpu": cpu, "threads": a.threads, "results": results}, indent=1))


if __name__ == "__main__":
    main()
