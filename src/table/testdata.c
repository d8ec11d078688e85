/* Test data for the Python oracle tests (tests/py/test_arrow_oracle.py),
 * reached through ctypes on libsluice.so. Not used by the engine itself.
 *
 * The batches are built with sluice's own builders from value formulas that
 * the Python side re-implements with pyarrow, so that pyarrow is the
 * independent oracle for what sluice exports. Row values depend on the row's
 * global index g = base + i; the formulas are documented next to each
 * column and mirrored in tests/py/test_arrow_oracle.py. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/arrow_c.h"
#include "table/arrow_c_internal.h"

/* Shorthand for a field tree built in one expression. */
static struct sl_field leaf(const char *name, enum sl_type_id t) {
  struct sl_field f = {.name = (char *)name, .type = t, .nullable = true};
  return f;
}

static int add_field(struct sl_schema *s, const char *name, enum sl_type_id t,
                     const struct sl_field *children, int32_t n_children) {
  struct sl_field f = leaf(name, t);
  f.n_children = n_children;
  f.children = (struct sl_field *)children;
  return sl_schema_add_field(s, &f);
}

/* The string of row g (also used for list items): ASCII, 2-byte and 4-byte
 * UTF-8, and a few empty strings. */
static int row_string(int64_t g, char *buf, size_t cap) {
  if (g % 10 == 0) {
    buf[0] = '\0';
    return 0;
  }
  int n = snprintf(buf, cap, "row%" PRId64 "-\xc3\xa9", g);
  for (int64_t k = 0; k < g % 5; k++)
    buf[n++] = 'x';
  if (g % 11 == 0) {
    memcpy(buf + n, "\xf0\x9f\x98\x80", 4);
    n += 4;
  }
  buf[n] = '\0';
  return n;
}

#define TRY(expr)                                                              \
  do {                                                                         \
    int try_rc_ = (expr);                                                      \
    if (try_rc_) return try_rc_;                                               \
  } while (0)

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};

/* ---- flat batch: every primitive type ---------------------------------- */

static int make_flat_schema(struct sl_schema *s) {
  int rc = 0;
  sl_schema_init(s);
  static const struct {
    const char *name;
    enum sl_type_id t;
  } cols[] = {
      {"n", SL_TYPE_NULL},           {"b", SL_TYPE_BOOL},
      {"i32", SL_TYPE_INT32},        {"i64", SL_TYPE_INT64},
      {"f64", SL_TYPE_FLOAT64},      {"s", SL_TYPE_UTF8},
      {"ls", SL_TYPE_LARGE_UTF8},    {"tms", SL_TYPE_TIMESTAMP_MS},
      {"tus", SL_TYPE_TIMESTAMP_US}, {"d32", SL_TYPE_DATE32},
      {"dict", SL_TYPE_DICT_UTF8},
  };
  for (size_t i = 0; i < sizeof cols / sizeof cols[0] && !rc; i++)
    rc = add_field(s, cols[i].name, cols[i].t, NULL, 0);
  if (!rc) rc = sl_schema_add_metadata(s, "source", "sluice-testdata");
  return rc;
}

