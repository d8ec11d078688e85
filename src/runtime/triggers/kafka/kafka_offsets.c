/* The kafka-cluster trigger: per-partition durability, commits, rebalances
 * and lag metrics.
 *
 * Each cut batch is queued on its partition in sequence order with the
 * offset just past its last record. The runtime reports each sequence done
 * (every sink holds its rows durably); the partition's durable offset then
 * advances over the done prefix of its queue, and that offset is committed.
 * A batch that is not done holds back its partition only, never another.
 *
 * Revokes (cooperative: only the partitions that move) hand over what the
 * partition accumulated, make the sinks publish, wait up to
 * maxWaitHandlerDuringRebalance for the partition's batches to be durable,
 * commit synchronously, and only then let librdkafka give the partition
 * away. Batches still not durable are abandoned: never committed by this
 * process, so the next owner reads them again (at-least-once). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/json_out.h"
#include "runtime/triggers/kafka/kafka_trigger.h"
#include "sluice/alloc.h"

#ifdef SLUICE_HAVE_RDKAFKA

struct kafka_part *sl__kafka_part_get(struct sl_trigger *t, const char *topic,
                                      int32_t partition, int32_t *idx) {
  struct kafka_state *st = t->state;
  int32_t h = st->last_hit;
  st->last_rkt = NULL; /* the caller sets it again when it knows the handle */
  if (h >= 0 && st->parts[h]->partition == partition &&
      !strcmp(st->parts[h]->topic, topic)) {
    *idx = h;
    return st->parts[h];
  }
  for (int32_t i = 0; i < st->n_parts; i++)
    if (st->parts[i]->partition == partition &&
        !strcmp(st->parts[i]->topic, topic)) {
      st->last_hit = *idx = i;
      return st->parts[i];
    }
  /* New partitions appear only from the poll thread (assign callback or
   * message), so the array grows from one thread; readers on other threads
   * hold st->mu. */
  struct kafka_part *p = sl_calloc(1, sizeof *p);
  if (!p) return NULL;
  size_t nl = strlen(topic) + 16;
  p->topic = sl_strdup(topic);
  p->name = sl_malloc(nl);
  if (!p->topic || !p->name) goto fail;
  snprintf(p->name, nl, "%s-%d", topic, (int)partition);
  p->partition = partition;
  p->durable = p->committed = -1;
  atomic_init(&p->acked, -1);
  atomic_init(&p->position, -1);
  pthread_mutex_lock(&st->mu);
  if (st->n_parts == st->cap_parts) {
    int32_t nc = st->cap_parts ? st->cap_parts * 2 : 16;
    struct kafka_part **np = sl_realloc(st->parts, (size_t)nc * sizeof *np);
    if (!np) {
      pthread_mutex_unlock(&st->mu);
      goto fail;
    }
    st->parts = np;
    st->cap_parts = nc;
  }
  st->parts[st->n_parts] = p;
  *idx = st->last_hit = st->n_parts++;
  pthread_mutex_unlock(&st->mu);
  return p;
fail:
  sl_free(p->topic);
  sl_free(p->name);
  sl_free(p);
  return NULL;
}

void sl__kafka_parts_free(struct kafka_state *st) {
  for (int32_t i = 0; i < st->n_parts; i++) {
    struct kafka_part *p = st->parts[i];
    sl_free(p->topic);
    sl_free(p->name);
    sl_free(p->buf);
    sl_free(p->q);
    sl_free(p);
  }
  sl_free(st->parts);
  st->parts = NULL;
  st->n_parts = 0;
}

/* Called under the batcher lock right after sl__kafka_handover appended a
 * partition's records: remembers the sequence on that partition. */
