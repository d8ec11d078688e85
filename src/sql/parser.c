/* SQL parser: recursive descent over the token array, one function per
 * precedence level (OR < AND < NOT < comparison/IS/IN/BETWEEN/LIKE < || <
 * + - < * / // % < unary < :: < primary). Errors say line:column, what was
 * expected and what was found. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql/sql_internal.h"

enum { OP_AND = 100, OP_OR, OP_NOT };

struct parser {
  struct sl_token *t;
  int32_t n, i;
  struct sl_arena *a;
  struct sl_error *err;
  const char *sql;
  int depth;
};

static const char *reserved[] = {
    "select", "from",      "where",   "group",   "by",    "having",
    "order",  "limit",     "offset",  "and",     "or",    "not",
    "as",     "on",        "join",    "union",   "asc",   "desc",
    "nulls",  "case",      "when",    "then",    "else",  "end",
    "in",     "is",        "between", "like",    "ilike", "distinct",
    "all",    "null",      "true",    "false",   "cast",  "interval",
    "except", "intersect", "window",  "qualify", NULL};

static struct sl_token *peek(struct parser *P) {
  return &P->t[P->i];
}
static struct sl_token *prev(struct parser *P) {
  return &P->t[P->i ? P->i - 1 : 0];
}

static bool is_kw(const struct sl_token *k, const char *kw) {
  return k->kind == TK_IDENT && (size_t)k->len == strlen(kw) &&
         !strncasecmp(k->p, kw, (size_t)k->len);
}

static bool is_reserved(const struct sl_token *k) {
  if (k->kind != TK_IDENT) return false;
  for (int i = 0; reserved[i]; i++)
    if (is_kw(k, reserved[i])) return true;
  return false;
}

static bool accept_kw(struct parser *P, const char *kw) {
  if (!is_kw(peek(P), kw)) return false;
  P->i++;
  return true;
}

static bool accept(struct parser *P, enum sl_tok k) {
  if (peek(P)->kind != k) return false;
  P->i++;
  return true;
}

static int fail(struct parser *P, const char *expected) {
  struct sl_token *k = peek(P);
  if (k->kind == TK_EOF)
    return sl__sql_error_at(P->err, SL_EINVAL, k->line, k->col,
                            "expected %s, found the end of the query",
                            expected);
  return sl__sql_error_at(P->err, SL_EINVAL, k->line, k->col,
                          "expected %s, found '%.*s'", expected,
                          k->len > 40 ? 40 : k->len, k->p);
}

static int expect_kw(struct parser *P, const char *kw, const char *what) {
  return accept_kw(P, kw) ? 0 : fail(P, what);
}
static int expect(struct parser *P, enum sl_tok k, const char *what) {
  return accept(P, k) ? 0 : fail(P, what);
}

static char *dup_lower(struct parser *P, const char *s, int32_t n) {
  char *p = sl_arena_alloc(P->a, (size_t)n + 1);
  if (!p) return NULL;
  for (int32_t i = 0; i < n; i++)
    p[i] = (char)tolower((unsigned char)s[i]);
  p[n] = 0;
  return p;
}

static char *dup_raw(struct parser *P, const struct sl_token *k) {
  char *p = sl_arena_alloc(P->a, (size_t)k->len + 1);
  if (!p) return NULL;
  memcpy(p, k->p, (size_t)k->len);
  p[k->len] = 0;
  return p;
}

/* Text of a string literal or quoted identifier without quotes, '' -> '. */
static char *unquote(struct parser *P, const struct sl_token *k, int32_t *len) {
  char q = k->p[0];
  char *p = sl_arena_alloc(P->a, (size_t)k->len);
  if (!p) return NULL;
  int32_t o = 0;
  for (int32_t i = 1; i < k->len - 1; i++) {
    p[o++] = k->p[i];
    if (k->p[i] == q) i++;
  }
  p[o] = 0;
  if (len) *len = o;
  return p;
}

static struct sl_ast *node(struct parser *P, enum sl_ast_kind kind,
                           const struct sl_token *at) {
  struct sl_ast *x = sl_arena_alloc(P->a, sizeof *x);
  if (!x) return NULL;
  memset(x, 0, sizeof *x);
  x->kind = kind;
  x->line = at->line;
  x->col = at->col;
  x->off = at->off;
  x->end = at->off + at->len;
  return x;
}

static void close_span(struct parser *P, struct sl_ast *x) {
  struct sl_token *k = prev(P);
  if (k->off + k->len > x->end) x->end = k->off + k->len;
}

