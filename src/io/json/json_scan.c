/* JSON reader: the byte-scanning kernels.
 *
 * Log lines are mostly string bytes, so the hot loop of the reader is "find
 * the end of this string": the first '"', '\\' or control byte. The kernels
 * below answer that 1 (scalar), 32 (AVX2) or 64 (AVX-512) bytes at a time,
 * and note on the way whether any byte was >= 0x80, so that pure-ASCII
 * strings skip UTF-8 validation. The scalar kernel is the reference: unit
 * tests compare the others against it on random inputs. */
#include <immintrin.h>
#include <string.h>

#include "io/json/json_internal.h"

static inline bool is_stop(uint8_t c) {
  return c == '"' || c == '\\' || c < 0x20;
}

const uint8_t *sl__json_scan_scalar(const uint8_t *p, const uint8_t *end,
                                    uint32_t *high) {
  uint32_t h = 0;
  for (; p < end; p++) {
    uint8_t c = *p;
    if (is_stop(c)) break;
    h |= c & 0x80;
  }
  *high |= h;
  return p;
}

__attribute__((target("avx2"))) const uint8_t *
sl__json_scan_avx2(const uint8_t *p, const uint8_t *end, uint32_t *high) {
  const __m256i quote = _mm256_set1_epi8('"');
  const __m256i bslash = _mm256_set1_epi8('\\');
  const __m256i ctl = _mm256_set1_epi8(0x1f);
  uint32_t h = 0;
  while (end - p >= 32) {
    __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i m = _mm256_or_si256(
        _mm256_or_si256(_mm256_cmpeq_epi8(x, quote),
                        _mm256_cmpeq_epi8(x, bslash)),
        _mm256_cmpeq_epi8(_mm256_min_epu8(x, ctl), x));
    uint32_t stop = (uint32_t)_mm256_movemask_epi8(m);
    uint32_t hb = (uint32_t)_mm256_movemask_epi8(x);
    if (stop) {
      unsigned k = (unsigned)__builtin_ctz(stop);
      h |= hb & ((1u << k) - 1u);
      *high |= h;
      return p + k;
    }
    h |= hb;
    p += 32;
  }
  *high |= h;
  return sl__json_scan_scalar(p, end, high);
}

__attribute__((target("avx512f,avx512bw"))) const uint8_t *
sl__json_scan_avx512(const uint8_t *p, const uint8_t *end, uint32_t *high) {
  const __m512i quote = _mm512_set1_epi8('"');
  const __m512i bslash = _mm512_set1_epi8('\\');
  const __m512i ctl = _mm512_set1_epi8(0x1f);
  uint64_t h = 0;
  while (p < end) {
    size_t left = (size_t)(end - p);
    __m512i x;
    uint64_t live = ~0ull;
    if (left >= 64) {
      x = _mm512_loadu_si512((const void *)p);
    } else {
      /* Masked load: bytes past `end` are never touched, so the kernel is
       * safe at the very end of a mapping. */
      live = (1ull << left) - 1ull;
      x = _mm512_maskz_loadu_epi8(live, (const void *)p);
    }
    uint64_t stop = _mm512_cmpeq_epi8_mask(x, quote) |
                    _mm512_cmpeq_epi8_mask(x, bslash) |
                    _mm512_cmple_epu8_mask(x, ctl);
    stop &= live;
    uint64_t hb = (uint64_t)_mm512_movepi8_mask(x);
    if (stop) {
      unsigned k = (unsigned)__builtin_ctzll(stop);
      h |= hb & ((1ull << k) - 1ull);
      *high |= (uint32_t)(h != 0);
      return p + k;
    }
    h |= hb;
    if (left < 64) {
      *high |= (uint32_t)(h != 0);
      return end;
    }
    p += 64;
  }
  *high |= (uint32_t)(h != 0);
  return p;
}

sl__json_scan_fn sl__json_scan_pick(enum sl_json_simd want,
                                    enum sl_json_simd *got) {
  __builtin_cpu_init();
  bool has512 = __builtin_cpu_supports("avx512f") &&
                __builtin_cpu_supports("avx512bw");
  bool has2 = __builtin_cpu_supports("avx2");
  enum sl_json_simd g = SL_JSON_SIMD_SCALAR;
  if (want == SL_JSON_SIMD_AUTO || want == SL_JSON_SIMD_AVX512) {
    if (has512) g = SL_JSON_SIMD_AVX512;
    else if (has2) g = SL_JSON_SIMD_AVX2;
  } else if (want == SL_JSON_SIMD_AVX2 && has2) {
    g = SL_JSON_SIMD_AVX2;
  }
  if (got) *got = g;
  switch (g) {
  case SL_JSON_SIMD_AVX512: return sl__json_scan_avx512;
  case SL_JSON_SIMD_AVX2: return sl__json_scan_avx2;
  default: return sl__json_scan_scalar;
  }
}

/* UTF-8 per RFC 3629: shortest form only, no surrogates, at most U+10FFFF. */
bool sl__json_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    /* ASCII runs, 8 bytes at a time */
    while (i + 8 <= n) {
      uint64_t v;
      memcpy(&v, s + i, 8);
      if (v & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i - 1 < need) return false;
    for (size_t k = 1; k <= need; k++) {
      uint8_t d = s[i + k];
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += need + 1;
  }
  return true;
}
