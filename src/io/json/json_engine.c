/* JSON reader: the parallel engine shared by the buffer, file and stream
 * front ends.
 *
 * A window of whole lines is cut into newline-aligned chunks, one task each;
 * tasks run on the pool, each on its own worker's builders, and produce
 * batches, bad-line records and counters with chunk-local line numbers.
 * Back on the calling thread the chunks are walked in order: line numbers
 * and byte offsets become absolute, bad lines go to the callback (or, under
 * FAIL, the first one becomes the error), and batches join the queue in
 * input order. */
#include <string.h>

#include "io/json/json_internal.h"
#include "sluice/thread_pool.h"

#define MIN_CHUNK (64 * 1024)
#define MAX_CHUNK (1024LL * 1024 * 1024)

static int check_options(const struct sl_json_options *o,
                         struct sl_error *err) {
  if (o->batch_rows < 1 || o->batch_rows > (1LL << 31))
    return sl_error_set(
        err, SL_EINVAL,
        "JSON options: batch_rows must be in [1, 2^31], got %lld",
        (long long)o->batch_rows);
  if (o->max_line_bytes < 1 || o->max_line_bytes > MAX_CHUNK)
    return sl_error_set(err, SL_EINVAL,
                        "JSON options: max_line_bytes must be in [1, 1 GiB], "
                        "got %lld",
                        (long long)o->max_line_bytes);
  if (o->max_depth < 1 || o->max_depth > 10000)
    return sl_error_set(err, SL_EINVAL,
                        "JSON options: max_depth must be in [1, 10000], got %d",
                        (int)o->max_depth);
  if (o->chunk_bytes < 0 || o->chunk_bytes > MAX_CHUNK)
    return sl_error_set(err, SL_EINVAL,
                        "JSON options: chunk_bytes must be in [0, 1 GiB], got "
                        "%lld",
                        (long long)o->chunk_bytes);
  if (o->infer_sample_bytes < 0)
    return sl_error_set(err, SL_EINVAL,
                        "JSON options: infer_sample_bytes must be >= 0");
  if (o->n_projection < 0 || (o->n_projection > 0 && !o->projection))
    return sl_error_set(err, SL_EINVAL,
                        "JSON options: n_projection without projection");
  return 0;
}

/* The explicit schema's columns named by the projection, in its order. */
static int project_schema(const struct sl_schema *s,
                          const struct sl_json_options *o,
                          struct sl_schema *out, struct sl_error *err) {
  sl_schema_init(out);
  if (o->n_projection == 0) return sl_schema_copy(out, s);
  for (int32_t i = 0; i < o->n_projection; i++) {
    int32_t k = sl_schema_find(s, o->projection[i]);
    if (k < 0) {
      sl_schema_release(out);
      return sl_error_set(err, SL_ENOENT,
                          "JSON options: projected column '%s' is not in the "
                          "schema",
                          o->projection[i]);
    }
    int rc = sl_schema_add_field(out, &s->fields[k]);
    if (rc) {
      sl_schema_release(out);
      return rc;
    }
  }
  return 0;
}

