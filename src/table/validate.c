/* Structural validation of arrays and batches.
 *
 * Everything that crosses the Arrow C Data Interface into sluice goes
 * through here before any kernel reads it, so every check is written
 * against hostile input: sizes are checked before arithmetic, offsets before
 * they index, and messages name the field path ("column 'geo' child 'city'")
 * and the element index where the first problem was found. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sluice/table.h"
#include "table/arrow_c_internal.h"

/* offset + length may not exceed this, so that (offset+length+1)*8 and
 * friends can never overflow an int64_t. */
#define MAX_ELEMENTS (INT64_MAX / 16)

void sl__path_suffix(char *dst, const char *parent, const char *suffix) {
  snprintf(dst, SL__PATH_MAX, "%s%s", parent, suffix);
}

void sl__path_child(char *dst, const char *parent, const char *name) {
  /* The children of a batch's root struct are its columns. */
  if (!parent[0] || strcmp(parent, "batch") == 0)
    snprintf(dst, SL__PATH_MAX, "column '%.64s'", name ? name : "");
  else
    snprintf(dst, SL__PATH_MAX, "%s child '%.64s'", parent, name ? name : "");
}

/* ---- UTF-8 ------------------------------------------------------------- */

bool sl__utf8_valid(const uint8_t *s, int64_t n, int64_t *bad) {
  int64_t i = 0;
  while (i < n) {
    /* ASCII fast path: eight bytes at a time while the high bits are 0. */
    while (i + 32 <= n) {
      uint64_t w[4];
      memcpy(w, s + i, 32);
      if ((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ull) break;
      i += 32;
    }
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    int64_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0)
        lo = 0xA0; /* overlong */
      else if (c == 0xED)
        hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0)
        lo = 0x90; /* overlong */
      else if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    } else {
      if (bad) *bad = i;
      return false;
    }
    if (n - i - 1 < need) {
      if (bad) *bad = i;
      return false;
    }
    if (s[i + 1] < lo || s[i + 1] > hi) {
      if (bad) *bad = i;
      return false;
    }
    for (int64_t k = 2; k <= need; k++) {
      if ((s[i + k] & 0xC0) != 0x80) {
        if (bad) *bad = i;
        return false;
      }
    }
    i += need + 1;
  }
  return true;
}

/* ---- helpers ----------------------------------------------------------- */

static int64_t buf_size(const struct sl_buffer *b) {
  return b ? b->size : 0;
}

int64_t sl__count_nulls(const uint8_t *bits, int64_t offset, int64_t length) {
  int64_t valid = 0, i = 0;
  /* Leading bits up to a byte boundary, then whole bytes, then the tail. */
  while (i < length && ((offset + i) & 7))
    valid += sl_bit_get(bits, offset + i++);
  while (i + 64 <= length) {
    uint64_t w;
    memcpy(&w, bits + ((offset + i) >> 3), 8);
    valid += __builtin_popcountll(w);
    i += 64;
  }
  while (i < length)
    valid += sl_bit_get(bits, offset + i++);
  return length - valid;
}

static int need_buffer(const struct sl_buffer *b, int64_t need,
                       const char *what, const char *path,
                       struct sl_error *err) {
  if (need == 0) return 0;
  if (!b || !b->data)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected a %s buffer of at least %" PRId64
                        " bytes, found none",
                        path, what, need);
  if (b->size < need)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected a %s buffer of at least %" PRId64
                        " bytes, found %" PRId64 " bytes",
                        path, what, need, b->size);
  return 0;
}

static inline int64_t offset_at(const uint8_t *ob, int width, int64_t j) {
  return width == 8 ? ((const int64_t *)ob)[j] : ((const int32_t *)ob)[j];
}

/* True when o[k+1] < o[k] for some k in [0, n). Written without early exit
 * so the compiler vectorises it. */
static bool decreases32(const int32_t *o, int64_t n) {
  int bad = 0;
  for (int64_t k = 0; k < n; k++)
    bad |= o[k + 1] < o[k];
  return bad != 0;
}
static bool decreases64(const int64_t *o, int64_t n) {
  int bad = 0;
  for (int64_t k = 0; k < n; k++)
    bad |= o[k + 1] < o[k];
  return bad != 0;
}

/* Checks offsets[offset .. offset+length] of a utf8/large_utf8/list array:
 * first >= 0, non-decreasing, last <= limit (or just reported in *last). */
