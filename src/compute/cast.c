/* CAST between SQL types. Strings that do not convert are errors naming the
 * value and the expression, as DuckDB does; double -> integer rounds half
 * away from zero and checks the range. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compute/expr.h"
#include "sluice/alloc.h"

#define AT(v, r) ((v)->constant ? 0 : (r))
#define US_PER_DAY INT64_C(86400000000)

int sl__format_double(double v, char *buf, size_t cap) {
  if (!buf || cap < 32) return 0;
  if (isnan(v)) return snprintf(buf, cap, "nan");
  if (isinf(v)) return snprintf(buf, cap, v < 0 ? "-inf" : "inf");
  if (v == floor(v) && fabs(v) < 1e16) return snprintf(buf, cap, "%.1f", v);
  for (int p = 1; p <= 17; p++) {
    int k = snprintf(buf, cap, "%.*g", p, v);
    if (strtod(buf, NULL) == v) return k;
  }
  return snprintf(buf, cap, "%.17g", v);
}

static bool parse_i64(struct sl_str s, int64_t *out) {
  const char *p = s.p, *e = s.p + s.n;
  while (p < e && isspace((unsigned char)*p))
    p++;
  while (e > p && isspace((unsigned char)e[-1]))
    e--;
  bool neg = false;
  if (p < e && (*p == '+' || *p == '-')) neg = *p++ == '-';
  if (p == e) return false;
  uint64_t v = 0;
  const char *digits_start = p;
  while (p < e && isdigit((unsigned char)*p)) {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + (uint64_t)(*p++ - '0');
  }
  if (p < e && *p == '.') { /* DuckDB rounds "1.6" to 2 */
    const char *q = p + 1;
    while (q < e && isdigit((unsigned char)*q))
      q++;
    if (q != e || p == digits_start) return false;
    if (p + 1 < e && p[1] >= '5') v++;
    p = e;
  }
  if (p != e) return false;
  if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

static bool parse_f64(struct sl_str s, double *out) {
  char buf[128];
  if (s.n <= 0 || s.n >= (int64_t)sizeof buf) return false;
  memcpy(buf, s.p, (size_t)s.n);
  buf[s.n] = 0;
  char *end;
  errno = 0;
  double v = strtod(buf, &end);
  while (*end && isspace((unsigned char)*end))
    end++;
  if (end == buf || *end) return false;
  *out = v;
  return true;
}

static bool parse_bool(struct sl_str s, uint8_t *out) {
  static const char *t[] = {"true", "t", "1", "yes", "y"};
  static const char *f[] = {"false", "f", "0", "no", "n"};
  for (int i = 0; i < 5; i++) {
    if ((int64_t)strlen(t[i]) == s.n && !strncasecmp(s.p, t[i], (size_t)s.n)) {
      *out = 1;
      return true;
    }
    if ((int64_t)strlen(f[i]) == s.n && !strncasecmp(s.p, f[i], (size_t)s.n)) {
      *out = 0;
      return true;
    }
  }
  return false;
}

static int bad_value(const struct sl_expr *e, struct sl_str s,
                     struct sl_error *err) {
  return sl_error_set(
      err, SL_EINVAL,
      "could not convert string '%.*s' to %s in expression '%s'",
      (int)(s.n > 64 ? 64 : s.n), s.p, sl__vt_name(e->type),
      e->text ? e->text : "?");
}

static int to_string(const struct sl_vec *a, int64_t n, struct sl_arena *ar,
                     struct sl_vec *out) {
  char buf[64];
  for (int64_t r = 0; r < n; r++) {
    int64_t i = AT(a, r);
    if (!sl__vec_valid(a, i)) {
      out->d.s[r] = (struct sl_str){"", 0};
      continue;
    }
    int k;
    switch (a->type) {
    case SL_VT_I64:
      k = snprintf(buf, sizeof buf, "%lld", (long long)a->d.i[i]);
      break;
    case SL_VT_F64: k = sl__format_double(a->d.f[i], buf, sizeof buf); break;
    case SL_VT_BOOL:
      k = snprintf(buf, sizeof buf, "%s", a->d.b[i] ? "true" : "false");
      break;
    case SL_VT_TS: k = sl__format_timestamp(a->d.i[i], buf, sizeof buf); break;
    case SL_VT_DATE: k = sl__format_date(a->d.i[i], buf, sizeof buf); break;
    default: k = 0;
    }
    if (k < 0) k = 0;
    if (k >= (int)sizeof buf) k = (int)sizeof buf - 1;
    char *p = sl_arena_alloc(ar, (size_t)k + 1);
    if (!p) return SL_ENOMEM;
    memcpy(p, buf, (size_t)k);
    out->d.s[r] = (struct sl_str){p, k};
  }
  return 0;
}

