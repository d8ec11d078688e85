/* Reader side: the pages of one column chunk, decompressed and decoded into
 * levels and dense values in the sluice type's layout.
 *
 * Every size, count and offset read from the file is checked against the
 * bytes that are really there and against the reader's limits before it is
 * used for arithmetic or allocation. */
#include <string.h>

#include "io/parquet/pq.h"

void pq_values_release(struct pq_values *v) {
  pq_buf_release(&v->data);
  pq_buf_release(&v->offs);
  v->n = 0;
}

void pq_chunk_data_release(struct pq_chunk_data *c) {
  sl_free(c->def);
  sl_free(c->rep);
  pq_values_release(&c->v);
  memset(c, 0, sizeof *c);
}

#define BAD(...) sl_error_set(c->err, SL_EINVAL, __VA_ARGS__)
#define OOM() sl_error_set(c->err, SL_ENOMEM, "out of memory decoding a page")

/* Bytes per value of the decoded column: bools are decoded one a byte
 * first, fixed-width types as Arrow stores them, 0 for the rest. */
static int target_width(enum sl_type_id t) {
  return t == SL_TYPE_BOOL ? 1 : sl_type_width(t);
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Converts n physical fixed-width values at src into the sluice layout. */
static int convert_fixed(struct pq_page_ctx *c, const uint8_t *src, int64_t n,
                         struct pq_values *out) {
  if (c->type == SL_TYPE_NULL) {
    out->n += n;
    return 0;
  }
  if (pq_buf_reserve(&out->data, (size_t)n * (size_t)c->w)) return OOM();
  uint8_t *dst = out->data.data + out->data.size;
  int phys = c->leaf->phys;
  switch (c->leaf->conv) {
  case PQ_CONV_U32_TO_I64:
    for (int64_t i = 0; i < n; i++) {
      uint32_t x;
      memcpy(&x, src + 4 * i, 4);
      int64_t y = x;
      memcpy(dst + 8 * i, &y, 8);
    }
    break;
  case PQ_CONV_NANOS_TO_US:
    for (int64_t i = 0; i < n; i++) {
      int64_t x;
      memcpy(&x, src + 8 * i, 8);
      x = floor_div(x, 1000);
      memcpy(dst + 8 * i, &x, 8);
    }
    break;
  case PQ_CONV_INT96_TO_US:
    for (int64_t i = 0; i < n; i++) {
      int64_t nanos;
      int32_t jd;
      memcpy(&nanos, src + 12 * i, 8);
      memcpy(&jd, src + 12 * i + 8, 4);
      int64_t us =
          ((int64_t)jd - 2440588) * 86400000000LL + floor_div(nanos, 1000);
      memcpy(dst + 8 * i, &us, 8);
    }
    break;
  case PQ_CONV_FLOAT_TO_F64:
    for (int64_t i = 0; i < n; i++) {
      float x;
      memcpy(&x, src + 4 * i, 4);
      double y = x;
      memcpy(dst + 8 * i, &y, 8);
    }
    break;
  default:
    if (phys == PQ_BOOLEAN) return BAD("internal: boolean through convert");
    memcpy(dst, src, (size_t)n * (size_t)c->w);
  }
  out->data.size += (size_t)n * (size_t)c->w;
  out->n += n;
  return 0;
}

static int phys_width(int phys) {
  switch (phys) {
  case PQ_INT32:
  case PQ_FLOAT: return 4;
  case PQ_INT64:
  case PQ_DOUBLE: return 8;
  case PQ_INT96: return 12;
  default: return 0;
  }
}

static int append_string(struct pq_page_ctx *c, struct pq_values *out,
                         const uint8_t *s, size_t n) {
  if (out->offs.size == 0) {
    int64_t zero = 0;
    if (pq_buf_append(&out->offs, &zero, 8)) return OOM();
  }
  if (pq_buf_append(&out->data, s, n)) return OOM();
  int64_t end = (int64_t)out->data.size;
  if (pq_buf_append(&out->offs, &end, 8)) return OOM();
  out->n++;
  return 0;
}

static int decode_plain(struct pq_page_ctx *c, const uint8_t *p, size_t len,
                        int64_t n, struct pq_values *out) {
  int phys = c->leaf->phys;
  if (phys == PQ_BOOLEAN) {
    if ((uint64_t)(n + 7) / 8 > len)
      return BAD("PLAIN booleans: %lld values need %lld bytes, page has %zu",
                 (long long)n, (long long)((n + 7) / 8), len);
    if (pq_buf_reserve(&out->data, (size_t)n)) return OOM();
    uint8_t *d = out->data.data + out->data.size;
    for (int64_t i = 0; i < n; i++)
      d[i] = (p[i >> 3] >> (i & 7)) & 1;
    out->data.size += (size_t)n;
    out->n += n;
    return 0;
  }
  if (phys == PQ_BYTE_ARRAY) {
    size_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
      if (len - pos < 4)
        return BAD("PLAIN strings: value %lld of %lld runs past the page",
                   (long long)i, (long long)n);
      uint32_t l = pq_get_u32le(p + pos);
      pos += 4;
      if (l > len - pos)
        return BAD("PLAIN strings: value %lld has length %u, %zu bytes left",
                   (long long)i, l, len - pos);
      int rc = append_string(c, out, p + pos, l);
      if (rc) return rc;
      pos += l;
    }
    return 0;
  }
  int pw = phys_width(phys);
  if (pw == 0) return BAD("PLAIN: unsupported physical type %d", phys);
  if ((uint64_t)n > len / (size_t)pw)
    return BAD("PLAIN: %lld values of %d bytes need more than the %zu bytes "
               "in the page",
               (long long)n, pw, len);
  return convert_fixed(c, p, n, out);
}

