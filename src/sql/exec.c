/* Query execution.
 *
 * Stage 1 runs per input batch, split into chunks that the pool's threads
 * take: Arrow columns become vecs (views, no copies), WHERE becomes a
 * selection that gathers the surviving rows, then either the group keys and
 * aggregate arguments feed the thread's own partial hash table, or the
 * projection is evaluated. Stage 2 runs once on the aggregated (or, for
 * ORDER BY, accumulated) rows: HAVING, the output expressions, DISTINCT,
 * top-N or sort, OFFSET and LIMIT. Plain queries without ORDER BY stream:
 * one input batch in, its rows out. */
#include <stdlib.h>
#include <string.h>

#include "compute/convert.h"
#include "sluice/json.h"
#include "sluice/thread_pool.h"
#include "sql/exec.h"

void sl_query_options_init(struct sl_query_options *o) {
  memset(o, 0, sizeof *o);
  o->batch_rows = 65536;
}

int sl_sql_check_syntax(const char *sql, struct sl_error *err) {
  struct sl_arena a;
  sl_arena_init(&a, 16 * 1024);
  struct sl_stmt *st;
  int rc = sl__sql_parse(sql, &a, &st, err);
  sl_arena_release(&a);
  return rc;
}

const struct sl_schema *sl_query_schema(const struct sl_query *q) {
  return &q->out_schema;
}

void sl_query_counters(const struct sl_query *q, int64_t *rows_in,
                       int64_t *bad_lines) {
  if (rows_in) *rows_in = q->rows_in;
  if (bad_lines) *bad_lines = q->bad_lines;
}

int sl__query_reset_partials(struct sl_query *q) {
  struct sl_plan *p = q->plan;
  enum sl_vt kt[256];
  for (int32_t k = 0; k < p->n_keys && k < 256; k++)
    kt[k] = p->keys[k]->type;
  for (int i = 0; i < q->n_workers; i++) {
    sl__hagg_free(q->partials[i]);
    q->partials[i] = NULL;
    SL_RETURN_NOT_OK(
        sl__hagg_create(p->n_keys, kt, p->n_aggs, p->aggs, &q->partials[i]));
  }
  return 0;
}

int sl_query_prepare(const char *sql, const struct sl_query_options *o,
                     struct sl_query **out, struct sl_error *err) {
  int rc = SL_ENOMEM;
  struct sl_query *q = sl_calloc(1, sizeof *q);
  if (!q) return SL_ENOMEM;
  if (o)
    q->opts = *o;
  else
    sl_query_options_init(&q->opts);
  if (q->opts.batch_rows <= 0) q->opts.batch_rows = 65536;
  sl_arena_init(&q->parse_arena, 64 * 1024);
  sl_arena_init(&q->result_arena, 1 << 20);
  sl_schema_init(&q->out_schema);
  struct sl_stmt *st;
  SL_CHECK_GOTO(sl__sql_parse(sql, &q->parse_arena, &st, err), rc, fail);
  SL_CHECK_GOTO(
      sl__source_open(&st->from, st->has_from, &q->opts, &q->src, err), rc,
      fail);
  SL_CHECK_GOTO(sl__sql_bind(st, &q->src->schema, &q->plan, err), rc, fail);
  struct sl_plan *p = q->plan;
  for (int32_t i = 0; i < p->n_visible; i++) {
    struct sl_field f;
    SL_CHECK_GOTO(sl_field_init(&f, p->final_names[i],
                                sl__arrow_type_of(p->final[i]->type), true),
                  rc, fail);
    rc = sl_schema_add_field(&q->out_schema, &f);
    sl_field_release(&f);
    if (rc) goto fail;
  }
  q->res = sl_calloc((size_t)p->n_inputs + 1, sizeof *q->res);
  if (!q->res) goto fail;
  q->pool = q->opts.pool;
  if (!q->pool) {
    SL_CHECK_GOTO(sl_pool_create(q->opts.threads, &q->pool, err), rc, fail);
    q->own_pool = true;
  }
  q->n_workers = sl_pool_size(q->pool);
  q->arenas = sl_calloc((size_t)q->n_workers, sizeof *q->arenas);
  q->errs = sl_calloc((size_t)q->n_workers, sizeof *q->errs);
  if (!q->arenas || !q->errs) goto fail;
  for (int i = 0; i < q->n_workers; i++)
    sl_arena_init(&q->arenas[i], 4 << 20);
  if (p->aggregate) {
    q->partials = sl_calloc((size_t)q->n_workers, sizeof *q->partials);
    if (!q->partials) goto fail;
    if (p->n_keys > 256) {
      rc = sl_error_set(err, SL_ERANGE, "more than 256 GROUP BY keys");
      goto fail;
    }
    SL_CHECK_GOTO(sl__query_reset_partials(q), rc, fail);
  }
  *out = q;
  return 0;
fail:
  if (rc == SL_ENOMEM && err && !err->code)
    sl_error_set(err, rc, "out of memory preparing the query");
  sl_query_free(q);
  return rc;
}

