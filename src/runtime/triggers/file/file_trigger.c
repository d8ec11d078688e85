/* The file trigger: JSON Lines files (plain, .gz, .zst) from a glob read
 * once (mode once), or a folder watched for new files (mode watch).
 *
 * Files are read in name order, in chunks of whole lines. The state file
 * holds, one line per update (appended, fdatasync'ed):
 *   "<offset>\t<size>\t<path>"         durable progress of a file
 *   "T\t<total>\t<size>\t<path>"       decompressed length of a .gz/.zst
 *   "S\t<a>\t<end>\t<line>\t<path>"    one byte range of a cut batch
 *   "B\t<n>"                           end of a cut batch of n ranges
 * A batch's ranges are recorded when it is cut, before any sink sees its
 * rows. A restart skips finished files, first re-cuts every recorded batch
 * not yet durable with exactly its ranges (so it has the same rows and the
 * same position key, and a sink that names files after keys overwrites
 * what the killed run published), then resumes after them. Offsets are in
 * decompressed bytes. A plain file whose size shrank is read again.
 * The file is compacted (rewritten with the progress of every file and the
 * batches not yet durable) at start and after stateCompactBytes of appends. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/rt.h"
#include "runtime/triggers/file/file_source.h"
#include "sluice/alloc.h"

struct file_attrs {
  char *path;
  char *mode;
  char *pattern;
  char *state_file;
  int64_t chunk_bytes;
  int64_t poll_ms;
  int64_t compact_bytes;
};

#define A(f) offsetof(struct file_attrs, f)
static const struct sl_cfg_entry file_config[] = {
    {"path", SL_CFG_STRING, NULL, 0, 0, NULL, A(path),
     "mode once: a glob (`logs/*.jsonl`); mode watch: a folder.", true},
    {"mode", SL_CFG_ENUM, "once", 0, 0, "once|watch", A(mode),
     "`once`: read the matching files and finish; `watch`: keep reading "
     "new files appearing in the folder.",
     false},
    {"pattern", SL_CFG_STRING, "*.jsonl", 0, 0, NULL, A(pattern),
     "mode watch: which file names to read (a glob).", false},
    {"stateFile", SL_CFG_STRING, NULL, 0, 0, NULL, A(state_file),
     "Where progress is recorded (default: .sluice-<function>-<trigger>.state "
     "in the working folder).",
     false},
    {"chunkBytes", SL_CFG_SIZE, "1MiB", 4096, 1073741824, NULL, A(chunk_bytes),
     "Bytes read per append (whole lines).", false},
    {"pollInterval", SL_CFG_DURATION, "1s", 10, 3600000, NULL, A(poll_ms),
     "mode watch: how often the folder is listed.", false},
    {"stateCompactBytes", SL_CFG_SIZE, "1MiB", 1024, 1073741824, NULL,
     A(compact_bytes),
     "The state file is rewritten with only what is still needed once this "
     "much was appended to it (and at least as much as its last compacted "
     "size), so a long-running watch keeps it small.",
     false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

struct tracked {
  char *path;
  int64_t size;    /* size when last read */
  int64_t done;    /* durable offset */
  int64_t read_to; /* handed to the batcher up to here (this run) */
  int64_t total;   /* .gz/.zst: decompressed length once known, else -1 */
};

/* A recorded batch: n byte ranges (file, [a, end), first line number). */
struct range {
  int32_t file;
  int64_t a, end, line;
};
struct cut_rec {
  struct range *r;
  int32_t n;
};

struct cut_mark {
  uint64_t seq;
  int32_t file;
  int64_t end;
};

/* A batch cut (and recorded) by this run, not yet durable: kept so that a
 * compaction of the state file can write its ranges again. */
struct inflight {
  uint64_t seq;
  struct range *r;
  int32_t n;
};

struct file_state {
  pthread_t th;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop, finished;
  char *state_path;
  int state_fd;
  struct tracked *files;
  int32_t n_files, cap_files;
  struct cut_mark *marks; /* ring of cut batches awaiting commit */
  size_t mark_head, mark_len, mark_cap;
  uint64_t committed;
  struct cut_rec *pending; /* recorded batches to re-cut at start */
  int32_t n_pending, cap_pending;
  bool replaying;       /* cut: do not record again */
  struct inflight *fly; /* ring of recorded batches awaiting commit */
  size_t fly_head, fly_len, fly_cap;
  int64_t appended;  /* bytes appended to the state file since compaction */
  int64_t compacted; /* size of the state file when last compacted */
  int64_t progress_bytes; /* ... of which the progress of files */
  int64_t compact_bytes;
  bool fly_broken; /* a batch could not be remembered: no compaction */
};

