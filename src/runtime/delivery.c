/* Delivery tracking: contiguous-done watermark over per-trigger sequences. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "runtime/rt.h"
#include "sluice/alloc.h"

#define DELIVERY_WINDOW 65536 /* sequences in flight beyond the watermark */

int sl__delivery_init(struct sl_delivery *d,
                      void (*on_commit)(void *, uint64_t), void *ctx) {
  memset(d, 0, sizeof *d);
  d->window = DELIVERY_WINDOW;
  d->done = sl_calloc(DELIVERY_WINDOW / 64, sizeof(uint64_t));
  if (!d->done) return SL_ENOMEM;
  d->next_seq = 1;
  d->on_commit = on_commit;
  d->ctx = ctx;
  pthread_mutex_init(&d->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&d->cv, &ca);
  pthread_condattr_destroy(&ca);
  return 0;
}

void sl__delivery_destroy(struct sl_delivery *d) {
  if (!d->done) return;
  sl_free(d->done);
  d->done = NULL;
  pthread_mutex_destroy(&d->mu);
  pthread_cond_destroy(&d->cv);
}

uint64_t sl__delivery_next(struct sl_delivery *d) {
  pthread_mutex_lock(&d->mu);
  /* Keep in-flight sequences inside the ring: wait for the watermark. */
  while (d->next_seq - d->committed >= d->window)
    pthread_cond_wait(&d->cv, &d->mu);
  uint64_t s = d->next_seq++;
  pthread_mutex_unlock(&d->mu);
  return s;
}

void sl__delivery_done(struct sl_delivery *d, uint64_t seq) {
  pthread_mutex_lock(&d->mu);
  uint64_t slot = seq % d->window;
  d->done[slot / 64] |= 1ull << (slot % 64);
  uint64_t before = d->committed;
  for (;;) {
    uint64_t nxt = (d->committed + 1) % d->window;
    if (!(d->done[nxt / 64] & (1ull << (nxt % 64)))) break;
    d->done[nxt / 64] &= ~(1ull << (nxt % 64));
    d->committed++;
  }
  uint64_t now = d->committed;
  if (now != before) pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  if (d->on_done) d->on_done(d->done_ctx, seq); /* issue 7 (kafka) */
  if (now != before && d->on_commit) d->on_commit(d->ctx, now);
}

bool sl__delivery_wait_all(struct sl_delivery *d, int64_t timeout_ms) {
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  if (timeout_ms >= 0) {
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
      dl.tv_sec++;
      dl.tv_nsec -= 1000000000;
    }
  }
  pthread_mutex_lock(&d->mu);
  bool ok = true;
  while (d->committed + 1 < d->next_seq) {
    if (timeout_ms < 0) {
      pthread_cond_wait(&d->cv, &d->mu);
    } else if (pthread_cond_timedwait(&d->cv, &d->mu, &dl) == ETIMEDOUT) {
      ok = d->committed + 1 >= d->next_seq;
      break;
    }
  }
  pthread_mutex_unlock(&d->mu);
  return ok;
}
