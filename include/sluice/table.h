/* sluice: Arrow-layout columns, builders, schemas and record batches.
 *
 * Memory layout follows the Apache Arrow columnar format exactly, so columns
 * can cross the Arrow C Data Interface (sluice/arrow_c.h) without copies:
 *  - validity: LSB-first bitmap, 1 = valid; NULL buffer = all valid
 *  - bool: LSB-first bitmap of values
 *  - int32/date32: int32_t; int64/timestamp: int64_t; float64: double
 *  - utf8/list: int32_t offsets (length+1), large_utf8: int64_t offsets
 *  - struct: one child per field, same length as the parent
 *  - dict_utf8: int32_t indices into a utf8 dictionary array
 *
 * Ownership: buffers and arrays are reference counted (atomically), so slices
 * and exported views share memory. A function returning an array or batch
 * through an out-pointer hands the caller one reference to release.
 * Thread-safety: a finished array is immutable and may be read from any
 * thread; retain/release are thread-safe. Builders are single-threaded. */
#ifndef SLUICE_TABLE_H
#define SLUICE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sl_type_id {
  SL_TYPE_NULL = 0,
  SL_TYPE_BOOL,
  SL_TYPE_INT32,
  SL_TYPE_INT64,
  SL_TYPE_FLOAT64,
  SL_TYPE_UTF8,
  SL_TYPE_LARGE_UTF8,
  SL_TYPE_TIMESTAMP_MS, /* int64 milliseconds since the epoch, UTC */
  SL_TYPE_TIMESTAMP_US, /* int64 microseconds since the epoch, UTC */
  SL_TYPE_DATE32,       /* int32 days since the epoch */
  SL_TYPE_LIST,         /* list<child 0> */
  SL_TYPE_STRUCT,       /* struct<children...> */
  SL_TYPE_DICT_UTF8,    /* dictionary<int32, utf8> */
  SL_TYPE_COUNT_
};

/* "int64", "timestamp[ms]", ...; sl_type_parse accepts these names and a few
 * aliases (string, double, int, bool, timestamp = timestamp[us]). */
const char *sl_type_name(enum sl_type_id t);
int sl_type_parse(const char *s, size_t n, enum sl_type_id *out);
/* Bytes per value in the data buffer for fixed-width types, 0 otherwise
 * (bool is bit-packed and also reports 0). */
int sl_type_width(enum sl_type_id t);
static inline bool sl_type_is_string(enum sl_type_id t) {
  return t == SL_TYPE_UTF8 || t == SL_TYPE_LARGE_UTF8 || t == SL_TYPE_DICT_UTF8;
}

/* ---- fields and schemas ------------------------------------------------ */

/* A named, typed column; nested types carry their children (a list has one
 * child, conventionally named "item"). A field owns its name and children. */
struct sl_field {
  char *name;
  enum sl_type_id type;
  bool nullable;
  int32_t n_children;
  struct sl_field *children;
};

/* Initialises f as a leaf field (copies name). */
int sl_field_init(struct sl_field *f, const char *name, enum sl_type_id type,
                  bool nullable);
/* Appends a deep copy of child to f->children (f must be list or struct). */
int sl_field_add_child(struct sl_field *f, const struct sl_field *child);
int sl_field_copy(struct sl_field *dst, const struct sl_field *src);
void sl_field_release(struct sl_field *f);
bool sl_field_equal(const struct sl_field *a, const struct sl_field *b);
/* Writes "name: type" (recursively for nested) into buf; returns bytes needed.
 */
size_t sl_field_format(const struct sl_field *f, char *buf, size_t cap);

struct sl_schema {
  int32_t n_fields;
  struct sl_field *fields;
  int32_t n_metadata; /* key-value metadata, both owned */
  char **metadata_keys;
  char **metadata_values;
};

void sl_schema_init(struct sl_schema *s);
/* Appends a deep copy of f. */
int sl_schema_add_field(struct sl_schema *s, const struct sl_field *f);
int sl_schema_add_metadata(struct sl_schema *s, const char *key,
                           const char *value);
int sl_schema_copy(struct sl_schema *dst, const struct sl_schema *src);
void sl_schema_release(struct sl_schema *s);
/* Index of the top-level field called name, or -1. */
int32_t sl_schema_find(const struct sl_schema *s, const char *name);

/* ---- buffers ----------------------------------------------------------- */

struct sl_buffer {
  uint8_t *data;
  int64_t size;     /* bytes in use */
  int64_t capacity; /* bytes allocated; 0 for memory owned elsewhere */
  int64_t refs;     /* atomic */
  /* Frees data (and the buffer) when the last reference goes. NULL means
   * data came from sl_aligned_alloc. */
  void (*free_fn)(struct sl_buffer *b);
  void *owner; /* for free_fn: e.g. an imported ArrowArray kept alive */
};

/* A new buffer of `size` bytes (64-byte aligned, uninitialised; the padding
 * up to the 64-byte multiple is zeroed). */