void sl_query_free(struct sl_query *q) {
  if (!q) return;
  if (q->reader) q->reader->release(q->reader);
  for (int i = 0; q->partials && i < q->n_workers; i++)
    sl__hagg_free(q->partials[i]);
  sl_free(q->partials);
  for (int i = 0; q->arenas && i < q->n_workers; i++)
    sl_arena_release(&q->arenas[i]);
  sl_free(q->arenas);
  sl_free(q->errs);
  if (q->batch) sl_batch_free(q->batch);
  sl_free(q->chunks);
  sl_free(q->res);
  sl__rowset_release(&q->acc);
  sl_free(q->perm);
  if (q->own_pool) sl_pool_free(q->pool);
  sl__plan_free(q->plan);
  sl__source_free(q->src);
  sl_arena_release(&q->parse_arena);
  sl_arena_release(&q->result_arena);
  for (int32_t i = 0; i < q->n_rbufs; i++)
    sl_buffer_release(q->rbufs[i]);
  sl_free(q->rbufs);
  sl_schema_release(&q->out_schema);
  sl_free(q);
}

/* ---- stage 1 ------------------------------------------------------------- */

static int input_vecs(struct sl_query *q, const struct sl_resolved *res,
                      int32_t file, int64_t off, int64_t n, struct sl_arena *ar,
                      struct sl_vec *cols, struct sl_error *err) {
  struct sl_plan *p = q->plan;
  for (int32_t i = 0; i < p->n_inputs; i++) {
    const struct sl_resolved *r = &res[i];
    if (r->leaf) {
      int rc = sl__vec_from_resolved(r, off, n, ar, &cols[i]);
      if (rc == SL_ENOTSUP)
        return sl_error_set(err, rc,
                            "column '%s' has type %s, which SQL cannot read",
                            p->input_paths[i], sl_type_name(r->leaf->type));
      if (rc) return rc;
      if (cols[i].type != p->input_types[i] && cols[i].constant &&
          cols[i].valid && !cols[i].valid[0]) {
        struct sl_value nv = {.type = p->input_types[i], .is_null = true};
        SL_RETURN_NOT_OK(sl__vec_const(ar, &nv, n, &cols[i]));
        continue;
      }
      if (cols[i].type != p->input_types[i]) {
        struct sl_expr cast = {.op = SL_X_CAST,
                               .type = p->input_types[i],
                               .text = p->input_paths[i]};
        struct sl_vec c;
        if (sl__vt_is_numeric(cols[i].type) || cols[i].type == SL_VT_STR) {
          SL_RETURN_NOT_OK(sl__eval_cast(&cast, &cols[i], n, ar, &c, err));
          cols[i] = c;
          continue;
        }
        return sl_error_set(
            err, SL_EINVAL,
            "column '%s' is %s in this input but %s in the first",
            p->input_paths[i], sl__vt_name(cols[i].type),
            sl__vt_name(p->input_types[i]));
      }
    } else {
      struct sl_value v = {.type = p->input_types[i], .is_null = true};
      int32_t k = sl__source_partition(q->src, p->input_paths[i]);
      const char *pv =
          k >= 0 ? q->src->part_values[(size_t)file * (size_t)q->src->n_parts +
                                       (size_t)k]
                 : NULL;
      if (pv) {
        v.is_null = false;
        if (v.type == SL_VT_I64)
          v.u.i = strtoll(pv, NULL, 10);
        else
          v.u.s = (struct sl_str){pv, (int64_t)strlen(pv)};
      }
      SL_RETURN_NOT_OK(sl__vec_const(ar, &v, n, &cols[i]));
    }
  }
  return 0;
}