static int add_arg(struct parser *P, struct sl_ast *x, struct sl_ast *arg) {
  struct sl_ast **na =
      sl_arena_alloc(P->a, sizeof *na * (size_t)(x->n_args + 1));
  if (!na) return SL_ENOMEM;
  if (x->n_args) memcpy(na, x->args, sizeof *na * (size_t)x->n_args);
  na[x->n_args++] = arg;
  x->args = na;
  return 0;
}

static int parse_expr(struct parser *P, struct sl_ast **out);

static int binary(struct parser *P, int op, const struct sl_token *at,
                  struct sl_ast *l, struct sl_ast *r, struct sl_ast **out) {
  struct sl_ast *x = node(P, AST_BINARY, at);
  if (!x) return SL_ENOMEM;
  x->op = op;
  x->line = l->line, x->col = l->col, x->off = l->off;
  SL_RETURN_NOT_OK(add_arg(P, x, l));
  SL_RETURN_NOT_OK(add_arg(P, x, r));
  close_span(P, x);
  *out = x;
  return 0;
}

/* Type name for CAST / ::, lower-cased into sval, e.g. "decimal(10,2)". */
static int parse_type(struct parser *P, struct sl_ast *x) {
  struct sl_token *k = peek(P);
  if (k->kind != TK_IDENT) return fail(P, "a type name");
  P->i++;
  int32_t b = k->off, e = k->off + k->len;
  if (is_kw(k, "double") && is_kw(peek(P), "precision"))
    e = peek(P)->off + peek(P)->len, P->i++;
  if (accept(P, TK_LPAREN)) {
    while (peek(P)->kind != TK_RPAREN && peek(P)->kind != TK_EOF)
      P->i++;
    SL_RETURN_NOT_OK(expect(P, TK_RPAREN, "')' after the type's parameters"));
  }
  (void)e;
  x->sval = dup_lower(P, P->sql + b, k->len);
  return x->sval ? 0 : SL_ENOMEM;
}

static int parse_func(struct parser *P, struct sl_token *name,
                      struct sl_ast **out) {
  struct sl_ast *x = node(P, AST_FUNC, name);
  if (!x) return SL_ENOMEM;
  x->name = dup_lower(P, name->p, name->len);
  if (!x->name) return SL_ENOMEM;
  /* EXTRACT(part FROM x) */
  if (!strcmp(x->name, "extract")) {
    struct sl_token *k = peek(P);
    if (k->kind != TK_IDENT && k->kind != TK_STRING)
      return fail(P, "a date part such as minute");
    P->i++;
    struct sl_ast *part = node(P, AST_STRING, k);
    if (!part) return SL_ENOMEM;
    part->sval = k->kind == TK_STRING ? unquote(P, k, &part->slen)
                                      : dup_lower(P, k->p, k->len);
    if (!part->sval) return SL_ENOMEM;
    part->slen = (int32_t)strlen(part->sval);
    SL_RETURN_NOT_OK(expect_kw(P, "from", "FROM in EXTRACT(part FROM value)"));
    struct sl_ast *v;
    SL_RETURN_NOT_OK(parse_expr(P, &v));
    x->name = "date_part";
    SL_RETURN_NOT_OK(add_arg(P, x, part));
    SL_RETURN_NOT_OK(add_arg(P, x, v));
  } else if (accept(P, TK_STAR)) {
    x->star_arg = true;
  } else if (peek(P)->kind != TK_RPAREN) {
    if (accept_kw(P, "distinct"))
      x->distinct = true;
    else
      accept_kw(P, "all");
    do {
      struct sl_ast *arg;
      SL_RETURN_NOT_OK(parse_expr(P, &arg));
      SL_RETURN_NOT_OK(add_arg(P, x, arg));
    } while (accept(P, TK_COMMA));
  }
  SL_RETURN_NOT_OK(expect(P, TK_RPAREN, "')' to close the function call"));
  close_span(P, x);
  *out = x;
  return 0;
}

