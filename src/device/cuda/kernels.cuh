/* sluice CUDA backend: the device kernels (included by groupby.cu).
 *
 * Per chunk: k_find_lines lists line starts; k_parse_aggregate parses one
 * line per thread, evaluates the predicates and folds the row into a global
 * open-addressing hash table. A table row holds everything of one group in
 * one place (state, key null bits, hash, keys, aggregate words), so a row
 * update touches one or two 32-byte sectors instead of one per array; see
 * docs/gpu.md. */
#pragma once

#include <cooperative_groups.h>
#include <stdint.h>

#include "device/cuda/json_parse.cuh"
#include "device/cuda/strings.cuh"
#include "device/device_abi.h"

enum { SLOT_EMPTY = 0, SLOT_BUSY = 1, SLOT_READY = 2 };
enum {
  ERR_TABLE_FULL = 1,
  ERR_HEAP_FULL = 2,
  ERR_SET_FULL = 3,
  ERR_DECODE = 4,
  ERR_PAIRS_FULL = 5
};
/* 2 + 4 keys + 16 aggregates of at most 4 words, rounded up to 8 words */
enum { MAX_ROW_WORDS = 72, MAX_COMPONENTS = 8 };
/* A variance's shift before the group's first value: a NaN bit pattern the
 * parser never produces (JSON has no NaN). */
#define SHIFT_UNSET 0x7ff8dead5ea7c0deull

/* Derived from the plan once, on the host. */
struct plan_info {
  /* Aggregates over the same column share one non-null count (and every
   * count(*) shares one): count_src[a] is the aggregate that keeps it, -1
   * for count(DISTINCT), which needs none. */
  int8_t count_src[SL_DEV_MAX_AGGS];
  /* Path components: component j of column c is
   * path[coff[c][j] .. coff[c][j] + clen[c][j]). */
  int8_t ncomp[SL_DEV_MAX_COLUMNS];
  int8_t coff[SL_DEV_MAX_COLUMNS][MAX_COMPONENTS];
  int8_t clen[SL_DEV_MAX_COLUMNS][MAX_COMPONENTS];
  /* Row layout in 8-byte words: 0 state (low half) and key null bits (byte
   * 4), 1 hash, 2.. keys, then per aggregate its count word (off_n, -1 when
   * shared), its value word (off_v) and for variances the sum of squares
   * (off_q) and the shift (off_k). */
  int32_t stride, used;
  int16_t off_n[SL_DEV_MAX_AGGS], off_v[SL_DEV_MAX_AGGS],
      off_q[SL_DEV_MAX_AGGS];
  /* variances: the shift K (SHIFT_UNSET until the first value) */
  int16_t off_k[SL_DEV_MAX_AGGS];
  /* first/last/arg_min/arg_max: a lock word (low half; high half: the
   * value is not NULL), the winning line's position and, for arg_min/max,
   * the compared value in off_q. */
  int16_t off_l[SL_DEV_MAX_AGGS], off_p[SL_DEV_MAX_AGGS];
  int32_t has_distinct;
  int32_t has_pairs; /* quantiles, approx_count_distinct */
  unsigned long long init_row[MAX_ROW_WORDS];
  /* How a block's partial of each word folds into the table (WOP_*); set
   * when every aggregate of the plan can be kept in shared memory. */
  int8_t word_op[MAX_ROW_WORDS];
  int32_t smem_ok;
};

/* Folding a block's partial word into the table's word. */
enum {
  WOP_NONE = 0,
  WOP_ADD_U64,
  WOP_ADD_F64,
  WOP_MIN_I64,
  WOP_MAX_I64,
  WOP_MIN_F64,
  WOP_MAX_F64,
  WOP_AND,
  WOP_OR
};

struct table {
  int64_t n_slots; /* power of two */
  int32_t stride;  /* words per row */
  unsigned long long *rows;
  /* count(DISTINCT): a set of (group row * 16 + aggregate, value) entries,
   * 4 words each: state, hash, group, value (or heap offset<<24 | len). */
  int64_t set_slots;
  unsigned long long *set;
  char *heap;
  unsigned long long heap_cap;
  unsigned long long *counters; /* [0] heap used, [1] groups, [2] error,
                                   [3] rows, [4] matched, [5] bad, [6] out,
                                   [7] set entries, [8] pairs */
  /* Quantiles and approx_count_distinct: pairs (row slot * 16 + aggregate,
   * value) with the value in an order-preserving unsigned form (or the
   * hash), sorted after the last chunk. */
  int64_t pairs_cap;
  unsigned long long *pk, *pv;
  /* Per-block partial rows in shared memory (0 slots: off): the
   * aggregate words [smem_base, smem_base + smem_width) of up to
   * smem_slots groups, folded into the table once per block. */
  int32_t smem_slots, smem_width, smem_base;
};

/* Shared memory the parse kernel needs for t's partial rows. */
__host__ __device__ __forceinline__ size_t smem_bytes(const struct table *t) {
  return t->smem_slots ? (size_t)t->smem_slots * 4 +
                             (size_t)t->smem_slots * t->smem_width * 8
                       : 0;
}

