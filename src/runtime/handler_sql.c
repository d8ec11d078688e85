/* The SQL handler: the query's table `events` is the micro-batch (mode
 * batch) or the rows of one tumbling event-time window (mode window).
 *
 * Window rule (docs/runtime.md): a record belongs to window
 * [floor(t / W) * W, + W) of its timeColumn t. The watermark is the largest
 * event time seen minus allowedLateness; a window is emitted (its query run
 * over all its rows, results to the sinks) once the watermark passes its
 * end, or when no record arrived for W + allowedLateness of wall time, or at
 * drain. A record whose window was already emitted is late: it goes to the
 * dead-letter sink with reason "late record". A record with a null time goes
 * to dead letters too. The batches feeding an open window keep their acks,
 * so their source positions are committed only after the window's results
 * are durable. Window mode needs spec.input.schema (one schema for all). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/handler.h"
#include "runtime/json_out.h"
#include "sluice/alloc.h"
#include "sluice/sql.h"

struct window {
  int64_t start; /* in the time column's unit */
  struct sl_batch **parts;
  int32_t n_parts, cap_parts;
  struct sl_ack **acks;
  int32_t n_acks, cap_acks;
  struct window *next;
};

struct sl_sqlh {
  struct sl_runtime *rt;
  bool window_mode;
  pthread_mutex_t mu;
  struct window *windows;
  int64_t max_ts;     /* largest event time seen (column unit) */
  int64_t emitted_to; /* windows ending at or before this are closed */
  bool any;
  int64_t last_arrival_ms; /* monotonic */
  int64_t wlen;            /* window length in the time column's unit */
  atomic_bool star_noted;  /* the columns `*` leaves out were logged */
};

/* A one-shot reader over borrowed batches (the query's FROM events). */
struct parts_reader {
  const struct sl_batch *const *parts;
  int32_t n, i;
};

static const struct sl_schema *pr_schema(struct sl_batch_reader *r) {
  struct parts_reader *p = r->private_data;
  return &p->parts[0]->schema;
}

static int pr_next(struct sl_batch_reader *r, struct sl_batch **out,
                   struct sl_error *err) {
  struct parts_reader *p = r->private_data;
  *out = NULL;
  if (p->i >= p->n) return 0;
  const struct sl_batch *b = p->parts[p->i++];
  return sl_batch_slice(b, 0, b->length, out, err);
}

static void pr_release(struct sl_batch_reader *r) {
  sl_free(r->private_data);
  sl_free(r);
}

struct open_ctx {
  const struct sl_batch *const *parts;
  int32_t n;
};

static int open_events(void *ctx, const char *name, const char *const *cols,
                       int32_t n_cols, struct sl_batch_reader **out,
                       struct sl_error *err) {
  struct open_ctx *oc = ctx;
  (void)cols;
  (void)n_cols;
  if (strcmp(name, "events"))
    return sl_error_set(err, SL_ENOENT,
                        "expected FROM events in a function's query, found "
                        "FROM %s",
                        name);
  struct sl_batch_reader *r = sl_calloc(1, sizeof *r);
  struct parts_reader *p = sl_calloc(1, sizeof *p);
  if (!r || !p) {
    sl_free(r);
    sl_free(p);
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  }
  p->parts = oc->parts;
  p->n = oc->n;
  r->schema = pr_schema;
  r->next = pr_next;
  r->release = pr_release;
  r->private_data = p;
  *out = r;
  return 0;
}

/* Runs the query over parts and emits its results with ack. */
static int run_query(struct sl_sqlh *q, const struct sl_batch *const *parts,
                     int32_t n, const struct sl_rt_batch *raw,
                     struct sl_ack *ack, struct sl_error *err) {
  struct open_ctx oc = {parts, n};
  struct sl_query_options o;
  sl_query_options_init(&o);
  o.threads = 1;
  o.open_table = open_events;
  o.open_table_ctx = &oc;
  /* Per-batch mode on a GPU: the device reads the batch's raw JSON Lines
   * (the same records the parsed parts hold) when the query qualifies. */
  if (q->rt->device && raw) {
    o.device = q->rt->device;
    o.device_json = raw->data;
    o.device_json_len = raw->len;
  }
  struct sl_query *query = NULL;
  struct sl_batch_reader *r = NULL;
  struct sl_batch *out = NULL;
  int rc = 0;
  SL_CHECK_GOTO(sl_query_prepare(q->rt->spec->sql.query, &o, &query, err), rc,
                cleanup);
  if (sl_query_star_skipped(query) && !atomic_exchange(&q->star_noted, true))
    sl_log(q->rt, SL_LOG_WARN,
           "spec.sql.query: * leaves out list columns (not in SQL yet)",
           "\"columns\":\"%s\"", sl_query_star_skipped(query));
  SL_CHECK_GOTO(sl_query_execute(query, &r, err), rc, cleanup);
  for (;;) {
    SL_CHECK_GOTO(r->next(r, &out, err), rc, cleanup);
    if (!out) break;
    if (out->length > 0)
      SL_CHECK_GOTO(sl__rt_emit(q->rt, out, ack, err), rc, cleanup);
    sl_batch_free(out);
    out = NULL;
  }
  /* Where it ran is known once the results were pulled. */
  sl__count(!strncmp(sl_query_device_note(query), "gpu", 3)
                ? &q->rt->metrics.gpu_batches
                : &q->rt->metrics.cpu_batches,
            1);
cleanup:
  if (out) sl_batch_free(out);
  if (r) r->release(r);
  if (query) sl_query_free(query);
  return rc;
}