int sl__jengine_init(struct sl__jengine *e, const struct sl_json_options *o,
                     const uint8_t *sample, size_t sample_len,
                     struct sl_error *err) {
  memset(e, 0, sizeof *e);
  struct sl_json_options defaults;
  if (!o) {
    sl_json_options_init(&defaults);
    o = &defaults;
  }
  int rc = check_options(o, err);
  if (rc) return rc;
  e->opt = *o;
  struct sl_schema schema;
  if (o->schema)
    rc = project_schema(o->schema, o, &schema, err);
  else
    rc = sl__json_infer(sample, sample_len, o, &schema, err);
  if (rc) return rc;
  e->opt.schema = NULL;
  e->opt.projection = NULL;
  e->opt.n_projection = 0;
  e->opt.owned_ = NULL;
  rc = sl__jplan_build(&e->plan, &schema, err);
  sl_schema_release(&schema);
  if (rc) return rc;
  /* An own pool is started at the first window that has more than one
   * chunk, so small micro-batches never pay for thread creation. */
  if (o->pool) {
    e->pool = o->pool;
    e->n_workers = sl_pool_size(e->pool);
  } else {
    e->n_workers = o->threads > 0 ? o->threads : sl_cpu_count();
    if (e->n_workers > 1024) e->n_workers = 1024;
  }
  e->workers = sl_calloc((size_t)e->n_workers, sizeof *e->workers);
  if (!e->workers) {
    rc = SL_ENOMEM;
    goto fail;
  }
  for (int i = 0; i < e->n_workers; i++)
    SL_CHECK_GOTO(sl__jworker_init(&e->workers[i], &e->plan), rc, fail);
  e->block = sl__json_block_pick(o->simd, NULL);
  if (o->chunk_bytes > 0) {
    e->chunk_bytes = o->chunk_bytes;
  } else {
    /* aim at one batch of batch_rows rows per chunk */
    int64_t lines = 0;
    size_t n = sample_len < (1u << 20) ? sample_len : (1u << 20);
    for (size_t i = 0; i < n; i++)
      lines += sample[i] == '\n';
    int64_t avg = lines > 0 ? (int64_t)n / lines : 512;
    int64_t c = avg * e->opt.batch_rows;
    if (c < (1 << 20)) c = 1 << 20;
    if (c > (256LL << 20)) c = 256LL << 20;
    e->chunk_bytes = c;
  }
  /* free column memory kept for reuse: about two windows of output */
  SL_CHECK_GOTO(sl__jpool_new(2 * e->chunk_bytes * e->n_workers, &e->buffers),
                rc, fail);
  return 0;
fail:
  if (rc && err && !err->code)
    sl_error_set(err, rc, "JSON reader: %s", sl_status_name(rc));
  sl__jengine_release(e);
  return rc;
}

void sl__jengine_release(struct sl__jengine *e) {
  if (e->workers)
    for (int i = 0; i < e->n_workers; i++)
      sl__jworker_release(&e->workers[i], &e->plan);
  sl_free(e->workers);
  for (int64_t i = 0; i < e->cap_tasks; i++)
    sl__jtask_clear(&e->tasks[i]);
  sl_free(e->tasks);
  for (int64_t i = 0; i < e->q_len; i++)
    sl_batch_free(e->queue[e->q_head + i]);
  sl_free(e->queue);
  if (e->own_pool) sl_pool_free(e->pool);
  sl__jpool_release(e->buffers); /* outstanding batches keep it alive */
  sl__jplan_release(&e->plan);
  memset(e, 0, sizeof *e);
}

struct sl_batch *sl__jengine_pop(struct sl__jengine *e) {
  if (e->q_len == 0) return NULL;
  struct sl_batch *b = e->queue[e->q_head++];
  e->q_len--;
  if (e->q_len == 0) e->q_head = 0;
  return b;
}

static int enqueue(struct sl__jengine *e, struct sl_batch *b) {
  if (e->q_head + e->q_len == e->q_cap) {
    if (e->q_head > 0) {
      memmove(e->queue, e->queue + e->q_head,
              (size_t)e->q_len * sizeof *e->queue);
      e->q_head = 0;
    } else {
      int64_t cap = e->q_cap ? e->q_cap * 2 : 16;
      struct sl_batch **q = sl_realloc(e->queue, (size_t)cap * sizeof *q);
      if (!q) return SL_ENOMEM;
      e->queue = q;
      e->q_cap = cap;
    }
  }
  e->queue[e->q_head + e->q_len++] = b;
  return 0;
}

int sl__jengine_bad_line(struct sl__jengine *e, const uint8_t *line, size_t len,
                         int64_t line_no, int64_t offset, const char *reason,
                         struct sl_error *err) {
  if (e->opt.bad_lines == SL_JSON_BAD_FAIL)
    return sl_error_set(err, SL_EINVAL, "JSON line %lld (byte offset %lld): %s",
                        (long long)line_no, (long long)offset, reason);
  e->stats.bad_lines++;
  if (e->opt.on_bad_line)
    e->opt.on_bad_line(e->opt.bad_line_ctx, (const char *)line, len, line_no,
                       offset, reason);
  return 0;
}

