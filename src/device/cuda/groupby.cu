/* sluice CUDA backend: JSON Lines -> filter -> hash group-by, on the GPU.
 *
 * The host side: plans are checked and laid out (plan_info), input is
 * streamed through the device in chunks cut at a newline, alternating
 * between two streams and two device buffers; each chunk is read in pieces
 * (pread from the file, or a copy from memory, on all cores) into a ring of
 * small pinned slots whose H2D copies start as soon as a piece is in, so
 * reading, copying and the kernels of the chunk before overlap; or, with
 * SLUICE_CUDA_READ=register, the file's mapping is registered window by
 * window on worker threads and the copy engine reads the page cache itself.
 * The kernels are in kernels.cuh. See docs/gpu.md. */
#include <cub/device/device_radix_sort.cuh>
#include <cuda_runtime.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>

#include "device/cuda/kernels.cuh"
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

struct cuda_ctx {
  int dev;
  cudaStream_t stream[2];
  cudaEvent_t staged[2];
  /* pread through a ring (SLUICE_CUDA_PIECE_MB > 0): `ahead` pinned slots
   * of `piece` bytes (SLUICE_CUDA_PIECE_AHEAD), each piece copied to its
   * place in d_buf as soon as it is read; see stream_input. */
  size_t piece;
  int ahead;
  char *h_ring;          /* ahead * piece bytes, pinned; NULL: no ring */
  unsigned long n_piece; /* pieces queued so far (slot and event index) */
  cudaEvent_t piece_ev[8];
  /* SLUICE_TRACE: where the ring's time went (waiting for a slot's copy,
   * reading into it), summed over a run. */
  double ring_wait_s, ring_read_s;
  long ring_pieces;
  bool trace;            /* SLUICE_TRACE set */
  cudaEvent_t tr_copied; /* the last chunk's copies done (timing event) */
  double tr_last_read;   /* host: the last piece read, s after the start */
  char *h_stage[2];      /* pinned, made on first use (stage_buf) */
  char *d_buf[2];
  int64_t *d_starts[2];
  size_t chunk;
  int sms;
  int min_blocks; /* parse kernel's launch bound: 4 (default), 3, else 1 */
  /* Device tables kept between runs (grown on demand), so a process that
   * runs many plans (a function's micro-batches) allocates once. */
  unsigned long long *rows, *set, *counters;
  size_t rows_bytes, set_bytes;
  /* quantile / approx_count_distinct pairs and their sort's other halves */
  unsigned long long *pairs;
  size_t pairs_bytes;
  char *heap;
};

/* ---- host helpers ------------------------------------------------------ */

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

static const unsigned long long HEAP_CAP = 256ull << 20;

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
  double t0 = now_s(), t1, t2, t3;
  CK(cudaGetDeviceCount(&n));
  if (index < 0 || index >= n) {
    snprintf(errbuf, errcap, "CUDA: device %d requested, %d present", index, n);
    goto fail;
  }
  c->dev = index;
  CK(cudaSetDevice(index));
  CK(cudaGetDeviceProperties(&prop, index));
  c->sms = prop.multiProcessorCount;
  /* parse_object recurses once per nesting level of a path, and the parse
   * kernel keeps a buffer for decoding escaped strings: more than the
   * default 1 KiB of stack per thread. */
  t1 = now_s();
  CK(cudaDeviceSetLimit(cudaLimitStackSize, 4096));
  t2 = now_s();
  {
    const char *env = getenv("SLUICE_CUDA_CHUNK_MB");
    c->chunk = (size_t)(env ? atol(env) : 128) << 20;
    if (c->chunk < (1u << 20)) c->chunk = 1u << 20;
    /* Four blocks of 256 threads an SM (the compiler keeps the parse kernel
     * within 64 registers): at its free choice of 112 registers only two
     * fit, and the kernel, bound by memory latency, took 23-43% longer
     * (Q1-Q6 device-only on an H200, 4 GB). */
    env = getenv("SLUICE_CUDA_MIN_BLOCKS");
    c->min_blocks = env ? atoi(env) : 4;
    /* Reads go through a ring of pinned pieces (16 MiB, 4 ahead) unless
     * SLUICE_CUDA_PIECE_MB=0: on an H200 warm Q1-Q6 took 0.089-0.121 s
     * against 0.20-0.28 s through two 128 MiB staging buffers (which
     * also cost 0.1 s of pinning); see docs/gpu.md. */
    env = getenv("SLUICE_CUDA_PIECE_MB");
    c->piece = (size_t)(env && *env ? atol(env) : 16) << 20;
    if (c->piece > c->chunk / 2) c->piece = c->chunk / 2;
    env = getenv("SLUICE_CUDA_PIECE_AHEAD");
    c->ahead = env ? atoi(env) : 4;
    if (c->ahead < 2 || c->ahead > 8) c->ahead = 4;
  }
  for (int b = 0; b < 2; b++) {
    CK(cudaStreamCreateWithFlags(&c->stream[b], cudaStreamNonBlocking));
    CK(cudaEventCreateWithFlags(&c->staged[b], cudaEventDisableTiming));
    for (int k = b * 4; k < b * 4 + 4; k++)
      CK(cudaEventCreateWithFlags(&c->piece_ev[k], cudaEventDisableTiming));
    CK(cudaMalloc((void **)&c->d_buf[b], c->chunk));
    /* At most one line start per two bytes. */
    CK(cudaMalloc((void **)&c->d_starts[b],
                  c->chunk / 2 * sizeof(int64_t) + 64));
  }
  t3 = now_s();
  if (c->piece)
    CK(cudaMallocHost((void **)&c->h_ring, c->piece * (size_t)c->ahead));
  c->trace = getenv("SLUICE_TRACE") != NULL;
  CK(cudaEventCreate(&c->tr_copied));
  CK(cudaMalloc((void **)&c->counters, 16 * sizeof(unsigned long long)));
  CK(cudaMalloc((void **)&c->heap, HEAP_CAP));
  if (c->trace)
    fprintf(stderr,
            "cuda: opened in %.4f s: driver and device count %.4f, context "
            "%.4f, streams and device buffers %.4f, pinned ring and tables "
            "%.4f\n",
            now_s() - t0, t1 - t0, t2 - t1, t3 - t2, now_s() - t3);
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
    for (int k = b * 4; k < b * 4 + 4; k++)
      if (c->piece_ev[k]) cudaEventDestroy(c->piece_ev[k]);
    cudaFreeHost(c->h_stage[b]);
    if (b == 0) cudaFreeHost(c->h_ring);
    cudaFree(c->d_buf[b]);
    cudaFree(c->d_starts[b]);
  }
  if (c->tr_copied) cudaEventDestroy(c->tr_copied);
  cudaFree(c->rows);
  cudaFree(c->set);
  cudaFree(c->pairs);
  cudaFree(c->counters);
  cudaFree(c->heap);
  free(c);
}

/* Pinned staging buffer b (a chunk), made on first use: reads through the
 * ring never need one. NULL when it cannot be made. */
static char *stage_buf(struct cuda_ctx *c, int b) {
  if (!c->h_stage[b] &&
      cudaMallocHost((void **)&c->h_stage[b], c->chunk) != cudaSuccess)
    c->h_stage[b] = NULL;
  return c->h_stage[b];
}

static void *cuda_host_alloc(void *ctx, size_t n) {
  (void)ctx;
  void *p = NULL;
  return cudaMallocHost(&p, n) == cudaSuccess ? p : NULL;
}
static void cuda_host_free(void *ctx, void *p) {
  (void)ctx;
  cudaFreeHost(p);
}

static int64_t pow2_at_least(int64_t want) {
  int64_t p2 = 1024;
  while (p2 < want)
    p2 <<= 1;
  return p2;
}

/* Sizes the table for len input bytes and points it at the context's
 * buffers (grown when too small). */
