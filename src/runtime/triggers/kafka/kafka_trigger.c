/* The kafka-cluster trigger (Nuclio's attribute names), built on librdkafka:
 * a consumer group member with cooperative-sticky rebalancing, per-partition
 * micro-batches by count, bytes and wait, offsets committed only once the
 * batches up to them are durable in every sink (kafka_offsets.c).
 *
 * Without librdkafka at build time the kind still exists and any spec that
 * names it fails validation with a "not built in" error. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/triggers/kafka/kafka_conf.h"
#include "runtime/triggers/kafka/kafka_trigger.h"
#include "sluice/alloc.h"

#define A(f) offsetof(struct kafka_attrs, f)
static const struct sl_cfg_entry kafka_config[] = {
    {"brokers", SL_CFG_STRLIST, NULL, 0, 0, NULL, A(brokers),
     "Bootstrap brokers, `host:port` (a list, or one comma-separated string).",
     true},
    {"topics", SL_CFG_STRLIST, NULL, 0, 0, NULL, A(topics),
     "Topics to consume.", true},
    {"consumerGroup", SL_CFG_STRING, NULL, 0, 0, NULL, A(group),
     "Consumer group: processes with the same group share the partitions.",
     true},
    {"initialOffset", SL_CFG_ENUM, "earliest", 0, 0, "earliest|latest",
     A(initial_offset), "Where a group without a committed offset starts.",
     false},
    {"sessionTimeout", SL_CFG_DURATION, "10s", 1000, 3600000, NULL,
     A(session_ms),
     "Group session timeout (a dead member's partitions move "
     "after this long).",
     false},
    {"heartbeatInterval", SL_CFG_DURATION, "3s", 100, 3600000, NULL,
     A(heartbeat_ms), "Group heartbeat interval.", false},
    {"maxWaitHandlerDuringRebalance", SL_CFG_DURATION, "20s", 0, 3600000, NULL,
     A(rebalance_wait_ms),
     "On revoke, how long to wait for the revoked partitions' batches to "
     "become durable and be committed; after that they are abandoned "
     "uncommitted (the next owner reads them again).",
     false},
    {"maxPollInterval", SL_CFG_DURATION, "300s", 1000, 86400000, NULL,
     A(max_poll_ms), "librdkafka max.poll.interval.ms.", false},
    {"workerAllocationMode", SL_CFG_ENUM, "pool", 0, 0, "pool|static",
     A(alloc_mode),
     "pool: a partition's batches go to any free worker, several at once; "
     "static: a partition has one batch in flight at a time (the next is cut "
     "once the previous is durable), so its records are handled and written "
     "in offset order.",
     false},
    {"balanceStrategy", SL_CFG_ENUM, "cooperative-sticky", 0, 0,
     "cooperative-sticky|range|roundrobin", A(strategy),
     "Partition assignment strategy (cooperative-sticky: incremental "
     "rebalances, only moved partitions are revoked).",
     false},
    {"fetchMin", SL_CFG_SIZE, "1", 1, 104857600, NULL, A(fetch_min),
     "fetch.min.bytes.", false},
    {"fetchDefault", SL_CFG_SIZE, "2MiB", 1024, 1073741824, NULL,
     A(fetch_default), "max.partition.fetch.bytes (per partition, per fetch).",
     false},
    {"fetchMax", SL_CFG_SIZE, "16MiB", 1024, 2147483135, NULL, A(fetch_max),
     "fetch.max.bytes (per fetch request). Below 32 MiB the C library reuses "
     "fetch buffers instead of mapping fresh pages for each response.",
     false},
    {"maxWaitTime", SL_CFG_DURATION, "100ms", 0, 60000, NULL, A(fetch_wait_ms),
     "fetch.wait.max.ms.", false},
    {"queuedMaxBytes", SL_CFG_SIZE, "256MiB", 1048576, 2147483647LL, NULL,
     A(queued_max_bytes),
     "Prefetch buffer of the consumer (queued.max.messages.kbytes).", false},
    {"queuedMinMessages", SL_CFG_INT, "1000000", 1, 10000000, NULL,
     A(queued_min_msgs),
     "Prefetch buffer of the consumer in messages (queued.min.messages). "
     "Once the buffer holds this many messages or queuedMaxBytes, "
     "librdkafka 2.0 stops fetching for up to one second, so both should "
     "hold about a second of input: librdkafka's default of 100000 starves "
     "the consumer when messages are small.",
     false},
    {"sasl", SL_CFG_STRMAP, NULL, 0, 0, NULL, A(sasl),
     "SASL: enable, user, password, mechanism (PLAIN, SCRAM-SHA-256, "
     "SCRAM-SHA-512).",
     false},
    {"tls", SL_CFG_STRMAP, NULL, 0, 0, NULL, A(tls),
     "TLS: enable, caCert, cert, key, keyPassword, insecureSkipVerify "
     "(file paths).",
     false},
    {"librdkafka", SL_CFG_STRMAP, NULL, 0, 0, NULL, A(librdkafka),
     "Any librdkafka consumer property, passed through verbatim.", false},
    {"retries", SL_CFG_INT, "3", 0, 1000, NULL, A(retries),
     "A failed batch is run again this many times (with backoff) before its "
     "failing records are isolated.",
     false},
    {"retryBackoff", SL_CFG_DURATION, "200ms", 0, 600000, NULL,
     A(retry_backoff_ms), "First wait before a retry; doubles each time.",
     false},
    {"maxRetryBackoff", SL_CFG_DURATION, "10s", 0, 3600000, NULL,
     A(max_retry_backoff_ms), "Cap of the retry wait.", false},
    {"deadLetterOnError", SL_CFG_BOOL, "true", 0, 0, NULL,
     A(dead_letter_on_error),
     "After the retries, split the batch and send the records that fail on "
     "their own to the dead-letter sink (the rest goes through); false: "
     "retry the batch until it succeeds (the partition stalls, nothing is "
     "committed past it).",
     false},
    {"channelBufferSize", SL_CFG_IGNORE, NULL, 0, 0, NULL, 0,
     "Nuclio (Sarama); ignored.", false},
    {"ackWindowSize", SL_CFG_IGNORE, NULL, 0, 0, NULL, 0,
     "Nuclio; ignored: sluice commits what is durable.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

#ifdef SLUICE_HAVE_RDKAFKA

#define POLL_BATCH 4096

static void where_of(const struct sl_spec_trigger *t, char *buf, size_t cap) {
  snprintf(buf, cap, "spec.triggers.%s.attributes", t->name);
}

/* Builds the consumer configuration; validate and start share it. */
static int build_conf(const struct sl_spec_trigger *t, rd_kafka_conf_t **out,
                      struct sl_error *err) {
  const struct kafka_attrs *a = t->attrs;
  char where[300], v[64];
  where_of(t, where, sizeof where);
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  if (!c) return sl_error_set(err, SL_ENOMEM, "out of memory");
  int rc = 0;
#define SET(k, val)                                                            \
  SL_CHECK_GOTO(sl__kafka_set(c, k, val, where, err), rc, fail)
#define SETI(k, n)                                                             \
  do {                                                                         \
    snprintf(v, sizeof v, "%lld", (long long)(n));                             \
    SET(k, v);                                                                 \
  } while (0)
  SET("group.id", a->group);
  SET("client.id", "sluice");
  SET("auto.offset.reset", a->initial_offset);
  SET("enable.auto.commit", "false");
  SET("enable.auto.offset.store", "false");
  SET("enable.partition.eof", "false");
  SET("partition.assignment.strategy", a->strategy);
  SETI("session.timeout.ms", a->session_ms);
  SETI("heartbeat.interval.ms", a->heartbeat_ms);
  SETI("max.poll.interval.ms", a->max_poll_ms);
  SETI("fetch.min.bytes", a->fetch_min);
  SETI("max.partition.fetch.bytes", a->fetch_default);
  SETI("fetch.max.bytes", a->fetch_max);
  SETI("fetch.wait.max.ms", a->fetch_wait_ms);
  SETI("queued.max.messages.kbytes", a->queued_max_bytes / 1024);
  SETI("queued.min.messages", a->queued_min_msgs);
  SETI("receive.message.max.bytes",
       (a->fetch_max < 2147483135 - 1048576 ? a->fetch_max
                                            : 2147483135 - 1048576) +
           1048576);
  SL_CHECK_GOTO(sl__kafka_conf_common(c, &a->brokers, &a->sasl, &a->tls,
                                      &a->librdkafka, where, err),
                rc, fail);
#undef SET
#undef SETI
  *out = c;
  return 0;
fail:
  rd_kafka_conf_destroy(c);
  return rc;
}

