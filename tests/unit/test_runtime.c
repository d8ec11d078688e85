/* Runtime pieces without threads or sockets: the cron parser (against
 * hand-computed UTC times), the typed config tables through the spec loader
 * (file:line:column messages), record splitting of HTTP bodies, the
 * delivery tracker's contiguous watermark and Kafka-style position keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/config.h"
#include "runtime/cron.h"
#include "runtime/records.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"
#include "sluice/runtime.h"

#define DAY 86400000LL
#define HOUR 3600000LL
#define MIN 60000LL
static const int64_t JAN1_2024 = 1704067200000LL; /* a Monday, 00:00 UTC */

static int64_t next_of(const char *expr, int64_t after) {
  struct sl_cron c;
  char why[200];
  assert_int_equal(sl__cron_parse(expr, &c, why, sizeof why), 0);
  return sl__cron_next(&c, after);
}

static void test_cron_next(void **state) {
  (void)state;
  assert_int_equal(next_of("*/15 * * * *", JAN1_2024 + 7 * MIN),
                   JAN1_2024 + 15 * MIN);
  /* Strictly after: a firing time itself is not returned again. */
  assert_int_equal(next_of("*/15 * * * *", JAN1_2024 + 15 * MIN),
                   JAN1_2024 + 30 * MIN);
  assert_int_equal(next_of("0 9 * * MON", JAN1_2024 + 9 * HOUR),
                   JAN1_2024 + 7 * DAY + 9 * HOUR);
  assert_int_equal(next_of("0 9 * * 1-5", JAN1_2024 + 4 * DAY + 10 * HOUR),
                   JAN1_2024 + 7 * DAY + 9 * HOUR);  /* Fri 10:00 -> Mon */
  assert_int_equal(next_of("30 2 * * 0", JAN1_2024), /* 0 = Sunday */
                   JAN1_2024 + 6 * DAY + 2 * HOUR + 30 * MIN);
  assert_int_equal(next_of("30 2 * * 7", JAN1_2024),
                   JAN1_2024 + 6 * DAY + 2 * HOUR + 30 * MIN);
  /* Both day fields restricted: either matches (the 13th or a Friday). */
  assert_int_equal(next_of("0 0 13 * FRI", JAN1_2024), JAN1_2024 + 4 * DAY);
  /* Leap day: next Feb 29 after March 2024 is in 2028 (1520 days on). */
  assert_int_equal(next_of("0 0 29 2 *", JAN1_2024 + 60 * DAY),
                   JAN1_2024 + 1520 * DAY);
  assert_int_equal(next_of("0 0 30 2 *", JAN1_2024), -1); /* never */
  assert_int_equal(next_of("@hourly", JAN1_2024 + 1), JAN1_2024 + HOUR);
  assert_int_equal(next_of("@daily", JAN1_2024), JAN1_2024 + DAY);
  assert_int_equal(next_of("0 12 1 JAN-MAR/2 *", JAN1_2024 + DAY),
                   JAN1_2024 + 60 * DAY + 12 * HOUR); /* Mar 1 */
  assert_int_equal(next_of("5,10-12 * * * *", JAN1_2024 + 10 * MIN),
                   JAN1_2024 + 11 * MIN);
  assert_int_equal(next_of("@every 300ms", 1000), 1300);
  assert_int_equal(next_of("@every 1h", 0), HOUR);
}

static void test_cron_errors(void **state) {
  (void)state;
  static const char *const bad[] = {"61 * * * *",
                                    "* * *",
                                    "* * * * * *",
                                    "*/0 * * * *",
                                    "5-1 * * * *",
                                    "* 24 * * *",
                                    "* * 0 * *",
                                    "* * * 13 *",
                                    "* * * * 8",
                                    "@every 0s",
                                    "@sometimes",
                                    "a * * * *",
                                    "",
                                    "1,,2 * * * *"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct sl_cron c;
    char why[200] = "";
    assert_int_equal(sl__cron_parse(bad[i], &c, why, sizeof why), SL_EINVAL);
    assert_true(strlen(why) > 0);
  }
}

