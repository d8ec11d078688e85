/* JSON reader: numbers and timestamps.
 *
 * Numbers are scanned once into (sign, first 19 significant digits, decimal
 * exponent). Integers come straight from that. Doubles take an exact fast
 * path when the digits fit in 53 bits and the power of ten is exact
 * (|e| <= 22), where one IEEE multiply or divide of two exact values is
 * correctly rounded; everything else goes to strtod, fed the digits and the
 * exponent without a decimal point so the C locale cannot interfere.
 * Timestamps are parsed by hand: RFC 3339 with the ISO-8601 liberties logs
 * use (a space for 'T', no offset = UTC, any number of fraction digits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json/json_internal.h"

static inline bool is_digit(uint8_t c) {
  return (uint8_t)(c - '0') < 10;
}

const uint8_t *sl__json_number(const uint8_t *p, const uint8_t *end,
                               struct sl__jnum *n) {
  n->start = p;
  n->neg = false;
  n->is_int = true;
  n->many = false;
  n->mant = 0;
  n->exp10 = 0;
  if (p < end && *p == '-') {
    n->neg = true;
    p++;
  }
  if (p >= end || !is_digit(*p)) return NULL;
  int sig = 0;      /* significant digits taken into mant */
  int32_t drop = 0; /* integer digits that did not fit */
  if (*p == '0') {
    p++;
    if (p < end && is_digit(*p)) return NULL; /* leading zero */
  } else {
    while (p < end && is_digit(*p)) {
      if (sig < 19) {
        n->mant = n->mant * 10 + (uint64_t)(*p - '0');
        sig++;
      } else {
        n->many = true;
        drop++;
      }
      p++;
    }
  }
  int32_t frac = 0;
  if (p < end && *p == '.') {
    n->is_int = false;
    p++;
    if (p >= end || !is_digit(*p)) return NULL;
    while (p < end && is_digit(*p)) {
      if (sig < 19) {
        if (n->mant != 0 || *p != '0') {
          n->mant = n->mant * 10 + (uint64_t)(*p - '0');
          sig++;
        }
        frac++;
      } else {
        n->many = true;
      }
      p++;
    }
  }
  int64_t ex = 0;
  if (p < end && (*p == 'e' || *p == 'E')) {
    n->is_int = false;
    p++;
    bool eneg = false;
    if (p < end && (*p == '+' || *p == '-')) {
      eneg = *p == '-';
      p++;
    }
    if (p >= end || !is_digit(*p)) return NULL;
    while (p < end && is_digit(*p)) {
      if (ex < 100000) ex = ex * 10 + (*p - '0');
      p++;
    }
    if (eneg) ex = -ex;
  }
  n->exp10 = (int32_t)(ex + drop - frac);
  n->end = p;
  return p;
}