static int table_setup(struct cuda_ctx *c, struct table *t,
                       const struct plan_info *pi, int plan_keys, size_t len,
                       char *errbuf, size_t errcap) {
  memset(t, 0, sizeof *t);
  /* At most one group per 8 input bytes (a line with a key is longer), so
   * small micro-batches get small tables; 4 Mi slots at most by default. */
  const char *env = getenv("SLUICE_CUDA_SLOTS");
  int64_t cap = env ? atoll(env) : (int64_t)1 << 22;
  int64_t want = (int64_t)(len / 8) * 2 + 1024;
  t->n_slots = pow2_at_least(want < cap ? want : cap);
  t->stride = pi->stride;
  if (pi->has_distinct) {
    env = getenv("SLUICE_CUDA_DISTINCT_SLOTS");
    cap = env ? atoll(env) : (int64_t)1 << 24;
    want = (int64_t)(len / 8) * 2 + 1024;
    t->set_slots = pow2_at_least(want < cap ? want : cap);
  }
  size_t rb = (size_t)t->n_slots * (size_t)t->stride * 8,
         sb = (size_t)t->set_slots * 32;
  if (pi->has_pairs) {
    /* One pair per value of each quantile / approx_count_distinct
     * aggregate: room for a value per 64 input bytes and aggregate (a log
     * line is longer), SLUICE_CUDA_PAIRS at most (default 256 Mi). */
    env = getenv("SLUICE_CUDA_PAIRS");
    cap = env ? atoll(env) : (int64_t)1 << 28;
    if (cap > INT32_MAX - 1024) cap = INT32_MAX - 1024;
    want = (int64_t)(len / 64 + 1024) * pi->has_pairs;
    t->pairs_cap = want < cap ? want : cap;
  }
  size_t pb = (size_t)t->pairs_cap * 32; /* keys, values, and the sort's */
  if (pb > c->pairs_bytes) {
    cudaFree(c->pairs);
    c->pairs = NULL;
    c->pairs_bytes = 0;
    CK(cudaMalloc((void **)&c->pairs, pb));
    c->pairs_bytes = pb;
  }
  t->pk = c->pairs;
  t->pv = c->pairs + t->pairs_cap;
  if (rb > c->rows_bytes) {
    cudaFree(c->rows);
    c->rows = NULL;
    c->rows_bytes = 0;
    CK(cudaMalloc((void **)&c->rows, rb));
    c->rows_bytes = rb;
  }
  if (sb > c->set_bytes) {
    cudaFree(c->set);
    c->set = NULL;
    c->set_bytes = 0;
    CK(cudaMalloc((void **)&c->set, sb));
    c->set_bytes = sb;
  }
  if (pi->smem_ok) {
    /* Partial rows of the aggregate words: as many as fit in 24 KiB (a
     * power of two, at most 256). Off unless SLUICE_CUDA_SMEM=1: on an
     * H200 they made Q6 16-19% slower, Q1/Q4 6-19% slower and Q3 5-6%
     * faster (the shared memory comes out of the L1 that caches the parse
     * kernel's stack, and blocks fold only a few hundred lines). */
    env = getenv("SLUICE_CUDA_SMEM");
    int width = pi->used - (2 + plan_keys), slots = 256;
    while (slots > 8 && (size_t)slots * (size_t)width * 8 > (24u << 10))
      slots /= 2;
    if (env && atoi(env) == 1 && width > 0 && t->n_slots < (1ll << 31)) {
      t->smem_slots = slots;
      t->smem_width = width;
      t->smem_base = 2 + plan_keys;
    }
  }
  t->rows = c->rows;
  t->set = c->set;
  t->heap = c->heap;
  t->heap_cap = HEAP_CAP;
  t->counters = c->counters;
  return 0;
fail:
  return -1;
}

/* min/max of a string column: kept like first/last (a lock and a heap
 * string), without a count. */
