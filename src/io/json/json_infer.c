/* JSON reader: schema inference from a sample.
 *
 * Each line of the sample is walked once; every key path collects the set
 * of JSON kinds it was seen with (and, for strings, whether all of them were
 * RFC 3339 timestamps). The sets then resolve by the widening rules written
 * in sluice/json.h: null adds nothing, int + float = float64, timestamps
 * stay timestamps only when every string was one, and any other mix is utf8
 * (the column keeps the JSON text). Keys keep their first-seen order. A line
 * that turns out to be malformed may still have contributed the keys seen
 * before its error; it is reported when the data is read. */
#include <string.h>

#include "io/json/json_internal.h"

enum {
  K_NULL = 1,
  K_BOOL = 2,
  K_INT = 4,
  K_FLOAT = 8,
  K_STR = 16,
  K_OBJ = 32,
  K_ARR = 64,
};

struct inode {
  uint32_t seen;
  bool non_ts;  /* a string that is not a timestamp */
  bool ts_fine; /* a timestamp with more than 3 fraction digits */
  int32_t n_kids, cap_kids;
  struct inode *kids;
  char **keys;
  struct inode *elem;
};

struct iw {
  const uint8_t *end;
  int depth, max_depth;
  bool infer_ts;
  int rc; /* hard error */
};

static void inode_free(struct inode *n) {
  for (int32_t i = 0; i < n->n_kids; i++) {
    inode_free(&n->kids[i]);
    sl_free(n->keys[i]);
  }
  sl_free(n->kids);
  sl_free(n->keys);
  if (n->elem) {
    inode_free(n->elem);
    sl_free(n->elem);
  }
}

static struct inode *kid(struct iw *w, struct inode *n, const uint8_t *k,
                         size_t len) {
  for (int32_t i = 0; i < n->n_kids; i++)
    if (strlen(n->keys[i]) == len && memcmp(n->keys[i], k, len) == 0)
      return &n->kids[i];
  if (memchr(k, 0, len)) return NULL; /* keys with NUL cannot be names */
  if (n->n_kids == n->cap_kids) {
    int32_t cap = n->cap_kids ? n->cap_kids * 2 : 8;
    struct inode *nk = sl_realloc(n->kids, (size_t)cap * sizeof *nk);
    if (!nk) goto oom;
    n->kids = nk;
    char **ks = sl_realloc(n->keys, (size_t)cap * sizeof *ks);
    if (!ks) goto oom;
    n->keys = ks;
    n->cap_kids = cap;
  }
  n->keys[n->n_kids] = sl_strndup((const char *)k, len);
  if (!n->keys[n->n_kids]) goto oom;
  memset(&n->kids[n->n_kids], 0, sizeof *n->kids);
  return &n->kids[n->n_kids++];
oom:
  w->rc = SL_ENOMEM;
  return NULL;
}

static const uint8_t *iws(const uint8_t *p, const uint8_t *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
    p++;
  return p;
}

/* p after the opening quote; returns the closing quote or NULL. */
static const uint8_t *istr(const uint8_t *p, const uint8_t *end, bool *esc) {
  *esc = false;
  while (p < end) {
    uint8_t c = *p;
    if (c == '"') return p;
    if (c < 0x20) return NULL;
    if (c == '\\') {
      *esc = true;
      p += 2;
      continue;
    }
    p++;
  }
  return NULL;
}

static const uint8_t *ivalue(struct iw *w, const uint8_t *p, struct inode *n);

static const uint8_t *iobject(struct iw *w, const uint8_t *p, struct inode *n) {
  if (++w->depth > w->max_depth) return NULL;
  n->seen |= K_OBJ;
  p = iws(p + 1, w->end);
  if (p < w->end && *p == '}') {
    w->depth--;
    return p + 1;
  }
  for (;;) {
    if (p >= w->end || *p != '"') return NULL;
    bool esc;
    const uint8_t *q = istr(p + 1, w->end, &esc);
    if (!q) return NULL;
    /* keys with escapes are rare in logs: they are skipped by inference */
    struct inode *k = esc ? NULL : kid(w, n, p + 1, (size_t)(q - p - 1));
    if (w->rc) return NULL;
    p = iws(q + 1, w->end);
    if (p >= w->end || *p != ':') return NULL;
    p = iws(p + 1, w->end);
    struct inode sink = {0};
    p = ivalue(w, p, k ? k : &sink);
    inode_free(&sink);
    if (!p) return NULL;
    p = iws(p, w->end);
    if (p < w->end && *p == ',') {
      p = iws(p + 1, w->end);
      continue;
    }
    if (p < w->end && *p == '}') {
      w->depth--;
      return p + 1;
    }
    return NULL;
  }
}

