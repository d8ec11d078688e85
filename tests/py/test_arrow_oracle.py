"""Oracle tests of sluice's columnar core through the Arrow C Data Interface.

pyarrow is the independent oracle:
 - batches that sluice builds with its own builders (src/table/testdata.c)
   are exported into pyarrow and compared value by value with what pyarrow
   builds itself from the same Python values (the formulas below mirror the
   ones in testdata.c);
 - pyarrow batches are imported into sluice, validated, exported again and
   compared with the originals, including buffer addresses (zero-copy);
 - streams go both ways;
 - bad input is rejected with an error naming the column, and the
   producer's release callback still runs exactly once.
The ABI structs are declared with ctypes from the specification.
"""
import ctypes
import gc
import math

import pyarrow as pa
import pytest

# ---- the C ABI ---------------------------------------------------------


class ArrowSchema(ctypes.Structure):
    pass


ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p), ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_void_p), ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowSchema))),
    ("dictionary", ctypes.POINTER(ArrowSchema)),
    ("release", ctypes.c_void_p), ("private_data", ctypes.c_void_p)]


class ArrowArray(ctypes.Structure):
    pass


ArrowArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64), ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowArray))),
    ("dictionary", ctypes.POINTER(ArrowArray)),
    ("release", ctypes.c_void_p), ("private_data", ctypes.c_void_p)]


class ArrowArrayStream(ctypes.Structure):
    _fields_ = [("get_schema", ctypes.c_void_p), ("get_next", ctypes.c_void_p),
                ("get_last_error", ctypes.c_void_p), ("release", ctypes.c_void_p),
                ("private_data", ctypes.c_void_p)]


SCHEMA_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowSchema))
ARRAY_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArray))
I64 = ctypes.c_int64
ERRCAP = 512


def addr(s):
    return ctypes.addressof(s)


class Sluice:
    """Thin ctypes binding of the sl_testdata_* entry points."""

    def __init__(self, lib):
        self.lib = lib
        lib.sl_alloc_live.restype = ctypes.c_int64
        lib.sl_testdata_make_batch.argtypes = [
            ctypes.c_int, I64, I64, I64, I64, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_char_p, ctypes.c_size_t]
        for name in ("sl_testdata_roundtrip",):
            getattr(lib, name).argtypes = [ctypes.c_void_p] * 4 + [
                ctypes.c_char_p, ctypes.c_size_t]
        lib.sl_testdata_import_array.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.sl_testdata_import_address.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int,
            ctypes.POINTER(ctypes.c_uint64), ctypes.c_char_p, ctypes.c_size_t]
        lib.sl_testdata_make_stream.argtypes = [
            ctypes.c_int, I64, I64, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.sl_testdata_stream_roundtrip.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.sl_testdata_consume_stream.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(I64), ctypes.POINTER(I64),
            ctypes.c_char_p, ctypes.c_size_t]

    def live(self):
        return self.lib.sl_alloc_live()

    def make_batch(self, kind, base, n, offset=-1, length=0):
        arr, sch, err = ArrowArray(), ArrowSchema(), ctypes.create_string_buffer(ERRCAP)
        rc = self.lib.sl_testdata_make_batch(kind, base, n, offset, length,
                                             addr(arr), addr(sch), err, ERRCAP)
        assert rc == 0, err.value.decode()
        return pa.RecordBatch._import_from_c(addr(arr), addr(sch))

    def roundtrip(self, rb):
        """pyarrow -> sluice -> pyarrow; returns (rc, batch or error text)."""
        src_a, src_s = ArrowArray(), ArrowSchema()
        rb._export_to_c(addr(src_a), addr(src_s))
        out_a, out_s = ArrowArray(), ArrowSchema()
        err = ctypes.create_string_buffer(ERRCAP)
        rc = self.lib.sl_testdata_roundtrip(addr(src_a), addr(src_s), addr(out_a),
                                            addr(out_s), err, ERRCAP)
        # sluice took over the array (released it on failure); the schema
        # stays ours.
        assert src_a.release is None
        SCHEMA_RELEASE(src_s.release)(ctypes.byref(src_s))
        if rc != 0:
            return rc, err.value.decode()
        return 0, pa.RecordBatch._import_from_c(addr(out_a), addr(out_s))

    def import_address(self, rb, col, which):
        a, s = ArrowArray(), ArrowSchema()
        rb._export_to_c(addr(a), addr(s))
        out = ctypes.c_uint64()
        err = ctypes.create_string_buffer(ERRCAP)
        rc = self.lib.sl_testdata_import_address(addr(a), addr(s), col, which,
                                                 ctypes.byref(out), err, ERRCAP)
        SCHEMA_RELEASE(s.release)(ctypes.byref(s))
        assert rc == 0, err.value.decode()
        return out.value


