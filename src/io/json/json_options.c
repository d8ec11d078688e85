/* JSON reader: options, their text form, and the schema text parser.
 *
 * The text form ("key", "value") is what configuration files, SQL
 * read_json(...) arguments and foreign-language bindings use; it is strict:
 * an unknown key or a malformed value is an error that names it. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/json/json_internal.h"

struct owned {
  struct sl_schema schema;
  bool has_schema;
  char **proj;
  int32_t n_proj;
};

void sl_json_options_init(struct sl_json_options *o) {
  memset(o, 0, sizeof *o);
  o->nested = SL_JSON_NESTED_STRUCT;
  o->infer_sample_bytes = 1 << 20;
  o->infer_timestamps = true;
  o->batch_rows = 65536;
  o->threads = 0;
  o->bad_lines = SL_JSON_BAD_FAIL;
  o->mismatch = SL_JSON_MISMATCH_NULL;
  o->max_line_bytes = 64LL << 20;
  o->max_depth = 64;
  o->simd = SL_JSON_SIMD_AUTO;
}

size_t sl_json_options_size(void) {
  return sizeof(struct sl_json_options);
}

static void owned_free_proj(struct owned *w) {
  for (int32_t i = 0; i < w->n_proj; i++)
    sl_free(w->proj[i]);
  sl_free(w->proj);
  w->proj = NULL;
  w->n_proj = 0;
}

void sl_json_options_release(struct sl_json_options *o) {
  struct owned *w = o->owned_;
  if (!w) return;
  if (o->schema == &w->schema) o->schema = NULL;
  if (w->proj && o->projection == (const char *const *)w->proj) {
    o->projection = NULL;
    o->n_projection = 0;
  }
  if (w->has_schema) sl_schema_release(&w->schema);
  owned_free_proj(w);
  sl_free(w);
  o->owned_ = NULL;
}

/* ---- schema text ------------------------------------------------------- */

struct sp {
  const char *s;
  size_t i;
  struct sl_error *err;
};

static void sp_ws(struct sp *p) {
  while (p->s[p->i] && isspace((unsigned char)p->s[p->i]))
    p->i++;
}

static int sp_fail(struct sp *p, const char *what) {
  return sl_error_set(p->err, SL_EINVAL,
                      "schema text: expected %s at character %zu of '%s'", what,
                      p->i + 1, p->s);
}

static int parse_field(struct sp *p, struct sl_field *f, char stop);

static int parse_type(struct sp *p, const char *name, struct sl_field *f) {
  sp_ws(p);
  size_t b = p->i;
  while (p->s[p->i] && (isalnum((unsigned char)p->s[p->i]) ||
                        p->s[p->i] == '_' || p->s[p->i] == '[')) {
    if (p->s[p->i] == '[') {
      while (p->s[p->i] && p->s[p->i] != ']')
        p->i++;
      if (p->s[p->i] == ']') p->i++;
      break;
    }
    p->i++;
  }
  size_t n = p->i - b;
  if (n == 0) return sp_fail(p, "a type name");
  const char *t = p->s + b;
  bool is_list = n == 4 && memcmp(t, "list", 4) == 0;
  bool is_struct = n == 6 && memcmp(t, "struct", 6) == 0;
  if (is_list || is_struct) {
    SL_RETURN_NOT_OK(
        sl_field_init(f, name, is_list ? SL_TYPE_LIST : SL_TYPE_STRUCT, true));
    sp_ws(p);
    if (p->s[p->i] != '<') return sp_fail(p, "'<'");
    p->i++;
    for (;;) {
      struct sl_field c;
      int rc = is_list ? (memset(&c, 0, sizeof c), parse_type(p, "item", &c))
                       : parse_field(p, &c, '>');
      if (rc) return rc;
      rc = sl_field_add_child(f, &c);
      sl_field_release(&c);
      if (rc) return rc;
      sp_ws(p);
      if (p->s[p->i] == ',' && is_struct) {
        p->i++;
        continue;
      }
      if (p->s[p->i] == '>') {
        p->i++;
        return 0;
      }
      return sp_fail(p, is_list ? "'>'" : "',' or '>'");
    }
  }
  enum sl_type_id id;
  if (sl_type_parse(t, n, &id))
    return sl_error_set(p->err, SL_EINVAL,
                        "schema text: unknown type '%.*s' for column '%s'",
                        (int)n, t, name);
  return sl_field_init(f, name, id, true);
}