static const uint8_t *ivalue(struct iw *w, const uint8_t *p, struct inode *n) {
  if (p >= w->end) return NULL;
  switch (*p) {
  case '{': return iobject(w, p, n);
  case '[': {
    if (++w->depth > w->max_depth) return NULL;
    n->seen |= K_ARR;
    p = iws(p + 1, w->end);
    if (p < w->end && *p == ']') {
      w->depth--;
      return p + 1;
    }
    if (!n->elem) {
      n->elem = sl_calloc(1, sizeof *n->elem);
      if (!n->elem) {
        w->rc = SL_ENOMEM;
        return NULL;
      }
    }
    for (;;) {
      p = ivalue(w, p, n->elem);
      if (!p) return NULL;
      p = iws(p, w->end);
      if (p < w->end && *p == ',') {
        p = iws(p + 1, w->end);
        continue;
      }
      if (p < w->end && *p == ']') {
        w->depth--;
        return p + 1;
      }
      return NULL;
    }
  }
  case '"': {
    bool esc;
    const uint8_t *q = istr(p + 1, w->end, &esc);
    if (!q) return NULL;
    n->seen |= K_STR;
    int frac = 0;
    int64_t v;
    if (!w->infer_ts || esc ||
        sl__json_parse_ts(p + 1, (size_t)(q - p - 1), 1000000, true, &v, &frac))
      n->non_ts = true;
    else if (frac > 3)
      n->ts_fine = true;
    return q + 1;
  }
  case 't':
  case 'f':
  case 'n': {
    const char *word = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
    size_t len = strlen(word);
    if ((size_t)(w->end - p) < len || memcmp(p, word, len)) return NULL;
    n->seen |= *p == 'n' ? K_NULL : K_BOOL;
    return p + len;
  }
  default: {
    struct sl__jnum num;
    const uint8_t *q = sl__json_number(p, w->end, &num);
    if (!q) return NULL;
    int64_t i;
    bool is_int = num.is_int && sl__json_num_i64(&num, &i) == 0;
    n->seen |= is_int ? K_INT : K_FLOAT;
    return q;
  }
  }
}

static int to_field(const struct inode *n, const char *name,
                    enum sl_json_nested_mode mode, struct sl_schema *flat,
                    struct sl_field *out);

static int add_flat(const struct inode *n, const char *prefix,
                    struct sl_schema *s) {
  for (int32_t i = 0; i < n->n_kids; i++) {
    size_t a = strlen(prefix), b = strlen(n->keys[i]);
    char *name = sl_malloc(a + b + 2);
    if (!name) return SL_ENOMEM;
    memcpy(name, prefix, a);
    name[a] = a ? '.' : '\0';
    memcpy(name + (a ? a + 1 : 0), n->keys[i], b + 1);
    int rc;
    const struct inode *k = &n->kids[i];
    if ((k->seen & ~K_NULL) == K_OBJ && k->n_kids > 0) {
      rc = add_flat(k, name, s);
    } else {
      struct sl_field f;
      rc = to_field(k, name, SL_JSON_NESTED_STRUCT, NULL, &f);
      if (!rc) {
        rc = sl_schema_add_field(s, &f);
        sl_field_release(&f);
      }
    }
    sl_free(name);
    if (rc) return rc;
  }
  return 0;
}

static int to_field(const struct inode *n, const char *name,
                    enum sl_json_nested_mode mode, struct sl_schema *flat,
                    struct sl_field *out) {
  (void)mode;
  (void)flat;
  uint32_t s = n->seen & ~(uint32_t)K_NULL;
  enum sl_type_id t = SL_TYPE_UTF8;
  if (s == K_BOOL)
    t = SL_TYPE_BOOL;
  else if (s == K_INT)
    t = SL_TYPE_INT64;
  else if (s == K_FLOAT || s == (K_INT | K_FLOAT))
    t = SL_TYPE_FLOAT64;
  else if (s == K_STR && !n->non_ts)
    t = n->ts_fine ? SL_TYPE_TIMESTAMP_US : SL_TYPE_TIMESTAMP_MS;
  else if (s == K_OBJ && n->n_kids > 0)
    t = SL_TYPE_STRUCT;
  else if (s == K_ARR)
    t = SL_TYPE_LIST;
  SL_RETURN_NOT_OK(sl_field_init(out, name, t, true));
  int rc = 0;
  if (t == SL_TYPE_STRUCT) {
    for (int32_t i = 0; i < n->n_kids && !rc; i++) {
      struct sl_field c;
      rc = to_field(&n->kids[i], n->keys[i], mode, NULL, &c);
      if (!rc) {
        rc = sl_field_add_child(out, &c);
        sl_field_release(&c);
      }
    }
  } else if (t == SL_TYPE_LIST) {
    struct sl_field c;
    struct inode none = {0};
    rc = to_field(n->elem ? n->elem : &none, "item", mode, NULL, &c);
    if (!rc) {
      rc = sl_field_add_child(out, &c);
      sl_field_release(&c);
    }
  }
  if (rc) sl_field_release(out);
  return rc;
}

