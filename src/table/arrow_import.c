/* Import of Arrow C Data Interface schemas and arrays into sluice, written
 * from the public specification.
 *
 * Import is zero-copy: the whole ArrowArray tree is moved into one shared
 * holder, every sluice buffer wraps the producer's memory and keeps the
 * holder alive, and the producer's release runs when the last buffer goes.
 * Buffer sizes are not part of the interface; they are derived from the
 * type, offset and length (and, for strings, from the last offset), and the
 * result is validated (validate.c) before anyone reads the values. The
 * producer may be another process's data, so every field of every struct is
 * checked before it is used and errors name the field path. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/arrow_c.h"
#include "table/arrow_c_internal.h"

#define MAX_ELEMENTS (INT64_MAX / 16)
#define MAX_CHILDREN (1 << 20)
#define MAX_FORMAT 256
#define MAX_METADATA_PAIRS (1 << 20)

/* Stands in for buffers a producer may leave NULL when they hold nothing
 * (an empty array's offsets: a single zero). */
static _Alignas(64) const int64_t zero_block[8];

/* ---- formats and fields ------------------------------------------------ */

static bool is_utc(const char *tz) {
  return strcmp(tz, "UTC") == 0 || strcmp(tz, "utc") == 0 ||
         strcmp(tz, "Etc/UTC") == 0 || strcmp(tz, "+00:00") == 0 ||
         strcmp(tz, "Z") == 0;
}

/* Maps a format string to a sluice type; dictionary encoding is decided by
 * the caller from the dictionary member. */
static int parse_format(const char *fmt, const char *path, enum sl_type_id *out,
                        struct sl_error *err) {
  if (!fmt)
    return sl_error_set(err, SL_EINVAL,
                        "%s: the format string is missing (NULL)", path);
  size_t n = strnlen(fmt, MAX_FORMAT);
  if (n == 0 || n == MAX_FORMAT)
    return sl_error_set(err, SL_EINVAL, "%s: malformed format string '%.32s'",
                        path, fmt);
  if (n == 1) {
    switch (fmt[0]) {
    case 'n': *out = SL_TYPE_NULL; return 0;
    case 'b': *out = SL_TYPE_BOOL; return 0;
    case 'i': *out = SL_TYPE_INT32; return 0;
    case 'l': *out = SL_TYPE_INT64; return 0;
    case 'g': *out = SL_TYPE_FLOAT64; return 0;
    case 'u': *out = SL_TYPE_UTF8; return 0;
    case 'U': *out = SL_TYPE_LARGE_UTF8; return 0;
    case 'c':
    case 'C':
    case 's':
    case 'S':
    case 'I':
    case 'L':
    case 'e':
    case 'f':
    case 'z':
    case 'Z':
      return sl_error_set(err, SL_ENOTSUP,
                          "%s: Arrow format '%s' is not supported by sluice",
                          path, fmt);
    default:
      return sl_error_set(err, SL_EINVAL, "%s: unknown format string '%s'",
                          path, fmt);
    }
  }
  if (strcmp(fmt, "tdD") == 0) {
    *out = SL_TYPE_DATE32;
    return 0;
  }
  if (strcmp(fmt, "+l") == 0) {
    *out = SL_TYPE_LIST;
    return 0;
  }
  if (strcmp(fmt, "+s") == 0) {
    *out = SL_TYPE_STRUCT;
    return 0;
  }
  if (fmt[0] == 't' && fmt[1] == 's') {
    if (n < 4 || fmt[3] != ':' || !strchr("smun", fmt[2]))
      return sl_error_set(err, SL_EINVAL,
                          "%s: malformed timestamp format '%s' (expected "
                          "ts<unit>:<timezone>)",
                          path, fmt);
    if (fmt[2] != 'm' && fmt[2] != 'u')
      return sl_error_set(err, SL_ENOTSUP,
                          "%s: timestamp unit in '%s' is not supported "
                          "(expected tsm:UTC or tsu:UTC)",
                          path, fmt);
    if (!is_utc(fmt + 4))
      return sl_error_set(err, SL_ENOTSUP,
                          "%s: timestamp time zone in '%s' is not supported "
                          "(sluice timestamps are UTC: expected ts%c:UTC)",
                          path, fmt, fmt[2]);
    *out = fmt[2] == 'm' ? SL_TYPE_TIMESTAMP_MS : SL_TYPE_TIMESTAMP_US;
    return 0;
  }
  if (fmt[0] == '+' || fmt[0] == 't' || fmt[0] == 'd' || fmt[0] == 'w' ||
      fmt[0] == 'v')
    return sl_error_set(err, SL_ENOTSUP,
                        "%s: Arrow format '%.32s' is not supported by sluice",
                        path, fmt);
  return sl_error_set(err, SL_EINVAL, "%s: unknown format string '%.32s'", path,
                      fmt);
}