void sl__kafka_cut(struct sl_trigger *t, uint64_t seq,
                   const struct sl_rt_segment *segs, int32_t n) {
  struct kafka_state *st = t->state;
  int32_t idx = atomic_load(&st->handing);
  if (idx < 0 || n < 1) return;
  const struct sl_rt_segment *last = &segs[n - 1];
  pthread_mutex_lock(&st->mu);
  struct kafka_part *p = st->parts[idx];
  st->seqmap[seq % st->window] = idx;
  if (p->qlen == p->qcap) {
    size_t nc = p->qcap ? p->qcap * 2 : 64;
    struct kafka_inflight *nq = sl_malloc(nc * sizeof *nq);
    if (!nq) { /* cannot track it: never commit this partition again here */
      p->abandoned = true;
      pthread_mutex_unlock(&st->mu);
      return;
    }
    for (size_t i = 0; i < p->qlen; i++)
      nq[i] = p->q[(p->qhead + i) % p->qcap];
    sl_free(p->q);
    p->q = nq;
    p->qhead = 0;
    p->qcap = nc;
  }
  p->q[(p->qhead + p->qlen++) % p->qcap] = (struct kafka_inflight){
      .seq = seq, .end = (int64_t)last->pos.end, .gen = p->gen, .done = false};
  pthread_mutex_unlock(&st->mu);
}

/* Commits the given partitions' durable offsets. Called without st->mu. */
static void commit_parts(struct sl_trigger *t, const int32_t *idx, int n,
                         bool sync) {
  struct kafka_state *st = t->state;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
  if (!l) return;
  pthread_mutex_lock(&st->mu);
  for (int i = 0; i < n; i++) {
    struct kafka_part *p = st->parts[idx[i]];
    if (p->abandoned || p->durable < 0 || p->durable <= p->committed) continue;
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
        p->durable;
    p->committed = p->durable;
  }
  pthread_mutex_unlock(&st->mu);
  if (l->cnt > 0) {
    rd_kafka_resp_err_t e = rd_kafka_commit(st->rk, l, sync ? 0 : 1);
    /* Sync results, and async requests refused at once, get no callback. */
    if (e || sync) sl__kafka_commit_cb(st->rk, e, l, t);
  }
  rd_kafka_topic_partition_list_destroy(l);
}

void sl__kafka_on_done(void *ctx, uint64_t seq) {
  struct sl_trigger *t = ctx;
  struct kafka_state *st = t->state;
  if (!st) return;
  pthread_mutex_lock(&st->mu);
  int32_t idx = st->seqmap[seq % st->window];
  bool advanced = false;
  if (idx >= 0 && idx < st->n_parts) {
    struct kafka_part *p = st->parts[idx];
    for (size_t i = 0; i < p->qlen; i++) {
      struct kafka_inflight *f = &p->q[(p->qhead + i) % p->qcap];
      if (f->seq == seq) {
        f->done = true;
        break;
      }
    }
    while (p->qlen && p->q[p->qhead].done) {
      struct kafka_inflight *f = &p->q[p->qhead];
      if (f->gen == p->gen && f->end > p->durable) {
        p->durable = f->end;
        advanced = true;
      }
      p->qhead = (p->qhead + 1) % p->qcap;
      p->qlen--;
    }
    advanced = advanced && p->assigned && !p->abandoned;
  }
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
  if (advanced && !atomic_load(&st->closing)) commit_parts(t, &idx, 1, false);
}

void sl__kafka_commit_all(struct sl_trigger *t, bool sync) {
  struct kafka_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  int32_t n = st->n_parts, k = 0;
  int32_t *idx = sl_malloc(((size_t)n + 1) * sizeof *idx);
  for (int32_t i = 0; idx && i < n; i++)
    if (st->parts[i]->assigned) idx[k++] = i;
  pthread_mutex_unlock(&st->mu);
  if (idx && k) commit_parts(t, idx, k, sync);
  sl_free(idx);
}

