/* The nats trigger: a subject (wildcards `*` and `>`) on a NATS server, read
 * through Debian's libnats.
 *
 * Core NATS (jetstream: false): a plain or queue-group subscription; members
 * of one queue group share the messages. At most once: core NATS keeps
 * nothing for a subscriber that is down.
 *
 * JetStream (jetstream: true): a durable push consumer with a deliver group
 * of the same name, so replicas that name the same durable share its
 * messages. (Not a pull consumer: natsSubscription_Fetch of libnats 3.4.1
 * overran its own message array under load in our benchmark.) Every message is
 * acknowledged one by one, and only after the batch holding its records is
 * durable in every sink (the runtime's `committed`), so a crash or kill -9
 * before that makes the server deliver it again (at least once, as for Kafka).
 *
 * Each message payload holds one or more JSON Lines records. Messages of one
 * fetch are appended as one chunk; the chunk's position (`pos.a`) is the
 * index just past its last message, so that a cut batch knows which
 * messages it completes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/rt.h"
#include "sluice/alloc.h"

struct nats_attrs {
  char *url;
  char *subject;
  char *queue_group;
  bool jetstream;
  char *stream;
  char *durable;
  char *deliver;
  int64_t ack_wait_ms;
  int64_t max_ack_pending;
  int64_t fetch_batch;
  int64_t max_message_bytes;
  int64_t pending_bytes;
  int64_t connect_timeout_ms;
  bool flush_sinks;
};

#define A(f) offsetof(struct nats_attrs, f)
static const struct sl_cfg_entry nats_config[] = {
    {"url", SL_CFG_STRING, "nats://127.0.0.1:4222", 0, 0, NULL, A(url),
     "Server URLs, comma-separated (`nats://host:4222,nats://host2:4222`).",
     false},
    {"subject", SL_CFG_STRING, NULL, 0, 0, NULL, A(subject),
     "Subject to read; wildcards `*` (one token) and `>` (the rest).", true},
    {"queueGroup", SL_CFG_STRING, NULL, 0, 0, NULL, A(queue_group),
     "Core NATS: queue group; replicas in one group share the messages. "
     "JetStream: the default durable name.",
     false},
    {"jetstream", SL_CFG_BOOL, "false", 0, 0, NULL, A(jetstream),
     "Read through a JetStream durable consumer, acknowledging each "
     "message after its records are durable (at least once).",
     false},
    {"stream", SL_CFG_STRING, NULL, 0, 0, NULL, A(stream),
     "JetStream: the stream (unset: the stream holding `subject`).", false},
    {"durable", SL_CFG_STRING, NULL, 0, 0, NULL, A(durable),
     "JetStream: durable consumer name, shared by replicas (default: "
     "queueGroup, else `<function>-<trigger>`).",
     false},
    {"deliverPolicy", SL_CFG_ENUM, "all", 0, 0, "all|new|last", A(deliver),
     "JetStream: where a new durable starts.", false},
    {"ackWait", SL_CFG_DURATION, "60s", 1000, 86400000, NULL, A(ack_wait_ms),
     "JetStream: redelivery after this long without an ack. Keep it above "
     "the sinks' roll interval.",
     false},
    {"maxAckPending", SL_CFG_INT, "65536", 1, 10000000, NULL,
     A(max_ack_pending),
     "JetStream: most messages received and not yet acknowledged.", false},
    {"fetchBatch", SL_CFG_INT, "1024", 1, 100000, NULL, A(fetch_batch),
     "Most messages per append to the batcher.", false},
    {"maxMessageBytes", SL_CFG_SIZE, "16MiB", 1, 1073741824, NULL,
     A(max_message_bytes),
     "Larger messages go to the dead letters instead of a batch.", false},
    {"pendingBytes", SL_CFG_SIZE, "256MiB", 1048576, 17179869184LL, NULL,
     A(pending_bytes),
     "Core NATS: bytes the client buffers before it drops messages (slow "
     "consumer).",
     false},
    {"connectTimeout", SL_CFG_DURATION, "5s", 100, 600000, NULL,
     A(connect_timeout_ms), "Timeout of the first connection.", false},
    {"flushSinks", SL_CFG_BOOL, "true", 0, 0, NULL, A(flush_sinks),
     "When maxAckPending messages wait for their acknowledgement and this "
     "trigger's workers are idle, ask the sinks to publish now instead of "
     "at their roll.",
     false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

static int nats_validate(const struct sl_spec_trigger *t, const char *file,
                         struct sl_error *err) {
  const struct nats_attrs *a = t->attrs;
  const char *bad = NULL;
  if (!a->subject[0] || strchr(a->subject, ' '))
    bad = "subject: expected a subject without spaces";
  else if (!a->jetstream && (a->stream || a->durable))
    bad = "stream/durable: expected only with jetstream: true";
  else if (a->durable && strchr(a->durable, '.'))
    bad = "durable: expected a name without '.'";
  if (bad)
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes.%s", file,
                        t->line, t->col, t->name, bad);
#ifndef SLUICE_HAVE_NATS
  return sl_error_set(err, SL_ENOTSUP,
                      "%s:%d:%d: spec.triggers.%s: trigger kind 'nats' is not "
                      "built in (sluice was built without libnats; install "
                      "libnats-dev and rebuild)",
                      file, t->line, t->col, t->name);
#else
  return 0;
#endif
}

#ifdef SLUICE_HAVE_NATS
#include <nats/nats.h>

struct pend { /* a JetStream message waiting for its ack */
  natsMsg *msg;
  int64_t recv_us;
};

