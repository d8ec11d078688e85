/* An example native handler (ABI: include/sluice/function.h): keeps the
 * records whose `status` is >= 500, emits them as (service, status), and
 * counts per worker what it saw; drain logs the totals.
 *
 * Build: cc -shared -fPIC -O2 -I include -o build/liberrors_only.so \
 *          examples/native/errors_only.c -L build -lsluice
 * -Wl,-rpath,$PWD/build Run:   sluice run examples/native/function.yaml */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/function.h"

struct counts {
  long long seen, kept;
};

int errors_only_abi_version(void) {
  return SL_FUNCTION_ABI;
}

int errors_only_init(struct sl_fn_context *ctx) {
  ctx->user = calloc(1, sizeof(struct counts));
  return ctx->user ? 0 : 1;
}

static int find(const struct sl_batch *b, const char *name) {
  for (int32_t i = 0; i < b->n_columns; i++)
    if (!strcmp(b->schema.fields[i].name, name)) return i;
  return -1;
}

int errors_only_handle(struct sl_fn_context *ctx,
                       const struct sl_fn_events *ev) {
  struct counts *c = ctx->user;
  const struct sl_batch *b = ev->batch;
  int si = find(b, "service"), st = find(b, "status");
  c->seen += b->length;
  if (si < 0 || st < 0) return 0; /* nothing to do with these records */
  const struct sl_array *svc = b->columns[si], *status = b->columns[st];
  if (!sl_type_is_string(svc->type) || status->type != SL_TYPE_INT64) return 0;
  struct sl_field f[2];
  struct sl_builder bs, bi;
  struct sl_schema schema;
  sl_schema_init(&schema);
  if (sl_field_init(&f[0], "service", SL_TYPE_UTF8, true) ||
      sl_field_init(&f[1], "status", SL_TYPE_INT64, true) ||
      sl_schema_add_field(&schema, &f[0]) ||
      sl_schema_add_field(&schema, &f[1]) || sl_builder_init(&bs, &f[0]) ||
      sl_builder_init(&bi, &f[1]))
    return 1;
  int64_t kept = 0;
  for (int64_t r = 0; r < b->length; r++) {
    if (!sl_array_is_valid(status, r) || sl_array_i64(status)[r] < 500)
      continue;
    int64_t len = 0;
    const char *s =
        sl_array_is_valid(svc, r) ? sl_array_str(svc, r, &len) : NULL;
    if (s ? sl_builder_append_str(&bs, s, len) : sl_builder_append_null(&bs))
      return 1;
    if (sl_builder_append_int(&bi, sl_array_i64(status)[r])) return 1;
    kept++;
  }
  struct sl_array *cols[2] = {NULL, NULL};
  struct sl_batch *out = NULL;
  int rc = sl_builder_finish(&bs, &cols[0]) ||
           sl_builder_finish(&bi, &cols[1]) ||
           sl_batch_make(&schema, cols, kept, &out, NULL);
  if (!rc && kept > 0) rc = ctx->emit(ctx, out);
  if (out) sl_batch_free(out);
  sl_builder_release(&bs);
  sl_builder_release(&bi);
  sl_schema_release(&schema);
  sl_field_release(&f[0]);
  sl_field_release(&f[1]);
  c->kept += kept;
  return rc;
}

int errors_only_drain(struct sl_fn_context *ctx) {
  struct counts *c = ctx->user;
  char msg[128];
  snprintf(msg, sizeof msg, "errors_only: saw %lld records, kept %lld", c->seen,
           c->kept);
  ctx->log(ctx, SL_FN_INFO, msg);
  return 0;
}

void errors_only_destroy(struct sl_fn_context *ctx) {
  free(ctx->user);
}
