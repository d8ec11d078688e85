/* The runtime: builds triggers, workers, handler and sinks from a spec;
 * starts them; drains them in order on shutdown. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/handler.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"
#include "sluice/device.h"

static void on_commit(void *ctx, uint64_t seq) {
  struct sl_trigger *t = ctx;
  /* Commits can be reported out of order by concurrent threads: keep max. */
  long long cur = atomic_load(&t->m->committed_seq);
  while ((long long)seq > cur &&
         !atomic_compare_exchange_weak(&t->m->committed_seq, &cur,
                                       (long long)seq)) {
  }
  if (t->spec->vt->committed) t->spec->vt->committed(t, seq);
}

/* spec.device: one device context for the process, shared by the workers
 * (sl_device serialises calls). gpu/cuda must get one; auto may not. */
static int open_device(struct sl_runtime *rt, struct sl_error *err) {
  const char *want = rt->spec->device ? rt->spec->device : "cpu";
  snprintf(rt->metrics.device, sizeof rt->metrics.device, "cpu");
  if (!strcmp(want, "cpu")) return 0;
  struct sl_device_choice dc = {.kind = strcmp(want, "auto") ? SL_DEVICE_GPU
                                                             : SL_DEVICE_AUTO};
  struct sl_error derr = {0};
  if (sl_device_open(&dc, &rt->device, &derr)) {
    if (dc.kind == SL_DEVICE_GPU)
      return sl_error_set(err, SL_ENOTSUP, "%s: spec.device %s: %s",
                          rt->spec->file, want, derr.msg);
    sl_log(rt, SL_LOG_WARN, "no GPU, handlers run on the CPU",
           "\"device\":\"auto\"");
    return 0;
  }
  snprintf(rt->metrics.device, sizeof rt->metrics.device, "%s",
           sl_device_describe(rt->device));
  sl_log(rt, SL_LOG_INFO, "handlers run on the GPU where queries qualify",
         "\"device\":\"%s\"", rt->metrics.device);
  return 0;
}

int sl_runtime_create(const struct sl_spec *spec, struct sl_runtime **out,
                      struct sl_error *err) {
  *out = NULL;
  struct sl_runtime *rt = sl_calloc(1, sizeof *rt);
  if (!rt) return sl_error_set(err, SL_ENOMEM, "out of memory");
  int rc = 0;
  rt->spec = spec;
  rt->log_level = SL_LOG_INFO;
  sl_log_parse_level(spec->log_level, &rt->log_level);
  rt->metrics.started_ms = sl__wall_ms();
  rt->metrics.n_triggers = spec->n_triggers;
  rt->metrics.n_sinks = spec->n_sinks;
  rt->metrics.triggers =
      sl_calloc((size_t)spec->n_triggers + 1, sizeof *rt->metrics.triggers);
  rt->metrics.sinks =
      sl_calloc((size_t)spec->n_sinks + 1, sizeof *rt->metrics.sinks);
  rt->triggers = sl_calloc((size_t)spec->n_triggers + 1, sizeof *rt->triggers);
  rt->sinks = sl_calloc((size_t)spec->n_sinks + 1, sizeof *rt->sinks);
  if (!rt->metrics.triggers || !rt->metrics.sinks || !rt->triggers ||
      !rt->sinks) {
    rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    goto fail;
  }
  for (int32_t i = 0; i < spec->n_sinks; i++) {
    struct sl_sink_metrics *m = &rt->metrics.sinks[i];
    m->name = spec->sinks[i].name;
    m->kind = spec->sinks[i].kind;
    struct sl_sink *s = &rt->sinks[i];
    s->rt = rt;
    s->spec = &spec->sinks[i];
    s->attrs = spec->sinks[i].attrs;
  }
  for (int32_t i = 0; i < spec->n_triggers; i++) {
    struct sl_trig_metrics *m = &rt->metrics.triggers[i];
    m->name = spec->triggers[i].name;
    m->kind = spec->triggers[i].kind;
    sl__hist_init(&m->batch_events, sl__events_buckets);
    sl__hist_init(&m->handler_seconds, sl__seconds_buckets);
    struct sl_trigger *t = &rt->triggers[i];
    t->rt = rt;
    t->spec = &spec->triggers[i];
    t->attrs = spec->triggers[i].attrs;
    t->m = m;
  }
  rt->n_sinks = spec->n_sinks;
  rt->n_triggers = spec->n_triggers;
  if (spec->dead_letter_path)
    SL_CHECK_GOTO(
        sl__deadletter_open(rt, spec->dead_letter_path, &rt->dead, err), rc,
        fail);
  SL_CHECK_GOTO(sl__handler_create(rt, &rt->handler, err), rc, fail);
  SL_CHECK_GOTO(open_device(rt, err), rc, fail);
  *out = rt;
  return 0;
fail:
  sl_runtime_free(rt);
  return rc;
}