static void test_config_durations_and_sizes(void **state) {
  (void)state;
  int64_t v;
  assert_int_equal(sl__cfg_parse_duration("500ms", &v), 0);
  assert_int_equal(v, 500);
  assert_int_equal(sl__cfg_parse_duration("10s", &v), 0);
  assert_int_equal(v, 10000);
  assert_int_equal(sl__cfg_parse_duration("5m", &v), 0);
  assert_int_equal(v, 300000);
  assert_int_equal(sl__cfg_parse_duration("1h", &v), 0);
  assert_int_equal(v, 3600000);
  assert_int_equal(sl__cfg_parse_duration("42", &v), 0);
  assert_int_equal(v, 42);
  assert_int_not_equal(sl__cfg_parse_duration("abc", &v), 0);
  assert_int_not_equal(sl__cfg_parse_duration("10 parsecs", &v), 0);
  assert_int_not_equal(sl__cfg_parse_duration("99999999999999999999h", &v), 0);
  assert_int_equal(sl__cfg_parse_size("64KiB", &v), 0);
  assert_int_equal(v, 65536);
  assert_int_equal(sl__cfg_parse_size("8MiB", &v), 0);
  assert_int_equal(v, 8 << 20);
  assert_int_equal(sl__cfg_parse_size("1GB", &v), 0);
  assert_int_equal(v, 1000000000);
  assert_int_equal(sl__cfg_parse_size("4096", &v), 0);
  assert_int_equal(v, 4096);
  assert_int_not_equal(sl__cfg_parse_size("-1", &v), 0);
  assert_int_not_equal(sl__cfg_parse_size("12XB", &v), 0);
}

/* Loads text and expects a failure whose message contains `want`. */
static void spec_fails(const char *text, const char *want) {
  struct sl_spec *s = NULL;
  struct sl_error err = {0};
  int rc = sl_spec_load_buffer(text, strlen(text), "f.yaml", &s, &err);
  if (rc == 0) sl_spec_free(s);
  assert_int_not_equal(rc, 0);
  if (!strstr(err.msg, want)) fail_msg("expected '%s' in '%s'", want, err.msg);
}

static void test_config_tables_through_the_spec(void **state) {
  (void)state;
  const char *ok = "metadata: {name: t}\n"
                   "spec:\n"
                   "  runtime: passthrough\n"
                   "  triggers:\n"
                   "    web:\n"
                   "      kind: http\n"
                   "      batch: {maxEvents: 5, maxWait: 2s}\n"
                   "      attributes: {port: 9000}\n";
  struct sl_spec *s = NULL;
  struct sl_error err = {0};
  assert_int_equal(sl_spec_load_buffer(ok, strlen(ok), "f.yaml", &s, &err), 0);
  assert_int_equal(s->n_triggers, 1);
  assert_int_equal(s->triggers[0].batch.max_events, 5);
  assert_int_equal(s->triggers[0].batch.max_wait_ms, 2000);
  sl_spec_free(s);
  spec_fails("metadata: {name: t}\nspec:\n  runtime: passthrough\n"
             "  triggers:\n    web: {kind: http, attributes: {port: 70000}}\n",
             "f.yaml:5:");
  spec_fails("metadata: {name: t}\nspec:\n  runtime: passthrough\n"
             "  triggers:\n    web: {kind: http, attributes: {port: 70000}}\n",
             "expected an integer in 0..65535, found '70000'");
  spec_fails("metadata: {name: t}\nspec:\n  runtime: passthrough\n"
             "  triggers:\n    web: {kind: htp}\n",
             "f.yaml:5:");
  spec_fails("metadata: {name: t}\nspec:\n  runtime: passthrough\n"
             "  triggers:\n    web:\n      kind: http\n"
             "      batch: {maxWait: soon}\n",
             "f.yaml:7:");
  spec_fails("metadata: {name: t}\nmetadata: {name: u}\n", "f.yaml:2:1");
  spec_fails("metadata: {name: t}\nspec: {runtime: passthrough, x: 1}\n",
             "unknown key 'x'");
}

static void split(const char *body, int64_t want_n, const char *want_text) {
  struct sl_text out = {0};
  int64_t n = -1;
  const char *why = NULL;
  assert_int_equal(sl__split_records(body, strlen(body), &out, &n, &why), 0);
  assert_int_equal(n, want_n);
  assert_int_equal(out.len, strlen(want_text));
  assert_memory_equal(out.p, want_text, out.len);
  sl_free(out.p);
}

