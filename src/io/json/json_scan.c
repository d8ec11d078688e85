/* JSON reader: the structural scanning kernels.
 *
 * Log lines are mostly string bytes, so the hot question of the reader is
 * "where does this string end": the first '"', '\\' or control byte. The
 * kernels classify a 64-byte block at once into two bitmaps, the "stop"
 * bytes and the bytes >= 0x80 (so pure-ASCII strings skip UTF-8
 * validation). The parser caches the bitmaps of the block it is in, so
 * finding the end of a string is usually a shift and a count of trailing
 * zeros. One AVX-512 load and three compares per block, two of each with
 * AVX2, a byte loop in the scalar reference that tests compare the others
 * against. */
#include <immintrin.h>
#include <string.h>

#include "io/json/json_internal.h"

/* Bit i of the result is set when b[i] is '"', '\\' or below 0x20; bit i
 * of *high when b[i] >= 0x80. b holds 64 readable bytes. */
uint64_t sl__json_block_scalar(const uint8_t *b, uint64_t *high) {
  uint64_t stop = 0, h = 0;
  for (int i = 0; i < 64; i++) {
    uint8_t c = b[i];
    if (c == '"' || c == '\\' || c < 0x20) stop |= 1ull << i;
    if (c & 0x80) h |= 1ull << i;
  }
  *high = h;
  return stop;
}

__attribute__((target("avx2"))) uint64_t sl__json_block_avx2(const uint8_t *b,
                                                             uint64_t *high) {
  const __m256i quote = _mm256_set1_epi8('"');
  const __m256i bslash = _mm256_set1_epi8('\\');
  const __m256i ctl = _mm256_set1_epi8(0x1f);
  uint64_t stop = 0, h = 0;
  for (int half = 0; half < 2; half++) {
    __m256i x =
        _mm256_loadu_si256((const __m256i *)(const void *)(b + 32 * half));
    __m256i m = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x, quote),
                                                _mm256_cmpeq_epi8(x, bslash)),
                                _mm256_cmpeq_epi8(_mm256_min_epu8(x, ctl), x));
    stop |= (uint64_t)(uint32_t)_mm256_movemask_epi8(m) << (32 * half);
    h |= (uint64_t)(uint32_t)_mm256_movemask_epi8(x) << (32 * half);
  }
  *high = h;
  return stop;
}

__attribute__((target("avx512f,avx512bw"))) uint64_t
sl__json_block_avx512(const uint8_t *b, uint64_t *high) {
  __m512i x = _mm512_loadu_si512((const void *)b);
  *high = (uint64_t)_mm512_movepi8_mask(x);
  return _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('"')) |
         _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\\')) |
         _mm512_cmple_epu8_mask(x, _mm512_set1_epi8(0x1f));
}

sl__json_block_fn sl__json_block_pick(enum sl_json_simd want,
                                      enum sl_json_simd *got) {
  __builtin_cpu_init();
  bool has512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  bool has2 = __builtin_cpu_supports("avx2");
  enum sl_json_simd g = SL_JSON_SIMD_SCALAR;
  if (want == SL_JSON_SIMD_AUTO || want == SL_JSON_SIMD_AVX512) {
    if (has512)
      g = SL_JSON_SIMD_AVX512;
    else if (has2)
      g = SL_JSON_SIMD_AVX2;
  } else if (want == SL_JSON_SIMD_AVX2 && has2) {
    g = SL_JSON_SIMD_AVX2;
  }
  if (got) *got = g;
  switch (g) {
  case SL_JSON_SIMD_AVX512: return sl__json_block_avx512;
  case SL_JSON_SIMD_AVX2: return sl__json_block_avx2;
  default: return sl__json_block_scalar;
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
    if (c >= 0xC2 && c <= 0xDF) { /* two bytes (Latin, Greek, ...): common */
      if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return false;
      i += 2;
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