static int parse_field(struct sp *p, struct sl_field *f, char stop) {
  memset(f, 0, sizeof *f);
  sp_ws(p);
  size_t b = p->i;
  while (p->s[p->i] && p->s[p->i] != ':' && p->s[p->i] != ',' &&
         p->s[p->i] != stop)
    p->i++;
  size_t e = p->i;
  while (e > b && isspace((unsigned char)p->s[e - 1]))
    e--;
  if (e == b) return sp_fail(p, "a column name");
  if (p->s[p->i] != ':') return sp_fail(p, "':' after the column name");
  p->i++;
  char *name = sl_strndup(p->s + b, e - b);
  if (!name) return SL_ENOMEM;
  int rc = parse_type(p, name, f);
  sl_free(name);
  return rc;
}

int sl_json_parse_schema(const char *text, struct sl_schema *out,
                         struct sl_error *err) {
  sl_schema_init(out);
  struct sp p = {text, 0, err};
  sp_ws(&p);
  if (!text[p.i]) return 0;
  for (;;) {
    struct sl_field f;
    int rc = parse_field(&p, &f, 0);
    if (!rc && sl_schema_find(out, f.name) >= 0)
      rc = sl_error_set(err, SL_EINVAL,
                        "schema text: column '%s' appears twice", f.name);
    if (!rc) rc = sl_schema_add_field(out, &f);
    sl_field_release(&f);
    if (rc) {
      sl_schema_release(out);
      return rc;
    }
    sp_ws(&p);
    if (text[p.i] == ',') {
      p.i++;
      continue;
    }
    if (!text[p.i]) return 0;
    rc = sp_fail(&p, "',' or the end");
    sl_schema_release(out);
    return rc;
  }
}

/* ---- options from text --------------------------------------------------- */

static int parse_i64(const char *key, const char *v, int64_t lo, int64_t hi,
                     int64_t *out, struct sl_error *err) {
  char *e;
  errno = 0;
  long long x = strtoll(v, &e, 10);
  if (errno || e == v || *e || x < lo || x > hi)
    return sl_error_set(
        err, SL_EINVAL,
        "JSON option '%s': expected an integer in [%lld, %lld], "
        "found '%s'",
        key, (long long)lo, (long long)hi, v);
  *out = x;
  return 0;
}

static int pick(const char *key, const char *v, const char *const *names, int n,
                int *out, struct sl_error *err) {
  for (int i = 0; i < n; i++)
    if (strcmp(v, names[i]) == 0) {
      *out = i;
      return 0;
    }
  char list[128] = "";
  for (int i = 0; i < n; i++) {
    strncat(list, names[i], sizeof list - strlen(list) - 1);
    if (i + 1 < n) strncat(list, "|", sizeof list - strlen(list) - 1);
  }
  return sl_error_set(err, SL_EINVAL,
                      "JSON option '%s': expected %s, found '%s'", key, list,
                      v);
}

static struct owned *owned(struct sl_json_options *o) {
  if (!o->owned_) o->owned_ = sl_calloc(1, sizeof(struct owned));
  return o->owned_;
}

static int set_projection(struct sl_json_options *o, const char *v) {
  struct owned *w = owned(o);
  if (!w) return SL_ENOMEM;
  owned_free_proj(w);
  int32_t n = 0;
  for (const char *s = v; *s; s++)
    n += *s == ',';
  w->proj = sl_calloc((size_t)n + 1, sizeof *w->proj);
  if (!w->proj) return SL_ENOMEM;
  const char *s = v;
  for (;;) {
    const char *c = strchr(s, ',');
    size_t len = c ? (size_t)(c - s) : strlen(s);
    while (len && isspace((unsigned char)*s))
      s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
      len--;
    if (len) {
      w->proj[w->n_proj] = sl_strndup(s, len);
      if (!w->proj[w->n_proj]) return SL_ENOMEM;
      w->n_proj++;
    }
    if (!c) break;
    s = c + 1;
  }
  o->projection = (const char *const *)w->proj;
  o->n_projection = w->n_proj;
  return 0;
}

