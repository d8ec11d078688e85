/* One column chunk of the writer: statistics, dictionary (with fallback to
 * PLAIN or DELTA_BINARY_PACKED), pages (v1 or v2), compression.
 *
 * Statistics follow parquet-cpp (pyarrow): signed order for numbers,
 * unsigned byte order for strings, false < true; NaN is ignored, a zero
 * minimum is written as -0.0 and a zero maximum as +0.0; values longer than
 * 4096 bytes drop min/max. Deprecated min/max fields are written for the
 * signed-order physical types only, as parquet-cpp does. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "io/parquet/pq.h"

#define MAX_STAT_BYTES 4096

void pq_chunk_out_release(struct pq_chunk_out *c) {
  pq_buf_release(&c->bytes);
  sl_free(c->stats_min);
  sl_free(c->stats_max);
  memset(c, 0, sizeof *c);
}

/* ---- statistics -------------------------------------------------------- */

static int sv_cmp(const struct pq_sv *a, const struct pq_sv *b) {
  int64_t n = a->n < b->n ? a->n : b->n;
  int c = n ? memcmp(a->p, b->p, (size_t)n) : 0;
  if (c) return c;
  return a->n < b->n ? -1 : a->n > b->n;
}

static int set_minmax(struct pq_chunk_out *o, const void *min, size_t min_n,
                      const void *max, size_t max_n) {
  if (min_n > MAX_STAT_BYTES || max_n > MAX_STAT_BYTES) return 0;
  o->stats_min = sl_malloc(min_n ? min_n : 1);
  o->stats_max = sl_malloc(max_n ? max_n : 1);
  if (!o->stats_min || !o->stats_max) return SL_ENOMEM;
  if (min_n) memcpy(o->stats_min, min, min_n);
  if (max_n) memcpy(o->stats_max, max, max_n);
  o->stats.min = o->stats_min;
  o->stats.max = o->stats_max;
  o->stats.min_len = (uint32_t)min_n;
  o->stats.max_len = (uint32_t)max_n;
  o->stats.has_minmax = true;
  return 0;
}

/* subset (when not NULL) lists the dense indices of the distinct strings
 * (a complete dictionary), so strings are compared once per entry. */
static int compute_stats(const struct pq_leaf *leaf, const struct pq_colbuf *cb,
                         const int64_t *subset, int64_t n_subset,
                         struct pq_chunk_out *o) {
  enum sl_type_id t = leaf->nodes[leaf->n_nodes - 1].type;
  o->stats.has_null_count = true;
  o->stats.null_count = cb->n_levels - cb->n_values;
  o->stats.deprecated_too = leaf->phys == PQ_INT32 || leaf->phys == PQ_INT64 ||
                            leaf->phys == PQ_DOUBLE;
  int64_t n = cb->n_values;
  if (n == 0 || t == SL_TYPE_NULL) return 0;
  const uint8_t *v = cb->values.data;
  switch (t) {
  case SL_TYPE_BOOL: {
    uint8_t mn = 1, mx = 0;
    for (int64_t i = 0; i < n; i++) {
      mn &= v[i];
      mx |= v[i];
    }
    return set_minmax(o, &mn, 1, &mx, 1);
  }
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32: {
    const int32_t *x = (const int32_t *)(const void *)v;
    int32_t mn = x[0], mx = x[0];
    for (int64_t i = 1; i < n; i++) {
      mn = x[i] < mn ? x[i] : mn;
      mx = x[i] > mx ? x[i] : mx;
    }
    return set_minmax(o, &mn, 4, &mx, 4);
  }
  case SL_TYPE_INT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US: {
    const int64_t *x = (const int64_t *)(const void *)v;
    int64_t mn = x[0], mx = x[0];
    for (int64_t i = 1; i < n; i++) {
      mn = x[i] < mn ? x[i] : mn;
      mx = x[i] > mx ? x[i] : mx;
    }
    return set_minmax(o, &mn, 8, &mx, 8);
  }
  case SL_TYPE_FLOAT64: {
    const double *x = (const double *)(const void *)v;
    double mn = INFINITY, mx = -INFINITY;
    bool any = false;
    for (int64_t i = 0; i < n; i++) {
      if (isnan(x[i])) continue;
      any = true;
      mn = x[i] < mn ? x[i] : mn;
      mx = x[i] > mx ? x[i] : mx;
    }
    if (!any) return 0;
    if (mn == 0.0) mn = -0.0;
    if (mx == 0.0) mx = 0.0;
    return set_minmax(o, &mn, 8, &mx, 8);
  }
  default: {
    const struct pq_sv *x = (const struct pq_sv *)(const void *)v;
    const struct pq_sv *mn = &x[0], *mx = &x[0];
    int64_t m = subset ? n_subset : n;
    for (int64_t k = 1; k < m; k++) {
      const struct pq_sv *y = &x[subset ? subset[k] : k];
      if (sv_cmp(y, mn) < 0) mn = y;
      if (sv_cmp(y, mx) > 0) mx = y;
    }
    return set_minmax(o, mn->p, (size_t)mn->n, mx->p, (size_t)mx->n);
  }
  }
}

