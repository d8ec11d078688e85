/* Page compression through Debian's libraries: zstd, snappy, zlib (GZIP)
 * and lz4 (LZ4_RAW block format, and the Hadoop-framed legacy LZ4 when
 * reading).
 *
 * Decompression always targets a buffer of the size the page header
 * declares and fails when the stream would produce a different size, so a
 * small page cannot expand into unbounded memory. */
#include <lz4.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "io/parquet/pq.h"

const char *pq_codec_name(int codec) {
  switch (codec) {
  case PQ_CODEC_UNCOMPRESSED: return "UNCOMPRESSED";
  case PQ_CODEC_SNAPPY: return "SNAPPY";
  case PQ_CODEC_GZIP: return "GZIP";
  case PQ_CODEC_LZO: return "LZO";
  case PQ_CODEC_BROTLI: return "BROTLI";
  case PQ_CODEC_LZ4: return "LZ4";
  case PQ_CODEC_ZSTD: return "ZSTD";
  case PQ_CODEC_LZ4_RAW: return "LZ4_RAW";
  default: return "unknown";
  }
}

bool pq_codec_supported(int codec) {
  return codec == PQ_CODEC_UNCOMPRESSED || codec == PQ_CODEC_SNAPPY ||
         codec == PQ_CODEC_GZIP || codec == PQ_CODEC_ZSTD ||
         codec == PQ_CODEC_LZ4_RAW || codec == PQ_CODEC_LZ4;
}

static int gzip_compress(int level, const uint8_t *src, size_t n,
                         struct pq_buf *out, struct sl_error *err) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (level <= 0 || level > 9) level = 6;
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    return sl_error_set(err, SL_ENOMEM, "gzip: cannot start the compressor");
  size_t bound = deflateBound(&zs, (uLong)n) + 32;
  int rc = pq_buf_reserve(out, bound);
  if (rc) {
    deflateEnd(&zs);
    return sl_error_set(err, rc, "gzip: out of memory");
  }
  zs.next_in = (Bytef *)src;
  zs.avail_in = (uInt)n;
  zs.next_out = out->data + out->size;
  zs.avail_out = (uInt)bound;
  int zr = deflate(&zs, Z_FINISH);
  size_t produced = bound - zs.avail_out;
  deflateEnd(&zs);
  if (zr != Z_STREAM_END)
    return sl_error_set(err, SL_EIO, "gzip: compression failed (%d)", zr);
  out->size += produced;
  return 0;
}

int pq_compress(int codec, int level, const uint8_t *src, size_t n,
                struct pq_buf *out, struct sl_error *err) {
  int rc;
  if (n > INT32_MAX)
    return sl_error_set(err, SL_ERANGE,
                        "page of %zu bytes is over the 2 GiB Parquet limit", n);
  switch (codec) {
  case PQ_CODEC_UNCOMPRESSED:
    rc = pq_buf_append(out, src, n);
    return rc ? sl_error_set(err, rc, "out of memory") : 0;
  case PQ_CODEC_ZSTD: {
    size_t bound = ZSTD_compressBound(n);
    if ((rc = pq_buf_reserve(out, bound)))
      return sl_error_set(err, rc, "zstd: out of memory");
    size_t z = ZSTD_compress(out->data + out->size, bound, src, n,
                             level == 0 ? 1 : level);
    if (ZSTD_isError(z))
      return sl_error_set(err, SL_EIO, "zstd: %s", ZSTD_getErrorName(z));
    out->size += z;
    return 0;
  }
  case PQ_CODEC_SNAPPY: {
    size_t bound = snappy_max_compressed_length(n);
    if ((rc = pq_buf_reserve(out, bound)))
      return sl_error_set(err, rc, "snappy: out of memory");
    size_t len = bound;
    if (snappy_compress((const char *)src, n, (char *)out->data + out->size,
                        &len) != SNAPPY_OK)
      return sl_error_set(err, SL_EIO, "snappy: compression failed");
    out->size += len;
    return 0;
  }
  case PQ_CODEC_GZIP: return gzip_compress(level, src, n, out, err);
  case PQ_CODEC_LZ4_RAW: {
    int bound = LZ4_compressBound((int)n);
    if (bound <= 0) return sl_error_set(err, SL_ERANGE, "lz4: page too large");
    if ((rc = pq_buf_reserve(out, (size_t)bound)))
      return sl_error_set(err, rc, "lz4: out of memory");
    int z = LZ4_compress_default((const char *)src,
                                 (char *)out->data + out->size, (int)n, bound);
    if (z <= 0) return sl_error_set(err, SL_EIO, "lz4: compression failed");
    out->size += (size_t)z;
    return 0;
  }
  default:
    return sl_error_set(err, SL_ENOTSUP, "codec %s (%d) is not supported",
                        pq_codec_name(codec), codec);
  }
}

static int gzip_decompress(const uint8_t *src, size_t n, uint8_t *dst,
                           size_t dst_n, struct sl_error *err) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  /* 15 + 32: accept gzip and zlib headers alike. */
  if (inflateInit2(&zs, 15 + 32) != Z_OK)
    return sl_error_set(err, SL_ENOMEM, "gzip: cannot start the decompressor");
  zs.next_in = (Bytef *)src;
  zs.avail_in = (uInt)n;
  zs.next_out = dst;
  zs.avail_out = (uInt)dst_n;
  int zr = inflate(&zs, Z_FINISH);
  size_t produced = dst_n - zs.avail_out;
  inflateEnd(&zs);
  if (zr == Z_STREAM_END && produced == dst_n) return 0;
  if (zr == Z_BUF_ERROR || (zr == Z_OK && zs.avail_out == 0))
    return sl_error_set(err, SL_EINVAL,
                        "gzip: page expands past its declared %zu bytes",
                        dst_n);
  if (zr == Z_STREAM_END)
    return sl_error_set(err, SL_EINVAL,
                        "gzip: page expands to %zu bytes, header says %zu",
                        produced, dst_n);
  return sl_error_set(err, SL_EINVAL, "gzip: corrupt page data (%s)",
                      zs.msg ? zs.msg : "inflate failed");
}

