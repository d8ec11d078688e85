/* Prometheus text exposition of the runtime's metrics. */
#include "runtime/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/error.h"

/* Constant tables (read-only, not mutable state). */
const double sl__events_buckets[SL_HIST_BUCKETS] = {
    1, 10, 100, 500, 1000, 5000, 10000, 50000, 100000, 500000, 1e6, 1e7};
const double sl__seconds_buckets[SL_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

void sl__hist_init(struct sl_hist *h, const double *bounds) {
  memset(h, 0, sizeof *h);
  h->bounds = bounds;
}

void sl__hist_observe(struct sl_hist *h, double v) {
  int i = 0;
  while (i < SL_HIST_BUCKETS && v > h->bounds[i])
    i++;
  sl__count(&h->counts[i], 1);
  sl__count(&h->sum_micro, (long long)(v * 1e6));
  sl__count(&h->n, 1);
}

struct out {
  char *p;
  size_t n, cap;
  int oom;
};

static void put(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...) {
  if (o->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
    va_end(ap);
    if (k < 0) {
      o->oom = 1;
      return;
    }
    if ((size_t)k < o->cap - o->n) {
      o->n += (size_t)k;
      return;
    }
    size_t ncap = o->cap * 2 + (size_t)k;
    char *np = sl_realloc(o->p, ncap);
    if (!np) {
      o->oom = 1;
      return;
    }
    o->p = np;
    o->cap = ncap;
  }
}

static long long ld(const atomic_llong *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

#define TRIG_COUNTER(o, m, metric, field, help, type)                          \
  do {                                                                         \
    put(o, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);        \
    for (int32_t i_ = 0; i_ < (m)->n_triggers; i_++)                           \
      put(o, "%s{trigger=\"%s\",kind=\"%s\"} %lld\n", metric,                  \
          (m)->triggers[i_].name, (m)->triggers[i_].kind,                      \
          ld(&(m)->triggers[i_].field));                                       \
  } while (0)

static void hist(struct out *o, const struct sl_metrics *m, const char *metric,
                 const char *help, size_t off, double scale) {
  put(o, "# HELP %s %s\n# TYPE %s histogram\n", metric, help, metric);
  for (int32_t t = 0; t < m->n_triggers; t++) {
    const struct sl_trig_metrics *tm = &m->triggers[t];
    const struct sl_hist *h = (const struct sl_hist *)((const char *)tm + off);
    if (!h->bounds) continue; /* not kept by this trigger kind */
    long long cum = 0;
    for (int i = 0; i <= SL_HIST_BUCKETS; i++) {
      cum += ld(&h->counts[i]);
      if (i < SL_HIST_BUCKETS)
        put(o, "%s_bucket{trigger=\"%s\",le=\"%g\"} %lld\n", metric, tm->name,
            h->bounds[i], cum);
      else
        put(o, "%s_bucket{trigger=\"%s\",le=\"+Inf\"} %lld\n", metric, tm->name,
            cum);
    }
    put(o, "%s_sum{trigger=\"%s\"} %.6f\n", metric, tm->name,
        (double)ld(&h->sum_micro) / 1e6 * scale);
    put(o, "%s_count{trigger=\"%s\"} %lld\n", metric, tm->name, ld(&h->n));
  }
}

int sl__metrics_render(const struct sl_metrics *m, char **out, size_t *len) {
  struct out o = {.p = sl_malloc(8192), .cap = 8192};
  if (!o.p) return SL_ENOMEM;
  o.p[0] = '\0';
  TRIG_COUNTER(&o, m, "sluice_events_total", events,
               "Records received by the trigger.", "counter");
  TRIG_COUNTER(&o, m, "sluice_bytes_total", bytes,
               "Bytes of records received by the trigger.", "counter");
  TRIG_COUNTER(&o, m, "sluice_batches_total", batches,
               "Micro-batches processed.", "counter");
  TRIG_COUNTER(&o, m, "sluice_errors_total", errors,
               "Batches whose handler or sinks failed.", "counter");
  TRIG_COUNTER(&o, m, "sluice_dead_letters_total", dead_letters,
               "Records sent to the dead-letter sink.", "counter");
  TRIG_COUNTER(&o, m, "sluice_requests_total", requests,
               "Requests (or source reads) handled by the trigger.", "counter");
  TRIG_COUNTER(&o, m, "sluice_rejected_busy_total", rejected_503,
               "Requests answered 503 because every worker stayed busy.",
               "counter");
  TRIG_COUNTER(&o, m, "sluice_workers", workers, "Handler workers running.",
               "gauge");
  TRIG_COUNTER(&o, m, "sluice_workers_busy", workers_busy,
               "Handler workers processing a batch now.", "gauge");
  put(&o, "# HELP sluice_worker_busy_seconds_total Time workers spent "
          "processing (utilisation = rate / sluice_workers).\n"
          "# TYPE sluice_worker_busy_seconds_total counter\n");
  for (int32_t i = 0; i < m->n_triggers; i++)
    put(&o, "sluice_worker_busy_seconds_total{trigger=\"%s\"} %.6f\n",
        m->triggers[i].name, (double)ld(&m->triggers[i].busy_micros) / 1e6);
  TRIG_COUNTER(&o, m, "sluice_queue_depth", queue_depth,
               "Batches cut and waiting for a worker.", "gauge");
  TRIG_COUNTER(&o, m, "sluice_committed_sequence", committed_seq,
               "Highest batch sequence whose records are all durable.",
               "gauge");
  /* Message-broker triggers (issue 10). */
  TRIG_COUNTER(&o, m, "sluice_messages_total", messages,
               "Broker messages received (nats, mqtt).", "counter");
  TRIG_COUNTER(&o, m, "sluice_redeliveries_total", redeliveries,
               "Broker messages delivered again (not acknowledged in time, "
               "or after a restart).",
               "counter");
  TRIG_COUNTER(&o, m, "sluice_acks_total", acks,
               "Broker messages acknowledged after their records were "
               "durable.",
               "counter");
  hist(&o, m, "sluice_ack_seconds",
       "Time from receiving a broker message to acknowledging it.",
       offsetof(struct sl_trig_metrics, ack_seconds), 1.0);
  hist(&o, m, "sluice_batch_events", "Records per micro-batch.",
       offsetof(struct sl_trig_metrics, batch_events), 1.0);
  hist(&o, m, "sluice_handler_seconds",
       "Time to parse, run the handler and write sinks, per batch.",
       offsetof(struct sl_trig_metrics, handler_seconds), 1.0);
  static const char *const sink_names[] = {
      "sluice_sink_rows_total", "sluice_sink_batches_total",
      "sluice_sink_files_total", "sluice_sink_bytes_total",
      "sluice_sink_errors_total"};
  static const char *const sink_help[] = {
      "Rows written by the sink.", "Batches written by the sink.",
      "Files published by the sink.", "Bytes published by the sink.",
      "Sink write failures."};
  for (int k = 0; k < 5; k++) {
    put(&o, "# HELP %s %s\n# TYPE %s counter\n", sink_names[k], sink_help[k],
        sink_names[k]);
    for (int32_t i = 0; i < m->n_sinks; i++) {
      const struct sl_sink_metrics *s = &m->sinks[i];
      const atomic_llong *v[] = {&s->rows, &s->batches, &s->files, &s->bytes,
                                 &s->errors};
      put(&o, "%s{sink=\"%s\",kind=\"%s\"} %lld\n", sink_names[k], s->name,
          s->kind, ld(v[k]));
    }
  }
  for (int32_t i = 0; i < m->n_triggers; i++) { /* issue 7 (kafka) */
    char *x = NULL;
    size_t xl = 0;
    if (m->triggers[i].extra &&
        !m->triggers[i].extra(m->triggers[i].extra_ctx, &x, &xl) && x)
      put(&o, "%.*s", (int)xl, x);
    sl_free(x);
  }
  put(&o,
      "# HELP sluice_device_info Where SQL handlers run (spec.device).\n"
      "# TYPE sluice_device_info gauge\n"
      "sluice_device_info{device=\"%s\"} 1\n"
      "# HELP sluice_device_batches_total SQL handler batches by where they "
      "ran.\n"
      "# TYPE sluice_device_batches_total counter\n"
      "sluice_device_batches_total{device=\"gpu\"} %lld\n"
      "sluice_device_batches_total{device=\"cpu\"} %lld\n",
      m->device[0] ? m->device : "cpu",
      (long long)atomic_load_explicit(&m->gpu_batches, memory_order_relaxed),
      (long long)atomic_load_explicit(&m->cpu_batches, memory_order_relaxed));
  put(&o,
      "# HELP sluice_start_time_seconds Start time of the function.\n"
      "# TYPE sluice_start_time_seconds gauge\n"
      "sluice_start_time_seconds %.3f\n",
      (double)m->started_ms / 1000.0);
  if (o.oom) {
    sl_free(o.p);
    return SL_ENOMEM;
  }
  *out = o.p;
  *len = o.n;
  return 0;
}