static int append_flat_row(struct sl_builder *b, int64_t g) {
  char str[64];
  /* n */
  TRY(sl_builder_append_null(&b[0]));
  /* b: null when g%3==0, else g%2==0 */
  TRY(g % 3 == 0 ? sl_builder_append_null(&b[1])
                 : sl_builder_append_bool(&b[1], g % 2 == 0));
  /* i32: null when g%5==0; g==1 -> INT32_MIN, g==2 -> INT32_MAX; else 7g-300 */
  TRY(g % 5 == 0 ? sl_builder_append_null(&b[2])
      : g == 1   ? sl_builder_append_int(&b[2], INT32_MIN)
      : g == 2   ? sl_builder_append_int(&b[2], INT32_MAX)
                 : sl_builder_append_int(&b[2], 7 * g - 300));
  /* i64: null when g%4==1; g==2 -> INT64_MIN, g==3 -> INT64_MAX;
   * else g*1000000007 - 50000000000 */
  TRY(g % 4 == 1 ? sl_builder_append_null(&b[3])
      : g == 2   ? sl_builder_append_int(&b[3], INT64_MIN)
      : g == 3   ? sl_builder_append_int(&b[3], INT64_MAX)
                 : sl_builder_append_int(&b[3], g * 1000000007 - 50000000000));
  /* f64: null when g%6==2; g==5 -> +inf; else g*0.25 - 7.5 */
  TRY(g % 6 == 2 ? sl_builder_append_null(&b[4])
      : g == 5   ? sl_builder_append_double(&b[4], 1.0 / 0.0)
                 : sl_builder_append_double(&b[4], (double)g * 0.25 - 7.5));
  /* s: null when g%7==3; else row_string(g) */
  int n = row_string(g, str, sizeof str);
  TRY(g % 7 == 3 ? sl_builder_append_null(&b[5])
                 : sl_builder_append_str(&b[5], str, n));
  /* ls: null when g%8==1; else row_string(g) */
  TRY(g % 8 == 1 ? sl_builder_append_null(&b[6])
                 : sl_builder_append_str(&b[6], str, n));
  /* tms: null when g%9==4; else 1700000000000 + g*1234567 */
  TRY(g % 9 == 4 ? sl_builder_append_null(&b[7])
                 : sl_builder_append_int(&b[7], 1700000000000 + g * 1234567));
  /* tus: null when g%9==5; else 1700000000000000 + g*987654321 */
  TRY(g % 9 == 5
          ? sl_builder_append_null(&b[8])
          : sl_builder_append_int(&b[8], 1700000000000000 + g * 987654321));
  /* d32: null when g%10==7; g==0 -> -1; else 18950 + g */
  TRY(g % 10 == 7 ? sl_builder_append_null(&b[9])
      : g == 0    ? sl_builder_append_int(&b[9], -1)
                  : sl_builder_append_int(&b[9], 18950 + g));
  /* dict: null when g%6==5; else methods[g%4] */
  const char *m = methods[g % 4];
  TRY(g % 6 == 5 ? sl_builder_append_null(&b[10])
                 : sl_builder_append_str(&b[10], m, (int64_t)strlen(m)));
  return 0;
}

/* ---- nested batch ------------------------------------------------------ */

static int make_nested_schema(struct sl_schema *s) {
  sl_schema_init(s);
  struct sl_field item_i64 = leaf("item", SL_TYPE_INT64);
  struct sl_field item_str = leaf("item", SL_TYPE_UTF8);
  struct sl_field geo[3] = {leaf("city", SL_TYPE_UTF8),
                            leaf("lat", SL_TYPE_FLOAT64),
                            leaf("zip", SL_TYPE_INT32)};
  struct sl_field ab[2] = {leaf("a", SL_TYPE_INT64), leaf("b", SL_TYPE_UTF8)};
  struct sl_field item_ab = leaf("item", SL_TYPE_STRUCT);
  item_ab.n_children = 2;
  item_ab.children = ab;
  struct sl_field x = leaf("x", SL_TYPE_INT32);
  struct sl_field deep[2] = {leaf("tags", SL_TYPE_LIST),
                             leaf("inner", SL_TYPE_STRUCT)};
  deep[0].n_children = 1;
  deep[0].children = &item_str;
  deep[1].n_children = 1;
  deep[1].children = &x;
  int rc = add_field(s, "li", SL_TYPE_LIST, &item_i64, 1);
  if (!rc) rc = add_field(s, "lstr", SL_TYPE_LIST, &item_str, 1);
  if (!rc) rc = add_field(s, "geo", SL_TYPE_STRUCT, geo, 3);
  if (!rc) rc = add_field(s, "lst", SL_TYPE_LIST, &item_ab, 1);
  if (!rc) rc = add_field(s, "deep", SL_TYPE_STRUCT, deep, 2);
  return rc;
}

