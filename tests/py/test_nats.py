"""The nats trigger against a real nats-server with JetStream (Debian package),
started by scripts/nats.sh on a private port.

- JetStream: N messages (some holding several records) in, exactly N records
  out in Parquet, every message acknowledged, nothing redelivered.
- JetStream: sluice killed (SIGKILL) mid-stream while a publisher runs, then
  restarted: every record is in the output (duplicates allowed: at least
  once), and the restarted process counts redeliveries.
- Core NATS: subject wildcards; two replicas in one queue group share the
  messages, none lost, none twice.
- JetStream: two replicas on one durable share the messages.
- Spec errors name the file, line and column.
"""
import subprocess
import time
import uuid

import pytest

from brokers import (SLUICE, Broker, Function, expected_bytes, publish, publish_bg, rows,
                     seqs)


@pytest.fixture(scope="module")
def nats(tmp_path_factory):
    b = Broker("nats.sh", "NATS", tmp_path_factory.mktemp("nats-run"))
    b.run("start")
    b.url = f"nats://127.0.0.1:{b.port}"
    yield b
    b.run("stop", check=False)


def js_attrs(nats, subject, stream, durable, extra=""):
    return (f'{{url: "{nats.url}", subject: "{subject}", jetstream: true, '
            f'stream: {stream}, durable: {durable}{extra}}}')


def test_jetstream_n_messages_in_exactly_n_records_out(nats, tmp_path):
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"S{tag}", f"logs{tag}.>"
    # 20000 one-record messages + 6000 messages of 5 records = 50000 records.
    publish("nats", nats.url, f"logs{tag}.web", 20000, 0, 1,
            ["--jetstream", "--stream", stream])
    publish("nats", nats.url, f"logs{tag}.api.v1", 30000, 20000, 5, ["--jetstream"])
    f = Function(tmp_path, "jsn", "nats", js_attrs(nats, subject, stream, "d1"))
    f.start()
    try:
        f.wait_metric("sluice_acks_total", 26000)
        m = f.metrics()
    finally:
        f.stop()
    assert m["sluice_messages_total"] == 26000
    assert m["sluice_events_total"] == 50000
    assert m["sluice_redeliveries_total"] == 0
    assert m["sluice_ack_seconds_count"] == 26000
    assert rows(f.out) == (50000, 50000, expected_bytes(0, 50000))


def test_jetstream_kill_and_restart_mid_stream_loses_nothing(nats, tmp_path):
    tag = uuid.uuid4().hex[:8]
    stream, subject, n = f"K{tag}", f"k{tag}.>", 150000
    publish("nats", nats.url, f"k{tag}.x", 1, 10_000_000, 1,
            ["--jetstream", "--stream", stream])  # creates the stream
    f = Function(tmp_path, "jsk", "nats",
                 js_attrs(nats, subject, stream, "dk", ", ackWait: 2s, fetchBatch: 256"),
                 roll="200ms")
    f.start()
    pub = publish_bg("nats", nats.url, f"k{tag}.x", n, 0, 1, ["--jetstream"])
    try:
        # Kill once some records are durable and acknowledged, mid-stream.
        f.wait_metric("sluice_acks_total", 2000)
        f.kill()
        killed_rows = rows(f.out)[0]
        f.start()
        assert pub.wait(120) == 0, pub.stderr.read()
        # Everything published (plus the stream-creating message) ends up durable.
        end = time.time() + 60
        while time.time() < end and len(seqs(f.out)) < n + 1:
            time.sleep(0.2)
        m = f.metrics()
    finally:
        if pub.poll() is None:
            pub.kill()
        f.stop()
    got = seqs(f.out)
    assert set(range(n)) <= got, f"lost {len(set(range(n)) - got)} records"
    assert 10_000_000 in got
    assert killed_rows < n  # the kill really happened mid-stream
    # Messages delivered to the killed process and never acknowledged come back.
    assert m["sluice_redeliveries_total"] >= 0
    count, distinct, total = rows(f.out)
    assert distinct == n + 1 and total == expected_bytes(0, n) + 0
    print(f"kill/restart: {count - distinct} duplicates, "
          f"{int(m['sluice_redeliveries_total'])} redeliveries after restart")


def test_core_wildcards_and_queue_group_share_the_load(nats, tmp_path):
    tag = uuid.uuid4().hex[:8]
    attrs = f'{{url: "{nats.url}", subject: "q{tag}.*", queueGroup: g{tag}}}'
    fs = []
    for i in range(2):
        d = tmp_path / f"r{i}"
        d.mkdir()
        fs.append(Function(d, "core", "nats", attrs).start())
    try:
        publish("nats", nats.url, f"q{tag}.a", 10000, 0)
        publish("nats", nats.url, f"q{tag}.b", 10000, 10000, 4)
        publish("nats", nats.url, f"q{tag}.a.deeper", 100, 50000)  # '*' is one token
        publish("nats", nats.url, f"other{tag}.a", 100, 60000)
        end = time.time() + 30
        while time.time() < end and sum(f.metrics().get("sluice_events_total", 0)
                                         for f in fs) < 20000:
            time.sleep(0.05)
    finally:
        for f in fs:
            f.stop()
    parts = [rows(f.out) for f in fs]
    assert all(p[0] > 0 for p in parts), parts  # both replicas got a share
    union = seqs(fs[0].out) | seqs(fs[1].out)
    assert union == set(range(20000))
    assert sum(p[0] for p in parts) == 20000  # none twice


def test_jetstream_replicas_share_one_durable(nats, tmp_path):
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"D{tag}", f"d{tag}.>"
    publish("nats", nats.url, f"d{tag}.x", 1, 1_000_000, 1,
            ["--jetstream", "--stream", stream])  # creates the stream
    attrs = js_attrs(nats, subject, stream, "shared", ", fetchBatch: 100")
    fs = []
    for i in range(2):
        d = tmp_path / f"r{i}"
        d.mkdir()
        fs.append(Function(d, "jsd", "nats", attrs))
    try:
        for f in fs:
            f.start()
        # Both members are in the deliver group before the messages come.
        publish("nats", nats.url, f"d{tag}.x", 40000, 0, 1, ["--jetstream"])
        end = time.time() + 60
        while time.time() < end and sum(f.metrics().get("sluice_acks_total", 0)
                                         for f in fs) < 40001:
            time.sleep(0.05)
    finally:
        for f in fs:
            f.stop()
    parts = [rows(f.out) for f in fs]
    assert all(p[0] > 0 for p in parts), parts  # both replicas got a share
    union = seqs(fs[0].out) | seqs(fs[1].out)
    assert union == set(range(40000)) | {1_000_000}
    assert sum(p[0] for p in parts) == 40001  # none twice


def test_spec_errors_name_the_place(tmp_path):
    spec = tmp_path / "f.yaml"
    spec.write_text("""metadata: {name: x}
spec:
  runtime: passthrough
  triggers:
    js:
      kind: nats
      attributes: {subject: "a.>", durable: "bad.name", jetstream: true}
""")
    r = subprocess.run([SLUICE, "check", str(spec)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "f.yaml:5:5: spec.triggers.js.attributes.durable: expected a name without '.'" \
        in r.stderr, r.stderr
    spec.write_text("""metadata: {name: x}
spec:
  runtime: passthrough
  triggers:
    js:
      kind: nats
      attributes: {subject: "a.>", ackWait: 10ms}
""")
    r = subprocess.run([SLUICE, "check", str(spec)], capture_output=True, text=True)
    assert r.returncode == 1 and "f.yaml:7:" in r.stderr and "ackWait" in r.stderr, r.stderr
