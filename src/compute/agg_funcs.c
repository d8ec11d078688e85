/* Aggregate states, columnar over group ids: update from a chunk, merge two
 * partials, finish into a vec. Float sums use Neumaier compensated
 * summation and integer sums 128-bit accumulators, so results do not depend
 * on how rows were split among threads beyond the last bits; variance uses
 * Welford's update and Chan's merge. Exact holistic aggregates (distinct
 * counts, quantiles) keep (group, value) pairs and sort them at the end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compute/agg.h"

enum kind { K_I64, K_F64, K_STR };

struct pair {
  int64_t g;
  union {
    int64_t i;
    double f;
    struct sl_str s;
  } v;
};

struct sl__agg_state {
  struct sl_agg_spec s;
  enum kind k, k2;
  int64_t cap;
  int64_t *cnt;
  double *f0, *f1; /* sum + compensation, or Welford mean + m2 */
  /* integer sum/avg: the low 64 bits of the 128-bit sum beside the count,
   * one cache line a row (cnt is not used); the high bits apart, made when
   * a low part first wraps */
  struct isum {
    uint64_t lo;
    int64_t c;
  } * is;
  int64_t *ihi;
  /* count(*) beside a sum or avg of a column: that aggregate's per-group
   * count holds the rows where the column is not NULL, so this state
   * counts only the others (none, mostly: no memory touched a row) */
  const struct sl__agg_state *rows_of;
  int64_t *vi; /* value: ints, bools, double bits */
  struct sl_str *vs;
  uint8_t *valid; /* first/last: the kept value's validity */
  int64_t *seq;
  int64_t *bi; /* arg_min/max: the compared value */
  struct sl_str *bs;
  struct pair *pairs;
  int64_t n_pairs, cap_pairs;
  struct sl__hll **hll;
  int64_t filled; /* min/max: groups [0, filled) hold a value */
};

static enum kind kind_of(enum sl_vt t) {
  return t == SL_VT_STR ? K_STR : t == SL_VT_F64 ? K_F64 : K_I64;
}

static bool int_sum(const struct sl__agg_state *st) {
  return (st->s.fn == SL_AGG_SUM || st->s.fn == SL_AGG_AVG) && st->k == K_I64;
}

/* The 128-bit sum of an integer sum's slot g. */
static __int128 isum_of(const struct sl__agg_state *st, int64_t g) {
  int64_t hi = st->ihi ? st->ihi[g] : 0;
  return (__int128)hi * ((__int128)1 << 64) + (__int128)st->is[g].lo;
}

/* The high words of an integer sum, made on first use. */
static int isum_hi(struct sl__agg_state *st) {
  if (!st->ihi) st->ihi = sl_calloc((size_t)(st->cap ? st->cap : 1), 8);
  return st->ihi ? 0 : SL_ENOMEM;
}

/* Rows of group g whose argument was not NULL, for a sum/avg. */
static inline int64_t nonnull_of(const struct sl__agg_state *st, int64_t g) {
  return st->is ? st->is[g].c : st->cnt[g];
}

static bool uses_pairs(enum sl_agg_fn f) {
  return f == SL_AGG_COUNT_DISTINCT || f == SL_AGG_QUANTILE_CONT ||
         f == SL_AGG_QUANTILE_DISC || f == SL_AGG_APPROX_QUANTILE;
}

int sl__agg_state_new(const struct sl_agg_spec *s, struct sl__agg_state **out) {
  struct sl__agg_state *st = sl_calloc(1, sizeof *st);
  if (!st) return SL_ENOMEM;
  st->s = *s;
  st->k = kind_of(s->in_type);
  st->k2 = kind_of(s->in_type2);
  *out = st;
  return 0;
}

void sl__agg_state_free(struct sl__agg_state *st) {
  if (!st) return;
  sl_free(st->cnt);
  sl_free(st->f0);
  sl_free(st->f1);
  sl_free(st->is);
  sl_free(st->ihi);
  sl_free(st->vi);
  sl_free(st->vs);
  sl_free(st->valid);
  sl_free(st->seq);
  sl_free(st->bi);
  sl_free(st->bs);
  sl_free(st->pairs);
  if (st->hll) {
    for (int64_t g = 0; g < st->cap; g++)
      sl__hll_free(st->hll[g]);
    sl_free(st->hll);
  }
  sl_free(st);
}

int64_t sl__agg_state_bytes(const struct sl__agg_state *st) {
  int64_t b = st->cap * 48 + st->cap_pairs * (int64_t)sizeof(struct pair);
  if (st->hll)
    for (int64_t g = 0; g < st->cap; g++)
      b += sl__hll_bytes(st->hll[g]);
  return b;
}

