/* sluice runtime internals: triggers, sinks, batches, tickets, workers.
 *
 * Flow: a trigger appends events (JSON text, one record per line) with a
 * position to its batcher; the batcher cuts a batch on maxEvents / maxBytes /
 * maxWait and queues it; a worker of that trigger parses it once into
 * columns, runs the handler and hands results to the sinks. A batch carries a
 * per-trigger sequence number; when every sink that got rows from it says
 * they are durable, the delivery tracker marks it done and, once contiguous,
 * tells the trigger (`committed`), which may then acknowledge its source. */
#ifndef SLUICE_RUNTIME_RT_H
#define SLUICE_RUNTIME_RT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/config.h"
#include "runtime/metrics.h"
#include "runtime/spec.h"
#include "sluice/runtime.h"
#include "sluice/table.h"

#define SL_RT_ABI_VERSION 1

struct sl_runtime;
struct sl_trigger;
struct sl_sink;
struct sl_rt_batch;

/* ---- tickets: a caller (an HTTP request) waiting for its records -------- */
struct sl_ticket {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int pending; /* batches still holding records of this ticket */
  int status;  /* first non-zero status of those batches */
  int64_t accepted, rejected;
  char reason[160]; /* first rejection reason */
  char *results;    /* response sink: result rows as JSON objects, ','-joined */
  size_t results_len, results_cap;
};
void sl__ticket_init(struct sl_ticket *t);
void sl__ticket_destroy(struct sl_ticket *t);
/* Waits until pending == 0. */
void sl__ticket_wait(struct sl_ticket *t);

/* ---- delivery tracking ----------------------------------------------------
 * Per trigger, sequence numbers 1, 2, 3... are handed out in order; each is
 * marked done once; `committed` advances over the contiguous done prefix.
 * Generic so that Kafka (offsets per partition) can reuse it: one tracker per
 * source stream, sequence = the stream's own monotonically increasing id. */
struct sl_delivery {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t next_seq;  /* next sequence to hand out */
  uint64_t committed; /* every seq <= committed is done */
  uint64_t *done;     /* ring of done flags past committed */
  uint64_t window;    /* ring capacity (bits) */
  void (*on_commit)(void *ctx, uint64_t seq); /* called outside the lock */
  void *ctx;
  /* issue 7 (kafka), additive: called outside the lock for every seq marked
   * done, in any order, so that a trigger can track durability per source
   * stream (Kafka partition) instead of the trigger-wide watermark. Set by
   * the trigger's init (after sl__delivery_init); NULL = not called. */
  void (*on_done)(void *ctx, uint64_t seq);
  void *done_ctx;
};
int sl__delivery_init(struct sl_delivery *d,
                      void (*on_commit)(void *, uint64_t), void *ctx);
void sl__delivery_destroy(struct sl_delivery *d);
uint64_t sl__delivery_next(struct sl_delivery *d);
void sl__delivery_done(struct sl_delivery *d, uint64_t seq);
/* Waits until every handed-out sequence is committed or timeout (ms, <0:
 * forever); returns true when all are committed. */
bool sl__delivery_wait_all(struct sl_delivery *d, int64_t timeout_ms);

/* An acknowledgement reference held by whoever still needs a batch's rows
 * (a worker, a sink buffering them). Dropping the last marks the seq done. */
struct sl_ack {
  struct sl_trigger *trigger;
  uint64_t seq;
  atomic_int refs;
  struct sl_rt_batch *batch; /* while a worker processes it, else NULL */
  /* A composite ack (trigger == NULL) holds other acks: released with it
   * (a window's result stands for the batches that fed it). */
  struct sl_ack **deps;
  int32_t n_deps;
  /* Position key of the batch's rows (docs/runtime.md, "Replays overwrite"):
   * set at cut by the trigger's position_key when its source can replay
   * (file, kafka); "" otherwise. A composite ack's key is set by whoever
   * built it (a window: its start and its inputs' keys). Sinks that publish
   * files name them after it so that a replay rewrites the same names. */
  char key[80];
};
void sl__ack_retain(struct sl_ack *a);
void sl__ack_release(struct sl_ack *a);

