/* SQL binder: scalar functions (strings, numbers, time, choices) and
 * aggregate calls, with argument counts and types checked. */
#include <stdio.h>
#include <string.h>

#include "sql/binder.h"

static int argc_error(struct binder *B, const struct sl_ast *a,
                      const char *want) {
  return sl__b_error(B, a, SL_EINVAL, "%s() takes %s, got %d in '%s'", a->name,
                     want, a->n_args, sl__b_text(B, a));
}

static int bind_args(struct binder *B, const struct sl_ast *a,
                     struct sl_expr *e) {
  for (int32_t i = 0; i < a->n_args; i++)
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[i], &e->args[i]));
  return 0;
}

/* Makes a time argument a timestamp (strings are parsed, dates widened). */
static int to_time(struct binder *B, const struct sl_ast *a,
                   struct sl_expr **x) {
  enum sl_vt t = (*x)->type;
  if (t == SL_VT_TS || t == SL_VT_DATE) return 0;
  if (t == SL_VT_STR || t == SL_VT_NULL) return sl__b_coerce(B, x, SL_VT_TS);
  return sl__b_type_error(B, a, a->name, t, SL_VT_COUNT_);
}

static int part_arg(struct binder *B, const struct sl_ast *a, int32_t i,
                    enum sl_part *p) {
  const char *s = "";
  size_t n = 0;
  SL_RETURN_NOT_OK(sl__b_const_str(B, a, i, &s, &n));
  if (sl__part_parse(s, n, p))
    return sl__b_error(
        B, a->args[i], SL_EINVAL,
        "unknown date part '%s' in '%s' (try second, "
        "minute, hour, day, week, month, quarter, year, dow, doy, epoch)",
        s, sl__b_text(B, a));
  return 0;
}

