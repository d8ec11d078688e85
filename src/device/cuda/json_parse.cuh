/* sluice CUDA backend: device-side JSON Lines value parsing.
 *
 * One thread reads one line. The scanner walks the top-level object, matches
 * keys against the plan's paths (one nesting level: "geo.country"), and
 * skips everything else (strings with escapes, nested objects and arrays).
 * Numbers use the exact fast path (mantissa < 2^53, |exp| <= 22: one
 * correctly rounded operation) and fall back to a slower loop otherwise. */
#pragma once

#include <stdint.h>

#include "device/device_abi.h"

struct dev_value {
  int64_t i;     /* int64, bool, ts */
  double f;      /* float64 */
  int64_t s_off; /* string: offset of the first byte after the quote */
  int32_t s_len; /* raw bytes between the quotes (escapes undecoded) */
  uint8_t valid; /* 0: missing or null or wrong type */
};

__device__ __forceinline__ bool dev_is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

__device__ __forceinline__ int64_t dev_skip_ws(const char *p, int64_t i,
                                               int64_t end) {
  while (i < end && dev_is_ws(p[i]))
    i++;
  return i;
}

/* Skips a string starting at the opening quote; returns the index after the
 * closing quote or -1. */
__device__ __forceinline__ int64_t dev_skip_string(const char *p, int64_t i,
                                                   int64_t end) {
  i++;
  while (i < end) {
    char c = p[i];
    if (c == '"') return i + 1;
    if (c == '\n') return -1;
    if (c == '\\') {
      /* An escape never swallows the newline that ends the line. */
      if (i + 1 < end && p[i + 1] == '\n') return -1;
      i += 2;
    } else {
      i++;
    }
  }
  return -1;
}

/* Skips any JSON value; returns the index after it or -1. */
__device__ int64_t dev_skip_value(const char *p, int64_t i, int64_t end) {
  if (i >= end) return -1;
  char c = p[i];
  if (c == '"') return dev_skip_string(p, i, end);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (i < end) {
      c = p[i];
      if (c == '"') {
        i = dev_skip_string(p, i, end);
        if (i < 0) return -1;
        continue;
      }
      if (c == '{' || c == '[')
        depth++;
      else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      } else if (c == '\n')
        return -1;
      i++;
    }
    return -1;
  }
  /* number or literal */
  int64_t s = i;
  while (i < end) {
    c = p[i];
    if (c == ',' || c == '}' || c == ']' || dev_is_ws(c) || c == '\n') break;
    i++;
  }
  return i > s ? i : -1;
}

__constant__ double dev_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Parses a JSON number at p[i..]; sets *is_int when it had no fraction or
 * exponent. Returns the index after it or -1. */
