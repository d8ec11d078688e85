/* Reader side: flat columns (a top-level leaf: no repetition, at most one
 * definition level) decoded straight into their Arrow layout.
 *
 * The general path (pq_pages.c + pq_assemble.c) first decodes levels into
 * uint16 arrays and values into dense buffers (strings with int64 offsets),
 * then assembles arrays from them. For flat columns that is two extra
 * passes and two extra buffers per column chunk. Here the definition levels
 * of a page become validity bits directly (a bit-packed run of width 1 is a
 * bitmap already), and values land at their row's position in the output:
 * PLAIN fixed-width values are one copy from the page, dictionary indices
 * gather straight from the dictionary, strings build int32 offsets and
 * characters in one pass. Encodings without a direct path decode into a
 * reused dense buffer first and are copied to their rows. Output buffers
 * come from the reader's buffer pool, sized for the whole chunk up front. */
#include <string.h>

#include "io/parquet/pq.h"

#define BAD(...) sl_error_set(c->err, SL_EINVAL, __VA_ARGS__)
#define OOM() sl_error_set(c->err, SL_ENOMEM, "out of memory decoding a page")
/* Short strings are copied as fixed blocks of STR_SLACK bytes: both sides
 * keep this much slack. */
#define STR_SLACK PQ_STR_SLACK
/* Characters reserved for a dictionary page from its longest entry, and
 * for a chunk from its first page's average, at most. */
#define BOUND_MAX ((size_t)16 << 20)
#define ESTIMATE_MAX ((size_t)64 << 20)

static inline bool bit_at(const uint8_t *bm, int64_t i) {
  return (bm[i >> 3] >> (i & 7)) & 1;
}

void pq_flat_release(struct pq_flat *f) {
  pq_pool_put(f->pool, &f->valid);
  pq_pool_put(f->pool, &f->data);
  pq_pool_put(f->pool, &f->offs);
}

int pq_flat_reserve(struct pq_flat *f, int64_t rows, int64_t chars_hint) {
  size_t total = (size_t)(f->rows + rows);
  if (f->has_def &&
      pq_pool_reserve(f->pool, &f->valid, (total + 7) / 8 + 8 - f->valid.size))
    return SL_ENOMEM;
  if (f->w > 0) {
    if (pq_pool_reserve(f->pool, &f->data,
                        total * (size_t)f->w + 8 - f->data.size))
      return SL_ENOMEM;
  } else if (f->type == SL_TYPE_BOOL) {
    if (pq_pool_reserve(f->pool, &f->data, (total + 7) / 8 + 8 - f->data.size))
      return SL_ENOMEM;
  } else if (f->type == SL_TYPE_UTF8) {
    if (pq_pool_reserve(f->pool, &f->offs, (total + 1) * 4 + 8 - f->offs.size))
      return SL_ENOMEM;
    if (f->offs.size == 0) {
      memset(f->offs.data, 0, 4);
      f->offs.size = 4;
    }
    if (chars_hint > 0 &&
        pq_pool_reserve(f->pool, &f->data, (size_t)chars_hint + STR_SLACK))
      return SL_ENOMEM;
  }
  return 0;
}

/* Fixed-width values of one page: dense `src` (nn values of w bytes) to
 * rows [row, row + n), zeros in null slots. */
static void scatter_fixed(uint8_t *dst, const uint8_t *src, int w,
                          const uint8_t *bm, int64_t row, int64_t n, bool all) {
  if (all) {
    memcpy(dst, src, (size_t)n * (size_t)w);
    return;
  }
  if (w == 8) {
    uint64_t *d = (uint64_t *)(void *)dst;
    for (int64_t i = 0; i < n; i++) {
      uint64_t x = 0;
      if (bit_at(bm, row + i)) {
        memcpy(&x, src, 8);
        src += 8;
      }
      memcpy(&d[i], &x, 8);
    }
  } else {
    uint32_t *d = (uint32_t *)(void *)dst;
    for (int64_t i = 0; i < n; i++) {
      uint32_t x = 0;
      if (bit_at(bm, row + i)) {
        memcpy(&x, src, 4);
        src += 4;
      }
      memcpy(&d[i], &x, 4);
    }
  }
}

