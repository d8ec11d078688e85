/* Compute kernels against hand-computed values: expressions with NULLs,
 * LIKE, time parsing and truncation, hash aggregation with partial tables
 * and merge, top-N against a full sort, HyperLogLog accuracy. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compute/agg.h"
#include "compute/expr.h"
#include "compute/sort.h"

static struct sl_expr col(int32_t c, enum sl_vt t) {
  return (struct sl_expr){.op = SL_X_COL, .type = t, .col = c, .text = "col"};
}

static void test_arith_compare_nulls(void **state) {
  (void)state;
  struct sl_arena a;
  sl_arena_init(&a, 4096);
  int64_t xv[] = {1, 2, 3, INT64_MAX};
  uint8_t xok[] = {1, 0, 1, 1};
  int64_t yv[] = {10, 20, 0, 1};
  struct sl_vec in[2] = {
      {.type = SL_VT_I64, .n = 4, .valid = xok, .d.i = xv},
      {.type = SL_VT_I64, .n = 4, .d.i = yv},
  };
  struct sl_expr c0 = col(0, SL_VT_I64), c1 = col(1, SL_VT_I64);
  struct sl_expr *args[] = {&c0, &c1};
  struct sl_expr add = {.op = SL_X_ADD,
                        .type = SL_VT_I64,
                        .n_args = 2,
                        .args = args,
                        .text = "x + y"};
  struct sl_vec out;
  struct sl_error err = {0};
  /* the last row overflows */
  assert_int_equal(sl__expr_eval(&add, in, 4, &a, &out, &err), SL_ERANGE);
  assert_non_null(strstr(err.msg, "BIGINT overflow in expression 'x + y'"));
  assert_int_equal(sl__expr_eval(&add, in, 3, &a, &out, &err), 0);
  assert_int_equal(out.d.i[0], 11);
  assert_int_equal(out.valid[1], 0);
  assert_int_equal(out.d.i[2], 3);
  struct sl_expr lt = {
      .op = SL_X_LT, .type = SL_VT_BOOL, .n_args = 2, .args = args};
  assert_int_equal(sl__expr_eval(&lt, in, 3, &a, &out, &err), 0);
  assert_int_equal(out.d.b[0], 1);
  assert_int_equal(out.valid[1], 0);
  assert_int_equal(out.d.b[2], 0);
  /* three-valued AND/OR: NULL AND FALSE = FALSE, NULL OR TRUE = TRUE */
  uint8_t bv[] = {1, 0}, bok[] = {0, 0}, cv[] = {0, 1};
  struct sl_vec bin[2] = {{.type = SL_VT_BOOL, .n = 2, .valid = bok, .d.b = bv},
                          {.type = SL_VT_BOOL, .n = 2, .d.b = cv}};
  struct sl_expr b0 = col(0, SL_VT_BOOL), b1 = col(1, SL_VT_BOOL);
  struct sl_expr *bargs[] = {&b0, &b1};
  struct sl_expr and = {
      .op = SL_X_AND, .type = SL_VT_BOOL, .n_args = 2, .args = bargs};
  assert_int_equal(sl__expr_eval(&and, bin, 2, &a, &out, &err), 0);
  assert_int_equal(out.valid[0], 1); /* NULL AND FALSE */
  assert_int_equal(out.d.b[0], 0);
  assert_int_equal(out.valid[1], 0); /* NULL AND TRUE */
  struct sl_expr or
      = {.op = SL_X_OR, .type = SL_VT_BOOL, .n_args = 2, .args = bargs};
  assert_int_equal(sl__expr_eval(& or, bin, 2, &a, &out, &err), 0);
  assert_int_equal(out.valid[0], 0); /* NULL OR FALSE */
  assert_int_equal(out.valid[1], 1); /* NULL OR TRUE */
  assert_int_equal(out.d.b[1], 1);
  sl_arena_release(&a);
}

static void test_like(void **state) {
  (void)state;
  struct sl_arena a;
  sl_arena_init(&a, 4096);
  struct sl_str s[] = {
      {"/api/v1/x", 9}, {"/login", 6}, {"München", 8}, {"", 0}};
  struct sl_vec in[2] = {{.type = SL_VT_STR, .n = 4, .d.s = s}};
  const char *pats[] = {"/api%", "%in", "%v1%", "M_nchen", "%", "_", "/l%g_n"};
  uint8_t want[][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 0, 0, 0}, {0, 0, 1, 0},
                       {1, 1, 1, 1}, {0, 0, 0, 0}, {0, 1, 0, 0}};
  for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
    struct sl_str p = {pats[k], (int64_t)strlen(pats[k])};
    in[1] =
        (struct sl_vec){.type = SL_VT_STR, .n = 4, .constant = true, .d.s = &p};
    struct sl_expr e = {.op = SL_X_LIKE, .type = SL_VT_BOOL, .n_args = 2};
    struct sl_vec out;
    assert_int_equal(sl__eval_like(&e, in, 4, &a, &out), 0);
    for (int r = 0; r < 4; r++)
      if (out.d.b[r] != want[k][r])
        fail_msg("'%s' LIKE '%s' gave %d", s[r].p, pats[k], out.d.b[r]);
  }
  sl_arena_release(&a);
}

