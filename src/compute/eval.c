/* Expression evaluation: dispatch once per node, then a type-specialised
 * loop over flat arrays. Arithmetic, comparison, three-valued logic, IN,
 * CASE, COALESCE; strings, time and casts live in their own files. */
#include <math.h>
#include <string.h>

#include "compute/expr.h"
#include "sluice/alloc.h"

#define AT(v, r) ((v)->constant ? 0 : (r))

static bool is_const_null(const struct sl_vec *v) {
  return v->type == SL_VT_NULL || (v->constant && v->valid && v->valid[0] == 0);
}

static int null_result(struct sl_arena *a, enum sl_vt t, int64_t n,
                       struct sl_vec *out) {
  struct sl_value nv = {.type = t, .is_null = true};
  return sl__vec_const(a, &nv, n, out);
}

/* Validity of a row-wise function of x and y: valid where both are. The
 * result may alias an input's array (never written to). */
static int valid_and(struct sl_arena *ar, const struct sl_vec *x,
                     const struct sl_vec *y, int64_t n, uint8_t **out) {
  const uint8_t *xv = x->constant ? NULL : x->valid;
  const uint8_t *yv = y->constant ? NULL : y->valid;
  if (!xv || !yv) {
    *out = (uint8_t *)(xv ? xv : yv);
    return 0;
  }
  uint8_t *v = sl_arena_alloc(ar, (size_t)(n ? n : 1));
  if (!v) return SL_ENOMEM;
  for (int64_t r = 0; r < n; r++)
    v[r] = xv[r] & yv[r];
  *out = v;
  return 0;
}

static int overflow_error(const struct sl_expr *e, struct sl_error *err) {
  return sl_error_set(err, SL_ERANGE, "BIGINT overflow in expression '%s'",
                      e->text ? e->text : "?");
}

#define LOOP3(A, B, ...)                                                       \
  do {                                                                         \
    if (a->constant) {                                                         \
      for (int64_t r = 0; r < n; r++) {                                        \
        const int64_t ia = 0, ib = r;                                          \
        __VA_ARGS__;                                                           \
      }                                                                        \
    } else if (b->constant) {                                                  \
      for (int64_t r = 0; r < n; r++) {                                        \
        const int64_t ia = r, ib = 0;                                          \
        __VA_ARGS__;                                                           \
      }                                                                        \
    } else {                                                                   \
      for (int64_t r = 0; r < n; r++) {                                        \
        const int64_t ia = r, ib = r;                                          \
        __VA_ARGS__;                                                           \
      }                                                                        \
    }                                                                          \
  } while (0)

