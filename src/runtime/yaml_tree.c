/* YAML to a position-keeping tree, on libyaml's event parser. */
#include "runtime/yaml_tree.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sluice/alloc.h"

#define YAML_MAX_DEPTH 64
#define YAML_MAX_SCALAR (1 << 20)

struct ybuild {
  yaml_parser_t parser;
  const char *file;
  struct sl_error *err;
};

static struct sl_ynode *node_new(enum sl_ynode_kind kind, yaml_mark_t m) {
  struct sl_ynode *n = sl_calloc(1, sizeof *n);
  if (!n) return NULL;
  n->kind = kind;
  n->line = (int)m.line + 1;
  n->col = (int)m.column + 1;
  return n;
}

void sl__ynode_free(struct sl_ynode *n) {
  if (!n) return;
  sl_free(n->str);
  for (int32_t i = 0; i < n->n; i++) {
    if (n->keys) sl_free(n->keys[i]);
    sl__ynode_free(n->items[i]);
  }
  sl_free(n->keys);
  sl_free(n->key_lines);
  sl_free(n->key_cols);
  sl_free(n->items);
  sl_free(n);
}

const struct sl_ynode *sl__ynode_get(const struct sl_ynode *map,
                                     const char *key) {
  if (!map || map->kind != SL_YNODE_MAP) return NULL;
  for (int32_t i = 0; i < map->n; i++)
    if (!strcmp(map->keys[i], key)) return map->items[i];
  return NULL;
}

/* Replaces ${NAME} / ${NAME:-default} from the environment. */
static int substitute(struct ybuild *b, const char *s, size_t len,
                      yaml_mark_t m, char **out, size_t *out_len) {
  size_t cap = len + 1, n = 0;
  char *r = sl_malloc(cap);
  if (!r) return sl_error_set(b->err, SL_ENOMEM, "out of memory");
  char name[256]; /* outlives the branch: a default points into it */
  for (size_t i = 0; i < len;) {
    const char *piece = s + i;
    size_t plen = 1;
    if (s[i] == '$' && i + 2 < len && s[i + 1] == '$' && s[i + 2] == '{') {
      piece = "${";
      plen = 2;
      i += 3;
    } else if (s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
      const char *close = memchr(s + i + 2, '}', len - i - 2);
      if (!close) {
        sl_free(r);
        return sl_error_set(b->err, SL_EINVAL,
                            "%s:%d:%d: expected '}' closing '${' in '%.*s'",
                            b->file, (int)m.line + 1, (int)m.column + 1,
                            (int)(len > 80 ? 80 : len), s);
      }
      size_t inner = (size_t)(close - (s + i + 2));
      if (inner == 0 || inner >= sizeof name) {
        sl_free(r);
        return sl_error_set(b->err, SL_EINVAL,
                            "%s:%d:%d: expected an environment variable name "
                            "inside '${}', found '%.*s'",
                            b->file, (int)m.line + 1, (int)m.column + 1,
                            (int)(inner > 80 ? 80 : inner), s + i + 2);
      }
      memcpy(name, s + i + 2, inner);
      name[inner] = '\0';
      const char *def = NULL;
      char *sep = strstr(name, ":-");
      if (sep) {
        *sep = '\0';
        def = sep + 2;
      }
      const char *v = getenv(name);
      if (!v || (def && !*v)) v = def;
      if (!v) {
        sl_free(r);
        return sl_error_set(b->err, SL_EINVAL,
                            "%s:%d:%d: environment variable '%s' is not set "
                            "(write ${%s:-default} to give a default)",
                            b->file, (int)m.line + 1, (int)m.column + 1, name,
                            name);
      }
      piece = v;
      plen = strlen(v);
      i += inner + 3;
    } else {
      i++;
    }
    if (n + plen + 1 > cap) {
      size_t ncap = (n + plen + 1) * 2;
      char *nr = sl_realloc(r, ncap);
      if (!nr) {
        sl_free(r);
        return sl_error_set(b->err, SL_ENOMEM, "out of memory");
      }
      r = nr;
      cap = ncap;
    }
    memcpy(r + n, piece, plen);
    n += plen;
  }
  r[n] = '\0';
  *out = r;
  *out_len = n;
  return 0;
}