/* ---- batches ------------------------------------------------------------ */
/* Where an append came from: source names a file (borrowed; must live as
 * long as the trigger) or is NULL; a/b are the kind's position of the first
 * record (file: byte offset, line number), end the position just past the
 * last one (file: byte offset of the next record). */
struct sl_rt_pos {
  const char *source;
  uint64_t a, b, end;
  uint32_t flags; /* issue 7 (kafka), additive: SL_POS_* */
};
/* issue 7 (kafka): source names a replayable stream (a Kafka topic-partition,
 * "topic-partition"), a is the offset of the first record and end the offset
 * just past the last. Sinks that publish files name them after
 * (source, first offset, last offset) so a replay overwrites them. */
#define SL_POS_OFFSETS 1u

struct sl_rt_segment {
  int64_t first_line; /* 0-based line index of the segment in the batch */
  int64_t n_lines;
  struct sl_ticket *ticket; /* may be NULL */
  struct sl_rt_pos pos;
  int64_t rejected;
};

struct sl_rt_batch {
  struct sl_trigger *trigger;
  struct sl_ack *ack;
  char *data; /* JSON Lines; every record ends with '\n' */
  size_t len, cap;
  int64_t n_events;
  struct sl_rt_segment *segs;
  int32_t n_segs, cap_segs;
  int64_t opened_ms;        /* monotonic ms when the first event arrived */
  struct sl_rt_batch *next; /* queue link */
  /* issue 7 (kafka): when set, sl__rt_batch_free hands `data` (and its cap)
   * to release(release_ctx, ...) instead of freeing it, so the trigger can
   * reuse the buffer. Called once, on the thread that frees the batch. */
  void (*release)(void *ctx, char *data, size_t cap);
  void *release_ctx;
};
void sl__rt_batch_free(struct sl_rt_batch *b);

/* ---- the batcher and worker pool of one trigger ------------------------- */
struct sl_batcher;
struct sl_workers;

/* Appends `data` (records separated by '\n'; a missing final '\n' is added)
 * holding n_lines records. The records of one append are never split over
 * two batches unless they exceed maxEvents/maxBytes on their own. ticket (may
 * be NULL) gets pending += number of batches holding them. */
int sl__batcher_append(struct sl_batcher *b, const char *data, size_t len,
                       int64_t n_lines, struct sl_ticket *ticket,
                       const struct sl_rt_pos *pos, struct sl_error *err);
/* Appends n parts that form one batch of their own, cut before and after
 * whatever maxEvents/maxBytes/maxWait say: the replay of a batch recorded
 * before a crash, so that it gets the same rows and position key. */
int sl__batcher_append_batch(struct sl_batcher *b, int32_t n,
                             const char *const *data, const size_t *len,
                             const int64_t *n_lines,
                             const struct sl_rt_pos *pos, struct sl_error *err);
/* issue 7 (kafka), additive: hands *data (sl_malloc'd, cap bytes, holding
 * len bytes of n_lines records, the last ending in '\n') over as one batch
 * of its own, cut before and after, without copying; on success *data is
 * the batch's (set to NULL). release (may be NULL): see sl_rt_batch. */
int sl__batcher_append_owned(struct sl_batcher *b, char **data, size_t len,
                             size_t cap, int64_t n_lines,
                             const struct sl_rt_pos *pos,
                             void (*release)(void *ctx, char *data, size_t cap),
                             void *release_ctx, struct sl_error *err);
/* Cuts the open batch now (drain, end of a file). */
void sl__batcher_flush(struct sl_batcher *b);
/* Admission: waits up to timeout_ms for the trigger's queue to have room
 * (a free worker soon); false when it stayed full (HTTP answers 503). */
