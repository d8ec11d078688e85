/* Parquet's integer encodings: the RLE/bit-packed hybrid (levels and
 * dictionary indices) and DELTA_BINARY_PACKED (integers, timestamps).
 *
 * Decoders take untrusted bytes: every run header, bit width and count is
 * checked against the bytes left and the values asked for. */
#include <string.h>

#include "io/parquet/pq.h"

int pq_bit_width(uint64_t max_value) {
  int w = 0;
  while (max_value) {
    w++;
    max_value >>= 1;
  }
  return w;
}

int pq_varint_put(struct pq_buf *out, uint64_t v) {
  int rc = pq_buf_reserve(out, 10);
  if (rc) return rc;
  uint8_t *p = out->data + out->size;
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  out->size = (size_t)(p - out->data);
  return 0;
}

static bool get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v) {
  const uint8_t *p = *pp;
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= end) return false;
    uint8_t b = *p++;
    x |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *v = x;
      *pp = p;
      return true;
    }
  }
  return false;
}

static int emit_rle(struct pq_buf *out, uint32_t value, int64_t count, int bw) {
  int rc = pq_varint_put(out, (uint64_t)count << 1);
  if (rc) return rc;
  uint8_t b[4];
  pq_put_u32le(b, value);
  return pq_buf_append(out, b, (size_t)(bw + 7) / 8);
}

/* One encoder body per input width. A bit-packed section runs in groups of
 * 8 until a run of 8 or more equal values starts on a group boundary; only
 * the last group of the whole stream may be padded (the reader knows how
 * many values to take). */
#define RLE_ENCODE(NAME, T)                                                    \
  static int64_t NAME##_run(const T *v, int64_t i, int64_t n) {                \
    int64_t j = i + 1;                                                         \
    while (j < n && v[j] == v[i])                                              \
      j++;                                                                     \
    return j - i;                                                              \
  }                                                                            \
  static int NAME##_packed(struct pq_buf *out, const T *v, int64_t n,          \
                           int bw) {                                           \
    int64_t groups = (n + 7) / 8;                                              \
    int rc = pq_varint_put(out, (uint64_t)groups << 1 | 1);                    \
    if (rc) return rc;                                                         \
    size_t bytes = (size_t)groups * (size_t)bw;                                \
    if ((rc = pq_buf_reserve(out, bytes + 8))) return rc;                      \
    uint8_t *p = out->data + out->size;                                        \
    uint64_t acc = 0;                                                          \
    int nbits = 0;                                                             \
    for (int64_t i = 0; i < groups * 8; i++) {                                 \
      acc |= (uint64_t)(i < n ? v[i] : 0) << nbits;                            \
      nbits += bw;                                                             \
      while (nbits >= 8) {                                                     \
        *p++ = (uint8_t)acc;                                                   \
        acc >>= 8;                                                             \
        nbits -= 8;                                                            \
      }                                                                        \
    }                                                                          \
    out->size += bytes;                                                        \
    return 0;                                                                  \
  }                                                                            \
  int NAME(const T *v, int64_t n, int bw, struct pq_buf *out) {                \
    if (bw == 0) return n ? pq_varint_put(out, (uint64_t)n << 1) : 0;          \
    int64_t i = 0;                                                             \
    while (i < n) {                                                            \
      int64_t r = NAME##_run(v, i, n);                                         \
      if (r >= 8) {                                                            \
        int rc = emit_rle(out, v[i], r, bw);                                   \
        if (rc) return rc;                                                     \
        i += r;                                                                \
        continue;                                                              \
      }                                                                        \
      int64_t j = i;                                                           \
      for (;;) {                                                               \
        j += 8;                                                                \
        if (j >= n) {                                                          \
          j = n;                                                               \
          break;                                                               \
        }                                                                      \
        if (j - i >= 8 * 1000) break;                                          \
        if (NAME##_run(v, j, n < j + 8 ? n : j + 8) >= 8) break;               \
      }                                                                        \
      int rc = NAME##_packed(out, v + i, j - i, bw);                           \
      if (rc) return rc;                                                       \
      i = j;                                                                   \
    }                                                                          \
    return 0;                                                                  \
  }

RLE_ENCODE(pq_rle_encode_u16, uint16_t)
RLE_ENCODE(pq_rle_encode_u32, uint32_t)

/* ---- RLE decoding ------------------------------------------------------ */

static inline uint32_t unpack_one(const uint8_t *p, size_t len, uint64_t bit,
                                  int bw) {
  size_t byte = (size_t)(bit >> 3);
  int shift = (int)(bit & 7);
  uint64_t x;
  if (byte + 8 <= len) {
    memcpy(&x, p + byte, 8);
  } else {
    x = 0;
    for (size_t k = 0; byte + k < len && k < 8; k++)
      x |= (uint64_t)p[byte + k] << (8 * k);
  }
  return (uint32_t)((x >> shift) &
                    ((bw == 32) ? 0xFFFFFFFFu : ((1u << bw) - 1)));
}

/* Groups of 8 values of a bit width known at compile time: every shift and
 * offset is a constant, so each value is one unaligned load, a shift and a
 * mask. A group of BW bytes is read with 64-bit loads that reach up to 8
 * bytes past it, so callers keep that many bytes of input in hand. */
#define UNPACK_BW(BW)                                                          \
  static void unpack_##BW(const uint8_t *in, uint32_t *out, size_t groups) {   \
    const uint64_t mask = BW == 32 ? 0xFFFFFFFFu : (1ull << BW) - 1;           \
    for (size_t g = 0; g < groups; g++, in += BW, out += 8) {                  \
      for (int i = 0; i < 8; i++) {                                            \
        uint64_t w;                                                            \
        memcpy(&w, in + (i * BW) / 8, 8);                                      \
        out[i] = (uint32_t)((w >> ((i * BW) % 8)) & mask);                     \
      }                                                                        \
    }                                                                          \
  }
