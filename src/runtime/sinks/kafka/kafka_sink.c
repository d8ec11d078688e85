/* The kafka sink: result rows (or the records of a passthrough function) as
 * JSON lines produced to a topic by an idempotent librdkafka producer
 * (enable.idempotence, acks=all: no duplicates from the producer's own
 * retries, order kept per partition).
 *
 * Durability: each write retains the batch's ack until the broker
 * acknowledged every message of that write; only then can the trigger
 * commit the batch's offsets. A message that fails for good (delivery
 * timeout, topic missing) keeps its ack forever: the position is never
 * committed and a restart replays it (at-least-once; docs/delivery.md).
 *
 * Messages hold `linesPerMessage` rows each (1 by default); with `key` set,
 * each row is one message keyed by that column's value (so rows with the
 * same key land in the same partition, in order). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "runtime/json_out.h"
#include "runtime/rt.h"
#include "runtime/triggers/kafka/kafka_conf.h"
#include "sluice/alloc.h"

struct ksink_attrs {
  struct sl_strlist brokers;
  char *topic;
  char *key;
  int64_t lines_per_message;
  char *compression;
  int64_t linger_ms, flush_timeout_ms, delivery_timeout_ms;
  struct sl_strmap sasl, tls, librdkafka;
};

#define A(f) offsetof(struct ksink_attrs, f)
static const struct sl_cfg_entry ksink_config[] = {
    {"brokers", SL_CFG_STRLIST, NULL, 0, 0, NULL, A(brokers),
     "Bootstrap brokers, `host:port`.", true},
    {"topic", SL_CFG_STRING, NULL, 0, 0, NULL, A(topic),
     "Topic the rows are produced to.", true},
    {"key", SL_CFG_STRING, NULL, 0, 0, NULL, A(key),
     "Column whose value keys each message (one row per message); unset: "
     "no key, `linesPerMessage` rows per message.",
     false},
    {"linesPerMessage", SL_CFG_INT, "1", 1, 100000, NULL, A(lines_per_message),
     "Rows (JSON lines) per message without `key`.", false},
    {"compression", SL_CFG_ENUM, "lz4", 0, 0, "none|gzip|snappy|lz4|zstd",
     A(compression), "Producer compression.", false},
    {"linger", SL_CFG_DURATION, "5ms", 0, 60000, NULL, A(linger_ms),
     "linger.ms: how long the producer gathers a request.", false},
    {"deliveryTimeout", SL_CFG_DURATION, "120s", 1000, 3600000, NULL,
     A(delivery_timeout_ms),
     "delivery.timeout.ms: after this a message fails for good and its "
     "batch is never committed.",
     false},
    {"flushTimeout", SL_CFG_DURATION, "30s", 0, 3600000, NULL,
     A(flush_timeout_ms), "How long a drain waits for acknowledgements.",
     false},
    {"sasl", SL_CFG_STRMAP, NULL, 0, 0, NULL, A(sasl),
     "SASL: enable, user, password, mechanism.", false},
    {"tls", SL_CFG_STRMAP, NULL, 0, 0, NULL, A(tls),
     "TLS: enable, caCert, cert, key, keyPassword, insecureSkipVerify.", false},
    {"librdkafka", SL_CFG_STRMAP, NULL, 0, 0, NULL, A(librdkafka),
     "Any librdkafka producer property, passed through verbatim.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

#ifdef SLUICE_HAVE_RDKAFKA

struct ksink_state {
  rd_kafka_t *rk;
  pthread_t th;
  bool started;
  atomic_bool stop;
  struct sl_sink_metrics *m;
  struct sl_sink *s;
};

/* The messages of one write: the ack is released when all are acked. */
struct pending {
  struct sl_ack *ack;
  atomic_llong left;
  atomic_bool failed;
  struct ksink_state *st;
};

static void pending_done(struct pending *p) {
  if (atomic_load(&p->failed)) {
    /* Keep the ack: its position is never committed (replayed later). */
    sl_log(p->st->s->rt, SL_LOG_ERROR,
           "kafka sink: messages failed for good; their batch stays "
           "uncommitted",
           "\"sink\":\"%s\"", p->st->s->spec->name);
  } else if (p->ack) {
    sl__ack_release(p->ack);
  }
  sl_free(p);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct ksink_state *st = opaque;
  struct pending *p = m->_private;
  if (m->err) {
    sl__count(&st->m->errors, 1);
    if (p) atomic_store(&p->failed, true);
  } else {
    sl__count(&st->m->bytes, (long long)m->len);
  }
  if (p && atomic_fetch_sub(&p->left, 1) == 1) pending_done(p);
}

