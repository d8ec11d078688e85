/* JSON reader: the front ends. A memory buffer and a plain file (mapped
 * whole) go through the pipeline (json_pipe.c): morsels of whole lines
 * parsed as soon as a worker is free, consumed in input order. A file
 * decompressed from .gz / .zst or read from a pipe comes down to "hand the
 * engine a window of whole lines" from a reused window buffer.
 *
 * Memory stays bounded: the pipeline has a fixed number of morsels in
 * flight and releases the consumed part of a mapping; a window is at most
 * threads x chunk_bytes (plus one line). A line that does not end within
 * max_line_bytes is reported as a bad line without being held in memory
 * whole. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "io/json/json_internal.h"

enum src_kind { SRC_MEM, SRC_MAP, SRC_GZ, SRC_ZST, SRC_PIPE };

struct jreader {
  struct sl_batch_reader base;
  struct sl__jengine e;
  struct sl__jpipe *pipe; /* SRC_MEM, SRC_MAP */
  enum src_kind kind;
  bool engine_ready, done, failed;
  struct sl_error err;
  char *path;
  /* SRC_MEM */
  const uint8_t *mem;
  size_t mem_len;
  /* SRC_MAP: the whole file, mapped */
  int fd;
  int64_t file_size;
  uint8_t *map;
  /* SRC_GZ / SRC_ZST: decompressed bytes waiting to be parsed */
  struct sl_bytes win;
  bool src_eof;
  z_stream z;
  bool z_ready;
  ZSTD_DStream *zs;
  uint8_t *in;
  size_t in_len, in_pos, in_cap;
  bool mid_frame;             /* the compressed input stopped inside a frame */
  bool skipping;              /* inside a line longer than the limit */
  struct sl_json_options opt; /* kept until the engine starts */
  struct sl_schema schema_copy;
  bool has_schema;
};

static int64_t window_bytes(const struct jreader *r) {
  return r->e.chunk_bytes * r->e.n_workers;
}

/* ---- the batch_reader interface ----------------------------------------- */

static const struct sl_schema *jr_schema(struct sl_batch_reader *b) {
  struct jreader *r = b->private_data;
  return &r->e.plan.schema;
}

static void jr_release(struct sl_batch_reader *b) {
  struct jreader *r = b->private_data;
  sl__jpipe_free(r->pipe); /* stops the workers before the engine goes */
  sl__jengine_release(&r->e);
  if (r->map) munmap(r->map, (size_t)r->file_size);
  if (r->fd >= 0) close(r->fd);
  if (r->z_ready) inflateEnd(&r->z);
  if (r->zs) ZSTD_freeDStream(r->zs);
  sl_free(r->in);
  sl_bytes_release(&r->win);
  sl_free(r->path);
  sl_free(r);
}

/* Finds the end (after the last '\n') of whole lines in b[0, n). */
static size_t whole_lines(const uint8_t *b, size_t n) {
  const uint8_t *nl = memrchr(b, '\n', n);
  return nl ? (size_t)(nl - b) + 1 : 0;
}

/* Reports a line with no '\n' within max_line_bytes and starts skipping it. */
static int too_long(struct jreader *r, const uint8_t *p, struct sl_error *err) {
  char why[128];
  snprintf(why, sizeof why, "line longer than max_line_bytes %lld",
           (long long)r->e.opt.max_line_bytes);
  int rc = sl__jengine_bad_line(&r->e, p, (size_t)r->e.opt.max_line_bytes,
                                r->e.line_base + 1, r->e.byte_base, why, err);
  r->e.stats.lines++;
  r->e.line_base++;
  r->skipping = true;
  return rc;
}

