"""ctypes bindings of sluice's Parquet writer and reader for the oracle tests.

Tables cross into C and back through the Arrow C Data Interface (the
structs are declared here with ctypes, so no cffi is needed); the library is
build/libsluice.so or $SLUICE_LIB.
"""
import ctypes
import os
import pathlib

import pyarrow as pa

ROOT = pathlib.Path(__file__).resolve().parents[2]


class ArrowSchema(ctypes.Structure):
    pass


ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("children", ctypes.c_void_p), ("dictionary", ctypes.c_void_p),
    ("release", ctypes.CFUNCTYPE(None, ctypes.c_void_p)), ("private_data", ctypes.c_void_p)]


class ArrowArray(ctypes.Structure):
    _fields_ = [
        ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
        ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
        ("buffers", ctypes.c_void_p), ("children", ctypes.c_void_p),
        ("dictionary", ctypes.c_void_p),
        ("release", ctypes.CFUNCTYPE(None, ctypes.c_void_p)), ("private_data", ctypes.c_void_p)]


class ArrowArrayStream(ctypes.Structure):
    _fields_ = [("get_schema", ctypes.c_void_p), ("get_next", ctypes.c_void_p),
                ("get_last_error", ctypes.c_void_p),
                ("release", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
                ("private_data", ctypes.c_void_p)]


def _release(s):
    if ctypes.cast(s.release, ctypes.c_void_p).value:
        s.release(ctypes.addressof(s))


class SlError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


class SluiceError(Exception):
    def __init__(self, code, msg):
        super().__init__(f"[{code}] {msg}")
        self.code = code
        self.msg = msg


def _find_lib():
    env = os.environ.get("SLUICE_LIB")
    if env:
        return env
    build = os.environ.get("SLUICE_BUILD")
    if build and os.path.exists(os.path.join(build, "libsluice.so")):
        return os.path.join(build, "libsluice.so")
    for cand in ["build/libsluice.so", "build-pq/libsluice.so"]:
        p = ROOT / cand
        if p.exists():
            return str(p)
    raise RuntimeError("libsluice.so not built (run cmake/ninja or set SLUICE_LIB)")


_lib = None


def lib():
    global _lib
    if _lib is None:
        L = ctypes.CDLL(_find_lib())
        vp = ctypes.c_void_p
        L.sl_parquet_writer_open_arrow.argtypes = [ctypes.c_char_p, vp, ctypes.c_char_p,
                                                   ctypes.POINTER(vp), ctypes.POINTER(SlError)]
        L.sl_parquet_writer_write_arrow.argtypes = [vp, vp, vp, ctypes.POINTER(SlError)]
        L.sl_parquet_writer_close.argtypes = [vp, ctypes.POINTER(SlError)]
        L.sl_parquet_writer_abort.argtypes = [vp]
        L.sl_parquet_writer_abort.restype = None
        L.sl_parquet_open_stream.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                             ctypes.c_int64, vp, ctypes.POINTER(SlError)]
        L.sl_parquet_open_stream_with.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                                  ctypes.c_char_p, ctypes.c_int64, vp,
                                                  ctypes.c_int, vp, ctypes.POINTER(SlError)]
        L.sl_parquet_buffers_create.argtypes = [ctypes.c_int64, ctypes.POINTER(vp),
                                                ctypes.POINTER(SlError)]
        L.sl_parquet_buffers_cached.argtypes = [vp]
        L.sl_parquet_buffers_cached.restype = ctypes.c_int64
        L.sl_parquet_count_skipped.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                               ctypes.POINTER(ctypes.c_int32),
                                               ctypes.POINTER(SlError)]
        _lib = L
    return _lib


def _ptr(s):
    return ctypes.addressof(s)


def _check(rc, err):
    if rc != 0:
        raise SluiceError(rc, err.msg.decode("utf-8", "replace"))


def write(table, path, spec=None, batch_rows=None):
    """Writes a pyarrow Table (or RecordBatch) with sluice's writer."""
    if isinstance(table, pa.RecordBatch):
        batches = [table]
        schema = table.schema
    else:
        batches = table.to_batches(max_chunksize=batch_rows)
        schema = table.schema
        if not batches:
            batches = [pa.RecordBatch.from_pylist([], schema=schema)]
    L = lib()
    err = SlError()
    c_schema = ArrowSchema()
    schema._export_to_c(_ptr(c_schema))
    w = ctypes.c_void_p()
    try:
        _check(L.sl_parquet_writer_open_arrow(str(path).encode(), _ptr(c_schema),
                                              spec.encode() if spec else None,
                                              ctypes.byref(w), ctypes.byref(err)), err)
        for b in batches:
            c_arr = ArrowArray()
            c_bs = ArrowSchema()
            b._export_to_c(_ptr(c_arr), _ptr(c_bs))
            rc = L.sl_parquet_writer_write_arrow(w, _ptr(c_arr), _ptr(c_bs), ctypes.byref(err))
            _release(c_bs)
            _release(c_arr)
            if rc != 0:
                L.sl_parquet_writer_abort(w)
                w = None
                _check(rc, err)
        wp, w = w, None
        _check(L.sl_parquet_writer_close(wp, ctypes.byref(err)), err)
    finally:
        if w is not None and w.value:
            L.sl_parquet_writer_abort(w)
        _release(c_schema)


_buffers = None


def buffers():
    """The process's cache of freed column buffers, shared by every read
    (as pyarrow's reads share its default memory pool): released batches
    give their memory back, so a later read decodes into pages that are
    already mapped instead of faulting fresh ones in. Holds at most 2 GiB."""
    global _buffers
    if _buffers is None:
        L = lib()
        err = SlError()
        b = ctypes.c_void_p()
        _check(L.sl_parquet_buffers_create(2 << 30, ctypes.byref(b), ctypes.byref(err)), err)
        _buffers = b
    return _buffers


def reader(path, columns=None, predicates=None, batch_rows=0, threads=0, pool=True):
    """sluice's reader as a pyarrow RecordBatchReader. threads: 0 = one per
    core, 1 = the calling thread only; pool=False reads without the shared
    buffer cache (the reader keeps its own)."""
    L = lib()
    err = SlError()
    stream = ArrowArrayStream()
    cols = ",".join(columns).encode() if columns is not None else None
    _check(L.sl_parquet_open_stream_with(str(path).encode(), cols,
                                         predicates.encode() if predicates else None,
                                         batch_rows, buffers() if pool else None, threads,
                                         _ptr(stream), ctypes.byref(err)), err)
    return pa.RecordBatchReader._import_from_c(_ptr(stream))


def read(path, columns=None, predicates=None, batch_rows=0, threads=0, pool=True):
    return reader(path, columns, predicates, batch_rows, threads, pool).read_all()


def skipped(path, predicates):
    L = lib()
    err = SlError()
    n = ctypes.c_int32()
    _check(L.sl_parquet_count_skipped(str(path).encode(), predicates.encode(),
                                      ctypes.byref(n), ctypes.byref(err)), err)
    return n.value