static void test_time(void **state) {
  (void)state;
  int64_t us;
  assert_true(sl__parse_timestamp("2024-02-29T13:45:59.123Z", 24, &us));
  char buf[64];
  sl__format_timestamp(us, buf, sizeof buf);
  assert_string_equal(buf, "2024-02-29 13:45:59.123");
  assert_true(sl__parse_timestamp("2024-02-29 15:45:59+02:00", 25, &us));
  sl__format_timestamp(us, buf, sizeof buf);
  assert_string_equal(buf, "2024-02-29 13:45:59");
  assert_true(sl__parse_timestamp("1969-12-31", 10, &us));
  assert_int_equal(us, -INT64_C(86400000000));
  assert_false(sl__parse_timestamp("2024-13-01", 10, &us));
  assert_false(sl__parse_timestamp("2024-01-01T", 11, &us));
  for (int64_t d = -800000; d < 800000;
       d += 997) { /* round trip of the civil conversions */
    int64_t y;
    unsigned m, dd;
    sl__civil_from_days(d, &y, &m, &dd);
    assert_int_equal(sl__days_from_civil(y, m, dd), d);
  }
  struct sl_interval iv;
  assert_true(sl__parse_interval("5 minutes", 9, &iv));
  assert_int_equal(iv.micros, INT64_C(300000000));
  assert_true(sl__parse_interval("1 month 2 days", 14, &iv));
  assert_int_equal(iv.months, 1);
  assert_int_equal(iv.days, 2);
  assert_false(sl__parse_interval("5 fortnights", 12, &iv));
}