/* Decompresses more bytes into r->win (up to `want` bytes in it). */
static int fill(struct jreader *r, size_t want, struct sl_error *err) {
  while (!r->src_eof && (size_t)r->win.size < want) {
    if (r->in_pos == r->in_len) {
      ssize_t got = read(r->fd, r->in, r->in_cap);
      if (got < 0)
        return sl_error_set(err, SL_EIO, "JSON reader: reading '%s': %m",
                            r->path);
      r->in_len = (size_t)got;
      r->in_pos = 0;
      if (got == 0) {
        if (r->mid_frame)
          return sl_error_set(err, SL_EINVAL,
                              "JSON reader: '%s': compressed data ends in the "
                              "middle of a frame (truncated file?)",
                              r->path);
        r->src_eof = true;
        break;
      }
    }
    size_t room = want - (size_t)r->win.size;
    if (room < 65536) room = 65536;
    SL_RETURN_NOT_OK(sl_bytes_reserve(&r->win, (int64_t)room));
    uint8_t *dst = r->win.data + r->win.size;
    size_t produced;
    if (r->kind == SRC_PIPE) {
      /* uncompressed bytes from a pipe: straight through */
      produced = r->in_len - r->in_pos < room ? r->in_len - r->in_pos : room;
      memcpy(dst, r->in + r->in_pos, produced);
      r->in_pos += produced;
    } else if (r->kind == SRC_GZ) {
      r->z.next_in = r->in + r->in_pos;
      r->z.avail_in = (uInt)(r->in_len - r->in_pos);
      r->z.next_out = dst;
      r->z.avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
      int zr = inflate(&r->z, Z_NO_FLUSH);
      produced = (size_t)(r->z.next_out - dst);
      r->in_pos = (size_t)(r->z.next_in - r->in);
      r->mid_frame = zr != Z_STREAM_END;
      if (zr == Z_STREAM_END) {
        inflateReset(&r->z); /* concatenated gzip members */
      } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
        return sl_error_set(err, SL_EINVAL,
                            "JSON reader: '%s': corrupt gzip data (%s) near "
                            "compressed byte %lu",
                            r->path, r->z.msg ? r->z.msg : "inflate failed",
                            (unsigned long)r->z.total_in);
      }
    } else {
      ZSTD_inBuffer ib = {r->in, r->in_len, r->in_pos};
      ZSTD_outBuffer ob = {dst, room, 0};
      size_t zr = ZSTD_decompressStream(r->zs, &ob, &ib);
      if (ZSTD_isError(zr))
        return sl_error_set(err, SL_EINVAL,
                            "JSON reader: '%s': corrupt zstd data (%s)",
                            r->path, ZSTD_getErrorName(zr));
      produced = ob.pos;
      r->in_pos = ib.pos;
      r->mid_frame = zr != 0;
    }
    r->win.size += (int64_t)produced;
  }
  return 0;
}

static int stream_window(struct jreader *r, struct sl_error *err) {
  size_t want = (size_t)window_bytes(r);
  for (;;) {
    SL_RETURN_NOT_OK(fill(r, want, err));
    uint8_t *p = r->win.data;
    size_t len = (size_t)r->win.size;
    if (r->skipping) {
      const uint8_t *nl = len ? memchr(p, '\n', len) : NULL;
      size_t skip = nl ? (size_t)(nl - p) + 1 : len;
      memmove(p, p + skip, len - skip);
      r->win.size -= (int64_t)skip;
      r->e.byte_base += (int64_t)skip;
      if (nl) r->skipping = false;
      if (!nl && r->src_eof) {
        r->done = true;
        return 0;
      }
      continue;
    }
    if (len == 0 && r->src_eof) {
      r->done = true;
      return 0;
    }
    size_t n = r->src_eof ? len : whole_lines(p, len);
    if (n == 0) {
      if ((int64_t)len > r->e.opt.max_line_bytes) {
        int rc = too_long(r, p, err);
        if (rc) return rc;
        continue;
      }
      want = len * 2;
      continue;
    }
    int rc = sl__jengine_parse(&r->e, p, n, err);
    memmove(p, p + n, len - n);
    r->win.size -= (int64_t)n;
    return rc;
  }
}