@pytest.fixture
def sl(libsluice):
    s = Sluice(libsluice)
    gc.collect()
    before = s.live()
    yield s
    gc.collect()
    assert s.live() == before, "sluice allocations leaked across the test"


# ---- the oracle: the same values built by pyarrow -----------------------

I32_MIN, I32_MAX = -2**31, 2**31 - 1
I64_MIN, I64_MAX = -2**63, 2**63 - 1
METHODS = ["GET", "POST", "PUT", "DELETE"]


def row_string(g):
    if g % 10 == 0:
        return ""
    return f"row{g}-\u00e9" + "x" * (g % 5) + ("\U0001F600" if g % 11 == 0 else "")


FLAT = [
    ("n", pa.null(), lambda g: None),
    ("b", pa.bool_(), lambda g: None if g % 3 == 0 else g % 2 == 0),
    ("i32", pa.int32(), lambda g: None if g % 5 == 0 else
     I32_MIN if g == 1 else I32_MAX if g == 2 else 7 * g - 300),
    ("i64", pa.int64(), lambda g: None if g % 4 == 1 else
     I64_MIN if g == 2 else I64_MAX if g == 3 else g * 1000000007 - 50000000000),
    ("f64", pa.float64(), lambda g: None if g % 6 == 2 else
     math.inf if g == 5 else g * 0.25 - 7.5),
    ("s", pa.string(), lambda g: None if g % 7 == 3 else row_string(g)),
    ("ls", pa.large_string(), lambda g: None if g % 8 == 1 else row_string(g)),
    ("tms", pa.timestamp("ms", tz="UTC"),
     lambda g: None if g % 9 == 4 else 1700000000000 + g * 1234567),
    ("tus", pa.timestamp("us", tz="UTC"),
     lambda g: None if g % 9 == 5 else 1700000000000000 + g * 987654321),
    ("d32", pa.date32(), lambda g: None if g % 10 == 7 else -1 if g == 0 else 18950 + g),
    ("dict", None, lambda g: None if g % 6 == 5 else METHODS[g % 4]),
]

GEO_T = pa.struct([("city", pa.string()), ("lat", pa.float64()), ("zip", pa.int32())])
AB_T = pa.struct([("a", pa.int64()), ("b", pa.string())])
DEEP_T = pa.struct([("tags", pa.list_(pa.string())),
                    ("inner", pa.struct([("x", pa.int32())]))])

NESTED = [
    ("li", pa.list_(pa.int64()), lambda g: None if g % 5 == 0 else [] if g % 5 == 1 else
     [None if (g + j) % 3 == 0 else 10 * g + j for j in range(g % 4 + 1)]),
    ("lstr", pa.list_(pa.string()), lambda g: None if g % 6 == 0 else
     [None if j == 2 else f"t{g}_{j}" for j in range(g % 4)]),
    ("geo", GEO_T, lambda g: None if g % 7 == 0 else
     {"city": None if g % 5 == 2 else f"c{g % 13}", "lat": 0.5 * g,
      "zip": None if g % 4 == 3 else 10000 + g}),
    ("lst", pa.list_(AB_T), lambda g: None if g % 4 == 0 else
     [{"a": g + j, "b": None if j % 2 else f"b{j}"} for j in range(g % 3)]),
    ("deep", DEEP_T, lambda g: None if g % 9 == 1 else
     {"tags": None if g % 5 == 0 else [f"g{k}" for k in range(g % 3)],
      "inner": None if g % 4 == 2 else {"x": g}}),
]


def expected_batch(kind, base, n, offset=-1, length=0):
    cols = (FLAT if kind != 1 else []) + (NESTED if kind != 0 else [])
    names, arrays = [], []
    rows = range(base, base + n)
    for name, typ, fn in cols:
        values = [fn(g) for g in rows]
        if name == "n":
            arr = pa.nulls(n)
        elif name == "dict":
            arr = pa.array(values, pa.string()).dictionary_encode()
        else:
            arr = pa.array(values, typ)
        names.append(name)
        arrays.append(arr)
    md = {"source": "sluice-testdata"} if kind != 1 else None
    rb = pa.RecordBatch.from_arrays(arrays, names=names, metadata=md)
    if offset >= 0:
        rb = rb.slice(offset, length)
    return rb


