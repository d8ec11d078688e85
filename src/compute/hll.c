/* HyperLogLog for approx_count_distinct: 4096 one-byte registers (standard
 * error about 1.6%), with a small exact set of hashes first so the many
 * small groups of a high-cardinality GROUP BY cost a few bytes, not 4 KiB. */
#include <math.h>
#include <string.h>

#include "compute/agg.h"

#define HLL_P 12
#define HLL_M (1 << HLL_P)
#define SPARSE_MAX 64

struct sl__hll {
  int32_t n;   /* sparse: distinct hashes held */
  int32_t cap; /* sparse capacity; 0 once dense */
  uint64_t *sparse;
  uint8_t *regs; /* dense registers */
};

static void dense_add(uint8_t *regs, uint64_t h) {
  uint32_t idx = (uint32_t)(h >> (64 - HLL_P));
  uint64_t w = (h << HLL_P) | (UINT64_C(1) << (HLL_P - 1));
  uint8_t rank = (uint8_t)(__builtin_clzll(w) + 1);
  if (rank > regs[idx]) regs[idx] = rank;
}

static int to_dense(struct sl__hll *h) {
  h->regs = sl_calloc(HLL_M, 1);
  if (!h->regs) return SL_ENOMEM;
  for (int32_t i = 0; i < h->n; i++)
    dense_add(h->regs, h->sparse[i]);
  sl_free(h->sparse);
  h->sparse = NULL;
  h->n = 0;
  h->cap = 0;
  return 0;
}

int sl__hll_add(struct sl__hll **hp, uint64_t hash) {
  struct sl__hll *h = *hp;
  if (!h) {
    h = sl_calloc(1, sizeof *h);
    if (!h) return SL_ENOMEM;
    h->cap = 4;
    h->sparse = sl_malloc(4 * sizeof *h->sparse);
    if (!h->sparse) {
      sl_free(h);
      return SL_ENOMEM;
    }
    *hp = h;
  }
  if (h->regs) {
    dense_add(h->regs, hash);
    return 0;
  }
  for (int32_t i = 0; i < h->n; i++)
    if (h->sparse[i] == hash) return 0;
  if (h->n == SPARSE_MAX) {
    SL_RETURN_NOT_OK(to_dense(h));
    dense_add(h->regs, hash);
    return 0;
  }
  if (h->n == h->cap) {
    uint64_t *p = sl_realloc(h->sparse, (size_t)h->cap * 2 * sizeof *p);
    if (!p) return SL_ENOMEM;
    h->sparse = p;
    h->cap *= 2;
  }
  h->sparse[h->n++] = hash;
  return 0;
}

int sl__hll_merge(struct sl__hll **dst, const struct sl__hll *src) {
  if (src->regs) {
    struct sl__hll *d = *dst;
    if (!d) {
      d = sl_calloc(1, sizeof *d);
      if (!d) return SL_ENOMEM;
      *dst = d;
    }
    if (!d->regs) SL_RETURN_NOT_OK(to_dense(d));
    for (int i = 0; i < HLL_M; i++)
      if (src->regs[i] > d->regs[i]) d->regs[i] = src->regs[i];
    return 0;
  }
  for (int32_t i = 0; i < src->n; i++)
    SL_RETURN_NOT_OK(sl__hll_add(dst, src->sparse[i]));
  return 0;
}

int64_t sl__hll_estimate(const struct sl__hll *h) {
  if (!h) return 0;
  if (!h->regs) return h->n;
  double sum = 0;
  int zeros = 0;
  for (int i = 0; i < HLL_M; i++) {
    sum += ldexp(1.0, -h->regs[i]);
    zeros += h->regs[i] == 0;
  }
  double m = HLL_M, alpha = 0.7213 / (1 + 1.079 / m);
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros) e = m * log(m / zeros);
  return (int64_t)llround(e);
}

int64_t sl__hll_bytes(const struct sl__hll *h) {
  if (!h) return 0;
  return (int64_t)sizeof *h + (h->regs ? HLL_M : h->cap * 8);
}

void sl__hll_free(struct sl__hll *h) {
  if (!h) return;
  sl_free(h->sparse);
  sl_free(h->regs);
  sl_free(h);
}
