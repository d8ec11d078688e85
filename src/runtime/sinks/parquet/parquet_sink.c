/* The parquet sink: rolling Parquet files, Hive-style partition folders,
 * atomic publish (sluice/parquet.h writes under a temporary name and renames
 * at close). A file rolls at rollRows rows, rollBytes bytes or rollInterval
 * after it was opened, whichever comes first, and when the schema of the
 * incoming rows changes. The acks of the batches in a file are released
 * when the file is published: only then do triggers commit their positions.
 *
 * Partition template: "k1={expr}/k2={expr}" where expr is a column name
 * (its value), "col:%Y-%m-%d" (a timestamp column formatted with strftime,
 * UTC) or "now:%H" (processing time). Rows are split into runs of equal
 * partition (consecutive rows), each run sliced without copying. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/rt.h"
#include "sluice/alloc.h"
#include "sluice/parquet.h"
#include "sluice/publish.h"

struct pq_attrs {
  char *path;
  char *compression;
  int64_t level;
  char *partition;
  int64_t roll_rows, roll_bytes, roll_ms;
  int64_t row_group_rows;
  char *prefix;
  bool fsync;
};

#define A(f) offsetof(struct pq_attrs, f)
static const struct sl_cfg_entry pq_config[] = {
    {"path", SL_CFG_STRING, NULL, 0, 0, NULL, A(path),
     "Root folder of the output (created when missing).", true},
    {"compression", SL_CFG_ENUM, "zstd", 0, 0,
     "zstd|snappy|gzip|lz4|none", A(compression), "Page compression.", false},
    {"compressionLevel", SL_CFG_INT, "0", 0, 22, NULL, A(level),
     "Codec level (0: the codec's default).", false},
    {"partition", SL_CFG_STRING, NULL, 0, 0, NULL, A(partition),
     "Partition template `k={column}/d={ts:%Y-%m-%d}/h={now:%H}`; unset: "
     "no partition folders.",
     false},
    {"rollRows", SL_CFG_INT, "1000000", 1, 1000000000, NULL, A(roll_rows),
     "Publish a file at this many rows.", false},
    {"rollBytes", SL_CFG_SIZE, "128MiB", 1024, 17179869184LL, NULL,
     A(roll_bytes), "... or at this many bytes.", false},
    {"rollInterval", SL_CFG_DURATION, "60s", 100, 86400000, NULL, A(roll_ms),
     "... or this long after the file was opened.", false},
    {"rowGroupRows", SL_CFG_INT, "1048576", 1, 1000000000, NULL,
     A(row_group_rows), "Rows per row group, at most.", false},
    {"prefix", SL_CFG_STRING, "part", 0, 0, NULL, A(prefix),
     "File names: <prefix>-<open time ms>-<counter>.parquet.", false},
    {"fsync", SL_CFG_BOOL, "true", 0, 0, NULL, A(fsync),
     "fsync files and folders at publish.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

struct open_file {
  char *dir;
  struct sl_schema schema;
  struct sl_parquet_writer *w;
  int64_t opened_ms; /* monotonic */
  int64_t rows;
  struct sl_ack **acks;
  int32_t n_acks, cap_acks;
  struct open_file *next;
};

struct pq_state {
  pthread_mutex_t mu;
  struct open_file *files;
  uint64_t counter;
  struct sl_sink_metrics *m;
  enum sl_parquet_codec codec;
};

static int pq_validate(const struct sl_spec_sink *s, const char *file,
                       struct sl_error *err) {
  const struct pq_attrs *a = s->attrs;
  const char *p = a->partition;
  while (p && *p) {
    const char *seg_end = strchr(p, '/');
    if (!seg_end) seg_end = p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(seg_end - p));
    if (!eq || eq == p || eq[1] != '{' || seg_end[-1] != '}' ||
        seg_end - eq < 4)
      return sl_error_set(err, SL_EINVAL,
                          "%s:%d:%d: spec.sinks.%s.attributes.partition: "
                          "expected 'key={column}' segments joined by '/', "
                          "found '%.*s'",
                          file, s->line, s->col, s->name, (int)(seg_end - p),
                          p);
    p = *seg_end ? seg_end + 1 : seg_end;
  }
  return 0;
}