void sl__kafka_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets,
                         void *opaque) {
  (void)rk;
  struct sl_trigger *t = opaque;
  struct kafka_state *st = t->state;
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  if (err) {
    sl__count(&st->commit_errors, 1);
    sl_log(t->rt, SL_LOG_WARN, "kafka commit failed, will retry",
           "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name,
           rd_kafka_err2str(err));
    /* Forget what was sent: the poll thread's periodic commit resends the
     * durable offsets (sl__kafka_commit_all). */
    pthread_mutex_lock(&st->mu);
    for (int32_t j = 0; j < st->n_parts; j++) {
      struct kafka_part *p = st->parts[j];
      long long acked = atomic_load(&p->acked);
      if (p->committed > acked) p->committed = acked;
    }
    pthread_mutex_unlock(&st->mu);
    return;
  }
  sl__count(&st->commits_ok, 1);
  for (int i = 0; offsets && i < offsets->cnt; i++) {
    rd_kafka_topic_partition_t *o = &offsets->elems[i];
    if (o->err) {
      sl__count(&st->commit_errors, 1);
      pthread_mutex_lock(&st->mu);
      for (int32_t j = 0; j < st->n_parts; j++) {
        struct kafka_part *p = st->parts[j];
        long long acked = atomic_load(&p->acked);
        if (p->partition == o->partition && !strcmp(p->topic, o->topic) &&
            p->committed > acked)
          p->committed = acked;
      }
      pthread_mutex_unlock(&st->mu);
      continue;
    }
    pthread_mutex_lock(&st->mu);
    for (int32_t j = 0; j < st->n_parts; j++) {
      struct kafka_part *p = st->parts[j];
      if (p->partition == o->partition && !strcmp(p->topic, o->topic)) {
        long long cur = atomic_load(&p->acked);
        if (o->offset > cur) atomic_store(&p->acked, o->offset);
        sl__count(&p->commits, 1);
      }
    }
    pthread_mutex_unlock(&st->mu);
  }
}

static void flush_sinks(struct sl_trigger *t) {
  struct sl_runtime *rt = t->rt;
  for (int32_t i = 0; i < rt->n_sinks; i++) {
    struct sl_sink *s = &rt->sinks[i];
    struct sl_error e = {0};
    if (s->state && s->spec->vt->flush) s->spec->vt->flush(s, &e);
  }
}