static void *timer_main(void *arg) {
  struct sl_runtime *rt = arg;
  while (!atomic_load(&rt->stopping)) {
    struct timespec ts = {0, 200 * 1000000};
    nanosleep(&ts, NULL);
    int64_t now = sl__wall_ms();
    for (int32_t i = 0; i < rt->n_sinks; i++)
      if (rt->sinks[i].spec->vt->tick && rt->sinks[i].state)
        rt->sinks[i].spec->vt->tick(&rt->sinks[i], now);
    sl__handler_tick(rt->handler, now);
  }
  return NULL;
}

int sl_runtime_start(struct sl_runtime *rt, struct sl_error *err) {
  int rc = 0;
  for (int32_t i = 0; i < rt->n_sinks; i++) {
    struct sl_sink *s = &rt->sinks[i];
    if (s->spec->vt->init) SL_RETURN_NOT_OK(s->spec->vt->init(s, err));
  }
  for (int32_t i = 0; i < rt->n_triggers; i++) {
    struct sl_trigger *t = &rt->triggers[i];
    if (sl__delivery_init(&t->delivery, on_commit, t))
      return sl_error_set(err, SL_ENOMEM, "out of memory");
    SL_RETURN_NOT_OK(sl__workers_create(t, &t->workers, err));
    SL_RETURN_NOT_OK(sl__batcher_create(t, &t->batcher, err));
    if (t->spec->vt->init) SL_RETURN_NOT_OK(t->spec->vt->init(t, err));
  }
  if (pthread_create(&rt->timer, NULL, timer_main, rt))
    return sl_error_set(err, SL_EIO, "cannot start the timer thread");
  rt->timer_started = true;
  for (int32_t i = 0; i < rt->n_triggers; i++) {
    struct sl_trigger *t = &rt->triggers[i];
    atomic_store(&t->accepting, true);
    if (t->spec->vt->start) SL_CHECK_GOTO(t->spec->vt->start(t, err), rc, out);
  }
  SL_CHECK_GOTO(sl__admin_start(rt, err), rc, out);
  atomic_store(&rt->started, true);
  sl_log(rt, SL_LOG_INFO, "function started",
         "\"triggers\":%d,\"sinks\":%d,\"runtime\":\"%s\",\"device\":\"%s\"",
         (int)rt->n_triggers, (int)rt->n_sinks, rt->spec->runtime,
         rt->metrics.device);
out:
  return rc;
}

int sl_runtime_ready(const struct sl_runtime *rt) {
  if (!atomic_load(&rt->started) || atomic_load(&rt->stopping)) return 0;
  for (int32_t i = 0; i < rt->n_triggers; i++)
    if (!atomic_load(&rt->triggers[i].accepting)) return 0;
  return 1;
}

int sl_runtime_http_port(const struct sl_runtime *rt) {
  return rt->http_port;
}
int sl_runtime_admin_port(const struct sl_runtime *rt) {
  return rt->admin_port ? rt->admin_port : rt->http_port;
}

int sl_runtime_metrics_text(struct sl_runtime *rt, char **out, size_t *len) {
  return sl__metrics_render(&rt->metrics, out, len);
}

int sl_runtime_wait_finished(struct sl_runtime *rt, int64_t timeout_ms) {
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : sl__now_ms() + timeout_ms;
  for (;;) {
    bool all = rt->n_triggers > 0;
    for (int32_t i = 0; i < rt->n_triggers; i++) {
      struct sl_trigger *t = &rt->triggers[i];
      if (!t->spec->vt->finished || !t->spec->vt->finished(t)) all = false;
    }
    if (all) return 0;
    if (sl__now_ms() >= deadline) return SL_ECANCELED;
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL);
  }
}

