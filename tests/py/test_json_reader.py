"""The JSON Lines reader against independent oracles: pyarrow.json,
DuckDB read_json and Python's json module, on generated service logs (clean
and messy) and on a suite of valid and invalid edge cases."""
import gzip
import io
import json
import math
import os
import struct
import subprocess

import pytest

from jsonutil import ROOT, gen_logs

pa = pytest.importorskip("pyarrow")
pj = pytest.importorskip("pyarrow.json")
duckdb = pytest.importorskip("duckdb")

SCHEMA = ("ts: timestamp[ms], level: utf8, service: utf8, host: utf8, region: utf8, "
          "method: utf8, path: utf8, status: int64, bytes: int64, latency_ms: float64, "
          "user_id: utf8, trace_id: utf8, user_agent: utf8, "
          "geo: struct<country: utf8, city: utf8>, tags: list<utf8>, error: utf8")
PA_SCHEMA = pa.schema([
    ("ts", pa.timestamp("ms")), ("level", pa.string()), ("service", pa.string()),
    ("host", pa.string()), ("region", pa.string()), ("method", pa.string()),
    ("path", pa.string()), ("status", pa.int64()), ("bytes", pa.int64()),
    ("latency_ms", pa.float64()), ("user_id", pa.string()), ("trace_id", pa.string()),
    ("user_agent", pa.string()),
    ("geo", pa.struct([("country", pa.string()), ("city", pa.string())])),
    ("tags", pa.list_(pa.string())), ("error", pa.string())])
DUCK_COLS = ("{'ts': 'TIMESTAMP', 'level': 'VARCHAR', 'service': 'VARCHAR', 'host': 'VARCHAR', "
             "'region': 'VARCHAR', 'method': 'VARCHAR', 'path': 'VARCHAR', 'status': 'BIGINT', "
             "'bytes': 'BIGINT', 'latency_ms': 'DOUBLE', 'user_id': 'VARCHAR', "
             "'trace_id': 'VARCHAR', 'user_agent': 'VARCHAR', "
             "'geo': 'STRUCT(country VARCHAR, city VARCHAR)', 'tags': 'VARCHAR[]', "
             "'error': 'VARCHAR'}")


def naive(rows):
    """Drops tz info so sluice (UTC) and the oracles compare as plain UTC."""
    out = []
    for r in rows:
        r = dict(r)
        if r.get("ts") is not None and getattr(r["ts"], "tzinfo", None) is not None:
            r["ts"] = r["ts"].replace(tzinfo=None)
        out.append(r)
    return out


def assert_rows_equal(got, want, what):
    assert len(got) == len(want), what
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            diff = {k: (g.get(k), w.get(k)) for k in set(g) | set(w) if g.get(k) != w.get(k)}
            raise AssertionError("%s: row %d differs: %r" % (what, i, diff))
        lg, lw = g.get("latency_ms"), w.get("latency_ms")
        if isinstance(lg, float) and isinstance(lw, float):
            assert struct.pack("<d", lg) == struct.pack("<d", lw), (what, i, lg, lw)


def oracle_pyarrow(text):
    t = pj.read_json(io.BytesIO(text), parse_options=pj.ParseOptions(
        explicit_schema=PA_SCHEMA, unexpected_field_behavior="ignore"))
    return naive(t.to_pylist())


def oracle_duckdb(text, tmp_path):
    p = tmp_path / "oracle.jsonl"
    p.write_bytes(text)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    res = con.execute("SELECT * FROM read_json(?, format='newline_delimited', columns=%s)"
                      % DUCK_COLS, [str(p)])
    names = [d[0] for d in res.description]
    return naive([dict(zip(names, r)) for r in res.fetchall()])


@pytest.mark.parametrize("threads", [1, 2])
def test_clean_logs_match_pyarrow_and_duckdb(sj, tmp_path, threads):
    text, bad = gen_logs(6000, seed=7)
    data = text.encode()
    assert bad == []
    opts = {"schema": SCHEMA, "threads": threads, "chunk_bytes": 100000, "batch_rows": 1000}
    got = naive(sj.read(data, options=opts).to_pylist())
    assert_rows_equal(got, oracle_pyarrow(data), "pyarrow")
    assert_rows_equal(got, oracle_duckdb(data, tmp_path), "duckdb")
    # the same from a file, a gzip file, and with an inferred schema
    p = tmp_path / "logs.jsonl"
    p.write_bytes(data)
    assert naive(sj.read(path=str(p), options=opts).to_pylist()) == got
    g = tmp_path / "logs.jsonl.gz"
    g.write_bytes(gzip.compress(data))
    assert naive(sj.read(path=str(g), options=opts).to_pylist()) == got
    inferred = sj.read(data, options={"threads": threads})
    assert str(inferred.schema.field("ts").type).startswith("timestamp[ms")
    assert naive(inferred.select(PA_SCHEMA.names).to_pylist()) == got


