/* Query inputs: expands FROM into files (globs, '**', folders with Hive
 * key=value partitions), learns the schema once, and opens one reader per
 * file with the query's columns pushed down (JSON: an explicit schema of just
 * those paths; Parquet: a column projection). */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/json.h"
#include "sluice/parquet.h"
#include "sql/source.h"

static bool has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && !strcasecmp(s + n - m, suf);
}

static bool is_parquet_name(const char *p) {
  return has_suffix(p, ".parquet") || has_suffix(p, ".pq") ||
         has_suffix(p, ".parq");
}

static bool is_data_name(const char *p) {
  const char *b = strrchr(p, '/');
  b = b ? b + 1 : p;
  if (b[0] == '.' || b[0] == '_') return false;
  return is_parquet_name(b) || has_suffix(b, ".jsonl") ||
         has_suffix(b, ".json") || has_suffix(b, ".ndjson") ||
         has_suffix(b, ".gz") || has_suffix(b, ".zst") || has_suffix(b, ".log");
}

static int add_file(struct sl__source *s, const char *path) {
  if (s->n_files == s->cap_files) {
    int32_t nc = s->cap_files ? s->cap_files * 2 : 16;
    char **nf = sl_realloc(s->files, sizeof *nf * (size_t)nc);
    if (!nf) return SL_ENOMEM;
    s->files = nf;
    s->cap_files = nc;
  }
  s->files[s->n_files] = sl_strdup(path);
  if (!s->files[s->n_files]) return SL_ENOMEM;
  s->n_files++;
  return 0;
}

/* Every data file below dir (sorted names, so runs are deterministic). */
static int walk(struct sl__source *s, const char *dir, const char *pattern,
                int depth) {
  if (depth > 32) return 0;
  struct dirent **ents = NULL;
  int n = scandir(dir, &ents, NULL, alphasort);
  if (n < 0) return 0;
  int rc = 0;
  for (int i = 0; i < n; i++) {
    const char *nm = ents[i]->d_name;
    if (rc || nm[0] == '.' || nm[0] == '_') {
      free(ents[i]);
      continue;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, nm);
    struct stat st;
    if (stat(path, &st) == 0) {
      if (S_ISDIR(st.st_mode))
        rc = walk(s, path, pattern, depth + 1);
      else if (pattern ? fnmatch(pattern, nm, 0) == 0 : is_data_name(nm))
        rc = add_file(s, path);
    }
    free(ents[i]);
  }
  free(ents);
  return rc;
}

static int expand(struct sl__source *s, const char *pat, struct sl_error *err) {
  struct stat st;
  const char *dstar = strstr(pat, "**");
  if (dstar) {
    char base[4096];
    size_t k = (size_t)(dstar - pat);
    if (k >= sizeof base)
      return sl_error_set(err, SL_EINVAL, "path too long: '%s'", pat);
    memcpy(base, pat, k);
    base[k] = 0;
    while (k > 1 && base[k - 1] == '/')
      base[--k] = 0;
    if (!k) strcpy(base, ".");
    const char *rest = dstar + 2;
    while (*rest == '/')
      rest++;
    const char *last = strrchr(rest, '/');
    SL_RETURN_NOT_OK(walk(s, base, *rest ? (last ? last + 1 : rest) : NULL, 0));
    s->base = sl_strdup(base);
  } else if (stat(pat, &st) == 0 && S_ISDIR(st.st_mode)) {
    SL_RETURN_NOT_OK(walk(s, pat, NULL, 0));
    s->base = sl_strdup(pat);
  } else {
    glob_t g;
    int r = glob(pat, GLOB_BRACE, NULL, &g);
    if (r == 0)
      for (size_t i = 0; i < g.gl_pathc; i++) {
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode)) continue;
        int rc = add_file(s, g.gl_pathv[i]);
        if (rc) {
          globfree(&g);
          return rc;
        }
      }
    if (r == 0) globfree(&g);
  }
  if (s->n_files == 0)
    return sl_error_set(err, SL_ENOENT, "no input file matches '%s'", pat);
  for (int32_t i = 0; i < s->n_files; i++)
    if (stat(s->files[i], &st) == 0) s->total_bytes += st.st_size;
  return 0;
}

