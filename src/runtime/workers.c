/* The worker pool of one trigger.
 *
 * Scaling policy (inside the process): numWorkers threads start with the
 * trigger and never exit before a drain. When a batch is queued and no worker
 * is idle, one more thread starts, up to maxWorkers. A thread above
 * numWorkers that finds no work for SCALE_DOWN_IDLE_MS exits. The queue
 * admits new requests while it holds fewer than maxWorkers batches. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "runtime/retry.h" /* issue 7 (kafka) */
#include "runtime/rt.h"
#include "sluice/alloc.h"

#define SCALE_DOWN_IDLE_MS 5000

struct sl_workers {
  struct sl_trigger *t;
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_room, cv_done;
  struct sl_rt_batch *head, *tail;
  int64_t depth;
  int n_threads, n_idle, min, max;
  bool *slot_used; /* worker slots: stable ids for handler instances */
  bool stop;
};

static void timespec_in(struct timespec *ts, int64_t ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (ms % 1000) * 1000000;
  if (ts->tv_nsec >= 1000000000) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000;
  }
}

struct thread_arg {
  struct sl_workers *w;
  int slot;
};

static void *worker_main(void *arg);

/* Starts one thread; w->mu held. */
static int spawn_locked(struct sl_workers *w) {
  int slot = -1;
  for (int i = 0; i < w->max; i++)
    if (!w->slot_used[i]) {
      slot = i;
      break;
    }
  if (slot < 0) return SL_ERANGE;
  struct thread_arg *a = sl_malloc(sizeof *a);
  if (!a) return SL_ENOMEM;
  a->w = w;
  a->slot = slot;
  pthread_t th;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&th, &at, worker_main, a);
  pthread_attr_destroy(&at);
  if (rc) {
    sl_free(a);
    return SL_EIO;
  }
  w->slot_used[slot] = true;
  w->n_threads++;
  sl__count(&w->t->m->workers, 1);
  return 0;
}

static void *worker_main(void *arg) {
  struct thread_arg a = *(struct thread_arg *)arg;
  sl_free(arg);
  struct sl_workers *w = a.w;
  struct sl_trigger *t = w->t;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->head && !w->stop) {
      w->n_idle++;
      if (w->n_threads > w->min) {
        struct timespec ts;
        timespec_in(&ts, SCALE_DOWN_IDLE_MS);
        int rc = pthread_cond_timedwait(&w->cv_work, &w->mu, &ts);
        w->n_idle--;
        if (rc == ETIMEDOUT && !w->head && w->n_threads > w->min) goto quit;
      } else {
        pthread_cond_wait(&w->cv_work, &w->mu);
        w->n_idle--;
      }
    }
    if (!w->head) break; /* stopping and nothing left */
    struct sl_rt_batch *b = w->head;
    w->head = b->next;
    if (!w->head) w->tail = NULL;
    w->depth--;
    sl__count(&t->m->queue_depth, -1);
    pthread_cond_broadcast(&w->cv_room);
    pthread_mutex_unlock(&w->mu);

    sl__count(&t->m->workers_busy, 1);
    int64_t t0 = sl__now_ms();
    struct timespec s0, s1;
    clock_gettime(CLOCK_MONOTONIC, &s0);
    struct sl_error err = {0};
    b->ack->batch = b;
    int rc = t->retry ? sl__rt_process_retry(t, b, a.slot, &err) /* issue 7 */
                      : sl__rt_process(t, b, a.slot, &err);
    sl__rt_seal(t->rt, b->ack); /* keyed files of this batch: publish */
    b->ack->batch = NULL;
    clock_gettime(CLOCK_MONOTONIC, &s1);
    (void)t0;
    double secs = (double)(s1.tv_sec - s0.tv_sec) +
                  (double)(s1.tv_nsec - s0.tv_nsec) / 1e9;
    sl__hist_observe(&t->m->handler_seconds, secs);
    sl__count(&t->m->busy_micros, (long long)(secs * 1e6));
    sl__count(&t->m->workers_busy, -1);
    if (rc) {
      sl__count(&t->m->errors, 1);
      sl_log(t->rt, SL_LOG_ERROR, "batch failed",
             "\"trigger\":\"%s\",\"seq\":%llu,\"events\":%lld,\"error\":\"%s\"",
             t->spec->name, (unsigned long long)b->ack->seq,
             (long long)b->n_events, err.msg);
    }
    /* Wake the requests waiting on this batch. */
    for (int32_t i = 0; i < b->n_segs; i++) {
      struct sl_rt_segment *s = &b->segs[i];
      struct sl_ticket *tk = s->ticket;
      if (!tk) continue;
      pthread_mutex_lock(&tk->mu);
      if (rc && !tk->status) {
        tk->status = rc;
        size_t ml = strlen(err.msg);
        if (ml >= sizeof tk->reason) ml = sizeof tk->reason - 1;
        memcpy(tk->reason, err.msg, ml);
        tk->reason[ml] = '\0';
      }
      tk->rejected += s->rejected;
      tk->accepted += rc ? 0 : s->n_lines - s->rejected;
      if (--tk->pending == 0) pthread_cond_broadcast(&tk->cv);
      pthread_mutex_unlock(&tk->mu);
    }
    sl__ack_release(b->ack);
    sl__rt_batch_free(b);
    pthread_mutex_lock(&w->mu);
  }