struct mark { /* a cut batch completes the messages before `end` */
  uint64_t seq;
  uint64_t end;
};

struct nats_state {
  pthread_t th;
  bool started;
  atomic_bool stop, closing;
  bool closed; /* the library's closed callback ran (under mu) */
  pthread_mutex_t mu;
  pthread_cond_t cv; /* signalled when acks free room, and on close */
  natsOptions *opts;
  natsConnection *nc;
  jsCtx *js;
  natsSubscription *sub;
  char *durable;
  /* JetStream bookkeeping, under mu. */
  struct pend *ring;
  size_t head, len, cap; /* ring[head] has index head_idx */
  uint64_t head_idx, next_idx;
  struct mark *marks;
  size_t mhead, mlen, mcap;
  /* The chunk being built by the reader thread. */
  char *chunk;
  size_t chunk_len, chunk_cap;
  int64_t last_sink_flush_ms;
};

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int chunk_reserve(struct nats_state *st, size_t more) {
  if (more > SIZE_MAX / 4 - st->chunk_len) return SL_EOVERFLOW;
  size_t need = st->chunk_len + more;
  if (need <= st->chunk_cap) return 0;
  size_t nc = st->chunk_cap ? st->chunk_cap : 65536;
  while (nc < need)
    nc *= 2;
  char *p = sl_realloc(st->chunk, nc);
  if (!p) return SL_ENOMEM;
  st->chunk = p;
  st->chunk_cap = nc;
  return 0;
}

/* Copies one payload into the chunk; returns its record count (0 when the
 * message holds no record), or -1 when it must go to the dead letters. */
static int64_t add_payload(struct sl_trigger *t, struct nats_state *st,
                           const char *data, int len) {
  const struct nats_attrs *a = t->attrs;
  if (len <= 0) return 0;
  if ((int64_t)len > a->max_message_bytes) return -1;
  if (chunk_reserve(st, (size_t)len + 1)) return -1;
  memcpy(st->chunk + st->chunk_len, data, (size_t)len);
  int64_t lines = 0;
  const char *p = data, *end = data + len;
  while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    lines++;
    p++;
  }
  st->chunk_len += (size_t)len;
  if (data[len - 1] != '\n') {
    st->chunk[st->chunk_len++] = '\n';
    lines++;
  }
  return lines;
}

static void dead_message(struct sl_trigger *t, const char *data, int len) {
  char reason[128];
  snprintf(reason, sizeof reason,
           "message of %d bytes is larger than maxMessageBytes", len);
  sl__count(&t->m->dead_letters, 1);
  if (t->rt->dead)
    sl__deadletter_write(t->rt->dead, data, (size_t)(len > 4096 ? 4096 : len),
                         reason, t->spec->name, NULL, -1);
}

/* When the reader waits for acks and this trigger's workers have nothing
 * left, the sinks are asked to publish (at most every 50 ms). */
