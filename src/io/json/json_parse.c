/* JSON reader: the per-chunk parser.
 *
 * One worker parses a newline-aligned chunk line by line, straight from the
 * bytes into its column builders, guided by the plan: a key is hashed once,
 * then either parsed into its column or skipped. Skipped values are still
 * fully validated, so which lines are bad never depends on the projection.
 * String ends come from the cached 64-byte block bitmaps of the SIMD
 * kernels (json_scan.c); a string without escapes is
 * one memcpy. A bad line rolls every column back to where the line began
 * and is recorded with its position; FAIL stops the chunk there.
 *
 * Within a line no token accepts '\n' (whitespace here is ' ', '\t', '\r'),
 * so a truncated line fails at its own end and never reads into the next. */
#include <immintrin.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/json/json_internal.h"

/* json_parse_avx512.c compiles this file a second time for CPUs with
 * AVX-512BW: the block kernel is then inlined instead of called through
 * a pointer, and the compiler may use BMI2 shifts everywhere. */
#ifdef SL__JSON_PARSE_AVX512
#define sl__json_parse_chunk sl__json_parse_chunk_avx512
static inline uint64_t classify(const uint8_t *b, uint64_t *high) {
  __m512i x = _mm512_loadu_si512((const void *)b);
  *high = (uint64_t)_mm512_movepi8_mask(x);
  return _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('"')) |
         _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\\')) |
         _mm512_cmple_epu8_mask(x, _mm512_set1_epi8(0x1f));
}
#define CLASSIFY(jp, b, high) classify(b, high)
/* s[0, n), n <= 64, has bytes >= 0x80: true when they are all well-formed
 * 2-byte sequences (C2..DF + continuation) or 3-byte ones led by E1..EC or
 * EE..EF (no overlong or surrogate possible), checked on bitmaps of the
 * bytes: leads, continuations and their expected places. Anything else
 * (E0, ED, 4-byte, errors) is left to sl__json_utf8_valid. The masked load
 * reads nothing past s + n. */
static inline bool utf8_short_valid(const uint8_t *s, unsigned n) {
  __mmask64 in = _bzhi_u64(~0ull, n);
  __m512i x = _mm512_maskz_loadu_epi8(in, (const void *)s);
  uint64_t high = _mm512_movepi8_mask(x);
  uint64_t cont = _mm512_cmplt_epu8_mask(
      _mm512_sub_epi8(x, _mm512_set1_epi8((char)0x80)), _mm512_set1_epi8(0x40));
  uint64_t lead2 = _mm512_cmplt_epu8_mask(
      _mm512_sub_epi8(x, _mm512_set1_epi8((char)0xC2)), _mm512_set1_epi8(30));
  uint64_t lead3 =
      _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8((char)0xE1)),
                             _mm512_set1_epi8(15)) &
      ~_mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8((char)0xED));
  /* every high byte is a lead or a continuation, and the continuations are
   * exactly where the leads want them (a lead at the end wants bytes at n or
   * later, which are not continuations, so it fails) */
  return high == (cont | lead2 | lead3) &&
         cont == ((lead2 << 1) | (lead3 << 1) | (lead3 << 2)) &&
         ((lead2 | lead3) >> 62) == 0;
}
#define UTF8_VALID(s, n) (utf8_short_valid(s, n) || sl__json_utf8_valid(s, n))
#else
#define CLASSIFY(jp, b, high) (jp)->block(b, high)
#define UTF8_VALID(s, n) sl__json_utf8_valid(s, n)
#endif

struct jp {
  const struct sl__jengine *e;
  struct sl__jworker *w;
  struct sl__jtask *t;
  const uint8_t *begin, *end; /* the chunk */
  sl__json_block_fn block;
  const uint8_t *blk; /* the 64-byte block whose bitmaps are cached */
  uint64_t blk_stop, blk_high;
  int32_t max_depth;
  /* key predictions are tried at positions below this: SL__JKEY_POSITIONS
   * on lines that end 32 bytes or more before the chunk does (so the
   * 32-byte compares need no end check), 0 on the last ones */
  int32_t predict_below;
  bool mismatch_bad;
  int hard; /* out-of-memory and the like: stops everything */
  const uint8_t *err_at;
  char reason[160];
};

/* Skips ' ', '\t' and '\r'. Needs no end: every line the parser sees ends
 * in '\n' (see sl__json_parse_chunk), which stops it. */
static inline const uint8_t *ws(const uint8_t *p) {
  /* one compare in the common case (compact JSON: no whitespace) */
  while (*p <= ' ' && (*p == ' ' || *p == '\t' || *p == '\r'))
    p++;
  return p;
}

static void describe(const struct jp *jp, const uint8_t *p, char *out,
                     size_t cap) {
  if (p >= jp->end || *p == '\n')
    snprintf(out, cap, "end of line");
  else if (*p >= 0x20 && *p < 0x7f)
    snprintf(out, cap, "'%c'", *p);
  else
    snprintf(out, cap, "byte 0x%02x", *p);
}

__attribute__((format(printf, 3, 4))) static const uint8_t *
bad(struct jp *jp, const uint8_t *at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(jp->reason, sizeof jp->reason, fmt, ap);
  va_end(ap);
  jp->err_at = at;
  return NULL;
}

static const uint8_t *bad_found(struct jp *jp, const uint8_t *at,
                                const char *what) {
  char f[32];
  describe(jp, at, f, sizeof f);
  return bad(jp, at, "expected %s, found %s", what, f);
}

static const uint8_t *hard(struct jp *jp, int rc) {
  jp->hard = rc;
  return NULL;
}

static inline int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static int hex4(const uint8_t *p, const uint8_t *end, uint32_t *out) {
  if (end - p < 4) return -1;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p[i]);
    if (h < 0) return -1;
    v = v << 4 | (uint32_t)h;
  }
  *out = v;
  return 0;
}

/* Validates the escape at p ('\\'); returns the byte after it and the code
 * point (for \u, a surrogate pair is joined). Out of line: escapes are rare
 * and keeping them out keeps the string scanners' register use low. */
