"""The kafka-cluster trigger against a real Apache Kafka 4.x broker.

A broker is started by scripts/kafka.sh on its own port and data folder for
this module. Records come from `sluice produce` (formulas in
src/cli/cmd_produce.c); the oracle rebuilds the same records in DuckDB from
those formulas over range(N), and the Parquet written by sluice must match
exactly: row count, distinct ids and checksums of every column. Each fault
test (kill -9 and restart, three processes with one killed, a broker restart,
a handler failing on some records) ends with that exact comparison.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import duckdb
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("SLUICE_BUILD", os.path.join(ROOT, "build")))
SLUICE = os.path.join(BUILD, "sluice")
KAFKA_SH = os.path.join(ROOT, "scripts", "kafka.sh")
PORT = 19292
BOOT = f"127.0.0.1:{PORT}"

pytestmark = pytest.mark.skipif(shutil.which("java") is None,
                                reason="Java is not installed")


class Broker:
    def __init__(self, env):
        self.env = env

    def sh(self, *args, timeout=300, check=True):
        p = subprocess.run([KAFKA_SH, *args], cwd=ROOT, env=self.env, text=True,
                           capture_output=True, timeout=timeout)
        if check and p.returncode:
            raise AssertionError(f"kafka.sh {args[:2]}: {p.stdout[-2000:]}\n{p.stderr[-3000:]}")
        return p

    def restart(self):
        self.sh("stop")
        env = dict(self.env, SLUICE_KAFKA_KEEP_DATA="1")
        p = subprocess.run([KAFKA_SH, "start"], cwd=ROOT, env=env, text=True,
                           capture_output=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]

    def topic(self, partitions=8):
        name = "t_" + uuid.uuid4().hex[:10]
        self.sh("tool", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", BOOT,
                "--create", "--topic", name, "--partitions", str(partitions),
                "--replication-factor", "1")
        return name


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    env = dict(os.environ)
    env["SLUICE_KAFKA_PORT"] = str(PORT)
    env["SLUICE_KAFKA_CONTROLLER_PORT"] = str(PORT + 1)
    env["SLUICE_KAFKA_DIR"] = str(tmp_path_factory.mktemp("kafka"))
    b = Broker(env)
    b.sh("start", timeout=600)
    try:
        yield b
    finally:
        b.sh("stop", check=False)


def produce(topic, lines, per_message=1, start=0, poison=0, partitions=0):
    p = subprocess.run([SLUICE, "produce", "--brokers", BOOT, "--topic", topic,
                        "--lines", str(lines), "--per-message", str(per_message),
                        "--start", str(start), "--poison", str(poison),
                        "--partitions", str(partitions)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["lines"] == lines and out["failed"] == 0
    return out


def produce_bg(*args, **kw):
    th = threading.Thread(target=produce, args=args, kwargs=kw)
    th.start()
    return th


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_spec(d, topic, group, admin_port, runtime="passthrough", handler=None,
               max_events=20000, alloc="pool", attrs=""):
    h = f"  handler: {handler}\n" if handler else ""
    text = f"""metadata:
  name: kt
spec:
  runtime: {runtime}
{h}  admin: {{port: {admin_port}}}
  drainTimeout: 60s
  triggers:
    k:
      kind: kafka-cluster
      numWorkers: 2
      maxWorkers: 2
      batch: {{maxEvents: {max_events}, maxBytes: 8MiB, maxWait: 100ms}}
      attributes:
        brokers: [{BOOT}]
        topics: [{topic}]
        consumerGroup: {group}
        workerAllocationMode: {alloc}
        sessionTimeout: 6s
        heartbeatInterval: 1s
        maxWaitHandlerDuringRebalance: 20s
        retries: 1
        retryBackoff: 10ms
{attrs}  sinks:
    pq:
      kind: parquet
      attributes: {{path: {d}/out, rollInterval: 1s}}
  deadLetter: {d}/dead.jsonl
