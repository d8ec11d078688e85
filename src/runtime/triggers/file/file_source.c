/* Sequential byte sources for the file trigger: plain files, gzip (".gz",
 * multi-member too) and zstd (".zst") decompressed on the fly. Offsets are
 * always positions in the decompressed bytes, so progress and position keys
 * mean the same for every kind; opening a compressed file at an offset
 * decompresses and drops what comes before it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "runtime/triggers/file/file_source.h"
#include "sluice/alloc.h"

enum kind { PLAIN, GZ, ZST };

struct sl_fsrc {
  enum kind kind;
  int fd;           /* PLAIN, ZST */
  gzFile gz;        /* GZ */
  int64_t pos;      /* decompressed offset of the next byte */
  ZSTD_DStream *zs; /* ZST */
  char *in;
  ZSTD_inBuffer zin;
  size_t in_cap;
  bool in_eof;
};

static bool ends_with(const char *s, const char *suf) {
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && !strcmp(s + n - m, suf);
}

bool sl__fsrc_compressed(const char *path) {
  return ends_with(path, ".gz") || ends_with(path, ".zst");
}

static int64_t read_zst(struct sl_fsrc *s, char *buf, size_t cap) {
  ZSTD_outBuffer out = {buf, cap, 0};
  while (out.pos == 0) {
    if (s->zin.pos == s->zin.size && !s->in_eof) {
      ssize_t k = read(s->fd, s->in, s->in_cap);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) return -1;
      if (k == 0) s->in_eof = true;
      s->zin.src = s->in;
      s->zin.size = (size_t)k;
      s->zin.pos = 0;
    }
    if (s->zin.pos == s->zin.size && s->in_eof) return 0;
    size_t r = ZSTD_decompressStream(s->zs, &out, &s->zin);
    if (ZSTD_isError(r)) return -1;
  }
  return (int64_t)out.pos;
}

int64_t sl__fsrc_read(struct sl_fsrc *s, char *buf, size_t cap) {
  int64_t k;
  if (cap > (1u << 30)) cap = 1u << 30;
  switch (s->kind) {
  case PLAIN: do { k = pread(s->fd, buf, cap, s->pos);
    } while (k < 0 && errno == EINTR);
    break;
  case GZ: k = gzread(s->gz, buf, (unsigned)cap); break;
  default: k = read_zst(s, buf, cap);
  }
  if (k > 0) s->pos += k;
  return k;
}

int sl__fsrc_open(const char *path, int64_t offset, struct sl_fsrc **out,
                  struct sl_error *err) {
  *out = NULL;
  struct sl_fsrc *s = sl_calloc(1, sizeof *s);
  if (!s) return sl_error_set(err, SL_ENOMEM, "out of memory");
  s->kind = ends_with(path, ".gz") ? GZ : ends_with(path, ".zst") ? ZST : PLAIN;
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0) {
    int e = errno;
    sl_free(s);
    return sl_error_set(err, SL_EIO, "cannot open '%s': %s", path, strerror(e));
  }
  if (s->kind == GZ) {
    s->gz = gzdopen(s->fd, "rb");
    s->fd = -1;
    if (!s->gz) {
      sl__fsrc_close(s);
      return sl_error_set(err, SL_EIO, "cannot open '%s' as gzip", path);
    }
    gzbuffer(s->gz, 256 * 1024);
  } else if (s->kind == ZST) {
    s->in_cap = ZSTD_DStreamInSize();
    s->in = sl_malloc(s->in_cap);
    s->zs = ZSTD_createDStream();
    if (!s->in || !s->zs || ZSTD_isError(ZSTD_initDStream(s->zs))) {
      sl__fsrc_close(s);
      return sl_error_set(err, SL_ENOMEM, "out of memory");
    }
  }
  if (s->kind == PLAIN) {
    s->pos = offset;
  } else if (offset > 0) { /* decompress and drop what comes before */
    char tmp[65536];
    while (s->pos < offset) {
      int64_t want = offset - s->pos;
      int64_t k = sl__fsrc_read(s, tmp, (size_t)(want < 65536 ? want : 65536));
      if (k <= 0) {
        sl__fsrc_close(s);
        return sl_error_set(err, SL_EIO,
                            "'%s': expected at least %lld decompressed bytes, "
                            "found %s at %lld",
                            path, (long long)offset,
                            k == 0 ? "the end" : "corrupt data",
                            (long long)s->pos);
      }
    }
  }
  *out = s;
  return 0;
}

int64_t sl__fsrc_pos(const struct sl_fsrc *s) {
  return s->pos;
}

void sl__fsrc_close(struct sl_fsrc *s) {
  if (!s) return;
  if (s->gz) gzclose(s->gz);
  if (s->fd >= 0) close(s->fd);
  if (s->zs) ZSTD_freeDStream(s->zs);
  sl_free(s->in);
  sl_free(s);
}