__attribute__((noinline)) static const uint8_t *
escape(struct jp *jp, const uint8_t *p, uint32_t *cp) {
  if (p + 1 >= jp->end) return bad(jp, p, "unterminated string at end of line");
  switch (p[1]) {
  case '"': *cp = '"'; return p + 2;
  case '\\': *cp = '\\'; return p + 2;
  case '/': *cp = '/'; return p + 2;
  case 'b': *cp = '\b'; return p + 2;
  case 'f': *cp = '\f'; return p + 2;
  case 'n': *cp = '\n'; return p + 2;
  case 'r': *cp = '\r'; return p + 2;
  case 't': *cp = '\t'; return p + 2;
  case 'u': {
    uint32_t u;
    if (hex4(p + 2, jp->end, &u)) return bad(jp, p, "invalid \\u escape");
    if (u >= 0xDC00 && u <= 0xDFFF)
      return bad(jp, p, "lone low surrogate \\u%04X in a string", u);
    if (u >= 0xD800 && u <= 0xDBFF) {
      uint32_t lo;
      if (jp->end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
          hex4(p + 8, jp->end, &lo) || lo < 0xDC00 || lo > 0xDFFF)
        return bad(jp, p, "lone high surrogate \\u%04X in a string", u);
      *cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
      return p + 12;
    }
    *cp = u;
    return p + 6;
  }
  default: {
    char f[32];
    describe(jp, p + 1, f, sizeof f);
    return bad(jp, p, "invalid escape: backslash followed by %s", f);
  }
  }
}

/* Classifies the 64-byte aligned block at b. Blocks that stick out of the
 * chunk are copied into a zeroed buffer first (zero is a control byte, so
 * the bytes past the end read as "stop"), so nothing outside the chunk is
 * ever read. */
__attribute__((noinline)) static void load_block_edge(struct jp *jp,
                                                      const uint8_t *b) {
  jp->blk = b;
  uint8_t tmp[64] = {0};
  const uint8_t *from = b < jp->begin ? jp->begin : b;
  const uint8_t *to = jp->end - b < 64 ? jp->end : b + 64;
  if (to > from) memcpy(tmp + (from - b), from, (size_t)(to - from));
  jp->blk_stop = CLASSIFY(jp, tmp, &jp->blk_high);
}

/* Whole blocks inline, the chunk's edges out of line. */
static inline void load_block(struct jp *jp, const uint8_t *b) {
  if (__builtin_expect(b >= jp->begin && jp->end - b >= 64, 1)) {
    jp->blk = b;
    jp->blk_stop = CLASSIFY(jp, b, &jp->blk_high);
    return;
  }
  load_block_edge(jp, b);
}

/* The first stop byte at or after p (jp->end when none); ORs the high-bit
 * bytes passed on the way into *high. */
static inline const uint8_t *next_stop(struct jp *jp, const uint8_t *p,
                                       uint64_t *high) {
  for (;;) {
    const uint8_t *b = (const uint8_t *)((uintptr_t)p & ~(uintptr_t)63);
    if (b != jp->blk) load_block(jp, b);
    unsigned off = (unsigned)(p - b);
    uint64_t m = jp->blk_stop >> off;
    uint64_t h = jp->blk_high >> off;
    if (m) {
      unsigned k = (unsigned)__builtin_ctzll(m);
      *high |= h & ((1ull << k) - 1ull);
      return p + k;
    }
    *high |= h;
    p = b + 64;
    if (p >= jp->end) return jp->end;
  }
}

/* p: after the opening quote. Finds and validates the string; returns the
 * closing quote; *esc tells whether it holds escapes. */
__attribute__((noinline)) static const uint8_t *
str_scan_slow(struct jp *jp, const uint8_t *p, bool *esc) {
  const uint8_t *s = p;
  uint64_t high = 0;
  bool e = false;
  for (;;) {
    p = next_stop(jp, p, &high);
    if (p >= jp->end) return bad(jp, p, "unterminated string at end of line");
    if (*p == '"') break;
    if (*p == '\\') {
      uint32_t cp;
      e = true;
      p = escape(jp, p, &cp);
      if (!p) return NULL;
      continue;
    }
    if (*p == '\n') return bad(jp, p, "unterminated string at end of line");
    return bad(jp, p, "control character 0x%02x inside a string", *p);
  }
  if (high && !sl__json_utf8_valid(s, (size_t)(p - s)))
    return bad(jp, s, "invalid UTF-8 inside a string");
  *esc = e;
  return p;
}

/* The common case inline: the string ends, plain ASCII, in the cached
 * block. */
static inline const uint8_t *str_scan(struct jp *jp, const uint8_t *p,
                                      bool *esc) {
  const uint8_t *b = (const uint8_t *)((uintptr_t)p & ~(uintptr_t)63);
  if (b != jp->blk) load_block(jp, b);
  {
    unsigned off = (unsigned)(p - b);
    uint64_t m = jp->blk_stop >> off;
    uint64_t h = jp->blk_high >> off;
    if (m) {
      unsigned k = (unsigned)__builtin_ctzll(m);
      /* plain ASCII, or non-ASCII that is valid UTF-8 (an invalid string
       * takes the slow path for its message) */
      if (p[k] == '"' &&
          ((h & ((1ull << k) - 1ull)) == 0 || UTF8_VALID(p, k))) {
        *esc = false;
        return p + k;
      }
    } else if (h == 0 && jp->end - b >= 128) {
      /* an ASCII string that goes on into the next (whole) block */
      b += 64;
      jp->blk = b;
      jp->blk_stop = CLASSIFY(jp, b, &jp->blk_high);
      m = jp->blk_stop;
      if (m) {
        unsigned k = (unsigned)__builtin_ctzll(m);
        if (b[k] == '"' && (jp->blk_high & ((1ull << k) - 1ull)) == 0) {
          *esc = false;
          return b + k;
        }
      }
    }
  }
  return str_scan_slow(jp, p, esc);
}

