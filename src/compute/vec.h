/* sluice compute: the engine's in-flight column ("vec") and scalar value.
 *
 * Kernels work on vecs rather than on Arrow arrays: one flat value array per
 * type (int64, double, bytes for bools, {ptr,len} string views) and an
 * optional byte-per-row validity. Input Arrow columns become vecs without
 * copies where the layouts agree (int64, float64, timestamps); strings become
 * views into the Arrow buffers. Results live in the caller's arena, so a
 * whole chunk's scratch memory goes in one reset.
 *
 * A constant vec (constant = true) holds one value that stands for every row;
 * kernels read element 0 of it. */
#ifndef SLUICE_COMPUTE_VEC_H
#define SLUICE_COMPUTE_VEC_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/alloc.h"
#include "sluice/error.h"

/* SQL value types. Every integer is BIGINT; timestamps are microseconds since
 * the epoch (UTC); dates are days since the epoch. */
enum sl_vt {
  SL_VT_NULL = 0,
  SL_VT_BOOL,
  SL_VT_I64,
  SL_VT_F64,
  SL_VT_STR,
  SL_VT_TS,
  SL_VT_DATE,
  SL_VT_INTERVAL, /* constants only (time_bucket, ts +/- interval) */
  SL_VT_COUNT_
};

const char *sl__vt_name(enum sl_vt t); /* "BIGINT", "VARCHAR", ... */
static inline bool sl__vt_is_numeric(enum sl_vt t) {
  return t == SL_VT_I64 || t == SL_VT_F64;
}
/* Types whose values are stored as int64 in a vec. */
static inline bool sl__vt_is_i64(enum sl_vt t) {
  return t == SL_VT_I64 || t == SL_VT_TS || t == SL_VT_DATE;
}

struct sl_str {
  const char *p;
  int64_t n;
};

struct sl_interval {
  int32_t months;
  int32_t days;
  int64_t micros;
};

/* One scalar (constants, min/max of strings, ...). Strings are borrowed. */
struct sl_value {
  enum sl_vt type;
  bool is_null;
  union {
    bool b;
    int64_t i;
    double f;
    struct sl_str s;
    struct sl_interval iv;
  } u;
};

struct sl_vec {
  enum sl_vt type;
  bool constant;
  int64_t n;
  uint8_t *valid; /* NULL: all valid; else one byte per row, 1 = valid */
  union {
    void *any;
    uint8_t *b;
    int64_t *i;
    double *f;
    struct sl_str *s;
    struct sl_interval *iv;
  } d;
};

static inline bool sl__vec_valid(const struct sl_vec *v, int64_t r) {
  if (v->type == SL_VT_NULL) return false;
  if (!v->valid) return true;
  return v->valid[v->constant ? 0 : r] != 0;
}
static inline int64_t sl__vec_idx(const struct sl_vec *v, int64_t r) {
  return v->constant ? 0 : r;
}

struct sl_arena;
/* Allocates an uninitialised vec of n rows (values only; valid = NULL). */
int sl__vec_alloc(struct sl_arena *a, enum sl_vt t, int64_t n,
                  struct sl_vec *out);
/* Adds a validity array set to all-valid (memset 1). */
int sl__vec_add_valid(struct sl_arena *a, struct sl_vec *v);
/* A constant vec holding value v for n rows. */
int sl__vec_const(struct sl_arena *a, const struct sl_value *v, int64_t n,
                  struct sl_vec *out);
/* Turns a constant vec into a full one (every row a copy). */
int sl__vec_flatten(struct sl_arena *a, struct sl_vec *v);
/* Gathers rows sel[0..n) of v into a new vec. */
int sl__vec_gather(struct sl_arena *a, const struct sl_vec *v,
                   const int32_t *sel, int64_t n, struct sl_vec *out);
/* Scalar at row r. */
void sl__vec_get(const struct sl_vec *v, int64_t r, struct sl_value *out);

/* Element size of a type in a vec's data array. */
static inline int64_t sl__vt_size(enum sl_vt t) {
  switch (t) {
  case SL_VT_BOOL: return 1;
  case SL_VT_STR: return (int64_t)sizeof(struct sl_str);
  case SL_VT_INTERVAL: return (int64_t)sizeof(struct sl_interval);
  case SL_VT_NULL: return 1;
  default: return 8;
  }
}

#endif