static int grow(void **p, int64_t old, int64_t cap, size_t w, int fill) {
  void *q = sl_realloc(*p, (size_t)cap * w);
  if (!q) return SL_ENOMEM;
  memset((char *)q + old * (int64_t)w, fill, (size_t)(cap - old) * w);
  *p = q;
  return 0;
}

int sl__agg_state_grow(struct sl__agg_state *st, int64_t cap) {
  if (cap <= st->cap) return 0;
  int64_t o = st->cap;
  enum sl_agg_fn f = st->s.fn;
#define G(field, fill)                                                         \
  SL_RETURN_NOT_OK(grow((void **)&st->field, o, cap, sizeof *st->field, fill))
  if (!int_sum(st)) G(cnt, 0);
  switch (f) {
  case SL_AGG_SUM:
  case SL_AGG_AVG:
    if (st->k == K_I64) {
      G(is, 0);
      if (st->ihi) G(ihi, 0);
    } else {
      G(f0, 0);
      G(f1, 0);
    }
    break;
  case SL_AGG_STDDEV_SAMP:
  case SL_AGG_STDDEV_POP:
  case SL_AGG_VAR_SAMP:
  case SL_AGG_VAR_POP:
    G(f0, 0);
    G(f1, 0);
    break;
  case SL_AGG_MIN:
  case SL_AGG_MAX:
  case SL_AGG_BOOL_AND:
  case SL_AGG_BOOL_OR:
    if (st->k == K_STR)
      G(vs, 0);
    else
      G(vi, 0);
    break;
  case SL_AGG_FIRST:
  case SL_AGG_LAST:
  case SL_AGG_ARG_MIN:
  case SL_AGG_ARG_MAX:
    if (st->k == K_STR)
      G(vs, 0);
    else
      G(vi, 0);
    G(valid, 0);
    G(seq, 0);
    if (f == SL_AGG_ARG_MIN || f == SL_AGG_ARG_MAX) {
      if (st->k2 == K_STR)
        G(bs, 0);
      else
        G(bi, 0);
    }
    break;
  case SL_AGG_APPROX_COUNT_DISTINCT: G(hll, 0); break;
  default: break;
  }
#undef G
  st->cap = cap;
  return 0;
}

/* One per-group array of w-byte entries, packed (see sl__agg_state_pack). */
static void pack_array(void *arr, size_t w, const uint32_t *map,
                       const uint8_t *keep, int64_t ns, int64_t n) {
  if (!arr) return;
  char *p = arr;
  /* memcpy of a constant size: plain moves, any entry type */
#define PACK(W)                                                                \
  for (int64_t g = 0; g < ns; g++)                                             \
    if (keep[g] && map[g] != (uint64_t)g)                                      \
      memcpy(p + (size_t)map[g] * (W), p + (size_t)g * (W), (W));
  switch (w) {
  case 1: PACK(1) break;
  case 8: PACK(8) break;
  case 16: PACK(16) break;
  default: PACK(w)
  }
#undef PACK
  memset(p + (size_t)n * w, 0, (size_t)(ns - n) * w);
}

void sl__agg_state_pack(struct sl__agg_state *st, const uint32_t *map,
                        const uint8_t *keep, int64_t ns, int64_t n) {
  pack_array(st->cnt, sizeof *st->cnt, map, keep, ns, n);
  pack_array(st->f0, sizeof *st->f0, map, keep, ns, n);
  pack_array(st->f1, sizeof *st->f1, map, keep, ns, n);
  pack_array(st->is, sizeof *st->is, map, keep, ns, n);
  pack_array(st->ihi, sizeof *st->ihi, map, keep, ns, n);
  pack_array(st->vi, sizeof *st->vi, map, keep, ns, n);
  pack_array(st->vs, sizeof *st->vs, map, keep, ns, n);
  pack_array(st->valid, sizeof *st->valid, map, keep, ns, n);
  pack_array(st->seq, sizeof *st->seq, map, keep, ns, n);
  pack_array(st->bi, sizeof *st->bi, map, keep, ns, n);
  pack_array(st->bs, sizeof *st->bs, map, keep, ns, n);
  /* a slot without rows has no sketch: the pointers move, none is lost */
  pack_array(st->hll, sizeof *st->hll, map, keep, ns, n);
  for (int64_t i = 0; i < st->n_pairs; i++)
    st->pairs[i].g = map[st->pairs[i].g];
  st->filled = 0;
}

