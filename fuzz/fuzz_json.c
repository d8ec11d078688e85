/* libFuzzer target for the JSON Lines reader.
 *
 * The first byte picks options (schema explicit or inferred, nested mode,
 * mismatch policy, tiny chunks and batches to exercise the splits); the rest
 * is the input. The input is read three ways, with the scalar kernel, with
 * the best SIMD kernel and through the push stream in uneven chunks, and the
 * row and bad-line counts must agree: a difference aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/json.h"

static const char *const kSchemas[] = {
    NULL,
    "a: int64, b: utf8, c: float64, d: bool, t: timestamp[ms]",
    "a: utf8, g: struct<x: int64, y: list<utf8>>, l: list<struct<k: float64>>",
    "a.b.c: int64, a.d: utf8, e: list<list<int64>>, f: date32, u: "
    "timestamp[us]",
};

struct counts {
  int64_t rows, bad, bad_calls;
  int rc;
};

static void on_bad(void *ctx, const char *line, size_t len, int64_t line_no,
                   int64_t off, const char *reason) {
  struct counts *c = ctx;
  if (len > 0) (void)((volatile const char *)line)[len - 1];
  (void)line_no;
  (void)off;
  (void)reason;
  c->bad_calls++;
}

static void setup(struct sl_json_options *o, uint8_t sel, struct counts *c) {
  sl_json_options_init(o);
  struct sl_error err = {0};
  const char *schema = kSchemas[sel & 3];
  if (schema) sl_json_options_set(o, "schema", schema, &err);
  o->nested = (sel >> 2) & 1 ? SL_JSON_NESTED_FLATTEN : SL_JSON_NESTED_STRUCT;
  o->mismatch =
      (sel >> 3) & 1 ? SL_JSON_MISMATCH_BAD_LINE : SL_JSON_MISMATCH_NULL;
  o->batch_rows = (sel >> 4) & 1 ? 3 : 1000;
  o->chunk_bytes = (sel >> 5) & 1 ? 7 : 0;
  o->max_depth = (sel >> 6) & 1 ? 6 : 64;
  o->max_line_bytes = (sel >> 7) & 1 ? 40 : 1 << 20;
  o->threads = 1;
  o->bad_lines = SL_JSON_BAD_SKIP;
  o->on_bad_line = on_bad;
  o->bad_line_ctx = c;
}

static struct counts read_buffer(const uint8_t *data, size_t size, uint8_t sel,
                                 enum sl_json_simd simd) {
  struct counts c = {0};
  struct sl_json_options o;
  setup(&o, sel, &c);
  o.simd = simd;
  struct sl_error err = {0};
  struct sl_batch_reader *r;
  c.rc = sl_json_read_buffer((const char *)data, size, &o, &r, &err);
  if (c.rc == 0) {
    struct sl_batch *b;
    while ((c.rc = r->next(r, &b, &err)) == 0 && b) {
      if (sl_batch_validate(b, &err) != 0) abort();
      c.rows += b->length;
      sl_batch_free(b);
    }
    struct sl_json_stats st;
    sl_json_reader_stats(r, &st);
    c.bad = st.bad_lines;
    r->release(r);
  }
  sl_json_options_release(&o);
  return c;
}

static struct counts read_stream(const uint8_t *data, size_t size,
                                 uint8_t sel) {
  struct counts c = {0};
  struct sl_json_options o;
  setup(&o, sel, &c);
  /* the stream infers from what is buffered first: give it the schema the
   * buffer reader would infer from the whole input */
  struct sl_schema s;
  struct sl_error err = {0};
  int have = 0;
  if (!o.schema &&
      sl_json_infer_schema((const char *)data, size, &o, &s, &err) == 0) {
    o.schema = &s;
    have = 1;
  }
  struct sl_json_stream *st;
  c.rc = sl_json_stream_new(&o, &st, &err);
  if (c.rc == 0) {
    size_t pos = 0, step = 1 + (size % 13);
    while (c.rc == 0) {
      size_t n = size - pos < step ? size - pos : step;
      if (n) c.rc = sl_json_stream_push(st, data + pos, n, &err);
      pos += n;
      if (pos == size) sl_json_stream_end(st);
      struct sl_batch *b;
      while (c.rc == 0 && (c.rc = sl_json_stream_next(st, &b, &err)) == 0 &&
             b) {
        c.rows += b->length;
        sl_batch_free(b);
      }
      if (pos == size) break;
      step = step * 3 % 17 + 1;
    }
    struct sl_json_stats stats;
    sl_json_stream_stats(st, &stats);
    c.bad = stats.bad_lines;
    sl_json_stream_free(st);
  }
  if (have) sl_schema_release(&s);
  sl_json_options_release(&o);
  return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t sel = data[0];
  data++;
  size--;
  struct counts a = read_buffer(data, size, sel, SL_JSON_SIMD_SCALAR);
  struct counts b = read_buffer(data, size, sel, SL_JSON_SIMD_AUTO);
  if (a.rc != b.rc || a.rows != b.rows || a.bad != b.bad) abort();
  if (a.bad != a.bad_calls) abort();
  if (a.rc == 0) {
    struct counts s = read_stream(data, size, sel);
    if (s.rc == 0 && (s.rows != a.rows || s.bad != a.bad)) abort();
  }
  return 0;
}