/* Hive partitions: key=value folders between the base and the file. */
static int find_partitions(struct sl__source *s) {
  if (!s->base || s->n_files == 0) return 0;
  size_t bl = strlen(s->base);
  /* keys from the first file */
  const char *rel = s->files[0] + bl;
  char seg[512];
  for (const char *p = rel; *p;) {
    while (*p == '/')
      p++;
    const char *e = strchr(p, '/');
    if (!e) break;
    size_t n = (size_t)(e - p);
    if (n < sizeof seg) {
      memcpy(seg, p, n);
      seg[n] = 0;
      char *eq = strchr(seg, '=');
      if (eq && eq != seg && s->n_parts < 16) {
        *eq = 0;
        s->part_names[s->n_parts] = sl_strdup(seg);
        if (!s->part_names[s->n_parts]) return SL_ENOMEM;
        s->n_parts++;
      }
    }
    p = e;
  }
  if (!s->n_parts) return 0;
  s->part_values = sl_calloc((size_t)s->n_files * (size_t)s->n_parts,
                             sizeof *s->part_values);
  if (!s->part_values) return SL_ENOMEM;
  for (int32_t k = 0; k < s->n_parts; k++)
    s->part_int[k] = true;
  for (int32_t f = 0; f < s->n_files; f++) {
    for (int32_t k = 0; k < s->n_parts; k++) {
      char needle[600];
      snprintf(needle, sizeof needle, "/%s=", s->part_names[k]);
      const char *hit = strstr(s->files[f] + bl, needle);
      if (!hit) {
        s->part_int[k] = false;
        continue;
      }
      hit += strlen(needle);
      const char *e = strchr(hit, '/');
      size_t n = e ? (size_t)(e - hit) : strlen(hit);
      char *v = sl_strndup(hit, n);
      if (!v) return SL_ENOMEM;
      s->part_values[(size_t)f * (size_t)s->n_parts + (size_t)k] = v;
      char *end;
      (void)strtoll(v, &end, 10);
      if (!*v || *end) s->part_int[k] = false;
    }
  }
  return 0;
}

/* DuckDB type names in read_json(columns => ...) -> sluice type names. */
static const char *map_type(const char *t) {
  static const struct {
    const char *from, *to;
  } m[] = {{"varchar", "utf8"},
           {"text", "utf8"},
           {"string", "utf8"},
           {"json", "utf8"},
           {"bigint", "int64"},
           {"integer", "int64"},
           {"int", "int64"},
           {"smallint", "int64"},
           {"tinyint", "int64"},
           {"ubigint", "int64"},
           {"uinteger", "int64"},
           {"hugeint", "int64"},
           {"double", "float64"},
           {"float", "float64"},
           {"real", "float64"},
           {"boolean", "bool"},
           {"bool", "bool"},
           {"timestamp", "timestamp[us]"},
           {"timestamptz", "timestamp[us]"},
           {"timestamp with time zone", "timestamp[us]"},
           {"timestamp_ms", "timestamp[ms]"},
           {"date", "date32"},
           {"varchar[]", "list<utf8>"},
           {"bigint[]", "list<int64>"}};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
    if (!strcasecmp(t, m[i].from)) return m[i].to;
  return t;
}

/* DuckDB nested types -> sluice: "STRUCT(a VARCHAR, b BIGINT)" ->
 * "struct<a: utf8, b: int64>", "VARCHAR[]" -> "list<utf8>". Writes into
 * out; false when it does not fit or does not parse. */
static bool convert_type(const char *t, size_t n, char *out, size_t cap,
                         int depth) {
  while (n && t[0] == ' ')
    t++, n--;
  while (n && t[n - 1] == ' ')
    n--;
  if (depth > 16 || cap < 2) return false;
  if (n > 2 && t[n - 2] == '[' && t[n - 1] == ']') {
    char inner[512];
    if (!convert_type(t, n - 2, inner, sizeof inner, depth + 1)) return false;
    return (size_t)snprintf(out, cap, "list<%s>", inner) < cap;
  }
  if (n > 7 && !strncasecmp(t, "struct(", 7) && t[n - 1] == ')') {
    size_t m = (size_t)snprintf(out, cap, "struct<");
    const char *p = t + 7, *end = t + n - 1;
    bool first = true;
    while (p < end && m < cap) {
      const char *q = p;
      int d = 0;
      while (q < end && !(d == 0 && *q == ',')) {
        d += *q == '(' ? 1 : *q == ')' ? -1 : 0;
        q++;
      }
      while (p < q && *p == ' ')
        p++;
      const char *sp = p;
      while (sp < q && *sp != ' ')
        sp++;
      if (sp == q) return false;
      char inner[512];
      if (!convert_type(sp, (size_t)(q - sp), inner, sizeof inner, depth + 1))
        return false;
      m += (size_t)snprintf(out + m, cap - m, "%s%.*s: %s", first ? "" : ", ",
                            (int)(sp - p), p, inner);
      first = false;
      p = q < end ? q + 1 : q;
    }
    if (m + 2 > cap) return false;
    out[m++] = '>';
    out[m] = 0;
    return true;
  }
  char one[128];
  if (n >= sizeof one) return false;
  memcpy(one, t, n);
  one[n] = 0;
  return (size_t)snprintf(out, cap, "%s", map_type(one)) < cap;
}

