/* sluice SQL on a device: turns a bound aggregate plan into a device plan
 * (src/device/device_abi.h) when every part of stage 1 has a device
 * equivalent, runs it over the JSON Lines input, and hands the aggregated
 * rows back as vecs in the layout of sl__hagg_finish (keys, then
 * aggregates), so HAVING, the final expressions, ORDER BY and LIMIT run
 * unchanged on the CPU. docs/gpu.md lists what qualifies. */
#include "sql/device_plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device/device_abi.h"
#include "sql/exec.h"

static int no(struct sl_error *why, const char *fmt, const char *arg) {
  return sl_error_set(why, SL_ENOTSUP, fmt, arg ? arg : "");
}

static int dev_type(enum sl_vt t) {
  switch (t) {
  case SL_VT_I64: return SL_DEV_INT64;
  case SL_VT_F64: return SL_DEV_FLOAT64;
  case SL_VT_STR: return SL_DEV_STRING;
  case SL_VT_BOOL: return SL_DEV_BOOL;
  case SL_VT_TS: return SL_DEV_TS_MS;
  default: return 0;
  }
}

/* The device column for input i (added once). */
static int column(const struct sl_plan *p, int32_t i, struct sl_dev_plan *dp,
                  int32_t *map, struct sl_error *why) {
  if (map[i] >= 0) return map[i];
  const char *path = p->input_paths[i];
  int parts = 1;
  for (const char *c = path; *c; c++)
    parts += *c == '.';
  if (strlen(path) >= SL_DEV_MAX_PATH || parts > 8)
    return no(why,
              "column '%s' is longer or nests deeper than the device reads",
              path) *
               0 -
           1;
  int t = dev_type(p->input_types[i]);
  if (!t)
    return no(why, "column '%s' has a type the device does not read", path) *
               0 -
           1;
  if (dp->n_columns >= SL_DEV_MAX_COLUMNS)
    return no(why, "more than 16 input columns%s", "") * 0 - 1;
  struct sl_dev_column *c = &dp->columns[dp->n_columns];
  snprintf(c->path, sizeof c->path, "%s", path);
  c->type = t;
  /* SQL timestamps are microseconds: a JSON number in one is epoch us. */
  c->num_per_ms = 1000;
  map[i] = dp->n_columns++;
  return map[i];
}

static int cmp_op(enum sl_xop op, bool flip) {
  switch (op) {
  case SL_X_EQ: return SL_DEV_EQ;
  case SL_X_NE: return SL_DEV_NE;
  case SL_X_LT: return flip ? SL_DEV_GT : SL_DEV_LT;
  case SL_X_LE: return flip ? SL_DEV_GE : SL_DEV_LE;
  case SL_X_GT: return flip ? SL_DEV_LT : SL_DEV_GT;
  case SL_X_GE: return flip ? SL_DEV_LE : SL_DEV_GE;
  default: return 0;
  }
}

