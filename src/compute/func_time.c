/* Time kernels and helpers: civil-date arithmetic, ISO-8601 parsing and
 * formatting, date_trunc, time_bucket, date_part/extract, epoch_ms,
 * to_timestamp, timestamp +/- interval. Timestamps are int64 microseconds
 * since 1970-01-01 UTC; dates are int64 days. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "compute/expr.h"

#define US_PER_SEC INT64_C(1000000)
#define US_PER_MIN (60 * US_PER_SEC)
#define US_PER_HOUR (60 * US_PER_MIN)
#define US_PER_DAY (24 * US_PER_HOUR)
#define AT(v, r) ((v)->constant ? 0 : (r))

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, by counting whole
 * 400-year eras (146097 days) from 0000-03-01 so leap days fall last. */
int64_t sl__days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t mp = (m + 9) % 12; /* March = 0 */
  int64_t doy = (153 * mp + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void sl__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
  *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static bool digits(const char *s, int64_t n, int64_t at, int k, int *out) {
  if (at + k > n) return false;
  int v = 0;
  for (int i = 0; i < k; i++) {
    if (!isdigit((unsigned char)s[at + i])) return false;
    v = v * 10 + (s[at + i] - '0');
  }
  *out = v;
  return true;
}

bool sl__parse_timestamp(const char *s, int64_t n, int64_t *us) {
  while (n && s[n - 1] == ' ')
    n--;
  while (n && *s == ' ')
    s++, n--;
  int y, mo, d, h = 0, mi = 0, se = 0;
  int64_t at = 0, frac = 0;
  bool neg_year = false;
  if (n && s[0] == '-') neg_year = true, at = 1;
  if (!digits(s, n, at, 4, &y) || at + 4 >= n || s[at + 4] != '-') return false;
  at += 5;
  if (!digits(s, n, at, 2, &mo) || at + 2 >= n || s[at + 2] != '-')
    return false;
  at += 3;
  if (!digits(s, n, at, 2, &d)) return false;
  at += 2;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
  if (at < n && (s[at] == 'T' || s[at] == ' ')) {
    at++;
    if (!digits(s, n, at, 2, &h) || at + 2 >= n || s[at + 2] != ':')
      return false;
    at += 3;
    if (!digits(s, n, at, 2, &mi)) return false;
    at += 2;
    if (at < n && s[at] == ':') {
      if (!digits(s, n, at + 1, 2, &se)) return false;
      at += 3;
      if (at < n && (s[at] == '.' || s[at] == ',')) {
        at++;
        int k = 0;
        while (at < n && isdigit((unsigned char)s[at])) {
          if (k < 6) frac = frac * 10 + (s[at] - '0');
          k++;
          at++;
        }
        if (k == 0) return false;
        for (; k < 6; k++)
          frac *= 10;
      }
    }
    if (h > 23 || mi > 59 || se > 60) return false;
  }
  int64_t off = 0;
  if (at < n && (s[at] == 'Z' || s[at] == 'z')) {
    at++;
  } else if (at < n && (s[at] == '+' || s[at] == '-')) {
    int oh, om = 0;
    int sign = s[at] == '-' ? -1 : 1;
    at++;
    if (!digits(s, n, at, 2, &oh)) return false;
    at += 2;
    if (at < n && s[at] == ':') at++;
    if (at < n) {
      if (!digits(s, n, at, 2, &om)) return false;
      at += 2;
    }
    off = sign * (oh * US_PER_HOUR + om * US_PER_MIN);
  }
  if (at != n) return false;
  int64_t days =
      sl__days_from_civil(neg_year ? -y : y, (unsigned)mo, (unsigned)d);
  *us = days * US_PER_DAY + h * US_PER_HOUR + mi * US_PER_MIN +
        se * US_PER_SEC + frac - off;
  return true;
}

int sl__format_date(int64_t days, char *buf, size_t cap) {
  int64_t y;
  unsigned m, d;
  sl__civil_from_days(days, &y, &m, &d);
  return snprintf(buf, cap, "%04lld-%02u-%02u", (long long)y, m, d);
}

int sl__format_timestamp(int64_t us, char *buf, size_t cap) {
  int64_t days = floor_div(us, US_PER_DAY);
  int64_t rem = us - days * US_PER_DAY;
  int n = sl__format_date(days, buf, cap);
  if (n < 0 || (size_t)n >= cap) return n;
  int h = (int)(rem / US_PER_HOUR), mi = (int)(rem / US_PER_MIN % 60),
      s = (int)(rem / US_PER_SEC % 60), f = (int)(rem % US_PER_SEC);
  int k = f ? snprintf(buf + n, cap - (size_t)n, " %02d:%02d:%02d.%06d", h, mi,
                       s, f)
            : snprintf(buf + n, cap - (size_t)n, " %02d:%02d:%02d", h, mi, s);
  if (f) { /* trim trailing zeros of the fraction, as DuckDB prints */
    while (buf[n + k - 1] == '0')
      k--;
    buf[n + k] = 0;
  }
  return n + k;
}

int sl__part_parse(const char *s, size_t n, enum sl_part *out) {
  static const struct {
    const char *name;
    enum sl_part p;
  } names[] = {{"microsecond", SL_PART_MICROSECOND},
               {"microseconds", SL_PART_MICROSECOND},
               {"us", SL_PART_MICROSECOND},
               {"millisecond", SL_PART_MILLISECOND},
               {"milliseconds", SL_PART_MILLISECOND},
               {"ms", SL_PART_MILLISECOND},
               {"second", SL_PART_SECOND},
               {"seconds", SL_PART_SECOND},
               {"s", SL_PART_SECOND},
               {"minute", SL_PART_MINUTE},
               {"minutes", SL_PART_MINUTE},
               {"m", SL_PART_MINUTE},
               {"hour", SL_PART_HOUR},
               {"hours", SL_PART_HOUR},
               {"h", SL_PART_HOUR},
               {"day", SL_PART_DAY},
               {"days", SL_PART_DAY},
               {"d", SL_PART_DAY},
               {"week", SL_PART_WEEK},
               {"weeks", SL_PART_WEEK},
               {"month", SL_PART_MONTH},
               {"months", SL_PART_MONTH},
               {"quarter", SL_PART_QUARTER},
               {"year", SL_PART_YEAR},
               {"years", SL_PART_YEAR},
               {"dow", SL_PART_DOW},
               {"dayofweek", SL_PART_DOW},
               {"isodow", SL_PART_ISODOW},
               {"doy", SL_PART_DOY},
               {"dayofyear", SL_PART_DOY},
               {"epoch", SL_PART_EPOCH}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i].name) == n && !strncasecmp(names[i].name, s, n)) {
      *out = names[i].p;
      return 0;
    }
  return SL_EINVAL;
}