static int explicit_schema(struct sl__source *s, const char *cols,
                           struct sl_error *err) {
  /* cols: name \x1f type, separated by \x1e (from the parser) */
  size_t cap = strlen(cols) * 4 + 1024;
  char *text = sl_malloc(cap);
  if (!text) return SL_ENOMEM;
  size_t m = 0;
  const char *p = cols;
  while (*p) {
    const char *us = strchr(p, '\x1f');
    if (!us) break;
    const char *rs = strchr(us, '\x1e');
    size_t tl = rs ? (size_t)(rs - us - 1) : strlen(us + 1);
    char type[1024];
    if (!convert_type(us + 1, tl, type, sizeof type, 0))
      snprintf(type, sizeof type, "%.*s", (int)(tl < 1000 ? tl : 1000), us + 1);
    int w = snprintf(text + m, cap - m, "%s%.*s: %s", m ? ", " : "",
                     (int)(us - p), p, type);
    if (w < 0 || (size_t)w >= cap - m) break;
    m += (size_t)w;
    p = rs ? rs + 1 : us + 1 + tl;
  }
  int rc = sl_json_parse_schema(text, &s->schema, err);
  if (rc) sl_error_prefix(err, "read_json columns: ");
  sl_free(text);
  return rc;
}

/* stdin is read in bounded memory: a prefix to learn the schema from (the
 * inference sample plus one byte, so the sample ends at the same line
 * boundary as it would in a file), kept for the reader, which parses it and
 * then the rest of fd 0 chunk by chunk. */
enum { STDIN_CHUNK = 8 << 20 };

/* Reads fd 0 until buf is full or stdin ends (a pipe hands out at most its
 * buffer per read()). */
static int read_fd0(char *buf, size_t cap, size_t *got, bool *eof,
                    struct sl_error *err) {
  size_t n = 0;
  while (n < cap) {
    ssize_t r = read(0, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return sl_error_set(err, SL_EIO, "reading stdin failed: %s",
                          strerror(errno));
    }
    if (r == 0) {
      *eof = true;
      break;
    }
    n += (size_t)r;
  }
  *got = n;
  return 0;
}

/* The prefix grows past `want` while it holds no '\n' (a first line longer
 * than the sample), up to max_line bytes, so the schema is learnt from at
 * least one whole line. */
static int read_stdin_prefix(struct sl__source *s, size_t want, size_t max_line,
                             struct sl_error *err) {
  s->total_bytes = 0; /* unknown: progress shows bytes read so far */
  size_t cap = want ? want : 1;
  for (;;) {
    char *b = sl_realloc(s->stdin_buf, cap);
    if (!b) return sl_error_set(err, SL_ENOMEM, "out of memory reading stdin");
    s->stdin_buf = b;
    size_t got = 0;
    SL_RETURN_NOT_OK(read_fd0(b + s->stdin_len, cap - s->stdin_len, &got,
                              &s->stdin_eof, err));
    s->stdin_len += got;
    if (s->stdin_eof || cap > max_line || memchr(b, '\n', s->stdin_len))
      return 0;
    cap *= 2;
  }
}

static int add_partition_fields(struct sl__source *s) {
  for (int32_t k = 0; k < s->n_parts; k++) {
    if (sl_schema_find(&s->schema, s->part_names[k]) >= 0) continue;
    struct sl_field f;
    SL_RETURN_NOT_OK(
        sl_field_init(&f, s->part_names[k],
                      s->part_int[k] ? SL_TYPE_INT64 : SL_TYPE_UTF8, true));
    int rc = sl_schema_add_field(&s->schema, &f);
    sl_field_release(&f);
    SL_RETURN_NOT_OK(rc);
  }
  return 0;
}