static int file_validate(const struct sl_spec_trigger *t, const char *file,
                         struct sl_error *err) {
  const struct file_attrs *a = t->attrs;
  if (!strcmp(a->mode, "watch")) {
    struct stat sb;
    if (stat(a->path, &sb) == 0 && !S_ISDIR(sb.st_mode))
      return sl_error_set(err, SL_EINVAL,
                          "%s:%d:%d: spec.triggers.%s.attributes.path: "
                          "expected a folder for mode watch, found a file "
                          "'%s'",
                          file, t->line, t->col, t->name, a->path);
  }
  return 0;
}

static int32_t find_file(struct file_state *st, const char *path) {
  for (int32_t i = 0; i < st->n_files; i++)
    if (!strcmp(st->files[i].path, path)) return i;
  return -1;
}

static int32_t add_file(struct file_state *st, const char *path) {
  int32_t i = find_file(st, path);
  if (i >= 0) return i;
  if (st->n_files == st->cap_files) {
    int32_t nc = st->cap_files ? st->cap_files * 2 : 64;
    struct tracked *nf = sl_realloc(st->files, (size_t)nc * sizeof *nf);
    if (!nf) return -1;
    st->files = nf;
    st->cap_files = nc;
  }
  struct tracked *f = &st->files[st->n_files];
  f->path = sl_strdup(path);
  if (!f->path) return -1;
  f->size = -1;
  f->done = 0;
  f->read_to = 0;
  f->total = -1;
  return st->n_files++;
}

static int push_pending(struct file_state *st, struct range *r, int32_t n) {
  if (st->n_pending == st->cap_pending) {
    int32_t nc = st->cap_pending ? st->cap_pending * 2 : 16;
    struct cut_rec *np = sl_realloc(st->pending, (size_t)nc * sizeof *np);
    if (!np) return SL_ENOMEM;
    st->pending = np;
    st->cap_pending = nc;
  }
  st->pending[st->n_pending++] = (struct cut_rec){r, n};
  return 0;
}

