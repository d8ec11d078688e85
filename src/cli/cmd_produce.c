/* `sluice produce`: a fast producer of generated JSON log lines into a Kafka
 * topic, for tests and benchmarks (idempotent librdkafka producer).
 *
 * Line i (ids start at --start) is, with T = 1700000000000 + 10 i ms:
 *   {"id":i,"ts":"<T as RFC 3339, ms>","service":"svc-<i % 13>",
 *    "level":"<info|warn|error|debug>[i % 4]","bytes":<(i * 7919) % 100000>,
 *    "msg":"req <i> path /api/v<i % 5>"}
 * every 10th msg instead carries an escaped quote and a non-ASCII letter:
 *   "msg":"req <i> say \"h\u00e9\" /api/v<i % 5>"   (decodes to: say "hé")
 * With --poison N, every line with i % N == N - 1 has "level":"poison" (a
 * test handler fails on those).
 * Tests rebuild the same records in DuckDB from these formulas.
 *
 * Messages hold --per-message lines each (joined by '\n'), are spread over
 * partitions by librdkafka's partitioner (no key) or, with --partitions P,
 * round-robin over partitions 0..P-1 explicitly. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "sluice/alloc.h"

#ifdef SLUICE_HAVE_RDKAFKA
#include <librdkafka/rdkafka.h>

static const char *const levels[] = {"info", "warn", "error", "debug"};

static size_t gen_line(char *o, int64_t i, int64_t poison) {
  const char *level =
      poison > 0 && i % poison == poison - 1 ? "poison" : levels[i % 4];
  int64_t ms = 1700000000000LL + 10 * i;
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char ts[40];
  size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + k, sizeof ts - k, ".%03dZ", (int)(ms % 1000));
  int n;
  if (i % 10 == 9)
    n = sprintf(o,
                "{\"id\":%" PRId64 ",\"ts\":\"%s\",\"service\":\"svc-%d\","
                "\"level\":\"%s\",\"bytes\":%" PRId64 ",\"msg\":\"req %" PRId64
                " say \\\"h\\u00e9\\\" /api/v%d\"",
                i, ts, (int)(i % 13), level, (i * 7919) % 100000, i,
                (int)(i % 5));
  else
    n = sprintf(o,
                "{\"id\":%" PRId64 ",\"ts\":\"%s\",\"service\":\"svc-%d\","
                "\"level\":\"%s\",\"bytes\":%" PRId64 ",\"msg\":\"req %" PRId64
                " path /api/v%d\"",
                i, ts, (int)(i % 13), level, (i * 7919) % 100000, i,
                (int)(i % 5));
  o[n++] = '}';
  return (size_t)n;
}

static void usage(FILE *f) {
  fprintf(f, "usage: sluice produce --brokers HOST:PORT --topic T --lines N\n"
             "         [--per-message K] [--start I] [--partitions P]\n"
             "         [--poison N] [--compression none|lz4|zstd|snappy|gzip]\n"
             "         [-X librdkafka.property=value]...\n");
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  int64_t *failed = opaque;
  if (m->err) {
    if (*failed < 5)
      fprintf(stderr, "produce: delivery failed: %s\n",
              rd_kafka_err2str(m->err));
    (*failed)++;
  }
}

int sl_cmd_produce(int argc, char **argv) {
  const char *brokers = NULL, *topic = NULL, *codec = "none";
  int64_t lines = -1, per = 1, start = 0, poison = 0;
  int partitions = 0;
  char errstr[512];
  static const struct option opts[] = {
      {"brokers", required_argument, 0, 'b'},
      {"topic", required_argument, 0, 't'},
      {"lines", required_argument, 0, 'n'},
      {"per-message", required_argument, 0, 'k'},
      {"start", required_argument, 0, 's'},
      {"partitions", required_argument, 0, 'p'},
      {"poison", required_argument, 0, 'x'},
      {"compression", required_argument, 0, 'z'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  int64_t failed = 0;
  rd_kafka_conf_set_opaque(conf, &failed);
  rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
  const char *defaults[][2] = {{"enable.idempotence", "true"},
                               {"acks", "all"},
                               {"linger.ms", "20"},
                               {"batch.size", "900000"},
                               {"batch.num.messages", "100000"},
                               {"queue.buffering.max.kbytes", "1048576"},
                               {"queue.buffering.max.messages", "2000000"},
                               {"message.max.bytes", "1000000"}};
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr,
                      sizeof errstr);
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "X:h", opts, NULL)) != -1) {
    switch (c) {
    case 'b': brokers = optarg; break;
    case 't': topic = optarg; break;
    case 'n': lines = strtoll(optarg, NULL, 10); break;
    case 'k': per = strtoll(optarg, NULL, 10); break;
    case 's': start = strtoll(optarg, NULL, 10); break;
    case 'p': partitions = atoi(optarg); break;
    case 'x': poison = strtoll(optarg, NULL, 10); break;
    case 'z': codec = optarg; break;
    case 'X': {
      char *eq = strchr(optarg, '=');
      if (!eq) {
        fprintf(stderr, "produce: -X expects property=value, found '%s'\n",
                optarg);
        rd_kafka_conf_destroy(conf);
        return 2;
      }
      *eq = '\0';
      if (rd_kafka_conf_set(conf, optarg, eq + 1, errstr, sizeof errstr)) {
        fprintf(stderr, "produce: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
      }
      break;
    }
    case 'h':
      usage(stdout);
      rd_kafka_conf_destroy(conf);
      return 0;
    default:
      usage(stderr);
      rd_kafka_conf_destroy(conf);
      return 2;
    }
  }
  if (!brokers || !topic || lines < 0 || per < 1 || per > 1000000 ||
      start < 0 || partitions < 0 || poison < 0) {
    usage(stderr);
    rd_kafka_conf_destroy(conf);
    return 2;
  }
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr,
                        sizeof errstr) ||
      rd_kafka_conf_set(conf, "compression.codec", codec, errstr,
                        sizeof errstr)) {
    fprintf(stderr, "produce: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return 2;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "produce: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return 1;
  }
  size_t cap = (size_t)per * 320 + 64;
  char *buf = sl_malloc(cap);
  if (!buf) {
    rd_kafka_destroy(rk);
    return 1;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int64_t i = start, end = start + lines, messages = 0, bytes = 0;
  int rc = 0;
  while (i < end) {
    size_t len = 0;
    for (int64_t j = 0; j < per && i < end; j++, i++) {
      if (j) buf[len++] = '\n';
      len += gen_line(buf + len, i, poison);
    }
    int32_t part = partitions > 0 ? (int32_t)(messages % partitions)
                                  : RD_KAFKA_PARTITION_UA;
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
          RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_END);
      if (!e) break;
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 50);
        continue;
      }
      fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
      rc = 1;
      goto done;
    }
    messages++;
    bytes += (int64_t)len;
    if ((messages & 1023) == 0) rd_kafka_poll(rk, 0);
  }
done:
  while (rd_kafka_outq_len(rk) > 0)
    rd_kafka_flush(rk, 1000);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (failed) rc = 1;
  printf("{\"messages\":%" PRId64 ",\"lines\":%" PRId64 ",\"bytes\":%" PRId64
         ",\"failed\":%" PRId64 ",\"seconds\":%.3f}\n",
         messages, i - start, bytes, failed, secs);
  sl_free(buf);
  rd_kafka_destroy(rk);
  return rc;
}

#else

int sl_cmd_produce(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "produce: not built in (librdkafka was not found when "
                  "sluice was built)\n");
  return 2;
}
#endif