static int parse_primary(struct parser *P, struct sl_ast **out) {
  struct sl_token *k = peek(P);
  struct sl_ast *x = NULL;
  if (++P->depth > 200)
    return sl__sql_error_at(P->err, SL_EINVAL, k->line, k->col,
                            "expression nested too deeply");
  switch (k->kind) {
  case TK_INT: {
    P->i++;
    x = node(P, AST_INT, k);
    if (!x) return SL_ENOMEM;
    char buf[32];
    if (k->len >= (int32_t)sizeof buf) goto as_float;
    memcpy(buf, k->p, (size_t)k->len);
    buf[k->len] = 0;
    errno = 0;
    x->ival = strtoll(buf, NULL, 10);
    if (errno == ERANGE) goto as_float;
    break;
  as_float:
    x->kind = AST_FLOAT;
    x->fval = strtod(k->p, NULL);
    break;
  }
  case TK_FLOAT:
    P->i++;
    x = node(P, AST_FLOAT, k);
    if (!x) return SL_ENOMEM;
    x->fval = strtod(k->p, NULL);
    break;
  case TK_STRING:
    P->i++;
    x = node(P, AST_STRING, k);
    if (!x) return SL_ENOMEM;
    x->sval = unquote(P, k, &x->slen);
    if (!x->sval) return SL_ENOMEM;
    break;
  case TK_LPAREN:
    P->i++;
    SL_RETURN_NOT_OK(parse_expr(P, &x));
    SL_RETURN_NOT_OK(expect(P, TK_RPAREN, "')'"));
    x->line = k->line, x->col = k->col, x->off = k->off;
    close_span(P, x);
    break;
  case TK_QIDENT:
  case TK_IDENT: {
    if (k->kind == TK_IDENT) {
      if (is_kw(k, "null") || is_kw(k, "true") || is_kw(k, "false")) {
        P->i++;
        x = node(P, is_kw(k, "null") ? AST_NULL : AST_BOOL, k);
        if (!x) return SL_ENOMEM;
        x->ival = is_kw(k, "true");
        break;
      }
      if (is_kw(k, "case")) {
        P->i++;
        x = node(P, AST_CASE, k);
        if (!x) return SL_ENOMEM;
        if (!is_kw(peek(P), "when"))
          SL_RETURN_NOT_OK(parse_expr(P, &x->case_operand));
        if (!is_kw(peek(P), "when")) return fail(P, "WHEN in CASE");
        while (accept_kw(P, "when")) {
          struct sl_ast *w, *t;
          SL_RETURN_NOT_OK(parse_expr(P, &w));
          SL_RETURN_NOT_OK(
              expect_kw(P, "then", "THEN after CASE ... WHEN condition"));
          SL_RETURN_NOT_OK(parse_expr(P, &t));
          SL_RETURN_NOT_OK(add_arg(P, x, w));
          SL_RETURN_NOT_OK(add_arg(P, x, t));
        }
        if (accept_kw(P, "else"))
          SL_RETURN_NOT_OK(parse_expr(P, &x->case_else));
        SL_RETURN_NOT_OK(expect_kw(P, "end", "END to close CASE"));
        close_span(P, x);
        break;
      }
      if (is_kw(k, "cast") || is_kw(k, "try_cast")) {
        P->i++;
        x = node(P, AST_CAST, k);
        if (!x) return SL_ENOMEM;
        SL_RETURN_NOT_OK(expect(P, TK_LPAREN, "'(' after CAST"));
        struct sl_ast *v;
        SL_RETURN_NOT_OK(parse_expr(P, &v));
        SL_RETURN_NOT_OK(add_arg(P, x, v));
        SL_RETURN_NOT_OK(expect_kw(P, "as", "AS in CAST(value AS type)"));
        SL_RETURN_NOT_OK(parse_type(P, x));
        SL_RETURN_NOT_OK(expect(P, TK_RPAREN, "')' to close CAST"));
        close_span(P, x);
        break;
      }
      if (is_kw(k, "interval")) {
        P->i++;
        x = node(P, AST_INTERVAL, k);
        if (!x) return SL_ENOMEM;
        struct sl_token *v = peek(P);
        char buf[128];
        int m = 0;
        if (v->kind == TK_STRING) {
          P->i++;
          char *s = unquote(P, v, NULL);
          if (!s) return SL_ENOMEM;
          m = snprintf(buf, sizeof buf, "%s", s);
        } else if (v->kind == TK_INT) {
          P->i++;
          m = snprintf(buf, sizeof buf, "%.*s", v->len, v->p);
        } else {
          return fail(P, "an interval such as INTERVAL '5 minutes'");
        }
        if (peek(P)->kind == TK_IDENT && !is_reserved(peek(P))) {
          struct sl_token *u = peek(P);
          P->i++;
          if (m > 0 && m < (int)sizeof buf)
            m += snprintf(buf + m, sizeof buf - (size_t)m, " %.*s", u->len,
                          u->p);
        }
        if (m < 0 || m >= (int)sizeof buf)
          return sl__sql_error_at(P->err, SL_EINVAL, v->line, v->col,
                                  "interval text is longer than %d bytes",
                                  (int)sizeof buf - 1);
        x->sval = sl_arena_alloc(P->a, (size_t)m + 1);
        if (!x->sval) return SL_ENOMEM;
        memcpy(x->sval, buf, (size_t)m + 1);
        x->slen = m;
        close_span(P, x);
        break;
      }
      if ((is_kw(k, "date") || is_kw(k, "timestamp")) &&
          P->t[P->i + 1].kind == TK_STRING) {
        P->i++;
        x = node(P, AST_TYPED_LIT, k);
        if (!x) return SL_ENOMEM;
        x->name = dup_lower(P, k->p, k->len);
        x->sval = unquote(P, peek(P), &x->slen);
        if (!x->name || !x->sval) return SL_ENOMEM;
        P->i++;
        close_span(P, x);
        break;
      }
      if (is_reserved(k)) return fail(P, "an expression");
    }
    P->i++;
    if (k->kind == TK_IDENT && accept(P, TK_LPAREN)) {
      SL_RETURN_NOT_OK(parse_func(P, k, &x));
      break;
    }
    /* column path a.b.c */
    x = node(P, AST_COLUMN, k);
    if (!x) return SL_ENOMEM;
    char buf[512];
    int m = 0;
    struct sl_token *seg = k;
    for (;;) {
      char *part = seg->kind == TK_QIDENT ? unquote(P, seg, NULL) : NULL;
      int w = part ? snprintf(buf + m, sizeof buf - (size_t)m, "%s", part)
                   : snprintf(buf + m, sizeof buf - (size_t)m, "%.*s", seg->len,
                              seg->p);
      if (w < 0 || m + w >= (int)sizeof buf - 2)
        return sl__sql_error_at(P->err, SL_EINVAL, k->line, k->col,
                                "column name too long");
      m += w;
      if (peek(P)->kind != TK_DOT) break;
      struct sl_token *nx = &P->t[P->i + 1];
      if (nx->kind == TK_STAR) break; /* t.* handled by the caller */
      if (nx->kind != TK_IDENT && nx->kind != TK_QIDENT) {
        P->i++;
        return fail(P, "a field name after '.'");
      }
      P->i += 2;
      buf[m++] = '.';
      seg = nx;
    }
    x->name = sl_arena_alloc(P->a, (size_t)m + 1);
    if (!x->name) return SL_ENOMEM;
    memcpy(x->name, buf, (size_t)m);
    x->name[m] = 0;
    close_span(P, x);
    break;
  }
  default: return fail(P, "an expression");
  }
  P->depth--;
  *out = x;
  return 0;
}