static int append_nested_row(struct sl_builder *b, int64_t g) {
  char str[64];
  /* li: null when g%5==0; [] when g%5==1; else items j in [0, g%4]:
   * null when (g+j)%3==0, else 10g+j */
  if (g % 5 == 0) {
    TRY(sl_builder_append_null(&b[0]));
  } else {
    int64_t k = g % 5 == 1 ? 0 : g % 4 + 1;
    for (int64_t j = 0; j < k; j++)
      TRY((g + j) % 3 == 0
              ? sl_builder_append_null(&b[0].children[0])
              : sl_builder_append_int(&b[0].children[0], 10 * g + j));
    TRY(sl_builder_list_end(&b[0]));
  }
  /* lstr: null when g%6==0; else items j in [0, g%4): null when j==2,
   * else "t<g>_<j>" */
  if (g % 6 == 0) {
    TRY(sl_builder_append_null(&b[1]));
  } else {
    for (int64_t j = 0; j < g % 4; j++) {
      int n = snprintf(str, sizeof str, "t%" PRId64 "_%" PRId64, g, j);
      TRY(j == 2 ? sl_builder_append_null(&b[1].children[0])
                 : sl_builder_append_str(&b[1].children[0], str, n));
    }
    TRY(sl_builder_list_end(&b[1]));
  }
  /* geo: null when g%7==0; else {city: null when g%5==2 else "c<g%13>",
   * lat: 0.5g, zip: null when g%4==3 else 10000+g} */
  if (g % 7 == 0) {
    TRY(sl_builder_append_null(&b[2]));
  } else {
    struct sl_builder *c = b[2].children;
    int n = snprintf(str, sizeof str, "c%" PRId64, g % 13);
    TRY(g % 5 == 2 ? sl_builder_append_null(&c[0])
                   : sl_builder_append_str(&c[0], str, n));
    TRY(sl_builder_append_double(&c[1], 0.5 * (double)g));
    TRY(g % 4 == 3 ? sl_builder_append_null(&c[2])
                   : sl_builder_append_int(&c[2], 10000 + g));
    TRY(sl_builder_struct_end(&b[2]));
  }
  /* lst: null when g%4==0; else items j in [0, g%3): {a: g+j, b: null when
   * j odd else "b<j>"} */
  if (g % 4 == 0) {
    TRY(sl_builder_append_null(&b[3]));
  } else {
    struct sl_builder *it = &b[3].children[0];
    for (int64_t j = 0; j < g % 3; j++) {
      int n = snprintf(str, sizeof str, "b%" PRId64, j);
      TRY(sl_builder_append_int(&it->children[0], g + j));
      TRY(j % 2 ? sl_builder_append_null(&it->children[1])
                : sl_builder_append_str(&it->children[1], str, n));
      TRY(sl_builder_struct_end(it));
    }
    TRY(sl_builder_list_end(&b[3]));
  }
  /* deep: null when g%9==1; else {tags: null when g%5==0 else
   * ["g0".."g<g%3-1>"], inner: null when g%4==2 else {x: g}} */
  if (g % 9 == 1) {
    TRY(sl_builder_append_null(&b[4]));
  } else {
    struct sl_builder *c = b[4].children;
    if (g % 5 == 0) {
      TRY(sl_builder_append_null(&c[0]));
    } else {
      for (int64_t k = 0; k < g % 3; k++) {
        int n = snprintf(str, sizeof str, "g%" PRId64, k);
        TRY(sl_builder_append_str(&c[0].children[0], str, n));
      }
      TRY(sl_builder_list_end(&c[0]));
    }
    if (g % 4 == 2) {
      TRY(sl_builder_append_null(&c[1]));
    } else {
      TRY(sl_builder_append_int(&c[1].children[0], g));
      TRY(sl_builder_struct_end(&c[1]));
    }
    TRY(sl_builder_struct_end(&b[4]));
  }
  return 0;
}

/* ---- batches ----------------------------------------------------------- */

/* kind 0: flat, 1: nested, 2: both (flat columns then nested ones). Rows
 * [base, base+n); then sliced to [offset, offset+length) when offset >= 0. */