static int eval_arith(const struct sl_expr *e, struct sl_vec *a,
                      struct sl_vec *b, int64_t n, struct sl_arena *ar,
                      struct sl_vec *out, struct sl_error *err) {
  int rc = sl__vec_alloc(ar, e->type, n, out);
  if (rc) return rc;
  rc = valid_and(ar, a, b, n, &out->valid);
  if (rc) return rc;
  const uint8_t *ok = out->valid;
  if (e->type == SL_VT_F64) {
    const double *x = a->d.f, *y = b->d.f;
    double *o = out->d.f;
    switch (e->op) {
    case SL_X_ADD: LOOP3(x, y, o[r] = x[ia] + y[ib]); break;
    case SL_X_SUB: LOOP3(x, y, o[r] = x[ia] - y[ib]); break;
    case SL_X_MUL: LOOP3(x, y, o[r] = x[ia] * y[ib]); break;
    case SL_X_DIV: LOOP3(x, y, o[r] = x[ia] / y[ib]); break;
    case SL_X_MOD: LOOP3(x, y, o[r] = fmod(x[ia], y[ib])); break;
    case SL_X_IDIV: LOOP3(x, y, o[r] = trunc(x[ia] / y[ib])); break;
    case SL_X_POW: LOOP3(x, y, o[r] = pow(x[ia], y[ib])); break;
    default: return SL_EINVAL;
    }
    return 0;
  }
  /* int64 (also timestamp - timestamp style ops are rejected by the binder) */
  const int64_t *x = a->d.i, *y = b->d.i;
  int64_t *o = out->d.i;
  int ovf = 0;
  switch (e->op) {
  case SL_X_ADD:
    LOOP3(x, y, {
      int f = __builtin_add_overflow(x[ia], y[ib], &o[r]);
      ovf |= f & (ok ? ok[r] : 1);
    });
    break;
  case SL_X_SUB:
    LOOP3(x, y, {
      int f = __builtin_sub_overflow(x[ia], y[ib], &o[r]);
      ovf |= f & (ok ? ok[r] : 1);
    });
    break;
  case SL_X_MUL:
    LOOP3(x, y, {
      int f = __builtin_mul_overflow(x[ia], y[ib], &o[r]);
      ovf |= f & (ok ? ok[r] : 1);
    });
    break;
  case SL_X_IDIV:
  case SL_X_MOD: {
    int zero = 0;
    bool is_div = e->op == SL_X_IDIV;
    LOOP3(x, y, {
      int64_t p = x[ia], q = y[ib];
      int live = ok ? ok[r] : 1;
      if (q == 0) {
        zero |= live;
        o[r] = 0;
      } else if (q == -1) {
        if (is_div) ovf |= (p == INT64_MIN) & live;
        o[r] = is_div ? (p == INT64_MIN ? 0 : -p) : 0;
      } else {
        o[r] = is_div ? p / q : p % q;
      }
    });
    if (zero)
      return sl_error_set(err, SL_EINVAL, "division by zero in expression '%s'",
                          e->text ? e->text : "?");
    break;
  }
  default: return SL_EINVAL;
  }
  if (ovf) return overflow_error(e, err);
  return 0;
}

static int str_cmp(struct sl_str x, struct sl_str y) {
  int64_t m = x.n < y.n ? x.n : y.n;
  int c = m ? memcmp(x.p, y.p, (size_t)m) : 0;
  if (c) return c;
  return (x.n > y.n) - (x.n < y.n);
}

#define CMP_TYPED(T, F)                                                        \
  do {                                                                         \
    const T *x = a->d.F, *y = b->d.F;                                          \
    switch (op) {                                                              \
    case SL_X_EQ: LOOP3(x, y, o[r] = x[ia] == y[ib]); break;                   \
    case SL_X_NE: LOOP3(x, y, o[r] = x[ia] != y[ib]); break;                   \
    case SL_X_LT: LOOP3(x, y, o[r] = x[ia] < y[ib]); break;                    \
    case SL_X_LE: LOOP3(x, y, o[r] = x[ia] <= y[ib]); break;                   \
    case SL_X_GT: LOOP3(x, y, o[r] = x[ia] > y[ib]); break;                    \
    case SL_X_GE: LOOP3(x, y, o[r] = x[ia] >= y[ib]); break;                   \
    default: break;                                                            \
    }                                                                          \
  } while (0)

static int eval_compare(const struct sl_expr *e, struct sl_vec *a,
                        struct sl_vec *b, int64_t n, struct sl_arena *ar,
                        struct sl_vec *out) {
  int rc = sl__vec_alloc(ar, SL_VT_BOOL, n, out);
  if (rc) return rc;
  rc = valid_and(ar, a, b, n, &out->valid);
  if (rc) return rc;
  uint8_t *o = out->d.b;
  enum sl_xop op = e->op;
  switch (a->type) {
  case SL_VT_F64: CMP_TYPED(double, f); break;
  case SL_VT_BOOL: CMP_TYPED(uint8_t, b); break;
  case SL_VT_STR: {
    const struct sl_str *x = a->d.s, *y = b->d.s;
    if (op == SL_X_EQ || op == SL_X_NE) {
      uint8_t want = op == SL_X_EQ;
      LOOP3(x, y, {
        struct sl_str p = x[ia], q = y[ib];
        bool eq =
            p.n == q.n && (p.n == 0 || memcmp(p.p, q.p, (size_t)p.n) == 0);
        o[r] = eq == want;
      });
      break;
    }
    LOOP3(x, y, {
      int c = str_cmp(x[ia], y[ib]);
      o[r] = op == SL_X_LT   ? c < 0
             : op == SL_X_LE ? c <= 0
             : op == SL_X_GT ? c > 0
                             : c >= 0;
    });
    break;
  }
  default: CMP_TYPED(int64_t, i); break;
  }
  return 0;
}

