/* SQL front end: lexer, parser and binder, with positions in errors, closest
 * name suggestions and typed expressions; plus an allocation-failure sweep
 * over parse + bind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/alloc.h"
#include "sluice/sql.h"
#include "sql/sql_internal.h"

static void make_schema(struct sl_schema *s) {
  sl_schema_init(s);
  struct sl_field f;
  const char *names[] = {"ts", "service", "status", "latency_ms", "ok"};
  enum sl_type_id types[] = {SL_TYPE_TIMESTAMP_MS, SL_TYPE_UTF8, SL_TYPE_INT64,
                             SL_TYPE_FLOAT64, SL_TYPE_BOOL};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(sl_field_init(&f, names[i], types[i], true), 0);
    assert_int_equal(sl_schema_add_field(s, &f), 0);
    sl_field_release(&f);
  }
  struct sl_field geo, c;
  assert_int_equal(sl_field_init(&geo, "geo", SL_TYPE_STRUCT, true), 0);
  assert_int_equal(sl_field_init(&c, "country", SL_TYPE_UTF8, true), 0);
  assert_int_equal(sl_field_add_child(&geo, &c), 0);
  assert_int_equal(sl_schema_add_field(s, &geo), 0);
  sl_field_release(&c);
  sl_field_release(&geo);
}

static int bind_sql(const char *sql, struct sl_plan **plan,
                    struct sl_error *err) {
  struct sl_arena a;
  sl_arena_init(&a, 4096);
  struct sl_schema s;
  make_schema(&s);
  struct sl_stmt *st;
  int rc = sl__sql_parse(sql, &a, &st, err);
  if (!rc) rc = sl__sql_bind(st, &s, plan, err);
  sl_schema_release(&s);
  sl_arena_release(&a);
  return rc;
}

static void test_parse_shapes(void **state) {
  (void)state;
  struct sl_arena a;
  sl_arena_init(&a, 4096);
  struct sl_stmt *st;
  struct sl_error err = {0};
  const char *sql =
      "SELECT DISTINCT service AS s, count(*) n, geo.country, "
      "CASE WHEN status >= 500 THEN 'e' ELSE 'ok' END -- comment\n"
      "FROM read_json('x.jsonl', columns => {'a': 'BIGINT', \"b\": 'VARCHAR'}) "
      "t "
      "WHERE ts >= TIMESTAMP '2024-01-01' AND path NOT LIKE '%x' AND status IN "
      "(1, 2) "
      "GROUP BY 1, 3 HAVING count(*) > 2 ORDER BY n DESC NULLS FIRST, 1 LIMIT "
      "10 OFFSET 5;";
  assert_int_equal(sl__sql_parse(sql, &a, &st, &err), 0);
  assert_true(st->distinct);
  assert_int_equal(st->n_items, 4);
  assert_string_equal(st->items[0].alias, "s");
  assert_string_equal(st->items[1].alias, "n");
  assert_int_equal(st->items[2].expr->kind, AST_COLUMN);
  assert_string_equal(st->items[2].expr->name, "geo.country");
  assert_int_equal(st->items[3].expr->kind, AST_CASE);
  assert_int_equal(st->from.kind, FROM_FUNC);
  assert_string_equal(st->from.path, "x.jsonl");
  assert_non_null(st->from.columns);
  assert_int_equal(st->n_group, 2);
  assert_non_null(st->having);
  assert_int_equal(st->n_order, 2);
  assert_true(st->order[0].desc);
  assert_int_equal(st->order[0].nulls, 1);
  assert_int_equal(st->limit, 10);
  assert_int_equal(st->offset, 5);
  /* precedence: 1 + 2 * 3 parses as 1 + (2 * 3) */
  assert_int_equal(sl__sql_parse("SELECT 1 + 2 * 3 FROM t", &a, &st, &err), 0);
  struct sl_ast *e = st->items[0].expr;
  assert_int_equal(e->kind, AST_BINARY);
  assert_int_equal(e->op, TK_PLUS);
  assert_int_equal(e->args[1]->op, TK_STAR);
  /* a || b = c parses as (a || b) = c; NOT binds looser than = */
  assert_int_equal(sl__sql_parse("SELECT NOT a || b = c FROM t", &a, &st, &err),
                   0);
  e = st->items[0].expr;
  assert_int_equal(e->kind, AST_UNARY);
  assert_int_equal(e->args[0]->op, TK_EQ);
  assert_int_equal(e->args[0]->args[0]->op, TK_CONCAT);
  sl_arena_release(&a);
}

static void expect_error(const char *sql, const char *needle) {
  struct sl_arena a;
  sl_arena_init(&a, 4096);
  struct sl_stmt *st;
  struct sl_error err = {0};
  int rc = sl__sql_parse(sql, &a, &st, &err);
  struct sl_plan *p = NULL;
  if (!rc) {
    struct sl_schema s;
    make_schema(&s);
    rc = sl__sql_bind(st, &s, &p, &err);
    sl_schema_release(&s);
  }
  sl_arena_release(&a);
  sl__plan_free(p);
  assert_int_not_equal(rc, 0);
  if (!strstr(err.msg, needle))
    fail_msg("'%s': message '%s' lacks '%s'", sql, err.msg, needle);
}

