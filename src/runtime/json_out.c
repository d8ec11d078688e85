/* Record batches to JSON Lines text (stdout sink, HTTP response sink). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/json_out.h"
#include "sluice/alloc.h"

int sl__text_reserve(struct sl_text *t, size_t extra) {
  if (t->cap - t->len > extra) return 0;
  size_t ncap = t->cap ? t->cap : 4096;
  while (ncap - t->len <= extra)
    ncap *= 2;
  char *np = sl_realloc(t->p, ncap);
  if (!np) return SL_ENOMEM;
  t->p = np;
  t->cap = ncap;
  return 0;
}

int sl__text_put(struct sl_text *t, const char *s, size_t n) {
  SL_RETURN_NOT_OK(sl__text_reserve(t, n));
  memcpy(t->p + t->len, s, n);
  t->len += n;
  t->p[t->len] = '\0';
  return 0;
}

static int put_str(struct sl_text *t, const char *s, size_t n) {
  SL_RETURN_NOT_OK(sl__text_reserve(t, n * 6 + 3));
  t->p[t->len++] = '"';
  t->len += sl__json_escape(t->p + t->len, t->cap - t->len, s, n);
  t->p[t->len++] = '"';
  t->p[t->len] = '\0';
  return 0;
}

static int put_ts(struct sl_text *t, int64_t v, int64_t per_sec, int digits) {
  int64_t secs = v / per_sec, frac = v % per_sec;
  if (frac < 0) {
    frac += per_sec;
    secs--;
  }
  time_t tt = (time_t)secs;
  struct tm tm;
  if (!gmtime_r(&tt, &tm)) return sl__text_put(t, "null", 4);
  char buf[64];
  int n = snprintf(buf, sizeof buf,
                   "\"%04d-%02d-%02dT%02d:%02d:%02d.%0*" PRId64 "Z\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, digits, frac);
  return sl__text_put(t, buf, (size_t)n);
}

static int put_value(struct sl_text *t, const struct sl_array *a, int64_t i) {
  char buf[64];
  int n;
  if (!sl_array_is_valid(a, i)) return sl__text_put(t, "null", 4);
  switch (a->type) {
  case SL_TYPE_BOOL:
    return sl_array_bool(a, i) ? sl__text_put(t, "true", 4)
                               : sl__text_put(t, "false", 5);
  case SL_TYPE_INT32:
    n = snprintf(buf, sizeof buf, "%" PRId32, sl_array_i32(a)[i]);
    return sl__text_put(t, buf, (size_t)n);
  case SL_TYPE_INT64:
    n = snprintf(buf, sizeof buf, "%" PRId64, sl_array_i64(a)[i]);
    return sl__text_put(t, buf, (size_t)n);
  case SL_TYPE_FLOAT64: {
    double d = sl_array_f64(a)[i];
    if (!isfinite(d)) return sl__text_put(t, "null", 4);
    n = snprintf(buf, sizeof buf, "%.17g", d);
    return sl__text_put(t, buf, (size_t)n);
  }
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
  case SL_TYPE_DICT_UTF8: {
    int64_t len;
    const char *s = sl_array_str(a, i, &len);
    return put_str(t, s, (size_t)len);
  }
  case SL_TYPE_TIMESTAMP_MS: return put_ts(t, sl_array_i64(a)[i], 1000, 3);
  case SL_TYPE_TIMESTAMP_US: return put_ts(t, sl_array_i64(a)[i], 1000000, 6);
  case SL_TYPE_DATE32: {
    time_t tt = (time_t)sl_array_i32(a)[i] * 86400;
    struct tm tm;
    gmtime_r(&tt, &tm);
    n = snprintf(buf, sizeof buf, "\"%04d-%02d-%02d\"", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday);
    return sl__text_put(t, buf, (size_t)n);
  }
  case SL_TYPE_LIST: {
    int64_t start, len;
    sl_array_list_range(a, i, &start, &len);
    SL_RETURN_NOT_OK(sl__text_put(t, "[", 1));
    for (int64_t k = 0; k < len; k++) {
      if (k) SL_RETURN_NOT_OK(sl__text_put(t, ",", 1));
      SL_RETURN_NOT_OK(put_value(t, a->children[0], start + k));
    }
    return sl__text_put(t, "]", 1);
  }
  default: return sl__text_put(t, "null", 4);
  }
}

static int put_struct(struct sl_text *t, const struct sl_field *fields,
                      int32_t n, struct sl_array *const *cols, int64_t row,
                      int64_t parent_offset) {
  SL_RETURN_NOT_OK(sl__text_put(t, "{", 1));
  for (int32_t c = 0; c < n; c++) {
    if (c) SL_RETURN_NOT_OK(sl__text_put(t, ",", 1));
    SL_RETURN_NOT_OK(put_str(t, fields[c].name, strlen(fields[c].name)));
    SL_RETURN_NOT_OK(sl__text_put(t, ":", 1));
    const struct sl_array *a = cols[c];
    int64_t i = row + parent_offset;
    if (a->type == SL_TYPE_STRUCT) {
      if (!sl_array_is_valid(a, i))
        SL_RETURN_NOT_OK(sl__text_put(t, "null", 4));
      else
        SL_RETURN_NOT_OK(put_struct(t, fields[c].children, a->n_children,
                                    a->children, i, a->offset));
    } else {
      SL_RETURN_NOT_OK(put_value(t, a, i));
    }
  }
  return sl__text_put(t, "}", 1);
}

int sl__batch_to_jsonl(const struct sl_batch *b, struct sl_text *out) {
  for (int64_t r = 0; r < b->length; r++) {
    SL_RETURN_NOT_OK(
        put_struct(out, b->schema.fields, b->n_columns, b->columns, r, 0));
    SL_RETURN_NOT_OK(sl__text_put(out, "\n", 1));
  }
  return 0;
}