static int start_engine(struct jreader *r, struct sl_error *err) {
  const uint8_t *sample = NULL;
  size_t n = 0;
  struct sl_json_options *o = &r->opt;
  if (r->has_schema) o->schema = &r->schema_copy;
  if (!o->schema) {
    if (r->kind == SRC_MEM) {
      sample = r->mem;
      n = r->mem_len;
    } else if (r->kind == SRC_MAP) {
      /* the sample and one byte more, so it ends at a line boundary; more
       * while the first line goes on (up to max_line_bytes) */
      int64_t want = o->infer_sample_bytes + 1;
      for (;;) {
        n = (size_t)(r->file_size < want ? r->file_size : want);
        if ((int64_t)n < r->file_size && want <= o->max_line_bytes &&
            !memchr(r->map, '\n', n)) {
          want *= 2;
          continue;
        }
        break;
      }
      sample = r->map;
    } else {
      size_t want = (size_t)o->infer_sample_bytes + 1;
      for (;;) {
        SL_RETURN_NOT_OK(fill(r, want, err));
        if (r->src_eof || (int64_t)want > o->max_line_bytes ||
            memchr(r->win.data, '\n', (size_t)r->win.size))
          break;
        want *= 2; /* the first line goes on */
      }
      sample = r->win.data;
      n = (size_t)r->win.size;
    }
  }
  SL_RETURN_NOT_OK(sl__jengine_init(&r->e, o, sample, n, err));
  if (r->kind == SRC_MEM)
    return sl__jpipe_new(&r->e, r->mem, (int64_t)r->mem_len, false, &r->pipe,
                         err);
  if (r->kind == SRC_MAP)
    return sl__jpipe_new(&r->e, r->map, r->file_size, true, &r->pipe, err);
  return 0;
}

static int jr_next(struct sl_batch_reader *b, struct sl_batch **out,
                   struct sl_error *err) {
  struct jreader *r = b->private_data;
  *out = NULL;
  if (r->failed) {
    if (err) *err = r->err;
    return r->err.code ? r->err.code : SL_EINVAL;
  }
  for (;;) {
    struct sl_batch *bt = sl__jengine_pop(&r->e);
    if (bt) {
      *out = bt;
      return 0;
    }
    if (r->done) return 0;
    int rc;
    sl_error_reset(&r->err);
    if (r->pipe)
      rc = sl__jpipe_advance(r->pipe, &r->done, &r->err);
    else
      rc = stream_window(r, &r->err);
    if (rc) {
      r->failed = true;
      if (!r->err.code)
        sl_error_set(&r->err, rc, "JSON reader: %s", sl_status_name(rc));
      if (r->path) sl_error_prefix(&r->err, "'%s': ", r->path);
      if (err) *err = r->err;
      return rc;
    }
  }
}

static int new_reader(const struct sl_json_options *o, struct jreader **out,
                      struct sl_error *err) {
  struct jreader *r = sl_calloc(1, sizeof *r);
  if (!r) return sl_error_set(err, SL_ENOMEM, "JSON reader: out of memory");
  r->fd = -1;
  if (o)
    r->opt = *o;
  else
    sl_json_options_init(&r->opt);
  r->opt.owned_ = NULL;
  if (r->opt.schema) {
    sl_schema_init(&r->schema_copy);
    int rc = sl_schema_copy(&r->schema_copy, r->opt.schema);
    if (rc) {
      sl_free(r);
      return sl_error_set(err, rc, "JSON reader: out of memory");
    }
    r->has_schema = true;
  }
  r->base.schema = jr_schema;
  r->base.next = jr_next;
  r->base.release = jr_release;
  r->base.private_data = r;
  *out = r;
  return 0;
}

static void free_reader(struct jreader *r) {
  if (r->has_schema) sl_schema_release(&r->schema_copy);
  r->has_schema = false;
  jr_release(&r->base);
}

