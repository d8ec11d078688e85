/* Fuzz target: SQL text through the whole engine.
 *
 * The input is a query; it is parsed, bound and run against a small
 * in-memory table (FROM t) with strings, integers, doubles, booleans and
 * timestamps, NULLs included. Any outcome is fine except a crash, a
 * sanitizer report or a leak: bad SQL must come back as an error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/sql.h"
#include "sluice/table.h"

#define ROWS 300

static struct sl_batch *table;

static int build_table(void) {
  const char *names[] = {"s", "i", "f", "b", "ts", "g.c"};
  enum sl_type_id types[] = {SL_TYPE_UTF8,         SL_TYPE_INT64,
                             SL_TYPE_FLOAT64,      SL_TYPE_BOOL,
                             SL_TYPE_TIMESTAMP_MS, SL_TYPE_UTF8};
  struct sl_schema schema;
  sl_schema_init(&schema);
  struct sl_array *cols[6];
  for (int c = 0; c < 6; c++) {
    struct sl_field f;
    if (sl_field_init(&f, names[c], types[c], true) ||
        sl_schema_add_field(&schema, &f))
      return -1;
    struct sl_builder b;
    if (sl_builder_init(&b, &f)) return -1;
    for (int r = 0; r < ROWS; r++) {
      if (r % 7 == 3) {
        sl_builder_append_null(&b);
        continue;
      }
      char buf[16];
      switch (types[c]) {
      case SL_TYPE_UTF8:
        snprintf(buf, sizeof buf, "%c%d", 'a' + r % 5, r % 3);
        sl_builder_append_str(&b, buf, (int64_t)strlen(buf));
        break;
      case SL_TYPE_INT64: sl_builder_append_int(&b, (r * 37) % 101 - 50); break;
      case SL_TYPE_FLOAT64:
        sl_builder_append_double(&b, (r % 13) * 0.25 - 1);
        break;
      case SL_TYPE_BOOL: sl_builder_append_bool(&b, r % 2); break;
      default:
        sl_builder_append_int(&b, 1700000000000 + (int64_t)r * 61000);
        break;
      }
    }
    if (sl_builder_finish(&b, &cols[c])) return -1;
    sl_builder_release(&b);
    sl_field_release(&f);
  }
  int rc = sl_batch_make(&schema, cols, ROWS, &table, NULL);
  sl_schema_release(&schema);
  return rc;
}

struct one {
  bool done;
};

static const struct sl_schema *one_schema(struct sl_batch_reader *r) {
  (void)r;
  return &table->schema;
}
static int one_next(struct sl_batch_reader *r, struct sl_batch **out,
                    struct sl_error *err) {
  struct one *o = r->private_data;
  *out = NULL;
  if (o->done) return 0;
  o->done = true;
  return sl_batch_slice(table, 0, table->length, out, err);
}
static void one_release(struct sl_batch_reader *r) {
  sl_free(r->private_data);
  sl_free(r);
}

static int open_table(void *ctx, const char *name, const char *const *columns,
                      int32_t n, struct sl_batch_reader **out,
                      struct sl_error *err) {
  (void)ctx, (void)columns, (void)n;
  if (strcmp(name, "t"))
    return sl_error_set(err, SL_ENOENT, "no table %s", name);
  struct sl_batch_reader *r = sl_calloc(1, sizeof *r);
  struct one *o = sl_calloc(1, sizeof *o);
  if (!r || !o) {
    sl_free(r);
    sl_free(o);
    return SL_ENOMEM;
  }
  r->schema = one_schema;
  r->next = one_next;
  r->release = one_release;
  r->private_data = o;
  *out = r;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!table && build_table()) abort();
  if (size > 4096) return 0;
  char *sql = malloc(size + 1);
  memcpy(sql, data, size);
  sql[size] = 0;
  struct sl_query_options o;
  sl_query_options_init(&o);
  o.threads = 1;
  o.open_table = open_table;
  struct sl_query *q = NULL;
  struct sl_error err = {0};
  if (sl_query_prepare(sql, &o, &q, &err) == 0) {
    struct sl_batch_reader *r;
    if (sl_query_execute(q, &r, &err) == 0) {
      for (int k = 0; k < 1000; k++) {
        struct sl_batch *b = NULL;
        if (r->next(r, &b, &err) || !b) break;
        sl_batch_free(b);
      }
      r->release(r);
    }
    sl_query_free(q);
  }
  free(sql);
  return 0;
}
