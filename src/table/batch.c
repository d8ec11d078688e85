/* Record batches: a schema plus one array per field. */
#include "sluice/alloc.h"
#include "sluice/table.h"

int sl_batch_make(const struct sl_schema *schema, struct sl_array **columns,
                  int64_t length, struct sl_batch **out, struct sl_error *err) {
  *out = NULL;
  int32_t n = schema->n_fields;
  int rc = 0;
  struct sl_batch *b = sl_calloc(1, sizeof *b);
  if (!b) {
    rc = sl_error_set(err, SL_ENOMEM, "batch: out of memory");
    goto fail;
  }
  b->columns = sl_calloc((size_t)(n ? n : 1), sizeof *b->columns);
  if (!b->columns) {
    rc = sl_error_set(err, SL_ENOMEM, "batch: out of memory");
    goto fail;
  }
  rc = sl_schema_copy(&b->schema, schema);
  if (rc) {
    sl_error_set(err, rc, "batch: out of memory copying the schema");
    goto fail;
  }
  for (int32_t i = 0; i < n; i++) {
    b->columns[i] = columns[i];
    columns[i] = NULL;
    b->n_columns = i + 1;
    if (!b->columns[i]) {
      rc = sl_error_set(err, SL_EINVAL, "batch: column %d ('%s') is missing", i,
                        schema->fields[i].name);
      goto fail;
    }
    if (b->columns[i]->length != length) {
      rc = sl_error_set(err, SL_EINVAL,
                        "batch: column %d ('%s') has %lld rows, expected %lld",
                        i, schema->fields[i].name,
                        (long long)b->columns[i]->length, (long long)length);
      goto fail;
    }
    if (b->columns[i]->type != schema->fields[i].type) {
      rc = sl_error_set(
          err, SL_EINVAL, "batch: column %d ('%s') is %s, the schema says %s",
          i, schema->fields[i].name, sl_type_name(b->columns[i]->type),
          sl_type_name(schema->fields[i].type));
      goto fail;
    }
  }
  b->length = length;
  *out = b;
  return 0;
fail:
  for (int32_t i = 0; i < n; i++) {
    sl_array_release(columns[i]);
    columns[i] = NULL;
  }
  sl_batch_free(b);
  return rc;
}

void sl_batch_free(struct sl_batch *b) {
  if (!b) return;
  for (int32_t i = 0; i < b->n_columns; i++)
    sl_array_release(b->columns[i]);
  sl_free(b->columns);
  sl_schema_release(&b->schema);
  sl_free(b);
}

int sl_batch_slice(const struct sl_batch *b, int64_t offset, int64_t length,
                   struct sl_batch **out, struct sl_error *err) {
  *out = NULL;
  int32_t n = b->n_columns;
  struct sl_array **cols = sl_calloc((size_t)(n ? n : 1), sizeof *cols);
  if (!cols) return sl_error_set(err, SL_ENOMEM, "batch slice: out of memory");
  int rc = 0;
  for (int32_t i = 0; i < n && !rc; i++)
    rc = sl_array_slice(b->columns[i], offset, length, &cols[i], err);
  if (!rc)
    rc = sl_batch_make(&b->schema, cols, length, out, err);
  else
    for (int32_t i = 0; i < n; i++)
      sl_array_release(cols[i]);
  sl_free(cols);
  return rc;
}
