/* sluice: a fixed pool of worker threads sized to the machine's cores.
 *
 * The engine uses it for data-parallel loops (sl_pool_parallel_for); tasks
 * run to completion and never block on each other. A pipeline that keeps
 * the helper threads busy while the caller does other work starts them with
 * sl_pool_start and joins them with sl_pool_wait. */
#ifndef SLUICE_THREAD_POOL_H
#define SLUICE_THREAD_POOL_H

#include <stdint.h>

#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_pool;

/* Number of online CPUs (at least 1), honouring the process affinity mask. */
int sl_cpu_count(void);

/* Creates a pool of n_threads workers (0 = sl_cpu_count()). The calling
 * thread also takes part in parallel_for, so n_threads = 1 means no extra
 * thread is started. Free with sl_pool_free. */
int sl_pool_create(int n_threads, struct sl_pool **out, struct sl_error *err);
void sl_pool_free(struct sl_pool *pool);
int sl_pool_size(const struct sl_pool *pool);

/* Runs fn(ctx, i, worker) for every i in [0, n) across the pool and waits for
 * all of them. worker is in [0, sl_pool_size) and is stable during one call,
 * so it can index per-thread state. The first non-zero return stops the
 * hand-out of further tasks and is returned. pool may be NULL (runs inline).
 * Not re-entrant: one parallel_for at a time per pool. */
typedef int (*sl_task_fn)(void *ctx, int64_t i, int worker);
int sl_pool_parallel_for(struct sl_pool *pool, int64_t n, sl_task_fn fn,
                         void *ctx);

/* Starts fn(ctx, i, worker) for every i in [0, sl_pool_size - 1) on the
 * pool's helper threads (worker in [1, sl_pool_size)) and returns at once;
 * the caller does not run any of them. A helper may run two of them one
 * after the other when another helper is slow to wake, so fn should be a
 * loop that returns when there is nothing left to do. Until sl_pool_wait
 * returns, the pool runs nothing else (no parallel_for, no second start).
 * Returns SL_EINVAL for a NULL pool or a pool of one thread (no helpers). */
int sl_pool_start(struct sl_pool *pool, sl_task_fn fn, void *ctx);
/* Waits until every task of the job started by sl_pool_start returned;
 * returns that job's first non-zero task result (0 when none). */
int sl_pool_wait(struct sl_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
