"""Helpers for the JSON reader tests and benchmark.

- gen_logs(): realistic service logs as JSON Lines (optionally messy), with the
  exact list of line numbers that were deliberately made malformed;
- SluiceJson: a ctypes binding of libsluice's JSON reader that hands batches
  to pyarrow through the Arrow C Stream Interface.
"""
import ctypes
import datetime as dt
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LEVELS = ["DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"]
SERVICES = ["api", "auth", "billing", "search", "checkout", "gateway"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
PATHS = ["/v1/users", "/v1/orders", "/v1/search", "/health", "/v1/cart/items", "/login"]
GEO = [("US", "New York"), ("DE", "München"), ("JP", "東京"), ("FR", "Paris"),
       ("BR", "São Paulo"), ("IN", "Mumbai")]
AGENTS = [
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "quoted" \\ back',
    "curl/8.5.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1 \u00e9t\u00e9",
    "python-requests/2.31 \t tab and \u2603 snowman \U0001F600",
    "Go-http-client/1.1",
]
TAGS = ["web", "mobile", "beta", "internal", "retry", "canary"]
ERRORS = ["timeout", "connection reset", "upstream 503", "bad \"token\"", "null pointer"]


def _record(rng, i, t0):
    ts = t0 + dt.timedelta(milliseconds=i * 37 + rng.randrange(37))
    country, city = rng.choice(GEO)
    r = {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ts.microsecond // 1000),
        "level": rng.choice(LEVELS),
        "service": rng.choice(SERVICES),
        "host": "host-%03d" % rng.randrange(200),
        "region": rng.choice(REGIONS),
        "method": rng.choice(METHODS),
        "path": rng.choice(PATHS),
        "status": rng.choice([200, 200, 200, 201, 204, 301, 400, 404, 500, 503]),
        "bytes": rng.randrange(0, 5_000_000),
        "latency_ms": round(rng.expovariate(1 / 40.0), 3),
        "user_id": "u%07d" % rng.randrange(10_000_000),
        "trace_id": "%032x" % rng.getrandbits(128),
        "user_agent": rng.choice(AGENTS),
        "geo": {"country": country, "city": city},
        "tags": rng.sample(TAGS, rng.randrange(0, 4)),
    }
    if rng.random() < 0.1:
        r["error"] = rng.choice(ERRORS)
    return r


def _messy_dump(rng, r):
    """Random key order, random whitespace, unknown keys, nulls, odd numbers."""
    items = list(r.items())
    rng.shuffle(items)
    if rng.random() < 0.2:
        items.append(("extra_%d" % rng.randrange(5), rng.choice([1, "x", [1, {"a": 2}], {"k": None}])))
    out = []
    for k, v in items:
        if k in ("status", "bytes", "latency_ms", "geo", "tags", "error", "level") and rng.random() < 0.05:
            v = None
        if k == "latency_ms" and isinstance(v, float) and rng.random() < 0.1:
            v = rng.choice([1e3, -0.0, 2.5e-3, 1.7976931348623157e308, 5e-324, 0.1])
        ws = lambda: rng.choice(["", " ", "  ", "\t", " \t "])
        if isinstance(v, float) and rng.random() < 0.5:
            # other spellings of the same double: 1e3, 1.000e+03, -0.0 ...
            text = rng.choice(["%.17e" % v, "%.17E" % v, repr(v)])
            if v == 1000.0:
                text = rng.choice(["1e3", "1E3", "1000", "1e+3", "10e2"])
        else:
            text = json.dumps(v, ensure_ascii=rng.random() < 0.5)
        out.append(ws() + json.dumps(k) + ws() + ":" + ws() + text + ws())
    return "{" + ",".join(out) + "}"


def gen_logs(n, seed=1, messy=False, bad_rate=0.02):
    """Returns (text, bad_line_numbers) with 1-based line numbers."""
    rng = random.Random(seed)
    t0 = dt.datetime(2024, 3, 1, 12, 0, 0)
    lines, bad = [], []
    for i in range(n):
        r = _record(rng, i, t0)
        if not messy:
            lines.append(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
            continue
        line = _messy_dump(rng, r)
        if rng.random() < bad_rate:
            cut = rng.randrange(1, len(line) - 1)
            line = line[:cut]
            bad.append(len(lines) + 1)
        lines.append(line)
    eol = "\n"
    return eol.join(lines) + eol, bad


# ---- ctypes binding ---------------------------------------------------------

# `line` is not NUL-terminated: c_void_p, read with string_at(line, len)
BAD_LINE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                               ctypes.c_int64, ctypes.c_int64, ctypes.c_char_p)


class SlError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


def lib_path():
    for b in (os.environ.get("SLUICE_BUILD", ""), "build", "build-json"):
        p = os.path.join(ROOT, b, "libsluice.so")
        if b and os.path.exists(p):
            return p
    raise FileNotFoundError("libsluice.so not built (set SLUICE_BUILD)")


class SluiceJson:
    def __init__(self):
        self.lib = ctypes.CDLL(lib_path())
        L = self.lib
        L.sl_json_options_size.restype = ctypes.c_size_t
        L.sl_json_options_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                          ctypes.c_void_p]
        L.sl_json_options_set_bad_line_fn.argtypes = [ctypes.c_void_p, BAD_LINE_FN, ctypes.c_void_p]
        L.sl_json_read_buffer.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                          ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        L.sl_json_open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        L.sl_json_reader_counter.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        L.sl_json_reader_counter.restype = ctypes.c_int64
        L.sl_export_stream.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        L.sl_json_infer_schema_text.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                                ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
        L.sl_json_infer_schema_text.restype = ctypes.c_size_t

    def _opts(self, options, bad):
        L = self.lib
        o = ctypes.create_string_buffer(L.sl_json_options_size())
        L.sl_json_options_init(o)
        err = SlError()
        for k, v in (options or {}).items():
            if L.sl_json_options_set(o, k.encode(), str(v).encode(), ctypes.byref(err)):
                raise ValueError(err.msg.decode())
        cb = None
        if bad is not None:
            def on_bad(ctx, line, n, line_no, off, reason):
                bad.append((line_no, off, ctypes.string_at(line, n).decode("utf-8", "replace"),
                            reason.decode()))
            cb = BAD_LINE_FN(on_bad)
            L.sl_json_options_set_bad_line_fn(o, cb, None)
        return o, cb

    def read(self, data=None, path=None, options=None, bad=None, counters=None):
        """Reads a buffer or a file into a pyarrow.Table. bad: list that gets
        (line_no, byte_offset, text, reason) per bad line."""
        import pyarrow as pa
        L = self.lib
        o, cb = self._opts(options, bad)
        err = SlError()
        rd = ctypes.c_void_p()
        if path is not None:
            rc = L.sl_json_open_file(path.encode(), o, ctypes.byref(rd), ctypes.byref(err))
        else:
            rc = L.sl_json_read_buffer(data, len(data), o, ctypes.byref(rd), ctypes.byref(err))
        if rc:
            L.sl_json_options_release(o)
            raise ValueError(err.msg.decode())
        # Drain through our own next() so errors and counters stay visible.
        stream = ctypes.create_string_buffer(64)
        table = None
        try:
            batches = []
            L.sl_json_reader_next_arrow.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                                    ctypes.c_void_p, ctypes.c_void_p]
            sch = ctypes.create_string_buffer(128)
            arr = ctypes.create_string_buffer(128)
            first_schema = None
            while True:
                rc = L.sl_json_reader_next_arrow(rd, arr, sch, ctypes.byref(err))
                if rc == -1:
                    break
                if rc:
                    raise ValueError(err.msg.decode())
                rb = pa.RecordBatch._import_from_c(ctypes.addressof(arr), ctypes.addressof(sch))
                first_schema = first_schema or rb.schema
                batches.append(rb)
            if counters is not None:
                for k in ("lines", "rows", "bad_lines", "type_mismatches", "bytes"):
                    counters[k] = L.sl_json_reader_counter(rd, k.encode())
            if not batches:
                L.sl_json_reader_schema_arrow.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
                L.sl_json_reader_schema_arrow(rd, sch)
                s = pa.Schema._import_from_c(ctypes.addressof(sch))
                table = s.empty_table()
            else:
                table = pa.Table.from_batches(batches)
        finally:
            L.sl_json_reader_free(rd)
            L.sl_json_options_release(o)
            del stream, cb
        return table

    def infer(self, data, options=None):
        L = self.lib
        o, _ = self._opts(options, None)
        buf = ctypes.create_string_buffer(1 << 16)
        err = SlError()
        n = L.sl_json_infer_schema_text(data, len(data), o, buf, len(buf), ctypes.byref(err))
        L.sl_json_options_release(o)
        if n == 0:
            raise ValueError(err.msg.decode())
        return buf.value.decode()
