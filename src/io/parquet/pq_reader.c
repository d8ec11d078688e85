/* The Parquet reader: file and footer, projection, row-group skipping by
 * statistics, and the batch reader, which decodes row groups in windows
 * (pq_rowgroups.c) and hands them out as batches. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/parquet/pq.h"
#include "sluice/parquet.h"
#include "sluice/thread_pool.h"

void sl_parquet_read_options_init(struct sl_parquet_read_options *o) {
  memset(o, 0, sizeof *o);
  o->batch_rows = 65536;
  o->max_page_bytes = (int64_t)1 << 30;
  o->max_chunk_values = (int64_t)1 << 30;
}

void sl_parquet_file_close(struct sl_parquet_file *f) {
  if (!f) return;
  if (f->map) munmap(f->map, f->size);
  sl_arena_release(&f->arena);
  sl_schema_release(&f->schema);
  sl_free(f->leaves);
  sl_free(f->leaf_first);
  sl_free(f->leaf_count);
  sl_free(f->name);
  sl_free(f);
}

static int32_t count_leaves(const struct sl_field *f) {
  if (f->type == SL_TYPE_STRUCT) {
    int32_t n = 0;
    for (int32_t i = 0; i < f->n_children; i++)
      n += count_leaves(&f->children[i]);
    return n;
  }
  if (f->type == SL_TYPE_LIST) return count_leaves(&f->children[0]);
  return 1;
}

static int open_footer(struct sl_parquet_file *f, struct sl_error *err) {
  const uint8_t *d = f->data;
  size_t n = f->size;
  if (n < 12)
    return sl_error_set(err, SL_EINVAL,
                        "file of %zu bytes is too short for Parquet (needs the "
                        "4-byte magic at both ends and a footer)",
                        n);
  if (memcmp(d + n - 4, "PARE", 4) == 0)
    return sl_error_set(err, SL_ENOTSUP,
                        "encrypted Parquet files are not supported");
  if (memcmp(d, "PAR1", 4) != 0 || memcmp(d + n - 4, "PAR1", 4) != 0)
    return sl_error_set(
        err, SL_EINVAL,
        "not a Parquet file: expected magic 'PAR1' at the start "
        "and end, found %02x%02x%02x%02x / %02x%02x%02x%02x",
        d[0], d[1], d[2], d[3], d[n - 4], d[n - 3], d[n - 2], d[n - 1]);
  uint32_t flen = pq_get_u32le(d + n - 8);
  if (flen == 0 || flen > n - 12)
    return sl_error_set(err, SL_EINVAL,
                        "footer length %u does not fit in a file of %zu bytes "
                        "(truncated file?)",
                        flen, n);
  sl_arena_init(&f->arena, 64 * 1024);
  int rc = pq_meta_decode(d + n - 8 - flen, flen, &f->arena, &f->meta, err);
  if (rc) return rc;
  const struct pq_file_meta *m = &f->meta;
  if (m->schema[0].type >= 0 && m->schema[0].num_children == 0)
    return sl_error_set(err, SL_EINVAL, "schema root is not a group");
  rc = pq_schema_decode(m, &f->schema, &f->leaves, &f->n_leaves, err);
  if (rc) return rc;
  int32_t nf = f->schema.n_fields;
  f->leaf_first = sl_calloc((size_t)(nf ? nf : 1), sizeof *f->leaf_first);
  f->leaf_count = sl_calloc((size_t)(nf ? nf : 1), sizeof *f->leaf_count);
  if (!f->leaf_first || !f->leaf_count)
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  int32_t at = 0;
  for (int32_t i = 0; i < nf; i++) {
    f->leaf_first[i] = at;
    f->leaf_count[i] = count_leaves(&f->schema.fields[i]);
    at += f->leaf_count[i];
  }
  if (at != f->n_leaves)
    return sl_error_set(err, SL_EINVAL, "schema leaves do not add up");
  int64_t total = 0;
  for (int32_t g = 0; g < m->n_row_groups; g++) {
    const struct pq_row_group *rg = &m->row_groups[g];
    if (rg->num_rows < 0 || __builtin_add_overflow(total, rg->num_rows, &total))
      return sl_error_set(err, SL_EINVAL,
                          "row group %d: row count %lld is invalid", g,
                          (long long)rg->num_rows);
    if (rg->n_columns != f->n_leaves)
      return sl_error_set(err, SL_EINVAL,
                          "row group %d has %d column chunks, the schema %d "
                          "columns",
                          g, rg->n_columns, f->n_leaves);
    if (rg->num_rows < 0)
      return sl_error_set(err, SL_EINVAL, "row group %d has %lld rows", g,
                          (long long)rg->num_rows);
  }
  return 0;
}

int sl_parquet_file_open_memory(const void *data, size_t size, const char *name,
                                struct sl_parquet_file **out,
                                struct sl_error *err) {
  *out = NULL;
  struct sl_parquet_file *f = sl_calloc(1, sizeof *f);
  if (!f) return sl_error_set(err, SL_ENOMEM, "out of memory");
  f->name = sl_strdup(name ? name : "<memory>");
  f->data = data;
  f->size = size;
  int rc = f->name ? open_footer(f, err) : SL_ENOMEM;
  if (rc) {
    sl_error_prefix(err, "reading '%s': ", name ? name : "<memory>");
    sl_parquet_file_close(f);
    return rc;
  }
  *out = f;
  return 0;
}

int sl_parquet_file_open(const char *path, struct sl_parquet_file **out,
                         struct sl_error *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return sl_error_set(err, errno == ENOENT ? SL_ENOENT : SL_EIO,
                        "cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return sl_error_set(err, SL_EIO, "'%s' is not a regular file", path);
  }
  size_t size = (size_t)st.st_size;
  void *map = NULL;
  if (size > 0) {
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      close(fd);
      return sl_error_set(err, SL_EIO, "cannot map '%s': %s", path,
                          strerror(errno));
    }
  }
  close(fd);
  static const uint8_t empty[1];
  struct sl_parquet_file *f;
  int rc = sl_parquet_file_open_memory(map ? map : empty, size, path, &f, err);
  if (rc) {
    if (map) munmap(map, size);
    return rc;
  }
  f->map = map;
  *out = f;
  return 0;
}

const struct sl_schema *
sl_parquet_file_schema(const struct sl_parquet_file *f) {
  return &f->schema;
}
int64_t sl_parquet_file_num_rows(const struct sl_parquet_file *f) {
  return f->meta.num_rows;
}
int32_t sl_parquet_file_num_row_groups(const struct sl_parquet_file *f) {
  return f->meta.n_row_groups;
}
int64_t sl_parquet_file_row_group_rows(const struct sl_parquet_file *f,
                                       int32_t g) {
  return g >= 0 && g < f->meta.n_row_groups ? f->meta.row_groups[g].num_rows
                                            : -1;
}
const char *sl_parquet_file_created_by(const struct sl_parquet_file *f) {
  return f->meta.created_by;
}
int32_t sl_parquet_file_metadata_count(const struct sl_parquet_file *f) {
  return f->meta.n_kv;
}
void sl_parquet_file_metadata(const struct sl_parquet_file *f, int32_t i,
                              const char **key, const char **value) {
  *key = *value = NULL;
  if (i < 0 || i >= f->meta.n_kv) return;
  *key = f->meta.kv_keys[i];
  *value = f->meta.kv_values[i];
}

/* ---- projection -------------------------------------------------------- */

