/* Arrow arrays <-> vecs. Reading is zero-copy where the layouts agree
 * (int64, float64, timestamp[us]); strings become views into the Arrow
 * buffers. Writing builds fresh Arrow buffers directly (no per-value
 * builder calls for fixed-width types). */
#include <string.h>

#include "compute/convert.h"
#include "sluice/alloc.h"

static int unpack_bits(struct sl_arena *ar, const uint8_t *bits, int64_t off,
                       int64_t n, uint8_t **out) {
  uint8_t *o = sl_arena_alloc(ar, (size_t)(n ? n : 1));
  if (!o) return SL_ENOMEM;
  int64_t r = 0;
  /* leading bits up to a byte boundary, then whole bytes */
  for (; r < n && ((off + r) & 7); r++)
    o[r] = sl_bit_get(bits, off + r);
  for (; r + 8 <= n; r += 8) {
    uint8_t b = bits[(off + r) >> 3];
    for (int k = 0; k < 8; k++)
      o[r + k] = (b >> k) & 1;
  }
  for (; r < n; r++)
    o[r] = sl_bit_get(bits, off + r);
  *out = o;
  return 0;
}

int sl__vec_from_array(const struct sl_array *a, int64_t base, int64_t off,
                       int64_t n, const uint8_t *outer_valid,
                       struct sl_arena *ar, struct sl_vec *out) {
  memset(out, 0, sizeof *out);
  out->n = n;
  int64_t at = a->offset + base + off; /* physical index of row 0 */
  int rc;
  switch (a->type) {
  case SL_TYPE_NULL: {
    struct sl_value nv = {.type = SL_VT_STR, .is_null = true};
    return sl__vec_const(ar, &nv, n, out);
  }
  case SL_TYPE_INT64:
  case SL_TYPE_TIMESTAMP_US:
    out->type = a->type == SL_TYPE_INT64 ? SL_VT_I64 : SL_VT_TS;
    out->d.i = (int64_t *)a->data->data + at;
    break;
  case SL_TYPE_FLOAT64:
    out->type = SL_VT_F64;
    out->d.f = (double *)a->data->data + at;
    break;
  case SL_TYPE_TIMESTAMP_MS: {
    SL_RETURN_NOT_OK(sl__vec_alloc(ar, SL_VT_TS, n, out));
    const int64_t *src = (const int64_t *)a->data->data + at;
    for (int64_t r = 0; r < n; r++)
      out->d.i[r] = src[r] * 1000;
    break;
  }
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32: {
    SL_RETURN_NOT_OK(sl__vec_alloc(
        ar, a->type == SL_TYPE_INT32 ? SL_VT_I64 : SL_VT_DATE, n, out));
    const int32_t *src = (const int32_t *)a->data->data + at;
    for (int64_t r = 0; r < n; r++)
      out->d.i[r] = src[r];
    break;
  }
  case SL_TYPE_BOOL:
    out->type = SL_VT_BOOL;
    SL_RETURN_NOT_OK(unpack_bits(ar, a->data->data, at, n, &out->d.b));
    break;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
  case SL_TYPE_DICT_UTF8: {
    SL_RETURN_NOT_OK(sl__vec_alloc(ar, SL_VT_STR, n, out));
    struct sl_str *s = out->d.s;
    if (a->type == SL_TYPE_UTF8) {
      const int32_t *o = (const int32_t *)a->offsets->data + at;
      const char *chars = (const char *)a->data->data;
      for (int64_t r = 0; r < n; r++)
        s[r] = (struct sl_str){chars + o[r], o[r + 1] - o[r]};
    } else if (a->type == SL_TYPE_LARGE_UTF8) {
      const int64_t *o = (const int64_t *)a->offsets->data + at;
      const char *chars = (const char *)a->data->data;
      for (int64_t r = 0; r < n; r++)
        s[r] = (struct sl_str){chars + o[r], o[r + 1] - o[r]};
    } else {
      const int32_t *idx = (const int32_t *)a->data->data + at;
      const struct sl_array *d = a->dictionary;
      for (int64_t r = 0; r < n; r++) {
        int64_t len;
        const char *p = sl_array_str(d, idx[r], &len);
        s[r] = (struct sl_str){p, len};
      }
    }
    break;
  }
  default: return SL_ENOTSUP;
  }
  if (a->validity) {
    rc = unpack_bits(ar, a->validity->data, at, n, &out->valid);
    if (rc) return rc;
  }
  if (outer_valid) {
    if (!out->valid) {
      out->valid = (uint8_t *)outer_valid;
    } else {
      for (int64_t r = 0; r < n; r++)
        out->valid[r] &= outer_valid[r];
    }
  }
  return 0;
}

