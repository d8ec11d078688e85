/* Typed config tables: defaults, strict parsing and range checks. */
#include "runtime/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/alloc.h"

void sl__strlist_release(struct sl_strlist *l) {
  for (int32_t i = 0; i < l->n; i++)
    sl_free(l->v[i]);
  sl_free(l->v);
  l->n = 0;
  l->v = NULL;
}

void sl__strmap_release(struct sl_strmap *m) {
  for (int32_t i = 0; i < m->n; i++) {
    sl_free(m->keys[i]);
    sl_free(m->values[i]);
  }
  sl_free(m->keys);
  sl_free(m->values);
  m->n = 0;
  m->keys = m->values = NULL;
}

int sl__cfg_error_at(struct sl_error *err, const char *file,
                     const struct sl_ynode *n, const char *path,
                     const char *expected) {
  const char *found = "a map";
  int flen = 5;
  if (n && n->kind == SL_YNODE_SCALAR) {
    found = n->str;
    flen = n->len > 60 ? 60 : (int)n->len;
  } else if (n && n->kind == SL_YNODE_SEQ) {
    found = "a list";
    flen = 6;
  }
  int quote = n && n->kind == SL_YNODE_SCALAR;
  return sl_error_set(err, SL_EINVAL,
                      "%s:%d:%d: %s: expected %s, found %s%.*s%s", file,
                      n ? n->line : 0, n ? n->col : 0, path, expected,
                      quote ? "'" : "", flen, found, quote ? "'" : "");
}

static int parse_int(const char *s, int64_t *out) {
  if (!*s) return SL_EINVAL;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || isspace((unsigned char)*s)) return SL_EINVAL;
  *out = v;
  return 0;
}

/* A number followed by a unit from `units`; `scale` the multiplier of each. */
static int parse_scaled(const char *s, const char *const *units,
                        const int64_t *scale, int n_units, int64_t bare,
                        int64_t *out) {
  const char *p = s;
  if (!isdigit((unsigned char)*p)) return SL_EINVAL;
  double v = 0;
  int64_t iv = 0;
  bool frac = false;
  while (isdigit((unsigned char)*p)) {
    if (iv > (INT64_MAX - 9) / 10) return SL_ERANGE;
    iv = iv * 10 + (*p++ - '0');
  }
  v = (double)iv;
  if (*p == '.') {
    frac = true;
    double f = 0.1;
    p++;
    if (!isdigit((unsigned char)*p)) return SL_EINVAL;
    while (isdigit((unsigned char)*p)) {
      v += f * (*p++ - '0');
      f /= 10;
    }
  }
  while (*p == ' ')
    p++;
  int64_t mul = bare;
  if (*p) {
    int k = -1;
    for (int i = 0; i < n_units; i++)
      if (!strcmp(p, units[i])) k = i;
    if (k < 0) return SL_EINVAL;
    mul = scale[k];
  } else if (frac && bare == 0) {
    return SL_EINVAL;
  }
  if (mul == 0) return SL_EINVAL;
  double r = v * (double)mul;
  if (r > 9.0e18) return SL_ERANGE;
  *out = (int64_t)(r + 0.5);
  return 0;
}

int sl__cfg_parse_duration(const char *s, int64_t *ms) {
  static const char *const u[] = {"ms", "s", "m", "h", "d"};
  static const int64_t k[] = {1, 1000, 60000, 3600000, 86400000};
  return parse_scaled(s, u, k, 5, 1, ms);
}

int sl__cfg_parse_size(const char *s, int64_t *bytes) {
  static const char *const u[] = {"B", "KB", "MB", "GB", "KiB", "MiB", "GiB",
                                  "k", "K",  "M",  "G",  "Ki",  "Mi",  "Gi"};
  static const int64_t k[] = {
      1,    1000, 1000000, 1000000000, 1024, 1048576, 1073741824,
      1000, 1000, 1000000, 1000000000, 1024, 1048576, 1073741824};
  return parse_scaled(s, u, k, 14, 1, bytes);
}

static bool in_range(const struct sl_cfg_entry *e, int64_t v) {
  if (e->min == 0 && e->max == 0) return true;
  return v >= e->min && v <= e->max;
}