static void test_errors_name_position(void **state) {
  (void)state;
  expect_error("SELECT",
               "1:7: expected an expression, found the end of the query");
  expect_error("SELECT a FROM t WHERE", "1:22:");
  expect_error("SELECT a,\n  b\n  FROM 'x' GROUP service",
               "3:18: expected BY after GROUP, found 'service'");
  expect_error("SELECT 'open", "1:8: string is not closed");
  expect_error("SELECT 1 /* x", "comment is not closed");
  expect_error("SELECT a FROM t LIMIT -1", "a row count after LIMIT");
  expect_error("SELECT a FROM t extra junk", "expected the end of the query");
  expect_error("SELECT servce FROM t",
               "1:8: unknown column 'servce'; did you mean 'service'?");
  expect_error("SELECT geo.countr FROM t", "did you mean 'geo.country'?");
  expect_error("SELECT zzzzzzzz FROM t", "unknown column 'zzzzzzzz'");
  expect_error("SELECT service * 2 FROM t", "type error in 'service * 2'");
  expect_error("SELECT avg(service) FROM t", "type error in 'avg(service)'");
  expect_error("SELECT service FROM t WHERE status + 1",
               "WHERE condition 'status + 1' is BIGINT");
  expect_error("SELECT status, count(*) FROM t",
               "column 'status' must appear in GROUP BY");
  expect_error("SELECT lower(status) FROM t",
               "argument 1 of lower() must be VARCHAR");
  expect_error("SELECT substr(service) FROM t",
               "substr() takes 2 to 3 arguments");
  expect_error("SELECT quantile(latency_ms, 2) FROM t", "between 0 and 1");
  expect_error("SELECT sum(DISTINCT status) FROM t", "count(DISTINCT x) only");
}

static void test_bind_types(void **state) {
  (void)state;
  struct sl_plan *p;
  struct sl_error err = {0};
  assert_int_equal(
      bind_sql("SELECT status / 2, status // 2, latency_ms + status, "
               "date_trunc('minute', ts), geo.country, ts > '2024-01-01', "
               "epoch_ms(ts), extract(epoch FROM ts) FROM t",
               &p, &err),
      0);
  assert_false(p->aggregate);
  assert_int_equal(p->n_visible, 8);
  enum sl_vt want[] = {SL_VT_F64, SL_VT_I64,  SL_VT_F64, SL_VT_TS,
                       SL_VT_STR, SL_VT_BOOL, SL_VT_I64, SL_VT_F64};
  for (int i = 0; i < 8; i++)
    assert_int_equal(p->proj[i]->type, want[i]);
  /* inputs pushed down: exactly the columns named */
  assert_int_equal(p->n_inputs, 4);
  sl__plan_free(p);
  assert_int_equal(
      bind_sql("SELECT service, count(*), avg(latency_ms), sum(status) AS s "
               "FROM t GROUP BY service HAVING sum(status) > 1 ORDER BY s DESC",
               &p, &err),
      0);
  assert_true(p->aggregate);
  assert_int_equal(p->n_keys, 1);
  assert_int_equal(p->n_aggs, 3); /* sum(status) shared by SELECT and HAVING */
  assert_int_equal(p->n_sort, 1);
  assert_int_equal(p->sort[0].col, 3);
  assert_true(p->sort[0].desc);
  assert_int_equal(p->aggs[2].out_type, SL_VT_I64);
  assert_int_equal(p->aggs[1].out_type, SL_VT_F64);
  sl__plan_free(p);
}

static void test_check_syntax_api(void **state) {
  (void)state;
  struct sl_error err = {0};
  assert_int_equal(sl_sql_check_syntax("SELECT 1 FROM stdin", &err), 0);
  assert_int_not_equal(sl_sql_check_syntax("SELEC 1", &err), 0);
  assert_non_null(strstr(err.msg, "1:1: expected SELECT"));
}

/* Every allocation of parse + bind may fail: no crash, no leak. */
static void test_alloc_failure_sweep(void **state) {
  (void)state;
  const char *sql =
      "SELECT service, count(*), median(latency_ms) FROM t "
      "WHERE status IN (500, 503) GROUP BY 1 ORDER BY 2 DESC LIMIT 3";
  for (int64_t n = 1; n < 400; n++) {
    int64_t live = sl_alloc_live();
    struct sl_schema s;
    make_schema(&s);
    struct sl_arena a;
    sl_arena_init(&a, 256);
    struct sl_stmt *st;
    struct sl_plan *p = NULL;
    struct sl_error err = {0};
    sl_alloc_fail_after(n, 0);
    int rc = sl__sql_parse(sql, &a, &st, &err);
    if (!rc) rc = sl__sql_bind(st, &s, &p, &err);
    sl_alloc_fail_after(0, 0);
    sl__plan_free(p);
    sl_arena_release(&a);
    sl_schema_release(&s);
    assert_int_equal(sl_alloc_live(), live);
    if (rc == 0) break;
    assert_int_equal(rc, SL_ENOMEM);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_shapes),
      cmocka_unit_test(test_errors_name_position),
      cmocka_unit_test(test_bind_types),
      cmocka_unit_test(test_check_syntax_api),
      cmocka_unit_test(test_alloc_failure_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