int sl__resolve_path(const struct sl_batch *b, const char *path,
                     struct sl_resolved *out) {
  memset(out, 0, sizeof *out);
  for (int32_t i = 0; i < b->n_columns; i++)
    if (!strcmp(b->schema.fields[i].name, path)) {
      out->leaf = b->columns[i];
      return 0;
    }
  /* walk struct children: "geo.country" -> column geo, child country */
  const struct sl_field *fields = b->schema.fields;
  int32_t nf = b->n_columns;
  struct sl_array *const *arrays = b->columns;
  const char *p = path;
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t k = dot ? (size_t)(dot - p) : strlen(p);
    int32_t hit = -1;
    for (int32_t i = 0; i < nf; i++)
      if (strlen(fields[i].name) == k && !strncmp(fields[i].name, p, k))
        hit = i;
    if (hit < 0) {
      /* a child may itself have a dotted name */
      for (int32_t i = 0; i < nf; i++)
        if (!strcmp(fields[i].name, p)) hit = i, dot = NULL;
      if (hit < 0) return SL_ENOENT;
    }
    if (!dot) {
      out->leaf = arrays[hit];
      return 0;
    }
    if (fields[hit].type != SL_TYPE_STRUCT || out->n_parents >= 8)
      return SL_ENOENT;
    out->parents[out->n_parents++] = arrays[hit];
    fields = fields[hit].children;
    nf = arrays[hit]->n_children;
    arrays = arrays[hit]->children;
    p = dot + 1;
  }
}

int sl__vec_from_resolved(const struct sl_resolved *res, int64_t off, int64_t n,
                          struct sl_arena *ar, struct sl_vec *out) {
  /* Struct parents shift their children by their own offsets, and a null
   * parent makes the child null. */
  int64_t base = 0;
  uint8_t *valid = NULL;
  for (int32_t i = 0; i < res->n_parents; i++) {
    const struct sl_array *p = res->parents[i];
    int64_t at = p->offset + base + off;
    if (p->validity) {
      uint8_t *v;
      SL_RETURN_NOT_OK(unpack_bits(ar, p->validity->data, at, n, &v));
      if (valid)
        for (int64_t r = 0; r < n; r++)
          valid[r] &= v[r];
      else
        valid = v;
    }
    base += p->offset;
  }
  return sl__vec_from_array(res->leaf, base, off, n, valid, ar, out);
}

enum sl_type_id sl__arrow_type_of(enum sl_vt t) {
  switch (t) {
  case SL_VT_BOOL: return SL_TYPE_BOOL;
  case SL_VT_I64: return SL_TYPE_INT64;
  case SL_VT_F64: return SL_TYPE_FLOAT64;
  case SL_VT_TS: return SL_TYPE_TIMESTAMP_US;
  case SL_VT_DATE: return SL_TYPE_DATE32;
  default: return SL_TYPE_UTF8;
  }
}

static int new_buf(int64_t size, struct sl_buffer **out) {
  int rc = sl_buffer_new(size ? size : 1, out);
  if (rc) return rc;
  (*out)->size = size;
  return 0;
}

int sl__vec_to_array_shared(const struct sl_vec *v, struct sl_buffer *buf,
                            int64_t off, int64_t n, struct sl_array **out,
                            struct sl_error *err) {
  enum sl_type_id t = sl__arrow_type_of(v->type);
  bool fixed8 =
      t == SL_TYPE_INT64 || t == SL_TYPE_FLOAT64 || t == SL_TYPE_TIMESTAMP_US;
  int64_t at = (const uint8_t *)v->d.any - buf->data;
  if (!fixed8 || v->constant || n <= 0 || at < 0 || at % 8 ||
      at / 8 + off + n > buf->size / 8 ||
      (v->valid && memchr(v->valid + off, 0, (size_t)n)))
    return sl__vec_to_array(v, off, n, out, err);
  struct sl_array *a = NULL;
  int rc = sl_array_new(t, &a);
  if (rc)
    return sl_error_set(err, rc, "out of memory building a result column");
  a->length = n;
  a->offset = at / 8 + off;
  a->null_count = 0;
  a->data = sl_buffer_retain(buf);
  *out = a;
  return 0;
}