/* The engine copies what it needs; the reader's own schema copy can go. */
static int finish_open(struct jreader *r, struct sl_batch_reader **out,
                       struct sl_error *err) {
  int rc = start_engine(r, err);
  if (r->has_schema) sl_schema_release(&r->schema_copy);
  r->has_schema = false;
  r->opt.schema = NULL;
  if (rc) {
    free_reader(r);
    return rc;
  }
  *out = &r->base;
  return 0;
}

int sl_json_read_buffer(const char *buf, size_t len,
                        const struct sl_json_options *o,
                        struct sl_batch_reader **out, struct sl_error *err) {
  *out = NULL;
  if (!buf && len)
    return sl_error_set(err, SL_EINVAL, "JSON reader: NULL buffer of %zu bytes",
                        len);
  struct jreader *r = NULL;
  SL_RETURN_NOT_OK(new_reader(o, &r, err));
  r->kind = SRC_MEM;
  r->mem = (const uint8_t *)buf;
  r->mem_len = len;
  return finish_open(r, out, err);
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

int sl_json_open_file(const char *path, const struct sl_json_options *o,
                      struct sl_batch_reader **out, struct sl_error *err) {
  *out = NULL;
  struct jreader *r = NULL;
  SL_RETURN_NOT_OK(new_reader(o, &r, err));
  int rc = 0;
  r->path = sl_strdup(path);
  if (!r->path) {
    rc = sl_error_set(err, SL_ENOMEM, "JSON reader: out of memory");
    goto fail;
  }
  r->fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO)
                                 : open(path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) {
    rc = sl_error_set(err, errno == ENOENT ? SL_ENOENT : SL_EIO,
                      "JSON reader: cannot open '%s': %m", path);
    goto fail;
  }
  struct stat st;
  if (fstat(r->fd, &st) != 0) {
    rc = sl_error_set(err, SL_EIO, "JSON reader: cannot stat '%s': %m", path);
    goto fail;
  }
  if (ends_with(path, ".gz")) {
    r->kind = SRC_GZ;
    if (inflateInit2(&r->z, 15 + 32) != Z_OK) {
      rc = sl_error_set(err, SL_ENOMEM, "JSON reader: zlib init failed");
      goto fail;
    }
    r->z_ready = true;
  } else if (ends_with(path, ".zst")) {
    r->kind = SRC_ZST;
    r->zs = ZSTD_createDStream();
    if (!r->zs || ZSTD_isError(ZSTD_initDStream(r->zs))) {
      rc = sl_error_set(err, SL_ENOMEM, "JSON reader: zstd init failed");
      goto fail;
    }
  } else if (S_ISREG(st.st_mode)) {
    r->kind = SRC_MAP;
    r->file_size = st.st_size;
    if (r->file_size > 0) {
      void *m =
          mmap(NULL, (size_t)r->file_size, PROT_READ, MAP_PRIVATE, r->fd, 0);
      if (m == MAP_FAILED) {
        rc = sl_error_set(err, SL_EIO, "JSON reader: mapping '%s' failed: %m",
                          path);
        goto fail;
      }
      r->map = m;
    }
  } else {
    r->kind = SRC_PIPE; /* a pipe, a socket, stdin ("-") */
  }
  if (r->kind != SRC_MAP) {
    r->in_cap = 1 << 20;
    r->in = sl_malloc(r->in_cap);
    if (!r->in) {
      rc = sl_error_set(err, SL_ENOMEM, "JSON reader: out of memory");
      goto fail;
    }
  }
  rc = finish_open(r, out, err);
  if (rc) sl_error_prefix(err, "'%s': ", path);
  return rc;
fail:
  free_reader(r);
  return rc;
}

int sl_json_reader_stats(struct sl_batch_reader *b, struct sl_json_stats *out) {
  if (!b || b->next != jr_next) return SL_EINVAL;
  struct jreader *r = b->private_data;
  *out = r->e.stats;
  return 0;
}
