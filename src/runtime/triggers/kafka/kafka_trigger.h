/* The kafka-cluster trigger: internal state shared by its files.
 *
 *   kafka_trigger.c   config table, lifecycle, the poll thread, micro-batches
 *   kafka_offsets.c   per-partition durability tracking, commits, rebalances,
 *                     lag metrics
 *
 * Data flow: one poll thread takes messages from librdkafka's consumer queue
 * and appends their payloads to a per-partition accumulator; when it holds
 * maxEvents records, maxBytes bytes or is maxWait old, it becomes one batch
 * of the runtime (one append + cut), so a batch always holds a contiguous
 * offset range of one partition. The batch's position carries
 * (topic-partition, first offset, end offset) with SL_POS_OFFSETS, so sinks
 * can name their output after it.
 *
 * Durability: every cut batch is remembered per partition in sequence order;
 * when the runtime reports a sequence done (all its rows durable in every
 * sink), the partition's durable prefix advances and its end offset is
 * committed. See docs/delivery.md. */
#ifndef SLUICE_RUNTIME_KAFKA_TRIGGER_H
#define SLUICE_RUNTIME_KAFKA_TRIGGER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/retry.h"
#include "runtime/rt.h"

struct kafka_attrs {
  struct sl_strlist brokers, topics;
  char *group;
  char *initial_offset;
  int64_t session_ms, heartbeat_ms, rebalance_wait_ms, max_poll_ms;
  char *alloc_mode, *strategy;
  int64_t fetch_min, fetch_default, fetch_max, fetch_wait_ms;
  int64_t queued_max_bytes, queued_min_msgs;
  struct sl_strmap sasl, tls, librdkafka;
  int64_t retries, retry_backoff_ms, max_retry_backoff_ms;
  bool dead_letter_on_error;
};

#ifdef SLUICE_HAVE_RDKAFKA
#include <librdkafka/rdkafka.h>

struct kafka_inflight {
  uint64_t seq;
  int64_t end; /* offset just past the batch's last record */
  uint32_t gen;
  bool done;
};

struct kafka_part {
  char *topic;
  int32_t partition;
  char *name; /* "topic-partition": the batches' position source */
  /* Accumulator: poll thread only. */
  char *buf;
  size_t len, cap;
  int64_t lines, first_off, next_off, opened_ms;
  bool paused; /* static mode: full while the previous batch is in flight */
  /* Under st->mu. */
  atomic_bool assigned; /* written under st->mu, read without it */
  bool abandoned;
  uint32_t gen;             /* bumped at each assignment */
  struct kafka_inflight *q; /* cut batches in sequence order */
  size_t qhead, qlen, qcap;
  int64_t durable;   /* offset after the durable prefix; -1: none yet */
  int64_t committed; /* last offset sent in a commit; -1: none */
  /* For metrics (relaxed atomics). */
  atomic_llong position; /* next offset the poll thread expects */
  atomic_llong acked;    /* last commit the broker acknowledged; -1 none */
  atomic_llong commits;  /* commits acknowledged for this partition */
};

struct kafka_state {
  struct sl_retry_policy retry;
  rd_kafka_t *rk;
  rd_kafka_queue_t *queue;
  pthread_t th;
  bool started;
  atomic_bool stop;
  atomic_bool closing; /* destroy: revokes do not wait for durability */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct kafka_part **parts;
  int32_t n_parts, cap_parts;
  int32_t last_hit;
  const void *last_rkt; /* topic handle of parts[last_hit] (poll thread) */
  int32_t *seqmap; /* seq % window -> part index, for the runtime's window */
  uint64_t window;
  atomic_int handing; /* part index being appended (cut callback) */
  bool ordered;       /* workerAllocationMode static */
  atomic_llong commits_ok, commit_errors, rebalances, assigned, revoked,
      abandoned, consume_errors, fetch_wakeups;
  /* Accumulator buffers of the standard size (maxBytes + 1) given back by
   * the workers once their batch is freed: a new accumulator reuses one
   * instead of faulting in fresh pages. */
  pthread_mutex_t pool_mu;
  char *pool[4];
  int n_pool;
  size_t acc_cap;
  /* Poll thread: fetch wake-ups (kafka_trigger.c, wake_fetcher). */
  int64_t last_msg_ms, last_wakeup_ms;
  bool held_back; /* waited for the workers since the last wake-up */
};

/* kafka_offsets.c */
struct kafka_part *sl__kafka_part_get(struct sl_trigger *t, const char *topic,
                                      int32_t partition, int32_t *idx);
void sl__kafka_cut(struct sl_trigger *t, uint64_t seq,
                   const struct sl_rt_segment *segs, int32_t n);
void sl__kafka_on_done(void *ctx, uint64_t seq);
void sl__kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts,
                            void *opaque);
void sl__kafka_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets,
                         void *opaque);
/* Commits the durable offsets of every assigned partition (sync or async). */
void sl__kafka_commit_all(struct sl_trigger *t, bool sync);
int sl__kafka_metrics(void *ctx, char **text, size_t *len);
void sl__kafka_parts_free(struct kafka_state *st);

/* kafka_trigger.c: hands a partition's accumulated records to the batcher
 * (poll thread only). With workerAllocationMode static, a partition has at
 * most one batch in flight: returns false (keeps accumulating) while the
 * previous one is not durable yet, unless force. */
bool sl__kafka_handover(struct sl_trigger *t, int32_t idx, bool force);
#endif

#endif