def assert_same_batch(got, want):
    """Types, then every value, column by column (names in the message)."""
    assert got.schema.names == want.schema.names
    assert got.num_rows == want.num_rows
    for name in want.schema.names:
        g, w = got.column(name), want.column(name)
        assert g.type == w.type, f"column {name}: {g.type} != {w.type}"
        assert g.null_count == w.null_count, f"column {name}: null count"
        assert g.to_pylist() == w.to_pylist(), f"column {name}: values differ"
        assert g.equals(w), f"column {name}: arrays differ"
    got.validate(full=True)


# ---- sluice -> pyarrow --------------------------------------------------

EXPORT_CASES = [
    # kind, base, n, slice offset, slice length
    (0, 0, 100, -1, 0),
    (1, 0, 100, -1, 0),
    (2, 0, 257, -1, 0),
    (2, 37, 130, 13, 50),    # a slice that starts mid-byte of the bitmaps
    (2, 0, 100, 64, 36),     # a slice on a byte boundary up to the end
    (2, 5, 0, -1, 0),        # empty
    (2, 0, 20, 7, 0),        # an empty slice with an offset
    (2, 11, 1, -1, 0),       # one row
]


@pytest.mark.parametrize("kind,base,n,offset,length", EXPORT_CASES)
def test_export_matches_pyarrow(sl, kind, base, n, offset, length):
    got = sl.make_batch(kind, base, n, offset, length)
    want = expected_batch(kind, base, n, offset, length)
    assert_same_batch(got, want)
    if kind != 1:
        assert got.schema.metadata == {b"source": b"sluice-testdata"}
    del got
    gc.collect()


def test_export_children_release_independently(sl):
    """Columns moved out of the exported batch outlive the batch itself."""
    rb = sl.make_batch(2, 0, 50)
    geo, s = rb.column("geo"), rb.column("s")
    want = expected_batch(2, 0, 50)
    del rb
    gc.collect()
    assert geo.to_pylist() == want.column("geo").to_pylist()
    assert s.to_pylist() == want.column("s").to_pylist()


# ---- pyarrow -> sluice -> pyarrow ---------------------------------------


def pyarrow_batches():
    """Batches that pyarrow builds itself: every type, nulls, slices, nested,
    dictionaries; some sliced so that columns carry their own offsets."""
    full = expected_batch(2, 3, 300)
    yield "full", full
    yield "sliced", full.slice(17, 201)
    yield "empty", full.slice(0, 0)
    geo = pa.array([{"city": "Paris", "lat": 48.8, "zip": 75001}, None,
                    {"city": None, "lat": -1.0, "zip": None},
                    {"city": "東京", "lat": 35.7, "zip": 1000001}] * 5, GEO_T)
    nums = pa.array([1, None, 3, 4] * 5, pa.int64())
    # A struct column sliced by itself (parent offset over unsliced children)
    # next to a primitive column sliced differently.
    yield "struct-offset", pa.RecordBatch.from_arrays(
        [geo.slice(3, 12), nums.slice(1, 12)], names=["geo", "n64"])
    strs = pa.array(["a", None, "", "ßü", "z" * 100] * 4)
    yield "lists", pa.RecordBatch.from_arrays(
        [pa.array([[1, 2], None, [], [None]] * 5, pa.list_(pa.int64())).slice(2),
         pa.array([["x"], [None, "y"], None, []] * 5, pa.list_(pa.string())).slice(2),
         strs.slice(2)], names=["li", "ls", "s"])
    dict_arr = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, None, 2, 1, 0], pa.int32()), pa.array(["GET", "POST", "PUT"]))
    yield "dict", pa.RecordBatch.from_arrays([dict_arr.slice(1)], names=["method"])
    big = pa.array(list(range(1000)), pa.int64())
    yield "no-nulls", pa.RecordBatch.from_arrays([big], names=["x"])


@pytest.mark.parametrize("name,rb", list(pyarrow_batches()))
def test_pyarrow_roundtrip(sl, name, rb):
    rc, got = sl.roundtrip(rb)
    assert rc == 0, got
    assert got.schema == rb.schema
    assert got.schema.metadata == rb.schema.metadata
    assert_same_batch(got, rb)
    assert got.equals(rb)
    del got
    gc.collect()


