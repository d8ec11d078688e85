/* Builders: growable Arrow-layout buffers for every column type. */
#include <string.h>
#include <xxhash.h>

#include "sluice/alloc.h"
#include "sluice/table.h"

/* ---- growable bytes ---------------------------------------------------- */

int sl_bytes_reserve_slow(struct sl_bytes *b, int64_t extra) {
  if (extra < 0 || b->size > INT64_MAX - extra) return SL_EOVERFLOW;
  int64_t need = b->size + extra;
  int64_t cap = b->capacity ? b->capacity : 64;
  while (cap < need) {
    if (cap > INT64_MAX / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }
  cap = (cap + 63) / 64 * 64;
  uint8_t *p = sl_aligned_realloc(b->data, (size_t)b->size, (size_t)cap);
  if (!p) return SL_ENOMEM;
  b->data = p;
  b->capacity = cap;
  return 0;
}

void sl_bytes_release(struct sl_bytes *b) {
  sl_aligned_free(b->data);
  memset(b, 0, sizeof *b);
}

static void bytes_buffer_free(struct sl_buffer *buf) {
  sl_aligned_free(buf->data);
  sl_free(buf);
}

int sl_bytes_finish(struct sl_bytes *b, struct sl_buffer **out) {
  *out = NULL;
  if (!b->data) {
    int rc = sl_bytes_reserve_slow(b, 64);
    if (rc) return rc;
  }
  struct sl_buffer *buf;
  int rc = sl_buffer_wrap(b->data, b->size, bytes_buffer_free, NULL, &buf);
  if (rc) return rc;
  buf->capacity = b->capacity;
  /* Zero the tail padding so exported buffers never expose garbage. */
  if (b->capacity > b->size)
    memset(b->data + b->size, 0, (size_t)(b->capacity - b->size));
  memset(b, 0, sizeof *b);
  *out = buf;
  return 0;
}

/* ---- dictionary map (dict_utf8) ---------------------------------------- */

struct sl_dict_map {
  int32_t *slots;   /* dictionary index + 1; 0 = empty */
  uint64_t *hashes; /* per dictionary entry */
  int64_t n_slots;  /* power of two */
  int64_t count;
};

static int dict_map_new(struct sl_dict_map **out) {
  struct sl_dict_map *m = sl_calloc(1, sizeof *m);
  if (!m) return SL_ENOMEM;
  m->n_slots = 64;
  m->slots = sl_calloc((size_t)m->n_slots, sizeof *m->slots);
  m->hashes = sl_calloc((size_t)m->n_slots, sizeof *m->hashes);
  if (!m->slots || !m->hashes) {
    sl_free(m->slots);
    sl_free(m->hashes);
    sl_free(m);
    return SL_ENOMEM;
  }
  *out = m;
  return 0;
}

static void dict_map_free(struct sl_dict_map *m) {
  if (!m) return;
  sl_free(m->slots);
  sl_free(m->hashes);
  sl_free(m);
}

static int dict_map_grow(struct sl_dict_map *m) {
  int64_t n = m->n_slots * 2;
  int32_t *slots = sl_calloc((size_t)n, sizeof *slots);
  uint64_t *hashes = sl_realloc(m->hashes, (size_t)n * sizeof *hashes);
  if (!slots || !hashes) {
    sl_free(slots);
    if (hashes) m->hashes = hashes;
    return SL_ENOMEM;
  }
  m->hashes = hashes;
  for (int64_t k = 0; k < m->count; k++) {
    int64_t s = (int64_t)(hashes[k] & (uint64_t)(n - 1));
    while (slots[s])
      s = (s + 1) & (n - 1);
    slots[s] = (int32_t)(k + 1);
  }
  sl_free(m->slots);
  m->slots = slots;
  m->n_slots = n;
  return 0;
}

/* Finds or adds s in b's dictionary; sets *index. */
static int dict_lookup(struct sl_builder *b, const char *s, int64_t n,
                       int32_t *index) {
  struct sl_dict_map *m = b->dict;
  struct sl_builder *v = b->dict_values;
  uint64_t h = XXH3_64bits(s, (size_t)n);
  int64_t slot = (int64_t)(h & (uint64_t)(m->n_slots - 1));
  const int32_t *off = (const int32_t *)v->offsets.data;
  while (m->slots[slot]) {
    int32_t k = m->slots[slot] - 1;
    if (m->hashes[k] == h && off[k + 1] - off[k] == n &&
        memcmp(v->data.data + off[k], s, (size_t)n) == 0) {
      *index = k;
      return 0;
    }
    slot = (slot + 1) & (m->n_slots - 1);
  }
  if (m->count >= INT32_MAX - 1) return SL_EOVERFLOW;
  int rc = sl_builder_append_str(v, s, n);
  if (rc) return rc;
  m->hashes[m->count] = h;
  m->slots[slot] = (int32_t)(m->count + 1);
  *index = (int32_t)m->count++;
  if (m->count * 2 > m->n_slots) {
    rc = dict_map_grow(m);
    if (rc) return rc;
  }
  return 0;
}

/* ---- builders ---------------------------------------------------------- */

static int offsets_start(struct sl_builder *b, int width) {
  /* Offsets buffers start with a single zero. */
  int rc = sl_bytes_reserve(&b->offsets, 64 * width);
  if (rc) return rc;
  memset(b->offsets.data, 0, (size_t)width);
  b->offsets.size = width;
  return 0;
}

static int builder_start(struct sl_builder *b) {
  switch (b->type) {
  case SL_TYPE_UTF8:
  case SL_TYPE_LIST: return offsets_start(b, 4);
  case SL_TYPE_LARGE_UTF8: return offsets_start(b, 8);
  default: return 0;
  }
}

int sl_builder_init(struct sl_builder *b, const struct sl_field *f) {
  memset(b, 0, sizeof *b);
  b->type = f->type;
  int rc = 0;
  if (f->type == SL_TYPE_LIST && f->n_children != 1) return SL_EINVAL;
  if (f->n_children && (f->type == SL_TYPE_LIST || f->type == SL_TYPE_STRUCT)) {
    b->children = sl_calloc((size_t)f->n_children, sizeof *b->children);
    if (!b->children) return SL_ENOMEM;
    for (int32_t i = 0; i < f->n_children; i++) {
      rc = sl_builder_init(&b->children[i], &f->children[i]);
      if (rc) goto fail;
      b->n_children = i + 1;
    }
  }
  if (f->type == SL_TYPE_DICT_UTF8) {
    rc = dict_map_new(&b->dict);
    if (rc) goto fail;
    b->dict_values = sl_calloc(1, sizeof *b->dict_values);
    if (!b->dict_values) {
      rc = SL_ENOMEM;
      goto fail;
    }
    struct sl_field vf = {.name = "", .type = SL_TYPE_UTF8, .nullable = false};
    rc = sl_builder_init(b->dict_values, &vf);
    if (rc) goto fail;
  }
  rc = builder_start(b);
  if (rc) goto fail;
  return 0;
fail:
  sl_builder_release(b);
  return rc;
}

void sl_builder_release(struct sl_builder *b) {
  sl_bytes_release(&b->validity);
  sl_bytes_release(&b->data);
  sl_bytes_release(&b->offsets);
  for (int32_t i = 0; i < b->n_children; i++)
    sl_builder_release(&b->children[i]);
  sl_free(b->children);
  dict_map_free(b->dict);
  if (b->dict_values) {
    sl_builder_release(b->dict_values);
    sl_free(b->dict_values);
  }
  memset(b, 0, sizeof *b);
}

int sl_builder_reserve(struct sl_builder *b, int64_t n) {
  int w = sl_type_width(b->type);
  int rc = 0;
  if (w) rc = sl_bytes_reserve(&b->data, n * w);
  if (!rc && b->type == SL_TYPE_BOOL)
    rc = sl_bytes_reserve(&b->data, (b->length + n + 7) / 8 - b->data.size + 1);
  if (!rc && (b->type == SL_TYPE_UTF8 || b->type == SL_TYPE_LIST))
    rc = sl_bytes_reserve(&b->offsets, n * 4);
  if (!rc && b->type == SL_TYPE_LARGE_UTF8)
    rc = sl_bytes_reserve(&b->offsets, n * 8);
  if (!rc && b->validity.data)
    rc = sl_bytes_reserve(&b->validity,
                          (b->length + n + 7) / 8 - b->validity.size + 1);
  return rc;
}

/* Grows a bitmap so bit `i` is addressable; new bytes are zeroed. */
static int bits_ensure(struct sl_bytes *bits, int64_t i) {
  int64_t need = i / 8 + 1;
  if (need <= bits->size) return 0;
  int rc = sl_bytes_reserve(bits, need - bits->size);
  if (rc) return rc;
  memset(bits->data + bits->size, 0, (size_t)(need - bits->size));
  bits->size = need;
  return 0;
}

void sl__builder_mark_valid_slow(struct sl_builder *b) {
  /* Only called when the validity bitmap exists; space was reserved by the
   * caller through sl_builder_reserve, but be safe at byte boundaries. */
  if (bits_ensure(&b->validity, b->length) == 0)
    sl_bit_set(b->validity.data, b->length);
}

/* Records validity for the value about to be appended at b->length. */
static int mark(struct sl_builder *b, bool valid) {
  if (!valid && !b->validity.data) {
    /* First null: materialise the bitmap with every earlier value valid. */
    int64_t bytes = b->length / 8 + 1;
    int rc = sl_bytes_reserve(&b->validity, bytes + 8);
    if (rc) return rc;
    memset(b->validity.data, 0xff, (size_t)bytes);
    b->validity.size = bytes;
    /* Clear bits past length in the last byte. */
    for (int64_t i = b->length; i < bytes * 8; i++)
      sl_bit_clear(b->validity.data, i);
  }
  if (b->validity.data) {
    int rc = bits_ensure(&b->validity, b->length);
    if (rc) return rc;
    if (valid)
      sl_bit_set(b->validity.data, b->length);
    else
      sl_bit_clear(b->validity.data, b->length);
  }
  if (!valid) b->null_count++;
  return 0;
}

static int push_offset(struct sl_builder *b, int64_t value) {
  if (b->type == SL_TYPE_LARGE_UTF8)
    return sl_bytes_append(&b->offsets, &value, 8);
  if (value > INT32_MAX) return SL_EOVERFLOW;
  int32_t v = (int32_t)value;
  return sl_bytes_append(&b->offsets, &v, 4);
}

static int64_t child_length(const struct sl_builder *b) {
  return b->n_children ? b->children[0].length : 0;
}

int sl_builder_append_nulls(struct sl_builder *b, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    int rc = sl_builder_append_null(b);
    if (rc) return rc;
  }
  return 0;
}