int sl_json_options_set(struct sl_json_options *o, const char *key,
                        const char *v, struct sl_error *err) {
  int64_t x = 0;
  int k = 0;
  if (strcmp(key, "schema") == 0) {
    struct owned *w = owned(o);
    if (!w) return SL_ENOMEM;
    struct sl_schema s;
    SL_RETURN_NOT_OK(sl_json_parse_schema(v, &s, err));
    if (w->has_schema) sl_schema_release(&w->schema);
    w->schema = s;
    w->has_schema = true;
    o->schema = &w->schema;
    return 0;
  }
  if (strcmp(key, "projection") == 0) return set_projection(o, v);
  if (strcmp(key, "nested") == 0) {
    static const char *const n[] = {"struct", "flatten"};
    SL_RETURN_NOT_OK(pick(key, v, n, 2, &k, err));
    o->nested = (enum sl_json_nested_mode)k;
    return 0;
  }
  if (strcmp(key, "infer_timestamps") == 0) {
    static const char *const n[] = {"false", "true"};
    SL_RETURN_NOT_OK(pick(key, v, n, 2, &k, err));
    o->infer_timestamps = k == 1;
    return 0;
  }
  if (strcmp(key, "bad_lines") == 0) {
    static const char *const n[] = {"fail", "skip"};
    SL_RETURN_NOT_OK(pick(key, v, n, 2, &k, err));
    o->bad_lines = (enum sl_json_bad_line_policy)k;
    return 0;
  }
  if (strcmp(key, "mismatch") == 0) {
    static const char *const n[] = {"null", "bad_line"};
    SL_RETURN_NOT_OK(pick(key, v, n, 2, &k, err));
    o->mismatch = (enum sl_json_mismatch_policy)k;
    return 0;
  }
  if (strcmp(key, "simd") == 0) {
    static const char *const n[] = {"auto", "scalar", "avx2", "avx512"};
    SL_RETURN_NOT_OK(pick(key, v, n, 4, &k, err));
    o->simd = (enum sl_json_simd)k;
    return 0;
  }
  if (strcmp(key, "infer_sample_bytes") == 0) {
    SL_RETURN_NOT_OK(parse_i64(key, v, 0, INT64_MAX, &x, err));
    o->infer_sample_bytes = x;
    return 0;
  }
  if (strcmp(key, "batch_rows") == 0) {
    SL_RETURN_NOT_OK(parse_i64(key, v, 1, 1LL << 31, &x, err));
    o->batch_rows = x;
    return 0;
  }
  if (strcmp(key, "chunk_bytes") == 0) {
    SL_RETURN_NOT_OK(parse_i64(key, v, 0, 1LL << 30, &x, err));
    o->chunk_bytes = x;
    return 0;
  }
  if (strcmp(key, "threads") == 0) {
    SL_RETURN_NOT_OK(parse_i64(key, v, 0, 1024, &x, err));
    o->threads = (int)x;
    return 0;
  }
  if (strcmp(key, "max_line_bytes") == 0) {
    SL_RETURN_NOT_OK(parse_i64(key, v, 1, 1LL << 30, &x, err));
    o->max_line_bytes = x;
    return 0;
  }
  if (strcmp(key, "max_depth") == 0) {
    SL_RETURN_NOT_OK(parse_i64(key, v, 1, 10000, &x, err));
    o->max_depth = (int32_t)x;
    return 0;
  }
  return sl_error_set(err, SL_EINVAL,
                      "JSON option: unknown key '%s' (known: schema, "
                      "projection, nested, infer_sample_bytes, "
                      "infer_timestamps, batch_rows, chunk_bytes, threads, "
                      "bad_lines, mismatch, max_line_bytes, max_depth, simd)",
                      key);
}