static int eval_list(struct sl_expr **ex, int32_t k, const struct sl_vec *cols,
                     int64_t n, struct sl_arena *ar, struct sl_vec *out,
                     bool flatten, struct sl_error *err) {
  for (int32_t i = 0; i < k; i++) {
    SL_RETURN_NOT_OK(sl__expr_eval(ex[i], cols, n, ar, &out[i], err));
    if (flatten) SL_RETURN_NOT_OK(sl__vec_flatten(ar, &out[i]));
  }
  return 0;
}

int sl__query_stage1(struct sl_query *q, int worker,
                     const struct sl_resolved *res, int32_t file, int64_t off,
                     int64_t n, int64_t seq, struct chunk_out *o) {
  struct sl_plan *p = q->plan;
  struct sl_arena *ar = &q->arenas[worker];
  struct sl_error *err = &q->errs[worker];
  struct sl_vec *cols =
      sl_arena_alloc(ar, sizeof *cols * (size_t)(p->n_inputs + 1));
  if (!cols) return SL_ENOMEM;
  SL_RETURN_NOT_OK(input_vecs(q, res, file, off, n, ar, cols, err));
  int32_t *sel = NULL;
  if (p->where) {
    struct sl_vec w;
    SL_RETURN_NOT_OK(sl__expr_eval(p->where, cols, n, ar, &w, err));
    sel = sl_arena_alloc(ar, sizeof *sel * (size_t)(n ? n : 1));
    if (!sel) return SL_ENOMEM;
    int64_t k = sl__vec_select_true(&w, n, sel);
    if (k < n) {
      for (int32_t i = 0; i < p->n_inputs; i++) {
        struct sl_vec g;
        SL_RETURN_NOT_OK(sl__vec_gather(ar, &cols[i], sel, k, &g));
        cols[i] = g;
      }
      n = k;
    } else {
      sel = NULL;
    }
  }
  if (p->aggregate) {
    int rc = 0;
    if (n > 0) {
      struct sl_vec *kv = sl_arena_alloc(
          ar, sizeof *kv * (size_t)(p->n_keys + p->n_agg_args + 1));
      if (!kv) return SL_ENOMEM;
      rc = eval_list(p->keys, p->n_keys, cols, n, ar, kv, true, err);
      if (!rc)
        rc = eval_list(p->agg_args, p->n_agg_args, cols, n, ar, kv + p->n_keys,
                       true, err);
      if (!rc)
        rc = sl__hagg_update(q->partials[worker], kv, kv + p->n_keys, n, seq,
                             sel, ar, err);
    }
    sl_arena_reset(ar);
    return rc;
  }
  o->n = n;
  o->cols = sl_arena_alloc(ar, sizeof *o->cols * (size_t)(p->n_proj + 1));
  if (!o->cols) return SL_ENOMEM;
  return eval_list(p->proj, p->n_proj, cols, n, ar, o->cols, false, err);
}