int sl_builder_append_null(struct sl_builder *b) {
  int rc = 0;
  if (b->type != SL_TYPE_NULL) rc = mark(b, false);
  if (rc) return rc;
  switch (b->type) {
  case SL_TYPE_NULL: b->null_count++; break;
  case SL_TYPE_BOOL: rc = bits_ensure(&b->data, b->length); break;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8: rc = push_offset(b, b->data.size); break;
  case SL_TYPE_LIST: rc = push_offset(b, child_length(b)); break;
  case SL_TYPE_STRUCT:
    for (int32_t i = 0; i < b->n_children && !rc; i++)
      rc = sl_builder_append_null(&b->children[i]);
    break;
  default: {
    static const uint8_t zero[8];
    rc = sl_bytes_append(&b->data, zero, sl_type_width(b->type));
  }
  }
  if (rc) return rc;
  b->length++;
  return 0;
}

int sl_builder_append_bool(struct sl_builder *b, bool v) {
  if (b->type != SL_TYPE_BOOL) return SL_EINVAL;
  int rc = mark(b, true);
  if (!rc) rc = bits_ensure(&b->data, b->length);
  if (rc) return rc;
  if (v) sl_bit_set(b->data.data, b->length);
  b->length++;
  return 0;
}

int sl_builder_append_int(struct sl_builder *b, int64_t v) {
  int rc;
  switch (b->type) {
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32: {
    if (v < INT32_MIN || v > INT32_MAX) return SL_ERANGE;
    int32_t x = (int32_t)v;
    rc = sl_bytes_append(&b->data, &x, 4);
    break;
  }
  case SL_TYPE_INT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US: rc = sl_bytes_append(&b->data, &v, 8); break;
  default: return SL_EINVAL;
  }
  if (!rc) rc = mark(b, true);
  if (rc) return rc;
  b->length++;
  return 0;
}

