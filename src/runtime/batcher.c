/* The micro-batcher of one trigger: cuts on maxEvents / maxBytes / maxWait,
 * whichever comes first. One flusher thread per trigger enforces maxWait. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "runtime/rt.h"
#include "sluice/alloc.h"

struct sl_batcher {
  struct sl_trigger *t;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct sl_rt_batch *open;
  pthread_t flusher;
  bool flusher_started;
  bool stop;
};

void sl__rt_batch_free(struct sl_rt_batch *b) {
  if (!b) return;
  if (b->release)
    b->release(b->release_ctx, b->data, b->cap);
  else
    sl_free(b->data);
  sl_free(b->segs);
  sl_free(b);
}

/* Hands the open batch to the workers. Called with b->mu held. */
static void cut_locked(struct sl_batcher *b) {
  struct sl_rt_batch *x = b->open;
  if (!x) return;
  b->open = NULL;
  struct sl_trigger *t = b->t;
  x->ack->seq = sl__delivery_next(&t->delivery);
  x->ack->key[0] = '\0';
  if (t->spec->vt->position_key &&
      !t->spec->vt->position_key(t, x->segs, x->n_segs, x->ack->key,
                                 sizeof x->ack->key))
    x->ack->key[0] = '\0';
  if (t->spec->vt->cut) t->spec->vt->cut(t, x->ack->seq, x->segs, x->n_segs);
  sl__workers_push(t->workers, x);
}

static struct sl_rt_batch *batch_new(struct sl_trigger *t) {
  struct sl_rt_batch *x = sl_calloc(1, sizeof *x);
  if (!x) return NULL;
  x->ack = sl_calloc(1, sizeof *x->ack);
  if (!x->ack) {
    sl_free(x);
    return NULL;
  }
  x->ack->trigger = t;
  atomic_init(&x->ack->refs, 1);
  x->trigger = t;
  x->opened_ms = sl__now_ms();
  return x;
}

/* One append under b->mu; `whole`: never cut inside (a replayed batch). */
static int append_locked(struct sl_batcher *b, const char *data, size_t len,
                         int64_t n_lines, struct sl_ticket *ticket,
                         const struct sl_rt_pos *pos, bool whole,
                         struct sl_error *err) {
  const struct sl_spec_batch *lim = &b->t->spec->batch;
  bool add_nl = len > 0 && data[len - 1] != '\n';
  if (len > SIZE_MAX / 2 - 1)
    return sl_error_set(err, SL_EOVERFLOW, "record data too large");
  size_t need = len + (add_nl ? 1 : 0);
  struct sl_rt_batch *x = b->open;
  if (!whole && x && x->n_events > 0 &&
      (x->n_events + n_lines > lim->max_events ||
       (int64_t)(x->len + need) > lim->max_bytes))
    cut_locked(b);
  if (!b->open) {
    b->open = batch_new(b->t);
    if (!b->open) return sl_error_set(err, SL_ENOMEM, "out of memory");
    pthread_cond_signal(&b->cv); /* the flusher starts the maxWait clock */
  }
  x = b->open;
  if (x->len + need > x->cap) {
    size_t ncap = x->cap ? x->cap : 65536;
    while (ncap < x->len + need)
      ncap *= 2;
    char *nd = sl_realloc(x->data, ncap);
    if (!nd) return sl_error_set(err, SL_ENOMEM, "out of memory");
    x->data = nd;
    x->cap = ncap;
  }
  if (x->n_segs == x->cap_segs) {
    int32_t nc = x->cap_segs ? x->cap_segs * 2 : 16;
    struct sl_rt_segment *ns = sl_realloc(x->segs, (size_t)nc * sizeof *ns);
    if (!ns) return sl_error_set(err, SL_ENOMEM, "out of memory");
    x->segs = ns;
    x->cap_segs = nc;
  }
  memcpy(x->data + x->len, data, len);
  x->len += len;
  if (add_nl) x->data[x->len++] = '\n';
  x->segs[x->n_segs++] = (struct sl_rt_segment){
      .first_line = x->n_events, .n_lines = n_lines, .ticket = ticket};
  if (pos) x->segs[x->n_segs - 1].pos = *pos;
  x->n_events += n_lines;
  if (ticket) {
    pthread_mutex_lock(&ticket->mu);
    ticket->pending++;
    pthread_mutex_unlock(&ticket->mu);
  }
  sl__count(&b->t->m->events, n_lines);
  sl__count(&b->t->m->bytes, (long long)len);
  if (!whole && (x->n_events >= lim->max_events ||
                 (int64_t)x->len >= lim->max_bytes || lim->max_wait_ms == 0))
    cut_locked(b);
  return 0;
}

