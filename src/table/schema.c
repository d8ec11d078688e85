/* Fields (type trees) and schemas. */
#include <stdio.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/table.h"

int sl_field_init(struct sl_field *f, const char *name, enum sl_type_id type,
                  bool nullable) {
  memset(f, 0, sizeof *f);
  f->name = sl_strdup(name ? name : "");
  if (!f->name) return SL_ENOMEM;
  f->type = type;
  f->nullable = nullable;
  return 0;
}

int sl_field_copy(struct sl_field *dst, const struct sl_field *src) {
  int rc = sl_field_init(dst, src->name, src->type, src->nullable);
  if (rc) return rc;
  if (src->n_children == 0) return 0;
  dst->children = sl_calloc((size_t)src->n_children, sizeof *dst->children);
  if (!dst->children) {
    sl_field_release(dst);
    return SL_ENOMEM;
  }
  for (int32_t i = 0; i < src->n_children; i++) {
    rc = sl_field_copy(&dst->children[i], &src->children[i]);
    if (rc) {
      sl_field_release(dst);
      return rc;
    }
    dst->n_children = i + 1;
  }
  return 0;
}

int sl_field_add_child(struct sl_field *f, const struct sl_field *child) {
  if (f->type != SL_TYPE_LIST && f->type != SL_TYPE_STRUCT) return SL_EINVAL;
  if (f->type == SL_TYPE_LIST && f->n_children >= 1) return SL_EINVAL;
  struct sl_field *c =
      sl_realloc(f->children, ((size_t)f->n_children + 1) * sizeof *c);
  if (!c) return SL_ENOMEM;
  f->children = c;
  int rc = sl_field_copy(&c[f->n_children], child);
  if (rc) return rc;
  f->n_children++;
  return 0;
}

void sl_field_release(struct sl_field *f) {
  if (!f) return;
  for (int32_t i = 0; i < f->n_children; i++)
    sl_field_release(&f->children[i]);
  sl_free(f->children);
  sl_free(f->name);
  memset(f, 0, sizeof *f);
}

bool sl_field_equal(const struct sl_field *a, const struct sl_field *b) {
  if (a->type != b->type || a->nullable != b->nullable ||
      a->n_children != b->n_children)
    return false;
  if (strcmp(a->name ? a->name : "", b->name ? b->name : "") != 0) return false;
  for (int32_t i = 0; i < a->n_children; i++)
    if (!sl_field_equal(&a->children[i], &b->children[i])) return false;
  return true;
}

static size_t put(char *buf, size_t cap, size_t at, const char *s) {
  size_t n = strlen(s);
  if (at < cap) {
    size_t k = cap - at - 1 < n ? cap - at - 1 : n;
    memcpy(buf + at, s, k);
    buf[at + k] = '\0';
  }
  return at + n;
}

static size_t format_type(const struct sl_field *f, char *buf, size_t cap,
                          size_t at) {
  if (f->type == SL_TYPE_LIST && f->n_children == 1) {
    at = put(buf, cap, at, "list<");
    at = format_type(&f->children[0], buf, cap, at);
    return put(buf, cap, at, ">");
  }
  if (f->type == SL_TYPE_STRUCT) {
    at = put(buf, cap, at, "struct<");
    for (int32_t i = 0; i < f->n_children; i++) {
      if (i) at = put(buf, cap, at, ", ");
      at = put(buf, cap, at, f->children[i].name);
      at = put(buf, cap, at, ": ");
      at = format_type(&f->children[i], buf, cap, at);
    }
    return put(buf, cap, at, ">");
  }
  return put(buf, cap, at, sl_type_name(f->type));
}

size_t sl_field_format(const struct sl_field *f, char *buf, size_t cap) {
  if (cap) buf[0] = '\0';
  size_t at = put(buf, cap, 0, f->name ? f->name : "");
  at = put(buf, cap, at, ": ");
  return format_type(f, buf, cap, at);
}

void sl_schema_init(struct sl_schema *s) {
  memset(s, 0, sizeof *s);
}

int sl_schema_add_field(struct sl_schema *s, const struct sl_field *f) {
  struct sl_field *fs =
      sl_realloc(s->fields, ((size_t)s->n_fields + 1) * sizeof *fs);
  if (!fs) return SL_ENOMEM;
  s->fields = fs;
  int rc = sl_field_copy(&fs[s->n_fields], f);
  if (rc) return rc;
  s->n_fields++;
  return 0;
}

int sl_schema_add_metadata(struct sl_schema *s, const char *key,
                           const char *value) {
  size_t n = (size_t)s->n_metadata + 1;
  char **k = sl_realloc(s->metadata_keys, n * sizeof *k);
  if (!k) return SL_ENOMEM;
  s->metadata_keys = k;
  char **v = sl_realloc(s->metadata_values, n * sizeof *v);
  if (!v) return SL_ENOMEM;
  s->metadata_values = v;
  char *kc = sl_strdup(key), *vc = sl_strdup(value);
  if (!kc || !vc) {
    sl_free(kc);
    sl_free(vc);
    return SL_ENOMEM;
  }
  k[s->n_metadata] = kc;
  v[s->n_metadata] = vc;
  s->n_metadata++;
  return 0;
}

int sl_schema_copy(struct sl_schema *dst, const struct sl_schema *src) {
  sl_schema_init(dst);
  int rc = 0;
  for (int32_t i = 0; i < src->n_fields && !rc; i++)
    rc = sl_schema_add_field(dst, &src->fields[i]);
  for (int32_t i = 0; i < src->n_metadata && !rc; i++)
    rc = sl_schema_add_metadata(dst, src->metadata_keys[i],
                                src->metadata_values[i]);
  if (rc) sl_schema_release(dst);
  return rc;
}

void sl_schema_release(struct sl_schema *s) {
  if (!s) return;
  for (int32_t i = 0; i < s->n_fields; i++)
    sl_field_release(&s->fields[i]);
  sl_free(s->fields);
  for (int32_t i = 0; i < s->n_metadata; i++) {
    sl_free(s->metadata_keys[i]);
    sl_free(s->metadata_values[i]);
  }
  sl_free(s->metadata_keys);
  sl_free(s->metadata_values);
  sl_schema_init(s);
}

int32_t sl_schema_find(const struct sl_schema *s, const char *name) {
  for (int32_t i = 0; i < s->n_fields; i++)
    if (strcmp(s->fields[i].name, name) == 0) return i;
  return -1;
}
