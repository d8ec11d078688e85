/* Decoding parquet.thrift's FileMetaData and PageHeader from the compact
 * protocol. Unknown fields are skipped (forward compatibility); fields of
 * the wrong wire type are errors. Everything allocated lives in the caller's
 * arena; list counts are bounded by the bytes left before allocating. */
#include <string.h>

#include "io/parquet/pq.h"

struct ctx {
  struct tc_reader r;
  struct sl_arena *arena;
  int rc; /* ENOMEM */
};

static void *arena_array(struct ctx *c, int32_t n, size_t size) {
  if (n <= 0) return NULL;
  void *p = sl_arena_alloc(c->arena, (size_t)n * size);
  if (!p) {
    c->rc = SL_ENOMEM;
    tc_fail(&c->r, "out of memory");
    return NULL;
  }
  memset(p, 0, (size_t)n * size);
  return p;
}

static const char *read_string(struct ctx *c, int type) {
  uint32_t len;
  const uint8_t *s = tc_read_binary(&c->r, type, &len);
  if (!s) return c->r.rc ? NULL : "";
  char *d = sl_arena_alloc(c->arena, (size_t)len + 1);
  if (!d) {
    c->rc = SL_ENOMEM;
    tc_fail(&c->r, "out of memory");
    return NULL;
  }
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

/* Iterates the fields of a struct that the reader has just entered. */
#define FOR_FIELDS(rd, id, type)                                               \
  for (int16_t last_##id = 0, id = 0;                                          \
       tc_next_field((rd), &last_##id, &id, &type);)

static void decode_stats(struct ctx *c, struct pq_stats *s) {
  int type;
  memset(s, 0, sizeof *s);
  FOR_FIELDS(&c->r, id, type) {
    switch (id) {
    case 1:
      s->max = tc_read_binary(&c->r, type, &s->max_len);
      s->has_max = true;
      break;
    case 2:
      s->min = tc_read_binary(&c->r, type, &s->min_len);
      s->has_min = true;
      break;
    case 3:
      s->null_count = tc_read_i64(&c->r, type);
      s->has_null_count = true;
      break;
    case 5:
      s->max_value = tc_read_binary(&c->r, type, &s->max_value_len);
      s->has_max_value = true;
      break;
    case 6:
      s->min_value = tc_read_binary(&c->r, type, &s->min_value_len);
      s->has_min_value = true;
      break;
    default: tc_skip(&c->r, type);
    }
  }
}

static void enter(struct ctx *c, int type) {
  (void)tc_enter_struct(&c->r, type);
}
static void leave(struct ctx *c) {
  tc_leave_struct(&c->r);
}

static void decode_logical(struct ctx *c, struct pq_schema_elem *e) {
  int type;
  FOR_FIELDS(&c->r, id, type) {
    e->logical = id;
    if (id == PQ_LT_TIMESTAMP && type == TC_STRUCT) {
      enter(c, type);
      int t2;
      FOR_FIELDS(&c->r, id2, t2) {
        if (id2 == 1) {
          e->ts_utc = t2 == TC_TRUE;
          if (t2 != TC_TRUE && t2 != TC_FALSE)
            tc_fail(&c->r, "bad isAdjustedToUTC");
        } else if (id2 == 2 && t2 == TC_STRUCT) {
          enter(c, t2);
          int t3;
          FOR_FIELDS(&c->r, id3, t3) {
            e->ts_unit = id3;
            tc_skip(&c->r, t3);
          }
          leave(c);
        } else {
          tc_skip(&c->r, t2);
        }
      }
      leave(c);
    } else if (id == PQ_LT_INTEGER && type == TC_STRUCT) {
      enter(c, type);
      int t2;
      FOR_FIELDS(&c->r, id2, t2) {
        if (id2 == 1)
          e->int_bits = tc_read_i32(&c->r, t2);
        else if (id2 == 2)
          e->int_signed = t2 == TC_TRUE;
        else
          tc_skip(&c->r, t2);
      }
      leave(c);
    } else {
      tc_skip(&c->r, type);
    }
  }
}

static void decode_schema_elem(struct ctx *c, struct pq_schema_elem *e) {
  int type;
  e->type = -1;
  e->repetition = -1;
  e->converted_type = -1;
  e->name = "";
  FOR_FIELDS(&c->r, id, type) {
    switch (id) {
    case 1: e->type = tc_read_i32(&c->r, type); break;
    case 2: e->type_length = tc_read_i32(&c->r, type); break;
    case 3: e->repetition = tc_read_i32(&c->r, type); break;
    case 4: e->name = read_string(c, type); break;
    case 5: e->num_children = tc_read_i32(&c->r, type); break;
    case 6: e->converted_type = tc_read_i32(&c->r, type); break;
    case 7: e->scale = tc_read_i32(&c->r, type); break;
    case 8: e->precision = tc_read_i32(&c->r, type); break;
    case 10:
      enter(c, type);
      decode_logical(c, e);
      leave(c);
      break;
    default: tc_skip(&c->r, type);
    }
  }
  if (!e->name) e->name = "";
}

static void decode_column_meta(struct ctx *c, struct pq_column_meta *m) {
  int type;
  m->dictionary_page_offset = -1;
  m->data_page_offset = -1;
  FOR_FIELDS(&c->r, id, type) {
    switch (id) {
    case 1: m->type = tc_read_i32(&c->r, type); break;
    case 3: {
      int et;
      int32_t n = tc_read_list(&c->r, type, &et);
      if (n > 0 && et != TC_BINARY) {
        tc_fail(&c->r, "path_in_schema is not a list of strings");
        break;
      }
      m->path = arena_array(c, n, sizeof *m->path);
      m->n_path = m->path ? n : 0;
      for (int32_t i = 0; i < m->n_path; i++)
        m->path[i] = read_string(c, TC_BINARY);
      break;
    }
    case 4: m->codec = tc_read_i32(&c->r, type); break;
    case 5: m->num_values = tc_read_i64(&c->r, type); break;
    case 6: m->total_uncompressed = tc_read_i64(&c->r, type); break;
    case 7: m->total_compressed = tc_read_i64(&c->r, type); break;
    case 9: m->data_page_offset = tc_read_i64(&c->r, type); break;
    case 11: m->dictionary_page_offset = tc_read_i64(&c->r, type); break;
    case 12:
      enter(c, type);
      decode_stats(c, &m->stats);
      leave(c);
      m->has_stats = true;
      break;
    default: tc_skip(&c->r, type);
    }
  }
}

static void decode_row_group(struct ctx *c, struct pq_row_group *g) {
  int type;
  FOR_FIELDS(&c->r, id, type) {
    switch (id) {
    case 1: {
      int et;
      int32_t n = tc_read_list(&c->r, type, &et);
      if (n > 0 && et != TC_STRUCT) {
        tc_fail(&c->r, "row group columns are not structs");
        break;
      }
      g->columns = arena_array(c, n, sizeof *g->columns);
      g->n_columns = g->columns ? n : 0;
      for (int32_t i = 0; i < g->n_columns && !c->r.rc; i++) {
        struct pq_column_chunk *cc = &g->columns[i];
        enter(c, TC_STRUCT);
        int t2;
        FOR_FIELDS(&c->r, id2, t2) {
          if (id2 == 2) {
            cc->file_offset = tc_read_i64(&c->r, t2);
          } else if (id2 == 3) {
            enter(c, t2);
            decode_column_meta(c, &cc->meta);
            leave(c);
            cc->has_meta = true;
          } else {
            tc_skip(&c->r, t2);
          }
        }
        leave(c);
      }
      break;
    }
    case 2: g->total_byte_size = tc_read_i64(&c->r, type); break;
    case 3: g->num_rows = tc_read_i64(&c->r, type); break;
    default: tc_skip(&c->r, type);
    }
  }
}

int pq_meta_decode(const uint8_t *p, size_t n, struct sl_arena *arena,
                   struct pq_file_meta *m, struct sl_error *err) {
  struct ctx c;
  memset(&c, 0, sizeof c);
  memset(m, 0, sizeof *m);
  c.arena = arena;
  tc_reader_init(&c.r, p, n);
  int type;
  bool have_schema = false, have_rows = false;
  FOR_FIELDS(&c.r, id, type) {
    switch (id) {
    case 1: m->version = tc_read_i32(&c.r, type); break;
    case 2: {
      int et;
      int32_t k = tc_read_list(&c.r, type, &et);
      if (k > 0 && et != TC_STRUCT) {
        tc_fail(&c.r, "schema is not a list of structs");
        break;
      }
      m->schema = arena_array(&c, k, sizeof *m->schema);
      m->n_schema = m->schema ? k : 0;
      for (int32_t i = 0; i < m->n_schema && !c.r.rc; i++) {
        enter(&c, TC_STRUCT);
        decode_schema_elem(&c, &m->schema[i]);
        leave(&c);
      }
      have_schema = true;
      break;
    }
    case 3:
      m->num_rows = tc_read_i64(&c.r, type);
      have_rows = true;
      break;
    case 4: {
      int et;
      int32_t k = tc_read_list(&c.r, type, &et);
      if (k > 0 && et != TC_STRUCT) {
        tc_fail(&c.r, "row_groups is not a list of structs");
        break;
      }
      m->row_groups = arena_array(&c, k, sizeof *m->row_groups);
      m->n_row_groups = m->row_groups ? k : 0;
      for (int32_t i = 0; i < m->n_row_groups && !c.r.rc; i++) {
        enter(&c, TC_STRUCT);
        decode_row_group(&c, &m->row_groups[i]);
        leave(&c);
      }
      break;
    }
    case 5: {
      int et;
      int32_t k = tc_read_list(&c.r, type, &et);
      if (k > 0 && et != TC_STRUCT) {
        tc_fail(&c.r, "key_value_metadata is not a list of structs");
        break;
      }
      m->kv_keys = arena_array(&c, k, sizeof *m->kv_keys);
      m->kv_values = arena_array(&c, k, sizeof *m->kv_values);
      m->n_kv = m->kv_keys && m->kv_values ? k : 0;
      for (int32_t i = 0; i < m->n_kv && !c.r.rc; i++) {
        enter(&c, TC_STRUCT);
        int t2;
        m->kv_keys[i] = "";
        FOR_FIELDS(&c.r, id2, t2) {
          if (id2 == 1)
            m->kv_keys[i] = read_string(&c, t2);
          else if (id2 == 2)
            m->kv_values[i] = read_string(&c, t2);
          else
            tc_skip(&c.r, t2);
        }
        leave(&c);
      }
      break;
    }
    case 6: m->created_by = read_string(&c, type); break;
    case 7:
      m->has_column_orders = true;
      tc_skip(&c.r, type);
      break;
    default: tc_skip(&c.r, type);
    }
  }
  if (c.rc) return sl_error_set(err, c.rc, "out of memory decoding the footer");
  if (c.r.rc)
    return sl_error_set(err, SL_EINVAL,
                        "corrupt footer metadata: %s (at byte %lld of %zu)",
                        c.r.msg, (long long)(c.r.p - c.r.start), n);
  if (!have_schema || m->n_schema < 1)
    return sl_error_set(err, SL_EINVAL, "footer metadata has no schema");
  if (!have_rows || m->num_rows < 0)
    return sl_error_set(err, SL_EINVAL,
                        "footer metadata has no valid num_rows");
  return 0;
}

static void decode_v1(struct tc_reader *r, struct pq_page_header *h) {
  int type;
  FOR_FIELDS(r, id, type) {
    switch (id) {
    case 1: h->num_values = tc_read_i32(r, type); break;
    case 2: h->encoding = tc_read_i32(r, type); break;
    case 3: h->def_encoding = tc_read_i32(r, type); break;
    case 4: h->rep_encoding = tc_read_i32(r, type); break;
    default: tc_skip(r, type);
    }
  }
}

int pq_page_header_decode(const uint8_t *p, size_t n, struct pq_page_header *h,
                          size_t *used, struct sl_error *err) {
  struct tc_reader r;
  memset(h, 0, sizeof *h);
  h->is_compressed = true;
  h->type = -1;
  tc_reader_init(&r, p, n);
  int type;
  bool have_sizes = 0;
  int32_t seen = 0;
  FOR_FIELDS(&r, id, type) {
    switch (id) {
    case 1: h->type = tc_read_i32(&r, type); break;
    case 2:
      h->uncompressed_size = tc_read_i32(&r, type);
      seen |= 1;
      break;
    case 3:
      h->compressed_size = tc_read_i32(&r, type);
      seen |= 2;
      break;
    case 5:
      if (tc_enter_struct(&r, type)) {
        decode_v1(&r, h);
        tc_leave_struct(&r);
        h->has_data = true;
      }
      break;
    case 7:
      if (tc_enter_struct(&r, type)) {
        int t2;
        FOR_FIELDS(&r, id2, t2) {
          if (id2 == 1)
            h->num_values = tc_read_i32(&r, t2);
          else if (id2 == 2)
            h->encoding = tc_read_i32(&r, t2);
          else
            tc_skip(&r, t2);
        }
        tc_leave_struct(&r);
        h->has_dict = true;
      }
      break;
    case 8:
      if (tc_enter_struct(&r, type)) {
        int t2;
        FOR_FIELDS(&r, id2, t2) {
          switch (id2) {
          case 1: h->num_values = tc_read_i32(&r, t2); break;
          case 2: h->num_nulls = tc_read_i32(&r, t2); break;
          case 3: h->num_rows = tc_read_i32(&r, t2); break;
          case 4: h->encoding = tc_read_i32(&r, t2); break;
          case 5: h->def_len = tc_read_i32(&r, t2); break;
          case 6: h->rep_len = tc_read_i32(&r, t2); break;
          case 7: h->is_compressed = t2 == TC_TRUE; break;
          default: tc_skip(&r, t2);
          }
        }
        tc_leave_struct(&r);
        h->has_v2 = true;
      }
      break;
    default: tc_skip(&r, type);
    }
  }
  have_sizes = seen == 3;
  if (r.rc)
    return sl_error_set(err, SL_EINVAL, "corrupt page header: %s", r.msg);
  if (!have_sizes || h->uncompressed_size < 0 || h->compressed_size < 0)
    return sl_error_set(err, SL_EINVAL, "page header without valid page sizes");
  if (h->num_values < 0 || h->num_nulls < 0 || h->num_rows < 0 ||
      h->def_len < 0 || h->rep_len < 0)
    return sl_error_set(err, SL_EINVAL, "page header with negative counts");
  *used = (size_t)(r.p - r.start);
  return 0;
}