static void projection_release(struct pq_projection *p) {
  for (int32_t i = 0; i < p->n_cols; i++) {
    sl_field_release(&p->cols[i].field);
    sl_free(p->cols[i].leaves);
  }
  sl_free(p->cols);
  sl_free(p->leaves);
  sl_schema_release(&p->schema);
  memset(p, 0, sizeof *p);
}

/* Marks the leaves selected by one projection entry. */
static int select_path(const struct sl_parquet_file *f, const char *path,
                       bool *sel, struct sl_error *err) {
  int32_t top = sl_schema_find(&f->schema, path);
  if (top >= 0) {
    for (int32_t i = 0; i < f->leaf_count[top]; i++)
      sel[f->leaf_first[top] + i] = true;
    return 0;
  }
  const char *dot = strchr(path, '.');
  if (!dot)
    return sl_error_set(err, SL_ENOENT, "no column '%s' in the file", path);
  char name[256];
  size_t n = (size_t)(dot - path);
  if (n >= sizeof name)
    return sl_error_set(err, SL_ENOENT, "no column '%s'", path);
  memcpy(name, path, n);
  name[n] = '\0';
  top = sl_schema_find(&f->schema, name);
  if (top < 0)
    return sl_error_set(err, SL_ENOENT, "no column '%s' in the file", path);
  const struct sl_field *fld = &f->schema.fields[top];
  int32_t idx[PQ_MAX_DEPTH], depth = 0;
  const char *rest = dot + 1;
  while (*rest) {
    const char *d2 = strchr(rest, '.');
    size_t m = d2 ? (size_t)(d2 - rest) : strlen(rest);
    if (fld->type != SL_TYPE_STRUCT || depth >= PQ_MAX_DEPTH - 1)
      return sl_error_set(err, SL_ENOENT,
                          "column path '%s': '%.*s' is not inside a struct",
                          path, (int)m, rest);
    int32_t c = -1;
    for (int32_t i = 0; i < fld->n_children; i++)
      if (strlen(fld->children[i].name) == m &&
          memcmp(fld->children[i].name, rest, m) == 0)
        c = i;
    if (c < 0)
      return sl_error_set(err, SL_ENOENT, "column path '%s': no field '%.*s'",
                          path, (int)m, rest);
    idx[depth++] = c;
    fld = &fld->children[c];
    rest = d2 ? d2 + 1 : rest + m;
  }
  for (int32_t i = 0; i < f->leaf_count[top]; i++) {
    const struct pq_leaf *l = &f->leaves[f->leaf_first[top] + i];
    bool match = l->n_nodes > depth;
    for (int32_t k = 0; k < depth && match; k++)
      match = l->nodes[k].child == idx[k];
    if (match) sel[f->leaf_first[top] + i] = true;
  }
  return 0;
}