static int import_field_rec(const struct ArrowSchema *s, const char *path,
                            int depth, struct sl_field *out,
                            struct sl_error *err) {
  memset(out, 0, sizeof *out);
  if (!s)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected an ArrowSchema, found NULL", path);
  if (!s->release)
    return sl_error_set(err, SL_EINVAL,
                        "%s: the ArrowSchema is released (release is NULL)",
                        path);
  if (depth > SL__ARROW_MAX_DEPTH)
    return sl_error_set(err, SL_EINVAL, "%s: nesting deeper than %d levels",
                        path, SL__ARROW_MAX_DEPTH);
  enum sl_type_id type;
  SL_RETURN_NOT_OK(parse_format(s->format, path, &type, err));
  if (s->dictionary) {
    enum sl_type_id vt;
    char sub[SL__PATH_MAX];
    sl__path_suffix(sub, path, " dictionary");
    if (!s->dictionary->release)
      return sl_error_set(err, SL_EINVAL,
                          "%s: the ArrowSchema is released (release is NULL)",
                          sub);
    if (type != SL_TYPE_INT32)
      return sl_error_set(err, SL_ENOTSUP,
                          "%s: dictionary index format '%s' is not supported "
                          "(expected 'i', int32)",
                          path, s->format);
    SL_RETURN_NOT_OK(parse_format(s->dictionary->format, sub, &vt, err));
    if (vt != SL_TYPE_UTF8 || s->dictionary->n_children != 0 ||
        s->dictionary->dictionary)
      return sl_error_set(err, SL_ENOTSUP,
                          "%s: dictionary values of format '%s' are not "
                          "supported (expected 'u', utf8)",
                          sub, s->dictionary->format);
    type = SL_TYPE_DICT_UTF8;
  }
  int64_t want = type == SL_TYPE_LIST ? 1 : type == SL_TYPE_STRUCT ? -1 : 0;
  if (s->n_children < 0 || s->n_children > MAX_CHILDREN ||
      (want >= 0 && s->n_children != want))
    return sl_error_set(err, SL_EINVAL,
                        "%s: format '%s' expects %s children, found %" PRId64,
                        path, s->format,
                        want == 1   ? "1"
                        : want == 0 ? "0"
                                    : "0 or more",
                        s->n_children);
  if (s->n_children > 0 && !s->children)
    return sl_error_set(err, SL_EINVAL,
                        "%s: n_children is %" PRId64 " but children is NULL",
                        path, s->n_children);
  bool nullable = (s->flags & ARROW_FLAG_NULLABLE) != 0;
  if (sl_field_init(out, s->name ? s->name : "", type, nullable))
    return sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
  if (s->n_children == 0) return 0;
  out->children = sl_calloc((size_t)s->n_children, sizeof *out->children);
  if (!out->children) {
    sl_field_release(out);
    return sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
  }
  for (int64_t i = 0; i < s->n_children; i++) {
    char sub[SL__PATH_MAX];
    const struct ArrowSchema *c = s->children[i];
    sl__path_child(sub, path, c && c->name ? c->name : "");
    int rc = import_field_rec(c, sub, depth + 1, &out->children[i], err);
    if (rc) {
      sl_field_release(out);
      return rc;
    }
    out->n_children = (int32_t)(i + 1);
  }
  return 0;
}

int sl_import_field(const struct ArrowSchema *schema, struct sl_field *out,
                    struct sl_error *err) {
  char path[SL__PATH_MAX];
  snprintf(path, sizeof path, "field '%.64s'",
           schema && schema->name ? schema->name : "");
  return import_field_rec(schema, path, 0, out, err);
}