static void maybe_flush_sinks(struct sl_trigger *t, struct nats_state *st) {
  const struct nats_attrs *a = t->attrs;
  if (!a->flush_sinks) return;
  int64_t now = sl__now_ms();
  if (now - st->last_sink_flush_ms < 50) return;
  sl__batcher_flush(t->batcher);
  if (atomic_load(&t->m->queue_depth) > 0 ||
      atomic_load(&t->m->workers_busy) > 0)
    return;
  st->last_sink_flush_ms = now;
  for (int32_t i = 0; i < t->rt->n_sinks; i++) {
    struct sl_sink *s = &t->rt->sinks[i];
    struct sl_error e = {0};
    if (s->state && s->spec->vt->flush) s->spec->vt->flush(s, &e);
  }
}

static int ring_push(struct nats_state *st, natsMsg *m, int64_t t_us) {
  if (st->len == st->cap) {
    size_t nc = st->cap ? st->cap * 2 : 4096;
    struct pend *nr = sl_malloc(nc * sizeof *nr);
    if (!nr) return SL_ENOMEM;
    for (size_t i = 0; i < st->len; i++)
      nr[i] = st->ring[(st->head + i) % st->cap];
    sl_free(st->ring);
    st->ring = nr;
    st->head = 0;
    st->cap = nc;
  }
  st->ring[(st->head + st->len++) % st->cap] = (struct pend){m, t_us};
  st->next_idx++;
  return 0;
}

/* Appends the chunk built from `n` messages (JetStream: already in the
 * ring, the last one at index next_idx - 1). */
static void append_chunk(struct sl_trigger *t, struct nats_state *st,
                         int64_t lines) {
  if (lines <= 0) return;
  struct sl_rt_pos pos = {
      .source = NULL, .a = st->next_idx, .b = 0, .end = st->next_idx};
  struct sl_error err = {0};
  if (sl__batcher_append(t->batcher, st->chunk, st->chunk_len, lines, NULL,
                         &pos, &err))
    sl_log(t->rt, SL_LOG_ERROR, "nats messages lost",
           "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name, err.msg);
  st->chunk_len = 0;
}

/* Takes one message: its records go into the chunk; a JetStream message
 * with records waits in the ring for its ack, one without is acked now.
 * Returns the records added. */
static int64_t take(struct sl_trigger *t, struct nats_state *st, natsMsg *m,
                    int64_t t_us) {
  const struct nats_attrs *a = t->attrs;
  const char *d = natsMsg_GetData(m);
  int len = natsMsg_GetDataLength(m);
  size_t before = st->chunk_len;
  int64_t k = add_payload(t, st, d, len);
  if (k < 0) dead_message(t, d, len);
  if (!a->jetstream) {
    natsMsg_Destroy(m);
    return k > 0 ? k : 0;
  }
  jsMsgMetaData *meta = NULL;
  if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
    if (meta->NumDelivered > 1) sl__count(&t->m->redeliveries, 1);
    jsMsgMetaData_Destroy(meta);
  }
  if (k <= 0) { /* nothing to make durable: done with it now */
    natsMsg_Ack(m, NULL);
    natsMsg_Destroy(m);
    sl__count(&t->m->acks, 1);
    return 0;
  }
  pthread_mutex_lock(&st->mu);
  int rc = ring_push(st, m, t_us);
  pthread_mutex_unlock(&st->mu);
  if (rc) { /* out of memory: drop it unacked, the server redelivers it */
    st->chunk_len = before;
    natsMsg_Destroy(m);
    return 0;
  }
  return k;
}

/* One read: waits up to 200 ms for a message, then takes what the client
 * already holds, up to fetchBatch (and, for JetStream, maxAckPending). Core
 * and JetStream (a push consumer with a deliver group, so that replicas on
 * one durable share it) read the same way. */