static bool str_minmax(const struct sl_dev_plan *plan, int a) {
  int op = plan->aggs[a].op;
  return (op == SL_DEV_MIN || op == SL_DEV_MAX) &&
         plan->columns[plan->aggs[a].column].type == SL_DEV_STRING;
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
    int len = (int)strnlen(p, SL_DEV_MAX_PATH), start = 0, n = 0;
    if (len == 0 || len == SL_DEV_MAX_PATH) {
      snprintf(errbuf, errcap, "CUDA: column %d has an empty or too long path",
               c);
      return -1;
    }
    for (int i = 0; i <= len; i++) {
      if (i < len && p[i] != '.') continue;
      if (n == MAX_COMPONENTS || i == start) {
        snprintf(errbuf, errcap,
                 "CUDA: path '%s' has an empty part or nests deeper than %d "
                 "levels",
                 p, MAX_COMPONENTS);
        return -1;
      }
      pi->coff[c][n] = (int8_t)start;
      pi->clen[c][n] = (int8_t)(i - start);
      n++;
      start = i + 1;
    }
    pi->ncomp[c] = (int8_t)n;
  }
  for (int k = 0; k < plan->n_keys; k++)
    if (plan->keys[k].column < 0 || plan->keys[k].column >= plan->n_columns) {
      snprintf(errbuf, errcap, "CUDA: key %d names no column", k);
      return -1;
    }
  for (int a = 0; a < plan->n_aggs; a++) {
    int op = plan->aggs[a].op;
    if (op == SL_DEV_QUANTILE_CONT || op == SL_DEV_QUANTILE_DISC ||
        op == SL_DEV_APPROX_COUNT_DISTINCT) {
      int col = plan->aggs[a].column,
          ct = col >= 0 && col < plan->n_columns ? plan->columns[col].type : 0;
      double q = plan->aggs[a].q;
      if ((ct != SL_DEV_INT64 && ct != SL_DEV_FLOAT64) || !(q >= 0 && q <= 1)) {
        snprintf(errbuf, errcap,
                 "CUDA: aggregate %d: quantiles and approx_count_distinct "
                 "take a number column (and a fraction in [0, 1])",
                 a);
        return -1;
      }
      pi->has_pairs++;
    }
    if (op < SL_DEV_COUNT_STAR || op > SL_DEV_ARG_MAX) {
      snprintf(errbuf, errcap, "CUDA: aggregate %d has an unknown kind %d", a,
               op);
      return -1;
    }
    if ((op != SL_DEV_COUNT_STAR &&
         (plan->aggs[a].column < 0 ||
          plan->aggs[a].column >= plan->n_columns)) ||
        (op >= SL_DEV_ARG_MIN && (plan->aggs[a].column2 < 0 ||
                                  plan->aggs[a].column2 >= plan->n_columns))) {
      snprintf(errbuf, errcap, "CUDA: aggregate %d names no column", a);
      return -1;
    }
  }
  if (plan->n_prog < 0 || plan->n_prog > SL_DEV_MAX_PROG) {
    snprintf(errbuf, errcap, "CUDA: WHERE program length out of range");
    return -1;
  }
  {
    /* The program must leave exactly one value, never pop an empty stack
     * and name only predicates of the plan. */
    int depth = 0;
    for (int i = 0; i < plan->n_prog; i++) {
      int step = plan->prog[i];
      bool ok = step >= 0                 ? step < plan->n_preds && ++depth
                : step == SL_DEV_STEP_NOT ? depth >= 1
                : step == SL_DEV_STEP_AND || step == SL_DEV_STEP_OR
                    ? depth-- >= 2
                    : false;
      if (!ok) {
        snprintf(errbuf, errcap, "CUDA: WHERE program step %d is invalid", i);
        return -1;
      }
    }
    if (plan->n_prog && depth != 1) {
      snprintf(errbuf, errcap, "CUDA: WHERE program leaves %d values", depth);
      return -1;
    }
  }
  for (int k = 0; k < plan->n_preds; k++) {
    const struct sl_dev_pred *pr = &plan->preds[k];
    if (pr->column < 0 || pr->column >= plan->n_columns) {
      snprintf(errbuf, errcap, "CUDA: predicate %d names no column", k);
      return -1;
    }
    if (pr->str_len < 0 || pr->str_len >= SL_DEV_MAX_PATH || pr->n_list < 0 ||
        pr->n_list > SL_DEV_MAX_LIST) {
      snprintf(errbuf, errcap, "CUDA: predicate %d has constants out of range",
               k);
      return -1;
    }
    for (int j = 0; j < pr->n_list; j++)
      if (pr->list_off[j] < 0 || pr->list_off[j] > pr->list_off[j + 1] ||
          pr->list_off[j + 1] > SL_DEV_MAX_LIST_BYTES) {
        snprintf(errbuf, errcap, "CUDA: predicate %d has a bad IN list", k);
        return -1;
      }
  }
  /* Row layout. */
  int w = 2 + plan->n_keys;
  for (int a = 0; a < plan->n_aggs; a++) {
    int op = plan->aggs[a].op;
    int col = op == SL_DEV_COUNT_STAR ? -1 : plan->aggs[a].column;
    pi->off_n[a] = pi->off_v[a] = pi->off_q[a] = -1;
    pi->off_l[a] = pi->off_p[a] = pi->off_k[a] = -1;
    pi->count_src[a] = -1;
    if (str_minmax(plan, a)) {
      /* lock (high half: a value is kept), decoded string's heap ref */
      pi->off_l[a] = (int16_t)w++;
      pi->off_v[a] = (int16_t)w++;
      continue;
    }
    if (op >= SL_DEV_FIRST) {
      pi->off_l[a] = (int16_t)w++;
      pi->off_p[a] = (int16_t)w;
      pi->init_row[w++] =
          op == SL_DEV_LAST ? ~0ull : (unsigned long long)INT64_MAX;
      pi->off_v[a] = (int16_t)w++;
      if (op >= SL_DEV_ARG_MIN) {
        bool kf = plan->columns[plan->aggs[a].column2].type == SL_DEV_FLOAT64;
        pi->off_q[a] = (int16_t)w;
        pi->init_row[w++] =
            op == SL_DEV_ARG_MIN
                ? (kf ? 0x7ff0000000000000ull : (unsigned long long)INT64_MAX)
                : (kf ? 0xfff0000000000000ull : (unsigned long long)INT64_MIN);
      }
      continue;
    }
    if (op != SL_DEV_COUNT_DISTINCT) {
      pi->count_src[a] = (int8_t)a;
      for (int b = 0; b < a; b++) {
        int opb = plan->aggs[b].op;
        int colb = opb == SL_DEV_COUNT_STAR ? -1 : plan->aggs[b].column;
        if (opb != SL_DEV_COUNT_DISTINCT && opb < SL_DEV_FIRST &&
            !str_minmax(plan, b) && colb == col) {
          pi->count_src[a] = (int8_t)b;
          break;
        }
      }
      if (pi->count_src[a] == a) pi->off_n[a] = (int16_t)w++;
    } else {
      pi->has_distinct = 1;
    }
    bool fl = col >= 0 && plan->columns[col].type == SL_DEV_FLOAT64;
    unsigned long long init = 0;
    if (op == SL_DEV_MIN)
      init = fl ? 0x7ff0000000000000ull : (unsigned long long)INT64_MAX;
    if (op == SL_DEV_MAX)
      init = fl ? 0xfff0000000000000ull : (unsigned long long)INT64_MIN;
    if (op == SL_DEV_BOOL_AND) init = 1;
    if (op != SL_DEV_COUNT_STAR && op != SL_DEV_COUNT) {
      pi->off_v[a] = (int16_t)w;
      pi->init_row[w++] = init;
    }
    if (op == SL_DEV_APPROX_COUNT_DISTINCT) pi->off_q[a] = (int16_t)w++;
    if (op >= SL_DEV_VAR_POP && op <= SL_DEV_STDDEV_SAMP) {
      pi->off_q[a] = (int16_t)w++;
      pi->off_k[a] = (int16_t)w;
      pi->init_row[w++] = SHIFT_UNSET;
    }
  }
  pi->used = w;
  pi->stride = w <= 4 ? 4 : w <= 8 ? 8 : w <= 16 ? 16 : (w + 7) / 8 * 8;
  /* Plans of counts, sums, averages, numeric min/max and bool_and/or can
   * fold rows into per-block partial rows first (table_setup decides):
   * how each word then folds into the table. */
  bool simple = true;
  for (int a = 0; a < plan->n_aggs && simple; a++) {
    int op = plan->aggs[a].op;
    bool fl = op != SL_DEV_COUNT_STAR &&
              plan->columns[plan->aggs[a].column].type == SL_DEV_FLOAT64;
    if (pi->off_n[a] >= 0) pi->word_op[pi->off_n[a]] = WOP_ADD_U64;
    int ov = pi->off_v[a];
    switch (op) {
    case SL_DEV_COUNT_STAR:
    case SL_DEV_COUNT: break;
    case SL_DEV_SUM:
    case SL_DEV_AVG: pi->word_op[ov] = fl ? WOP_ADD_F64 : WOP_ADD_U64; break;
    case SL_DEV_MIN:
    case SL_DEV_MAX:
      if (str_minmax(plan, a)) {
        simple = false;
        break;
      }
      pi->word_op[ov] = op == SL_DEV_MIN ? (fl ? WOP_MIN_F64 : WOP_MIN_I64)
                                         : (fl ? WOP_MAX_F64 : WOP_MAX_I64);
      break;
    case SL_DEV_BOOL_AND: pi->word_op[ov] = WOP_AND; break;
    case SL_DEV_BOOL_OR: pi->word_op[ov] = WOP_OR; break;
    default: simple = false; break;
    }
  }
  if (!simple) memset(pi->word_op, 0, sizeof pi->word_op);
  pi->smem_ok = simple && plan->n_aggs > 0;
  if (pi->stride > MAX_ROW_WORDS) {
    snprintf(errbuf, errcap, "CUDA: plan needs %d words per group (max %d)", w,
             MAX_ROW_WORDS);
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
      char hex[5] = {s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0};
      unsigned cp = (unsigned)strtoul(hex, NULL, 16);
      i += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < n && s[i + 1] == '\\' &&
          s[i + 2] == 'u') {
        char h2[5] = {s[i + 3], s[i + 4], s[i + 5], s[i + 6], 0};
        unsigned lo = (unsigned)strtoul(h2, NULL, 16);
        if (lo >= 0xDC00 && lo < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
      }
      if (cp < 0x80) {
        out[o++] = (char)cp;
      } else if (cp < 0x800) {
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
  (void)ctx;
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
    free(r->agg_str_off[a]);
    free(r->agg_str_data[a]);
  }
  memset(r, 0, sizeof *r);
}

/* n 8-byte words, 64-byte aligned and zero-padded to a multiple of 64
 * bytes, from aligned_alloc: the caller may take the array out of the
 * result and free it with free() (device_abi.h). */
static void *alloc_words(int64_t n) {
  size_t bytes = ((size_t)n * 8 + 63) & ~(size_t)63;
  char *p = (char *)aligned_alloc(64, bytes ? bytes : 64);
  if (p && bytes > (size_t)n * 8)
    memset(p + (size_t)n * 8, 0, bytes - (size_t)n * 8);
  return p;
}

/* Copies n bytes from the device to dst (pageable host memory) through the
 * ring's pinned slots, each piece moved out on all cores while the next
 * ones are copied: faster than a pageable cudaMemcpy, whose driver staging
 * copies and faults the destination on one thread. */
static void parallel_copy(char *dst, const char *src, size_t n);

static int d2h_through_ring(struct cuda_ctx *c, char *dst, const char *d_src,
                            size_t n, char *errbuf, size_t errcap) {
  size_t pieces = (n + c->piece - 1) / c->piece;
  CK(cudaDeviceSynchronize()); /* d_src is written on the legacy stream */
  for (size_t j = 0; j < pieces + (size_t)c->ahead; j++) {
    if (j >= (size_t)c->ahead) { /* piece j - ahead is in its slot */
      size_t p = j - (size_t)c->ahead, o = p * c->piece;
      int k = (int)(p % (size_t)c->ahead);
      CK(cudaEventSynchronize(c->piece_ev[k]));
      parallel_copy(dst + o, c->h_ring + (size_t)k * c->piece,
                    n - o < c->piece ? n - o : c->piece);
    }
    if (j < pieces) {
      size_t o = j * c->piece;
      int k = (int)(j % (size_t)c->ahead);
      CK(cudaMemcpyAsync(c->h_ring + (size_t)k * c->piece, d_src + o,
                         n - o < c->piece ? n - o : c->piece,
                         cudaMemcpyDeviceToHost, c->stream[0]));
      CK(cudaEventRecord(c->piece_ev[k], c->stream[0]));
    }
  }
  return 0;
fail:
  return -1;
}