int sl__eval_cast(const struct sl_expr *e, struct sl_vec *a, int64_t n,
                  struct sl_arena *ar, struct sl_vec *out,
                  struct sl_error *err) {
  enum sl_vt to = e->type, from = a->type;
  if (to == from) {
    *out = *a;
    return 0;
  }
  int rc = sl__vec_alloc(ar, to, n, out);
  if (rc) return rc;
  out->valid = a->constant ? NULL : a->valid;
  if (a->constant && a->valid && !a->valid[0]) {
    struct sl_value nv = {.type = to, .is_null = true};
    return sl__vec_const(ar, &nv, n, out);
  }
#define VALID(r) (sl__vec_valid(a, AT(a, r)))
  if (to == SL_VT_STR) return to_string(a, n, ar, out);
  for (int64_t r = 0; r < n; r++) {
    int64_t i = AT(a, r);
    bool ok = VALID(r);
    switch (to) {
    case SL_VT_I64:
      if (from == SL_VT_F64) {
        double v = a->d.f[i];
        if (ok && !(v > -9223372036854775808.0 && v < 9223372036854775808.0))
          return sl_error_set(
              err, SL_ERANGE,
              "value %g is out of range for BIGINT in expression '%s'", v,
              e->text ? e->text : "?");
        out->d.i[r] =
            ok ? (int64_t)nearbyint(v) : 0; /* half to even, as DuckDB */
      } else if (from == SL_VT_BOOL) {
        out->d.i[r] = a->d.b[i];
      } else if (from == SL_VT_STR) {
        if (ok && !parse_i64(a->d.s[i], &out->d.i[r]))
          return bad_value(e, a->d.s[i], err);
      } else {
        out->d.i[r] = a->d.i[i]; /* timestamp/date as their integer */
      }
      break;
    case SL_VT_F64:
      if (from == SL_VT_I64)
        out->d.f[r] = (double)a->d.i[i];
      else if (from == SL_VT_BOOL)
        out->d.f[r] = a->d.b[i];
      else if (from == SL_VT_STR) {
        if (ok && !parse_f64(a->d.s[i], &out->d.f[r]))
          return bad_value(e, a->d.s[i], err);
      } else
        goto unsupported;
      break;
    case SL_VT_BOOL:
      if (from == SL_VT_I64)
        out->d.b[r] = a->d.i[i] != 0;
      else if (from == SL_VT_F64)
        out->d.b[r] = a->d.f[i] != 0;
      else if (from == SL_VT_STR) {
        if (ok && !parse_bool(a->d.s[i], &out->d.b[r]))
          return bad_value(e, a->d.s[i], err);
      } else
        goto unsupported;
      break;
    case SL_VT_TS:
      if (from == SL_VT_DATE)
        out->d.i[r] = a->d.i[i] * US_PER_DAY;
      else if (from == SL_VT_STR) {
        if (ok && !sl__parse_timestamp(a->d.s[i].p, a->d.s[i].n, &out->d.i[r]))
          return bad_value(e, a->d.s[i], err);
      } else
        goto unsupported;
      break;
    case SL_VT_DATE:
      if (from == SL_VT_TS) {
        int64_t t = a->d.i[i];
        out->d.i[r] = t / US_PER_DAY - (t % US_PER_DAY < 0);
      } else if (from == SL_VT_STR) {
        int64_t t;
        if (ok && !sl__parse_timestamp(a->d.s[i].p, a->d.s[i].n, &t))
          return bad_value(e, a->d.s[i], err);
        out->d.i[r] = ok ? t / US_PER_DAY - (t % US_PER_DAY < 0) : 0;
      } else
        goto unsupported;
      break;
    default: goto unsupported;
    }
    if (!ok && to != SL_VT_I64 && to != SL_VT_F64 && to != SL_VT_BOOL) continue;
  }
#undef VALID
  return 0;
unsupported:
  return sl_error_set(err, SL_EINVAL, "cannot cast %s to %s in expression '%s'",
                      sl__vt_name(from), sl__vt_name(to),
                      e->text ? e->text : "?");
}
