#!/usr/bin/env python3
"""Throughput of the nats and mqtt triggers against consume-only baselines on
the same local servers (nats-server with JetStream, mosquitto; Debian
packages, started by scripts/nats.sh and scripts/mosquitto.sh on private
ports).

Each case drains a backlog of N generated log records (one JSON record of
~120 bytes per message) that the server already holds:

- JetStream: a stream of N messages. Baseline: `sluice consume nats
  --jetstream` (a plain libnats pull subscriber that acks every message and
  does nothing else). sluice: a function with the nats trigger (durable pull
  consumer) -> passthrough -> zstd Parquet; every message is acknowledged only
  after its Parquet file is published.
- MQTT QoS 1: N messages queued by mosquitto for a persistent session.
  Baseline: `mosquitto_sub -c -q 1 -C N > /dev/null`. sluice: the mqtt trigger
  -> zstd Parquet, PUBACKs held until the records are durable.

sluice's time runs from the process start (spec load, connect and Parquet
writing included) to the moment the last message is acknowledged; the
baselines' from their start to their exit. Prints a table and ratios.

usage: bench/nats_mqtt_bench.py [--nats-n 500000] [--mqtt-n 200000]
       [--build build] [--runs 1]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "py"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nats-n", type=int, default=500000)
    ap.add_argument("--mqtt-n", type=int, default=200000)
    ap.add_argument("--build", default=os.environ.get("SLUICE_BUILD", str(ROOT / "build")))
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    os.environ["SLUICE_BUILD"] = str(Path(args.build).resolve())
    import brokers  # after SLUICE_BUILD is set
    from brokers import SLUICE, Broker, Function, publish, rows

    results = []
    tmp = Path(tempfile.mkdtemp(prefix="sluice-nm-bench-"))

    # ---------------- NATS JetStream ----------------
    nats = Broker("nats.sh", "NATS", tmp / "nats-run")
    nats.run("start")
    url = f"nats://127.0.0.1:{nats.port}"
    try:
        n = args.nats_n
        for run in range(args.runs):
            stream = f"B{run}"
            p = publish("nats", url, f"b{run}.logs", n, 0, 1,
                        ["--jetstream", "--stream", stream])
            pub_line = p.stderr.strip().splitlines()[-1]
            t0 = time.time()
            r = subprocess.run([SLUICE, "consume", "nats", "--url", url, "--subject",
                                f"b{run}.>", "--jetstream", "--durable", "base",
                                "--stream", stream, "--count", str(n)],
                               capture_output=True, text=True, timeout=600)
            base_s = time.time() - t0
            assert r.returncode == 0, r.stderr
            got, nbytes, _ = r.stdout.split()
            d = tmp / f"nats-fn{run}"
            d.mkdir()
            f = Function(d, "bench", "nats",
                         f'{{url: "{url}", subject: "b{run}.>", jetstream: true, '
                         f'stream: {stream}, durable: fn, fetchBatch: 4096}}',
                         roll="2s")
            t0 = time.time()
            f.start(timeout=30)
            f.wait_metric("sluice_acks_total", n, timeout=600)
            fn_s = time.time() - t0
            f.stop()
            count = rows(f.out)[1]
            assert count == n, (count, n)
            results.append(("nats jetstream", n, int(nbytes), base_s, fn_s, pub_line))
    finally:
        nats.run("stop", check=False)

    # ---------------- MQTT QoS 1 ----------------
    mq = Broker("mosquitto.sh", "MQTT", tmp / "mqtt-run")
    mq.run("start")
    url = f"tcp://127.0.0.1:{mq.port}"
    host, port = "127.0.0.1", str(mq.port)
    try:
        n = args.mqtt_n
        for run in range(args.runs):
            topic = f"b{run}/logs"
            # Register both persistent sessions, then queue N messages for each.
            subprocess.run(["mosquitto_sub", "-h", host, "-p", port, "-c", "-i",
                            f"base{run}", "-q", "1", "-t", topic, "-W", "1"],
                           capture_output=True)
            d = tmp / f"mqtt-fn{run}"
            d.mkdir()
            f = Function(d, "bench", "mqtt",
                         f'{{url: "{url}", topics: ["{topic}"], qos: 1, '
                         f'clientId: "fn{run}", ackInterval: 250ms}}', roll="2s")
            f.start(timeout=30)
            time.sleep(0.5)
            f.stop()
            p = publish("mqtt", url, topic, n, 0, 1, ["--qos", "1"])
            pub_line = p.stderr.strip().splitlines()[-1]
            t0 = time.time()
            r = subprocess.run(["mosquitto_sub", "-h", host, "-p", port, "-c", "-i",
                                f"base{run}", "-q", "1", "-t", topic, "-C", str(n)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=600)
            base_s = time.time() - t0
            assert r.returncode == 0, r.stderr
            f.out = d / "out"
            t0 = time.time()
            f.start(timeout=30)
            f.wait_metric("sluice_acks_total", n, timeout=600)
            fn_s = time.time() - t0
            f.stop()
            count = rows(f.out)[1]
            assert count == n, (count, n)
            results.append(("mqtt qos1", n, None, base_s, fn_s, pub_line))
    finally:
        mq.run("stop", check=False)

    print(f"\n{'case':16} {'messages':>9} {'baseline msg/s':>15} {'sluice msg/s':>13} "
          f"{'sluice/baseline':>16}")
    for case, n, nbytes, base_s, fn_s, pub in results:
        print(f"{case:16} {n:9d} {n / base_s:15,.0f} {n / fn_s:13,.0f} "
              f"{(n / fn_s) / (n / base_s):16.2f}")
    print("\n(sluice: spec load + connect + JSON -> columns -> zstd Parquet + acks after "
          "publish; baselines consume and ack only)")
    for case, n, nbytes, base_s, fn_s, pub in results:
        print(f"{case}: publish phase: {pub}")
    _ = brokers


if __name__ == "__main__":
    main()
