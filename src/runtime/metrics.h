/* sluice runtime: counters, gauges and histograms per trigger and per sink,
 * rendered in the Prometheus text format (served on /metrics). Lock-free:
 * every update is one relaxed atomic add. */
#ifndef SLUICE_RUNTIME_METRICS_H
#define SLUICE_RUNTIME_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SL_HIST_BUCKETS 12

struct sl_hist {
  const double *bounds; /* SL_HIST_BUCKETS upper bounds, +Inf implied */
  atomic_llong counts[SL_HIST_BUCKETS + 1];
  atomic_llong sum_micro; /* sum in millionths of the unit */
  atomic_llong n;
};

struct sl_trig_metrics {
  const char *name, *kind; /* borrowed from the spec */
  atomic_llong events, bytes, batches, errors, dead_letters, rejected_503;
  atomic_llong requests, workers, workers_busy, busy_micros, queue_depth;
  atomic_llong committed_seq;
  struct sl_hist batch_events;    /* records per batch */
  struct sl_hist handler_seconds; /* handler + sinks time per batch */
  /* Message-broker triggers (nats, mqtt; added for issue 10): broker
   * messages received, messages the broker delivered again, messages
   * acknowledged, and the time from receipt to acknowledgement. A trigger
   * that acknowledges calls sl__hist_init(&m->ack_seconds, ...) in its init;
   * the histogram is rendered only for those (bounds != NULL). */
  atomic_llong messages, redeliveries, acks;
  struct sl_hist ack_seconds;
  /* issue 7 (kafka), additive: the trigger kind's own metrics (per-partition
   * lag and commits), appended verbatim in the Prometheus text format;
   * *text is sl_malloc'd by the callback. NULL = none. */
  int (*extra)(void *ctx, char **text, size_t *len);
  void *extra_ctx;
};

struct sl_sink_metrics {
  const char *name, *kind;
  atomic_llong rows, batches, files, bytes, errors;
};

struct sl_metrics {
  /* spec.device: where handlers run ("cpu" or the GPU's description), and
   * SQL handler batches run on the GPU and on the CPU. */
  char device[200];
  atomic_llong gpu_batches, cpu_batches;
  int32_t n_triggers, n_sinks;
  struct sl_trig_metrics *triggers;
  struct sl_sink_metrics *sinks;
  int64_t started_ms; /* wall clock */
};

void sl__hist_init(struct sl_hist *h, const double *bounds);
void sl__hist_observe(struct sl_hist *h, double v);
extern const double sl__events_buckets[SL_HIST_BUCKETS];
extern const double sl__seconds_buckets[SL_HIST_BUCKETS];

/* Renders everything; *out is sl_malloc'd. */
int sl__metrics_render(const struct sl_metrics *m, char **out, size_t *len);

static inline void sl__count(atomic_llong *c, long long v) {
  atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

#endif
