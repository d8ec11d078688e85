/* The mqtt trigger: topics (wildcards `+` and `#`) on an MQTT broker, read
 * through Debian's libmosquitto, QoS 0 or 1, with a persistent session
 * (cleanSession: false) so that a restarted function resumes where it was.
 *
 * Acknowledging QoS 1 only after the sink is durable. libmosquitto sends
 * the PUBACK of a message by itself; it has no manual-ack call. But with
 * mosquitto_threaded_set(true) and our own network loop, packets it wants to
 * send are only queued, in order, until we call mosquitto_loop_write. So the
 * reader thread works in cycles:
 *   1. read messages (their PUBACKs pile up unsent) for up to ackInterval or
 *      maxInflight messages;
 *   2. stop reading, cut the batch, wait until every batch cut so far is
 *      durable in every sink (the runtime's `committed`);
 *   3. write the queue: every PUBACK goes out at once; back to 1.
 * A kill at any point before 3 leaves the messages unacknowledged in the
 * broker's session, which sends them again when the function reconnects with
 * the same client id (at least once). QoS 0 messages carry no ack and never
 * pause reading. The broker's own inflight limit (mosquitto:
 * max_inflight_messages, 20 by default; 0 = none) bounds how many messages
 * one cycle can hold: set it high for throughput. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/rt.h"
#include "sluice/alloc.h"

struct mqtt_attrs {
  char *url;
  struct sl_strlist topics;
  int64_t qos;
  char *client_id;
  bool clean_session;
  int64_t keepalive_ms;
  char *protocol;
  char *username;
  char *password;
  int64_t max_inflight;
  int64_t ack_interval_ms;
  int64_t max_message_bytes;
  bool flush_sinks;
};

#define A(f) offsetof(struct mqtt_attrs, f)
static const struct sl_cfg_entry mqtt_config[] = {
    {"url", SL_CFG_STRING, "tcp://127.0.0.1:1883", 0, 0, NULL, A(url),
     "Broker: `tcp://host:port`, `mqtt://host:port` or `host:port`.", false},
    {"topics", SL_CFG_STRLIST, NULL, 0, 0, NULL, A(topics),
     "Topic filters; wildcards `+` (one level) and `#` (the rest); "
     "`$share/<group>/<filter>` shares messages among replicas (MQTT 5).",
     true},
    {"qos", SL_CFG_INT, "1", 0, 1, NULL, A(qos),
     "0: at most once; 1: at least once, acknowledged after the records are "
     "durable.",
     false},
    {"clientId", SL_CFG_STRING, NULL, 0, 0, NULL, A(client_id),
     "Client id, the key of the persistent session (default "
     "`sluice-<function>-<trigger>`).",
     false},
    {"cleanSession", SL_CFG_BOOL, "false", 0, 0, NULL, A(clean_session),
     "false: the broker keeps the subscription and unacknowledged messages "
     "while the function is down.",
     false},
    {"keepAlive", SL_CFG_DURATION, "60s", 5000, 65535000, NULL, A(keepalive_ms),
     "MQTT keep-alive interval.", false},
    {"protocol", SL_CFG_ENUM, "3.1.1", 0, 0, "3.1.1|5", A(protocol),
     "MQTT protocol version.", false},
    {"username", SL_CFG_STRING, NULL, 0, 0, NULL, A(username),
     "User name (`${ENV}` recommended).", false},
    {"password", SL_CFG_STRING, NULL, 0, 0, NULL, A(password),
     "Password (`${ENV}` recommended).", false},
    {"maxInflight", SL_CFG_INT, "50000", 1, 10000000, NULL, A(max_inflight),
     "QoS 1: most messages read before their acknowledgements are due.", false},
    {"ackInterval", SL_CFG_DURATION, "250ms", 1, 600000, NULL,
     A(ack_interval_ms),
     "QoS 1: how long messages are read before the reader waits for them to "
     "be durable and acknowledges them.",
     false},
    {"maxMessageBytes", SL_CFG_SIZE, "16MiB", 1, 268435455, NULL,
     A(max_message_bytes),
     "Larger messages go to the dead letters instead of a batch.", false},
    {"flushSinks", SL_CFG_BOOL, "true", 0, 0, NULL, A(flush_sinks),
     "While acknowledgements wait and this trigger's workers are idle, ask "
     "the sinks to publish now instead of at their roll.",
     false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

/* host and port from url; false when malformed. */
static bool parse_url(const char *url, char *host, size_t cap, int *port) {
  const char *p = url;
  if (!strncmp(p, "tcp://", 6) || !strncmp(p, "mqtt://", 7))
    p = strstr(p, "://") + 3;
  const char *colon = strrchr(p, ':');
  size_t hl = colon ? (size_t)(colon - p) : strlen(p);
  if (hl == 0 || hl >= cap) return false;
  memcpy(host, p, hl);
  host[hl] = '\0';
  *port = 1883;
  if (colon) {
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (*end || v < 1 || v > 65535) return false;
    *port = (int)v;
  }
  return true;
}