/* `column [NOT] IN (constants)`. */
static int add_in(const struct sl_plan *p, const struct sl_expr *e,
                  struct sl_dev_plan *dp, int32_t *map, struct sl_error *why) {
  const struct sl_expr *a = e->args[0];
  if (a->op != SL_X_COL || e->n_args - 1 > SL_DEV_MAX_LIST)
    return no(why, "WHERE '%s' is not a column IN a short constant list",
              e->text);
  struct sl_dev_pred *pr = &dp->preds[dp->n_preds];
  memset(pr, 0, sizeof *pr);
  int32_t bytes = 0;
  for (int32_t k = 1; k < e->n_args; k++) {
    const struct sl_expr *b = e->args[k];
    if (b->op != SL_X_CONST)
      return no(why, "WHERE '%s' has an IN list that is not constant", e->text);
    /* NULL in the list: a value not found is NULL, not FALSE (so NOT IN
     * is never TRUE). */
    if (b->value.is_null) {
      pr->list_null = 1;
      continue;
    }
    if (b->value.type != a->type)
      return no(why, "WHERE '%s' compares different types", e->text);
    int32_t j = pr->n_list;
    switch (a->type) {
    case SL_VT_I64: pr->list_i64[j] = b->value.u.i; break;
    case SL_VT_BOOL: pr->list_i64[j] = b->value.u.b; break;
    case SL_VT_F64: pr->list_f64[j] = b->value.u.f; break;
    case SL_VT_STR:
      if (bytes + b->value.u.s.n > SL_DEV_MAX_LIST_BYTES)
        return no(why, "WHERE '%s' has too long an IN list", e->text);
      memcpy(pr->list_str + bytes, b->value.u.s.p, (size_t)b->value.u.s.n);
      pr->list_off[j] = bytes;
      bytes += (int32_t)b->value.u.s.n;
      break;
    default:
      return no(why, "WHERE '%s' is an IN over a type the device does not run",
                e->text);
    }
    pr->n_list++;
    pr->list_off[pr->n_list] = bytes;
  }
  int c = column(p, a->col, dp, map, why);
  if (c < 0) return SL_ENOTSUP;
  pr->column = c;
  pr->cmp = SL_DEV_IN;
  pr->negate = e->negate;
  dp->n_preds++;
  return 0;
}

/* `column [NOT] [I]LIKE 'pattern'`. */
static int add_like(const struct sl_plan *p, const struct sl_expr *e,
                    struct sl_dev_plan *dp, int32_t *map,
                    struct sl_error *why) {
  const struct sl_expr *a = e->args[0], *b = e->args[1];
  if (a->op != SL_X_COL || a->type != SL_VT_STR || b->op != SL_X_CONST ||
      b->value.is_null || b->value.type != SL_VT_STR ||
      b->value.u.s.n >= SL_DEV_MAX_PATH)
    return no(why, "WHERE '%s' is not a column LIKE a short constant pattern",
              e->text);
  struct sl_dev_pred *pr = &dp->preds[dp->n_preds];
  memset(pr, 0, sizeof *pr);
  int c = column(p, a->col, dp, map, why);
  if (c < 0) return SL_ENOTSUP;
  pr->column = c;
  pr->cmp = SL_DEV_LIKE;
  pr->negate = e->negate;
  pr->ci = e->part == 1;
  memcpy(pr->str, b->value.u.s.p, (size_t)b->value.u.s.n);
  pr->str_len = (int32_t)b->value.u.s.n;
  dp->n_preds++;
  return 0;
}

/* One WHERE leaf: `column CMP constant`, `column [NOT] IN (...)`, `column
 * [NOT] [I]LIKE pattern`, `column IS [NOT] NULL` or a bool column; it
 * becomes predicate dp->n_preds - 1. */