static void read_messages(struct sl_trigger *t, struct nats_state *st) {
  const struct nats_attrs *a = t->attrs;
  int64_t room = a->fetch_batch;
  if (a->jetstream) {
    pthread_mutex_lock(&st->mu);
    int64_t free_acks = a->max_ack_pending - (int64_t)st->len;
    if (free_acks <= 0) { /* wait for acks */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 20 * 1000000;
      if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait(&st->cv, &st->mu, &ts);
      pthread_mutex_unlock(&st->mu);
      maybe_flush_sinks(t, st);
      return;
    }
    pthread_mutex_unlock(&st->mu);
    if (free_acks < room) room = free_acks;
  }
  natsMsg *m = NULL;
  natsStatus s = natsSubscription_NextMsg(&m, st->sub, 200);
  if (s != NATS_OK) {
    if (s != NATS_TIMEOUT && !atomic_load(&st->stop)) {
      int64_t dropped = 0;
      natsSubscription_GetDropped(st->sub, &dropped);
      sl_log(t->rt, SL_LOG_WARN, "nats read failed",
             "\"trigger\":\"%s\",\"error\":\"%s\",\"dropped\":%lld",
             t->spec->name, natsStatus_GetText(s), (long long)dropped);
      if (s != NATS_SLOW_CONSUMER) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
      }
    }
    return;
  }
  int64_t lines = 0, n = 0, t_us = now_us();
  for (;;) {
    n++;
    lines += take(t, st, m, t_us);
    m = NULL;
    if (n >= room) break;
    int pm = 0;
    if (natsSubscription_GetPending(st->sub, &pm, NULL) != NATS_OK || pm <= 0)
      break;
    if (natsSubscription_NextMsg(&m, st->sub, 0) != NATS_OK) break;
  }
  sl__count(&t->m->messages, n);
  sl__count(&t->m->requests, 1);
  append_chunk(t, st, lines);
}

static void *nats_main(void *arg) {
  struct sl_trigger *t = arg;
  struct nats_state *st = t->state;
  while (!atomic_load(&st->stop) && atomic_load(&t->accepting)) {
    /* Backpressure: read only while the workers have room. */
    if (!sl__batcher_admit(t->batcher, 100)) continue;
    read_messages(t, st);
  }
  return NULL;
}

static void nats_cut(struct sl_trigger *t, uint64_t seq,
                     const struct sl_rt_segment *segs, int32_t n) {
  const struct sl_rt_segment *last = n > 0 ? &segs[n - 1] : NULL;
  const struct nats_attrs *a = t->attrs;
  struct nats_state *st = t->state;
  if (!a->jetstream || !last) return;
  pthread_mutex_lock(&st->mu);
  if (st->mlen == st->mcap) {
    size_t nc = st->mcap ? st->mcap * 2 : 256;
    struct mark *nm = sl_malloc(nc * sizeof *nm);
    if (!nm) { /* these messages will be redelivered after ackWait */
      pthread_mutex_unlock(&st->mu);
      return;
    }
    for (size_t i = 0; i < st->mlen; i++)
      nm[i] = st->marks[(st->mhead + i) % st->mcap];
    sl_free(st->marks);
    st->marks = nm;
    st->mhead = 0;
    st->mcap = nc;
  }
  st->marks[(st->mhead + st->mlen++) % st->mcap] =
      (struct mark){seq, last->pos.end};
  pthread_mutex_unlock(&st->mu);
}

/* Every batch up to seq is durable: acknowledge the messages they hold. */
static void nats_committed(struct sl_trigger *t, uint64_t seq) {
  const struct nats_attrs *a = t->attrs;
  struct nats_state *st = t->state;
  if (!a->jetstream) return;
  pthread_mutex_lock(&st->mu);
  uint64_t upto = st->head_idx;
  while (st->mlen && st->marks[st->mhead].seq <= seq) {
    if (st->marks[st->mhead].end > upto) upto = st->marks[st->mhead].end;
    st->mhead = (st->mhead + 1) % st->mcap;
    st->mlen--;
  }
  size_t n = (size_t)(upto - st->head_idx);
  if (n > st->len) n = st->len;
  struct pend *done = n ? sl_malloc(n * sizeof *done) : NULL;
  if (!done) n = 0; /* retried at the next commit */
  for (size_t i = 0; i < n; i++) {
    done[i] = st->ring[st->head];
    st->head = (st->head + 1) % st->cap;
  }
  st->len -= n;
  st->head_idx += n;
  if (n) pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
  int64_t t_us = now_us();
  for (size_t i = 0; i < n; i++) {
    natsMsg_Ack(done[i].msg, NULL);
    natsMsg_Destroy(done[i].msg);
    sl__hist_observe(&t->m->ack_seconds,
                     (double)(t_us - done[i].recv_us) / 1e6);
  }
  sl__count(&t->m->acks, (long long)n);
  sl_free(done);
}

