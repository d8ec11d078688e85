"""Arrow C Data Interface import cost: sluice vs pyarrow, side by side.

Both sides take the same pyarrow batch through the C Data Interface and
fully validate it (offsets, null counts, UTF-8, dictionary indices):
 - sluice: import (zero-copy) + sl_batch_validate + export back to pyarrow
   (sl_testdata_roundtrip);
 - pyarrow: export + import of the batch in pyarrow itself + validate(full=True).
Prints the time of each and their ratio. Usage:
    SLUICE_LIB=build/libsluice.so .venv/bin/python bench/bench_arrow_c.py [rows]
"""
import ctypes
import os
import sys
import time

import pyarrow as pa

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "py"))
from conftest import find_libsluice  # noqa: E402
from test_arrow_oracle import ArrowArray, ArrowSchema, Sluice  # noqa: E402


def make_batch(rows):
    import numpy as np
    rng = np.random.default_rng(1)
    ints = pa.array(rng.integers(-10**12, 10**12, rows))
    floats = pa.array(rng.random(rows), mask=rng.random(rows) < 0.1)
    words = np.array(["alpha", "beta", "gamma-\u00e9t\u00e9", "delta", "a-much-longer-word-here"])
    strs = pa.array(words[rng.integers(0, 5, rows)].astype(object))
    methods = strs.dictionary_encode()
    return pa.RecordBatch.from_arrays([ints, floats, strs, methods],
                                      names=["i", "f", "s", "d"])


def best(fn, reps=5):
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
    lib = find_libsluice()
    if not lib:
        sys.exit("libsluice.so not found (set SLUICE_LIB or build first)")
    sl = Sluice(ctypes.CDLL(lib))
    rb = make_batch(rows)
    nbytes = rb.nbytes

    def sluice_rt():
        rc, out = sl.roundtrip(rb)
        assert rc == 0, out

    def pyarrow_rt():
        a, s = ArrowArray(), ArrowSchema()
        rb._export_to_c(ctypes.addressof(a), ctypes.addressof(s))
        out = pa.RecordBatch._import_from_c(ctypes.addressof(a), ctypes.addressof(s))
        out.validate(full=True)

    ts = best(sluice_rt)
    tp = best(pyarrow_rt)
    print(f"batch: {rows} rows, {nbytes / 1e6:.1f} MB (int64, float64+nulls, utf8, dict)")
    print(f"sluice  import+validate+export: {ts * 1e3:8.1f} ms  {nbytes / ts / 1e9:6.2f} GB/s")
    print(f"pyarrow import+validate(full):  {tp * 1e3:8.1f} ms  {nbytes / tp / 1e9:6.2f} GB/s")
    print(f"ratio (pyarrow time / sluice time): {tp / ts:.2f}x")


if __name__ == "__main__":
    main()