static const struct inode *find_path(const struct inode *n, const char *path) {
  const char *seg = path;
  for (;;) {
    const char *dot = strchr(seg, '.');
    size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
    const struct inode *k = NULL;
    for (int32_t i = 0; i < n->n_kids; i++)
      if (strlen(n->keys[i]) == len && memcmp(n->keys[i], seg, len) == 0)
        k = &n->kids[i];
    if (!k) return NULL;
    if (!dot) return k;
    n = k;
    seg = dot + 1;
  }
}

int sl__json_infer(const uint8_t *buf, size_t len,
                   const struct sl_json_options *o, struct sl_schema *out,
                   struct sl_error *err) {
  struct sl_json_options d;
  if (!o) {
    sl_json_options_init(&d);
    o = &d;
  }
  sl_schema_init(out);
  size_t n = len;
  if ((int64_t)n > o->infer_sample_bytes) {
    n = (size_t)o->infer_sample_bytes;
    while (n > 0 && buf[n - 1] != '\n')
      n--;
    if (n == 0) {
      /* the first line is longer than the sample: learn from it whole (as
       * far as the caller's bytes go) rather than from nothing */
      const uint8_t *nl = memchr(buf + o->infer_sample_bytes, '\n',
                                 len - (size_t)o->infer_sample_bytes);
      n = nl ? (size_t)(nl - buf) + 1 : len;
    }
  }
  struct inode root = {0};
  struct iw w = {0};
  w.max_depth = o->max_depth > 0 ? o->max_depth : 64;
  w.infer_ts = o->infer_timestamps;
  const uint8_t *p = buf, *end = buf + n;
  if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) p += 3;
  while (p < end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *le = nl ? nl : end;
    w.end = le;
    w.depth = 0;
    const uint8_t *q = iws(p, le);
    if (q < le && *q == '{') iobject(&w, q, &root);
    if (w.rc) break;
    p = nl ? nl + 1 : end;
  }
  int rc = w.rc;
  if (!rc && o->n_projection > 0) {
    for (int32_t i = 0; i < o->n_projection && !rc; i++) {
      const char *path = o->projection[i];
      if (sl_schema_find(out, path) >= 0) {
        rc = sl_error_set(err, SL_EINVAL,
                          "JSON options: projection names '%s' twice", path);
        break;
      }
      const struct inode *k = find_path(&root, path);
      struct inode none = {0};
      struct sl_field f;
      rc = to_field(k ? k : &none, path, SL_JSON_NESTED_STRUCT, NULL, &f);
      if (!rc) {
        rc = sl_schema_add_field(out, &f);
        sl_field_release(&f);
      }
    }
  } else if (!rc && o->nested == SL_JSON_NESTED_FLATTEN) {
    rc = add_flat(&root, "", out);
  } else if (!rc) {
    for (int32_t i = 0; i < root.n_kids && !rc; i++) {
      struct sl_field f;
      rc = to_field(&root.kids[i], root.keys[i], o->nested, NULL, &f);
      if (!rc) {
        rc = sl_schema_add_field(out, &f);
        sl_field_release(&f);
      }
    }
  }
  inode_free(&root);
  if (rc) {
    sl_schema_release(out);
    if (err && !err->code)
      sl_error_set(err, rc, "JSON schema inference: %s", sl_status_name(rc));
  }
  return rc;
}

int sl_json_infer_schema(const char *buf, size_t len,
                         const struct sl_json_options *o, struct sl_schema *out,
                         struct sl_error *err) {
  return sl__json_infer((const uint8_t *)buf, len, o, out, err);
}