static int decode_dict_indices(struct pq_page_ctx *c, const uint8_t *p,
                               size_t len, int64_t n, struct pq_values *out) {
  if (!c->has_dict)
    return BAD("dictionary-encoded page without a dictionary page");
  if (n == 0) return 0;
  if (len < 1) return BAD("dictionary page data is empty");
  int bw = p[0];
  if (c->dict.n == 0)
    return BAD("dictionary-encoded values but an empty dictionary");
  c->tmp.size = 0;
  if (pq_buf_reserve(&c->tmp, (size_t)n * 4)) return OOM();
  uint32_t *idx = (uint32_t *)(void *)c->tmp.data;
  int rc = pq_rle_decode_u32(
      p + 1, len - 1, bw, idx, n,
      (uint32_t)(c->dict.n > UINT32_MAX ? UINT32_MAX : c->dict.n), c->err);
  if (rc) return sl_error_prefix(c->err, "dictionary indices: ");
  if (c->strings) {
    const int64_t *o = (const int64_t *)(const void *)c->dict.offs.data;
    size_t total = 0;
    for (int64_t i = 0; i < n; i++)
      total += (size_t)(o[idx[i] + 1] - o[idx[i]]);
    if (out->offs.size == 0) {
      int64_t zero = 0;
      if (pq_buf_append(&out->offs, &zero, 8)) return OOM();
    }
    if (pq_buf_reserve(&out->data, total) ||
        pq_buf_reserve(&out->offs, (size_t)n * 8))
      return OOM();
    uint8_t *dst = out->data.data + out->data.size;
    int64_t *offs = (int64_t *)(void *)(out->offs.data + out->offs.size);
    int64_t at = (int64_t)out->data.size;
    const uint8_t *src = c->dict.data.data;
    for (int64_t i = 0; i < n; i++) {
      int64_t b = o[idx[i]], sl = o[idx[i] + 1] - b;
      memcpy(dst, src + b, (size_t)sl);
      dst += sl;
      at += sl;
      offs[i] = at;
    }
    out->data.size += total;
    out->offs.size += (size_t)n * 8;
    out->n += n;
    return 0;
  }
  if (c->type == SL_TYPE_NULL) {
    out->n += n;
    return 0;
  }
  int w = c->w;
  if (pq_buf_reserve(&out->data, (size_t)n * (size_t)w)) return OOM();
  uint8_t *d = out->data.data + out->data.size;
  if (w == 8) {
    const uint64_t *src = (const uint64_t *)(const void *)c->dict.data.data;
    for (int64_t i = 0; i < n; i++)
      memcpy(d + 8 * i, &src[idx[i]], 8);
  } else {
    for (int64_t i = 0; i < n; i++)
      memcpy(d + (size_t)w * (size_t)i, c->dict.data.data + (size_t)w * idx[i],
             (size_t)w);
  }
  out->data.size += (size_t)n * (size_t)w;
  out->n += n;
  return 0;
}

