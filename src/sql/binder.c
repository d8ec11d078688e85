/* SQL binder: resolves names against the source schema (suggesting the
 * closest name when one is unknown), types every expression, inserts
 * implicit casts, and splits the statement into the two stages the
 * executor runs (see struct sl_plan). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sql/binder.h"

void *sl__b_alloc(struct binder *B, size_t n) {
  void *p = sl_arena_alloc(&B->p->arena, n);
  if (p) memset(p, 0, n);
  return p;
}

char *sl__b_strdup(struct binder *B, const char *s, size_t n) {
  char *p = sl_arena_alloc(&B->p->arena, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

const char *sl__b_text(struct binder *B, const struct sl_ast *a) {
  int32_t n = a->end - a->off;
  if (n < 0) n = 0;
  if (n > 200) n = 200;
  const char *t = sl__b_strdup(B, B->st->sql + a->off, (size_t)n);
  return t ? t : "?";
}

int sl__b_error(struct binder *B, const struct sl_ast *a, int code,
                const char *fmt, ...) {
  char msg[SL_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return sl__sql_error_at(B->err, code, a->line, a->col, "%s", msg);
}

enum sl_vt sl__vt_from_arrow(enum sl_type_id t) {
  switch (t) {
  case SL_TYPE_BOOL: return SL_VT_BOOL;
  case SL_TYPE_INT32:
  case SL_TYPE_INT64: return SL_VT_I64;
  case SL_TYPE_FLOAT64: return SL_VT_F64;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
  case SL_TYPE_DICT_UTF8: return SL_VT_STR;
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US: return SL_VT_TS;
  case SL_TYPE_DATE32: return SL_VT_DATE;
  case SL_TYPE_NULL: return SL_VT_STR; /* a column only ever null */
  default: return SL_VT_NULL;
  }
}

/* ---- names ------------------------------------------------------------------
 */

static size_t edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 64 || m > 64) return 99;
  size_t row[65];
  for (size_t j = 0; j <= m; j++)
    row[j] = j;
  for (size_t i = 1; i <= n; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t up = row[j];
      size_t cost =
          tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
      size_t best = diag + cost;
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[m];
}

/* Looks a dotted path up: a top-level field of that name, or a walk through
 * struct children. Sets *type; returns false when not found. */
const struct sl_field *sl__b_find_field(const struct sl_field *fields,
                                        int32_t n, const char *path, bool ci) {
  for (int32_t i = 0; i < n; i++)
    if (ci ? !strcasecmp(fields[i].name, path) : !strcmp(fields[i].name, path))
      return &fields[i];
  const char *dot = strchr(path, '.');
  while (dot) {
    size_t k = (size_t)(dot - path);
    for (int32_t i = 0; i < n; i++) {
      const struct sl_field *f = &fields[i];
      if (f->type == SL_TYPE_STRUCT && strlen(f->name) == k &&
          (ci ? !strncasecmp(f->name, path, k) : !strncmp(f->name, path, k))) {
        const struct sl_field *c =
            sl__b_find_field(f->children, f->n_children, dot + 1, ci);
        if (c) return c;
      }
    }
    dot = strchr(dot + 1, '.');
  }
  return NULL;
}

static void suggest(const struct sl_field *fields, int32_t n,
                    const char *prefix, const char *name, char *best,
                    size_t *best_d) {
  for (int32_t i = 0; i < n; i++) {
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "",
             fields[i].name);
    if (fields[i].type == SL_TYPE_STRUCT)
      suggest(fields[i].children, fields[i].n_children, full, name, best,
              best_d);
    size_t d = edit_distance(name, full);
    if (d < *best_d) {
      *best_d = d;
      snprintf(best, 256, "%s", full);
    }
  }
}

/* ---- expression nodes ---------------------------------------------------- */

struct sl_expr *sl__b_expr(struct binder *B, enum sl_xop op, enum sl_vt t,
                           int32_t n_args, const struct sl_ast *src) {
  struct sl_expr *e = sl__b_alloc(B, sizeof *e);
  if (!e) return NULL;
  e->op = op;
  e->type = t;
  e->n_args = n_args;
  if (n_args) {
    e->args = sl__b_alloc(B, sizeof *e->args * (size_t)n_args);
    if (!e->args) return NULL;
  }
  e->text = src ? sl__b_text(B, src) : "";
  return e;
}