int sl__batcher_append(struct sl_batcher *b, const char *data, size_t len,
                       int64_t n_lines, struct sl_ticket *ticket,
                       const struct sl_rt_pos *pos, struct sl_error *err) {
  pthread_mutex_lock(&b->mu);
  int rc = append_locked(b, data, len, n_lines, ticket, pos, false, err);
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int sl__batcher_append_batch(struct sl_batcher *b, int32_t n,
                             const char *const *data, const size_t *len,
                             const int64_t *n_lines,
                             const struct sl_rt_pos *pos,
                             struct sl_error *err) {
  int rc = 0;
  pthread_mutex_lock(&b->mu);
  cut_locked(b);
  for (int32_t i = 0; i < n && !rc; i++)
    rc =
        append_locked(b, data[i], len[i], n_lines[i], NULL, &pos[i], true, err);
  cut_locked(b); /* on failure too: what was appended goes as a batch */
  pthread_mutex_unlock(&b->mu);
  return rc;
}

/* issue 7 (kafka), additive: see rt.h. */
int sl__batcher_append_owned(struct sl_batcher *b, char **data, size_t len,
                             size_t cap, int64_t n_lines,
                             const struct sl_rt_pos *pos,
                             void (*release)(void *ctx, char *data, size_t cap),
                             void *release_ctx, struct sl_error *err) {
  if (len == 0 || len > cap || (*data)[len - 1] != '\n')
    return sl_error_set(err, SL_EINVAL,
                        "owned batch: expected records ending in a newline");
  pthread_mutex_lock(&b->mu);
  cut_locked(b);
  struct sl_rt_batch *x = batch_new(b->t);
  struct sl_rt_segment *seg = x ? sl_malloc(sizeof *seg) : NULL;
  if (!seg) {
    if (x) sl_free(x->ack);
    sl_free(x);
    pthread_mutex_unlock(&b->mu);
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  }
  *seg = (struct sl_rt_segment){.first_line = 0, .n_lines = n_lines};
  if (pos) seg->pos = *pos;
  x->data = *data;
  x->len = len;
  x->cap = cap;
  x->release = release;
  x->release_ctx = release_ctx;
  *data = NULL;
  x->segs = seg;
  x->n_segs = x->cap_segs = 1;
  x->n_events = n_lines;
  sl__count(&b->t->m->events, n_lines);
  sl__count(&b->t->m->bytes, (long long)len);
  b->open = x;
  cut_locked(b);
  pthread_mutex_unlock(&b->mu);
  return 0;
}

void sl__batcher_flush(struct sl_batcher *b) {
  pthread_mutex_lock(&b->mu);
  cut_locked(b);
  pthread_mutex_unlock(&b->mu);
}

bool sl__batcher_admit(struct sl_batcher *b, int64_t timeout_ms) {
  return sl__workers_wait_room(b->t->workers, timeout_ms);
}

static void *flusher_main(void *arg) {
  struct sl_batcher *b = arg;
  int64_t max_wait = b->t->spec->batch.max_wait_ms;
  pthread_mutex_lock(&b->mu);
  while (!b->stop) {
    if (!b->open) {
      pthread_cond_wait(&b->cv, &b->mu);
      continue;
    }
    int64_t deadline = b->open->opened_ms + max_wait;
    int64_t now = sl__now_ms();
    if (now >= deadline) {
      cut_locked(b);
      continue;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t wait = deadline - now;
    ts.tv_sec += wait / 1000;
    ts.tv_nsec += (wait % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&b->cv, &b->mu, &ts);
  }
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

int sl__batcher_create(struct sl_trigger *t, struct sl_batcher **out,
                       struct sl_error *err) {
  struct sl_batcher *b = sl_calloc(1, sizeof *b);
  if (!b) return sl_error_set(err, SL_ENOMEM, "out of memory");
  b->t = t;
  pthread_mutex_init(&b->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&b->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&b->flusher, NULL, flusher_main, b)) {
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    sl_free(b);
    return sl_error_set(err, SL_EIO, "cannot start the batcher thread");
  }
  b->flusher_started = true;
  *out = b;
  return 0;
}

void sl__batcher_free(struct sl_batcher *b) {
  if (!b) return;
  pthread_mutex_lock(&b->mu);
  b->stop = true;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
  if (b->flusher_started) pthread_join(b->flusher, NULL);
  if (b->open) { /* never cut: nobody waits on it after a drain */
    sl_free(b->open->ack);
    sl__rt_batch_free(b->open);
  }
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  sl_free(b);
}