int sl__source_open(const struct sl_from *from, bool has_from,
                    const struct sl_query_options *o, struct sl__source **out,
                    struct sl_error *err) {
  struct sl__source *s = sl_calloc(1, sizeof *s);
  if (!s) return SL_ENOMEM;
  sl_schema_init(&s->schema);
  s->opts = *o;
  int rc = 0;
  if (!has_from) { /* SELECT 1 + 1: one row of no columns */
    s->kind = SRC_NONE;
    *out = s;
    return 0;
  }
  if (from->kind == FROM_NAME) {
    if (!strcmp(from->name, "stdin") || !strcmp(from->name, "-")) {
      s->kind = SRC_STDIN;
      if (!from->columns) { /* the prefix is read where the schema is learnt */
        struct sl_json_options jo;
        sl_json_options_init(&jo);
        SL_CHECK_GOTO(read_stdin_prefix(s, (size_t)jo.infer_sample_bytes + 1,
                                        (size_t)jo.max_line_bytes, err),
                      rc, fail);
      }
    } else if (o->open_table) {
      s->kind = SRC_TABLE;
      s->table = sl_strdup(from->name);
      struct sl_batch_reader *r;
      SL_CHECK_GOTO(
          o->open_table(o->open_table_ctx, from->name, NULL, 0, &r, err), rc,
          fail);
      rc = sl_schema_copy(&s->schema, r->schema(r));
      r->release(r);
      if (rc) goto fail;
      *out = s;
      return 0;
    } else {
      rc = sl__sql_error_at(err, SL_ENOENT, from->line, from->col,
                            "unknown table '%s'; name a file in quotes (FROM "
                            "'%s.jsonl') or stdin",
                            from->name, from->name);
      goto fail;
    }
  } else {
    bool force_json =
        from->kind == FROM_FUNC && !strncmp(from->name, "read_json", 9);
    bool force_pq =
        from->kind == FROM_FUNC && !strcmp(from->name, "read_parquet");
    if (from->kind == FROM_FUNC && !force_json && !force_pq &&
        strcmp(from->name, "read_ndjson")) {
      rc = sl__sql_error_at(
          err, SL_EINVAL, from->line, from->col,
          "unknown table function '%s' (use read_json or read_parquet)",
          from->name);
      goto fail;
    }
    SL_CHECK_GOTO(expand(s, from->path, err), rc, fail);
    SL_CHECK_GOTO(find_partitions(s), rc, fail);
    s->kind = force_pq || (!force_json && is_parquet_name(s->files[0]))
                  ? SRC_PARQUET
                  : SRC_JSON;
  }
  if (from->columns) {
    SL_CHECK_GOTO(explicit_schema(s, from->columns, err), rc, fail);
    s->explicit = true;
  } else if (s->kind == SRC_PARQUET) {
    struct sl_parquet_file *pf;
    SL_CHECK_GOTO(sl_parquet_file_open(s->files[0], &pf, err), rc, fail);
    rc = sl_schema_copy(&s->schema, sl_parquet_file_schema(pf));
    sl_parquet_file_close(pf);
    if (rc) goto fail;
  } else {
    struct sl_json_options jo;
    sl_json_options_init(&jo);
    jo.nested = SL_JSON_NESTED_FLATTEN;
    jo.infer_timestamps = true;
    jo.threads = 1;
    if (s->kind == SRC_STDIN) {
      rc = sl_json_infer_schema(s->stdin_buf, s->stdin_len, &jo, &s->schema,
                                err);
    } else {
      struct sl_batch_reader *r;
      rc = sl_json_open_file(s->files[0], &jo, &r, err);
      if (!rc) {
        rc = sl_schema_copy(&s->schema, r->schema(r));
        r->release(r);
      }
    }
    if (rc) {
      sl_error_prefix(err, "learning the schema of '%s': ",
                      s->kind == SRC_STDIN ? "stdin" : s->files[0]);
      goto fail;
    }
  }
  SL_CHECK_GOTO(add_partition_fields(s), rc, fail);
  *out = s;
  return 0;
fail:
  sl__source_free(s);
  return rc;
}