static int pq_init(struct sl_sink *s, struct sl_error *err) {
  const struct pq_attrs *a = s->attrs;
  struct pq_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  pthread_mutex_init(&st->mu, NULL);
  const char *cname = strcmp(a->compression, "none") ? a->compression
                                                     : "uncompressed";
  if (sl_parquet_codec_parse(cname, &st->codec)) st->codec = SL_PARQUET_ZSTD;
  for (int32_t i = 0; i < s->rt->n_sinks; i++)
    if (&s->rt->sinks[i] == s) st->m = &s->rt->metrics.sinks[i];
  s->state = st;
  int rc = sl_publish_mkdirs(a->path, err);
  if (rc) return sl_error_prefix(err, "sink %s: ", s->spec->name);
  return 0;
}

/* Publishes one file and releases its acks. st->mu held. */
static int publish(struct sl_sink *s, struct open_file *f,
                   struct sl_error *err) {
  struct pq_state *st = s->state;
  int rc = sl_parquet_writer_close(f->w, err);
  f->w = NULL;
  if (rc) {
    sl__count(&st->m->errors, 1);
    sl_log(s->rt, SL_LOG_ERROR, "parquet publish failed",
           "\"sink\":\"%s\",\"error\":\"%s\"", s->spec->name,
           err ? err->msg : "");
  } else {
    sl__count(&st->m->files, 1);
  }
  /* On failure the acks are kept back: those positions are never
   * committed, so a trigger that can replay (files, Kafka) will. */
  for (int32_t i = 0; i < f->n_acks; i++)
    if (!rc) sl__ack_release(f->acks[i]);
  sl_free(f->acks);
  sl_free(f->dir);
  sl_schema_release(&f->schema);
  sl_free(f);
  return rc;
}

static int partition_dir(const struct pq_attrs *a, const struct sl_batch *b,
                         int64_t row, char *out, size_t cap,
                         struct sl_error *err) {
  if (!a->partition) {
    snprintf(out, cap, "%s", a->path);
    return 0;
  }
  char keys[8][64], vals[8][256];
  const char *kp[8], *vp[8];
  int n = 0;
  const char *p = a->partition;
  while (*p && n < 8) {
    const char *end = strchr(p, '/');
    if (!end) end = p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(end - p));
    snprintf(keys[n], sizeof keys[n], "%.*s", (int)(eq - p), p);
    char expr[128];
    snprintf(expr, sizeof expr, "%.*s", (int)(end - eq - 3), eq + 2);
    char *fmt = strchr(expr, ':');
    if (fmt) *fmt++ = '\0';
    vals[n][0] = '\0';
    if (!strcmp(expr, "now")) {
      time_t t = (time_t)(sl__wall_ms() / 1000);
      struct tm tm;
      gmtime_r(&t, &tm);
      strftime(vals[n], sizeof vals[n], fmt ? fmt : "%Y-%m-%d", &tm);
    } else {
      int32_t c = sl_schema_find(&b->schema, expr);
      if (c < 0)
        return sl_error_set(err, SL_ENOENT,
                            "partition template: no column '%s' in the rows",
                            expr);
      const struct sl_array *col = b->columns[c];
      if (!sl_array_is_valid(col, row)) {
        vals[n][0] = '\0'; /* __HIVE_DEFAULT_PARTITION__ */
      } else if (col->type == SL_TYPE_TIMESTAMP_MS ||
                 col->type == SL_TYPE_TIMESTAMP_US) {
        int64_t v = sl_array_i64(col)[row];
        int64_t per = col->type == SL_TYPE_TIMESTAMP_MS ? 1000 : 1000000;
        time_t t = (time_t)(v >= 0 ? v / per : (v - per + 1) / per);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(vals[n], sizeof vals[n], fmt ? fmt : "%Y-%m-%d", &tm);
      } else if (sl_type_is_string(col->type)) {
        int64_t len;
        const char *sv = sl_array_str(col, row, &len);
        snprintf(vals[n], sizeof vals[n], "%.*s", (int)(len > 255 ? 255 : len),
                 sv);
      } else if (col->type == SL_TYPE_INT64) {
        snprintf(vals[n], sizeof vals[n], "%" PRId64, sl_array_i64(col)[row]);
      } else if (col->type == SL_TYPE_INT32 || col->type == SL_TYPE_DATE32) {
        snprintf(vals[n], sizeof vals[n], "%" PRId32, sl_array_i32(col)[row]);
      } else if (col->type == SL_TYPE_BOOL) {
        snprintf(vals[n], sizeof vals[n], "%s",
                 sl_array_bool(col, row) ? "true" : "false");
      } else {
        return sl_error_set(err, SL_ENOTSUP,
                            "partition template: column '%s' of type %s "
                            "cannot name a folder",
                            expr, sl_type_name(col->type));
      }
    }
    kp[n] = keys[n];
    vp[n] = vals[n];
    n++;
    p = *end ? end + 1 : end;
  }
  return sl_partition_path(out, cap, a->path, kp, vp, n, NULL, err);
}