/* Copies the table's groups back into r: the occupied rows are listed and
 * their words gathered word-major on the device, then copied back into
 * pinned memory the input no longer needs (the ring, or a staging buffer)
 * when they fit, else through the ring into host memory. */
static int collect(struct cuda_ctx *c, struct table *t,
                   const struct sl_dev_plan *plan, const struct plan_info *pi,
                   struct sl_dev_result *r, char *errbuf, size_t errcap) {
  unsigned long long counters[8];
  int64_t *d_idx = NULL;
  int32_t *d_words = NULL, words[MAX_ROW_WORDS];
  unsigned long long *d_out = NULL, *m = NULL;
  bool m_owned = false;
  char *heap = NULL;
  int64_t g = 0, G = 1;
  int nw = 0;
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(counters, t->counters, sizeof counters,
                cudaMemcpyDeviceToHost));
  switch (counters[2]) {
  case ERR_TABLE_FULL:
    snprintf(errbuf, errcap,
             "CUDA: more groups than the device hash table holds (%lld slots; "
             "set SLUICE_CUDA_SLOTS)",
             (long long)t->n_slots);
    goto fail;
  case ERR_HEAP_FULL:
    snprintf(errbuf, errcap,
             "CUDA: string group keys and distinct values exceed the device "
             "key heap (%llu bytes)",
             t->heap_cap);
    goto fail;
  case ERR_SET_FULL:
    snprintf(errbuf, errcap,
             "CUDA: more distinct (group, value) pairs than the device set "
             "holds (%lld slots; set SLUICE_CUDA_DISTINCT_SLOTS)",
             (long long)t->set_slots);
    goto fail;
  case ERR_PAIRS_FULL:
    snprintf(errbuf, errcap,
             "CUDA: more quantile / approx_count_distinct values than the "
             "device holds (%lld; set SLUICE_CUDA_PAIRS)",
             (long long)t->pairs_cap);
    goto fail;
  case ERR_DECODE:
    snprintf(errbuf, errcap,
             "CUDA: a string with escapes longer than %d bytes in a WHERE or "
             "count(DISTINCT) column",
             DEV_DECODE_CAP);
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
  G = g ? g : 1;
  r->n_groups = g;
  /* Word 0 (null bits), the keys, then every aggregate word. */
  words[nw++] = 0;
  for (int w = 2; w < pi->used; w++)
    words[nw++] = w;
  CK(cudaMalloc((void **)&d_words, sizeof words));
  CK(cudaMemcpy(d_words, words, sizeof words, cudaMemcpyHostToDevice));
  CK(cudaMalloc((void **)&d_out, (size_t)G * (size_t)nw * 8));
  k_gather<<<grid_for(c, g, 256), 256>>>(*t, d_idx, g, d_words, nw, d_out);
  CK(cudaGetLastError());
  /* Into pinned memory the input no longer needs, when it fits. */
  if (c->h_stage[0] && (size_t)G * (size_t)nw * 8 <= c->chunk) {
    m = (unsigned long long *)c->h_stage[0];
  } else if (c->h_ring &&
             (size_t)G * (size_t)nw * 8 <= c->piece * (size_t)c->ahead) {
    m = (unsigned long long *)c->h_ring;
  } else {
    m = (unsigned long long *)malloc((size_t)G * (size_t)nw * 8);
    m_owned = true;
    if (!m) goto oom;
  }
  if (m_owned && c->h_ring) {
    if (d2h_through_ring(c, (char *)m, (const char *)d_out,
                         (size_t)g * (size_t)nw * 8, errbuf, errcap))
      goto fail;
  } else {
    CK(cudaMemcpy(m, d_out, (size_t)g * (size_t)nw * 8,
                  cudaMemcpyDeviceToHost));
  }
  if (counters[0]) {
    heap = (char *)malloc(counters[0]);
    if (!heap) goto oom;
    CK(cudaMemcpy(heap, t->heap, counters[0], cudaMemcpyDeviceToHost));
  }
  {
    /* word w of group i is m[(index of w in words) * g + i] */
    const unsigned long long *w0 = m;
#define WORD(w, i) m[(int64_t)((w)-1) * g + (i)] /* words[j] = j + 1, j>0 */
    for (int k = 0; k < plan->n_keys; k++) {
      bool str = plan->columns[plan->keys[k].column].type == SL_DEV_STRING;
      r->key_valid[k] = (uint8_t *)malloc((size_t)G);
      if (!r->key_valid[k]) goto oom;
#pragma omp parallel for if (g > 65536)
      for (int64_t i = 0; i < g; i++)
        r->key_valid[k][i] = !((w0[i] >> 32) & (1u << k));
      if (!str) {
        r->key_i64[k] = (int64_t *)alloc_words(G);
        if (!r->key_i64[k]) goto oom;
#pragma omp parallel for if (g > 65536)
        for (int64_t i = 0; i < g; i++)
          r->key_i64[k][i] = (int64_t)WORD(2 + k, i);
        continue;
      }
      size_t total = 0;
      for (int64_t i = 0; i < g; i++)
        if (r->key_valid[k][i]) total += (size_t)(WORD(2 + k, i) & 0xFFFFFF);
      r->key_str_off[k] = (int64_t *)malloc((size_t)(g + 1) * 8);
      r->key_str_data[k] = (char *)malloc(total ? total : 1);
      if (!r->key_str_off[k] || !r->key_str_data[k]) goto oom;
      size_t o = 0;
      for (int64_t i = 0; i < g; i++) {
        r->key_str_off[k][i] = (int64_t)o;
        if (!r->key_valid[k][i]) continue;
        unsigned long long ref = WORD(2 + k, i);
        o += unescape(heap + (ref >> 24), (size_t)(ref & 0xFFFFFF),
                      r->key_str_data[k] + o);
      }
      r->key_str_off[k][g] = (int64_t)o;
    }
    for (int a = 0; a < plan->n_aggs; a++) {
      int op = plan->aggs[a].op;
      bool fl = op != SL_DEV_COUNT_STAR &&
                plan->columns[plan->aggs[a].column].type == SL_DEV_FLOAT64;
      r->agg_valid[a] = (uint8_t *)malloc((size_t)G);
      r->agg_i64[a] = (int64_t *)alloc_words(G);
      r->agg_f64[a] = (double *)alloc_words(G);
      if (!r->agg_valid[a] || !r->agg_i64[a] || !r->agg_f64[a]) goto oom;
      bool smm = str_minmax(plan, a);
      if (op >= SL_DEV_FIRST || smm) {
        /* valid: the lock word's high half; strings decoded like keys
         * (min/max keep them decoded already) */
        int ol = pi->off_l[a], ov = pi->off_v[a];
        bool str = plan->columns[plan->aggs[a].column].type == SL_DEV_STRING;
        size_t total = 0;
#pragma omp parallel for if (g > 65536) reduction(+ : total)
        for (int64_t i = 0; i < g; i++) {
          r->agg_valid[a][i] = (WORD(ol, i) >> 32) != 0;
          unsigned long long v = WORD(ov, i);
          r->agg_i64[a][i] = (int64_t)v;
          memcpy(&r->agg_f64[a][i], &v, sizeof v);
          if (str && r->agg_valid[a][i]) total += (size_t)(v & 0xFFFFFF);
        }
        if (!str) continue;
        r->agg_str_off[a] = (int64_t *)malloc((size_t)(g + 1) * 8);
        r->agg_str_data[a] = (char *)malloc(total ? total : 1);
        if (!r->agg_str_off[a] || !r->agg_str_data[a]) goto oom;
        size_t o = 0;
        for (int64_t i = 0; i < g; i++) {
          r->agg_str_off[a][i] = (int64_t)o;
          if (!r->agg_valid[a][i]) continue;
          unsigned long long ref = WORD(ov, i);
          size_t len = (size_t)(ref & 0xFFFFFF);
          if (smm) {
            memcpy(r->agg_str_data[a] + o, heap + (ref >> 24), len);
            o += len;
          } else {
            o += unescape(heap + (ref >> 24), len, r->agg_str_data[a] + o);
          }
        }
        r->agg_str_off[a][g] = (int64_t)o;
        continue;
      }
      int cs = pi->count_src[a];
      int on = cs >= 0 ? pi->off_n[cs] : -1, ov = pi->off_v[a],
          oq = pi->off_q[a];
      /* The result is a double (device.c's agg_type) for averages,
       * quantile_cont, variances, and sums, min/max and quantile_disc of
       * DOUBLE columns; an integer otherwise. */
      bool out_f = op == SL_DEV_AVG || op == SL_DEV_QUANTILE_CONT ||
                   (op >= SL_DEV_VAR_POP && op <= SL_DEV_STDDEV_SAMP) ||
                   (fl && op != SL_DEV_COUNT && op != SL_DEV_COUNT_DISTINCT &&
                    op != SL_DEV_APPROX_COUNT_DISTINCT);
#pragma omp parallel for if (g > 65536)
      for (int64_t i = 0; i < g; i++) {
        int64_t n = on >= 0 ? (int64_t)WORD(on, i) : 0;
        unsigned long long v = ov >= 0 ? WORD(ov, i) : 0;
        double vf;
        memcpy(&vf, &v, sizeof vf);
        bool valid = n > 0;
        int64_t oi = (int64_t)v;
        double of = vf;
        switch (op) {
        case SL_DEV_COUNT_STAR:
        case SL_DEV_COUNT:
          valid = true;
          oi = n;
          break;
        case SL_DEV_COUNT_DISTINCT: valid = true; break;
        case SL_DEV_APPROX_COUNT_DISTINCT: {
          /* The CPU's sl__hll_estimate, from the pick kernel's distinct
           * count (sparse) or register sum and zero registers (dense). */
          unsigned long long qw = WORD(oq, i);
          valid = true;
          if (!(qw >> 63)) {
            oi = (int64_t)qw;
            break;
          }
          double sum = vf, m = 4096, alpha = 0.7213 / (1 + 1.079 / m);
          int zeros = (int)(qw & 0xFFFFFFFF);
          double e = alpha * m * m / sum;
          if (e <= 2.5 * m && zeros) e = m * log(m / zeros);
          oi = (int64_t)llround(e);
          break;
        }
        case SL_DEV_AVG:
          of = n ? (fl ? vf : (double)(int64_t)v) / (double)n : 0.0;
          break;
        case SL_DEV_VAR_POP:
        case SL_DEV_VAR_SAMP:
        case SL_DEV_STDDEV_POP:
        case SL_DEV_STDDEV_SAMP: {
          /* Sums of the shifted values d = x - K: M2 = sum(d^2) -
           * sum(d)^2 / n, which does not cancel badly as K lies among the
           * group's values. */
          unsigned long long qw = WORD(oq, i);
          double sum = vf, sq, nn = (double)n;
          memcpy(&sq, &qw, sizeof sq);
          bool samp = op == SL_DEV_VAR_SAMP || op == SL_DEV_STDDEV_SAMP;
          double m2 = sq - sum * (sum / (nn ? nn : 1));
          if (m2 < 0) m2 = 0; /* rounding of a constant group */
          double var = n > (samp ? 1 : 0) ? m2 / (samp ? nn - 1 : nn) : 0.0;
          valid = n > (samp ? 1 : 0);
          of = op == SL_DEV_STDDEV_POP || op == SL_DEV_STDDEV_SAMP ? sqrt(var)
                                                                   : var;
          break;
        }
        default: break;
        }
        r->agg_valid[a][i] = valid;
        /* Only the array of the result's type is written (the other is
         * never touched, so its pages are never faulted in). */
        if (out_f)
          r->agg_f64[a][i] = of;
        else
          r->agg_i64[a][i] = oi;
      }
    }
#undef WORD
  }
  if (m_owned) free(m);
  free(heap);
  cudaFree(d_idx);
  cudaFree(d_words);
  cudaFree(d_out);
  return 0;
oom:
  snprintf(errbuf, errcap, "CUDA: out of host memory collecting %lld groups",
           (long long)g);
fail:
  if (m_owned) free(m);
  free(heap);
  cudaFree(d_idx);
  cudaFree(d_words);
  cudaFree(d_out);
  free_result(c, r);
  return -1;
}