static void load_state(struct file_state *st) {
  FILE *f = fopen(st->state_path, "r");
  if (!f) return;
  char line[4200];
  struct range *cur = NULL;
  int32_t n_cur = 0, cap_cur = 0;
  while (fgets(line, sizeof line, f)) {
    size_t n = strlen(line);
    if (!n || line[n - 1] != '\n') break; /* a torn last line: ignore */
    line[n - 1] = '\0';
    char *e[4] = {NULL};
    char *p = line;
    int k = 0;
    for (; k < 4; k++) {
      char *t = strchr(p, '\t');
      if (!t) break;
      *t = '\0';
      e[k] = t + 1;
      p = t + 1;
    }
    if (!strcmp(line, "B")) {
      if (k == 1 && strtol(e[0], NULL, 10) == n_cur && n_cur > 0 &&
          !push_pending(st, cur, n_cur)) {
        cur = NULL;
        cap_cur = 0;
      }
      n_cur = 0;
    } else if (!strcmp(line, "S") && k == 4) {
      int32_t i = add_file(st, e[3]);
      if (i < 0) break;
      if (n_cur == cap_cur) {
        int32_t nc = cap_cur ? cap_cur * 2 : 4;
        struct range *nr = sl_realloc(cur, (size_t)nc * sizeof *nr);
        if (!nr) break;
        cur = nr;
        cap_cur = nc;
      }
      cur[n_cur++] =
          (struct range){i, strtoll(e[0], NULL, 10), strtoll(e[1], NULL, 10),
                         strtoll(e[2], NULL, 10)};
    } else if (!strcmp(line, "T") && k == 3) {
      int32_t i = add_file(st, e[2]);
      if (i < 0) break;
      st->files[i].total = strtoll(e[0], NULL, 10);
      st->files[i].size = strtoll(e[1], NULL, 10);
    } else if (k >= 2) { /* "<offset>\t<size>\t<path>" */
      int32_t i = add_file(st, e[1]);
      if (i < 0) break;
      int64_t off = strtoll(line, NULL, 10);
      if (off > st->files[i].done) st->files[i].done = off;
      st->files[i].read_to = st->files[i].done;
      st->files[i].size = strtoll(e[0], NULL, 10);
    }
  }
  sl_free(cur);
  fclose(f);
  /* Keep the batches not yet durable, in the order they were cut. */
  int32_t w = 0;
  for (int32_t i = 0; i < st->n_pending; i++) {
    struct cut_rec *c = &st->pending[i];
    bool open = false;
    for (int32_t j = 0; j < c->n; j++)
      open |= c->r[j].end > st->files[c->r[j].file].done;
    if (open)
      st->pending[w++] = *c;
    else
      sl_free(c->r);
  }
  st->n_pending = w;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return SL_EIO;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static int put_range(int fd, const struct file_state *st,
                     const struct range *r) {
  char line[4300];
  int n =
      snprintf(line, sizeof line, "S\t%lld\t%lld\t%lld\t%s\n", (long long)r->a,
               (long long)r->end, (long long)r->line, st->files[r->file].path);
  if (n <= 0 || (size_t)n >= sizeof line) return SL_ERANGE;
  return write_all(fd, line, (size_t)n);
}

static int put_file(int fd, const struct tracked *f) {
  char line[4300];
  int n = snprintf(line, sizeof line, "%lld\t%lld\t%s\n", (long long)f->done,
                   (long long)f->size, f->path);
  if (n <= 0 || (size_t)n >= sizeof line) return SL_ERANGE;
  int rc = write_all(fd, line, (size_t)n);
  if (rc || f->total < 0) return rc;
  n = snprintf(line, sizeof line, "T\t%lld\t%lld\t%s\n", (long long)f->total,
               (long long)f->size, f->path);
  if (n <= 0 || (size_t)n >= sizeof line) return SL_ERANGE;
  return write_all(fd, line, (size_t)n);
}

/* Makes a rename in the state file's folder durable (best effort). */
static void fsync_folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4300];
  int n = slash
              ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) + 1, path)
              : snprintf(dir, sizeof dir, ".");
  if (n <= 0 || (size_t)n >= sizeof dir) return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

static int put_batch(int fd, const struct file_state *st, const struct range *r,
                     int32_t n) {
  int rc = 0;
  for (int32_t j = 0; j < n && !rc; j++)
    rc = put_range(fd, st, &r[j]);
  char line[32];
  int ln = snprintf(line, sizeof line, "B\t%d\n", (int)n);
  return rc ? rc : write_all(fd, line, (size_t)ln);
}

static bool batch_open(const struct file_state *st, const struct range *r,
                       int32_t n) {
  for (int32_t j = 0; j < n; j++)
    if (r[j].end > st->files[r[j].file].done) return true;
  return false;
}

/* Rewrites the state file with what is still needed (progress of every file,
 * the recorded batches not yet durable), atomically: temp, fsync, rename,
 * fsync of the folder. Called with st->mu held (or before the thread runs). */
static int compact_state(struct file_state *st, struct sl_error *err) {
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.tmp", st->state_path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return sl_error_set(err, SL_EIO, "cannot write '%s': %s", tmp,
                        strerror(errno));
  int rc = 0;
  for (int32_t i = 0; i < st->n_files && !rc; i++)
    if (st->files[i].done > 0 || st->files[i].total >= 0)
      rc = put_file(fd, &st->files[i]);
  off_t progress = rc ? 0 : lseek(fd, 0, SEEK_CUR);
  for (int32_t i = 0; i < st->n_pending && !rc; i++)
    if (batch_open(st, st->pending[i].r, st->pending[i].n))
      rc = put_batch(fd, st, st->pending[i].r, st->pending[i].n);
  for (size_t i = 0; i < st->fly_len && !rc; i++) {
    const struct inflight *b = &st->fly[(st->fly_head + i) % st->fly_cap];
    rc = put_batch(fd, st, b->r, b->n);
  }
  off_t size = rc ? 0 : lseek(fd, 0, SEEK_CUR);
  if (!rc && fsync(fd)) rc = SL_EIO;
  close(fd);
  if (!rc && rename(tmp, st->state_path)) rc = SL_EIO;
  if (rc) {
    unlink(tmp);
    return sl_error_set(err, rc, "cannot write the state file '%s'",
                        st->state_path);
  }
  fsync_folder_of(st->state_path);
  st->compacted = size > 0 ? (int64_t)size : 0;
  st->progress_bytes = progress > 0 ? (int64_t)progress : 0;
  st->appended = 0;
  return 0;
}