int sl_buffer_new(int64_t size, struct sl_buffer **out);
/* Wraps foreign memory: free_fn(buffer) runs when the last ref goes; it must
 * free the buffer struct with sl_free too. */
int sl_buffer_wrap(void *data, int64_t size,
                   void (*free_fn)(struct sl_buffer *), void *owner,
                   struct sl_buffer **out);
struct sl_buffer *sl_buffer_retain(struct sl_buffer *b);
void sl_buffer_release(struct sl_buffer *b);

/* ---- arrays ------------------------------------------------------------ */

struct sl_array {
  enum sl_type_id type;
  int64_t length;
  int64_t offset;             /* logical start in the buffers, in elements */
  int64_t null_count;         /* -1 when not yet known (sl_array_null_count) */
  struct sl_buffer *validity; /* NULL: every value valid */
  struct sl_buffer *data;     /* values / chars / bits / dict indices */
  struct sl_buffer *offsets;  /* utf8, large_utf8, list */
  int32_t n_children;
  struct sl_array **children;  /* list: 1, struct: n_fields */
  struct sl_array *dictionary; /* dict_utf8: the utf8 dictionary */
  int64_t refs;                /* atomic */
};

/* An empty array shell of type t with one reference; buffers are attached by
 * the caller (builders and importers use it). */
int sl_array_new(enum sl_type_id t, struct sl_array **out);
/* An array of `length` nulls (any type; nested types get empty children). */
int sl_array_new_nulls(const struct sl_field *f, int64_t length,
                       struct sl_array **out);
struct sl_array *sl_array_retain(struct sl_array *a);
void sl_array_release(struct sl_array *a);
/* A view of [offset, offset+length) sharing buffers; one new reference. */
int sl_array_slice(struct sl_array *a, int64_t offset, int64_t length,
                   struct sl_array **out, struct sl_error *err);
/* Computes (and caches) the null count. */
int64_t sl_array_null_count(struct sl_array *a);
/* Checks the array's buffers against its type and length: sizes, offsets
 * monotonic and in range, children lengths, dictionary indices in range and
 * UTF-8 (when check_utf8). Used on every import. */
int sl_array_validate(const struct sl_array *a, const struct sl_field *f,
                      bool check_utf8, struct sl_error *err);