static int parse_postfix(struct parser *P, struct sl_ast **out) {
  SL_RETURN_NOT_OK(parse_primary(P, out));
  while (peek(P)->kind == TK_CAST) {
    struct sl_token *k = peek(P);
    P->i++;
    struct sl_ast *x = node(P, AST_CAST, k);
    if (!x) return SL_ENOMEM;
    x->line = (*out)->line, x->col = (*out)->col, x->off = (*out)->off;
    SL_RETURN_NOT_OK(add_arg(P, x, *out));
    SL_RETURN_NOT_OK(parse_type(P, x));
    close_span(P, x);
    *out = x;
  }
  return 0;
}

static int parse_unary(struct parser *P, struct sl_ast **out) {
  struct sl_token *k = peek(P);
  if (k->kind == TK_MINUS || k->kind == TK_PLUS) {
    P->i++;
    struct sl_ast *v;
    SL_RETURN_NOT_OK(parse_unary(P, &v));
    if (k->kind == TK_PLUS) {
      *out = v;
      return 0;
    }
    if (v->kind == AST_INT && v->off == k->off + 1) { /* fold -123 */
      v->ival = -v->ival;
      v->off = k->off, v->line = k->line, v->col = k->col;
      *out = v;
      return 0;
    }
    struct sl_ast *x = node(P, AST_UNARY, k);
    if (!x) return SL_ENOMEM;
    x->op = TK_MINUS;
    SL_RETURN_NOT_OK(add_arg(P, x, v));
    close_span(P, x);
    *out = x;
    return 0;
  }
  SL_RETURN_NOT_OK(parse_postfix(P, out));
  while (peek(P)->kind == TK_CARET) {
    struct sl_token *op = peek(P);
    P->i++;
    struct sl_ast *r;
    SL_RETURN_NOT_OK(parse_postfix(P, &r));
    SL_RETURN_NOT_OK(binary(P, TK_CARET, op, *out, r, out));
  }
  return 0;
}