int sl__b_coerce(struct binder *B, struct sl_expr **e, enum sl_vt to) {
  if ((*e)->type == to) return 0;
  if ((*e)->op == SL_X_CONST && (*e)->value.is_null) {
    (*e)->type = to;
    (*e)->value.type = to;
    return 0;
  }
  struct sl_expr *c = sl__b_expr(B, SL_X_CAST, to, 1, NULL);
  if (!c) return SL_ENOMEM;
  c->args[0] = *e;
  c->text = (*e)->text;
  *e = c;
  return 0;
}

/* The common type of two operands for comparison / CASE / IN; SL_VT_NULL
 * when there is none. String constants adopt the other side's type. */
enum sl_vt sl__b_unify(const struct sl_expr *x, const struct sl_expr *y) {
  enum sl_vt a = x->type, b = y->type;
  if (a == b) return a;
  if (a == SL_VT_NULL) return b;
  if (b == SL_VT_NULL) return a;
  if (sl__vt_is_numeric(a) && sl__vt_is_numeric(b)) return SL_VT_F64;
  if ((a == SL_VT_TS && b == SL_VT_DATE) || (a == SL_VT_DATE && b == SL_VT_TS))
    return SL_VT_TS;
  if (a == SL_VT_STR && x->op == SL_X_CONST && b != SL_VT_INTERVAL) return b;
  if (b == SL_VT_STR && y->op == SL_X_CONST && a != SL_VT_INTERVAL) return a;
  if (a == SL_VT_BOOL && b == SL_VT_I64 && y->op == SL_X_CONST)
    return SL_VT_BOOL;
  if (b == SL_VT_BOOL && a == SL_VT_I64 && x->op == SL_X_CONST)
    return SL_VT_BOOL;
  return SL_VT_NULL;
}

bool sl__b_is_agg_name(const char *n) {
  static const char *names[] = {"count",
                                "sum",
                                "avg",
                                "mean",
                                "min",
                                "max",
                                "stddev",
                                "stddev_samp",
                                "stddev_pop",
                                "variance",
                                "var_samp",
                                "var_pop",
                                "median",
                                "quantile",
                                "quantile_disc",
                                "quantile_cont",
                                "approx_count_distinct",
                                "approx_quantile",
                                "first",
                                "last",
                                "any_value",
                                "arg_min",
                                "arg_max",
                                "argmin",
                                "argmax",
                                "min_by",
                                "max_by",
                                "bool_and",
                                "bool_or",
                                NULL};
  for (int i = 0; names[i]; i++)
    if (!strcmp(n, names[i])) return true;
  return false;
}

bool sl__b_has_agg(const struct sl_ast *a) {
  if (!a) return false;
  if (a->kind == AST_FUNC && sl__b_is_agg_name(a->name)) return true;
  for (int32_t i = 0; i < a->n_args; i++)
    if (sl__b_has_agg(a->args[i])) return true;
  return sl__b_has_agg(a->case_operand) || sl__b_has_agg(a->case_else);
}

bool sl__b_ast_eq(const struct sl_ast *x, const struct sl_ast *y) {
  if (!x || !y) return x == y;
  if (x->kind != y->kind || x->op != y->op || x->n_args != y->n_args ||
      x->negate != y->negate || x->distinct != y->distinct ||
      x->star_arg != y->star_arg || x->ilike != y->ilike ||
      x->ival != y->ival || x->fval != y->fval)
    return false;
  if ((x->name || y->name) &&
      (!x->name || !y->name || strcmp(x->name, y->name)))
    return false;
  if ((x->sval || y->sval) &&
      (!x->sval || !y->sval || strcmp(x->sval, y->sval)))
    return false;
  for (int32_t i = 0; i < x->n_args; i++)
    if (!sl__b_ast_eq(x->args[i], y->args[i])) return false;
  return sl__b_ast_eq(x->case_operand, y->case_operand) &&
         sl__b_ast_eq(x->case_else, y->case_else);
}