def test_import_is_zero_copy(sl):
    rb = expected_batch(0, 0, 200).slice(9, 150)
    i64 = rb.schema.get_field_index("i64")
    s = rb.schema.get_field_index("s")
    # sluice's buffers point at pyarrow's memory...
    assert sl.import_address(rb, i64, 1) == rb.column(i64).buffers()[1].address
    assert sl.import_address(rb, i64, 0) == rb.column(i64).buffers()[0].address
    assert sl.import_address(rb, s, 2) == rb.column(s).buffers()[1].address
    assert sl.import_address(rb, s, 1) == rb.column(s).buffers()[2].address
    # ...and re-exporting hands the same memory back.
    rc, got = sl.roundtrip(rb)
    assert rc == 0, got
    for c in (i64, s):
        for want_buf, got_buf in zip(rb.column(c).buffers(), got.column(c).buffers()):
            assert got_buf.address == want_buf.address


# ---- streams -----------------------------------------------------------


def test_sluice_stream_into_pyarrow(sl):
    st = ArrowArrayStream()
    err = ctypes.create_string_buffer(ERRCAP)
    rc = sl.lib.sl_testdata_make_stream(2, 4, 25, addr(st), err, ERRCAP)
    assert rc == 0, err.value.decode()
    reader = pa.RecordBatchReader._import_from_c(addr(st))
    batches = list(reader)
    assert len(batches) == 4
    for k, got in enumerate(batches):
        assert_same_batch(got, expected_batch(2, k * 1000, 25 + k))
    del reader, batches, got
    gc.collect()


def make_pyarrow_reader():
    src = [expected_batch(2, k * 100, 40 + 7 * k) for k in range(3)]
    src.append(src[0].slice(5, 20))
    return src, pa.RecordBatchReader.from_batches(src[0].schema, src)


def test_pyarrow_stream_into_sluice(sl):
    src, reader = make_pyarrow_reader()
    st = ArrowArrayStream()
    reader._export_to_c(addr(st))
    nb, nr = I64(), I64()
    err = ctypes.create_string_buffer(ERRCAP)
    rc = sl.lib.sl_testdata_consume_stream(addr(st), ctypes.byref(nb),
                                           ctypes.byref(nr), err, ERRCAP)
    assert rc == 0, err.value.decode()
    assert nb.value == len(src)
    assert nr.value == sum(b.num_rows for b in src)


def test_stream_roundtrip(sl):
    src, reader = make_pyarrow_reader()
    st_in, st_out = ArrowArrayStream(), ArrowArrayStream()
    reader._export_to_c(addr(st_in))
    err = ctypes.create_string_buffer(ERRCAP)
    rc = sl.lib.sl_testdata_stream_roundtrip(addr(st_in), addr(st_out), err, ERRCAP)
    assert rc == 0, err.value.decode()
    back = pa.RecordBatchReader._import_from_c(addr(st_out))
    assert back.schema == src[0].schema
    got = list(back)
    assert len(got) == len(src)
    for g, w in zip(got, src):
        assert_same_batch(g, w)
    del back, got
    gc.collect()


def test_stream_error_reaches_sluice(sl):
    """A producer error comes through with its message."""
    schema = pa.schema([("x", pa.int64())])

    def gen():
        yield pa.record_batch([pa.array([1, 2])], schema=schema)
        raise ValueError("the producer broke")

    reader = pa.RecordBatchReader.from_batches(schema, gen())
    st = ArrowArrayStream()
    reader._export_to_c(addr(st))
    nb, nr = I64(), I64()
    err = ctypes.create_string_buffer(ERRCAP)
    rc = sl.lib.sl_testdata_consume_stream(addr(st), ctypes.byref(nb),
                                           ctypes.byref(nr), err, ERRCAP)
    assert rc != 0
    assert "the producer broke" in err.value.decode()
    assert nb.value == 1


# ---- bad input from pyarrow ---------------------------------------------