UNPACK_BW(1)
UNPACK_BW(2)
UNPACK_BW(3)
UNPACK_BW(4)
UNPACK_BW(5)
UNPACK_BW(6)
UNPACK_BW(7)
UNPACK_BW(8)
UNPACK_BW(9)
UNPACK_BW(10)
UNPACK_BW(11)
UNPACK_BW(12)
UNPACK_BW(13)
UNPACK_BW(14)
UNPACK_BW(15)
UNPACK_BW(16)
UNPACK_BW(17)
UNPACK_BW(18)
UNPACK_BW(19)
UNPACK_BW(20)
UNPACK_BW(21)
UNPACK_BW(22)
UNPACK_BW(23)
UNPACK_BW(24)
UNPACK_BW(25)
UNPACK_BW(26)
UNPACK_BW(27)
UNPACK_BW(28)
UNPACK_BW(29)
UNPACK_BW(30)
UNPACK_BW(31)
UNPACK_BW(32)

static void unpack_0(const uint8_t *in, uint32_t *out, size_t groups) {
  (void)in;
  memset(out, 0, groups * 8 * sizeof *out);
}

static void (*const unpack_fn[33])(const uint8_t *, uint32_t *, size_t) = {
    unpack_0,  unpack_1,  unpack_2,  unpack_3,  unpack_4,  unpack_5,  unpack_6,
    unpack_7,  unpack_8,  unpack_9,  unpack_10, unpack_11, unpack_12, unpack_13,
    unpack_14, unpack_15, unpack_16, unpack_17, unpack_18, unpack_19, unpack_20,
    unpack_21, unpack_22, unpack_23, unpack_24, unpack_25, unpack_26, unpack_27,
    unpack_28, unpack_29, unpack_30, unpack_31, unpack_32};

void pq_unpack_ref(const uint8_t *in, size_t len, int bw, uint32_t *out,
                   size_t n) {
  for (size_t k = 0; k < n; k++)
    out[k] = bw ? unpack_one(in, len, (uint64_t)k * (uint64_t)bw, bw) : 0;
}

void pq_unpack(const uint8_t *in, size_t len, int bw, uint32_t *out, size_t n) {
  /* Whole groups while 8 bytes past the group are still input; the rest
   * (at most a few groups at the end of the data) one value at a time. */
  size_t groups = n / 8;
  size_t fast = len >= 8 + (size_t)bw ? (len - 8) / (size_t)(bw ? bw : 1) : 0;
  if (bw == 0) fast = groups;
  if (fast > groups) fast = groups;
  unpack_fn[bw](in, out, fast);
  size_t done = fast * 8;
  for (size_t k = done; k < n; k++)
    out[k] = bw ? unpack_one(in, len, (uint64_t)k * (uint64_t)bw, bw) : 0;
}

