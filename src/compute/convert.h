/* sluice compute: Arrow arrays <-> vecs. */
#ifndef SLUICE_COMPUTE_CONVERT_H
#define SLUICE_COMPUTE_CONVERT_H

#include "compute/vec.h"
#include "sluice/table.h"

/* A column found by path in a batch: the leaf array and the struct arrays
 * above it (their offsets and validity apply to the leaf). Borrowed. */
struct sl_resolved {
  struct sl_array *leaf;
  int32_t n_parents;
  struct sl_array *parents[8];
};

/* Finds "name" or "a.b.c" (through struct children) in b. SL_ENOENT when
 * absent. */
int sl__resolve_path(const struct sl_batch *b, const char *path,
                     struct sl_resolved *out);
/* Rows [off, off+n) of a resolved column as a vec (views into the arrays:
 * keep the batch alive while the vec is used). */
int sl__vec_from_resolved(const struct sl_resolved *res, int64_t off, int64_t n,
                          struct sl_arena *ar, struct sl_vec *out);
/* Rows [base+off, base+off+n) of one array; outer_valid (n bytes or NULL)
 * is ANDed into the validity. */
int sl__vec_from_array(const struct sl_array *a, int64_t base, int64_t off,
                       int64_t n, const uint8_t *outer_valid,
                       struct sl_arena *ar, struct sl_vec *out);

/* The Arrow type a vec type is written as. */
enum sl_type_id sl__arrow_type_of(enum sl_vt t);
/* Rows [off, off+n) of v as a new Arrow array (one reference to *out). */
/* Rows [off, off+n) of v as an array that shares buf, which holds v's
 * values (v->d.any inside buf->data): no copy for a fixed-width column
 * without NULLs there; otherwise as sl__vec_to_array. */
int sl__vec_to_array_shared(const struct sl_vec *v, struct sl_buffer *buf,
                            int64_t off, int64_t n, struct sl_array **out,
                            struct sl_error *err);
int sl__vec_to_array(const struct sl_vec *v, int64_t off, int64_t n,
                     struct sl_array **out, struct sl_error *err);

#endif
