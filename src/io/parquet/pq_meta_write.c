/* Encoding parquet.thrift's Statistics and PageHeader (the footer itself is
 * written by pq_writer.c from the writer's own records). */
#include <string.h>

#include "io/parquet/pq.h"

void pq_stats_encode(struct tc_writer *w, int16_t field,
                     const struct pq_stats_out *s) {
  tc_field_struct(w, field);
  if (s->has_minmax && s->deprecated_too) {
    tc_field_binary(w, 1, s->max, s->max_len);
    tc_field_binary(w, 2, s->min, s->min_len);
  }
  if (s->has_null_count) tc_field_i64(w, 3, s->null_count);
  if (s->has_minmax) {
    tc_field_binary(w, 5, s->max, s->max_len);
    tc_field_binary(w, 6, s->min, s->min_len);
  }
  tc_struct_end(w);
}

int pq_page_header_encode(const struct pq_page_header *h,
                          const struct pq_stats_out *stats, bool dict_sorted,
                          struct pq_buf *out) {
  struct tc_writer w;
  tc_writer_init(&w, out);
  tc_struct_begin(&w);
  tc_field_i32(&w, 1, h->type);
  tc_field_i32(&w, 2, h->uncompressed_size);
  tc_field_i32(&w, 3, h->compressed_size);
  switch (h->type) {
  case PQ_PAGE_DATA:
    tc_field_struct(&w, 5);
    tc_field_i32(&w, 1, h->num_values);
    tc_field_i32(&w, 2, h->encoding);
    tc_field_i32(&w, 3, PQ_ENC_RLE);
    tc_field_i32(&w, 4, PQ_ENC_RLE);
    if (stats) pq_stats_encode(&w, 5, stats);
    tc_struct_end(&w);
    break;
  case PQ_PAGE_DICTIONARY:
    tc_field_struct(&w, 7);
    tc_field_i32(&w, 1, h->num_values);
    tc_field_i32(&w, 2, h->encoding);
    tc_field_bool(&w, 3, dict_sorted);
    tc_struct_end(&w);
    break;
  case PQ_PAGE_DATA_V2:
    tc_field_struct(&w, 8);
    tc_field_i32(&w, 1, h->num_values);
    tc_field_i32(&w, 2, h->num_nulls);
    tc_field_i32(&w, 3, h->num_rows);
    tc_field_i32(&w, 4, h->encoding);
    tc_field_i32(&w, 5, h->def_len);
    tc_field_i32(&w, 6, h->rep_len);
    tc_field_bool(&w, 7, h->is_compressed);
    if (stats) pq_stats_encode(&w, 8, stats);
    tc_struct_end(&w);
    break;
  default: return SL_EINVAL;
  }
  tc_struct_end(&w);
  return w.rc;
}