__global__ void k_find_lines(const char *buf, int64_t n, int64_t *starts,
                             unsigned long long *count) {
  /* Each thread looks at 16 bytes; a line starts at 0 and after every '\n'
   * that is not the last byte. */
  int64_t base = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 16;
  int lane = threadIdx.x & 31;
  int mine = 0;
  int64_t pos[16];
  if (base < n) {
    if (base == 0) pos[mine++] = 0;
    int64_t lim = base + 16 < n ? base + 16 : n;
    for (int64_t i = base; i < lim; i++)
      /* Not before another '\n': empty lines need no thread, and the
       * starts then fit in one per two bytes (the size of `starts`). */
      if (buf[i] == '\n' && i + 1 < n && buf[i + 1] != '\n')
        pos[mine++] = i + 1;
  }
  int incl = mine;
  for (int d = 1; d < 32; d <<= 1) {
    int v = __shfl_up_sync(0xffffffffu, incl, d);
    if (lane >= d) incl += v;
  }
  int total = __shfl_sync(0xffffffffu, incl, 31);
  unsigned long long wbase = 0;
  if (lane == 31 && total) wbase = atomicAdd(count, (unsigned long long)total);
  wbase = __shfl_sync(0xffffffffu, wbase, 31);
  int64_t at = (int64_t)wbase + incl - mine;
  for (int k = 0; k < mine; k++)
    starts[at + k] = pos[k];
}

__device__ __forceinline__ uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

__device__ __forceinline__ uint64_t hash_bytes(const char *p, int64_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = 0;
    for (int k = 0; k < 8; k++)
      w |= (uint64_t)(uint8_t)p[i + k] << (8 * k);
    h = mix64(h ^ w) + 0x9E3779B97F4A7C15ull;
  }
  uint64_t w = 0;
  for (int k = 0; i + k < n; k++)
    w |= (uint64_t)(uint8_t)p[i + k] << (8 * k);
  return mix64(h ^ w ^ 0x1234567ull);
}

__device__ __forceinline__ void atomic_min_f64(double *a, double v) {
  unsigned long long *p = (unsigned long long *)a;
  unsigned long long old = *p;
  while (v < __longlong_as_double((long long)old)) {
    unsigned long long prev =
        atomicCAS(p, old, (unsigned long long)__double_as_longlong(v));
    if (prev == old) break;
    old = prev;
  }
}

__device__ __forceinline__ void atomic_max_f64(double *a, double v) {
  unsigned long long *p = (unsigned long long *)a;
  unsigned long long old = *p;
  while (v > __longlong_as_double((long long)old)) {
    unsigned long long prev =
        atomicCAS(p, old, (unsigned long long)__double_as_longlong(v));
    if (prev == old) break;
    old = prev;
  }
}

__device__ __forceinline__ void set_error(struct table *t, int code) {
  atomicExch(&t->counters[2], (unsigned long long)code);
}

/* A string predicate over the decoded value. */
__device__ bool pred_str(const struct sl_dev_pred *pr, const char *s,
                         int32_t n) {
  switch (pr->cmp) {
  case SL_DEV_EQ:
  case SL_DEV_NE: {
    bool eq = n == pr->str_len && dev_bytes_eq(s, pr->str, n);
    return pr->cmp == SL_DEV_EQ ? eq : !eq;
  }
  case SL_DEV_IN: {
    bool in = false;
    for (int k = 0; k < pr->n_list && !in; k++) {
      int32_t o = pr->list_off[k], l = pr->list_off[k + 1] - o;
      in = l == n && dev_bytes_eq(s, pr->list_str + o, n);
    }
    return in != (pr->negate != 0);
  }
  case SL_DEV_LIKE:
    return dev_like(s, n, pr->str, pr->str_len, pr->ci != 0) !=
           (pr->negate != 0);
  }
  return false;
}

/* Three-valued predicate results. */
enum { TV_FALSE = 0, TV_TRUE = 1, TV_NULL = 2 };

/* The three-valued result of one predicate over the row's value. */
__device__ int pred_value(const struct sl_dev_pred *pr, int32_t type,
                          const struct dev_value *v, const char *buf,
                          struct table *t, char *tmp) {
  if (pr->cmp == SL_DEV_IS_NULL)
    return (!v->valid) != (pr->negate != 0) ? TV_TRUE : TV_FALSE;
  if (!v->valid) return TV_NULL;
  if (type == SL_DEV_STRING) {
    const char *s = buf + v->s_off;
    int32_t n = v->s_len;
    if (dev_has_backslash(s, n)) {
      n = dev_unescape(s, n, tmp);
      if (n < 0) {
        set_error(t, ERR_DECODE);
        return TV_FALSE;
      }
      s = tmp;
    }
    if (pr->cmp == SL_DEV_IN) {
      bool in = false;
      for (int k = 0; k < pr->n_list && !in; k++) {
        int32_t o = pr->list_off[k], l = pr->list_off[k + 1] - o;
        in = l == n && dev_bytes_eq(s, pr->list_str + o, n);
      }
      if (!in && pr->list_null) return TV_NULL;
      return in != (pr->negate != 0) ? TV_TRUE : TV_FALSE;
    }
    return pred_str(pr, s, n) ? TV_TRUE : TV_FALSE;
  }
  if (pr->cmp == SL_DEV_IN) {
    bool in = false;
    for (int k = 0; k < pr->n_list && !in; k++)
      in = type == SL_DEV_FLOAT64 ? v->f == pr->list_f64[k]
                                  : v->i == pr->list_i64[k];
    if (!in && pr->list_null) return TV_NULL;
    return in != (pr->negate != 0) ? TV_TRUE : TV_FALSE;
  }
  int c;
  if (type == SL_DEV_FLOAT64)
    c = v->f < pr->f64 ? -1 : v->f > pr->f64 ? 1 : 0;
  else
    c = v->i < pr->i64 ? -1 : v->i > pr->i64 ? 1 : 0;
  bool r = false;
  switch (pr->cmp) {
  case SL_DEV_EQ: r = c == 0; break;
  case SL_DEV_NE: r = c != 0; break;
  case SL_DEV_LT: r = c < 0; break;
  case SL_DEV_LE: r = c <= 0; break;
  case SL_DEV_GT: r = c > 0; break;
  case SL_DEV_GE: r = c >= 0; break;
  }
  return r ? TV_TRUE : TV_FALSE;
}

