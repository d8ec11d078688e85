/* Query results: stage 2 (HAVING, output expressions, DISTINCT, sort or
 * top-N, OFFSET/LIMIT) and the batch reader that hands results out. */
#include <string.h>

#include "device/device_abi.h"
#include "sql/device_plan.h"
#include "sluice/thread_pool.h"
#include "sql/exec.h"

static int gather64(struct sl_arena *ar, const struct sl_vec *v,
                    const int64_t *rows, int64_t n, struct sl_vec *out) {
  if (v->constant) {
    *out = *v;
    out->n = n;
    return 0;
  }
  SL_RETURN_NOT_OK(sl__vec_alloc(ar, v->type, n, out));
  int64_t w = sl__vt_size(v->type);
  for (int64_t r = 0; r < n; r++)
    memcpy((char *)out->d.any + r * w, (const char *)v->d.any + rows[r] * w,
           (size_t)w);
  if (v->valid) {
    out->valid = sl_arena_alloc(ar, (size_t)(n ? n : 1));
    if (!out->valid) return SL_ENOMEM;
    for (int64_t r = 0; r < n; r++)
      out->valid[r] = v->valid[rows[r]];
  }
  return 0;
}

/* The result buffer that holds v's values, or NULL. */
static struct sl_buffer *rbuf_of(const struct sl_query *q,
                                 const struct sl_vec *v) {
  const uint8_t *p = v->d.any;
  for (int32_t i = 0; p && i < q->n_rbufs; i++) {
    const struct sl_buffer *b = q->rbufs[i];
    if (p >= b->data && p < b->data + b->size) return q->rbufs[i];
  }
  return NULL;
}

/* Gives the 8-byte columns of a result being built (n rows) buffers of
 * their own, which batches then share (the arena's memory for them is
 * never touched). */
static int own_result_buffers(struct sl_query *q, struct sl_vec *cols,
                              int32_t k, int64_t n) {
  struct sl_buffer **nb =
      sl_realloc(q->rbufs, sizeof *nb * (size_t)(q->n_rbufs + k));
  if (!nb) return SL_ENOMEM;
  q->rbufs = nb;
  for (int32_t i = 0; i < k; i++) {
    if (cols[i].constant || sl__vt_size(cols[i].type) != 8 || n <= 0) continue;
    struct sl_buffer *b;
    SL_RETURN_NOT_OK(sl_buffer_new(n * 8, &b));
    b->size = n * 8;
    q->rbufs[q->n_rbufs++] = b;
    cols[i].d.any = b->data;
  }
  return 0;
}

static int make_batch(struct sl_query *q, const struct sl_vec *cols,
                      const int64_t *perm, int64_t start, int64_t count,
                      struct sl_batch **out, struct sl_error *err) {
  int32_t nv = q->plan->n_visible;
  struct sl_array **arrays = sl_calloc((size_t)nv, sizeof *arrays);
  if (!arrays) return SL_ENOMEM;
  struct sl_arena ar;
  sl_arena_init(&ar, 1 << 16);
  int rc = 0;
  for (int32_t i = 0; i < nv; i++) {
    if (perm) {
      struct sl_vec g;
      SL_CHECK_GOTO(gather64(&ar, &cols[i], perm + start, count, &g), rc, fail);
      SL_CHECK_GOTO(sl__vec_to_array(&g, 0, count, &arrays[i], err), rc, fail);
    } else {
      struct sl_buffer *b = rbuf_of(q, &cols[i]);
      SL_CHECK_GOTO(
          b ? sl__vec_to_array_shared(&cols[i], b, start, count, &arrays[i],
                                      err)
            : sl__vec_to_array(&cols[i], start, count, &arrays[i], err),
          rc, fail);
    }
  }
  sl_arena_release(&ar);
  rc = sl_batch_make(&q->out_schema, arrays, count, out, err);
  sl_free(arrays);
  return rc;
fail:
  for (int32_t i = 0; i < nv; i++)
    if (arrays[i]) sl_array_release(arrays[i]);
  sl_free(arrays);
  sl_arena_release(&ar);
  return rc;
}

static void set_window(struct sl_query *q, int64_t m) {
  struct sl_plan *p = q->plan;
  q->r_begin = p->offset < m ? p->offset : m;
  q->r_end = m;
  if (p->limit >= 0 && q->r_begin + p->limit < m)
    q->r_end = q->r_begin + p->limit;
  q->r_next = q->r_begin;
}

