/* JSON reader: the parse plan.
 *
 * The schema's columns become a tree over JSON keys. A dotted column name
 * ("geo.country") walks through plain object nodes that own no column; a
 * struct column's fields and a list's element hang below the column's node.
 * Columns are numbered depth-first so each worker can keep its builders in a
 * flat array indexed by node->col. Every object node gets a small open-
 * addressing table from key to child, so a key costs one hash and one
 * compare whether it is wanted or skipped. */
#include <string.h>

#include "io/json/json_internal.h"
#include "sluice/thread_pool.h"

const struct sl__jnode *sl__jplan_lookup(const struct sl__jnode *obj,
                                         const uint8_t *key, size_t n) {
  if (obj->slots == NULL) return NULL;
  uint64_t w[2];
  sl__jkey_words(key, n, w);
  uint32_t i = (uint32_t)sl__jkey_hash(w, n) & obj->slot_mask;
  for (;;) {
    int32_t s = obj->slots[i];
    if (s < 0) return NULL;
    const struct sl__jnode *k = &obj->kids[s];
    if (k->key_len == n && memcmp(k->key, key, n) == 0) return k;
    i = (i + 1) & obj->slot_mask;
  }
}

static void node_release(struct sl__jnode *n) {
  for (int32_t i = 0; i < n->n_kids; i++)
    node_release(&n->kids[i]);
  sl_free(n->kids);
  sl_free(n->key);
  sl_free(n->slots);
  memset(n, 0, sizeof *n);
}

void sl__jplan_release(struct sl__jplan *p) {
  node_release(&p->root);
  sl_schema_release(&p->schema);
  memset(p, 0, sizeof *p);
}

/* Appends an empty child with key[0, n) to obj; returns it or NULL. */
static struct sl__jnode *add_kid(struct sl__jnode *obj, const char *key,
                                 size_t n) {
  struct sl__jnode *k =
      sl_realloc(obj->kids, (size_t)(obj->n_kids + 1) * sizeof *k);
  if (!k) return NULL;
  obj->kids = k;
  struct sl__jnode *c = &k[obj->n_kids];
  memset(c, 0, sizeof *c);
  c->col = -1;
  if (key) {
    c->key = sl_strndup(key, n);
    if (!c->key) return NULL;
    c->key_len = (uint32_t)n;
    sl__jkey_words((const uint8_t *)key, n, c->key_w);
  }
  obj->n_kids++;
  return c;
}

static int build_node(struct sl__jnode *n, const struct sl_field *f,
                      const char *path, int32_t *next_col,
                      struct sl_error *err) {
  n->type = f->type;
  n->col = (*next_col)++;
  n->path = path;
  switch (f->type) {
  case SL_TYPE_STRUCT:
    n->kind = SL__JN_STRUCT;
    for (int32_t i = 0; i < f->n_children; i++) {
      const struct sl_field *cf = &f->children[i];
      for (int32_t j = 0; j < n->n_kids; j++)
        if (strcmp(n->kids[j].key, cf->name) == 0)
          return sl_error_set(err, SL_EINVAL,
                              "schema: struct column '%s' has field '%s' "
                              "twice",
                              path, cf->name);
      struct sl__jnode *k = add_kid(n, cf->name, strlen(cf->name));
      if (!k) return SL_ENOMEM;
      SL_RETURN_NOT_OK(build_node(k, cf, path, next_col, err));
    }
    return 0;
  case SL_TYPE_LIST: {
    if (f->n_children != 1)
      return sl_error_set(err, SL_EINVAL,
                          "schema: list column '%s' needs one child, has %d",
                          path, (int)f->n_children);
    n->kind = SL__JN_LIST;
    struct sl__jnode *k = add_kid(n, NULL, 0);
    if (!k) return SL_ENOMEM;
    return build_node(k, &f->children[0], path, next_col, err);
  }
  case SL_TYPE_DICT_UTF8:
    return sl_error_set(err, SL_ENOTSUP,
                        "schema: column '%s': the JSON reader does not build "
                        "dict_utf8 columns; use utf8",
                        path);
  default: n->kind = SL__JN_SCALAR; return 0;
  }
}

static int build_slots(struct sl__jnode *n, int32_t *n_objs) {
  for (int32_t i = 0; i < n->n_kids; i++)
    SL_RETURN_NOT_OK(build_slots(&n->kids[i], n_objs));
  if (n->kind != SL__JN_OBJECT && n->kind != SL__JN_STRUCT) return 0;
  n->obj_id = (*n_objs)++;
  uint32_t size = 8;
  while (size < (uint32_t)n->n_kids * 2u)
    size *= 2;
  n->slots = sl_malloc(size * sizeof *n->slots);
  if (!n->slots) return SL_ENOMEM;
  memset(n->slots, 0xff, size * sizeof *n->slots);
  n->slot_mask = size - 1;
  for (int32_t i = 0; i < n->n_kids; i++) {
    uint32_t s = (uint32_t)sl__jkey_hash(n->kids[i].key_w, n->kids[i].key_len) &
                 n->slot_mask;
    while (n->slots[s] >= 0)
      s = (s + 1) & n->slot_mask;
    n->slots[s] = i;
  }
  return 0;
}