/* Whether the row passes the WHERE: all predicates TRUE, or the plan's
 * postfix program (checked on the host: balanced, leaves in range)
 * evaluating to TRUE under SQL's three-valued logic. */
__device__ bool row_passes(const struct sl_dev_plan *plan,
                           const struct dev_value *vals, const char *buf,
                           struct table *t, char *tmp) {
  if (plan->n_prog == 0) {
    for (int k = 0; k < plan->n_preds; k++) {
      const struct sl_dev_pred *pr = &plan->preds[k];
      if (pred_value(pr, plan->columns[pr->column].type, &vals[pr->column],
                     buf, t, tmp) != TV_TRUE)
        return false;
    }
    return true;
  }
  uint8_t st[SL_DEV_MAX_PROG];
  int sp = 0;
  for (int i = 0; i < plan->n_prog; i++) {
    int step = plan->prog[i];
    if (step >= 0) {
      const struct sl_dev_pred *pr = &plan->preds[step];
      st[sp++] = (uint8_t)pred_value(pr, plan->columns[pr->column].type,
                                     &vals[pr->column], buf, t, tmp);
    } else if (step == SL_DEV_STEP_NOT) {
      if (st[sp - 1] != TV_NULL) st[sp - 1] ^= 1;
    } else {
      int b = st[--sp], a = st[sp - 1];
      if (step == SL_DEV_STEP_AND)
        st[sp - 1] = a == TV_FALSE || b == TV_FALSE ? TV_FALSE
                     : a == TV_NULL || b == TV_NULL ? TV_NULL
                                                    : TV_TRUE;
      else
        st[sp - 1] = a == TV_TRUE || b == TV_TRUE ? TV_TRUE
                     : a == TV_NULL || b == TV_NULL ? TV_NULL
                                                    : TV_FALSE;
    }
  }
  return sp == 1 && st[0] == TV_TRUE;
}

/* Matches key bytes p[i..i+n) against want[0..wn). */
__device__ __forceinline__ bool key_is(const char *p, int64_t i, int64_t n,
                                       const char *want, int wn) {
  if (n != wn) return false;
  for (int k = 0; k < wn; k++)
    if (p[i + k] != want[k]) return false;
  return true;
}

/* Parses an object body starting after '{' at nesting `depth` (0 = the
 * line's object; inside, the object reached through the first `depth`
 * components of column `parent`'s path); fills vals for columns whose path
 * matches. Returns the index after '}' or -1. */
__device__ int64_t parse_object(const char *p, int64_t i, int64_t end,
                                const struct sl_dev_plan *plan,
                                const struct plan_info *pi, int depth,
                                int parent, struct dev_value *vals) {
  i = dev_skip_ws(p, i, end);
  if (i < end && p[i] == '}') return i + 1;
  for (;;) {
    i = dev_skip_ws(p, i, end);
    if (i >= end || p[i] != '"') return -1;
    int64_t ke = dev_skip_string(p, i, end);
    if (ke < 0) return -1;
    int64_t ks = i + 1, kn = ke - i - 2;
    i = dev_skip_ws(p, ke, end);
    if (i >= end || p[i] != ':') return -1;
    i = dev_skip_ws(p, i + 1, end);
    int64_t next = -2;
    for (int c = 0; c < plan->n_columns && next == -2; c++) {
      if (pi->ncomp[c] <= depth) continue;
      const char *path = plan->columns[c].path;
      if (depth > 0) {
        /* Same first `depth` components as the parent (dots included). */
        int pl = pi->coff[parent][depth];
        if (pi->coff[c][depth] != pl ||
            !key_is(path, 0, pl, plan->columns[parent].path, pl))
          continue;
      }
      if (!key_is(p, ks, kn, path + pi->coff[c][depth], pi->clen[c][depth]))
        continue;
      if (pi->ncomp[c] == depth + 1) {
        /* Duplicate keys: the last one wins. */
        vals[c].valid = 0;
        next = dev_read_value(p, i, end, plan->columns[c].type,
                              plan->columns[c].num_per_ms, &vals[c]);
      } else if (i < end && p[i] == '{') {
        next = parse_object(p, i + 1, end, plan, pi, depth + 1, c, vals);
      }
    }
    if (next == -2) next = dev_skip_value(p, i, end);
    if (next < 0) return -1;
    i = dev_skip_ws(p, next, end);
    if (i >= end) return -1;
    if (p[i] == ',') {
      i++;
      continue;
    }
    if (p[i] == '}') return i + 1;
    return -1;
  }
}

/* Copies n bytes into the key heap; returns (offset << 24 | n), or -1 when
 * the heap is full. */
__device__ __forceinline__ int64_t heap_put(struct table *t, const char *s,
                                            int32_t n) {
  unsigned long long at = atomicAdd(&t->counters[0], (unsigned long long)n);
  if (at + (unsigned long long)n > t->heap_cap || n >= (1 << 24)) return -1;
  for (int32_t q = 0; q < n; q++)
    t->heap[at + q] = s[q];
  return (int64_t)((at << 24) | (unsigned long long)n);
}

/* Compares heap string `ref` with s[0..n), reading the heap past L1 (it was
 * written by another thread: a stale L1 line would split one group). */
__device__ __forceinline__ bool heap_eq(const struct table *t, int64_t ref,
                                        const char *s, int32_t n) {
  int64_t len = ref & ((1 << 24) - 1), off = (int64_t)((uint64_t)ref >> 24);
  if (len != n) return false;
  const volatile char *hp = (const volatile char *)t->heap + off;
  for (int64_t q = 0; q < len; q++)
    if (hp[q] != s[q]) return false;
  return true;
}