static int parse_mul(struct parser *P, struct sl_ast **out) {
  SL_RETURN_NOT_OK(parse_unary(P, out));
  for (;;) {
    struct sl_token *k = peek(P);
    if (k->kind != TK_STAR && k->kind != TK_SLASH && k->kind != TK_DSLASH &&
        k->kind != TK_PERCENT)
      return 0;
    P->i++;
    struct sl_ast *r;
    SL_RETURN_NOT_OK(parse_unary(P, &r));
    SL_RETURN_NOT_OK(binary(P, k->kind, k, *out, r, out));
  }
}

static int parse_add(struct parser *P, struct sl_ast **out) {
  SL_RETURN_NOT_OK(parse_mul(P, out));
  for (;;) {
    struct sl_token *k = peek(P);
    if (k->kind != TK_PLUS && k->kind != TK_MINUS) return 0;
    P->i++;
    struct sl_ast *r;
    SL_RETURN_NOT_OK(parse_mul(P, &r));
    SL_RETURN_NOT_OK(binary(P, k->kind, k, *out, r, out));
  }
}

static int parse_concat(struct parser *P, struct sl_ast **out) {
  SL_RETURN_NOT_OK(parse_add(P, out));
  while (peek(P)->kind == TK_CONCAT) {
    struct sl_token *k = peek(P);
    P->i++;
    struct sl_ast *r;
    SL_RETURN_NOT_OK(parse_add(P, &r));
    SL_RETURN_NOT_OK(binary(P, TK_CONCAT, k, *out, r, out));
  }
  return 0;
}

static int parse_pred(struct parser *P, struct sl_ast **out) {
  SL_RETURN_NOT_OK(parse_concat(P, out));
  for (;;) {
    struct sl_token *k = peek(P);
    if (k->kind >= TK_EQ && k->kind <= TK_GE) {
      P->i++;
      struct sl_ast *r;
      SL_RETURN_NOT_OK(parse_concat(P, &r));
      SL_RETURN_NOT_OK(binary(P, k->kind, k, *out, r, out));
      continue;
    }
    if (is_kw(k, "is")) {
      P->i++;
      struct sl_ast *x = node(P, AST_IS_NULL, k);
      if (!x) return SL_ENOMEM;
      x->negate = accept_kw(P, "not");
      SL_RETURN_NOT_OK(expect_kw(P, "null", "NULL after IS [NOT]"));
      x->line = (*out)->line, x->col = (*out)->col, x->off = (*out)->off;
      SL_RETURN_NOT_OK(add_arg(P, x, *out));
      close_span(P, x);
      *out = x;
      continue;
    }
    bool neg = false;
    int32_t save = P->i;
    if (is_kw(k, "not")) {
      P->i++;
      neg = true;
      k = peek(P);
    }
    if (is_kw(k, "in")) {
      P->i++;
      struct sl_ast *x = node(P, AST_IN, k);
      if (!x) return SL_ENOMEM;
      x->negate = neg;
      x->line = (*out)->line, x->col = (*out)->col, x->off = (*out)->off;
      SL_RETURN_NOT_OK(add_arg(P, x, *out));
      SL_RETURN_NOT_OK(expect(P, TK_LPAREN, "'(' after IN"));
      do {
        struct sl_ast *v;
        SL_RETURN_NOT_OK(parse_expr(P, &v));
        SL_RETURN_NOT_OK(add_arg(P, x, v));
      } while (accept(P, TK_COMMA));
      SL_RETURN_NOT_OK(expect(P, TK_RPAREN, "')' to close the IN list"));
      close_span(P, x);
      *out = x;
      continue;
    }
    if (is_kw(k, "between")) {
      P->i++;
      struct sl_ast *x = node(P, AST_BETWEEN, k);
      if (!x) return SL_ENOMEM;
      x->negate = neg;
      x->line = (*out)->line, x->col = (*out)->col, x->off = (*out)->off;
      struct sl_ast *lo, *hi;
      SL_RETURN_NOT_OK(parse_concat(P, &lo));
      SL_RETURN_NOT_OK(expect_kw(P, "and", "AND in BETWEEN low AND high"));
      SL_RETURN_NOT_OK(parse_concat(P, &hi));
      SL_RETURN_NOT_OK(add_arg(P, x, *out));
      SL_RETURN_NOT_OK(add_arg(P, x, lo));
      SL_RETURN_NOT_OK(add_arg(P, x, hi));
      close_span(P, x);
      *out = x;
      continue;
    }
    if (is_kw(k, "like") || is_kw(k, "ilike")) {
      P->i++;
      struct sl_ast *x = node(P, AST_LIKE, k);
      if (!x) return SL_ENOMEM;
      x->negate = neg;
      x->ilike = is_kw(k, "ilike");
      x->line = (*out)->line, x->col = (*out)->col, x->off = (*out)->off;
      struct sl_ast *pat;
      SL_RETURN_NOT_OK(parse_concat(P, &pat));
      SL_RETURN_NOT_OK(add_arg(P, x, *out));
      SL_RETURN_NOT_OK(add_arg(P, x, pat));
      close_span(P, x);
      *out = x;
      continue;
    }
    P->i = save;
    return 0;
  }
}