int sl__b_type_error(struct binder *B, const struct sl_ast *a, const char *what,
                     enum sl_vt x, enum sl_vt y) {
  if (y == SL_VT_COUNT_)
    return sl__b_error(B, a, SL_EINVAL, "type error in '%s': %s cannot take %s",
                       sl__b_text(B, a), what, sl__vt_name(x));
  return sl__b_error(B, a, SL_EINVAL,
                     "type error in '%s': %s cannot take %s and %s",
                     sl__b_text(B, a), what, sl__vt_name(x), sl__vt_name(y));
}

static int parse_type_name(struct binder *B, const struct sl_ast *a,
                           enum sl_vt *out) {
  static const struct {
    const char *n;
    enum sl_vt t;
  } tn[] = {{"bigint", SL_VT_I64},   {"int", SL_VT_I64},
            {"integer", SL_VT_I64},  {"int8", SL_VT_I64},
            {"int4", SL_VT_I64},     {"int2", SL_VT_I64},
            {"smallint", SL_VT_I64}, {"tinyint", SL_VT_I64},
            {"hugeint", SL_VT_I64},  {"long", SL_VT_I64},
            {"ubigint", SL_VT_I64},  {"uinteger", SL_VT_I64},
            {"double", SL_VT_F64},   {"float", SL_VT_F64},
            {"float8", SL_VT_F64},   {"float4", SL_VT_F64},
            {"real", SL_VT_F64},     {"decimal", SL_VT_F64},
            {"numeric", SL_VT_F64},  {"varchar", SL_VT_STR},
            {"text", SL_VT_STR},     {"string", SL_VT_STR},
            {"char", SL_VT_STR},     {"boolean", SL_VT_BOOL},
            {"bool", SL_VT_BOOL},    {"timestamp", SL_VT_TS},
            {"datetime", SL_VT_TS},  {"timestamptz", SL_VT_TS},
            {"date", SL_VT_DATE}};
  for (size_t i = 0; i < sizeof tn / sizeof tn[0]; i++)
    if (!strcmp(a->sval, tn[i].n)) {
      *out = tn[i].t;
      return 0;
    }
  return sl__b_error(B, a, SL_EINVAL,
                     "unknown type '%s' in '%s' (known: BIGINT, DOUBLE, "
                     "VARCHAR, BOOLEAN, TIMESTAMP, DATE)",
                     a->sval, sl__b_text(B, a));
}

static bool castable(enum sl_vt from, enum sl_vt to) {
  if (from == to || from == SL_VT_NULL || to == SL_VT_STR || from == SL_VT_STR)
    return to != SL_VT_INTERVAL && from != SL_VT_INTERVAL;
  switch (to) {
  case SL_VT_I64:
  case SL_VT_F64:
  case SL_VT_BOOL:
    return from == SL_VT_I64 || from == SL_VT_F64 || from == SL_VT_BOOL ||
           (to == SL_VT_I64 && (from == SL_VT_TS || from == SL_VT_DATE));
  case SL_VT_TS: return from == SL_VT_DATE;
  case SL_VT_DATE: return from == SL_VT_TS;
  default: return false;
  }
}