bool sl__batcher_admit(struct sl_batcher *b, int64_t timeout_ms);

/* ---- triggers ------------------------------------------------------------ */
struct sl_trigger_vtable {
  const char *name;
  int abi_version;
  const char *doc;
  const struct sl_cfg_entry *config;
  size_t config_size;
  /* Cross-key checks after the table was applied (may be NULL). */
  int (*validate)(const struct sl_spec_trigger *t, const char *file,
                  struct sl_error *err);
  int (*init)(struct sl_trigger *t, struct sl_error *err);
  int (*start)(struct sl_trigger *t, struct sl_error *err);
  /* Stops accepting events; returns when no more appends will come. */
  void (*stop)(struct sl_trigger *t);
  void (*destroy)(struct sl_trigger *t);
  /* Every batch with seq <= `seq` is durable (may be NULL). */
  void (*committed)(struct sl_trigger *t, uint64_t seq);
  /* True when the trigger has no more input by itself (file batch mode). */
  bool (*finished)(struct sl_trigger *t);
  /* A batch was cut with sequence seq holding segs[0, n) (one per append,
   * in order). Called under the batcher lock, in sequence order. */
  void (*cut)(struct sl_trigger *t, uint64_t seq,
              const struct sl_rt_segment *segs, int32_t n);
  /* The position key of a batch being cut (segs[0, n), before `cut`):
   * writes a key of [A-Za-z0-9._-] (at most cap-1 bytes) into buf and
   * returns true when the trigger replays the same batch, with the same
   * segments, after a crash (so a key names the same rows in every run);
   * false (or NULL) when the source cannot replay (http, cron). Under the
   * batcher lock. sl__position_key_offsets is a ready one for
   * SL_POS_OFFSETS positions (one stream, contiguous offsets). */
  bool (*position_key)(struct sl_trigger *t, const struct sl_rt_segment *segs,
                       int32_t n, char *buf, size_t cap);
};
/* "<source>-<first offset>-<last offset>" (source with characters outside
 * [A-Za-z0-9._-] as '_', then a hash when it was changed or long) for
 * segments that all carry SL_POS_OFFSETS of one source; false otherwise. */
bool sl__position_key_offsets(struct sl_trigger *t,
                              const struct sl_rt_segment *segs, int32_t n,
                              char *buf, size_t cap);

struct sl_retry_policy; /* issue 7 (kafka): runtime/retry.h */
struct sl_trigger {
  struct sl_runtime *rt;
  const struct sl_spec_trigger *spec;
  const void *attrs; /* spec->attrs */
  struct sl_batcher *batcher;
  struct sl_workers *workers;
  struct sl_delivery delivery;
  struct sl_trig_metrics *m;
  void *state; /* the kind's own */
  atomic_bool accepting;
  /* issue 7 (kafka), additive: set by a replayable trigger's init: failed
   * batches are retried, then split and their failing records dead-lettered
   * (runtime/retry.h). NULL: a failed batch is logged and dropped. */
  const struct sl_retry_policy *retry;
};

/* ---- sinks -------------------------------------------------------------- */
struct sl_sink_vtable {
  const char *name;
  int abi_version;
  const char *doc;
  const struct sl_cfg_entry *config;
  size_t config_size;
  int (*validate)(const struct sl_spec_sink *s, const char *file,
                  struct sl_error *err);
  int (*init)(struct sl_sink *s, struct sl_error *err);
  /* Takes rows of `batch` (borrowed). The sink retains `ack` for as long as
   * the rows are not durable, and releases it when they are. Called from
   * many workers at once: sinks lock what they share. */
  int (*write)(struct sl_sink *s, const struct sl_batch *batch,
               struct sl_ack *ack, struct sl_error *err);
  /* Publishes whatever is buffered (drain, roll by time); may be NULL. */
  int (*flush)(struct sl_sink *s, struct sl_error *err);
  /* Called about once a second from the runtime's timer (roll by seconds). */
  void (*tick)(struct sl_sink *s, int64_t now_ms);
  void (*destroy)(struct sl_sink *s);
  /* Every row of `ack` was written (the handler is done with that batch or
   * window): a sink that keeps rows of a keyed ack (ack->key[0]) in files of
   * their own publishes them now. May be NULL. */
  void (*seal)(struct sl_sink *s, struct sl_ack *ack);
};

