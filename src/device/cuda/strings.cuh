/* sluice CUDA backend: string predicates over JSON string values.
 *
 * Values arrive as the raw bytes between the quotes. Comparisons run on the
 * decoded bytes, as the CPU engine's do: a value without a backslash is its
 * own decoding; one with escapes is decoded into a per-thread buffer first
 * (values too long for it make the run fail, and the query moves to the
 * CPU). LIKE follows the CPU engine's matcher (src/compute/func_str.c):
 * '%' matches any run, '_' one UTF-8 code point, ILIKE folds ASCII. */
#pragma once

#include <stdint.h>

#define DEV_DECODE_CAP 256

__device__ __forceinline__ int dev_hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

__device__ __forceinline__ int dev_hex4(const char *s) {
  int v = 0;
  for (int k = 0; k < 4; k++) {
    int h = dev_hex(s[k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

__device__ __forceinline__ bool dev_has_backslash(const char *s, int32_t n) {
  for (int32_t k = 0; k < n; k++)
    if (s[k] == '\\') return true;
  return false;
}

/* JSON string escapes -> UTF-8 into out (cap DEV_DECODE_CAP). Returns the
 * decoded length, or -1 when it does not fit. */
__device__ int32_t dev_unescape(const char *s, int32_t n, char *out) {
  int32_t o = 0;
  for (int32_t i = 0; i < n; i++) {
    if (o + 4 > DEV_DECODE_CAP) return -1;
    if (s[i] != '\\' || i + 1 >= n) {
      out[o++] = s[i];
      continue;
    }
    char e = s[++i];
    switch (e) {
    case 'n': out[o++] = '\n'; break;
    case 't': out[o++] = '\t'; break;
    case 'r': out[o++] = '\r'; break;
    case 'b': out[o++] = '\b'; break;
    case 'f': out[o++] = '\f'; break;
    case 'u': {
      if (i + 4 >= n) break;
      int cp = dev_hex4(s + i + 1);
      if (cp < 0) break;
      i += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < n && s[i + 1] == '\\' &&
          s[i + 2] == 'u') {
        int lo = dev_hex4(s + i + 3);
        if (lo >= 0xDC00 && lo < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
      }
      if (cp < 0x80) {
        out[o++] = (char)cp;
      } else if (cp < 0x800) {
        out[o++] = (char)(0xC0 | (cp >> 6));
        out[o++] = (char)(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out[o++] = (char)(0xE0 | (cp >> 12));
        out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[o++] = (char)(0x80 | (cp & 0x3F));
      } else {
        out[o++] = (char)(0xF0 | (cp >> 18));
        out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[o++] = (char)(0x80 | (cp & 0x3F));
      }
      break;
    }
    default: out[o++] = e; break; /* \" \\ \/ */
    }
  }
  return o;
}

__device__ __forceinline__ int dev_fold(int c, bool ci) {
  return ci && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

__device__ __forceinline__ bool dev_bytes_eq(const char *a, const char *b,
                                             int32_t n) {
  for (int32_t k = 0; k < n; k++)
    if (a[k] != b[k]) return false;
  return true;
}

/* The CPU engine's LIKE: iterative with one backtrack point. */
__device__ bool dev_like(const char *s, int32_t sn, const char *p, int32_t pn,
                         bool ci) {
  int32_t si = 0, pi = 0, star_p = -1, star_s = 0;
  while (si < sn) {
    if (pi < pn && p[pi] == '%') {
      star_p = ++pi;
      star_s = si;
      continue;
    }
    if (pi < pn && p[pi] == '_') {
      si++;
      while (si < sn && ((unsigned char)s[si] & 0xC0) == 0x80)
        si++;
      pi++;
      continue;
    }
    if (pi < pn && dev_fold((unsigned char)p[pi], ci) ==
                       dev_fold((unsigned char)s[si], ci)) {
      si++;
      pi++;
      continue;
    }
    if (star_p < 0) return false;
    pi = star_p;
    si = ++star_s;
  }
  while (pi < pn && p[pi] == '%')
    pi++;
  return pi == pn;
}
