/* sluice CUDA backend: JSON Lines -> filter -> hash group-by, on the GPU.
 *
 * Per chunk of input (cut at a newline): one kernel finds line starts
 * (warp-aggregated atomics), one kernel parses one line per thread,
 * evaluates the predicates and folds the row into a global open-addressing
 * hash table with atomics. Chunks alternate between two streams and two
 * pinned staging buffers, so the host copy of chunk i+1 and the H2D copy
 * overlap the kernels of chunk i. See docs/gpu.md. */
#include <cuda_runtime.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <string>

#include "device/cuda/json_parse.cuh"
#include "device/device_abi.h"

#define CK(call)                                                               \
  do {                                                                         \
    cudaError_t e_ = (call);                                                   \
    if (e_ != cudaSuccess) {                                                   \
      snprintf(errbuf, errcap, "CUDA: %s failed: %s", #call,                   \
               cudaGetErrorString(e_));                                        \
      goto fail;                                                               \
    }                                                                          \
  } while (0)

enum { SLOT_EMPTY = 0, SLOT_BUSY = 1, SLOT_READY = 2 };
enum { ERR_TABLE_FULL = 1, ERR_HEAP_FULL = 2 };

struct table {
  int64_t n_slots; /* power of two */
  uint32_t *state;
  uint64_t *hash;
  int64_t *key[SL_DEV_MAX_KEYS]; /* int value, or heap (offset<<24 | len) */
  uint8_t *knull;                /* bit k: key k is null */
  unsigned long long *agg_n[SL_DEV_MAX_AGGS];
  long long *agg_i[SL_DEV_MAX_AGGS];
  double *agg_f[SL_DEV_MAX_AGGS];
  char *heap;
  unsigned long long heap_cap;
  unsigned long long *counters; /* [0] heap used, [1] groups, [2] error,
                                   [3] rows, [4] matched, [5] bad, [6] lines */
};

struct cuda_ctx {
  int dev;
  cudaStream_t stream[2];
  cudaEvent_t staged[2];
  char *h_stage[2];
  char *d_buf[2];
  int64_t *d_starts[2];
  size_t chunk;
  int sms;
};

/* ---- kernels ----------------------------------------------------------- */

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
      if (buf[i] == '\n' && i + 1 < n) pos[mine++] = i + 1;
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

__device__ bool pred_pass(const struct sl_dev_pred *pr, int32_t type,
                          const struct dev_value *v, const char *buf) {
  if (!v->valid) return false;
  int c;
  if (type == SL_DEV_STRING) {
    bool eq = v->s_len == pr->str_len;
    for (int k = 0; eq && k < pr->str_len; k++)
      eq = buf[v->s_off + k] == pr->str[k];
    return pr->cmp == SL_DEV_EQ ? eq : pr->cmp == SL_DEV_NE ? !eq : false;
  }
  if (type == SL_DEV_FLOAT64)
    c = v->f < pr->f64 ? -1 : v->f > pr->f64 ? 1 : 0;
  else
    c = v->i < pr->i64 ? -1 : v->i > pr->i64 ? 1 : 0;
  switch (pr->cmp) {
  case SL_DEV_EQ: return c == 0;
  case SL_DEV_NE: return c != 0;
  case SL_DEV_LT: return c < 0;
  case SL_DEV_LE: return c <= 0;
  case SL_DEV_GT: return c > 0;
  case SL_DEV_GE: return c >= 0;
  }
  return false;
}

/* Matches key bytes p[i..i+n) against a plan path component. */
__device__ __forceinline__ bool key_is(const char *p, int64_t i, int64_t n,
                                       const char *want, int wn) {
  if (n != wn) return false;
  for (int k = 0; k < wn; k++)
    if (p[i + k] != want[k]) return false;
  return true;
}

struct plan_info { /* derived from the plan once, on the host */
  /* Aggregates over the same column share one non-null count (and every
   * count(*) shares one): count_src[a] is the aggregate that keeps it. */
  int8_t count_src[SL_DEV_MAX_AGGS];
  int8_t top_len[SL_DEV_MAX_COLUMNS]; /* length of the first component */
  int8_t sub_off[SL_DEV_MAX_COLUMNS]; /* offset of the second, or -1 */
  int8_t sub_len[SL_DEV_MAX_COLUMNS];
};

/* Parses an object body starting after '{' at depth `depth`; fills vals for
 * columns whose path matches. Returns index after '}' or -1. */