static int next_event(struct ybuild *b, yaml_event_t *ev) {
  if (!yaml_parser_parse(&b->parser, ev)) {
    yaml_mark_t m = b->parser.problem_mark;
    return sl_error_set(b->err, SL_EINVAL, "%s:%d:%d: invalid YAML: %s%s%s",
                        b->file, (int)m.line + 1, (int)m.column + 1,
                        b->parser.problem ? b->parser.problem : "syntax error",
                        b->parser.context ? " " : "",
                        b->parser.context ? b->parser.context : "");
  }
  return 0;
}

static int push_item(struct sl_ynode *parent, char *key, int kl, int kc,
                     struct sl_ynode *child) {
  if (parent->n % 8 == 0) {
    size_t ncap = (size_t)parent->n + 8;
    struct sl_ynode **it = sl_realloc(parent->items, ncap * sizeof *it);
    if (!it) return SL_ENOMEM;
    parent->items = it;
    if (parent->kind == SL_YNODE_MAP) {
      char **k = sl_realloc(parent->keys, ncap * sizeof *k);
      if (!k) return SL_ENOMEM;
      parent->keys = k;
      int *l = sl_realloc(parent->key_lines, ncap * sizeof *l);
      if (!l) return SL_ENOMEM;
      parent->key_lines = l;
      int *c = sl_realloc(parent->key_cols, ncap * sizeof *c);
      if (!c) return SL_ENOMEM;
      parent->key_cols = c;
    }
  }
  if (parent->kind == SL_YNODE_MAP) {
    parent->keys[parent->n] = key;
    parent->key_lines[parent->n] = kl;
    parent->key_cols[parent->n] = kc;
  }
  parent->items[parent->n++] = child;
  return 0;
}