/* Quantiles, approx_count_distinct: sorts the pairs by value, then (stably)
 * by (group row, aggregate), and lets k_pick_pairs fold each segment into
 * its row. Nothing to do when a kernel reported an error (collect says
 * which). */
static int sort_pairs(struct cuda_ctx *c, struct table *t,
                      const struct sl_dev_plan *d_plan,
                      const struct plan_info *d_pi, char *errbuf,
                      size_t errcap) {
  unsigned long long counters[9];
  void *tmp = NULL;
  size_t tmp_bytes = 0, b2 = 0;
  int n, key_bits = 4;
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(counters, t->counters, sizeof counters,
                cudaMemcpyDeviceToHost));
  if (counters[2] || counters[8] == 0) return 0;
  n = (int)counters[8];
  while (((int64_t)1 << key_bits) < t->n_slots * 16)
    key_bits++;
  {
    cub::DoubleBuffer<unsigned long long> vk(t->pv, t->pk + 2 * t->pairs_cap),
        vv(t->pk, t->pk + 3 * t->pairs_cap);
    CK(cub::DeviceRadixSort::SortPairs(NULL, tmp_bytes, vk, vv, n));
    CK(cub::DeviceRadixSort::SortPairs(NULL, b2, vv, vk, n, 0, key_bits));
    if (b2 > tmp_bytes) tmp_bytes = b2;
    CK(cudaMalloc(&tmp, tmp_bytes ? tmp_bytes : 1));
    /* By value, then stably by key: sorted by (key, value). */
    CK(cub::DeviceRadixSort::SortPairs(tmp, tmp_bytes, vk, vv, n));
    cub::DoubleBuffer<unsigned long long> kk(vv.Current(), vv.Alternate()),
        kv(vk.Current(), vk.Alternate());
    CK(cub::DeviceRadixSort::SortPairs(tmp, tmp_bytes, kk, kv, n, 0, key_bits));
    k_pick_pairs<<<grid_for(c, n, 256), 256>>>(*t, n, kk.Current(),
                                               kv.Current(), d_plan, d_pi);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
  }
  cudaFree(tmp);
  return 0;
fail:
  cudaFree(tmp);
  return -1;
}

/* Launches the per-chunk kernels on stream b over d_data[0..n). */
static int launch_chunk(struct cuda_ctx *c, int b, const char *d_data,
                        int64_t n, int64_t base,
                        const struct sl_dev_plan *d_plan,
                        const struct plan_info *d_pi, struct table *t,
                        unsigned long long *d_count, char *errbuf,
                        size_t errcap) {
  CK(cudaMemsetAsync(d_count, 0, 8, c->stream[b]));
  k_find_lines<<<(int)((n + 16 * 256 - 1) / (16 * 256)), 256, 0,
                 c->stream[b]>>>(d_data, n, c->d_starts[b], d_count);
  CK(cudaGetLastError());
  switch (c->min_blocks) {
  case 3:
    k_parse_aggregate<3><<<c->sms * 8, 256, smem_bytes(t), c->stream[b]>>>(
        d_data, n, base, c->d_starts[b], d_count, d_plan, d_pi, *t);
    break;
  case 4:
    k_parse_aggregate<4><<<c->sms * 8, 256, smem_bytes(t), c->stream[b]>>>(
        d_data, n, base, c->d_starts[b], d_count, d_plan, d_pi, *t);
    break;
  default:
    k_parse_aggregate<1><<<c->sms * 8, 256, smem_bytes(t), c->stream[b]>>>(
        d_data, n, base, c->d_starts[b], d_count, d_plan, d_pi, *t);
    break;
  }
  CK(cudaGetLastError());
  return 0;
fail:
  return -1;
}