/* ---- dictionary -------------------------------------------------------- */

struct dict {
  int32_t *slots; /* entry + 1; 0 = empty */
  uint64_t slots_cap;
  uint64_t mask;
  int32_t count;
  int64_t *first; /* dense value index of each entry */
  uint64_t *keys; /* per entry: the value's bits, or a string's hash */
  int64_t ecap;
  uint32_t *idx; /* per dense value */
  int64_t idx_cap;
  int64_t n_indexed; /* leading values that have an index */
};

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

static int dict_grow_entries(struct dict *d) {
  int64_t cap = d->ecap ? d->ecap * 2 : 1024;
  int64_t *f = sl_realloc(d->first, (size_t)cap * sizeof *f);
  if (!f) return -SL_ENOMEM;
  d->first = f;
  uint64_t *k = sl_realloc(d->keys, (size_t)cap * sizeof *k);
  if (!k) return -SL_ENOMEM;
  d->keys = k;
  d->ecap = cap;
  return 0;
}

static int dict_rehash(struct dict *d, bool strings) {
  uint64_t ncap = (d->mask + 1) * 2;
  int32_t *ns = sl_calloc(ncap, sizeof *ns);
  if (!ns) return -SL_ENOMEM;
  for (int32_t e = 0; e < d->count; e++) {
    uint64_t t = (strings ? d->keys[e] : mix64(d->keys[e])) & (ncap - 1);
    while (ns[t])
      t = (t + 1) & (ncap - 1);
    ns[t] = e + 1;
  }
  sl_free(d->slots);
  d->slots = ns;
  d->slots_cap = ncap;
  d->mask = ncap - 1;
  return 0;
}

/* Builds the dictionary until it would grow past the byte limit:
 * d->n_indexed leading values get an index (all of them when it fits), the
 * rest fall back, as parquet-cpp does. A column whose values hardly repeat
 * (more than 3/4 distinct among its first half, or among as many values as
 * half the entries the limit allows, at least 4096) gets no
 * dictionary at all: its entries plus the indexes would take as many bytes
 * as the plain values, and building it would cost the time of encoding
 * them twice (user ids, sums, ids of a GROUP BY result). Returns 0 or an
 * error code < 0. */
