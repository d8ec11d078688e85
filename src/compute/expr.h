/* sluice compute: typed, bound scalar expressions and their vectorised
 * evaluation over a chunk of rows.
 *
 * The SQL binder builds these trees (all implicit casts already inserted, so
 * kernels see operands of the exact types they expect) and the executor
 * evaluates them once per chunk: each node dispatches once on its operand
 * types to a type-specialised loop over flat arrays. */
#ifndef SLUICE_COMPUTE_EXPR_H
#define SLUICE_COMPUTE_EXPR_H

#include "compute/vec.h"

enum sl_xop {
  SL_X_COL = 0, /* input column `col` */
  SL_X_CONST,   /* `value` */
  /* arithmetic */
  SL_X_ADD,
  SL_X_SUB,
  SL_X_MUL,
  SL_X_DIV,
  SL_X_IDIV,
  SL_X_MOD,
  SL_X_NEG,
  /* comparison (operands of one type) */
  SL_X_EQ,
  SL_X_NE,
  SL_X_LT,
  SL_X_LE,
  SL_X_GT,
  SL_X_GE,
  /* logic, three-valued */
  SL_X_AND,
  SL_X_OR,
  SL_X_NOT,
  SL_X_IS_NULL,
  SL_X_IS_NOT_NULL,
  SL_X_IN,   /* args[0] IN (args[1..]); negate for NOT IN */
  SL_X_LIKE, /* args[0] LIKE args[1]; `part` = 1 for ILIKE; negate */
  SL_X_CASE, /* when0, then0, when1, then1, ..., else */
  SL_X_CAST, /* args[0] to `type` */
  SL_X_COALESCE,
  SL_X_NULLIF,
  SL_X_GREATEST,
  SL_X_LEAST,
  /* strings */
  SL_X_CONCAT_OP, /* a || b: NULL if either is NULL */
  SL_X_CONCAT,    /* concat(...): NULLs count as empty */
  SL_X_LOWER,
  SL_X_UPPER,
  SL_X_LENGTH,
  SL_X_SUBSTR,
  SL_X_STARTS_WITH,
  SL_X_ENDS_WITH,
  SL_X_CONTAINS,
  SL_X_REPLACE,
  SL_X_TRIM,
  SL_X_LTRIM,
  SL_X_RTRIM,
  /* numbers */
  SL_X_ABS,
  SL_X_ROUND,
  SL_X_FLOOR,
  SL_X_CEIL,
  SL_X_SQRT,
  SL_X_LN,
  SL_X_EXP,
  SL_X_POW,
  /* time */
  SL_X_DATE_TRUNC,   /* `part`, args[0] timestamp */
  SL_X_TIME_BUCKET,  /* args[0] interval constant, args[1] timestamp */
  SL_X_DATE_PART,    /* `part`, args[0] timestamp or date */
  SL_X_EPOCH_MS,     /* timestamp -> ms (BIGINT) */
  SL_X_MS_TO_TS,     /* epoch_ms(BIGINT) -> timestamp */
  SL_X_TO_TIMESTAMP, /* seconds (DOUBLE) -> timestamp */
  SL_X_TS_ADD,       /* timestamp + interval constant (args[1]); negate: - */
  SL_X_OP_COUNT_
};

/* Date parts for date_trunc / date_part / extract. */
enum sl_part {
  SL_PART_MICROSECOND,
  SL_PART_MILLISECOND,
  SL_PART_SECOND,
  SL_PART_MINUTE,
  SL_PART_HOUR,
  SL_PART_DAY,
  SL_PART_WEEK,
  SL_PART_MONTH,
  SL_PART_QUARTER,
  SL_PART_YEAR,
  SL_PART_DOW,
  SL_PART_DOY,
  SL_PART_EPOCH,
  SL_PART_ISODOW,
  SL_PART_COUNT_
};
/* Parses a part name ("minute", "minutes", "hour", "dow", ...). */
int sl__part_parse(const char *s, size_t n, enum sl_part *out);

struct sl_expr {
  enum sl_xop op;
  enum sl_vt type; /* result type */
  int32_t n_args;
  struct sl_expr **args;
  int32_t col;           /* SL_X_COL */
  int32_t part;          /* date part; LIKE: 1 = case-insensitive */
  bool negate;           /* NOT IN, NOT LIKE, TS_ADD subtract */
  struct sl_value value; /* SL_X_CONST; strings borrowed from the query */
  const char *text;      /* the SQL text of this expression, for errors */
};

/* Evaluates e over n rows whose input columns are cols[] (indexed by
 * SL_X_COL's col). The result's memory comes from arena a (or aliases an
 * input). Errors (overflow, bad casts, division by zero) name e->text. */
int sl__expr_eval(const struct sl_expr *e, const struct sl_vec *cols, int64_t n,
                  struct sl_arena *a, struct sl_vec *out, struct sl_error *err);

/* Selection: indices of rows where the boolean vec is TRUE (not NULL).
 * sel must hold n entries; returns the count. */
int64_t sl__vec_select_true(const struct sl_vec *v, int64_t n, int32_t *sel);

/* Kernels by family (eval.c dispatches). args are already evaluated. */
int sl__eval_string_fn(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                       struct sl_arena *a, struct sl_vec *out,
                       struct sl_error *err);
int sl__eval_time_fn(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                     struct sl_arena *a, struct sl_vec *out,
                     struct sl_error *err);
int sl__eval_cast(const struct sl_expr *e, struct sl_vec *arg, int64_t n,
                  struct sl_arena *a, struct sl_vec *out, struct sl_error *err);
int sl__eval_like(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                  struct sl_arena *a, struct sl_vec *out);

/* Time helpers (func_time.c). */
int64_t sl__days_from_civil(int64_t y, unsigned m, unsigned d);
void sl__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* Parses ISO-8601 / SQL timestamps ("2024-01-02T03:04:05.678Z",
 * "2024-01-02 03:04:05", "2024-01-02", with +hh:mm offsets) to micros. */
bool sl__parse_timestamp(const char *s, int64_t n, int64_t *us);
/* Formats micros as "YYYY-MM-DD HH:MM:SS[.ffffff]"; returns length. */
int sl__format_timestamp(int64_t us, char *buf, size_t cap);
int sl__format_date(int64_t days, char *buf, size_t cap);
/* Parses an interval literal ("5 minutes", "1 hour", "2 days"). */
bool sl__parse_interval(const char *s, size_t n, struct sl_interval *out);

/* Formats a double the way DuckDB prints it (shortest round-trip). */
int sl__format_double(double v, char *buf, size_t cap);

#endif