static bool any_sel(const bool *sel, int32_t first, int32_t n) {
  for (int32_t i = 0; i < n; i++)
    if (sel[first + i]) return true;
  return false;
}

/* Copies f keeping the selected leaves; remaps the struct child indices of
 * the leaf copies at this depth. */
static int prune(const struct sl_field *f, int32_t first, const bool *sel,
                 int depth, struct pq_leaf *copies, struct sl_field *out) {
  int rc = sl_field_init(out, f->name, f->type, f->nullable);
  if (rc) return rc;
  if (f->type == SL_TYPE_STRUCT) {
    int32_t at = first, kept = 0;
    for (int32_t c = 0; c < f->n_children && !rc; c++) {
      int32_t cnt = count_leaves(&f->children[c]);
      if (any_sel(sel, at, cnt)) {
        struct sl_field child;
        rc = prune(&f->children[c], at, sel, depth + 1, copies, &child);
        if (!rc) rc = sl_field_add_child(out, &child);
        sl_field_release(&child);
        for (int32_t i = 0; i < cnt; i++)
          copies[at + i].nodes[depth].child = kept;
        kept++;
      }
      at += cnt;
    }
  } else if (f->type == SL_TYPE_LIST) {
    struct sl_field child;
    rc = prune(&f->children[0], first, sel, depth + 1, copies, &child);
    if (!rc) rc = sl_field_add_child(out, &child);
    sl_field_release(&child);
  }
  if (rc) sl_field_release(out);
  return rc;
}