static int build_dict(const struct pq_colbuf *cb, bool strings, int w,
                      int64_t limit, struct dict *d) {
  int64_t n = cb->n_values;
  /* The table never needs more than twice the entries the byte limit
   * allows: keeping it small keeps the probes in cache. */
  uint64_t max_entries = (uint64_t)(limit / (strings ? 4 : w)) + 1;
  uint64_t want = (uint64_t)n < max_entries ? (uint64_t)n : max_entries;
  uint64_t cap = 1024;
  while (cap < want * 2 && cap < (1u << 22))
    cap *= 2;
  int rc;
  if (d->slots_cap < cap) {
    sl_free(d->slots);
    d->slots = sl_malloc(cap * sizeof *d->slots);
    d->slots_cap = d->slots ? cap : 0;
    if (!d->slots) return -SL_ENOMEM;
  }
  memset(d->slots, 0, cap * sizeof *d->slots);
  if (d->idx_cap < n || !d->idx) {
    sl_free(d->idx);
    d->idx = sl_malloc((size_t)(n ? n : 1) * sizeof *d->idx);
    d->idx_cap = d->idx ? n : 0;
    if (!d->idx) return -SL_ENOMEM;
  }
  if (!d->first && (rc = dict_grow_entries(d))) return rc;
  d->count = 0;
  d->mask = cap - 1;
  int64_t bytes = 0;
  const uint8_t *v = cb->values.data;
  const struct pq_sv *sv = (const struct pq_sv *)(const void *)v;
  int64_t probe = n / 2;
  if ((uint64_t)probe > max_entries / 2) probe = (int64_t)(max_entries / 2);
  if (probe < 4096) probe = 4096;
  for (int64_t i = 0; i < n; i++) {
    if (i == probe && d->count * 4 > probe * 3) {
      d->n_indexed = 0;
      return 0;
    }
    uint64_t key, s;
    int32_t e;
    if (strings) {
      key = XXH3_64bits(sv[i].p, (size_t)sv[i].n);
      s = key & d->mask;
      while ((e = d->slots[s]) != 0) {
        const struct pq_sv *o = &sv[d->first[e - 1]];
        if (d->keys[e - 1] == key && o->n == sv[i].n &&
            memcmp(o->p, sv[i].p, (size_t)o->n) == 0)
          break;
        s = (s + 1) & d->mask;
      }
    } else {
      key = 0;
      memcpy(&key, v + (size_t)i * (size_t)w, (size_t)w);
      s = mix64(key) & d->mask;
      while ((e = d->slots[s]) != 0 && d->keys[e - 1] != key)
        s = (s + 1) & d->mask;
    }
    if (e == 0) {
      bytes += strings ? 4 + sv[i].n : w;
      if (bytes > limit) {
        d->n_indexed = i;
        return 0;
      }
      if (d->count == d->ecap && (rc = dict_grow_entries(d))) return rc;
      d->first[d->count] = i;
      d->keys[d->count] = key;
      e = ++d->count;
      d->slots[s] = e;
      if ((uint64_t)d->count * 2 > d->mask && (rc = dict_rehash(d, strings)))
        return rc;
    }
    d->idx[i] = (uint32_t)(e - 1);
  }
  d->n_indexed = n;
  return 0;
}

void pq_scratch_release(struct pq_scratch *s) {
  if (!s) return;
  pq_colbuf_release(&s->cb);
  pq_buf_release(&s->page);
  pq_buf_release(&s->comp);
  pq_buf_release(&s->hdr);
  sl_free(s->keys);
  sl_free(s->slots);
  sl_free(s->first);
  sl_free(s->idx);
  memset(s, 0, sizeof *s);
}

/* ---- pages ------------------------------------------------------------- */

struct enc {
  const struct pq_leaf *leaf;
  const struct pq_colbuf *cb;
  const struct pq_write_cfg *cfg;
  struct pq_chunk_out *o;
  struct pq_buf page, comp, hdr;
  enum sl_type_id type;
  const struct dict *dict;
  int dict_bw;
};

/* Plain encoding of dense values [v0, v1), or of dictionary entries when
 * first != NULL (v0..v1 index first[]). */