static int kafka_validate(const struct sl_spec_trigger *t, const char *file,
                          struct sl_error *err) {
  const struct kafka_attrs *a = t->attrs;
  if (a->topics.n == 0 || a->brokers.n == 0)
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes: expected at "
                        "least one broker and one topic, found none",
                        file, t->line, t->col, t->name);
  if (a->heartbeat_ms >= a->session_ms)
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes."
                        "heartbeatInterval: expected less than sessionTimeout "
                        "(%lld ms), found %lld ms",
                        file, t->line, t->col, t->name,
                        (long long)a->session_ms, (long long)a->heartbeat_ms);
  rd_kafka_conf_t *c = NULL;
  int rc = build_conf(t, &c, err);
  if (rc) return sl_error_prefix(err, "%s:%d:%d: ", file, t->line, t->col);
  rd_kafka_conf_destroy(c);
  return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
  struct sl_trigger *t = rd_kafka_opaque(rk);
  char esc[600];
  sl__json_escape(esc, sizeof esc, buf, strlen(buf));
  sl_log(t ? t->rt : NULL,
         level <= 3   ? SL_LOG_ERROR
         : level <= 4 ? SL_LOG_WARN
                      : SL_LOG_DEBUG,
         "librdkafka", "\"facility\":\"%s\",\"detail\":\"%s\"", fac, esc);
}