/* Once enough was appended since the last compaction, rewrites the state
 * file and appends to the new one from then on. */
static void maybe_compact(struct sl_trigger *t, struct file_state *st,
                          bool force) {
  if (st->state_fd < 0 || st->fly_broken) return;
  if (!force &&
      (st->appended < st->compact_bytes || st->appended < st->progress_bytes))
    return;
  int64_t before = st->compacted + st->appended;
  struct sl_error err = {0};
  if (compact_state(st, &err)) {
    sl_log(t->rt, SL_LOG_WARN, "cannot compact the state file",
           "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name, err.msg);
    st->appended = 0; /* try again after as much again */
    return;
  }
  int fd = open(st->state_path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    sl_log(t->rt, SL_LOG_ERROR, "cannot reopen the state file",
           "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name,
           strerror(errno));
    return; /* keep appending to the old (now unlinked) one: no progress
               is recorded, so a restart repeats work, never loses it */
  }
  close(st->state_fd);
  st->state_fd = fd;
  sl_log(t->rt, SL_LOG_DEBUG, "state file compacted",
         "\"trigger\":\"%s\",\"bytesBefore\":%lld,\"bytesAfter\":%lld",
         t->spec->name, (long long)before, (long long)st->compacted);
}

static void record(struct file_state *st, int32_t i) {
  if (st->state_fd < 0) return;
  off_t before = lseek(st->state_fd, 0, SEEK_END);
  if (put_file(st->state_fd, &st->files[i]) == 0) fdatasync(st->state_fd);
  off_t after = lseek(st->state_fd, 0, SEEK_END);
  if (before >= 0 && after > before) st->appended += (int64_t)(after - before);
}

/* The byte ranges of a batch: consecutive segments of one file merged. */
static int32_t batch_ranges(const struct sl_rt_segment *segs, int32_t n,
                            struct range *out, int32_t cap) {
  int32_t k = 0;
  for (int32_t i = 0; i < n; i++) {
    const struct sl_rt_pos *p = &segs[i].pos;
    if (!p->source) continue;
    int32_t file = (int32_t)(p->a >> 40);
    int64_t a = (int64_t)(p->a & ((1ull << 40) - 1));
    if (k > 0 && out[k - 1].file == file && out[k - 1].end == a) {
      out[k - 1].end = (int64_t)p->end;
      continue;
    }
    if (k == cap) return -1;
    out[k++] = (struct range){file, a, (int64_t)p->end, (int64_t)p->b};
  }
  return k;
}

#define MAX_RANGES 256 /* files one batch may span */

static bool file_position_key(struct sl_trigger *t,
                              const struct sl_rt_segment *segs, int32_t n,
                              char *buf, size_t cap) {
  struct file_state *st = t->state;
  struct range r[MAX_RANGES];
  int32_t k = batch_ranges(segs, n, r, MAX_RANGES);
  if (k <= 0) return false;
  uint64_t h = 1469598103934665603ull; /* FNV-1a: a stable name */
  pthread_mutex_lock(&st->mu);
  for (int32_t i = 0; i < k; i++) {
    char head[64];
    int hl = snprintf(head, sizeof head, "%lld:%lld:", (long long)r[i].a,
                      (long long)r[i].end);
    for (int j = 0; j < hl; j++)
      h = (h ^ (unsigned char)head[j]) * 1099511628211ull;
    for (const char *p = st->files[r[i].file].path; *p; p++)
      h = (h ^ (unsigned char)*p) * 1099511628211ull;
  }
  pthread_mutex_unlock(&st->mu);
  int w = snprintf(buf, cap, "f%016llx-%lld-%lld", (unsigned long long)h,
                   (long long)r[0].a, (long long)r[k - 1].end);
  return w > 0 && (size_t)w < cap;
}

/* Hands [pos.. ) of an open source to the batcher in chunks of whole lines,
 * until the end (or `stop_at` >= 0). Returns the offset reached. */
static int64_t read_source(struct sl_trigger *t, int32_t idx,
                           struct sl_fsrc *src, int64_t line_no,
                           bool *eof_out) {
  const struct file_attrs *a = t->attrs;
  struct file_state *st = t->state;
  const char *path = st->files[idx].path; /* stable: never freed while run */
  size_t cap = (size_t)a->chunk_bytes;
  int64_t base = sl__fsrc_pos(src);
  char *buf = sl_malloc(cap + 1);
  if (!buf) return base;
  size_t have = 0;
  bool watch = !strcmp(a->mode, "watch");
  bool compressed = sl__fsrc_compressed(path);
  *eof_out = false;
  for (;;) {
    if (atomic_load(&t->accepting) == false) break;
    int64_t k = have < cap ? sl__fsrc_read(src, buf + have, cap - have) : 0;
    if (k < 0) {
      sl_log(t->rt, SL_LOG_ERROR, "input file read failed",
             "\"trigger\":\"%s\",\"offset\":%lld", t->spec->name,
             (long long)(base + (int64_t)have));
      break;
    }
    have += (size_t)k;
    bool eof = k == 0 && have < cap;
    if (eof) *eof_out = true;
    if (have == 0) break;
    size_t cut = have;
    if (eof && watch && !compressed && buf[have - 1] != '\n') {
      char *nl = memrchr(buf, '\n', have); /* a line being written */
      if (!nl) break;
      cut = (size_t)(nl - buf) + 1;
    } else if (!eof) {
      char *nl = memrchr(buf, '\n', have);
      if (!nl) {
        if (have < cap) continue; /* read more */
        cut = have; /* one line longer than a chunk: hand it whole */
      } else {
        cut = (size_t)(nl - buf) + 1;
      }
    }
    int64_t lines = 0;
    for (size_t j = 0; j < cut; j++)
      lines += buf[j] == '\n';
    if (cut && buf[cut - 1] != '\n') lines++;
    /* The position's file index travels in a: high 24 bits. */
    struct sl_rt_pos pos = {.source = path,
                            .a = ((uint64_t)idx << 40) | (uint64_t)base,
                            .b = (uint64_t)line_no,
                            .end = (uint64_t)(base + (int64_t)cut)};
    struct sl_error err = {0};
    if (lines > 0 &&
        sl__batcher_append(t->batcher, buf, cut, lines, NULL, &pos, &err)) {
      sl_log(t->rt, SL_LOG_ERROR, "file chunk lost", "\"error\":\"%s\"",
             err.msg);
      break;
    }
    sl__count(&t->m->requests, 1);
    line_no += lines;
    base += (int64_t)cut;
    memmove(buf, buf + cut, have - cut);
    have -= cut;
    if (eof && (have == 0 || watch)) break;
  }
  sl_free(buf);
  return base;
}

/* Counts the lines before `off` (dead letters name file lines). */
static int64_t line_at(const char *path, int64_t off) {
  if (off <= 0) return 1;
  struct sl_fsrc *s = NULL;
  if (sl__fsrc_open(path, 0, &s, NULL)) return 1;
  char tmp[65536];
  int64_t line_no = 1, pos = 0;
  while (pos < off) {
    int64_t want = off - pos;
    int64_t k = sl__fsrc_read(s, tmp, (size_t)(want < 65536 ? want : 65536));
    if (k <= 0) break;
    for (int64_t j = 0; j < k; j++)
      line_no += tmp[j] == '\n';
    pos += k;
  }
  sl__fsrc_close(s);
  return line_no;
}

/* Reads one file from where this run stands; appends chunks of whole
 * lines. */
static void read_file(struct sl_trigger *t, int32_t idx) {
  struct file_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  char *path = st->files[idx].path;
  int64_t off = st->files[idx].read_to;
  pthread_mutex_unlock(&st->mu);
  struct sl_fsrc *src = NULL;
  struct sl_error err = {0};
  if (sl__fsrc_open(path, off, &src, &err)) {
    sl_log(t->rt, SL_LOG_ERROR, "cannot open input file",
           "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name, err.msg);
    return;
  }
  bool eof = false;
  int64_t end = read_source(t, idx, src, line_at(path, off), &eof);
  sl__fsrc_close(src);
  struct stat sb;
  pthread_mutex_lock(&st->mu);
  st->files[idx].read_to = end;
  if (sl__fsrc_compressed(path)) {
    if (eof && stat(path, &sb) == 0) {
      st->files[idx].total = end;
      st->files[idx].size = (int64_t)sb.st_size;
    }
  } else {
    st->files[idx].size = end;
  }
  pthread_mutex_unlock(&st->mu);
}

/* Re-cuts the batches recorded by a run that did not finish them, each with
 * exactly its ranges, before anything new is read. */
static void replay(struct sl_trigger *t) {
  struct file_state *st = t->state;
  for (int32_t i = 0; i < st->n_pending && atomic_load(&t->accepting); i++) {
    struct cut_rec *c = &st->pending[i];
    const char *data[MAX_RANGES];
    size_t len[MAX_RANGES];
    int64_t lines[MAX_RANGES];
    struct sl_rt_pos pos[MAX_RANGES];
    char *bufs[MAX_RANGES] = {NULL};
    int32_t n = c->n < MAX_RANGES ? c->n : MAX_RANGES;
    bool ok = true;
    for (int32_t j = 0; j < n && ok; j++) {
      struct range *r = &c->r[j];
      struct tracked *f = &st->files[r->file];
      size_t want = (size_t)(r->end - r->a);
      struct sl_fsrc *src = NULL;
      bufs[j] = sl_malloc(want + 1);
      ok =
          bufs[j] && r->end > r->a && !sl__fsrc_open(f->path, r->a, &src, NULL);
      size_t got = 0;
      while (ok && got < want) {
        int64_t k = sl__fsrc_read(src, bufs[j] + got, want - got);
        if (k <= 0)
          ok = false;
        else
          got += (size_t)k;
      }
      sl__fsrc_close(src);
      if (!ok) break;
      int64_t nl = 0;
      for (size_t q = 0; q < want; q++)
        nl += bufs[j][q] == '\n';
      if (bufs[j][want - 1] != '\n') nl++;
      data[j] = bufs[j];
      len[j] = want;
      lines[j] = nl;
      pos[j] =
          (struct sl_rt_pos){.source = f->path,
                             .a = ((uint64_t)r->file << 40) | (uint64_t)r->a,
                             .b = (uint64_t)r->line,
                             .end = (uint64_t)r->end};
    }
    struct sl_error err = {0};
    if (ok) {
      pthread_mutex_lock(&st->mu);
      st->replaying = true;
      pthread_mutex_unlock(&st->mu);
      if (sl__batcher_append_batch(t->batcher, n, data, len, lines, pos, &err))
        ok = false;
      pthread_mutex_lock(&st->mu);
      st->replaying = false;
      for (int32_t j = 0; ok && j < n; j++) {
        struct tracked *f = &st->files[c->r[j].file];
        if (c->r[j].end > f->read_to) f->read_to = c->r[j].end;
      }
      pthread_mutex_unlock(&st->mu);
    }
    if (!ok)
      sl_log(t->rt, SL_LOG_WARN,
             "cannot replay a recorded batch; its files "
             "are read again from their durable offsets",
             "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name, err.msg);
    for (int32_t j = 0; j < n; j++)
      sl_free(bufs[j]);
  }
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

/* One pass: every matching file not finished yet. */
static void scan(struct sl_trigger *t) {
  const struct file_attrs *a = t->attrs;
  struct file_state *st = t->state;
  char pat[4200];
  if (!strcmp(a->mode, "watch"))
    snprintf(pat, sizeof pat, "%s/%s", a->path, a->pattern);
  else
    snprintf(pat, sizeof pat, "%s", a->path);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) return;
  qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_str);
  for (size_t i = 0; i < g.gl_pathc && atomic_load(&t->accepting); i++) {
    struct stat sb;
    if (stat(g.gl_pathv[i], &sb) || !S_ISREG(sb.st_mode)) continue;
    pthread_mutex_lock(&st->mu);
    int32_t idx = add_file(st, g.gl_pathv[i]);
    bool todo = false;
    if (idx >= 0) {
      struct tracked *f = &st->files[idx];
      if (sl__fsrc_compressed(f->path)) {
        todo = f->total < 0 || f->read_to < f->total ||
               f->size != (int64_t)sb.st_size;
      } else {
        if ((int64_t)sb.st_size < f->read_to) f->read_to = f->done = 0;
        todo = (int64_t)sb.st_size > f->read_to;
      }
    }
    pthread_mutex_unlock(&st->mu);
    if (todo) read_file(t, idx);
  }
  globfree(&g);
  sl__batcher_flush(t->batcher);
}

static void *file_main(void *arg) {
  struct sl_trigger *t = arg;
  const struct file_attrs *a = t->attrs;
  struct file_state *st = t->state;
  bool watch = !strcmp(a->mode, "watch");
  replay(t);
  for (;;) {
    scan(t);
    if (!watch) break;
    pthread_mutex_lock(&st->mu);
    if (!st->stop) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += a->poll_ms / 1000;
      ts.tv_nsec += (a->poll_ms % 1000) * 1000000;
      if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait(&st->cv, &st->mu, &ts);
    }
    bool stop = st->stop;
    pthread_mutex_unlock(&st->mu);
    if (stop) break;
  }
  pthread_mutex_lock(&st->mu);
  st->finished = true;
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

/* Keeps a copy of a recorded batch's ranges until it is durable. On
 * failure, compaction is held off (st->fly_broken) until a restart. */
static int remember(struct file_state *st, uint64_t seq, const struct range *r,
                    int32_t n) {
  if (st->fly_broken) return SL_ENOMEM;
  struct range *c = sl_malloc((size_t)n * sizeof *c);
  if (!c) goto fail;
  memcpy(c, r, (size_t)n * sizeof *c);
  if (st->fly_len == st->fly_cap) {
    size_t nc = st->fly_cap ? st->fly_cap * 2 : 64;
    struct inflight *nf = sl_malloc(nc * sizeof *nf);
    if (!nf) {
      sl_free(c);
      goto fail;
    }
    for (size_t i = 0; i < st->fly_len; i++)
      nf[i] = st->fly[(st->fly_head + i) % st->fly_cap];
    sl_free(st->fly);
    st->fly = nf;
    st->fly_head = 0;
    st->fly_cap = nc;
  }
  st->fly[(st->fly_head + st->fly_len++) % st->fly_cap] =
      (struct inflight){seq, c, n};
  return 0;
fail:
  st->fly_broken = true;
  return SL_ENOMEM;
}

/* Remembers where each file stands once batch seq is durable: the end of
 * the last segment of every file the batch touched. */
static void file_cut(struct sl_trigger *t, uint64_t seq,
                     const struct sl_rt_segment *segs, int32_t n) {
  struct file_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  if (!st->replaying && st->state_fd >= 0) {
    /* Durable before any sink sees the rows: a restart re-cuts this very
     * batch (same rows, same position key). */
    struct range r[MAX_RANGES];
    int32_t k = batch_ranges(segs, n, r, MAX_RANGES);
    int rc = k > 0 ? 0 : SL_ERANGE;
    off_t before = lseek(st->state_fd, 0, SEEK_END);
    if (!rc) rc = put_batch(st->state_fd, st, r, k);
    if (!rc) fdatasync(st->state_fd);
    off_t after = lseek(st->state_fd, 0, SEEK_END);
    if (before >= 0 && after > before)
      st->appended += (int64_t)(after - before);
    if (rc && k != 0)
      sl_log(t->rt, SL_LOG_ERROR, "cannot record a batch in the state file",
             "\"trigger\":\"%s\"", t->spec->name);
    if (!rc && remember(st, seq, r, k))
      sl_log(t->rt, SL_LOG_WARN,
             "out of memory: the state file is not compacted while this "
             "batch is in flight",
             "\"trigger\":\"%s\"", t->spec->name);
  }
  for (int32_t i = 0; i < n; i++) {
    const struct sl_rt_segment *sg = &segs[i];
    if (!sg->pos.source) continue;
    if (i + 1 < n && segs[i + 1].pos.source &&
        (segs[i + 1].pos.a >> 40) == (sg->pos.a >> 40))
      continue; /* a later segment of the same file follows */
    if (st->mark_len == st->mark_cap) {
      size_t nc = st->mark_cap ? st->mark_cap * 2 : 256;
      struct cut_mark *nm = sl_malloc(nc * sizeof *nm);
      if (!nm) break;
      for (size_t k = 0; k < st->mark_len; k++)
        nm[k] = st->marks[(st->mark_head + k) % st->mark_cap];
      sl_free(st->marks);
      st->marks = nm;
      st->mark_head = 0;
      st->mark_cap = nc;
    }
    struct cut_mark *m =
        &st->marks[(st->mark_head + st->mark_len++) % st->mark_cap];
    m->seq = seq;
    m->file = (int32_t)(sg->pos.a >> 40);
    m->end = (int64_t)sg->pos.end;
  }
  pthread_mutex_unlock(&st->mu);
}

static void file_committed(struct sl_trigger *t, uint64_t seq) {
  struct file_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  if (seq > st->committed) st->committed = seq;
  int32_t last_file = -1;
  while (st->mark_len && st->marks[st->mark_head].seq <= st->committed) {
    struct cut_mark *m = &st->marks[st->mark_head];
    if (last_file >= 0 && last_file != m->file) record(st, last_file);
    if (m->file >= 0 && m->file < st->n_files &&
        m->end > st->files[m->file].done)
      st->files[m->file].done = m->end;
    last_file = m->file;
    st->mark_head = (st->mark_head + 1) % st->mark_cap;
    st->mark_len--;
  }
  if (last_file >= 0) record(st, last_file);
  while (st->fly_len && st->fly[st->fly_head].seq <= st->committed) {
    sl_free(st->fly[st->fly_head].r);
    st->fly_head = (st->fly_head + 1) % st->fly_cap;
    st->fly_len--;
  }
  maybe_compact(t, st, false);
  pthread_mutex_unlock(&st->mu);
}

static int file_init(struct sl_trigger *t, struct sl_error *err) {
  const struct file_attrs *a = t->attrs;
  struct file_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  st->state_fd = -1;
  st->compact_bytes = a->compact_bytes;
  t->state = st;
  char def[512];
  snprintf(def, sizeof def, ".sluice-%s-%s.state", sl_spec_name(t->rt->spec),
           t->spec->name);
  st->state_path = sl_strdup(a->state_file ? a->state_file : def);
  if (!st->state_path) return sl_error_set(err, SL_ENOMEM, "out of memory");
  load_state(st);
  SL_RETURN_NOT_OK(compact_state(st, err));
  st->state_fd =
      open(st->state_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (st->state_fd < 0)
    return sl_error_set(err, SL_EIO,
                        "trigger %s: cannot open the state file '%s': %s",
                        t->spec->name, st->state_path, strerror(errno));
  return 0;
}

static int file_start(struct sl_trigger *t, struct sl_error *err) {
  struct file_state *st = t->state;
  if (pthread_create(&st->th, NULL, file_main, t))
    return sl_error_set(err, SL_EIO, "cannot start the file thread");
  st->started = true;
  return 0;
}

static void file_stop(struct sl_trigger *t) {
  struct file_state *st = t->state;
  if (!st) return;
  pthread_mutex_lock(&st->mu);
  st->stop = true;
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
  if (st->started) pthread_join(st->th, NULL);
  st->started = false;
}

static bool file_finished(struct sl_trigger *t) {
  struct file_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  bool f = st->finished;
  pthread_mutex_unlock(&st->mu);
  return f;
}

static void file_destroy(struct sl_trigger *t) {
  struct file_state *st = t->state;
  if (!st) return;
  file_stop(t);
  /* A clean stop with every batch durable leaves only the progress. */
  if (st->fly_len == 0 && st->mark_len == 0 && st->appended > 0)
    maybe_compact(t, st, true);
  if (st->state_fd >= 0) close(st->state_fd);
  for (int32_t i = 0; i < st->n_files; i++)
    sl_free(st->files[i].path);
  sl_free(st->files);
  sl_free(st->marks);
  for (int32_t i = 0; i < st->n_pending; i++)
    sl_free(st->pending[i].r);
  sl_free(st->pending);
  for (size_t i = 0; i < st->fly_len; i++)
    sl_free(st->fly[(st->fly_head + i) % st->fly_cap].r);
  sl_free(st->fly);
  sl_free(st->state_path);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  sl_free(st);
  t->state = NULL;
}

const struct sl_trigger_vtable sl__trigger_file = {
    .name = "file",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "JSON Lines files (plain, .gz, .zst): a glob read once, or a folder "
           "watched for new files. Batches and progress are recorded "
           "durably: a restart (even after kill -9) re-cuts unfinished "
           "batches identically, so position-keyed sink files are "
           "overwritten, never duplicated.",
    .config = file_config,
    .config_size = sizeof(struct file_attrs),
    .validate = file_validate,
    .init = file_init,
    .start = file_start,
    .stop = file_stop,
    .destroy = file_destroy,
    .committed = file_committed,
    .finished = file_finished,
    .cut = file_cut,
    .position_key = file_position_key,
};