static int bind_const(struct binder *B, const struct sl_ast *a,
                      struct sl_expr **out) {
  struct sl_expr *e = sl__b_expr(B, SL_X_CONST, SL_VT_NULL, 0, a);
  if (!e) return SL_ENOMEM;
  struct sl_value *v = &e->value;
  switch (a->kind) {
  case AST_INT:
    e->type = SL_VT_I64;
    v->u.i = a->ival;
    break;
  case AST_FLOAT:
    e->type = SL_VT_F64;
    v->u.f = a->fval;
    break;
  case AST_STRING:
    e->type = SL_VT_STR;
    v->u.s = (struct sl_str){a->sval, a->slen};
    break;
  case AST_BOOL:
    e->type = SL_VT_BOOL;
    v->u.b = a->ival != 0;
    break;
  case AST_NULL:
    e->type = SL_VT_NULL;
    v->is_null = true;
    break;
  case AST_INTERVAL:
    e->type = SL_VT_INTERVAL;
    if (!sl__parse_interval(a->sval, (size_t)a->slen, &v->u.iv))
      return sl__b_error(
          B, a, SL_EINVAL,
          "cannot read interval '%s' (expected e.g. '5 minutes')", a->sval);
    break;
  case AST_TYPED_LIT: {
    int64_t us;
    if (!sl__parse_timestamp(a->sval, a->slen, &us))
      return sl__b_error(B, a, SL_EINVAL, "cannot read %s '%s'", a->name,
                         a->sval);
    if (!strcmp(a->name, "date")) {
      e->type = SL_VT_DATE;
      v->u.i = us / 86400000000LL - (us % 86400000000LL < 0);
    } else {
      e->type = SL_VT_TS;
      v->u.i = us;
    }
    break;
  }
  default: return SL_EINVAL;
  }
  v->type = e->type;
  *out = e;
  return 0;
}

/* Folds a constant string argument (date part, time bucket) to C text. */
int sl__b_const_str(struct binder *B, const struct sl_ast *fn, int32_t i,
                    const char **s, size_t *n) {
  const struct sl_ast *a = fn->args[i];
  if (a->kind != AST_STRING)
    return sl__b_error(B, a, SL_EINVAL,
                       "argument %d of %s() must be a constant string in '%s'",
                       i + 1, fn->name, sl__b_text(B, fn));
  *s = a->sval;
  *n = (size_t)a->slen;
  return 0;
}

static int bind_binary(struct binder *B, const struct sl_ast *a,
                       struct sl_expr **out) {
  struct sl_expr *x, *y;
  SL_RETURN_NOT_OK(sl__b_bind(B, a->args[0], &x));
  SL_RETURN_NOT_OK(sl__b_bind(B, a->args[1], &y));
  int op = a->op;
  enum sl_vt tx = x->type, ty = y->type;
  if (op == 100 || op == 101) { /* AND, OR */
    if ((tx != SL_VT_BOOL && tx != SL_VT_NULL) ||
        (ty != SL_VT_BOOL && ty != SL_VT_NULL))
      return sl__b_type_error(B, a, op == 100 ? "AND" : "OR", tx, ty);
    SL_RETURN_NOT_OK(sl__b_coerce(B, &x, SL_VT_BOOL));
    SL_RETURN_NOT_OK(sl__b_coerce(B, &y, SL_VT_BOOL));
    struct sl_expr *e =
        sl__b_expr(B, op == 100 ? SL_X_AND : SL_X_OR, SL_VT_BOOL, 2, a);
    if (!e) return SL_ENOMEM;
    e->args[0] = x, e->args[1] = y;
    *out = e;
    return 0;
  }
  if (op == TK_CONCAT) {
    SL_RETURN_NOT_OK(sl__b_coerce(B, &x, SL_VT_STR));
    SL_RETURN_NOT_OK(sl__b_coerce(B, &y, SL_VT_STR));
    struct sl_expr *e = sl__b_expr(B, SL_X_CONCAT_OP, SL_VT_STR, 2, a);
    if (!e) return SL_ENOMEM;
    e->args[0] = x, e->args[1] = y;
    *out = e;
    return 0;
  }
  if (op >= TK_EQ && op <= TK_GE) {
    enum sl_vt t = sl__b_unify(x, y);
    if (t == SL_VT_NULL && !(tx == SL_VT_NULL && ty == SL_VT_NULL))
      return sl__b_type_error(B, a, "comparison", tx, ty);
    if (t == SL_VT_NULL) t = SL_VT_I64;
    SL_RETURN_NOT_OK(sl__b_coerce(B, &x, t));
    SL_RETURN_NOT_OK(sl__b_coerce(B, &y, t));
    static const enum sl_xop ops[] = {SL_X_EQ, SL_X_NE, SL_X_LT,
                                      SL_X_LE, SL_X_GT, SL_X_GE};
    struct sl_expr *e = sl__b_expr(B, ops[op - TK_EQ], SL_VT_BOOL, 2, a);
    if (!e) return SL_ENOMEM;
    e->args[0] = x, e->args[1] = y;
    *out = e;
    return 0;
  }
  /* arithmetic */
  const char *opname = op == TK_PLUS      ? "+"
                       : op == TK_MINUS   ? "-"
                       : op == TK_STAR    ? "*"
                       : op == TK_SLASH   ? "/"
                       : op == TK_DSLASH  ? "//"
                       : op == TK_PERCENT ? "%"
                                          : "^";
  if ((tx == SL_VT_TS || tx == SL_VT_DATE) && ty == SL_VT_INTERVAL &&
      (op == TK_PLUS || op == TK_MINUS)) {
    struct sl_expr *e = sl__b_expr(B, SL_X_TS_ADD, SL_VT_TS, 2, a);
    if (!e) return SL_ENOMEM;
    e->args[0] = x, e->args[1] = y;
    e->negate = op == TK_MINUS;
    *out = e;
    return 0;
  }
  if (tx == SL_VT_NULL) tx = ty == SL_VT_NULL ? SL_VT_I64 : ty;
  if (ty == SL_VT_NULL) ty = tx;
  if (!sl__vt_is_numeric(tx) || !sl__vt_is_numeric(ty))
    return sl__b_type_error(B, a, opname, x->type, y->type);
  enum sl_vt t =
      (tx == SL_VT_F64 || ty == SL_VT_F64 || op == TK_SLASH || op == TK_CARET)
          ? SL_VT_F64
          : SL_VT_I64;
  SL_RETURN_NOT_OK(sl__b_coerce(B, &x, t));
  SL_RETURN_NOT_OK(sl__b_coerce(B, &y, t));
  enum sl_xop xo = op == TK_PLUS      ? SL_X_ADD
                   : op == TK_MINUS   ? SL_X_SUB
                   : op == TK_STAR    ? SL_X_MUL
                   : op == TK_SLASH   ? SL_X_DIV
                   : op == TK_DSLASH  ? SL_X_IDIV
                   : op == TK_PERCENT ? SL_X_MOD
                                      : SL_X_POW;
  struct sl_expr *e = sl__b_expr(B, xo, t, 2, a);
  if (!e) return SL_ENOMEM;
  e->args[0] = x, e->args[1] = y;
  *out = e;
  return 0;
}