"""
    path = os.path.join(d, f"fn-{admin_port}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


class Fn:
    """One `sluice run` process."""

    def __init__(self, d, topic, group, **kw):
        self.port = free_port()
        self.spec = write_spec(d, topic, group, self.port, **kw)
        self.log = open(os.path.join(d, f"run-{self.port}.log"), "wb")
        self.p = subprocess.Popen([SLUICE, "run", self.spec], cwd=d,
                                  stdout=self.log, stderr=self.log)

    def metrics(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            c.request("GET", "/metrics")
            return c.getresponse().read().decode()
        except OSError:
            return ""

    def metric(self, name):
        total, seen = 0, False
        for line in self.metrics().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
                seen = True
        return total if seen else None

    def committed(self):
        """Records committed over all partitions: each partition's committed
        offset, where -1 (nothing committed: an empty partition) counts 0."""
        total, seen = 0, False
        for line in self.metrics().splitlines():
            if line.startswith("sluice_kafka_committed_offset{"):
                total += max(0.0, float(line.rsplit(" ", 1)[1]))
                seen = True
        return total if seen else None

    def wait_assigned(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            assert self.p.poll() is None, "sluice exited early"
            if (self.metric("sluice_kafka_partitions_assigned") or 0) > 0:
                return
            time.sleep(0.2)
        raise AssertionError("no partitions assigned")

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            rc = self.p.wait(timeout=120)
            assert rc == 0, f"sluice exited {rc}"
        self.log.close()


ACTUAL = """SELECT count(*), count(DISTINCT id), sum(id), sum(bytes), sum(hash(service)),
  sum(hash(level)), sum(hash(msg)), sum(epoch_ms(ts))
FROM read_parquet('{glob}', union_by_name = true)"""

EXPECTED = """SELECT count(*), count(DISTINCT i), sum(i), sum((i * 7919) % 100000),
  sum(hash('svc-' || (i % 13))), sum(hash(['info', 'warn', 'error', 'debug'][i % 4 + 1])),
  sum(hash(CASE WHEN i % 10 = 9 THEN 'req ' || i || ' say "hé" /api/v' || (i % 5)
           ELSE 'req ' || i || ' path /api/v' || (i % 5) END)),
  sum(1700000000000 + 10 * i)
FROM range({start}, {end}) t(i) WHERE {keep}"""


def keep_clause(poison):
    return f"i % {poison} <> {poison - 1}" if poison else "true"


def actual(d):
    glob = os.path.join(d, "out", "*.parquet")
    if not any(n.endswith(".parquet") for n in os.listdir(os.path.join(d, "out"))
               if not n.startswith(".")):
        return None
    return duckdb.sql(ACTUAL.format(glob=glob)).fetchall()[0]


def expected(n, start=0, poison=0):
    return duckdb.sql(EXPECTED.format(start=start, end=start + n,
                                      keep=keep_clause(poison))).fetchall()[0]


def wait_rows(d, want, procs, timeout=240):
    """Waits until the output holds `want` distinct ids."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        for f in procs:
            assert f.p.poll() is None, f"sluice exited: see {f.log.name}"
        try:
            last = actual(d) if os.path.isdir(os.path.join(d, "out")) else None
        except duckdb.Error:  # a file superseded between listing and reading
            last = None
        if last and last[1] >= want:
            return last
        time.sleep(0.5)
    raise AssertionError(f"output stuck at {last} (want {want} ids)")


def rows_now(d):
    try:
        a = actual(d) if os.path.isdir(os.path.join(d, "out")) else None
    except duckdb.Error:
        return 0
    return a[0] if a else 0


def test_check_rejects_unknown_librdkafka_property(tmp_path):
    spec = write_spec(str(tmp_path), "t", "g", 1)
    text = open(spec).read().replace("        retries: 1\n",
                                      "        retries: 1\n        librdkafka: {fetch.wait.max.mz: '5'}\n")
    open(spec, "w").write(text)
    p = subprocess.run([SLUICE, "check", spec], capture_output=True, text=True)
    assert p.returncode != 0
    assert "fetch.wait.max.mz" in p.stderr and "fn-1.yaml" in p.stderr


