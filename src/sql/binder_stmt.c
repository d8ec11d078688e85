/* SQL binder: a whole statement into a plan (SELECT * expansion, GROUP BY
 * positions and aliases, HAVING, ORDER BY into visible or hidden columns). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sql/binder.h"

struct item {
  const struct sl_ast *ast;
  const char *name;
};

static int add_leaf_items(struct binder *B, const struct sl_field *f, int32_t n,
                          const char *prefix, const struct sl_ast *star,
                          struct item **items, int32_t *n_items, int32_t *cap) {
  for (int32_t i = 0; i < n; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "",
             f[i].name);
    if (f[i].type == SL_TYPE_STRUCT) {
      SL_RETURN_NOT_OK(add_leaf_items(B, f[i].children, f[i].n_children, path,
                                      star, items, n_items, cap));
      continue;
    }
    if (sl__vt_from_arrow(f[i].type) == SL_VT_NULL) {
      /* lists: not in SQL yet; said, not silently dropped */
      const char *was = B->p->star_skipped;
      size_t n0 = was ? strlen(was) + 2 : 0, np = strlen(path);
      char *now = sl__b_alloc(B, n0 + np + 1);
      if (!now) return SL_ENOMEM;
      if (was) {
        memcpy(now, was, n0 - 2);
        memcpy(now + n0 - 2, ", ", 2);
      }
      memcpy(now + n0, path, np + 1);
      B->p->star_skipped = now;
      continue;
    }
    if (*n_items == *cap) {
      int32_t nc = *cap * 2;
      struct item *ni = sl__b_alloc(B, sizeof *ni * (size_t)nc);
      if (!ni) return SL_ENOMEM;
      memcpy(ni, *items, sizeof *ni * (size_t)*n_items);
      *items = ni;
      *cap = nc;
    }
    struct sl_ast *col = sl__b_alloc(B, sizeof *col);
    if (!col) return SL_ENOMEM;
    *col = *star;
    col->kind = AST_COLUMN;
    col->name = sl__b_strdup(B, path, strlen(path));
    if (!col->name) return SL_ENOMEM;
    (*items)[*n_items].ast = col;
    (*items)[*n_items].name = col->name;
    (*n_items)++;
  }
  return 0;
}

static char *copy_opt(struct binder *B, const char *s) {
  return s ? sl__b_strdup(B, s, strlen(s)) : NULL;
}

static int push_final(struct binder *B, struct sl_expr *e, const char *name,
                      int32_t *cap) {
  struct sl_plan *p = B->p;
  if (p->n_final == *cap) {
    int32_t nc = *cap ? *cap * 2 : 16;
    struct sl_expr **nf = sl__b_alloc(B, sizeof *nf * (size_t)nc);
    char **nn = sl__b_alloc(B, sizeof *nn * (size_t)nc);
    if (!nf || !nn) return SL_ENOMEM;
    if (p->n_final) {
      memcpy(nf, p->final, sizeof *nf * (size_t)p->n_final);
      memcpy(nn, p->final_names, sizeof *nn * (size_t)p->n_final);
    }
    p->final = nf;
    p->final_names = nn;
    *cap = nc;
  }
  if (e->type == SL_VT_NULL) SL_RETURN_NOT_OK(sl__b_coerce(B, &e, SL_VT_STR));
  p->final[p->n_final] = e;
  p->final_names[p->n_final] = sl__b_strdup(B, name, strlen(name));
  if (!p->final_names[p->n_final]) return SL_ENOMEM;
  p->n_final++;
  return 0;
}

static int check_bool(struct binder *B, const struct sl_ast *a,
                      struct sl_expr **e, const char *clause) {
  if ((*e)->type != SL_VT_BOOL && (*e)->type != SL_VT_NULL)
    return sl__b_error(B, a, SL_EINVAL,
                       "type error: %s condition '%s' is %s, not BOOLEAN",
                       clause, sl__b_text(B, a), sl__vt_name((*e)->type));
  return sl__b_coerce(B, e, SL_VT_BOOL);
}

/* GROUP BY / ORDER BY item: a 1-based position or a select alias resolves
 * to that select item. Returns the item index or -1. */
static int32_t item_ref(struct binder *B, const struct sl_ast *a,
                        const struct item *items, int32_t n_items,
                        bool prefer_input) {
  if (a->kind == AST_INT)
    return (a->ival >= 1 && a->ival <= n_items) ? (int32_t)a->ival - 1 : -2;
  if (a->kind == AST_COLUMN) {
    if (prefer_input && sl__b_find_field(B->schema->fields, B->schema->n_fields,
                                         a->name, false))
      return -1;
    for (int32_t i = 0; i < n_items; i++)
      if (items[i].name && !strcmp(items[i].name, a->name) &&
          !sl__b_ast_eq(items[i].ast, a))
        return i;
    for (int32_t i = 0; i < n_items; i++)
      if (items[i].name && !strcasecmp(items[i].name, a->name)) return i;
  }
  return -1;
}