static int check_offsets(const struct sl_array *a, int width, int64_t limit,
                         const char *limit_what, const char *path,
                         int64_t *first_out, int64_t *last_out,
                         struct sl_error *err) {
  int64_t end = a->offset + a->length;
  *first_out = *last_out = 0;
  if (a->length == 0 && (!a->offsets || !a->offsets->data)) return 0;
  SL_RETURN_NOT_OK(
      need_buffer(a->offsets, (end + 1) * width, "offsets", path, err));
  /* A branch-free pass finds whether any offset decreases; only then does
   * a second pass locate it for the message. */
  const uint8_t *ob = a->offsets->data;
  int64_t first = offset_at(ob, width, a->offset);
  int64_t prev = offset_at(ob, width, end);
  if (first < 0)
    return sl_error_set(
        err, SL_EINVAL,
        "%s: expected offsets >= 0, found %" PRId64 " at index 0", path, first);
  bool down = width == 8
                  ? decreases64((const int64_t *)ob + a->offset, a->length)
                  : decreases32((const int32_t *)ob + a->offset, a->length);
  if (down) {
    for (int64_t j = a->offset + 1; j <= end; j++) {
      int64_t v = offset_at(ob, width, j), p = offset_at(ob, width, j - 1);
      if (v < p)
        return sl_error_set(
            err, SL_EINVAL,
            "%s: expected non-decreasing offsets, found %" PRId64
            " after %" PRId64 " at index %" PRId64,
            path, v, p, j - a->offset);
    }
  }
  *first_out = first;
  if (limit >= 0 && prev > limit)
    return sl_error_set(err, SL_EINVAL,
                        "%s: last offset %" PRId64 " is past the end of the "
                        "%s (%" PRId64 ")",
                        path, prev, limit_what, limit);
  *last_out = prev;
  return 0;
}

static int check_strings(const struct sl_array *a, bool check_utf8,
                         const char *path, struct sl_error *err) {
  int width = a->type == SL_TYPE_LARGE_UTF8 ? 8 : 4;
  int64_t first, last;
  SL_RETURN_NOT_OK(check_offsets(a, width, buf_size(a->data), "data buffer",
                                 path, &first, &last, err));
  if (last > first && (!a->data || !a->data->data))
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected a data buffer, found none", path);
  if (!check_utf8 || last == first) return 0;
  const uint8_t *d = a->data->data;
  int64_t bad = 0;
  if (!sl__utf8_valid(d + first, last - first, &bad))
    return sl_error_set(err, SL_EINVAL,
                        "%s: invalid UTF-8 at byte %" PRId64 " of the data",
                        path, first + bad);
  /* The whole range is valid; each string must also start on a character
   * boundary (not on a continuation byte). One branch-free pass, then a
   * second one to locate the culprit. */
  int64_t end = a->offset + a->length;
  const uint8_t *ob = a->offsets->data;
  int bad_start = 0;
  if (width == 4) {
    const int32_t *o = (const int32_t *)ob;
    for (int64_t j = a->offset; j < end; j++)
      bad_start |= o[j] < last && (d[o[j]] & 0xC0) == 0x80;
  } else {
    const int64_t *o = (const int64_t *)ob;
    for (int64_t j = a->offset; j < end; j++)
      bad_start |= o[j] < last && (d[o[j]] & 0xC0) == 0x80;
  }
  if (!bad_start) return 0;
  for (int64_t j = a->offset; j < end; j++) {
    int64_t v = offset_at(ob, width, j);
    if (v < last && (d[v] & 0xC0) == 0x80)
      return sl_error_set(err, SL_EINVAL,
                          "%s: string %" PRId64 " starts inside a UTF-8 "
                          "character (byte %" PRId64 ")",
                          path, j - a->offset, v);
  }
  return 0;
}

