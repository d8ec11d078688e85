/* JSON reader: recycling of column buffers.
 *
 * Every batch hands its column buffers to the consumer, so without reuse each
 * batch's buffers are fresh allocations: for large sizes the C allocator maps
 * new pages, which the kernel must fault in and zero (a third of the CPU time
 * when all columns are read). Buffers made here return their memory to the
 * reader's pool when the consumer releases them; the next batch's builders
 * start from those blocks. The pool holds at most max_bytes of free blocks
 * and is reference counted: every outstanding buffer keeps it alive, so
 * batches may outlive the reader and be released from any thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "io/json/json_internal.h"

#define POOL_SLOTS 64

struct sl__jpool {
  atomic_int_fast64_t refs;
  pthread_mutex_t mu;
  int32_t n;
  void *blk[POOL_SLOTS];
  int64_t cap[POOL_SLOTS];
  int64_t bytes, max_bytes;
};

int sl__jpool_new(int64_t max_bytes, struct sl__jpool **out) {
  struct sl__jpool *p = sl_calloc(1, sizeof *p);
  if (!p) return SL_ENOMEM;
  atomic_init(&p->refs, 1);
  pthread_mutex_init(&p->mu, NULL);
  p->max_bytes = max_bytes;
  *out = p;
  return 0;
}

void sl__jpool_release(struct sl__jpool *p) {
  if (!p || atomic_fetch_sub(&p->refs, 1) != 1) return;
  for (int32_t i = 0; i < p->n; i++)
    sl_aligned_free(p->blk[i]);
  pthread_mutex_destroy(&p->mu);
  sl_free(p);
}

/* A free block of at least `need` bytes (the smallest that fits), or NULL. */
void *sl__jpool_take(struct sl__jpool *p, int64_t need, int64_t *cap) {
  if (!p) return NULL;
  pthread_mutex_lock(&p->mu);
  int32_t best = -1;
  for (int32_t i = 0; i < p->n; i++)
    if (p->cap[i] >= need && (best < 0 || p->cap[i] < p->cap[best])) best = i;
  void *b = NULL;
  if (best >= 0) {
    b = p->blk[best];
    *cap = p->cap[best];
    p->bytes -= p->cap[best];
    p->n--;
    p->blk[best] = p->blk[p->n];
    p->cap[best] = p->cap[p->n];
  }
  pthread_mutex_unlock(&p->mu);
  return b;
}

static void give_back(struct sl__jpool *p, void *blk, int64_t cap) {
  pthread_mutex_lock(&p->mu);
  if (p->n < POOL_SLOTS && p->bytes + cap <= p->max_bytes) {
    p->blk[p->n] = blk;
    p->cap[p->n] = cap;
    p->n++;
    p->bytes += cap;
    blk = NULL;
  }
  pthread_mutex_unlock(&p->mu);
  if (blk) sl_aligned_free(blk);
}

static void pooled_buffer_free(struct sl_buffer *buf) {
  struct sl__jpool *p = buf->owner;
  give_back(p, buf->data, buf->capacity);
  sl_free(buf);
  sl__jpool_release(p);
}

/* Like sl_bytes_finish, but the memory goes back to p when the buffer is
 * released. Small buffers are not worth it and take the usual path. */
int sl__jpool_finish(struct sl__jpool *p, struct sl_bytes *b,
                     struct sl_buffer **out) {
  if (!p || b->capacity < 65536) return sl_bytes_finish(b, out);
  struct sl_buffer *buf;
  int rc = sl_buffer_wrap(b->data, b->size, pooled_buffer_free, p, &buf);
  if (rc) return rc;
  buf->capacity = b->capacity;
  /* zero the padding to the next 64 bytes: exports never show garbage */
  int64_t pad = (b->size + 63) / 64 * 64;
  if (pad > b->capacity) pad = b->capacity;
  if (pad > b->size) memset(b->data + b->size, 0, (size_t)(pad - b->size));
  atomic_fetch_add(&p->refs, 1);
  memset(b, 0, sizeof *b);
  *out = buf;
  return 0;
}

/* Gives b a pooled block of at least `need` bytes when it has no memory. */
void sl__jpool_prime(struct sl__jpool *p, struct sl_bytes *b, int64_t need) {
  if (!p || b->data || need < 65536) return;
  int64_t cap;
  void *blk = sl__jpool_take(p, need, &cap);
  if (!blk) return;
  b->data = blk;
  b->size = 0;
  b->capacity = cap;
}
