/* Shredding (Dremel): one leaf column of a batch into definition levels,
 * repetition levels and dense non-null values.
 *
 * Flat columns take a fast path straight from the validity bitmap; nested
 * ones walk each row through structs and lists, emitting one level entry per
 * leaf slot, null or empty list. */
#include <string.h>

#include "io/parquet/pq.h"

void pq_colbuf_release(struct pq_colbuf *cb) {
  sl_free(cb->def);
  sl_free(cb->rep);
  pq_buf_release(&cb->values);
  memset(cb, 0, sizeof *cb);
}

void pq_colbuf_reset(struct pq_colbuf *cb, const struct pq_leaf *leaf) {
  bool need_def = leaf->max_def > 0, need_rep = leaf->max_rep > 0;
  /* A level array present must mean the leaf has those levels. */
  if (!need_def) {
    sl_free(cb->def);
    cb->def = NULL;
  }
  if (!need_rep) {
    sl_free(cb->rep);
    cb->rep = NULL;
  }
  if ((need_def && !cb->def) || (need_rep && !cb->rep)) {
    sl_free(cb->def);
    sl_free(cb->rep);
    cb->def = cb->rep = NULL;
    cb->cap_levels = 0;
  }
  cb->n_levels = 0;
  cb->values.size = 0;
  cb->n_values = 0;
  cb->string_bytes = 0;
}

static int reserve_levels(struct pq_colbuf *cb, const struct pq_leaf *leaf,
                          int64_t extra) {
  if (cb->cap_levels > 0 && cb->cap_levels - cb->n_levels >= extra) return 0;
  int64_t cap = cb->cap_levels ? cb->cap_levels : 1024;
  while (cap - cb->n_levels < extra)
    cap *= 2;
  if (leaf->max_def > 0) {
    uint16_t *p = sl_realloc(cb->def, (size_t)cap * sizeof *p);
    if (!p) return SL_ENOMEM;
    cb->def = p;
  }
  if (leaf->max_rep > 0) {
    uint16_t *p = sl_realloc(cb->rep, (size_t)cap * sizeof *p);
    if (!p) return SL_ENOMEM;
    cb->rep = p;
  }
  cb->cap_levels = cap;
  return 0;
}

static int value_width(enum sl_type_id t) {
  switch (t) {
  case SL_TYPE_BOOL: return 1;
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32:
  case SL_TYPE_NULL: return 4;
  case SL_TYPE_INT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US:
  case SL_TYPE_FLOAT64: return 8;
  default: return (int)sizeof(struct pq_sv);
  }
}

/* Appends the values at logical indices idx[0..n) (or [start, start+n) when
 * idx is NULL, skipping nulls) of leaf array a. */
static int gather(struct pq_colbuf *cb, const struct sl_array *a,
                  const int64_t *idx, int64_t start, int64_t n) {
  int w = cb->width;
  int rc = pq_buf_reserve(&cb->values, (size_t)n * (size_t)w);
  if (rc) return rc;
  uint8_t *dst = cb->values.data + cb->values.size;
  int64_t k = 0;
  bool all_valid = idx == NULL && a->validity == NULL;
  switch (a->type) {
  case SL_TYPE_NULL: return 0;
  case SL_TYPE_BOOL:
    for (int64_t j = 0; j < n; j++) {
      int64_t i = idx ? idx[j] : start + j;
      if (!idx && !sl_array_is_valid(a, i)) continue;
      dst[k++] = sl_array_bool(a, i);
    }
    break;
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32:
  case SL_TYPE_INT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US:
  case SL_TYPE_FLOAT64: {
    const uint8_t *src = a->data->data + (size_t)a->offset * (size_t)w;
    if (all_valid) {
      memcpy(dst, src + (size_t)start * (size_t)w, (size_t)n * (size_t)w);
      k = n;
    } else if (w == 8) {
      const uint64_t *s64 = (const uint64_t *)(const void *)src;
      uint64_t *d64 = (uint64_t *)(void *)dst;
      if (idx) {
        for (int64_t j = 0; j < n; j++)
          d64[k++] = s64[idx[j]];
      } else {
        for (int64_t j = 0; j < n; j++)
          if (sl_array_is_valid(a, start + j)) d64[k++] = s64[start + j];
      }
    } else {
      const uint32_t *s32 = (const uint32_t *)(const void *)src;
      uint32_t *d32 = (uint32_t *)(void *)dst;
      if (idx) {
        for (int64_t j = 0; j < n; j++)
          d32[k++] = s32[idx[j]];
      } else {
        for (int64_t j = 0; j < n; j++)
          if (sl_array_is_valid(a, start + j)) d32[k++] = s32[start + j];
      }
    }
    break;
  }
  default: { /* strings */
    struct pq_sv *sv = (struct pq_sv *)(void *)dst;
    for (int64_t j = 0; j < n; j++) {
      int64_t i = idx ? idx[j] : start + j;
      if (!idx && !sl_array_is_valid(a, i)) continue;
      int64_t len;
      const char *s = sl_array_str(a, i, &len);
      sv[k].p = (const uint8_t *)s;
      sv[k].n = len;
      cb->string_bytes += len;
      k++;
    }
    break;
  }
  }
  cb->values.size += (size_t)k * (size_t)w;
  cb->n_values += k;
  return 0;
}