/* Bit-packed values go through a small buffer of uint32 so that one
 * unpacker serves both output widths; the limit check runs over the whole
 * block (a maximum), and only a failing block is searched for the index to
 * report. */
#define UNPACK_BLOCK 512
#define RLE_DECODE(NAME, T)                                                    \
  int NAME(const uint8_t *p, size_t len, int bw, T *out, int64_t n,            \
           uint32_t limit, struct sl_error *err) {                             \
    if (bw < 0 || bw > 32)                                                     \
      return sl_error_set(err, SL_EINVAL,                                      \
                          "RLE bit width %d out of range 0..32", bw);          \
    const uint8_t *end = p + len, *q = p;                                      \
    int64_t got = 0;                                                           \
    size_t vbytes = (size_t)(bw + 7) / 8;                                      \
    uint32_t tmp[UNPACK_BLOCK];                                                \
    while (got < n) {                                                          \
      uint64_t h;                                                              \
      if (!get_varint(&q, end, &h))                                            \
        return sl_error_set(err, SL_EINVAL,                                    \
                            "RLE data ends after %lld of %lld values",         \
                            (long long)got, (long long)n);                     \
      if (h & 1) {                                                             \
        uint64_t groups = h >> 1;                                              \
        size_t left = (size_t)(end - q);                                       \
        uint64_t want = groups * 8;                                            \
        if (groups > ((uint64_t)1 << 40)) want = (uint64_t)1 << 43;            \
        uint64_t avail = bw ? (uint64_t)left * 8 / (uint64_t)bw : want;        \
        uint64_t take = want < avail ? want : avail;                           \
        if (take > (uint64_t)(n - got)) take = (uint64_t)(n - got);            \
        if (take == 0 && want > 0)                                             \
          return sl_error_set(err, SL_EINVAL,                                  \
                              "bit-packed run past the end of the data");      \
        for (uint64_t k = 0; k < take; k += UNPACK_BLOCK) {                    \
          size_t m =                                                           \
              take - k < UNPACK_BLOCK ? (size_t)(take - k) : UNPACK_BLOCK;     \
          size_t at = (size_t)(k / 8 * (uint64_t)bw);                          \
          pq_unpack(q + at, left - at, bw, tmp, m);                            \
          uint32_t mx = 0;                                                     \
          for (size_t i = 0; i < m; i++) {                                     \
            mx = tmp[i] > mx ? tmp[i] : mx;                                    \
            out[got + (int64_t)(k + i)] = (T)tmp[i];                           \
          }                                                                    \
          if (limit && mx >= limit)                                            \
            for (size_t i = 0; i < m; i++)                                     \
              if (tmp[i] >= limit)                                             \
                return sl_error_set(                                           \
                    err, SL_EINVAL,                                            \
                    "value %u at index %lld out of range (limit %u)", tmp[i],  \
                    (long long)(got + (int64_t)(k + i)), limit);               \
        }                                                                      \
        got += (int64_t)take;                                                  \
        uint64_t used = groups * (uint64_t)bw;                                 \
        q += used < left ? used : left;                                        \
      } else {                                                                 \
        uint64_t count = h >> 1;                                               \
        if ((size_t)(end - q) < vbytes)                                        \
          return sl_error_set(err, SL_EINVAL,                                  \
                              "RLE run value past the end of the data");       \
        uint32_t v = 0;                                                        \
        for (size_t k = 0; k < vbytes; k++)                                    \
          v |= (uint32_t)q[k] << (8 * k);                                      \
        q += vbytes;                                                           \
        if (limit && v >= limit && count)                                      \
          return sl_error_set(err, SL_EINVAL,                                  \
                              "RLE value %u out of range (limit %u)", v,       \
                              limit);                                          \
        if (count > (uint64_t)(n - got)) count = (uint64_t)(n - got);          \
        for (uint64_t k = 0; k < count; k++)                                   \
          out[got + (int64_t)k] = (T)v;                                        \
        got += (int64_t)count;                                                 \
      }                                                                        \
    }                                                                          \
    return 0;                                                                  \
  }

RLE_DECODE(pq_rle_decode_u16, uint16_t)
RLE_DECODE(pq_rle_decode_u32, uint32_t)

