/* libFuzzer target: the Parquet reader on hostile bytes (footer, schema,
 * page headers, levels, encodings, codecs). Every input must be read to the
 * end or rejected with an error; ASan/UBSan watch for everything else. */
#include <stddef.h>
#include <stdint.h>

#include "sluice/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct sl_parquet_file *f;
  struct sl_error err = {0};
  if (sl_parquet_file_open_memory(data, size, "fuzz", &f, &err)) return 0;
  struct sl_parquet_read_options o;
  sl_parquet_read_options_init(&o);
  o.batch_rows = 1000;
  o.max_page_bytes = 1 << 20;
  o.max_chunk_values = 1 << 16;
  struct sl_batch_reader *r;
  if (sl_parquet_file_reader(f, &o, &r, &err) == 0) {
    struct sl_batch *b;
    while (r->next(r, &b, &err) == 0 && b) {
      sl_batch_validate(b, &err);
      sl_batch_free(b);
    }
    r->release(r);
  }
  /* A projection of the first column and a predicate on it. */
  const struct sl_schema *s = sl_parquet_file_schema(f);
  if (s->n_fields > 0) {
    const char *cols[1] = {s->fields[0].name};
    struct sl_parquet_predicate p = {
        .column = s->fields[0].name, .op = SL_PQ_GE, .kind = SL_PQ_INT, .i = 3};
    o.columns = cols;
    o.n_columns = 1;
    o.predicates = &p;
    o.n_predicates = 1;
    if (sl_parquet_file_reader(f, &o, &r, &err) == 0) {
      struct sl_batch *b;
      while (r->next(r, &b, &err) == 0 && b)
        sl_batch_free(b);
      r->release(r);
    }
  }
  sl_parquet_file_close(f);
  return 0;
}