int sl_testdata_batch(int kind, int64_t base, int64_t n, int64_t offset,
                      int64_t length, struct sl_batch **out,
                      struct sl_error *err) {
  *out = NULL;
  struct sl_schema flat, nested, s;
  sl_schema_init(&flat);
  sl_schema_init(&nested);
  sl_schema_init(&s);
  int rc = make_flat_schema(&flat);
  if (!rc) rc = make_nested_schema(&nested);
  if (!rc && kind != 1) rc = sl_schema_copy(&s, &flat);
  for (int32_t i = 0; !rc && kind != 0 && i < nested.n_fields; i++)
    rc = sl_schema_add_field(&s, &nested.fields[i]);
  sl_schema_release(&flat);
  sl_schema_release(&nested);
  int32_t nf = s.n_fields;
  struct sl_builder *b = rc ? NULL : sl_calloc((size_t)nf, sizeof *b);
  struct sl_array **cols = rc ? NULL : sl_calloc((size_t)nf, sizeof *cols);
  struct sl_batch *full = NULL;
  int32_t n_init = 0;
  if (!rc && (!b || !cols)) rc = SL_ENOMEM;
  for (; !rc && n_init < nf; n_init++)
    rc = sl_builder_init(&b[n_init], &s.fields[n_init]);
  int32_t n_flat = kind == 1 ? 0 : 11;
  for (int64_t i = 0; !rc && i < n; i++) {
    if (kind != 1) rc = append_flat_row(b, base + i);
    if (!rc && kind != 0) rc = append_nested_row(b + n_flat, base + i);
  }
  for (int32_t i = 0; !rc && i < nf; i++)
    rc = sl_builder_finish(&b[i], &cols[i]);
  if (rc) {
    sl_error_set(err, rc, "testdata: building batch kind %d failed (%s)", kind,
                 sl_status_name(rc));
    for (int32_t i = 0; cols && i < nf; i++)
      sl_array_release(cols[i]);
  } else {
    rc = sl_batch_make(&s, cols, n, &full, err);
  }
  for (int32_t i = 0; i < n_init; i++)
    sl_builder_release(&b[i]);
  sl_free(b);
  sl_free(cols);
  sl_schema_release(&s);
  if (rc) return rc;
  if (offset < 0) {
    *out = full;
    return 0;
  }
  rc = sl_batch_slice(full, offset, length, out, err);
  sl_batch_free(full);
  return rc;
}

static void copy_error(const struct sl_error *e, char *errbuf, size_t errcap) {
  if (errbuf && errcap) snprintf(errbuf, errcap, "%s", e->msg);
}

int sl_testdata_make_batch(int kind, int64_t base, int64_t n, int64_t offset,
                           int64_t length, struct ArrowArray *out,
                           struct ArrowSchema *out_schema, char *errbuf,
                           size_t errcap) {
  struct sl_error err = {0};
  struct sl_batch *b = NULL;
  int rc = sl_testdata_batch(kind, base, n, offset, length, &b, &err);
  if (!rc) rc = sl_batch_validate(b, &err);
  if (!rc) rc = sl_export_batch(b, out, out_schema, &err);
  sl_batch_free(b);
  if (rc) copy_error(&err, errbuf, errcap);
  return rc;
}

/* Imports a batch (which validates it) and exports it again. */
int sl_testdata_roundtrip(struct ArrowArray *in, struct ArrowSchema *in_schema,
                          struct ArrowArray *out,
                          struct ArrowSchema *out_schema, char *errbuf,
                          size_t errcap) {
  struct sl_error err = {0};
  struct sl_batch *b = NULL;
  int rc = sl_import_batch(in, in_schema, &b, &err); /* validates */
  if (!rc) rc = sl_export_batch(b, out, out_schema, &err);
  sl_batch_free(b);
  if (rc) copy_error(&err, errbuf, errcap);
  return rc;
}

/* Imports a single array of the type described by `field` (not consumed). */
int sl_testdata_import_array(struct ArrowArray *in, struct ArrowSchema *field,
                             char *errbuf, size_t errcap) {
  struct sl_error err = {0};
  struct sl_field f;
  int rc = sl_import_field(field, &f, &err);
  if (rc) {
    if (in && in->release) in->release(in);
    copy_error(&err, errbuf, errcap);
    return rc;
  }
  struct sl_array *a = NULL;
  rc = sl_import_array(in, &f, &a, &err);
  sl_array_release(a);
  sl_field_release(&f);
  if (rc) copy_error(&err, errbuf, errcap);
  return rc;
}

/* The address of buffer `which` (0 validity, 1 data, 2 offsets) of column
 * `col` after import: the zero-copy check compares it with pyarrow's. */