static int mqtt_validate(const struct sl_spec_trigger *t, const char *file,
                         struct sl_error *err) {
  const struct mqtt_attrs *a = t->attrs;
  char host[256];
  int port;
  if (!parse_url(a->url, host, sizeof host, &port))
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes.url: expected "
                        "tcp://host:port, found '%s'",
                        file, t->line, t->col, t->name, a->url);
  if (a->topics.n == 0)
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes.topics: "
                        "expected at least one topic filter, found none",
                        file, t->line, t->col, t->name);
  for (int32_t i = 0; i < a->topics.n; i++) {
    const char *f = a->topics.v[i];
    const char *hash = strchr(f, '#');
    if (!f[0] || (hash && (hash[1] || (hash > f && hash[-1] != '/'))))
      return sl_error_set(err, SL_EINVAL,
                          "%s:%d:%d: spec.triggers.%s.attributes.topics[%d]: "
                          "expected a topic filter ('#' only as the last "
                          "level), found '%s'",
                          file, t->line, t->col, t->name, (int)i, f);
  }
  if (!a->clean_session && a->qos == 1 && a->client_id && !a->client_id[0])
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes.clientId: "
                        "expected a client id for a persistent session, "
                        "found ''",
                        file, t->line, t->col, t->name);
#ifndef SLUICE_HAVE_MOSQUITTO
  return sl_error_set(err, SL_ENOTSUP,
                      "%s:%d:%d: spec.triggers.%s: trigger kind 'mqtt' is not "
                      "built in (sluice was built without libmosquitto; "
                      "install libmosquitto-dev and rebuild)",
                      file, t->line, t->col, t->name);
#else
  return 0;
#endif
}

#ifdef SLUICE_HAVE_MOSQUITTO
#include <mosquitto.h>

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) {
  mosquitto_lib_init();
}

struct mqtt_state {
  pthread_t th;
  bool started;
  atomic_bool stop;
  struct mosquitto *mosq;
  char host[256];
  int port;
  char *client_id;
  bool connected;
  /* Cut/commit, under mu. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t last_cut, committed;
  /* Reader thread only. */
  int64_t *recv_us; /* receipt time of each QoS 1 message awaiting its ack */
  size_t pending, pending_cap;
  int64_t first_pending_ms;
  char *chunk;
  size_t chunk_len, chunk_cap;
  int64_t chunk_lines;
  int64_t last_sink_flush_ms;
  int oom;
};

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_message(struct mosquitto *m, void *obj,
                       const struct mosquitto_message *msg) {
  (void)m;
  struct sl_trigger *t = obj;
  const struct mqtt_attrs *a = t->attrs;
  struct mqtt_state *st = t->state;
  sl__count(&t->m->messages, 1);
  if (msg->qos > 0) {
    if (st->pending == st->pending_cap) {
      size_t nc = st->pending_cap ? st->pending_cap * 2 : 4096;
      int64_t *np = sl_realloc(st->recv_us, nc * sizeof *np);
      if (!np) {
        st->oom = 1; /* reconnect: the broker sends the message again */
        return;
      }
      st->recv_us = np;
      st->pending_cap = nc;
    }
    if (st->pending == 0) st->first_pending_ms = sl__now_ms();
    st->recv_us[st->pending++] = now_us();
  }
  int len = msg->payloadlen;
  if (len <= 0) return;
  if ((int64_t)len > a->max_message_bytes) {
    char reason[128];
    snprintf(reason, sizeof reason,
             "message of %d bytes is larger than maxMessageBytes", len);
    sl__count(&t->m->dead_letters, 1);
    if (t->rt->dead)
      sl__deadletter_write(t->rt->dead, msg->payload,
                           (size_t)(len < 4096 ? len : 4096), reason,
                           t->spec->name, msg->topic, -1);
    return;
  }
  size_t need = st->chunk_len + (size_t)len + 1;
  if (need > st->chunk_cap) {
    size_t nc = st->chunk_cap ? st->chunk_cap : 65536;
    while (nc < need)
      nc *= 2;
    char *np = sl_realloc(st->chunk, nc);
    if (!np) {
      st->oom = 1;
      return;
    }
    st->chunk = np;
    st->chunk_cap = nc;
  }
  const char *d = msg->payload;
  memcpy(st->chunk + st->chunk_len, d, (size_t)len);
  st->chunk_len += (size_t)len;
  const char *p = d, *end = d + len;
  while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    st->chunk_lines++;
    p++;
  }
  if (d[len - 1] != '\n') {
    st->chunk[st->chunk_len++] = '\n';
    st->chunk_lines++;
  }
}

