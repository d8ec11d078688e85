/* Thrift compact protocol: just what parquet.thrift needs.
 *
 * Field headers carry the id as a delta from the previous field when it fits
 * in 4 bits; integers are zigzag varints; binaries are varint-length
 * prefixed; booleans of fields live in the type nibble. The reader never
 * reads past its end, limits nesting, and checks every list count against
 * the bytes left before anyone allocates for it. */
#include <string.h>

#include "io/parquet/pq.h"

/* ---- writer ------------------------------------------------------------ */

void tc_writer_init(struct tc_writer *w, struct pq_buf *out) {
  memset(w, 0, sizeof *w);
  w->out = out;
  w->depth = -1;
}

static void put_byte(struct tc_writer *w, uint8_t b) {
  if (w->rc) return;
  if (pq_buf_reserve(w->out, 1)) {
    w->rc = SL_ENOMEM;
    return;
  }
  w->out->data[w->out->size++] = b;
}

static void put_varint(struct tc_writer *w, uint64_t v) {
  if (w->rc) return;
  if (pq_varint_put(w->out, v)) w->rc = SL_ENOMEM;
}

static uint64_t zigzag(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void field_header(struct tc_writer *w, int16_t id, int type) {
  if (w->depth < 0) {
    w->rc = SL_EINVAL;
    return;
  }
  int16_t delta = (int16_t)(id - w->last[w->depth]);
  if (delta > 0 && delta <= 15) {
    put_byte(w, (uint8_t)(delta << 4 | type));
  } else {
    put_byte(w, (uint8_t)type);
    put_varint(w, zigzag(id));
  }
  w->last[w->depth] = id;
}

void tc_struct_begin(struct tc_writer *w) {
  if (w->depth + 1 >= TC_MAX_DEPTH) {
    w->rc = SL_EINVAL;
    return;
  }
  w->last[++w->depth] = 0;
}

void tc_struct_end(struct tc_writer *w) {
  put_byte(w, TC_STOP);
  if (w->depth >= 0) w->depth--;
}

void tc_field_struct(struct tc_writer *w, int16_t id) {
  field_header(w, id, TC_STRUCT);
  tc_struct_begin(w);
}

void tc_field_i32(struct tc_writer *w, int16_t id, int32_t v) {
  field_header(w, id, TC_I32);
  put_varint(w, zigzag(v));
}

void tc_field_i16(struct tc_writer *w, int16_t id, int16_t v) {
  field_header(w, id, TC_I16);
  put_varint(w, zigzag(v));
}

void tc_field_i64(struct tc_writer *w, int16_t id, int64_t v) {
  field_header(w, id, TC_I64);
  put_varint(w, zigzag(v));
}

void tc_field_bool(struct tc_writer *w, int16_t id, bool v) {
  field_header(w, id, v ? TC_TRUE : TC_FALSE);
}

void tc_field_binary(struct tc_writer *w, int16_t id, const void *p, size_t n) {
  field_header(w, id, TC_BINARY);
  put_varint(w, n);
  if (!w->rc && pq_buf_append(w->out, p, n)) w->rc = SL_ENOMEM;
}

void tc_field_string(struct tc_writer *w, int16_t id, const char *s) {
  tc_field_binary(w, id, s, strlen(s));
}

void tc_field_list(struct tc_writer *w, int16_t id, int elem_type, int32_t n) {
  field_header(w, id, TC_LIST);
  if (n < 15) {
    put_byte(w, (uint8_t)(n << 4 | elem_type));
  } else {
    put_byte(w, (uint8_t)(0xF0 | elem_type));
    put_varint(w, (uint64_t)n);
  }
}

void tc_list_i32(struct tc_writer *w, int32_t v) {
  put_varint(w, zigzag(v));
}

void tc_list_string(struct tc_writer *w, const char *s) {
  size_t n = strlen(s);
  put_varint(w, n);
  if (!w->rc && pq_buf_append(w->out, s, n)) w->rc = SL_ENOMEM;
}

/* ---- reader ------------------------------------------------------------ */

void tc_reader_init(struct tc_reader *r, const uint8_t *p, size_t n) {
  r->start = r->p = p;
  r->end = p + n;
  r->depth = 0;
  r->rc = 0;
  r->msg = NULL;
}

void tc_fail(struct tc_reader *r, const char *msg) {
  if (r->rc) return;
  r->rc = SL_EINVAL;
  r->msg = msg;
  r->p = r->end;
}

static uint64_t get_varint(struct tc_reader *r) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) {
      tc_fail(r, "varint runs past the end of the metadata");
      return 0;
    }
    uint8_t b = *r->p++;
    v |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
  tc_fail(r, "varint longer than 10 bytes");
  return 0;
}