static void error_cb(rd_kafka_t *rk, int code, const char *reason,
                     void *opaque) {
  (void)rk;
  struct sl_trigger *t = opaque;
  struct kafka_state *st = t->state;
  sl__count(&st->consume_errors, 1);
  char esc[600];
  sl__json_escape(esc, sizeof esc, reason, strlen(reason));
  sl_log(t->rt, SL_LOG_WARN, "kafka error",
         "\"trigger\":\"%s\",\"code\":\"%s\",\"reason\":\"%s\"", t->spec->name,
         rd_kafka_err2name((rd_kafka_resp_err_t)code), esc);
}

static int kafka_init(struct sl_trigger *t, struct sl_error *err) {
  struct kafka_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  pthread_mutex_init(&st->mu, NULL);
  pthread_mutex_init(&st->pool_mu, NULL);
  st->acc_cap = (size_t)t->spec->batch.max_bytes + 1;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&st->cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&st->handing, -1);
  st->last_hit = -1;
  t->state = st;
  st->window = t->delivery.window;
  st->seqmap = sl_calloc((size_t)st->window, sizeof *st->seqmap);
  if (!st->seqmap) return sl_error_set(err, SL_ENOMEM, "out of memory");
  const struct kafka_attrs *a = t->attrs;
  st->retry =
      (struct sl_retry_policy){.retries = a->retries,
                               .backoff_ms = a->retry_backoff_ms,
                               .max_backoff_ms = a->max_retry_backoff_ms,
                               .dead_letter = a->dead_letter_on_error};
  t->retry = &st->retry;
  st->ordered = !strcmp(a->alloc_mode, "static");
  t->delivery.on_done = sl__kafka_on_done;
  t->delivery.done_ctx = t;
  t->m->extra = sl__kafka_metrics;
  t->m->extra_ctx = t;
  return 0;
}