static void on_connect(struct mosquitto *m, void *obj, int rc) {
  struct sl_trigger *t = obj;
  const struct mqtt_attrs *a = t->attrs;
  struct mqtt_state *st = t->state;
  if (rc) {
    sl_log(t->rt, SL_LOG_ERROR, "mqtt connection refused",
           "\"trigger\":\"%s\",\"reason\":\"%s\"", t->spec->name,
           mosquitto_connack_string(rc));
    return;
  }
  st->connected = true;
  int src = mosquitto_subscribe_multiple(m, NULL, a->topics.n, a->topics.v,
                                         (int)a->qos, 0, NULL);
  if (src)
    sl_log(t->rt, SL_LOG_ERROR, "mqtt subscribe failed",
           "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name,
           mosquitto_strerror(src));
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc) {
  (void)m;
  struct sl_trigger *t = obj;
  struct mqtt_state *st = t->state;
  st->connected = false;
  if (rc)
    sl_log(t->rt, SL_LOG_WARN, "mqtt disconnected",
           "\"trigger\":\"%s\",\"reason\":\"%s\"", t->spec->name,
           mosquitto_strerror(rc));
}

static void append_chunk(struct sl_trigger *t, struct mqtt_state *st) {
  if (st->chunk_lines > 0) {
    struct sl_error err = {0};
    if (sl__batcher_append(t->batcher, st->chunk, st->chunk_len,
                           st->chunk_lines, NULL, NULL, &err))
      sl_log(t->rt, SL_LOG_ERROR, "mqtt messages lost",
             "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name, err.msg);
  }
  st->chunk_len = 0;
  st->chunk_lines = 0;
}

static void maybe_flush_sinks(struct sl_trigger *t, struct mqtt_state *st) {
  const struct mqtt_attrs *a = t->attrs;
  if (!a->flush_sinks) return;
  int64_t now = sl__now_ms();
  if (now - st->last_sink_flush_ms < 20) return;
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

/* Connection lost: queued PUBACKs are gone, so the pending messages will be
 * sent again by the broker (they are already in batches: duplicates). */
static void lost(struct sl_trigger *t, struct mqtt_state *st) {
  append_chunk(t, st);
  sl__count(&t->m->redeliveries, (long long)st->pending);
  st->pending = 0;
  st->connected = false;
}

/* Writes every queued packet (the PUBACKs of durable messages). */
static int write_all(struct mqtt_state *st) {
  int64_t deadline = sl__now_ms() + 5000;
  while (mosquitto_want_write(st->mosq)) {
    int rc = mosquitto_loop_write(st->mosq, 1);
    if (rc) return rc;
    if (!mosquitto_want_write(st->mosq)) break;
    if (sl__now_ms() > deadline) return MOSQ_ERR_CONN_LOST;
    struct pollfd pf = {.fd = mosquitto_socket(st->mosq), .events = POLLOUT};
    if (pf.fd < 0) return MOSQ_ERR_NO_CONN;
    poll(&pf, 1, 100);
  }
  return 0;
}

/* Waits until every cut batch is durable, then sends the PUBACKs. */
static int ack_cycle(struct sl_trigger *t, struct mqtt_state *st) {
  append_chunk(t, st);
  sl__batcher_flush(t->batcher);
  pthread_mutex_lock(&st->mu);
  uint64_t target = st->last_cut;
  while (st->committed < target && !atomic_load(&st->stop)) {
    pthread_mutex_unlock(&st->mu);
    maybe_flush_sinks(t, st);
    pthread_mutex_lock(&st->mu);
    if (st->committed >= target) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 5 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&st->cv, &st->mu, &ts);
  }
  bool ok = st->committed >= target;
  pthread_mutex_unlock(&st->mu);
  if (!ok) return 0; /* stopping: the drain finishes the job */
  int rc = write_all(st);
  if (rc) return rc;
  int64_t t_us = now_us();
  for (size_t i = 0; i < st->pending; i++)
    sl__hist_observe(&t->m->ack_seconds, (double)(t_us - st->recv_us[i]) / 1e6);
  sl__count(&t->m->acks, (long long)st->pending);
  st->pending = 0;
  return 0;
}

static int reconnect(struct sl_trigger *t, struct mqtt_state *st) {
  int rc = mosquitto_reconnect(st->mosq);
  if (rc == 0) rc = write_all(st);
  if (rc == 0)
    sl_log(t->rt, SL_LOG_INFO, "mqtt reconnected", "\"trigger\":\"%s\"",
           t->spec->name);
  return rc;
}

static void *mqtt_main(void *arg) {
  struct sl_trigger *t = arg;
  const struct mqtt_attrs *a = t->attrs;
  struct mqtt_state *st = t->state;
  int64_t backoff = 100;
  while (!atomic_load(&st->stop) && atomic_load(&t->accepting)) {
    int fd = mosquitto_socket(st->mosq);
    if (fd < 0 || st->oom) {
      if (fd >= 0) mosquitto_disconnect(st->mosq);
      lost(t, st);
      st->oom = 0;
      struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000};
      nanosleep(&ts, NULL);
      if (reconnect(t, st) == 0)
        backoff = 100;
      else if (backoff < 5000)
        backoff *= 2;
      continue;
    }
    bool holding = st->pending > 0; /* PUBACKs that must not go out yet */
    if (holding &&
        ((int64_t)st->pending >= a->max_inflight ||
         sl__now_ms() - st->first_pending_ms >= a->ack_interval_ms)) {
      int rc = ack_cycle(t, st);
      if (rc) {
        mosquitto_disconnect(st->mosq);
        lost(t, st);
      }
      continue;
    }
    if (!holding && mosquitto_want_write(st->mosq) && write_all(st)) {
      lost(t, st);
      continue;
    }
    /* Backpressure: read only while the workers have room. */
    if (!sl__batcher_admit(t->batcher, 50)) continue;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int pr = poll(&pf, 1, holding ? 10 : 100);
    if (pr > 0) {
      /* Read what the socket holds (one packet per call), up to a bound. */
      int rc = 0;
      for (int i = 0; i < 4096 && !rc; i++) {
        errno = 0;
        rc = mosquitto_loop_read(st->mosq, 1);
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if ((int64_t)st->pending >= a->max_inflight) break;
      }
      append_chunk(t, st);
      if (rc) {
        lost(t, st);
        continue;
      }
    }
    if (!holding) mosquitto_loop_misc(st->mosq);
  }
  append_chunk(t, st);
  return NULL;
}