static int check_dict(const struct sl_array *a, bool check_utf8,
                      const char *path, int depth, struct sl_error *err) {
  char sub[SL__PATH_MAX];
  if (!a->dictionary)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected a dictionary for dictionary<int32, "
                        "utf8>, found none",
                        path);
  sl__path_suffix(sub, path, " dictionary");
  if (a->dictionary->type != SL_TYPE_UTF8 &&
      a->dictionary->type != SL_TYPE_LARGE_UTF8)
    return sl_error_set(err, SL_EINVAL, "%s: expected utf8 values, found %s",
                        sub, sl_type_name(a->dictionary->type));
  SL_RETURN_NOT_OK(sl__array_validate_at(a->dictionary, NULL, check_utf8, sub,
                                         depth + 1, err));
  int64_t n = a->dictionary->length;
  const int32_t *idx = a->length ? sl_array_i32(a) : NULL;
  /* Fast pass over every slot; null slots may hold anything, so only when
   * it finds a suspect does the exact pass below consult the validity. */
  int suspect = 0;
  for (int64_t i = 0; i < a->length; i++)
    suspect |= (uint64_t)(uint32_t)idx[i] >= (uint64_t)n;
  if (!suspect) return 0;
  for (int64_t i = 0; i < a->length; i++) {
    if (!sl_array_is_valid(a, i)) continue;
    if (idx[i] < 0 || idx[i] >= n)
      return sl_error_set(err, SL_EINVAL,
                          "%s: dictionary index %" PRId32 " at row %" PRId64
                          " is out of range (the dictionary has %" PRId64
                          " values)",
                          path, idx[i], i, n);
  }
  return 0;
}

static int check_children(const struct sl_array *a, const struct sl_field *f,
                          bool check_utf8, const char *path, int depth,
                          struct sl_error *err) {
  char sub[SL__PATH_MAX];
  int32_t want = a->type == SL_TYPE_LIST ? 1 : (f ? f->n_children : -1);
  if (want >= 0 && a->n_children != want)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected %" PRId32 " child arrays, found %" PRId32,
                        path, want, a->n_children);
  if (f && f->n_children != a->n_children)
    return sl_error_set(err, SL_EINVAL,
                        "%s: the field has %" PRId32
                        " children, the array %" PRId32,
                        path, f->n_children, a->n_children);
  if (a->n_children > 0 && !a->children)
    return sl_error_set(err, SL_EINVAL, "%s: children missing", path);
  for (int32_t c = 0; c < a->n_children; c++) {
    const struct sl_field *cf = f ? &f->children[c] : NULL;
    if (cf)
      sl__path_child(sub, path, cf->name);
    else
      snprintf(sub, sizeof sub, "%s child %" PRId32, path, c);
    if (!a->children[c])
      return sl_error_set(err, SL_EINVAL, "%s: expected an array, found none",
                          sub);
    SL_RETURN_NOT_OK(sl__array_validate_at(a->children[c], cf, check_utf8, sub,
                                           depth + 1, err));
  }
  return 0;
}

/* ---- arrays ------------------------------------------------------------ */