int sl_runtime_drain(struct sl_runtime *rt, int64_t timeout_ms,
                     struct sl_error *err) {
  if (timeout_ms < 0) timeout_ms = rt->spec->drain_ms;
  int64_t deadline = sl__now_ms() + timeout_ms;
  int rc = 0;
  sl_log(rt, SL_LOG_INFO, "draining", "\"graceMs\":%lld",
         (long long)timeout_ms);
  /* 1. Stop accepting: no append happens after a trigger's stop returns. */
  for (int32_t i = 0; i < rt->n_triggers; i++) {
    struct sl_trigger *t = &rt->triggers[i];
    atomic_store(&t->accepting, false);
    if (t->batcher && t->spec->vt->stop) t->spec->vt->stop(t);
  }
  /* 2. Cut the open batches; 3. let the workers finish the queue. */
  for (int32_t i = 0; i < rt->n_triggers; i++) {
    struct sl_trigger *t = &rt->triggers[i];
    if (t->batcher) sl__batcher_flush(t->batcher);
  }
  for (int32_t i = 0; i < rt->n_triggers; i++)
    sl__workers_stop(rt->triggers[i].workers);
  /* 4. Handler state (open windows, native buffers) goes to the sinks. */
  struct sl_error herr = {0};
  if (sl__handler_drain(rt->handler, &herr)) {
    sl_log(rt, SL_LOG_ERROR, "handler drain failed", "\"error\":\"%s\"",
           herr.msg);
    rc = sl_error_set(err, herr.code ? herr.code : SL_EIO, "%s", herr.msg);
  }
  /* 5. Sinks publish what they buffer; acknowledgements complete. */
  for (int32_t i = 0; i < rt->n_sinks; i++) {
    struct sl_sink *s = &rt->sinks[i];
    struct sl_error serr = {0};
    if (s->state && s->spec->vt->flush && s->spec->vt->flush(s, &serr)) {
      sl_log(rt, SL_LOG_ERROR, "sink flush failed",
             "\"sink\":\"%s\",\"error\":\"%s\"", s->spec->name, serr.msg);
      if (!rc) rc = sl_error_set(err, serr.code, "%s", serr.msg);
    }
  }
  for (int32_t i = 0; i < rt->n_triggers; i++) {
    struct sl_trigger *t = &rt->triggers[i];
    if (!t->delivery.done) continue;
    int64_t left = deadline - sl__now_ms();
    if (!sl__delivery_wait_all(&t->delivery, left < 0 ? 0 : left) && !rc)
      rc = sl_error_set(err, SL_ECANCELED,
                        "trigger %s: grace period over with batches not yet "
                        "durable",
                        t->spec->name);
  }
  atomic_store(&rt->stopping, true);
  sl_log(rt, rc ? SL_LOG_WARN : SL_LOG_INFO, "drained", "\"ok\":%s",
         rc ? "false" : "true");
  return rc;
}

void sl_runtime_free(struct sl_runtime *rt) {
  if (!rt) return;
  atomic_store(&rt->stopping, true);
  if (rt->timer_started) pthread_join(rt->timer, NULL);
  sl__admin_stop(rt);
  for (int32_t i = 0; rt->triggers && i < rt->n_triggers; i++) {
    struct sl_trigger *t = &rt->triggers[i];
    atomic_store(&t->accepting, false);
    if (t->state && t->spec->vt->stop && t->batcher) t->spec->vt->stop(t);
  }
  for (int32_t i = 0; rt->triggers && i < rt->n_triggers; i++) {
    struct sl_trigger *t = &rt->triggers[i];
    if (t->batcher) sl__batcher_flush(t->batcher);
    sl__workers_free(t->workers);
    t->workers = NULL;
  }
  for (int32_t i = 0; rt->triggers && i < rt->n_triggers; i++) {
    struct sl_trigger *t = &rt->triggers[i];
    if (t->spec->vt->destroy) t->spec->vt->destroy(t);
    sl__batcher_free(t->batcher);
    t->batcher = NULL;
  }
  for (int32_t i = 0; rt->sinks && i < rt->n_sinks; i++)
    if (rt->sinks[i].spec->vt->destroy)
      rt->sinks[i].spec->vt->destroy(&rt->sinks[i]);
  sl__handler_free(rt->handler);
  sl_device_close(rt->device);
  for (int32_t i = 0; rt->triggers && i < rt->n_triggers; i++)
    sl__delivery_destroy(&rt->triggers[i].delivery);
  sl__deadletter_close(rt->dead);
  sl_free(rt->triggers);
  sl_free(rt->sinks);
  sl_free(rt->metrics.triggers);
  sl_free(rt->metrics.sinks);
  sl_free(rt);
}
