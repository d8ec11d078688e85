/* Export of sluice fields, schemas, arrays and batches through the Arrow C
 * Data Interface, written from the public specification.
 *
 * Nothing is copied: each exported ArrowArray node holds one reference to
 * the sluice array it shows and drops it in its release callback. Every node
 * (children and dictionary included) has its own release and private data,
 * so a consumer may move children out and release them independently, as
 * the specification allows; a parent's release skips children whose release
 * is already NULL. */
#include <inttypes.h>
#include <stdalign.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/arrow_c.h"
#include "table/arrow_c_internal.h"

/* Stands in for absent buffers that the consumer may still read: the single
 * zero offset of an empty utf8/list array, or an empty data buffer. */
static alignas(64) const int64_t zero_block[8];

static const char *format_of(enum sl_type_id t) {
  switch (t) {
  case SL_TYPE_NULL: return "n";
  case SL_TYPE_BOOL: return "b";
  case SL_TYPE_INT32: return "i";
  case SL_TYPE_INT64: return "l";
  case SL_TYPE_FLOAT64: return "g";
  case SL_TYPE_UTF8: return "u";
  case SL_TYPE_LARGE_UTF8: return "U";
  case SL_TYPE_TIMESTAMP_MS: return "tsm:UTC";
  case SL_TYPE_TIMESTAMP_US: return "tsu:UTC";
  case SL_TYPE_DATE32: return "tdD";
  case SL_TYPE_LIST: return "+l";
  case SL_TYPE_STRUCT: return "+s";
  case SL_TYPE_DICT_UTF8:
    return "i"; /* the index type; values in .dictionary */
  default: return NULL;
  }
}

/* ---- schemas ----------------------------------------------------------- */

struct schema_private {
  char *name;
  char *metadata;
  struct ArrowSchema **child_ptrs;
  struct ArrowSchema *child_store;
  struct ArrowSchema *dict;
};

static void release_schema(struct ArrowSchema *s) {
  if (!s || !s->release) return;
  struct schema_private *p = s->private_data;
  if (p) {
    for (int64_t i = 0; i < s->n_children; i++) {
      struct ArrowSchema *c = p->child_ptrs ? p->child_ptrs[i] : NULL;
      if (c && c->release) c->release(c);
    }
    if (p->dict && p->dict->release) p->dict->release(p->dict);
    sl_free(p->dict);
    sl_free(p->child_store);
    sl_free(p->child_ptrs);
    sl_free(p->metadata);
    sl_free(p->name);
    sl_free(p);
  }
  s->release = NULL;
  s->private_data = NULL;
}

/* Arrow's binary key-value metadata: int32 count, then per pair int32 key
 * length, key bytes, int32 value length, value bytes (native endianness). */
static int encode_metadata(const struct sl_schema *s, char **out,
                           struct sl_error *err) {
  *out = NULL;
  if (s->n_metadata <= 0) return 0;
  size_t total = 4;
  for (int32_t i = 0; i < s->n_metadata; i++) {
    size_t k = strlen(s->metadata_keys[i]), v = strlen(s->metadata_values[i]);
    if (k > INT32_MAX || v > INT32_MAX)
      return sl_error_set(err, SL_EOVERFLOW,
                          "schema metadata entry %" PRId32 " is too long", i);
    total += 8 + k + v;
  }
  char *buf = sl_malloc(total);
  if (!buf) return sl_error_set(err, SL_ENOMEM, "exporting schema metadata");
  char *p = buf;
  int32_t n = s->n_metadata;
  memcpy(p, &n, 4);
  p += 4;
  for (int32_t i = 0; i < s->n_metadata; i++) {
    int32_t k = (int32_t)strlen(s->metadata_keys[i]);
    int32_t v = (int32_t)strlen(s->metadata_values[i]);
    memcpy(p, &k, 4);
    memcpy(p + 4, s->metadata_keys[i], (size_t)k);
    p += 4 + k;
    memcpy(p, &v, 4);
    memcpy(p + 4, s->metadata_values[i], (size_t)v);
    p += 4 + v;
  }
  *out = buf;
  return 0;
}

/* Starts a schema node with its own private data; on failure *out is left
 * released (release == NULL). */
static int schema_node(struct ArrowSchema *out, const char *format,
                       const char *name, int64_t flags, int64_t n_children,
                       struct sl_error *err) {
  memset(out, 0, sizeof *out);
  struct schema_private *p = sl_calloc(1, sizeof *p);
  if (!p) return sl_error_set(err, SL_ENOMEM, "exporting a schema");
  p->name = sl_strdup(name ? name : "");
  if (n_children > 0) {
    p->child_ptrs = sl_calloc((size_t)n_children, sizeof *p->child_ptrs);
    p->child_store = sl_calloc((size_t)n_children, sizeof *p->child_store);
  }
  if (!p->name || (n_children > 0 && (!p->child_ptrs || !p->child_store))) {
    sl_free(p->child_store);
    sl_free(p->child_ptrs);
    sl_free(p->name);
    sl_free(p);
    return sl_error_set(err, SL_ENOMEM, "exporting a schema");
  }
  for (int64_t i = 0; i < n_children; i++)
    p->child_ptrs[i] = &p->child_store[i];
  out->format = format;
  out->name = p->name;
  out->flags = flags;
  out->n_children = n_children;
  out->children = n_children > 0 ? p->child_ptrs : NULL;
  out->private_data = p;
  out->release = release_schema;
  return 0;
}