static int kafka_start(struct sl_trigger *t, struct sl_error *err);

/* Newlines in a payload. A byte-wide counter over blocks of at most 255
 * bytes lets the compiler vectorise the loop; a memchr call per line costs
 * more than the scan when lines are short. */
static int64_t count_lines(const char *p, size_t n) {
  int64_t k = 0;
  while (n > 0) {
    size_t m = n < 255 ? n : 255;
    uint8_t c = 0;
    for (size_t i = 0; i < m; i++)
      c = (uint8_t)(c + (p[i] == '\n'));
    k += c;
    p += m;
    n -= m;
  }
  return k;
}

/* A worker frees a batch: keep its buffer for the next accumulator. */
static void acc_release(void *ctx, char *data, size_t cap) {
  struct kafka_state *st = ctx;
  if (data && cap == st->acc_cap) {
    pthread_mutex_lock(&st->pool_mu);
    if (st->n_pool < (int)(sizeof st->pool / sizeof st->pool[0])) {
      st->pool[st->n_pool++] = data;
      data = NULL;
    }
    pthread_mutex_unlock(&st->pool_mu);
  }
  sl_free(data);
}

static char *acc_take(struct kafka_state *st) {
  char *b = NULL;
  pthread_mutex_lock(&st->pool_mu);
  if (st->n_pool > 0) b = st->pool[--st->n_pool];
  pthread_mutex_unlock(&st->pool_mu);
  return b;
}

bool sl__kafka_handover(struct sl_trigger *t, int32_t idx, bool force) {
  struct kafka_state *st = t->state;
  struct kafka_part *p = st->parts[idx];
  if (p->len == 0) return true;
  if (st->ordered && !force) {
    pthread_mutex_lock(&st->mu);
    bool busy = p->qlen > 0;
    pthread_mutex_unlock(&st->mu);
    if (busy) return false;
  }
  /* Backpressure: wait for room in the worker queue; the consumer keeps
   * prefetching up to queuedMaxBytes meanwhile. */
  int64_t t0 = sl__now_ms();
  while (!sl__batcher_admit(t->batcher, 100))
    if (atomic_load(&t->rt->stopping)) break;
  if (sl__now_ms() - t0 >= 2) st->held_back = true; /* queue may fill */
  struct sl_rt_pos pos = {.source = p->name,
                          .a = (uint64_t)p->first_off,
                          .b = (uint64_t)p->first_off,
                          .end = (uint64_t)p->next_off,
                          .flags = SL_POS_OFFSETS};
  struct sl_error e = {0};
  atomic_store(&st->handing, idx);
  /* The accumulator becomes the batch's buffer: no copy. */
  int rc = sl__batcher_append_owned(t->batcher, &p->buf, p->len, p->cap,
                                    p->lines, &pos, acc_release, st, &e);
  if (!rc) p->cap = 0;
  atomic_store(&st->handing, -1);
  if (rc) {
    /* These records are not in any batch: never commit past them here. */
    pthread_mutex_lock(&st->mu);
    p->abandoned = true;
    pthread_mutex_unlock(&st->mu);
    sl_log(t->rt, SL_LOG_ERROR, "kafka batch lost, partition left uncommitted",
           "\"trigger\":\"%s\",\"partition\":\"%s\",\"error\":\"%s\"",
           t->spec->name, p->name, e.msg);
  }
  p->len = 0;
  p->lines = 0;
  p->first_off = p->next_off;
  return true;
}