static int add_leaf(const struct sl_plan *p, const struct sl_expr *e,
                    struct sl_dev_plan *dp, int32_t *map,
                    struct sl_error *why) {
  if (dp->n_preds >= SL_DEV_MAX_PREDS)
    return no(why, "more than 8 WHERE terms%s", "");
  if (e->op == SL_X_IN && e->n_args >= 2) return add_in(p, e, dp, map, why);
  if (e->op == SL_X_LIKE && e->n_args == 2) return add_like(p, e, dp, map, why);
  if ((e->op == SL_X_IS_NULL || e->op == SL_X_IS_NOT_NULL) && e->n_args == 1 &&
      e->args[0]->op == SL_X_COL) {
    int c = column(p, e->args[0]->col, dp, map, why);
    if (c < 0) return SL_ENOTSUP;
    struct sl_dev_pred *pr = &dp->preds[dp->n_preds];
    memset(pr, 0, sizeof *pr);
    pr->column = c;
    pr->cmp = SL_DEV_IS_NULL;
    pr->negate = e->op == SL_X_IS_NOT_NULL;
    dp->n_preds++;
    return 0;
  }
  if (e->op == SL_X_COL && e->type == SL_VT_BOOL) { /* WHERE flag */
    int c = column(p, e->col, dp, map, why);
    if (c < 0) return SL_ENOTSUP;
    struct sl_dev_pred *pr = &dp->preds[dp->n_preds];
    memset(pr, 0, sizeof *pr);
    pr->column = c;
    pr->cmp = SL_DEV_EQ;
    pr->i64 = 1;
    dp->n_preds++;
    return 0;
  }
  if (e->n_args != 2 || !cmp_op(e->op, false))
    return no(why, "WHERE '%s' is not a comparison of a column with a constant",
              e->text);
  const struct sl_expr *a = e->args[0], *b = e->args[1];
  bool flip = false;
  if (a->op == SL_X_CONST && b->op == SL_X_COL) {
    const struct sl_expr *t = a;
    a = b;
    b = t;
    flip = true;
  }
  if (a->op != SL_X_COL || b->op != SL_X_CONST || b->value.is_null)
    return no(why, "WHERE '%s' is not a comparison of a column with a constant",
              e->text);
  int c = column(p, a->col, dp, map, why);
  if (c < 0) return SL_ENOTSUP;
  struct sl_dev_pred *pr = &dp->preds[dp->n_preds];
  memset(pr, 0, sizeof *pr);
  pr->column = c;
  pr->cmp = cmp_op(e->op, flip);
  switch (b->value.type) {
  case SL_VT_I64:
  case SL_VT_BOOL:
    if (a->type != b->value.type)
      return no(why, "WHERE '%s' compares different types", e->text);
    pr->i64 = b->value.type == SL_VT_BOOL ? b->value.u.b : b->value.u.i;
    break;
  case SL_VT_F64:
    if (a->type != SL_VT_F64)
      return no(why, "WHERE '%s' compares different types", e->text);
    pr->f64 = b->value.u.f;
    break;
  case SL_VT_STR:
    if (a->type != SL_VT_STR ||
        (pr->cmp != SL_DEV_EQ && pr->cmp != SL_DEV_NE) ||
        b->value.u.s.n >= SL_DEV_MAX_PATH)
      return no(why,
                "WHERE '%s' is a string comparison the device does not run",
                e->text);
    /* The device compares decoded JSON strings, as the CPU does. */
    memcpy(pr->str, b->value.u.s.p, (size_t)b->value.u.s.n);
    pr->str_len = (int32_t)b->value.u.s.n;
    break;
  default:
    return no(why, "WHERE '%s' compares a type the device does not run",
              e->text);
  }
  dp->n_preds++;
  return 0;
}

/* Whether e is a tree of ANDs over leaves (the device ANDs its predicates
 * without a program). */
static bool conjunction(const struct sl_expr *e) {
  if (e->op == SL_X_OR || e->op == SL_X_NOT) return false;
  if (e->op != SL_X_AND) return true;
  for (int32_t k = 0; k < e->n_args; k++)
    if (!conjunction(e->args[k])) return false;
  return true;
}

static int add_step(struct sl_dev_plan *dp, int step, struct sl_error *why) {
  if (dp->n_prog >= SL_DEV_MAX_PROG)
    return no(why, "WHERE has more than %s AND/OR/NOT steps", "32");
  dp->prog[dp->n_prog++] = (int8_t)step;
  return 0;
}

/* WHERE as a postfix program: AND, OR and NOT over leaves, evaluated by
 * the device with SQL's three-valued logic. */