static int copy_str(struct sl_arena *a, struct sl_str in, struct sl_str *out) {
  char *p = sl_arena_alloc(a, (size_t)(in.n ? in.n : 1));
  if (!p) return SL_ENOMEM;
  if (in.n) memcpy(p, in.p, (size_t)in.n);
  *out = (struct sl_str){p, in.n};
  return 0;
}

static int str_cmp(struct sl_str x, struct sl_str y) {
  int64_t m = x.n < y.n ? x.n : y.n;
  int c = m ? memcmp(x.p, y.p, (size_t)m) : 0;
  if (c) return c;
  return (x.n > y.n) - (x.n < y.n);
}

static inline int64_t ival(const struct sl_vec *v, int64_t r) {
  return v->type == SL_VT_BOOL ? v->d.b[r] : v->d.i[r];
}

/* Compares value a (kind k) with b; doubles through their bits. */
static int cmp_i64(int64_t a, int64_t b, enum kind k) {
  if (k == K_F64) {
    double x, y;
    memcpy(&x, &a, 8);
    memcpy(&y, &b, 8);
    return (x > y) - (x < y);
  }
  return (a > b) - (a < b);
}

static inline int64_t bits_of(const struct sl_vec *v, int64_t r) {
  if (v->type == SL_VT_F64) {
    int64_t b;
    memcpy(&b, &v->d.f[r], 8);
    return b;
  }
  return ival(v, r);
}

static int push_pair(struct sl__agg_state *st, int64_t g,
                     const struct sl_vec *v, int64_t r,
                     struct sl_arena *strings) {
  if (st->n_pairs == st->cap_pairs) {
    int64_t c = st->cap_pairs ? st->cap_pairs * 2 : 1024;
    struct pair *p = sl_realloc(st->pairs, (size_t)c * sizeof *p);
    if (!p) return SL_ENOMEM;
    st->pairs = p;
    st->cap_pairs = c;
  }
  struct pair *p = &st->pairs[st->n_pairs++];
  p->g = g;
  if (st->k == K_STR) return copy_str(strings, v->d.s[r], &p->v.s);
  if (st->k == K_F64)
    p->v.f = v->d.f[r];
  else
    p->v.i = ival(v, r);
  return 0;
}

/* More groups than this: the states no longer fit the L2 cache. */
#define BIG_STATE_GROUPS (INT64_C(1) << 15)
#define PREFETCH_AHEAD 16

static void kahan_add(double *sum, double *comp, double x) {
  double s = *sum, t = s + x;
  if (fabs(s) >= fabs(x))
    *comp += (s - t) + x;
  else
    *comp += (x - t) + s;
  *sum = t;
}

/* min/max of numbers: once every group seen so far holds a value (the
 * usual case after the first batches), a batch without NULLs and without
 * new groups needs no per-row check of the count. */
static void minmax_fast(struct sl__agg_state *st, const uint32_t *gid,
                        const struct sl_vec *v, int64_t n) {
  if (st->k == K_F64) {
    const double *x = v->d.f;
    double *m = (double *)st->vi;
    if (st->s.fn == SL_AGG_MIN)
      for (int64_t r = 0; r < n; r++) {
        double c = m[gid[r]];
        m[gid[r]] = x[r] < c ? x[r] : c;
      }
    else
      for (int64_t r = 0; r < n; r++) {
        double c = m[gid[r]];
        m[gid[r]] = x[r] > c ? x[r] : c;
      }
  } else {
    const int64_t *x = v->d.i;
    int64_t *m = st->vi;
    if (st->s.fn == SL_AGG_MIN)
      for (int64_t r = 0; r < n; r++) {
        int64_t c = m[gid[r]];
        m[gid[r]] = x[r] < c ? x[r] : c;
      }
    else
      for (int64_t r = 0; r < n; r++) {
        int64_t c = m[gid[r]];
        m[gid[r]] = x[r] > c ? x[r] : c;
      }
  }
}

/* Adds x to an integer sum's slot g: the low word wraps into the high one
 * (a carry for x >= 0, a borrow for x < 0), which is rare. 0 or
 * SL_ENOMEM. */
static inline int isum_add(struct sl__agg_state *st, uint32_t g, int64_t x) {
  struct isum *e = &st->is[g];
  uint64_t o = e->lo, nl = o + (uint64_t)x;
  e->lo = nl;
  e->c++;
  int64_t adj = (int64_t)(x >= 0 && nl < o) - (int64_t)(x < 0 && nl > o);
  if (__builtin_expect(adj != 0, 0)) {
    if (isum_hi(st)) return SL_ENOMEM;
    st->ihi[g] += adj;
  }
  return 0;
}