static int build_conf(const struct sl_spec_sink *s, rd_kafka_conf_t **out,
                      struct sl_error *err) {
  const struct ksink_attrs *a = s->attrs;
  char where[300], v[64];
  snprintf(where, sizeof where, "spec.sinks.%s.attributes", s->name);
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  if (!c) return sl_error_set(err, SL_ENOMEM, "out of memory");
  int rc = 0;
#define SET(k, val)                                                            \
  SL_CHECK_GOTO(sl__kafka_set(c, k, val, where, err), rc, fail)
  SET("enable.idempotence", "true");
  SET("acks", "all");
  SET("client.id", "sluice-sink");
  SET("compression.codec", a->compression);
  snprintf(v, sizeof v, "%lld", (long long)a->linger_ms);
  SET("linger.ms", v);
  snprintf(v, sizeof v, "%lld", (long long)a->delivery_timeout_ms);
  SET("delivery.timeout.ms", v);
#undef SET
  SL_CHECK_GOTO(sl__kafka_conf_common(c, &a->brokers, &a->sasl, &a->tls,
                                      &a->librdkafka, where, err),
                rc, fail);
  *out = c;
  return 0;
fail:
  rd_kafka_conf_destroy(c);
  return rc;
}

static int ksink_validate(const struct sl_spec_sink *s, const char *file,
                          struct sl_error *err) {
  rd_kafka_conf_t *c = NULL;
  if (build_conf(s, &c, err))
    return sl_error_prefix(err, "%s:%d:%d: ", file, s->line, s->col);
  rd_kafka_conf_destroy(c);
  return 0;
}

static void *poll_main(void *arg) {
  struct ksink_state *st = arg;
  while (!atomic_load(&st->stop))
    rd_kafka_poll(st->rk, 100);
  return NULL;
}

static int ksink_init(struct sl_sink *s, struct sl_error *err) {
  struct ksink_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  s->state = st;
  st->s = s;
  for (int32_t i = 0; i < s->rt->n_sinks; i++)
    if (&s->rt->sinks[i] == s) st->m = &s->rt->metrics.sinks[i];
  rd_kafka_conf_t *c = NULL;
  SL_RETURN_NOT_OK(build_conf(s->spec, &c, err));
  rd_kafka_conf_set_opaque(c, st);
  rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
  char why[512];
  st->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, why, sizeof why);
  if (!st->rk) {
    rd_kafka_conf_destroy(c);
    return sl_error_set(err, SL_EINVAL,
                        "sink %s: cannot create the Kafka producer: %s",
                        s->spec->name, why);
  }
  if (pthread_create(&st->th, NULL, poll_main, st))
    return sl_error_set(err, SL_EIO, "cannot start the kafka sink thread");
  st->started = true;
  return 0;
}

/* The text of row r's key column (numbers printed, strings as they are). */
static int key_of(const struct sl_array *col, int64_t r, char *buf, size_t cap,
                  const char **k, size_t *kl) {
  if (!sl_array_is_valid(col, r)) {
    *k = NULL;
    *kl = 0;
    return 0;
  }
  if (sl_type_is_string(col->type)) {
    int64_t len = 0;
    *k = sl_array_str(col, r, &len);
    *kl = (size_t)len;
    return 0;
  }
  int n;
  if (col->type == SL_TYPE_INT64 || col->type == SL_TYPE_TIMESTAMP_MS ||
      col->type == SL_TYPE_TIMESTAMP_US)
    n = snprintf(buf, cap, "%" PRId64, sl_array_i64(col)[r]);
  else if (col->type == SL_TYPE_INT32)
    n = snprintf(buf, cap, "%" PRId32, sl_array_i32(col)[r]);
  else if (col->type == SL_TYPE_BOOL)
    n = snprintf(buf, cap, "%s", sl_array_bool(col, r) ? "true" : "false");
  else
    return SL_ENOTSUP;
  *k = buf;
  *kl = (size_t)n;
  return 0;
}