/* Arrow's binary metadata: int32 count, then per pair int32 length + bytes
 * for the key and the value. The interface carries no total size, so only
 * the counts and lengths themselves can be sanity-checked. */
static int import_metadata(const char *md, struct sl_schema *out,
                           struct sl_error *err) {
  if (!md) return 0;
  int32_t n;
  memcpy(&n, md, 4);
  if (n < 0 || n > MAX_METADATA_PAIRS)
    return sl_error_set(err, SL_EINVAL,
                        "schema metadata: expected a pair count in [0, %d], "
                        "found %" PRId32,
                        MAX_METADATA_PAIRS, n);
  const char *p = md + 4;
  for (int32_t i = 0; i < n; i++) {
    int32_t kl, vl;
    memcpy(&kl, p, 4);
    if (kl < 0)
      return sl_error_set(
          err, SL_EINVAL,
          "schema metadata: key %" PRId32 " has length %" PRId32, i, kl);
    const char *k = p + 4;
    p = k + kl;
    memcpy(&vl, p, 4);
    if (vl < 0)
      return sl_error_set(
          err, SL_EINVAL,
          "schema metadata: value %" PRId32 " has length %" PRId32, i, vl);
    const char *v = p + 4;
    p = v + vl;
    char *kc = sl_strndup(k, (size_t)kl), *vc = sl_strndup(v, (size_t)vl);
    int rc = kc && vc ? sl_schema_add_metadata(out, kc, vc) : SL_ENOMEM;
    sl_free(kc);
    sl_free(vc);
    if (rc) return sl_error_set(err, rc, "schema metadata: out of memory");
  }
  return 0;
}

int sl_import_schema(const struct ArrowSchema *schema, struct sl_schema *out,
                     struct sl_error *err) {
  sl_schema_init(out);
  if (!schema)
    return sl_error_set(err, SL_EINVAL,
                        "schema: expected an ArrowSchema, found NULL");
  if (!schema->release)
    return sl_error_set(
        err, SL_EINVAL,
        "schema: the ArrowSchema is released (release is NULL)");
  if (!schema->format || strcmp(schema->format, "+s") != 0)
    return sl_error_set(err, SL_EINVAL,
                        "schema: expected a struct format '+s', found '%.32s'",
                        schema->format ? schema->format : "(NULL)");
  if (schema->n_children < 0 || schema->n_children > MAX_CHILDREN ||
      (schema->n_children > 0 && !schema->children))
    return sl_error_set(err, SL_EINVAL,
                        "schema: bad children (n_children %" PRId64
                        ", children %s)",
                        schema->n_children, schema->children ? "set" : "NULL");
  int rc = 0;
  for (int64_t i = 0; i < schema->n_children; i++) {
    char path[SL__PATH_MAX];
    const struct ArrowSchema *c = schema->children[i];
    sl__path_child(path, "", c && c->name ? c->name : "");
    struct sl_field f;
    SL_CHECK_GOTO(import_field_rec(c, path, 1, &f, err), rc, fail);
    rc = sl_schema_add_field(out, &f);
    sl_field_release(&f);
    if (rc) {
      sl_error_set(err, rc, "%s: out of memory", path);
      goto fail;
    }
  }
  SL_CHECK_GOTO(import_metadata(schema->metadata, out, err), rc, fail);
  return 0;
fail:
  sl_schema_release(out);
  return rc;
}

/* ---- arrays ------------------------------------------------------------ */

/* The moved ArrowArray tree; alive while any sluice buffer points into it. */
struct import_holder {
  struct ArrowArray array;
  _Atomic int64_t refs;
};

static void holder_unref(struct import_holder *h) {
  if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1) return;
  if (h->array.release) h->array.release(&h->array);
  sl_free(h);
}

static void imported_buffer_free(struct sl_buffer *b) {
  holder_unref(b->owner);
  sl_free(b);
}

static int wrap(struct import_holder *h, const void *data, int64_t size,
                const char *path, struct sl_buffer **out,
                struct sl_error *err) {
  atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
  int rc = sl_buffer_wrap((void *)(data ? data : zero_block), size,
                          imported_buffer_free, h, out);
  if (rc) {
    holder_unref(h);
    return sl_error_set(err, rc, "%s: out of memory", path);
  }
  return 0;
}