int sl__jengine_collect(struct sl__jengine *e, struct sl__jtask *t,
                        int64_t off0, struct sl_error *err) {
  int64_t line = e->line_base;
  for (int64_t j = 0; j < t->n_bad; j++) {
    const struct sl__jbad *b = &t->bad[j];
    if (t->failed && j == t->n_bad - 1)
      return sl_error_set(
          err, SL_EINVAL, "JSON line %lld (byte offset %lld, column %lld): %s",
          (long long)(line + b->line + 1), (long long)(off0 + b->offset),
          (long long)b->column, b->reason);
    int rc = sl__jengine_bad_line(e, t->begin + b->offset, (size_t)b->len,
                                  line + b->line + 1, off0 + b->offset,
                                  b->reason, err);
    if (rc) return rc;
  }
  e->line_base += t->lines;
  e->stats.lines += t->lines;
  e->stats.rows += t->rows;
  e->stats.empty_lines += t->empty_lines;
  e->stats.type_mismatches += t->mismatches;
  for (int64_t j = 0; j < t->n_batches; j++) {
    int rc = enqueue(e, t->batches[j]);
    if (rc) return sl_error_set(err, rc, "JSON reader: out of memory");
    t->batches[j] = NULL;
  }
  t->n_batches = 0;
  return 0;
}

struct run_ctx {
  struct sl__jengine *e;
};

int sl__jengine_run(const struct sl__jengine *e, struct sl__jworker *w,
                    struct sl__jtask *t) {
#if defined(__x86_64__)
  if (e->block == sl__json_block_avx512)
    return sl__json_parse_chunk_avx512(e, w, t);
#endif
  return sl__json_parse_chunk(e, w, t);
}

static int run_task(void *ctx, int64_t i, int worker) {
  struct sl__jengine *e = ((struct run_ctx *)ctx)->e;
  return sl__jengine_run(e, &e->workers[worker], &e->tasks[i]);
}

int sl__jengine_parse(struct sl__jengine *e, const uint8_t *buf, size_t len,
                      struct sl_error *err) {
  if (len == 0) return 0;
  int64_t n =
      (int64_t)((len + (size_t)e->chunk_bytes - 1) / (size_t)e->chunk_bytes);
  int64_t by_cores = (int64_t)(len / MIN_CHUNK);
  if (by_cores > e->n_workers) by_cores = e->n_workers;
  if (n < by_cores) n = by_cores;
  if (n < 1) n = 1;
  if (n > e->cap_tasks) {
    struct sl__jtask *t = sl_realloc(e->tasks, (size_t)n * sizeof *t);
    if (!t) return sl_error_set(err, SL_ENOMEM, "JSON reader: out of memory");
    memset(t + e->cap_tasks, 0, (size_t)(n - e->cap_tasks) * sizeof *t);
    e->tasks = t;
    e->cap_tasks = n;
  }
  /* newline-aligned cuts */
  const uint8_t *end = buf + len, *p = buf;
  int64_t k = 0;
  for (int64_t i = 0; i < n && p < end; i++) {
    const uint8_t *cut = end;
    if (i < n - 1) {
      const uint8_t *want = buf + (size_t)((__int128)len * (i + 1) / n);
      if (want < p) want = p;
      const uint8_t *nl =
          want < end ? memchr(want, '\n', (size_t)(end - want)) : NULL;
      cut = nl ? nl + 1 : end;
    }
    struct sl__jtask *t = &e->tasks[k];
    sl__jtask_clear(t);
    t->begin = p;
    t->end = cut;
    t->at_input_start = !e->seen_input && p == buf;
    k++;
    p = cut;
  }
  if (k > 1 && !e->pool && e->n_workers > 1) {
    int prc = sl_pool_create(e->n_workers, &e->pool, err);
    if (prc) return prc;
    e->own_pool = true;
  }
  struct run_ctx rc_ctx = {e};
  int rc = sl_pool_parallel_for(e->pool, k, run_task, &rc_ctx);
  e->seen_input = true;
  if (rc) {
    for (int64_t i = 0; i < k; i++)
      if (e->tasks[i].err.code) {
        if (err) *err = e->tasks[i].err;
        break;
      }
    goto done;
  }
  for (int64_t i = 0; i < k; i++) {
    rc = sl__jengine_collect(e, &e->tasks[i],
                             e->byte_base + (e->tasks[i].begin - buf), err);
    if (rc) goto done;
  }
  e->stats.bytes += (int64_t)len;
  e->byte_base += (int64_t)len;
done:
  for (int64_t i = 0; i < k; i++)
    sl__jtask_clear(&e->tasks[i]);
  return rc;
}
