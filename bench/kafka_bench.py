"""Kafka ingest benchmark: one sluice process against its peers, same run.

For each message shape (1000 log lines per message, one line per message) a
topic of 8 partitions holding --gb gigabytes of JSON log lines (written by
`sluice produce`) is read from the beginning by:

  ceiling  kcat -C ... -e > /dev/null          consume only, no parsing
           rdkafka_performance -C -G ...      librdkafka's own consume benchmark
                                             (built by scripts/kafka-perftool.sh)
  sluice   sluice run: kafka-cluster trigger -> SQL aggregation per batch ->
           zstd Parquet, offsets committed after publish (timed until every
           partition's committed offset reached its end)
  python   confluent-kafka + json.loads + pandas groupby per batch of about
           10,000 records (the article's baseline), time-boxed to
           --python-seconds

Each topic is read once by kcat, untimed, before the peers, so that none of
them pays for reading it from disk. MB/s, records/s and CPU seconds per GB
(the consumer's and the broker's) are printed with the ratios
sluice/ceiling and sluice/python. A local broker is started by
scripts/kafka.sh (its settings are printed) unless --bootstrap is given.

  .venv/bin/pip install confluent-kafka      # the Python baseline only
  .venv/bin/python bench/kafka_bench.py --gb 2
"""
import argparse
import json
import glob
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("SLUICE_BUILD", os.path.join(ROOT, "build")))
SLUICE = os.path.join(BUILD, "sluice")
KAFKA_SH = os.path.join(ROOT, "scripts", "kafka.sh")
LINE_BYTES = 128  # about, for sizing the topic

SPEC = """metadata: {{name: kbench}}
spec:
  runtime: sql
  sql:
    query: >-
      SELECT service, level, count(*) AS requests, sum(bytes) AS bytes,
      min(ts) AS first_ts, max(ts) AS last_ts FROM events GROUP BY service, level
  input:
    schema: "ts: timestamp[ms], service: utf8, level: utf8, bytes: int64"
  admin: {{port: {port}}}
  triggers:
    k:
      kind: kafka-cluster
      numWorkers: 2
      maxWorkers: 2
      batch: {{maxEvents: 100000, maxBytes: 12MiB, maxWait: 20ms}}
      attributes:
        brokers: [{boot}]
        topics: [{topic}]
        consumerGroup: {group}
        {attrs}
  sinks:
    pq:
      kind: parquet
      attributes: {{path: {out}, compression: zstd, rollInterval: 10s}}
"""