static int add_prog(const struct sl_plan *p, const struct sl_expr *e,
                    struct sl_dev_plan *dp, int32_t *map,
                    struct sl_error *why) {
  if ((e->op == SL_X_AND || e->op == SL_X_OR) && e->n_args >= 1) {
    int step = e->op == SL_X_AND ? SL_DEV_STEP_AND : SL_DEV_STEP_OR;
    for (int32_t k = 0; k < e->n_args; k++) {
      if (add_prog(p, e->args[k], dp, map, why)) return SL_ENOTSUP;
      if (k && add_step(dp, step, why)) return SL_ENOTSUP;
    }
    return 0;
  }
  if (e->op == SL_X_NOT && e->n_args == 1) {
    if (add_prog(p, e->args[0], dp, map, why)) return SL_ENOTSUP;
    return add_step(dp, SL_DEV_STEP_NOT, why);
  }
  if (add_leaf(p, e, dp, map, why)) return SL_ENOTSUP;
  return add_step(dp, dp->n_preds - 1, why);
}

/* WHERE: ANDs of leaves as plain predicates, anything with OR or NOT as a
 * program. */
static int add_preds(const struct sl_plan *p, const struct sl_expr *e,
                     struct sl_dev_plan *dp, int32_t *map,
                     struct sl_error *why) {
  if (!conjunction(e)) return add_prog(p, e, dp, map, why);
  if (e->op == SL_X_AND) {
    for (int32_t k = 0; k < e->n_args; k++)
      if (add_preds(p, e->args[k], dp, map, why)) return SL_ENOTSUP;
    return 0;
  }
  return add_leaf(p, e, dp, map, why);
}

static const char *agg_name(enum sl_agg_fn fn) {
  switch (fn) {
  case SL_AGG_QUANTILE_CONT: return "median/quantile_cont";
  case SL_AGG_QUANTILE_DISC: return "quantile_disc";
  case SL_AGG_APPROX_COUNT_DISTINCT: return "approx_count_distinct";
  case SL_AGG_APPROX_QUANTILE: return "approx_quantile";
  case SL_AGG_FIRST: return "first";
  case SL_AGG_LAST: return "last";
  case SL_AGG_ARG_MIN: return "arg_min";
  case SL_AGG_ARG_MAX: return "arg_max";
  case SL_AGG_BOOL_AND: return "bool_and";
  case SL_AGG_BOOL_OR: return "bool_or";
  default: return "(this one)";
  }
}

static int64_t part_ms(int part) {
  switch (part) {
  case SL_PART_MILLISECOND: return 1;
  case SL_PART_SECOND: return 1000;
  case SL_PART_MINUTE: return 60000;
  case SL_PART_HOUR: return 3600000;
  case SL_PART_DAY: return 86400000;
  default: return 0;
  }
}