def test_messy_logs_bad_lines_and_values(sj, tmp_path):
    text, bad = gen_logs(5000, seed=11, messy=True, bad_rate=0.03)
    data = text.encode()
    assert len(bad) > 50
    reported = []
    counters = {}
    opts = {"schema": SCHEMA, "bad_lines": "skip", "threads": 2, "chunk_bytes": 65536,
            "batch_rows": 700}
    got = naive(sj.read(data, options=opts, bad=reported, counters=counters).to_pylist())
    # exactly the malformed lines, with their text and byte offsets
    assert [r[0] for r in reported] == bad
    lines = text.split("\n")
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln.encode()) + 1)
    for line_no, off, line, reason in reported:
        assert line == lines[line_no - 1]
        assert off == offsets[line_no - 1]
        assert reason
    assert counters["bad_lines"] == len(bad)
    assert counters["rows"] == 5000 - len(bad)
    good = "".join(ln + "\n" for i, ln in enumerate(lines[:-1], 1) if i not in set(bad))
    assert_rows_equal(got, oracle_pyarrow(good.encode()), "pyarrow")
    assert_rows_equal(got, oracle_duckdb(good.encode(), tmp_path), "duckdb")
    # a projection sees the same bad lines (skipped keys are still validated)
    reported2 = []
    proj = sj.read(data, options={"projection": "status,geo.country,latency_ms,ts",
                                  "bad_lines": "skip"}, bad=reported2)
    assert [r[0] for r in reported2] == bad
    assert proj.column_names == ["status", "geo.country", "latency_ms", "ts"]
    assert proj.column("status").to_pylist() == [r["status"] for r in got]
    assert proj.column("geo.country").to_pylist() == [
        (r["geo"] or {}).get("country") for r in got]
    # FAIL names the first bad line and its byte offset
    with pytest.raises(ValueError) as e:
        sj.read(data, options={"schema": SCHEMA})
    assert "line %d (byte offset %d" % (bad[0], offsets[bad[0] - 1]) in str(e.value)


