/* Reference-counted buffers and arrays; slices and null counts. */
#include <stdatomic.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/table.h"

#define REFS(p) ((_Atomic int64_t *)&(p)->refs)

int sl_buffer_new(int64_t size, struct sl_buffer **out) {
  *out = NULL;
  if (size < 0) return SL_EINVAL;
  struct sl_buffer *b = sl_calloc(1, sizeof *b);
  if (!b) return SL_ENOMEM;
  int64_t cap = (size + 63) / 64 * 64;
  b->data = sl_aligned_alloc((size_t)(cap ? cap : 64));
  if (!b->data) {
    sl_free(b);
    return SL_ENOMEM;
  }
  if (cap > size) memset(b->data + size, 0, (size_t)(cap - size));
  b->size = size;
  b->capacity = cap;
  atomic_init(REFS(b), 1);
  *out = b;
  return 0;
}

int sl_buffer_wrap(void *data, int64_t size,
                   void (*free_fn)(struct sl_buffer *), void *owner,
                   struct sl_buffer **out) {
  *out = NULL;
  struct sl_buffer *b = sl_calloc(1, sizeof *b);
  if (!b) return SL_ENOMEM;
  b->data = data;
  b->size = size;
  b->capacity = 0;
  b->free_fn = free_fn;
  b->owner = owner;
  atomic_init(REFS(b), 1);
  *out = b;
  return 0;
}

struct sl_buffer *sl_buffer_retain(struct sl_buffer *b) {
  if (b) atomic_fetch_add_explicit(REFS(b), 1, memory_order_relaxed);
  return b;
}

void sl_buffer_release(struct sl_buffer *b) {
  if (!b) return;
  if (atomic_fetch_sub_explicit(REFS(b), 1, memory_order_acq_rel) != 1) return;
  if (b->free_fn) {
    b->free_fn(b);
    return;
  }
  sl_aligned_free(b->data);
  sl_free(b);
}

int sl_array_new(enum sl_type_id t, struct sl_array **out) {
  *out = NULL;
  struct sl_array *a = sl_calloc(1, sizeof *a);
  if (!a) return SL_ENOMEM;
  a->type = t;
  a->null_count = 0;
  atomic_init(REFS(a), 1);
  *out = a;
  return 0;
}

struct sl_array *sl_array_retain(struct sl_array *a) {
  if (a) atomic_fetch_add_explicit(REFS(a), 1, memory_order_relaxed);
  return a;
}

void sl_array_release(struct sl_array *a) {
  if (!a) return;
  if (atomic_fetch_sub_explicit(REFS(a), 1, memory_order_acq_rel) != 1) return;
  sl_buffer_release(a->validity);
  sl_buffer_release(a->data);
  sl_buffer_release(a->offsets);
  for (int32_t i = 0; i < a->n_children; i++)
    sl_array_release(a->children[i]);
  sl_free(a->children);
  sl_array_release(a->dictionary);
  sl_free(a);
}

int sl_array_new_nulls(const struct sl_field *f, int64_t length,
                       struct sl_array **out) {
  struct sl_builder b;
  int rc = sl_builder_init(&b, f);
  if (rc) return rc;
  rc = sl_builder_append_nulls(&b, length);
  if (!rc) rc = sl_builder_finish(&b, out);
  sl_builder_release(&b);
  return rc;
}

int sl_array_slice(struct sl_array *a, int64_t offset, int64_t length,
                   struct sl_array **out, struct sl_error *err) {
  *out = NULL;
  if (offset < 0 || length < 0 || offset > a->length ||
      length > a->length - offset)
    return sl_error_set(
        err, SL_ERANGE, "slice [%lld, +%lld) is outside an array of %lld rows",
        (long long)offset, (long long)length, (long long)a->length);
  struct sl_array *s;
  int rc = sl_array_new(a->type, &s);
  if (rc) return sl_error_set(err, rc, "slice: out of memory");
  if (a->n_children) {
    s->children = sl_calloc((size_t)a->n_children, sizeof *s->children);
    if (!s->children) {
      sl_array_release(s);
      return sl_error_set(err, SL_ENOMEM, "slice: out of memory");
    }
  }
  s->length = length;
  s->offset = a->offset + offset;
  s->null_count = a->validity ? -1 : 0;
  if (a->type == SL_TYPE_NULL) s->null_count = length;
  s->validity = sl_buffer_retain(a->validity);
  s->data = sl_buffer_retain(a->data);
  s->offsets = sl_buffer_retain(a->offsets);
  s->dictionary = sl_array_retain(a->dictionary);
  /* Children keep their own offsets: a struct child is sliced by the parent
   * offset (Arrow semantics: the parent offset applies to struct children),
   * list children are addressed through the parent's offsets buffer. */
  s->n_children = a->n_children;
  for (int32_t i = 0; i < a->n_children; i++)
    s->children[i] = sl_array_retain(a->children[i]);
  if (offset == 0 && length == a->length) s->null_count = a->null_count;
  *out = s;
  return 0;
}

int64_t sl_array_null_count(struct sl_array *a) {
  if (a->null_count >= 0) return a->null_count;
  if (a->type == SL_TYPE_NULL) return a->null_count = a->length;
  if (!a->validity) return a->null_count = 0;
  const uint8_t *bits = a->validity->data;
  int64_t valid = 0, i = a->offset, end = a->offset + a->length;
  for (; i < end && (i & 7); i++)
    valid += sl_bit_get(bits, i);
  for (; i + 64 <= end; i += 64) {
    uint64_t w;
    memcpy(&w, bits + (i >> 3), 8);
    valid += __builtin_popcountll(w);
  }
  for (; i < end; i++)
    valid += sl_bit_get(bits, i);
  a->null_count = a->length - valid;
  return a->null_count;
}