static int make_projection(const struct sl_parquet_file *f,
                           const struct sl_parquet_read_options *o,
                           struct pq_projection *p, struct sl_error *err) {
  memset(p, 0, sizeof *p);
  sl_schema_init(&p->schema);
  int32_t nl = f->n_leaves;
  bool *sel = sl_calloc((size_t)(nl ? nl : 1), sizeof *sel);
  p->leaves = sl_malloc((size_t)(nl ? nl : 1) * sizeof *p->leaves);
  p->cols = sl_calloc((size_t)(f->schema.n_fields ? f->schema.n_fields : 1),
                      sizeof *p->cols);
  int rc = 0;
  if (!sel || !p->leaves || !p->cols) {
    rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (nl) memcpy(p->leaves, f->leaves, (size_t)nl * sizeof *p->leaves);
  if (!o->columns) {
    for (int32_t i = 0; i < nl; i++)
      sel[i] = true;
  } else {
    for (int32_t i = 0; i < o->n_columns && !rc; i++)
      rc = select_path(f, o->columns[i], sel, err);
    if (rc) goto cleanup;
  }
  for (int32_t t = 0; t < f->schema.n_fields && !rc; t++) {
    int32_t first = f->leaf_first[t], cnt = f->leaf_count[t];
    if (!any_sel(sel, first, cnt)) continue;
    for (int32_t i = 0; i < cnt; i++)
      if (sel[first + i] && f->leaves[first + i].unsupported) {
        rc = sl_error_set(err, SL_ENOTSUP, "column '%s': %s",
                          f->schema.fields[t].name,
                          f->leaves[first + i].unsupported);
        goto cleanup;
      }
    struct pq_proj_col *pc = &p->cols[p->n_cols];
    pc->leaves = sl_malloc((size_t)cnt * sizeof *pc->leaves);
    if (!pc->leaves) {
      rc = sl_error_set(err, SL_ENOMEM, "out of memory");
      goto cleanup;
    }
    if ((rc = prune(&f->schema.fields[t], first, sel, 0, p->leaves,
                    &pc->field))) {
      sl_free(pc->leaves);
      pc->leaves = NULL;
      rc = sl_error_set(err, rc, "out of memory");
      goto cleanup;
    }
    p->n_cols++;
    for (int32_t i = 0; i < cnt; i++)
      if (sel[first + i]) pc->leaves[pc->n_leaves++] = first + i;
    if ((rc = sl_schema_add_field(&p->schema, &pc->field))) {
      rc = sl_error_set(err, rc, "out of memory");
      goto cleanup;
    }
  }
  for (int32_t i = 0; i < f->schema.n_metadata && !rc; i++)
    rc = sl_schema_add_metadata(&p->schema, f->schema.metadata_keys[i],
                                f->schema.metadata_values[i]);
cleanup:
  sl_free(sel);
  if (rc) projection_release(p);
  return rc;
}

/* ---- statistics and predicates ----------------------------------------- */

struct statval {
  int kind; /* 0 int, 1 double, 2 string */
  int64_t i;
  double d;
  const uint8_t *s;
  int64_t n;
};

static bool stat_decode(const struct pq_leaf *l, const uint8_t *p, uint32_t n,
                        struct statval *v) {
  memset(v, 0, sizeof *v);
  switch (l->phys) {
  case PQ_BOOLEAN:
    if (n < 1) return false;
    v->i = p[0] != 0;
    return true;
  case PQ_INT32: {
    if (n != 4) return false;
    int32_t x;
    memcpy(&x, p, 4);
    v->i = l->conv == PQ_CONV_U32_TO_I64 ? (int64_t)(uint32_t)x : x;
    return true;
  }
  case PQ_INT64: {
    if (n != 8) return false;
    memcpy(&v->i, p, 8);
    if (l->conv == PQ_CONV_NANOS_TO_US) v->i = v->i / 1000 - (v->i % 1000 < 0);
    return true;
  }
  case PQ_FLOAT: {
    if (n != 4) return false;
    float x;
    memcpy(&x, p, 4);
    v->kind = 1;
    v->d = x;
    return !isnan(v->d);
  }
  case PQ_DOUBLE:
    if (n != 8) return false;
    v->kind = 1;
    memcpy(&v->d, p, 8);
    return !isnan(v->d);
  case PQ_BYTE_ARRAY:
    v->kind = 2;
    v->s = p;
    v->n = n;
    return true;
  default: return false;
  }
}

/* <0, 0, >0 comparing stat value a with predicate b; false when they do not
 * compare. */
static bool cmp(const struct statval *a, const struct sl_parquet_predicate *b,
                int *out) {
  if (a->kind == 2) {
    if (b->kind != SL_PQ_STRING || !b->s) return false;
    int64_t bn = b->s_len >= 0 ? b->s_len : (int64_t)strlen(b->s);
    int64_t m = a->n < bn ? a->n : bn;
    int c = m ? memcmp(a->s, b->s, (size_t)m) : 0;
    *out = c ? c : (a->n < bn ? -1 : a->n > bn);
    return true;
  }
  if (b->kind == SL_PQ_STRING) return false;
  if (a->kind == 0 && b->kind == SL_PQ_INT) {
    *out = a->i < b->i ? -1 : a->i > b->i;
    return true;
  }
  double x = a->kind == 0 ? (double)a->i : a->d;
  double y = b->kind == SL_PQ_INT ? (double)b->i : b->d;
  if (isnan(y)) return false;
  *out = x < y ? -1 : x > y;
  return true;
}

static int32_t find_leaf(const struct sl_parquet_file *f, const char *column) {
  bool *sel = sl_calloc((size_t)(f->n_leaves ? f->n_leaves : 1), 1);
  if (!sel) return -1;
  int32_t found = -1, count = 0;
  if (select_path(f, column, sel, NULL) == 0)
    for (int32_t i = 0; i < f->n_leaves; i++)
      if (sel[i]) {
        found = i;
        count++;
      }
  sl_free(sel);
  return count == 1 ? found : -1;
}

/* True when the statistics of row group g prove no row matches pr. */
static bool can_skip(const struct sl_parquet_file *f, int32_t g, int32_t leaf,
                     const struct sl_parquet_predicate *pr) {
  const struct pq_leaf *l = &f->leaves[leaf];
  if (l->max_rep > 0 || l->unsupported) return false;
  const struct pq_row_group *rg = &f->meta.row_groups[g];
  const struct pq_column_chunk *cc = &rg->columns[leaf];
  if (!cc->has_meta || !cc->meta.has_stats) return false;
  const struct pq_stats *s = &cc->meta.stats;
  if (s->has_null_count && s->null_count >= rg->num_rows && rg->num_rows > 0)
    return true; /* all null: no comparison holds */
  const uint8_t *mn = NULL, *mx = NULL;
  uint32_t mnl = 0, mxl = 0;
  if (s->has_min_value && s->has_max_value) {
    mn = s->min_value, mx = s->max_value, mnl = s->min_value_len,
    mxl = s->max_value_len;
  } else if (s->has_min && s->has_max && l->phys != PQ_BYTE_ARRAY &&
             l->phys != PQ_BOOLEAN) {
    mn = s->min, mx = s->max, mnl = s->min_len, mxl = s->max_len;
  } else {
    return false;
  }
  struct statval vmin, vmax;
  if (!stat_decode(l, mn, mnl, &vmin) || !stat_decode(l, mx, mxl, &vmax))
    return false;
  int cmin, cmax;
  if (!cmp(&vmin, pr, &cmin) || !cmp(&vmax, pr, &cmax)) return false;
  switch (pr->op) {
  case SL_PQ_EQ: return cmin > 0 || cmax < 0;
  case SL_PQ_NE: return cmin == 0 && cmax == 0 && vmin.kind != 1;
  case SL_PQ_LT: return cmin >= 0;
  case SL_PQ_LE: return cmin > 0;
  case SL_PQ_GT: return cmax <= 0;
  case SL_PQ_GE: return cmax < 0;
  }
  return false;
}

/* ---- batch reader ------------------------------------------------------ */

/* Row groups decoded together: enough (group, column) tasks to keep every
 * thread busy, within a memory budget. */
#define WINDOW_MAX 16
#define WINDOW_BYTES ((int64_t)512 << 20)

struct rdr {
  struct sl_parquet_file *f;
  bool own_file;
  struct sl_pool *own_pool;
  struct pq_projection p;
  struct sl_parquet_read_options o;
  int32_t *groups; /* row groups to read, in order */
  int32_t n_groups, next;
  int32_t skipped;
  struct sl_batch *cur;
  int64_t cur_off;
  struct sl_batch *ready[WINDOW_MAX]; /* decoded, not yet handed out */
  int32_t n_ready, ready_at;
  struct pq_read_scratch *scratch; /* one per pool worker */
  int32_t n_scratch;
};

static const struct sl_schema *rdr_schema(struct sl_batch_reader *r) {
  return &((struct rdr *)r->private_data)->p.schema;
}

/* Decodes the next window of non-empty row groups into d->ready. */
static int fill_window(struct rdr *d, struct sl_error *err) {
  int32_t win[WINDOW_MAX];
  int32_t n = 0;
  int64_t nc = d->p.n_cols > 0 ? d->p.n_cols : 1;
  int64_t threads = sl_pool_size(d->o.pool);
  int64_t want = (8 * threads + nc - 1) / nc, bytes = 0;
  if (want > WINDOW_MAX) want = WINDOW_MAX;
  while (d->next < d->n_groups && n < want) {
    int32_t g = d->groups[d->next];
    const struct pq_row_group *rg = &d->f->meta.row_groups[g];
    if (rg->num_rows == 0) {
      d->next++;
      continue;
    }
    int64_t b = rg->total_byte_size > 0 ? rg->total_byte_size : 0;
    if (n > 0 && bytes + b > WINDOW_BYTES) break;
    bytes += b;
    win[n++] = g;
    d->next++;
  }
  d->n_ready = d->ready_at = 0;
  if (n == 0) return 0;
  int rc =
      pq_read_window(d->f, &d->p, win, n, &d->o, d->scratch, d->ready, err);
  if (rc) return rc;
  d->n_ready = n;
  return 0;
}

static int rdr_next(struct sl_batch_reader *r, struct sl_batch **out,
                    struct sl_error *err) {
  struct rdr *d = r->private_data;
  *out = NULL;
  for (;;) {
    if (d->cur && d->cur_off < d->cur->length) {
      int64_t n = d->cur->length - d->cur_off;
      if (n > d->o.batch_rows) n = d->o.batch_rows;
      if (d->cur_off == 0 && n == d->cur->length) {
        *out = d->cur;
        d->cur = NULL;
        return 0;
      }
      int rc = sl_batch_slice(d->cur, d->cur_off, n, out, err);
      if (rc) return rc;
      d->cur_off += n;
      return 0;
    }
    sl_batch_free(d->cur);
    d->cur = NULL;
    d->cur_off = 0;
    if (d->ready_at >= d->n_ready) {
      int rc = fill_window(d, err);
      if (rc) return rc;
      if (d->n_ready == 0) return 0;
    }
    d->cur = d->ready[d->ready_at];
    d->ready[d->ready_at++] = NULL;
  }
}

static void rdr_release(struct sl_batch_reader *r) {
  if (!r) return;
  struct rdr *d = r->private_data;
  sl_batch_free(d->cur);
  for (int32_t i = d->ready_at; i < d->n_ready; i++)
    sl_batch_free(d->ready[i]);
  for (int32_t i = 0; i < d->n_scratch; i++)
    pq_read_scratch_release(&d->scratch[i]);
  sl_free(d->scratch);
  projection_release(&d->p);
  sl_free(d->groups);
  sl_pool_free(d->own_pool);
  sl_parquet_buffers_release(d->o.buffers);
  if (d->own_file) sl_parquet_file_close(d->f);
  sl_free(d);
  sl_free(r);
}

static int plan(struct sl_parquet_file *f,
                const struct sl_parquet_read_options *o, struct rdr *d,
                struct sl_error *err) {
  int rc = make_projection(f, o, &d->p, err);
  if (rc) return rc;
  int32_t ng = f->meta.n_row_groups;
  d->groups = sl_malloc((size_t)(ng ? ng : 1) * sizeof *d->groups);
  int32_t *pleaf = sl_malloc((size_t)(o->n_predicates ? o->n_predicates : 1) *
                             sizeof *pleaf);
  if (!d->groups || !pleaf) {
    sl_free(pleaf);
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  }
  for (int32_t i = 0; i < o->n_predicates; i++) {
    pleaf[i] =
        o->predicates[i].column ? find_leaf(f, o->predicates[i].column) : -1;
    if (pleaf[i] < 0 && o->predicates[i].column &&
        sl_schema_find(&f->schema, o->predicates[i].column) < 0 &&
        !strchr(o->predicates[i].column, '.')) {
      rc = sl_error_set(err, SL_ENOENT, "predicate on unknown column '%s'",
                        o->predicates[i].column);
      sl_free(pleaf);
      return rc;
    }
  }
  for (int32_t g = 0; g < ng; g++) {
    bool skip = false;
    for (int32_t i = 0; i < o->n_predicates && !skip; i++)
      if (pleaf[i] >= 0) skip = can_skip(f, g, pleaf[i], &o->predicates[i]);
    if (skip)
      d->skipped++;
    else
      d->groups[d->n_groups++] = g;
  }
  sl_free(pleaf);
  return 0;
}

#define OWN_POOL_BYTES ((int64_t)256 << 20)

int sl_parquet_file_reader(struct sl_parquet_file *f,
                           const struct sl_parquet_read_options *opts,
                           struct sl_batch_reader **out, struct sl_error *err) {
  *out = NULL;
  struct sl_parquet_read_options defaults;
  if (!opts) {
    sl_parquet_read_options_init(&defaults);
    opts = &defaults;
  }
  struct sl_batch_reader *r = sl_calloc(1, sizeof *r);
  struct rdr *d = sl_calloc(1, sizeof *d);
  if (!r || !d) {
    sl_free(r);
    sl_free(d);
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  }
  d->f = f;
  d->o = *opts;
  if (d->o.batch_rows <= 0) d->o.batch_rows = 65536;
  if (d->o.max_page_bytes <= 0) d->o.max_page_bytes = (int64_t)1 << 30;
  if (d->o.max_chunk_values <= 0) d->o.max_chunk_values = (int64_t)1 << 30;
  d->o.columns = NULL; /* borrowed pointers are not kept */
  d->o.predicates = NULL;
  r->private_data = d;
  r->schema = rdr_schema;
  r->next = rdr_next;
  r->release = rdr_release;
  int rc = 0;
  /* The reader holds a reference to the buffer pool (its own when none is
   * given, so that a consumer releasing batches as it goes recycles them). */
  d->o.buffers = NULL;
  if (opts->buffers)
    d->o.buffers = pq_pool_retain(opts->buffers);
  else
    rc = sl_parquet_buffers_create(OWN_POOL_BYTES, &d->o.buffers, err);
  if (!rc && !opts->pool && opts->threads != 1) {
    rc = sl_pool_create(opts->threads, &d->own_pool, err);
    d->o.pool = d->own_pool;
  }
  if (!rc) {
    int32_t ns = sl_pool_size(d->o.pool);
    d->scratch = sl_calloc((size_t)ns, sizeof *d->scratch);
    if (!d->scratch)
      rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    else
      d->n_scratch = ns;
  }
  if (!rc) rc = plan(f, opts, d, err);
  if (rc) {
    sl_error_prefix(err, "reading '%s': ", f->name);
    rdr_release(r);
    return rc;
  }
  *out = r;
  return 0;
}

int sl_parquet_open(const char *path,
                    const struct sl_parquet_read_options *opts,
                    struct sl_batch_reader **out, struct sl_error *err) {
  struct sl_parquet_file *f;
  int rc = sl_parquet_file_open(path, &f, err);
  if (rc) return rc;
  rc = sl_parquet_file_reader(f, opts, out, err);
  if (rc) {
    sl_parquet_file_close(f);
    return rc;
  }
  ((struct rdr *)(*out)->private_data)->own_file = true;
  return 0;
}

int32_t sl_parquet_reader_skipped(struct sl_batch_reader *r) {
  if (!r || r->next != rdr_next) return 0;
  return ((struct rdr *)r->private_data)->skipped;
}

int sl_parquet_read_file(const char *path,
                         const struct sl_parquet_read_options *opts,
                         struct sl_batch **out, struct sl_error *err) {
  *out = NULL;
  struct sl_batch_reader *r;
  int rc = sl_parquet_open(path, opts, &r, err);
  if (rc) return rc;
  struct rdr *d = r->private_data;
  rc = pq_read_groups(d->f, &d->p, d->groups, d->n_groups, &d->o, d->scratch,
                      out, err);
  rdr_release(r);
  return rc;
}