/* Waits while a row's state is BUSY; returns its first word once READY. */
__device__ __forceinline__ unsigned long long
wait_ready(volatile unsigned long long *w0, unsigned long long cur) {
  bool waited = false;
  while ((uint32_t)cur == SLOT_BUSY) {
    cur = *w0;
    waited = true;
  }
  if (waited) __threadfence(); /* the publisher's writes before READY */
  return cur;
}

/* Inserts (group, value) into the count(DISTINCT) set; true when new. */
__device__ bool set_insert(struct table *t, uint64_t group, bool is_str,
                           int64_t val, const char *s, int32_t sn) {
  uint64_t h = mix64(group * 0x9E3779B97F4A7C15ull ^
                     (is_str ? hash_bytes(s, sn) : mix64((uint64_t)val)));
  uint64_t mask = (uint64_t)t->set_slots - 1, at = h & mask;
  for (int64_t probes = 0; probes < t->set_slots;
       probes++, at = (at + 1) & mask) {
    unsigned long long *e = t->set + at * 4;
    volatile unsigned long long *ve = e;
    unsigned long long cur = ve[0];
    if ((uint32_t)cur == SLOT_EMPTY) {
      unsigned prev = atomicCAS((unsigned *)e, SLOT_EMPTY, SLOT_BUSY);
      if (prev == SLOT_EMPTY) {
        int64_t v = val;
        if (is_str) {
          v = heap_put(t, s, sn);
          if (v < 0) {
            set_error(t, ERR_HEAP_FULL);
            v = 0;
          }
        }
        e[1] = h;
        e[2] = group;
        e[3] = (unsigned long long)v;
        unsigned long long n = atomicAdd(&t->counters[7], 1ull);
        if (n * 10 > (unsigned long long)t->set_slots * 7)
          set_error(t, ERR_SET_FULL);
        __threadfence();
        atomicExch((unsigned *)e, SLOT_READY);
        return true;
      }
      cur = ve[0];
    }
    wait_ready(ve, cur);
    if (ve[1] != h || ve[2] != group) continue;
    int64_t sv = (int64_t)ve[3];
    if (is_str ? heap_eq(t, sv, s, sn) : sv == val) return false;
  }
  set_error(t, ERR_SET_FULL);
  return false;
}

/* The bits a value is kept as in a row word: int64 as is, float64 as its
 * bits, a string as a heap reference (-1 when the heap is full). */
__device__ __forceinline__ unsigned long long
value_word(struct table *t, const struct dev_value *v, int32_t type,
           const char *buf) {
  if (type == SL_DEV_STRING) {
    int64_t ref = heap_put(t, buf + v->s_off, v->s_len);
    if (ref < 0) {
      set_error(t, ERR_HEAP_FULL);
      ref = 0;
    }
    return (unsigned long long)ref;
  }
  if (type == SL_DEV_FLOAT64)
    return (unsigned long long)__double_as_longlong(v->f);
  return (unsigned long long)v->i;
}

/* first/last/arg_min/arg_max: the row's (position, value[, compared]) for
 * aggregate a is replaced under its lock when this line wins. Lines are
 * ordered by their byte position in the input, as the CPU orders rows. */
__device__ void fold_pick(struct table *t, unsigned long long *row, int op,
                          const struct plan_info *pi, int a, int64_t pos,
                          const struct dev_value *v, int32_t vtype,
                          const struct dev_value *k, int32_t ktype,
                          const char *buf) {
  volatile unsigned long long *vr = row;
  int op_ = op;
  bool arg = op_ == SL_DEV_ARG_MIN || op_ == SL_DEV_ARG_MAX;
  int want = op_ == SL_DEV_ARG_MIN ? -1 : 1;
  int po = pi->off_p[a], ko = pi->off_q[a];
  /* Quick rejections on values that only ever improve. */
  if (op_ == SL_DEV_FIRST && pos >= (int64_t)vr[po]) return;
  if (op_ == SL_DEV_LAST && pos <= (int64_t)vr[po]) return;
  bool fl = ktype == SL_DEV_FLOAT64;
  if (arg) {
    unsigned long long kw = vr[ko];
    int c = fl ? (k->f < __longlong_as_double((long long)kw)   ? -1
                  : k->f > __longlong_as_double((long long)kw) ? 1
                                                               : 0)
               : (k->i < (int64_t)kw ? -1 : k->i > (int64_t)kw ? 1 : 0);
    if ((int64_t)vr[po] != INT64_MAX && c * want < 0) return;
  }
  unsigned *lock = (unsigned *)&row[pi->off_l[a]];
  while (atomicCAS(lock, 0u, 1u) != 0u) {
  }
  __threadfence();
  int64_t cur = (int64_t)vr[po];
  bool win;
  if (op_ == SL_DEV_FIRST) {
    win = pos < cur;
  } else if (op_ == SL_DEV_LAST) {
    win = pos > cur;
  } else if (cur == INT64_MAX) {
    win = true; /* the group's first candidate */
  } else {
    unsigned long long kw = vr[ko];
    int c = fl ? (k->f < __longlong_as_double((long long)kw)   ? -1
                  : k->f > __longlong_as_double((long long)kw) ? 1
                                                               : 0)
               : (k->i < (int64_t)kw ? -1 : k->i > (int64_t)kw ? 1 : 0);
    win = c * want > 0 || (c == 0 && pos < cur);
  }
  if (win) {
    bool valid = v->valid != 0;
    if (valid) row[pi->off_v[a]] = value_word(t, v, vtype, buf);
    lock[1] = valid;
    if (arg)
      row[ko] = fl ? (unsigned long long)__double_as_longlong(k->f)
                   : (unsigned long long)k->i;
    row[po] = (unsigned long long)pos;
  }
  __threadfence();
  atomicExch(lock, 0u);
}