static int plain_values(struct enc *e, int64_t v0, int64_t v1,
                        const int64_t *first, struct pq_buf *out) {
  const struct pq_colbuf *cb = e->cb;
  int w = cb->width;
  int64_t n = v1 - v0;
  int rc;
  if (e->type == SL_TYPE_NULL) return 0;
  if (e->type == SL_TYPE_BOOL) {
    size_t bytes = (size_t)(n + 7) / 8;
    if ((rc = pq_buf_reserve(out, bytes))) return rc;
    uint8_t *p = out->data + out->size;
    memset(p, 0, bytes);
    for (int64_t i = 0; i < n; i++)
      if (cb->values.data[first ? first[v0 + i] : v0 + i])
        p[i >> 3] |= (uint8_t)(1u << (i & 7));
    out->size += bytes;
    return 0;
  }
  if (w == 4 || w == 8) {
    if (!first)
      return pq_buf_append(out, cb->values.data + (size_t)v0 * (size_t)w,
                           (size_t)n * (size_t)w);
    if ((rc = pq_buf_reserve(out, (size_t)n * (size_t)w))) return rc;
    for (int64_t i = 0; i < n; i++)
      memcpy(out->data + out->size + (size_t)i * (size_t)w,
             cb->values.data + (size_t)first[v0 + i] * (size_t)w, (size_t)w);
    out->size += (size_t)n * (size_t)w;
    return 0;
  }
  const struct pq_sv *sv = (const struct pq_sv *)(const void *)cb->values.data;
  int64_t bytes = 0;
  for (int64_t i = v0; i < v1; i++)
    bytes += 4 + sv[first ? first[i] : i].n;
  if ((rc = pq_buf_reserve(out, (size_t)bytes))) return rc;
  uint8_t *p = out->data + out->size;
  for (int64_t i = v0; i < v1; i++) {
    const struct pq_sv *s = &sv[first ? first[i] : i];
    pq_put_u32le(p, (uint32_t)s->n);
    if (s->n) memcpy(p + 4, s->p, (size_t)s->n);
    p += 4 + s->n;
  }
  out->size += (size_t)bytes;
  return 0;
}

static int write_page(struct enc *e, struct pq_page_header *h,
                      struct pq_buf *body, size_t levels_len,
                      struct sl_error *err) {
  /* body holds [levels][values]; v1 compresses all, v2 only the values. */
  e->comp.size = 0;
  int rc;
  size_t lv = h->type == PQ_PAGE_DATA_V2 ? levels_len : 0;
  if (lv && (rc = pq_buf_append(&e->comp, body->data, lv)))
    return sl_error_set(err, rc, "out of memory");
  if ((rc = pq_compress(e->cfg->codec, e->cfg->level, body->data + lv,
                        body->size - lv, &e->comp, err)))
    return rc;
  if (body->size > INT32_MAX || e->comp.size > INT32_MAX)
    return sl_error_set(err, SL_ERANGE, "page larger than 2 GiB");
  h->uncompressed_size = (int32_t)body->size;
  h->compressed_size = (int32_t)e->comp.size;
  e->hdr.size = 0;
  if ((rc = pq_page_header_encode(h, NULL, false, &e->hdr)))
    return sl_error_set(err, rc, "out of memory");
  struct pq_chunk_out *o = e->o;
  if ((rc = pq_buf_append(&o->bytes, e->hdr.data, e->hdr.size)) ||
      (rc = pq_buf_append(&o->bytes, e->comp.data, e->comp.size)))
    return sl_error_set(err, rc, "out of memory");
  o->total_uncompressed += (int64_t)(e->hdr.size + body->size);
  o->total_compressed += (int64_t)(e->hdr.size + e->comp.size);
  return 0;
}

static int encode_levels(struct enc *e, const uint16_t *lv, int64_t n, int max,
                         struct pq_buf *out) {
  int bw = pq_bit_width((uint64_t)max);
  int rc;
  if (e->cfg->page_version == 2) return pq_rle_encode_u16(lv, n, bw, out);
  size_t at = out->size;
  if ((rc = pq_buf_append(out, "\0\0\0\0", 4))) return rc;
  if ((rc = pq_rle_encode_u16(lv, n, bw, out))) return rc;
  pq_put_u32le(out->data + at, (uint32_t)(out->size - at - 4));
  return 0;
}