quit:
  w->n_threads--;
  w->slot_used[a.slot] = false;
  sl__count(&t->m->workers, -1);
  pthread_cond_broadcast(&w->cv_done);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

int sl__workers_create(struct sl_trigger *t, struct sl_workers **out,
                       struct sl_error *err) {
  struct sl_workers *w = sl_calloc(1, sizeof *w);
  if (!w) return sl_error_set(err, SL_ENOMEM, "out of memory");
  w->t = t;
  w->min = (int)t->spec->num_workers;
  w->max = (int)t->spec->max_workers;
  w->slot_used = sl_calloc((size_t)w->max, sizeof(bool));
  if (!w->slot_used) {
    sl_free(w);
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&w->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv_work, &ca);
  pthread_cond_init(&w->cv_room, &ca);
  pthread_cond_init(&w->cv_done, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_lock(&w->mu);
  int rc = 0;
  for (int i = 0; i < w->min && !rc; i++)
    rc = spawn_locked(w);
  pthread_mutex_unlock(&w->mu);
  *out = w;
  if (rc)
    return sl_error_set(err, rc, "trigger %s: cannot start worker threads",
                        t->spec->name);
  return 0;
}

void sl__workers_push(struct sl_workers *w, struct sl_rt_batch *b) {
  pthread_mutex_lock(&w->mu);
  b->next = NULL;
  if (w->tail)
    w->tail->next = b;
  else
    w->head = b;
  w->tail = b;
  w->depth++;
  sl__count(&w->t->m->queue_depth, 1);
  sl__count(&w->t->m->batches, 1);
  sl__hist_observe(&w->t->m->batch_events, (double)b->n_events);
  if (w->n_idle == 0 && w->n_threads < w->max && !w->stop) spawn_locked(w);
  pthread_cond_signal(&w->cv_work);
  pthread_mutex_unlock(&w->mu);
}

bool sl__workers_wait_room(struct sl_workers *w, int64_t timeout_ms) {
  struct timespec ts;
  timespec_in(&ts, timeout_ms);
  pthread_mutex_lock(&w->mu);
  bool ok = true;
  while (w->depth >= w->max && !w->stop) {
    if (timeout_ms < 0) {
      pthread_cond_wait(&w->cv_room, &w->mu);
    } else if (pthread_cond_timedwait(&w->cv_room, &w->mu, &ts) == ETIMEDOUT) {
      ok = w->depth < w->max;
      break;
    }
  }
  pthread_mutex_unlock(&w->mu);
  return ok;
}

void sl__workers_stop(struct sl_workers *w) {
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  w->stop = true;
  pthread_cond_broadcast(&w->cv_work);
  pthread_cond_broadcast(&w->cv_room);
  while (w->n_threads > 0)
    pthread_cond_wait(&w->cv_done, &w->mu);
  pthread_mutex_unlock(&w->mu);
}

void sl__workers_free(struct sl_workers *w) {
  if (!w) return;
  sl__workers_stop(w);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv_work);
  pthread_cond_destroy(&w->cv_room);
  pthread_cond_destroy(&w->cv_done);
  sl_free(w->slot_used);
  sl_free(w);
}
