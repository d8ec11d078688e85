/* Reader side: definition and repetition levels plus dense values back into
 * Arrow-layout arrays (the inverse of pq_shred.c).
 *
 * Each level entry starts a new element at every node whose enclosing
 * repetition level is >= the entry's repetition level, down to where the
 * definition level stops (a null or an empty list). The structure of a
 * struct or list (validity, offsets) is built from the first projected leaf
 * below it; every leaf builds its own values. Flat columns do not come
 * here: pq_flat.c decodes them straight into their arrays. */
#include <string.h>

#include "io/parquet/pq.h"

static void buf_free(struct sl_buffer *b) {
  sl_free(b->data);
  sl_free(b);
}

/* Moves a pq_buf into a new sl_buffer (b is left empty). */
static int to_buffer(struct pq_buf *b, struct sl_buffer **out) {
  if (pq_buf_reserve(b, 8)) return SL_ENOMEM; /* never a NULL data pointer */
  int rc = sl_buffer_wrap(b->data, (int64_t)b->size, buf_free, NULL, out);
  if (rc) return rc;
  b->data = NULL;
  b->size = b->cap = 0;
  return 0;
}

struct anode {
  enum sl_type_id type;
  int32_t owner;
  int64_t length, null_count;
  struct pq_buf valid;   /* bitmap */
  struct pq_buf offsets; /* int32: lists, strings */
  struct pq_buf data;    /* values, chars or bits */
  int32_t n_children;
  struct anode *children;
};

static int anode_init(struct anode *a, const struct sl_field *f) {
  memset(a, 0, sizeof *a);
  a->type = f->type;
  a->owner = -1;
  if (f->n_children) {
    a->children = sl_calloc((size_t)f->n_children, sizeof *a->children);
    if (!a->children) return SL_ENOMEM;
    a->n_children = f->n_children;
    for (int32_t i = 0; i < f->n_children; i++) {
      int rc = anode_init(&a->children[i], &f->children[i]);
      if (rc) return rc;
    }
  }
  return 0;
}

static void anode_release(struct anode *a) {
  pq_buf_release(&a->valid);
  pq_buf_release(&a->offsets);
  pq_buf_release(&a->data);
  for (int32_t i = 0; i < a->n_children; i++)
    anode_release(&a->children[i]);
  sl_free(a->children);
}

static int put_bit(struct pq_buf *b, int64_t i, bool v) {
  if ((i & 7) == 0) {
    if (pq_buf_reserve(b, 1)) return SL_ENOMEM;
    b->data[b->size++] = 0;
  }
  if (v) b->data[i >> 3] |= (uint8_t)(1u << (i & 7));
  return 0;
}

static int put_i32(struct pq_buf *b, int64_t v) {
  if (v > INT32_MAX) return SL_EOVERFLOW;
  int32_t x = (int32_t)v;
  return pq_buf_append(b, &x, 4);
}

/* Appends one leaf slot (a value from v at *vi when present). */
static int leaf_slot(struct anode *a, bool present, const struct pq_values *v,
                     int64_t *vi) {
  int rc;
  if ((rc = put_bit(&a->valid, a->length, present))) return rc;
  if (!present) a->null_count++;
  switch (a->type) {
  case SL_TYPE_NULL: break;
  case SL_TYPE_BOOL:
    rc = put_bit(&a->data, a->length, present && v->data.data[*vi]);
    break;
  case SL_TYPE_UTF8: {
    if (a->offsets.size == 0 && (rc = put_i32(&a->offsets, 0))) return rc;
    if (present) {
      const int64_t *o = (const int64_t *)(const void *)v->offs.data;
      if ((rc = pq_buf_append(&a->data, v->data.data + o[*vi],
                              (size_t)(o[*vi + 1] - o[*vi]))))
        return rc;
    }
    rc = put_i32(&a->offsets, (int64_t)a->data.size);
    break;
  }
  default: {
    int w = sl_type_width(a->type);
    if (present) {
      rc = pq_buf_append(&a->data, v->data.data + (size_t)*vi * (size_t)w,
                         (size_t)w);
    } else {
      static const uint8_t zero[8];
      rc = pq_buf_append(&a->data, zero, (size_t)w);
    }
  }
  }
  if (present && a->type != SL_TYPE_NULL) (*vi)++;
  a->length++;
  return rc;
}

/* A null struct still has a slot in each child (Arrow keeps children as
 * long as the struct): append null slots below node k down through nested
 * structs; a list there gets one null, empty entry. */
static int fill_nulls(const struct pq_leaf *leaf, int32_t li,
                      struct anode **path, int32_t k,
                      const struct pq_values *v) {
  int rc = 0;
  int64_t vi = 0;
  for (int32_t m = k + 1; m < leaf->n_nodes && !rc; m++) {
    if (leaf->nodes[m - 1].type != SL_TYPE_STRUCT) break;
    struct anode *a = path[m];
    if (m == leaf->n_nodes - 1) return leaf_slot(a, false, v, &vi);
    if (a->owner != li) continue;
    if ((rc = put_bit(&a->valid, a->length, false))) break;
    a->null_count++;
    if (a->type == SL_TYPE_LIST) rc = put_i32(&a->offsets, path[m + 1]->length);
    a->length++;
  }
  return rc;
}