int sl__sql_device_plan(const struct sl_plan *p, const struct sl__source *src,
                        struct sl_dev_plan *dp, struct sl_error *why) {
  memset(dp, 0, sizeof *dp);
  if (!p->aggregate) return no(why, "the query does not aggregate%s", "");
  bool raw = src->kind == SRC_TABLE && src->opts.device_json;
  if (!raw && (src->kind != SRC_JSON || src->n_files != 1 || src->n_parts))
    return no(why, "the input is not one JSON Lines file%s", "");
  if (!raw) {
    const char *f = src->files[0];
    size_t fl = strlen(f);
    if ((fl > 3 && !strcmp(f + fl - 3, ".gz")) ||
        (fl > 4 && !strcmp(f + fl - 4, ".zst")))
      return no(why, "'%s' is compressed", f);
  }
  if (p->n_keys > SL_DEV_MAX_KEYS)
    return no(why, "more than 4 GROUP BY keys%s", "");
  if (p->n_aggs > SL_DEV_MAX_AGGS)
    return no(why, "more than 16 aggregates%s", "");
  int32_t map[1024];
  if (p->n_inputs > 1024) return no(why, "too many input columns%s", "");
  for (int32_t i = 0; i < p->n_inputs; i++)
    map[i] = -1;
  if (p->where && add_preds(p, p->where, dp, map, why)) return SL_ENOTSUP;
  for (int32_t k = 0; k < p->n_keys; k++) {
    const struct sl_expr *e = p->keys[k];
    struct sl_dev_key *dk = &dp->keys[dp->n_keys];
    dk->bucket_ms = 0;
    if (e->op == SL_X_COL && e->type != SL_VT_TS) {
      dk->column = column(p, e->col, dp, map, why);
    } else if (e->op == SL_X_DATE_TRUNC && e->args[0]->op == SL_X_COL &&
               part_ms(e->part)) {
      dk->column = column(p, e->args[0]->col, dp, map, why);
      dk->bucket_ms = part_ms(e->part);
    } else if (e->op == SL_X_TIME_BUCKET && e->args[1]->op == SL_X_COL &&
               e->args[0]->op == SL_X_CONST &&
               e->args[0]->value.type == SL_VT_INTERVAL &&
               e->args[0]->value.u.iv.months == 0) {
      const struct sl_interval *iv = &e->args[0]->value.u.iv;
      int64_t us = iv->days * INT64_C(86400000000) + iv->micros;
      if (us <= 0 || us % 1000)
        return no(why, "time_bucket width '%s' is not whole milliseconds",
                  e->text);
      dk->column = column(p, e->args[1]->col, dp, map, why);
      dk->bucket_ms = us / 1000;
    } else {
      return no(why, "GROUP BY '%s' has no device equivalent", e->text);
    }
    if (dk->column < 0) return SL_ENOTSUP;
    dp->n_keys++;
  }
  for (int32_t a = 0; a < p->n_aggs; a++) {
    const struct sl_agg_spec *s = &p->aggs[a];
    struct sl_dev_agg *da = &dp->aggs[dp->n_aggs];
    da->column = -1;
    da->q = s->q;
    switch (s->fn) {
    case SL_AGG_COUNT_STAR: da->op = SL_DEV_COUNT_STAR; break;
    case SL_AGG_COUNT: da->op = SL_DEV_COUNT; break;
    case SL_AGG_SUM: da->op = SL_DEV_SUM; break;
    case SL_AGG_AVG: da->op = SL_DEV_AVG; break;
    case SL_AGG_MIN: da->op = SL_DEV_MIN; break;
    case SL_AGG_MAX: da->op = SL_DEV_MAX; break;
    case SL_AGG_VAR_POP: da->op = SL_DEV_VAR_POP; break;
    case SL_AGG_VAR_SAMP: da->op = SL_DEV_VAR_SAMP; break;
    case SL_AGG_STDDEV_POP: da->op = SL_DEV_STDDEV_POP; break;
    case SL_AGG_STDDEV_SAMP: da->op = SL_DEV_STDDEV_SAMP; break;
    case SL_AGG_COUNT_DISTINCT: da->op = SL_DEV_COUNT_DISTINCT; break;
    case SL_AGG_FIRST: da->op = SL_DEV_FIRST; break;
    case SL_AGG_LAST: da->op = SL_DEV_LAST; break;
    case SL_AGG_ARG_MIN: da->op = SL_DEV_ARG_MIN; break;
    case SL_AGG_ARG_MAX: da->op = SL_DEV_ARG_MAX; break;
    case SL_AGG_BOOL_AND: da->op = SL_DEV_BOOL_AND; break;
    case SL_AGG_BOOL_OR: da->op = SL_DEV_BOOL_OR; break;
    case SL_AGG_QUANTILE_CONT: da->op = SL_DEV_QUANTILE_CONT; break;
    case SL_AGG_QUANTILE_DISC:
    case SL_AGG_APPROX_QUANTILE: /* the CPU engine computes it exactly */
      da->op = SL_DEV_QUANTILE_DISC;
      break;
    case SL_AGG_APPROX_COUNT_DISTINCT:
      da->op = SL_DEV_APPROX_COUNT_DISTINCT;
      break;
    default:
      return no(why, "aggregate %s has no device equivalent", agg_name(s->fn));
    }
    if (da->op != SL_DEV_COUNT_STAR) {
      const struct sl_expr *arg = p->agg_args[s->arg];
      if (arg->op != SL_X_COL)
        return no(why, "aggregate argument '%s' is not a column", arg->text);
      bool numeric = arg->type == SL_VT_I64 || arg->type == SL_VT_F64;
      /* Device timestamps are milliseconds: distinct microseconds could
       * collapse into one. */
      if (da->op == SL_DEV_COUNT_DISTINCT && arg->type == SL_VT_TS)
        return no(why, "count(DISTINCT '%s') over a timestamp stays on the CPU",
                  arg->text);
      bool pick = da->op >= SL_DEV_FIRST;
      /* first/last/arg_min/arg_max return the value itself: numbers and
       * strings (device timestamps are milliseconds, the CPU's micro). */
      if (pick && arg->type != SL_VT_I64 && arg->type != SL_VT_F64 &&
          arg->type != SL_VT_STR)
        return no(why, "first/last/arg_min/arg_max of '%s' stays on the CPU",
                  arg->text);
      if (da->op >= SL_DEV_ARG_MIN) {
        const struct sl_expr *val = p->agg_args[s->arg2];
        if (val->op != SL_X_COL ||
            (val->type != SL_VT_I64 && val->type != SL_VT_F64))
          return no(why, "arg_min/arg_max by '%s' needs a number column",
                    val->text);
        da->column2 = column(p, val->col, dp, map, why);
        if (da->column2 < 0) return SL_ENOTSUP;
      }
      bool logic = da->op == SL_DEV_BOOL_AND || da->op == SL_DEV_BOOL_OR;
      if (logic && arg->type != SL_VT_BOOL)
        return no(why, "bool_and/bool_or over '%s' needs a bool column",
                  arg->text);
      /* HyperLogLog hashes the value's bits: the device's parse of a
       * double with more than 15 significant digits can differ from the
       * CPU reader's in the last bit, which would change the estimate. */
      if (da->op == SL_DEV_APPROX_COUNT_DISTINCT && arg->type != SL_VT_I64)
        return no(why,
                  "approx_count_distinct of '%s' (not an integer) stays "
                  "on the CPU",
                  arg->text);
      /* min/max of strings: compared decoded, bytewise, as the CPU does */
      bool strmm = (da->op == SL_DEV_MIN || da->op == SL_DEV_MAX) &&
                   arg->type == SL_VT_STR;
      if (da->op != SL_DEV_COUNT && da->op != SL_DEV_COUNT_DISTINCT && !pick &&
          !logic && !strmm && !numeric)
        return no(why, "aggregate over '%s' needs a number on the device",
                  arg->text);
      da->column = column(p, arg->col, dp, map, why);
      if (da->column < 0) return SL_ENOTSUP;
    }
    dp->n_aggs++;
  }
  return 0;
}