/* Three-valued AND / OR / NOT. */
static int eval_logic(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                      struct sl_arena *ar, struct sl_vec *out) {
  int rc = sl__vec_alloc(ar, SL_VT_BOOL, n, out);
  if (rc) return rc;
  if (e->op == SL_X_NOT) {
    struct sl_vec *a = &args[0];
    out->valid = a->constant ? NULL : a->valid;
    if (a->constant && a->valid && !a->valid[0])
      return null_result(ar, SL_VT_BOOL, n, out);
    for (int64_t r = 0; r < n; r++)
      out->d.b[r] = !a->d.b[AT(a, r)];
    return 0;
  }
  struct sl_vec *a = &args[0], *b = &args[1];
  bool need_valid = (a->valid != NULL) || (b->valid != NULL);
  if (need_valid) {
    out->valid = sl_arena_alloc(ar, (size_t)(n ? n : 1));
    if (!out->valid) return SL_ENOMEM;
  }
  bool is_and = e->op == SL_X_AND;
  for (int64_t r = 0; r < n; r++) {
    int64_t ia = AT(a, r), ib = AT(b, r);
    uint8_t av = a->valid ? a->valid[ia] : 1, bv = b->valid ? b->valid[ib] : 1;
    uint8_t ab = a->d.b[ia] & av, bb = b->d.b[ib] & bv;
    if (is_and) {
      uint8_t fa = av & !a->d.b[ia], fb = bv & !b->d.b[ib];
      out->d.b[r] = ab & bb;
      if (need_valid) out->valid[r] = (av & bv) | fa | fb;
    } else {
      out->d.b[r] = ab | bb;
      if (need_valid) out->valid[r] = (av & bv) | ab | bb;
    }
  }
  return 0;
}

static bool value_eq(const struct sl_vec *x, int64_t i, const struct sl_vec *y,
                     int64_t j) {
  switch (x->type) {
  case SL_VT_F64: return x->d.f[i] == y->d.f[j];
  case SL_VT_BOOL: return x->d.b[i] == y->d.b[j];
  case SL_VT_STR:
    return x->d.s[i].n == y->d.s[j].n &&
           (x->d.s[i].n == 0 ||
            memcmp(x->d.s[i].p, y->d.s[j].p, (size_t)x->d.s[i].n) == 0);
  default: return x->d.i[i] == y->d.i[j];
  }
}

static int eval_in(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                   struct sl_arena *ar, struct sl_vec *out) {
  int rc = sl__vec_alloc(ar, SL_VT_BOOL, n, out);
  if (rc) return rc;
  rc = sl__vec_add_valid(ar, out);
  if (rc) return rc;
  struct sl_vec *x = &args[0];
  for (int64_t r = 0; r < n; r++) {
    int64_t ix = AT(x, r);
    if (!sl__vec_valid(x, ix)) {
      out->valid[r] = 0;
      out->d.b[r] = 0;
      continue;
    }
    bool found = false, saw_null = false;
    for (int32_t k = 1; k < e->n_args && !found; k++) {
      struct sl_vec *y = &args[k];
      int64_t iy = AT(y, r);
      if (!sl__vec_valid(y, iy)) {
        saw_null = true;
        continue;
      }
      found = value_eq(x, ix, y, iy);
    }
    out->valid[r] = found || !saw_null;
    out->d.b[r] = (uint8_t)(found != e->negate);
  }
  return 0;
}