static int bind_case(struct binder *B, const struct sl_ast *a,
                     struct sl_expr **out) {
  int32_t pairs = a->n_args / 2;
  struct sl_expr *e = sl__b_expr(B, SL_X_CASE, SL_VT_NULL, pairs * 2 + 1, a);
  if (!e) return SL_ENOMEM;
  struct sl_expr *operand = NULL;
  if (a->case_operand)
    SL_RETURN_NOT_OK(sl__b_bind(B, a->case_operand, &operand));
  enum sl_vt t = SL_VT_NULL;
  for (int32_t i = 0; i < pairs; i++) {
    struct sl_expr *w, *th;
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[2 * i], &w));
    if (operand) {
      struct sl_expr *lhs = operand;
      enum sl_vt u = sl__b_unify(lhs, w);
      if (u == SL_VT_NULL)
        return sl__b_type_error(B, a->args[2 * i], "CASE ... WHEN", lhs->type,
                                w->type);
      SL_RETURN_NOT_OK(sl__b_coerce(B, &lhs, u));
      SL_RETURN_NOT_OK(sl__b_coerce(B, &w, u));
      struct sl_expr *eq =
          sl__b_expr(B, SL_X_EQ, SL_VT_BOOL, 2, a->args[2 * i]);
      if (!eq) return SL_ENOMEM;
      eq->args[0] = lhs, eq->args[1] = w;
      w = eq;
    }
    if (w->type != SL_VT_BOOL && w->type != SL_VT_NULL)
      return sl__b_error(B, a->args[2 * i], SL_EINVAL,
                         "type error: WHEN condition '%s' is %s, not BOOLEAN",
                         sl__b_text(B, a->args[2 * i]), sl__vt_name(w->type));
    SL_RETURN_NOT_OK(sl__b_coerce(B, &w, SL_VT_BOOL));
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[2 * i + 1], &th));
    e->args[2 * i] = w;
    e->args[2 * i + 1] = th;
  }
  struct sl_expr *el = NULL;
  if (a->case_else)
    SL_RETURN_NOT_OK(sl__b_bind(B, a->case_else, &el));
  else {
    el = sl__b_expr(B, SL_X_CONST, SL_VT_NULL, 0, a);
    if (!el) return SL_ENOMEM;
    el->value.is_null = true;
  }
  e->args[pairs * 2] = el;
  for (int32_t i = 0; i <= pairs; i++) {
    struct sl_expr *v = e->args[i == pairs ? pairs * 2 : 2 * i + 1];
    if (v->type == SL_VT_NULL) continue;
    if (t == SL_VT_NULL) {
      t = v->type;
      continue;
    }
    struct sl_expr tmp = {.type = t, .op = SL_X_COL};
    enum sl_vt u = sl__b_unify(&tmp, v);
    if (u == SL_VT_NULL)
      return sl__b_type_error(B, a, "CASE results", t, v->type);
    t = u;
  }
  if (t == SL_VT_NULL) t = SL_VT_STR;
  for (int32_t i = 0; i <= pairs; i++)
    SL_RETURN_NOT_OK(
        sl__b_coerce(B, &e->args[i == pairs ? pairs * 2 : 2 * i + 1], t));
  e->type = t;
  *out = e;
  return 0;
}

