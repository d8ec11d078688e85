/* Vec helpers: allocation in an arena, constants, gather, scalar access. */
#include "compute/vec.h"

#include <string.h>

#include "sluice/alloc.h"

const char *sl__vt_name(enum sl_vt t) {
  switch (t) {
  case SL_VT_NULL: return "NULL";
  case SL_VT_BOOL: return "BOOLEAN";
  case SL_VT_I64: return "BIGINT";
  case SL_VT_F64: return "DOUBLE";
  case SL_VT_STR: return "VARCHAR";
  case SL_VT_TS: return "TIMESTAMP";
  case SL_VT_DATE: return "DATE";
  case SL_VT_INTERVAL: return "INTERVAL";
  default: return "?";
  }
}

int sl__vec_alloc(struct sl_arena *a, enum sl_vt t, int64_t n,
                  struct sl_vec *out) {
  memset(out, 0, sizeof *out);
  out->type = t;
  out->n = n;
  if (n < 0 || n > (INT64_C(1) << 40)) return SL_ERANGE;
  size_t bytes = (size_t)(n ? n : 1) * (size_t)sl__vt_size(t);
  out->d.any = sl_arena_alloc(a, bytes);
  return out->d.any ? 0 : SL_ENOMEM;
}

int sl__vec_add_valid(struct sl_arena *a, struct sl_vec *v) {
  int64_t m = v->constant ? 1 : v->n;
  v->valid = sl_arena_alloc(a, (size_t)(m ? m : 1));
  if (!v->valid) return SL_ENOMEM;
  memset(v->valid, 1, (size_t)m);
  return 0;
}

int sl__vec_const(struct sl_arena *a, const struct sl_value *val, int64_t n,
                  struct sl_vec *out) {
  enum sl_vt t = val->type;
  int rc = sl__vec_alloc(a, t, 1, out);
  if (rc) return rc;
  out->constant = true;
  out->n = n;
  if (val->is_null || t == SL_VT_NULL) {
    out->valid = sl_arena_alloc(a, 1);
    if (!out->valid) return SL_ENOMEM;
    out->valid[0] = 0;
    memset(out->d.any, 0, (size_t)sl__vt_size(t));
    return 0;
  }
  switch (t) {
  case SL_VT_BOOL: out->d.b[0] = val->u.b; break;
  case SL_VT_F64: out->d.f[0] = val->u.f; break;
  case SL_VT_STR: out->d.s[0] = val->u.s; break;
  case SL_VT_INTERVAL: out->d.iv[0] = val->u.iv; break;
  default: out->d.i[0] = val->u.i; break;
  }
  return 0;
}

int sl__vec_flatten(struct sl_arena *a, struct sl_vec *v) {
  if (!v->constant) return 0;
  struct sl_vec f;
  int rc = sl__vec_alloc(a, v->type, v->n, &f);
  if (rc) return rc;
  int64_t w = sl__vt_size(v->type);
  for (int64_t r = 0; r < v->n; r++)
    memcpy((char *)f.d.any + r * w, v->d.any, (size_t)w);
  if (v->valid) {
    f.valid = sl_arena_alloc(a, (size_t)(v->n ? v->n : 1));
    if (!f.valid) return SL_ENOMEM;
    memset(f.valid, v->valid[0], (size_t)v->n);
  }
  *v = f;
  return 0;
}

int sl__vec_gather(struct sl_arena *a, const struct sl_vec *v,
                   const int32_t *sel, int64_t n, struct sl_vec *out) {
  if (v->constant) {
    *out = *v;
    out->n = n;
    return 0;
  }
  int rc = sl__vec_alloc(a, v->type, n, out);
  if (rc) return rc;
  switch (sl__vt_size(v->type)) {
  case 1:
    for (int64_t r = 0; r < n; r++)
      out->d.b[r] = v->d.b[sel[r]];
    break;
  case 8:
    for (int64_t r = 0; r < n; r++)
      out->d.i[r] = v->d.i[sel[r]];
    break;
  default:
    if (v->type == SL_VT_STR)
      for (int64_t r = 0; r < n; r++)
        out->d.s[r] = v->d.s[sel[r]];
    else
      for (int64_t r = 0; r < n; r++)
        out->d.iv[r] = v->d.iv[sel[r]];
  }
  if (v->valid) {
    out->valid = sl_arena_alloc(a, (size_t)(n ? n : 1));
    if (!out->valid) return SL_ENOMEM;
    for (int64_t r = 0; r < n; r++)
      out->valid[r] = v->valid[sel[r]];
  }
  return 0;
}

void sl__vec_get(const struct sl_vec *v, int64_t r, struct sl_value *out) {
  memset(out, 0, sizeof *out);
  out->type = v->type;
  if (!sl__vec_valid(v, r)) {
    out->is_null = true;
    return;
  }
  int64_t i = sl__vec_idx(v, r);
  switch (v->type) {
  case SL_VT_BOOL: out->u.b = v->d.b[i] != 0; break;
  case SL_VT_F64: out->u.f = v->d.f[i]; break;
  case SL_VT_STR: out->u.s = v->d.s[i]; break;
  case SL_VT_INTERVAL: out->u.iv = v->d.iv[i]; break;
  case SL_VT_NULL: out->is_null = true; break;
  default: out->u.i = v->d.i[i]; break;
  }
}