static void wait_ms(struct kafka_state *st, int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_nsec += ms * 1000000;
  while (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  pthread_cond_timedwait(&st->cv, &st->mu, &ts);
}

static void revoke(struct sl_trigger *t,
                   const rd_kafka_topic_partition_list_t *l, bool lost) {
  struct kafka_state *st = t->state;
  const struct kafka_attrs *a = t->attrs;
  int32_t *idx = sl_malloc(((size_t)l->cnt + 1) * sizeof *idx);
  if (!idx) return;
  int n = 0;
  for (int i = 0; i < l->cnt; i++) {
    int32_t k;
    if (sl__kafka_part_get(t, l->elems[i].topic, l->elems[i].partition, &k))
      idx[n++] = k;
  }
  bool closing = atomic_load(&st->closing);
  if (!lost && !closing) {
    for (int i = 0; i < n; i++)
      sl__kafka_handover(t, idx[i], true);
    int64_t deadline = sl__now_ms() + a->rebalance_wait_ms;
    for (;;) {
      pthread_mutex_lock(&st->mu);
      bool pending = false;
      for (int i = 0; i < n; i++)
        pending |= st->parts[idx[i]]->qlen > 0;
      if (pending && sl__now_ms() < deadline) wait_ms(st, 50);
      pthread_mutex_unlock(&st->mu);
      if (!pending || sl__now_ms() >= deadline) break;
      flush_sinks(t); /* publish files holding the revoked batches */
    }
    commit_parts(t, idx, n, true);
  }
  pthread_mutex_lock(&st->mu);
  for (int i = 0; i < n; i++) {
    struct kafka_part *p = st->parts[idx[i]];
    if (p->qlen > 0 || lost) {
      if (p->qlen > 0) sl__count(&st->abandoned, (long long)p->qlen);
      sl_log(t->rt, SL_LOG_WARN,
             "kafka partition revoked with batches not "
             "durable: left uncommitted for the next owner",
             "\"trigger\":\"%s\",\"partition\":\"%s\",\"batches\":%lld,"
             "\"lost\":%s",
             t->spec->name, p->name, (long long)p->qlen,
             lost ? "true" : "false");
    }
    p->assigned = false;
    p->len = 0; /* lost partitions: drop what was accumulated */
    p->lines = 0;
    sl__count(&st->assigned, -1);
    sl__count(&st->revoked, 1);
  }
  pthread_mutex_unlock(&st->mu);
  sl_free(idx);
}

static void assign(struct sl_trigger *t,
                   const rd_kafka_topic_partition_list_t *l) {
  struct kafka_state *st = t->state;
  for (int i = 0; i < l->cnt; i++) {
    int32_t k;
    struct kafka_part *p =
        sl__kafka_part_get(t, l->elems[i].topic, l->elems[i].partition, &k);
    if (!p) continue;
    pthread_mutex_lock(&st->mu);
    p->assigned = true;
    p->abandoned = false;
    p->paused = false; /* a new assignment fetches */
    p->gen++;
    p->durable = p->committed = -1;
    p->len = 0;
    p->lines = 0;
    sl__count(&st->assigned, 1);
    pthread_mutex_unlock(&st->mu);
    atomic_store(&p->position, -1);
    atomic_store(&p->acked, -1);
  }
  /* Where the group stands: lag is right from the start, and a partition
   * that gets no new records still shows its committed offset. */
  rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(l);
  if (c && !rd_kafka_committed(st->rk, c, 5000)) {
    for (int i = 0; i < c->cnt; i++) {
      int32_t k;
      if (c->elems[i].err || c->elems[i].offset < 0) continue;
      struct kafka_part *p =
          sl__kafka_part_get(t, c->elems[i].topic, c->elems[i].partition, &k);
      if (!p) continue;
      pthread_mutex_lock(&st->mu);
      if (p->committed < c->elems[i].offset)
        p->committed = p->durable = c->elems[i].offset;
      pthread_mutex_unlock(&st->mu);
      atomic_store(&p->acked, c->elems[i].offset);
    }
  }
  if (c) rd_kafka_topic_partition_list_destroy(c);
}

void sl__kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts,
                            void *opaque) {
  struct sl_trigger *t = opaque;
  struct kafka_state *st = t->state;
  bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
  sl__count(&st->rebalances, 1);
  char list[1024];
  size_t k = 0;
  list[0] = '\0';
  for (int i = 0; i < parts->cnt && k < sizeof list - 64; i++)
    k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", i ? "," : "",
                          (int)parts->elems[i].partition);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    assign(t, parts);
    rd_kafka_error_t *e = NULL;
    if (coop)
      e = rd_kafka_incremental_assign(rk, parts);
    else
      rd_kafka_assign(rk, parts);
    if (e) {
      sl_log(t->rt, SL_LOG_ERROR, "kafka assign failed", "\"error\":\"%s\"",
             rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
    sl_log(t->rt, SL_LOG_INFO, "kafka partitions assigned",
           "\"trigger\":\"%s\",\"partitions\":[%s]", t->spec->name, list);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    bool lost = rd_kafka_assignment_lost(rk);
    revoke(t, parts, lost);
    rd_kafka_error_t *e = NULL;
    if (coop)
      e = rd_kafka_incremental_unassign(rk, parts);
    else
      rd_kafka_assign(rk, NULL);
    if (e) rd_kafka_error_destroy(e);
    sl_log(t->rt, SL_LOG_INFO, "kafka partitions revoked",
           "\"trigger\":\"%s\",\"partitions\":[%s],\"lost\":%s", t->spec->name,
           list, lost ? "true" : "false");
  } else {
    sl_log(t->rt, SL_LOG_ERROR, "kafka rebalance error", "\"error\":\"%s\"",
           rd_kafka_err2str(err));
    rd_kafka_assign(rk, NULL);
  }
}