static void copy_elem(struct sl_vec *dst, int64_t r, const struct sl_vec *src,
                      int64_t i) {
  switch (dst->type) {
  case SL_VT_BOOL: dst->d.b[r] = src->d.b[i]; break;
  case SL_VT_STR: dst->d.s[r] = src->d.s[i]; break;
  case SL_VT_NULL: break;
  case SL_VT_INTERVAL: dst->d.iv[r] = src->d.iv[i]; break;
  default: dst->d.i[r] = src->d.i[i]; break; /* i64, f64 bits, ts, date */
  }
}

/* CASE (when/then pairs + else), COALESCE, NULLIF, GREATEST, LEAST. */
static int eval_choose(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                       struct sl_arena *ar, struct sl_vec *out) {
  int rc = sl__vec_alloc(ar, e->type, n, out);
  if (rc) return rc;
  rc = sl__vec_add_valid(ar, out);
  if (rc) return rc;
  int32_t k = e->n_args;
  for (int64_t r = 0; r < n; r++) {
    const struct sl_vec *pick = NULL;
    int64_t pi = 0;
    if (e->op == SL_X_CASE) {
      int32_t w = 0;
      for (; w + 1 < k; w += 2) {
        const struct sl_vec *c = &args[w];
        int64_t ic = AT(c, r);
        if (sl__vec_valid(c, ic) && c->d.b[ic]) break;
      }
      pick = &args[w + 1 < k ? w + 1 : k - 1];
    } else if (e->op == SL_X_COALESCE) {
      for (int32_t j = 0; j < k; j++)
        if (sl__vec_valid(&args[j], AT(&args[j], r))) {
          pick = &args[j];
          break;
        }
    } else if (e->op == SL_X_NULLIF) {
      const struct sl_vec *x = &args[0], *y = &args[1];
      int64_t ix = AT(x, r), iy = AT(y, r);
      if (sl__vec_valid(x, ix) &&
          !(sl__vec_valid(y, iy) && value_eq(x, ix, y, iy)))
        pick = x;
    } else { /* GREATEST / LEAST: NULLs ignored */
      for (int32_t j = 0; j < k; j++) {
        const struct sl_vec *c = &args[j];
        int64_t ic = AT(c, r);
        if (!sl__vec_valid(c, ic)) continue;
        if (!pick) {
          pick = c;
          continue;
        }
        int64_t ip = AT(pick, r);
        int cmp;
        switch (e->type) {
        case SL_VT_F64:
          cmp = (c->d.f[ic] > pick->d.f[ip]) - (c->d.f[ic] < pick->d.f[ip]);
          break;
        case SL_VT_STR: cmp = str_cmp(c->d.s[ic], pick->d.s[ip]); break;
        case SL_VT_BOOL: cmp = (int)c->d.b[ic] - (int)pick->d.b[ip]; break;
        default:
          cmp = (c->d.i[ic] > pick->d.i[ip]) - (c->d.i[ic] < pick->d.i[ip]);
        }
        if ((e->op == SL_X_GREATEST && cmp > 0) ||
            (e->op == SL_X_LEAST && cmp < 0))
          pick = c;
      }
    }
    if (pick) pi = AT(pick, r);
    if (!pick || !sl__vec_valid(pick, pi)) {
      out->valid[r] = 0;
      memset((char *)out->d.any + r * sl__vt_size(e->type), 0,
             (size_t)sl__vt_size(e->type));
      continue;
    }
    copy_elem(out, r, pick, pi);
  }
  return 0;
}

