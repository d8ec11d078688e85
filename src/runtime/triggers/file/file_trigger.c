/* The file trigger: JSON Lines files from a glob read once (mode once), or a
 * folder watched for new files (mode watch).
 *
 * Files are read in name order, in chunks of whole lines. Progress is kept in
 * a state file (one line per update: "<offset>\t<size>\t<path>"): after the
 * batches holding a file's records up to some offset are durable in every
 * sink, that offset is appended and fsynced. A restart skips finished files
 * and resumes unfinished ones at the last durable offset, so nothing that
 * was published is read twice. A file whose size shrank is read again. */
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
#include "sluice/alloc.h"

struct file_attrs {
  char *path;
  char *mode;
  char *pattern;
  char *state_file;
  int64_t chunk_bytes;
  int64_t poll_ms;
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
    {"chunkBytes", SL_CFG_SIZE, "1MiB", 4096, 1073741824, NULL,
     A(chunk_bytes), "Bytes read per append (whole lines).", false},
    {"pollInterval", SL_CFG_DURATION, "1s", 10, 3600000, NULL, A(poll_ms),
     "mode watch: how often the folder is listed.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

struct tracked {
  char *path;
  int64_t size;    /* size when last read */
  int64_t done;    /* durable offset */
  int64_t read_to; /* handed to the batcher up to here (this run) */
};

struct cut_mark {
  uint64_t seq;
  int32_t file;
  int64_t end;
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
  return st->n_files++;
}

static void load_state(struct file_state *st) {
  FILE *f = fopen(st->state_path, "r");
  if (!f) return;
  char line[4200];
  while (fgets(line, sizeof line, f)) {
    size_t n = strlen(line);
    if (!n || line[n - 1] != '\n') break; /* a torn last line: ignore */
    line[n - 1] = '\0';
    char *p = line, *e1 = strchr(p, '\t');
    if (!e1) continue;
    char *e2 = strchr(e1 + 1, '\t');
    if (!e2) continue;
    int64_t off = strtoll(p, NULL, 10), size = strtoll(e1 + 1, NULL, 10);
    int32_t i = add_file(st, e2 + 1);
    if (i < 0) break;
    st->files[i].done = off;
    st->files[i].read_to = off;
    st->files[i].size = size;
  }
  fclose(f);
}

static void record(struct file_state *st, int32_t i) {
  char line[4200];
  struct tracked *f = &st->files[i];
  int n = snprintf(line, sizeof line, "%lld\t%lld\t%s\n", (long long)f->done,
                   (long long)f->size, f->path);
  if (n <= 0 || (size_t)n >= sizeof line || st->state_fd < 0) return;
  ssize_t w = write(st->state_fd, line, (size_t)n);
  (void)w;
  fdatasync(st->state_fd);
}

/* Reads one file from its durable offset; appends chunks of whole lines. */
static void read_file(struct sl_trigger *t, int32_t idx) {
  const struct file_attrs *a = t->attrs;
  struct file_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  char *path = st->files[idx].path;
  int64_t off = st->files[idx].read_to;
  pthread_mutex_unlock(&st->mu);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    sl_log(t->rt, SL_LOG_ERROR, "cannot open input file",
           "\"trigger\":\"%s\",\"error\":\"%s\"", t->spec->name,
           strerror(errno));
    return;
  }
  struct stat sb;
  fstat(fd, &sb);
  size_t cap = (size_t)a->chunk_bytes;
  char *buf = sl_malloc(cap + 1);
  if (!buf) {
    close(fd);
    return;
  }
  size_t have = 0;
  int64_t base = off;
  bool watch = !strcmp(a->mode, "watch");
  /* Line numbers of the first record of each chunk, for dead letters; a
   * resumed file counts the lines before the offset once. */
  int64_t line_no = 1;
  if (off > 0) {
    char tmp[65536];
    int64_t pos = 0;
    while (pos < off) {
      ssize_t k = pread(fd, tmp, (size_t)(off - pos < 65536 ? off - pos : 65536), pos);
      if (k <= 0) break;
      for (ssize_t j = 0; j < k; j++) line_no += tmp[j] == '\n';
      pos += k;
    }
  }
  for (;;) {
    if (atomic_load(&t->accepting) == false) break;
    ssize_t k = pread(fd, buf + have, cap - have, base + (int64_t)have);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) break;
    have += (size_t)k;
    bool eof = k == 0;
    if (have == 0) break;
    size_t cut = have;
    if (eof && watch && buf[have - 1] != '\n') { /* a line being written */
      char *nl = memrchr(buf, '\n', have);
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
    for (size_t j = 0; j < cut; j++) lines += buf[j] == '\n';
    if (cut && buf[cut - 1] != '\n') lines++;
    struct sl_rt_pos pos = {.source = path, .a = (uint64_t)base,
                            .b = (uint64_t)line_no,
                            .end = (uint64_t)(base + (int64_t)cut)};
    /* The position's file index travels in a: high 24 bits. */
    pos.a = ((uint64_t)idx << 40) | (uint64_t)base;
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
  pthread_mutex_lock(&st->mu);
  st->files[idx].size = base;
  st->files[idx].read_to = base;
  pthread_mutex_unlock(&st->mu);
  sl_free(buf);
  close(fd);
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
      if ((int64_t)sb.st_size < f->read_to) f->read_to = f->done = 0;
      todo = (int64_t)sb.st_size > f->read_to;
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

/* Remembers where each file stands once batch seq is durable: the end of
 * the last segment of every file the batch touched. */
static void file_cut(struct sl_trigger *t, uint64_t seq,
                     const struct sl_rt_segment *segs, int32_t n) {
  struct file_state *st = t->state;
  pthread_mutex_lock(&st->mu);
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
  pthread_mutex_unlock(&st->mu);
}

static int file_init(struct sl_trigger *t, struct sl_error *err) {
  const struct file_attrs *a = t->attrs;
  struct file_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  st->state_fd = -1;
  t->state = st;
  char def[512];
  snprintf(def, sizeof def, ".sluice-%s-%s.state", sl_spec_name(t->rt->spec),
           t->spec->name);
  st->state_path = sl_strdup(a->state_file ? a->state_file : def);
  if (!st->state_path) return sl_error_set(err, SL_ENOMEM, "out of memory");
  load_state(st);
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
  if (st->state_fd >= 0) close(st->state_fd);
  for (int32_t i = 0; i < st->n_files; i++) sl_free(st->files[i].path);
  sl_free(st->files);
  sl_free(st->marks);
  sl_free(st->state_path);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  sl_free(st);
  t->state = NULL;
}

const struct sl_trigger_vtable sl__trigger_file = {
    .name = "file",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "JSON Lines files: a glob read once, or a folder watched for new "
           "files. Progress is recorded durably, so a restart (even after "
           "kill -9) resumes without reading published records twice.",
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
};