static int decode_delta(struct pq_page_ctx *c, const uint8_t *p, size_t len,
                        int64_t n, struct pq_values *out) {
  int phys = c->leaf->phys;
  if (phys != PQ_INT32 && phys != PQ_INT64)
    return BAD("DELTA_BINARY_PACKED on a non-integer column");
  int pw = phys == PQ_INT32 ? 4 : 8;
  c->tmp.size = 0;
  if (pq_buf_reserve(&c->tmp, (size_t)(n ? n : 1) * (size_t)pw)) return OOM();
  int rc = pw == 4 ? pq_delta_decode_i32(p, len, (int32_t *)(void *)c->tmp.data,
                                         n, NULL, c->err)
                   : pq_delta_decode_i64(p, len, (int64_t *)(void *)c->tmp.data,
                                         n, NULL, c->err);
  if (rc) return rc;
  return convert_fixed(c, c->tmp.data, n, out);
}

static int decode_delta_strings(struct pq_page_ctx *c, const uint8_t *p,
                                size_t len, int64_t n, bool with_prefix,
                                struct pq_values *out) {
  if (!c->strings) return BAD("DELTA string encoding on a non-string column");
  c->tmp.size = 0;
  if (pq_buf_reserve(&c->tmp, (size_t)(n ? n : 1) * 8)) return OOM();
  int32_t *pre = (int32_t *)(void *)c->tmp.data;
  int32_t *suf = pre + n;
  size_t used = 0, pos = 0;
  int rc;
  if (with_prefix) {
    if ((rc = pq_delta_decode_i32(p, len, pre, n, &used, c->err))) return rc;
    pos += used;
  } else {
    memset(pre, 0, (size_t)n * 4);
  }
  if ((rc = pq_delta_decode_i32(p + pos, len - pos, suf, n, &used, c->err)))
    return rc;
  pos += used;
  int64_t prev_b = 0, prev_e = 0;
  for (int64_t i = 0; i < n; i++) {
    if (pre[i] < 0 || suf[i] < 0 || pre[i] > prev_e - prev_b ||
        (size_t)suf[i] > len - pos)
      return BAD("DELTA string value %lld: prefix %d / suffix %d out of range",
                 (long long)i, pre[i], suf[i]);
    if (out->offs.size == 0) {
      int64_t zero = 0;
      if (pq_buf_append(&out->offs, &zero, 8)) return OOM();
    }
    int64_t start = (int64_t)out->data.size;
    if (pq_buf_reserve(&out->data, (size_t)pre[i] + (size_t)suf[i]))
      return OOM();
    if (pre[i])
      memcpy(out->data.data + out->data.size, out->data.data + prev_b,
             (size_t)pre[i]);
    out->data.size += (size_t)pre[i];
    if (pq_buf_append(&out->data, p + pos, (size_t)suf[i])) return OOM();
    pos += (size_t)suf[i];
    int64_t end = (int64_t)out->data.size;
    if (pq_buf_append(&out->offs, &end, 8)) return OOM();
    out->n++;
    prev_b = start;
    prev_e = end;
  }
  return 0;
}

static int decode_byte_stream_split(struct pq_page_ctx *c, const uint8_t *p,
                                    size_t len, int64_t n,
                                    struct pq_values *out) {
  int pw = phys_width(c->leaf->phys);
  if (pw != 4 && pw != 8)
    return BAD("BYTE_STREAM_SPLIT on an unsupported type");
  if ((uint64_t)n > len / (size_t)pw)
    return BAD("BYTE_STREAM_SPLIT: page too short for %lld values",
               (long long)n);
  c->tmp.size = 0;
  if (pq_buf_reserve(&c->tmp, (size_t)(n ? n : 1) * (size_t)pw)) return OOM();
  for (int64_t i = 0; i < n; i++)
    for (int k = 0; k < pw; k++)
      c->tmp.data[(size_t)i * (size_t)pw + (size_t)k] =
          p[(size_t)k * (size_t)n + (size_t)i];
  return convert_fixed(c, c->tmp.data, n, out);
}