static int data_page(struct enc *e, int enc, int64_t l0, int64_t l1, int64_t v0,
                     int64_t v1, int64_t rows, struct sl_error *err) {
  const struct pq_colbuf *cb = e->cb;
  const struct pq_leaf *leaf = e->leaf;
  struct pq_buf *b = &e->page;
  b->size = 0;
  int rc = 0;
  struct pq_page_header h;
  memset(&h, 0, sizeof h);
  h.type = e->cfg->page_version == 2 ? PQ_PAGE_DATA_V2 : PQ_PAGE_DATA;
  h.num_values = (int32_t)(l1 - l0);
  h.encoding = enc;
  h.num_nulls = (int32_t)((l1 - l0) - (v1 - v0));
  h.num_rows = (int32_t)rows;
  h.is_compressed = e->cfg->codec != PQ_CODEC_UNCOMPRESSED;
  size_t before = 0;
  if (leaf->max_rep > 0) {
    if ((rc = encode_levels(e, cb->rep + l0, l1 - l0, leaf->max_rep, b)))
      goto oom;
    h.rep_len = (int32_t)(b->size - before);
    before = b->size;
  }
  if (leaf->max_def > 0) {
    if ((rc = encode_levels(e, cb->def + l0, l1 - l0, leaf->max_def, b)))
      goto oom;
    h.def_len = (int32_t)(b->size - before);
  }
  size_t levels_len = b->size;
  if (enc == PQ_ENC_RLE_DICTIONARY) {
    uint8_t bw = (uint8_t)e->dict_bw;
    if ((rc = pq_buf_append(b, &bw, 1))) goto oom;
    if ((rc = pq_rle_encode_u32(e->dict->idx + v0, v1 - v0, bw, b))) goto oom;
  } else if (enc == PQ_ENC_DELTA_BINARY_PACKED) {
    const uint8_t *p = cb->values.data + (size_t)v0 * (size_t)cb->width;
    rc =
        cb->width == 4
            ? pq_delta_encode_i32((const int32_t *)(const void *)p, v1 - v0, b)
            : pq_delta_encode_i64((const int64_t *)(const void *)p, v1 - v0, b);
    if (rc) goto oom;
  } else {
    if ((rc = plain_values(e, v0, v1, NULL, b))) goto oom;
  }
  if (enc >= 0 && enc < 10) e->o->data_pages[enc]++;
  return write_page(e, &h, b, levels_len, err);
oom:
  return sl_error_set(err, rc, "out of memory encoding a page");
}

static int64_t value_cost(const struct enc *e, int enc, int64_t v) {
  if (enc == PQ_ENC_RLE_DICTIONARY) return e->dict_bw + 1;
  if (e->type == SL_TYPE_BOOL) return 1;
  if (e->cb->width == 4) return 32;
  if (e->cb->width == 8) return 64;
  const struct pq_sv *sv =
      (const struct pq_sv *)(const void *)e->cb->values.data;
  return (4 + sv[v].n) * 8;
}