static int parse_not(struct parser *P, struct sl_ast **out) {
  struct sl_token *k = peek(P);
  if (is_kw(k, "not")) {
    P->i++;
    struct sl_ast *v;
    SL_RETURN_NOT_OK(parse_not(P, &v));
    struct sl_ast *x = node(P, AST_UNARY, k);
    if (!x) return SL_ENOMEM;
    x->op = OP_NOT;
    SL_RETURN_NOT_OK(add_arg(P, x, v));
    close_span(P, x);
    *out = x;
    return 0;
  }
  return parse_pred(P, out);
}

static int parse_and(struct parser *P, struct sl_ast **out) {
  SL_RETURN_NOT_OK(parse_not(P, out));
  while (is_kw(peek(P), "and")) {
    struct sl_token *k = peek(P);
    P->i++;
    struct sl_ast *r;
    SL_RETURN_NOT_OK(parse_not(P, &r));
    SL_RETURN_NOT_OK(binary(P, OP_AND, k, *out, r, out));
  }
  return 0;
}

static int parse_expr(struct parser *P, struct sl_ast **out) {
  if (++P->depth > 200) {
    struct sl_token *k = peek(P);
    return sl__sql_error_at(P->err, SL_EINVAL, k->line, k->col,
                            "expression nested too deeply");
  }
  SL_RETURN_NOT_OK(parse_and(P, out));
  while (is_kw(peek(P), "or")) {
    struct sl_token *k = peek(P);
    P->i++;
    struct sl_ast *r;
    SL_RETURN_NOT_OK(parse_and(P, &r));
    SL_RETURN_NOT_OK(binary(P, OP_OR, k, *out, r, out));
  }
  P->depth--;
  return 0;
}