static void test_hash_agg_partials_merge(void **state) {
  (void)state;
  /* keys: strings with a NULL; values: doubles; two partial tables */
  enum sl_vt kt[] = {SL_VT_STR};
  struct sl_agg_spec specs[] = {
      {.fn = SL_AGG_COUNT_STAR, .out_type = SL_VT_I64, .arg = -1},
      {.fn = SL_AGG_SUM, .in_type = SL_VT_F64, .out_type = SL_VT_F64, .arg = 0},
      {.fn = SL_AGG_MIN, .in_type = SL_VT_F64, .out_type = SL_VT_F64, .arg = 0},
      {.fn = SL_AGG_VAR_SAMP,
       .in_type = SL_VT_F64,
       .out_type = SL_VT_F64,
       .arg = 0},
      {.fn = SL_AGG_QUANTILE_CONT,
       .in_type = SL_VT_F64,
       .out_type = SL_VT_F64,
       .arg = 0,
       .q = 0.5},
  };
  struct sl_hagg *h[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(sl__hagg_create(1, kt, 5, specs, &h[i]), 0);
  struct sl_str ks[] = {{"a", 1}, {"b", 1}, {"a", 1},
                        {"", 0},  {"b", 1}, {"a", 1}};
  uint8_t kok[] = {1, 1, 1, 0, 1, 1};
  double vs[] = {1, 10, 2, 100, 20, 6};
  struct sl_arena a;
  sl_arena_init(&a, 4096);
  struct sl_error err = {0};
  struct sl_vec key = {.type = SL_VT_STR, .n = 3, .valid = kok, .d.s = ks};
  struct sl_vec val = {.type = SL_VT_F64, .n = 3, .d.f = vs};
  assert_int_equal(sl__hagg_update(h[0], &key, &val, 3, 0, NULL, &a, &err), 0);
  key = (struct sl_vec){
      .type = SL_VT_STR, .n = 3, .valid = kok + 3, .d.s = ks + 3};
  val = (struct sl_vec){.type = SL_VT_F64, .n = 3, .d.f = vs + 3};
  assert_int_equal(sl__hagg_update(h[1], &key, &val, 3, 3, NULL, &a, &err), 0);
  assert_int_equal(sl__hagg_merge(h[0], h[1], &err), 0);
  assert_int_equal(sl__hagg_groups(h[0]), 3);
  struct sl_vec out[6];
  assert_int_equal(sl__hagg_finish(h[0], &a, out, &err), 0);
  for (int g = 0; g < 3; g++) {
    if (!out[0].valid[g]) { /* the NULL key */
      assert_int_equal(out[1].d.i[g], 1);
      assert_true(out[2].d.f[g] == 100);
      assert_int_equal(out[4].valid[g], 0); /* variance of one value */
      continue;
    }
    if (out[0].d.s[g].p[0] == 'a') {
      assert_int_equal(out[1].d.i[g], 3);
      assert_true(out[2].d.f[g] == 9);
      assert_true(out[3].d.f[g] == 1);
      assert_true(fabs(out[4].d.f[g] - 7.0) <
                  1e-12); /* values 1,2,6: mean 3, ss 14, /2 */
      assert_true(out[5].d.f[g] == 2);
    } else {
      assert_int_equal(out[1].d.i[g], 2);
      assert_true(out[2].d.f[g] == 30);
      assert_true(out[5].d.f[g] == 15);
    }
  }
  sl__hagg_free(h[0]);
  sl__hagg_free(h[1]);
  sl_arena_release(&a);
}

static void test_many_groups(void **state) {
  (void)state;
  enum sl_vt kt[] = {SL_VT_I64};
  struct sl_agg_spec spec = {
      .fn = SL_AGG_SUM, .in_type = SL_VT_I64, .out_type = SL_VT_I64, .arg = 0};
  struct sl_hagg *h;
  assert_int_equal(sl__hagg_create(1, kt, 1, &spec, &h), 0);
  int64_t n = 300000;
  int64_t *k = malloc((size_t)n * 8), *v = malloc((size_t)n * 8);
  for (int64_t i = 0; i < n; i++)
    k[i] = (i * 7919) % 100003, v[i] = 1;
  struct sl_arena a;
  sl_arena_init(&a, 1 << 20);
  struct sl_error err = {0};
  struct sl_vec kv = {.type = SL_VT_I64, .n = n, .d.i = k},
                vv = {.type = SL_VT_I64, .n = n, .d.i = v};
  assert_int_equal(sl__hagg_update(h, &kv, &vv, n, 0, NULL, &a, &err), 0);
  assert_int_equal(sl__hagg_groups(h), 100003);
  struct sl_vec out[2];
  assert_int_equal(sl__hagg_finish(h, &a, out, &err), 0);
  int64_t total = 0;
  for (int64_t g = 0; g < 100003; g++)
    total += out[1].d.i[g];
  assert_int_equal(total, n);
  sl__hagg_free(h);
  sl_arena_release(&a);
  free(k);
  free(v);
}

/* The inline string compare of group keys (overlapping loads for 4-32
 * bytes) against memcmp, for every length up to 40 and a difference at
 * every position; the strings sit at the very end of their buffers so a
 * load past them would show under ASan. */
static void test_str_eq_every_length_and_position(void **state) {
  (void)state;
  for (int64_t n = 0; n <= 40; n++) {
    char *a = malloc((size_t)(n ? n : 1)), *b = malloc((size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++)
      a[i] = b[i] = (char)('a' + i % 26);
    struct sl_str x = {a, n}, y = {b, n};
    assert_true(sl__str_eq(x, y));
    for (int64_t i = 0; i < n; i++) {
      b[i] ^= 0x20;
      assert_false(sl__str_eq(x, y));
      b[i] ^= 0x20;
    }
    if (n) assert_false(sl__str_eq(x, (struct sl_str){b, n - 1}));
    free(a);
    free(b);
  }
}

static int cmp_desc(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a < b) - (a > b);
}

static void test_top_n_matches_sort(void **state) {
  (void)state;
  int64_t n = 5000;
  double *v = malloc((size_t)n * sizeof *v), *s = malloc((size_t)n * sizeof *s);
  srand(1);
  for (int64_t i = 0; i < n; i++)
    v[i] = s[i] = (double)(rand() % 1000);
  qsort(s, (size_t)n, sizeof *s, cmp_desc);
  struct sl_vec c = {.type = SL_VT_F64, .n = n, .d.f = v};
  struct sl_sort_spec key = {.col = 0, .desc = true};
  int64_t *perm, m;
  assert_int_equal(sl__sort_rows(&c, n, &key, 1, 37, &perm, &m), 0);
  assert_int_equal(m, 37);
  for (int64_t i = 0; i < m; i++)
    assert_true(v[perm[i]] == s[i]);
  for (int64_t i = 1; i < m; i++) /* ties keep input order */
    if (v[perm[i]] == v[perm[i - 1]]) assert_true(perm[i] > perm[i - 1]);
  free(perm);
  free(v);
  free(s);
}

static void test_hll_accuracy(void **state) {
  (void)state;
  struct sl__hll *h = NULL;
  for (uint64_t i = 0; i < 50; i++)
    assert_int_equal(sl__hll_add(&h, sl__hash_u64(i % 40)), 0);
  assert_int_equal(sl__hll_estimate(h), 40); /* exact while small */
  for (uint64_t i = 0; i < 200000; i++)
    assert_int_equal(sl__hll_add(&h, sl__hash_u64(i)), 0);
  int64_t e = sl__hll_estimate(h);
  assert_true(llabs(e - 200000) < 200000 / 20);
  sl__hll_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_arith_compare_nulls),
      cmocka_unit_test(test_like),
      cmocka_unit_test(test_time),
      cmocka_unit_test(test_hash_agg_partials_merge),
      cmocka_unit_test(test_many_groups),
      cmocka_unit_test(test_str_eq_every_length_and_position),
      cmocka_unit_test(test_top_n_matches_sort),
      cmocka_unit_test(test_hll_accuracy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
