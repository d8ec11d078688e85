/* sluice runtime: handler failures never skip records (issue 7).
 *
 * A trigger that can replay (kafka) sets t->retry to a policy. When the
 * handler (or a sink) fails a batch, the worker runs it again after a
 * backoff, `retries` times; if it still fails and deadLetter is on, the
 * batch is split in halves and each half run again, recursively, until the
 * records that fail on their own are isolated: those go to the dead-letter
 * sink with the error as reason, every other record goes through the handler
 * as usual. With deadLetter off the batch keeps being retried (backoff
 * capped at maxBackoff) until it succeeds or the runtime drains: its
 * position is never committed, so the source replays it after a restart.
 *
 * A handler should fail before it emits: rows emitted by an attempt that
 * then failed are not taken back (a sink may hold them twice). */
#ifndef SLUICE_RUNTIME_RETRY_H
#define SLUICE_RUNTIME_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/rt.h"

struct sl_retry_policy {
  int64_t retries;        /* runs after the first failure, before splitting */
  int64_t backoff_ms;     /* first wait; doubles each time */
  int64_t max_backoff_ms; /* cap of the wait */
  bool dead_letter;       /* split and dead-letter failing records */
};

/* sl__rt_process with t->retry's policy (t->retry must be set). Returns 0
 * when every record was handled or dead-lettered; the last error when the
 * runtime began stopping while the batch still failed (deadLetter off). */
int sl__rt_process_retry(struct sl_trigger *t, struct sl_rt_batch *b,
                         int worker, struct sl_error *err);

#endif