/* Returns whether the message's records were taken. */
static bool on_message(struct sl_trigger *t, rd_kafka_message_t *m) {
  struct kafka_state *st = t->state;
  const struct sl_spec_batch *lim = &t->spec->batch;
  if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return false;
    sl__count(&st->consume_errors, 1);
    sl_log(t->rt, SL_LOG_WARN, "kafka consume error",
           "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name,
           rd_kafka_message_errstr(m));
    return false;
  }
  int32_t idx = st->last_hit;
  struct kafka_part *p;
  if (idx >= 0 && st->last_rkt == (const void *)m->rkt &&
      st->parts[idx]->partition == m->partition) {
    p = st->parts[idx]; /* same topic handle: no name comparison */
  } else {
    p = sl__kafka_part_get(t, rd_kafka_topic_name(m->rkt), m->partition, &idx);
    if (!p) return false;
    st->last_rkt = m->rkt;
  }
  if (!atomic_load_explicit(&p->assigned, memory_order_relaxed))
    return false; /* fetched before a revoke: the new owner reads it */
  size_t n = m->payload ? m->len : 0;
  int64_t lines = n ? count_lines(m->payload, n) : 0;
  bool add_nl = n && ((const char *)m->payload)[n - 1] != '\n';
  lines += add_nl;
  if (p->len > 0 && (p->lines + lines > lim->max_events ||
                     (int64_t)(p->len + n + 1) > lim->max_bytes))
    sl__kafka_handover(t, idx, false); /* static mode: may keep growing */
  if (p->len == 0) {
    p->first_off = m->offset;
    p->opened_ms = sl__now_ms();
  }
  if (n) {
    if (p->cap == 0 && !p->buf && n + 1 <= st->acc_cap &&
        (p->buf = acc_take(st)))
      p->cap = st->acc_cap;
    if (p->len + n + 1 > p->cap) {
      /* A new accumulator gets a whole batch's room at once (no regrowth
       * copies); one message above maxBytes grows it. */
      size_t nc = p->cap ? p->cap * 2 : (size_t)lim->max_bytes + 1;
      while (nc < p->len + n + 1)
        nc *= 2;
      char *nb = sl_realloc(p->buf, nc);
      if (!nb) {
        sl__count(&st->consume_errors, 1);
        pthread_mutex_lock(&st->mu);
        p->abandoned = true;
        pthread_mutex_unlock(&st->mu);
        return false;
      }
      p->buf = nb;
      p->cap = nc;
    }
    memcpy(p->buf + p->len, m->payload, n);
    p->len += n;
    if (add_nl) p->buf[p->len++] = '\n';
  }
  p->lines += lines;
  p->next_off = m->offset + 1;
  atomic_store_explicit(&p->position, p->next_off, memory_order_relaxed);
  if (p->lines >= lim->max_events || (int64_t)p->len >= lim->max_bytes)
    sl__kafka_handover(t, idx, false);
  return true;
}

static void set_paused(struct kafka_state *st, struct kafka_part *p, bool on) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  if (!l) return;
  rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
  rd_kafka_resp_err_t e = on ? rd_kafka_pause_partitions(st->rk, l)
                             : rd_kafka_resume_partitions(st->rk, l);
  if (!e) p->paused = on;
  rd_kafka_topic_partition_list_destroy(l);
}

/* Hands over accumulators older than maxWait (or full, held back in static
 * mode); returns ms until the next check. */
static int64_t expire(struct sl_trigger *t, bool all) {
  struct kafka_state *st = t->state;
  const struct sl_spec_batch *lim = &t->spec->batch;
  int64_t now = sl__now_ms(), next = 100;
  for (int32_t i = 0; i < st->n_parts; i++) {
    struct kafka_part *p = st->parts[i];
    if (!p->len) continue;
    int64_t left = p->opened_ms + lim->max_wait_ms - now;
    bool full =
        p->lines >= lim->max_events || (int64_t)p->len >= lim->max_bytes;
    if (all || left <= 0 || full) {
      bool handed = sl__kafka_handover(t, i, all);
      if (!handed && next > 5) next = 5;
      if (!handed && full && !p->paused) /* static mode: stop fetching */
        set_paused(st, p, true);
      else if (handed && p->paused)
        set_paused(st, p, false);
    } else if (left < next) {
      next = left;
    }
  }
  return next < 1 ? 1 : next;
}