static int schema_equal(const struct sl_schema *x, const struct sl_schema *y) {
  if (x->n_fields != y->n_fields) return 0;
  for (int32_t i = 0; i < x->n_fields; i++)
    if (!sl_field_equal(&x->fields[i], &y->fields[i])) return 0;
  return 1;
}

static int write_run(struct sl_sink *s, const char *dir,
                     const struct sl_batch *part, struct sl_ack *ack,
                     struct sl_error *err) {
  const struct pq_attrs *a = s->attrs;
  struct pq_state *st = s->state;
  struct open_file **pp = &st->files, *f = NULL;
  for (; *pp; pp = &(*pp)->next)
    if (!strcmp((*pp)->dir, dir)) break;
  f = *pp;
  if (f && !schema_equal(&f->schema, &part->schema)) {
    *pp = f->next;
    publish(s, f, err);
    f = NULL;
  }
  if (!f) {
    SL_RETURN_NOT_OK(sl_publish_mkdirs(dir, err));
    f = sl_calloc(1, sizeof *f);
    if (!f) return sl_error_set(err, SL_ENOMEM, "out of memory");
    f->dir = sl_strdup(dir);
    sl_schema_init(&f->schema);
    if (!f->dir || sl_schema_copy(&f->schema, &part->schema)) {
      sl_free(f->dir);
      sl_free(f);
      return sl_error_set(err, SL_ENOMEM, "out of memory");
    }
    char path[4400];
    if (snprintf(path, sizeof path, "%s/%.200s-%" PRId64 "-%06" PRIu64
                 ".parquet", dir, a->prefix, sl__wall_ms(), ++st->counter) < 0)
      return sl_error_set(err, SL_ERANGE, "file name too long");
    struct sl_parquet_write_options o;
    sl_parquet_write_options_init(&o);
    o.compression = st->codec;
    if (a->level) o.compression_level = (int)a->level;
    o.row_group_rows = a->row_group_rows;
    o.fsync = a->fsync;
    o.threads = 1;
    int rc = sl_parquet_writer_open(path, &part->schema, &o, &f->w, err);
    if (rc) {
      sl_free(f->dir);
      sl_schema_release(&f->schema);
      sl_free(f);
      return rc;
    }
    f->opened_ms = sl__now_ms();
    f->next = st->files;
    st->files = f;
  }
  SL_RETURN_NOT_OK(sl_parquet_writer_write(f->w, part, err));
  f->rows += part->length;
  if (ack && (f->n_acks == 0 || f->acks[f->n_acks - 1] != ack)) {
    if (f->n_acks == f->cap_acks) {
      int32_t nc = f->cap_acks ? f->cap_acks * 2 : 16;
      struct sl_ack **na = sl_realloc(f->acks, (size_t)nc * sizeof *na);
      if (!na) return sl_error_set(err, SL_ENOMEM, "out of memory");
      f->acks = na;
      f->cap_acks = nc;
    }
    sl__ack_retain(ack);
    f->acks[f->n_acks++] = ack;
  }
  if (f->rows >= a->roll_rows ||
      sl_parquet_writer_bytes(f->w) >= a->roll_bytes) {
    for (pp = &st->files; *pp != f; pp = &(*pp)->next) {
    }
    *pp = f->next;
    return publish(s, f, err);
  }
  return 0;
}