struct sl_sink {
  struct sl_runtime *rt;
  const struct sl_spec_sink *spec;
  const void *attrs;
  void *state;
};

/* ---- the runtime ----------------------------------------------------------
 */
struct sl_handler;
struct sl_deadletter;
struct sl_admin;

struct sl_runtime {
  const struct sl_spec *spec;
  enum sl_log_level log_level;
  int32_t n_triggers;
  struct sl_trigger *triggers;
  int32_t n_sinks;
  struct sl_sink *sinks;
  struct sl_handler *handler;
  struct sl_deadletter *dead;
  struct sl_metrics metrics;
  struct sl_admin *admin;
  struct sl_device *device; /* spec.device: one GPU context per process */
  pthread_t timer;
  bool timer_started;
  atomic_bool stopping;
  atomic_bool started;
  int http_port, admin_port;
  /* Requests for /metrics, /ready, /live served by the http trigger when the
   * admin server shares its port. */
};

/* Runs one parsed batch through the handler and sinks (workers.c). */
int sl__rt_process(struct sl_trigger *t, struct sl_rt_batch *b, int worker,
                   struct sl_error *err);
/* Hands result rows to every sink (the handler's emit). */
int sl__rt_emit(struct sl_runtime *rt, const struct sl_batch *out,
                struct sl_ack *ack, struct sl_error *err);

/* Tells every sink that ack's rows were all written (sink->seal). */
void sl__rt_seal(struct sl_runtime *rt, struct sl_ack *ack);

/* Dead letters: one JSON object per line with record, reason, trigger,
 * position. Thread-safe. */
int sl__deadletter_open(struct sl_runtime *rt, const char *path,
                        struct sl_deadletter **out, struct sl_error *err);
/* line: 1-based line in source when source is a file, else the record's
 * index in its request (0-based), or -1 when unknown. */
void sl__deadletter_write(struct sl_deadletter *d, const char *record,
                          size_t len, const char *reason, const char *trigger,
                          const char *source, int64_t line);
void sl__deadletter_close(struct sl_deadletter *d);

/* Admin endpoints: handles /metrics, /ready, /live (and returns true) for a
 * GET on `url`; fills a malloc'd body and its content type. */
bool sl__admin_route(struct sl_runtime *rt, const char *url, int *status,
                     char **body, size_t *len, const char **ctype);
int sl__admin_start(struct sl_runtime *rt, struct sl_error *err);
void sl__admin_stop(struct sl_runtime *rt);

/* JSON string escaping into buf (returns bytes written, always < cap). */
size_t sl__json_escape(char *buf, size_t cap, const char *s, size_t n);
int64_t sl__now_ms(void);  /* monotonic */
int64_t sl__wall_ms(void); /* realtime, since the epoch */

/* Workers (workers.c). */
int sl__workers_create(struct sl_trigger *t, struct sl_workers **out,
                       struct sl_error *err);
/* Queues a cut batch (never blocks; admission is checked before appends). */
void sl__workers_push(struct sl_workers *w, struct sl_rt_batch *b);
bool sl__workers_wait_room(struct sl_workers *w, int64_t timeout_ms);
/* Waits until the queue is empty and every worker is idle, then joins. */
void sl__workers_stop(struct sl_workers *w);
void sl__workers_free(struct sl_workers *w);
int sl__batcher_create(struct sl_trigger *t, struct sl_batcher **out,
                       struct sl_error *err);
void sl__batcher_free(struct sl_batcher *b);

#endif