/* Out of line: object() only gets here when the key prediction missed. */
__attribute__((noinline)) static const struct sl__jnode *
lookup(const struct jp *jp, const struct sl__jnode *obj, const uint8_t *k,
       size_t n, int32_t pos) {
  uint64_t w[2];
  if (jp->end - k >= 16) {
    memcpy(&w[0], k, 8);
    memcpy(&w[1], k + 8, 8);
    if (n < 16) {
      if (n <= 8) {
        w[1] = 0;
        if (n < 8) w[0] &= (1ull << (8 * n)) - 1ull;
      } else {
        w[1] &= (1ull << (8 * (n - 8))) - 1ull;
      }
    }
  } else {
    sl__jkey_words(k, n, w);
  }
  const struct sl__jnode *found = NULL;
  uint32_t i = (uint32_t)sl__jkey_hash(w, n) & obj->slot_mask;
  while (obj->slots) {
    int32_t s = obj->slots[i];
    if (s < 0) break;
    const struct sl__jnode *kid = &obj->kids[s];
    if (kid->key_len == n && kid->key_w[0] == w[0] && kid->key_w[1] == w[1] &&
        (n <= 16 || memcmp(kid->key + 16, k + 16, n - 16) == 0)) {
      found = kid;
      break;
    }
    i = (i + 1) & obj->slot_mask;
  }
  /* remember the key (with its closing quote, which follows it: the key
   * has no escapes) for the prediction in object() */
  if (pos < SL__JKEY_POSITIONS && n <= SL__JKEY_PREDICT_MAX) {
    struct sl__jkcache *kc =
        &jp->w->kcache[obj->obj_id * SL__JKEY_POSITIONS + pos];
    uint8_t tw[32] = {0}, tm[32] = {0};
    memcpy(tw, k, n + 1);
    memset(tm, 0xFF, n + 1);
    memset(kc, 0, sizeof *kc);
    if (n < 16) {
      memcpy(kc->w, tw, 16);
      memcpy(kc->m, tm, 16);
    } else {
      kc->w[0] = 1;
      memcpy(kc->lw, tw, 32);
      memcpy(kc->lm, tm, 32);
    }
    kc->len = (uint32_t)n;
    kc->kid = found;
  }
  return found;
}

static size_t put_utf8(uint8_t *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (uint8_t)(0xC0 | cp >> 6);
    o[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (uint8_t)(0xE0 | cp >> 12);
    o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (uint8_t)(0xF0 | cp >> 18);
  o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes an already validated string body s[0, n) into o (room for n). */
static size_t unescape(struct jp *jp, const uint8_t *s, size_t n, uint8_t *o) {
  const uint8_t *end = s + n;
  size_t k = 0;
  while (s < end) {
    const uint8_t *b = memchr(s, '\\', (size_t)(end - s));
    if (!b) b = end;
    memcpy(o + k, s, (size_t)(b - s));
    k += (size_t)(b - s);
    if (b == end) break;
    uint32_t cp = 0;
    s = escape(jp, b, &cp);
    k += put_utf8(o + k, cp);
  }
  return k;
}

static int scratch(struct sl__jworker *w, size_t n) {
  if (w->scratch_cap >= n) return 0;
  size_t cap = n < 256 ? 256 : n * 2;
  uint8_t *p = sl_realloc(w->scratch, cap);
  if (!p) return SL_ENOMEM;
  w->scratch = p;
  w->scratch_cap = cap;
  return 0;
}

/* word: "true", "false" or "null" (n = its length). */
static inline const uint8_t *literal(struct jp *jp, const uint8_t *p,
                                     const char *word, size_t n) {
  uint32_t a, b;
  if ((size_t)(jp->end - p) < n) return bad_found(jp, p, "a value");
  memcpy(&a, p, 4);
  memcpy(&b, word, 4);
  if (a != b || (n == 5 && p[4] != (uint8_t)word[4]))
    return bad_found(jp, p, "a value");
  return p + n;
}

static const uint8_t *skip_value(struct jp *jp, const uint8_t *p, int depth);

#ifdef SL__JSON_PARSE_AVX512
/* p: '{' or '['. The byte after the container when it is a flat one of
 * strings written compactly (["a","b"], {"k":"v","k2":"v2"}, [], {}) that
 * ends within the 64 bytes from p: checked all at once on byte masks of
 * those bytes. NULL when that is not the case (nested values, numbers,
 * whitespace, escapes, control bytes, any error, the end of the chunk within
 * 64 bytes): the byte-by-byte skip then decides, with its messages. */
static inline const uint8_t *skip_flat(const struct jp *jp, const uint8_t *p) {
  if (jp->end - p < 64) return NULL;
  __m512i x = _mm512_loadu_si512((const void *)p);
  bool obj = p[0] == '{';
  uint64_t q = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('"'));
  uint64_t closers =
      _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(obj ? '}' : ']'));
  /* With no backslash every quote is one: the 1st, 3rd, ... open strings
   * and the others close them. The container ends at the first closing
   * bracket right after a closing quote (or at 1: empty); whatever comes
   * before it is checked below, so a wrong guess only means NULL. */
  uint64_t opens = _pdep_u64(0x5555555555555555ull, q);
  uint64_t closes = q & ~opens;
  uint64_t ends = closers & (closes << 1 | 2);
  if (ends == 0) return NULL;
  unsigned e = (unsigned)__builtin_ctzll(ends); /* the container's end */
  uint64_t region = _bzhi_u64(~0ull, e + 1);    /* p[0..e] */
  if ((_mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\\')) |
       _mm512_cmple_epu8_mask(x, _mm512_set1_epi8(0x1f))) &
      region)
    return NULL;
  if (e == 1) return p + 2; /* {} or [] */
  uint64_t open = opens & region, close = closes & region;
  uint64_t last = 1ull << (e - 1); /* the last string closes right before */
  uint64_t seps = (close & ~last) << 1;
  /* strings one separator byte apart, from 1 to e - 1: the first opens at
   * 1, the last closes at e - 1, and each other one opens two bytes after
   * the one before it closes (so nothing else stands between them) */
  if (!(open & 2) || !(close & last) || (open & ~2ull) != (close & ~last) << 2)
    return NULL;
  uint64_t comma = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(','));
  if (obj) {
    /* keys are the 1st, 3rd, ... strings: ':' after each (so the last
     * string, followed by the end, cannot be one), ',' after the values */
    uint64_t keys = _pdep_u64(0x5555555555555555ull, close);
    uint64_t colon = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(':'));
    uint64_t values = close & ~keys & ~last; /* all but the last value */
    if ((colon & seps) != keys << 1 || (comma & seps) != values << 1)
      return NULL;
  } else if ((comma & seps) != seps) {
    return NULL;
  }
  if ((uint64_t)_mm512_movepi8_mask(x) & region && !utf8_short_valid(p, e + 1))
    return NULL;
  return p + e + 1;
}
#endif

