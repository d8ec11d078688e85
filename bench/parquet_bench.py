"""Parquet write and read throughput: sluice against pyarrow and DuckDB.

Builds a 10-million-row log table (timestamps, hosts, methods, paths,
status codes, user ids, latencies, bytes, countries with nulls) once, then
writes it with zstd and with snappy through sluice's writer (through the
Arrow C Data Interface, zero-copy), pyarrow.parquet.write_table and DuckDB
COPY, and reads every file back with sluice's reader and pyarrow. Prints
rows/s, MB/s (of the in-memory Arrow table) and file sizes, with ratios.

Both readers use every core and hand back Arrow tables: pyarrow's
read_table decodes with its thread pool into its default memory pool;
sluice's reader decodes on its thread pool into pqutil's shared buffer pool,
and the table crosses into pyarrow through the Arrow C Data Interface
(zero-copy). Both pools keep freed memory for later reads, so the best of
the repeats is a warm read for both; the first read of each (cold memory,
every page of the output faulted in) is printed too, and sluice's reads
without the shared pool (fresh memory every time).

    .venv/bin/python bench/parquet_bench.py [--rows N] [--repeat R] [--dir D]
    .venv/bin/python bench/parquet_bench.py --read-only --dir D   # files of an earlier run

Not a test: numbers depend on the machine; run peers side by side.
"""
import argparse
import os

# numpy's BLAS starts threads when pyarrow imports it; they can spin during
# the timed 2-thread reads. Nothing here uses BLAS: one thread is enough.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import resource
import pathlib
import sys
import tempfile
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "py"))
import pqutil  # noqa: E402


