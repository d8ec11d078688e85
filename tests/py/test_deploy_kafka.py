"""`sluice deploy` asks a real Kafka broker (scripts/kafka.sh, on its own
port and folder) how many partitions the trigger's topics have and caps the
replicas there, without creating topics that do not exist."""
import os
import shutil
import subprocess
import uuid

import pytest
import yaml

from deployutil import ROOT, deploy, objects, spec_path

KAFKA_SH = os.path.join(ROOT, "scripts", "kafka.sh")
PORT = 19492


def kafka(env, *args, timeout=120):
    r = subprocess.run([KAFKA_SH, *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.skip("Java is not installed")
    env = dict(os.environ, SLUICE_KAFKA_PORT=str(PORT),
               SLUICE_KAFKA_CONTROLLER_PORT=str(PORT + 1),
               SLUICE_KAFKA_DIR=str(tmp_path_factory.mktemp("kafka")))
    kafka(env, "start", timeout=600)
    try:
        yield env
    finally:
        kafka(env, "stop")


def topics(env):
    out = kafka(env, "tool", "org.apache.kafka.tools.TopicCommand",
                "--bootstrap-server", f"127.0.0.1:{PORT}", "--list").stdout
    return set(out.split())


def spec_for(tmp_path, names):
    spec = yaml.safe_load(open(spec_path("kafka_gpu")))
    attrs = spec["spec"]["triggers"]["logs"]["attributes"]
    attrs["brokers"] = [f"127.0.0.1:{PORT}"]
    attrs["topics"] = names
    p = tmp_path / "fn.yaml"
    p.write_text(yaml.safe_dump(spec))
    return str(p)


def test_replicas_capped_at_the_brokers_partition_count(broker, tmp_path):
    a, b = f"dep_a_{uuid.uuid4().hex[:8]}", f"dep_b_{uuid.uuid4().hex[:8]}"
    for name, parts in ((a, 5), (b, 3)):
        kafka(broker, "tool", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
              f"127.0.0.1:{PORT}", "--create", "--topic", name, "--partitions", str(parts))
    r = deploy(tmp_path / "o", spec_for(tmp_path, [a, b]))
    # one consumer can own a partition of either topic: 5 + 3 = 8 < maxReplicas 12
    assert "Kafka partitions: 8 (asked of the brokers)" in r.stdout
    so = objects(tmp_path / "o")["ScaledObject"]["spec"]
    assert so["maxReplicaCount"] == 8
    assert [t["metadata"]["topic"] for t in so["triggers"] if t["type"] == "kafka"] == [a, b]
    # --partitions wins over the brokers
    deploy(tmp_path / "p", spec_for(tmp_path, [a, b]), "--partitions", "2")
    assert objects(tmp_path / "p")["ScaledObject"]["spec"]["maxReplicaCount"] == 2


def test_unknown_topic_is_reported_not_created(broker, tmp_path):
    missing = f"dep_missing_{uuid.uuid4().hex[:8]}"
    r = deploy(tmp_path / "o", spec_for(tmp_path, [missing]))
    assert "partition count is not known" in r.stdout and missing in r.stdout
    assert objects(tmp_path / "o")["ScaledObject"]["spec"]["maxReplicaCount"] == 12
    assert missing not in topics(broker)