static int subscribe(struct sl_trigger *t, struct nats_state *st,
                     struct sl_error *err) {
  const struct nats_attrs *a = t->attrs;
  natsStatus s;
  if (!a->jetstream) {
    if (a->queue_group)
      s = natsConnection_QueueSubscribeSync(&st->sub, st->nc, a->subject,
                                            a->queue_group);
    else
      s = natsConnection_SubscribeSync(&st->sub, st->nc, a->subject);
    if (s == NATS_OK)
      s = natsSubscription_SetPendingLimits(
          st->sub, -1,
          (int)(a->pending_bytes > INT32_MAX ? INT32_MAX : a->pending_bytes));
    if (s != NATS_OK)
      return sl_error_set(err, SL_EIO,
                          "trigger %s: cannot subscribe to '%s': %s",
                          t->spec->name, a->subject, natsStatus_GetText(s));
    return 0;
  }
  s = natsConnection_JetStream(&st->js, st->nc, NULL);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = a->stream;
  so.Queue = st->durable; /* a deliver group: replicas share the durable */
  so.ManualAck = true;
  so.Config.Durable = st->durable;
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.AckWait = a->ack_wait_ms * 1000000;
  so.Config.MaxAckPending = a->max_ack_pending;
  so.Config.DeliverPolicy = !strcmp(a->deliver, "new")    ? js_DeliverNew
                            : !strcmp(a->deliver, "last") ? js_DeliverLast
                                                          : js_DeliverAll;
  jsErrCode jerr = 0;
  if (s == NATS_OK)
    s = js_SubscribeSync(&st->sub, st->js, a->subject, NULL, &so, &jerr);
  if (s == NATS_OK)
    s = natsSubscription_SetPendingLimits(
        st->sub, -1,
        (int)(a->pending_bytes > INT32_MAX ? INT32_MAX : a->pending_bytes));
  if (s != NATS_OK)
    return sl_error_set(err, SL_EIO,
                        "trigger %s: cannot create the JetStream durable "
                        "consumer '%s' on '%s'%s%s: %s (%s, JetStream error "
                        "%d)",
                        t->spec->name, st->durable, a->subject,
                        a->stream ? " of stream " : "",
                        a->stream ? a->stream : "", natsStatus_GetText(s),
                        nats_GetLastError(NULL), (int)jerr);
  return 0;
}

static void on_disconnected(natsConnection *nc, void *closure) {
  (void)nc;
  struct sl_trigger *t = closure;
  struct nats_state *st = t->state;
  if (atomic_load(&st->closing)) return;
  sl_log(t->rt, SL_LOG_WARN, "nats disconnected", "\"trigger\":\"%s\"",
         t->spec->name);
}

static void on_reconnected(natsConnection *nc, void *closure) {
  (void)nc;
  struct sl_trigger *t = closure;
  sl_log(t->rt, SL_LOG_INFO, "nats reconnected", "\"trigger\":\"%s\"",
         t->spec->name);
}

/* The library calls back from its own thread; destroy waits for this one,
 * the last, before the state goes away. */
static void on_closed(natsConnection *nc, void *closure) {
  (void)nc;
  struct sl_trigger *t = closure;
  struct nats_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  st->closed = true;
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
}