static int expected_buffers(enum sl_type_id t) {
  switch (t) {
  case SL_TYPE_NULL: return 0;
  case SL_TYPE_STRUCT: return 1;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8: return 3;
  default: return 2;
  }
}

/* Wraps a required buffer of `size` bytes; NULL is only allowed when the
 * buffer would be empty. */
static int wrap_required(struct import_holder *h, const void *data,
                         int64_t size, const char *what, const char *path,
                         struct sl_buffer **out, struct sl_error *err) {
  if (!data && size > 0)
    return sl_error_set(err, SL_EINVAL,
                        "%s: the %s buffer is NULL but %" PRId64
                        " bytes are needed",
                        path, what, size);
  return wrap(h, data, size, path, out, err);
}

/* utf8 / large_utf8 / list: the offsets, and for strings the character
 * data sized by the last offset. */
static int import_offsets(struct import_holder *h, const struct ArrowArray *arr,
                          struct sl_array *a, int width, const char *path,
                          int64_t *last, struct sl_error *err) {
  int64_t end = arr->offset + arr->length;
  const void *off = arr->buffers[1];
  *last = 0;
  if (!off) {
    if (arr->length != 0)
      return sl_error_set(err, SL_EINVAL,
                          "%s: the offsets buffer is NULL for %" PRId64
                          " values",
                          path, arr->length);
    a->offset = 0; /* an empty array: one zero offset at index 0 */
    return wrap(h, zero_block, 8, path, &a->offsets, err);
  }
  SL_RETURN_NOT_OK(wrap(h, off, (end + 1) * width, path, &a->offsets, err));
  *last =
      width == 8 ? ((const int64_t *)off)[end] : ((const int32_t *)off)[end];
  return 0;
}

static int import_array_rec(struct import_holder *h,
                            const struct ArrowArray *arr,
                            const struct sl_field *f, const char *path,
                            int depth, struct sl_array **out,
                            struct sl_error *err);

static int import_children(struct import_holder *h,
                           const struct ArrowArray *arr,
                           const struct sl_field *f, struct sl_array *a,
                           const char *path, int depth, struct sl_error *err) {
  if (arr->n_children == 0) return 0;
  a->children = sl_calloc((size_t)arr->n_children, sizeof *a->children);
  if (!a->children)
    return sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
  a->n_children = (int32_t)arr->n_children;
  for (int64_t i = 0; i < arr->n_children; i++) {
    char sub[SL__PATH_MAX];
    sl__path_child(sub, path, f->children[i].name);
    SL_RETURN_NOT_OK(import_array_rec(h, arr->children[i], &f->children[i], sub,
                                      depth + 1, &a->children[i], err));
  }
  return 0;
}

/* Checks the ArrowArray's own fields, before any pointer in it is used. */
static int check_header(const struct ArrowArray *arr, const struct sl_field *f,
                        const char *path, int depth, struct sl_error *err) {
  if (!arr)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected an ArrowArray, found NULL", path);
  if (!arr->release)
    return sl_error_set(err, SL_EINVAL,
                        "%s: the ArrowArray is released (release is NULL)",
                        path);
  if (depth > SL__ARROW_MAX_DEPTH)
    return sl_error_set(err, SL_EINVAL, "%s: nesting deeper than %d levels",
                        path, SL__ARROW_MAX_DEPTH);
  if (arr->length < 0)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected length >= 0, found %" PRId64, path,
                        arr->length);
  if (arr->offset < 0)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected offset >= 0, found %" PRId64, path,
                        arr->offset);
  if (arr->length > MAX_ELEMENTS - arr->offset)
    return sl_error_set(err, SL_EOVERFLOW,
                        "%s: offset %" PRId64 " + length %" PRId64
                        " is too large",
                        path, arr->offset, arr->length);
  if (arr->null_count < -1 || arr->null_count > arr->length)
    return sl_error_set(err, SL_EINVAL,
                        "%s: expected a null count in [-1, %" PRId64
                        "], found %" PRId64,
                        path, arr->length, arr->null_count);
  int want = expected_buffers(f->type);
  if (arr->n_buffers != want)
    return sl_error_set(err, SL_EINVAL,
                        "%s: a %s array has %d buffers, found %" PRId64, path,
                        sl_type_name(f->type), want, arr->n_buffers);
  if (want > 0 && !arr->buffers)
    return sl_error_set(err, SL_EINVAL,
                        "%s: n_buffers is %" PRId64 " but buffers is NULL",
                        path, arr->n_buffers);
  int64_t want_children = f->type == SL_TYPE_LIST     ? 1
                          : f->type == SL_TYPE_STRUCT ? f->n_children
                                                      : 0;
  if (arr->n_children != want_children)
    return sl_error_set(
        err, SL_EINVAL,
        "%s: a %s array has %" PRId64 " children, found %" PRId64, path,
        sl_type_name(f->type), want_children, arr->n_children);
  if (f->n_children != want_children)
    return sl_error_set(err, SL_EINVAL,
                        "%s: the field has %" PRId32
                        " children, expected %" PRId64,
                        path, f->n_children, want_children);
  if (arr->n_children > 0 && !arr->children)
    return sl_error_set(err, SL_EINVAL,
                        "%s: n_children is %" PRId64 " but children is NULL",
                        path, arr->n_children);
  if (f->type == SL_TYPE_DICT_UTF8 && !arr->dictionary)
    return sl_error_set(err, SL_EINVAL,
                        "%s: a dictionary array without a dictionary", path);
  if (f->type != SL_TYPE_DICT_UTF8 && arr->dictionary)
    return sl_error_set(err, SL_EINVAL,
                        "%s: a %s array must not have a dictionary", path,
                        sl_type_name(f->type));
  return 0;
}

