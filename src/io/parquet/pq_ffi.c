/* Option strings and the Arrow C Data Interface bindings of the Parquet
 * writer and reader (used by the Python oracle tests and the CLI). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/parquet/pq.h"
#include "sluice/arrow_c.h"
#include "sluice/parquet.h"

static int parse_int(const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || end == v || *end) return SL_EINVAL;
  *out = x;
  return 0;
}

int sl_parquet_write_options_parse(const char *spec,
                                   struct sl_parquet_write_options *o,
                                   struct sl_error *err) {
  if (!spec) return 0;
  char *copy = sl_strdup(spec);
  if (!copy) return sl_error_set(err, SL_ENOMEM, "out of memory");
  int rc = 0;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ";,", &save); tok && !rc;
       tok = strtok_r(NULL, ";,", &save)) {
    while (*tok == ' ')
      tok++;
    if (!*tok) continue;
    char *eq = strchr(tok, '=');
    if (!eq) {
      rc = sl_error_set(err, SL_EINVAL,
                        "parquet options: expected key=value, found '%s'", tok);
      break;
    }
    *eq = '\0';
    const char *k = tok, *v = eq + 1;
    int64_t x = 0;
    if (strcmp(k, "compression") == 0 || strcmp(k, "codec") == 0) {
      if (sl_parquet_codec_parse(v, &o->compression))
        rc = sl_error_set(err, SL_EINVAL,
                          "parquet options: unknown compression '%s' (none, "
                          "snappy, gzip, zstd, lz4)",
                          v);
      continue;
    }
    static const char *const known[] = {
        "level",           "dictionary",   "dictionary_bytes",
        "delta",           "page_version", "row_group_rows",
        "row_group_bytes", "page_bytes",   "page_rows",
        "statistics",      "fsync",        "threads"};
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
      ok |= strcmp(k, known[i]) == 0;
    if (!ok) {
      rc = sl_error_set(
          err, SL_EINVAL,
          "parquet options: unknown key '%s' (compression, level, "
          "dictionary, dictionary_bytes, delta, page_version, "
          "row_group_rows, row_group_bytes, page_bytes, page_rows, "
          "statistics, fsync, threads)",
          k);
      break;
    }
    if (parse_int(v, &x)) {
      rc = sl_error_set(err, SL_EINVAL,
                        "parquet options: '%s' needs an integer, found '%s'", k,
                        v);
      break;
    }
    if (strcmp(k, "level") == 0)
      o->compression_level = (int)x;
    else if (strcmp(k, "dictionary") == 0)
      o->dictionary = x != 0;
    else if (strcmp(k, "dictionary_bytes") == 0)
      o->dictionary_bytes = x;
    else if (strcmp(k, "delta") == 0)
      o->delta_integers = x != 0;
    else if (strcmp(k, "page_version") == 0)
      o->data_page_version = (int)x;
    else if (strcmp(k, "row_group_rows") == 0)
      o->row_group_rows = x;
    else if (strcmp(k, "row_group_bytes") == 0)
      o->row_group_bytes = x;
    else if (strcmp(k, "page_bytes") == 0)
      o->page_bytes = x;
    else if (strcmp(k, "page_rows") == 0)
      o->page_rows = x;
    else if (strcmp(k, "statistics") == 0)
      o->statistics = x != 0;
    else if (strcmp(k, "fsync") == 0)
      o->fsync = x != 0;
    else if (strcmp(k, "threads") == 0)
      o->threads = (int)x;
    else
      rc = sl_error_set(err, SL_EINVAL, "parquet options: unknown key '%s'", k);
  }
  sl_free(copy);
  return rc;
}

int sl_parquet_writer_open_arrow(const char *path,
                                 const struct ArrowSchema *schema,
                                 const char *spec,
                                 struct sl_parquet_writer **out,
                                 struct sl_error *err) {
  struct sl_parquet_write_options o;
  sl_parquet_write_options_init(&o);
  int rc = sl_parquet_write_options_parse(spec, &o, err);
  if (rc) return rc;
  struct sl_schema s;
  if ((rc = sl_import_schema(schema, &s, err))) return rc;
  rc = sl_parquet_writer_open(path, &s, &o, out, err);
  sl_schema_release(&s);
  return rc;
}

int sl_parquet_writer_write_arrow(struct sl_parquet_writer *w,
                                  struct ArrowArray *array,
                                  const struct ArrowSchema *schema,
                                  struct sl_error *err) {
  struct sl_batch *b;
  int rc = sl_import_batch(array, schema, &b, err);
  if (rc) return rc;
  rc = sl_parquet_writer_write(w, b, err);
  sl_batch_free(b);
  return rc;
}

struct preds {
  struct sl_parquet_predicate *v;
  char **strs;
  int32_t n;
};

static void preds_release(struct preds *p) {
  for (int32_t i = 0; i < p->n; i++)
    sl_free(p->strs[i]);
  sl_free(p->strs);
  sl_free(p->v);
}

static int parse_preds(const char *spec, struct preds *p,
                       struct sl_error *err) {
  memset(p, 0, sizeof *p);
  if (!spec || !*spec) return 0;
  int32_t cap = 1;
  for (const char *s = spec; *s; s++)
    cap += *s == ';';
  p->v = sl_calloc((size_t)cap, sizeof *p->v);
  p->strs = sl_calloc((size_t)cap, sizeof *p->strs);
  if (!p->v || !p->strs) return sl_error_set(err, SL_ENOMEM, "out of memory");
  const char *s = spec;
  while (*s) {
    const char *e = strchr(s, ';');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    char *item = sl_strndup(s, n);
    if (!item) return sl_error_set(err, SL_ENOMEM, "out of memory");
    p->strs[p->n] = item;
    struct sl_parquet_predicate *pr = &p->v[p->n++];
    char *op = strpbrk(item, "=!<>");
    if (!op || op == item)
      return sl_error_set(err, SL_EINVAL, "bad predicate '%s'", item);
    char *val = op;
    if (op[0] == '!' && op[1] == '=')
      pr->op = SL_PQ_NE, val += 2;
    else if (op[0] == '<' && op[1] == '=')
      pr->op = SL_PQ_LE, val += 2;
    else if (op[0] == '>' && op[1] == '=')
      pr->op = SL_PQ_GE, val += 2;
    else if (op[0] == '<')
      pr->op = SL_PQ_LT, val += 1;
    else if (op[0] == '>')
      pr->op = SL_PQ_GT, val += 1;
    else if (op[0] == '=')
      pr->op = SL_PQ_EQ, val += 1;
    else
      return sl_error_set(err, SL_EINVAL, "bad operator in predicate '%s'",
                          item);
    *op = '\0';
    pr->column = item;
    char *end;
    errno = 0;
    long long iv = strtoll(val, &end, 10);
    if (!errno && end != val && !*end) {
      pr->kind = SL_PQ_INT;
      pr->i = iv;
    } else {
      double dv = strtod(val, &end);
      if (end != val && !*end) {
        pr->kind = SL_PQ_DOUBLE;
        pr->d = dv;
      } else {
        pr->kind = SL_PQ_STRING;
        pr->s = val;
        pr->s_len = (int64_t)strlen(val);
      }
    }
    s += n;
    if (*s == ';') s++;
  }
  return 0;
}

struct cols {
  char *buf;
  const char **v;
  int32_t n;
};

static int parse_cols(const char *spec, struct cols *c) {
  memset(c, 0, sizeof *c);
  if (!spec) return 0;
  c->buf = sl_strdup(spec);
  int32_t cap = 1;
  for (const char *s = spec; *s; s++)
    cap += *s == ',';
  c->v = sl_calloc((size_t)cap, sizeof *c->v);
  if (!c->buf || !c->v) return SL_ENOMEM;
  char *save = NULL;
  for (char *t = strtok_r(c->buf, ",", &save); t;
       t = strtok_r(NULL, ",", &save))
    c->v[c->n++] = t;
  return 0;
}

int sl_parquet_open_stream(const char *path, const char *columns,
                           const char *predicates, int64_t batch_rows,
                           struct ArrowArrayStream *out, struct sl_error *err) {
  return sl_parquet_open_stream_with(path, columns, predicates, batch_rows,
                                     NULL, 0, out, err);
}

int sl_parquet_open_stream_with(const char *path, const char *columns,
                                const char *predicates, int64_t batch_rows,
                                struct sl_parquet_buffers *buffers, int threads,
                                struct ArrowArrayStream *out,
                                struct sl_error *err) {
  struct sl_parquet_read_options o;
  sl_parquet_read_options_init(&o);
  o.buffers = buffers;
  o.threads = threads;
  struct cols c;
  struct preds p;
  int rc = parse_cols(columns, &c);
  if (rc) {
    rc = sl_error_set(err, rc, "out of memory");
    goto cleanup_c;
  }
  if ((rc = parse_preds(predicates, &p, err))) goto cleanup;
  if (columns) {
    o.columns = c.v;
    o.n_columns = c.n;
  }
  o.predicates = p.v;
  o.n_predicates = p.n;
  if (batch_rows > 0) o.batch_rows = batch_rows;
  struct sl_batch_reader *r;
  if ((rc = sl_parquet_open(path, &o, &r, err))) goto cleanup;
  rc = sl_export_stream(r, out, err);
cleanup:
  preds_release(&p);
cleanup_c:
  sl_free(c.buf);
  sl_free(c.v);
  return rc;
}

int sl_parquet_count_skipped(const char *path, const char *predicates,
                             int32_t *skipped, struct sl_error *err) {
  struct sl_parquet_read_options o;
  sl_parquet_read_options_init(&o);
  struct preds p;
  int rc = parse_preds(predicates, &p, err);
  if (!rc) {
    o.predicates = p.v;
    o.n_predicates = p.n;
    struct sl_batch_reader *r;
    rc = sl_parquet_open(path, &o, &r, err);
    if (!rc) {
      *skipped = sl_parquet_reader_skipped(r);
      r->release(r);
    }
  }
  preds_release(&p);
  return rc;
}