/* Device result columns -> vecs in the result arena. */
static int to_vec(struct sl_arena *ar, const struct sl_array *a, enum sl_vt t,
                  int64_t scale, struct sl_vec *v) {
  int64_t n = a->length;
  SL_RETURN_NOT_OK(sl__vec_alloc(ar, t, n, v));
  if (sl_array_null_count((struct sl_array *)a) > 0) {
    SL_RETURN_NOT_OK(sl__vec_add_valid(ar, v));
    for (int64_t r = 0; r < n; r++)
      v->valid[r] = sl_array_is_valid(a, r);
  }
  for (int64_t r = 0; r < n; r++) {
    bool ok = sl_array_is_valid(a, r);
    switch (t) {
    case SL_VT_STR: {
      int64_t len = 0;
      const char *s = ok ? sl_array_str(a, r, &len) : "";
      char *c = sl_arena_alloc(ar, (size_t)(len ? len : 1));
      if (!c) return SL_ENOMEM;
      memcpy(c, s, (size_t)len);
      v->d.s[r].p = c;
      v->d.s[r].n = len;
      break;
    }
    case SL_VT_F64:
      v->d.f[r] = ok ? (a->type == SL_TYPE_FLOAT64 ? sl_array_f64(a)[r]
                                                   : (double)sl_array_i64(a)[r])
                     : 0;
      break;
    case SL_VT_BOOL: v->d.b[r] = ok && sl_array_bool(a, r); break;
    default: v->d.i[r] = ok ? sl_array_i64(a)[r] * scale : 0; break;
    }
  }
  return 0;
}