static int decode_rle_bool(struct pq_page_ctx *c, const uint8_t *p, size_t len,
                           int64_t n, struct pq_values *out) {
  if (c->leaf->phys != PQ_BOOLEAN)
    return BAD("RLE values on a non-boolean column");
  if (len < 4) return BAD("RLE booleans without a length prefix");
  uint32_t l = pq_get_u32le(p);
  if (l > len - 4) return BAD("RLE booleans: length %u past the page", l);
  c->tmp.size = 0;
  if (pq_buf_reserve(&c->tmp, (size_t)(n ? n : 1) * 2)) return OOM();
  uint16_t *v = (uint16_t *)(void *)c->tmp.data;
  int rc = pq_rle_decode_u16(p + 4, l, 1, v, n, 0, c->err);
  if (rc) return rc;
  if (pq_buf_reserve(&out->data, (size_t)n)) return OOM();
  for (int64_t i = 0; i < n; i++)
    out->data.data[out->data.size + (size_t)i] = (uint8_t)v[i];
  out->data.size += (size_t)n;
  out->n += n;
  return 0;
}

int pq_decode_values(struct pq_page_ctx *c, int enc, const uint8_t *p,
                     size_t len, int64_t n, struct pq_values *out) {
  switch (enc) {
  case PQ_ENC_PLAIN: return decode_plain(c, p, len, n, out);
  case PQ_ENC_PLAIN_DICTIONARY:
  case PQ_ENC_RLE_DICTIONARY: return decode_dict_indices(c, p, len, n, out);
  case PQ_ENC_DELTA_BINARY_PACKED: return decode_delta(c, p, len, n, out);
  case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
    return decode_delta_strings(c, p, len, n, false, out);
  case PQ_ENC_DELTA_BYTE_ARRAY:
    return decode_delta_strings(c, p, len, n, true, out);
  case PQ_ENC_BYTE_STREAM_SPLIT:
    return decode_byte_stream_split(c, p, len, n, out);
  case PQ_ENC_RLE: return decode_rle_bool(c, p, len, n, out);
  default:
    return sl_error_set(c->err, SL_ENOTSUP,
                        "value encoding %d is not supported", enc);
  }
}

static int grow_levels(struct pq_page_ctx *c, struct pq_chunk_data *d,
                       int64_t n) {
  if (d->cap_levels > 0 && d->cap_levels - d->n_levels >= n) return 0;
  int64_t cap = d->cap_levels ? d->cap_levels : 1024;
  while (cap - d->n_levels < n)
    cap *= 2;
  if (c->leaf->max_def > 0) {
    uint16_t *p = sl_realloc(d->def, (size_t)cap * 2);
    if (!p) return OOM();
    d->def = p;
  }
  if (c->leaf->max_rep > 0) {
    uint16_t *p = sl_realloc(d->rep, (size_t)cap * 2);
    if (!p) return OOM();
    d->rep = p;
  }
  d->cap_levels = cap;
  return 0;
}

static int levels(struct pq_page_ctx *c, const uint8_t **p, size_t *len,
                  bool v1, size_t v2_len, int max, uint16_t *out, int64_t n,
                  const char *what) {
  size_t l;
  if (v1) {
    if (*len < 4) return BAD("%s levels: missing length prefix", what);
    l = pq_get_u32le(*p);
    *p += 4;
    *len -= 4;
  } else {
    l = v2_len;
  }
  if (l > *len)
    return BAD("%s levels: %zu bytes declared, %zu in the page", what, l, *len);
  int rc = pq_rle_decode_u16(*p, l, pq_bit_width((uint64_t)max), out, n,
                             (uint32_t)max + 1, c->err);
  if (rc) return sl_error_prefix(c->err, "%s levels: ", what);
  *p += l;
  *len -= l;
  return 0;
}