static int set_value(const struct sl_cfg_entry *e, const struct sl_ynode *n,
                     const char *file, const char *path, void *out,
                     struct sl_error *err) {
  char *dst = (char *)out + e->offset;
  char expect[256];
  if (e->type == SL_CFG_IGNORE || e->type == SL_CFG_SECTION) return 0;
  if (e->type == SL_CFG_STRLIST) {
    struct sl_strlist *l = (struct sl_strlist *)dst;
    sl__strlist_release(l);
    if (n->kind == SL_YNODE_SCALAR) { /* one string is a list of one */
      l->v = sl_calloc(1, sizeof *l->v);
      if (!l->v || !(l->v[0] = sl_strdup(n->str))) return SL_ENOMEM;
      l->n = 1;
      return 0;
    }
    if (n->kind != SL_YNODE_SEQ)
      return sl__cfg_error_at(err, file, n, path, "a list of strings");
    l->v = sl_calloc((size_t)n->n + 1, sizeof *l->v);
    if (!l->v) return SL_ENOMEM;
    for (int32_t i = 0; i < n->n; i++) {
      if (n->items[i]->kind != SL_YNODE_SCALAR)
        return sl__cfg_error_at(err, file, n->items[i], path, "a string");
      if (!(l->v[i] = sl_strdup(n->items[i]->str))) return SL_ENOMEM;
      l->n = i + 1;
    }
    return 0;
  }
  if (e->type == SL_CFG_STRMAP) {
    struct sl_strmap *m = (struct sl_strmap *)dst;
    sl__strmap_release(m);
    if (n->kind != SL_YNODE_MAP)
      return sl__cfg_error_at(err, file, n, path, "a map of strings");
    m->keys = sl_calloc((size_t)n->n + 1, sizeof *m->keys);
    m->values = sl_calloc((size_t)n->n + 1, sizeof *m->values);
    if (!m->keys || !m->values) return SL_ENOMEM;
    for (int32_t i = 0; i < n->n; i++) {
      if (n->items[i]->kind != SL_YNODE_SCALAR)
        return sl__cfg_error_at(err, file, n->items[i], path, "a string");
      m->keys[i] = sl_strdup(n->keys[i]);
      m->values[i] = sl_strdup(n->items[i]->str);
      m->n = i + 1;
      if (!m->keys[i] || !m->values[i]) return SL_ENOMEM;
    }
    return 0;
  }
  if (n->kind != SL_YNODE_SCALAR) {
    const char *what = e->type == SL_CFG_INT        ? "an integer"
                       : e->type == SL_CFG_BOOL     ? "true or false"
                       : e->type == SL_CFG_DURATION ? "a duration"
                       : e->type == SL_CFG_SIZE     ? "a size"
                                                    : "a string";
    return sl__cfg_error_at(err, file, n, path, what);
  }
  const char *s = n->str;
  switch (e->type) {
  case SL_CFG_INT:
  case SL_CFG_DURATION:
  case SL_CFG_SIZE: {
    int64_t v = 0;
    int rc = e->type == SL_CFG_INT        ? parse_int(s, &v)
             : e->type == SL_CFG_DURATION ? sl__cfg_parse_duration(s, &v)
                                          : sl__cfg_parse_size(s, &v);
    const char *kind = e->type == SL_CFG_INT ? "an integer"
                       : e->type == SL_CFG_DURATION
                           ? "a duration (500ms, 10s, 5m, 1h)"
                           : "a size (4096, 64KiB, 8MiB, 1GB)";
    if (rc || !in_range(e, v)) {
      if (e->min || e->max)
        snprintf(expect, sizeof expect, "%s in %" PRId64 "..%" PRId64 "%s",
                 kind, e->min, e->max,
                 e->type == SL_CFG_DURATION ? " ms"
                 : e->type == SL_CFG_SIZE   ? " bytes"
                                            : "");
      else
        snprintf(expect, sizeof expect, "%s", kind);
      return sl__cfg_error_at(err, file, n, path, expect);
    }
    *(int64_t *)dst = v;
    return 0;
  }
  case SL_CFG_BOOL:
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes"))
      *(bool *)dst = true;
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no"))
      *(bool *)dst = false;
    else
      return sl__cfg_error_at(err, file, n, path, "true or false");
    return 0;
  case SL_CFG_ENUM: {
    size_t sl = strlen(s);
    const char *c = e->choices;
    bool ok = false;
    while (c && *c) {
      const char *bar = strchr(c, '|');
      size_t cl = bar ? (size_t)(bar - c) : strlen(c);
      if (cl == sl && !memcmp(c, s, sl)) ok = true;
      c = bar ? bar + 1 : NULL;
    }
    if (!ok) {
      snprintf(expect, sizeof expect, "one of %s", e->choices);
      return sl__cfg_error_at(err, file, n, path, expect);
    }
  }
    /* fall through */
  case SL_CFG_STRING: {
    char **p = (char **)dst;
    sl_free(*p);
    *p = sl_strdup(s);
    return *p ? 0 : SL_ENOMEM;
  }
  default: return 0;
  }
}