def test_check_sasl_tls_settings(tmp_path):
    spec = write_spec(str(tmp_path), "t", "g", 1)
    base = open(spec).read()
    good = base.replace("        retries: 1\n", "        retries: 1\n"
                        "        sasl: {enable: 'true', user: u, password: p, mechanism: SCRAM-SHA-512}\n"
                        "        tls: {enable: 'true', insecureSkipVerify: 'true'}\n")
    open(spec, "w").write(good)
    p = subprocess.run([SLUICE, "check", spec], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    bad = base.replace("        retries: 1\n", "        retries: 1\n"
                       "        sasl: {enable: 'true', usr: u}\n")
    open(spec, "w").write(bad)
    p = subprocess.run([SLUICE, "check", spec], capture_output=True, text=True)
    assert p.returncode != 0 and "usr" in p.stderr and "sasl" in p.stderr, p.stderr


def test_millions_of_lines_into_parquet_exactly(broker, tmp_path):
    d = str(tmp_path)
    topic = broker.topic(8)
    # 3M lines in messages of 1000 lines, then 300K one-line messages.
    produce(topic, 3_000_000, per_message=1000)
    produce(topic, 300_000, per_message=1, start=3_000_000)
    n = 3_300_000
    f = Fn(d, topic, "g-" + uuid.uuid4().hex[:6], max_events=100000)
    try:
        wait_rows(d, n, [f])
        # Every partition is committed up to its end: lag 0 on /metrics.
        end = time.time() + 30
        while time.time() < end and f.metric("sluice_kafka_consumer_lag") != 0:
            time.sleep(0.2)
        m = f.metrics()
        assert f.metric("sluice_kafka_consumer_lag") == 0, m
        assert m.count('sluice_kafka_committed_offset{trigger="k"') == 8
    finally:
        f.stop()
    assert actual(d) == expected(n)
    # File names carry topic, partition, first and last offset.
    names = [x for x in os.listdir(os.path.join(d, "out")) if x.endswith(".parquet")]
    assert all(x.startswith(f"part-{topic}-") for x in names), names[:3]


def test_full_prefetch_queue_wakes_the_fetcher_exactly(broker, tmp_path):
    # A prefetch queue of 1 MiB / 10 messages is full at once, so librdkafka
    # 2.0 stops fetching for up to a second at a time; the trigger restarts
    # it with a seek when the workers held it back and the queue ran dry.
    # Every record still arrives exactly once and every offset is committed.
    d = str(tmp_path)
    topic = broker.topic(8)
    n = 2_000_000
    produce(topic, n, per_message=1000)
    f = Fn(d, topic, "g-" + uuid.uuid4().hex[:6], max_events=100000,
           attrs="        queuedMaxBytes: 1MiB\n        queuedMinMessages: 10\n")
    try:
        wait_rows(d, n, [f])
        end = time.time() + 30
        while time.time() < end and f.metric("sluice_kafka_consumer_lag") != 0:
            time.sleep(0.2)
        assert f.metric("sluice_kafka_consumer_lag") == 0, f.metrics()
        assert f.metric("sluice_kafka_fetch_wakeups_total") > 0, f.metrics()
    finally:
        f.stop()
    assert actual(d) == expected(n)


def test_kill9_mid_stream_then_restart(broker, tmp_path):
    d = str(tmp_path)
    topic = broker.topic(8)
    n = 1_000_000
    group = "g-" + uuid.uuid4().hex[:6]
    f = Fn(d, topic, group)
    f.wait_assigned()
    th = produce_bg(topic, n, per_message=10)
    end = time.time() + 60
    while rows_now(d) < n // 4 and time.time() < end:
        time.sleep(0.05)
    f.kill9()
    th.join()
    assert 0 < rows_now(d) < n, "the kill did not happen mid-stream"
    f2 = Fn(d, topic, group)
    try:
        wait_rows(d, n, [f2])
        time.sleep(1)
    finally:
        f2.stop()
    assert actual(d) == expected(n)


def test_three_processes_one_killed(broker, tmp_path):
    d = str(tmp_path)
    topic = broker.topic(8)
    n = 1_000_000
    group = "g-" + uuid.uuid4().hex[:6]
    fs = [Fn(d, topic, group) for _ in range(3)]
    try:
        for f in fs:
            f.wait_assigned()
        # Wait for the group to settle: every member owns some partitions.
        end = time.time() + 60
        while time.time() < end:
            owned = [f.metric("sluice_kafka_partitions_assigned") or 0 for f in fs]
            if sum(owned) == 8 and min(owned) > 0:
                break
            time.sleep(0.3)
        th = produce_bg(topic, n, per_message=10)
        end = time.time() + 60
        while rows_now(d) < n // 4 and time.time() < end:
            time.sleep(0.05)
        fs[1].kill9()
        th.join()
        wait_rows(d, n, [fs[0], fs[2]])
        time.sleep(1)
    finally:
        for f in (fs[0], fs[2]):
            f.stop()
        fs[1].log.close()
    assert actual(d) == expected(n)


def test_broker_restart_mid_stream(broker, tmp_path):
    d = str(tmp_path)
    topic = broker.topic(8)
    n = 600_000
    group = "g-" + uuid.uuid4().hex[:6]
    f = Fn(d, topic, group)
    try:
        f.wait_assigned()
        produce(topic, n // 2, per_message=10)
        wait_rows(d, n // 4, [f])
        broker.restart()
        produce(topic, n // 2, per_message=10, start=n // 2)
        wait_rows(d, n, [f])
        # Commits that failed while the broker was away are sent again: the
        # committed offsets reach the end (60,000 messages), lag 0.
        end = time.time() + 30
        while time.time() < end and (f.committed() != n // 10
                                     or f.metric("sluice_kafka_consumer_lag") != 0):
            time.sleep(0.3)
        assert f.committed() == n // 10, f.metrics()
        assert f.metric("sluice_kafka_consumer_lag") == 0
    finally:
        f.stop()
    assert actual(d) == expected(n)


POISON_HANDLER = r"""
#include <string.h>
#include "sluice/function.h"
int poison_abi_version(void) { return SL_FUNCTION_ABI; }
/* Fails any batch holding a record with "level": "poison"; else passes it on. */
int poison_handle(struct sl_fn_context *ctx, const struct sl_fn_events *ev) {
  const struct sl_batch *b = ev->batch;
  for (int32_t c = 0; c < b->n_columns; c++) {
    if (strcmp(b->schema.fields[c].name, "level")) continue;
    const struct sl_array *a = b->columns[c];
    if (!sl_type_is_string(a->type)) return 1;
    for (int64_t r = 0; r < b->length; r++) {
      int64_t len = 0;
      const char *v = sl_array_is_valid(a, r) ? sl_array_str(a, r, &len) : "";
      if (len == 6 && !memcmp(v, "poison", 6)) return 1;
    }
  }
  return ctx->emit(ctx, b);
}
"""


def test_handler_failures_go_to_dead_letters_nothing_else_lost(broker, tmp_path):
    d = str(tmp_path)
    src = os.path.join(d, "poison.c")
    open(src, "w").write(POISON_HANDLER)
    lib = os.path.join(d, "libpoison.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-I", os.path.join(ROOT, "include"),
                    "-o", lib, src, "-L", BUILD, "-lsluice", f"-Wl,-rpath,{BUILD}"],
                   check=True)
    topic = broker.topic(4)
    n, poison = 300_000, 9973
    produce(topic, n, per_message=10, poison=poison)
    f = Fn(d, topic, "g-" + uuid.uuid4().hex[:6], runtime="c",
           handler=f"{lib}:poison")
    bad = sorted(i for i in range(n) if i % poison == poison - 1)
    try:
        wait_rows(d, n - len(bad), [f])
        time.sleep(1)
    finally:
        f.stop()
    assert actual(d) == expected(n, poison=poison)
    dead = [json.loads(x) for x in open(os.path.join(d, "dead.jsonl"))]
    ids = sorted(json.loads(x["record"])["id"] for x in dead)
    assert ids == bad
    assert all(x["reason"] for x in dead)


def test_kafka_sink_idempotent_producer_round_trip(broker, tmp_path):
    """topic A -> sluice (kafka sink, 100 rows a message) -> topic B ->
    sluice (parquet): B's records, through Parquet, equal what A got."""
    d = str(tmp_path)
    src, dst = broker.topic(4), broker.topic(4)
    n = 400_000
    produce(src, n, per_message=50)
    port = free_port()
    spec = os.path.join(d, "to-kafka.yaml")
    with open(spec, "w") as f:
        f.write(f"""metadata: {{name: relay}}
spec:
  runtime: passthrough
  admin: {{port: {port}}}
  triggers:
    k:
      kind: kafka-cluster
      numWorkers: 2
      batch: {{maxEvents: 20000, maxWait: 100ms}}
      attributes: {{brokers: [{BOOT}], topics: [{src}], consumerGroup: relay}}
  sinks:
    out:
      kind: kafka
      attributes: {{brokers: [{BOOT}], topic: {dst}, linesPerMessage: 100}}
""")
    log = open(os.path.join(d, "relay.log"), "wb")
    relay = subprocess.Popen([SLUICE, "run", spec], cwd=d, stdout=log, stderr=log)
    f = Fn(d, dst, "g-" + uuid.uuid4().hex[:6])
    try:
        wait_rows(d, n, [f])
        time.sleep(1)
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=120) == 0
        log.close()
        f.stop()
    assert actual(d) == expected(n)
    # The relay committed its source only for what the broker acknowledged:
    # all of it, after the drain.
    offsets = broker.sh("tool", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                        "--bootstrap-server", BOOT, "--describe", "--group", "relay").stdout
    lags = [line.split()[5] for line in offsets.splitlines() if line.startswith("relay ")]
    assert lags and all(x == "0" for x in lags), offsets


def test_replay_with_other_batch_boundaries_supersedes_files(broker, tmp_path):
    """The group's offsets are reset to the beginning after a complete run,
    and the replay cuts its batches at other offsets (another maxEvents): the
    earlier files overlapping each new one are removed, so the Parquet still
    holds every record exactly once."""
    d = str(tmp_path)
    topic = broker.topic(4)
    n = 200_000
    produce(topic, n, per_message=10)
    group = "g-" + uuid.uuid4().hex[:6]
    f = Fn(d, topic, group, max_events=20000)
    try:
        wait_rows(d, n, [f])
    finally:
        f.stop()
    first = sorted(x for x in os.listdir(os.path.join(d, "out")) if x.endswith(".parquet"))
    broker.sh("tool", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
              "--bootstrap-server", BOOT, "--reset-offsets", "--to-earliest", "--execute",
              "--group", group, "--topic", topic)
    f = Fn(d, topic, group, max_events=7000)
    try:
        end = time.time() + 120
        while time.time() < end and (f.committed() != n // 10
                                     or f.metric("sluice_kafka_consumer_lag") != 0):
            time.sleep(0.3)
        assert f.committed() == n // 10
    finally:
        f.stop()
    # Without the superseding, the first run's files would double every row.
    assert len(first) > 0
    assert actual(d) == expected(n)


def test_static_allocation_keeps_partition_order(broker, tmp_path):
    """workerAllocationMode static: one batch per partition in flight, so a
    partition's files are published in offset order."""
    d = str(tmp_path)
    topic = broker.topic(4)
    n = 300_000
    produce(topic, n, per_message=10, partitions=4)
    f = Fn(d, topic, "g-" + uuid.uuid4().hex[:6], max_events=5000, alloc="static")
    try:
        wait_rows(d, n, [f])
        time.sleep(1)
    finally:
        f.stop()
    assert actual(d) == expected(n)
    out = os.path.join(d, "out")
    by_part = {}
    for name in os.listdir(out):
        if not name.endswith(".parquet"):
            continue
        part, first = name[:-len(".parquet")].rsplit("-", 2)[0], name.rsplit("-", 2)[1]
        by_part.setdefault(part, []).append((int(first), os.stat(os.path.join(out, name)).st_mtime_ns))
    assert len(by_part) == 4
    for part, files in by_part.items():
        files.sort()
        # How many batches a partition's records make depends on fetch
        # timing (a fetch of many messages is one append); two files are
        # enough to see the order.
        assert len(files) >= 2
        times = [m for _, m in files]
        assert times == sorted(times), f"{part}: published out of offset order"