static void mqtt_cut(struct sl_trigger *t, uint64_t seq,
                     const struct sl_rt_segment *segs, int32_t n) {
  (void)segs;
  (void)n;
  struct mqtt_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  if (seq > st->last_cut) st->last_cut = seq;
  pthread_mutex_unlock(&st->mu);
}

static void mqtt_committed(struct sl_trigger *t, uint64_t seq) {
  struct mqtt_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  if (seq > st->committed) st->committed = seq;
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
}

static int mqtt_init(struct sl_trigger *t, struct sl_error *err) {
  const struct mqtt_attrs *a = t->attrs;
  pthread_once(&lib_once, lib_init);
  struct mqtt_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  t->state = st;
  sl__hist_init(&t->m->ack_seconds, sl__seconds_buckets);
  parse_url(a->url, st->host, sizeof st->host, &st->port);
  char def[512];
  snprintf(def, sizeof def, "sluice-%s-%s", sl_spec_name(t->rt->spec),
           t->spec->name);
  st->client_id = sl_strdup(a->client_id ? a->client_id : def);
  if (!st->client_id) return sl_error_set(err, SL_ENOMEM, "out of memory");
  st->mosq = mosquitto_new(st->client_id, a->clean_session, t);
  if (!st->mosq)
    return sl_error_set(err, SL_ENOMEM, "trigger %s: mosquitto_new failed",
                        t->spec->name);
  /* Packets are queued until our loop writes them: see the top comment. */
  mosquitto_threaded_set(st->mosq, true);
  if (!strcmp(a->protocol, "5")) {
    mosquitto_int_option(st->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(st->mosq, MOSQ_OPT_RECEIVE_MAXIMUM,
                         a->max_inflight > 65535 ? 65535
                                                 : (int)a->max_inflight);
  }
  mosquitto_int_option(st->mosq, MOSQ_OPT_TCP_NODELAY, 1);
  if (a->username)
    mosquitto_username_pw_set(st->mosq, a->username, a->password);
  mosquitto_connect_callback_set(st->mosq, on_connect);
  mosquitto_disconnect_callback_set(st->mosq, on_disconnect);
  mosquitto_message_callback_set(st->mosq, on_message);
  int rc = mosquitto_connect(st->mosq, st->host, st->port,
                             (int)(a->keepalive_ms / 1000));
  if (rc == 0) rc = write_all(st);
  if (rc)
    return sl_error_set(err, SL_EIO,
                        "trigger %s: cannot connect to the MQTT broker at "
                        "%s:%d: %s",
                        t->spec->name, st->host, st->port,
                        rc == MOSQ_ERR_ERRNO ? strerror(errno)
                                             : mosquitto_strerror(rc));
  return 0;
}

static int mqtt_start(struct sl_trigger *t, struct sl_error *err) {
  struct mqtt_state *st = t->state;
  if (pthread_create(&st->th, NULL, mqtt_main, t))
    return sl_error_set(err, SL_EIO, "cannot start the mqtt thread");
  st->started = true;
  sl_log(t->rt, SL_LOG_INFO, "mqtt trigger started",
         "\"trigger\":\"%s\",\"broker\":\"%s:%d\",\"clientId\":\"%s\"",
         t->spec->name, st->host, st->port, st->client_id);
  return 0;
}

static void mqtt_stop(struct sl_trigger *t) {
  struct mqtt_state *st = t->state;
  if (!st) return;
  atomic_store(&st->stop, true);
  if (st->started) pthread_join(st->th, NULL);
  st->started = false;
}

static void mqtt_destroy(struct sl_trigger *t) {
  struct mqtt_state *st = t->state;
  if (!st) return;
  mqtt_stop(t);
  if (st->mosq) {
    /* After a drain every cut batch is durable: send the PUBACKs held so
     * far, then leave. Otherwise the broker sends those messages again. */
    pthread_mutex_lock(&st->mu);
    bool durable = st->committed >= st->last_cut;
    pthread_mutex_unlock(&st->mu);
    if (durable && mosquitto_socket(st->mosq) >= 0) {
      if (write_all(st) == 0) {
        int64_t t_us = now_us();
        for (size_t i = 0; i < st->pending; i++)
          sl__hist_observe(&t->m->ack_seconds,
                           (double)(t_us - st->recv_us[i]) / 1e6);
        sl__count(&t->m->acks, (long long)st->pending);
        st->pending = 0;
      }
      mosquitto_disconnect(st->mosq);
      write_all(st);
    }
    mosquitto_destroy(st->mosq);
  }
  sl_free(st->recv_us);
  sl_free(st->chunk);
  sl_free(st->client_id);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  sl_free(st);
  t->state = NULL;
}

const struct sl_trigger_vtable sl__trigger_mqtt = {
    .name = "mqtt",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "MQTT topics through libmosquitto, QoS 0 or 1, persistent session "
           "(cleanSession: false); QoS 1 messages are acknowledged only "
           "after their records are durable (at least once).",
    .config = mqtt_config,
    .config_size = sizeof(struct mqtt_attrs),
    .validate = mqtt_validate,
    .init = mqtt_init,
    .start = mqtt_start,
    .stop = mqtt_stop,
    .destroy = mqtt_destroy,
    .committed = mqtt_committed,
    .cut = mqtt_cut,
};

#else /* !SLUICE_HAVE_MOSQUITTO */

static int mqtt_init(struct sl_trigger *t, struct sl_error *err) {
  return sl_error_set(err, SL_ENOTSUP,
                      "trigger %s: kind 'mqtt' is not built in (sluice was "
                      "built without libmosquitto; install libmosquitto-dev "
                      "and rebuild)",
                      t->spec->name);
}

const struct sl_trigger_vtable sl__trigger_mqtt = {
    .name = "mqtt",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "MQTT topics (not built in: sluice was built without "
           "libmosquitto).",
    .config = mqtt_config,
    .config_size = sizeof(struct mqtt_attrs),
    .validate = mqtt_validate,
    .init = mqtt_init,
};
#endif