/* Runs dp over data[0, len) (named `what` in errors) and converts the
 * result into vecs. */
static int run_on(struct sl_query *q, struct sl_device *dev,
                  const struct sl_dev_plan *dp, const char *data, int fd,
                  size_t len, const char *what, struct sl_vec **out_cols,
                  int64_t *out_groups, struct sl_device_stats *stats,
                  struct sl_error *err) {
  struct sl_plan *p = q->plan;
  const char *names[SL_DEV_MAX_KEYS + SL_DEV_MAX_AGGS];
  char buf[SL_DEV_MAX_KEYS + SL_DEV_MAX_AGGS][16];
  for (int i = 0; i < dp->n_keys + dp->n_aggs; i++) {
    snprintf(buf[i], sizeof buf[i], "c%d", i);
    names[i] = buf[i];
  }
  struct sl_batch *b = NULL;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = fd >= 0
               ? sl_device_groupby_fd(dev, dp, names, fd, len, &b, stats, err)
               : sl_device_groupby_json(dev, dp, names, data, len, 0, &b, stats,
                                        err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (getenv("SLUICE_TRACE"))
    fprintf(stderr, "sql: device group-by over %zu bytes: %.4f s\n", len,
            (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  if (rc) return rc;
  if (stats->bad_lines && !q->opts.skip_bad_lines) {
    sl_batch_free(b);
    return sl_error_set(
        err, SL_EINVAL,
        "'%s': %lld malformed JSON lines (use --skip-bad-lines, or "
        "--device cpu to see the first one's position)",
        what, (long long)stats->bad_lines);
  }
  int64_t n = b->length;
  struct sl_vec *cols = sl_arena_alloc(
      &q->result_arena, sizeof *cols * (size_t)(p->n_keys + p->n_aggs + 1));
  if (!cols) rc = SL_ENOMEM;
  for (int32_t k = 0; !rc && k < p->n_keys; k++) {
    enum sl_vt t = p->keys[k]->type;
    rc = to_vec(&q->result_arena, b->columns[k], t, t == SL_VT_TS ? 1000 : 1,
                &cols[k]);
  }
  for (int32_t a = 0; !rc && a < p->n_aggs; a++)
    rc = to_vec(&q->result_arena, b->columns[p->n_keys + a],
                p->aggs[a].out_type, 1, &cols[p->n_keys + a]);
  sl_batch_free(b);
  if (rc) return sl_error_set(err, rc, "device result: %s", sl_status_name(rc));
  q->rows_in = stats->rows_in;
  q->bad_lines = stats->bad_lines;
  *out_cols = cols;
  *out_groups = n;
  return 0;
}

int sl__sql_device_run(struct sl_query *q, struct sl_device *dev,
                       const struct sl_dev_plan *dp, struct sl_vec **out_cols,
                       int64_t *out_groups, struct sl_device_stats *stats,
                       struct sl_error *err) {
  if (q->src->kind == SRC_TABLE) /* rows handed over as raw JSON Lines */
    return run_on(q, dev, dp, q->opts.device_json, -1, q->opts.device_json_len,
                  "the events", out_cols, out_groups, stats, err);
  /* A file: the backend reads it itself, straight into pinned memory. */
  const char *path = q->src->files[0];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) {
    int e = errno;
    if (fd >= 0) close(fd);
    return sl_error_set(err, SL_EIO, "'%s': %s", path, strerror(e));
  }
  int rc = run_on(q, dev, dp, NULL, fd, (size_t)st.st_size, path, out_cols,
                  out_groups, stats, err);
  close(fd);
  return rc;
}
