/* sluice SQL binder internals, shared by binder.c (names, types,
 * expressions), binder_funcs.c (scalar functions, aggregates) and
 * binder_stmt.c (a whole statement into a plan). */
#ifndef SLUICE_SQL_BINDER_H
#define SLUICE_SQL_BINDER_H

#include "sql/sql_internal.h"

struct binder {
  const struct sl_stmt *st;
  const struct sl_schema *schema;
  struct sl_plan *p;
  struct sl_error *err;
  int32_t cap_inputs, cap_aggs, cap_agg_args;
  struct sl_ast **agg_asts; /* for de-duplication */
  struct sl_ast **key_asts;
  bool in_agg;        /* binding an aggregate's argument */
  bool post;          /* binding over stage-2 rows (keys, aggs) */
  const char *clause; /* "WHERE", "GROUP BY", ... for messages */
};

/* Memory from the plan's arena (zeroed), strings copied into it. */
void *sl__b_alloc(struct binder *B, size_t n);
char *sl__b_strdup(struct binder *B, const char *s, size_t n);
/* The SQL text of a node (for messages), in the plan's arena. */
const char *sl__b_text(struct binder *B, const struct sl_ast *a);
/* Sets "line:col: message" at node a; returns code. */
int sl__b_error(struct binder *B, const struct sl_ast *a, int code,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int sl__b_type_error(struct binder *B, const struct sl_ast *a, const char *what,
                     enum sl_vt x, enum sl_vt y);
/* A new expression node with room for n_args arguments. */
struct sl_expr *sl__b_expr(struct binder *B, enum sl_xop op, enum sl_vt t,
                           int32_t n_args, const struct sl_ast *src);
/* Wraps *e in a cast to `to` (NULL constants just take the type). */
int sl__b_coerce(struct binder *B, struct sl_expr **e, enum sl_vt to);
/* Common type of two operands, SL_VT_NULL when none. */
enum sl_vt sl__b_unify(const struct sl_expr *x, const struct sl_expr *y);
/* Binds any expression (over inputs, or over keys and aggregates when
 * B->post). */
int sl__b_bind(struct binder *B, const struct sl_ast *a, struct sl_expr **out);
int sl__b_column(struct binder *B, const struct sl_ast *a,
                 struct sl_expr **out);
int sl__b_scalar_func(struct binder *B, const struct sl_ast *a,
                      struct sl_expr **out);
int sl__b_agg_ref(struct binder *B, const struct sl_ast *a,
                  struct sl_expr **out);
bool sl__b_is_agg_name(const char *n);
bool sl__b_has_agg(const struct sl_ast *a);
bool sl__b_ast_eq(const struct sl_ast *x, const struct sl_ast *y);
int sl__b_const_str(struct binder *B, const struct sl_ast *fn, int32_t i,
                    const char **s, size_t *n);
const struct sl_field *sl__b_find_field(const struct sl_field *fields,
                                        int32_t n, const char *path, bool ci);

#endif
