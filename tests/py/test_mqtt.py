"""The mqtt trigger against a real mosquitto broker (Debian package), started by
scripts/mosquitto.sh on a private port.

- QoS 1: N messages (some holding several records) on topics matched by
  wildcards in, exactly N records out in Parquet, every message acknowledged.
- QoS 0: the same, without acknowledgements.
- QoS 1 with a persistent session: sluice killed (SIGKILL) mid-stream while a
  publisher runs, then restarted with the same client id: every record is in
  the output (duplicates allowed: at least once). The broker only redelivers
  messages whose PUBACK it never got, so this also proves that PUBACKs are
  held until the records are durable.
- Spec errors name the file, line and column.
"""
import subprocess
import time
import uuid

import pytest

from brokers import SLUICE, Broker, Function, expected_bytes, publish, publish_bg, rows, seqs


@pytest.fixture(scope="module")
def mqtt(tmp_path_factory):
    b = Broker("mosquitto.sh", "MQTT", tmp_path_factory.mktemp("mqtt-run"))
    b.run("start")
    b.url = f"tcp://127.0.0.1:{b.port}"
    yield b
    b.run("stop", check=False)


def attrs(mqtt, topics, qos, extra=""):
    return f'{{url: "{mqtt.url}", topics: {topics}, qos: {qos}{extra}}}'


@pytest.mark.parametrize("qos", [1, 0])
def test_n_messages_in_exactly_n_records_out(mqtt, tmp_path, qos):
    tag = uuid.uuid4().hex[:8]
    f = Function(tmp_path, f"mq{qos}", "mqtt",
                 attrs(mqtt, f'["{tag}/logs/#", "{tag}/+/metrics"]', qos))
    f.start()
    try:
        time.sleep(0.3)  # the subscription is sent right after CONNACK
        q = ["--qos", str(qos)]
        publish("mqtt", mqtt.url, f"{tag}/logs/web", 20000, 0, 1, q)
        publish("mqtt", mqtt.url, f"{tag}/logs/api/v1", 30000, 20000, 5, q)  # 6000 msgs
        publish("mqtt", mqtt.url, f"{tag}/eu/metrics", 1000, 50000, 1, q)
        publish("mqtt", mqtt.url, f"{tag}/eu/other", 1000, 60000, 1, q)  # not matched
        f.wait_metric("sluice_events_total", 51000)
        if qos:
            f.wait_metric("sluice_acks_total", 27000)
    finally:
        f.stop()
    assert rows(f.out) == (51000, 51000, expected_bytes(0, 51000))


def test_qos1_metrics(mqtt, tmp_path):
    tag = uuid.uuid4().hex[:8]
    f = Function(tmp_path, "mqm", "mqtt", attrs(mqtt, f'["{tag}/#"]', 1))
    f.start()
    try:
        time.sleep(0.3)
        publish("mqtt", mqtt.url, f"{tag}/a", 5000, 0, 2, ["--qos", "1"])  # 2500 msgs
        f.wait_metric("sluice_acks_total", 2500)
        m = f.metrics()
    finally:
        f.stop()
    assert m["sluice_messages_total"] == 2500
    assert m["sluice_events_total"] == 5000
    assert m["sluice_ack_seconds_count"] == 2500
    assert m["sluice_redeliveries_total"] == 0
    assert rows(f.out) == (5000, 5000, expected_bytes(0, 5000))


def test_qos1_kill_and_restart_mid_stream_loses_nothing(mqtt, tmp_path):
    tag = uuid.uuid4().hex[:8]
    n = 60000
    f = Function(tmp_path, "mqk", "mqtt",
                 attrs(mqtt, f'["{tag}/#"]', 1, f', clientId: "k{tag}", ackInterval: 50ms'),
                 roll="200ms")
    f.start()
    time.sleep(0.3)
    pub = publish_bg("mqtt", mqtt.url, f"{tag}/x", n, 0, 1, ["--qos", "1"])
    try:
        f.wait_metric("sluice_acks_total", 2000)
        time.sleep(0.1)  # away from the moment an ack cycle completed
        f.kill()
        killed = rows(f.out)[1]
        time.sleep(0.5)  # the broker queues for the session while sluice is down
        f.start()
        assert pub.wait(120) == 0, pub.stderr.read()
        end = time.time() + 60
        while time.time() < end and len(seqs(f.out)) < n:
            time.sleep(0.2)
    finally:
        if pub.poll() is None:
            pub.kill()
        f.stop()
    got = seqs(f.out)
    assert killed < n  # the kill really happened mid-stream
    assert set(range(n)) == got, f"lost {len(set(range(n)) - got)} records"
    count, distinct, total = rows(f.out)
    assert total == expected_bytes(0, n)
    print(f"mqtt kill/restart: {killed} records durable before the kill, "
          f"{count - distinct} duplicates")


def test_spec_errors_name_the_place(tmp_path):
    spec = tmp_path / "f.yaml"
    spec.write_text("""metadata: {name: x}
spec:
  runtime: passthrough
  triggers:
    m:
      kind: mqtt
      attributes: {topics: ["a/#/b"]}
""")
    r = subprocess.run([SLUICE, "check", str(spec)], capture_output=True, text=True)
    assert r.returncode == 1
    assert ("f.yaml:5:5: spec.triggers.m.attributes.topics[0]: expected a topic filter "
            "('#' only as the last level), found 'a/#/b'") in r.stderr, r.stderr
    spec.write_text("""metadata: {name: x}
spec:
  runtime: passthrough
  triggers:
    m:
      kind: mqtt
      attributes: {topics: ["a/#"], qos: 2}
""")
    r = subprocess.run([SLUICE, "check", str(spec)], capture_output=True, text=True)
    assert r.returncode == 1 and "f.yaml:7:" in r.stderr and "qos" in r.stderr, r.stderr