int sl__cfg_apply(const struct sl_cfg_entry *table, const struct sl_ynode *map,
                  const char *file, const char *path, void *out,
                  struct sl_error *err) {
  char sub[512];
  for (const struct sl_cfg_entry *e = table; e->key; e++) {
    if (!e->def) continue;
    struct sl_ynode tmp = {
        .kind = SL_YNODE_SCALAR, .str = (char *)e->def, .len = strlen(e->def)};
    snprintf(sub, sizeof sub, "%s.%s (default)", path, e->key);
    int rc = set_value(e, &tmp, "<built-in>", sub, out, err);
    if (rc) return rc;
  }
  if (!map) map = NULL;
  if (map && map->kind != SL_YNODE_MAP)
    return sl__cfg_error_at(err, file, map, path, "a map");
  for (int32_t i = 0; map && i < map->n; i++) {
    const struct sl_cfg_entry *e = table;
    while (e->key && strcmp(e->key, map->keys[i]))
      e++;
    if (!e->key) {
      char known[300];
      size_t k = 0;
      known[0] = '\0';
      for (const struct sl_cfg_entry *x = table;
           x->key && k < sizeof known - 40; x++)
        k += (size_t)snprintf(known + k, sizeof known - k, "%s%s",
                              x == table ? "" : ", ", x->key);
      return sl_error_set(
          err, SL_EINVAL,
          "%s:%d:%d: %s: unknown key '%s' (expected one of: %s)", file,
          map->key_lines[i], map->key_cols[i], path, map->keys[i], known);
    }
    snprintf(sub, sizeof sub, "%s.%s", path, e->key);
    int rc = set_value(e, map->items[i], file, sub, out, err);
    if (rc == SL_ENOMEM) return sl_error_set(err, rc, "out of memory");
    if (rc) return rc;
  }
  for (const struct sl_cfg_entry *e = table; e->key; e++) {
    if (!e->required || sl__ynode_get(map, e->key)) continue;
    return sl_error_set(err, SL_EINVAL, "%s:%d:%d: %s: expected key '%s' (%s)",
                        file, map ? map->line : 1, map ? map->col : 1, path,
                        e->key, e->doc);
  }
  return 0;
}

void sl__cfg_release(const struct sl_cfg_entry *table, void *out) {
  for (const struct sl_cfg_entry *e = table; e->key; e++) {
    char *dst = (char *)out + e->offset;
    switch (e->type) {
    case SL_CFG_STRING:
    case SL_CFG_ENUM:
      sl_free(*(char **)dst);
      *(char **)dst = NULL;
      break;
    case SL_CFG_STRLIST: sl__strlist_release((struct sl_strlist *)dst); break;
    case SL_CFG_STRMAP: sl__strmap_release((struct sl_strmap *)dst); break;
    default: break;
    }
  }
}

void sl__cfg_describe(const struct sl_cfg_entry *table, FILE *f) {
  static const char *const names[] = {"integer",  "bool",   "string", "enum",
                                      "duration", "size",   "list",   "map",
                                      "ignored",  "section"};
  fprintf(f, "| key | type | default | range / choices | description |\n");
  fprintf(f, "|---|---|---|---|---|\n");
  for (const struct sl_cfg_entry *e = table; e->key; e++) {
    char range[128] = "";
    if (e->type == SL_CFG_ENUM)
      snprintf(range, sizeof range, "%s", e->choices);
    else if (e->min || e->max)
      snprintf(range, sizeof range, "%" PRId64 "..%" PRId64, e->min, e->max);
    fprintf(f, "| `%s` | %s | %s | %s | %s%s |\n", e->key, names[e->type],
            e->def ? e->def : (e->required ? "(required)" : "-"), range, e->doc,
            e->required ? " Required." : "");
  }
}
