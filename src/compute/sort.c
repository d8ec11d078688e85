/* Row sets, sorting and top-N.
 *
 * ORDER BY sorts a permutation of row indices with a comparator over the
 * key vecs (type dispatched once per key, NULLS FIRST/LAST, ties broken by
 * row index so results are deterministic). ORDER BY ... LIMIT n keeps a
 * bounded max-heap of the best n rows instead of sorting everything:
 * O(rows log n) time and O(n) extra memory. */
#include <stdlib.h>
#include <string.h>

#include "compute/sort.h"

struct cmp_ctx {
  const struct sl_vec *cols;
  const struct sl_sort_spec *keys;
  int32_t n_keys;
};

static int str_cmp(struct sl_str x, struct sl_str y) {
  int64_t m = x.n < y.n ? x.n : y.n;
  int c = m ? memcmp(x.p, y.p, (size_t)m) : 0;
  if (c) return c;
  return (x.n > y.n) - (x.n < y.n);
}

static int row_cmp(const struct cmp_ctx *c, int64_t a, int64_t b) {
  for (int32_t k = 0; k < c->n_keys; k++) {
    const struct sl_sort_spec *s = &c->keys[k];
    const struct sl_vec *v = &c->cols[s->col];
    bool va = sl__vec_valid(v, a), vb = sl__vec_valid(v, b);
    if (!va || !vb) {
      if (va == vb) continue;
      /* a null sorts first only with NULLS FIRST, regardless of DESC */
      int r = !va ? -1 : 1;
      return s->nulls_first ? r : -r;
    }
    int64_t ia = sl__vec_idx(v, a), ib = sl__vec_idx(v, b);
    int r;
    switch (v->type) {
    case SL_VT_F64: {
      double x = v->d.f[ia], y = v->d.f[ib];
      r = (x > y) - (x < y);
      if (x != x || y != y) r = (x != x) - (y != y); /* NaN sorts last */
      break;
    }
    case SL_VT_STR: r = str_cmp(v->d.s[ia], v->d.s[ib]); break;
    case SL_VT_BOOL: r = (int)v->d.b[ia] - (int)v->d.b[ib]; break;
    default: r = (v->d.i[ia] > v->d.i[ib]) - (v->d.i[ia] < v->d.i[ib]);
    }
    if (r) return s->desc ? -r : r;
  }
  return (a > b) - (a < b);
}

static int qcmp(const void *x, const void *y, void *ctx) {
  return row_cmp(ctx, *(const int64_t *)x, *(const int64_t *)y);
}

