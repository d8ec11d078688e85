/* sluice compute: hash aggregation.
 *
 * One sl_hagg is a hash table from typed group keys to group ids plus, per
 * aggregate, columnar state arrays indexed by group id. The executor gives
 * every worker thread its own sl_hagg (a partial), feeds it chunks of rows,
 * and at the end merges the partials into one (sl__hagg_merge) and reads the
 * groups out as vecs (sl__hagg_finish). Memory grows with the number of
 * groups, not with the input (except for the exact holistic aggregates:
 * count(DISTINCT), median and quantiles keep their values). */
#ifndef SLUICE_COMPUTE_AGG_H
#define SLUICE_COMPUTE_AGG_H

#include <string.h>

#include "compute/vec.h"
#include "sluice/alloc.h"

enum sl_agg_fn {
  SL_AGG_COUNT_STAR = 0,
  SL_AGG_COUNT,
  SL_AGG_COUNT_DISTINCT,
  SL_AGG_SUM,
  SL_AGG_AVG,
  SL_AGG_MIN,
  SL_AGG_MAX,
  SL_AGG_STDDEV_SAMP,
  SL_AGG_STDDEV_POP,
  SL_AGG_VAR_SAMP,
  SL_AGG_VAR_POP,
  SL_AGG_QUANTILE_CONT, /* median = quantile_cont(x, 0.5) */
  SL_AGG_QUANTILE_DISC, /* quantile(x, q) */
  SL_AGG_APPROX_COUNT_DISTINCT,
  SL_AGG_APPROX_QUANTILE,
  SL_AGG_FIRST,
  SL_AGG_LAST,
  SL_AGG_ARG_MIN, /* arg_min(arg, val) */
  SL_AGG_ARG_MAX,
  SL_AGG_BOOL_AND,
  SL_AGG_BOOL_OR,
  SL_AGG_FN_COUNT_
};

struct sl_agg_spec {
  enum sl_agg_fn fn;
  enum sl_vt in_type;  /* type of the argument (arg_min/max: of arg) */
  enum sl_vt in_type2; /* arg_min/max: type of val */
  enum sl_vt out_type;
  double q;          /* quantile fraction */
  int32_t arg, arg2; /* indices into the chunk's argument vecs, -1 none */
};

struct sl_hagg;

/* Creates an empty table; specs and key types are copied. */
int sl__hagg_create(int32_t n_keys, const enum sl_vt *key_types, int32_t n_aggs,
                    const struct sl_agg_spec *specs, struct sl_hagg **out);
void sl__hagg_free(struct sl_hagg *h);
int64_t sl__hagg_groups(const struct sl_hagg *h);
/* Bytes held (tables, states, copied strings), for memory accounting. */
int64_t sl__hagg_bytes(const struct sl_hagg *h);

/* Adds n rows: keys[n_keys] and args[] are dense vecs of n rows. seq is the
 * input position of row r (seq_base + r, or seq_base + sel[r] when sel is
 * not NULL), used by first/last/arg_min/arg_max to break ties by input
 * order. scratch is a per-thread arena the caller resets. */
int sl__hagg_update(struct sl_hagg *h, const struct sl_vec *keys,
                    const struct sl_vec *args, int64_t n, int64_t seq_base,
                    const int32_t *sel, struct sl_arena *scratch,
                    struct sl_error *err);
/* Folds src's groups and states into dst (src keeps its groups, though
 * its layout may change). */
int sl__hagg_merge(struct sl_hagg *dst, struct sl_hagg *src,
                   struct sl_error *err);
/* Writes n_keys + n_aggs vecs of sl__hagg_groups rows into out; memory from
 * a, strings may point into h (keep h alive while they are used). */
int sl__hagg_finish(struct sl_hagg *h, struct sl_arena *a, struct sl_vec *out,
                    struct sl_error *err);

/* ---- the same in parallel steps -------------------------------------------
 * A merge of many groups: sl__hagg_merge_keys on one thread (finds or adds
 * each src group in dst: map[g] = its dst group), then
 * sl__hagg_merge_states over disjoint ranges of src groups on any number of
 * threads (distinct src groups have distinct dst groups, so the ranges
 * write disjoint states). The result: sl__hagg_finish_alloc on one thread,
 * then sl__hagg_finish_range over disjoint group ranges on any threads.
 * Only for tables where sl__hagg_parallel_ok holds. */
bool sl__hagg_parallel_ok(const struct sl_hagg *h);
/* *map (the caller sl_free()s it) gets *n_map entries, one per group slot
 * of src (an identity table's empty slots included): the merge_states
 * ranges cover [0, *n_map). */
int sl__hagg_merge_keys(struct sl_hagg *dst, struct sl_hagg *src,
                        uint32_t **map, int64_t *n_map);
int sl__hagg_merge_states(struct sl_hagg *dst, const struct sl_hagg *src,
                          const uint32_t *map, int64_t g0, int64_t g1,
                          struct sl_error *err);
/* After sl__hagg_finish_alloc the table is only read (finish_range, free):
 * an identity table is read out in key order without being packed. */
int sl__hagg_finish_alloc(struct sl_hagg *h, struct sl_arena *a,
                          struct sl_vec *out);
int sl__hagg_finish_range(struct sl_hagg *h, int64_t g0, int64_t g1,
                          struct sl_vec *out, struct sl_error *err);