def test_sluice_gen_output_matches_pyarrow(sj, tmp_path):
    exe = os.path.join(ROOT, os.environ.get("SLUICE_BUILD", "build"), "sluice")
    if not os.path.exists(exe):
        pytest.skip("sluice binary not built")
    p = tmp_path / "gen.jsonl"
    r = subprocess.run([exe, "gen", "--rows", "3000", "--seed", "5", "--output", str(p)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("sluice gen failed: %s" % r.stderr[-200:])
    data = p.read_bytes()
    got = sj.read(data, options={"threads": 2})
    ref = pj.read_json(io.BytesIO(data))
    for name in ref.column_names:
        if name == "ts" or pa.types.is_timestamp(ref.schema.field(name).type):
            continue
        assert got.column(name).to_pylist() == ref.column(name).to_pylist(), name


# ---- edge cases against Python's json module -----------------------------

VALID = [
    '{"v": 0}', '{"v": -0}', '{"v": 1e3}', '{"v": -1.5E-3}', '{"v": 123456789012345678901234567890}',
    '{"v": 1e400}', '{"v": 5e-324}', '{"v": 0.1}', '{"v": 2.2250738585072011e-308}',
    '{"v": 9007199254740993}', '{"v": 1.7976931348623157e308}', '{"v": -0.0}',
    '{"v": 3.141592653589793238462643383279}', '{"v": null}', '{}',
]
VALID_STR = [
    '{"s": "plain"}', '{"s": ""}', '{"s": "\\u00e9\\u6771\\ud83d\\ude00"}',
    '{"s": "\\"\\\\\\/\\b\\f\\n\\r\\t"}', '{"s": "caf\u00e9 \u6771\u4eac \U0001F600"}',
    '{"s": "\\u0000"}', '{"s": "a\\u0041b"}', '{ "s" : "x" , "s": "last wins" }',
    '{"s": "' + "x" * 5000 + '"}', '{"\\u0073": "escaped key"}',
]
INVALID = [
    '{"v": 01}', '{"v": 1.}', '{"v": .5}', '{"v": +1}', '{"v": 1e}', '{"v": NaN}',
    '{"v": Infinity}', '{"v": tru}', '{"v": nul}', '{"v": "x}', '{"v": "\\ud800"}',
    '{"v": "\\udc00"}', '{"v": "\\ud800\\u0041"}', '{"v": "\\x41"}', '{"v": "a\x01b"}',
    '{"v": "a\tb"}', '{"v": 1,}', '{"v" 1}', '{v: 1}', "{'v': 1}", '{"v": 1}}', '[1]', '1',
    '"str"', 'null', '{"v": 1} {"v": 2}', '{"v": [1, 2}', '{"v": {"a": 1]}', '{"v"',
    '{"v": "\xff"}', '{"v": "\xc0\xaf"}', '{"v": "\xed\xa0\x80"}', '{,}', '{"v": 1 2}',
]


def _read_lines(sj, lines, schema, **extra):
    text = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    bad = []
    opts = {"schema": schema, "bad_lines": "skip", "threads": 1}
    opts.update(extra)
    t = sj.read(text, options=opts, bad=bad)
    return t, bad


def test_valid_numbers_match_python_json(sj):
    t, bad = _read_lines(sj, VALID, "v: float64")
    assert bad == []
    for line, got in zip(VALID, t.column("v").to_pylist()):
        # Python's float() of the number text is correctly rounded, like
        # strtod (json.loads would turn "-0" into the int 0)
        want = json.loads(line).get("v")
        want = None if want is None else float(line.split(":", 1)[1].strip(" }"))
        if want is None:
            assert got is None, line
        else:
            assert struct.pack("<d", got) == struct.pack("<d", want), (line, got, want)


def test_valid_strings_match_python_json(sj):
    t, bad = _read_lines(sj, VALID_STR, "s: utf8")
    assert bad == []
    assert t.column("s").to_pylist() == [json.loads(x)["s"] for x in VALID_STR]


def test_invalid_lines_are_exactly_the_bad_ones(sj):
    lines = []
    for i, b in enumerate(INVALID):
        lines.append('{"v": %d}' % i)
        lines.append(b.encode("latin-1").decode("utf-8", "surrogateescape")
                     if any(ord(c) > 0x7f for c in b) else b)
    t, bad = _read_lines(sj, lines, "v: float64")
    assert [b[0] for b in bad] == [2 * i + 2 for i in range(len(INVALID))], \
        [(b[0], b[3]) for b in bad]
    assert t.column("v").to_pylist() == [float(i) for i in range(len(INVALID))]


def test_deep_nesting_limit(sj):
    ok = '{"v": 1, "d": ' + "[" * 30 + "]" * 30 + "}"
    deep = '{"v": 2, "d": ' + "[" * 70 + "]" * 70 + "}"
    t, bad = _read_lines(sj, [ok, deep], "v: int64")
    assert t.column("v").to_pylist() == [1]
    assert len(bad) == 1 and "max_depth" in bad[0][3]
    t, bad = _read_lines(sj, [ok, deep], "v: int64", max_depth=200)
    assert t.column("v").to_pylist() == [1, 2]


def test_bom_crlf_empty_lines(sj):
    text = b'\xef\xbb\xbf{"v": 1}\r\n\r\n\n   \n{"v": 2}\r\n{"v": 3}'
    c = {}
    t = sj.read(text, options={"schema": "v: int64"}, counters=c)
    assert t.column("v").to_pylist() == [1, 2, 3]
    assert c["lines"] == 6


def test_missing_and_null_keys_and_types(sj):
    lines = ['{"a": 1, "b": {"c": [1, 2]}, "t": "2024-01-01T00:00:00+01:00"}',
             '{"b": null, "a": null, "t": 1700000000000}',
             '{"t": "2024-01-01 10:20:30.5"}']
    t, bad = _read_lines(sj, lines, "a: int64, b.c: list<int64>, t: timestamp[ms]")
    assert bad == []
    assert t.column("a").to_pylist() == [1, None, None]
    assert t.column("b.c").to_pylist() == [[1, 2], None, None]
    ts = [None if v is None else v.replace(tzinfo=None) for v in t.column("t").to_pylist()]
    import datetime as dt
    assert ts == [dt.datetime(2023, 12, 31, 23, 0), dt.datetime(2023, 11, 14, 22, 13, 20),
                  dt.datetime(2024, 1, 1, 10, 20, 30, 500000)]


def test_inferred_schema_rules(sj):
    data = (b'{"i": 1, "f": 1, "m": 1, "o": {"k": 1}, "a": [1]}\n'
            b'{"f": 2.5, "m": "x", "late": true, "o": {"j": "s"}}\n')
    s = sj.infer(data)
    assert s == ("i: int64, f: float64, m: utf8, o: struct<k: int64, j: utf8>, "
                 "a: list<int64>, late: bool")
    s = sj.infer(data, options={"nested": "flatten"})
    assert "o.k: int64" in s and "o.j: utf8" in s
    t = sj.read(data)
    assert t.column("m").to_pylist() == ["1", "x"]


def test_key_seen_late(sj, tmp_path):
    """The documented rule for a key first seen after the inference sample:
    without a projection it is not a column; a projection naming it makes it
    a utf8 column of its values' JSON text (null before it appears); a
    sample that covers it infers its type. Checked against Python's json."""
    lines = [{"a": i} for i in range(200)] + [{"a": 200, "late": 7},
                                              {"a": 201, "late": {"x": [1, "y"]}},
                                              {"a": 202}]
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in lines).encode()
    small = {"infer_sample_bytes": "1000"}  # the first ~100 lines
    t = sj.read(data, options=small)
    assert t.column_names == ["a"]
    assert t.column("a").to_pylist() == [r["a"] for r in lines]
    t = sj.read(data, options=dict(small, projection="a,late"))
    assert t.schema.field("late").type == pa.string()
    want = [None if "late" not in r else json.dumps(r["late"], separators=(",", ":"))
            for r in lines]
    assert t.column("late").to_pylist() == want
    path = tmp_path / "late.jsonl"
    path.write_bytes(data)
    t = sj.read(path=str(path), options={"infer_sample_bytes": str(len(data))})
    assert t.column_names == ["a", "late"]
    assert t.column("late").to_pylist()[200:] == ["7", '{"x":[1,"y"]}', None]


def test_first_line_longer_than_the_sample(sj, tmp_path):
    """When the first line alone is longer than infer_sample_bytes, the
    sample is that whole line (it used to be empty: no columns at all), for
    a buffer, a mapped file and a zstd stream; keys after the long value
    count. Checked against Python's json."""
    lines = [{"a": 1, "s": "x" * 5000, "z": 1.5}] + [{"a": i, "s": "y", "z": i / 2}
                                                   for i in range(2, 50)]
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in lines).encode()
    opts = {"infer_sample_bytes": "1000"}
    path = tmp_path / "long.jsonl"
    path.write_bytes(data)
    zst = tmp_path / "long.jsonl.zst"
    subprocess.run(["zstd", "-q", "-f", str(path), "-o", str(zst)], check=True)
    for t in (sj.read(data, options=opts), sj.read(path=str(path), options=opts),
              sj.read(path=str(zst), options=opts)):
        assert t.column_names == ["a", "s", "z"]
        assert t.schema.field("z").type == pa.float64()
        assert t.to_pylist() == lines