static int order_rows(struct sl_query *q, int64_t n) {
  struct sl_plan *p = q->plan;
  if (p->n_sort == 0) {
    set_window(q, n);
    return 0;
  }
  int64_t lim = p->limit >= 0 ? p->limit + p->offset : -1, m;
  SL_RETURN_NOT_OK(
      sl__sort_rows(q->rcols, n, p->sort, p->n_sort, lim, &q->perm, &m));
  set_window(q, m);
  return 0;
}

static int stage2(struct sl_query *q, struct sl_vec *cols, int64_t n,
                  struct sl_error *err) {
  struct sl_plan *p = q->plan;
  struct sl_arena *ar = &q->result_arena;
  int32_t nin = p->n_keys + p->n_aggs;
  if (p->having) {
    struct sl_vec h;
    SL_RETURN_NOT_OK(sl__expr_eval(p->having, cols, n, ar, &h, err));
    int32_t *sel = sl_arena_alloc(ar, sizeof *sel * (size_t)(n ? n : 1));
    if (!sel) return SL_ENOMEM;
    int64_t k = sl__vec_select_true(&h, n, sel);
    for (int32_t i = 0; i < nin; i++) {
      struct sl_vec g;
      SL_RETURN_NOT_OK(sl__vec_gather(ar, &cols[i], sel, k, &g));
      cols[i] = g;
    }
    n = k;
  }
  struct sl_vec *f = sl_arena_alloc(ar, sizeof *f * (size_t)p->n_final);
  if (!f) return SL_ENOMEM;
  for (int32_t i = 0; i < p->n_final; i++) {
    SL_RETURN_NOT_OK(sl__expr_eval(p->final[i], cols, n, ar, &f[i], err));
    SL_RETURN_NOT_OK(sl__vec_flatten(ar, &f[i]));
  }
  if (p->distinct) { /* SELECT DISTINCT over an aggregate: dedupe rows */
    enum sl_vt kt[256];
    int32_t nk = p->n_final < 256 ? p->n_final : 256;
    for (int32_t i = 0; i < nk; i++)
      kt[i] = f[i].type;
    struct sl_hagg *h;
    SL_RETURN_NOT_OK(sl__hagg_create(nk, kt, 0, NULL, &h));
    int rc = sl__hagg_update(h, f, NULL, n, 0, NULL, ar, err);
    if (!rc) rc = sl__hagg_finish(h, ar, f, err);
    n = sl__hagg_groups(h);
    /* keys now live in h; copy them out before freeing it */
    struct sl_rowset rs;
    if (!rc) rc = sl__rowset_init(&rs, nk, kt);
    if (!rc) rc = sl__rowset_append(&rs, f, NULL, n);
    sl__hagg_free(h);
    if (rc) return rc;
    sl__rowset_release(&q->acc);
    q->acc = rs;
    f = q->acc.cols;
  }
  q->rcols = f;
  return order_rows(q, n);
}

/* Many groups: the states of a merge and the result rows are built on all
 * threads, in ranges of this many groups (the serial tail of a million-group
 * GROUP BY on two threads was ~0.1 s). */
#define PAR_GROUPS (INT64_C(1) << 15)

struct par_groups {
  struct sl_hagg *dst, *src;
  const uint32_t *map;
  int64_t n;
  struct sl_vec *cols;
  struct sl_error *errs; /* per worker */
};

static int merge_states_task(void *ctx, int64_t i, int worker) {
  struct par_groups *m = ctx;
  int64_t g0 = i * PAR_GROUPS,
          g1 = g0 + PAR_GROUPS < m->n ? g0 + PAR_GROUPS : m->n;
  return sl__hagg_merge_states(m->dst, m->src, m->map, g0, g1,
                               &m->errs[worker]);
}

static int finish_range_task(void *ctx, int64_t i, int worker) {
  struct par_groups *m = ctx;
  int64_t g0 = i * PAR_GROUPS,
          g1 = g0 + PAR_GROUPS < m->n ? g0 + PAR_GROUPS : m->n;
  return sl__hagg_finish_range(m->dst, g0, g1, m->cols, &m->errs[worker]);
}