int sl_builder_append_double(struct sl_builder *b, double v) {
  if (b->type != SL_TYPE_FLOAT64) return SL_EINVAL;
  int rc = sl_bytes_append(&b->data, &v, 8);
  if (!rc) rc = mark(b, true);
  if (rc) return rc;
  b->length++;
  return 0;
}

int sl_builder_append_str(struct sl_builder *b, const char *s, int64_t n) {
  int rc;
  if (n < 0) return SL_EINVAL;
  if (b->type == SL_TYPE_DICT_UTF8) {
    int32_t k;
    rc = dict_lookup(b, s, n, &k);
    if (!rc) rc = sl_bytes_append(&b->data, &k, 4);
  } else if (b->type == SL_TYPE_UTF8 || b->type == SL_TYPE_LARGE_UTF8) {
    if (b->type == SL_TYPE_UTF8 && b->data.size + n > INT32_MAX)
      return SL_EOVERFLOW;
    rc = sl_bytes_append(&b->data, s, n);
    if (!rc) rc = push_offset(b, b->data.size);
  } else {
    return SL_EINVAL;
  }
  if (!rc) rc = mark(b, true);
  if (rc) return rc;
  b->length++;
  return 0;
}

int sl_builder_list_end(struct sl_builder *b) {
  if (b->type != SL_TYPE_LIST) return SL_EINVAL;
  int rc = push_offset(b, child_length(b));
  if (!rc) rc = mark(b, true);
  if (rc) return rc;
  b->length++;
  return 0;
}