int sl__agg_state_update(struct sl__agg_state *st, const uint32_t *gid,
                         int64_t n_groups, const struct sl_vec *args, int64_t n,
                         int64_t seq_base, const int32_t *sel,
                         struct sl_arena *strings, struct sl_error *err) {
  (void)err;
  enum sl_agg_fn f = st->s.fn;
  int64_t *cnt = st->cnt;
  /* Past the L2 cache every row's state is a cache miss; asking for the
   * state lines of row r + PREFETCH_AHEAD overlaps the misses. */
  bool big = st->cap > BIG_STATE_GROUPS;
  if (f == SL_AGG_COUNT_STAR && st->rows_of) {
    /* only the rows where the other aggregate's column is NULL */
    const struct sl_vec *pv = &args[st->rows_of->s.arg];
    if (pv->valid)
      for (int64_t r = 0; r < n; r++)
        cnt[gid[r]] += !pv->valid[r];
    return 0;
  }
  if (f == SL_AGG_COUNT_STAR) {
    if (big)
      for (int64_t r = 0; r < n; r++) {
        if (r + PREFETCH_AHEAD < n)
          __builtin_prefetch(&cnt[gid[r + PREFETCH_AHEAD]], 1);
        cnt[gid[r]]++;
      }
    else
      for (int64_t r = 0; r < n; r++)
        cnt[gid[r]]++;
    return 0;
  }
  const struct sl_vec *v = &args[st->s.arg];
  const uint8_t *ok = v->valid;
  if (int_sum(st)) {
    if (v->type == SL_VT_I64) {
      const int64_t *x = v->d.i;
      if (big)
        for (int64_t r = 0; r < n; r++) {
          if (r + PREFETCH_AHEAD < n)
            __builtin_prefetch(&st->is[gid[r + PREFETCH_AHEAD]], 1);
          if ((!ok || ok[r]) && isum_add(st, gid[r], x[r])) return SL_ENOMEM;
        }
      else
        for (int64_t r = 0; r < n; r++)
          if ((!ok || ok[r]) && isum_add(st, gid[r], x[r])) return SL_ENOMEM;
    } else {
      for (int64_t r = 0; r < n; r++)
        if ((!ok || ok[r]) && isum_add(st, gid[r], ival(v, r)))
          return SL_ENOMEM;
    }
    return 0;
  }
#define EACH                                                                   \
  for (int64_t r = 0; r < n; r++)                                              \
    if (!ok || ok[r])
  switch (f) {
  case SL_AGG_COUNT:
    if (!ok)
      for (int64_t r = 0; r < n; r++)
        cnt[gid[r]]++;
    else
      for (int64_t r = 0; r < n; r++)
        cnt[gid[r]] += ok[r];
    return 0;
  case SL_AGG_SUM:
  case SL_AGG_AVG: {
    {
      const double *x = v->d.f;
      EACH {
        kahan_add(&st->f0[gid[r]], &st->f1[gid[r]], x[r]);
        cnt[gid[r]]++;
      }
    }
    return 0;
  }
  case SL_AGG_STDDEV_SAMP:
  case SL_AGG_STDDEV_POP:
  case SL_AGG_VAR_SAMP:
  case SL_AGG_VAR_POP: {
    const double *x = v->d.f;
    EACH {
      uint32_t g = gid[r];
      int64_t c = ++cnt[g];
      double d = x[r] - st->f0[g];
      st->f0[g] += d / (double)c;
      st->f1[g] += d * (x[r] - st->f0[g]);
    }
    return 0;
  }
  case SL_AGG_MIN:
  case SL_AGG_MAX: {
    int want = f == SL_AGG_MIN ? -1 : 1;
    bool num = (st->k == K_F64 && v->type == SL_VT_F64) ||
               (st->k == K_I64 && v->type == SL_VT_I64);
    if (num && !ok && n_groups <= st->filled) {
      minmax_fast(st, gid, v, n);
      return 0;
    }
    if (st->k == K_STR) {
      EACH {
        uint32_t g = gid[r];
        if (!cnt[g] || str_cmp(v->d.s[r], st->vs[g]) * want > 0)
          SL_RETURN_NOT_OK(copy_str(strings, v->d.s[r], &st->vs[g]));
        cnt[g] = 1;
      }
    } else if (st->k == K_F64) {
      const double *x = v->d.f;
      double *m = (double *)st->vi;
      if (want < 0) {
        EACH {
          uint32_t g = gid[r];
          if (!cnt[g] || x[r] < m[g]) m[g] = x[r];
          cnt[g] = 1;
        }
      } else {
        EACH {
          uint32_t g = gid[r];
          if (!cnt[g] || x[r] > m[g]) m[g] = x[r];
          cnt[g] = 1;
        }
      }
    } else {
      EACH {
        uint32_t g = gid[r];
        int64_t x = ival(v, r);
        if (!cnt[g] || (want < 0 ? x < st->vi[g] : x > st->vi[g]))
          st->vi[g] = x;
        cnt[g] = 1;
      }
    }
    while (st->filled < n_groups && cnt[st->filled])
      st->filled++;
    return 0;
  }
  case SL_AGG_BOOL_AND:
  case SL_AGG_BOOL_OR:
    EACH {
      uint32_t g = gid[r];
      int64_t x = v->d.b[r] != 0;
      st->vi[g] =
          !cnt[g] ? x
                  : (f == SL_AGG_BOOL_AND ? (st->vi[g] & x) : (st->vi[g] | x));
      cnt[g] = 1;
    }
    return 0;
  case SL_AGG_FIRST:
  case SL_AGG_LAST:
    for (int64_t r = 0; r < n; r++) {
      uint32_t g = gid[r];
      int64_t q = seq_base + (sel ? sel[r] : r);
      if (cnt[g] && (f == SL_AGG_FIRST ? q >= st->seq[g] : q <= st->seq[g]))
        continue;
      cnt[g] = 1;
      st->seq[g] = q;
      st->valid[g] = !ok || ok[r];
      if (!st->valid[g]) continue;
      if (st->k == K_STR)
        SL_RETURN_NOT_OK(copy_str(strings, v->d.s[r], &st->vs[g]));
      else
        st->vi[g] = bits_of(v, r);
    }
    return 0;
  case SL_AGG_ARG_MIN:
  case SL_AGG_ARG_MAX: {
    const struct sl_vec *b = &args[st->s.arg2];
    int want = f == SL_AGG_ARG_MIN ? -1 : 1;
    for (int64_t r = 0; r < n; r++) {
      if ((ok && !ok[r]) || (b->valid && !b->valid[r])) continue;
      uint32_t g = gid[r];
      int64_t q = seq_base + (sel ? sel[r] : r);
      if (cnt[g]) {
        int c = st->k2 == K_STR ? str_cmp(b->d.s[r], st->bs[g])
                                : cmp_i64(bits_of(b, r), st->bi[g], st->k2);
        if (c * want < 0 || (c == 0 && q > st->seq[g])) continue;
        if (c == 0 && q == st->seq[g]) continue;
      }
      cnt[g] = 1;
      st->seq[g] = q;
      st->valid[g] = 1;
      if (st->k2 == K_STR)
        SL_RETURN_NOT_OK(copy_str(strings, b->d.s[r], &st->bs[g]));
      else
        st->bi[g] = bits_of(b, r);
      if (st->k == K_STR)
        SL_RETURN_NOT_OK(copy_str(strings, v->d.s[r], &st->vs[g]));
      else
        st->vi[g] = bits_of(v, r);
    }
    return 0;
  }
  case SL_AGG_APPROX_COUNT_DISTINCT:
    EACH {
      uint64_t h = st->k == K_STR ? sl__hash_str(v->d.s[r].p, v->d.s[r].n)
                                  : sl__hash_u64((uint64_t)bits_of(v, r));
      SL_RETURN_NOT_OK(sl__hll_add(&st->hll[gid[r]], h));
    }
    return 0;
  default:
    if (uses_pairs(f)) {
      EACH SL_RETURN_NOT_OK(push_pair(st, gid[r], v, r, strings));
      return 0;
    }
    return SL_EINVAL;
  }
#undef EACH
}

