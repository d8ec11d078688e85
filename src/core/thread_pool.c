/* A fixed pool of threads running data-parallel loops. */
#include "sluice/thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "sluice/alloc.h"

struct sl_pool {
  int n_threads; /* including the caller of parallel_for */
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t work_cv;
  pthread_cond_t done_cv;
  /* The current job. */
  uint64_t generation;
  int stopping;
  sl_task_fn fn;
  void *ctx;
  int64_t n;
  _Atomic int64_t next;
  _Atomic int rc;
  int busy; /* helper threads still inside the current job */
};

int sl_cpu_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

static void run_tasks(struct sl_pool *p, int worker) {
  for (;;) {
    if (atomic_load_explicit(&p->rc, memory_order_relaxed) != 0) return;
    int64_t i = atomic_fetch_add(&p->next, 1);
    if (i >= p->n) return;
    int rc = p->fn(p->ctx, i, worker);
    if (rc != 0) {
      int zero = 0;
      atomic_compare_exchange_strong(&p->rc, &zero, rc);
    }
  }
}

struct worker_arg {
  struct sl_pool *pool;
  int index;
};

static void *worker_main(void *arg) {
  struct sl_pool *p = ((struct worker_arg *)arg)->pool;
  int index = ((struct worker_arg *)arg)->index;
  sl_free(arg);
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stopping && p->generation == seen)
      pthread_cond_wait(&p->work_cv, &p->mu);
    if (p->stopping) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, index);
    pthread_mutex_lock(&p->mu);
    if (--p->busy == 0) pthread_cond_signal(&p->done_cv);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int sl_pool_create(int n_threads, struct sl_pool **out, struct sl_error *err) {
  *out = NULL;
  if (n_threads <= 0) n_threads = sl_cpu_count();
  if (n_threads > 1024)
    return sl_error_set(err, SL_ERANGE,
                        "thread pool: %d threads requested, at most 1024",
                        n_threads);
  struct sl_pool *p = sl_calloc(1, sizeof *p);
  if (!p) return sl_error_set(err, SL_ENOMEM, "thread pool: out of memory");
  p->n_threads = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work_cv, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  if (n_threads > 1) {
    p->threads = sl_calloc((size_t)n_threads - 1, sizeof *p->threads);
    if (!p->threads) {
      sl_pool_free(p);
      return sl_error_set(err, SL_ENOMEM, "thread pool: out of memory");
    }
  }
  for (int i = 1; i < n_threads; i++) {
    struct worker_arg *a = sl_malloc(sizeof *a);
    if (!a) {
      sl_pool_free(p);
      return sl_error_set(err, SL_ENOMEM, "thread pool: out of memory");
    }
    a->pool = p;
    a->index = i;
    if (pthread_create(&p->threads[i - 1], NULL, worker_main, a) != 0) {
      sl_free(a);
      sl_pool_free(p);
      return sl_error_set(err, SL_EIO, "thread pool: cannot start thread %d",
                          i);
    }
    p->n_threads++;
  }
  *out = p;
  return 0;
}

void sl_pool_free(struct sl_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->work_cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n_threads - 1; i++)
    pthread_join(p->threads[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->work_cv);
  pthread_cond_destroy(&p->done_cv);
  sl_free(p->threads);
  sl_free(p);
}

int sl_pool_size(const struct sl_pool *p) {
  return p ? p->n_threads : 1;
}

/* Hands n tasks of fn to the pool's threads (the caller's thread is not
 * one of them) and wakes them. */
static void post(struct sl_pool *p, sl_task_fn fn, void *ctx, int64_t n) {
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  atomic_store(&p->next, 0);
  atomic_store(&p->rc, 0);
  p->busy = p->n_threads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->work_cv);
  pthread_mutex_unlock(&p->mu);
}

int sl_pool_parallel_for(struct sl_pool *p, int64_t n, sl_task_fn fn,
                         void *ctx) {
  if (n <= 0) return 0;
  if (!p || p->n_threads == 1 || n == 1) {
    for (int64_t i = 0; i < n; i++) {
      int rc = fn(ctx, i, 0);
      if (rc) return rc;
    }
    return 0;
  }
  post(p, fn, ctx, n);
  run_tasks(p, 0);
  return sl_pool_wait(p);
}

int sl_pool_start(struct sl_pool *p, sl_task_fn fn, void *ctx) {
  if (!p || p->n_threads == 1) return SL_EINVAL;
  post(p, fn, ctx, p->n_threads - 1);
  return 0;
}

int sl_pool_wait(struct sl_pool *p) {
  if (!p) return 0;
  pthread_mutex_lock(&p->mu);
  while (p->busy > 0)
    pthread_cond_wait(&p->done_cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
  return atomic_load(&p->rc);
}
