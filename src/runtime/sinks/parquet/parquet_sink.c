/* The parquet sink: rolling Parquet files, Hive-style partition folders,
 * atomic publish (sluice/parquet.h writes under a temporary name and renames
 * at close). A file rolls at rollRows rows, rollBytes bytes or rollInterval
 * after it was opened, whichever comes first, and when the schema of the
 * incoming rows changes. The acks of the batches in a file are released
 * when the file is published: only then do triggers commit their positions.
 *
 * Partition template: "k1={expr}/k2={expr}" where expr is a column name
 * (its value), "col:%Y-%m-%d" (a timestamp column formatted with strftime,
 * UTC) or "now:%H" (processing time). The rows of a batch are grouped by
 * partition folder: a group whose rows are consecutive is sliced without
 * copying, a scattered one is gathered into a batch of its own (flat
 * columns; nested ones are written run by run).
 *
 * Replays overwrite (docs/runtime.md): rows whose ack carries a position key
 * (a replayable trigger: file, kafka) go, with `idempotent` on, to files of
 * their own named <prefix>-<key>.parquet (then -1, -2... when one batch
 * needs several), published when the handler seals the ack. A replay after a
 * crash produces the same batches, so the same names: the rename overwrites
 * what the first run published instead of adding a copy. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/rt.h"
#include "runtime/supersede.h" /* issue 7 (kafka) */
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
  bool idempotent;
};