static bool any_high_bit(const struct sl__agg_state *st) {
  for (int64_t g = 0; g < st->cap; g++)
    if (st->is[g].lo >> 63) return true;
  return false;
}

int sl__agg_state_merge_prepare(struct sl__agg_state *d,
                                const struct sl__agg_state *s) {
  /* a carry needs a low word with its top bit set on one side */
  if (int_sum(d) && !d->ihi && (s->ihi || any_high_bit(s) || any_high_bit(d)))
    return isum_hi(d);
  return 0;
}

bool sl__agg_state_can_count_rows(const struct sl__agg_state *st) {
  return (st->s.fn == SL_AGG_SUM || st->s.fn == SL_AGG_AVG) &&
         (st->s.in_type == SL_VT_I64 || st->s.in_type == SL_VT_F64) &&
         st->s.arg >= 0;
}

void sl__agg_state_share_rows(struct sl__agg_state *count_star,
                              const struct sl__agg_state *sum) {
  count_star->rows_of = sum;
}

bool sl__agg_state_merge_in_parallel(const struct sl__agg_state *st) {
  enum sl_agg_fn f = st->s.fn;
  if (uses_pairs(f)) return false;
  bool str = st->k == K_STR;
  if (f == SL_AGG_ARG_MIN || f == SL_AGG_ARG_MAX) str = str || st->k2 == K_STR;
  bool keeps_value = f == SL_AGG_MIN || f == SL_AGG_MAX || f == SL_AGG_FIRST ||
                     f == SL_AGG_LAST || f == SL_AGG_ARG_MIN ||
                     f == SL_AGG_ARG_MAX;
  return !(str && keeps_value);
}