static int export_field_rec(const struct sl_field *f, struct ArrowSchema *out,
                            int depth, struct sl_error *err) {
  const char *format = format_of(f->type);
  if (!format)
    return sl_error_set(err, SL_EINVAL, "field '%s': unknown type id %d",
                        f->name ? f->name : "", (int)f->type);
  if (depth > SL__ARROW_MAX_DEPTH)
    return sl_error_set(err, SL_EINVAL, "field '%s': nesting too deep",
                        f->name ? f->name : "");
  int64_t flags = f->nullable ? ARROW_FLAG_NULLABLE : 0;
  SL_RETURN_NOT_OK(
      schema_node(out, format, f->name, flags, f->n_children, err));
  struct schema_private *p = out->private_data;
  int rc = 0;
  for (int32_t i = 0; i < f->n_children; i++)
    SL_CHECK_GOTO(
        export_field_rec(&f->children[i], p->child_ptrs[i], depth + 1, err), rc,
        fail);
  if (f->type == SL_TYPE_DICT_UTF8) {
    p->dict = sl_malloc(sizeof *p->dict);
    if (!p->dict) {
      rc = sl_error_set(err, SL_ENOMEM, "exporting a dictionary schema");
      goto fail;
    }
    SL_CHECK_GOTO(schema_node(p->dict, "u", "", ARROW_FLAG_NULLABLE, 0, err),
                  rc, fail);
    out->dictionary = p->dict;
  }
  return 0;
fail:
  out->release(out);
  return rc;
}

int sl_export_field(const struct sl_field *f, struct ArrowSchema *out,
                    struct sl_error *err) {
  if (!f || !out)
    return sl_error_set(err, SL_EINVAL, "sl_export_field: NULL argument");
  return export_field_rec(f, out, 0, err);
}

int sl_export_schema(const struct sl_schema *s, struct ArrowSchema *out,
                     struct sl_error *err) {
  if (!s || !out)
    return sl_error_set(err, SL_EINVAL, "sl_export_schema: NULL argument");
  SL_RETURN_NOT_OK(schema_node(out, "+s", "", 0, s->n_fields, err));
  struct schema_private *p = out->private_data;
  int rc = 0;
  for (int32_t i = 0; i < s->n_fields; i++)
    SL_CHECK_GOTO(export_field_rec(&s->fields[i], p->child_ptrs[i], 1, err), rc,
                  fail);
  SL_CHECK_GOTO(encode_metadata(s, &p->metadata, err), rc, fail);
  out->metadata = p->metadata;
  return 0;
fail:
  out->release(out);
  return rc;
}

/* ---- arrays ------------------------------------------------------------ */

struct array_private {
  struct sl_array *array; /* one reference; NULL for a batch's root node */
  const void *buffers[3];
  struct ArrowArray **child_ptrs;
  struct ArrowArray *child_store;
  struct ArrowArray *dict;
};

static void release_array(struct ArrowArray *a) {
  if (!a || !a->release) return;
  struct array_private *p = a->private_data;
  if (p) {
    for (int64_t i = 0; i < a->n_children; i++) {
      struct ArrowArray *c = p->child_ptrs ? p->child_ptrs[i] : NULL;
      if (c && c->release) c->release(c);
    }
    if (p->dict && p->dict->release) p->dict->release(p->dict);
    sl_free(p->dict);
    sl_free(p->child_store);
    sl_free(p->child_ptrs);
    if (p->array) sl_array_release(p->array);
    sl_free(p);
  }
  a->release = NULL;
  a->private_data = NULL;
}

static const void *buf_ptr(const struct sl_buffer *b) {
  return b && b->data ? (const void *)b->data : (const void *)zero_block;
}

static int array_node(struct ArrowArray *out, int64_t n_children,
                      struct sl_error *err) {
  memset(out, 0, sizeof *out);
  struct array_private *p = sl_calloc(1, sizeof *p);
  if (!p) return sl_error_set(err, SL_ENOMEM, "exporting an array");
  if (n_children > 0) {
    p->child_ptrs = sl_calloc((size_t)n_children, sizeof *p->child_ptrs);
    p->child_store = sl_calloc((size_t)n_children, sizeof *p->child_store);
    if (!p->child_ptrs || !p->child_store) {
      sl_free(p->child_store);
      sl_free(p->child_ptrs);
      sl_free(p);
      return sl_error_set(err, SL_ENOMEM, "exporting an array");
    }
    for (int64_t i = 0; i < n_children; i++)
      p->child_ptrs[i] = &p->child_store[i];
  }
  out->n_children = n_children;
  out->children = n_children > 0 ? p->child_ptrs : NULL;
  out->buffers = p->buffers;
  out->private_data = p;
  out->release = release_array;
  return 0;
}