int sl__b_scalar_func(struct binder *B, const struct sl_ast *a,
                      struct sl_expr **out) {
  const char *n = a->name;
  int32_t na = a->n_args;
  struct sl_expr *e;
  if (a->star_arg)
    return sl__b_error(B, a, SL_EINVAL,
                       "%s(*) is not a function; did you mean count(*)?", n);
  /* time functions with a constant part */
  if (!strcmp(n, "date_trunc") || !strcmp(n, "datetrunc") ||
      !strcmp(n, "date_part") || !strcmp(n, "datepart")) {
    if (na != 2) return argc_error(B, a, "2 arguments (part, time)");
    bool trunc = n[4] == 't' || n[5] == 't';
    enum sl_part part;
    SL_RETURN_NOT_OK(part_arg(B, a, 0, &part));
    if (trunc && part > SL_PART_YEAR)
      return sl__b_error(B, a, SL_EINVAL, "date_trunc cannot truncate to '%s'",
                         a->args[0]->sval);
    e = sl__b_expr(B, trunc ? SL_X_DATE_TRUNC : SL_X_DATE_PART,
                   trunc                   ? SL_VT_TS
                   : part == SL_PART_EPOCH ? SL_VT_F64
                                           : SL_VT_I64,
                   1, a);
    if (!e) return SL_ENOMEM;
    e->part = (int32_t)part;
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[1], &e->args[0]));
    SL_RETURN_NOT_OK(to_time(B, a, &e->args[0]));
    *out = e;
    return 0;
  }
  static const struct {
    const char *name;
    enum sl_part part;
  } parts[] = {
      {"year", SL_PART_YEAR},       {"month", SL_PART_MONTH},
      {"day", SL_PART_DAY},         {"hour", SL_PART_HOUR},
      {"minute", SL_PART_MINUTE},   {"second", SL_PART_SECOND},
      {"dayofweek", SL_PART_DOW},   {"dayofyear", SL_PART_DOY},
      {"quarter", SL_PART_QUARTER}, {"week", SL_PART_WEEK},
      {"epoch", SL_PART_EPOCH},     {"isodow", SL_PART_ISODOW},
      {"dayofmonth", SL_PART_DAY},  {"millisecond", SL_PART_MILLISECOND}};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (!strcmp(n, parts[i].name)) {
      if (na != 1) return argc_error(B, a, "1 argument");
      e = sl__b_expr(B, SL_X_DATE_PART,
                     parts[i].part == SL_PART_EPOCH ? SL_VT_F64 : SL_VT_I64, 1,
                     a);
      if (!e) return SL_ENOMEM;
      e->part = (int32_t)parts[i].part;
      SL_RETURN_NOT_OK(sl__b_bind(B, a->args[0], &e->args[0]));
      SL_RETURN_NOT_OK(to_time(B, a, &e->args[0]));
      *out = e;
      return 0;
    }
  if (!strcmp(n, "time_bucket")) {
    if (na != 2) return argc_error(B, a, "2 arguments (interval, time)");
    e = sl__b_expr(B, SL_X_TIME_BUCKET, SL_VT_TS, 2, a);
    if (!e) return SL_ENOMEM;
    SL_RETURN_NOT_OK(bind_args(B, a, e));
    if (e->args[0]->type == SL_VT_STR && e->args[0]->op == SL_X_CONST) {
      struct sl_str s = e->args[0]->value.u.s;
      struct sl_interval iv;
      if (!sl__parse_interval(s.p, (size_t)s.n, &iv))
        return sl__b_error(B, a->args[0], SL_EINVAL,
                           "cannot read interval '%.*s'", (int)s.n, s.p);
      e->args[0]->type = e->args[0]->value.type = SL_VT_INTERVAL;
      e->args[0]->value.u.iv = iv;
    }
    if (e->args[0]->type != SL_VT_INTERVAL || e->args[0]->op != SL_X_CONST)
      return sl__b_error(B, a->args[0], SL_EINVAL,
                         "time_bucket needs a constant interval "
                         "such as INTERVAL '5 minutes' in '%s'",
                         sl__b_text(B, a));
    SL_RETURN_NOT_OK(to_time(B, a, &e->args[1]));
    *out = e;
    return 0;
  }
  if (!strcmp(n, "epoch_ms")) {
    if (na != 1) return argc_error(B, a, "1 argument");
    struct sl_expr *x;
    SL_RETURN_NOT_OK(sl__b_bind(B, a->args[0], &x));
    bool from_int = x->type == SL_VT_I64;
    if (!from_int) SL_RETURN_NOT_OK(to_time(B, a, &x));
    e = sl__b_expr(B, from_int ? SL_X_MS_TO_TS : SL_X_EPOCH_MS,
                   from_int ? SL_VT_TS : SL_VT_I64, 1, a);
    if (!e) return SL_ENOMEM;
    e->args[0] = x;
    *out = e;
    return 0;
  }
  if (!strcmp(n, "to_timestamp")) {
    if (na != 1)
      return argc_error(B, a, "1 argument (seconds since the epoch)");
    e = sl__b_expr(B, SL_X_TO_TIMESTAMP, SL_VT_TS, 1, a);
    if (!e) return SL_ENOMEM;
    SL_RETURN_NOT_OK(bind_args(B, a, e));
    if (!sl__vt_is_numeric(e->args[0]->type) && e->args[0]->type != SL_VT_NULL)
      return sl__b_type_error(B, a, "to_timestamp", e->args[0]->type,
                              SL_VT_COUNT_);
    SL_RETURN_NOT_OK(sl__b_coerce(B, &e->args[0], SL_VT_F64));
    *out = e;
    return 0;
  }
  /* strings */
  static const struct {
    const char *name;
    enum sl_xop op;
    int min, max;
    enum sl_vt ret;
  } sf[] = {{"lower", SL_X_LOWER, 1, 1, SL_VT_STR},
            {"lcase", SL_X_LOWER, 1, 1, SL_VT_STR},
            {"upper", SL_X_UPPER, 1, 1, SL_VT_STR},
            {"ucase", SL_X_UPPER, 1, 1, SL_VT_STR},
            {"length", SL_X_LENGTH, 1, 1, SL_VT_I64},
            {"len", SL_X_LENGTH, 1, 1, SL_VT_I64},
            {"char_length", SL_X_LENGTH, 1, 1, SL_VT_I64},
            {"strlen", SL_X_LENGTH, 1, 1, SL_VT_I64},
            {"substr", SL_X_SUBSTR, 2, 3, SL_VT_STR},
            {"substring", SL_X_SUBSTR, 2, 3, SL_VT_STR},
            {"starts_with", SL_X_STARTS_WITH, 2, 2, SL_VT_BOOL},
            {"prefix", SL_X_STARTS_WITH, 2, 2, SL_VT_BOOL},
            {"ends_with", SL_X_ENDS_WITH, 2, 2, SL_VT_BOOL},
            {"suffix", SL_X_ENDS_WITH, 2, 2, SL_VT_BOOL},
            {"contains", SL_X_CONTAINS, 2, 2, SL_VT_BOOL},
            {"replace", SL_X_REPLACE, 3, 3, SL_VT_STR},
            {"trim", SL_X_TRIM, 1, 1, SL_VT_STR},
            {"ltrim", SL_X_LTRIM, 1, 1, SL_VT_STR},
            {"rtrim", SL_X_RTRIM, 1, 1, SL_VT_STR},
            {"concat", SL_X_CONCAT, 1, 64, SL_VT_STR}};
  for (size_t i = 0; i < sizeof sf / sizeof sf[0]; i++) {
    if (strcmp(n, sf[i].name)) continue;
    if (na < sf[i].min || na > sf[i].max) {
      char want[64];
      snprintf(want, sizeof want,
               sf[i].min == sf[i].max ? "%d argument(s)" : "%d to %d arguments",
               sf[i].min, sf[i].max);
      return argc_error(B, a, want);
    }
    e = sl__b_expr(B, sf[i].op, sf[i].ret, na, a);
    if (!e) return SL_ENOMEM;
    SL_RETURN_NOT_OK(bind_args(B, a, e));
    for (int32_t j = 0; j < na; j++) {
      enum sl_vt want =
          (sf[i].op == SL_X_SUBSTR && j > 0) ? SL_VT_I64 : SL_VT_STR;
      enum sl_vt have = e->args[j]->type;
      if (sf[i].op != SL_X_CONCAT && have != want && have != SL_VT_NULL &&
          !(want == SL_VT_STR && sf[i].op == SL_X_LENGTH && false))
        return sl__b_error(
            B, a, SL_EINVAL,
            "type error in '%s': argument %d of %s() must be %s, not %s",
            sl__b_text(B, a), j + 1, n, sl__vt_name(want), sl__vt_name(have));
      SL_RETURN_NOT_OK(sl__b_coerce(B, &e->args[j], want));
    }
    *out = e;
    return 0;
  }
  /* numbers */
  static const struct {
    const char *name;
    enum sl_xop op;
    int min, max;
    bool to_f64;
  } nf[] = {
      {"abs", SL_X_ABS, 1, 1, false},      {"round", SL_X_ROUND, 1, 2, false},
      {"floor", SL_X_FLOOR, 1, 1, false},  {"ceil", SL_X_CEIL, 1, 1, false},
      {"ceiling", SL_X_CEIL, 1, 1, false}, {"sqrt", SL_X_SQRT, 1, 1, true},
      {"ln", SL_X_LN, 1, 1, true},         {"exp", SL_X_EXP, 1, 1, true},
      {"pow", SL_X_POW, 2, 2, true},       {"power", SL_X_POW, 2, 2, true}};
  for (size_t i = 0; i < sizeof nf / sizeof nf[0]; i++) {
    if (strcmp(n, nf[i].name)) continue;
    if (na < nf[i].min || na > nf[i].max)
      return argc_error(B, a,
                        nf[i].min == nf[i].max
                            ? (nf[i].min == 1 ? "1 argument" : "2 arguments")
                            : "1 or 2 arguments");
    e = sl__b_expr(B, nf[i].op, SL_VT_F64, na, a);
    if (!e) return SL_ENOMEM;
    SL_RETURN_NOT_OK(bind_args(B, a, e));
    for (int32_t j = 0; j < na; j++) {
      enum sl_vt t = e->args[j]->type;
      if (t == SL_VT_NULL)
        SL_RETURN_NOT_OK(sl__b_coerce(B, &e->args[j], SL_VT_F64));
      else if (!sl__vt_is_numeric(t))
        return sl__b_type_error(B, a, n, t, SL_VT_COUNT_);
    }
    enum sl_vt t0 = e->args[0]->type;
    if (nf[i].op == SL_X_ROUND && na == 2)
      SL_RETURN_NOT_OK(sl__b_coerce(B, &e->args[1], SL_VT_I64));
    if (!nf[i].to_f64 && t0 == SL_VT_I64 && nf[i].op != SL_X_ABS) {
      *out = e->args[0]; /* rounding an integer is the integer */
      return 0;
    }
    e->type = nf[i].to_f64 ? SL_VT_F64 : t0;
    if (nf[i].to_f64 || t0 == SL_VT_F64) {
      SL_RETURN_NOT_OK(sl__b_coerce(B, &e->args[0], SL_VT_F64));
      if (nf[i].op == SL_X_POW)
        SL_RETURN_NOT_OK(sl__b_coerce(B, &e->args[1], SL_VT_F64));
    }
    *out = e;
    return 0;
  }
  /* choices: coalesce, ifnull, nullif, greatest, least */
  enum sl_xop cop = !strcmp(n, "coalesce") || !strcmp(n, "ifnull")
                        ? SL_X_COALESCE
                    : !strcmp(n, "nullif")   ? SL_X_NULLIF
                    : !strcmp(n, "greatest") ? SL_X_GREATEST
                    : !strcmp(n, "least")    ? SL_X_LEAST
                                             : SL_X_OP_COUNT_;
  if (cop != SL_X_OP_COUNT_) {
    if (na < 1 || (cop == SL_X_NULLIF && na != 2) ||
        (!strcmp(n, "ifnull") && na != 2))
      return argc_error(B, a,
                        cop == SL_X_NULLIF || !strcmp(n, "ifnull")
                            ? "2 arguments"
                            : "at least 1 argument");
    e = sl__b_expr(B, cop, SL_VT_NULL, na, a);
    if (!e) return SL_ENOMEM;
    SL_RETURN_NOT_OK(bind_args(B, a, e));
    enum sl_vt t = SL_VT_NULL;
    for (int32_t j = 0; j < na; j++) {
      struct sl_expr *v = e->args[j];
      if (v->type == SL_VT_NULL) continue;
      if (t == SL_VT_NULL) {
        t = v->type;
        continue;
      }
      struct sl_expr tmp = {.type = t, .op = SL_X_COL};
      enum sl_vt u = sl__b_unify(&tmp, v);
      if (u == SL_VT_NULL) return sl__b_type_error(B, a, n, t, v->type);
      t = u;
    }
    if (t == SL_VT_NULL) t = SL_VT_STR;
    for (int32_t j = 0; j < na; j++)
      SL_RETURN_NOT_OK(sl__b_coerce(B, &e->args[j], t));
    e->type = t;
    *out = e;
    return 0;
  }
  return sl__b_error(B, a, SL_EINVAL, "unknown function '%s'", n);
}