/* ---- nested ------------------------------------------------------------ */

struct shred {
  const struct pq_leaf *leaf;
  struct pq_colbuf *cb;
  int64_t *idx; /* value indices into the leaf array */
  int64_t n_idx, cap_idx;
  int rc;
};

static void emit(struct shred *s, int16_t def, int16_t rep, int64_t value) {
  if (s->rc) return;
  struct pq_colbuf *cb = s->cb;
  if ((s->rc = reserve_levels(cb, s->leaf, 1))) return;
  if (cb->def) cb->def[cb->n_levels] = (uint16_t)def;
  if (cb->rep) cb->rep[cb->n_levels] = (uint16_t)rep;
  cb->n_levels++;
  if (value >= 0) {
    if (s->n_idx == s->cap_idx) {
      int64_t cap = s->cap_idx ? s->cap_idx * 2 : 1024;
      int64_t *p = sl_realloc(s->idx, (size_t)cap * sizeof *p);
      if (!p) {
        s->rc = SL_ENOMEM;
        return;
      }
      s->idx = p;
      s->cap_idx = cap;
    }
    s->idx[s->n_idx++] = value;
  }
}

static void walk(struct shred *s, int d, const struct sl_array *a, int64_t i,
                 int16_t rep) {
  const struct pq_node *n = &s->leaf->nodes[d];
  if (s->rc) return;
  if (!sl_array_is_valid(a, i)) {
    if (!n->nullable) {
      s->rc = SL_EINVAL; /* a null where the file's schema allows none */
      return;
    }
    emit(s, n->d_in, rep, -1);
    return;
  }
  if (a->type == SL_TYPE_STRUCT) {
    walk(s, d + 1, a->children[n->child], a->offset + i, rep);
  } else if (a->type == SL_TYPE_LIST) {
    int64_t start, len;
    sl_array_list_range(a, i, &start, &len);
    if (len == 0) {
      emit(s, n->d_present, rep, -1);
      return;
    }
    for (int64_t j = 0; j < len; j++)
      walk(s, d + 1, a->children[0], start + j, j == 0 ? rep : n->rep);
  } else {
    emit(s, n->d_present, rep, i);
  }
}

int pq_shred(const struct pq_leaf *leaf, struct sl_array *top,
             struct pq_colbuf *cb) {
  cb->width = value_width(leaf->nodes[leaf->n_nodes - 1].type);
  int rc;
  if (leaf->n_nodes == 1) {
    int64_t n = top->length;
    if (leaf->max_def == 0 && top->validity) {
      /* Counted here, not through the array's cached count: other column
       * tasks may read the same array at the same time. */
      for (int64_t i = 0; i < n; i++)
        if (!sl_array_is_valid(top, i)) return SL_EINVAL;
    }
    if ((rc = reserve_levels(cb, leaf, n))) return rc;
    if (leaf->max_def > 0) {
      uint16_t *def = cb->def + cb->n_levels;
      if (top->type == SL_TYPE_NULL) {
        memset(def, 0, (size_t)n * sizeof *def);
      } else if (!top->validity) {
        for (int64_t i = 0; i < n; i++)
          def[i] = 1;
      } else {
        for (int64_t i = 0; i < n; i++)
          def[i] = sl_array_is_valid(top, i);
      }
    }
    cb->n_levels += n;
    return gather(cb, top, NULL, 0, n);
  }
  struct shred s = {.leaf = leaf, .cb = cb};
  for (int64_t i = 0; i < top->length && !s.rc; i++)
    walk(&s, 0, top, i, 0);
  rc = s.rc;
  if (!rc && s.n_idx) {
    /* Every value comes from the same leaf array: follow the path. */
    const struct sl_array *a = top;
    for (int32_t d = 0; d + 1 < leaf->n_nodes; d++)
      a = a->children[leaf->nodes[d].child];
    rc = gather(cb, a, s.idx, 0, s.n_idx);
  }
  sl_free(s.idx);
  return rc;
}