/* ---- internal, shared by hash_agg.c and agg_funcs.c -------------------- */

struct sl__agg_state; /* per aggregate, columnar over groups */
int sl__agg_state_new(const struct sl_agg_spec *s, struct sl__agg_state **out);
void sl__agg_state_free(struct sl__agg_state *st);
int64_t sl__agg_state_bytes(const struct sl__agg_state *st);
/* Makes room for groups [0, n_groups). */
int sl__agg_state_grow(struct sl__agg_state *st, int64_t n_groups);
/* Packs groups in place: slot g < n_slots with keep[g] moves to map[g]
 * (map[g] <= g, increasing over the kept slots); slots from the number
 * kept up to n_slots are left empty. */
void sl__agg_state_pack(struct sl__agg_state *st, const uint32_t *map,
                        const uint8_t *keep, int64_t n_slots, int64_t n_kept);
/* Every gid[r] < n_groups. */
int sl__agg_state_update(struct sl__agg_state *st, const uint32_t *gid,
                         int64_t n_groups, const struct sl_vec *args, int64_t n,
                         int64_t seq_base, const int32_t *sel,
                         struct sl_arena *strings, struct sl_error *err);
/* dst[map[g]] (+)= src[g] for the src groups g in [g0, g1) (pair-keeping
 * aggregates: g0 = 0 only). */
int sl__agg_state_merge(struct sl__agg_state *dst,
                        const struct sl__agg_state *src, const uint32_t *map,
                        int64_t g0, int64_t g1, struct sl_arena *strings,
                        struct sl_error *err);
/* True when disjoint group ranges of one src can merge on several threads at
 * once: no (group, value) pairs and no string values copied into the
 * table's arena. */
bool sl__agg_state_merge_in_parallel(const struct sl__agg_state *st);
/* count(*) may lean on a sum/avg of a column (one for which
 * can_count_rows holds) of the same table: that state counts the rows
 * where its column is not NULL, count(*) then the others. Set again when
 * either state is replaced; both are merged, moved and packed alike. */
bool sl__agg_state_can_count_rows(const struct sl__agg_state *st);
void sl__agg_state_share_rows(struct sl__agg_state *count_star,
                              const struct sl__agg_state *sum);
/* Before sl__agg_state_merge of s into d (which may then run on several
 * threads): makes what the merge may need in d. 0 or SL_ENOMEM. */
int sl__agg_state_merge_prepare(struct sl__agg_state *d,
                                const struct sl__agg_state *s);
int sl__agg_state_finish(struct sl__agg_state *st, int64_t n_groups,
                         struct sl_arena *a, struct sl_vec *out,
                         struct sl_error *err);
/* Writes rows [g0, g1) of out (a vec of the result type with validity,
 * made for all groups): row r from group at[r], or from group r when at is
 * NULL; not for pair-keeping aggregates. */
int sl__agg_state_finish_range(struct sl__agg_state *st, int64_t g0, int64_t g1,
                               const uint32_t *at, struct sl_vec *out,
                               struct sl_error *err);

/* HyperLogLog for approx_count_distinct (hll.c). */
struct sl__hll;
int sl__hll_add(struct sl__hll **h, uint64_t hash);
int sl__hll_merge(struct sl__hll **dst, const struct sl__hll *src);
int64_t sl__hll_estimate(const struct sl__hll *h);
int64_t sl__hll_bytes(const struct sl__hll *h);
void sl__hll_free(struct sl__hll *h);

/* Equal strings; short ones (the usual group key) compared with two
 * overlapping loads per side instead of a call to memcmp. */
static inline bool sl__str_eq(struct sl_str a, struct sl_str b) {
  if (a.n != b.n) return false;
  size_t n = (size_t)a.n;
  if (n >= 8 && n <= 32) {
    uint64_t x0, y0, x1, y1;
    memcpy(&x0, a.p, 8);
    memcpy(&y0, b.p, 8);
    memcpy(&x1, a.p + n - 8, 8);
    memcpy(&y1, b.p + n - 8, 8);
    uint64_t diff = (x0 ^ y0) | (x1 ^ y1);
    if (n > 16) {
      uint64_t x2, y2, x3, y3;
      memcpy(&x2, a.p + 8, 8);
      memcpy(&y2, b.p + 8, 8);
      memcpy(&x3, a.p + n - 16, 8);
      memcpy(&y3, b.p + n - 16, 8);
      diff |= (x2 ^ y2) | (x3 ^ y3);
    }
    return diff == 0;
  }
  if (n >= 4 && n < 8) {
    uint32_t x0, y0, x1, y1;
    memcpy(&x0, a.p, 4);
    memcpy(&y0, b.p, 4);
    memcpy(&x1, a.p + n - 4, 4);
    memcpy(&y1, b.p + n - 4, 4);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  return n == 0 || memcmp(a.p, b.p, n) == 0;
}

/* Hashes of one value, shared by keys, distinct counts and HLL. */
uint64_t sl__hash_str(const char *p, int64_t n);
static inline uint64_t sl__hash_u64(uint64_t x) {
  x ^= x >> 33;
  x *= UINT64_C(0xff51afd7ed558ccd);
  x ^= x >> 33;
  x *= UINT64_C(0xc4ceb9fe1a85ec53);
  x ^= x >> 33;
  return x;
}

#endif