int sl__jplan_build(struct sl__jplan *p, const struct sl_schema *schema,
                    struct sl_error *err) {
  memset(p, 0, sizeof *p);
  p->root.kind = SL__JN_OBJECT;
  p->root.col = -1;
  sl_schema_init(&p->schema);
  int rc = sl_schema_copy(&p->schema, schema);
  if (rc) goto fail;
  int32_t next_col = 0;
  for (int32_t i = 0; i < p->schema.n_fields; i++) {
    const struct sl_field *f = &p->schema.fields[i];
    const char *name = f->name;
    struct sl__jnode *obj = &p->root;
    const char *seg = name;
    for (;;) {
      const char *dot = strchr(seg, '.');
      size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
      if (n == 0) {
        rc = sl_error_set(err, SL_EINVAL,
                          "schema: column '%s': empty key in the dotted path",
                          name);
        goto fail;
      }
      struct sl__jnode *kid = NULL;
      for (int32_t j = 0; j < obj->n_kids; j++)
        if (obj->kids[j].key_len == n && memcmp(obj->kids[j].key, seg, n) == 0)
          kid = &obj->kids[j];
      if (dot == NULL) {
        if (kid) {
          rc = sl_error_set(err, SL_EINVAL,
                            "schema: column '%s' overlaps another column on "
                            "the same key",
                            name);
          goto fail;
        }
        kid = add_kid(obj, seg, n);
        if (!kid) {
          rc = SL_ENOMEM;
          goto fail;
        }
        SL_CHECK_GOTO(build_node(kid, f, name, &next_col, err), rc, fail);
        break;
      }
      if (kid && kid->kind != SL__JN_OBJECT) {
        rc = sl_error_set(err, SL_EINVAL,
                          "schema: column '%s' reads inside key '%.*s', which "
                          "another column reads whole",
                          name, (int)n, seg);
        goto fail;
      }
      if (!kid) {
        kid = add_kid(obj, seg, n);
        if (!kid) {
          rc = SL_ENOMEM;
          goto fail;
        }
        kid->kind = SL__JN_OBJECT;
        kid->path = name;
      }
      obj = kid;
      seg = dot + 1;
    }
  }
  p->n_cols = next_col;
  SL_CHECK_GOTO(build_slots(&p->root, &p->n_objs), rc, fail);
  return 0;
fail:
  sl__jplan_release(p);
  return rc;
}

/* ---- workers ----------------------------------------------------------- */

static void flatten(struct sl__jcol *c, struct sl__jcol **flat, int32_t *i) {
  flat[(*i)++] = c;
  for (int32_t k = 0; k < c->n_kids; k++)
    flatten(&c->kids[k], flat, i);
}

int sl__jworker_init(struct sl__jworker *w, const struct sl__jplan *p) {
  memset(w, 0, sizeof *w);
  int32_t nf = p->schema.n_fields;
  /* Each worker's builders are written for every value: whole cache lines
   * of their own, so two workers never write to the same line. */
  size_t tops_bytes =
      ((size_t)(nf ? nf : 1) * sizeof *w->tops + 63) & ~(size_t)63;
  w->tops = sl_aligned_alloc(tops_bytes);
  if (w->tops) memset(w->tops, 0, tops_bytes);
  w->flat = sl_calloc(p->n_cols ? (size_t)p->n_cols : 1, sizeof *w->flat);
  w->kcache = sl_malloc((size_t)(p->n_objs ? p->n_objs : 1) *
                        SL__JKEY_POSITIONS * sizeof *w->kcache);
  if (!w->tops || !w->flat || !w->kcache) return SL_ENOMEM;
  for (int32_t i = 0; i < (p->n_objs ? p->n_objs : 1) * SL__JKEY_POSITIONS;
       i++) {
    /* w has a bit outside m: an empty entry never matches */
    memset(&w->kcache[i], 0, sizeof w->kcache[i]);
    w->kcache[i].w[0] = 1;
    w->kcache[i].len = UINT32_MAX;
    w->kcache[i].kid = NULL;
  }
  int32_t k = 0;
  for (int32_t i = 0; i < nf; i++) {
    SL_RETURN_NOT_OK(sl__jcol_init(&w->tops[i], &p->schema.fields[i]));
    flatten(&w->tops[i], w->flat, &k);
  }
  return 0;
}

void sl__jworker_release(struct sl__jworker *w, const struct sl__jplan *p) {
  if (w->tops)
    for (int32_t i = 0; i < p->schema.n_fields; i++)
      sl__jcol_release(&w->tops[i]);
  sl_aligned_free(w->tops);
  sl_free(w->flat);
  sl_free(w->kcache);
  sl_free(w->scratch);
  sl_free(w->tail);
  memset(w, 0, sizeof *w);
}