void sl__source_free(struct sl__source *s) {
  if (!s) return;
  for (int32_t i = 0; i < s->n_files; i++)
    sl_free(s->files[i]);
  sl_free(s->files);
  if (s->part_values)
    for (int64_t i = 0; i < (int64_t)s->n_files * s->n_parts; i++)
      sl_free(s->part_values[i]);
  sl_free(s->part_values);
  for (int32_t k = 0; k < s->n_parts; k++)
    sl_free(s->part_names[k]);
  sl_free(s->base);
  sl_free(s->table);
  sl_free(s->stdin_buf);
  sl_schema_release(&s->schema);
  sl_free(s);
}

int32_t sl__source_partition(const struct sl__source *s, const char *path) {
  for (int32_t k = 0; k < s->n_parts; k++)
    if (!strcmp(s->part_names[k], path)) return k;
  return -1;
}

static const struct sl_field *field_by_path(const struct sl_field *f, int32_t n,
                                            const char *path) {
  for (int32_t i = 0; i < n; i++)
    if (!strcmp(f[i].name, path)) return &f[i];
  for (int32_t i = 0; i < n; i++)
    if (!strcasecmp(f[i].name, path)) return &f[i];
  const char *dot = strchr(path, '.');
  while (dot) {
    size_t k = (size_t)(dot - path);
    for (int32_t i = 0; i < n; i++)
      if (f[i].type == SL_TYPE_STRUCT && strlen(f[i].name) == k &&
          !strncasecmp(f[i].name, path, k)) {
        const struct sl_field *c =
            field_by_path(f[i].children, f[i].n_children, dot + 1);
        if (c) return c;
      }
    dot = strchr(dot + 1, '.');
  }
  return NULL;
}

/* FROM-less queries read one row with no columns. */
struct one_row {
  struct sl__source *s;
  bool done;
};
static const struct sl_schema *one_row_schema(struct sl_batch_reader *r) {
  return &((struct one_row *)r->private_data)->s->schema;
}
static int one_row_next(struct sl_batch_reader *r, struct sl_batch **out,
                        struct sl_error *err) {
  struct one_row *o = r->private_data;
  *out = NULL;
  if (o->done) return 0;
  o->done = true;
  return sl_batch_make(&o->s->schema, NULL, 1, out, err);
}
static void one_row_release(struct sl_batch_reader *r) {
  sl_free(r->private_data);
  sl_free(r);
}
static int one_row_reader(struct sl__source *s, struct sl_batch_reader **out) {
  struct sl_batch_reader *r = sl_calloc(1, sizeof *r);
  struct one_row *o = sl_calloc(1, sizeof *o);
  if (!r || !o) {
    sl_free(r);
    sl_free(o);
    return SL_ENOMEM;
  }
  o->s = s;
  r->schema = one_row_schema;
  r->next = one_row_next;
  r->release = one_row_release;
  r->private_data = o;
  *out = r;
  return 0;
}

/* stdin as a stream: the kept prefix first, then STDIN_CHUNK bytes of fd 0
 * at a time, each parsed into batches before the next is read, so memory
 * stays bounded whatever the input size. Line numbers and byte offsets count
 * from the start of stdin; records may straddle chunks. */
struct stdin_reader {
  struct sl__source *s;
  struct sl_json_stream *st;
  struct sl_schema schema;
  char *chunk;
  bool prefix_pushed, ended;
};

static const struct sl_schema *stdin_schema(struct sl_batch_reader *r) {
  return &((struct stdin_reader *)r->private_data)->schema;
}

static int stdin_next(struct sl_batch_reader *r, struct sl_batch **out,
                      struct sl_error *err) {
  struct stdin_reader *sr = r->private_data;
  struct sl__source *s = sr->s;
  for (;;) {
    SL_RETURN_NOT_OK(sl_json_stream_next(sr->st, out, err));
    if (*out || sr->ended) return 0;
    size_t got = 0;
    bool eof = false;
    if (!sr->prefix_pushed) {
      sr->prefix_pushed = true;
      got = s->stdin_len;
      eof = s->stdin_eof;
      if (got)
        SL_RETURN_NOT_OK(sl_json_stream_push(sr->st, s->stdin_buf, got, err));
      sl_free(s->stdin_buf);
      s->stdin_buf = NULL;
      s->stdin_len = 0;
    } else {
      if (!sr->chunk) {
        sr->chunk = sl_malloc(STDIN_CHUNK);
        if (!sr->chunk)
          return sl_error_set(err, SL_ENOMEM, "out of memory reading stdin");
      }
      SL_RETURN_NOT_OK(read_fd0(sr->chunk, STDIN_CHUNK, &got, &eof, err));
      if (got)
        SL_RETURN_NOT_OK(sl_json_stream_push(sr->st, sr->chunk, got, err));
    }
    if (eof) {
      sl_json_stream_end(sr->st);
      sr->ended = true;
    }
  }
}