static int assemble_leaf(const struct pq_leaf *leaf, int32_t li,
                         const struct pq_chunk_data *d, struct anode *root,
                         struct sl_error *err) {
  struct anode *path[PQ_MAX_DEPTH];
  path[0] = root;
  for (int32_t k = 0; k + 1 < leaf->n_nodes; k++)
    path[k + 1] = &path[k]->children[leaf->nodes[k].child];
  int64_t vi = 0;
  int64_t n = d->n_levels;
  int rc = 0;
  for (int64_t j = 0; j < n && !rc; j++) {
    int dl = d->def ? d->def[j] : leaf->max_def;
    int rl = d->rep ? d->rep[j] : 0;
    for (int32_t k = 0; k < leaf->n_nodes; k++) {
      const struct pq_node *node = &leaf->nodes[k];
      if (dl < node->d_in) break;
      if (rl > node->rep_ctx) continue;
      struct anode *a = path[k];
      bool present = dl >= node->d_present;
      if (k == leaf->n_nodes - 1) {
        if (present && a->type != SL_TYPE_NULL && vi >= d->v.n) {
          return sl_error_set(err, SL_EINVAL,
                              "column has fewer values (%lld) than its "
                              "definition levels promise",
                              (long long)d->v.n);
        }
        rc = leaf_slot(a, present, &d->v, &vi);
        break;
      }
      if (a->owner == li) {
        if ((rc = put_bit(&a->valid, a->length, present))) break;
        if (!present) a->null_count++;
        /* A list records where each element starts; finish() adds the
         * end. */
        if (a->type == SL_TYPE_LIST &&
            (rc = put_i32(&a->offsets, path[k + 1]->length)))
          break;
        a->length++;
      }
      if (!present) {
        if (node->type == SL_TYPE_STRUCT)
          rc = fill_nulls(leaf, li, path, k, &d->v);
        break;
      }
      if (node->type == SL_TYPE_LIST && dl < node->d_present + 1) break;
    }
  }
  if (rc == SL_EOVERFLOW)
    return sl_error_set(err, SL_ERANGE,
                        "list or string data over 2 GiB in one row group");
  if (rc) return sl_error_set(err, rc, "out of memory assembling a column");
  if (vi != d->v.n && leaf->nodes[leaf->n_nodes - 1].type != SL_TYPE_NULL)
    return sl_error_set(err, SL_EINVAL,
                        "column has %lld values, definition levels use %lld",
                        (long long)d->v.n, (long long)vi);
  return 0;
}

static int finish(struct anode *a, struct sl_array **out) {
  struct sl_array *arr = NULL;
  int rc = sl_array_new(a->type, &arr);
  if (rc) return rc;
  arr->length = a->length;
  arr->null_count = a->type == SL_TYPE_NULL ? a->length : a->null_count;
  if (a->null_count > 0 && a->type != SL_TYPE_NULL &&
      (rc = to_buffer(&a->valid, &arr->validity)))
    goto fail;
  switch (a->type) {
  case SL_TYPE_NULL:
  case SL_TYPE_STRUCT: break;
  case SL_TYPE_LIST: {
    if ((rc = put_i32(&a->offsets, a->children[0].length))) goto fail;
    if ((rc = to_buffer(&a->offsets, &arr->offsets))) goto fail;
    break;
  }
  case SL_TYPE_UTF8:
    if (a->offsets.size == 0 && (rc = put_i32(&a->offsets, 0))) goto fail;
    if ((rc = to_buffer(&a->offsets, &arr->offsets))) goto fail;
    if ((rc = to_buffer(&a->data, &arr->data))) goto fail;
    break;
  default:
    if ((rc = to_buffer(&a->data, &arr->data))) goto fail;
  }
  if (a->n_children) {
    arr->children = sl_calloc((size_t)a->n_children, sizeof *arr->children);
    if (!arr->children) {
      rc = SL_ENOMEM;
      goto fail;
    }
    arr->n_children = a->n_children;
    for (int32_t i = 0; i < a->n_children; i++)
      if ((rc = finish(&a->children[i], &arr->children[i]))) goto fail;
  }
  *out = arr;
  return 0;
fail:
  sl_array_release(arr);
  return rc;
}

static void set_owner(struct anode *root, const struct pq_leaf *leaf,
                      int32_t li) {
  struct anode *a = root;
  for (int32_t k = 0; k < leaf->n_nodes; k++) {
    if (a->owner < 0) a->owner = li;
    if (k + 1 < leaf->n_nodes) a = &a->children[leaf->nodes[k].child];
  }
}

int pq_assemble(const struct sl_field *field,
                const struct pq_leaf *const *leaves,
                struct pq_chunk_data *const *data, int32_t n_leaves,
                int64_t num_rows, struct sl_array **out, struct sl_error *err) {
  *out = NULL;
  struct anode root;
  int rc = anode_init(&root, field);
  if (rc) {
    anode_release(&root);
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  }
  for (int32_t i = 0; i < n_leaves; i++)
    set_owner(&root, leaves[i], i);
  for (int32_t i = 0; i < n_leaves && !rc; i++)
    rc = assemble_leaf(leaves[i], i, data[i], &root, err);
  if (!rc) {
    /* Every leaf must agree on the number of rows and on the shape of the
     * structs they share. */
    if (root.length != num_rows)
      rc = sl_error_set(
          err, SL_EINVAL, "column '%s' has %lld rows, the row group %lld",
          field->name, (long long)root.length, (long long)num_rows);
  }
  if (!rc && (rc = finish(&root, out)))
    rc = sl_error_set(err, rc, "out of memory (or over 2 GiB) assembling '%s'",
                      field->name);
  if (!rc) {
    rc = sl_array_validate(*out, field, false, err);
    if (rc) {
      sl_array_release(*out);
      *out = NULL;
      sl_error_prefix(
          err, "column '%s' from the file is inconsistent: ", field->name);
    }
  }
  anode_release(&root);
  return rc;
}