bool sl__parse_interval(const char *s, size_t n, struct sl_interval *out) {
  memset(out, 0, sizeof *out);
  size_t i = 0;
  bool any = false;
  while (i < n) {
    while (i < n && s[i] == ' ')
      i++;
    if (i == n) break;
    bool neg = false;
    if (s[i] == '-') neg = true, i++;
    if (i >= n || !isdigit((unsigned char)s[i])) return false;
    int64_t v = 0;
    while (i < n && isdigit((unsigned char)s[i])) {
      if (v > 1000000) return false; /* keeps every product below 2^63 */
      v = v * 10 + (s[i++] - '0');
    }
    if (neg) v = -v;
    while (i < n && s[i] == ' ')
      i++;
    size_t b = i;
    while (i < n && isalpha((unsigned char)s[i]))
      i++;
    enum sl_part p;
    if (i == b || sl__part_parse(s + b, i - b, &p)) return false;
    switch (p) {
    case SL_PART_MICROSECOND: out->micros += v; break;
    case SL_PART_MILLISECOND: out->micros += v * 1000; break;
    case SL_PART_SECOND: out->micros += v * US_PER_SEC; break;
    case SL_PART_MINUTE: out->micros += v * US_PER_MIN; break;
    case SL_PART_HOUR: out->micros += v * US_PER_HOUR; break;
    case SL_PART_DAY: out->days += (int32_t)v; break;
    case SL_PART_WEEK: out->days += (int32_t)(7 * v); break;
    case SL_PART_MONTH: out->months += (int32_t)v; break;
    case SL_PART_QUARTER: out->months += (int32_t)(3 * v); break;
    case SL_PART_YEAR: out->months += (int32_t)(12 * v); break;
    default: return false;
    }
    any = true;
  }
  return any;
}