int sl__kafka_metrics(void *ctx, char **text, size_t *len) {
  struct sl_trigger *t = ctx;
  struct kafka_state *st = t->state;
  struct sl_text o = {0};
  char line[1024];
  const char *tn = t->spec->name;
#define PUT(...)                                                               \
  do {                                                                         \
    int n_ = snprintf(line, sizeof line, __VA_ARGS__);                         \
    if (n_ > 0 &&                                                              \
        sl__text_put(                                                          \
            &o, line,                                                          \
            (size_t)(n_ < (int)sizeof line ? n_ : (int)sizeof line - 1)))      \
      goto oom;                                                                \
  } while (0)
  PUT("# HELP sluice_kafka_consumer_lag Records in the partition after the "
      "committed (durable) offset: high watermark - committed.\n"
      "# TYPE sluice_kafka_consumer_lag gauge\n");
  pthread_mutex_lock(&st->mu);
  int32_t n = st->n_parts;
  pthread_mutex_unlock(&st->mu);
  for (int pass = 0; pass < 4; pass++) {
    static const char *const names[] = {
        "sluice_kafka_consumer_lag", "sluice_kafka_high_watermark",
        "sluice_kafka_committed_offset", "sluice_kafka_position"};
    if (pass == 1)
      PUT("# HELP sluice_kafka_high_watermark Offset after the partition's "
          "last record, as last seen by the consumer.\n# TYPE "
          "sluice_kafka_high_watermark gauge\n");
    if (pass == 2)
      PUT("# HELP sluice_kafka_committed_offset Last offset committed by this "
          "process (records before it are durable).\n# TYPE "
          "sluice_kafka_committed_offset gauge\n");
    if (pass == 3)
      PUT("# HELP sluice_kafka_position Next offset the consumer reads.\n"
          "# TYPE sluice_kafka_position gauge\n");
    for (int32_t i = 0; i < n; i++) {
      pthread_mutex_lock(&st->mu);
      struct kafka_part *p = st->parts[i];
      bool mine = p->assigned;
      pthread_mutex_unlock(&st->mu);
      if (!mine) continue;
      int64_t lo = -1, hi = -1;
      rd_kafka_get_watermark_offsets(st->rk, p->topic, p->partition, &lo, &hi);
      long long acked = atomic_load(&p->acked), pos = atomic_load(&p->position);
      long long base = acked >= 0 ? acked : (lo >= 0 ? lo : 0);
      long long v = pass == 0   ? (hi >= 0 && hi > base ? hi - base : 0)
                    : pass == 1 ? hi
                    : pass == 2 ? acked
                                : pos;
      PUT("%s{trigger=\"%s\",topic=\"%s\",partition=\"%d\"} %lld\n",
          names[pass], tn, p->topic, (int)p->partition, v);
    }
  }
  PUT("# HELP sluice_kafka_commits_total Offset commits acknowledged by the "
      "broker.\n# TYPE sluice_kafka_commits_total counter\n"
      "sluice_kafka_commits_total{trigger=\"%s\"} %lld\n",
      tn, (long long)atomic_load(&st->commits_ok));
  PUT("# HELP sluice_kafka_commit_errors_total Offset commits that failed "
      "(retried by the next commit).\n# TYPE sluice_kafka_commit_errors_total "
      "counter\nsluice_kafka_commit_errors_total{trigger=\"%s\"} %lld\n",
      tn, (long long)atomic_load(&st->commit_errors));
  PUT("# HELP sluice_kafka_rebalances_total Rebalance callbacks (assign and "
      "revoke).\n# TYPE sluice_kafka_rebalances_total counter\n"
      "sluice_kafka_rebalances_total{trigger=\"%s\"} %lld\n",
      tn, (long long)atomic_load(&st->rebalances));
  PUT("# HELP sluice_kafka_partitions_assigned Partitions this process "
      "owns.\n# TYPE sluice_kafka_partitions_assigned gauge\n"
      "sluice_kafka_partitions_assigned{trigger=\"%s\"} %lld\n",
      tn, (long long)atomic_load(&st->assigned));
  PUT("# HELP sluice_kafka_abandoned_batches_total Batches of revoked "
      "partitions left uncommitted for the next owner.\n# TYPE "
      "sluice_kafka_abandoned_batches_total counter\n"
      "sluice_kafka_abandoned_batches_total{trigger=\"%s\"} %lld\n",
      tn, (long long)atomic_load(&st->abandoned));
  PUT("# HELP sluice_kafka_fetch_wakeups_total Times the consumer queue ran "
      "dry behind the high watermark and the fetcher was restarted at the "
      "next offset (docs/delivery.md).\n# TYPE "
      "sluice_kafka_fetch_wakeups_total counter\n"
      "sluice_kafka_fetch_wakeups_total{trigger=\"%s\"} %lld\n",
      tn, (long long)atomic_load(&st->fetch_wakeups));
  PUT("# HELP sluice_kafka_errors_total Consumer errors reported by "
      "librdkafka.\n# TYPE sluice_kafka_errors_total counter\n"
      "sluice_kafka_errors_total{trigger=\"%s\"} %lld\n",
      tn, (long long)atomic_load(&st->consume_errors));
#undef PUT
  *text = o.p;
  *len = o.len;
  return 0;
oom:
  sl_free(o.p);
  return SL_ENOMEM;
}

#endif