int sl__sql_bind(const struct sl_stmt *st, const struct sl_schema *schema,
                 struct sl_plan **out, struct sl_error *err) {
  int rc = SL_ENOMEM;
  struct sl_plan *p = sl_calloc(1, sizeof *p);
  if (!p) return SL_ENOMEM;
  sl_arena_init(&p->arena, 64 * 1024);
  struct binder Bs = {
      .st = st, .schema = schema, .p = p, .err = err, .clause = "SELECT"};
  struct binder *B = &Bs;
  p->limit = st->limit;
  p->offset = st->offset;
  p->from = st->from;
  p->from.path = copy_opt(B, st->from.path);
  p->from.name = copy_opt(B, st->from.name);
  p->from.columns = copy_opt(B, st->from.columns);
  p->from.format = copy_opt(B, st->from.format);

  /* select items, with * expanded */
  int32_t cap = st->n_items + 16, n_items = 0;
  struct item *items = sl__b_alloc(B, sizeof *items * (size_t)cap);
  if (!items) goto fail;
  for (int32_t i = 0; i < st->n_items; i++) {
    const struct sl_select_item *it = &st->items[i];
    if (!it->expr) {
      struct sl_ast star = {.kind = AST_STAR, .line = 1, .col = 1};
      SL_CHECK_GOTO(add_leaf_items(B, schema->fields, schema->n_fields, "",
                                   &star, &items, &n_items, &cap),
                    rc, fail);
      continue;
    }
    if (n_items == cap) {
      struct item *ni = sl__b_alloc(B, sizeof *ni * (size_t)cap * 2);
      if (!ni) goto fail;
      memcpy(ni, items, sizeof *ni * (size_t)n_items);
      items = ni;
      cap *= 2;
    }
    items[n_items].ast = it->expr;
    items[n_items].name = it->alias ? it->alias
                          : it->expr->kind == AST_COLUMN
                              ? it->expr->name
                              : sl__b_text(B, it->expr);
    n_items++;
  }
  if (n_items == 0) {
    rc = sl_error_set(err, SL_EINVAL, "the query selects no columns");
    goto fail;
  }

  if (st->where) {
    B->clause = "WHERE";
    SL_CHECK_GOTO(sl__b_bind(B, st->where, &p->where), rc, fail);
    SL_CHECK_GOTO(check_bool(B, st->where, &p->where, "WHERE"), rc, fail);
  }

  bool aggregate = st->n_group != 0 || st->having != NULL;
  for (int32_t i = 0; i < n_items; i++)
    aggregate |= sl__b_has_agg(items[i].ast);
  for (int32_t i = 0; i < st->n_order; i++)
    aggregate |= sl__b_has_agg(st->order[i].expr);
  bool distinct_as_group = !aggregate && st->distinct;
  p->aggregate = aggregate || distinct_as_group;
  p->distinct = aggregate && st->distinct;
  int32_t final_cap = 0;

  if (p->aggregate) {
    /* the group keys */
    int32_t nk = distinct_as_group ? n_items : st->n_group;
    if (st->n_group < 0) { /* GROUP BY ALL */
      nk = 0;
      for (int32_t i = 0; i < n_items; i++)
        nk += !sl__b_has_agg(items[i].ast);
    }
    p->keys = sl__b_alloc(B, sizeof *p->keys * (size_t)(nk ? nk : 1));
    B->key_asts = sl__b_alloc(B, sizeof *B->key_asts * (size_t)(nk ? nk : 1));
    if (!p->keys || !B->key_asts) goto fail;
    B->clause = "GROUP BY";
    int32_t k = 0;
    for (int32_t i = 0; k < nk; i++) {
      const struct sl_ast *ka;
      if (distinct_as_group)
        ka = items[i].ast;
      else if (st->n_group < 0) {
        if (sl__b_has_agg(items[i].ast)) continue;
        ka = items[i].ast;
      } else {
        ka = st->group[i];
        int32_t ref = item_ref(B, ka, items, n_items, true);
        if (ref == -2) {
          rc = sl__b_error(
              B, ka, SL_EINVAL,
              "GROUP BY position %lld is not in the select list (1..%d)",
              (long long)ka->ival, n_items);
          goto fail;
        }
        if (ref >= 0) ka = items[ref].ast;
      }
      if (sl__b_has_agg(ka)) {
        rc =
            sl__b_error(B, ka, SL_EINVAL,
                        "aggregate functions are not allowed in GROUP BY: '%s'",
                        sl__b_text(B, ka));
        goto fail;
      }
      SL_CHECK_GOTO(sl__b_bind(B, ka, &p->keys[k]), rc, fail);
      if (p->keys[k]->type == SL_VT_NULL)
        SL_CHECK_GOTO(sl__b_coerce(B, &p->keys[k], SL_VT_STR), rc, fail);
      B->key_asts[k] = (struct sl_ast *)ka;
      k++;
      p->n_keys = k;
    }
    B->post = true;
    B->clause = "SELECT";
    for (int32_t i = 0; i < n_items; i++) {
      struct sl_expr *e;
      SL_CHECK_GOTO(sl__b_bind(B, items[i].ast, &e), rc, fail);
      SL_CHECK_GOTO(push_final(B, e, items[i].name, &final_cap), rc, fail);
    }
    if (st->having) {
      B->clause = "HAVING";
      SL_CHECK_GOTO(sl__b_bind(B, st->having, &p->having), rc, fail);
      SL_CHECK_GOTO(check_bool(B, st->having, &p->having, "HAVING"), rc, fail);
    }
  } else {
    p->proj = sl__b_alloc(B, sizeof *p->proj * (size_t)(n_items + st->n_order));
    if (!p->proj) goto fail;
    for (int32_t i = 0; i < n_items; i++) {
      SL_CHECK_GOTO(sl__b_bind(B, items[i].ast, &p->proj[i]), rc, fail);
      if (p->proj[i]->type == SL_VT_NULL)
        SL_CHECK_GOTO(sl__b_coerce(B, &p->proj[i], SL_VT_STR), rc, fail);
      p->n_proj++;
    }
  }
  p->n_visible = n_items;

  /* ORDER BY: a position, an alias, a select item, or a new hidden column */
  p->sort =
      sl__b_alloc(B, sizeof *p->sort * (size_t)(st->n_order ? st->n_order : 1));
  if (!p->sort) goto fail;
  B->clause = "ORDER BY";
  for (int32_t i = 0; i < st->n_order; i++) {
    const struct sl_order_item *o = &st->order[i];
    int32_t col = item_ref(B, o->expr, items, n_items, false);
    if (col == -2) {
      rc = sl__b_error(
          B, o->expr, SL_EINVAL,
          "ORDER BY position %lld is not in the select list (1..%d)",
          (long long)o->expr->ival, n_items);
      goto fail;
    }
    for (int32_t j = 0; col < 0 && j < n_items; j++)
      if (sl__b_ast_eq(items[j].ast, o->expr)) col = j;
    if (col < 0) {
      if (distinct_as_group || p->distinct) {
        rc = sl__b_error(
            B, o->expr, SL_EINVAL,
            "with SELECT DISTINCT, ORDER BY '%s' must be in the select list",
            sl__b_text(B, o->expr));
        goto fail;
      }
      struct sl_expr *e;
      SL_CHECK_GOTO(sl__b_bind(B, o->expr, &e), rc, fail);
      if (p->aggregate) {
        col = p->n_final;
        SL_CHECK_GOTO(push_final(B, e, "", &final_cap), rc, fail);
      } else {
        col = p->n_proj;
        p->proj[p->n_proj++] = e;
      }
    }
    p->sort[i].col = col;
    p->sort[i].desc = o->desc;
    p->sort[i].nulls_first = o->nulls == 1;
    p->n_sort++;
  }
  if (!p->aggregate) {
    for (int32_t i = 0; i < p->n_proj; i++) {
      struct sl_expr *e = sl__b_expr(B, SL_X_COL, p->proj[i]->type, 0, NULL);
      if (!e) goto fail;
      e->col = i;
      SL_CHECK_GOTO(
          push_final(B, e, i < n_items ? items[i].name : "", &final_cap), rc,
          fail);
    }
  }
  if (p->n_inputs == 0) {
    /* count(*) and constant queries still need rows: read the cheapest
     * scalar column (readers produce no rows for an empty projection) */
    for (int32_t i = 0; i < schema->n_fields; i++) {
      enum sl_vt t = sl__vt_from_arrow(schema->fields[i].type);
      if (t == SL_VT_NULL) continue;
      struct sl_ast col = {.kind = AST_COLUMN,
                           .name = schema->fields[i].name,
                           .line = 1,
                           .col = 1};
      struct sl_expr *e;
      SL_CHECK_GOTO(sl__b_column(B, &col, &e), rc, fail);
      if (t != SL_VT_STR) break;
    }
  }
  *out = p;
  return 0;
fail:
  if (rc == SL_ENOMEM && (!err || !err->code))
    sl_error_set(err, SL_ENOMEM, "out of memory binding the query");
  sl__plan_free(p);
  return rc;
}

void sl__plan_free(struct sl_plan *p) {
  if (!p) return;
  sl_arena_release(&p->arena);
  sl_free(p);
}