static const uint8_t *skip_container(struct jp *jp, const uint8_t *p,
                                     int depth) {
  bool obj = *p == '{';
  uint8_t close = obj ? '}' : ']';
  if (depth > jp->max_depth)
    return bad(jp, p, "nesting deeper than max_depth %d", (int)jp->max_depth);
#ifdef SL__JSON_PARSE_AVX512
  const uint8_t *flat = skip_flat(jp, p);
  if (flat) return flat;
#endif
  p = ws(p + 1);
  if (*p == close) return p + 1;
  /* whitespace is skipped lazily, as in object() */
  for (;;) {
    if (obj) {
      if (*p != '"') {
        p = ws(p);
        if (*p != '"') return bad_found(jp, p, "a key string");
      }
      bool esc;
      p = str_scan(jp, p + 1, &esc);
      if (!p) return NULL;
      p++;
      if (*p != ':') {
        p = ws(p);
        if (*p != ':') return bad_found(jp, p, "':' after a key");
      }
      p++;
    }
    if (*p == '"') { /* strings inline, as in object() */
      bool esc;
      p = str_scan(jp, p + 1, &esc);
      if (p) p++;
    } else {
      p = skip_value(jp, ws(p), depth + 1);
    }
    if (!p) return NULL;
    if (*p == ',') {
      p++;
      continue;
    }
    p = ws(p);
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p == close) return p + 1;
    return bad_found(jp, p, obj ? "',' or '}'" : "',' or ']'");
  }
}

static const uint8_t *skip_value(struct jp *jp, const uint8_t *p, int depth) {
  if (p >= jp->end) return bad_found(jp, p, "a value");
  switch (*p) {
  case '"': {
    bool esc;
    p = str_scan(jp, p + 1, &esc);
    return p ? p + 1 : NULL;
  }
  case '{':
  case '[': return skip_container(jp, p, depth);
  case 't': return literal(jp, p, "true", 4);
  case 'f': return literal(jp, p, "false", 5);
  case 'n': return literal(jp, p, "null", 4);
  default: {
    struct sl__jnum num;
    const uint8_t *q = sl__json_number_fast(p, jp->end, &num);
    return q ? q : bad_found(jp, p, "a value");
  }
  }
}

/* ---- appends ------------------------------------------------------------ */

static inline int put_fixed(struct sl__jcol *c, const void *v, int w) {
  int rc = sl_bytes_reserve(&c->data, w);
  if (rc) return rc;
  memcpy(c->data.data + c->data.size, v, (size_t)w);
  c->data.size += w;
  rc = sl__jcol_mark(c);
  c->len++;
  return rc;
}

static inline int end_string(struct sl__jcol *c) {
  int rc;
  if (c->type == SL_TYPE_LARGE_UTF8) {
    int64_t o = c->data.size;
    rc = sl_bytes_append(&c->offs, &o, 8);
  } else {
    if (c->data.size > INT32_MAX) return SL_EOVERFLOW;
    int32_t o = (int32_t)c->data.size;
    rc = sl_bytes_append(&c->offs, &o, 4);
  }
  if (!rc) rc = sl__jcol_mark(c);
  c->len++;
  return rc;
}

static int put_raw(struct sl__jcol *c, const uint8_t *s, size_t n) {
  int rc = sl_bytes_append(&c->data, s, (int64_t)n);
  return rc ? rc : end_string(c);
}

static const uint8_t *mismatch(struct jp *jp, const struct sl__jnode *n,
                               struct sl__jcol *c, const uint8_t *at,
                               const uint8_t *after, const char *found) {
  if (jp->mismatch_bad)
    return bad(jp, at, "column '%s': expected %s, found %s", n->path,
               sl_type_name(n->type), found);
  jp->t->mismatches++;
  if (c) {
    int rc = sl__jcol_null(c);
    if (rc) return hard(jp, rc);
  }
  return after;
}

static const char *kind_of(uint8_t c) {
  switch (c) {
  case '"': return "a string";
  case '{': return "an object";
  case '[': return "an array";
  case 't':
  case 'f': return "a bool";
  default: return "a number";
  }
}

static const uint8_t *object(struct jp *jp, const uint8_t *p,
                             const struct sl__jnode *n, int64_t t, int depth);

static const uint8_t *value(struct jp *jp, const uint8_t *p,
                            const struct sl__jnode *n, int64_t t, int depth);

static inline bool two_digits(const uint8_t *s, int *v) {
  unsigned a = (unsigned)(s[0] - '0'), b = (unsigned)(s[1] - '0');
  *v = (int)(a * 10 + b);
  return a < 10 && b < 10;
}

/* "YYYY-MM-DDTHH:MM:SS[.fff]Z" with the date seen last time: only the time
 * is parsed. Anything else returns -1 for the full parser, which also fills
 * the date cache through this function's slow half. */