static int import_array_rec(struct import_holder *h,
                            const struct ArrowArray *arr,
                            const struct sl_field *f, const char *path,
                            int depth, struct sl_array **out,
                            struct sl_error *err) {
  *out = NULL;
  SL_RETURN_NOT_OK(check_header(arr, f, path, depth, err));
  struct sl_array *a = NULL;
  if (sl_array_new(f->type, &a))
    return sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
  a->length = arr->length;
  a->offset = arr->offset;
  a->null_count = arr->null_count;
  int64_t end = arr->offset + arr->length;
  int rc = 0;
  if (f->type == SL_TYPE_NULL) {
    a->null_count = arr->length;
  } else if (arr->buffers[0]) {
    SL_CHECK_GOTO(
        wrap(h, arr->buffers[0], (end + 7) / 8, path, &a->validity, err), rc,
        fail);
  } else if (arr->null_count == -1) {
    a->null_count = 0;
  }
  switch (f->type) {
  case SL_TYPE_NULL:
  case SL_TYPE_STRUCT: break;
  case SL_TYPE_BOOL:
    SL_CHECK_GOTO(wrap_required(h, arr->buffers[1], (end + 7) / 8, "data", path,
                                &a->data, err),
                  rc, fail);
    break;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8: {
    int64_t last;
    SL_CHECK_GOTO(import_offsets(h, arr, a, f->type == SL_TYPE_UTF8 ? 4 : 8,
                                 path, &last, err),
                  rc, fail);
    if (last < 0) { /* reported precisely by validation below */
      last = 0;
    }
    SL_CHECK_GOTO(
        wrap_required(h, arr->buffers[2], last, "data", path, &a->data, err),
        rc, fail);
    break;
  }
  case SL_TYPE_LIST: {
    int64_t last;
    SL_CHECK_GOTO(import_offsets(h, arr, a, 4, path, &last, err), rc, fail);
    break;
  }
  default: /* fixed width, dictionary indices */
    SL_CHECK_GOTO(wrap_required(h, arr->buffers[1],
                                end * sl_type_width(f->type), "data", path,
                                &a->data, err),
                  rc, fail);
    break;
  }
  SL_CHECK_GOTO(import_children(h, arr, f, a, path, depth, err), rc, fail);
  if (f->type == SL_TYPE_DICT_UTF8) {
    static const struct sl_field dict_field = {
        .name = (char *)"", .type = SL_TYPE_UTF8, .nullable = true};
    char sub[SL__PATH_MAX];
    sl__path_suffix(sub, path, " dictionary");
    SL_CHECK_GOTO(import_array_rec(h, arr->dictionary, &dict_field, sub,
                                   depth + 1, &a->dictionary, err),
                  rc, fail);
  }
  *out = a;
  return 0;
fail:
  sl_array_release(a);
  return rc;
}

/* Moves *array into a new holder; on failure the producer's data is
 * released here. */