static int chunk_task(void *ctx, int64_t c, int worker) {
  struct sl_query *q = ctx;
  int64_t off = c * q->chunk_rows;
  int64_t n = q->batch->length - off < q->chunk_rows ? q->batch->length - off
                                                     : q->chunk_rows;
  return sl__query_stage1(q, worker, q->res, q->file, off, n, q->seq + off,
                          q->plan->aggregate ? NULL : &q->chunks[c]);
}

int sl__query_first_error(struct sl_query *q, int rc, struct sl_error *err) {
  for (int i = 0; i < q->n_workers; i++)
    if (q->errs[i].code) {
      if (err) *err = q->errs[i];
      return q->errs[i].code;
    }
  if (rc == SL_ENOMEM) sl_error_set(err, rc, "out of memory running the query");
  return rc;
}

/* Pulls the next input batch (opening files in turn) and runs stage 1 on
 * it. Sets *done at the end of the input. */
int sl__query_step(struct sl_query *q, bool *done, struct sl_error *err) {
  struct sl_plan *p = q->plan;
  *done = false;
  if (q->batch) {
    sl_batch_free(q->batch);
    q->batch = NULL;
  }
  for (int i = 0; i < q->n_workers; i++)
    sl_arena_reset(&q->arenas[i]);
  for (;;) {
    if (!q->reader) {
      int32_t nf = q->src->kind == SRC_JSON || q->src->kind == SRC_PARQUET
                       ? q->src->n_files
                       : 1;
      if (q->file >= nf) {
        *done = true;
        return 0;
      }
      SL_RETURN_NOT_OK(sl__source_reader(
          q->src, q->file, (const char *const *)p->input_paths, p->n_inputs,
          p->where, q->pool, &q->reader, err));
    }
    struct sl_batch *b = NULL;
    SL_RETURN_NOT_OK(q->reader->next(q->reader, &b, err));
    if (b) {
      q->batch = b;
      break;
    }
    struct sl_json_stats js;
    if (sl__source_reader_stats(q->reader, &js) == 0) {
      q->bad_lines += js.bad_lines;
      q->bytes_before_file += js.bytes;
    }
    q->reader->release(q->reader);
    q->reader = NULL;
    q->file++;
  }
  struct sl_batch *b = q->batch;
  for (int32_t i = 0; i < p->n_inputs; i++) {
    if (sl__source_partition(q->src, p->input_paths[i]) >= 0 ||
        sl__resolve_path(b, p->input_paths[i], &q->res[i]) != 0)
      memset(&q->res[i], 0, sizeof q->res[i]);
  }
  int64_t n = b->length;
  int64_t per = (n + 2 * q->n_workers - 1) / (2 * q->n_workers);
  q->chunk_rows = per < 4096 ? 4096 : per > 32768 ? 32768 : per;
  q->n_chunks = n ? (n + q->chunk_rows - 1) / q->chunk_rows : 0;
  if (!p->aggregate) {
    struct chunk_out *co =
        sl_realloc(q->chunks, sizeof *co * (size_t)(q->n_chunks + 1));
    if (!co) return SL_ENOMEM;
    q->chunks = co;
    memset(co, 0, sizeof *co * (size_t)(q->n_chunks + 1));
    q->next_chunk = 0;
  }
  for (int i = 0; i < q->n_workers; i++)
    sl_error_reset(&q->errs[i]);
  int rc = sl_pool_parallel_for(q->pool, q->n_chunks, chunk_task, q);
  if (rc) return sl__query_first_error(q, rc, err);
  q->seq += n;
  q->rows_in += n;
  if (q->opts.progress) {
    struct sl_json_stats js;
    int64_t done_bytes = 0;
    if (sl__source_reader_stats(q->reader, &js) == 0) done_bytes = js.bytes;
    q->opts.progress(q->opts.progress_ctx, q->bytes_before_file + done_bytes,
                     q->src->total_bytes);
  }
  return 0;
}