int sl__vec_to_array(const struct sl_vec *v, int64_t off, int64_t n,
                     struct sl_array **out, struct sl_error *err) {
  enum sl_type_id t = sl__arrow_type_of(v->type);
  struct sl_array *a = NULL;
  int rc = sl_array_new(t, &a);
  if (rc)
    return sl_error_set(err, rc, "out of memory building a result column");
  a->length = n;
  int64_t nulls = 0;
  bool any_null = v->type == SL_VT_NULL || v->valid != NULL;
  /* validity bytes that are all 1 (the usual aggregate result): no bitmap */
  if (any_null && v->type != SL_VT_NULL && !v->constant && n > 0 &&
      !memchr(v->valid + off, 0, (size_t)n))
    any_null = false;
  if (any_null) {
    SL_CHECK_GOTO(new_buf((n + 7) / 8, &a->validity), rc, fail);
    uint8_t *bits = a->validity->data;
    memset(bits, 0, (size_t)((n + 7) / 8));
    for (int64_t r = 0; r < n; r++) {
      bool ok = sl__vec_valid(v, off + r);
      if (ok)
        sl_bit_set(bits, r);
      else
        nulls++;
    }
    if (!nulls) {
      sl_buffer_release(a->validity);
      a->validity = NULL;
    }
  }
  a->null_count = nulls;
#define IDX(r) (v->constant ? 0 : off + (r))
  switch (t) {
  case SL_TYPE_BOOL: {
    SL_CHECK_GOTO(new_buf((n + 7) / 8, &a->data), rc, fail);
    memset(a->data->data, 0, (size_t)((n + 7) / 8));
    for (int64_t r = 0; r < n; r++)
      if (v->type != SL_VT_NULL && v->d.b[IDX(r)]) sl_bit_set(a->data->data, r);
    break;
  }
  case SL_TYPE_INT64:
  case SL_TYPE_FLOAT64:
  case SL_TYPE_TIMESTAMP_US: {
    SL_CHECK_GOTO(new_buf(n * 8, &a->data), rc, fail);
    int64_t *d = (int64_t *)a->data->data;
    if (v->constant)
      for (int64_t r = 0; r < n; r++)
        d[r] = v->d.i[0];
    else if (n)
      memcpy(d, v->d.i + off, (size_t)n * 8);
    break;
  }
  case SL_TYPE_DATE32: {
    SL_CHECK_GOTO(new_buf(n * 4, &a->data), rc, fail);
    int32_t *d = (int32_t *)a->data->data;
    for (int64_t r = 0; r < n; r++)
      d[r] = (int32_t)v->d.i[IDX(r)];
    break;
  }
  default: { /* utf8 */
    int64_t total = 0;
    bool is_str = v->type == SL_VT_STR;
    for (int64_t r = 0; r < n && is_str; r++)
      if (sl__vec_valid(v, off + r)) total += v->d.s[IDX(r)].n;
    if (total > INT32_MAX) {
      rc = sl_error_set(
          err, SL_ERANGE,
          "a result column holds more than 2 GiB of text in one batch");
      goto fail;
    }
    SL_CHECK_GOTO(new_buf((n + 1) * 4, &a->offsets), rc, fail);
    SL_CHECK_GOTO(new_buf(total, &a->data), rc, fail);
    int32_t *o = (int32_t *)a->offsets->data;
    char *chars = (char *)a->data->data;
    int32_t at = 0;
    for (int64_t r = 0; r < n; r++) {
      o[r] = at;
      if (!is_str || !sl__vec_valid(v, off + r)) continue;
      struct sl_str s = v->d.s[IDX(r)];
      if (s.n) memcpy(chars + at, s.p, (size_t)s.n);
      at += (int32_t)s.n;
    }
    o[n] = at;
  }
  }
#undef IDX
  *out = a;
  return 0;
fail:
  sl_array_release(a);
  if (!err || !err->code)
    sl_error_set(err, rc, "out of memory building a result column");
  return rc;
}