static void stdin_release(struct sl_batch_reader *r) {
  struct stdin_reader *sr = r->private_data;
  sl_json_stream_free(sr->st);
  sl_schema_release(&sr->schema);
  sl_free(sr->chunk);
  sl_free(sr);
  sl_free(r);
}

static int stdin_reader(struct sl__source *s, const struct sl_schema *sch,
                        const struct sl_json_options *jo,
                        struct sl_batch_reader **out, struct sl_error *err) {
  if (s->stdin_opened)
    return sl_error_set(err, SL_EINVAL, "stdin can be read only once");
  s->stdin_opened = true;
  struct sl_batch_reader *r = sl_calloc(1, sizeof *r);
  struct stdin_reader *sr = sl_calloc(1, sizeof *sr);
  if (!r || !sr) {
    sl_free(r);
    sl_free(sr);
    return sl_error_set(err, SL_ENOMEM, "out of memory reading stdin");
  }
  sr->s = s;
  sl_schema_init(&sr->schema);
  r->schema = stdin_schema;
  r->next = stdin_next;
  r->release = stdin_release;
  r->private_data = sr;
  int rc = sl_schema_copy(&sr->schema, sch);
  if (rc)
    rc = sl_error_set(err, rc, "out of memory reading stdin");
  else
    rc = sl_json_stream_new(jo, &sr->st, err);
  if (rc) {
    stdin_release(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* WHERE conjuncts of the form `column op constant` (integers, doubles,
 * strings; no casts in between) become Parquet predicates, so row groups
 * whose statistics rule them out are never read. Returns the count. */
static int32_t collect_predicates(const struct sl_expr *e,
                                  const char *const *paths,
                                  struct sl_parquet_predicate *out,
                                  int32_t cap) {
  if (!e || cap <= 0) return 0;
  if (e->op == SL_X_AND) {
    int32_t k = collect_predicates(e->args[0], paths, out, cap);
    return k + collect_predicates(e->args[1], paths, out + k, cap - k);
  }
  if (e->op < SL_X_EQ || e->op > SL_X_GE || e->n_args != 2) return 0;
  const struct sl_expr *c = e->args[0], *v = e->args[1];
  bool flip = false;
  if (c->op == SL_X_CONST && v->op == SL_X_COL) {
    const struct sl_expr *t = c;
    c = v;
    v = t;
    flip = true;
  }
  if (c->op != SL_X_COL || v->op != SL_X_CONST || v->value.is_null ||
      c->type != v->type)
    return 0;
  static const enum sl_parquet_op ops[] = {SL_PQ_EQ, SL_PQ_NE, SL_PQ_LT,
                                           SL_PQ_LE, SL_PQ_GT, SL_PQ_GE};
  static const enum sl_parquet_op flipped[] = {SL_PQ_EQ, SL_PQ_NE, SL_PQ_GT,
                                               SL_PQ_GE, SL_PQ_LT, SL_PQ_LE};
  struct sl_parquet_predicate *p = out;
  memset(p, 0, sizeof *p);
  p->column = paths[c->col];
  p->op = (flip ? flipped : ops)[e->op - SL_X_EQ];
  switch (c->type) {
  case SL_VT_I64:
    p->kind = SL_PQ_INT;
    p->i = v->value.u.i;
    break;
  case SL_VT_F64:
    p->kind = SL_PQ_DOUBLE;
    p->d = v->value.u.f;
    break;
  case SL_VT_STR:
    p->kind = SL_PQ_STRING;
    p->s = v->value.u.s.p;
    p->s_len = v->value.u.s.n;
    break;
  default: return 0; /* timestamps: statistics are in the file's unit */
  }
  return 1;
}

int sl__source_json_schema(const struct sl__source *s, const char *const *paths,
                           int32_t n_paths, struct sl_schema *out) {
  sl_schema_init(out);
  int rc = 0;
  for (int32_t i = 0; i < n_paths; i++) {
    if (sl__source_partition(s, paths[i]) >= 0) continue;
    const struct sl_field *f =
        field_by_path(s->schema.fields, s->schema.n_fields, paths[i]);
    if (!f) continue;
    struct sl_field g;
    SL_CHECK_GOTO(sl_field_copy(&g, f), rc, fail);
    sl_free(g.name);
    g.name = sl_strdup(paths[i]);
    rc = g.name ? sl_schema_add_field(out, &g) : SL_ENOMEM;
    sl_field_release(&g);
    if (rc) goto fail;
  }
  return 0;
fail:
  sl_schema_release(out);
  return rc;
}

bool sl__source_plain_json(const struct sl__source *s) {
  if (s->kind != SRC_JSON) return false;
  for (int32_t i = 0; i < s->n_files; i++) {
    const char *f = s->files[i];
    struct stat st;
    if ((!s->explicit && is_parquet_name(f)) || has_suffix(f, ".gz") ||
        has_suffix(f, ".zst") || !strcmp(f, "-") || stat(f, &st) != 0 ||
        !S_ISREG(st.st_mode))
      return false;
  }
  return true;
}

int sl__source_reader(struct sl__source *s, int32_t file,
                      const char *const *paths, int32_t n_paths,
                      const struct sl_expr *where, struct sl_pool *pool,
                      struct sl_batch_reader **out, struct sl_error *err) {
  const char *cols[256];
  int32_t nc = 0;
  for (int32_t i = 0; i < n_paths && nc < 256; i++)
    if (sl__source_partition(s, paths[i]) < 0) cols[nc++] = paths[i];
  if (s->kind == SRC_NONE) return one_row_reader(s, out);
  if (s->kind == SRC_TABLE)
    return s->opts.open_table(s->opts.open_table_ctx, s->table, cols, nc, out,
                              err);
  const char *name = s->kind == SRC_STDIN ? "stdin" : s->files[file];
  bool parquet = s->kind == SRC_PARQUET ||
                 (s->kind == SRC_JSON && !s->explicit && is_parquet_name(name));
  if (parquet) {
    struct sl_parquet_read_options po;
    sl_parquet_read_options_init(&po);
    po.columns = cols;
    po.n_columns = nc;
    po.pool = pool;
    struct sl_parquet_predicate preds[16];
    int32_t np = collect_predicates(where, paths, preds, 16);
    for (int32_t i = 0; i < np;
         i++) /* Hive partition columns are not in the file */
      if (sl__source_partition(s, preds[i].column) >= 0)
        preds[i--] = preds[--np];
    po.predicates = preds;
    po.n_predicates = np;
    int rc = sl_parquet_open(name, &po, out, err);
    if (rc) sl_error_prefix(err, "reading '%s': ", name);
    return rc;
  }
  /* JSON: an explicit schema of exactly the columns the query reads */
  struct sl_schema sch;
  int rc = sl__source_json_schema(s, paths, n_paths, &sch);
  if (rc) return rc;
  struct sl_json_options jo;
  sl_json_options_init(&jo);
  jo.schema = &sch;
  jo.pool = pool;
  jo.bad_lines = s->opts.skip_bad_lines ? SL_JSON_BAD_SKIP : SL_JSON_BAD_FAIL;
  /* Small chunks keep the mapped window (threads x chunk) and the column
   * buffers small: same CPU time, a fraction of the memory. */
  jo.batch_rows = 65536;
  jo.chunk_bytes = 8 << 20;
  if (s->kind == SRC_STDIN) {
    /* pushes of STDIN_CHUNK bytes split into 1 MiB tasks for the pool */
    jo.chunk_bytes = 1 << 20;
    rc = stdin_reader(s, &sch, &jo, out, err);
  } else {
    rc = sl_json_open_file(name, &jo, out, err);
  }
  if (rc) sl_error_prefix(err, "reading '%s': ", name);
  sl_schema_release(&sch);
  return rc;
}

int sl__source_reader_stats(struct sl_batch_reader *r,
                            struct sl_json_stats *out) {
  if (r && r->next == stdin_next) {
    struct stdin_reader *sr = r->private_data;
    sl_json_stream_stats(sr->st, out);
    return 0;
  }
  return sl_json_reader_stats(r, out);
}