static int pq_write(struct sl_sink *s, const struct sl_batch *batch,
                    struct sl_ack *ack, struct sl_error *err) {
  const struct pq_attrs *a = s->attrs;
  struct pq_state *st = s->state;
  char dir[4096], next_dir[4096];
  int rc = 0;
  pthread_mutex_lock(&st->mu);
  int64_t start = 0;
  if (batch->length == 0) goto out;
  SL_CHECK_GOTO(partition_dir(a, batch, 0, dir, sizeof dir, err), rc, out);
  for (int64_t r = 1; r <= batch->length; r++) {
    if (r < batch->length) {
      if (!a->partition) continue;
      SL_CHECK_GOTO(partition_dir(a, batch, r, next_dir, sizeof next_dir, err),
                    rc, out);
      if (!strcmp(dir, next_dir)) continue;
    }
    struct sl_batch *part = NULL;
    SL_CHECK_GOTO(sl_batch_slice(batch, start, r - start, &part, err), rc, out);
    rc = write_run(s, dir, part, ack, err);
    sl_batch_free(part);
    if (rc) goto out;
    start = r;
    if (r < batch->length) memcpy(dir, next_dir, sizeof dir);
  }
out:
  pthread_mutex_unlock(&st->mu);
  return rc;
}

static int pq_flush(struct sl_sink *s, struct sl_error *err) {
  struct pq_state *st = s->state;
  int first = 0;
  pthread_mutex_lock(&st->mu);
  while (st->files) {
    struct open_file *f = st->files;
    st->files = f->next;
    struct sl_error e = {0};
    int rc = publish(s, f, &e);
    if (rc && !first) first = sl_error_set(err, rc, "%s", e.msg);
  }
  pthread_mutex_unlock(&st->mu);
  return first;
}

static void pq_tick(struct sl_sink *s, int64_t now_wall) {
  const struct pq_attrs *a = s->attrs;
  struct pq_state *st = s->state;
  int64_t now = sl__now_ms();
  (void)now_wall;
  pthread_mutex_lock(&st->mu);
  struct open_file **pp = &st->files;
  while (*pp) {
    struct open_file *f = *pp;
    if (now - f->opened_ms >= a->roll_ms) {
      *pp = f->next;
      struct sl_error e = {0};
      publish(s, f, &e);
    } else {
      pp = &f->next;
    }
  }
  pthread_mutex_unlock(&st->mu);
}

static void pq_destroy(struct sl_sink *s) {
  struct pq_state *st = s->state;
  if (!st) return;
  while (st->files) { /* not drained: drop the temporaries */
    struct open_file *f = st->files;
    st->files = f->next;
    sl_parquet_writer_abort(f->w);
    sl_free(f->acks);
    sl_free(f->dir);
    sl_schema_release(&f->schema);
    sl_free(f);
  }
  pthread_mutex_destroy(&st->mu);
  sl_free(st);
  s->state = NULL;
}

const struct sl_sink_vtable sl__sink_parquet = {
    .name = "parquet",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "Rolling Parquet files with atomic publish and Hive-style "
           "partition folders. Positions are committed when the file holding "
           "their rows is published.",
    .config = pq_config,
    .config_size = sizeof(struct pq_attrs),
    .validate = pq_validate,
    .init = pq_init,
    .write = pq_write,
    .flush = pq_flush,
    .tick = pq_tick,
    .destroy = pq_destroy,
};