int sl_builder_struct_end(struct sl_builder *b) {
  if (b->type != SL_TYPE_STRUCT) return SL_EINVAL;
  for (int32_t i = 0; i < b->n_children; i++)
    if (b->children[i].length != b->length + 1) return SL_EINVAL;
  int rc = mark(b, true);
  if (rc) return rc;
  b->length++;
  return 0;
}

int sl_builder_finish(struct sl_builder *b, struct sl_array **out) {
  *out = NULL;
  struct sl_array *a = NULL;
  int rc = sl_array_new(b->type, &a);
  if (rc) return rc;
  a->length = b->length;
  a->null_count = b->null_count;
  if (b->type == SL_TYPE_NULL) a->null_count = b->length;
  if (b->type == SL_TYPE_STRUCT)
    for (int32_t i = 0; i < b->n_children; i++)
      if (b->children[i].length != b->length) {
        rc = SL_EINVAL; /* a child got more or fewer values than the struct */
        goto fail;
      }
  if (b->n_children) {
    a->children = sl_calloc((size_t)b->n_children, sizeof *a->children);
    if (!a->children) {
      rc = SL_ENOMEM;
      goto fail;
    }
    a->n_children = b->n_children;
    for (int32_t i = 0; i < b->n_children; i++) {
      rc = sl_builder_finish(&b->children[i], &a->children[i]);
      if (rc) goto fail;
    }
  }
  if (b->type == SL_TYPE_DICT_UTF8) {
    rc = sl_builder_finish(b->dict_values, &a->dictionary);
    if (rc) goto fail;
    /* The dictionary restarts with the next array. */
    dict_map_free(b->dict);
    b->dict = NULL;
    rc = dict_map_new(&b->dict);
    if (rc) goto fail;
  }
  if (b->validity.data) {
    rc = sl_bytes_finish(&b->validity, &a->validity);
    if (rc) goto fail;
  }
  if (b->type != SL_TYPE_NULL && b->type != SL_TYPE_STRUCT &&
      b->type != SL_TYPE_LIST) {
    rc = sl_bytes_finish(&b->data, &a->data);
    if (rc) goto fail;
  }
  if (b->offsets.data) {
    rc = sl_bytes_finish(&b->offsets, &a->offsets);
    if (rc) goto fail;
  }
  b->length = 0;
  b->null_count = 0;
  rc = builder_start(b);
  if (rc) goto fail;
  *out = a;
  return 0;
fail:
  sl_array_release(a);
  return rc;
}