/* read_json('path', columns => {'a': 'BIGINT', ...}, format => '...') */
static int parse_from(struct parser *P, struct sl_from *f) {
  struct sl_token *k = peek(P);
  f->line = k->line;
  f->col = k->col;
  if (k->kind == TK_STRING) {
    P->i++;
    f->kind = FROM_PATH;
    f->path = unquote(P, k, NULL);
    return f->path ? 0 : SL_ENOMEM;
  }
  if (k->kind != TK_IDENT && k->kind != TK_QIDENT)
    return fail(
        P, "a file path in quotes, read_json(...), read_parquet(...) or stdin");
  P->i++;
  if (!accept(P, TK_LPAREN)) {
    f->kind = FROM_NAME;
    f->name =
        k->kind == TK_QIDENT ? unquote(P, k, NULL) : dup_lower(P, k->p, k->len);
    return f->name ? 0 : SL_ENOMEM;
  }
  f->kind = FROM_FUNC;
  f->name = dup_lower(P, k->p, k->len);
  if (!f->name) return SL_ENOMEM;
  struct sl_token *pk = peek(P);
  if (pk->kind != TK_STRING) return fail(P, "the input path in quotes");
  P->i++;
  f->path = unquote(P, pk, NULL);
  if (!f->path) return SL_ENOMEM;
  while (accept(P, TK_COMMA)) {
    struct sl_token *key = peek(P);
    if (key->kind != TK_IDENT)
      return fail(P, "a named option such as columns => {...}");
    P->i++;
    if (!accept(P, TK_ARROW) && !accept(P, TK_EQ))
      return fail(P, "'=>' after the option name");
    if (is_kw(key, "columns")) {
      SL_RETURN_NOT_OK(expect(P, TK_LBRACE, "'{' to open the column list"));
      char *buf = sl_arena_alloc(P->a, 65536);
      if (!buf) return SL_ENOMEM;
      size_t m = 0;
      do {
        struct sl_token *cn = peek(P);
        if (cn->kind != TK_STRING && cn->kind != TK_IDENT &&
            cn->kind != TK_QIDENT)
          return fail(P, "a column name");
        P->i++;
        char *name = cn->kind == TK_IDENT ? dup_lower(P, cn->p, cn->len)
                                          : unquote(P, cn, NULL);
        SL_RETURN_NOT_OK(
            expect(P, TK_COLON, "':' between column name and type"));
        struct sl_token *ct = peek(P);
        if (ct->kind != TK_STRING && ct->kind != TK_IDENT)
          return fail(P, "a column type in quotes");
        P->i++;
        char *type = ct->kind == TK_STRING ? unquote(P, ct, NULL)
                                           : dup_lower(P, ct->p, ct->len);
        if (!name || !type) return SL_ENOMEM;
        int w = snprintf(buf + m, 65536 - m, "%s%s\x1f%s", m ? "\x1e" : "",
                         name, type);
        if (w < 0 || m + (size_t)w >= 65536)
          return sl__sql_error_at(P->err, SL_EINVAL, cn->line, cn->col,
                                  "column list too long");
        m += (size_t)w;
      } while (accept(P, TK_COMMA));
      SL_RETURN_NOT_OK(expect(P, TK_RBRACE, "'}' to close the column list"));
      f->columns = buf;
    } else {
      struct sl_token *v = peek(P);
      if (v->kind == TK_EOF || v->kind == TK_RPAREN)
        return fail(P, "an option value");
      P->i++;
      if (is_kw(key, "format"))
        f->format = v->kind == TK_STRING ? unquote(P, v, NULL)
                                         : dup_lower(P, v->p, v->len);
    }
  }
  return expect(P, TK_RPAREN, "')' to close the table function");
}

static int parse_expr_list(struct parser *P, struct sl_ast ***out, int32_t *n) {
  int32_t cap = 8;
  struct sl_ast **v = sl_arena_alloc(P->a, sizeof *v * (size_t)cap);
  if (!v) return SL_ENOMEM;
  *n = 0;
  do {
    if (*n == cap) {
      struct sl_ast **nv = sl_arena_alloc(P->a, sizeof *nv * (size_t)cap * 2);
      if (!nv) return SL_ENOMEM;
      memcpy(nv, v, sizeof *v * (size_t)cap);
      v = nv;
      cap *= 2;
    }
    SL_RETURN_NOT_OK(parse_expr(P, &v[(*n)++]));
  } while (accept(P, TK_COMMA));
  *out = v;
  return 0;
}

static int parse_count(struct parser *P, int64_t *out, const char *what) {
  struct sl_token *k = peek(P);
  if (k->kind != TK_INT) return fail(P, what);
  P->i++;
  errno = 0;
  *out = strtoll(k->p, NULL, 10);
  if (errno == ERANGE || *out < 0)
    return sl__sql_error_at(P->err, SL_EINVAL, k->line, k->col,
                            "%s is out of range", what);
  return 0;
}

