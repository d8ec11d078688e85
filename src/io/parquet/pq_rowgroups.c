/* Reader side: decoding row groups into batches, on the thread pool: all
 * chunks of a column appended into one array (pq_read_groups), or a window
 * of row groups with one task per (row group, column) (pq_read_window).
 * Flat columns go through pq_flat.c, nested ones through levels and
 * pq_assemble.c. */
#include <stdio.h>
#include <string.h>

#include "io/parquet/pq.h"
#include "sluice/parquet.h"
#include "sluice/thread_pool.h"

struct rg_task {
  const struct sl_parquet_file *f;
  const struct pq_projection *p;
  const int32_t *groups;
  int32_t n_groups;
  bool per_group;       /* one task per (group, column), else per column */
  const int32_t *order; /* per_group: task order (largest chunks first) */
  int64_t rows;
  struct pq_limits lim;
  struct sl_parquet_buffers *pool;
  struct sl_array **out;           /* per_group: [group * n_cols + column] */
  struct sl_error *errs;           /* like out */
  struct pq_read_scratch *scratch; /* per pool worker */
};

static void leaf_path(const struct pq_leaf *l, char *path, size_t cap) {
  size_t at = 0;
  path[0] = '\0';
  for (int32_t k = 0; k < l->n_path && at + 2 < cap; k++)
    at +=
        (size_t)snprintf(path + at, cap - at, "%s%s", k ? "." : "", l->path[k]);
}

/* A flat column: every chunk decodes straight into the Arrow layout. */
static int read_flat(struct rg_task *t, const struct pq_proj_col *pc,
                     const int32_t *groups, int32_t n_groups, int64_t rows,
                     struct pq_read_scratch *scratch, struct sl_array **out,
                     struct sl_error *err) {
  int32_t li = pc->leaves[0];
  const struct pq_leaf *leaf = &t->p->leaves[li];
  struct pq_flat fl;
  memset(&fl, 0, sizeof fl);
  fl.type = leaf->nodes[0].type;
  fl.w = sl_type_width(fl.type);
  fl.has_def = leaf->max_def > 0;
  fl.pool = t->pool;
  int rc = 0;
  /* No reservation for `rows` here: that count comes from the footer
   * unchecked; pq_read_chunk reserves each chunk once its value count has
   * passed the limits. */
  (void)rows;
  for (int32_t g = 0; g < n_groups; g++) {
    const struct pq_row_group *rg = &t->f->meta.row_groups[groups[g]];
    int64_t before = fl.rows;
    rc = pq_read_chunk(t->f->data, t->f->size, &rg->columns[li], leaf, &t->lim,
                       scratch, NULL, &fl, err);
    if (!rc && fl.rows - before != rg->num_rows)
      rc = sl_error_set(err, SL_EINVAL,
                        "column '%s' has %lld values, the row group %lld rows",
                        pc->field.name, (long long)(fl.rows - before),
                        (long long)rg->num_rows);
    if (rc) {
      char path[256];
      leaf_path(leaf, path, sizeof path);
      sl_error_prefix(err, "row group %d, column '%s': ", groups[g], path);
      goto fail;
    }
  }
  return pq_flat_finish(&fl, out, err);
fail:
  pq_flat_release(&fl);
  return rc;
}

static int read_col_groups(struct rg_task *t, int64_t ci, const int32_t *groups,
                           int32_t n_groups, int64_t rows,
                           struct pq_read_scratch *scratch,
                           struct sl_array **out, struct sl_error *err) {
  const struct pq_proj_col *pc = &t->p->cols[ci];
  int32_t n = pc->n_leaves;
  if (n == 1 && t->p->leaves[pc->leaves[0]].n_nodes == 1)
    return read_flat(t, pc, groups, n_groups, rows, scratch, out, err);
  struct pq_chunk_data *data = sl_calloc((size_t)n, sizeof *data);
  struct pq_chunk_data **dp = sl_calloc((size_t)n, sizeof *dp);
  const struct pq_leaf **lp = sl_calloc((size_t)n, sizeof *lp);
  int rc = 0;
  if (!data || !dp || !lp) {
    rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    goto cleanup;
  }
  for (int32_t i = 0; i < n && !rc; i++) {
    int32_t li = pc->leaves[i];
    dp[i] = &data[i];
    lp[i] = &t->p->leaves[li];
    for (int32_t g = 0; g < n_groups && !rc; g++) {
      const struct pq_column_chunk *cc =
          &t->f->meta.row_groups[groups[g]].columns[li];
      rc = pq_read_chunk(t->f->data, t->f->size, cc, lp[i], &t->lim, scratch,
                         &data[i], NULL, err);
      if (rc) {
        char path[256];
        leaf_path(lp[i], path, sizeof path);
        sl_error_prefix(err, "row group %d, column '%s': ", groups[g], path);
      }
    }
  }
  if (!rc) {
    rc = pq_assemble(&pc->field, lp, dp, n, rows, out, err);
    if (rc && n_groups == 1) sl_error_prefix(err, "row group %d: ", groups[0]);
  }
cleanup:
  if (data)
    for (int32_t i = 0; i < n; i++)
      pq_chunk_data_release(&data[i]);
  sl_free(data);
  sl_free(dp);
  sl_free(lp);
  return rc;
}

static int read_task(void *ctx, int64_t i, int worker) {
  struct rg_task *t = ctx;
  struct pq_read_scratch *scratch = t->scratch ? &t->scratch[worker] : NULL;
  if (!t->per_group)
    return read_col_groups(t, i, t->groups, t->n_groups, t->rows, scratch,
                           &t->out[i], &t->errs[i]);
  int64_t k = t->order[i], nc = t->p->n_cols;
  int64_t g = k / nc, ci = k % nc;
  return read_col_groups(t, ci, &t->groups[g], 1,
                         t->f->meta.row_groups[t->groups[g]].num_rows, scratch,
                         &t->out[k], &t->errs[k]);
}

