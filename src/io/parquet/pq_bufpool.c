/* Reader side: a cache of freed column buffers.
 *
 * Decoded columns leave the reader as Arrow buffers that the consumer frees
 * whenever it likes. Without reuse every column chunk lands in fresh memory,
 * which the kernel must fault in and zero page by page: on the 10-million-
 * row benchmark that was more CPU time than decompression and decoding
 * together. Buffers made here go back to the pool when their last reference
 * is released, and the next column chunk (of this read or of a later one
 * sharing the pool) starts from those blocks, whose pages are already
 * mapped. The pool keeps at most max_bytes of free blocks and is reference
 * counted: every outstanding buffer keeps it alive, so batches may outlive
 * the reader and the pool's creator, and be released from any thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "io/parquet/pq.h"
#include "sluice/parquet.h"

#define POOL_SLOTS 1024
/* Smaller blocks are cheap to allocate: not worth a slot. */
#define POOL_MIN_BLOCK ((size_t)64 * 1024)

struct sl_parquet_buffers {
  atomic_int_fast64_t refs;
  pthread_mutex_t mu;
  int32_t n;
  int64_t bytes, max_bytes;
  void *blk[POOL_SLOTS];
  size_t cap[POOL_SLOTS];
};

int sl_parquet_buffers_create(int64_t max_bytes,
                              struct sl_parquet_buffers **out,
                              struct sl_error *err) {
  *out = NULL;
  struct sl_parquet_buffers *p = sl_calloc(1, sizeof *p);
  if (!p) return sl_error_set(err, SL_ENOMEM, "out of memory");
  atomic_init(&p->refs, 1);
  pthread_mutex_init(&p->mu, NULL);
  p->max_bytes = max_bytes < 0 ? 0 : max_bytes;
  *out = p;
  return 0;
}

struct sl_parquet_buffers *pq_pool_retain(struct sl_parquet_buffers *p) {
  if (p) atomic_fetch_add(&p->refs, 1);
  return p;
}

void sl_parquet_buffers_release(struct sl_parquet_buffers *p) {
  if (!p || atomic_fetch_sub(&p->refs, 1) != 1) return;
  for (int32_t i = 0; i < p->n; i++)
    sl_free(p->blk[i]);
  pthread_mutex_destroy(&p->mu);
  sl_free(p);
}

int64_t sl_parquet_buffers_cached(struct sl_parquet_buffers *p) {
  if (!p) return 0;
  pthread_mutex_lock(&p->mu);
  int64_t n = p->bytes;
  pthread_mutex_unlock(&p->mu);
  return n;
}

int pq_pool_reserve(struct sl_parquet_buffers *p, struct pq_buf *b,
                    size_t need) {
  if (b->data || !p || need < POOL_MIN_BLOCK / 2)
    return pq_buf_reserve(b, need);
  /* Best fit, so that a small buffer does not take a block a large one
   * will want; blocks much larger than asked for are left alone. */
  pthread_mutex_lock(&p->mu);
  int32_t best = -1;
  for (int32_t i = 0; i < p->n; i++)
    if (p->cap[i] >= need && p->cap[i] <= 2 * need + POOL_MIN_BLOCK &&
        (best < 0 || p->cap[i] < p->cap[best]))
      best = i;
  if (best >= 0) {
    b->data = p->blk[best];
    b->cap = p->cap[best];
    b->size = 0;
    p->bytes -= (int64_t)p->cap[best];
    p->n--;
    p->blk[best] = p->blk[p->n];
    p->cap[best] = p->cap[p->n];
  }
  pthread_mutex_unlock(&p->mu);
  return pq_buf_reserve(b, need);
}

static void give_back(struct sl_parquet_buffers *p, void *blk, size_t cap) {
  if (p && cap >= POOL_MIN_BLOCK) {
    pthread_mutex_lock(&p->mu);
    if (p->n < POOL_SLOTS && p->bytes + (int64_t)cap <= p->max_bytes) {
      p->blk[p->n] = blk;
      p->cap[p->n] = cap;
      p->n++;
      p->bytes += (int64_t)cap;
      blk = NULL;
    }
    pthread_mutex_unlock(&p->mu);
  }
  sl_free(blk);
}

void pq_pool_put(struct sl_parquet_buffers *p, struct pq_buf *b) {
  if (b->data) give_back(p, b->data, b->cap);
  b->data = NULL;
  b->size = b->cap = 0;
}

static void plain_free(struct sl_buffer *buf) {
  sl_free(buf->data);
  sl_free(buf);
}

static void pooled_free(struct sl_buffer *buf) {
  struct sl_parquet_buffers *p = buf->owner;
  give_back(p, buf->data, (size_t)buf->capacity);
  sl_free(buf);
  sl_parquet_buffers_release(p);
}

int pq_pool_wrap(struct sl_parquet_buffers *p, struct pq_buf *b,
                 struct sl_buffer **out) {
  if (pq_buf_reserve(b, 8)) return SL_ENOMEM; /* never a NULL data pointer */
  bool pooled = p && b->cap >= POOL_MIN_BLOCK;
  int rc =
      sl_buffer_wrap(b->data, (int64_t)b->size,
                     pooled ? pooled_free : plain_free, pooled ? p : NULL, out);
  if (rc) return rc;
  if (pooled) {
    (*out)->capacity = (int64_t)b->cap;
    pq_pool_retain(p);
  }
  b->data = NULL;
  b->size = b->cap = 0;
  return 0;
}
