"""`sluice query ... FROM stdin` streams: an aggregate over a pipe runs in
bounded memory (peak RSS far below the input size) and matches DuckDB over
the same file; bad lines far into stdin report the line number and byte
offset counted from the start of stdin; records straddle the reader's chunk
boundaries; empty stdin, blank lines and a byte order mark."""
import json
import os
import shutil
import subprocess

import duckdb
import pytest

from sql_oracle import LOG_COLUMNS, compare, duck_columns, sluice_bin

# How source.c cuts stdin: the schema prefix (the 1 MiB inference sample plus
# one byte), then reads of 8 MiB. The tests put records across these cuts.
PREFIX = (1 << 20) + 1
CHUNK = 8 << 20


def run_piped(path, sql, *extra):
    """Runs `cat path | sluice query ... sql` (a real pipe on fd 0); returns
    (rows, stderr, returncode)."""
    cat = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
    p = subprocess.Popen([sluice_bin(), "query", "--no-progress", "--format", "jsonl", *extra, sql],
                         stdin=cat.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cat.stdout.close()
    out, errb = p.communicate(timeout=300)
    cat.wait()
    rows = [[v for _, v in json.loads(line, object_pairs_hook=list)]
            for line in out.decode().splitlines() if line.strip()]
    return rows, errb.decode(), p.returncode


def run_piped_rss(path, sql, tmp_path):
    """Like run_piped, and returns the peak RSS (bytes) of the sluice process
    through /usr/bin/time: a child of this (large) Python process inherits
    its high-water mark at fork, so wait4() here would overstate."""
    timer = shutil.which("time") or "/usr/bin/time"
    # ASan keeps freed blocks in a quarantine (up to 256 MB): keep it small
    # so the RSS measures sluice.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "") + "quarantine_size_mb=8")
    rss_file = tmp_path / "rss.txt"
    cat = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
    p = subprocess.Popen([timer, "-f", "%M", "-o", str(rss_file), sluice_bin(), "query",
                          "--no-progress", "--format", "jsonl", sql],
                         stdin=cat.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    cat.stdout.close()
    out, errb = p.communicate(timeout=300)
    cat.wait()
    assert p.returncode == 0, errb.decode()
    rows = [[v for _, v in json.loads(line, object_pairs_hook=list)]
            for line in out.decode().splitlines() if line.strip()]
    return rows, int(rss_file.read_text().strip().splitlines()[-1]) * 1024


def duck_logs(path, sql):
    src = f"read_json('{path}', columns = {duck_columns(LOG_COLUMNS)})"
    return duckdb.sql(sql.format(src=src)).fetchall()


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("stdin_big")
    f = d / "big.jsonl"
    subprocess.run([sluice_bin(), "gen", "--bytes", "300M", "--seed", "5", "--output", str(f)],
                   check=True)
    yield f
    f.unlink()


def test_aggregate_over_a_pipe_in_bounded_memory(big, tmp_path):
    size = big.stat().st_size
    assert size >= 300_000_000
    sql = ("SELECT service, count(*), sum(bytes), min(ts), max(latency_ms), avg(status) "
           "FROM {src} GROUP BY service ORDER BY service")
    got, rss = run_piped_rss(big, sql.format(src="stdin"), tmp_path)
    compare(got, duck_logs(big, sql), True, sql)
    # The whole input held in memory would be >= 300 MB; streaming keeps the
    # prefix, one read chunk, its parsed batches and the groups.
    assert rss < 150_000_000, f"peak RSS {rss} bytes for {size} bytes of stdin"


def test_file_on_fd0_streams_too(big):
    # stdin redirected from a regular file (not a pipe) takes the same path
    sql = "SELECT level, count(*), sum(bytes) FROM {src} GROUP BY level ORDER BY level"
    with open(big, "rb") as fh:
        p = subprocess.run([sluice_bin(), "query", "--no-progress", "--format", "jsonl",
                            sql.format(src="stdin")], stdin=fh, capture_output=True, check=True)
    got = [[v for _, v in json.loads(l, object_pairs_hook=list)]
           for l in p.stdout.decode().splitlines() if l.strip()]
    compare(got, duck_logs(big, sql), True, sql)


def line_at(lines, offset):
    """Index of the line that holds byte `offset` (lines keep their '\\n')."""
    pos = 0
    for i, ln in enumerate(lines):
        if pos + len(ln) > offset:
            return i, pos
        pos += len(ln)
    raise AssertionError("offset past the end")


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """30 MB of logs with one invalid line that straddles the second read
    chunk's end (far past the prefix and the first chunk) and one bad line in
    the prefix, plus the same data without them."""
    d = tmp_path_factory.mktemp("stdin_bad")
    src = d / "src.jsonl"
    subprocess.run([sluice_bin(), "gen", "--bytes", "30M", "--seed", "9", "--output", str(src)],
                   check=True)
    lines = src.read_bytes().splitlines(keepends=True)
    # same lengths as before, so offsets are those of the generated file
    far, start = line_at(lines, PREFIX + 2 * CHUNK)
    assert start < PREFIX + 2 * CHUNK  # the bad line straddles the cut
    lines[far] = b"x" + lines[far][1:]
    lines[5] = b"[" + lines[5][1:]
    data = b"".join(lines)
    f = d / "bad.jsonl"
    f.write_bytes(data)
    good = d / "good.jsonl"
    good.write_bytes(b"".join(ln for i, ln in enumerate(lines) if i not in (5, far)))
    return f, good, lines, [5, far]


def test_bad_line_far_into_stdin_reports_line_and_offset(bad):
    f, good, lines, bad_idx = bad
    # a copy with the prefix's bad line blanked (same length) to reach the far one
    fixed = f.parent / "far_only.jsonl"
    fixed.write_bytes(b"".join(b" " * (len(ln) - 1) + b"\n" if i == bad_idx[0] else ln
                               for i, ln in enumerate(lines)))
    sql = "SELECT count(*), sum(bytes) FROM {src}"
    for path, idx in ((f, bad_idx[0]), (fixed, bad_idx[1])):
        off = sum(len(ln) for ln in lines[:idx])
        want = f"JSON line {idx + 1} (byte offset {off},"
        _, err, rc = run_piped(path, sql.format(src="stdin"))
        assert rc != 0 and want in err, err
        # the same as the same query on the file
        p = subprocess.run([sluice_bin(), "query", "--no-progress", sql.format(src=f"'{path}'")],
                           capture_output=True)
        assert p.returncode != 0 and want in p.stderr.decode(), p.stderr.decode()


def test_skip_bad_lines_on_stdin(bad, tmp_path):
    f, good, _, _ = bad
    sql = "SELECT service, count(*), sum(bytes) FROM {src} GROUP BY service ORDER BY service"
    got, err, rc = run_piped(f, sql.format(src="stdin"), "--skip-bad-lines")
    assert rc == 0, err
    compare(got, duck_logs(good, sql), True, sql)
    out = tmp_path / "o.csv"
    _, err, rc = run_piped(f, sql.format(src="stdin"), "--skip-bad-lines", "--output", str(out))
    assert rc == 0, err
    assert "(2 bad lines skipped)" in err, err


def test_records_straddle_chunk_boundaries(tmp_path):
    # Lines longer than a read chunk (up to max_line_bytes), and short lines
    # cut by the prefix and by each chunk's end.
    rows = []
    rows.append({"id": 0, "s": "a" * 100})
    rows.append({"id": 1, "s": "b" * (CHUNK * 2 + 12345)})  # spans 3 chunks
    i = 2
    size = sum(len(json.dumps(r)) + 1 for r in rows)
    while size < PREFIX + 4 * CHUNK:
        r = {"id": i, "s": "c" * (i % 997)}
        rows.append(r)
        size += len(json.dumps(r)) + 1
        i += 1
    rows.append({"id": i, "s": "d" * (3 << 20)})
    f = tmp_path / "long.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in rows)
    f.write_text(text)
    # some line really straddles each cut
    starts, pos = set(), 0
    for r in rows:
        starts.add(pos)
        pos += len(json.dumps(r)) + 1
    for cut in [PREFIX + k * CHUNK for k in range(4)]:
        assert cut not in starts
    sql = "SELECT count(*), sum(id), sum(length(s)), max(length(s)), min(s) FROM {src}"
    got, err, rc = run_piped(f, sql.format(src="stdin"))
    assert rc == 0, err
    want = duckdb.sql(sql.format(
        src=f"read_json('{f}', columns = {{'id': 'BIGINT', 's': 'VARCHAR'}}, "
            f"maximum_object_size = 100000000)")).fetchall()
    compare(got, want, False, sql)


def test_empty_stdin_blank_lines_and_bom(tmp_path):
    def q(data, sql):
        p = subprocess.run([sluice_bin(), "query", "--no-progress", "--format", "jsonl", sql],
                           input=data, capture_output=True)
        assert p.returncode == 0, p.stderr.decode()
        return [[v for _, v in json.loads(l, object_pairs_hook=list)]
                for l in p.stdout.decode().splitlines() if l.strip()]

    assert q(b"", "SELECT count(*) FROM stdin") == [[0]]
    assert q(b"\n\n  \r\n\n", "SELECT count(*) FROM stdin") == [[0]]
    assert q(b"\xef\xbb\xbf", "SELECT count(*) FROM stdin") == [[0]]
    body = "".join(json.dumps({"a": i, "b": f"x{i}"}) + "\n" for i in range(100000))
    data = b"\xef\xbb\xbf" + body.encode()
    assert len(data) > PREFIX  # the rows go past the prefix
    assert q(data, "SELECT count(*), sum(a), max(b) FROM stdin") == [
        [100000, sum(range(100000)), max(f"x{i}" for i in range(100000))]]
    # a BOM anywhere but the start is a bad line, as in a file
    p = subprocess.run([sluice_bin(), "query", "--no-progress", "SELECT count(*) FROM stdin"],
                       input=b'{"a": 1}\n\xef\xbb\xbf{"a": 2}\n', capture_output=True)
    assert p.returncode != 0 and "JSON line 2 (byte offset 9," in p.stderr.decode()


def test_first_line_longer_than_the_sample(tmp_path):
    """A first line longer than the 1 MiB inference sample: the schema is
    learnt from that whole line (it used to be learnt from nothing, and every
    column was unknown), through stdin and from the file, plain and zstd; a
    key placed after the long string is a column too. DuckDB is the oracle."""
    path = tmp_path / "long.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps({"a": 1, "s": "x" * (2 << 20), "z": 10}) + "\n")
        for i in range(2, 7):
            f.write(json.dumps({"a": i, "s": "y" * i, "z": 10 * i}) + "\n")
    sql = "SELECT count(*) AS n, sum(a) AS a, sum(z) AS z, max(length(s)) AS m FROM %s"
    duck = duckdb.sql(sql % ("read_json('%s', format='newline_delimited', "
                             "maximum_object_size=10000000)" % path)).fetchall()
    want = [list(r) for r in duck]
    assert want == [[6, 21, 210, 2 << 20]]
    rows, err, rc = run_piped(path, sql % "stdin")
    assert rc == 0, err
    assert rows == want
    zst = tmp_path / "long.jsonl.zst"
    subprocess.run(["zstd", "-q", "-f", str(path), "-o", str(zst)], check=True)
    for src in (path, zst):
        p = subprocess.run([sluice_bin(), "query", "--no-progress", "--format", "jsonl",
                            sql % ("'%s'" % src)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        got = [[v for _, v in json.loads(line, object_pairs_hook=list)]
               for line in p.stdout.splitlines() if line.strip()]
        assert got == want, src