static void first_error(const struct sl_error *errs, int64_t n,
                        struct sl_error *err) {
  for (int64_t i = 0; i < n; i++)
    if (errs[i].code) {
      sl_error_set(err, errs[i].code, "%s", errs[i].msg);
      return;
    }
  sl_error_set(err, SL_EINVAL, "reading failed");
}

/* The read of `groups` as pq_read_groups (per_group false) and
 * pq_read_window (true) set it up; out and errs are the caller's. */
static struct rg_task task_of(const struct sl_parquet_file *f,
                              const struct pq_projection *p,
                              const int32_t *groups, int32_t n_groups,
                              const struct sl_parquet_read_options *o,
                              struct pq_read_scratch *scratch, bool per_group) {
  struct rg_task t = {.f = f,
                      .p = p,
                      .groups = groups,
                      .n_groups = n_groups,
                      .per_group = per_group,
                      .pool = o->buffers,
                      .scratch = scratch};
  t.lim.max_page_bytes = o->max_page_bytes;
  t.lim.max_chunk_values = o->max_chunk_values;
  return t;
}

/* All of groups as one batch: each column's chunks are appended. */
int pq_read_groups(const struct sl_parquet_file *f,
                   const struct pq_projection *p, const int32_t *groups,
                   int32_t n_groups, const struct sl_parquet_read_options *o,
                   struct pq_read_scratch *scratch, struct sl_batch **out,
                   struct sl_error *err) {
  *out = NULL;
  struct rg_task t = task_of(f, p, groups, n_groups, o, scratch, false);
  for (int32_t g = 0; g < n_groups; g++)
    t.rows += f->meta.row_groups[groups[g]].num_rows;
  int32_t nc = p->n_cols;
  t.out = sl_calloc((size_t)(nc ? nc : 1), sizeof *t.out);
  t.errs = sl_calloc((size_t)(nc ? nc : 1), sizeof *t.errs);
  int rc = 0;
  if (!t.out || !t.errs) {
    rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    goto cleanup;
  }
  rc = sl_pool_parallel_for(o->pool, nc, read_task, &t);
  if (rc) {
    first_error(t.errs, nc, err);
    goto cleanup;
  }
  rc = sl_batch_make(&p->schema, t.out, t.rows, out, err);
  memset(t.out, 0, (size_t)nc * sizeof *t.out); /* taken over */
cleanup:
  if (t.out)
    for (int32_t i = 0; i < nc; i++)
      sl_array_release(t.out[i]);
  sl_free(t.out);
  sl_free(t.errs);
  if (rc) sl_error_prefix(err, "reading '%s': ", f->name);
  return rc;
}

/* Groups in one window, one batch each: every (group, column) chunk is a
 * task, largest first, so that all threads stay busy to the end instead
 * of waiting at each row group for its slowest column. */
int pq_read_window(const struct sl_parquet_file *f,
                   const struct pq_projection *p, const int32_t *groups,
                   int32_t n_groups, const struct sl_parquet_read_options *o,
                   struct pq_read_scratch *scratch, struct sl_batch **out,
                   struct sl_error *err) {
  int64_t nc = p->n_cols, nt = (int64_t)n_groups * nc;
  struct rg_task t = task_of(f, p, groups, n_groups, o, scratch, true);
  t.out = sl_calloc((size_t)(nt ? nt : 1), sizeof *t.out);
  t.errs = sl_calloc((size_t)(nt ? nt : 1), sizeof *t.errs);
  int32_t *order = sl_malloc((size_t)(nt ? nt : 1) * sizeof *order);
  int64_t *cost = sl_malloc((size_t)(nt ? nt : 1) * sizeof *cost);
  int rc = 0;
  if (!t.out || !t.errs || !order || !cost) {
    rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    goto cleanup;
  }
  for (int64_t k = 0; k < nt; k++) {
    const struct pq_row_group *rg = &f->meta.row_groups[groups[k / nc]];
    const struct pq_proj_col *pc = &p->cols[k % nc];
    cost[k] = 0;
    for (int32_t i = 0; i < pc->n_leaves; i++) {
      const struct pq_column_chunk *cc = &rg->columns[pc->leaves[i]];
      if (cc->has_meta && cc->meta.total_uncompressed > 0)
        cost[k] += cc->meta.total_uncompressed;
    }
    order[k] = (int32_t)k;
  }
  /* insertion sort: a window holds few tasks */
  for (int64_t k = 1; k < nt; k++) {
    int32_t x = order[k];
    int64_t j = k;
    while (j > 0 && cost[order[j - 1]] < cost[x]) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = x;
  }
  t.order = order;
  rc = sl_pool_parallel_for(o->pool, nt, read_task, &t);
  if (rc) {
    first_error(t.errs, nt, err);
    goto cleanup;
  }
  for (int32_t g = 0; g < n_groups && !rc; g++) {
    rc = sl_batch_make(&p->schema, &t.out[g * nc],
                       f->meta.row_groups[groups[g]].num_rows, &out[g], err);
    memset(&t.out[g * nc], 0, (size_t)nc * sizeof *t.out); /* taken over */
    if (rc)
      for (int32_t k = 0; k < g; k++) {
        sl_batch_free(out[k]);
        out[k] = NULL;
      }
  }
cleanup:
  if (t.out)
    for (int64_t i = 0; i < nt; i++)
      sl_array_release(t.out[i]);
  sl_free(t.out);
  sl_free(t.errs);
  sl_free(order);
  sl_free(cost);
  if (rc) sl_error_prefix(err, "reading '%s': ", f->name);
  return rc;
}