int sl__array_validate_at(const struct sl_array *a, const struct sl_field *f,
                          bool check_utf8, const char *path, int depth,
                          struct sl_error *err) {
  if (!a)
    return sl_error_set(err, SL_EINVAL, "%s: expected an array, found none",
                        path);
  if (depth > SL__ARROW_MAX_DEPTH)
    return sl_error_set(err, SL_EINVAL, "%s: nesting deeper than %d levels",
                        path, SL__ARROW_MAX_DEPTH);
  if ((unsigned)a->type >= SL_TYPE_COUNT_)
    return sl_error_set(err, SL_EINVAL, "%s: unknown type id %d", path,
                        (int)a->type);
  if (f && f->type != a->type)
    return sl_error_set(err, SL_EINVAL, "%s: expected type %s, found %s", path,
                        sl_type_name(f->type), sl_type_name(a->type));
  if (a->length < 0 || a->offset < 0)
    return sl_error_set(
        err, SL_EINVAL,
        "%s: expected length and offset >= 0, found length %" PRId64
        " offset %" PRId64,
        path, a->length, a->offset);
  if (a->length > MAX_ELEMENTS - a->offset)
    return sl_error_set(err, SL_EOVERFLOW,
                        "%s: offset %" PRId64 " + length %" PRId64
                        " is too large",
                        path, a->offset, a->length);
  int64_t end = a->offset + a->length;
  if (a->null_count < -1 || a->null_count > a->length)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected a null count in [0, %" PRId64
                        "], found %" PRId64,
                        path, a->length, a->null_count);

  /* Validity and null count. */
  if (a->type == SL_TYPE_NULL) {
    if (a->null_count >= 0 && a->null_count != a->length)
      return sl_error_set(err, SL_EINVAL,
                          "%s: a null array of length %" PRId64
                          " must have null count %" PRId64 ", found %" PRId64,
                          path, a->length, a->length, a->null_count);
  } else if (a->validity) {
    SL_RETURN_NOT_OK(
        need_buffer(a->validity, (end + 7) / 8, "validity", path, err));
    if (a->null_count >= 0 && a->length > 0) {
      int64_t nulls = sl__count_nulls(a->validity->data, a->offset, a->length);
      if (nulls != a->null_count)
        return sl_error_set(err, SL_EINVAL,
                            "%s: null count says %" PRId64
                            " but the validity bitmap has %" PRId64 " nulls",
                            path, a->null_count, nulls);
    }
  } else if (a->null_count > 0) {
    return sl_error_set(err, SL_EINVAL,
                        "%s: null count is %" PRId64
                        " but there is no validity bitmap",
                        path, a->null_count);
  }

  switch (a->type) {
  case SL_TYPE_NULL: break;
  case SL_TYPE_BOOL:
    SL_RETURN_NOT_OK(need_buffer(a->data, (end + 7) / 8, "data", path, err));
    break;
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32:
  case SL_TYPE_INT64:
  case SL_TYPE_FLOAT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US:
    SL_RETURN_NOT_OK(
        need_buffer(a->data, end * sl_type_width(a->type), "data", path, err));
    break;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
    SL_RETURN_NOT_OK(check_strings(a, check_utf8, path, err));
    break;
  case SL_TYPE_LIST: {
    int64_t first, last;
    SL_RETURN_NOT_OK(check_children(a, f, check_utf8, path, depth, err));
    SL_RETURN_NOT_OK(check_offsets(a, 4, a->children[0]->length, "child array",
                                   path, &first, &last, err));
    break;
  }
  case SL_TYPE_STRUCT:
    SL_RETURN_NOT_OK(check_children(a, f, check_utf8, path, depth, err));
    for (int32_t c = 0; c < a->n_children; c++) {
      if (a->children[c]->length < end) {
        char sub[SL__PATH_MAX];
        sl__path_child(sub, path, f ? f->children[c].name : "?");
        return sl_error_set(err, SL_EINVAL,
                            "%s: expected at least %" PRId64
                            " values (struct offset + length), found %" PRId64,
                            sub, end, a->children[c]->length);
      }
    }
    break;
  case SL_TYPE_DICT_UTF8:
    SL_RETURN_NOT_OK(
        need_buffer(a->data, end * 4, "dictionary indices", path, err));
    SL_RETURN_NOT_OK(check_dict(a, check_utf8, path, depth, err));
    break;
  default:
    return sl_error_set(err, SL_EINVAL, "%s: unknown type id %d", path,
                        (int)a->type);
  }
  if (a->type != SL_TYPE_LIST && a->type != SL_TYPE_STRUCT &&
      a->n_children != 0)
    return sl_error_set(err, SL_EINVAL,
                        "%s: a %s array has no children, found %" PRId32, path,
                        sl_type_name(a->type), a->n_children);
  return 0;
}

int sl_array_validate(const struct sl_array *a, const struct sl_field *f,
                      bool check_utf8, struct sl_error *err) {
  char path[SL__PATH_MAX];
  if (f)
    snprintf(path, sizeof path, "column '%.64s'", f->name ? f->name : "");
  else
    snprintf(path, sizeof path, "array");
  return sl__array_validate_at(a, f, check_utf8, path, 0, err);
}

int sl_batch_validate(const struct sl_batch *b, struct sl_error *err) {
  if (!b)
    return sl_error_set(err, SL_EINVAL, "batch: expected a batch, found none");
  if (b->length < 0)
    return sl_error_set(err, SL_EINVAL,
                        "batch: expected length >= 0, found %" PRId64,
                        b->length);
  if (b->n_columns != b->schema.n_fields)
    return sl_error_set(err, SL_EINVAL,
                        "batch: the schema has %" PRId32
                        " fields, found %" PRId32 " columns",
                        b->schema.n_fields, b->n_columns);
  for (int32_t c = 0; c < b->n_columns; c++) {
    const struct sl_field *f = &b->schema.fields[c];
    const struct sl_array *a = b->columns[c];
    if (a && a->length != b->length)
      return sl_error_set(err, SL_EINVAL,
                          "column '%.64s': expected %" PRId64
                          " rows (the batch length), found %" PRId64,
                          f->name, b->length, a->length);
    SL_RETURN_NOT_OK(sl_array_validate(a, f, true, err));
  }
  return 0;
}