static int64_t unzigzag(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

bool tc_next_field(struct tc_reader *r, int16_t *last_id, int16_t *id,
                   int *type) {
  if (r->rc) return false;
  if (r->p >= r->end) {
    tc_fail(r, "struct runs past the end of the metadata (no STOP)");
    return false;
  }
  uint8_t b = *r->p++;
  if (b == TC_STOP) return false;
  *type = b & 0x0F;
  int delta = b >> 4;
  if (delta) {
    *id = (int16_t)(*last_id + delta);
  } else {
    int64_t v = unzigzag(get_varint(r));
    if (v < INT16_MIN || v > INT16_MAX) {
      tc_fail(r, "field id out of range");
      return false;
    }
    *id = (int16_t)v;
  }
  if (*type < TC_TRUE || *type > TC_STRUCT) {
    tc_fail(r, "unknown field type");
    return false;
  }
  *last_id = *id;
  return !r->rc;
}

int32_t tc_read_i32(struct tc_reader *r, int type) {
  if (type != TC_I32 && type != TC_I16 && type != TC_BYTE) {
    tc_fail(r, "expected an i32 field");
    return 0;
  }
  if (type == TC_BYTE) {
    if (r->p >= r->end) {
      tc_fail(r, "byte past the end");
      return 0;
    }
    return (int8_t)*r->p++;
  }
  int64_t v = unzigzag(get_varint(r));
  if (v < INT32_MIN || v > INT32_MAX) {
    tc_fail(r, "i32 value out of range");
    return 0;
  }
  return (int32_t)v;
}

int64_t tc_read_i64(struct tc_reader *r, int type) {
  if (type != TC_I64 && type != TC_I32 && type != TC_I16) {
    tc_fail(r, "expected an i64 field");
    return 0;
  }
  return unzigzag(get_varint(r));
}

const uint8_t *tc_read_binary(struct tc_reader *r, int type, uint32_t *len) {
  *len = 0;
  if (type != TC_BINARY) {
    tc_fail(r, "expected a binary field");
    return NULL;
  }
  uint64_t n = get_varint(r);
  if (r->rc) return NULL;
  if (n > (uint64_t)(r->end - r->p)) {
    tc_fail(r, "binary length runs past the end of the metadata");
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  *len = (uint32_t)n;
  return p;
}

int32_t tc_read_list(struct tc_reader *r, int type, int *elem_type) {
  *elem_type = 0;
  if (type != TC_LIST && type != TC_SET) {
    tc_fail(r, "expected a list field");
    return 0;
  }
  if (r->p >= r->end) {
    tc_fail(r, "list header past the end");
    return 0;
  }
  uint8_t b = *r->p++;
  uint64_t n = b >> 4;
  *elem_type = b & 0x0F;
  if (n == 15) n = get_varint(r);
  if (r->rc) return 0;
  /* Every element takes at least one byte, except booleans packed as
   * bytes too: so the count can never exceed the bytes left. */
  if (n > (uint64_t)(r->end - r->p) || n > INT32_MAX) {
    tc_fail(r, "list count larger than the bytes left");
    return 0;
  }
  return (int32_t)n;
}

bool tc_enter_struct(struct tc_reader *r, int type) {
  if (type != TC_STRUCT) {
    tc_fail(r, "expected a struct field");
    return false;
  }
  if (++r->depth > TC_MAX_DEPTH) {
    tc_fail(r, "structs nested too deep");
    return false;
  }
  return !r->rc;
}

void tc_leave_struct(struct tc_reader *r) {
  r->depth--;
}

void tc_skip(struct tc_reader *r, int type) {
  if (r->rc) return;
  switch (type) {
  case TC_TRUE:
  case TC_FALSE: return;
  case TC_BYTE:
    if (r->p >= r->end)
      tc_fail(r, "byte past the end");
    else
      r->p++;
    return;
  case TC_I16:
  case TC_I32:
  case TC_I64: (void)get_varint(r); return;
  case TC_DOUBLE:
    if (r->end - r->p < 8)
      tc_fail(r, "double past the end");
    else
      r->p += 8;
    return;
  case TC_BINARY: {
    uint32_t n;
    (void)tc_read_binary(r, type, &n);
    return;
  }
  case TC_LIST:
  case TC_SET: {
    int et;
    int32_t n = tc_read_list(r, type, &et);
    if (++r->depth > TC_MAX_DEPTH) {
      tc_fail(r, "containers nested too deep");
      return;
    }
    for (int32_t i = 0; i < n && !r->rc; i++) {
      if (et == TC_TRUE || et == TC_FALSE) {
        tc_skip(r, TC_BYTE); /* booleans in lists take one byte */
      } else {
        tc_skip(r, et);
      }
    }
    r->depth--;
    return;
  }
  case TC_MAP: {
    uint64_t n = get_varint(r);
    if (r->rc) return;
    if (n == 0) return;
    if (r->p >= r->end || n > (uint64_t)(r->end - r->p)) {
      tc_fail(r, "map count larger than the bytes left");
      return;
    }
    uint8_t kv = *r->p++;
    int kt = kv >> 4, vt = kv & 0x0F;
    if (++r->depth > TC_MAX_DEPTH) {
      tc_fail(r, "containers nested too deep");
      return;
    }
    for (uint64_t i = 0; i < n && !r->rc; i++) {
      tc_skip(r, kt == TC_TRUE || kt == TC_FALSE ? TC_BYTE : kt);
      tc_skip(r, vt == TC_TRUE || vt == TC_FALSE ? TC_BYTE : vt);
    }
    r->depth--;
    return;
  }
  case TC_STRUCT: {
    if (!tc_enter_struct(r, type)) return;
    int16_t last = 0, id;
    int t;
    while (tc_next_field(r, &last, &id, &t))
      tc_skip(r, t);
    tc_leave_struct(r);
    return;
  }
  default: tc_fail(r, "unknown type to skip");
  }
}