static int data_page(struct pq_page_ctx *c, const struct pq_page_header *h,
                     const uint8_t *body, int codec, struct pq_chunk_data *d) {
  const struct pq_leaf *leaf = c->leaf;
  int64_t n = h->num_values;
  bool v2 = h->type == PQ_PAGE_DATA_V2;
  if (!v2 && !h->has_data) return BAD("data page without its header");
  if (v2 && !h->has_v2) return BAD("data page v2 without its header");
  int64_t done = c->flat ? c->flat->rows : d->n_levels;
  if (done - c->first_level + n > c->lim->max_chunk_values)
    return BAD("column chunk holds more than %lld values (limit)",
               (long long)c->lim->max_chunk_values);
  if (h->uncompressed_size > c->lim->max_page_bytes)
    return BAD("page of %d bytes exceeds the %lld byte limit",
               h->uncompressed_size, (long long)c->lim->max_page_bytes);
  const uint8_t *p;
  size_t len;
  int rc;
  size_t lv_len = 0;
  c->page.size = 0;
  if (v2) {
    lv_len = (size_t)h->def_len + (size_t)h->rep_len;
    if (lv_len > (size_t)h->compressed_size ||
        lv_len > (size_t)h->uncompressed_size)
      return BAD("v2 page: level bytes %zu exceed the page size", lv_len);
    size_t want = (size_t)h->uncompressed_size;
    if (pq_buf_reserve(&c->page, want + 1)) return OOM();
    memcpy(c->page.data, body, lv_len);
    if (h->is_compressed && codec != PQ_CODEC_UNCOMPRESSED) {
      if ((rc = pq_decompress_with(c->codec, codec, body + lv_len,
                                   (size_t)h->compressed_size - lv_len,
                                   c->page.data + lv_len, want - lv_len,
                                   c->err)))
        return rc;
    } else {
      if (want != (size_t)h->compressed_size)
        return BAD("uncompressed v2 page: sizes %d and %d differ",
                   h->uncompressed_size, h->compressed_size);
      memcpy(c->page.data + lv_len, body + lv_len, want - lv_len);
    }
    c->page.size = want;
  } else {
    if (pq_buf_reserve(&c->page, (size_t)h->uncompressed_size + 1))
      return OOM();
    if ((rc = pq_decompress_with(c->codec, codec, body,
                                 (size_t)h->compressed_size, c->page.data,
                                 (size_t)h->uncompressed_size, c->err)))
      return rc;
    c->page.size = (size_t)h->uncompressed_size;
  }
  p = c->page.data;
  len = c->page.size;
  if (c->flat) return pq_flat_page(c, h, p, len, c->flat);
  if ((rc = grow_levels(c, d, n))) return rc;
  if (leaf->max_rep > 0) {
    size_t l2 = (size_t)h->rep_len;
    if ((rc = levels(c, &p, &len, !v2, l2, leaf->max_rep, d->rep + d->n_levels,
                     n, "repetition")))
      return rc;
  } else if (v2) {
    p += h->rep_len;
    len -= (size_t)h->rep_len;
  }
  int64_t nonnull = n;
  if (leaf->max_def > 0) {
    if ((rc = levels(c, &p, &len, !v2, (size_t)h->def_len, leaf->max_def,
                     d->def + d->n_levels, n, "definition")))
      return rc;
    nonnull = 0;
    const uint16_t *def = d->def + d->n_levels;
    for (int64_t i = 0; i < n; i++)
      nonnull += def[i] == leaf->max_def;
  } else if (v2) {
    p += h->def_len;
    len -= (size_t)h->def_len;
  }
  if (leaf->max_rep > 0 && d->n_levels == c->first_level && n > 0 &&
      d->rep[d->n_levels] != 0)
    return BAD("first repetition level of the chunk is %d, not 0",
               d->rep[d->n_levels]);
  d->n_levels += n;
  return pq_decode_values(c, h->encoding, p, len, nonnull, &d->v);
}