static int take_over(struct ArrowArray *array, struct import_holder **out,
                     struct sl_error *err) {
  *out = NULL;
  if (!array)
    return sl_error_set(err, SL_EINVAL,
                        "import: expected an ArrowArray, found NULL");
  if (!array->release)
    return sl_error_set(err, SL_EINVAL,
                        "import: the ArrowArray is released (release is NULL)");
  struct import_holder *h = sl_malloc(sizeof *h);
  if (!h) {
    array->release(array);
    array->release = NULL;
    return sl_error_set(err, SL_ENOMEM, "import: out of memory");
  }
  h->array = *array;
  array->release = NULL;
  atomic_init(&h->refs, 1);
  *out = h;
  return 0;
}

static int import_validated(struct ArrowArray *array, const struct sl_field *f,
                            const char *path, struct sl_array **out,
                            struct sl_error *err) {
  struct import_holder *h;
  *out = NULL;
  SL_RETURN_NOT_OK(take_over(array, &h, err));
  struct sl_array *a = NULL;
  int rc = import_array_rec(h, &h->array, f, path, 0, &a, err);
  holder_unref(h); /* the buffers hold their own references now */
  if (rc) return rc;
  rc = sl__array_validate_at(a, f, true, path, 0, err);
  if (rc) {
    sl_array_release(a);
    return rc;
  }
  *out = a;
  return 0;
}

int sl_import_array(struct ArrowArray *array, const struct sl_field *f,
                    struct sl_array **out, struct sl_error *err) {
  if (!f) {
    struct import_holder *h;
    if (take_over(array, &h, err) == 0) holder_unref(h);
    return sl_error_set(err, SL_EINVAL, "import: no field given for the array");
  }
  char path[SL__PATH_MAX];
  snprintf(path, sizeof path, "column '%.64s'", f->name ? f->name : "");
  return import_validated(array, f, path, out, err);
}

int sl__import_batch_with_schema(struct ArrowArray *array,
                                 const struct sl_schema *schema,
                                 struct sl_batch **out, struct sl_error *err) {
  *out = NULL;
  /* A view of the schema as one struct field; nothing is copied. */
  struct sl_field root = {.name = (char *)"",
                          .type = SL_TYPE_STRUCT,
                          .nullable = false,
                          .n_children = schema->n_fields,
                          .children = schema->fields};
  struct sl_array *s = NULL;
  SL_RETURN_NOT_OK(import_validated(array, &root, "batch", &s, err));
  int rc = 0;
  struct sl_array **cols = NULL;
  if (sl_array_null_count(s) != 0) {
    rc = sl_error_set(err, SL_EINVAL,
                      "batch: the top-level struct has %" PRId64
                      " null rows; a record batch has none",
                      s->null_count);
    goto cleanup;
  }
  cols = sl_calloc((size_t)(s->n_children ? s->n_children : 1), sizeof *cols);
  if (!cols) {
    rc = sl_error_set(err, SL_ENOMEM, "batch: out of memory");
    goto cleanup;
  }
  for (int32_t i = 0; i < s->n_children; i++) {
    struct sl_array *c = s->children[i];
    if (s->offset == 0 && c->length == s->length) {
      cols[i] = sl_array_retain(c);
    } else {
      rc = sl_array_slice(c, s->offset, s->length, &cols[i], err);
      if (rc) {
        sl_error_prefix(err, "column '%.64s': ", schema->fields[i].name);
        for (int32_t k = 0; k < i; k++)
          sl_array_release(cols[k]);
        goto cleanup;
      }
    }
  }
  rc = sl_batch_make(schema, cols, s->length, out, err);
cleanup:
  sl_free(cols);
  sl_array_release(s);
  return rc;
}

int sl_import_batch(struct ArrowArray *array, const struct ArrowSchema *schema,
                    struct sl_batch **out, struct sl_error *err) {
  *out = NULL;
  struct sl_schema s;
  int rc = sl_import_schema(schema, &s, err);
  if (rc) {
    struct import_holder *h;
    struct sl_error ignored;
    if (take_over(array, &h, &ignored) == 0) holder_unref(h);
    return rc;
  }
  rc = sl__import_batch_with_schema(array, &s, out, err);
  sl_schema_release(&s);
  return rc;
}