int sl__sqlh_create(struct sl_runtime *rt, struct sl_sqlh **out,
                    struct sl_error *err) {
  *out = NULL;
  const struct sl_spec *s = rt->spec;
  bool window = s->sql.mode && !strcmp(s->sql.mode, "window");
  if (window && !s->input.schema)
    return sl_error_set(err, SL_EINVAL,
                        "%s: spec.sql.mode window: expected spec.input.schema "
                        "(windows need one schema for every batch)",
                        s->file);
  struct sl_sqlh *q = sl_calloc(1, sizeof *q);
  if (!q) return sl_error_set(err, SL_ENOMEM, "out of memory");
  q->rt = rt;
  q->window_mode = window;
  q->emitted_to = INT64_MIN;
  pthread_mutex_init(&q->mu, NULL);
  *out = q;
  return 0;
}

static int64_t unit_ms(enum sl_type_id t) {
  return t == SL_TYPE_TIMESTAMP_US ? 1000 : 1;
}

static int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static struct window *window_get(struct sl_sqlh *q, int64_t start) {
  for (struct window *w = q->windows; w; w = w->next)
    if (w->start == start) return w;
  struct window *w = sl_calloc(1, sizeof *w);
  if (!w) return NULL;
  w->start = start;
  w->next = q->windows;
  q->windows = w;
  return w;
}

static int window_add(struct window *w, struct sl_batch *part,
                      struct sl_ack *ack) {
  if (w->n_parts == w->cap_parts) {
    int32_t nc = w->cap_parts ? w->cap_parts * 2 : 8;
    struct sl_batch **np = sl_realloc(w->parts, (size_t)nc * sizeof *np);
    if (!np) return SL_ENOMEM;
    w->parts = np;
    w->cap_parts = nc;
  }
  w->parts[w->n_parts++] = part;
  if (ack && (w->n_acks == 0 || w->acks[w->n_acks - 1] != ack)) {
    if (w->n_acks == w->cap_acks) {
      int32_t nc = w->cap_acks ? w->cap_acks * 2 : 8;
      struct sl_ack **na = sl_realloc(w->acks, (size_t)nc * sizeof *na);
      if (!na) return SL_ENOMEM;
      w->acks = na;
      w->cap_acks = nc;
    }
    sl__ack_retain(ack);
    w->acks[w->n_acks++] = ack;
  }
  return 0;
}

static int cmp_key(const void *x, const void *y) {
  return strcmp((*(struct sl_ack *const *)x)->key,
                (*(struct sl_ack *const *)y)->key);
}

/* A window's results are keyed when every batch that fed it is: by the
 * window start and a hash of its inputs' keys (sorted: workers may have
 * added them in any order), so a replay of the same inputs rewrites the same
 * files. */
static void window_key(struct sl_ack *all, int64_t start) {
  all->key[0] = '\0';
  if (all->n_deps == 0) return;
  for (int32_t i = 0; i < all->n_deps; i++)
    if (!all->deps[i]->key[0]) return;
  qsort(all->deps, (size_t)all->n_deps, sizeof *all->deps, cmp_key);
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (int32_t i = 0; i < all->n_deps; i++)
    for (const char *p = all->deps[i]->key;; p++) {
      h = (h ^ (unsigned char)*p) * 1099511628211ull;
      if (!*p) break;
    }
  snprintf(all->key, sizeof all->key, "w%" PRId64 "-%016" PRIx64, start, h);
}