/* Dictionary indices of a page (nn of them) into the scratch buffer. */
static int page_indices(struct pq_page_ctx *c, const uint8_t *p, size_t len,
                        int64_t nn, const uint32_t **out) {
  if (!c->has_dict)
    return BAD("dictionary-encoded page without a dictionary page");
  c->tmp.size = 0;
  if (pq_buf_reserve(&c->tmp, (size_t)(nn ? nn : 1) * 4)) return OOM();
  *out = (const uint32_t *)(const void *)c->tmp.data;
  if (nn == 0) return 0;
  if (len < 1) return BAD("dictionary page data is empty");
  if (c->dict.n == 0)
    return BAD("dictionary-encoded values but an empty dictionary");
  int rc = pq_rle_decode_u32(
      p + 1, len - 1, p[0], (uint32_t *)(void *)c->tmp.data, nn,
      (uint32_t)(c->dict.n > UINT32_MAX ? UINT32_MAX : c->dict.n), c->err);
  if (rc) return sl_error_prefix(c->err, "dictionary indices: ");
  return 0;
}

static int fixed_values(struct pq_page_ctx *c, int enc, const uint8_t *p,
                        size_t len, int64_t n, int64_t nn, struct pq_flat *f) {
  int w = f->w;
  uint8_t *dst = f->data.data + (size_t)f->rows * (size_t)w;
  const uint8_t *bm = f->valid.data;
  bool all = nn == n;
  const struct pq_leaf *leaf = c->leaf;
  if (enc == PQ_ENC_PLAIN && leaf->conv == PQ_CONV_NONE &&
      (leaf->phys == PQ_INT32 || leaf->phys == PQ_INT64 ||
       leaf->phys == PQ_DOUBLE) &&
      (leaf->phys == PQ_INT32 ? 4 : 8) == w) {
    if ((uint64_t)nn > len / (size_t)w)
      return BAD("PLAIN: %lld values of %d bytes need more than the %zu bytes "
                 "in the page",
                 (long long)nn, w, len);
    scatter_fixed(dst, p, w, bm, f->rows, n, all);
    return 0;
  }
  if (enc == PQ_ENC_PLAIN_DICTIONARY || enc == PQ_ENC_RLE_DICTIONARY) {
    const uint32_t *idx;
    int rc = page_indices(c, p, len, nn, &idx);
    if (rc) return rc;
    const uint8_t *dict = c->dict.data.data;
    if (w == 8) {
      const uint64_t *dv = (const uint64_t *)(const void *)dict;
      uint64_t *d = (uint64_t *)(void *)dst;
      if (all) {
        for (int64_t i = 0; i < n; i++)
          memcpy(&d[i], &dv[idx[i]], 8);
      } else {
        for (int64_t i = 0, k = 0; i < n; i++) {
          uint64_t x = 0;
          if (bit_at(bm, f->rows + i)) memcpy(&x, &dv[idx[k++]], 8);
          memcpy(&d[i], &x, 8);
        }
      }
    } else {
      const uint32_t *dv = (const uint32_t *)(const void *)dict;
      uint32_t *d = (uint32_t *)(void *)dst;
      if (all) {
        for (int64_t i = 0; i < n; i++)
          memcpy(&d[i], &dv[idx[i]], 4);
      } else {
        for (int64_t i = 0, k = 0; i < n; i++) {
          uint32_t x = 0;
          if (bit_at(bm, f->rows + i)) memcpy(&x, &dv[idx[k++]], 4);
          memcpy(&d[i], &x, 4);
        }
      }
    }
    return 0;
  }
  struct pq_values *dense = &c->dense;
  dense->data.size = 0;
  dense->n = 0;
  int rc = pq_decode_values(c, enc, p, len, nn, dense);
  if (rc) return rc;
  if (dense->n != nn)
    return BAD("page decoded %lld of %lld values", (long long)dense->n,
               (long long)nn);
  scatter_fixed(dst, dense->data.data, w, bm, f->rows, n, all);
  return 0;
}

static int bool_values(struct pq_page_ctx *c, int enc, const uint8_t *p,
                       size_t len, int64_t n, int64_t nn, struct pq_flat *f) {
  struct pq_values *dense = &c->dense;
  dense->data.size = 0;
  dense->n = 0;
  int rc = pq_decode_values(c, enc, p, len, nn, dense);
  if (rc) return rc;
  if (dense->n != nn)
    return BAD("page decoded %lld of %lld values", (long long)dense->n,
               (long long)nn);
  const uint8_t *v = dense->data.data, *bm = f->valid.data;
  uint8_t *d = f->data.data;
  bool all = nn == n;
  for (int64_t i = 0, k = 0; i < n; i++) {
    int64_t r = f->rows + i;
    bool x = (all || bit_at(bm, r)) && v[k++];
    if (x)
      d[r >> 3] |= (uint8_t)(1u << (r & 7));
    else
      d[r >> 3] &= (uint8_t) ~(1u << (r & 7));
  }
  return 0;
}

/* Room for `more` characters of the page's n rows. The first page of a
 * chunk sizes the buffer for the whole chunk from its average, so that the
 * block taken from the pool is about the final size. */