static int eval_unary_num(const struct sl_expr *e, struct sl_vec *a, int64_t n,
                          struct sl_arena *ar, struct sl_vec *out,
                          struct sl_error *err) {
  int rc = sl__vec_alloc(ar, e->type, n, out);
  if (rc) return rc;
  out->valid = a->valid;
  if (a->type == SL_VT_I64) {
    const int64_t *x = a->d.i;
    int64_t *o = out->d.i;
    int ovf = 0;
    for (int64_t r = 0; r < n; r++) {
      if (x[r] == INT64_MIN) ovf |= a->valid ? a->valid[r] : 1;
      int64_t v = x[r] == INT64_MIN ? 0 : x[r];
      o[r] = e->op == SL_X_NEG ? -v : (e->op == SL_X_ABS && v < 0 ? -v : v);
    }
    if (ovf) return overflow_error(e, err);
    return 0;
  }
  const double *x = a->d.f;
  double *o = out->d.f;
  switch (e->op) {
  case SL_X_NEG:
    for (int64_t r = 0; r < n; r++)
      o[r] = -x[r];
    break;
  case SL_X_ABS:
    for (int64_t r = 0; r < n; r++)
      o[r] = fabs(x[r]);
    break;
  case SL_X_ROUND:
    for (int64_t r = 0; r < n; r++)
      o[r] = round(x[r]);
    break;
  case SL_X_FLOOR:
    for (int64_t r = 0; r < n; r++)
      o[r] = floor(x[r]);
    break;
  case SL_X_CEIL:
    for (int64_t r = 0; r < n; r++)
      o[r] = ceil(x[r]);
    break;
  case SL_X_SQRT:
    for (int64_t r = 0; r < n; r++)
      o[r] = sqrt(x[r]);
    break;
  case SL_X_LN:
    for (int64_t r = 0; r < n; r++)
      o[r] = log(x[r]);
    break;
  case SL_X_EXP:
    for (int64_t r = 0; r < n; r++)
      o[r] = exp(x[r]);
    break;
  default: return SL_EINVAL;
  }
  return 0;
}

/* round(x, digits) with a constant digit count. */
static int eval_round2(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                       struct sl_arena *ar, struct sl_vec *out) {
  int rc = sl__vec_alloc(ar, SL_VT_F64, n, out);
  if (rc) return rc;
  rc = valid_and(ar, &args[0], &args[1], n, &out->valid);
  if (rc) return rc;
  for (int64_t r = 0; r < n; r++) {
    double x = args[0].d.f[AT(&args[0], r)];
    int64_t d = args[1].d.i[AT(&args[1], r)];
    double m = pow(10.0, (double)d);
    out->d.f[r] = round(x * m) / m;
  }
  return 0;
}

int64_t sl__vec_select_true(const struct sl_vec *v, int64_t n, int32_t *sel) {
  int64_t k = 0;
  if (v->constant) {
    if (!sl__vec_valid(v, 0) || !v->d.b[0]) return 0;
    for (int64_t r = 0; r < n; r++)
      sel[r] = (int32_t)r;
    return n;
  }
  const uint8_t *b = v->d.b, *ok = v->valid;
  if (ok) {
    for (int64_t r = 0; r < n; r++) {
      sel[k] = (int32_t)r;
      k += b[r] & ok[r];
    }
  } else {
    for (int64_t r = 0; r < n; r++) {
      sel[k] = (int32_t)r;
      k += b[r] != 0;
    }
  }
  return k;
}

static bool propagates_null(enum sl_xop op) {
  switch (op) {
  case SL_X_AND:
  case SL_X_OR:
  case SL_X_IS_NULL:
  case SL_X_IS_NOT_NULL:
  case SL_X_IN:
  case SL_X_CASE:
  case SL_X_COALESCE:
  case SL_X_NULLIF:
  case SL_X_GREATEST:
  case SL_X_LEAST:
  case SL_X_CONCAT: return false;
  default: return true;
  }
}