static int nats_init(struct sl_trigger *t, struct sl_error *err) {
  const struct nats_attrs *a = t->attrs;
  struct nats_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  t->state = st;
  sl__hist_init(&t->m->ack_seconds, sl__seconds_buckets);
  char def[512];
  snprintf(def, sizeof def, "%s-%s", sl_spec_name(t->rt->spec), t->spec->name);
  for (char *p = def; *p; p++)
    if (*p == '.' || *p == ' ' || *p == '*' || *p == '>') *p = '_';
  st->durable = sl_strdup(a->durable       ? a->durable
                          : a->queue_group ? a->queue_group
                                           : def);
  if (!st->durable) return sl_error_set(err, SL_ENOMEM, "out of memory");
  char name[600];
  snprintf(name, sizeof name, "sluice-%s", def);
  natsStatus s = natsOptions_Create(&st->opts);
  if (s == NATS_OK) s = natsOptions_SetURL(st->opts, a->url);
  if (s == NATS_OK) s = natsOptions_SetName(st->opts, name);
  if (s == NATS_OK) s = natsOptions_SetTimeout(st->opts, a->connect_timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(st->opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(st->opts, 250);
  if (s == NATS_OK)
    s = natsOptions_SetDisconnectedCB(st->opts, on_disconnected, t);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectedCB(st->opts, on_reconnected, t);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(st->opts, on_closed, t);
  if (s != NATS_OK)
    return sl_error_set(err, SL_EINVAL, "trigger %s: bad NATS options: %s",
                        t->spec->name, natsStatus_GetText(s));
  s = natsConnection_Connect(&st->nc, st->opts);
  if (s != NATS_OK)
    return sl_error_set(err, SL_EIO,
                        "trigger %s: cannot connect to NATS at '%s': %s",
                        t->spec->name, a->url, natsStatus_GetText(s));
  return subscribe(t, st, err);
}

static int nats_start(struct sl_trigger *t, struct sl_error *err) {
  struct nats_state *st = t->state;
  if (pthread_create(&st->th, NULL, nats_main, t))
    return sl_error_set(err, SL_EIO, "cannot start the nats thread");
  st->started = true;
  sl_log(t->rt, SL_LOG_INFO, "nats trigger started",
         "\"trigger\":\"%s\",\"subject\":\"%s\",\"durable\":\"%s\"",
         t->spec->name, ((const struct nats_attrs *)t->attrs)->subject,
         ((const struct nats_attrs *)t->attrs)->jetstream ? st->durable : "");
  return 0;
}

static void nats_stop(struct sl_trigger *t) {
  struct nats_state *st = t->state;
  if (!st) return;
  atomic_store(&st->stop, true);
  if (st->started) pthread_join(st->th, NULL);
  st->started = false;
}

static void nats_destroy(struct sl_trigger *t) {
  struct nats_state *st = t->state;
  if (!st) return;
  nats_stop(t);
  /* Acks sent by the drain go out before the connection closes; messages
   * still pending are not acknowledged: the server delivers them again. */
  if (st->nc) {
    natsConnection_FlushTimeout(st->nc, 2000);
    atomic_store(&st->closing, true);
    natsConnection_Close(st->nc);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    pthread_mutex_lock(&st->mu);
    while (!st->closed)
      if (pthread_cond_timedwait(&st->cv, &st->mu, &ts) == ETIMEDOUT) break;
    pthread_mutex_unlock(&st->mu);
  }
  for (size_t i = 0; i < st->len; i++)
    natsMsg_Destroy(st->ring[(st->head + i) % st->cap].msg);
  natsSubscription_Destroy(st->sub);
  jsCtx_Destroy(st->js);
  natsConnection_Destroy(st->nc);
  natsOptions_Destroy(st->opts);
  sl_free(st->ring);
  sl_free(st->marks);
  sl_free(st->chunk);
  sl_free(st->durable);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  sl_free(st);
  t->state = NULL;
}

const struct sl_trigger_vtable sl__trigger_nats = {
    .name = "nats",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "NATS subjects through libnats: core NATS (queue groups share the "
           "load, at most once) or a JetStream durable consumer whose "
           "messages are acknowledged only after their records are durable "
           "(at least once).",
    .config = nats_config,
    .config_size = sizeof(struct nats_attrs),
    .validate = nats_validate,
    .init = nats_init,
    .start = nats_start,
    .stop = nats_stop,
    .destroy = nats_destroy,
    .committed = nats_committed,
    .cut = nats_cut,
};

#else /* !SLUICE_HAVE_NATS: the kind exists and says it was not built in */

static int nats_init(struct sl_trigger *t, struct sl_error *err) {
  return sl_error_set(err, SL_ENOTSUP,
                      "trigger %s: kind 'nats' is not built in (sluice was "
                      "built without libnats; install libnats-dev and "
                      "rebuild)",
                      t->spec->name);
}

const struct sl_trigger_vtable sl__trigger_nats = {
    .name = "nats",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "NATS subjects (not built in: sluice was built without libnats).",
    .config = nats_config,
    .config_size = sizeof(struct nats_attrs),
    .validate = nats_validate,
    .init = nats_init,
};
#endif