static int dict_page(struct pq_page_ctx *c, const struct pq_page_header *h,
                     const uint8_t *body, int codec) {
  if (c->has_dict) return BAD("second dictionary page in one column chunk");
  if (!h->has_dict) return BAD("dictionary page without its header");
  if (h->uncompressed_size > c->lim->max_page_bytes)
    return BAD("dictionary page of %d bytes exceeds the limit",
               h->uncompressed_size);
  if (h->encoding != PQ_ENC_PLAIN && h->encoding != PQ_ENC_PLAIN_DICTIONARY)
    return BAD("dictionary page encoding %d is not PLAIN", h->encoding);
  if (h->num_values > c->lim->max_chunk_values)
    return BAD("dictionary of %d entries exceeds the limit", h->num_values);
  c->page.size = 0;
  if (pq_buf_reserve(&c->page, (size_t)h->uncompressed_size + 1)) return OOM();
  int rc =
      pq_decompress_with(c->codec, codec, body, (size_t)h->compressed_size,
                         c->page.data, (size_t)h->uncompressed_size, c->err);
  if (rc) return rc;
  rc = decode_plain(c, c->page.data, (size_t)h->uncompressed_size,
                    h->num_values, &c->dict);
  if (rc) return sl_error_prefix(c->err, "dictionary page: ");
  if (c->strings && c->dict.offs.size == 0) {
    int64_t zero = 0;
    if (pq_buf_append(&c->dict.offs, &zero, 8)) return OOM();
  }
  /* Readable zeros past the end: flat strings copy short values in fixed
   * blocks of PQ_STR_SLACK bytes. */
  if (pq_buf_reserve(&c->dict.data, PQ_STR_SLACK)) return OOM();
  memset(c->dict.data.data + c->dict.data.size, 0, PQ_STR_SLACK);
  if (c->strings && c->flat) {
    /* Offset and length of each entry in one word: one load per value
     * when gathering. The page is under 2 GiB, so both fit 32 bits. */
    c->dent.size = 0;
    if (pq_buf_reserve(&c->dent, (size_t)c->dict.n * 8 + 8)) return OOM();
    const int64_t *o = (const int64_t *)(const void *)c->dict.offs.data;
    uint64_t *e = (uint64_t *)(void *)c->dent.data;
    uint32_t mx = 0;
    for (int64_t i = 0; i < c->dict.n; i++) {
      uint32_t l = (uint32_t)(o[i + 1] - o[i]);
      e[i] = (uint64_t)(uint32_t)o[i] | (uint64_t)l << 32;
      mx = l > mx ? l : mx;
    }
    c->dict_maxlen = mx;
  }
  c->has_dict = true;
  return 0;
}

void pq_read_scratch_release(struct pq_read_scratch *s) {
  pq_buf_release(&s->page);
  pq_buf_release(&s->tmp);
  pq_buf_release(&s->dent);
  pq_values_release(&s->dense);
  pq_values_release(&s->dict);
  pq_codec_state_release(&s->codec);
}