const double sl__jpow10d[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
const uint64_t sl__jpow10u[20] = {1ull,
                                  10ull,
                                  100ull,
                                  1000ull,
                                  10000ull,
                                  100000ull,
                                  1000000ull,
                                  10000000ull,
                                  100000000ull,
                                  1000000000ull,
                                  10000000000ull,
                                  100000000000ull,
                                  1000000000000ull,
                                  10000000000000ull,
                                  100000000000000ull,
                                  1000000000000000ull,
                                  10000000000000000ull,
                                  100000000000000000ull,
                                  1000000000000000000ull,
                                  10000000000000000000ull};

double sl__json_num_f64(const struct sl__jnum *n) {
  if (!n->many && n->mant <= (1ull << 53) && n->exp10 >= -22 &&
      n->exp10 <= 22) {
    double d = (double)n->mant;
    d = n->exp10 < 0 ? d / sl__jpow10d[-n->exp10] : d * sl__jpow10d[n->exp10];
    return n->neg ? -d : d;
  }
  /* strtod on "[-]DIGITSeEXP": the digits without '.', so no locale. */
  size_t len = (size_t)(n->end - n->start);
  char small[128];
  char *buf = len + 32 <= sizeof small ? small : sl_malloc(len + 32);
  if (buf == NULL) return 0.0; /* only on out-of-memory with a huge number */
  size_t k = 0;
  const uint8_t *p = n->start;
  int64_t frac = 0;
  bool in_frac = false;
  if (*p == '-') buf[k++] = *p++;
  for (; p < n->end && *p != 'e' && *p != 'E'; p++) {
    if (*p == '.') {
      in_frac = true;
      continue;
    }
    buf[k++] = (char)*p;
    if (in_frac) frac++;
  }
  int64_t ex = 0;
  if (p < n->end) {
    p++;
    bool eneg = false;
    if (*p == '+' || *p == '-') eneg = *p++ == '-';
    for (; p < n->end; p++)
      if (ex < 100000000) ex = ex * 10 + (*p - '0');
    if (eneg) ex = -ex;
  }
  ex -= frac;
  int w = snprintf(buf + k, 32, "e%lld", (long long)ex);
  (void)w;
  double d = strtod(buf, NULL);
  if (buf != small) sl_free(buf);
  return d;
}

int sl__json_num_i64(const struct sl__jnum *n, int64_t *out) {
  uint64_t m = n->mant;
  if (n->many) {
    double d = sl__json_num_f64(n);
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return -1;
    if ((double)(int64_t)d != d) return -1;
    *out = (int64_t)d;
    return 0;
  }
  if (m == 0) {
    *out = 0;
    return 0;
  }
  if (n->exp10 > 0) {
    if (n->exp10 > 19) return -1;
    uint64_t p = sl__jpow10u[n->exp10];
    if (m > UINT64_MAX / p) return -1;
    m *= p;
  } else if (n->exp10 < 0) {
    if (n->exp10 < -19) return -1;
    uint64_t p = sl__jpow10u[-n->exp10];
    if (m % p) return -1;
    m /= p;
  }
  if (n->neg) {
    if (m > (uint64_t)INT64_MAX + 1) return -1;
    *out = (int64_t)(0 - m);
  } else {
    if (m > (uint64_t)INT64_MAX) return -1;
    *out = (int64_t)m;
  }
  return 0;
}

/* ---- timestamps -------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date: count in 400-year eras
 * whose years start in March, so the leap day is the era-year's last day. */
int64_t sl__json_days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;                         /* [0, 399] */
  int64_t mp = (m + 9) % 12;                           /* March = 0 */
  int64_t doy = (153 * mp + 2) / 5 + d - 1;            /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
  return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dm[m - 1];
}

static bool digits(const uint8_t *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

static int parse_date(const uint8_t *s, size_t n, int64_t *days) {
  int y, mo, d;
  if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
      s[7] != '-' || !digits(s + 8, 2, &d))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return -1;
  *days = sl__json_days_from_civil(y, mo, d);
  return 0;
}

int sl__json_parse_date(const uint8_t *s, size_t n, int32_t *days) {
  int64_t d;
  if (n != 10 || parse_date(s, n, &d)) return -1;
  *days = (int32_t)d;
  return 0;
}

int sl__json_parse_ts(const uint8_t *s, size_t n, int64_t per_sec,
                      bool full_only, int64_t *out, int *frac_digits) {
  int64_t days;
  if (parse_date(s, n, &days)) return -1;
  if (frac_digits) *frac_digits = 0;
  if (n == 10) {
    if (full_only) return -1;
    *out = days * 86400 * per_sec;
    return 0;
  }
  if (n < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) return -1;
  int hh, mi, ss;
  if (!digits(s + 11, 2, &hh) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
      s[16] != ':' || !digits(s + 17, 2, &ss))
    return -1;
  if (hh > 23 || mi > 59 || ss > 59) return -1;
  size_t i = 19;
  int64_t sub = 0; /* fraction in units of 1/per_sec */
  if (i < n && s[i] == '.') {
    i++;
    size_t f0 = i;
    int64_t scale = per_sec;
    while (i < n && is_digit(s[i])) {
      scale /= 10; /* digits finer than the unit are truncated */
      sub += (s[i] - '0') * scale;
      i++;
    }
    if (i == f0) return -1;
    if (frac_digits) *frac_digits = (int)(i - f0);
  }
  int64_t off = 0; /* seconds east of UTC */
  if (i < n) {
    if (s[i] == 'Z' || s[i] == 'z') {
      i++;
    } else if (s[i] == '+' || s[i] == '-') {
      int oh, om;
      bool neg = s[i] == '-';
      i++;
      if (n - i < 2 || !digits(s + i, 2, &oh)) return -1;
      i += 2;
      if (i < n && s[i] == ':') i++;
      if (n - i < 2 || !digits(s + i, 2, &om)) return -1;
      i += 2;
      if (oh > 23 || om > 59) return -1;
      off = (oh * 3600 + om * 60) * (neg ? -1 : 1);
    } else {
      return -1;
    }
  }
  if (i != n) return -1;
  int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - off;
  *out = secs * per_sec + sub;
  return 0;
}
