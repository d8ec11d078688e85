/* JSON reader: column builders.
 *
 * Specialised for the parser rather than the general sl_builder: validity is
 * a byte per value (allocated at the first null, packed into an Arrow bitmap
 * when the batch is finished), so a half-parsed bad line can be rolled back
 * by truncating every column to the row count where the line began. */
#include <string.h>

#include "io/json/json_internal.h"

static int offs_width(enum sl_type_id t) {
  return t == SL_TYPE_LARGE_UTF8 ? 8 : 4;
}

static bool has_offs(enum sl_type_id t) {
  return t == SL_TYPE_UTF8 || t == SL_TYPE_LARGE_UTF8 || t == SL_TYPE_LIST;
}

static int push_zero_offset(struct sl__jcol *c) {
  int64_t z = 0;
  return sl_bytes_append(&c->offs, &z, offs_width(c->type));
}

int sl__jcol_init(struct sl__jcol *c, const struct sl_field *f) {
  memset(c, 0, sizeof *c);
  c->type = f->type;
  if (f->n_children > 0) {
    c->kids = sl_calloc((size_t)f->n_children, sizeof *c->kids);
    if (!c->kids) return SL_ENOMEM;
    c->n_kids = f->n_children;
    for (int32_t i = 0; i < f->n_children; i++)
      SL_RETURN_NOT_OK(sl__jcol_init(&c->kids[i], &f->children[i]));
  }
  if (has_offs(c->type)) return push_zero_offset(c);
  return 0;
}

void sl__jcol_release(struct sl__jcol *c) {
  sl_bytes_release(&c->valid);
  sl_bytes_release(&c->data);
  sl_bytes_release(&c->offs);
  for (int32_t i = 0; i < c->n_kids; i++)
    sl__jcol_release(&c->kids[i]);
  sl_free(c->kids);
  memset(c, 0, sizeof *c);
}

int sl__jcol_valid_slow(struct sl__jcol *c) {
  int rc = sl_bytes_reserve(&c->valid, 1);
  if (rc) return rc;
  c->valid.data[c->valid.size++] = 1;
  return 0;
}

int sl__jcol_null(struct sl__jcol *c) {
  int rc;
  if (c->valid.data == NULL) {
    rc = sl_bytes_reserve(&c->valid, c->len + 64);
    if (rc) return rc;
    memset(c->valid.data, 1, (size_t)c->len);
    c->valid.size = c->len;
  }
  rc = sl_bytes_reserve(&c->valid, 1);
  if (rc) return rc;
  c->valid.data[c->valid.size++] = 0;
  int w = sl_type_width(c->type);
  switch (c->type) {
  case SL_TYPE_NULL: break;
  case SL_TYPE_BOOL: rc = sl_bytes_append(&c->data, "\0", 1); break;
  case SL_TYPE_UTF8:
  case SL_TYPE_LIST: {
    int32_t o = c->type == SL_TYPE_LIST ? (int32_t)c->kids[0].len
                                        : (int32_t)c->data.size;
    rc = sl_bytes_append(&c->offs, &o, 4);
    break;
  }
  case SL_TYPE_LARGE_UTF8: {
    int64_t o = c->data.size;
    rc = sl_bytes_append(&c->offs, &o, 8);
    break;
  }
  case SL_TYPE_STRUCT:
    for (int32_t i = 0; i < c->n_kids && !rc; i++)
      rc = sl__jcol_null(&c->kids[i]);
    break;
  default: {
    uint64_t z = 0;
    rc = sl_bytes_append(&c->data, &z, w);
    break;
  }
  }
  if (rc) return rc;
  c->len++;
  return 0;
}

void sl__jcol_truncate(struct sl__jcol *c, int64_t n) {
  /* Children may hold values of an entry that never closed (a bad line
   * inside a list or struct), so they are cut even when c itself is not. */
  if (n >= c->len) {
    if (c->type == SL_TYPE_LIST && c->offs.data)
      sl__jcol_truncate(&c->kids[0],
                        ((const int32_t *)(const void *)c->offs.data)[c->len]);
    else if (c->type == SL_TYPE_STRUCT)
      for (int32_t i = 0; i < c->n_kids; i++)
        sl__jcol_truncate(&c->kids[i], c->len);
    return;
  }
  if (c->valid.data) c->valid.size = n;
  switch (c->type) {
  case SL_TYPE_NULL: break;
  case SL_TYPE_BOOL: c->data.size = n; break;
  case SL_TYPE_UTF8:
    c->data.size = ((const int32_t *)(const void *)c->offs.data)[n];
    c->offs.size = (n + 1) * 4;
    break;
  case SL_TYPE_LARGE_UTF8:
    c->data.size = ((const int64_t *)(const void *)c->offs.data)[n];
    c->offs.size = (n + 1) * 8;
    break;
  case SL_TYPE_LIST:
    sl__jcol_truncate(&c->kids[0],
                      ((const int32_t *)(const void *)c->offs.data)[n]);
    c->offs.size = (n + 1) * 4;
    break;
  case SL_TYPE_STRUCT:
    for (int32_t i = 0; i < c->n_kids; i++)
      sl__jcol_truncate(&c->kids[i], n);
    break;
  default: c->data.size = n * sl_type_width(c->type); break;
  }
  c->len = n;
}