int sl__agg_state_merge(struct sl__agg_state *d, const struct sl__agg_state *s,
                        const uint32_t *map, int64_t g0, int64_t ng,
                        struct sl_arena *strings, struct sl_error *err) {
  (void)err;
  enum sl_agg_fn f = d->s.fn;
  if (uses_pairs(f)) {
    if (g0 != 0) return SL_EINVAL; /* pairs are not kept by group */
    for (int64_t i = 0; i < s->n_pairs; i++) {
      if (d->n_pairs == d->cap_pairs) {
        int64_t c = d->cap_pairs ? d->cap_pairs * 2 : 1024;
        while (c < d->n_pairs + (s->n_pairs - i))
          c *= 2;
        struct pair *p = sl_realloc(d->pairs, (size_t)c * sizeof *p);
        if (!p) return SL_ENOMEM;
        d->pairs = p;
        d->cap_pairs = c;
      }
      struct pair *p = &d->pairs[d->n_pairs++];
      *p = s->pairs[i];
      p->g = map[s->pairs[i].g];
      if (d->k == K_STR)
        SL_RETURN_NOT_OK(copy_str(strings, s->pairs[i].v.s, &p->v.s));
    }
    return 0;
  }
  if (int_sum(d)) { /* d->ihi is there when needed: merge_prepare */
    for (int64_t g = g0; g < ng; g++) {
      if (g + 16 < ng) __builtin_prefetch(&d->is[map[g + 16]], 1);
      uint32_t t = map[g];
      uint64_t o = d->is[t].lo, nl = o + s->is[g].lo;
      d->is[t].lo = nl;
      d->is[t].c += s->is[g].c;
      int64_t add = (s->ihi ? s->ihi[g] : 0) + (nl < o);
      if (add && !d->ihi) return SL_EINVAL;
      if (add) d->ihi[t] += add;
    }
    return 0;
  }
  for (int64_t g = g0; g < ng; g++) {
    /* dst groups are spread over a big table: ask for them early */
    if (g + 16 < ng) {
      __builtin_prefetch(&d->cnt[map[g + 16]], 1);
      if (d->f0) __builtin_prefetch(&d->f0[map[g + 16]], 1);
      if (d->vi) __builtin_prefetch(&d->vi[map[g + 16]], 1);
    }
    uint32_t t = map[g];
    int64_t sc = s->cnt[g];
    switch (f) {
    case SL_AGG_COUNT_STAR:
    case SL_AGG_COUNT: d->cnt[t] += sc; break;
    case SL_AGG_SUM:
    case SL_AGG_AVG: /* doubles: integers merged above */
      kahan_add(&d->f0[t], &d->f1[t], s->f0[g]);
      kahan_add(&d->f0[t], &d->f1[t], s->f1[g]);
      d->cnt[t] += sc;
      break;
    case SL_AGG_STDDEV_SAMP:
    case SL_AGG_STDDEV_POP:
    case SL_AGG_VAR_SAMP:
    case SL_AGG_VAR_POP: {
      if (!sc) break;
      int64_t dc = d->cnt[t], nn = dc + sc;
      double delta = s->f0[g] - d->f0[t];
      d->f0[t] += delta * (double)sc / (double)nn;
      d->f1[t] +=
          s->f1[g] + delta * delta * (double)dc * (double)sc / (double)nn;
      d->cnt[t] = nn;
      break;
    }
    case SL_AGG_MIN:
    case SL_AGG_MAX: {
      if (!sc) break;
      int want = f == SL_AGG_MIN ? -1 : 1;
      if (d->k == K_STR) {
        if (!d->cnt[t] || str_cmp(s->vs[g], d->vs[t]) * want > 0)
          SL_RETURN_NOT_OK(copy_str(strings, s->vs[g], &d->vs[t]));
      } else if (!d->cnt[t] || cmp_i64(s->vi[g], d->vi[t], d->k) * want > 0) {
        d->vi[t] = s->vi[g];
      }
      d->cnt[t] = 1;
      break;
    }
    case SL_AGG_BOOL_AND:
    case SL_AGG_BOOL_OR:
      if (!sc) break;
      d->vi[t] = !d->cnt[t]             ? s->vi[g]
                 : f == SL_AGG_BOOL_AND ? (d->vi[t] & s->vi[g])
                                        : (d->vi[t] | s->vi[g]);
      d->cnt[t] = 1;
      break;
    case SL_AGG_FIRST:
    case SL_AGG_LAST:
    case SL_AGG_ARG_MIN:
    case SL_AGG_ARG_MAX: {
      if (!sc) break;
      bool take;
      if (!d->cnt[t])
        take = true;
      else if (f == SL_AGG_FIRST)
        take = s->seq[g] < d->seq[t];
      else if (f == SL_AGG_LAST)
        take = s->seq[g] > d->seq[t];
      else {
        int want = f == SL_AGG_ARG_MIN ? -1 : 1;
        int c = d->k2 == K_STR ? str_cmp(s->bs[g], d->bs[t])
                               : cmp_i64(s->bi[g], d->bi[t], d->k2);
        take = c * want > 0 || (c == 0 && s->seq[g] < d->seq[t]);
      }
      if (!take) break;
      /* the compared value comes along, into an empty group too */
      if (f == SL_AGG_ARG_MIN || f == SL_AGG_ARG_MAX) {
        if (d->k2 == K_STR)
          SL_RETURN_NOT_OK(copy_str(strings, s->bs[g], &d->bs[t]));
        else
          d->bi[t] = s->bi[g];
      }
      d->cnt[t] = 1;
      d->seq[t] = s->seq[g];
      d->valid[t] = s->valid[g];
      if (d->k == K_STR)
        SL_RETURN_NOT_OK(copy_str(strings, s->vs[g], &d->vs[t]));
      else
        d->vi[t] = s->vi[g];
      break;
    }
    case SL_AGG_APPROX_COUNT_DISTINCT:
      if (s->hll[g]) SL_RETURN_NOT_OK(sl__hll_merge(&d->hll[t], s->hll[g]));
      break;
    default: return SL_EINVAL;
    }
  }
  return 0;
}