static int finish_aggregate(struct sl_query *q, struct sl_error *err) {
  struct sl_plan *p = q->plan;
  struct sl_hagg *dst = q->partials[0];
  bool par = q->n_workers > 1 && p->n_keys > 0 && sl__hagg_parallel_ok(dst);
  struct par_groups m = {.dst = dst, .errs = q->errs};
  for (int i = 0; i < q->n_workers; i++)
    sl_error_reset(&q->errs[i]);
  for (int i = 1; i < q->n_workers; i++) {
    struct sl_hagg *src = q->partials[i];
    int64_t n = sl__hagg_groups(src);
    if (!par || n < 2 * PAR_GROUPS) {
      SL_RETURN_NOT_OK(sl__hagg_merge(dst, src, err));
    } else {
      /* keys on this thread, then the states on all */
      uint32_t *map = NULL;
      int rc = sl__hagg_merge_keys(dst, src, &map, &n);
      m.src = src;
      m.map = map;
      m.n = n;
      if (!rc)
        rc = sl_pool_parallel_for(q->pool, (n + PAR_GROUPS - 1) / PAR_GROUPS,
                                  merge_states_task, &m);
      sl_free(map);
      if (rc) return sl__query_first_error(q, rc, err);
    }
    sl__hagg_free(src);
    q->partials[i] = NULL;
  }
  int64_t ng = sl__hagg_groups(dst);
  struct sl_vec *cols = sl_arena_alloc(
      &q->result_arena, sizeof *cols * (size_t)(p->n_keys + p->n_aggs + 1));
  if (!cols) return SL_ENOMEM;
  if (par && ng >= 2 * PAR_GROUPS) {
    SL_RETURN_NOT_OK(sl__hagg_finish_alloc(dst, &q->result_arena, cols));
    SL_RETURN_NOT_OK(own_result_buffers(q, cols, p->n_keys + p->n_aggs, ng));
    m.cols = cols;
    m.n = ng;
    int rc = sl_pool_parallel_for(q->pool, (ng + PAR_GROUPS - 1) / PAR_GROUPS,
                                  finish_range_task, &m);
    if (rc) return sl__query_first_error(q, rc, err);
  } else {
    SL_RETURN_NOT_OK(sl__hagg_finish(dst, &q->result_arena, cols, err));
  }
  return stage2(q, cols, ng, err);
}

/* Plain ORDER BY: keep the chunk rows, trimmed to the top OFFSET+LIMIT. */
static int accumulate(struct sl_query *q) {
  struct sl_plan *p = q->plan;
  for (int64_t c = 0; c < q->n_chunks; c++) {
    struct chunk_out *o = &q->chunks[c];
    if (o->n) SL_RETURN_NOT_OK(sl__rowset_append(&q->acc, o->cols, NULL, o->n));
  }
  if (p->limit >= 0) {
    int64_t k = p->limit + p->offset;
    if (q->acc.n > 2 * k + 65536)
      SL_RETURN_NOT_OK(sl__rowset_keep_top(&q->acc, p->sort, p->n_sort, k));
  }
  return 0;
}

/* Runs stage 1 on the device when the plan qualifies (device_plan.c). Sets
 * *ran when it did; otherwise the CPU path runs. */
static int try_device(struct sl_query *q, bool *ran, struct sl_error *err) {
  struct sl_plan *p = q->plan;
  *ran = false;
  snprintf(q->device_note, sizeof q->device_note, "cpu");
  if (!q->opts.device) return 0;
  struct sl_dev_plan dp;
  struct sl_error why = {0};
  if (!p->aggregate)
    sl_error_set(&why, SL_ENOTSUP, "the query does not aggregate");
  else
    sl__sql_device_plan(p, q->src, &dp, &why);
  if (why.code) {
    if (q->opts.device_required)
      return sl_error_set(err, SL_ENOTSUP,
                          "this query cannot run on the GPU: %s", why.msg);
    snprintf(q->device_note, sizeof q->device_note, "cpu: %s", why.msg);
    return 0;
  }
  struct sl_vec *cols = NULL;
  int64_t ng = 0;
  struct sl_device_stats st = {0};
  int rc = sl__sql_device_run(q, q->opts.device, &dp, &cols, &ng, &st, &why);
  if (rc) {
    /* A device failure (too many groups for its table, a line longer than
     * a chunk, bad lines to report) hands the query to the CPU unless the
     * device was required. */
    if (q->opts.device_required) {
      if (err) *err = why;
      return rc;
    }
    snprintf(q->device_note, sizeof q->device_note,
             "cpu: the GPU run failed: %s", why.msg);
    q->rows_in = q->bad_lines = 0;
    return 0;
  }
  snprintf(q->device_note, sizeof q->device_note, "gpu: %s",
           sl_device_describe(q->opts.device));
  *ran = true;
  return stage2(q, cols, ng, err);
}