static int quantile_arg(struct binder *B, const struct sl_ast *a, double *q) {
  if (a->n_args != 2) return argc_error(B, a, "2 arguments (value, fraction)");
  const struct sl_ast *x = a->args[1];
  double v = x->kind == AST_INT     ? (double)x->ival
             : x->kind == AST_FLOAT ? x->fval
                                    : -1;
  if ((x->kind != AST_INT && x->kind != AST_FLOAT) || v < 0 || v > 1)
    return sl__b_error(
        B, x, SL_EINVAL,
        "the fraction of %s() must be a constant between 0 and 1", a->name);
  *q = v;
  return 0;
}

static int add_agg_arg(struct binder *B, struct sl_expr *x, int32_t *idx) {
  struct sl_plan *p = B->p;
  if (p->n_agg_args == B->cap_agg_args) {
    int32_t nc = B->cap_agg_args ? B->cap_agg_args * 2 : 8;
    struct sl_expr **na = sl__b_alloc(B, sizeof *na * (size_t)nc);
    if (!na) return SL_ENOMEM;
    if (p->n_agg_args)
      memcpy(na, p->agg_args, sizeof *na * (size_t)p->n_agg_args);
    p->agg_args = na;
    B->cap_agg_args = nc;
  }
  *idx = p->n_agg_args;
  p->agg_args[p->n_agg_args++] = x;
  return 0;
}

