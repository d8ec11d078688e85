/* sluice: the native C handler ABI (spec.runtime: c).
 *
 * A native handler is a shared object named in the spec as
 *     spec.handler: "path/to/libmyfn.so:myfn"
 * It exports, with that prefix:
 *
 *   int  myfn_abi_version(void);            required; return SL_FUNCTION_ABI
 *   int  myfn_init(struct sl_fn_context *ctx);                    optional
 *   int  myfn_handle(struct sl_fn_context *ctx,
 *                    const struct sl_fn_events *events);           required
 *   int  myfn_drain(struct sl_fn_context *ctx);                   optional
 *   void myfn_destroy(struct sl_fn_context *ctx);                 optional
 *   int  myfn_input(void);     optional: SL_FN_INPUT_COLUMNS (default) or
 *                              SL_FN_INPUT_RAW (records as JSON text)
 *
 * Lifecycle: the runtime makes one context per worker slot (numWorkers up to
 * maxWorkers of each trigger) and calls init on it the first time the slot
 * runs a batch. handle is called once per micro-batch, from that worker's
 * thread only: a context is never used by two threads at once, so per-worker
 * state in ctx->user needs no lock. State shared between workers is the
 * handler's to lock. At shutdown (SIGTERM, reload) drain is called once per
 * initialised context, after the last handle and before destroy: emit what
 * is still buffered there. Return 0 for success; a non-zero return from init
 * or handle fails the batch (logged, counted in sluice_errors_total, and an
 * HTTP request answers 500); the runtime keeps running.
 *
 * Events: in SL_FN_INPUT_COLUMNS mode the records of the batch were parsed
 * once into Arrow-layout columns (include/sluice/table.h; the struct layouts
 * of table.h are part of this ABI version). events->batch and everything it
 * points to are borrowed for the duration of handle: retain arrays
 * (sl_array_retain) to keep them longer. In SL_FN_INPUT_RAW mode
 * events->batch is NULL and events->raw holds the records as JSON text.
 *
 * Output: ctx->emit(ctx, batch) hands a result batch to every sink of the
 * function (parquet, stdout, ...); the batch stays owned by the caller (free
 * it after emit returns). Any schema may be emitted; a parquet sink starts a
 * new file when the schema changes. ctx->dead_letter sends one record to the
 * dead-letter sink with a reason.
 *
 * Building: cc -shared -fPIC -I include -o libmyfn.so myfn.c -L build
 * -lsluice -Wl,-rpath,<build>: the table.h functions the handler calls
 * (sl_builder_*, sl_batch_make, ...) come from libsluice.so. Memory crosses
 * the boundary safely: both sides allocate with the C library's malloc and
 * buffers carry their own free function. See examples/native/. */
#ifndef SLUICE_FUNCTION_H
#define SLUICE_FUNCTION_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/table.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_FUNCTION_ABI 1

enum sl_fn_input { SL_FN_INPUT_COLUMNS = 0, SL_FN_INPUT_RAW = 1 };
enum sl_fn_log_level { SL_FN_DEBUG = 0, SL_FN_INFO, SL_FN_WARN, SL_FN_ERROR };

struct sl_fn_events {
  int64_t n_events;
  const struct sl_batch *batch; /* COLUMNS mode: the parsed records */
  const char *raw;              /* RAW mode: records, each ending in '\n' */
  size_t raw_len;
  const char *trigger_name; /* "http", ... as named in the spec */
  const char *trigger_kind; /* "http", "cron", "file" */
  uint64_t sequence;        /* the batch's sequence number in its trigger */
};

struct sl_fn_context {
  int abi_version;           /* SL_FUNCTION_ABI of the runtime */
  const char *function_name; /* metadata.name */
  int worker_id;             /* the worker slot: 0 .. maxWorkers-1 */
  void *user;                /* the handler's own per-worker state */

  /* Sends `batch` (borrowed) to every sink. Returns 0 or an SL_E* code. */
  int (*emit)(struct sl_fn_context *ctx, const struct sl_batch *batch);
  /* Sends a record (any bytes, usually JSON) with a reason to dead letters. */
  void (*dead_letter)(struct sl_fn_context *ctx, const char *record, size_t len,
                      const char *reason);
  /* Structured log line at the runtime's log level. */
  void (*log)(struct sl_fn_context *ctx, int level, const char *msg);
  /* spec.env of the function (then the process environment), or NULL. */
  const char *(*env)(struct sl_fn_context *ctx, const char *name);

  void *runtime_private; /* the runtime's; do not touch */
};

typedef int (*sl_fn_abi_version_fn)(void);
typedef int (*sl_fn_init_fn)(struct sl_fn_context *ctx);
typedef int (*sl_fn_handle_fn)(struct sl_fn_context *ctx,
                               const struct sl_fn_events *events);
typedef int (*sl_fn_drain_fn)(struct sl_fn_context *ctx);
typedef void (*sl_fn_destroy_fn)(struct sl_fn_context *ctx);
typedef int (*sl_fn_input_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