int pq_read_chunk(const uint8_t *file, size_t file_size,
                  const struct pq_column_chunk *cc, const struct pq_leaf *leaf,
                  const struct pq_limits *lim, struct pq_read_scratch *scratch,
                  struct pq_chunk_data *out, struct pq_flat *flat,
                  struct sl_error *err) {
  struct pq_page_ctx ctx;
  struct pq_page_ctx *c = &ctx;
  memset(c, 0, sizeof *c);
  if (scratch) {
    c->page = scratch->page;
    c->tmp = scratch->tmp;
    c->dense = scratch->dense;
    c->dict = scratch->dict;
    c->dent = scratch->dent;
    c->codec = &scratch->codec;
    c->dict.data.size = c->dict.offs.size = 0;
    c->dict.n = 0;
  }
  c->flat = flat;
  c->leaf = leaf;
  c->lim = lim;
  c->err = err;
  c->type = leaf->nodes[leaf->n_nodes - 1].type;
  c->strings = sl_type_is_string(c->type);
  c->w = target_width(c->type);
  int rc = 0;
  const struct pq_column_meta *m = &cc->meta;
  if (!cc->has_meta) {
    rc =
        BAD("column chunk without metadata (external files are not supported)");
    goto cleanup;
  }
  if (m->type != leaf->phys) {
    rc = BAD("column chunk type %d differs from the schema's %d", m->type,
             leaf->phys);
    goto cleanup;
  }
  if (!pq_codec_supported(m->codec)) {
    rc = sl_error_set(err, SL_ENOTSUP,
                      "compression codec %s (%d) is not supported",
                      pq_codec_name(m->codec), m->codec);
    goto cleanup;
  }
  if (m->num_values < 0 || m->num_values > lim->max_chunk_values) {
    rc = BAD("column chunk claims %lld values (limit %lld)",
             (long long)m->num_values, (long long)lim->max_chunk_values);
    goto cleanup;
  }
  int64_t start = m->data_page_offset;
  if (m->dictionary_page_offset > 0 && m->dictionary_page_offset < start)
    start = m->dictionary_page_offset;
  if (start < 4 || (uint64_t)start >= file_size || m->total_compressed < 0 ||
      (uint64_t)m->total_compressed > file_size - (uint64_t)start) {
    rc =
        BAD("column chunk at offset %lld with %lld bytes lies outside the file "
            "of %zu bytes",
            (long long)start, (long long)m->total_compressed, file_size);
    goto cleanup;
  }
  const uint8_t *p = file + start, *end = p + m->total_compressed;
  /* Reserve for the whole chunk up front: no copies as pages arrive. */
  if (flat) {
    flat->chunk_end = flat->rows + m->num_values;
    if (pq_flat_reserve(flat, m->num_values, 0)) {
      rc = OOM();
      goto cleanup;
    }
  } else if (grow_levels(c, out, m->num_values) ||
             (c->w && pq_buf_reserve(&out->v.data,
                                     (size_t)m->num_values * (size_t)c->w)) ||
             (c->strings &&
              pq_buf_reserve(&out->v.offs, (size_t)m->num_values * 8 + 8))) {
    rc = OOM();
    goto cleanup;
  }
  /* chunks of several row groups append */
#define DONE() (flat ? flat->rows : out->n_levels)
  int64_t base = DONE();
  c->first_level = base;
  while (DONE() - base < m->num_values) {
    if (p >= end) {
      rc = BAD("column chunk ends after %lld of %lld values",
               (long long)(DONE() - base), (long long)m->num_values);
      goto cleanup;
    }
    struct pq_page_header h;
    size_t hl;
    int64_t page_at = (int64_t)(p - file);
    if ((rc = pq_page_header_decode(p, (size_t)(end - p), &h, &hl, err)))
      goto at;
    p += hl;
    if ((size_t)h.compressed_size > (size_t)(end - p)) {
      rc = BAD("page data of %d bytes runs past the column chunk",
               h.compressed_size);
      goto at;
    }
    const uint8_t *body = p;
    p += h.compressed_size;
    if (h.type == PQ_PAGE_DICTIONARY) {
      rc = dict_page(c, &h, body, m->codec);
    } else if (h.type == PQ_PAGE_DATA || h.type == PQ_PAGE_DATA_V2) {
      if (h.num_values > m->num_values - (DONE() - base)) {
        rc = BAD("page holds %d values, only %lld remain in the chunk",
                 h.num_values, (long long)(m->num_values - (DONE() - base)));
        goto at;
      }
      rc = data_page(c, &h, body, m->codec, out);
    } else if (h.type != PQ_PAGE_INDEX) {
      rc = BAD("unknown page type %d", h.type);
    }
  at:
    if (rc) {
      sl_error_prefix(err, "page at byte %lld: ", (long long)page_at);
      goto cleanup;
    }
  }
#undef DONE
  if (!flat && c->strings && out->v.offs.size == 0) {
    int64_t zero = 0;
    if (pq_buf_append(&out->v.offs, &zero, 8)) rc = OOM();
  }
cleanup:
  if (scratch) {
    scratch->page = c->page;
    scratch->tmp = c->tmp;
    scratch->dense = c->dense;
    scratch->dict = c->dict;
    scratch->dent = c->dent;
  } else {
    pq_buf_release(&c->page);
    pq_buf_release(&c->tmp);
    pq_buf_release(&c->dent);
    pq_values_release(&c->dense);
    pq_values_release(&c->dict);
  }
  return rc;
}