/* librdkafka 2.0 stops fetching once its prefetch queue reaches
 * queuedMaxBytes / queuedMinMessages and looks again only after up to one
 * second (fetch.queue.backoff.ms, which shortens this, came in 2.2), and
 * draining the queue does not wake it: with a handler slower than the fetcher
 * the consumer then starves for most of that second. The queue only fills
 * while this thread waits for the workers (held_back); if after such a wait
 * the queue has been empty for WAKE_IDLE_MS while the broker holds records
 * past a partition's position, seek those partitions to that position: a
 * seek wakes the fetcher at once. The queue being empty, nothing is skipped
 * or read twice (a response in flight is dropped by librdkafka and fetched
 * again); committed offsets do not move. */
#define WAKE_IDLE_MS 30
#define WAKE_EVERY_MS 250

static void wake_fetcher(struct sl_trigger *t, int64_t now) {
  struct kafka_state *st = t->state;
  if (!st->held_back || now - st->last_msg_ms < WAKE_IDLE_MS ||
      now - st->last_wakeup_ms < WAKE_EVERY_MS)
    return;
  rd_kafka_topic_partition_list_t *l = NULL;
  for (int32_t i = 0; i < st->n_parts; i++) {
    struct kafka_part *p = st->parts[i];
    int64_t pos = atomic_load_explicit(&p->position, memory_order_relaxed);
    int64_t lo = -1, hi = -1;
    if (!atomic_load_explicit(&p->assigned, memory_order_relaxed) ||
        p->paused || pos < 0 ||
        rd_kafka_get_watermark_offsets(st->rk, p->topic, p->partition, &lo,
                                       &hi) ||
        hi <= pos)
      continue;
    if (!l && !(l = rd_kafka_topic_partition_list_new(st->n_parts))) return;
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = pos;
  }
  st->last_wakeup_ms = now;
  st->held_back = false;
  if (!l) return;
  /* timeout 0: asynchronous; per-partition failures (a partition revoked
   * meanwhile) only mean no wake-up. */
  rd_kafka_error_t *e = rd_kafka_seek_partitions(st->rk, l, 0);
  if (e) rd_kafka_error_destroy(e);
  rd_kafka_topic_partition_list_destroy(l);
  sl__count(&st->fetch_wakeups, 1);
}

static void *poll_main(void *arg) {
  struct sl_trigger *t = arg;
  struct kafka_state *st = t->state;
  rd_kafka_message_t *msgs[POLL_BATCH];
  int64_t wait = 100, next_commit = sl__now_ms() + 1000;
  while (!atomic_load(&st->stop)) {
    ssize_t n =
        rd_kafka_consume_batch_queue(st->queue, (int)wait, msgs, POLL_BATCH);
    long long taken = 0;
    for (ssize_t i = 0; i < n; i++) {
      taken += on_message(t, msgs[i]);
      rd_kafka_message_destroy(msgs[i]);
    }
    if (n > 0) {
      sl__count(&t->m->messages, taken); /* once per call, not per message */
      sl__count(&t->m->requests, 1);
      st->last_msg_ms = sl__now_ms();
    } else {
      wake_fetcher(t, sl__now_ms());
    }
    wait = expire(t, t->spec->batch.max_wait_ms == 0);
    if (sl__now_ms() >= next_commit) { /* resends commits that failed */
      sl__kafka_commit_all(t, false);
      next_commit = sl__now_ms() + 1000;
    }
  }
  expire(t, true);
  return NULL;
}