int sl__b_bind(struct binder *B, const struct sl_ast *a, struct sl_expr **out) {
  /* Over stage-2 rows: a GROUP BY expression becomes a reference to its key. */
  if (B->post && !B->in_agg) {
    for (int32_t k = 0; k < B->p->n_keys; k++)
      if (sl__b_ast_eq(a, B->key_asts[k])) {
        struct sl_expr *e = sl__b_expr(B, SL_X_COL, B->p->keys[k]->type, 0, a);
        if (!e) return SL_ENOMEM;
        e->col = k;
        *out = e;
        return 0;
      }
  }
  switch (a->kind) {
  case AST_COLUMN:
    if (B->post && !B->in_agg)
      return sl__b_error(B, a, SL_EINVAL,
                         "column '%s' must appear in GROUP BY or be used in an "
                         "aggregate function",
                         a->name);
    return sl__b_column(B, a, out);
  case AST_STAR:
    return sl__b_error(B, a, SL_EINVAL,
                       "'*' is only allowed in SELECT * and count(*)");
  case AST_INT:
  case AST_FLOAT:
  case AST_STRING:
  case AST_BOOL:
  case AST_NULL:
  case AST_INTERVAL:
  case AST_TYPED_LIT: return bind_const(B, a, out);
  case AST_UNARY: {
    struct sl_expr *x;
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[0], &x));
    if (a->op == 102) { /* NOT */
      if (x->type != SL_VT_BOOL && x->type != SL_VT_NULL)
        return sl__b_type_error(B, a, "NOT", x->type, SL_VT_COUNT_);
      SL_RETURN_NOT_OK(sl__b_coerce(B, &x, SL_VT_BOOL));
      struct sl_expr *e = sl__b_expr(B, SL_X_NOT, SL_VT_BOOL, 1, a);
      if (!e) return SL_ENOMEM;
      e->args[0] = x;
      *out = e;
      return 0;
    }
    if (x->type == SL_VT_NULL) SL_RETURN_NOT_OK(sl__b_coerce(B, &x, SL_VT_I64));
    if (!sl__vt_is_numeric(x->type))
      return sl__b_type_error(B, a, "unary -", x->type, SL_VT_COUNT_);
    struct sl_expr *e = sl__b_expr(B, SL_X_NEG, x->type, 1, a);
    if (!e) return SL_ENOMEM;
    e->args[0] = x;
    *out = e;
    return 0;
  }
  case AST_BINARY: return bind_binary(B, a, out);
  case AST_CASE: return bind_case(B, a, out);
  case AST_CAST: {
    struct sl_expr *x;
    enum sl_vt t = SL_VT_NULL;
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[0], &x));
    SL_RETURN_NOT_OK(parse_type_name(B, a, &t));
    if (!castable(x->type, t))
      return sl__b_error(
          B, a, SL_EINVAL, "type error in '%s': cannot cast %s to %s",
          sl__b_text(B, a), sl__vt_name(x->type), sl__vt_name(t));
    struct sl_expr *e = sl__b_expr(B, SL_X_CAST, t, 1, a);
    if (!e) return SL_ENOMEM;
    e->args[0] = x;
    if (x->type == SL_VT_NULL) {
      SL_RETURN_NOT_OK(sl__b_coerce(B, &x, t));
      *out = x;
      return 0;
    }
    *out = e;
    return 0;
  }
  case AST_IN: {
    struct sl_expr *e = sl__b_expr(B, SL_X_IN, SL_VT_BOOL, a->n_args, a);
    if (!e) return SL_ENOMEM;
    e->negate = a->negate;
    for (int32_t i = 0; i < a->n_args; i++)
      SL_RETURN_NOT_OK(sl__b_bind(B, a->args[i], &e->args[i]));
    enum sl_vt t = e->args[0]->type;
    for (int32_t i = 1; i < a->n_args; i++) {
      struct sl_expr tmp = {.type = t, .op = SL_X_COL};
      enum sl_vt u =
          t == SL_VT_NULL ? e->args[i]->type : sl__b_unify(&tmp, e->args[i]);
      if (u == SL_VT_NULL && e->args[i]->type != SL_VT_NULL)
        return sl__b_type_error(B, a, "IN", t, e->args[i]->type);
      if (u != SL_VT_NULL) t = u;
    }
    if (t == SL_VT_NULL) t = SL_VT_I64;
    for (int32_t i = 0; i < a->n_args; i++)
      SL_RETURN_NOT_OK(sl__b_coerce(B, &e->args[i], t));
    *out = e;
    return 0;
  }
  case AST_BETWEEN: {
    struct sl_expr *x, *lo, *hi, *x2;
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[0], &x));
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[1], &lo));
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[2], &hi));
    enum sl_vt t = sl__b_unify(x, lo);
    struct sl_expr tmp = {.type = t, .op = SL_X_COL};
    if (t != SL_VT_NULL) t = sl__b_unify(&tmp, hi);
    if (t == SL_VT_NULL)
      return sl__b_type_error(B, a, "BETWEEN", x->type, lo->type);
    x2 = x;
    SL_RETURN_NOT_OK(sl__b_coerce(B, &x, t));
    SL_RETURN_NOT_OK(sl__b_coerce(B, &x2, t));
    SL_RETURN_NOT_OK(sl__b_coerce(B, &lo, t));
    SL_RETURN_NOT_OK(sl__b_coerce(B, &hi, t));
    struct sl_expr *ge = sl__b_expr(B, SL_X_GE, SL_VT_BOOL, 2, a),
                   *le = sl__b_expr(B, SL_X_LE, SL_VT_BOOL, 2, a),
                   *both = sl__b_expr(B, SL_X_AND, SL_VT_BOOL, 2, a);
    if (!ge || !le || !both) return SL_ENOMEM;
    ge->args[0] = x, ge->args[1] = lo;
    le->args[0] = x2, le->args[1] = hi;
    both->args[0] = ge, both->args[1] = le;
    if (a->negate) {
      struct sl_expr *n = sl__b_expr(B, SL_X_NOT, SL_VT_BOOL, 1, a);
      if (!n) return SL_ENOMEM;
      n->args[0] = both;
      both = n;
    }
    *out = both;
    return 0;
  }
  case AST_LIKE: {
    struct sl_expr *e = sl__b_expr(B, SL_X_LIKE, SL_VT_BOOL, 2, a);
    if (!e) return SL_ENOMEM;
    e->negate = a->negate;
    e->part = a->ilike;
    for (int i = 0; i < 2; i++) {
      SL_RETURN_NOT_OK(sl__b_bind(B, a->args[i], &e->args[i]));
      if (e->args[i]->type != SL_VT_STR && e->args[i]->type != SL_VT_NULL)
        return sl__b_type_error(B, a, a->ilike ? "ILIKE" : "LIKE",
                                e->args[i]->type, SL_VT_COUNT_);
      SL_RETURN_NOT_OK(sl__b_coerce(B, &e->args[i], SL_VT_STR));
    }
    *out = e;
    return 0;
  }
  case AST_IS_NULL: {
    struct sl_expr *e = sl__b_expr(
        B, a->negate ? SL_X_IS_NOT_NULL : SL_X_IS_NULL, SL_VT_BOOL, 1, a);
    if (!e) return SL_ENOMEM;
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[0], &e->args[0]));
    *out = e;
    return 0;
  }
  case AST_FUNC:
    if (sl__b_is_agg_name(a->name)) {
      if (B->in_agg)
        return sl__b_error(B, a, SL_EINVAL,
                           "aggregate functions cannot be nested: '%s'",
                           sl__b_text(B, a));
      if (!B->post)
        return sl__b_error(B, a, SL_EINVAL,
                           "aggregate function '%s' is not allowed in %s",
                           sl__b_text(B, a), B->clause);
      return sl__b_agg_ref(B, a, out);
    }
    return sl__b_scalar_func(B, a, out);
  }
  return SL_EINVAL;
}