__device__ int64_t dev_parse_number(const char *p, int64_t i, int64_t end,
                                    double *f, int64_t *iv, bool *is_int) {
  bool neg = false;
  if (i < end && p[i] == '-') {
    neg = true;
    i++;
  }
  uint64_t mant = 0;
  int digits = 0, dropped = 0;
  int64_t s = i;
  while (i < end && p[i] >= '0' && p[i] <= '9') {
    if (digits < 19) {
      mant = mant * 10 + (uint64_t)(p[i] - '0');
      if (mant) digits++;
    } else {
      dropped++;
    }
    i++;
  }
  if (i == s) return -1;
  int exp10 = dropped;
  *is_int = true;
  if (i < end && p[i] == '.') {
    *is_int = false;
    i++;
    int64_t fs = i;
    while (i < end && p[i] >= '0' && p[i] <= '9') {
      if (digits < 19) {
        mant = mant * 10 + (uint64_t)(p[i] - '0');
        if (mant) digits++;
        exp10--;
      }
      i++;
    }
    if (i == fs) return -1;
  }
  if (i < end && (p[i] == 'e' || p[i] == 'E')) {
    *is_int = false;
    i++;
    bool eneg = false;
    if (i < end && (p[i] == '+' || p[i] == '-')) eneg = p[i++] == '-';
    int e = 0;
    int64_t es = i;
    while (i < end && p[i] >= '0' && p[i] <= '9') {
      if (e < 100000) e = e * 10 + (p[i] - '0');
      i++;
    }
    if (i == es) return -1;
    exp10 += eneg ? -e : e;
  }
  double v;
  if (mant < (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
    v = (double)mant;
    v = exp10 < 0 ? v / dev_pow10[-exp10] : v * dev_pow10[exp10];
  } else {
    v = (double)mant;
    int e = exp10;
    while (e > 22) {
      v *= 1e22;
      e -= 22;
    }
    while (e < -22) {
      v /= 1e22;
      e += 22;
    }
    v = e < 0 ? v / dev_pow10[-e] : v * dev_pow10[e];
  }
  *f = neg ? -v : v;
  *iv = neg ? -(int64_t)mant : (int64_t)mant;
  if (*is_int && dropped) *is_int = false;
  if (!*is_int && v == (double)(int64_t)v && v < 9.2e18 && v > -9.2e18) {
    /* 1e3 read into an integer column is 1000. */
    *iv = (int64_t)(*f);
  }
  return i;
}

__device__ __forceinline__ int dev_digits(const char *p, int n) {
  int v = 0;
  for (int k = 0; k < n; k++) {
    char c = p[k];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

/* RFC 3339 / ISO-8601 "YYYY-MM-DD[T ]hh:mm:ss[.fff][Z|±hh:mm]" to epoch ms. */
__device__ bool dev_parse_ts(const char *p, int32_t n, int64_t *ms) {
  if (n < 10) return false;
  int y = dev_digits(p, 4), mo = dev_digits(p + 5, 2), d = dev_digits(p + 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || p[4] != '-' ||
      p[7] != '-')
    return false;
  int h = 0, mi = 0, s = 0, frac_ms = 0, k = 10;
  int64_t off_s = 0;
  if (n > 10) {
    if ((p[10] != 'T' && p[10] != 't' && p[10] != ' ') || n < 19) return false;
    h = dev_digits(p + 11, 2);
    mi = dev_digits(p + 14, 2);
    s = dev_digits(p + 17, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 ||
        p[13] != ':' || p[16] != ':')
      return false;
    k = 19;
    if (k < n && p[k] == '.') {
      k++;
      int scale = 100, got = 0;
      while (k < n && p[k] >= '0' && p[k] <= '9') {
        frac_ms += (p[k] - '0') * scale;
        scale /= 10;
        k++;
        got++;
      }
      if (!got) return false;
    }
    if (k < n) {
      if (p[k] == 'Z' || p[k] == 'z') {
        k++;
      } else if (p[k] == '+' || p[k] == '-') {
        if (n - k < 6) return false;
        int oh = dev_digits(p + k + 1, 2), om = dev_digits(p + k + 4, 2);
        if (oh < 0 || om < 0 || p[k + 3] != ':') return false;
        off_s = (int64_t)(oh * 3600 + om * 60) * (p[k] == '+' ? 1 : -1);
        k += 6;
      }
    }
    if (k != n) return false;
  }
  /* days from civil (proleptic Gregorian) */
  int yy = y - (mo <= 2);
  int era = (yy >= 0 ? yy : yy - 399) / 400;
  int yoe = yy - era * 400;
  int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = (int64_t)era * 146097 + doe - 719468;
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - off_s;
  *ms = secs * 1000 + frac_ms;
  return true;
}

/* Reads the value at p[i] into v according to type; returns the index after
 * the value or -1 on a syntax error. A value of the wrong JSON kind leaves v
 * invalid (null), as the CPU reader's null-on-mismatch policy does. */
__device__ int64_t dev_read_value(const char *p, int64_t i, int64_t end,
                                  int32_t type, int32_t num_per_ms,
                                  struct dev_value *v) {
  if (i >= end) return -1;
  char c = p[i];
  if (c == 'n') { /* null */
    v->valid = 0;
    return dev_skip_value(p, i, end);
  }
  switch (type) {
  case SL_DEV_INT64:
  case SL_DEV_FLOAT64:
  case SL_DEV_TS_MS:
    if (c == '-' || (c >= '0' && c <= '9')) {
      bool is_int;
      int64_t e = dev_parse_number(p, i, end, &v->f, &v->i, &is_int);
      if (e < 0) return -1;
      v->valid = 1;
      if (type != SL_DEV_FLOAT64 && !is_int) {
        /* 1e3 or 2.0 is an integer; 1.5 in an integer column is a type
         * mismatch: null, as the CPU reader does. */
        double f = v->f;
        if (f >= -9.2e18 && f <= 9.2e18 && f == (double)(int64_t)f)
          v->i = (int64_t)f;
        else
          v->valid = 0;
      }
      if (type == SL_DEV_TS_MS && v->valid && num_per_ms > 1) {
        int64_t x = v->i;
        v->i = x >= 0 ? x / num_per_ms : -((-x + num_per_ms - 1) / num_per_ms);
      }
      return e;
    }
    if (type == SL_DEV_TS_MS && c == '"') {
      int64_t e = dev_skip_string(p, i, end);
      if (e < 0) return -1;
      v->valid = dev_parse_ts(p + i + 1, (int32_t)(e - i - 2), &v->i);
      return e;
    }
    break;
  case SL_DEV_STRING:
    if (c == '"') {
      int64_t e = dev_skip_string(p, i, end);
      if (e < 0) return -1;
      v->s_off = i + 1;
      v->s_len = (int32_t)(e - i - 2);
      v->valid = 1;
      return e;
    }
    break;
  case SL_DEV_BOOL:
    if (c == 't' || c == 'f') {
      int64_t e = dev_skip_value(p, i, end);
      v->i = c == 't';
      v->valid = 1;
      return e;
    }
    break;
  }
  v->valid = 0;
  return dev_skip_value(p, i, end);
}