static int pair_cmp(const void *x, const void *y, void *ctx) {
  const struct pair *a = x, *b = y;
  enum kind k = *(const enum kind *)ctx;
  if (a->g != b->g) return a->g < b->g ? -1 : 1;
  if (k == K_STR) return str_cmp(a->v.s, b->v.s);
  if (k == K_F64) return (a->v.f > b->v.f) - (a->v.f < b->v.f);
  return (a->v.i > b->v.i) - (a->v.i < b->v.i);
}

static int finish_pairs(struct sl__agg_state *st, int64_t ng,
                        struct sl_vec *out) {
  enum sl_agg_fn f = st->s.fn;
  if (st->n_pairs > 1)
    qsort_r(st->pairs, (size_t)st->n_pairs, sizeof *st->pairs, pair_cmp,
            &st->k);
  for (int64_t g = 0; g < ng; g++)
    out->valid[g] = f == SL_AGG_COUNT_DISTINCT;
  memset(out->d.any, 0, (size_t)(ng * sl__vt_size(out->type)));
  int64_t i = 0;
  while (i < st->n_pairs) {
    int64_t g = st->pairs[i].g, j = i;
    while (j < st->n_pairs && st->pairs[j].g == g)
      j++;
    int64_t k = j - i;
    struct pair *p = st->pairs + i;
    if (f == SL_AGG_COUNT_DISTINCT) {
      int64_t d = 1;
      for (int64_t x = 1; x < k; x++)
        d += pair_cmp(&p[x - 1], &p[x], &st->k) != 0;
      out->d.i[g] = d;
    } else if (f == SL_AGG_QUANTILE_CONT && st->k != K_STR) {
      double pos = st->s.q * (double)(k - 1);
      int64_t lo = (int64_t)floor(pos), hi = (int64_t)ceil(pos);
      double a = st->k == K_F64 ? p[lo].v.f : (double)p[lo].v.i;
      double b = st->k == K_F64 ? p[hi].v.f : (double)p[hi].v.i;
      double v = lo == hi ? a : a + (pos - (double)lo) * (b - a);
      if (out->type == SL_VT_F64)
        out->d.f[g] = v;
      else
        out->d.i[g] = (int64_t)llround(v);
      out->valid[g] = 1;
    } else {
      int64_t idx = (int64_t)ceil(st->s.q * (double)k) - 1;
      if (idx < 0) idx = 0;
      if (idx >= k) idx = k - 1;
      if (st->k == K_STR)
        out->d.s[g] = p[idx].v.s;
      else if (out->type == SL_VT_F64 && st->k != K_F64)
        out->d.f[g] = (double)p[idx].v.i;
      else
        out->d.i[g] = p[idx].v.i;
      out->valid[g] = 1;
    }
    i = j;
  }
  return 0;
}