int sl__sql_parse(const char *sql, struct sl_arena *a, struct sl_stmt **out,
                  struct sl_error *err) {
  struct parser P = {.a = a, .err = err, .sql = sql};
  SL_RETURN_NOT_OK(sl__sql_lex(sql, a, &P.t, &P.n, err));
  struct sl_stmt *s = sl_arena_alloc(a, sizeof *s);
  if (!s) return SL_ENOMEM;
  memset(s, 0, sizeof *s);
  s->sql = sql;
  s->limit = -1;
  SL_RETURN_NOT_OK(expect_kw(&P, "select", "SELECT"));
  s->distinct = accept_kw(&P, "distinct");
  if (!s->distinct) accept_kw(&P, "all");
  int32_t cap = 8;
  s->items = sl_arena_alloc(a, sizeof *s->items * (size_t)cap);
  if (!s->items) return SL_ENOMEM;
  do {
    if (s->n_items == cap) {
      struct sl_select_item *ni =
          sl_arena_alloc(a, sizeof *ni * (size_t)cap * 2);
      if (!ni) return SL_ENOMEM;
      memcpy(ni, s->items, sizeof *ni * (size_t)cap);
      s->items = ni;
      cap *= 2;
    }
    struct sl_select_item *it = &s->items[s->n_items++];
    memset(it, 0, sizeof *it);
    if (accept(&P, TK_STAR)) continue;
    SL_RETURN_NOT_OK(parse_expr(&P, &it->expr));
    if (it->expr->kind == AST_COLUMN && peek(&P)->kind == TK_DOT &&
        P.t[P.i + 1].kind == TK_STAR) {
      return sl__sql_error_at(err, SL_EINVAL, it->expr->line, it->expr->col,
                              "'%s.*' is not supported; name the fields",
                              it->expr->name);
    }
    struct sl_token *k = peek(&P);
    if (accept_kw(&P, "as")) {
      k = peek(&P);
      if (k->kind != TK_IDENT && k->kind != TK_QIDENT && k->kind != TK_STRING)
        return fail(&P, "an alias after AS");
      P.i++;
      it->alias = k->kind == TK_IDENT ? dup_raw(&P, k) : unquote(&P, k, NULL);
      if (!it->alias) return SL_ENOMEM;
    } else if ((k->kind == TK_IDENT && !is_reserved(k)) ||
               k->kind == TK_QIDENT) {
      P.i++;
      it->alias = k->kind == TK_IDENT ? dup_raw(&P, k) : unquote(&P, k, NULL);
      if (!it->alias) return SL_ENOMEM;
    }
  } while (accept(&P, TK_COMMA));
  if (accept_kw(&P, "from")) {
    s->has_from = true;
    SL_RETURN_NOT_OK(parse_from(&P, &s->from));
    /* an optional alias: FROM 'x.jsonl' AS t / FROM 'x.jsonl' t */
    if (accept_kw(&P, "as")) {
      if (peek(&P)->kind != TK_IDENT && peek(&P)->kind != TK_QIDENT)
        return fail(&P, "a table alias");
      P.i++;
    } else if (peek(&P)->kind == TK_IDENT && !is_reserved(peek(&P))) {
      P.i++;
    }
  }
  if (accept_kw(&P, "where")) SL_RETURN_NOT_OK(parse_expr(&P, &s->where));
  if (accept_kw(&P, "group")) {
    SL_RETURN_NOT_OK(expect_kw(&P, "by", "BY after GROUP"));
    if (accept_kw(&P, "all"))
      s->n_group = -1;
    else
      SL_RETURN_NOT_OK(parse_expr_list(&P, &s->group, &s->n_group));
  }
  if (accept_kw(&P, "having")) SL_RETURN_NOT_OK(parse_expr(&P, &s->having));
  if (accept_kw(&P, "order")) {
    SL_RETURN_NOT_OK(expect_kw(&P, "by", "BY after ORDER"));
    int32_t oc = 4;
    s->order = sl_arena_alloc(a, sizeof *s->order * (size_t)oc);
    if (!s->order) return SL_ENOMEM;
    do {
      if (s->n_order == oc) {
        struct sl_order_item *no =
            sl_arena_alloc(a, sizeof *no * (size_t)oc * 2);
        if (!no) return SL_ENOMEM;
        memcpy(no, s->order, sizeof *no * (size_t)oc);
        s->order = no;
        oc *= 2;
      }
      struct sl_order_item *o = &s->order[s->n_order++];
      memset(o, 0, sizeof *o);
      SL_RETURN_NOT_OK(parse_expr(&P, &o->expr));
      if (accept_kw(&P, "desc"))
        o->desc = true;
      else
        accept_kw(&P, "asc");
      if (accept_kw(&P, "nulls")) {
        if (accept_kw(&P, "first"))
          o->nulls = 1;
        else if (accept_kw(&P, "last"))
          o->nulls = 2;
        else
          return fail(&P, "FIRST or LAST after NULLS");
      }
    } while (accept(&P, TK_COMMA));
  }
  for (int pass = 0; pass < 2; pass++) {
    if (s->limit < 0 && accept_kw(&P, "limit"))
      SL_RETURN_NOT_OK(parse_count(&P, &s->limit, "a row count after LIMIT"));
    if (!s->offset && accept_kw(&P, "offset"))
      SL_RETURN_NOT_OK(parse_count(&P, &s->offset, "a row count after OFFSET"));
  }
  accept(&P, TK_SEMI);
  if (peek(&P)->kind != TK_EOF) return fail(&P, "the end of the query");
  *out = s;
  return 0;
}