def log_table(n, seed=42):
    rng = np.random.default_rng(seed)
    ts = 1_764_000_000_000_000 + np.cumsum(rng.integers(0, 2000, n))
    hosts = pa.array([f"web-{i:02d}.example.com" for i in range(40)])
    methods = pa.array(["GET", "POST", "PUT", "DELETE", "HEAD"])
    paths = pa.array([f"/api/v1/{r}/{k}" for r in ("users", "orders", "items", "carts", "search")
                      for k in range(60)])
    countries = pa.array(["US", "DE", "FR", "IN", "BR", "JP", "GB", "CN", None, "IL"])
    status = rng.choice(np.array([200, 200, 200, 200, 201, 204, 301, 304, 400, 404, 500], dtype=np.int32), n)
    return pa.table({
        "ts": pa.array(ts, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "host": hosts.take(pa.array(rng.integers(0, len(hosts), n))),
        "method": methods.take(pa.array(rng.choice(5, n, p=[0.7, 0.2, 0.05, 0.03, 0.02]))),
        "path": paths.take(pa.array(rng.integers(0, len(paths), n))),
        "status": pa.array(status),
        "user_id": pa.array(rng.integers(1, 5_000_000, n)),
        "latency_ms": pa.array(np.round(rng.lognormal(3.0, 1.0, n), 3)),
        "bytes": pa.array(rng.integers(0, 200_000, n)),
        "country": countries.take(pa.array(rng.integers(0, len(countries), n))),
    })


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def runs(fn, repeat):
    """Wall and CPU times (all threads of this process) of `repeat` runs:
    CPU time stays meaningful when the machine is busy."""
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = _cpu(), time.perf_counter()
        r = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
        del r
    return walls, cpus


def best(fn, repeat):
    """Best wall time and best CPU time of `repeat` runs."""
    walls, cpus = runs(fn, repeat)
    return min(walls), min(cpus)


def read_case(codec, fname, p, n, mb, repeat):
    w_s, c_s = runs(lambda: pqutil.read(p), repeat)
    w_p, c_p = runs(lambda: pq.read_table(p), repeat)
    r_s, r_p = min(w_s), min(w_p)
    print(f"read  {codec:6s} {fname + ' file':14s} sluice {r_s:6.3f} s ({n / r_s / 1e6:6.2f} M rows/s, "
          f"{mb / r_s:6.1f} MB/s, cpu {min(c_s):5.2f} s)  pyarrow {r_p:6.3f} s ({n / r_p / 1e6:6.2f} M rows/s, "
          f"cpu {min(c_p):5.2f} s)  ratio {r_p / r_s:.2f}x (cpu {min(c_p) / min(c_s):.2f}x); "
          f"first read: sluice {w_s[0]:.3f} s, pyarrow {w_p[0]:.3f} s", flush=True)
    # Without the shared pool every read decodes into fresh memory (as the
    # reader did before it had one): what a one-off read in a new process costs.
    w_n, c_n = runs(lambda: pqutil.read(p, pool=False), repeat)
    print(f"      sluice without the shared buffer pool: {min(w_n):6.3f} s (cpu {min(c_n):5.2f} s), "
          f"ratio to pyarrow {r_p / min(w_n):.2f}x (cpu {min(c_p) / min(c_n):.2f}x)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--read-only", action="store_true",
                    help="only read the files an earlier run left in --dir")
    args = ap.parse_args()
    if args.read_only:
        if not args.dir:
            ap.error("--read-only needs --dir")
        tmp = pathlib.Path(args.dir)
        ref = pq.read_table(tmp / "pyarrow-zstd.parquet")
        n, mb = ref.num_rows, ref.nbytes / 1e6
        del ref
        print(f"read only: {n:,} rows, {mb:.0f} MB in Arrow; {os.cpu_count()} cores; "
              f"pyarrow {pa.__version__} ({pa.cpu_count()} threads)")
        for codec in ["zstd", "snappy"]:
            for fname in ["sluice", "pyarrow"]:
                p = tmp / f"{fname}-{codec}.parquet"
                read_case(codec, fname, p, n, mb, args.repeat)
                assert pqutil.read(p).equals(pq.read_table(p))
        return
    n = args.rows
    t = log_table(n)
    mb = t.nbytes / 1e6
    print(f"table: {n:,} rows, {t.num_columns} columns, {mb:.0f} MB in Arrow; "
          f"{os.cpu_count()} cores; pyarrow {pa.__version__}, duckdb {duckdb.__version__}")
    tmp = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="pqbench-"))
    con = duckdb.connect()
    con.register("t", t)
    rows = []
    for codec in ["zstd", "snappy"]:
        files = {}
        writers = {
            "sluice": lambda p: pqutil.write(t, p, f"compression={codec};fsync=0"),
            "pyarrow": lambda p: pq.write_table(t, p, compression=codec),
            "duckdb": lambda p: con.execute(f"COPY t TO '{p}' (FORMAT parquet, COMPRESSION {codec})"),
        }
        res = {}
        for name, fn in writers.items():
            p = tmp / f"{name}-{codec}.parquet"
            files[name] = p
            s, c = best(lambda: fn(p), args.repeat)
            res[name] = (s, p.stat().st_size, c)
            print(f"write {codec:6s} {name:8s} {s:7.3f} s  {n / s / 1e6:6.2f} M rows/s  "
                  f"{mb / s:7.1f} MB/s  cpu {c:6.2f} s  file {p.stat().st_size / 1e6:7.1f} MB",
                  flush=True)
        base_s, base_size, base_c = res["pyarrow"]
        s, size, c = res["sluice"]
        print(f"  sluice vs pyarrow: {base_s / s:.2f}x faster (cpu {base_c / c:.2f}x), file "
              f"{100 * (size / base_size - 1):+.1f}% size; vs duckdb: {res['duckdb'][0] / s:.2f}x "
              f"faster (cpu {res['duckdb'][2] / c:.2f}x), file {100 * (size / res['duckdb'][1] - 1):+.1f}% size")
        rows.append((codec, res))
        for fname in ["sluice", "pyarrow"]:
            read_case(codec, fname, files[fname], n, mb, args.repeat)
        for fname in ["sluice", "pyarrow"]:
            assert pqutil.read(files[fname]).equals(pq.read_table(files[fname]))


if __name__ == "__main__":
    main()