static void window_emit(struct sl_sqlh *q, struct window *w) {
  struct sl_error err = {0};
  /* One composite ack stands for every batch that fed the window: the sinks
   * hold it until the results are durable, then all of them are done. */
  struct sl_ack *all = sl_calloc(1, sizeof *all);
  if (all) {
    atomic_init(&all->refs, 1);
    all->deps = w->acks;
    all->n_deps = w->n_acks;
    w->acks = NULL;
    w->n_acks = 0;
    window_key(all, w->start);
  }
  if (w->n_parts > 0) {
    int rc = run_query(q, (const struct sl_batch *const *)w->parts, w->n_parts,
                       NULL, all, &err);
    if (rc)
      sl_log(q->rt, SL_LOG_ERROR, "window query failed",
             "\"windowStart\":%" PRId64 ",\"error\":\"%s\"", w->start, err.msg);
  }
  for (int32_t i = 0; i < w->n_parts; i++)
    sl_batch_free(w->parts[i]);
  for (int32_t i = 0; i < w->n_acks; i++)
    sl__ack_release(w->acks[i]);
  if (all) {
    sl__rt_seal(q->rt, all);
    sl__ack_release(all);
  }
  sl_free(w->parts);
  sl_free(w->acks);
  sl_free(w);
}

/* Takes the windows ending at or before `limit` out of the list (mu held). */
static struct window *take_closed(struct sl_sqlh *q, int64_t limit,
                                  int64_t wlen) {
  struct window *closed = NULL, **pp = &q->windows;
  while (*pp) {
    struct window *w = *pp;
    if (w->start + wlen <= limit) {
      *pp = w->next;
      w->next = closed;
      closed = w;
      if (w->start + wlen > q->emitted_to) q->emitted_to = w->start + wlen;
    } else {
      pp = &w->next;
    }
  }
  return closed;
}

/* Where the batch's rows came from: the first parsed row of each segment
 * (bad lines were taken out by the reader before the handler ran). */
struct row_map {
  int64_t *gstart; /* NULL: unknown (more than one parsed batch) */
  bool tried;
};

static struct sl_rt_segment *row_segment(struct row_map *m,
                                         struct sl_rt_batch *b,
                                         const struct sl_batch *parsed,
                                         int64_t row, int64_t *rel) {
  if (!m->tried) {
    m->tried = true;
    int64_t bad = 0;
    for (int32_t i = 0; i < b->n_segs; i++)
      bad += b->segs[i].rejected;
    if (b->n_segs > 0 && parsed->length + bad == b->n_events) {
      m->gstart = sl_malloc((size_t)b->n_segs * sizeof *m->gstart);
      int64_t g = 0;
      for (int32_t i = 0; m->gstart && i < b->n_segs; i++) {
        m->gstart[i] = g;
        g += b->segs[i].n_lines - b->segs[i].rejected;
      }
    }
  }
  if (!m->gstart) return NULL;
  int32_t lo = 0, hi = b->n_segs - 1;
  while (lo < hi) {
    int32_t mid = (lo + hi + 1) / 2;
    if (m->gstart[mid] <= row)
      lo = mid;
    else
      hi = mid - 1;
  }
  *rel = row - m->gstart[lo];
  return &b->segs[lo];
}

/* A late record, or one without an event time: dead letter, and rejected
 * in its request's answer (its segment's count). */
static void late_record(struct sl_sqlh *q, struct sl_trigger *t,
                        struct sl_rt_batch *rb, struct row_map *map,
                        const struct sl_batch *b, int64_t row,
                        const char *reason) {
  sl__count(&t->m->dead_letters, 1);
  int64_t rel = row;
  struct sl_rt_segment *sg = row_segment(map, rb, b, row, &rel);
  const char *source = NULL;
  if (sg) {
    sg->rejected++;
    source = sg->pos.source;
    /* A file's position is its 1-based line; only exact when the chunk
     * had no bad lines before this row. */
    if (source) rel += (int64_t)sg->pos.b;
  }
  if (!q->rt->dead) return;
  struct sl_batch *one = NULL;
  struct sl_text txt = {0};
  if (sl_batch_slice(b, row, 1, &one, NULL) == 0 &&
      sl__batch_to_jsonl(one, &txt) == 0)
    sl__deadletter_write(q->rt->dead, txt.p, txt.len, reason, t->spec->name,
                         source, rel);
  if (one) sl_batch_free(one);
  sl_free(txt.p);
}