static int export_array_rec(struct sl_array *a, struct ArrowArray *out,
                            int depth, struct sl_error *err) {
  if (!a) return sl_error_set(err, SL_EINVAL, "exporting an array: none given");
  if (depth > SL__ARROW_MAX_DEPTH)
    return sl_error_set(err, SL_EINVAL, "exporting an array: nesting too deep");
  if (!format_of(a->type))
    return sl_error_set(err, SL_EINVAL,
                        "exporting an array: unknown type id %d", (int)a->type);
  int64_t n_children = a->n_children;
  SL_RETURN_NOT_OK(array_node(out, n_children, err));
  struct array_private *p = out->private_data;
  p->array = sl_array_retain(a);
  int rc = 0;

  out->length = a->length;
  out->offset = a->offset;
  const void *validity = a->validity ? a->validity->data : NULL;
  switch (a->type) {
  case SL_TYPE_NULL:
    out->null_count = a->length;
    out->n_buffers = 0;
    break;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
    out->n_buffers = 3;
    p->buffers[1] = buf_ptr(a->offsets);
    p->buffers[2] = buf_ptr(a->data);
    break;
  case SL_TYPE_LIST:
    out->n_buffers = 2;
    p->buffers[1] = buf_ptr(a->offsets);
    break;
  case SL_TYPE_STRUCT: out->n_buffers = 1; break;
  default: /* bool, fixed width, dictionary indices */
    out->n_buffers = 2;
    p->buffers[1] = buf_ptr(a->data);
    break;
  }
  /* A missing offsets buffer is only legal for an empty array; export it at
   * offset 0 so the consumer's single read hits the zero block. */
  if ((a->type == SL_TYPE_UTF8 || a->type == SL_TYPE_LARGE_UTF8 ||
       a->type == SL_TYPE_LIST) &&
      (!a->offsets || !a->offsets->data))
    out->offset = 0;
  if (a->type != SL_TYPE_NULL) {
    p->buffers[0] = validity;
    /* Counted here rather than through sl_array_null_count, which caches
     * into the array: exports of one shared array may run concurrently. */
    out->null_count =
        !validity ? 0
        : a->null_count >= 0
            ? a->null_count
            : sl__count_nulls(a->validity->data, a->offset, a->length);
  }
  for (int64_t i = 0; i < n_children; i++)
    SL_CHECK_GOTO(
        export_array_rec(a->children[i], p->child_ptrs[i], depth + 1, err), rc,
        fail);
  if (a->type == SL_TYPE_DICT_UTF8) {
    if (!a->dictionary) {
      rc = sl_error_set(err, SL_EINVAL,
                        "exporting a dictionary array: it has no dictionary");
      goto fail;
    }
    p->dict = sl_malloc(sizeof *p->dict);
    if (!p->dict) {
      rc = sl_error_set(err, SL_ENOMEM, "exporting a dictionary");
      goto fail;
    }
    p->dict->release = NULL;
    SL_CHECK_GOTO(export_array_rec(a->dictionary, p->dict, depth + 1, err), rc,
                  fail);
    out->dictionary = p->dict;
  }
  return 0;
fail:
  out->release(out);
  return rc;
}

int sl_export_array(struct sl_array *a, struct ArrowArray *out,
                    struct sl_error *err) {
  if (!a || !out)
    return sl_error_set(err, SL_EINVAL, "sl_export_array: NULL argument");
  return export_array_rec(a, out, 0, err);
}

int sl__export_batch_array(const struct sl_batch *b, struct ArrowArray *out,
                           struct sl_error *err) {
  if (!b || !out)
    return sl_error_set(err, SL_EINVAL, "sl_export_batch: NULL argument");
  /* The root is a struct array without a sluice array behind it: no validity
   * buffer, offset 0, one child per column (each its own export). */
  SL_RETURN_NOT_OK(array_node(out, b->n_columns, err));
  struct array_private *p = out->private_data;
  out->length = b->length;
  out->null_count = 0;
  out->n_buffers = 1;
  int rc = 0;
  for (int32_t i = 0; i < b->n_columns; i++) {
    rc = export_array_rec(b->columns[i], p->child_ptrs[i], 1, err);
    if (rc) {
      sl_error_prefix(err, "column '%.64s': ", b->schema.fields[i].name);
      out->release(out);
      return rc;
    }
  }
  return 0;
}

int sl_export_batch(const struct sl_batch *b, struct ArrowArray *out_array,
                    struct ArrowSchema *out_schema, struct sl_error *err) {
  if (!b || !out_array)
    return sl_error_set(err, SL_EINVAL, "sl_export_batch: NULL argument");
  if (out_schema)
    SL_RETURN_NOT_OK(sl_export_schema(&b->schema, out_schema, err));
  int rc = sl__export_batch_array(b, out_array, err);
  if (rc && out_schema) out_schema->release(out_schema);
  return rc;
}
