/* sluice compute: sorting, top-N and owned row sets. */
#ifndef SLUICE_COMPUTE_SORT_H
#define SLUICE_COMPUTE_SORT_H

#include "compute/vec.h"
#include "sluice/alloc.h"

struct sl_sort_spec {
  int32_t col;
  bool desc;
  bool nulls_first; /* default NULLS LAST, for ASC and DESC alike */
};

/* Orders rows [0, n) of cols by keys. With limit >= 0 only the first
 * min(limit, n) rows of the order are produced, through a bounded heap.
 * *perm (sl_malloc'd, caller frees) receives *n_out row indices. */
int sl__sort_rows(const struct sl_vec *cols, int64_t n,
                  const struct sl_sort_spec *keys, int32_t n_keys,
                  int64_t limit, int64_t **perm, int64_t *n_out);

/* Columns of rows that own their memory (strings copied into an arena). */
struct sl_rowset {
  int32_t n_cols;
  struct sl_vec *cols; /* valid arrays always present */
  int64_t n, cap;
  struct sl_arena strings;
};

int sl__rowset_init(struct sl_rowset *rs, int32_t n_cols,
                    const enum sl_vt *types);
void sl__rowset_release(struct sl_rowset *rs);
/* Appends rows[0..n) of cols (rows NULL = rows 0..n-1). */
int sl__rowset_append(struct sl_rowset *rs, const struct sl_vec *cols,
                      const int64_t *rows, int64_t n);
/* Keeps only the first k rows in keys order (top-N compaction). */
int sl__rowset_keep_top(struct sl_rowset *rs, const struct sl_sort_spec *keys,
                        int32_t n_keys, int64_t k);

#endif