int sl__agg_state_finish(struct sl__agg_state *st, int64_t ng,
                         struct sl_arena *a, struct sl_vec *out,
                         struct sl_error *err) {
  SL_RETURN_NOT_OK(sl__vec_alloc(a, st->s.out_type, ng, out));
  SL_RETURN_NOT_OK(sl__vec_add_valid(a, out));
  if (uses_pairs(st->s.fn)) return finish_pairs(st, ng, out);
  return sl__agg_state_finish_range(st, 0, ng, NULL, out, err);
}

int sl__agg_state_finish_range(struct sl__agg_state *st, int64_t g0, int64_t ng,
                               const uint32_t *at, struct sl_vec *out,
                               struct sl_error *err) {
  enum sl_agg_fn f = st->s.fn;
  if (uses_pairs(f)) return SL_EINVAL;
  for (int64_t r = g0; r < ng; r++) {
    /* row r of out from group g: the same, or an identity table's slot */
    int64_t g = at ? (int64_t)at[r] : r;
    int64_t c = st->cnt ? st->cnt[g] : st->is[g].c;
    uint8_t valid = c > 0;
    switch (f) {
    case SL_AGG_COUNT_STAR:
    case SL_AGG_COUNT:
      out->d.i[r] = c + (st->rows_of ? nonnull_of(st->rows_of, g) : 0);
      valid = 1;
      break;
    case SL_AGG_SUM:
      if (st->k == K_I64) {
        __int128 v = isum_of(st, g);
        if (v > INT64_MAX || v < INT64_MIN)
          return sl_error_set(err, SL_ERANGE, "sum() overflows BIGINT");
        out->d.i[r] = (int64_t)v;
      } else {
        out->d.f[r] = st->f0[g] + st->f1[g];
      }
      break;
    case SL_AGG_AVG:
      if (valid)
        out->d.f[r] = st->k == K_I64 ? (double)isum_of(st, g) / (double)c
                                     : (st->f0[g] + st->f1[g]) / (double)c;
      break;
    case SL_AGG_VAR_SAMP:
    case SL_AGG_STDDEV_SAMP:
      valid = c > 1;
      if (valid) {
        double v = st->f1[g] / (double)(c - 1);
        out->d.f[r] = f == SL_AGG_VAR_SAMP ? v : sqrt(v);
      }
      break;
    case SL_AGG_VAR_POP:
    case SL_AGG_STDDEV_POP:
      if (valid) {
        double v = st->f1[g] / (double)c;
        out->d.f[r] = f == SL_AGG_VAR_POP ? v : sqrt(v);
      }
      break;
    case SL_AGG_MIN:
    case SL_AGG_MAX:
    case SL_AGG_BOOL_AND:
    case SL_AGG_BOOL_OR:
    case SL_AGG_FIRST:
    case SL_AGG_LAST:
    case SL_AGG_ARG_MIN:
    case SL_AGG_ARG_MAX:
      if (st->valid) valid = valid && st->valid[g];
      if (!valid) break;
      if (st->k == K_STR)
        out->d.s[r] = st->vs[g];
      else if (out->type == SL_VT_BOOL)
        out->d.b[r] = st->vi[g] != 0;
      else
        out->d.i[r] = st->vi[g];
      break;
    case SL_AGG_APPROX_COUNT_DISTINCT:
      out->d.i[r] = st->hll[g] ? sl__hll_estimate(st->hll[g]) : 0;
      valid = 1;
      break;
    default: return SL_EINVAL;
    }
    out->valid[r] = valid;
    if (!valid) {
      if (out->type == SL_VT_STR)
        out->d.s[r] = (struct sl_str){"", 0};
      else if (out->type == SL_VT_BOOL)
        out->d.b[r] = 0;
      else
        out->d.i[r] = 0;
    }
  }
  return 0;
}