/* Compares s[0..n) with the heap string `ref` as the CPU's str_cmp does
 * (bytes unsigned, then length): <0, 0, >0. Reads the heap past L1. */
__device__ int heap_cmp(const struct table *t, int64_t ref, const char *s,
                        int32_t n) {
  int64_t len = ref & ((1 << 24) - 1), off = (int64_t)((uint64_t)ref >> 24);
  const volatile unsigned char *hp =
      (const volatile unsigned char *)t->heap + off;
  int64_t m = len < n ? len : n;
  for (int64_t q = 0; q < m; q++) {
    unsigned char x = (unsigned char)s[q], y = hp[q];
    if (x != y) return x < y ? -1 : 1;
  }
  return (n > len) - (n < len);
}

/* min/max of a string column: the group's best decoded string s[0..n) is
 * kept in the heap (decoded, unlike first/last), replaced under the
 * aggregate's lock when s is better (want -1: smaller, 1: larger). The
 * value word is written before the valid flag, with a fence between, so a
 * lock-free reader that sees the flag sees a value. */
__device__ void fold_str_minmax(struct table *t, unsigned long long *row,
                                const struct plan_info *pi, int a, int want,
                                const char *s, int32_t n) {
  volatile unsigned long long *vr = row;
  unsigned *lock = (unsigned *)&row[pi->off_l[a]];
  volatile unsigned *vlock = lock;
  int ov = pi->off_v[a];
  if (vlock[1]) {
    __threadfence();
    /* Values only ever improve: not better than this one, not better. */
    if (heap_cmp(t, (int64_t)vr[ov], s, n) * want <= 0) return;
  }
  while (atomicCAS(lock, 0u, 1u) != 0u) {
  }
  __threadfence();
  if (!vlock[1] || heap_cmp(t, (int64_t)vr[ov], s, n) * want > 0) {
    int64_t ref = heap_put(t, s, n);
    if (ref < 0) {
      set_error(t, ERR_HEAP_FULL);
      ref = 0;
    }
    __threadfence();
    vr[ov] = (unsigned long long)ref;
    __threadfence();
    vlock[1] = 1u;
  }
  __threadfence();
  atomicExch(lock, 0u);
}

/* Numbers as unsigned words whose order is the numbers' order. */
__host__ __device__ __forceinline__ unsigned long long
sortable_f64(unsigned long long b) {
  return (b >> 63) ? ~b : b | (1ull << 63);
}
__host__ __device__ __forceinline__ unsigned long long
unsortable_f64(unsigned long long e) {
  return (e >> 63) ? e & ~(1ull << 63) : ~e;
}

/* Appends one (key, value) pair; the threads of a warp that get here
 * together take their places with one atomic. */
__device__ __forceinline__ void push_pair(struct table *t,
                                          unsigned long long key,
                                          unsigned long long val) {
  namespace cg = cooperative_groups;
  cg::coalesced_group g = cg::coalesced_threads();
  unsigned long long base = 0;
  if (g.thread_rank() == 0)
    base = atomicAdd(&t->counters[8], (unsigned long long)g.size());
  base = g.shfl(base, 0);
  unsigned long long at = base + g.thread_rank();
  if (at >= (unsigned long long)t->pairs_cap) {
    set_error(t, ERR_PAIRS_FULL);
    return;
  }
  t->pk[at] = key;
  t->pv[at] = val;
}

/* The block's partial row of table slot key - 1 (key > 0), claimed when the
 * group has none yet; NULL when a few probes find neither it nor a free
 * place (the row is then updated in the table). */
__device__ __forceinline__ unsigned long long *
smem_row(unsigned *map, unsigned long long *rows, int slots, int width,
         unsigned key) {
  unsigned j = (key * 2654435761u) & (unsigned)(slots - 1);
  for (int p = 0; p < 8; p++, j = (j + 1) & (unsigned)(slots - 1)) {
    unsigned cur = ((volatile unsigned *)map)[j];
    if (cur == 0) cur = atomicCAS(&map[j], 0u, key);
    if (cur == 0 || cur == key) return rows + (size_t)j * width;
  }
  return NULL;
}

/* MIN_BLOCKS: blocks of 256 threads an SM must hold at once (the register
 * budget the compiler gets); chosen at launch (SLUICE_CUDA_MIN_BLOCKS). */