static int chars_room(struct pq_page_ctx *c, struct pq_flat *f, size_t more,
                      int64_t n) {
  if (more > (size_t)INT32_MAX - f->data.size)
    return sl_error_set(c->err, SL_ERANGE,
                        "string column of more than 2 GiB in one row group "
                        "is over the limit of utf8");
  size_t want = more;
  if (f->data.size == 0 && n > 0 && f->chunk_end > f->rows) {
    /* The estimate is capped: the chunk's row count comes from the file,
     * and past the cap the buffer grows as real values arrive. */
    double est = (double)more / (double)n * (double)(f->chunk_end - f->rows);
    est = est * 1.05 + 4096;
    if (est > (double)ESTIMATE_MAX) est = (double)ESTIMATE_MAX;
    if (est > (double)want) want = (size_t)est;
  }
  if (pq_pool_reserve(f->pool, &f->data, want + STR_SLACK)) return OOM();
  return 0;
}

static inline void copy_str(uint8_t *dst, const uint8_t *src, size_t l,
                            size_t src_left) {
  if (l <= STR_SLACK && src_left >= STR_SLACK)
    memcpy(dst, src, STR_SLACK);
  else
    memcpy(dst, src, l);
}

static int string_values(struct pq_page_ctx *c, int enc, const uint8_t *p,
                         size_t len, int64_t n, int64_t nn, struct pq_flat *f) {
  const uint8_t *bm = f->valid.data;
  bool all = nn == n;
  int rc;
  if (enc == PQ_ENC_PLAIN) {
    /* The page's bytes bound its characters. */
    if ((rc = chars_room(c, f, len, n))) return rc;
    int32_t *o = (int32_t *)(void *)f->offs.data + f->rows;
    uint8_t *d = f->data.data;
    size_t at = f->data.size, pos = 0;
    for (int64_t i = 0, k = 0; i < n; i++) {
      if (!all && !bit_at(bm, f->rows + i)) {
        o[i + 1] = (int32_t)at;
        continue;
      }
      if (len - pos < 4)
        return BAD("PLAIN strings: value %lld of %lld runs past the page",
                   (long long)k, (long long)nn);
      uint32_t l = pq_get_u32le(p + pos);
      pos += 4;
      if (l > len - pos)
        return BAD("PLAIN strings: value %lld has length %u, %zu bytes left",
                   (long long)k, l, len - pos);
      copy_str(d + at, p + pos, l, len - pos);
      pos += l;
      at += l;
      k++;
      o[i + 1] = (int32_t)at;
    }
    f->data.size = at;
    return 0;
  }
  if (enc == PQ_ENC_PLAIN_DICTIONARY || enc == PQ_ENC_RLE_DICTIONARY) {
    const uint32_t *idx;
    if ((rc = page_indices(c, p, len, nn, &idx))) return rc;
    const uint64_t *dent = (const uint64_t *)(const void *)c->dent.data;
    const uint8_t *dch = c->dict.data.data;
    size_t dsize = c->dict.data.size;
    /* Room for the longest entry at every value; only when that bound is
     * large (a long entry: the copying dominates then) are the real lengths
     * added up, so that a hostile dictionary cannot make us reserve more
     * than its values really need. */
    size_t more = (size_t)nn * c->dict_maxlen;
    if (more > BOUND_MAX) {
      more = 0;
      for (int64_t k = 0; k < nn; k++)
        more += (size_t)(dent[idx[k]] >> 32);
    }
    if ((rc = chars_room(c, f, more, n))) return rc;
    int32_t *o = (int32_t *)(void *)f->offs.data + f->rows;
    uint8_t *d = f->data.data;
    size_t at = f->data.size;
    /* The dictionary keeps STR_SLACK readable bytes past its end. */
    for (int64_t i = 0, k = 0; i < n; i++) {
      if (all || bit_at(bm, f->rows + i)) {
        uint64_t e = dent[idx[k++]];
        size_t b = (uint32_t)e, l = (size_t)(e >> 32);
        copy_str(d + at, dch + b, l, dsize + STR_SLACK - b);
        at += l;
      }
      o[i + 1] = (int32_t)at;
    }
    f->data.size = at;
    return 0;
  }
  struct pq_values *dense = &c->dense;
  dense->data.size = 0;
  dense->offs.size = 0;
  dense->n = 0;
  if ((rc = pq_decode_values(c, enc, p, len, nn, dense))) return rc;
  if (dense->n != nn)
    return BAD("page decoded %lld of %lld values", (long long)dense->n,
               (long long)nn);
  if ((rc = chars_room(c, f, dense->data.size, n))) return rc;
  const int64_t *so = (const int64_t *)(const void *)dense->offs.data;
  int32_t *o = (int32_t *)(void *)f->offs.data + f->rows;
  size_t at = f->data.size;
  if (nn) memcpy(f->data.data + at, dense->data.data, dense->data.size);
  for (int64_t i = 0, k = 0; i < n; i++) {
    if (all || bit_at(bm, f->rows + i)) {
      k++;
      o[i + 1] = (int32_t)(at + (size_t)so[k]);
    } else {
      o[i + 1] = (int32_t)(at + (size_t)(k ? so[k] : 0));
    }
  }
  f->data.size = at + dense->data.size;
  return 0;
}