static void test_record_splitting(void **state) {
  (void)state;
  split("{\"a\":1}\n{\"a\":2}\n", 2, "{\"a\":1}\n{\"a\":2}\n");
  split("{\"a\":1}\n\n\n{\"a\":2}", 2, "{\"a\":1}\n{\"a\":2}\n");
  split("[{\"a\":1}, {\"b\":[1,2]} ,{\"c\":\"]\"}]", 3,
        "{\"a\":1}\n{\"b\":[1,2]}\n{\"c\":\"]\"}\n");
  split("  [ ]  ", 0, "");
  /* One object spanning lines is one record (newlines kept off the line). */
  struct sl_text out = {0};
  int64_t n = 0;
  const char *why = NULL;
  const char *obj = "{\n  \"a\": 1,\n  \"b\": \"x\"\n}\n";
  assert_int_equal(sl__split_records(obj, strlen(obj), &out, &n, &why), 0);
  assert_int_equal(n, 1);
  assert_non_null(memchr(out.p, '\n', out.len));
  assert_int_equal(out.p[out.len - 1], '\n');
  assert_null(memchr(out.p, '\n', out.len - 1));
  sl_free(out.p);
  out = (struct sl_text){0};
  assert_int_equal(sl__split_records("[{\"a\":1}", 8, &out, &n, &why),
                   SL_EINVAL);
  assert_non_null(why);
  sl_free(out.p);
}

static uint64_t g_commits[16];
static int g_n_commits;
static void on_commit(void *ctx, uint64_t seq) {
  (void)ctx;
  if (g_n_commits < 16) g_commits[g_n_commits] = seq;
  g_n_commits++;
}

static void test_delivery_watermark(void **state) {
  (void)state;
  struct sl_delivery d;
  g_n_commits = 0;
  assert_int_equal(sl__delivery_init(&d, on_commit, NULL), 0);
  for (uint64_t i = 1; i <= 5; i++)
    assert_int_equal(sl__delivery_next(&d), i);
  assert_false(sl__delivery_wait_all(&d, 0));
  sl__delivery_done(&d, 3);
  assert_int_equal(g_n_commits, 0); /* 1 and 2 still open */
  sl__delivery_done(&d, 1);
  assert_int_equal(g_n_commits, 1);
  assert_int_equal(g_commits[0], 1);
  sl__delivery_done(&d, 2);
  assert_int_equal(g_commits[1], 3); /* jumps over the done 3 */
  sl__delivery_done(&d, 5);
  sl__delivery_done(&d, 4);
  assert_int_equal(g_n_commits, 3);
  assert_int_equal(g_commits[2], 5);
  assert_true(sl__delivery_wait_all(&d, 0));
  /* Past the ring's first lap. */
  for (uint64_t i = 6; i < 6 + 200000; i++) {
    assert_int_equal(sl__delivery_next(&d), i);
    sl__delivery_done(&d, i);
  }
  assert_int_equal(d.committed, 200005);
  sl__delivery_destroy(&d);
}

static void test_position_key_offsets(void **state) {
  (void)state;
  struct sl_rt_segment segs[2] = {
      {.pos =
           {.source = "logs-3", .a = 100, .end = 150, .flags = SL_POS_OFFSETS}},
      {.pos = {
           .source = "logs-3", .a = 150, .end = 400, .flags = SL_POS_OFFSETS}}};
  char key[80];
  assert_true(sl__position_key_offsets(NULL, segs, 2, key, sizeof key));
  assert_string_equal(key, "logs-3-00000000000000000100-00000000000000000399");
  /* A gap, another stream or no offsets: no key (not replayable as one). */
  segs[1].pos.a = 151;
  assert_false(sl__position_key_offsets(NULL, segs, 2, key, sizeof key));
  segs[1].pos.a = 150;
  segs[1].pos.source = "logs-4";
  assert_false(sl__position_key_offsets(NULL, segs, 2, key, sizeof key));
  segs[1].pos.source = "logs-3";
  segs[1].pos.flags = 0;
  assert_false(sl__position_key_offsets(NULL, segs, 2, key, sizeof key));
  /* Characters a file name cannot take are replaced and hashed. */
  struct sl_rt_segment odd = {
      .pos = {.source = "a/b c", .a = 0, .end = 1, .flags = SL_POS_OFFSETS}};
  assert_true(sl__position_key_offsets(NULL, &odd, 1, key, sizeof key));
  assert_null(strchr(key, '/'));
  assert_null(strchr(key, ' '));
  assert_memory_equal(key, "a_b_c_", 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cron_next),
      cmocka_unit_test(test_cron_errors),
      cmocka_unit_test(test_config_durations_and_sizes),
      cmocka_unit_test(test_config_tables_through_the_spec),
      cmocka_unit_test(test_record_splitting),
      cmocka_unit_test(test_delivery_watermark),
      cmocka_unit_test(test_position_key_offsets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