static int ksink_write(struct sl_sink *s, const struct sl_batch *batch,
                       struct sl_ack *ack, struct sl_error *err) {
  const struct ksink_attrs *a = s->attrs;
  struct ksink_state *st = s->state;
  if (batch->length == 0) return 0;
  int32_t kc = -1;
  if (a->key) {
    kc = sl_schema_find(&batch->schema, a->key);
    if (kc < 0)
      return sl_error_set(err, SL_ENOENT, "key column '%s' is not in the rows",
                          a->key);
  }
  struct sl_text text = {0};
  int rc = sl__batch_to_jsonl(batch, &text);
  if (rc) {
    sl_free(text.p);
    return sl_error_set(err, rc, "out of memory");
  }
  struct pending *p = sl_calloc(1, sizeof *p);
  if (!p) {
    sl_free(text.p);
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  }
  p->st = st;
  p->ack = ack;
  if (ack) sl__ack_retain(ack);
  atomic_init(&p->left, 1); /* a guard held while producing */
  int64_t per = kc >= 0 ? 1 : a->lines_per_message;
  size_t pos = 0;
  for (int64_t r = 0; r < batch->length && !rc; r += per) {
    size_t start = pos;
    for (int64_t j = 0; j < per && pos < text.len; j++) {
      const char *nl = memchr(text.p + pos, '\n', text.len - pos);
      pos = nl ? (size_t)(nl - text.p) + 1 : text.len;
    }
    size_t len = pos - start;
    if (len && text.p[start + len - 1] == '\n') len--; /* one line: no '\n' */
    char kb[64];
    const char *k = NULL;
    size_t kl = 0;
    if (kc >= 0 && key_of(batch->columns[kc], r, kb, sizeof kb, &k, &kl)) {
      rc = sl_error_set(err, SL_ENOTSUP,
                        "key column '%s' of type %s cannot "
                        "key a message",
                        a->key, sl_type_name(batch->columns[kc]->type));
      break;
    }
    atomic_fetch_add(&p->left, 1);
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          st->rk, RD_KAFKA_V_TOPIC(a->topic),
          RD_KAFKA_V_VALUE(text.p + start, len), RD_KAFKA_V_KEY(k, kl),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(p),
          RD_KAFKA_V_END);
      if (!e) break;
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(st->rk, 20);
        continue;
      }
      atomic_fetch_sub(&p->left, 1);
      rc = sl_error_set(err, SL_EIO, "produce to '%s': %s", a->topic,
                        rd_kafka_err2str(e));
      break;
    }
  }
  sl_free(text.p);
  if (rc) atomic_store(&p->failed, true);
  if (atomic_fetch_sub(&p->left, 1) == 1) pending_done(p);
  return rc;
}

static int ksink_flush(struct sl_sink *s, struct sl_error *err) {
  const struct ksink_attrs *a = s->attrs;
  struct ksink_state *st = s->state;
  rd_kafka_resp_err_t e = rd_kafka_flush(st->rk, (int)a->flush_timeout_ms);
  if (e)
    return sl_error_set(err, SL_ECANCELED,
                        "sink %s: %d messages not acknowledged after %lld ms",
                        s->spec->name, rd_kafka_outq_len(st->rk),
                        (long long)a->flush_timeout_ms);
  return 0;
}

static void ksink_destroy(struct sl_sink *s) {
  struct ksink_state *st = s->state;
  if (!st) return;
  if (st->started) {
    atomic_store(&st->stop, true);
    pthread_join(st->th, NULL);
  }
  if (st->rk) {
    rd_kafka_flush(st->rk, 5000);
    rd_kafka_destroy(st->rk);
  }
  sl_free(st);
  s->state = NULL;
}

const struct sl_sink_vtable sl__sink_kafka = {
    .name = "kafka",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "Rows as JSON lines produced to a Kafka topic by an idempotent "
           "producer; a batch's position is committed only once the broker "
           "acknowledged its messages.",
    .config = ksink_config,
    .config_size = sizeof(struct ksink_attrs),
    .validate = ksink_validate,
    .init = ksink_init,
    .write = ksink_write,
    .flush = ksink_flush,
    .destroy = ksink_destroy,
};

#else /* !SLUICE_HAVE_RDKAFKA */

static int ksink_validate(const struct sl_spec_sink *s, const char *file,
                          struct sl_error *err) {
  return sl__kafka_not_built("kafka", file, s->line, s->col, s->name, err);
}

const struct sl_sink_vtable sl__sink_kafka = {
    .name = "kafka",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "Kafka producer sink: not built in (no librdkafka).",
    .config = ksink_config,
    .config_size = sizeof(struct ksink_attrs),
    .validate = ksink_validate,
};
#endif
