"""scripts/kafka.sh runs a real single-node Kafka 4.x (KRaft) broker.

Starts it on its own port and data folder (so it does not clash with a broker
started by CI), round-trips 1000 distinct messages through a fresh topic with
the Kafka console tools, then stops it.
"""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "scripts" / "kafka.sh"
PORT = 19192
BOOTSTRAP = f"127.0.0.1:{PORT}"
N = 1000


def kafka(env, *args, input=None, timeout=120, check=True):
    proc = subprocess.run(
        [str(KAFKA_SH), *args],
        cwd=ROOT,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"kafka.sh {' '.join(args[:2])} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


@pytest.mark.skipif(shutil.which("java") is None, reason="Java is not installed")
def test_kafka_broker_round_trip(tmp_path):
    env = dict(os.environ)
    env["SLUICE_KAFKA_PORT"] = str(PORT)
    env["SLUICE_KAFKA_CONTROLLER_PORT"] = str(PORT + 1)
    env["SLUICE_KAFKA_DIR"] = str(tmp_path / "kafka")

    topic = f"sluice_test_{uuid.uuid4().hex[:12]}"
    sent = [f"msg-{i:04d}-{uuid.uuid4().hex}" for i in range(N)]

    # Generous timeout: the first run may download the jars from Maven Central.
    started = kafka(env, "start", timeout=600)
    try:
        assert "started" in started.stdout or "already running" in started.stdout
        assert kafka(env, "status").returncode == 0

        kafka(
            env, "tool", "org.apache.kafka.tools.ConsoleProducer",
            "--bootstrap-server", BOOTSTRAP, "--topic", topic,
            input="\n".join(sent) + "\n",
        )

        consumed = kafka(
            env, "tool", "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server", BOOTSTRAP, "--topic", topic,
            "--from-beginning", "--max-messages", str(N), "--timeout-ms", "30000",
            check=False,
        )
        got = consumed.stdout.splitlines()
        assert len(got) == N, (
            f"consumed {len(got)} of {N} messages; stderr:\n{consumed.stderr[-4000:]}"
        )
        # One partition, so the order is kept too.
        assert got == sent

        # Nothing more than those N messages is in the topic.
        offsets = kafka(
            env, "tool", "org.apache.kafka.tools.GetOffsetShell",
            "--bootstrap-server", BOOTSTRAP, "--topic", topic,
        )
        assert offsets.stdout.split() == [f"{topic}:0:{N}"]
    finally:
        stopped = kafka(env, "stop", check=False)

    assert stopped.returncode == 0, stopped.stderr
    status = kafka(env, "status", check=False)
    assert status.returncode == 1
    assert "not running" in status.stdout
    # stop is a no-op once stopped
    assert kafka(env, "stop", check=False).returncode == 0