const char *sl_query_star_skipped(const struct sl_query *q) {
  return q && q->plan ? q->plan->star_skipped : NULL;
}

const char *sl_query_device_note(const struct sl_query *q) {
  /* a query that never reached the device choice (no FROM, or stopped
   * before its first batch) ran on the CPU */
  return q->device_note[0] ? q->device_note : "cpu";
}

static int run_to_end(struct sl_query *q, struct sl_error *err) {
  struct sl_plan *p = q->plan;
  bool on_device = false;
  SL_RETURN_NOT_OK(try_device(q, &on_device, err));
  if (on_device) return 0;
  if (!p->aggregate) {
    enum sl_vt types[1024];
    if (p->n_proj > 1024)
      return sl_error_set(err, SL_ERANGE, "more than 1024 output columns");
    for (int32_t i = 0; i < p->n_proj; i++)
      types[i] = p->proj[i]->type;
    SL_RETURN_NOT_OK(sl__rowset_init(&q->acc, p->n_proj, types));
  }
  if (p->aggregate) {
    bool scanned;
    SL_RETURN_NOT_OK(sl__query_scan_parallel(q, &scanned, err));
    if (scanned) return finish_aggregate(q, err);
  }
  for (;;) {
    bool done;
    SL_RETURN_NOT_OK(sl__query_step(q, &done, err));
    if (done) break;
    if (!p->aggregate) SL_RETURN_NOT_OK(accumulate(q));
  }
  if (p->aggregate) return finish_aggregate(q, err);
  q->rcols = q->acc.cols;
  return order_rows(q, q->acc.n);
}

struct qreader {
  struct sl_query *q;
};

static const struct sl_schema *qr_schema(struct sl_batch_reader *r) {
  return &((struct qreader *)r->private_data)->q->out_schema;
}

static int qr_next(struct sl_batch_reader *r, struct sl_batch **out,
                   struct sl_error *err) {
  struct sl_query *q = ((struct qreader *)r->private_data)->q;
  struct sl_plan *p = q->plan;
  *out = NULL;
  if (q->finished) return 0;
  bool streaming = !p->aggregate && p->n_sort == 0;
  if (streaming) {
    int64_t stop = p->limit >= 0 ? p->offset + p->limit : INT64_MAX;
    for (;;) {
      if (q->emitted >= stop) {
        q->finished = true;
        return 0;
      }
      while (q->batch && q->next_chunk < q->n_chunks) {
        struct chunk_out *o = &q->chunks[q->next_chunk++];
        int64_t b = q->emitted < p->offset ? p->offset - q->emitted : 0;
        if (b > o->n) b = o->n;
        int64_t e = o->n;
        if (stop - q->emitted < e) e = stop - q->emitted;
        q->emitted += o->n < stop - q->emitted ? o->n : stop - q->emitted;
        if (e > b) return make_batch(q, o->cols, NULL, b, e - b, out, err);
      }
      bool done;
      SL_RETURN_NOT_OK(sl__query_step(q, &done, err));
      if (done) {
        q->finished = true;
        return 0;
      }
    }
  }
  if (!q->executed) {
    q->executed = true;
    SL_RETURN_NOT_OK(run_to_end(q, err));
  }
  if (q->r_next >= q->r_end) {
    q->finished = true;
    return 0;
  }
  int64_t n = q->r_end - q->r_next;
  if (n > q->opts.batch_rows) n = q->opts.batch_rows;
  int rc = make_batch(q, q->rcols, q->perm, q->r_next, n, out, err);
  q->r_next += n;
  return rc;
}

static void qr_release(struct sl_batch_reader *r) {
  struct qreader *qr = r->private_data;
  qr->q->handed_out = false;
  sl_free(qr);
  sl_free(r);
}

int sl_query_execute(struct sl_query *q, struct sl_batch_reader **out,
                     struct sl_error *err) {
  if (q->handed_out || q->executed || q->finished)
    return sl_error_set(err, SL_EINVAL, "a query can be executed once");
  struct sl_batch_reader *r = sl_calloc(1, sizeof *r);
  struct qreader *qr = sl_calloc(1, sizeof *qr);
  if (!r || !qr) {
    sl_free(r);
    sl_free(qr);
    return SL_ENOMEM;
  }
  qr->q = q;
  r->schema = qr_schema;
  r->next = qr_next;
  r->release = qr_release;
  r->private_data = qr;
  q->handed_out = true;
  *out = r;
  return 0;
}