static inline bool sl_bit_get(const uint8_t *bits, int64_t i) {
  return (bits[i >> 3] >> (i & 7)) & 1;
}
static inline void sl_bit_set(uint8_t *bits, int64_t i) {
  bits[i >> 3] |= (uint8_t)(1u << (i & 7));
}
static inline void sl_bit_clear(uint8_t *bits, int64_t i) {
  bits[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

/* Element i (0-based, relative to the array's offset). */
static inline bool sl_array_is_valid(const struct sl_array *a, int64_t i) {
  if (a->type == SL_TYPE_NULL) return false;
  return a->validity == NULL || sl_bit_get(a->validity->data, a->offset + i);
}
static inline const int32_t *sl_array_i32(const struct sl_array *a) {
  return (const int32_t *)a->data->data + a->offset;
}
static inline const int64_t *sl_array_i64(const struct sl_array *a) {
  return (const int64_t *)a->data->data + a->offset;
}
static inline const double *sl_array_f64(const struct sl_array *a) {
  return (const double *)a->data->data + a->offset;
}
static inline bool sl_array_bool(const struct sl_array *a, int64_t i) {
  return sl_bit_get(a->data->data, a->offset + i);
}
/* String i of a utf8, large_utf8 or dict_utf8 array (not NUL-terminated). */
static inline const char *sl_array_str(const struct sl_array *a, int64_t i,
                                       int64_t *len) {
  if (a->type == SL_TYPE_DICT_UTF8) {
    int32_t k = ((const int32_t *)a->data->data)[a->offset + i];
    return sl_array_str(a->dictionary, k, len);
  }
  int64_t j = a->offset + i, b, e;
  if (a->type == SL_TYPE_LARGE_UTF8) {
    const int64_t *o = (const int64_t *)a->offsets->data;
    b = o[j];
    e = o[j + 1];
  } else {
    const int32_t *o = (const int32_t *)a->offsets->data;
    b = o[j];
    e = o[j + 1];
  }
  *len = e - b;
  return (const char *)a->data->data + b;
}
/* List i: its elements are child[*start, *start + *len) in child indices
 * (already including the child's own offset handling by the caller). */
static inline void sl_array_list_range(const struct sl_array *a, int64_t i,
                                       int64_t *start, int64_t *len) {
  const int32_t *o = (const int32_t *)a->offsets->data;
  *start = o[a->offset + i];
  *len = o[a->offset + i + 1] - *start;
}

/* ---- record batches ---------------------------------------------------- */

/* A schema plus one array per top-level field, all of `length` rows. */
struct sl_batch {
  struct sl_schema schema; /* owned */
  int64_t length;
  int32_t n_columns;         /* == schema.n_fields */
  struct sl_array **columns; /* one reference each, owned */
};

/* Makes a batch from a schema (copied) and n arrays (references taken over:
 * on success and failure alike the caller no longer owns them). */
int sl_batch_make(const struct sl_schema *schema, struct sl_array **columns,
                  int64_t length, struct sl_batch **out, struct sl_error *err);
void sl_batch_free(struct sl_batch *b);
/* Row slice sharing memory. */
int sl_batch_slice(const struct sl_batch *b, int64_t offset, int64_t length,
                   struct sl_batch **out, struct sl_error *err);
int sl_batch_validate(const struct sl_batch *b, struct sl_error *err);

/* A pull-based source of batches (JSON reader, Parquet reader, a query).
 * next() sets *out to a new batch owned by the caller, or NULL at the end. */
struct sl_batch_reader {
  const struct sl_schema *(*schema)(struct sl_batch_reader *r);
  int (*next)(struct sl_batch_reader *r, struct sl_batch **out,
              struct sl_error *err);
  void (*release)(struct sl_batch_reader *r); /* frees r itself too */
  void *private_data;
};

/* ---- builders ---------------------------------------------------------- */

/* A growable byte buffer (64-byte aligned), the building block of builders. */
struct sl_bytes {
  uint8_t *data;
  int64_t size;
  int64_t capacity;
};
int sl_bytes_reserve_slow(struct sl_bytes *b, int64_t extra);
static inline int sl_bytes_reserve(struct sl_bytes *b, int64_t extra) {
  if (b->capacity - b->size >= extra) return 0;
  return sl_bytes_reserve_slow(b, extra);
}
static inline int sl_bytes_append(struct sl_bytes *b, const void *p,
                                  int64_t n) {
  int rc = sl_bytes_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->size, p, (size_t)n);
  b->size += n;
  return 0;
}
void sl_bytes_release(struct sl_bytes *b);
/* Moves the bytes into a new sl_buffer (b is left empty). */
int sl_bytes_finish(struct sl_bytes *b, struct sl_buffer **out);

struct sl_dict_map; /* string -> index hash for dict_utf8 builders */

/* Builds one array of a given field type. Nested builders own children
 * builders mirroring the field. Usage for nested values:
 *  - list: append the elements to children[0], then sl_builder_list_end()
 *    closes one list holding everything appended since the previous close;
 *  - struct: append exactly one value (or null) to every child, then
 *    sl_builder_struct_end(b, true); sl_builder_append_null on a struct
 *    appends a null to every child for you. */
struct sl_builder {
  enum sl_type_id type;
  int64_t length;
  int64_t null_count;
  struct sl_bytes validity; /* allocated lazily at the first null */
  struct sl_bytes data;
  struct sl_bytes offsets;
  int32_t n_children;
  struct sl_builder *children;
  struct sl_dict_map *dict;       /* dict_utf8 only */
  struct sl_builder *dict_values; /* dict_utf8: the utf8 dictionary */
};

int sl_builder_init(struct sl_builder *b, const struct sl_field *f);
void sl_builder_release(struct sl_builder *b);
/* Hands out the built array (one reference) and resets b for reuse. */
int sl_builder_finish(struct sl_builder *b, struct sl_array **out);
int sl_builder_reserve(struct sl_builder *b, int64_t n);

int sl_builder_append_null(struct sl_builder *b);
int sl_builder_append_nulls(struct sl_builder *b, int64_t n);
int sl_builder_append_bool(struct sl_builder *b, bool v);
/* int32, int64, timestamp[ms|us], date32 (range-checked for 32-bit types). */
int sl_builder_append_int(struct sl_builder *b, int64_t v);
int sl_builder_append_double(struct sl_builder *b, double v);
/* utf8, large_utf8, dict_utf8; bytes are copied, not validated. */
int sl_builder_append_str(struct sl_builder *b, const char *s, int64_t n);
int sl_builder_list_end(struct sl_builder *b);
int sl_builder_struct_end(struct sl_builder *b);

/* Hot-path appends without range or type checks: the caller has reserved
 * space (sl_builder_reserve) and knows the type. */
void sl__builder_mark_valid_slow(struct sl_builder *b);
static inline void sl_builder_unsafe_append_i64(struct sl_builder *b,
                                                int64_t v) {
  ((int64_t *)b->data.data)[b->length] = v;
  b->data.size += 8;
  if (b->validity.data) sl__builder_mark_valid_slow(b);
  b->length++;
}
static inline void sl_builder_unsafe_append_f64(struct sl_builder *b,
                                                double v) {
  ((double *)b->data.data)[b->length] = v;
  b->data.size += 8;
  if (b->validity.data) sl__builder_mark_valid_slow(b);
  b->length++;
}

#ifdef __cplusplus
}
#endif
#endif