int sl__expr_eval(const struct sl_expr *e, const struct sl_vec *cols, int64_t n,
                  struct sl_arena *ar, struct sl_vec *out,
                  struct sl_error *err) {
  if (e->op == SL_X_COL) {
    *out = cols[e->col];
    return 0;
  }
  if (e->op == SL_X_CONST) return sl__vec_const(ar, &e->value, n, out);
  struct sl_vec argv[8];
  struct sl_vec *args = argv;
  if (e->n_args > 8) {
    args = sl_arena_alloc(ar, sizeof *args * (size_t)e->n_args);
    if (!args) return SL_ENOMEM;
  }
  bool all_const = true, any_null = false;
  for (int32_t i = 0; i < e->n_args; i++) {
    int rc = sl__expr_eval(e->args[i], cols, n, ar, &args[i], err);
    if (rc) return rc;
    all_const &= args[i].constant;
    any_null |= is_const_null(&args[i]);
  }
  if (any_null && propagates_null(e->op) && e->op != SL_X_TIME_BUCKET)
    return null_result(ar, e->type, n, out);
  /* Constant inputs: compute one row and broadcast it. */
  int64_t m = (all_const && e->n_args > 0) ? 1 : n;
  int rc;
  switch (e->op) {
  case SL_X_ADD:
  case SL_X_SUB:
  case SL_X_MUL:
  case SL_X_DIV:
  case SL_X_IDIV:
  case SL_X_MOD:
  case SL_X_POW: rc = eval_arith(e, &args[0], &args[1], m, ar, out, err); break;
  case SL_X_NEG:
  case SL_X_ABS:
  case SL_X_FLOOR:
  case SL_X_CEIL:
  case SL_X_SQRT:
  case SL_X_LN:
  case SL_X_EXP: rc = eval_unary_num(e, &args[0], m, ar, out, err); break;
  case SL_X_ROUND:
    rc = e->n_args == 2 ? eval_round2(e, args, m, ar, out)
                        : eval_unary_num(e, &args[0], m, ar, out, err);
    break;
  case SL_X_EQ:
  case SL_X_NE:
  case SL_X_LT:
  case SL_X_LE:
  case SL_X_GT:
  case SL_X_GE: rc = eval_compare(e, &args[0], &args[1], m, ar, out); break;
  case SL_X_AND:
  case SL_X_OR:
  case SL_X_NOT: rc = eval_logic(e, args, m, ar, out); break;
  case SL_X_IS_NULL:
  case SL_X_IS_NOT_NULL: {
    rc = sl__vec_alloc(ar, SL_VT_BOOL, m, out);
    if (rc) return rc;
    uint8_t want = e->op == SL_X_IS_NULL ? 0 : 1;
    for (int64_t r = 0; r < m; r++)
      out->d.b[r] = (uint8_t)(sl__vec_valid(&args[0], r) == want);
    break;
  }
  case SL_X_IN: rc = eval_in(e, args, m, ar, out); break;
  case SL_X_CASE:
  case SL_X_COALESCE:
  case SL_X_NULLIF:
  case SL_X_GREATEST:
  case SL_X_LEAST: rc = eval_choose(e, args, m, ar, out); break;
  case SL_X_CAST: rc = sl__eval_cast(e, &args[0], m, ar, out, err); break;
  case SL_X_LIKE: rc = sl__eval_like(e, args, m, ar, out); break;
  case SL_X_CONCAT_OP:
  case SL_X_CONCAT:
  case SL_X_LOWER:
  case SL_X_UPPER:
  case SL_X_LENGTH:
  case SL_X_SUBSTR:
  case SL_X_STARTS_WITH:
  case SL_X_ENDS_WITH:
  case SL_X_CONTAINS:
  case SL_X_REPLACE:
  case SL_X_TRIM:
  case SL_X_LTRIM:
  case SL_X_RTRIM: rc = sl__eval_string_fn(e, args, m, ar, out, err); break;
  case SL_X_DATE_TRUNC:
  case SL_X_TIME_BUCKET:
  case SL_X_DATE_PART:
  case SL_X_EPOCH_MS:
  case SL_X_MS_TO_TS:
  case SL_X_TO_TIMESTAMP:
  case SL_X_TS_ADD: rc = sl__eval_time_fn(e, args, m, ar, out, err); break;
  default:
    return sl_error_set(err, SL_ENOTSUP, "operator %d not implemented in '%s'",
                        (int)e->op, e->text ? e->text : "?");
  }
  if (rc) return rc;
  if (m == 1 && n != 1) {
    out->constant = true;
    out->n = n;
  }
  return 0;
}