template <int MIN_BLOCKS>
__global__ void __launch_bounds__(256, MIN_BLOCKS)
    k_parse_aggregate(const char *buf, int64_t n, int64_t base,
                      const int64_t *starts, const unsigned long long *n_lines,
                      const struct sl_dev_plan *plan,
                      const struct plan_info *pi, struct table t) {
  int64_t lines = (int64_t)*n_lines;
  unsigned long long rows = 0, matched = 0, bad = 0;
  const int stride = t.stride;
  /* Partial rows of this block's groups: a map from table slot + 1 to a
   * partial row (0: free) and the rows, set to their start values before
   * any thread claims one, so a claimed row is ready at once. */
  extern __shared__ unsigned long long smem[];
  const int sslots = t.smem_slots, swidth = t.smem_width, sbase = t.smem_base;
  unsigned *smap = (unsigned *)smem;
  unsigned long long *srows = smem + sslots / 2;
  if (sslots) {
    for (int e = threadIdx.x; e < sslots * swidth; e += blockDim.x)
      srows[e] = pi->init_row[sbase + e % swidth];
    for (int j = threadIdx.x; j < sslots; j += blockDim.x)
      smap[j] = 0;
    __syncthreads();
  }
  for (int64_t l = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; l < lines;
       l += (int64_t)gridDim.x * blockDim.x) {
    /* One pass over the line: the parser stops at the '\n' that ends it
     * (strings, numbers and nesting all treat a newline as the end), so
     * the line's end is never searched for separately. */
    int64_t i = dev_skip_ws(buf, starts[l], n);
    if (i >= n || buf[i] == '\n') continue; /* empty line */
    struct dev_value vals[SL_DEV_MAX_COLUMNS];
    char tmp[DEV_DECODE_CAP]; /* strings with escapes, decoded */
    for (int c = 0; c < plan->n_columns; c++)
      vals[c].valid = 0;
    int64_t r =
        buf[i] == '{' ? parse_object(buf, i + 1, n, plan, pi, 0, -1, vals) : -1;
    if (r >= 0) {
      r = dev_skip_ws(buf, r, n);
      if (r < n && buf[r] != '\n') r = -1; /* more after the object */
    }
    if (r < 0) {
      bad++;
      continue;
    }
    rows++;
    if (!row_passes(plan, vals, buf, &t, tmp)) continue;
    matched++;
    /* Group key: values, null bits and hash. */
    int64_t kv[SL_DEV_MAX_KEYS];
    uint32_t knull = 0;
    uint64_t h = 0x51ED270B27F3A1ull;
    for (int k = 0; k < plan->n_keys; k++) {
      const struct dev_value *v = &vals[plan->keys[k].column];
      int32_t type = plan->columns[plan->keys[k].column].type;
      uint64_t kh;
      if (!v->valid) {
        knull |= 1u << k;
        kv[k] = 0;
        kh = 0xDEADBEEFull;
      } else if (type == SL_DEV_STRING) {
        kv[k] = 0;
        kh = hash_bytes(buf + v->s_off, v->s_len);
      } else if (type == SL_DEV_FLOAT64) {
        double f = v->f == 0.0 ? 0.0 : v->f; /* -0.0 and 0.0 group together */
        kv[k] = __double_as_longlong(f);
        kh = mix64((uint64_t)kv[k]);
      } else {
        int64_t x = v->i;
        int64_t b = plan->keys[k].bucket_ms;
        if (b > 0) x = (x >= 0 ? x / b : -((-x + b - 1) / b)) * b;
        kv[k] = x;
        kh = mix64((uint64_t)x);
      }
      h = mix64(h ^ kh) + (uint64_t)k;
    }
    uint64_t mask = (uint64_t)t.n_slots - 1;
    uint64_t s = h & mask;
    unsigned long long *row = NULL;
    for (int64_t probes = 0; probes < t.n_slots; probes++, s = (s + 1) & mask) {
      unsigned long long *cand = t.rows + s * (uint64_t)stride;
      volatile unsigned long long *vc = cand;
      unsigned long long w0 = vc[0];
      if ((uint32_t)w0 == SLOT_EMPTY) {
        unsigned prev = atomicCAS((unsigned *)cand, SLOT_EMPTY, SLOT_BUSY);
        if (prev == SLOT_EMPTY) {
          /* Claimed: write the key, strings into the heap. */
          for (int k = 0; k < plan->n_keys; k++) {
            const struct dev_value *v = &vals[plan->keys[k].column];
            if (!(knull & (1u << k)) &&
                plan->columns[plan->keys[k].column].type == SL_DEV_STRING) {
              kv[k] = heap_put(&t, buf + v->s_off, v->s_len);
              if (kv[k] < 0) {
                set_error(&t, ERR_HEAP_FULL);
                kv[k] = 0;
              }
            }
            cand[2 + k] = (unsigned long long)kv[k];
          }
          ((unsigned *)cand)[1] = knull;
          cand[1] = h;
          unsigned long long g = atomicAdd(&t.counters[1], 1ull);
          if (g * 10 > (unsigned long long)t.n_slots * 7)
            set_error(&t, ERR_TABLE_FULL);
          __threadfence();
          atomicExch((unsigned *)cand, SLOT_READY);
          row = cand;
          break;
        }
        w0 = vc[0];
      }
      w0 = wait_ready(vc, w0); /* READY, with the key's null bits */
      if (vc[1] != h || (uint32_t)(w0 >> 32) != knull) continue;
      bool eq = true;
      for (int k = 0; k < plan->n_keys && eq; k++) {
        if (knull & (1u << k)) continue;
        int64_t stored = (int64_t)vc[2 + k];
        if (plan->columns[plan->keys[k].column].type == SL_DEV_STRING) {
          const struct dev_value *v = &vals[plan->keys[k].column];
          eq = heap_eq(&t, stored, buf + v->s_off, v->s_len);
        } else {
          eq = stored == kv[k];
        }
      }
      if (eq) {
        row = cand;
        break;
      }
    }
    if (!row) {
      set_error(&t, ERR_TABLE_FULL);
      continue;
    }
    /* The words the simple aggregates fold into: the block's partial row
     * of this group when it has (or gets) one, else the table's row. */
    unsigned long long *arow = row;
    int abase = 0;
    if (sslots) {
      unsigned long long *sr =
          smem_row(smap, srows, sslots, swidth,
                   (unsigned)((uint64_t)(row - t.rows) / (uint64_t)stride) + 1);
      if (sr) {
        arow = sr;
        abase = sbase;
      }
    }
    for (int a = 0; a < plan->n_aggs; a++) {
      int op = plan->aggs[a].op;
      int on = pi->off_n[a];
      if (op == SL_DEV_COUNT_STAR) {
        if (on >= 0) atomicAdd(&arow[on - abase], 1ull);
        continue;
      }
      const struct dev_value *v = &vals[plan->aggs[a].column];
      if (op >= SL_DEV_FIRST) {
        int c2 = op >= SL_DEV_ARG_MIN ? plan->aggs[a].column2
                                      : plan->aggs[a].column;
        const struct dev_value *k = &vals[c2];
        if (op >= SL_DEV_ARG_MIN && (!v->valid || !k->valid)) continue;
        fold_pick(&t, row, op, pi, a, base + starts[l], v,
                  plan->columns[plan->aggs[a].column].type, k,
                  plan->columns[c2].type, buf);
        continue;
      }
      if (!v->valid) continue;
      if (on >= 0) atomicAdd(&arow[on - abase], 1ull);
      if (op == SL_DEV_COUNT) continue;
      int32_t type = plan->columns[plan->aggs[a].column].type;
      if (type == SL_DEV_STRING && (op == SL_DEV_MIN || op == SL_DEV_MAX)) {
        /* Compared decoded, as on the CPU. */
        const char *sp = buf + v->s_off;
        int32_t sn = v->s_len;
        if (dev_has_backslash(sp, sn)) {
          sn = dev_unescape(sp, sn, tmp);
          sp = tmp;
          if (sn < 0) {
            set_error(&t, ERR_DECODE);
            continue;
          }
        }
        fold_str_minmax(&t, row, pi, a, op == SL_DEV_MIN ? -1 : 1, sp, sn);
        continue;
      }
      bool fl = type == SL_DEV_FLOAT64;
      unsigned long long *w = &arow[pi->off_v[a] - abase];
      switch (op) {
      case SL_DEV_SUM:
      case SL_DEV_AVG:
        if (fl)
          atomicAdd((double *)w, v->f);
        else
          atomicAdd(w, (unsigned long long)v->i);
        break;
      case SL_DEV_VAR_POP:
      case SL_DEV_VAR_SAMP:
      case SL_DEV_STDDEV_POP:
      case SL_DEV_STDDEV_SAMP: {
        /* Shifted data: sums of d = x - K, K the first value of the group
         * to arrive (set once, never changed), so the sum of squares does
         * not cancel when the mean is far from 0. */
        double x = fl ? v->f : (double)v->i;
        unsigned long long *kw = &row[pi->off_k[a]];
        unsigned long long kb = *(volatile unsigned long long *)kw;
        if (kb == SHIFT_UNSET) {
          unsigned long long xb = (unsigned long long)__double_as_longlong(x);
          unsigned long long prev = atomicCAS(kw, SHIFT_UNSET, xb);
          kb = prev == SHIFT_UNSET ? xb : prev;
        }
        double d = x - __longlong_as_double((long long)kb);
        atomicAdd((double *)w, d);
        atomicAdd((double *)&row[pi->off_q[a]], d * d);
        break;
      }
      case SL_DEV_QUANTILE_CONT:
      case SL_DEV_QUANTILE_DISC:
      case SL_DEV_APPROX_COUNT_DISTINCT: {
        unsigned long long b =
            fl ? (unsigned long long)__double_as_longlong(v->f)
               : (unsigned long long)v->i;
        unsigned long long val =
            op == SL_DEV_APPROX_COUNT_DISTINCT ? mix64(b)
            : fl                               ? sortable_f64(b)
                                               : b ^ (1ull << 63);
        push_pair(&t, (uint64_t)(row - t.rows) / (uint64_t)stride * 16 + a,
                  val);
        break;
      }
      case SL_DEV_BOOL_AND:
        if (!v->i) atomicAnd(w, 0ull);
        break;
      case SL_DEV_BOOL_OR:
        if (v->i) atomicOr(w, 1ull);
        break;
      case SL_DEV_MIN:
        if (fl)
          atomic_min_f64((double *)w, v->f);
        else
          atomicMin((long long *)w, (long long)v->i);
        break;
      case SL_DEV_MAX:
        if (fl)
          atomic_max_f64((double *)w, v->f);
        else
          atomicMax((long long *)w, (long long)v->i);
        break;
      case SL_DEV_COUNT_DISTINCT: {
        uint64_t group = (uint64_t)(row - t.rows) / (uint64_t)stride * 16 + a;
        bool is_str = type == SL_DEV_STRING;
        int64_t val = v->i;
        if (fl) {
          double f = v->f == 0.0 ? 0.0 : v->f;
          val = __double_as_longlong(f);
        }
        const char *sp = buf + v->s_off;
        int32_t sn = v->s_len;
        if (is_str && dev_has_backslash(sp, sn)) {
          /* Distinct by the decoded string, as on the CPU. */
          sn = dev_unescape(sp, sn, tmp);
          sp = tmp;
          if (sn < 0) {
            set_error(&t, ERR_DECODE);
            break;
          }
        }
        if (set_insert(&t, group, is_str, val, sp, sn)) atomicAdd(w, 1ull);
        break;
      }
      }
    }
  }
  if (sslots) {
    /* Fold the block's partial rows into the table: one atomic per word
     * that moved from its start value. */
    __syncthreads();
    for (int e = threadIdx.x; e < sslots * swidth; e += blockDim.x) {
      unsigned key = smap[e / swidth];
      int w = sbase + e % swidth;
      unsigned long long v = srows[e];
      if (!key || v == pi->init_row[w]) continue;
      unsigned long long *g = t.rows + (uint64_t)(key - 1) * stride + w;
      switch (pi->word_op[w]) {
      case WOP_ADD_U64: atomicAdd(g, v); break;
      case WOP_ADD_F64:
        atomicAdd((double *)g, __longlong_as_double((long long)v));
        break;
      case WOP_MIN_I64: atomicMin((long long *)g, (long long)v); break;
      case WOP_MAX_I64: atomicMax((long long *)g, (long long)v); break;
      case WOP_MIN_F64:
        atomic_min_f64((double *)g, __longlong_as_double((long long)v));
        break;
      case WOP_MAX_F64:
        atomic_max_f64((double *)g, __longlong_as_double((long long)v));
        break;
      case WOP_AND: atomicAnd(g, v); break;
      case WOP_OR: atomicOr(g, v); break;
      }
    }
  }
  /* Block-free counter updates: one atomic per thread that did work. */
  if (rows) atomicAdd(&t.counters[3], rows);
  if (matched) atomicAdd(&t.counters[4], matched);
  if (bad) atomicAdd(&t.counters[5], bad);
}