__device__ int64_t parse_object(const char *p, int64_t i, int64_t end,
                                const struct sl_dev_plan *plan,
                                const struct plan_info *pi, int parent,
                                struct dev_value *vals) {
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
      const char *path = plan->columns[c].path;
      if (parent < 0) {
        if (!key_is(p, ks, kn, path, pi->top_len[c])) continue;
        if (pi->sub_off[c] >= 0) {
          if (i < end && p[i] == '{')
            next = parse_object(p, i + 1, end, plan, pi, c, vals);
        } else {
          /* Duplicate keys: the last one wins. */
          vals[c].valid = 0;
          next = dev_read_value(p, i, end, plan->columns[c].type,
                                plan->columns[c].num_per_ms, &vals[c]);
        }
      } else {
        /* inside object of column `parent`'s first component: match every
         * column sharing that first component. */
        if (pi->sub_off[c] < 0 || pi->top_len[c] != pi->top_len[parent] ||
            !key_is(path, 0, pi->top_len[c], plan->columns[parent].path,
                    pi->top_len[parent]))
          continue;
        if (!key_is(p, ks, kn, path + pi->sub_off[c], pi->sub_len[c])) continue;
        vals[c].valid = 0;
        next = dev_read_value(p, i, end, plan->columns[c].type,
                              plan->columns[c].num_per_ms, &vals[c]);
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

__global__ void k_parse_aggregate(const char *buf, int64_t n,
                                  const int64_t *starts,
                                  const unsigned long long *n_lines,
                                  const struct sl_dev_plan *plan,
                                  const struct plan_info *pi, struct table t) {
  int64_t lines = (int64_t)*n_lines;
  unsigned long long rows = 0, matched = 0, bad = 0;
  for (int64_t l = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; l < lines;
       l += (int64_t)gridDim.x * blockDim.x) {
    /* One pass over the line: the parser stops at the '\n' that ends it
     * (strings, numbers and nesting all treat a newline as the end), so
     * the line's end is never searched for separately. */
    int64_t i = dev_skip_ws(buf, starts[l], n);
    if (i >= n || buf[i] == '\n') continue; /* empty line */
    rows++;
    struct dev_value vals[SL_DEV_MAX_COLUMNS];
    for (int c = 0; c < plan->n_columns; c++)
      vals[c].valid = 0;
    int64_t r =
        buf[i] == '{' ? parse_object(buf, i + 1, n, plan, pi, -1, vals) : -1;
    if (r >= 0) {
      r = dev_skip_ws(buf, r, n);
      if (r < n && buf[r] != '\n') r = -1; /* more after the object */
    }
    if (r < 0) {
      bad++;
      rows--;
      continue;
    }
    bool pass = true;
    for (int k = 0; k < plan->n_preds && pass; k++)
      pass =
          pred_pass(&plan->preds[k], plan->columns[plan->preds[k].column].type,
                    &vals[plan->preds[k].column], buf);
    if (!pass) continue;
    matched++;
    /* Group key: values, null bits and hash. */
    int64_t kv[SL_DEV_MAX_KEYS];
    uint8_t knull = 0;
    uint64_t h = 0x51ED270B27F3A1ull;
    for (int k = 0; k < plan->n_keys; k++) {
      const struct dev_value *v = &vals[plan->keys[k].column];
      int32_t type = plan->columns[plan->keys[k].column].type;
      uint64_t kh;
      if (!v->valid) {
        knull |= (uint8_t)(1u << k);
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
    int64_t slot = -1;
    for (int64_t probes = 0; probes < t.n_slots; probes++, s = (s + 1) & mask) {
      volatile uint32_t *st = (volatile uint32_t *)&t.state[s];
      uint32_t cur = *st;
      if (cur == SLOT_EMPTY) {
        cur = atomicCAS(&t.state[s], SLOT_EMPTY, SLOT_BUSY);
        if (cur == SLOT_EMPTY) {
          /* Claimed: write the key, strings into the heap. */
          bool ok = true;
          for (int k = 0; k < plan->n_keys; k++) {
            const struct dev_value *v = &vals[plan->keys[k].column];
            if (!(knull & (1u << k)) &&
                plan->columns[plan->keys[k].column].type == SL_DEV_STRING) {
              unsigned long long at =
                  atomicAdd(&t.counters[0], (unsigned long long)v->s_len);
              if (at + v->s_len > t.heap_cap || v->s_len >= (1 << 24)) {
                ok = false;
                kv[k] = 0;
              } else {
                for (int64_t q = 0; q < v->s_len; q++)
                  t.heap[at + q] = buf[v->s_off + q];
                kv[k] = (int64_t)((at << 24) | (unsigned long long)v->s_len);
              }
            }
            t.key[k][s] = kv[k];
          }
          if (!ok)
            atomicExch((unsigned long long *)&t.counters[2], ERR_HEAP_FULL);
          t.knull[s] = knull;
          t.hash[s] = h;
          unsigned long long g = atomicAdd(&t.counters[1], 1ull);
          if (g * 10 > (unsigned long long)t.n_slots * 7)
            atomicExch((unsigned long long *)&t.counters[2], ERR_TABLE_FULL);
          __threadfence();
          atomicExch(&t.state[s], SLOT_READY);
          slot = (int64_t)s;
          break;
        }
      }
      while (cur == SLOT_BUSY)
        cur = *st;
      /* READY: compare. */
      if (((volatile uint64_t *)t.hash)[s] != h ||
          ((volatile uint8_t *)t.knull)[s] != knull)
        continue;
      bool eq = true;
      for (int k = 0; k < plan->n_keys && eq; k++) {
        if (knull & (1u << k)) continue;
        int64_t stored = ((volatile int64_t *)t.key[k])[s];
        if (plan->columns[plan->keys[k].column].type == SL_DEV_STRING) {
          const struct dev_value *v = &vals[plan->keys[k].column];
          int64_t len = stored & ((1 << 24) - 1),
                  off = (int64_t)((uint64_t)stored >> 24);
          eq = len == v->s_len;
          /* The heap was written by another thread: read it past L1
           * (a stale L1 line would split one group into two). */
          const volatile char *hp = (const volatile char *)t.heap + off;
          for (int64_t q = 0; eq && q < len; q++)
            eq = hp[q] == buf[v->s_off + q];
        } else {
          eq = stored == kv[k];
        }
      }
      if (eq) {
        slot = (int64_t)s;
        break;
      }
    }
    if (slot < 0) {
      atomicExch((unsigned long long *)&t.counters[2], ERR_TABLE_FULL);
      continue;
    }
    for (int a = 0; a < plan->n_aggs; a++) {
      int op = plan->aggs[a].op;
      bool counts = pi->count_src[a] == a;
      if (op == SL_DEV_COUNT_STAR) {
        if (counts) atomicAdd(&t.agg_n[a][slot], 1ull);
        continue;
      }
      const struct dev_value *v = &vals[plan->aggs[a].column];
      if (!v->valid) continue;
      if (counts) atomicAdd(&t.agg_n[a][slot], 1ull);
      if (op == SL_DEV_COUNT) continue;
      bool fl = plan->columns[plan->aggs[a].column].type == SL_DEV_FLOAT64;
      switch (op) {
      case SL_DEV_SUM:
      case SL_DEV_AVG:
        if (fl)
          atomicAdd(&t.agg_f[a][slot], v->f);
        else
          atomicAdd((unsigned long long *)&t.agg_i[a][slot],
                    (unsigned long long)v->i);
        break;
      case SL_DEV_VAR_POP:
      case SL_DEV_VAR_SAMP:
      case SL_DEV_STDDEV_POP:
      case SL_DEV_STDDEV_SAMP: {
        /* sum in agg_f, sum of squares (a double) in agg_i's storage */
        double x = fl ? v->f : (double)v->i;
        atomicAdd(&t.agg_f[a][slot], x);
        atomicAdd((double *)&t.agg_i[a][slot], x * x);
        break;
      }
      case SL_DEV_MIN:
        if (fl)
          atomic_min_f64(&t.agg_f[a][slot], v->f);
        else
          atomicMin(&t.agg_i[a][slot], (long long)v->i);
        break;
      case SL_DEV_MAX:
        if (fl)
          atomic_max_f64(&t.agg_f[a][slot], v->f);
        else
          atomicMax(&t.agg_i[a][slot], (long long)v->i);
        break;
      }
    }
  }
  /* Block-free counter updates: one atomic per thread that did work. */
  if (rows) atomicAdd(&t.counters[3], rows);
  if (matched) atomicAdd(&t.counters[4], matched);
  if (bad) atomicAdd(&t.counters[5], bad);
}

__global__ void k_init_table(struct table t, struct sl_dev_plan plan) {
  for (int64_t s = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
       s < t.n_slots; s += (int64_t)gridDim.x * blockDim.x) {
    t.state[s] = SLOT_EMPTY;
    for (int a = 0; a < plan.n_aggs; a++) {
      t.agg_n[a][s] = 0;
      bool mn = plan.aggs[a].op == SL_DEV_MIN,
           mx = plan.aggs[a].op == SL_DEV_MAX;
      t.agg_i[a][s] = mn ? INT64_MAX : mx ? INT64_MIN : 0;
      t.agg_f[a][s] =
          mn   ? __longlong_as_double(0x7ff0000000000000ll)
          : mx ? __longlong_as_double((long long)0xfff0000000000000ull)
               : 0.0;
    }
  }
}

__global__ void k_compact(struct table t, int64_t *out,
                          unsigned long long *n_out) {
  for (int64_t s = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
       s < t.n_slots; s += (int64_t)gridDim.x * blockDim.x)
    if (t.state[s] == SLOT_READY) out[atomicAdd(n_out, 1ull)] = s;
}

/* Gathers column `src` (8-byte elements) at slots idx into dst. */
__global__ void k_gather8(const int64_t *src, const int64_t *idx, int64_t n,
                          int64_t *dst) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = src[idx[i]];
}
__global__ void k_gather1(const uint8_t *src, const int64_t *idx, int64_t n,
                          uint8_t *dst) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = src[idx[i]];
}

/* ---- host side --------------------------------------------------------- */

static double now_s(void) {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

static int grid_for(const struct cuda_ctx *c, int64_t work, int block) {
  int64_t g = (work + block - 1) / block;
  int64_t cap = (int64_t)c->sms * 32;
  if (g > cap) g = cap;
  return g < 1 ? 1 : (int)g;
}

static int cuda_open(int index, void **out, char *desc, size_t desc_cap,
                     char *errbuf, size_t errcap) {
  *out = NULL;
  struct cuda_ctx *c = (struct cuda_ctx *)calloc(1, sizeof *c);
  cudaDeviceProp prop;
  int n = 0;
  if (!c) {
    snprintf(errbuf, errcap, "CUDA: out of host memory");
    return -1;
  }
  CK(cudaGetDeviceCount(&n));
  if (index < 0 || index >= n) {
    snprintf(errbuf, errcap, "CUDA: device %d requested, %d present", index, n);
    goto fail;
  }
  c->dev = index;
  CK(cudaSetDevice(index));
  CK(cudaGetDeviceProperties(&prop, index));
  c->sms = prop.multiProcessorCount;
  {
    const char *env = getenv("SLUICE_CUDA_CHUNK_MB");
    c->chunk = (size_t)(env ? atol(env) : 128) << 20;
    if (c->chunk < (1u << 20)) c->chunk = 1u << 20;
  }
  for (int b = 0; b < 2; b++) {
    CK(cudaStreamCreateWithFlags(&c->stream[b], cudaStreamNonBlocking));
    CK(cudaEventCreateWithFlags(&c->staged[b], cudaEventDisableTiming));
    CK(cudaMallocHost((void **)&c->h_stage[b], c->chunk));
    CK(cudaMalloc((void **)&c->d_buf[b], c->chunk));
    /* At most one line start per byte. */
    CK(cudaMalloc((void **)&c->d_starts[b],
                  c->chunk / 2 * sizeof(int64_t) + 64));
  }
  snprintf(desc, desc_cap, "%s, %d SMs, %.0f GiB, compute %d.%d", prop.name,
           prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0,
           prop.major, prop.minor);
  *out = c;
  return 0;
fail:
  free(c);
  return -1;
}

static void cuda_close(void *ctx) {
  struct cuda_ctx *c = (struct cuda_ctx *)ctx;
  if (!c) return;
  for (int b = 0; b < 2; b++) {
    if (c->stream[b]) cudaStreamDestroy(c->stream[b]);
    if (c->staged[b]) cudaEventDestroy(c->staged[b]);
    cudaFreeHost(c->h_stage[b]);
    cudaFree(c->d_buf[b]);
    cudaFree(c->d_starts[b]);
  }
  free(c);
}

static void *cuda_host_alloc(void *ctx, size_t n) {
  void *p = NULL;
  return cudaMallocHost(&p, n) == cudaSuccess ? p : NULL;
}
static void cuda_host_free(void *ctx, void *p) {
  cudaFreeHost(p);
}

static void table_free(struct table *t) {
  cudaFree(t->state);
  cudaFree(t->hash);
  for (int k = 0; k < SL_DEV_MAX_KEYS; k++)
    cudaFree(t->key[k]);
  cudaFree(t->knull);
  for (int a = 0; a < SL_DEV_MAX_AGGS; a++) {
    cudaFree(t->agg_n[a]);
    cudaFree(t->agg_i[a]);
    cudaFree(t->agg_f[a]);
  }
  cudaFree(t->heap);
  cudaFree(t->counters);
  memset(t, 0, sizeof *t);
}

static int table_alloc(struct table *t, const struct sl_dev_plan *plan,
                       size_t len, char *errbuf, size_t errcap) {
  memset(t, 0, sizeof *t);
  /* At most one group per 8 input bytes (a line with a key is longer), so
   * small micro-batches get small tables; 4 Mi slots at most by default. */
  const char *env = getenv("SLUICE_CUDA_SLOTS");
  int64_t cap = env ? atoll(env) : (int64_t)1 << 22;
  int64_t want = (int64_t)(len / 8) * 2 + 1024;
  if (want > cap) want = cap;
  int64_t p2 = 1024;
  while (p2 < want)
    p2 <<= 1;
  t->n_slots = p2;
  t->heap_cap = 256ull << 20;
  size_t n = (size_t)t->n_slots;
  CK(cudaMalloc((void **)&t->state, n * sizeof *t->state));
  CK(cudaMalloc((void **)&t->hash, n * sizeof *t->hash));
  CK(cudaMalloc((void **)&t->knull, n));
  for (int k = 0; k < plan->n_keys; k++)
    CK(cudaMalloc((void **)&t->key[k], n * 8));
  for (int a = 0; a < plan->n_aggs; a++) {
    CK(cudaMalloc((void **)&t->agg_n[a], n * 8));
    CK(cudaMalloc((void **)&t->agg_i[a], n * 8));
    CK(cudaMalloc((void **)&t->agg_f[a], n * 8));
  }
  CK(cudaMalloc((void **)&t->heap, t->heap_cap));
  CK(cudaMalloc((void **)&t->counters, 8 * sizeof(unsigned long long)));
  CK(cudaMemset(t->counters, 0, 8 * sizeof(unsigned long long)));
  return 0;
fail:
  table_free(t);
  return -1;
}

static int check_plan(const struct sl_dev_plan *plan, struct plan_info *pi,
                      char *errbuf, size_t errcap) {
  memset(pi, 0, sizeof *pi);
  if (plan->n_columns < 0 || plan->n_columns > SL_DEV_MAX_COLUMNS ||
      plan->n_keys < 0 || plan->n_keys > SL_DEV_MAX_KEYS || plan->n_aggs < 0 ||
      plan->n_aggs > SL_DEV_MAX_AGGS || plan->n_preds < 0 ||
      plan->n_preds > SL_DEV_MAX_PREDS) {
    snprintf(errbuf, errcap, "CUDA: plan sizes out of range");
    return -1;
  }
  for (int c = 0; c < plan->n_columns; c++) {
    const char *p = plan->columns[c].path;
    int len = (int)strnlen(p, SL_DEV_MAX_PATH);
    if (len == 0 || len == SL_DEV_MAX_PATH) {
      snprintf(errbuf, errcap, "CUDA: column %d has an empty or too long path",
               c);
      return -1;
    }
    const char *dot = (const char *)memchr(p, '.', (size_t)len);
    if (dot && memchr(dot + 1, '.', (size_t)(p + len - dot - 1))) {
      snprintf(errbuf, errcap, "CUDA: path '%s' nests deeper than one level",
               p);
      return -1;
    }
    pi->top_len[c] = (int8_t)(dot ? dot - p : len);
    pi->sub_off[c] = (int8_t)(dot ? dot - p + 1 : -1);
    pi->sub_len[c] = (int8_t)(dot ? p + len - dot - 1 : 0);
  }
  for (int k = 0; k < plan->n_keys; k++)
    if (plan->keys[k].column < 0 || plan->keys[k].column >= plan->n_columns) {
      snprintf(errbuf, errcap, "CUDA: key %d names no column", k);
      return -1;
    }
  for (int a = 0; a < plan->n_aggs; a++)
    if (plan->aggs[a].op != SL_DEV_COUNT_STAR &&
        (plan->aggs[a].column < 0 || plan->aggs[a].column >= plan->n_columns)) {
      snprintf(errbuf, errcap, "CUDA: aggregate %d names no column", a);
      return -1;
    }
  for (int a = 0; a < plan->n_aggs; a++) {
    int col = plan->aggs[a].op == SL_DEV_COUNT_STAR ? -1 : plan->aggs[a].column;
    pi->count_src[a] = (int8_t)a;
    for (int b = 0; b < a; b++) {
      int colb =
          plan->aggs[b].op == SL_DEV_COUNT_STAR ? -1 : plan->aggs[b].column;
      if (colb == col) {
        pi->count_src[a] = (int8_t)b;
        break;
      }
    }
  }
  for (int k = 0; k < plan->n_preds; k++)
    if (plan->preds[k].column < 0 || plan->preds[k].column >= plan->n_columns) {
      snprintf(errbuf, errcap, "CUDA: predicate %d names no column", k);
      return -1;
    }
  return 0;
}

/* JSON string escapes to UTF-8 (the heap keeps raw bytes). */
static size_t unescape(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\\' || i + 1 >= n) {
      out[o++] = s[i];
      continue;
    }
    char e = s[++i];
    switch (e) {
    case 'n': out[o++] = '\n'; break;
    case 't': out[o++] = '\t'; break;
    case 'r': out[o++] = '\r'; break;
    case 'b': out[o++] = '\b'; break;
    case 'f': out[o++] = '\f'; break;
    case 'u': {
      if (i + 4 >= n) break;
      unsigned cp =
          (unsigned)strtoul(std::string(s + i + 1, 4).c_str(), NULL, 16);
      i += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < n + 0 && s[i + 1] == '\\' &&
          s[i + 2] == 'u') {
        unsigned lo =
            (unsigned)strtoul(std::string(s + i + 3, 4).c_str(), NULL, 16);
        if (lo >= 0xDC00 && lo < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
      }
      if (cp < 0x80)
        out[o++] = (char)cp;
      else if (cp < 0x800) {
        out[o++] = (char)(0xC0 | (cp >> 6));
        out[o++] = (char)(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out[o++] = (char)(0xE0 | (cp >> 12));
        out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[o++] = (char)(0x80 | (cp & 0x3F));
      } else {
        out[o++] = (char)(0xF0 | (cp >> 18));
        out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[o++] = (char)(0x80 | (cp & 0x3F));
      }
      break;
    }
    default: out[o++] = e; break; /* \" \\ \/ */
    }
  }
  return o;
}

static void free_result(void *ctx, struct sl_dev_result *r) {
  for (int k = 0; k < SL_DEV_MAX_KEYS; k++) {
    free(r->key_valid[k]);
    free(r->key_i64[k]);
    free(r->key_str_off[k]);
    free(r->key_str_data[k]);
  }
  for (int a = 0; a < SL_DEV_MAX_AGGS; a++) {
    free(r->agg_valid[a]);
    free(r->agg_i64[a]);
    free(r->agg_f64[a]);
  }
  memset(r, 0, sizeof *r);
}

/* Copies the table's groups back into r. */
static int collect(struct cuda_ctx *c, struct table *t,
                   const struct sl_dev_plan *plan, const struct plan_info *pi,
                   struct sl_dev_result *r, char *errbuf, size_t errcap) {
  unsigned long long counters[8];
  int64_t *d_idx = NULL, *d_tmp = NULL;
  uint8_t *d_tmp1 = NULL;
  char *heap = NULL;
  int64_t g = 0;
  int64_t *hv = NULL;
  uint8_t *hn = NULL;
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(counters, t->counters, sizeof counters,
                cudaMemcpyDeviceToHost));
  if (counters[2] == ERR_TABLE_FULL) {
    snprintf(errbuf, errcap,
             "CUDA: more groups than the device hash table holds (%lld slots; "
             "set SLUICE_CUDA_SLOTS)",
             (long long)t->n_slots);
    goto fail;
  }
  if (counters[2] == ERR_HEAP_FULL) {
    snprintf(errbuf, errcap,
             "CUDA: string group keys exceed the device key heap (%llu bytes)",
             t->heap_cap);
    goto fail;
  }
  r->rows_in = (int64_t)counters[3];
  r->rows_matched = (int64_t)counters[4];
  r->bad_lines = (int64_t)counters[5];
  CK(cudaMalloc((void **)&d_idx, (size_t)t->n_slots * 8));
  CK(cudaMemset(t->counters + 6, 0, 8));
  k_compact<<<grid_for(c, t->n_slots, 256), 256>>>(*t, d_idx, t->counters + 6);
  CK(cudaGetLastError());
  CK(cudaMemcpy(&counters[6], t->counters + 6, 8, cudaMemcpyDeviceToHost));
  g = (int64_t)counters[6];
  r->n_groups = g;
  CK(cudaMalloc((void **)&d_tmp, (size_t)(g ? g : 1) * 8));
  CK(cudaMalloc((void **)&d_tmp1, (size_t)(g ? g : 1)));
  hv = (int64_t *)malloc((size_t)(g ? g : 1) * 8);
  hn = (uint8_t *)malloc((size_t)(g ? g : 1));
  if (!hv || !hn) {
    snprintf(errbuf, errcap, "CUDA: out of host memory");
    goto fail;
  }
  k_gather1<<<grid_for(c, g, 256), 256>>>(t->knull, d_idx, g, d_tmp1);
  CK(cudaMemcpy(hn, d_tmp1, (size_t)g, cudaMemcpyDeviceToHost));
  if (counters[0]) {
    heap = (char *)malloc(counters[0]);
    if (!heap) {
      snprintf(errbuf, errcap, "CUDA: out of host memory");
      goto fail;
    }
    CK(cudaMemcpy(heap, t->heap, counters[0], cudaMemcpyDeviceToHost));
  }
  for (int k = 0; k < plan->n_keys; k++) {
    k_gather8<<<grid_for(c, g, 256), 256>>>(t->key[k], d_idx, g, d_tmp);
    CK(cudaMemcpy(hv, d_tmp, (size_t)g * 8, cudaMemcpyDeviceToHost));
    r->key_valid[k] = (uint8_t *)malloc((size_t)(g ? g : 1));
    bool str = plan->columns[plan->keys[k].column].type == SL_DEV_STRING;
    if (!r->key_valid[k]) goto oom;
    for (int64_t i = 0; i < g; i++)
      r->key_valid[k][i] = !(hn[i] & (1u << k));
    if (!str) {
      r->key_i64[k] = hv;
      hv = (int64_t *)malloc((size_t)(g ? g : 1) * 8);
      if (!hv) goto oom;
      continue;
    }
    size_t total = 0;
    for (int64_t i = 0; i < g; i++)
      if (r->key_valid[k][i]) total += (size_t)(hv[i] & ((1 << 24) - 1));
    r->key_str_off[k] = (int64_t *)malloc((size_t)(g + 1) * 8);
    r->key_str_data[k] = (char *)malloc(total ? total : 1);
    if (!r->key_str_off[k] || !r->key_str_data[k]) goto oom;
    size_t o = 0;
    for (int64_t i = 0; i < g; i++) {
      r->key_str_off[k][i] = (int64_t)o;
      if (!r->key_valid[k][i]) continue;
      size_t len = (size_t)(hv[i] & ((1 << 24) - 1)),
             off = (size_t)((uint64_t)hv[i] >> 24);
      o += unescape(heap + off, len, r->key_str_data[k] + o);
    }
    r->key_str_off[k][g] = (int64_t)o;
  }
  for (int a = 0; a < plan->n_aggs; a++) {
    int op = plan->aggs[a].op;
    bool fl = op != SL_DEV_COUNT_STAR &&
              plan->columns[plan->aggs[a].column].type == SL_DEV_FLOAT64;
    int64_t *n = (int64_t *)malloc((size_t)(g ? g : 1) * 8);
    r->agg_valid[a] = (uint8_t *)malloc((size_t)(g ? g : 1));
    r->agg_i64[a] = (int64_t *)malloc((size_t)(g ? g : 1) * 8);
    r->agg_f64[a] = (double *)malloc((size_t)(g ? g : 1) * 8);
    if (!n || !r->agg_valid[a] || !r->agg_i64[a] || !r->agg_f64[a]) {
      free(n);
      goto oom;
    }
    k_gather8<<<grid_for(c, g, 256), 256>>>(
        (const int64_t *)t->agg_n[pi->count_src[a]], d_idx, g, d_tmp);
    CK(cudaMemcpy(n, d_tmp, (size_t)g * 8, cudaMemcpyDeviceToHost));
    k_gather8<<<grid_for(c, g, 256), 256>>>((const int64_t *)t->agg_i[a], d_idx,
                                            g, d_tmp);
    CK(cudaMemcpy(r->agg_i64[a], d_tmp, (size_t)g * 8, cudaMemcpyDeviceToHost));
    k_gather8<<<grid_for(c, g, 256), 256>>>((const int64_t *)t->agg_f[a], d_idx,
                                            g, d_tmp);
    CK(cudaMemcpy(r->agg_f64[a], d_tmp, (size_t)g * 8, cudaMemcpyDeviceToHost));
    for (int64_t i = 0; i < g; i++) {
      bool count = op == SL_DEV_COUNT_STAR || op == SL_DEV_COUNT;
      r->agg_valid[a][i] = count || n[i] > 0;
      if (count)
        r->agg_i64[a][i] = n[i];
      else if (op == SL_DEV_AVG)
        r->agg_f64[a][i] =
            n[i] ? (fl ? r->agg_f64[a][i] : (double)r->agg_i64[a][i]) /
                       (double)n[i]
                 : 0.0;
      else if (op >= SL_DEV_VAR_POP && op <= SL_DEV_STDDEV_SAMP) {
        double sum = r->agg_f64[a][i], sq, nn = (double)n[i];
        memcpy(&sq, &r->agg_i64[a][i], sizeof sq);
        bool samp = op == SL_DEV_VAR_SAMP || op == SL_DEV_STDDEV_SAMP;
        double m2 = sq - sum * (sum / (nn ? nn : 1));
        if (m2 < 0) m2 = 0; /* rounding of a constant group */
        double var = n[i] > (samp ? 1 : 0) ? m2 / (samp ? nn - 1 : nn) : 0.0;
        r->agg_valid[a][i] = n[i] > (samp ? 1 : 0);
        r->agg_f64[a][i] = op == SL_DEV_STDDEV_POP || op == SL_DEV_STDDEV_SAMP
                               ? sqrt(var)
                               : var;
      }
    }
    free(n);
  }
  free(hv);
  free(hn);
  free(heap);
  cudaFree(d_idx);
  cudaFree(d_tmp);
  cudaFree(d_tmp1);
  return 0;
oom:
  snprintf(errbuf, errcap, "CUDA: out of host memory collecting %lld groups",
           (long long)g);
fail:
  free(hv);
  free(hn);
  free(heap);
  cudaFree(d_idx);
  cudaFree(d_tmp);
  cudaFree(d_tmp1);
  free_result(c, r);
  return -1;
}

/* Launches the per-chunk kernels on stream b over d_buf[b][0..n). */
static int launch_chunk(struct cuda_ctx *c, int b, const char *d_data,
                        int64_t n, const struct sl_dev_plan *d_plan,
                        const struct plan_info *d_pi, struct table *t,
                        unsigned long long *d_count, char *errbuf,
                        size_t errcap) {
  CK(cudaMemsetAsync(d_count, 0, 8, c->stream[b]));
  k_find_lines<<<(int)((n + 16 * 256 - 1) / (16 * 256)), 256, 0,
                 c->stream[b]>>>(d_data, n, c->d_starts[b], d_count);
  CK(cudaGetLastError());
  k_parse_aggregate<<<c->sms * 8, 256, 0, c->stream[b]>>>(
      d_data, n, c->d_starts[b], d_count, d_plan, d_pi, *t);
  CK(cudaGetLastError());
  return 0;
fail:
  return -1;
}

/* Where to cut [pos, len) so the piece ends after a newline and fits. */
static int64_t cut_at(const char *data, int64_t pos, int64_t len,
                      size_t chunk) {
  int64_t end = pos + (int64_t)chunk;
  if (end >= len) return len;
  const char *nl = (const char *)memrchr(data + pos, '\n', (size_t)(end - pos));
  return nl ? nl - data + 1 : -1;
}

static void parallel_copy(char *dst, const char *src, size_t n) {
  int threads = omp_get_max_threads();
  size_t per = (n + (size_t)threads - 1) / (size_t)threads;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < threads; i++) {
    size_t s = (size_t)i * per;
    if (s < n) memcpy(dst + s, src + s, s + per > n ? n - s : per);
  }
}