int pq_column_encode(const struct pq_leaf *leaf,
                     struct sl_batch *const *batches, int32_t n_batches,
                     const struct pq_write_cfg *cfg, struct pq_scratch *scratch,
                     struct pq_chunk_out *o, struct sl_error *err) {
  struct pq_scratch local;
  if (!scratch) {
    memset(&local, 0, sizeof local);
    scratch = &local;
  }
  struct pq_colbuf cb = scratch->cb;
  pq_colbuf_reset(&cb, leaf);
  struct dict dict = {.slots = scratch->slots,
                      .slots_cap = scratch->slots_cap,
                      .first = scratch->first,
                      .keys = scratch->keys,
                      .ecap = scratch->ecap,
                      .idx = scratch->idx,
                      .idx_cap = scratch->idx_cap};
  struct enc e;
  memset(&e, 0, sizeof e);
  e.page = scratch->page;
  e.comp = scratch->comp;
  e.hdr = scratch->hdr;
  struct pq_buf keep = o->bytes;
  memset(o, 0, sizeof *o);
  o->bytes = keep;
  o->bytes.size = 0;
  o->dict_offset = -1;
  int rc = 0;
  for (int32_t i = 0; i < n_batches && !rc; i++)
    rc = pq_shred(leaf, batches[i]->columns[leaf->top], &cb);
  if (rc == SL_EINVAL) {
    char path[256] = "";
    size_t at = 0;
    for (int32_t k = 0; k < leaf->n_path && at + 2 < sizeof path; k++)
      at += (size_t)snprintf(path + at, sizeof path - at, "%s%s", k ? "." : "",
                             leaf->path[k]);
    rc = sl_error_set(err, SL_EINVAL,
                      "column '%s': the file's schema declares it (or a "
                      "parent) non-nullable, but the batch has nulls",
                      path);
    goto cleanup;
  }
  if (rc) {
    rc = sl_error_set(err, rc, "out of memory collecting column values");
    goto cleanup;
  }
  {
    /* Room for the chunk's pages at about their plain size, taken once:
     * growing by doubling copied each chunk twice over into fresh pages.
     * Pages the chunk does not fill are never touched. */
    size_t guess = cb.width == (int)sizeof(struct pq_sv)
                       ? (size_t)(cb.string_bytes + 4 * cb.n_values)
                       : cb.values.size;
    guess += (size_t)cb.n_levels / 2 + 4096;
    if ((rc = pq_buf_reserve(&o->bytes, guess))) {
      rc = sl_error_set(err, rc, "out of memory");
      goto cleanup;
    }
  }
  if (cb.n_levels > INT32_MAX) {
    rc =
        sl_error_set(err, SL_ERANGE, "column chunk of %lld values is too large",
                     (long long)cb.n_levels);
    goto cleanup;
  }
  e.leaf = leaf;
  e.cb = &cb;
  e.cfg = cfg;
  e.o = o;
  e.type = leaf->nodes[leaf->n_nodes - 1].type;
  o->num_values = cb.n_levels;
  bool is_int = leaf->phys == PQ_INT32 || leaf->phys == PQ_INT64;
  /* Encoding of values without (or past) the dictionary. */
  int plain_enc = cfg->delta_integers && is_int && e.type != SL_TYPE_NULL
                      ? PQ_ENC_DELTA_BINARY_PACKED
                      : PQ_ENC_PLAIN;
  int64_t n = cb.n_levels;
  int16_t max_def = leaf->max_def;
  /* Levels before switch_l are dictionary encoded, the rest plain; the
   * switch falls on a record boundary with every earlier value indexed. */
  int64_t switch_l = 0;
  if (cfg->dictionary && e.type != SL_TYPE_BOOL && e.type != SL_TYPE_NULL &&
      cb.n_values > 0) {
    bool strings = leaf->phys == PQ_BYTE_ARRAY;
    int d = build_dict(&cb, strings, cb.width, cfg->dictionary_bytes, &dict);
    if (d < 0) {
      rc = sl_error_set(err, -d, "out of memory building a dictionary");
      goto cleanup;
    }
    if (dict.n_indexed == cb.n_values) {
      switch_l = n;
    } else {
      int64_t v = 0;
      for (int64_t l = 0; l < n; l++) {
        if (!cb.rep || cb.rep[l] == 0) {
          if (v > dict.n_indexed) break;
          switch_l = l;
        }
        if (!cb.def || cb.def[l] == max_def) v++;
      }
    }
    if (switch_l > 0) {
      e.dict = &dict;
      e.dict_bw = pq_bit_width((uint64_t)(dict.count - 1));
      if (e.dict_bw == 0) e.dict_bw = 1; /* some readers reject width 0 */
      struct pq_page_header h;
      memset(&h, 0, sizeof h);
      h.type = PQ_PAGE_DICTIONARY;
      h.num_values = dict.count;
      h.encoding = PQ_ENC_PLAIN;
      e.page.size = 0;
      if ((rc = plain_values(&e, 0, dict.count, dict.first, &e.page))) {
        rc = sl_error_set(err, rc, "out of memory");
        goto cleanup;
      }
      o->dict_offset = 0;
      o->encodings |= 1u << PQ_ENC_PLAIN | 1u << PQ_ENC_RLE_DICTIONARY;
      o->dict_pages = 1;
      if ((rc = write_page(&e, &h, &e.page, 0, err))) goto cleanup;
    }
  }
  if (cfg->statistics) {
    bool whole = dict.first && dict.n_indexed == cb.n_values;
    if ((rc = compute_stats(leaf, &cb, whole ? dict.first : NULL,
                            whole ? dict.count : 0, o))) {
      rc = sl_error_set(err, rc, "out of memory");
      goto cleanup;
    }
  }
  o->data_offset = (int64_t)o->bytes.size;
  if (switch_l < n || n == 0) o->encodings |= 1u << plain_enc;
  o->encodings |= 1u << PQ_ENC_RLE;
  /* Cut pages at record boundaries once their estimated size reaches
   * page_bytes, and where the dictionary ends. */
  int64_t budget = cfg->page_bytes * 8; /* in bits */
  int64_t l0 = 0, v0 = 0, v = 0, rows = 0, cost = 0;
  int enc = switch_l > 0 ? PQ_ENC_RLE_DICTIONARY : plain_enc;
  /* A flat column whose values all cost the same and whose fullest page of
   * page_rows rows stays under the budget is cut every page_rows rows (and
   * at the switch) without weighing each value: the loop below would cut
   * it at the same places. */
  bool fixed = leaf->phys != PQ_BYTE_ARRAY || switch_l == n;
  int64_t most = 2 + (switch_l > 0 ? e.dict_bw + 1 : 0);
  if (fixed && switch_l < n) {
    int64_t pc = value_cost(&e, plain_enc, 0);
    most = most > 2 + pc ? most : 2 + pc;
  }
  if (!cb.rep && fixed && e.type != SL_TYPE_NULL && n > 0 &&
      most * cfg->page_rows < budget) {
    while (l0 < n) {
      int64_t l1 = l0 + cfg->page_rows < n ? l0 + cfg->page_rows : n;
      if (l0 < switch_l && l1 > switch_l) l1 = switch_l;
      int64_t nv = l1 - l0;
      if (cb.def) {
        nv = 0;
        for (int64_t l = l0; l < l1; l++)
          nv += cb.def[l] == max_def;
      }
      int pe = l0 < switch_l ? PQ_ENC_RLE_DICTIONARY : plain_enc;
      if ((rc = data_page(&e, pe, l0, l1, v0, v0 + nv, l1 - l0, err)))
        goto cleanup;
      l0 = l1;
      v0 += nv;
    }
    goto cleanup;
  }
  for (int64_t l = 0; l < n; l++) {
    bool starts_row = !cb.rep || cb.rep[l] == 0;
    if (starts_row && l > l0 &&
        (cost >= budget || rows >= cfg->page_rows || l == switch_l)) {
      if ((rc = data_page(&e, enc, l0, l, v0, v, rows, err))) goto cleanup;
      l0 = l;
      v0 = v;
      rows = 0;
      cost = 0;
    }
    if (l == switch_l) enc = plain_enc;
    rows += starts_row;
    if (!cb.def || cb.def[l] == max_def) {
      if (e.type != SL_TYPE_NULL) {
        cost += value_cost(&e, enc, v);
        v++;
      }
    }
    cost += 2;
  }
  if (n > l0 || n == 0) {
    if ((rc = data_page(&e, enc, l0, n, v0, v, rows, err))) goto cleanup;
  }
cleanup:
  if (rc) pq_chunk_out_release(o);
  scratch->cb = cb;
  scratch->page = e.page;
  scratch->comp = e.comp;
  scratch->hdr = e.hdr;
  scratch->slots = dict.slots;
  scratch->slots_cap = dict.slots_cap;
  scratch->first = dict.first;
  scratch->keys = dict.keys;
  scratch->ecap = dict.ecap;
  scratch->idx = dict.idx;
  scratch->idx_cap = dict.idx_cap;
  if (scratch == &local) pq_scratch_release(&local);
  return rc;
}