int sl__b_column(struct binder *B, const struct sl_ast *a,
                 struct sl_expr **out) {
  struct sl_plan *p = B->p;
  const struct sl_field *f =
      sl__b_find_field(B->schema->fields, B->schema->n_fields, a->name, false);
  if (!f)
    f = sl__b_find_field(B->schema->fields, B->schema->n_fields, a->name, true);
  if (!f) {
    char best[256] = "";
    size_t d = 99;
    suggest(B->schema->fields, B->schema->n_fields, "", a->name, best, &d);
    if (best[0] && (d <= 1 || d * 3 <= strlen(a->name)))
      return sl__b_error(B, a, SL_ENOENT,
                         "unknown column '%s'; did you mean '%s'?", a->name,
                         best);
    return sl__b_error(B, a, SL_ENOENT, "unknown column '%s'", a->name);
  }
  enum sl_vt t = sl__vt_from_arrow(f->type);
  if (t == SL_VT_NULL && f->type == SL_TYPE_STRUCT)
    return sl__b_error(
        B, a, SL_ENOTSUP,
        "column '%s' is a struct; select its fields (e.g. '%s.%s')", a->name,
        a->name, f->n_children ? f->children[0].name : "field");
  if (t == SL_VT_NULL)
    return sl__b_error(
        B, a, SL_ENOTSUP,
        "column '%s' is a %s; SQL reads scalar columns and struct "
        "fields only",
        a->name, sl_type_name(f->type));
  int32_t i = 0;
  for (; i < p->n_inputs; i++)
    if (!strcmp(p->input_paths[i], a->name)) break;
  if (i == p->n_inputs) {
    if (p->n_inputs == B->cap_inputs) {
      int32_t nc = B->cap_inputs ? B->cap_inputs * 2 : 16;
      char **np = sl__b_alloc(B, sizeof *np * (size_t)nc);
      enum sl_vt *nt = sl__b_alloc(B, sizeof *nt * (size_t)nc);
      if (!np || !nt) return SL_ENOMEM;
      if (p->n_inputs) {
        memcpy(np, p->input_paths, sizeof *np * (size_t)p->n_inputs);
        memcpy(nt, p->input_types, sizeof *nt * (size_t)p->n_inputs);
      }
      p->input_paths = np;
      p->input_types = nt;
      B->cap_inputs = nc;
    }
    p->input_paths[i] = sl__b_strdup(B, a->name, strlen(a->name));
    if (!p->input_paths[i]) return SL_ENOMEM;
    p->input_types[i] = t;
    p->n_inputs++;
  }
  struct sl_expr *e = sl__b_expr(B, SL_X_COL, t, 0, a);
  if (!e) return SL_ENOMEM;
  e->col = i;
  *out = e;
  return 0;
}