__global__ void k_init_table(struct table t, const struct plan_info *pi) {
  int64_t words = t.n_slots * t.stride;
  for (int64_t w = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; w < words;
       w += (int64_t)gridDim.x * blockDim.x)
    t.rows[w] = pi->init_row[w % t.stride];
  int64_t sw = t.set_slots * 4;
  for (int64_t w = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; w < sw;
       w += (int64_t)gridDim.x * blockDim.x)
    t.set[w] = 0;
}

__global__ void k_compact(struct table t, int64_t *out,
                          unsigned long long *n_out) {
  for (int64_t s = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
       s < t.n_slots; s += (int64_t)gridDim.x * blockDim.x)
    if ((uint32_t)t.rows[s * t.stride] == SLOT_READY)
      out[atomicAdd(n_out, 1ull)] = s;
}

/* Gathers words[0..nw) of the rows at idx into dst, word-major: dst[j * n +
 * i] = rows[idx[i]][words[j]]. */
__global__ void k_gather(struct table t, const int64_t *idx, int64_t n,
                         const int32_t *words, int nw,
                         unsigned long long *dst) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const unsigned long long *row = t.rows + idx[i] * t.stride;
    for (int j = 0; j < nw; j++)
      dst[(int64_t)j * n + i] = row[words[j]];
  }
}