int pq_flat_page(struct pq_page_ctx *c, const struct pq_page_header *h,
                 const uint8_t *p, size_t len, struct pq_flat *f) {
  int64_t n = h->num_values;
  bool v2 = h->type == PQ_PAGE_DATA_V2;
  int rc;
  if ((rc = pq_flat_reserve(f, n, 0))) return OOM();
  if (v2) {
    if ((size_t)h->rep_len > len) return BAD("v2 page: levels past the page");
    p += h->rep_len;
    len -= (size_t)h->rep_len;
  }
  int64_t nn = n;
  if (c->leaf->max_def > 0) {
    size_t l;
    if (v2) {
      l = (size_t)h->def_len;
    } else {
      if (len < 4) return BAD("definition levels: missing length prefix");
      l = pq_get_u32le(p);
      p += 4;
      len -= 4;
    }
    if (l > len)
      return BAD("definition levels: %zu bytes declared, %zu in the page", l,
                 len);
    if ((rc = pq_def_to_bitmap(p, l, f->valid.data, f->rows, n, &nn, c->err)))
      return sl_error_prefix(c->err, "definition levels: ");
    p += l;
    len -= l;
  } else if (v2) {
    if ((size_t)h->def_len > len) return BAD("v2 page: levels past the page");
    p += h->def_len;
    len -= (size_t)h->def_len;
  }
  if (f->w > 0)
    rc = fixed_values(c, h->encoding, p, len, n, nn, f);
  else if (f->type == SL_TYPE_BOOL)
    rc = bool_values(c, h->encoding, p, len, n, nn, f);
  else if (f->type == SL_TYPE_UTF8)
    rc = string_values(c, h->encoding, p, len, n, nn, f);
  else {
    /* null-typed leaves: values are checked, nothing is kept */
    c->dense.data.size = c->dense.offs.size = 0;
    c->dense.n = 0;
    rc = pq_decode_values(c, h->encoding, p, len, nn, &c->dense);
  }
  if (rc) return rc;
  f->rows += n;
  f->nulls += n - nn;
  if (f->has_def) f->valid.size = (size_t)(f->rows + 7) / 8;
  if (f->w > 0) f->data.size = (size_t)f->rows * (size_t)f->w;
  if (f->type == SL_TYPE_BOOL) f->data.size = (size_t)(f->rows + 7) / 8;
  if (f->type == SL_TYPE_UTF8) f->offs.size = (size_t)(f->rows + 1) * 4;
  return 0;
}

int pq_flat_finish(struct pq_flat *f, struct sl_array **out,
                   struct sl_error *err) {
  *out = NULL;
  struct sl_array *arr = NULL;
  int rc = sl_array_new(f->type, &arr);
  if (rc) goto oom;
  arr->length = f->rows;
  arr->null_count = f->type == SL_TYPE_NULL ? f->rows : f->nulls;
  if (f->type == SL_TYPE_NULL) {
    pq_flat_release(f);
    *out = arr;
    return 0;
  }
  if (f->nulls > 0) {
    if ((rc = pq_pool_wrap(f->pool, &f->valid, &arr->validity))) goto oom;
  } else {
    pq_pool_put(f->pool, &f->valid);
  }
  if (f->type == SL_TYPE_UTF8) {
    if (f->offs.size == 0) { /* no rows: one offset */
      if ((rc = pq_buf_reserve(&f->offs, 8))) goto oom;
      memset(f->offs.data, 0, 4);
      f->offs.size = 4;
    }
    if ((rc = pq_pool_wrap(f->pool, &f->offs, &arr->offsets))) goto oom;
  }
  if (f->type == SL_TYPE_BOOL || f->w > 0 || f->type == SL_TYPE_UTF8) {
    if ((rc = pq_pool_wrap(f->pool, &f->data, &arr->data))) goto oom;
  }
  *out = arr;
  return 0;
oom:
  pq_flat_release(f);
  sl_array_release(arr);
  return sl_error_set(err, SL_ENOMEM, "out of memory assembling a column");
}