def bad_batches():
    offs = pa.array([0, 2, 1, 4], pa.int32()).buffers()[1]
    data = pa.py_buffer(b"abcd")
    yield ("non-monotonic offsets",
           pa.Array.from_buffers(pa.string(), 3, [None, offs, data]),
           "non-decreasing offsets")
    yield ("invalid utf-8",
           pa.array([b"ok", b"\xc3\x28"], pa.binary()).view(pa.string()),
           "invalid UTF-8")
    yield ("dictionary index out of range",
           pa.DictionaryArray.from_arrays(pa.array([0, 7], pa.int32()),
                                          pa.array(["a", "b"]), safe=False),
           "dictionary index 7")
    lo = pa.array([0, 3, 1], pa.int32()).buffers()[1]
    yield ("non-monotonic list offsets",
           pa.Array.from_buffers(pa.list_(pa.int64()), 2, [None, lo],
                                 children=[pa.array([1, 2, 3])]),
           "non-decreasing offsets")
    yield ("unsupported type", pa.array([1, 2], pa.int8()), "format 'c'")
    yield ("naive timestamp", pa.array([1, 2], pa.timestamp("ms")), "time zone")


@pytest.mark.parametrize("what,arr,needle", list(bad_batches()))
def test_bad_input_rejected(sl, what, arr, needle):
    inner = pa.StructArray.from_arrays([arr], names=["city"])
    rb = pa.RecordBatch.from_arrays([inner], names=["geo"])
    rc, msg = sl.roundtrip(rb)
    assert rc != 0, what
    assert needle in msg, msg
    assert "column 'geo' child 'city'" in msg, msg


def test_released_and_hand_built_arrays(sl):
    """Hand-built ArrowArrays: a missing release callback is refused without
    touching the struct; bad headers are refused and the producer's release
    still runs exactly once."""
    field = ArrowSchema()
    pa.field("x", pa.int64())._export_to_c(addr(field))
    err = ctypes.create_string_buffer(ERRCAP)
    try:
        data = (ctypes.c_int64 * 4)(1, 2, 3, 4)
        calls = []

        @ARRAY_RELEASE
        def release(p):
            calls.append(1)
            p.contents.release = None

        def make(length=4, offset=0, n_buffers=2, null_count=0, rel=True):
            bufs = (ctypes.c_void_p * 2)(None, ctypes.addressof(data))
            a = ArrowArray(length=length, null_count=null_count, offset=offset,
                           n_buffers=n_buffers, n_children=0,
                           buffers=ctypes.cast(bufs, ctypes.POINTER(ctypes.c_void_p)))
            a.release = ctypes.cast(release, ctypes.c_void_p).value if rel else None
            a._keep = bufs
            return a

        a = make(rel=False)
        rc = sl.lib.sl_testdata_import_array(addr(a), addr(field), err, ERRCAP)
        assert rc != 0 and b"released" in err.value

        cases = [(dict(length=-1), b"length >= 0"),
                 (dict(offset=-3), b"offset >= 0"),
                 (dict(n_buffers=3), b"2 buffers, found 3"),
                 (dict(null_count=2), b"no validity bitmap"),
                 (dict(null_count=9), b"null count")]
        for kw, needle in cases:
            calls.clear()
            a = make(**kw)
            rc = sl.lib.sl_testdata_import_array(addr(a), addr(field), err, ERRCAP)
            assert rc != 0, kw
            assert needle in err.value, (kw, err.value)
            assert b"column 'x'" in err.value
            assert calls == [1], "the producer's release must run exactly once"
            assert a.release is None

        calls.clear()
        a = make()
        rc = sl.lib.sl_testdata_import_array(addr(a), addr(field), err, ERRCAP)
        assert rc == 0, err.value
        assert calls == [1]
    finally:
        SCHEMA_RELEASE(field.release)(ctypes.byref(field))


def test_large_utf8_over_2gib(sl):
    """large_utf8 carries more than 2 GiB of characters (int64 offsets): a
    pyarrow column of 2.25 GiB crosses into sluice, is validated (UTF-8
    included) and comes back zero-copy."""
    import numpy as np
    n, each = 1200, 2 * 1024 * 1024  # 2.34 GiB in all
    chars = np.full(n * each, ord("a"), dtype=np.uint8)
    chars[-each:] = ord("z")
    offsets = np.arange(0, (n + 1) * each, each, dtype=np.int64)
    col = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))
    assert col.buffers()[2].size > 2**31
    rb = pa.RecordBatch.from_arrays([col], names=["big"])
    rc, got = sl.roundtrip(rb)
    assert rc == 0, got
    g = got.column(0)
    assert g.type == pa.large_string()
    assert g.buffers()[2].address == col.buffers()[2].address
    assert g[n - 1].as_py() == "z" * each
    assert g[0].as_py() == "a" * each
    del got, g, rb, col
    gc.collect()
