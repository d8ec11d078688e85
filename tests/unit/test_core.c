/* Core: errors, the allocation hook, the arena and the thread pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/alloc.h"
#include "sluice/error.h"
#include "sluice/thread_pool.h"

static void test_error_set_and_prefix(void **state) {
  (void)state;
  struct sl_error err = {0};
  int rc = sl_error_set(&err, SL_EINVAL, "line %d: expected '%c', found '%c'",
                        7, '}', 'x');
  assert_int_equal(rc, SL_EINVAL);
  assert_int_equal(err.code, SL_EINVAL);
  assert_string_equal(err.msg, "line 7: expected '}', found 'x'");
  sl_error_prefix(&err, "reading '%s': ", "a.jsonl");
  assert_string_equal(err.msg,
                      "reading 'a.jsonl': line 7: expected '}', found 'x'");
  /* A NULL error is allowed everywhere. */
  assert_int_equal(sl_error_set(NULL, SL_ENOMEM, "x"), SL_ENOMEM);
  /* Long messages are cut, never overflow. */
  char big[2000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  sl_error_set(&err, SL_EINVAL, "%s", big);
  sl_error_prefix(&err, "%s", big);
  assert_int_equal(strlen(err.msg), SL_ERROR_MSG_MAX - 1);
  sl_error_reset(&err);
  assert_int_equal(err.code, 0);
  assert_string_equal(err.msg, "");
  assert_string_equal(sl_status_name(SL_ENOMEM), "out of memory");
}

static void test_alloc_fail_hook(void **state) {
  (void)state;
  int64_t live = sl_alloc_live();
  sl_alloc_fail_after(3, 0);
  void *a = sl_malloc(10), *b = sl_malloc(10), *c = sl_malloc(10),
       *d = sl_malloc(10);
  assert_non_null(a);
  assert_non_null(b);
  assert_null(c); /* exactly the third fails */
  assert_non_null(d);
  sl_alloc_fail_after(2, 1);
  void *e = sl_malloc(1), *f = sl_calloc(1, 1), *g = sl_aligned_alloc(64);
  assert_non_null(e);
  assert_null(f); /* sticky: the second and every later one fails */
  assert_null(g);
  sl_alloc_fail_after(0, 0);
  assert_null(sl_calloc(SIZE_MAX / 2, 4)); /* overflow is refused */
  void *h = sl_aligned_alloc(100);
  assert_non_null(h);
  assert_int_equal((uintptr_t)h % 64, 0);
  sl_free(a);
  sl_free(b);
  sl_free(d);
  sl_free(e);
  sl_aligned_free(h);
  assert_int_equal(sl_alloc_live(), live);
}

static void test_arena(void **state) {
  (void)state;
  int64_t live = sl_alloc_live();
  struct sl_arena a;
  sl_arena_init(&a, 1024);
  char *p[100];
  for (int i = 0; i < 100; i++) {
    p[i] = sl_arena_alloc(&a, 40);
    assert_non_null(p[i]);
    assert_int_equal((uintptr_t)p[i] % 16, 0);
    memset(p[i], i, 40);
  }
  for (int i = 0; i < 100; i++)
    assert_int_equal((unsigned char)p[i][39], i);
  char *big = sl_arena_alloc(&a, 1 << 20); /* bigger than a chunk */
  assert_non_null(big);
  memset(big, 1, 1 << 20);
  char *after = sl_arena_alloc(&a, 16); /* the head chunk still serves */
  assert_non_null(after);
  sl_arena_reset(&a);
  assert_int_equal(a.used_bytes, 0);
  assert_non_null(sl_arena_alloc(&a, 8));
  sl_arena_release(&a);
  assert_int_equal(sl_alloc_live(), live);
  /* Allocation failure inside the arena is reported, not hidden. */
  sl_arena_init(&a, 1024);
  sl_alloc_fail_after(1, 1);
  assert_null(sl_arena_alloc(&a, 8));
  sl_alloc_fail_after(0, 0);
  sl_arena_release(&a);
}

struct sum_ctx {
  _Atomic int64_t sum;
  _Atomic int64_t per_worker[64];
  int64_t fail_at;
};

static int sum_task(void *ctx, int64_t i, int worker) {
  struct sum_ctx *c = ctx;
  if (i == c->fail_at) return SL_ECANCELED;
  atomic_fetch_add(&c->sum, i);
  atomic_fetch_add(&c->per_worker[worker], 1);
  return 0;
}

static void test_thread_pool(void **state) {
  (void)state;
  assert_true(sl_cpu_count() >= 1);
  for (int threads = 1; threads <= 4; threads++) {
    struct sl_pool *pool;
    assert_int_equal(sl_pool_create(threads, &pool, NULL), 0);
    assert_int_equal(sl_pool_size(pool), threads);
    for (int round = 0; round < 50; round++) {
      struct sum_ctx c = {.fail_at = -1};
      assert_int_equal(sl_pool_parallel_for(pool, 10000, sum_task, &c), 0);
      assert_int_equal(c.sum, 10000LL * 9999 / 2);
      int64_t total = 0;
      for (int w = 0; w < threads; w++)
        total += c.per_worker[w];
      assert_int_equal(total, 10000);
    }
    struct sum_ctx c = {.fail_at = 500};
    assert_int_equal(sl_pool_parallel_for(pool, 1000, sum_task, &c),
                     SL_ECANCELED);
    sl_pool_free(pool);
  }
  struct sum_ctx c = {.fail_at = -1};
  assert_int_equal(sl_pool_parallel_for(NULL, 100, sum_task, &c), 0);
  assert_int_equal(c.sum, 4950);
  struct sl_pool *pool;
  struct sl_error err = {0};
  assert_int_equal(sl_pool_create(5000, &pool, &err), SL_ERANGE);
  assert_non_null(strstr(err.msg, "5000"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_set_and_prefix),
      cmocka_unit_test(test_alloc_fail_hook),
      cmocka_unit_test(test_arena),
      cmocka_unit_test(test_thread_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