/* Legacy Hadoop LZ4 framing: [u32be raw size][u32be compressed size][lz4
 * block] repeated. Some old writers used it under the LZ4 codec id. */
static int hadoop_lz4(const uint8_t *src, size_t n, uint8_t *dst,
                      size_t dst_n) {
  size_t out = 0;
  while (n >= 8) {
    uint32_t raw = (uint32_t)src[0] << 24 | (uint32_t)src[1] << 16 |
                   (uint32_t)src[2] << 8 | src[3];
    uint32_t comp = (uint32_t)src[4] << 24 | (uint32_t)src[5] << 16 |
                    (uint32_t)src[6] << 8 | src[7];
    src += 8;
    n -= 8;
    if (comp > n || raw > dst_n - out || comp > INT32_MAX) return -1;
    int z = LZ4_decompress_safe((const char *)src, (char *)dst + out, (int)comp,
                                (int)raw);
    if (z < 0 || (uint32_t)z != raw) return -1;
    out += raw;
    src += comp;
    n -= comp;
  }
  return n == 0 && out == dst_n ? 0 : -1;
}

void pq_codec_state_release(struct pq_codec_state *s) {
  ZSTD_freeDCtx(s->zstd);
  s->zstd = NULL;
}

int pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst,
                  size_t dst_n, struct sl_error *err) {
  return pq_decompress_with(NULL, codec, src, n, dst, dst_n, err);
}

int pq_decompress_with(struct pq_codec_state *st, int codec, const uint8_t *src,
                       size_t n, uint8_t *dst, size_t dst_n,
                       struct sl_error *err) {
  if (n > INT32_MAX || dst_n > INT32_MAX)
    return sl_error_set(err, SL_EINVAL, "page size over 2 GiB");
  switch (codec) {
  case PQ_CODEC_UNCOMPRESSED:
    if (n != dst_n)
      return sl_error_set(err, SL_EINVAL,
                          "uncompressed page holds %zu bytes, header says %zu",
                          n, dst_n);
    if (n) memcpy(dst, src, n);
    return 0;
  case PQ_CODEC_ZSTD: {
    unsigned long long fs = ZSTD_getFrameContentSize(src, n);
    if (fs != ZSTD_CONTENTSIZE_UNKNOWN && fs != ZSTD_CONTENTSIZE_ERROR &&
        fs != dst_n)
      return sl_error_set(err, SL_EINVAL,
                          "zstd: page expands to %llu bytes, header says %zu",
                          fs, dst_n);
    /* A context kept per thread: ZSTD_decompress makes (allocates and
     * initialises) a new one for every page. */
    if (st && !st->zstd) st->zstd = ZSTD_createDCtx();
    size_t z = st && st->zstd
                   ? ZSTD_decompressDCtx(st->zstd, dst, dst_n, src, n)
                   : ZSTD_decompress(dst, dst_n, src, n);
    if (ZSTD_isError(z))
      return sl_error_set(err, SL_EINVAL, "zstd: corrupt page data (%s)",
                          ZSTD_getErrorName(z));
    if (z != dst_n)
      return sl_error_set(err, SL_EINVAL,
                          "zstd: page expands to %zu bytes, header says %zu", z,
                          dst_n);
    return 0;
  }
  case PQ_CODEC_SNAPPY: {
    size_t len = 0;
    if (snappy_uncompressed_length((const char *)src, n, &len) != SNAPPY_OK)
      return sl_error_set(err, SL_EINVAL, "snappy: corrupt page header");
    if (len != dst_n)
      return sl_error_set(err, SL_EINVAL,
                          "snappy: page expands to %zu bytes, header says %zu",
                          len, dst_n);
    /* No snappy_validate_compressed_buffer first: it is a second full
     * decoding pass, and snappy_uncompress itself checks every tag against
     * the input and the output bounds and fails on corrupt data. */
    if (snappy_uncompress((const char *)src, n, (char *)dst, &len) !=
            SNAPPY_OK ||
        len != dst_n)
      return sl_error_set(err, SL_EINVAL, "snappy: corrupt page data");
    return 0;
  }
  case PQ_CODEC_GZIP: return gzip_decompress(src, n, dst, dst_n, err);
  case PQ_CODEC_LZ4_RAW:
  case PQ_CODEC_LZ4: {
    int z =
        LZ4_decompress_safe((const char *)src, (char *)dst, (int)n, (int)dst_n);
    if (z >= 0 && (size_t)z == dst_n) return 0;
    if (codec == PQ_CODEC_LZ4 && hadoop_lz4(src, n, dst, dst_n) == 0) return 0;
    return sl_error_set(err, SL_EINVAL,
                        "lz4: corrupt page data or size other than the "
                        "declared %zu bytes",
                        dst_n);
  }
  default:
    return sl_error_set(err, SL_ENOTSUP,
                        "codec %s (%d) is not supported by sluice",
                        pq_codec_name(codec), codec);
  }
}