/* The error for a line that does not fit a chunk, starting at byte at. */
static void long_line(char *errbuf, size_t errcap, size_t chunk, int64_t at) {
  snprintf(errbuf, errcap,
           "CUDA: a line longer than the %zu-byte chunk at byte %lld "
           "(set SLUICE_CUDA_CHUNK_MB)",
           chunk, (long long)at);
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

/* Reads n bytes at file offset off into dst, all cores; 0 or an errno. */
static int parallel_pread(int fd, char *dst, size_t n, int64_t off) {
  int threads = omp_get_max_threads(), err = 0;
  size_t per = (n + (size_t)threads - 1) / (size_t)threads;
  per = (per + 4095) & ~(size_t)4095;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < threads; i++) {
    size_t s = (size_t)i * per, got = 0;
    size_t want = s >= n ? 0 : s + per > n ? n - s : per;
    while (got < want) {
      ssize_t r = pread(fd, dst + s + got, want - got,
                        (off_t)(off + (int64_t)(s + got)));
      if (r <= 0) {
#pragma omp atomic write
        err = r < 0 ? errno : EIO;
        break;
      }
      got += (size_t)r;
    }
  }
  return err;
}

/* ---- SLUICE_CUDA_READ=register --------------------------------------------
 * The file is mapped and its windows (SLUICE_CUDA_REG_MB, default 256 MiB)
 * are registered with cudaHostRegister (read-only) by worker threads
 * (SLUICE_CUDA_REG_THREADS, default 8) ahead of the copies, at most 2 GiB
 * of them at a time; the copy engine then reads each chunk straight from the
 * page cache, one copy per window the chunk touches (a copy must lie in one
 * registration), and a worker unregisters a window once every copy that
 * reads it is done. A chunk with a window that could not be registered is
 * read with pread into the pinned staging buffer instead. */
struct regpipe {
  int dev;
  int fd;
  char *map;
  size_t len, win;
  int n_win, live, threads;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int next_reg, next_unreg, unreg_done, failed;
  bool stop;          /* register no more windows */
  signed char *state; /* per window: 0 pending, 1 registered, 2 failed */
  size_t copied;      /* input bytes whose H2D copies are done */
  cudaError_t first_err;
  pthread_t tid[64];
};

