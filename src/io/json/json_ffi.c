/* JSON reader: small helpers for foreign-language bindings, so a ctypes
 * test or benchmark can drive the reader without mirroring C structs that
 * hold function pointers. */
#include <string.h>

#include "io/json/json_internal.h"
#include "sluice/arrow_c.h"

void sl_json_options_set_bad_line_fn(struct sl_json_options *o,
                                     sl_json_bad_line_fn fn, void *ctx) {
  o->on_bad_line = fn;
  o->bad_line_ctx = ctx;
}

int sl_json_reader_next_arrow(struct sl_batch_reader *r, struct ArrowArray *a,
                              struct ArrowSchema *s, struct sl_error *err) {
  struct sl_batch *b = NULL;
  int rc = r->next(r, &b, err);
  if (rc) return rc;
  if (!b) return -1;
  rc = sl_export_batch(b, a, s, err);
  sl_batch_free(b);
  return rc;
}

int sl_json_reader_schema_arrow(struct sl_batch_reader *r,
                                struct ArrowSchema *s) {
  return sl_export_schema(r->schema(r), s, NULL);
}

void sl_json_reader_free(struct sl_batch_reader *r) {
  if (r) r->release(r);
}

int64_t sl_json_reader_counter(struct sl_batch_reader *r, const char *name) {
  struct sl_json_stats st;
  if (sl_json_reader_stats(r, &st)) return -1;
  if (strcmp(name, "lines") == 0) return st.lines;
  if (strcmp(name, "rows") == 0) return st.rows;
  if (strcmp(name, "empty_lines") == 0) return st.empty_lines;
  if (strcmp(name, "bad_lines") == 0) return st.bad_lines;
  if (strcmp(name, "type_mismatches") == 0) return st.type_mismatches;
  if (strcmp(name, "bytes") == 0) return st.bytes;
  return -1;
}

size_t sl_json_infer_schema_text(const char *buf, size_t len,
                                 const struct sl_json_options *o, char *out,
                                 size_t cap, struct sl_error *err) {
  struct sl_schema s;
  if (sl_json_infer_schema(buf, len, o, &s, err)) return 0;
  size_t k = 0;
  if (cap) out[0] = 0;
  for (int32_t i = 0; i < s.n_fields; i++) {
    if (i && k + 2 < cap) {
      memcpy(out + k, ", ", 3);
      k += 2;
    }
    size_t need = sl_field_format(&s.fields[i], out + k, cap > k ? cap - k : 0);
    k += need;
    if (k >= cap) {
      sl_schema_release(&s);
      sl_error_set(err, SL_ERANGE, "schema text needs more than %zu bytes",
                   cap);
      return 0;
    }
  }
  sl_schema_release(&s);
  if (k == 0 && cap > 1) {
    out[0] = ' ';
    out[1] = 0;
    k = 1; /* an empty schema is not an error */
  }
  return k;
}