static int kafka_start(struct sl_trigger *t, struct sl_error *err) {
  const struct kafka_attrs *a = t->attrs;
  struct kafka_state *st = t->state;
  rd_kafka_conf_t *c = NULL;
  SL_RETURN_NOT_OK(build_conf(t->spec, &c, err));
  rd_kafka_conf_set_opaque(c, t);
  rd_kafka_conf_set_rebalance_cb(c, sl__kafka_rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb(c, sl__kafka_commit_cb);
  rd_kafka_conf_set_error_cb(c, error_cb);
  rd_kafka_conf_set_log_cb(c, log_cb);
  char why[512];
  st->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, why, sizeof why);
  if (!st->rk) {
    rd_kafka_conf_destroy(c);
    return sl_error_set(err, SL_EINVAL,
                        "trigger %s: cannot create the Kafka "
                        "consumer: %s",
                        t->spec->name, why);
  }
  rd_kafka_poll_set_consumer(st->rk);
  st->queue = rd_kafka_queue_get_consumer(st->rk);
  rd_kafka_topic_partition_list_t *topics =
      rd_kafka_topic_partition_list_new(a->topics.n);
  for (int32_t i = 0; i < a->topics.n; i++)
    rd_kafka_topic_partition_list_add(topics, a->topics.v[i],
                                      RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(st->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e)
    return sl_error_set(err, SL_EINVAL, "trigger %s: cannot subscribe: %s",
                        t->spec->name, rd_kafka_err2str(e));
  if (pthread_create(&st->th, NULL, poll_main, t))
    return sl_error_set(err, SL_EIO, "cannot start the kafka poll thread");
  st->started = true;
  sl_log(t->rt, SL_LOG_INFO, "kafka consumer started",
         "\"trigger\":\"%s\",\"group\":\"%s\",\"topics\":%d,\"librdkafka\":"
         "\"%s\"",
         t->spec->name, a->group, (int)a->topics.n, rd_kafka_version_str());
  return 0;
}

static void kafka_stop(struct sl_trigger *t) {
  struct kafka_state *st = t->state;
  if (!st || !st->started) return;
  atomic_store(&st->stop, true);
  pthread_join(st->th, NULL);
  st->started = false;
}

static void kafka_destroy(struct sl_trigger *t) {
  struct kafka_state *st = t->state;
  if (!st) return;
  kafka_stop(t);
  if (st->rk) {
    /* Whatever became durable during the drain is committed now. */
    sl__kafka_commit_all(t, true);
    atomic_store(&st->closing, true);
    if (st->queue) rd_kafka_queue_destroy(st->queue);
    rd_kafka_consumer_close(st->rk);
    rd_kafka_destroy(st->rk);
  }
  t->m->extra = NULL;
  sl__kafka_parts_free(st);
  for (int i = 0; i < st->n_pool; i++)
    sl_free(st->pool[i]);
  pthread_mutex_destroy(&st->pool_mu);
  sl_free(st->seqmap);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  sl_free(st);
  t->state = NULL;
}

const struct sl_trigger_vtable sl__trigger_kafka = {
    .name = "kafka-cluster",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "Apache Kafka consumer group (librdkafka): partitions shared by "
           "every process of the group, micro-batches per partition, offsets "
           "committed only after the records up to them are durable in every "
           "sink (docs/delivery.md).",
    .config = kafka_config,
    .config_size = sizeof(struct kafka_attrs),
    .validate = kafka_validate,
    .init = kafka_init,
    .start = kafka_start,
    .stop = kafka_stop,
    .destroy = kafka_destroy,
    .cut = sl__kafka_cut,
    .position_key = sl__position_key_offsets,
};

#else /* !SLUICE_HAVE_RDKAFKA */

static int kafka_validate(const struct sl_spec_trigger *t, const char *file,
                          struct sl_error *err) {
  return sl__kafka_not_built("kafka-cluster", file, t->line, t->col, t->name,
                             err);
}

const struct sl_trigger_vtable sl__trigger_kafka = {
    .name = "kafka-cluster",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "Apache Kafka consumer group: not built in (no librdkafka).",
    .config = kafka_config,
    .config_size = sizeof(struct kafka_attrs),
    .validate = kafka_validate,
};
#endif