/* After the pairs are sorted by (key, value): the first pair of each
 * (group, aggregate) segment computes the aggregate into the group's row,
 * exactly as the CPU engine's finish_pairs / HyperLogLog do. */
__global__ void k_pick_pairs(struct table t, int64_t n,
                             const unsigned long long *keys,
                             const unsigned long long *vals,
                             const struct sl_dev_plan *plan,
                             const struct plan_info *pi) {
  for (int64_t s = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; s < n;
       s += (int64_t)gridDim.x * blockDim.x) {
    unsigned long long key = keys[s];
    if (s > 0 && keys[s - 1] == key) continue;
    int a = (int)(key & 15);
    unsigned long long *row = t.rows + (key >> 4) * (uint64_t)t.stride;
    int op = plan->aggs[a].op;
    bool fl = plan->columns[plan->aggs[a].column].type == SL_DEV_FLOAT64;
    int64_t e = s + 1;
    while (e < n && keys[e] == key)
      e++;
    int64_t k = e - s;
    const unsigned long long *v = vals + s;
    if (op == SL_DEV_APPROX_COUNT_DISTINCT) {
      /* Distinct hashes; up to 64 the CPU keeps them exactly. */
      int64_t d = 1;
      for (int64_t j = 1; j < k; j++)
        d += v[j] != v[j - 1];
      if (d <= 64) {
        row[pi->off_q[a]] = (unsigned long long)d;
        continue;
      }
      /* Registers: the hashes are sorted, so those of one register (the
       * top 12 bits) lie together; the sum runs in register order. */
      double sum = 0;
      int64_t zeros = 0, j = 0;
      for (unsigned idx = 0; idx < 4096; idx++) {
        int reg = 0;
        for (; j < k && (unsigned)(v[j] >> 52) == idx; j++) {
          unsigned long long w = (v[j] << 12) | (1ull << 11);
          int rank = __clzll((long long)w) + 1;
          if (rank > reg) reg = rank;
        }
        zeros += reg == 0;
        sum = __dadd_rn(sum, __longlong_as_double((long long)(1023 - reg) << 52));
      }
      row[pi->off_v[a]] = (unsigned long long)__double_as_longlong(sum);
      row[pi->off_q[a]] = (1ull << 63) | (unsigned long long)zeros;
      continue;
    }
    double q = plan->aggs[a].q;
    if (op == SL_DEV_QUANTILE_CONT) {
      double pos = __dmul_rn(q, (double)(k - 1));
      int64_t lo = (int64_t)floor(pos), hi = (int64_t)ceil(pos);
      double x = fl ? __longlong_as_double((long long)unsortable_f64(v[lo]))
                    : (double)(int64_t)(v[lo] ^ (1ull << 63));
      double y = fl ? __longlong_as_double((long long)unsortable_f64(v[hi]))
                    : (double)(int64_t)(v[hi] ^ (1ull << 63));
      /* a + (pos - lo) * (b - a), rounded step by step like the CPU
       * (no fused multiply-add). */
      double r = lo == hi ? x
                          : __dadd_rn(x, __dmul_rn(__dsub_rn(pos, (double)lo),
                                                   __dsub_rn(y, x)));
      row[pi->off_v[a]] = (unsigned long long)__double_as_longlong(r);
    } else {
      int64_t idx = (int64_t)ceil(__dmul_rn(q, (double)k)) - 1;
      if (idx < 0) idx = 0;
      if (idx >= k) idx = k - 1;
      row[pi->off_v[a]] =
          fl ? unsortable_f64(v[idx]) : v[idx] ^ (1ull << 63);
    }
  }
}