static void sift_down(const struct cmp_ctx *c, int64_t *h, int64_t n,
                      int64_t i) {
  for (;;) {
    int64_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && row_cmp(c, h[l], h[m]) > 0) m = l;
    if (r < n && row_cmp(c, h[r], h[m]) > 0) m = r;
    if (m == i) return;
    int64_t t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

int sl__sort_rows(const struct sl_vec *cols, int64_t n,
                  const struct sl_sort_spec *keys, int32_t n_keys,
                  int64_t limit, int64_t **perm, int64_t *n_out) {
  struct cmp_ctx c = {cols, keys, n_keys};
  int64_t k = (limit >= 0 && limit < n) ? limit : n;
  int64_t *h = sl_malloc((size_t)(k ? k : 1) * sizeof *h);
  if (!h) return SL_ENOMEM;
  if (k == n) {
    for (int64_t i = 0; i < n; i++)
      h[i] = i;
  } else if (k > 0) {
    for (int64_t i = 0; i < k; i++)
      h[i] = i;
    for (int64_t i = k / 2 - 1; i >= 0; i--)
      sift_down(&c, h, k, i);
    for (int64_t i = k; i < n; i++)
      if (row_cmp(&c, i, h[0]) < 0) {
        h[0] = i;
        sift_down(&c, h, k, 0);
      }
  }
  if (n_keys > 0 && k > 1) qsort_r(h, (size_t)k, sizeof *h, qcmp, &c);
  *perm = h;
  *n_out = k;
  return 0;
}

/* ---- row sets --------------------------------------------------------------
 */

int sl__rowset_init(struct sl_rowset *rs, int32_t n_cols,
                    const enum sl_vt *types) {
  memset(rs, 0, sizeof *rs);
  sl_arena_init(&rs->strings, 1 << 20);
  rs->n_cols = n_cols;
  rs->cols = sl_calloc((size_t)(n_cols ? n_cols : 1), sizeof *rs->cols);
  if (!rs->cols) return SL_ENOMEM;
  for (int32_t i = 0; i < n_cols; i++)
    rs->cols[i].type = types[i];
  return 0;
}

void sl__rowset_release(struct sl_rowset *rs) {
  for (int32_t i = 0; rs->cols && i < rs->n_cols; i++) {
    sl_free(rs->cols[i].d.any);
    sl_free(rs->cols[i].valid);
  }
  sl_free(rs->cols);
  sl_arena_release(&rs->strings);
  memset(rs, 0, sizeof *rs);
}

static int reserve(struct sl_rowset *rs, int64_t need) {
  if (need <= rs->cap) return 0;
  int64_t cap = rs->cap ? rs->cap * 2 : 1024;
  while (cap < need)
    cap *= 2;
  for (int32_t i = 0; i < rs->n_cols; i++) {
    struct sl_vec *v = &rs->cols[i];
    void *d = sl_realloc(v->d.any, (size_t)(cap * sl__vt_size(v->type)));
    if (!d) return SL_ENOMEM;
    v->d.any = d;
    uint8_t *ok = sl_realloc(v->valid, (size_t)cap);
    if (!ok) return SL_ENOMEM;
    v->valid = ok;
  }
  rs->cap = cap;
  return 0;
}

int sl__rowset_append(struct sl_rowset *rs, const struct sl_vec *cols,
                      const int64_t *rows, int64_t n) {
  SL_RETURN_NOT_OK(reserve(rs, rs->n + n));
  for (int32_t c = 0; c < rs->n_cols; c++) {
    struct sl_vec *d = &rs->cols[c];
    const struct sl_vec *s = &cols[c];
    int64_t w = sl__vt_size(d->type);
    for (int64_t r = 0; r < n; r++) {
      int64_t src = rows ? rows[r] : r, dst = rs->n + r;
      bool ok = sl__vec_valid(s, src);
      d->valid[dst] = ok;
      int64_t i = sl__vec_idx(s, src);
      if (!ok) {
        memset((char *)d->d.any + dst * w, 0, (size_t)w);
      } else if (d->type == SL_VT_STR) {
        struct sl_str x = s->d.s[i];
        char *p = sl_arena_alloc(&rs->strings, (size_t)(x.n ? x.n : 1));
        if (!p) return SL_ENOMEM;
        if (x.n) memcpy(p, x.p, (size_t)x.n);
        d->d.s[dst] = (struct sl_str){p, x.n};
      } else {
        memcpy((char *)d->d.any + dst * w, (const char *)s->d.any + i * w,
               (size_t)w);
      }
    }
  }
  rs->n += n;
  for (int32_t c = 0; c < rs->n_cols; c++)
    rs->cols[c].n = rs->n;
  return 0;
}

int sl__rowset_keep_top(struct sl_rowset *rs, const struct sl_sort_spec *keys,
                        int32_t n_keys, int64_t k) {
  if (rs->n <= k) return 0;
  int64_t *perm, m;
  SL_RETURN_NOT_OK(sl__sort_rows(rs->cols, rs->n, keys, n_keys, k, &perm, &m));
  struct sl_rowset nr;
  enum sl_vt types[256];
  int32_t nc = rs->n_cols < 256 ? rs->n_cols : 256;
  for (int32_t i = 0; i < nc; i++)
    types[i] = rs->cols[i].type;
  int rc = sl__rowset_init(&nr, nc, types);
  if (!rc) rc = sl__rowset_append(&nr, rs->cols, perm, m);
  sl_free(perm);
  if (rc) {
    sl__rowset_release(&nr);
    return rc;
  }
  sl__rowset_release(rs);
  *rs = nr;
  return 0;
}