static int64_t trunc_ts(int64_t t, enum sl_part p) {
  int64_t days, y;
  unsigned m, d;
  switch (p) {
  case SL_PART_MICROSECOND: return t;
  case SL_PART_MILLISECOND: return floor_div(t, 1000) * 1000;
  case SL_PART_SECOND: return floor_div(t, US_PER_SEC) * US_PER_SEC;
  case SL_PART_MINUTE: return floor_div(t, US_PER_MIN) * US_PER_MIN;
  case SL_PART_HOUR: return floor_div(t, US_PER_HOUR) * US_PER_HOUR;
  case SL_PART_DAY: return floor_div(t, US_PER_DAY) * US_PER_DAY;
  case SL_PART_WEEK: /* ISO weeks start on Monday; 1970-01-01 was a Thursday */
    days = floor_div(t, US_PER_DAY);
    return (days - (((days + 3) % 7) + 7) % 7) * US_PER_DAY;
  default: break;
  }
  sl__civil_from_days(floor_div(t, US_PER_DAY), &y, &m, &d);
  if (p == SL_PART_MONTH) return sl__days_from_civil(y, m, 1) * US_PER_DAY;
  if (p == SL_PART_QUARTER)
    return sl__days_from_civil(y, (m - 1) / 3 * 3 + 1, 1) * US_PER_DAY;
  return sl__days_from_civil(y, 1, 1) * US_PER_DAY; /* year */
}

static int64_t add_months(int64_t t, int32_t months) {
  int64_t days = floor_div(t, US_PER_DAY), y;
  int64_t rem = t - days * US_PER_DAY;
  unsigned m, d;
  sl__civil_from_days(days, &y, &m, &d);
  int64_t mm = y * 12 + (m - 1) + months;
  y = floor_div(mm, 12);
  m = (unsigned)(mm - y * 12 + 1);
  static const unsigned mdays[] = {31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31};
  unsigned last =
      mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
  if (d > last) d = last;
  return sl__days_from_civil(y, m, d) * US_PER_DAY + rem;
}

static double part_of(int64_t t, enum sl_part p) {
  int64_t days = floor_div(t, US_PER_DAY), y;
  int64_t rem = t - days * US_PER_DAY;
  unsigned m, d;
  switch (p) {
  case SL_PART_EPOCH: return (double)t / 1e6;
  case SL_PART_MICROSECOND: return (double)(rem % US_PER_MIN);
  case SL_PART_MILLISECOND: return (double)(rem % US_PER_MIN / 1000);
  case SL_PART_SECOND: return (double)(rem / US_PER_SEC % 60);
  case SL_PART_MINUTE: return (double)(rem / US_PER_MIN % 60);
  case SL_PART_HOUR: return (double)(rem / US_PER_HOUR);
  case SL_PART_DOW: return (double)((((days + 4) % 7) + 7) % 7);
  case SL_PART_ISODOW: return (double)((((days + 3) % 7) + 7) % 7 + 1);
  default: break;
  }
  sl__civil_from_days(days, &y, &m, &d);
  switch (p) {
  case SL_PART_DAY: return d;
  case SL_PART_MONTH: return m;
  case SL_PART_QUARTER: return (m - 1) / 3 + 1;
  case SL_PART_YEAR: return (double)y;
  case SL_PART_DOY: return (double)(days - sl__days_from_civil(y, 1, 1) + 1);
  case SL_PART_WEEK: { /* ISO week number */
    int64_t mon = trunc_ts(t, SL_PART_WEEK) / US_PER_DAY;
    int64_t thu = mon + 3, ty;
    unsigned tm, td;
    sl__civil_from_days(thu, &ty, &tm, &td);
    return (double)((thu - sl__days_from_civil(ty, 1, 1)) / 7 + 1);
  }
  default: return 0;
  }
}

