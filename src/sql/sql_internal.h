/* sluice SQL internals: tokens, the syntax tree, the bound plan. */
#ifndef SLUICE_SQL_INTERNAL_H
#define SLUICE_SQL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "compute/agg.h"
#include "compute/expr.h"
#include "compute/sort.h"
#include "sluice/alloc.h"
#include "sluice/error.h"
#include "sluice/table.h"

/* ---- lexer ----------------------------------------------------------------
 */

enum sl_tok {
  TK_EOF = 0,
  TK_IDENT,
  TK_QIDENT,
  TK_STRING,
  TK_INT,
  TK_FLOAT,
  TK_LPAREN,
  TK_RPAREN,
  TK_COMMA,
  TK_DOT,
  TK_SEMI,
  TK_STAR,
  TK_PLUS,
  TK_MINUS,
  TK_SLASH,
  TK_DSLASH,
  TK_PERCENT,
  TK_CONCAT,
  TK_EQ,
  TK_NE,
  TK_LT,
  TK_LE,
  TK_GT,
  TK_GE,
  TK_CAST,
  TK_ARROW,
  TK_LBRACE,
  TK_RBRACE,
  TK_COLON,
  TK_LBRACKET,
  TK_RBRACKET,
  TK_CARET
};

struct sl_token {
  enum sl_tok kind;
  const char *p; /* into the SQL text */
  int32_t len;
  int32_t line, col; /* 1-based */
  int32_t off;       /* byte offset */
};

/* Tokenises sql into an arena-allocated array ending with TK_EOF. */
int sl__sql_lex(const char *sql, struct sl_arena *a, struct sl_token **out,
                int32_t *n_out, struct sl_error *err);

/* ---- syntax tree ----------------------------------------------------------
 */

enum sl_ast_kind {
  AST_COLUMN,
  AST_STAR,
  AST_INT,
  AST_FLOAT,
  AST_STRING,
  AST_BOOL,
  AST_NULL,
  AST_INTERVAL,
  AST_TYPED_LIT, /* DATE '...' / TIMESTAMP '...' */
  AST_UNARY,
  AST_BINARY,
  AST_FUNC,
  AST_CASE,
  AST_CAST,
  AST_IN,
  AST_BETWEEN,
  AST_LIKE,
  AST_IS_NULL
};

struct sl_ast {
  enum sl_ast_kind kind;
  int32_t line, col, off, end; /* position and source span [off, end) */
  int op;     /* AST_UNARY/BINARY: a TK_ or keyword code (see parser.c) */
  char *name; /* column path "geo.country", function name (lower case) */
  int64_t ival;
  double fval;
  char *sval; /* string literal, interval text, cast type name */
  int32_t slen;
  bool distinct; /* aggregate DISTINCT */
  bool negate;   /* NOT IN / NOT BETWEEN / NOT LIKE / IS NOT NULL */
  bool ilike;
  bool star_arg; /* count(*) */
  int32_t n_args;
  struct sl_ast **args; /* operands; CASE: when,then,...; [else]; IN: x, list */
  struct sl_ast *case_operand; /* simple CASE x WHEN ... */
  struct sl_ast *case_else;
};

enum sl_from_kind { FROM_PATH, FROM_FUNC, FROM_NAME };

struct sl_from {
  enum sl_from_kind kind;
  char *path;    /* FROM 'path' or read_json('path', ...) */
  char *name;    /* FROM_NAME: stdin, events, ...; FROM_FUNC: function */
  char *columns; /* read_json columns => {...} as "name: type, ..." */
  char *format;  /* read_json format/... named options: only a few known */
  int32_t line, col;
};

struct sl_select_item {
  struct sl_ast *expr; /* NULL for '*' */
  char *alias;
};

struct sl_order_item {
  struct sl_ast *expr;
  bool desc;
  int nulls; /* 0 default (NULLS LAST), 1 first, 2 last */
};

struct sl_stmt {
  bool distinct;
  int32_t n_items;
  struct sl_select_item *items;
  struct sl_from from;
  bool has_from;
  struct sl_ast *where;
  int32_t n_group;
  struct sl_ast **group;
  struct sl_ast *having;
  int32_t n_order;
  struct sl_order_item *order;
  int64_t limit; /* -1 = none */
  int64_t offset;
  const char *sql; /* the text, for error messages */
};

/* Parses one SELECT statement; every node lives in arena a. */
int sl__sql_parse(const char *sql, struct sl_arena *a, struct sl_stmt **out,
                  struct sl_error *err);

/* ---- bound plan ------------------------------------------------------------
 */

/* What the executor runs. Stage 1 works on input chunks: `input_paths` are
 * the source columns it needs (pushed down into the reader), `where` filters,
 * then either `group_keys` + `aggs` (aggregate query) or `proj` (plain
 * query). Stage 2 works on the aggregated rows (keys..., aggs...) or on the
 * projected rows: `having`, `final` (output columns), sort, distinct,
 * offset and limit. */
struct sl_plan {
  struct sl_arena arena;
  int32_t n_inputs;
  char **input_paths; /* dotted paths, e.g. "geo.country" */
  enum sl_vt *input_types;
  struct sl_expr *where; /* may be NULL */
  bool aggregate;
  int32_t n_keys;
  struct sl_expr **keys; /* over inputs */
  int32_t n_aggs;
  struct sl_agg_spec *aggs;
  int32_t n_agg_args;
  struct sl_expr **agg_args; /* over inputs; sl_agg_spec.arg indexes these */
  int32_t n_proj;
  struct sl_expr **proj;  /* plain query: over inputs (outputs + sort keys) */
  struct sl_expr *having; /* over stage-2 rows */
  int32_t n_final;
  struct sl_expr **final; /* over stage-2 rows; plain query: COL refs */
  char **final_names;
  int32_t n_visible; /* leading columns of final shown to the user */
  int32_t n_sort;
  struct sl_sort_spec *sort; /* columns of final */
  bool distinct;
  int64_t limit, offset;
  struct sl_from from;
  /* Columns `*` left out (lists: not in SQL yet), ", "-separated; NULL
   * when none. */
  char *star_skipped;
};

/* Binds stmt against the source schema; the plan owns its memory. */
int sl__sql_bind(const struct sl_stmt *stmt, const struct sl_schema *schema,
                 struct sl_plan **out, struct sl_error *err);
void sl__plan_free(struct sl_plan *p);

/* The vt an Arrow type reads as, or SL_VT_NULL when unsupported. */
enum sl_vt sl__vt_from_arrow(enum sl_type_id t);

/* Formats "line:col" error prefix helpers. */
int sl__sql_error_at(struct sl_error *err, int code, int32_t line, int32_t col,
                     const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