int sl__jcol_reserve(struct sl__jcol *c, int64_t rows, struct sl__jpool *pool) {
  int w = sl_type_width(c->type);
  int64_t d = c->hint_data;
  if (w && rows * w > d) d = rows * w;
  if (c->type == SL_TYPE_BOOL && rows > d) d = rows;
  if (d) {
    sl__jpool_prime(pool, &c->data, d);
    SL_RETURN_NOT_OK(sl_bytes_reserve(&c->data, d));
  }
  if (has_offs(c->type)) {
    int64_t o = (rows + 1) * offs_width(c->type);
    if (o < c->hint_offs) o = c->hint_offs;
    if (c->len == 0 && c->offs.capacity < o) {
      /* an empty column holds just the leading 0: move it to pooled memory */
      struct sl_bytes nb = {0};
      sl__jpool_prime(pool, &nb, o);
      if (nb.data) {
        sl_bytes_release(&c->offs);
        c->offs = nb;
        SL_RETURN_NOT_OK(push_zero_offset(c));
      }
    }
    SL_RETURN_NOT_OK(sl_bytes_reserve(&c->offs, o));
  }
  for (int32_t i = 0; i < c->n_kids; i++) {
    int64_t kr = c->type == SL_TYPE_STRUCT ? rows : 0;
    SL_RETURN_NOT_OK(sl__jcol_reserve(&c->kids[i], kr, pool));
  }
  return 0;
}

/* Packs bytes (0/1) into an LSB-first bitmap buffer. */
static int pack_bits(const uint8_t *v, int64_t n, struct sl_buffer **out) {
  SL_RETURN_NOT_OK(sl_buffer_new((n + 7) / 8, out));
  uint8_t *bits = (*out)->data;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    memcpy(&x, v + i, 8);
    /* gather the low bit of each byte into one byte */
    x &= 0x0101010101010101ull;
    bits[i >> 3] = (uint8_t)((x * 0x0102040810204080ull) >> 56);
  }
  if (i < n) {
    uint8_t b = 0;
    for (int64_t k = 0; i + k < n; k++)
      b |= (uint8_t)((v[i + k] & 1) << k);
    bits[i >> 3] = b;
  }
  return 0;
}

int sl__jcol_finish(struct sl__jcol *c, const struct sl_field *f,
                    struct sl__jpool *pool, struct sl_array **out) {
  *out = NULL;
  struct sl_array *a = NULL;
  int rc = sl_array_new(c->type, &a);
  if (rc) return rc;
  a->length = c->len;
  a->null_count = 0;
  if (c->type == SL_TYPE_NULL) {
    a->null_count = c->len;
  } else if (c->valid.data) {
    int64_t nulls = 0;
    for (int64_t i = 0; i < c->len; i++)
      nulls += c->valid.data[i] == 0;
    if (nulls) {
      SL_CHECK_GOTO(pack_bits(c->valid.data, c->len, &a->validity), rc, fail);
      a->null_count = nulls;
    }
  }
  sl_bytes_release(&c->valid);
  c->hint_data = c->data.size;
  c->hint_offs = c->offs.size;
  switch (c->type) {
  case SL_TYPE_NULL:
  case SL_TYPE_STRUCT: break;
  case SL_TYPE_BOOL:
    SL_CHECK_GOTO(pack_bits(c->data.data, c->len, &a->data), rc, fail);
    c->data.size = 0;
    break;
  case SL_TYPE_LIST:
    SL_CHECK_GOTO(sl__jpool_finish(pool, &c->offs, &a->offsets), rc, fail);
    break;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
    SL_CHECK_GOTO(sl__jpool_finish(pool, &c->offs, &a->offsets), rc, fail);
    SL_CHECK_GOTO(sl__jpool_finish(pool, &c->data, &a->data), rc, fail);
    break;
  default:
    SL_CHECK_GOTO(sl__jpool_finish(pool, &c->data, &a->data), rc, fail);
    break;
  }
  if (c->n_kids > 0) {
    a->children = sl_calloc((size_t)c->n_kids, sizeof *a->children);
    if (!a->children) {
      rc = SL_ENOMEM;
      goto fail;
    }
    a->n_children = c->n_kids;
    for (int32_t i = 0; i < c->n_kids; i++)
      SL_CHECK_GOTO(
          sl__jcol_finish(&c->kids[i], &f->children[i], pool, &a->children[i]),
          rc, fail);
  }
  c->len = 0;
  if (has_offs(c->type)) {
    c->offs.size = 0;
    SL_CHECK_GOTO(push_zero_offset(c), rc, fail);
  }
  *out = a;
  return 0;
fail:
  sl_array_release(a);
  return rc;
}
