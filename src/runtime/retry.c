/* Retry with backoff, then split-and-dead-letter (see retry.h). */
#include "runtime/retry.h"

#include <string.h>
#include <time.h>

#include "sluice/alloc.h"

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Line starts of b's records: starts[i] = byte offset of record i,
 * starts[n] = b->len. */
static int64_t *line_starts(const struct sl_rt_batch *b, int64_t *n_out) {
  int64_t n = 0;
  for (size_t i = 0; i < b->len; i++)
    n += b->data[i] == '\n';
  if (b->len && b->data[b->len - 1] != '\n') n++;
  int64_t *s = sl_malloc(((size_t)n + 1) * sizeof *s);
  if (!s) return NULL;
  int64_t k = 0;
  s[k++] = 0;
  for (size_t i = 0; i < b->len && k <= n; i++)
    if (b->data[i] == '\n' && k < n) s[k++] = (int64_t)i + 1;
  s[n] = (int64_t)b->len;
  *n_out = n;
  return s;
}

/* Runs records [lo, hi) of b as a batch of their own. */
static int run_range(struct sl_trigger *t, struct sl_rt_batch *b,
                     const int64_t *starts, int64_t lo, int64_t hi, int worker,
                     struct sl_error *err) {
  struct sl_rt_segment seg = {0};
  if (b->n_segs > 0) seg.pos = b->segs[0].pos;
  seg.first_line = 0;
  seg.n_lines = hi - lo;
  seg.pos.b += (uint64_t)lo; /* dead letters: the record's index */
  struct sl_rt_batch sub = *b;
  sub.data = b->data + starts[lo];
  sub.len = (size_t)(starts[hi] - starts[lo]);
  sub.cap = sub.len;
  sub.n_events = hi - lo;
  sub.segs = &seg;
  sub.n_segs = sub.cap_segs = 1;
  sub.next = NULL;
  struct sl_rt_batch *saved = b->ack->batch;
  b->ack->batch = &sub;
  int rc = sl__rt_process(t, &sub, worker, err);
  b->ack->batch = saved;
  return rc;
}

static void dead_letter(struct sl_trigger *t, struct sl_rt_batch *b,
                        const int64_t *starts, int64_t i, const char *why) {
  size_t len = (size_t)(starts[i + 1] - starts[i]);
  const char *rec = b->data + starts[i];
  if (len && rec[len - 1] == '\n') len--;
  sl__count(&t->m->dead_letters, 1);
  if (t->rt->dead)
    sl__deadletter_write(t->rt->dead, rec, len, why, t->spec->name,
                         b->n_segs ? b->segs[0].pos.source : NULL,
                         b->n_segs ? (int64_t)b->segs[0].pos.b + i : i);
}

/* Handles [lo, hi), which failed as a whole with `why`. */
static int split(struct sl_trigger *t, struct sl_rt_batch *b,
                 const int64_t *starts, int64_t lo, int64_t hi, int worker,
                 const char *why, int depth) {
  if (hi - lo == 1) {
    dead_letter(t, b, starts, lo, why);
    return 0;
  }
  int64_t mid = lo + (hi - lo) / 2;
  int64_t r[2][2] = {{lo, mid}, {mid, hi}};
  for (int k = 0; k < 2; k++) {
    struct sl_error e = {0};
    if (run_range(t, b, starts, r[k][0], r[k][1], worker, &e) == 0) continue;
    char reason[SL_ERROR_MSG_MAX];
    snprintf(reason, sizeof reason, "%s", e.msg[0] ? e.msg : why);
    split(t, b, starts, r[k][0], r[k][1], worker, reason, depth + 1);
  }
  return 0;
}

int sl__rt_process_retry(struct sl_trigger *t, struct sl_rt_batch *b,
                         int worker, struct sl_error *err) {
  const struct sl_retry_policy *p = t->retry;
  int rc = sl__rt_process(t, b, worker, err);
  int64_t wait = p->backoff_ms;
  for (int64_t i = 0; rc && (i < p->retries || !p->dead_letter); i++) {
    if (atomic_load(&t->rt->stopping)) return rc;
    sl__count(&t->m->errors, 1);
    sl_log(t->rt, SL_LOG_WARN, "batch failed, retrying",
           "\"trigger\":\"%s\",\"attempt\":%lld,\"waitMs\":%lld,\"error\":"
           "\"%s\"",
           t->spec->name, (long long)i + 1, (long long)wait, err->msg);
    sleep_ms(wait);
    wait = wait * 2 > p->max_backoff_ms ? p->max_backoff_ms : wait * 2;
    memset(err, 0, sizeof *err);
    rc = sl__rt_process(t, b, worker, err);
  }
  if (!rc || b->n_events < 1) return rc;
  int64_t n = 0;
  int64_t *starts = line_starts(b, &n);
  if (!starts) return rc;
  char why[SL_ERROR_MSG_MAX];
  snprintf(why, sizeof why, "%s", err->msg[0] ? err->msg : "handler failed");
  sl_log(t->rt, SL_LOG_WARN,
         "batch still failing: isolating the failing "
         "records for the dead-letter sink",
         "\"trigger\":\"%s\",\"events\":%lld,\"error\":\"%s\"", t->spec->name,
         (long long)n, why);
  if (n == 1)
    dead_letter(t, b, starts, 0, why);
  else
    split(t, b, starts, 0, n, worker, why, 0);
  sl_free(starts);
  memset(err, 0, sizeof *err);
  return 0;
}