int sl__eval_time_fn(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                     struct sl_arena *ar, struct sl_vec *out,
                     struct sl_error *err) {
  (void)err;
  int rc = sl__vec_alloc(ar, e->type, n, out);
  if (rc) return rc;
  struct sl_vec *a = &args[e->op == SL_X_TIME_BUCKET ? 1 : 0];
  out->valid = a->constant ? NULL : a->valid;
  if (a->constant && a->valid && !a->valid[0]) {
    struct sl_value nv = {.type = e->type, .is_null = true};
    return sl__vec_const(ar, &nv, n, out);
  }
  /* Dates are days: widen to micros first when a date reaches a ts kernel. */
  int64_t scale = a->type == SL_VT_DATE ? US_PER_DAY : 1;
  switch (e->op) {
  case SL_X_DATE_TRUNC:
    for (int64_t r = 0; r < n; r++)
      out->d.i[r] = trunc_ts(a->d.i[AT(a, r)] * scale, (enum sl_part)e->part);
    return 0;
  case SL_X_TIME_BUCKET: {
    struct sl_interval iv = args[0].d.iv[0];
    if (iv.months > 0 && iv.days == 0 && iv.micros == 0) {
      int64_t origin_m = 2000 * 12;
      for (int64_t r = 0; r < n; r++) {
        int64_t t = a->d.i[AT(a, r)] * scale, y;
        unsigned m, d;
        sl__civil_from_days(floor_div(t, US_PER_DAY), &y, &m, &d);
        int64_t mm = y * 12 + (m - 1) - origin_m;
        mm = floor_div(mm, iv.months) * iv.months + origin_m;
        int64_t by = floor_div(mm, 12);
        out->d.i[r] = sl__days_from_civil(by, (unsigned)(mm - by * 12 + 1), 1) *
                      US_PER_DAY;
      }
      return 0;
    }
    int64_t w = iv.days * US_PER_DAY + iv.micros;
    if (iv.months != 0 || w <= 0)
      return sl_error_set(err, SL_EINVAL,
                          "time_bucket needs a positive interval of either "
                          "months or days/time in '%s'",
                          e->text ? e->text : "?");
    const int64_t origin = INT64_C(946857600) * US_PER_SEC; /* 2000-01-03 */
    for (int64_t r = 0; r < n; r++) {
      int64_t t = a->d.i[AT(a, r)] * scale;
      out->d.i[r] = floor_div(t - origin, w) * w + origin;
    }
    return 0;
  }
  case SL_X_DATE_PART:
    if (e->type == SL_VT_F64)
      for (int64_t r = 0; r < n; r++)
        out->d.f[r] = part_of(a->d.i[AT(a, r)] * scale, (enum sl_part)e->part);
    else
      for (int64_t r = 0; r < n; r++)
        out->d.i[r] =
            (int64_t)part_of(a->d.i[AT(a, r)] * scale, (enum sl_part)e->part);
    return 0;
  case SL_X_EPOCH_MS:
    for (int64_t r = 0; r < n; r++)
      out->d.i[r] = floor_div(a->d.i[AT(a, r)] * scale, 1000);
    return 0;
  case SL_X_MS_TO_TS: {
    int ovf = 0;
    for (int64_t r = 0; r < n; r++)
      ovf |= __builtin_mul_overflow(a->d.i[AT(a, r)], 1000, &out->d.i[r]) &
             (a->valid && !a->constant ? a->valid[r] : 1);
    if (ovf)
      return sl_error_set(err, SL_ERANGE,
                          "epoch_ms value out of the TIMESTAMP range in '%s'",
                          e->text ? e->text : "?");
    return 0;
  }
  case SL_X_TO_TIMESTAMP:
    for (int64_t r = 0; r < n; r++)
      out->d.i[r] = (int64_t)llround(a->d.f[AT(a, r)] * 1e6);
    return 0;
  case SL_X_TS_ADD: {
    struct sl_interval iv = args[1].d.iv[0];
    int64_t sign = e->negate ? -1 : 1;
    for (int64_t r = 0; r < n; r++) {
      int64_t t = a->d.i[AT(a, r)] * scale;
      if (iv.months) t = add_months(t, (int32_t)(sign * iv.months));
      out->d.i[r] = t + sign * (iv.days * US_PER_DAY + iv.micros);
    }
    return 0;
  }
  default: return SL_EINVAL;
  }
}