static void *regpipe_worker(void *arg) {
  struct regpipe *p = (struct regpipe *)arg;
  cudaSetDevice(p->dev); /* registrations belong to the plan's device */
  pthread_mutex_lock(&p->mu);
  for (;;) {
    int u = p->next_unreg;
    if (u < p->next_reg && p->state[u] &&
        ((size_t)(u + 1) * p->win <= p->copied || p->copied >= p->len)) {
      p->next_unreg++;
      pthread_mutex_unlock(&p->mu);
      if (p->state[u] == 1) cudaHostUnregister(p->map + (size_t)u * p->win);
      pthread_mutex_lock(&p->mu);
      p->unreg_done++;
      pthread_cond_broadcast(&p->cv);
      continue;
    }
    if (!p->stop && p->next_reg < p->n_win &&
        p->next_reg - p->unreg_done < p->live) {
      int w = p->next_reg++;
      pthread_mutex_unlock(&p->mu);
      size_t off = (size_t)w * p->win;
      size_t n = p->len - off < p->win ? p->len - off : p->win;
      cudaError_t e =
          cudaHostRegister(p->map + off, n, cudaHostRegisterReadOnly);
      if (e != cudaSuccess) cudaGetLastError(); /* not sticky: clear it */
      pthread_mutex_lock(&p->mu);
      p->state[w] = e == cudaSuccess ? 1 : 2;
      if (e != cudaSuccess && !p->failed++) p->first_err = e;
      pthread_cond_broadcast(&p->cv);
      continue;
    }
    if (p->next_unreg >= (p->stop ? p->next_reg : p->n_win)) break;
    pthread_cond_wait(&p->cv, &p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static long env_long(const char *name, long def, long lo, long hi) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end = NULL;
  long x = strtol(v, &end, 10);
  return *end || x < lo || x > hi ? -1 : x;
}

/* Maps fd and starts the workers: 0; -1 with the reason in why (the caller
 * then reads with pread); -2 for a bad setting, the message in why. */
static int regpipe_start(struct regpipe *p, int dev, int fd, size_t len,
                         size_t chunk, char *why, size_t whycap) {
  int reg = 0, ro = 0;
  memset(p, 0, sizeof *p);
  long threads = env_long("SLUICE_CUDA_REG_THREADS", 8, 1, 64);
  long mb = env_long("SLUICE_CUDA_REG_MB", 256, 1, 1 << 20);
  if (threads < 0 || mb < 0) {
    snprintf(why, whycap,
             "CUDA: SLUICE_CUDA_REG_THREADS must be 1-64 and "
             "SLUICE_CUDA_REG_MB 1-1048576 (whole numbers), found '%s' and "
             "'%s'",
             getenv("SLUICE_CUDA_REG_THREADS")
                 ? getenv("SLUICE_CUDA_REG_THREADS")
                 : "",
             getenv("SLUICE_CUDA_REG_MB") ? getenv("SLUICE_CUDA_REG_MB") : "");
    return -2;
  }
  if (cudaDeviceGetAttribute(&reg, cudaDevAttrHostRegisterSupported, dev) ||
      cudaDeviceGetAttribute(&ro, cudaDevAttrHostRegisterReadOnlySupported,
                             dev) ||
      !reg || !ro) {
    cudaGetLastError();
    snprintf(why, whycap, "the device cannot register host memory read-only");
    return -1;
  }
  p->map = (char *)mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (p->map == MAP_FAILED) {
    snprintf(why, whycap, "mapping the input: %s", strerror(errno));
    return -1;
  }
  p->dev = dev;
  p->fd = fd;
  p->len = len;
  p->win = (size_t)mb << 20;
  p->n_win = (int)((len + p->win - 1) / p->win);
  /* At most 2 GiB registered, but never fewer windows than the copies in
   * flight (two chunks) and the chunk waited for can touch. */
  p->live = (int)((2048ul << 20) / p->win);
  if ((size_t)p->live < 3 * chunk / p->win + 3)
    p->live = (int)(3 * chunk / p->win + 3);
  p->state = (signed char *)calloc((size_t)p->n_win, 1);
  if (!p->state) {
    munmap(p->map, len);
    snprintf(why, whycap, "out of host memory");
    return -1;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (p->threads = 0; p->threads < threads; p->threads++)
    if (pthread_create(&p->tid[p->threads], NULL, regpipe_worker, p)) break;
  if (!p->threads) {
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->state);
    munmap(p->map, len);
    snprintf(why, whycap, "cannot start a thread: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* The copies of input bytes [0, upto) are done: their windows can go. */
static void regpipe_copied(struct regpipe *p, size_t upto) {
  pthread_mutex_lock(&p->mu);
  if (upto > p->copied) {
    p->copied = upto;
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
}

/* Waits until the windows of [pos, end) are registered or failed; true when
 * all are registered. */
static bool regpipe_wait(struct regpipe *p, size_t pos, size_t end) {
  int first = (int)(pos / p->win), last = (int)((end - 1) / p->win);
  bool ok = true;
  pthread_mutex_lock(&p->mu);
  for (int w = first; w <= last; w++) {
    while (!p->state[w])
      pthread_cond_wait(&p->cv, &p->mu);
    ok = ok && p->state[w] == 1;
  }
  pthread_mutex_unlock(&p->mu);
  return ok;
}

/* Unregisters what is left (the copies must be done), joins the workers
 * and unmaps the file. */
static void regpipe_stop(struct regpipe *p) {
  pthread_mutex_lock(&p->mu);
  p->stop = true; /* after a failed run, windows not yet needed stay */
  pthread_mutex_unlock(&p->mu);
  regpipe_copied(p, p->len);
  for (int i = 0; i < p->threads; i++)
    pthread_join(p->tid[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->state);
  munmap(p->map, p->len);
}

/* Where the input comes from. */
struct source {
  const char *data; /* host memory (pageable), or NULL */
  int fd;           /* else a file descriptor */
  size_t len;
  bool resident;       /* copy to the device once, time `repeat` runs */
  struct regpipe *reg; /* data is fd's mapping, registered by windows */
};

/* Streams src through the device in chunks that end at a newline, each
 * chunk's kernels on the stream of its device buffer (two, alternating).
 * By default a chunk is read (pread from the file, or copied from host
 * memory, on all cores) piece by piece into a ring of small pinned slots,
 * each piece copied to its place in the device buffer as soon as it is
 * read, and the bytes after the chunk's last newline are carried to the
 * next device buffer on the device. With SLUICE_CUDA_PIECE_MB=0, or a
 * registered mapping, a whole chunk is staged in one of two pinned chunk
 * buffers and its tail carried on the host. */
static int stream_input(struct cuda_ctx *c, const struct source *src,
                        const struct sl_dev_plan *d_plan,
                        const struct plan_info *d_pi, struct table *t,
                        unsigned long long **d_count, double *host_s,
                        char *errbuf, size_t errcap) {
  int64_t len = (int64_t)src->len, pos = 0; /* bytes read so far */
  size_t tail = 0, prev_send = 0;
  int64_t chunk_end[2] = {0, 0}; /* input end of the last chunk of stream b */
  bool ring = !src->reg && c->h_ring;
  if (!ring && (!stage_buf(c, 0) || !stage_buf(c, 1))) {
    snprintf(errbuf, errcap,
             "CUDA: cannot allocate two pinned staging buffers of %zu bytes",
             c->chunk);
    return -1;
  }
  for (int i = 0; pos < len || tail; i++) {
    int b = i & 1;
    /* Staging buffer b is free once its previous H2D copy finished. */
    CK(cudaEventSynchronize(c->staged[b]));
    double h0 = now_s();
    int64_t send, at = pos; /* input offset of h_stage[b][0] */
    bool direct = false;    /* copied already (registered mapping, ring) */
    if (src->reg) {
      /* Chunk i-2 was copied (just synchronised), chunk i-3 before it. */
      regpipe_copied(src->reg, (size_t)chunk_end[b]);
      int64_t lim =
          len - pos < (int64_t)c->chunk ? len : pos + (int64_t)c->chunk;
      direct = regpipe_wait(src->reg, (size_t)pos, (size_t)lim);
      int64_t end = cut_at(src->data, pos, len, c->chunk);
      if (end < 0) {
        long_line(errbuf, errcap, c->chunk, pos);
        goto fail;
      }
      send = end - pos;
      if (direct) {
        size_t win = src->reg->win;
        for (int64_t o = pos; o < end;) {
          int64_t wend = (int64_t)(((size_t)o / win + 1) * win);
          int64_t n = (wend < end ? wend : end) - o;
          CK(cudaMemcpyAsync(c->d_buf[b] + (o - pos), src->data + o, (size_t)n,
                             cudaMemcpyHostToDevice, c->stream[b]));
          o += n;
        }
      } else {
        int e = parallel_pread(src->reg->fd, c->h_stage[b], (size_t)send, pos);
        if (e) {
          snprintf(errbuf, errcap, "CUDA: reading the input at byte %lld: %s",
                   (long long)pos, strerror(e));
          goto fail;
        }
      }
      pos = end;
    } else if (src->data && !ring) {
      int64_t end = cut_at(src->data, pos, len, c->chunk);
      if (end < 0) {
        long_line(errbuf, errcap, c->chunk, pos);
        goto fail;
      }
      send = end - pos;
      parallel_copy(c->h_stage[b], src->data + pos, (size_t)send);
      pos = end;
    } else if (ring) {
      /* The tail (the bytes after chunk i-1's last newline) is already on
       * the device: copied from d_buf[b^1] once chunk i-1's copies are
       * done. Stream b always waits for them, so chunk i+1, on stream b^1,
       * overwrites d_buf[b^1] only after this chunk's copies (this one
       * among them) are done. */
      CK(cudaStreamWaitEvent(c->stream[b], c->staged[b ^ 1], 0));
      if (tail)
        CK(cudaMemcpyAsync(c->d_buf[b], c->d_buf[b ^ 1] + prev_send, tail,
                           cudaMemcpyDeviceToDevice, c->stream[b]));
      size_t want = c->chunk - tail;
      if ((int64_t)want > len - pos) want = (size_t)(len - pos);
      size_t n = tail + want;
      int64_t cut = -1; /* chunk offset of the last newline, once found */
      /* Each piece is read into the next slot of the ring (once the slot's
       * previous copy is done, so the CPU stays at most `ahead` pieces in
       * front of the copy engine and the slots stay in the CPU's cache) and
       * copied to its place in d_buf[b] at once. */
      for (size_t o = tail; o < n;) {
        size_t m = n - o < c->piece ? n - o : c->piece;
        int k = (int)(c->n_piece % (unsigned long)c->ahead);
        char *slot = c->h_ring + (size_t)k * c->piece;
        double w0 = now_s();
        CK(cudaEventSynchronize(c->piece_ev[k]));
        double w1 = now_s();
        int64_t off = pos + (int64_t)(o - tail);
        int e = 0;
        if (src->data)
          parallel_copy(slot, src->data + off, m);
        else
          e = parallel_pread(src->fd, slot, m, off);
        c->ring_wait_s += w1 - w0;
        c->ring_read_s += now_s() - w1;
        c->ring_pieces++;
        if (e) {
          snprintf(errbuf, errcap, "CUDA: reading the input at byte %lld: %s",
                   (long long)off, strerror(e));
          goto fail;
        }
        CK(cudaMemcpyAsync(c->d_buf[b] + o, slot, m, cudaMemcpyHostToDevice,
                           c->stream[b]));
        CK(cudaEventRecord(c->piece_ev[k], c->stream[b]));
        c->n_piece++;
        const char *nl = (const char *)memrchr(slot, '\n', m);
        if (nl) cut = (int64_t)(o + (size_t)(nl - slot));
        o += m;
      }
      at = pos - (int64_t)tail;
      pos += (int64_t)want;
      send = (int64_t)n;
      if (pos < len) {
        if (cut < 0) {
          long_line(errbuf, errcap, c->chunk, at);
          goto fail;
        }
        send = cut + 1;
      }
      tail = n - (size_t)send;
      prev_send = (size_t)send;
      direct = true; /* copied */
    } else {
      if (tail) memcpy(c->h_stage[b], c->h_stage[b ^ 1] + prev_send, tail);
      size_t want = c->chunk - tail;
      if ((int64_t)want > len - pos) want = (size_t)(len - pos);
      int e = parallel_pread(src->fd, c->h_stage[b] + tail, want, pos);
      if (e) {
        snprintf(errbuf, errcap, "CUDA: reading the input at byte %lld: %s",
                 (long long)pos, strerror(e));
        goto fail;
      }
      at = pos - (int64_t)tail;
      pos += (int64_t)want;
      size_t n = tail + want;
      send = (int64_t)n;
      if (pos < len) {
        const char *nl = (const char *)memrchr(c->h_stage[b], '\n', n);
        if (!nl) {
          long_line(errbuf, errcap, c->chunk, at);
          goto fail;
        }
        send = nl - c->h_stage[b] + 1;
      }
      tail = n - (size_t)send;
      prev_send = (size_t)send;
    }
    *host_s += now_s() - h0;
    if (!direct)
      CK(cudaMemcpyAsync(c->d_buf[b], c->h_stage[b], (size_t)send,
                         cudaMemcpyHostToDevice, c->stream[b]));
    CK(cudaEventRecord(c->staged[b], c->stream[b]));
    if (c->trace && pos >= len && !tail) {
      CK(cudaEventRecord(c->tr_copied, c->stream[b]));
      c->tr_last_read = now_s();
    }
    chunk_end[b] = at + send;
    if (launch_chunk(c, b, c->d_buf[b], send, at, d_plan, d_pi, t, d_count[b],
                     errbuf, errcap))
      goto fail;
  }
  return 0;
fail:
  return -1;
}

static int run_plan(struct cuda_ctx *c, const struct sl_dev_plan *plan,
                    const struct source *src, int repeat,
                    struct sl_dev_result *out, char *errbuf, size_t errcap) {
  struct plan_info pi;
  struct table t;
  struct sl_dev_plan *d_plan = NULL;
  struct plan_info *d_pi = NULL;
  unsigned long long *d_count[2] = {NULL, NULL};
  char *d_all = NULL;
  cudaEvent_t e0 = NULL, e1 = NULL;
  double t0 = now_s(), t_setup = 0, t_loop = 0;
  int64_t len = (int64_t)src->len;
  memset(out, 0, sizeof *out);
  memset(&t, 0, sizeof t);
  c->ring_wait_s = c->ring_read_s = 0;
  c->ring_pieces = 0;
  if (check_plan(plan, &pi, errbuf, errcap)) return -1;
  CK(cudaSetDevice(c->dev));
  if (table_setup(c, &t, &pi, plan->n_keys, src->len, errbuf, errcap))
    return -1;
  CK(cudaMalloc((void **)&d_plan, sizeof *plan));
  CK(cudaMalloc((void **)&d_pi, sizeof pi));
  CK(cudaMemcpy(d_plan, plan, sizeof *plan, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(d_pi, &pi, sizeof pi, cudaMemcpyHostToDevice));
  for (int b = 0; b < 2; b++)
    CK(cudaMalloc((void **)&d_count[b], 8));
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  if (src->resident) {
    CK(cudaMalloc((void **)&d_all, len ? (size_t)len : 1));
    double h0 = now_s();
    CK(cudaMemcpy(d_all, src->data, (size_t)len, cudaMemcpyHostToDevice));
    out->seconds_h2d = now_s() - h0;
  }
  t_setup = now_s() - t0;
  t_loop = now_s();
  for (int rep = 0; rep < (src->resident ? repeat + 1 : 1); rep++) {
    /* rep 0 of a resident run is the warm-up; each run starts clean. */
    k_init_table<<<grid_for(c, t.n_slots * t.stride, 256), 256>>>(t, d_pi);
    CK(cudaGetLastError());
    CK(cudaMemset(t.counters, 0, 16 * sizeof(unsigned long long)));
    CK(cudaDeviceSynchronize());
    CK(cudaEventRecord(e0, 0));
    double host_s = 0, t_e0 = now_s();
    if (src->resident) {
      int64_t pos = 0;
      for (int i = 0; pos < len; i++) {
        int b = i & 1;
        int64_t end = cut_at(src->data, pos, len, c->chunk);
        if (end < 0) {
          long_line(errbuf, errcap, c->chunk, pos);
          goto fail;
        }
        if (launch_chunk(c, b, d_all + pos, end - pos, pos, d_plan, d_pi, &t,
                         d_count[b], errbuf, errcap))
          goto fail;
        pos = end;
      }
    } else if (stream_input(c, src, d_plan, d_pi, &t, d_count, &host_s, errbuf,
                            errcap)) {
      goto fail;
    }
    CK(cudaDeviceSynchronize());
    /* Every copy is done: the workers unregister the last windows while
     * the result is collected. */
    if (src->reg) regpipe_copied(src->reg, src->len);
    CK(cudaEventRecord(e1, 0));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    if (!src->resident) out->seconds_h2d = host_s;
    if (c->trace && !src->resident && len > 0) {
      float at_copied = 0;
      CK(cudaEventElapsedTime(&at_copied, e0, c->tr_copied));
      fprintf(stderr,
              "cuda: the last piece read at %.2f ms, the last chunk copied "
              "at %.2f ms, its kernels done at %.2f ms\n",
              (c->tr_last_read - t_e0) * 1e3, at_copied, ms);
    }
    if (rep > 0 || !src->resident) out->seconds_kernels += ms / 1e3;
  }
  if (src->resident && repeat > 0) out->seconds_kernels /= repeat;
  if (pi.has_pairs && sort_pairs(c, &t, d_plan, d_pi, errbuf, errcap))
    goto fail;
  {
    double tc = now_s();
    if (collect(c, &t, plan, &pi, out, errbuf, errcap)) goto fail;
    out->seconds_total = now_s() - t0;
    if (c->trace)
      fprintf(stderr,
              "cuda: %.1f MB in %.4f s: setup %.4f, chunks %.4f (reading "
              "into pinned memory %.4f), collect %.4f (%lld groups, %d "
              "words a row, %d partial rows a block)\n",
              len / 1e6, out->seconds_total, t_setup, tc - t_loop,
              out->seconds_h2d, now_s() - tc, (long long)out->n_groups,
              pi.stride, t.smem_slots);
    if (c->trace && c->ring_pieces)
      fprintf(stderr,
              "cuda: ring of %d x %zu MiB: %ld pieces, waiting for a slot "
              "%.4f s, reading %.4f s\n",
              c->ahead, c->piece >> 20, c->ring_pieces, c->ring_wait_s,
              c->ring_read_s);
  }
  cudaFree(d_plan);
  cudaFree(d_pi);
  cudaFree(d_count[0]);
  cudaFree(d_count[1]);
  cudaFree(d_all);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 0;
fail:
  cudaDeviceSynchronize();
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
  struct source s = {data, -1, len, false, NULL};
  return run_plan((struct cuda_ctx *)ctx, plan, &s, 1, out, errbuf, errcap);
}

static int cuda_groupby_fd(void *ctx, const struct sl_dev_plan *plan, int fd,
                           size_t len, struct sl_dev_result *out, char *errbuf,
                           size_t errcap) {
  struct cuda_ctx *c = (struct cuda_ctx *)ctx;
  struct source s = {NULL, fd, len, false, NULL};
  const char *env = getenv("SLUICE_CUDA_READ");
  if (env && *env && strcmp(env, "pread") && strcmp(env, "mmap") &&
      strcmp(env, "register")) {
    snprintf(errbuf, errcap,
             "CUDA: SLUICE_CUDA_READ=%s: expected pread, mmap or register",
             env);
    return -1;
  }
  if (len && env && !strcmp(env, "register")) {
    struct regpipe rp;
    char why[256];
    int st = regpipe_start(&rp, c->dev, fd, len, c->chunk, why, sizeof why);
    if (st == -2) {
      snprintf(errbuf, errcap, "%s", why);
      return -1;
    }
    if (st) {
      fprintf(stderr,
              "sluice: SLUICE_CUDA_READ=register: %s; reading with pread\n",
              why);
      return run_plan(c, plan, &s, 1, out, errbuf, errcap);
    }
    s.data = rp.map;
    s.reg = &rp;
    int rc = run_plan(c, plan, &s, 1, out, errbuf, errcap);
    double t0 = now_s();
    regpipe_stop(&rp);
    if (rp.failed)
      fprintf(stderr,
              "sluice: SLUICE_CUDA_READ=register: %d of %d windows could not "
              "be registered (%s); they were read with pread\n",
              rp.failed, rp.n_win, cudaGetErrorString(rp.first_err));
    if (c->trace)
      fprintf(stderr,
              "cuda: registered reads: %d windows of %zu MiB on %d threads, "
              "%d failed; last unregistrations and unmap %.4f s\n",
              rp.n_win, rp.win >> 20, rp.threads, rp.failed, now_s() - t0);
    return rc;
  }
  if (len && env && !strcmp(env, "mmap")) {
    /* The file mapped and copied into the pinned buffers with the C
     * library's memcpy (non-temporal stores) instead of pread. */
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      snprintf(errbuf, errcap, "CUDA: mapping the input: %s", strerror(errno));
      return -1;
    }
    madvise(m, len, MADV_SEQUENTIAL);
    s.data = (const char *)m;
    int rc = run_plan(c, plan, &s, 1, out, errbuf, errcap);
    munmap(m, len);
    return rc;
  }
  return run_plan(c, plan, &s, 1, out, errbuf, errcap);
}

static int cuda_groupby_json_resident(void *ctx, const struct sl_dev_plan *plan,
                                      const char *data, size_t len, int repeat,
                                      struct sl_dev_result *out, char *errbuf,
                                      size_t errcap) {
  struct source s = {data, -1, len, true, NULL};
  return run_plan((struct cuda_ctx *)ctx, plan, &s, repeat < 1 ? 1 : repeat,
                  out, errbuf, errcap);
}

extern "C" __attribute__((visibility("default")))
const struct sl_device_backend sl_device_backend_v1 = {
    SL_DEVICE_ABI_VERSION,
    "cuda",
    cuda_open,
    cuda_close,
    cuda_groupby_json,
    cuda_groupby_fd,
    cuda_groupby_json_resident,
    free_result,
    cuda_host_alloc,
    cuda_host_free,
};