static int run_plan(struct cuda_ctx *c, const struct sl_dev_plan *plan,
                    const char *data, size_t len, bool resident, int repeat,
                    struct sl_dev_result *out, char *errbuf, size_t errcap) {
  struct plan_info pi;
  struct table t;
  struct sl_dev_plan *d_plan = NULL;
  struct plan_info *d_pi = NULL;
  unsigned long long *d_count[2] = {NULL, NULL};
  char *d_all = NULL;
  cudaEvent_t e0 = NULL, e1 = NULL;
  double t0 = now_s(), t_setup = 0, t_loop = 0;
  memset(out, 0, sizeof *out);
  memset(&t, 0, sizeof t);
  if (check_plan(plan, &pi, errbuf, errcap)) return -1;
  CK(cudaSetDevice(c->dev));
  if (table_alloc(&t, plan, len, errbuf, errcap)) return -1;
  CK(cudaMalloc((void **)&d_plan, sizeof *plan));
  CK(cudaMalloc((void **)&d_pi, sizeof pi));
  CK(cudaMemcpy(d_plan, plan, sizeof *plan, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(d_pi, &pi, sizeof pi, cudaMemcpyHostToDevice));
  for (int b = 0; b < 2; b++)
    CK(cudaMalloc((void **)&d_count[b], 8));
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  if (resident) {
    CK(cudaMalloc((void **)&d_all, len ? len : 1));
    double h0 = now_s();
    CK(cudaMemcpy(d_all, data, len, cudaMemcpyHostToDevice));
    out->seconds_h2d = now_s() - h0;
  }
  t_setup = now_s() - t0;
  t_loop = now_s();
  for (int rep = 0; rep < (resident ? repeat + 1 : 1); rep++) {
    /* rep 0 of a resident run is the warm-up; each run starts clean. */
    k_init_table<<<grid_for(c, t.n_slots, 256), 256>>>(t, *plan);
    CK(cudaGetLastError());
    CK(cudaMemset(t.counters, 0, 8 * sizeof(unsigned long long)));
    CK(cudaDeviceSynchronize());
    CK(cudaEventRecord(e0, 0));
    double h2d = 0;
    int64_t pos = 0;
    for (int i = 0; pos < (int64_t)len; i++) {
      int b = i & 1;
      int64_t end = cut_at(data, pos, (int64_t)len, c->chunk);
      if (end < 0) {
        snprintf(errbuf, errcap,
                 "CUDA: a line longer than the %zu-byte chunk at byte %lld",
                 c->chunk, (long long)pos);
        goto fail;
      }
      int64_t n = end - pos;
      if (resident) {
        if (launch_chunk(c, b, d_all + pos, n, d_plan, d_pi, &t, d_count[b],
                         errbuf, errcap))
          goto fail;
      } else {
        /* Staging buffer b is free once its previous H2D copy finished. */
        CK(cudaEventSynchronize(c->staged[b]));
        double h0 = now_s();
        parallel_copy(c->h_stage[b], data + pos, (size_t)n);
        h2d += now_s() - h0;
        CK(cudaMemcpyAsync(c->d_buf[b], c->h_stage[b], (size_t)n,
                           cudaMemcpyHostToDevice, c->stream[b]));
        CK(cudaEventRecord(c->staged[b], c->stream[b]));
        if (launch_chunk(c, b, c->d_buf[b], n, d_plan, d_pi, &t, d_count[b],
                         errbuf, errcap))
          goto fail;
      }
      pos = end;
    }
    CK(cudaDeviceSynchronize());
    CK(cudaEventRecord(e1, 0));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    if (!resident) out->seconds_h2d = h2d;
    if (rep > 0 || !resident) out->seconds_kernels += ms / 1e3;
  }
  if (resident && repeat > 0) out->seconds_kernels /= repeat;
  {
    double tc = now_s();
    if (collect(c, &t, plan, &pi, out, errbuf, errcap)) goto fail;
    out->seconds_total = now_s() - t0;
    if (getenv("SLUICE_TRACE"))
      fprintf(stderr,
              "cuda: %.1f MB in %.4f s: setup %.4f, chunks %.4f (host copies "
              "%.4f), collect %.4f\n",
              len / 1e6, out->seconds_total, t_setup, tc - t_loop,
              out->seconds_h2d, now_s() - tc);
  }
  table_free(&t);
  cudaFree(d_plan);
  cudaFree(d_pi);
  cudaFree(d_count[0]);
  cudaFree(d_count[1]);
  cudaFree(d_all);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 0;
fail:
  table_free(&t);
  cudaFree(d_plan);
  cudaFree(d_pi);
  cudaFree(d_count[0]);
  cudaFree(d_count[1]);
  cudaFree(d_all);
  if (e0) cudaEventDestroy(e0);
  if (e1) cudaEventDestroy(e1);
  return -1;
}

static int cuda_groupby_json(void *ctx, const struct sl_dev_plan *plan,
                             const char *data, size_t len,
                             struct sl_dev_result *out, char *errbuf,
                             size_t errcap) {
  return run_plan((struct cuda_ctx *)ctx, plan, data, len, false, 1, out,
                  errbuf, errcap);
}

static int cuda_groupby_json_resident(void *ctx, const struct sl_dev_plan *plan,
                                      const char *data, size_t len, int repeat,
                                      struct sl_dev_result *out, char *errbuf,
                                      size_t errcap) {
  return run_plan((struct cuda_ctx *)ctx, plan, data, len, true,
                  repeat < 1 ? 1 : repeat, out, errbuf, errcap);
}

extern "C" __attribute__((visibility("default")))
const struct sl_device_backend sl_device_backend_v1 = {
    SL_DEVICE_ABI_VERSION,
    "cuda",
    cuda_open,
    cuda_close,
    cuda_groupby_json,
    cuda_groupby_json_resident,
    free_result,
    cuda_host_alloc,
    cuda_host_free,
};