/* Builds the node that starts with event ev (already consumed). */
static int build(struct ybuild *b, yaml_event_t *ev, int depth,
                 struct sl_ynode **out) {
  *out = NULL;
  if (depth > YAML_MAX_DEPTH)
    return sl_error_set(b->err, SL_EINVAL,
                        "%s:%d:%d: expected at most %d nesting levels", b->file,
                        (int)ev->start_mark.line + 1,
                        (int)ev->start_mark.column + 1, YAML_MAX_DEPTH);
  if (ev->type == YAML_ALIAS_EVENT)
    return sl_error_set(b->err, SL_EINVAL,
                        "%s:%d:%d: YAML aliases (*name) are not supported in "
                        "a function spec; write the value out",
                        b->file, (int)ev->start_mark.line + 1,
                        (int)ev->start_mark.column + 1);
  if (ev->type == YAML_SCALAR_EVENT) {
    if (ev->data.scalar.length > YAML_MAX_SCALAR)
      return sl_error_set(b->err, SL_EINVAL,
                          "%s:%d:%d: expected a value of at most %d bytes",
                          b->file, (int)ev->start_mark.line + 1,
                          (int)ev->start_mark.column + 1, YAML_MAX_SCALAR);
    struct sl_ynode *n = node_new(SL_YNODE_SCALAR, ev->start_mark);
    if (!n) return sl_error_set(b->err, SL_ENOMEM, "out of memory");
    n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
    int rc =
        substitute(b, (const char *)ev->data.scalar.value,
                   ev->data.scalar.length, ev->start_mark, &n->str, &n->len);
    if (rc) {
      sl__ynode_free(n);
      return rc;
    }
    *out = n;
    return 0;
  }
  int is_map = ev->type == YAML_MAPPING_START_EVENT;
  if (!is_map && ev->type != YAML_SEQUENCE_START_EVENT)
    return sl_error_set(b->err, SL_EINVAL, "%s:%d:%d: unexpected YAML event",
                        b->file, (int)ev->start_mark.line + 1,
                        (int)ev->start_mark.column + 1);
  struct sl_ynode *n =
      node_new(is_map ? SL_YNODE_MAP : SL_YNODE_SEQ, ev->start_mark);
  if (!n) return sl_error_set(b->err, SL_ENOMEM, "out of memory");
  int rc = 0;
  for (;;) {
    yaml_event_t e;
    SL_CHECK_GOTO(next_event(b, &e), rc, fail);
    if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) {
      yaml_event_delete(&e);
      break;
    }
    char *key = NULL;
    int kl = 0, kc = 0;
    if (is_map) {
      kl = (int)e.start_mark.line + 1;
      kc = (int)e.start_mark.column + 1;
      if (e.type != YAML_SCALAR_EVENT) {
        int was_map = e.type == YAML_MAPPING_START_EVENT;
        yaml_event_delete(&e);
        rc = sl_error_set(b->err, SL_EINVAL,
                          "%s:%d:%d: expected a plain key, found a %s", b->file,
                          kl, kc, was_map ? "map" : "list or alias");
        goto fail;
      }
      key = sl_strndup((const char *)e.data.scalar.value, e.data.scalar.length);
      yaml_event_delete(&e);
      if (!key) {
        rc = sl_error_set(b->err, SL_ENOMEM, "out of memory");
        goto fail;
      }
      if (sl__ynode_get(n, key)) {
        rc = sl_error_set(b->err, SL_EINVAL, "%s:%d:%d: duplicate key '%s'",
                          b->file, kl, kc, key);
        sl_free(key);
        goto fail;
      }
      rc = next_event(b, &e);
      if (rc) {
        sl_free(key);
        goto fail;
      }
    }
    struct sl_ynode *child = NULL;
    rc = build(b, &e, depth + 1, &child);
    yaml_event_delete(&e);
    if (!rc && push_item(n, key, kl, kc, child))
      rc = sl_error_set(b->err, SL_ENOMEM, "out of memory");
    if (rc) {
      sl_free(key);
      sl__ynode_free(child);
      goto fail;
    }
  }
  *out = n;
  return 0;
fail:
  sl__ynode_free(n);
  return rc;
}

int sl__yaml_parse(const char *text, size_t len, const char *file,
                   struct sl_ynode **out, struct sl_error *err) {
  struct ybuild b = {.file = file ? file : "<spec>", .err = err};
  *out = NULL;
  if (!yaml_parser_initialize(&b.parser))
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
  int rc = 0;
  struct sl_ynode *root = NULL;
  yaml_event_t e;
  int docs = 0;
  for (;;) {
    SL_CHECK_GOTO(next_event(&b, &e), rc, cleanup);
    yaml_event_type_t t = e.type;
    if (t == YAML_STREAM_END_EVENT) {
      yaml_event_delete(&e);
      break;
    }
    if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
      rc = sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: expected one YAML document, found a second",
                        b.file, (int)e.start_mark.line + 1,
                        (int)e.start_mark.column + 1);
      yaml_event_delete(&e);
      goto cleanup;
    }
    if (t == YAML_SCALAR_EVENT || t == YAML_MAPPING_START_EVENT ||
        t == YAML_SEQUENCE_START_EVENT || t == YAML_ALIAS_EVENT) {
      rc = build(&b, &e, 0, &root);
      yaml_event_delete(&e);
      if (rc) goto cleanup;
      continue;
    }
    yaml_event_delete(&e);
  }
  if (!root) {
    yaml_mark_t m = {0, 0, 0};
    root = node_new(SL_YNODE_MAP, m);
    if (!root) {
      rc = sl_error_set(err, SL_ENOMEM, "out of memory");
      goto cleanup;
    }
  }
  *out = root;
  root = NULL;
cleanup:
  sl__ynode_free(root);
  yaml_parser_delete(&b.parser);
  return rc;
}