/* Bits [at, at + n) of bm set to v (bits below `at` are kept). */
static void bits_fill(uint8_t *bm, int64_t at, int64_t n, bool v) {
  if (n <= 0) return;
  int64_t end = at + n;
  int64_t b0 = at >> 3, b1 = end >> 3;
  uint8_t lo = (uint8_t)((1u << (at & 7)) - 1); /* bits kept in b0 */
  if (b0 == b1) {
    uint8_t m = (uint8_t)(((1u << (end & 7)) - 1) & ~lo);
    bm[b0] = v ? (uint8_t)(bm[b0] | m) : (uint8_t)(bm[b0] & ~m);
    return;
  }
  bm[b0] = v ? (uint8_t)(bm[b0] | ~lo) : (uint8_t)(bm[b0] & lo);
  if (b1 > b0 + 1) memset(bm + b0 + 1, v ? 0xFF : 0, (size_t)(b1 - b0 - 1));
  if (end & 7) bm[b1] = v ? (uint8_t)((1u << (end & 7)) - 1) : 0;
}

/* Copies n bits from src (starting at bit 0) to bm at bit `at`. Bits of bm
 * below `at` are kept; bits at and after at + n in its last byte may be
 * anything (they are written later or lie past the end). */
static void bits_copy(uint8_t *bm, int64_t at, const uint8_t *src, int64_t n) {
  if (n <= 0) return;
  int sh = (int)(at & 7);
  uint8_t *d = bm + (at >> 3);
  size_t nb = (size_t)(n + 7) / 8;
  if (sh == 0) {
    memcpy(d, src, nb);
    return;
  }
  uint8_t keep = (uint8_t)((1u << sh) - 1);
  uint32_t acc = d[0] & keep;
  size_t out_bytes = (size_t)((at & 7) + n + 7) / 8;
  for (size_t i = 0; i < out_bytes; i++) {
    uint32_t s = i < nb ? src[i] : 0;
    acc |= s << sh;
    d[i] = (uint8_t)acc;
    acc >>= 8;
  }
}

static int64_t popcount_bits(const uint8_t *src, int64_t n) {
  int64_t c = 0, i = 0;
  for (; i + 64 <= n; i += 64) {
    uint64_t w;
    memcpy(&w, src + i / 8, 8);
    c += __builtin_popcountll(w);
  }
  for (; i < n; i++)
    c += (src[i >> 3] >> (i & 7)) & 1;
  return c;
}

int pq_def_to_bitmap(const uint8_t *p, size_t len, uint8_t *bm, int64_t at,
                     int64_t n, int64_t *nonnull, struct sl_error *err) {
  const uint8_t *end = p + len, *q = p;
  int64_t got = 0, ones = 0;
  while (got < n) {
    uint64_t h;
    if (!get_varint(&q, end, &h))
      return sl_error_set(err, SL_EINVAL,
                          "RLE data ends after %lld of %lld values",
                          (long long)got, (long long)n);
    if (h & 1) {
      uint64_t groups = h >> 1;
      size_t left = (size_t)(end - q);
      uint64_t want =
          groups > ((uint64_t)1 << 40) ? (uint64_t)1 << 43 : groups * 8;
      uint64_t take = want < (uint64_t)left * 8 ? want : (uint64_t)left * 8;
      if (take > (uint64_t)(n - got)) take = (uint64_t)(n - got);
      if (take == 0 && want > 0)
        return sl_error_set(err, SL_EINVAL,
                            "bit-packed run past the end of the data");
      /* Width 1, LSB first: the run is already a validity bitmap. */
      bits_copy(bm, at + got, q, (int64_t)take);
      ones += popcount_bits(q, (int64_t)take);
      got += (int64_t)take;
      q += groups < left ? groups : left;
    } else {
      uint64_t count = h >> 1;
      if (q >= end)
        return sl_error_set(err, SL_EINVAL,
                            "RLE run value past the end of the data");
      uint8_t v = *q++;
      if (v > 1 && count)
        return sl_error_set(err, SL_EINVAL,
                            "RLE value %u out of range (limit 2)", v);
      if (count > (uint64_t)(n - got)) count = (uint64_t)(n - got);
      bits_fill(bm, at + got, (int64_t)count, v);
      if (v) ones += (int64_t)count;
      got += (int64_t)count;
    }
  }
  *nonnull = ones;
  return 0;
}