def test_options_are_strict(sj):
    with pytest.raises(ValueError, match="unknown key 'bogus'"):
        sj.read(b"{}\n", options={"bogus": "1"})
    with pytest.raises(ValueError, match="bad_lines"):
        sj.read(b"{}\n", options={"bad_lines": "maybe"})
    with pytest.raises(ValueError, match="unknown type"):
        sj.read(b"{}\n", options={"schema": "a: int65"})


def test_pipe_and_zstd_sources(sj, tmp_path):
    import threading
    text, _ = gen_logs(3000, seed=3)
    data = text.encode()
    want = sj.read(data, options={"schema": SCHEMA}).to_pylist()
    fifo = tmp_path / "logs.fifo"
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "wb") as f:
            for i in range(0, len(data), 4097):
                f.write(data[i:i + 4097])
    th = threading.Thread(target=writer)
    th.start()
    got = sj.read(path=str(fifo), options={"schema": SCHEMA, "chunk_bytes": 50000})
    th.join()
    assert got.to_pylist() == want
    zstd = subprocess.run(["which", "zstd"], capture_output=True, text=True).stdout.strip()
    if zstd:
        p = tmp_path / "logs.jsonl"
        p.write_bytes(data)
        subprocess.run([zstd, "-q", "-f", str(p), "-o", str(p) + ".zst"], check=True)
        assert sj.read(path=str(p) + ".zst", options={"schema": SCHEMA}).to_pylist() == want
        # a cut-off frame is an error, not a silent short read
        z = (tmp_path / "logs.jsonl.zst").read_bytes()
        (tmp_path / "cut.jsonl.zst").write_bytes(z[:len(z) // 2])
        with pytest.raises(ValueError, match="truncated|corrupt"):
            sj.read(path=str(tmp_path / "cut.jsonl.zst"), options={"schema": SCHEMA,
                                                                    "bad_lines": "skip"})


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_bad_lines_from_files_across_windows(sj, tmp_path, suffix):
    text, bad = gen_logs(3000, seed=23, messy=True, bad_rate=0.05)
    data = text.encode()
    p = tmp_path / ("messy.jsonl" + suffix)
    p.write_bytes(gzip.compress(data) if suffix else data)
    reported = []
    t = sj.read(path=str(p), options={"schema": SCHEMA, "bad_lines": "skip", "threads": 2,
                                      "chunk_bytes": 30000, "batch_rows": 500},
                bad=reported)
    assert [r[0] for r in reported] == bad
    lines = text.split("\n")
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln.encode()) + 1)
    assert [r[1] for r in reported] == [offsets[n - 1] for n in bad]
    assert t.num_rows == 3000 - len(bad)
    with pytest.raises(ValueError) as e:
        sj.read(path=str(p), options={"schema": SCHEMA, "chunk_bytes": 30000})
    assert "line %d (byte offset %d" % (bad[0], offsets[bad[0] - 1]) in str(e.value)