def sh(*args, env=None, timeout=900):
    p = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        sys.exit(f"{args[0]} failed: {p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def proc_cpu(pid):
    """CPU seconds (user + system, all threads) a running process has used."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name = line.split("{")[0].split(" ")[0]
        v = float(line.rsplit(" ", 1)[1])
        if name == "sluice_kafka_committed_offset":
            v = max(v, 0.0)  # -1: nothing committed yet (an empty partition)
        out[name] = out.get(name, 0) + v
    return out


def prepare(boot, env, shape, gb, state):
    """A topic of gb GB with `shape` lines per message (made once, reused)."""
    key = f"{shape}-{gb}"
    if key in state:
        return state[key]
    if shape in state.get("reuse", {}):  # --topics: count what is there
        topic = state["reuse"][shape]
        out = sh(KAFKA_SH, "tool", "org.apache.kafka.tools.GetOffsetShell",
                 "--bootstrap-server", boot, "--topic", topic, env=env)
        msgs = sum(int(x.rsplit(":", 1)[1]) for x in out.split())
        lines = msgs * shape
        state[key] = {"topic": topic, "messages": msgs, "lines": lines, "shape": shape,
                      "bytes": lines * 129}  # measured: 129.3 bytes a line
        return state[key]
    topic = f"bench_{shape}_{str(gb).replace('.', '_')}_{uuid.uuid4().hex[:6]}"
    sh(KAFKA_SH, "tool", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", boot,
       "--create", "--topic", topic, "--partitions", "8", "--replication-factor", "1", env=env)
    lines = int(gb * 1e9 / LINE_BYTES)
    t0 = time.time()
    out = json.loads(sh(SLUICE, "produce", "--brokers", boot, "--topic", topic,
                        "--lines", str(lines), "--per-message", str(shape)))
    out["topic"] = topic
    out["shape"] = shape
    print(f"  produced {out['lines']:,} lines in {out['messages']:,} messages, "
          f"{out['bytes'] / 1e6:,.0f} MB in {time.time() - t0:.1f}s", flush=True)
    state[key] = out
    return out


def run_kcat(boot, t, broker):
    c0, b0, t0 = children_cpu(), proc_cpu(broker), time.time()
    with open(os.devnull, "wb") as null:
        subprocess.run(["kcat", "-C", "-b", boot, "-t", t["topic"], "-o", "beginning", "-e", "-q",
                        "-X", "fetch.max.bytes=67108864", "-X", "max.partition.fetch.bytes=8388608",
                        "-X", "queued.max.messages.kbytes=262144",
                        "-X", "queued.min.messages=1000000"], stdout=null, check=True)
    return (time.time() - t0, t["lines"], t["bytes"], children_cpu() - c0,
            proc_cpu(broker) - b0)


def run_rdperf(tool, boot, t, broker):
    """librdkafka's own consumer benchmark, timed from its first message (its
    own clock); nothing is done with the payloads."""
    c0, b0 = children_cpu(), proc_cpu(broker)
    out = subprocess.run([tool, "-C", "-G", "rdperf-" + uuid.uuid4().hex[:8], "-t", t["topic"],
                          "-b", boot, "-o", "beginning", "-e", "-q",
                          "-X", "fetch.max.bytes=67108864",
                          "-X", "max.partition.fetch.bytes=8388608",
                          "-X", "queued.max.messages.kbytes=262144"],
                         capture_output=True, text=True, check=True).stdout
    cpu, bcpu = children_cpu() - c0, proc_cpu(broker) - b0
    m = re.search(r"(\d+) messages \((\d+) bytes\) consumed in (\d+)ms", out)
    if not m or int(m.group(1)) != t["messages"]:
        sys.exit(f"rdkafka_performance: expected {t['messages']} messages, got: {out[-500:]}")
    return int(m.group(3)) / 1e3, t["lines"], t["bytes"], cpu, bcpu


def run_sluice(boot, t, tmp, broker, attrs=""):
    port = 18000 + os.getpid() % 1000
    out = os.path.join(tmp, "out-" + uuid.uuid4().hex[:6])
    spec = os.path.join(tmp, "bench.yaml")
    with open(spec, "w") as f:
        f.write(SPEC.format(port=port, boot=boot, topic=t["topic"], out=out,
                            group="sluice-" + uuid.uuid4().hex[:8],
                            attrs="\n        ".join(x.strip() for x in attrs.split(";"))))
    log = open(os.path.join(tmp, "sluice.log"), "wb")
    p = subprocess.Popen([SLUICE, "run", spec], stdout=log, stderr=log)
    t0 = None
    try:
        while True:
            m = metrics(port)
            if t0 is None and m.get("sluice_kafka_partitions_assigned", 0) >= 8:
                t0 = time.time()  # group joined: the clock starts
                c0, b0 = proc_cpu(p.pid), proc_cpu(broker)
            if (m.get("sluice_events_total", 0) >= t["lines"]
                    and m.get("sluice_kafka_committed_offset", -1) >= t["messages"]
                    and m.get("sluice_kafka_consumer_lag", 1) == 0):
                break
            if p.poll() is not None:
                sys.exit("sluice exited; see " + log.name)
            time.sleep(0.05)
        elapsed = time.time() - t0
        cpu, bcpu = proc_cpu(p.pid) - c0, proc_cpu(broker) - b0
    finally:
        p.terminate()
        p.wait()
        log.close()
    files = sum(1 for _, _, fs in os.walk(out) for f in fs if f.endswith(".parquet"))
    print(f"  (sluice published {files} Parquet files)", flush=True)
    return elapsed, t["lines"], t["bytes"], cpu, bcpu


def run_python(boot, t, seconds, broker):
    import pandas as pd
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": boot, "group.id": "py-" + uuid.uuid4().hex[:8],
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([t["topic"]])
    lines = nbytes = 0
    t0 = None
    results = []
    while lines < t["lines"]:
        # Batches of about 10,000 records whatever the shape: 10,000 messages
        # of 1000 lines would be one 10-million-row DataFrame (gigabytes).
        msgs = c.consume(num_messages=max(1, 10000 // t["shape"]), timeout=1.0)
        if not msgs:
            continue
        if t0 is None:
            t0, c0, b0 = time.time(), self_cpu(), proc_cpu(broker)
        recs = []
        for m in msgs:
            v = m.value()
            if not v:
                continue
            nbytes += len(v)
            for line in v.split(b"\n"):
                recs.append(json.loads(line))
        lines += len(recs)
        df = pd.DataFrame.from_records(recs)
        df["ts"] = pd.to_datetime(df["ts"])
        results.append(df.groupby(["service", "level"]).agg(
            requests=("bytes", "size"), bytes=("bytes", "sum"),
            first_ts=("ts", "min"), last_ts=("ts", "max")))
        c.commit(asynchronous=True)
        if time.time() - t0 > seconds:
            break
    elapsed = time.time() - t0
    cpu, bcpu = self_cpu() - c0, proc_cpu(broker) - b0
    c.close()
    return elapsed, lines, nbytes, cpu, bcpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", type=float, default=2.0, help="GB of log lines per topic")
    ap.add_argument("--shapes", default="1000,1", help="lines per message, comma-separated")
    ap.add_argument("--python-seconds", type=float, default=30)
    ap.add_argument("--bootstrap", help="use this broker instead of starting one")
    ap.add_argument("--port", type=int, default=19592)
    ap.add_argument("--topics", default="",
                    help="reuse topics: SHAPE=NAME,... (with --bootstrap)")
    ap.add_argument("--attrs", default="",
                    help="extra trigger attributes, ';'-separated, e.g. 'fetchMax: 16MiB; fetchMin: 1'")
    ap.add_argument("--no-python", action="store_true")
    ap.add_argument("--rdkafka-performance", metavar="PATH",
                    help="librdkafka's rdkafka_performance (second ceiling; default: the one "
                    "scripts/kafka-perftool.sh built in .cache/kafka)")
    ap.add_argument("--broker-pid", type=int,
                    help="with --bootstrap: the broker's pid, for its CPU time")
    args = ap.parse_args()
    env = dict(os.environ)
    started = False
    boot = args.bootstrap
    if not boot:
        env.setdefault("SLUICE_KAFKA_PORT", str(args.port))
        env.setdefault("SLUICE_KAFKA_DIR", os.path.join(ROOT, ".cache", "kafka", "bench"))
        env.setdefault("SLUICE_KAFKA_HEAP", "-Xms1g -Xmx1g")
        boot = f"127.0.0.1:{env['SLUICE_KAFKA_PORT']}"
        print(sh(KAFKA_SH, "start", env=env).strip())
        started = True
        print(f"broker: Apache Kafka 4.x KRaft, 1 node, heap {env['SLUICE_KAFKA_HEAP']}, "
              "num.io.threads=4, num.network.threads=2, 8 partitions, no compression, "
              f"on this host ({os.cpu_count()} cores, shared with the consumers)")
    try:
        import confluent_kafka  # noqa: F401
        have_py = True
    except ImportError:
        have_py = False
        print("python baseline skipped: .venv/bin/pip install confluent-kafka")
    have_py = have_py and not args.no_python
    broker = args.broker_pid
    if not broker and env.get("SLUICE_KAFKA_DIR"):  # the broker kafka.sh started
        try:
            with open(os.path.join(env["SLUICE_KAFKA_DIR"], "kafka.pid")) as f:
                broker = int(f.read())
        except (OSError, ValueError):
            broker = None
    rdperf = args.rdkafka_performance or next(
        iter(sorted(glob.glob(os.path.join(ROOT, ".cache", "kafka", "rdkafka_performance-*")))),
        None)
    if not rdperf:
        print("rdkafka_performance ceiling skipped: scripts/kafka-perftool.sh LIBRDKAFKA_SOURCE")
    print(f"CPU seconds per GB: the consumer's own (all its threads), and the broker's "
          f"during that run{'' if broker else ' (broker pid unknown: --broker-pid)'}")
    state = {"reuse": {int(k): v for k, v in
                       (x.split("=") for x in args.topics.split(",") if x)}}
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for shape in [int(x) for x in args.shapes.split(",")]:
                print(f"\n== {shape} line(s) per message, {args.gb} GB ==", flush=True)
                t = prepare(boot, env, shape, args.gb, state)
                run_kcat(boot, t, broker)  # untimed: the topic into the page cache
                res = {"ceiling (kcat -C)": run_kcat(boot, t, broker)}
                if rdperf:
                    res["ceiling (rdkafka_performance -C)"] = run_rdperf(rdperf, boot, t, broker)
                res["sluice (SQL + Parquet)"] = run_sluice(boot, t, tmp, broker, args.attrs)
                if have_py:
                    res["python (confluent-kafka+json+pandas)"] = run_python(
                        boot, t, args.python_seconds, broker)
                for name, (secs, n, b, cpu, bcpu) in res.items():
                    print(f"  {name:40s} {b / secs / 1e6:9.1f} MB/s {n / secs:13,.0f} records/s"
                          f"  ({n:,} records in {secs:.2f}s; CPU s/GB: consumer "
                          f"{cpu / (b / 1e9):.2f}, broker {bcpu / (b / 1e9):.2f})", flush=True)
                s = res["sluice (SQL + Parquet)"]
                c = res["ceiling (kcat -C)"]
                ratio_c = (s[2] / s[0]) / (c[2] / c[0])
                line = f"  sluice / ceiling = {ratio_c:.0%} (kcat)"
                if rdperf:
                    r = res["ceiling (rdkafka_performance -C)"]
                    line += f", {(s[2] / s[0]) / (r[2] / r[0]):.0%} (rdkafka_performance)"
                if have_py:
                    py = res["python (confluent-kafka+json+pandas)"]
                    line += f", sluice / python = {(s[2] / s[0]) / (py[2] / py[0]):.1f}x"
                print(line, flush=True)
                rows.append((shape, res))
    finally:
        if started:
            sh(KAFKA_SH, "stop", env=env)


if __name__ == "__main__":
    main()