int sl__sqlh_run(struct sl_sqlh *q, struct sl_trigger *t, struct sl_rt_batch *b,
                 const struct sl_batch *parsed, struct sl_error *err) {
  if (!q->window_mode) return run_query(q, &parsed, 1, b, b->ack, err);
  const struct sl_spec_sql *sq = &q->rt->spec->sql;
  int32_t c = sl_schema_find(&parsed->schema, sq->time_column);
  if (c < 0)
    return sl_error_set(err, SL_ENOENT,
                        "spec.sql.timeColumn: no column '%s' in the events",
                        sq->time_column);
  const struct sl_array *col = parsed->columns[c];
  if (col->type != SL_TYPE_TIMESTAMP_MS && col->type != SL_TYPE_TIMESTAMP_US)
    return sl_error_set(err, SL_EINVAL,
                        "spec.sql.timeColumn: expected a timestamp column, "
                        "found '%s' of type %s",
                        sq->time_column, sl_type_name(col->type));
  int64_t u = unit_ms(col->type);
  int64_t wlen = sq->window_ms * u, late = sq->lateness_ms * u;
  const int64_t *ts = sl_array_i64(col);
  int rc = 0;
  struct window *closed = NULL;
  struct row_map map = {0};
  pthread_mutex_lock(&q->mu);
  /* Read by the tick and the drain under the lock; the column's unit, and
   * so the value, is fixed by spec.input.schema. */
  q->wlen = wlen;
  q->last_arrival_ms = sl__now_ms();
  int64_t run_start = 0, run_win = 0;
  bool in_run = false;
  for (int64_t r = 0; r <= parsed->length; r++) {
    bool ok = r < parsed->length && sl_array_is_valid(col, r);
    int64_t win = ok ? floor_div(ts[r], wlen) * wlen : 0;
    if (ok && win + wlen <= q->emitted_to) {
      late_record(q, t, b, &map, parsed, r,
                  "late record: its window was already "
                  "emitted (see allowedLateness)");
      ok = false;
    } else if (!ok && r < parsed->length) {
      late_record(q, t, b, &map, parsed, r, "null event time");
    }
    if (in_run && (!ok || win != run_win)) {
      struct sl_batch *part = NULL;
      struct window *w = window_get(q, run_win);
      if (!w || sl_batch_slice(parsed, run_start, r - run_start, &part, err) ||
          window_add(w, part, b->ack)) {
        if (part && w && (w->n_parts == 0 || w->parts[w->n_parts - 1] != part))
          sl_batch_free(part);
        rc = sl_error_set(err, SL_ENOMEM, "out of memory");
        break;
      }
      in_run = false;
    }
    if (ok && !in_run) {
      in_run = true;
      run_start = r;
      run_win = win;
    }
    if (ok && (!q->any || ts[r] > q->max_ts)) {
      q->max_ts = ts[r];
      q->any = true;
    }
  }
  if (q->any) closed = take_closed(q, q->max_ts - late, wlen);
  pthread_mutex_unlock(&q->mu);
  sl_free(map.gstart);
  while (closed) {
    struct window *nx = closed->next;
    window_emit(q, closed);
    closed = nx;
  }
  return rc;
}

void sl__sqlh_tick(struct sl_sqlh *q, int64_t now_ms) {
  (void)now_ms;
  if (!q || !q->window_mode) return;
  const struct sl_spec_sql *sq = &q->rt->spec->sql;
  pthread_mutex_lock(&q->mu);
  struct window *closed = NULL;
  if (q->windows &&
      sl__now_ms() - q->last_arrival_ms >= sq->window_ms + sq->lateness_ms)
    closed = take_closed(q, INT64_MAX - q->wlen, q->wlen);
  pthread_mutex_unlock(&q->mu);
  while (closed) {
    struct window *nx = closed->next;
    window_emit(q, closed);
    closed = nx;
  }
}

int sl__sqlh_drain(struct sl_sqlh *q, struct sl_error *err) {
  (void)err;
  if (!q || !q->window_mode) return 0;
  pthread_mutex_lock(&q->mu);
  struct window *closed = take_closed(q, INT64_MAX - q->wlen, q->wlen);
  pthread_mutex_unlock(&q->mu);
  while (closed) {
    struct window *nx = closed->next;
    window_emit(q, closed);
    closed = nx;
  }
  return 0;
}

void sl__sqlh_free(struct sl_sqlh *q) {
  if (!q) return;
  while (q->windows) { /* not drained: drop, acks stay uncommitted */
    struct window *w = q->windows;
    q->windows = w->next;
    for (int32_t i = 0; i < w->n_parts; i++)
      sl_batch_free(w->parts[i]);
    sl_free(w->parts);
    sl_free(w->acks);
    sl_free(w);
  }
  pthread_mutex_destroy(&q->mu);
  sl_free(q);
}