static inline __attribute__((always_inline)) int
ts_cached(struct sl__jworker *w, const uint8_t *s, size_t n, int64_t per,
          int64_t *out) {
  if (n < 20 || s[n - 1] != 'Z' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
    return -1;
  if (memcmp(s, w->ts_date, 10) != 0) {
    int32_t d;
    if (sl__json_parse_date(s, 10, &d)) return -1;
    memcpy(w->ts_date, s, 10);
    w->ts_days = d;
  }
  int hh, mi, ss;
  if (!two_digits(s + 11, &hh) || !two_digits(s + 14, &mi) ||
      !two_digits(s + 17, &ss) || hh > 23 || mi > 59 || ss > 59)
    return -1;
  int64_t sub = 0;
  if (n == 24 && s[19] == '.') { /* milliseconds, the usual case */
    unsigned a = (unsigned)(s[20] - '0'), b = (unsigned)(s[21] - '0'),
             c = (unsigned)(s[22] - '0');
    if (a > 9 || b > 9 || c > 9) return -1;
    sub = (int64_t)(a * 100 + b * 10 + c) * (per == 1000 ? 1 : 1000);
  } else if (n > 20) {
    if (s[19] != '.' || n < 22 || n - 21 > 9) return -1;
    int64_t scale = per;
    for (size_t i = 20; i < n - 1; i++) {
      unsigned dg = (unsigned)(s[i] - '0');
      if (dg > 9) return -1;
      scale /= 10;
      sub += (int64_t)dg * scale;
    }
  }
  *out = (w->ts_days * 86400 + hh * 3600 + mi * 60 + ss) * per + sub;
  return 0;
}

static inline __attribute__((always_inline)) const uint8_t *
string_value(struct jp *jp, const uint8_t *p, const struct sl__jnode *n,
             struct sl__jcol *c) {
  bool esc;
  const uint8_t *s = p + 1;
  const uint8_t *q = str_scan(jp, s, &esc);
  if (!q) return NULL;
  size_t len = (size_t)(q - s);
  int rc;
  switch (n->type) {
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
    rc = sl_bytes_reserve(&c->data, (int64_t)len + 32);
    if (rc) return hard(jp, rc);
    if (!esc) {
      /* short strings: one fixed 32-byte copy (the room was reserved; the
       * bytes past the string are overwritten by the next value) */
      if (len <= 32 && jp->end - s >= 32)
        memcpy(c->data.data + c->data.size, s, 32);
      else if (len)
        memcpy(c->data.data + c->data.size, s, len);
      c->data.size += (int64_t)len;
    } else {
      c->data.size +=
          (int64_t)unescape(jp, s, len, c->data.data + c->data.size);
    }
    rc = end_string(c);
    return rc ? hard(jp, rc) : q + 1;
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US:
  case SL_TYPE_DATE32: {
    const uint8_t *txt = s;
    if (esc) {
      rc = scratch(jp->w, len);
      if (rc) return hard(jp, rc);
      len = unescape(jp, s, len, jp->w->scratch);
      txt = jp->w->scratch;
    }
    if (n->type == SL_TYPE_DATE32) {
      int32_t d;
      if (sl__json_parse_date(txt, len, &d) == 0) {
        rc = put_fixed(c, &d, 4);
        return rc ? hard(jp, rc) : q + 1;
      }
    } else {
      int64_t v;
      int64_t per = n->type == SL_TYPE_TIMESTAMP_MS ? 1000 : 1000000;
      if (ts_cached(jp->w, txt, len, per, &v) == 0 ||
          sl__json_parse_ts(txt, len, per, false, &v, NULL) == 0) {
        rc = put_fixed(c, &v, 8);
        return rc ? hard(jp, rc) : q + 1;
      }
    }
    return mismatch(jp, n, c, p, q + 1, "a string that is not a date/time");
  }
  default: return mismatch(jp, n, c, p, q + 1, "a string");
  }
}

static inline __attribute__((always_inline)) const uint8_t *
number_value(struct jp *jp, const uint8_t *p, const struct sl__jnode *n,
             struct sl__jcol *c) {
  struct sl__jnum num;
  const uint8_t *q = sl__json_number_fast(p, jp->end, &num);
  if (!q) return bad_found(jp, p, "a value");
  int rc;
  int64_t i;
  switch (n->type) {
  case SL_TYPE_INT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US:
    if (num.is_int && !num.many && num.exp10 == 0 &&
        num.mant <= (uint64_t)INT64_MAX) {
      i = num.neg ? -(int64_t)num.mant : (int64_t)num.mant;
    } else if (sl__json_num_i64(&num, &i)) {
      return mismatch(jp, n, c, p, q, "a number that is not an int64");
    }
    rc = put_fixed(c, &i, 8);
    return rc ? hard(jp, rc) : q;
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32: {
    if (sl__json_num_i64(&num, &i) || i < INT32_MIN || i > INT32_MAX)
      return mismatch(jp, n, c, p, q, "a number that is not an int32");
    int32_t v = (int32_t)i;
    rc = put_fixed(c, &v, 4);
    return rc ? hard(jp, rc) : q;
  }
  case SL_TYPE_FLOAT64: {
    double d = sl__json_num_f64_inline(&num);
    rc = put_fixed(c, &d, 8);
    return rc ? hard(jp, rc) : q;
  }
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
    rc = put_raw(c, p, (size_t)(q - p));
    return rc ? hard(jp, rc) : q;
  default: return mismatch(jp, n, c, p, q, "a number");
  }
}

static const uint8_t *list_value(struct jp *jp, const uint8_t *p,
                                 const struct sl__jnode *n, struct sl__jcol *c,
                                 int depth) {
  if (depth > jp->max_depth)
    return bad(jp, p, "nesting deeper than max_depth %d", (int)jp->max_depth);
  const struct sl__jnode *el = &n->kids[0];
  struct sl__jcol *ec = &c->kids[0];
  p = ws(p + 1);
  if (p < jp->end && *p == ']') {
    p++;
  } else {
    for (;;) {
      p = value(jp, p, el, ec->len + 1, depth + 1);
      if (!p) return NULL;
      p = ws(p);
      if (p < jp->end && *p == ',') {
        p = ws(p + 1);
        continue;
      }
      if (p < jp->end && *p == ']') {
        p++;
        break;
      }
      return bad_found(jp, p, "',' or ']'");
    }
  }
  if (ec->len > INT32_MAX) return hard(jp, SL_EOVERFLOW);
  int32_t o = (int32_t)ec->len;
  int rc = sl_bytes_append(&c->offs, &o, 4);
  if (!rc) rc = sl__jcol_mark(c);
  c->len++;
  return rc ? hard(jp, rc) : p;
}

static const uint8_t *value(struct jp *jp, const uint8_t *p,
                            const struct sl__jnode *n, int64_t t, int depth) {
  if (p >= jp->end) return bad_found(jp, p, "a value");
  uint8_t ch = *p;
  if (n->kind == SL__JN_OBJECT) {
    if (ch == '{') return object(jp, p, n, t, depth);
    if (ch == 'n') return literal(jp, p, "null", 4);
    const uint8_t *q = skip_value(jp, p, depth);
    return q ? mismatch(jp, n, NULL, p, q, kind_of(ch)) : NULL;
  }
  struct sl__jcol *c = jp->w->flat[n->col];
  if (c->len >= t) sl__jcol_truncate(c, t - 1); /* repeated key: last wins */
  if (ch == 'n') {
    const uint8_t *q = literal(jp, p, "null", 4);
    if (!q) return NULL;
    int rc = sl__jcol_null(c);
    return rc ? hard(jp, rc) : q;
  }
  switch (n->kind) {
  case SL__JN_STRUCT: {
    if (ch != '{') break;
    const uint8_t *q = object(jp, p, n, t, depth);
    if (!q) return NULL;
    int rc = sl__jcol_mark(c);
    c->len++;
    return rc ? hard(jp, rc) : q;
  }
  case SL__JN_LIST:
    if (ch != '[') break;
    return list_value(jp, p, n, c, depth);
  default:
    if (ch == '"') return string_value(jp, p, n, c);
    if (ch == '-' || (ch >= '0' && ch <= '9')) return number_value(jp, p, n, c);
    if (ch == 't' || ch == 'f') {
      bool v = ch == 't';
      const uint8_t *q =
          v ? literal(jp, p, "true", 4) : literal(jp, p, "false", 5);
      if (!q) return NULL;
      int rc;
      if (n->type == SL_TYPE_BOOL) {
        uint8_t b = v;
        rc = put_fixed(c, &b, 1);
      } else if (n->type == SL_TYPE_UTF8 || n->type == SL_TYPE_LARGE_UTF8) {
        rc = put_raw(c, p, (size_t)(q - p));
      } else {
        return mismatch(jp, n, c, p, q, "a bool");
      }
      return rc ? hard(jp, rc) : q;
    }
    if ((ch == '{' || ch == '[') &&
        (n->type == SL_TYPE_UTF8 || n->type == SL_TYPE_LARGE_UTF8)) {
      const uint8_t *q = skip_value(jp, p, depth);
      if (!q) return NULL;
      int rc = put_raw(c, p, (size_t)(q - p));
      return rc ? hard(jp, rc) : q;
    }
    break;
  }
  const uint8_t *q = skip_value(jp, p, depth);
  return q ? mismatch(jp, n, c, p, q, kind_of(ch)) : NULL;
}

/* Appends a null to every column under n that has no value at index t-1. */
static int fill_missing_slow(struct jp *jp, const struct sl__jnode *n,
                             int64_t t);
static inline int fill_missing(struct jp *jp, const struct sl__jnode *n,
                               int64_t t) {
  if (n->col >= 0) {
    struct sl__jcol *c = jp->w->flat[n->col];
    return c->len < t ? sl__jcol_null(c) : 0;
  }
  return fill_missing_slow(jp, n, t);
}
static int fill_missing_slow(struct jp *jp, const struct sl__jnode *n,
                             int64_t t) {
  if (n->col >= 0) {
    struct sl__jcol *c = jp->w->flat[n->col];
    return c->len < t ? sl__jcol_null(c) : 0;
  }
  for (int32_t i = 0; i < n->n_kids; i++)
    SL_RETURN_NOT_OK(fill_missing(jp, &n->kids[i], t));
  return 0;
}

static const uint8_t *object(struct jp *jp, const uint8_t *p,
                             const struct sl__jnode *n, int64_t t, int depth) {
  if (depth > jp->max_depth)
    return bad(jp, p, "nesting deeper than max_depth %d", (int)jp->max_depth);
  const int32_t predict_below = jp->predict_below;
  const struct sl__jkcache *kcache =
      &jp->w->kcache[n->obj_id * SL__JKEY_POSITIONS];
  /* leaf kids written by the fast path below: when that is all of them,
   * none is missing and the fill loop at the end is skipped */
  int32_t filled = 0;
  p = ws(p + 1);
  if (*p == '}') {
    p++;
  } else {
    /* Whitespace is skipped lazily: compact JSON has none, so after ','
     * and ':' the token's own first-byte test comes first and ws() only
     * runs when it fails. */
    for (int32_t pos = 0;; pos++) {
      if (*p != '"') {
        p = ws(p);
        if (*p != '"') return bad_found(jp, p, "a key string");
      }
      bool esc;
      const uint8_t *k = p + 1;
      const uint8_t *q;
      const struct sl__jnode *kid;
      /* Predicted key: the one seen at this position last time. Equal bytes
       * followed by a quote need no scan, no UTF-8 check and no lookup (the
       * cached key was a plain, validated string). */
      if (pos < predict_below) {
        const struct sl__jkcache *kc = &kcache[pos];
        uint64_t a, b;
        memcpy(&a, k, 8);
        memcpy(&b, k + 8, 8);
        if ((((a & kc->m[0]) ^ kc->w[0]) | ((b & kc->m[1]) ^ kc->w[1])) == 0) {
          kid = kc->kid;
          q = k + kc->len;
          goto have_key;
        }
        if (kc->lm[0]) { /* a long key: 32 bytes */
          uint64_t c, d;
          memcpy(&c, k + 16, 8);
          memcpy(&d, k + 24, 8);
          if (a == kc->lw[0] && b == kc->lw[1] &&
              (c & kc->lm[2]) == kc->lw[2] && (d & kc->lm[3]) == kc->lw[3]) {
            kid = kc->kid;
            q = k + kc->len;
            goto have_key;
          }
        }
      }
      q = str_scan(jp, k, &esc);
      if (!q) return NULL;
      if (!esc) {
        kid = lookup(jp, n, k, (size_t)(q - k), pos);
      } else {
        int rc = scratch(jp->w, (size_t)(q - k));
        if (rc) return hard(jp, rc);
        size_t kl = unescape(jp, k, (size_t)(q - k), jp->w->scratch);
        kid = sl__jplan_lookup(n, jp->w->scratch, kl);
      }
    have_key:
      p = q + 1;
      if (*p == ':') {
        p++;
      } else {
        p = ws(p);
        if (*p != ':') return bad_found(jp, p, "':' after a key");
        p++;
      }
      if (kid) {
        /* plain strings and numbers of a leaf column (not a repeated key)
         * go straight to their parser */
        struct sl__jcol *c;
        if (kid->kind == SL__JN_SCALAR &&
            (c = jp->w->flat[kid->col])->len < t) {
          filled++; /* c->len reaches t: counted once per line */
          if (*p == '"')
            p = string_value(jp, p, kid, c);
          else if (*p == '-' || (uint8_t)(*p - '0') < 10)
            p = number_value(jp, p, kid, c);
          else
            p = value(jp, ws(p), kid, t, depth + 1);
        } else {
          p = value(jp, ws(p), kid, t, depth + 1);
        }
      } else if (*p == '"') {
        /* the most common skipped values, without a call */
        bool e2;
        p = str_scan(jp, p + 1, &e2);
        if (p) p++;
      } else if (*p == '-' || (uint8_t)(*p - '0') < 10) {
        struct sl__jnum num;
        const uint8_t *q2 = sl__json_number_fast(p, jp->end, &num);
        p = q2 ? q2 : bad_found(jp, p, "a value");
      } else if (*p == 'f') { /* flags: "x_is_error":false */
        p = literal(jp, p, "false", 5);
      } else if (*p == 't') {
        p = literal(jp, p, "true", 4);
      } else {
        p = skip_value(jp, ws(p), depth + 1);
      }
      if (!p) return NULL;
      if (*p == ',') {
        p++;
        continue;
      }
      p = ws(p);
      if (*p == ',') {
        p++;
        continue;
      }
      if (*p == '}') {
        p++;
        break;
      }
      return bad_found(jp, p, "',' or '}' after a member");
    }
  }
  if (filled == n->n_kids) return p;
  for (int32_t i = 0; i < n->n_kids; i++) {
    int rc = fill_missing(jp, &n->kids[i], t);
    if (rc) return hard(jp, rc);
  }
  return p;
}

/* ---- the chunk loop ------------------------------------------------------ */

#ifndef SL__JSON_PARSE_AVX512
void sl__jtask_clear(struct sl__jtask *t) {
  for (int64_t i = 0; i < t->n_batches; i++)
    sl_batch_free(t->batches[i]);
  sl_free(t->batches);
  sl_free(t->bad);
  memset(t, 0, sizeof *t);
}
#endif

static int emit(const struct sl__jengine *e, struct sl__jworker *w,
                struct sl__jtask *t, int64_t rows) {
  int32_t nf = e->plan.schema.n_fields;
  struct sl_array **cols = sl_calloc(nf ? (size_t)nf : 1, sizeof *cols);
  if (!cols) return SL_ENOMEM;
  int rc = 0;
  for (int32_t i = 0; i < nf && !rc; i++)
    rc = sl__jcol_finish(&w->tops[i], &e->plan.schema.fields[i], e->buffers,
                         &cols[i]);
  if (rc) {
    for (int32_t i = 0; i < nf; i++)
      sl_array_release(cols[i]);
    sl_free(cols);
    return rc;
  }
  if (t->n_batches == t->cap_batches) {
    int64_t cap = t->cap_batches ? t->cap_batches * 2 : 4;
    struct sl_batch **b = sl_realloc(t->batches, (size_t)cap * sizeof *b);
    if (!b) {
      for (int32_t i = 0; i < nf; i++)
        sl_array_release(cols[i]);
      sl_free(cols);
      return SL_ENOMEM;
    }
    t->batches = b;
    t->cap_batches = cap;
  }
  struct sl_batch *b = NULL;
  rc = sl_batch_make(&e->plan.schema, cols, rows, &b, &t->err);
  sl_free(cols);
  if (rc) return rc;
  t->batches[t->n_batches++] = b;
  return 0;
}

/* line..line_end: the line as parsed (maybe the tail copy); offset: where
 * it starts in the chunk. */
static int record_bad(struct sl__jtask *t, const struct jp *jp,
                      const uint8_t *line, const uint8_t *line_end,
                      int64_t offset, int64_t line_idx) {
  if (t->n_bad == t->cap_bad) {
    int64_t cap = t->cap_bad ? t->cap_bad * 2 : 16;
    struct sl__jbad *b = sl_realloc(t->bad, (size_t)cap * sizeof *b);
    if (!b) return SL_ENOMEM;
    t->bad = b;
    t->cap_bad = cap;
  }
  struct sl__jbad *b = &t->bad[t->n_bad++];
  b->line = line_idx;
  b->offset = offset;
  b->len = line_end - line;
  if (b->len > 0 && line[b->len - 1] == '\r') b->len--; /* CRLF */
  const uint8_t *at = jp->err_at ? jp->err_at : line;
  if (at < line) at = line;
  b->column = at - line + 1;
  snprintf(b->reason, sizeof b->reason, "%s", jp->reason);
  return 0;
}

int sl__json_parse_chunk(const struct sl__jengine *e, struct sl__jworker *w,
                         struct sl__jtask *t) {
  struct jp jp = {0};
  jp.e = e;
  jp.w = w;
  jp.t = t;
  jp.begin = t->begin;
  jp.end = t->end;
  jp.block = e->block;
  jp.max_depth = e->opt.max_depth;
  jp.mismatch_bad = e->opt.mismatch == SL_JSON_MISMATCH_BAD_LINE;
  const struct sl__jnode *root = &e->plan.root;
  int32_t nf = e->plan.schema.n_fields;
  const int64_t batch_rows = e->opt.batch_rows;
  const int64_t max_line = e->opt.max_line_bytes;
  const bool fail = e->opt.bad_lines == SL_JSON_BAD_FAIL;
  const uint8_t *p = t->begin, *end = t->end;
  int64_t rows = 0;
  int rc = 0;
  if (t->at_input_start && end - p >= 3 && p[0] == 0xEF && p[1] == 0xBB &&
      p[2] == 0xBF)
    p += 3;
  int64_t avg = e->stats.lines > 0 ? (e->stats.bytes / e->stats.lines) : 256;
  if (avg < 16) avg = 16;
  int64_t want = (end - p) / avg + 16;
  if (want > batch_rows) want = batch_rows;
  for (int32_t i = 0; i < nf && !rc; i++)
    rc = sl__jcol_reserve(&w->tops[i], want, e->buffers);
  if (rc) return rc;
  /* Every line the parser sees ends in '\n' (no token accepts one, so no
   * scan runs past it and single-byte peeks need no end check): a last line
   * without one is parsed from a copy that has it. */
  const uint8_t *tail = end;
  if (p < end && end[-1] != '\n') {
    const uint8_t *nl = memrchr(p, '\n', (size_t)(end - p));
    tail = nl ? nl + 1 : p;
  }
  /* Lines that start before near end (with their '\n') 33 bytes or more
   * before the chunk does: key predictions there read 32 bytes without an
   * end check. Lines from near on (and the tail copy) go without. */
  const uint8_t *near = p;
  if (end - p > 33) {
    const uint8_t *nl = memrchr(p, '\n', (size_t)(end - 33 - p));
    if (nl) near = nl + 1;
  }
  while (p < end) {
    const uint8_t *lend = end; /* end of the bytes this line is parsed in */
    const uint8_t *orig = p;   /* the line's start in the chunk */
    if (p == tail) {
      size_t n = (size_t)(end - p);
      if ((int64_t)n > max_line) {
        /* too long to be a row anyway: reported without copying it */
        jp.err_at = p;
        snprintf(jp.reason, sizeof jp.reason,
                 "line of %lld bytes is longer than max_line_bytes %lld",
                 (long long)n, (long long)max_line);
        for (int32_t i = 0; i < nf; i++)
          sl__jcol_truncate(&w->tops[i], rows);
        rc = record_bad(t, &jp, p, end, p - t->begin, t->lines);
        if (rc) break;
        t->lines++;
        if (fail) t->failed = true;
        break;
      }
      if (w->tail_cap < n + 1) {
        uint8_t *nb = sl_realloc(w->tail, n + 1);
        if (!nb) {
          rc = SL_ENOMEM;
          break;
        }
        w->tail = nb;
        w->tail_cap = n + 1;
      }
      memcpy(w->tail, p, n);
      w->tail[n] = '\n';
      p = w->tail;
      lend = w->tail + n + 1;
      jp.begin = p;
      jp.end = lend;
      jp.blk = NULL;
    }
    const uint8_t *line = p;
    jp.predict_below = lend == end && p < near ? SL__JKEY_POSITIONS : 0;
    p = ws(p);
    if (*p == '\n' && p - line <= max_line) {
      t->lines++;
      t->empty_lines++;
      p = lend == end ? p + 1 : end;
      continue;
    }
    const uint8_t *q;
    jp.err_at = NULL;
    if (*p == '\n') {
      q = p; /* a blank line over the length limit: reported below */
    } else if (*p == '{') {
      q = object(&jp, p, root, rows + 1, 1);
      if (q) {
        q = ws(q);
        if (*q != '\n') q = bad_found(&jp, q, "end of line after the object");
      }
    } else {
      q = bad_found(&jp, p, "a JSON object at the start of the line");
    }
    if (jp.hard) {
      rc = jp.hard;
      sl_error_set(&t->err, rc, "JSON reader: %s while parsing",
                   sl_status_name(rc));
      break;
    }
    if (q && q - line > max_line) {
      jp.err_at = line;
      snprintf(jp.reason, sizeof jp.reason,
               "line of %lld bytes is longer than max_line_bytes %lld",
               (long long)(q - line), (long long)max_line);
      q = NULL;
    }
    if (q) {
      rows++;
      t->lines++;
      p = lend == end ? q + 1 : end; /* q is at the '\n' */
      if (rows == batch_rows) {
        rc = emit(e, w, t, rows);
        t->rows += rows;
        rows = 0;
        if (rc) break;
        int64_t more = (end - p) / avg + 16;
        if (more > batch_rows) more = batch_rows;
        for (int32_t i = 0; i < nf && !rc; i++)
          rc = sl__jcol_reserve(&w->tops[i], more, e->buffers);
        if (rc) break;
      }
      continue;
    }
    /* bad line: roll back, find its end, record it */
    for (int32_t i = 0; i < nf; i++)
      sl__jcol_truncate(&w->tops[i], rows);
    const uint8_t *from = jp.err_at && jp.err_at > line ? jp.err_at : line;
    if (from > lend) from = lend;
    const uint8_t *nl = memchr(from, '\n', (size_t)(lend - from));
    const uint8_t *line_end = nl ? nl : lend;
    rc = record_bad(t, &jp, line, line_end, orig - t->begin, t->lines);
    if (rc) break;
    t->lines++;
    if (fail) {
      t->failed = true;
      break;
    }
    p = lend == end && nl ? nl + 1 : end;
  }
  if (!rc && rows > 0) {
    rc = emit(e, w, t, rows);
    t->rows += rows;
  }
  if (rc) {
    /* the builders may be half finished: the engine is unusable from here
     * (front ends stop at the first hard error) */
    if (!t->err.code)
      sl_error_set(&t->err, rc, "JSON reader: %s", sl_status_name(rc));
  }
  return rc;
}