#define A(f) offsetof(struct pq_attrs, f)
static const struct sl_cfg_entry pq_config[] = {
    {"path", SL_CFG_STRING, NULL, 0, 0, NULL, A(path),
     "Root folder of the output (created when missing).", true},
    {"compression", SL_CFG_ENUM, "zstd", 0, 0, "zstd|snappy|gzip|lz4|none",
     A(compression), "Page compression.", false},
    {"compressionLevel", SL_CFG_INT, "0", 0, 22, NULL, A(level),
     "Codec level (0: the codec's default).", false},
    {"partition", SL_CFG_STRING, NULL, 0, 0, NULL, A(partition),
     "Partition template `k={column}/d={ts:%Y-%m-%d}/h={now:%H}`; unset: "
     "no partition folders.",
     false},
    {"rollRows", SL_CFG_INT, "1000000", 1, 1000000000, NULL, A(roll_rows),
     "Publish a file at this many rows.", false},
    {"rollBytes", SL_CFG_SIZE, "128MiB", 1024, 17179869184LL, NULL,
     A(roll_bytes),
     "... or at this many bytes of encoded Parquet (rows buffered in memory "
     "are encoded as a row group once they reach this size).",
     false},
    {"rollInterval", SL_CFG_DURATION, "60s", 100, 86400000, NULL, A(roll_ms),
     "... or this long after the file was opened.", false},
    {"rowGroupRows", SL_CFG_INT, "1048576", 1, 1000000000, NULL,
     A(row_group_rows), "Rows per row group, at most.", false},
    {"prefix", SL_CFG_STRING, "part", 0, 0, NULL, A(prefix),
     "File names: <prefix>-<open time ms>-<counter>.parquet, or "
     "<prefix>-<position key>.parquet for rows of a replayable trigger.",
     false},
    {"fsync", SL_CFG_BOOL, "true", 0, 0, NULL, A(fsync),
     "fsync files and folders at publish.", false},
    {"idempotent", SL_CFG_BOOL, "true", 0, 0, NULL, A(idempotent),
     "Rows from a replayable trigger (file, kafka) go to files named after "
     "their source positions (<prefix>-<key>.parquet, one per batch and "
     "folder), so a replay after a crash overwrites them instead of adding "
     "copies; false: roll them with the rest (at-least-once).",
     false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

struct open_file {
  char *dir;
  struct sl_ack *keyed; /* set: a file of this ack's rows only */
  int32_t part;         /* keyed: the how-manieth file of (ack, dir) */
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
  struct open_file *keyed; /* files of keyed acks, published at seal */
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
  const char *cname =
      strcmp(a->compression, "none") ? a->compression : "uncompressed";
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
    /* issue 7 (kafka): a replay that cut its batches at other offsets
     * supersedes the earlier run's overlapping files (runtime/supersede.h). */
    if (f->keyed && f->keyed->key[0])
      sl__supersede_overlapping(
          f->dir, ((const struct pq_attrs *)s->attrs)->prefix, f->keyed->key);
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

static void unlink_file(struct open_file **list, struct open_file *f) {
  for (struct open_file **pp = list; *pp; pp = &(*pp)->next)
    if (*pp == f) {
      *pp = f->next;
      return;
    }
}

static int open_new(struct sl_sink *s, const char *dir,
                    const struct sl_schema *schema, struct sl_ack *keyed,
                    int32_t part, struct open_file **out,
                    struct sl_error *err) {
  const struct pq_attrs *a = s->attrs;
  struct pq_state *st = s->state;
  SL_RETURN_NOT_OK(sl_publish_mkdirs(dir, err));
  struct open_file *f = sl_calloc(1, sizeof *f);
  if (!f) return sl_error_set(err, SL_ENOMEM, "out of memory");
  f->dir = sl_strdup(dir);
  f->keyed = keyed;
  f->part = part;
  sl_schema_init(&f->schema);
  if (!f->dir || sl_schema_copy(&f->schema, schema)) {
    sl_free(f->dir);
    sl_free(f);
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  }
  char path[4400];
  int n;
  if (keyed && part > 0)
    n = snprintf(path, sizeof path, "%s/%.200s-%s-%d.parquet", dir, a->prefix,
                 keyed->key, (int)part);
  else if (keyed)
    n = snprintf(path, sizeof path, "%s/%.200s-%s.parquet", dir, a->prefix,
                 keyed->key);
  else
    n = snprintf(path, sizeof path,
                 "%s/%.200s-%" PRId64 "-%06" PRIu64 ".parquet", dir, a->prefix,
                 sl__wall_ms(), ++st->counter);
  int rc = 0;
  if (n < 0 || (size_t)n >= sizeof path)
    rc = sl_error_set(err, SL_ERANGE, "file name too long in '%.100s'", dir);
  struct sl_parquet_write_options o;
  sl_parquet_write_options_init(&o);
  o.compression = st->codec;
  if (a->level) o.compression_level = (int)a->level;
  o.row_group_rows = a->row_group_rows;
  o.fsync = a->fsync;
  o.threads = 1;
  if (!rc) rc = sl_parquet_writer_open(path, schema, &o, &f->w, err);
  if (rc) {
    sl_free(f->dir);
    sl_schema_release(&f->schema);
    sl_free(f);
    return rc;
  }
  f->opened_ms = sl__now_ms();
  *out = f;
  return 0;
}

static int hold_ack(struct open_file *f, struct sl_ack *ack,
                    struct sl_error *err) {
  if (!ack || (f->n_acks > 0 && f->acks[f->n_acks - 1] == ack)) return 0;
  if (f->n_acks == f->cap_acks) {
    int32_t nc = f->cap_acks ? f->cap_acks * 2 : 16;
    struct sl_ack **na = sl_realloc(f->acks, (size_t)nc * sizeof *na);
    if (!na) return sl_error_set(err, SL_ENOMEM, "out of memory");
    f->acks = na;
    f->cap_acks = nc;
  }
  sl__ack_retain(ack);
  f->acks[f->n_acks++] = ack;
  return 0;
}

/* Writes rows that all belong in folder `dir`. st->mu held. */
static int write_part(struct sl_sink *s, const char *dir,
                      const struct sl_batch *part, struct sl_ack *ack,
                      struct sl_error *err) {
  const struct pq_attrs *a = s->attrs;
  struct pq_state *st = s->state;
  bool keyed = a->idempotent && ack && ack->key[0];
  struct open_file **list = keyed ? &st->keyed : &st->files, *f = NULL;
  int32_t next_part = 0;
  for (struct open_file *g = *list; g; g = g->next)
    if (!strcmp(g->dir, dir) && (!keyed || g->keyed == ack)) {
      f = g;
      break;
    }
  if (keyed) { /* parts already published for (ack, dir) count on */
    for (struct open_file *g = *list; g; g = g->next)
      if (g->keyed == ack && !strcmp(g->dir, dir) && g->part >= next_part)
        next_part = g->part + 1;
  }
  if (f && !schema_equal(&f->schema, &part->schema)) {
    unlink_file(list, f);
    if (keyed) {
      /* Keep counting: the next file of this (ack, dir) takes part + 1. */
      next_part = f->part + 1;
    }
    publish(s, f, err);
    f = NULL;
  }
  if (!f) {
    SL_RETURN_NOT_OK(open_new(s, dir, &part->schema, keyed ? ack : NULL,
                              next_part, &f, err));
    f->next = *list;
    *list = f;
  }
  SL_RETURN_NOT_OK(sl_parquet_writer_write(f->w, part, err));
  f->rows += part->length;
  SL_RETURN_NOT_OK(hold_ack(f, ack, err));
  /* The file's size is only known for encoded row groups: once the rows
   * buffered in memory reach rollBytes, encode them, so that rolling by
   * size sees real (compressed) bytes and memory stays bounded. */
  if (sl_parquet_writer_pending_bytes(f->w) >= a->roll_bytes)
    SL_RETURN_NOT_OK(sl_parquet_writer_flush(f->w, err));
  if (f->rows >= a->roll_rows ||
      sl_parquet_writer_bytes(f->w) >= a->roll_bytes) {
    if (keyed) {
      /* A keyed file rolls into <key>-<part+1>: remember the count with a
       * placeholder-free trick: publish and let the next open use part+1. */
      int32_t p = f->part;
      unlink_file(list, f);
      int rc = publish(s, f, err);
      if (rc) return rc;
      /* An empty marker keeps the count for this (ack, dir). */
      struct open_file *m = NULL;
      SL_RETURN_NOT_OK(open_new(s, dir, &part->schema, ack, p + 1, &m, err));
      m->next = *list;
      *list = m;
      return 0;
    }
    unlink_file(list, f);
    return publish(s, f, err);
  }
  return 0;
}

/* Copies rows[0, n) of a flat batch into a new batch; SL_ENOTSUP for nested
 * columns. */
static int gather(const struct sl_batch *b, const int64_t *rows, int64_t n,
                  struct sl_batch **out, struct sl_error *err) {
  for (int32_t c = 0; c < b->n_columns; c++) {
    enum sl_type_id t = b->schema.fields[c].type;
    if (t == SL_TYPE_LIST || t == SL_TYPE_STRUCT) return SL_ENOTSUP;
  }
  struct sl_array **cols = sl_calloc((size_t)b->n_columns + 1, sizeof *cols);
  if (!cols) return sl_error_set(err, SL_ENOMEM, "out of memory");
  int rc = 0;
  int32_t c = 0;
  for (; c < b->n_columns && !rc; c++) {
    const struct sl_array *col = b->columns[c];
    struct sl_builder bd;
    rc = sl_builder_init(&bd, &b->schema.fields[c]);
    if (rc) break;
    rc = sl_builder_reserve(&bd, n);
    for (int64_t i = 0; i < n && !rc; i++) {
      int64_t r = rows[i];
      if (!sl_array_is_valid(col, r)) {
        rc = sl_builder_append_null(&bd);
        continue;
      }
      switch (col->type) {
      case SL_TYPE_NULL: rc = sl_builder_append_null(&bd); break;
      case SL_TYPE_BOOL:
        rc = sl_builder_append_bool(&bd, sl_array_bool(col, r));
        break;
      case SL_TYPE_INT32:
      case SL_TYPE_DATE32:
        rc = sl_builder_append_int(&bd, sl_array_i32(col)[r]);
        break;
      case SL_TYPE_INT64:
      case SL_TYPE_TIMESTAMP_MS:
      case SL_TYPE_TIMESTAMP_US:
        rc = sl_builder_append_int(&bd, sl_array_i64(col)[r]);
        break;
      case SL_TYPE_FLOAT64:
        rc = sl_builder_append_double(&bd, sl_array_f64(col)[r]);
        break;
      default: {
        int64_t len;
        const char *sv = sl_array_str(col, r, &len);
        rc = sl_builder_append_str(&bd, sv, len);
      }
      }
    }
    if (!rc) rc = sl_builder_finish(&bd, &cols[c]);
    sl_builder_release(&bd);
  }
  if (rc) {
    for (int32_t k = 0; k < b->n_columns; k++)
      if (cols[k]) sl_array_release(cols[k]);
    sl_free(cols);
    return sl_error_set(err, rc, "out of memory grouping rows by partition");
  }
  rc = sl_batch_make(&b->schema, cols, n, out, err);
  sl_free(cols);
  return rc;
}

/* Distinct partition folders of one batch, each with its rows. */
struct group {
  char *dir;
  int64_t *rows;
  int64_t n, cap;
  bool contiguous;
};

static int group_add(struct group *g, int64_t r) {
  if (g->n > 0 && g->rows[g->n - 1] != r - 1) g->contiguous = false;
  if (g->n == g->cap) {
    int64_t nc = g->cap ? g->cap * 2 : 64;
    int64_t *nr = sl_realloc(g->rows, (size_t)nc * sizeof *nr);
    if (!nr) return SL_ENOMEM;
    g->rows = nr;
    g->cap = nc;
  }
  g->rows[g->n++] = r;
  return 0;
}

static int write_group(struct sl_sink *s, const struct sl_batch *batch,
                       struct group *g, struct sl_ack *ack,
                       struct sl_error *err) {
  struct sl_batch *part = NULL;
  int rc;
  if (g->contiguous) {
    SL_RETURN_NOT_OK(sl_batch_slice(batch, g->rows[0], g->n, &part, err));
    rc = write_part(s, g->dir, part, ack, err);
    sl_batch_free(part);
    return rc;
  }
  rc = gather(batch, g->rows, g->n, &part, err);
  if (rc == SL_ENOTSUP) { /* nested columns: run by run */
    for (int64_t i = 0; i < g->n;) {
      int64_t j = i + 1;
      while (j < g->n && g->rows[j] == g->rows[j - 1] + 1)
        j++;
      SL_RETURN_NOT_OK(sl_batch_slice(batch, g->rows[i], j - i, &part, err));
      rc = write_part(s, g->dir, part, ack, err);
      sl_batch_free(part);
      part = NULL;
      if (rc) return rc;
      i = j;
    }
    return 0;
  }
  if (rc) return rc;
  rc = write_part(s, g->dir, part, ack, err);
  sl_batch_free(part);
  return rc;
}

#define MAX_GROUPS 4096 /* distinct partition folders in one batch */

static int pq_write(struct sl_sink *s, const struct sl_batch *batch,
                    struct sl_ack *ack, struct sl_error *err) {
  const struct pq_attrs *a = s->attrs;
  struct pq_state *st = s->state;
  char dir[4096];
  int rc = 0;
  struct group *groups = NULL;
  int32_t n_groups = 0, cap_groups = 0, last = -1;
  pthread_mutex_lock(&st->mu);
  if (batch->length == 0) goto out;
  if (!a->partition) {
    struct group g = {.dir = a->path, .n = batch->length, .contiguous = true};
    int64_t zero = 0;
    g.rows = &zero;
    rc = write_group(s, batch, &g, ack, err);
    goto out;
  }
  for (int64_t r = 0; r < batch->length; r++) {
    SL_CHECK_GOTO(partition_dir(a, batch, r, dir, sizeof dir, err), rc, out);
    if (last < 0 || strcmp(groups[last].dir, dir)) {
      last = -1;
      for (int32_t i = 0; i < n_groups; i++)
        if (!strcmp(groups[i].dir, dir)) {
          last = i;
          break;
        }
    }
    if (last < 0) {
      if (n_groups == MAX_GROUPS) {
        rc = sl_error_set(err, SL_ERANGE,
                          "partition template: more than %d folders in one "
                          "batch (at row %lld)",
                          MAX_GROUPS, (long long)r);
        goto out;
      }
      if (n_groups == cap_groups) {
        int32_t nc = cap_groups ? cap_groups * 2 : 8;
        struct group *ng = sl_realloc(groups, (size_t)nc * sizeof *ng);
        if (!ng) {
          rc = sl_error_set(err, SL_ENOMEM, "out of memory");
          goto out;
        }
        groups = ng;
        cap_groups = nc;
      }
      groups[n_groups] =
          (struct group){.dir = sl_strdup(dir), .contiguous = true};
      if (!groups[n_groups].dir) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory");
        goto out;
      }
      last = n_groups++;
    }
    if (group_add(&groups[last], r)) {
      rc = sl_error_set(err, SL_ENOMEM, "out of memory");
      goto out;
    }
  }
  for (int32_t i = 0; i < n_groups && !rc; i++)
    rc = write_group(s, batch, &groups[i], ack, err);
out:
  pthread_mutex_unlock(&st->mu);
  for (int32_t i = 0; i < n_groups; i++) {
    sl_free(groups[i].dir);
    sl_free(groups[i].rows);
  }
  sl_free(groups);
  return rc;
}

/* Publishes every keyed file of ack (rows all written). */
static void pq_seal(struct sl_sink *s, struct sl_ack *ack) {
  struct pq_state *st = s->state;
  pthread_mutex_lock(&st->mu);
  struct open_file **pp = &st->keyed;
  while (*pp) {
    struct open_file *f = *pp;
    if (f->keyed != ack) {
      pp = &f->next;
      continue;
    }
    *pp = f->next;
    if (f->rows == 0) { /* a roll marker that got no rows */
      sl_parquet_writer_abort(f->w);
      f->w = NULL;
      for (int32_t i = 0; i < f->n_acks; i++)
        sl__ack_release(f->acks[i]);
      sl_free(f->acks);
      sl_free(f->dir);
      sl_schema_release(&f->schema);
      sl_free(f);
      continue;
    }
    struct sl_error e = {0};
    publish(s, f, &e);
  }
  pthread_mutex_unlock(&st->mu);
}

static int flush_list(struct sl_sink *s, struct open_file **list,
                      struct sl_error *err) {
  int first = 0;
  while (*list) {
    struct open_file *f = *list;
    *list = f->next;
    struct sl_error e = {0};
    int rc = publish(s, f, &e);
    if (rc && !first) first = sl_error_set(err, rc, "%s", e.msg);
  }
  return first;
}

static int pq_flush(struct sl_sink *s, struct sl_error *err) {
  struct pq_state *st = s->state;
  pthread_mutex_lock(&st->mu);
  int rc = flush_list(s, &st->files, err);
  int rk = flush_list(s, &st->keyed, err);
  pthread_mutex_unlock(&st->mu);
  return rc ? rc : rk;
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
  while (st->files || st->keyed) { /* not drained: drop the temporaries */
    struct open_file **list = st->files ? &st->files : &st->keyed;
    struct open_file *f = *list;
    *list = f->next;
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
    .seal = pq_seal,
};