int sl__b_agg_ref(struct binder *B, const struct sl_ast *a,
                  struct sl_expr **out) {
  struct sl_plan *p = B->p;
  int32_t k = 0;
  for (; k < p->n_aggs; k++)
    if (sl__b_ast_eq(B->agg_asts[k], a)) break;
  if (k == p->n_aggs) {
    struct sl_agg_spec s = {.arg = -1, .arg2 = -1, .q = 0.5};
    const char *n = a->name;
    struct sl_expr *x = NULL, *y = NULL;
    B->in_agg = true;
    if (a->star_arg) {
      if (strcmp(n, "count"))
        return sl__b_error(B, a, SL_EINVAL,
                           "%s(*) is not allowed; only count(*)", n);
      s.fn = SL_AGG_COUNT_STAR;
    } else {
      if (a->n_args < 1) return argc_error(B, a, "an argument");
      SL_RETURN_NOT_OK(sl__b_bind(B, a->args[0], &x));
      if (a->n_args > 1 && (!strcmp(n, "arg_min") || !strcmp(n, "arg_max") ||
                            !strcmp(n, "argmin") || !strcmp(n, "argmax") ||
                            !strcmp(n, "min_by") || !strcmp(n, "max_by")))
        SL_RETURN_NOT_OK(sl__b_bind(B, a->args[1], &y));
    }
    B->in_agg = false;
    enum sl_vt t = x ? x->type : SL_VT_NULL;
    if (x && t == SL_VT_NULL) {
      SL_RETURN_NOT_OK(sl__b_coerce(B, &x, SL_VT_I64));
      t = SL_VT_I64;
    }
    bool numeric = sl__vt_is_numeric(t);
    s.in_type = t;
    s.out_type = t;
    bool one_arg = true;
    if (a->star_arg) {
      s.out_type = SL_VT_I64;
    } else if (!strcmp(n, "count")) {
      s.fn = a->distinct ? SL_AGG_COUNT_DISTINCT : SL_AGG_COUNT;
      s.out_type = SL_VT_I64;
    } else if (!strcmp(n, "sum")) {
      if (t == SL_VT_BOOL) SL_RETURN_NOT_OK(sl__b_coerce(B, &x, t = SL_VT_I64));
      if (!sl__vt_is_numeric(t))
        return sl__b_type_error(B, a, "sum()", t, SL_VT_COUNT_);
      s.fn = SL_AGG_SUM;
      s.in_type = s.out_type = t;
    } else if (!strcmp(n, "avg") || !strcmp(n, "mean")) {
      if (!numeric) return sl__b_type_error(B, a, "avg()", t, SL_VT_COUNT_);
      s.fn = SL_AGG_AVG;
      s.out_type = SL_VT_F64;
    } else if (!strcmp(n, "min") || !strcmp(n, "max")) {
      if (t == SL_VT_INTERVAL)
        return sl__b_type_error(B, a, n, t, SL_VT_COUNT_);
      s.fn = n[1] == 'i' ? SL_AGG_MIN : SL_AGG_MAX;
    } else if (!strncmp(n, "stddev", 6) || !strncmp(n, "var", 3)) {
      if (!numeric) return sl__b_type_error(B, a, n, t, SL_VT_COUNT_);
      SL_RETURN_NOT_OK(sl__b_coerce(B, &x, SL_VT_F64));
      s.in_type = s.out_type = SL_VT_F64;
      bool pop = strstr(n, "_pop") != NULL;
      s.fn = n[0] == 's' ? (pop ? SL_AGG_STDDEV_POP : SL_AGG_STDDEV_SAMP)
                         : (pop ? SL_AGG_VAR_POP : SL_AGG_VAR_SAMP);
    } else if (!strcmp(n, "median") || !strcmp(n, "quantile_cont")) {
      if (n[0] == 'q') SL_RETURN_NOT_OK(quantile_arg(B, a, &s.q));
      one_arg = n[0] == 'm';
      if (numeric || t == SL_VT_TS) {
        s.fn = SL_AGG_QUANTILE_CONT;
        s.out_type = t == SL_VT_TS ? SL_VT_TS : SL_VT_F64;
      } else if (t == SL_VT_STR || t == SL_VT_DATE) {
        s.fn = SL_AGG_QUANTILE_DISC;
      } else {
        return sl__b_type_error(B, a, n, t, SL_VT_COUNT_);
      }
    } else if (!strcmp(n, "quantile") || !strcmp(n, "quantile_disc") ||
               !strcmp(n, "approx_quantile")) {
      SL_RETURN_NOT_OK(quantile_arg(B, a, &s.q));
      one_arg = false;
      if (t == SL_VT_BOOL || t == SL_VT_INTERVAL)
        return sl__b_type_error(B, a, n, t, SL_VT_COUNT_);
      s.fn = n[0] == 'a' ? SL_AGG_APPROX_QUANTILE : SL_AGG_QUANTILE_DISC;
    } else if (!strcmp(n, "approx_count_distinct")) {
      s.fn = SL_AGG_APPROX_COUNT_DISTINCT;
      s.out_type = SL_VT_I64;
    } else if (!strcmp(n, "first") || !strcmp(n, "any_value") ||
               !strcmp(n, "last")) {
      s.fn = n[0] == 'l' ? SL_AGG_LAST : SL_AGG_FIRST;
    } else if (!strcmp(n, "bool_and") || !strcmp(n, "bool_or")) {
      if (t != SL_VT_BOOL) return sl__b_type_error(B, a, n, t, SL_VT_COUNT_);
      s.fn = n[5] == 'a' ? SL_AGG_BOOL_AND : SL_AGG_BOOL_OR;
    } else { /* arg_min / arg_max and their aliases */
      if (a->n_args != 2) return argc_error(B, a, "2 arguments (arg, val)");
      one_arg = false;
      s.fn = (strstr(n, "min") != NULL) ? SL_AGG_ARG_MIN : SL_AGG_ARG_MAX;
      if (y->type == SL_VT_NULL)
        SL_RETURN_NOT_OK(sl__b_coerce(B, &y, SL_VT_I64));
      if (y->type == SL_VT_BOOL || y->type == SL_VT_INTERVAL)
        return sl__b_type_error(B, a, n, y->type, SL_VT_COUNT_);
      s.in_type2 = y->type;
    }
    if (one_arg && a->n_args > 1) return argc_error(B, a, "1 argument");
    if (a->distinct && s.fn != SL_AGG_COUNT_DISTINCT)
      return sl__b_error(
          B, a, SL_ENOTSUP,
          "DISTINCT is supported in count(DISTINCT x) only, not in '%s'",
          sl__b_text(B, a));
    if (x) SL_RETURN_NOT_OK(add_agg_arg(B, x, &s.arg));
    if (y) SL_RETURN_NOT_OK(add_agg_arg(B, y, &s.arg2));
    if (p->n_aggs == B->cap_aggs) {
      int32_t nc = B->cap_aggs ? B->cap_aggs * 2 : 8;
      struct sl_agg_spec *ns = sl__b_alloc(B, sizeof *ns * (size_t)nc);
      struct sl_ast **nast = sl__b_alloc(B, sizeof *nast * (size_t)nc);
      if (!ns || !nast) return SL_ENOMEM;
      if (p->n_aggs) {
        memcpy(ns, p->aggs, sizeof *ns * (size_t)p->n_aggs);
        memcpy(nast, B->agg_asts, sizeof *nast * (size_t)p->n_aggs);
      }
      p->aggs = ns;
      B->agg_asts = nast;
      B->cap_aggs = nc;
    }
    p->aggs[k] = s;
    B->agg_asts[k] = (struct sl_ast *)a;
    p->n_aggs++;
  }
  struct sl_expr *e = sl__b_expr(B, SL_X_COL, p->aggs[k].out_type, 0, a);
  if (!e) return SL_ENOMEM;
  e->col = p->n_keys + k;
  *out = e;
  return 0;
}