int sl_testdata_import_address(struct ArrowArray *in,
                               struct ArrowSchema *schema, int32_t col,
                               int which, uint64_t *addr, char *errbuf,
                               size_t errcap) {
  struct sl_error err = {0};
  struct sl_batch *b = NULL;
  int rc = sl_import_batch(in, schema, &b, &err);
  *addr = 0;
  if (!rc && (col < 0 || col >= b->n_columns))
    rc = sl_error_set(&err, SL_ERANGE, "no column %" PRId32, col);
  if (!rc) {
    const struct sl_array *a = b->columns[col];
    const struct sl_buffer *buf = which == 0   ? a->validity
                                  : which == 1 ? a->data
                                               : a->offsets;
    *addr = buf ? (uint64_t)(uintptr_t)buf->data : 0;
  }
  sl_batch_free(b);
  if (rc) copy_error(&err, errbuf, errcap);
  return rc;
}

/* ---- streams ----------------------------------------------------------- */

struct gen_reader {
  struct sl_schema schema;
  int kind;
  int64_t rows, produced, total;
};

static const struct sl_schema *gen_schema(struct sl_batch_reader *r) {
  return &((struct gen_reader *)r->private_data)->schema;
}

static int gen_next(struct sl_batch_reader *r, struct sl_batch **out,
                    struct sl_error *err) {
  struct gen_reader *g = r->private_data;
  *out = NULL;
  if (g->produced >= g->total) return 0;
  /* Batch k holds rows [k*rows, (k+1)*rows) plus k extra, so sizes differ. */
  int64_t k = g->produced++;
  return sl_testdata_batch(g->kind, k * 1000, g->rows + k, -1, 0, out, err);
}

static void gen_release(struct sl_batch_reader *r) {
  struct gen_reader *g = r->private_data;
  sl_schema_release(&g->schema);
  sl_free(g);
  sl_free(r);
}

int sl_testdata_make_stream(int kind, int64_t n_batches, int64_t rows,
                            struct ArrowArrayStream *out, char *errbuf,
                            size_t errcap) {
  struct sl_error err = {0};
  struct sl_batch *probe = NULL;
  int rc = sl_testdata_batch(kind, 0, 0, -1, 0, &probe, &err);
  struct gen_reader *g = sl_calloc(1, sizeof *g);
  struct sl_batch_reader *r = sl_calloc(1, sizeof *r);
  if (!rc && (!g || !r)) rc = sl_error_set(&err, SL_ENOMEM, "out of memory");
  if (!rc) rc = sl_schema_copy(&g->schema, &probe->schema);
  sl_batch_free(probe);
  if (rc) {
    sl_free(g);
    sl_free(r);
    copy_error(&err, errbuf, errcap);
    return rc;
  }
  g->kind = kind;
  g->rows = rows;
  g->total = n_batches;
  r->schema = gen_schema;
  r->next = gen_next;
  r->release = gen_release;
  r->private_data = g;
  rc = sl_export_stream(r, out, &err);
  if (rc) copy_error(&err, errbuf, errcap);
  return rc;
}

/* Imports a stream as a reader and exports that reader as a new stream, so
 * every batch crosses import and export once more. */
int sl_testdata_stream_roundtrip(struct ArrowArrayStream *in,
                                 struct ArrowArrayStream *out, char *errbuf,
                                 size_t errcap) {
  struct sl_error err = {0};
  struct sl_batch_reader *r = NULL;
  int rc = sl_import_stream(in, &r, &err);
  if (!rc) rc = sl_export_stream(r, out, &err);
  if (rc) copy_error(&err, errbuf, errcap);
  return rc;
}

/* Imports a stream and counts its batches and rows, validating each. */
int sl_testdata_consume_stream(struct ArrowArrayStream *in, int64_t *batches,
                               int64_t *rows, char *errbuf, size_t errcap) {
  struct sl_error err = {0};
  struct sl_batch_reader *r = NULL;
  *batches = *rows = 0;
  int rc = sl_import_stream(in, &r, &err);
  while (!rc) {
    struct sl_batch *b = NULL;
    rc = r->next(r, &b, &err);
    if (rc || !b) break;
    rc = sl_batch_validate(b, &err);
    (*batches)++;
    *rows += b->length;
    sl_batch_free(b);
  }
  if (r) r->release(r);
  if (rc) copy_error(&err, errbuf, errcap);
  return rc;
}