/* ---- DELTA_BINARY_PACKED ----------------------------------------------- */

#define DELTA_BLOCK 128
#define DELTA_MINIBLOCKS 4
#define DELTA_MINI (DELTA_BLOCK / DELTA_MINIBLOCKS)

static uint64_t zz(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static int64_t unzz(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Packs 32 values of width bw (0..64). */
static int pack_u64_mini(const uint64_t *v, int bw, struct pq_buf *out) {
  if (bw == 0) return 0;
  size_t bytes = (size_t)DELTA_MINI * (size_t)bw / 8;
  int rc = pq_buf_reserve(out, bytes);
  if (rc) return rc;
  uint8_t *p = out->data + out->size;
  memset(p, 0, bytes);
  uint64_t bit = 0;
  for (int i = 0; i < DELTA_MINI; i++) {
    uint64_t x = v[i];
    for (int b = 0; b < bw;) {
      size_t byte = (size_t)(bit >> 3);
      int off = (int)(bit & 7);
      int take = 8 - off < bw - b ? 8 - off : bw - b;
      p[byte] |= (uint8_t)(((x >> b) & ((1u << take) - 1)) << off);
      b += take;
      bit += (uint64_t)take;
    }
  }
  out->size += bytes;
  return 0;
}

/* Shared body: values as uint64 with a wrap width of 32 or 64 bits. */
static int delta_encode(const void *vals, bool is32, int64_t n,
                        struct pq_buf *out) {
  int rc;
  if ((rc = pq_varint_put(out, DELTA_BLOCK))) return rc;
  if ((rc = pq_varint_put(out, DELTA_MINIBLOCKS))) return rc;
  if ((rc = pq_varint_put(out, (uint64_t)n))) return rc;
  const int32_t *v32 = vals;
  const int64_t *v64 = vals;
  int64_t first = n ? (is32 ? v32[0] : v64[0]) : 0;
  if ((rc = pq_varint_put(out, zz(first)))) return rc;
  uint64_t d[DELTA_BLOCK];
  int64_t i = 1;
  while (i < n) {
    int64_t m = n - i < DELTA_BLOCK ? n - i : DELTA_BLOCK;
    int64_t mind = INT64_MAX;
    for (int64_t k = 0; k < m; k++) {
      int64_t dk;
      if (is32) {
        dk = (int32_t)((uint32_t)v32[i + k] - (uint32_t)v32[i + k - 1]);
      } else {
        dk = (int64_t)((uint64_t)v64[i + k] - (uint64_t)v64[i + k - 1]);
      }
      d[k] = (uint64_t)dk;
      if (dk < mind) mind = dk;
    }
    if ((rc = pq_varint_put(out, zz(mind)))) return rc;
    uint8_t widths[DELTA_MINIBLOCKS] = {0};
    for (int64_t k = 0; k < DELTA_BLOCK; k++) {
      if (k < m) {
        d[k] = d[k] - (uint64_t)mind;
        if (is32) d[k] &= 0xFFFFFFFFu;
      } else {
        d[k] = 0;
      }
    }
    int used_minis = (int)((m + DELTA_MINI - 1) / DELTA_MINI);
    for (int mb = 0; mb < used_minis; mb++) {
      uint64_t mx = 0;
      for (int k = 0; k < DELTA_MINI; k++)
        mx |= d[mb * DELTA_MINI + k];
      widths[mb] = (uint8_t)pq_bit_width(mx);
    }
    if ((rc = pq_buf_append(out, widths, sizeof widths))) return rc;
    for (int mb = 0; mb < used_minis; mb++)
      if ((rc = pack_u64_mini(d + mb * DELTA_MINI, widths[mb], out))) return rc;
    i += m;
  }
  return 0;
}

int pq_delta_encode_i32(const int32_t *v, int64_t n, struct pq_buf *out) {
  return delta_encode(v, true, n, out);
}
int pq_delta_encode_i64(const int64_t *v, int64_t n, struct pq_buf *out) {
  return delta_encode(v, false, n, out);
}

static uint64_t unpack_wide(const uint8_t *p, size_t len, uint64_t bit,
                            int bw) {
  uint64_t x = 0;
  for (int b = 0; b < bw;) {
    size_t byte = (size_t)(bit >> 3);
    int off = (int)(bit & 7);
    int take = 8 - off < bw - b ? 8 - off : bw - b;
    uint64_t chunk =
        byte < len ? (uint64_t)((p[byte] >> off) & ((1u << take) - 1)) : 0;
    x |= chunk << b;
    b += take;
    bit += (uint64_t)take;
  }
  return x;
}

static int delta_decode(const uint8_t *p, size_t len, void *outv, bool is32,
                        int64_t n, size_t *used, struct sl_error *err) {
  const uint8_t *q = p, *end = p + len;
  uint64_t block, minis, total, firstz;
  if (!get_varint(&q, end, &block) || !get_varint(&q, end, &minis) ||
      !get_varint(&q, end, &total) || !get_varint(&q, end, &firstz))
    return sl_error_set(err, SL_EINVAL, "DELTA_BINARY_PACKED header truncated");
  if (block == 0 || block % 128 != 0 || block > (1u << 16) || minis == 0 ||
      block % minis != 0 || (block / minis) % 32 != 0)
    return sl_error_set(err, SL_EINVAL,
                        "DELTA_BINARY_PACKED block size %llu / %llu "
                        "miniblocks is invalid",
                        (unsigned long long)block, (unsigned long long)minis);
  if (total < (uint64_t)n)
    return sl_error_set(err, SL_EINVAL,
                        "DELTA_BINARY_PACKED holds %llu values, page needs "
                        "%lld",
                        (unsigned long long)total, (long long)n);
  uint64_t per_mini = block / minis;
  int32_t *o32 = outv;
  int64_t *o64 = outv;
  int64_t cur = unzz(firstz);
  /* Some writers compute INT32 deltas in 64 bits (width up to 33): the
   * result is the same modulo 2^32, so accept widths up to 64 for both. */
  int maxw = 64;
  int64_t got = 0;
  if (n > 0) {
    if (is32)
      o32[0] = (int32_t)cur;
    else
      o64[0] = cur;
    got = 1;
  }
  while (got < n) {
    uint64_t mzz;
    if (!get_varint(&q, end, &mzz))
      return sl_error_set(err, SL_EINVAL,
                          "DELTA_BINARY_PACKED block header truncated at "
                          "value %lld",
                          (long long)got);
    int64_t mind = unzz(mzz);
    if ((uint64_t)(end - q) < minis)
      return sl_error_set(err, SL_EINVAL,
                          "DELTA_BINARY_PACKED bit widths truncated");
    const uint8_t *widths = q;
    q += minis;
    for (uint64_t mb = 0; mb < minis && got < n; mb++) {
      int bw = widths[mb];
      if (bw > maxw)
        return sl_error_set(err, SL_EINVAL,
                            "DELTA_BINARY_PACKED bit width %d above %d", bw,
                            maxw);
      size_t left = (size_t)(end - q);
      uint64_t need_bytes = per_mini * (uint64_t)bw / 8;
      uint64_t take = per_mini;
      if (take > (uint64_t)(n - got)) take = (uint64_t)(n - got);
      if ((take * (uint64_t)bw + 7) / 8 > left)
        return sl_error_set(err, SL_EINVAL,
                            "DELTA_BINARY_PACKED miniblock truncated at "
                            "value %lld",
                            (long long)got);
      for (uint64_t k = 0; k < take; k++) {
        uint64_t x = bw ? unpack_wide(q, left, k * (uint64_t)bw, bw) : 0;
        if (is32) {
          uint64_t c64 = (uint64_t)cur + (uint64_t)mind + x;
          cur = (int32_t)(uint32_t)c64;
          o32[got] = (int32_t)cur;
        } else {
          cur = (int64_t)((uint64_t)cur + (uint64_t)mind + x);
          o64[got] = cur;
        }
        got++;
      }
      q += need_bytes < left ? need_bytes : left;
    }
  }
  if (used) *used = (size_t)(q - p);
  return 0;
}

int pq_delta_decode_i32(const uint8_t *p, size_t len, int32_t *out, int64_t n,
                        size_t *used, struct sl_error *err) {
  return delta_decode(p, len, out, true, n, used, err);
}
int pq_delta_decode_i64(const uint8_t *p, size_t len, int64_t *out, int64_t n,
                        size_t *used, struct sl_error *err) {
  return delta_decode(p, len, out, false, n, used, err);
}
