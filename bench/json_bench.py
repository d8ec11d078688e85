#!/usr/bin/env python3
"""JSON Lines reader throughput: sluice vs DuckDB read_json, Polars
read_ndjson and pyarrow.json.read_json, side by side on the same file.

Usage: .venv/bin/python bench/json_bench.py [--file F] [--size-mb 1100]
           [--runs 2] [--tools sluice,duckdb,polars,pyarrow]

The file (default .cache/bench/logs.jsonl) is generated with the tests'
generator (tests/py/jsonutil.py) when missing, then dropped from the page
cache and read back with 16 MiB reads (see load_into_cache). Every
measurement runs in a fresh subprocess (so thread settings such as
POLARS_MAX_THREADS apply); the tools take turns for --runs rounds and each
reports its best round. Every tool materialises the same columns with the
same types; sluice is driven through libsluice.so and hands each batch to
pyarrow through the Arrow C Data Interface, like a real consumer would. Prints MB/s and the ratio
of sluice to the fastest peer per case. Not a test: nothing is asserted.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))

COLS4 = ["ts", "level", "status", "latency_ms"]
ALL = {
    "ts": ("timestamp[ms]", "TIMESTAMP", "Datetime", "ts_ms"),
    "level": ("utf8", "VARCHAR", "String", "string"),
    "service": ("utf8", "VARCHAR", "String", "string"),
    "host": ("utf8", "VARCHAR", "String", "string"),
    "region": ("utf8", "VARCHAR", "String", "string"),
    "method": ("utf8", "VARCHAR", "String", "string"),
    "path": ("utf8", "VARCHAR", "String", "string"),
    "status": ("int64", "BIGINT", "Int64", "int64"),
    "bytes": ("int64", "BIGINT", "Int64", "int64"),
    "latency_ms": ("float64", "DOUBLE", "Float64", "float64"),
    "user_id": ("utf8", "VARCHAR", "String", "string"),
    "trace_id": ("utf8", "VARCHAR", "String", "string"),
    "user_agent": ("utf8", "VARCHAR", "String", "string"),
    "geo": ("struct<country: utf8, city: utf8>", "STRUCT(country VARCHAR, city VARCHAR)",
            "geo", "geo"),
    "tags": ("list<utf8>", "VARCHAR[]", "tags", "tags"),
    "error": ("utf8", "VARCHAR", "String", "string"),
}


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ensure_file(path, size_mb):
    if os.path.exists(path):  # an existing file is used as it is
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # The tests' generator (tests/py/jsonutil.py): service logs with every
    # field the issue names, user_id a string, non-ASCII and escaped text.
    from jsonutil import gen_logs
    with open(path, "w") as f:
        total, seed = 0, 0
        while total < size_mb * 1_000_000:
            seed += 1
            text, _ = gen_logs(20000, seed=seed)
            f.write(text)
            total += len(text.encode())


def run_one(tool, path, cols, threads):
    """Runs in the child: wall and CPU seconds (every thread of the process)
    for one full read, and the row count."""
    import pyarrow as pa
    if tool == "sluice":
        import ctypes
        from jsonutil import SluiceJson, SlError
        sj = SluiceJson()
        L = sj.lib
        schema = ", ".join("%s: %s" % (c, ALL[c][0]) for c in cols)
        o, _ = sj._opts({"schema": schema, "threads": threads}, None)
        err = SlError()
        t0, c0 = time.perf_counter(), time.process_time()
        rd = ctypes.c_void_p()
        if L.sl_json_open_file(path.encode(), o, ctypes.byref(rd), ctypes.byref(err)):
            raise RuntimeError(err.msg.decode())
        L.sl_json_reader_next_arrow.argtypes = [ctypes.c_void_p] * 4
        arr = ctypes.create_string_buffer(128)
        sch = ctypes.create_string_buffer(128)
        rows = 0
        while True:
            rc = L.sl_json_reader_next_arrow(rd, arr, sch, ctypes.byref(err))
            if rc == -1:
                break
            if rc:
                raise RuntimeError(err.msg.decode())
            rb = pa.RecordBatch._import_from_c(ctypes.addressof(arr), ctypes.addressof(sch))
            rows += rb.num_rows
            del rb
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        L.sl_json_reader_free(rd)
        return dt, rows, cpu
    if tool == "duckdb":
        import duckdb
        con = duckdb.connect()
        con.execute("SET threads=%d" % threads)
        spec = ", ".join("'%s': '%s'" % (c, ALL[c][1]) for c in cols)
        q = ("SELECT %s FROM read_json('%s', format='newline_delimited', columns={%s}, "
             "timestampformat='%%Y-%%m-%%dT%%H:%%M:%%S.%%gZ')") % (", ".join(cols), path, spec)
        t0, c0 = time.perf_counter(), time.process_time()
        res = con.execute(q)
        tbl = res.to_arrow_table() if hasattr(res, "to_arrow_table") else res.fetch_arrow_table()
        return time.perf_counter() - t0, tbl.num_rows, time.process_time() - c0
    if tool == "polars":
        import polars as pl
        types = {"String": pl.String, "Int64": pl.Int64, "Float64": pl.Float64,
                 "Datetime": pl.String,  # parsed below, like DuckDB's format
                 "geo": pl.Struct({"country": pl.String, "city": pl.String}),
                 "tags": pl.List(pl.String)}
        schema = {c: types[ALL[c][2]] for c in cols}
        t0, c0 = time.perf_counter(), time.process_time()
        df = pl.read_ndjson(path, schema=schema)
        if "ts" in cols:
            df = df.with_columns(pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ",
                                                              time_unit="ms"))
        return time.perf_counter() - t0, df.height, time.process_time() - c0
    if tool == "pyarrow":
        import pyarrow.json as pj
        types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
                 "ts_ms": pa.timestamp("ms"),
                 "geo": pa.struct([("country", pa.string()), ("city", pa.string())]),
                 "tags": pa.list_(pa.string())}
        schema = pa.schema([(c, types[ALL[c][3]]) for c in cols])
        pa.set_cpu_count(threads)
        t0, c0 = time.perf_counter(), time.process_time()
        tbl = pj.read_json(path, read_options=pj.ReadOptions(use_threads=threads > 1,
                                                             block_size=16 << 20),
                           parse_options=pj.ParseOptions(explicit_schema=schema,
                                                         unexpected_field_behavior="ignore"))
        return time.perf_counter() - t0, tbl.num_rows, time.process_time() - c0
    raise ValueError(tool)


def measure_once(tool, path, cols, threads):
    env = dict(os.environ)
    env["POLARS_MAX_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    # importing pyarrow imports numpy, whose OpenBLAS starts a thread per
    # core that spins for a while after start-up; no reader here uses BLAS,
    # and on a small machine the spinning took CPU from the timed read
    # (seen in perf: 4% of the samples of a 2-thread run). Same for all tools.
    env["OPENBLAS_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, __file__, "--child", tool, path, ",".join(cols),
                          str(threads)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return None, (out.stderr.strip().splitlines() or ["failed"])[-1]
    dt, rows, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return (dt, cpu), rows


def load_average():
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except OSError:
        return -1.0


def load_into_cache(path):
    """Drops the file from the page cache, then reads it once with 16 MiB
    reads. On Linux 6.x the page cache's folio size follows the I/O that
    filled it: a file written or read in 4 KiB pieces is cached in 4 KiB
    pages, which makes mapping or copying it 2-4x dearer in kernel time,
    for every tool, than the large folios a big sequential read leaves. Doing
    this first puts every run, and every tool, on the same state."""
    with open(path, "rb") as f:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while f.read(1 << 24):
            pass


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        tool, path, cols, threads = sys.argv[2:6]
        dt, rows, cpu = run_one(tool, path, cols.split(","), int(threads))
        print(json.dumps([dt, rows, cpu]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", default=os.path.join(ROOT, ".cache", "bench", "logs.jsonl"))
    ap.add_argument("--size-mb", type=int, default=1100)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--tools", default="sluice,duckdb,polars,pyarrow")
    ap.add_argument("--threads", default="1,all")
    a = ap.parse_args()
    ensure_file(a.file, a.size_mb)
    size = os.path.getsize(a.file)
    load_into_cache(a.file)
    ncpu = os.cpu_count()
    print("CPU: %s, %d cores; file %s, %.1f MB" % (cpu_model(), ncpu, a.file, size / 1e6))
    tools = a.tools.split(",")
    results = []
    for label, cols in (("4 columns", COLS4), ("all columns", list(ALL))):
        for th in a.threads.split(","):
            threads = ncpu if th == "all" else int(th)
            best, best_cpu, rows_of = {}, {}, {}
            # Rounds interleave the tools, so a burst of load from elsewhere
            # on the machine hits them all alike; the best round counts.
            # CPU seconds (all threads of the process) are reported too: on
            # a shared machine they say more about the work each tool does.
            for r in range(a.runs):
                for tool in tools:
                    t, rows = measure_once(tool, a.file, cols, threads)
                    rows_of[tool] = rows
                    if t:
                        best[tool] = min(best.get(tool, t[0]), t[0])
                        best_cpu[tool] = min(best_cpu.get(tool, t[1]), t[1])
            row = {t: size / 1e6 / best[t] if t in best else None for t in tools}
            rcpu = {t: size / 1e6 / best_cpu[t] if best_cpu.get(t) else None for t in tools}
            for tool in tools:
                print("  %-11s %-8s threads=%-2d %8s MB/s %8s MB/cpu-s  rows=%s  (load %.1f)" % (
                    label, tool, threads, "%.0f" % row[tool] if row[tool] else "FAIL",
                    "%.0f" % rcpu[tool] if rcpu[tool] else "-", rows_of[tool],
                    load_average()), flush=True)
            peers = [v for k, v in row.items() if k != "sluice" and v]
            ratio = row.get("sluice", 0) / max(peers) if peers and row.get("sluice") else None
            pc = [v for k, v in rcpu.items() if k != "sluice" and v]
            rc = rcpu.get("sluice", 0) / max(pc) if pc and rcpu.get("sluice") else None
            results.append((label, threads, row, ratio, rcpu, rc))
    print()
    print("Wall clock, MB/s (best round):")
    print("| projection | threads | " + " | ".join("%s" % t for t in tools)
          + " | sluice / fastest peer |")
    print("|---|---|" + "---|" * len(tools) + "---|")
    for label, threads, row, ratio, _, _ in results:
        print("| %s | %d | " % (label, threads)
              + " | ".join("%.0f" % row[t] if row.get(t) else "-" for t in tools)
              + " | %s |" % ("%.2fx" % ratio if ratio else "-"))
    print()
    print("MB per CPU-second (all threads of the process, best round):")
    print("| projection | threads | " + " | ".join("%s" % t for t in tools)
          + " | sluice / most efficient peer |")
    print("|---|---|" + "---|" * len(tools) + "---|")
    for label, threads, _, _, rcpu, rc in results:
        print("| %s | %d | " % (label, threads)
              + " | ".join("%.0f" % rcpu[t] if rcpu.get(t) else "-" for t in tools)
              + " | %s |" % ("%.2fx" % rc if rc else "-"))


if __name__ == "__main__":
    main()
