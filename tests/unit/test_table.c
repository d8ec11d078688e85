/* Unit tests of the columnar core (src/table): types, fields and schemas,
 * builders of every type, null handling, slices, nested and dictionary
 * arrays, batches. Expected buffers are computed by hand from the Arrow
 * columnar format specification (LSB-first bitmaps, offsets of length+1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/alloc.h"
#include "sluice/table.h"

static int64_t live_at_start;

static int setup(void **state) {
  (void)state;
  live_at_start = sl_alloc_live();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (sl_alloc_live() != live_at_start)
    fail_msg("%lld blocks leaked",
             (long long)(sl_alloc_live() - live_at_start));
  return 0;
}

static struct sl_field leaf(const char *name, enum sl_type_id t) {
  struct sl_field f = {.name = (char *)name, .type = t, .nullable = true};
  return f;
}

static struct sl_array *finish(struct sl_builder *b) {
  struct sl_array *a = NULL;
  assert_int_equal(sl_builder_finish(b, &a), 0);
  assert_int_equal(sl_array_validate(a, NULL, true, NULL), 0);
  return a;
}

static void assert_str(const struct sl_array *a, int64_t i, const char *want) {
  int64_t n;
  const char *s = sl_array_str(a, i, &n);
  assert_int_equal(n, (int64_t)strlen(want));
  assert_memory_equal(s, want, (size_t)n);
}

/* ---- types -------------------------------------------------------------- */

static void test_types(void **state) {
  (void)state;
  enum sl_type_id t;
  assert_string_equal(sl_type_name(SL_TYPE_TIMESTAMP_MS), "timestamp[ms]");
  assert_int_equal(sl_type_parse("string", 6, &t), 0);
  assert_int_equal(t, SL_TYPE_UTF8);
  assert_int_equal(sl_type_parse("INT64", 5, &t), 0);
  assert_int_equal(t, SL_TYPE_INT64);
  assert_int_equal(sl_type_parse("timestamp", 9, &t), 0);
  assert_int_equal(t, SL_TYPE_TIMESTAMP_US);
  assert_int_equal(sl_type_parse("int640", 6, &t), SL_EINVAL);
  assert_int_equal(sl_type_width(SL_TYPE_DATE32), 4);
  assert_int_equal(sl_type_width(SL_TYPE_TIMESTAMP_US), 8);
  assert_int_equal(sl_type_width(SL_TYPE_BOOL), 0);
  assert_int_equal(sl_type_width(SL_TYPE_UTF8), 0);
  for (int i = 0; i < SL_TYPE_COUNT_; i++) {
    const char *name = sl_type_name((enum sl_type_id)i);
    assert_int_equal(sl_type_parse(name, strlen(name), &t), 0);
    assert_int_equal(t, i);
  }
}

/* ---- primitive builders ---------------------------------------------------
 */

static void test_int32_with_nulls(void **state) {
  (void)state;
  struct sl_field f = leaf("x", SL_TYPE_INT32);
  struct sl_builder b;
  assert_int_equal(sl_builder_init(&b, &f), 0);
  assert_int_equal(sl_builder_append_int(&b, 1), 0);
  assert_int_equal(sl_builder_append_null(&b), 0);
  assert_int_equal(sl_builder_append_int(&b, -3), 0);
  assert_int_equal(sl_builder_append_int(&b, INT32_MAX), 0);
  assert_int_equal(sl_builder_append_int(&b, (int64_t)INT32_MAX + 1),
                   SL_ERANGE);
  assert_int_equal(sl_builder_append_int(&b, (int64_t)INT32_MIN - 1),
                   SL_ERANGE);
  assert_int_equal(sl_builder_append_bool(&b, true), SL_EINVAL);
  assert_int_equal(sl_builder_append_str(&b, "x", 1), SL_EINVAL);
  struct sl_array *a = finish(&b);
  assert_int_equal(a->length, 4);
  assert_int_equal(a->null_count, 1);
  assert_int_equal(a->validity->data[0], 0x0D); /* 1101: row 1 null */
  const int32_t *v = sl_array_i32(a);
  assert_int_equal(v[0], 1);
  assert_int_equal(v[2], -3);
  assert_int_equal(v[3], INT32_MAX);
  /* The builder is reusable after finish and starts empty. */
  assert_int_equal(sl_builder_append_int(&b, 7), 0);
  struct sl_array *a2 = finish(&b);
  assert_int_equal(a2->length, 1);
  assert_null(a2->validity);
  assert_int_equal(a2->null_count, 0);
  assert_int_equal(sl_array_i32(a2)[0], 7);
  assert_int_equal(v[0], 1); /* the first array is untouched */
  sl_array_release(a2);
  sl_array_release(a);
  sl_builder_release(&b);
}

static void test_bool_and_float(void **state) {
  (void)state;
  struct sl_field fb = leaf("b", SL_TYPE_BOOL), fd = leaf("d", SL_TYPE_FLOAT64);
  struct sl_builder bb, bd;
  assert_int_equal(sl_builder_init(&bb, &fb), 0);
  assert_int_equal(sl_builder_init(&bd, &fd), 0);
  /* T F null T, then 6 more T: crosses a byte boundary. */
  assert_int_equal(sl_builder_append_bool(&bb, true), 0);
  assert_int_equal(sl_builder_append_bool(&bb, false), 0);
  assert_int_equal(sl_builder_append_null(&bb), 0);
  for (int i = 0; i < 7; i++)
    assert_int_equal(sl_builder_append_bool(&bb, true), 0);
  struct sl_array *a = finish(&bb);
  assert_int_equal(a->length, 10);
  assert_int_equal(a->null_count, 1);
  assert_int_equal(a->data->data[0], 0xF9);     /* 1111 1001 */
  assert_int_equal(a->data->data[1] & 3, 0x03); /* rows 8, 9 */
  assert_int_equal(a->validity->data[0], 0xFB); /* 1111 1011 */
  assert_int_equal(a->validity->data[1] & 3, 0x03);
  assert_true(sl_array_bool(a, 0));
  assert_false(sl_array_bool(a, 1));
  assert_false(sl_array_is_valid(a, 2));
  assert_true(sl_array_bool(a, 9));

  assert_int_equal(sl_builder_append_double(&bd, 0.5), 0);
  assert_int_equal(sl_builder_append_null(&bd), 0);
  assert_int_equal(sl_builder_append_double(&bd, -1e300), 0);
  assert_int_equal(sl_builder_append_int(&bd, 3), SL_EINVAL);
  struct sl_array *d = finish(&bd);
  assert_int_equal(d->length, 3);
  assert_true(sl_array_f64(d)[0] == 0.5);
  assert_true(sl_array_f64(d)[2] == -1e300);
  assert_false(sl_array_is_valid(d, 1));
  sl_array_release(a);
  sl_array_release(d);
  sl_builder_release(&bb);
  sl_builder_release(&bd);
}

static void test_temporal(void **state) {
  (void)state;
  static const enum sl_type_id types[3] = {
      SL_TYPE_TIMESTAMP_MS, SL_TYPE_TIMESTAMP_US, SL_TYPE_DATE32};
  for (int k = 0; k < 3; k++) {
    struct sl_field f = leaf("t", types[k]);
    struct sl_builder b;
    assert_int_equal(sl_builder_init(&b, &f), 0);
    assert_int_equal(sl_builder_append_int(&b, -1), 0);
    assert_int_equal(sl_builder_append_null(&b), 0);
    assert_int_equal(sl_builder_append_int(&b, 19000), 0);
    struct sl_array *a = finish(&b);
    assert_int_equal(a->type, types[k]);
    if (types[k] == SL_TYPE_DATE32) {
      assert_int_equal(sl_array_i32(a)[0], -1);
      assert_int_equal(sl_array_i32(a)[2], 19000);
      assert_int_equal(a->data->size, 12);
    } else {
      assert_int_equal(sl_array_i64(a)[0], -1);
      assert_int_equal(sl_array_i64(a)[2], 19000);
      assert_int_equal(a->data->size, 24);
    }
    sl_array_release(a);
    sl_builder_release(&b);
  }
}

static void test_null_type(void **state) {
  (void)state;
  struct sl_field f = leaf("n", SL_TYPE_NULL);
  struct sl_builder b;
  assert_int_equal(sl_builder_init(&b, &f), 0);
  assert_int_equal(sl_builder_append_nulls(&b, 5), 0);
  struct sl_array *a = finish(&b);
  assert_int_equal(a->length, 5);
  assert_int_equal(a->null_count, 5);
  assert_false(sl_array_is_valid(a, 0));
  sl_array_release(a);
  sl_builder_release(&b);
}

/* ---- strings --------------------------------------------------------------
 */

static void test_strings(void **state) {
  (void)state;
  static const enum sl_type_id types[2] = {SL_TYPE_UTF8, SL_TYPE_LARGE_UTF8};
  for (int k = 0; k < 2; k++) {
    struct sl_field f = leaf("s", types[k]);
    struct sl_builder b;
    assert_int_equal(sl_builder_init(&b, &f), 0);
    assert_int_equal(sl_builder_append_str(&b, "a", 1), 0);
    assert_int_equal(sl_builder_append_str(&b, "", 0), 0);
    assert_int_equal(sl_builder_append_null(&b), 0);
    assert_int_equal(sl_builder_append_str(&b, "h\xc3\xa9llo", 6), 0);
    assert_int_equal(sl_builder_append_str(&b, "x", -1), SL_EINVAL);
    struct sl_array *a = finish(&b);
    assert_int_equal(a->length, 4);
    assert_int_equal(a->null_count, 1);
    static const int64_t want[5] = {0, 1, 1, 1, 7};
    for (int i = 0; i < 5; i++) {
      int64_t o = types[k] == SL_TYPE_UTF8 ? ((int32_t *)a->offsets->data)[i]
                                           : ((int64_t *)a->offsets->data)[i];
      assert_int_equal(o, want[i]);
    }
    assert_memory_equal(a->data->data, "ah\xc3\xa9llo", 7);
    assert_str(a, 0, "a");
    assert_str(a, 1, "");
    assert_false(sl_array_is_valid(a, 2));
    assert_true(sl_array_is_valid(a, 1)); /* empty is not null */
    assert_str(a, 3, "h\xc3\xa9llo");
    sl_array_release(a);
    sl_builder_release(&b);
  }
}

static void test_utf8_offset_overflow_guard(void **state) {
  (void)state;
  /* utf8 offsets are int32: more than 2 GiB of characters must be refused
   * before anything is read or allocated (large_utf8 is for that). */
  struct sl_field f = leaf("s", SL_TYPE_UTF8);
  struct sl_builder b;
  assert_int_equal(sl_builder_init(&b, &f), 0);
  assert_int_equal(sl_builder_append_str(&b, "abc", 3), 0);
  assert_int_equal(sl_builder_append_str(&b, "", (int64_t)INT32_MAX),
                   SL_EOVERFLOW);
  assert_int_equal(b.length, 1);
  sl_builder_release(&b);
}

/* ---- nested ----------------------------------------------------------------
 */

static void test_list(void **state) {
  (void)state;
  struct sl_field item = leaf("item", SL_TYPE_INT32);
  struct sl_field f = leaf("l", SL_TYPE_LIST);
  assert_int_equal(sl_field_init(&f, "l", SL_TYPE_LIST, true), 0);
  assert_int_equal(sl_field_add_child(&f, &item), 0);
  assert_int_equal(sl_field_add_child(&f, &item), SL_EINVAL); /* one child */
  struct sl_builder b;
  assert_int_equal(sl_builder_init(&b, &f), 0);
  /* [1, 2], null, [], [null, 3] */
  assert_int_equal(sl_builder_append_int(&b.children[0], 1), 0);
  assert_int_equal(sl_builder_append_int(&b.children[0], 2), 0);
  assert_int_equal(sl_builder_list_end(&b), 0);
  assert_int_equal(sl_builder_append_null(&b), 0);
  assert_int_equal(sl_builder_list_end(&b), 0);
  assert_int_equal(sl_builder_append_null(&b.children[0]), 0);
  assert_int_equal(sl_builder_append_int(&b.children[0], 3), 0);
  assert_int_equal(sl_builder_list_end(&b), 0);
  struct sl_array *a = finish(&b);
  assert_int_equal(sl_array_validate(a, &f, true, NULL), 0);
  assert_int_equal(a->length, 4);
  assert_int_equal(a->null_count, 1);
  static const int32_t offs[5] = {0, 2, 2, 2, 4};
  assert_memory_equal(a->offsets->data, offs, sizeof offs);
  assert_int_equal(a->validity->data[0] & 0xF, 0x0D);
  const struct sl_array *c = a->children[0];
  assert_int_equal(c->length, 4);
  assert_int_equal(c->null_count, 1);
  int64_t start, len;
  sl_array_list_range(a, 3, &start, &len);
  assert_int_equal(start, 2);
  assert_int_equal(len, 2);
  assert_false(sl_array_is_valid(c, 2));
  assert_int_equal(sl_array_i32(c)[3], 3);
  /* Slicing a list keeps the child whole and moves the offset. */
  struct sl_array *s = NULL;
  assert_int_equal(sl_array_slice(a, 2, 2, &s, NULL), 0);
  assert_int_equal(sl_array_validate(s, &f, true, NULL), 0);
  sl_array_list_range(s, 1, &start, &len);
  assert_int_equal(start, 2);
  assert_int_equal(len, 2);
  assert_int_equal(sl_array_null_count(s), 0);
  sl_array_release(s);
  sl_array_release(a);
  sl_builder_release(&b);
  sl_field_release(&f);
}

static void test_struct(void **state) {
  (void)state;
  struct sl_field f, a_f = leaf("a", SL_TYPE_INT64),
                     b_f = leaf("b", SL_TYPE_UTF8);
  assert_int_equal(sl_field_init(&f, "geo", SL_TYPE_STRUCT, true), 0);
  assert_int_equal(sl_field_add_child(&f, &a_f), 0);
  assert_int_equal(sl_field_add_child(&f, &b_f), 0);
  char buf[128];
  sl_field_format(&f, buf, sizeof buf);
  assert_string_equal(buf, "geo: struct<a: int64, b: utf8>");
  struct sl_builder b;
  assert_int_equal(sl_builder_init(&b, &f), 0);
  /* {1, "x"}, null, {3, null} */
  assert_int_equal(sl_builder_append_int(&b.children[0], 1), 0);
  assert_int_equal(sl_builder_append_str(&b.children[1], "x", 1), 0);
  assert_int_equal(sl_builder_struct_end(&b), 0);
  assert_int_equal(sl_builder_append_null(&b), 0);
  assert_int_equal(sl_builder_append_int(&b.children[0], 3), 0);
  assert_int_equal(sl_builder_struct_end(&b), SL_EINVAL); /* b is missing */
  assert_int_equal(sl_builder_append_null(&b.children[1]), 0);
  assert_int_equal(sl_builder_struct_end(&b), 0);
  struct sl_array *a = finish(&b);
  assert_int_equal(sl_array_validate(a, &f, true, NULL), 0);
  assert_int_equal(a->length, 3);
  assert_int_equal(a->null_count, 1);
  assert_int_equal(a->n_children, 2);
  assert_int_equal(a->children[0]->length, 3);
  assert_int_equal(sl_array_i64(a->children[0])[0], 1);
  assert_int_equal(sl_array_i64(a->children[0])[2], 3);
  assert_false(sl_array_is_valid(a->children[0], 1)); /* null struct row */
  assert_str(a->children[1], 0, "x");
  assert_false(sl_array_is_valid(a->children[1], 2));
  /* A slice of a struct: the parent offset applies to the children. */
  struct sl_array *s = NULL;
  assert_int_equal(sl_array_slice(a, 1, 2, &s, NULL), 0);
  assert_int_equal(s->offset, 1);
  assert_int_equal(sl_array_null_count(s), 1);
  assert_false(sl_array_is_valid(s, 0));
  assert_true(sl_array_is_valid(s, 1));
  assert_int_equal(sl_array_i64(s->children[0])[s->offset + 1], 3);
  assert_int_equal(sl_array_validate(s, &f, true, NULL), 0);
  sl_array_release(s);
  /* Whole-null arrays of a nested field. */
  struct sl_array *nulls = NULL;
  assert_int_equal(sl_array_new_nulls(&f, 5, &nulls), 0);
  assert_int_equal(nulls->length, 5);
  assert_int_equal(sl_array_null_count(nulls), 5);
  assert_int_equal(nulls->children[1]->length, 5);
  assert_int_equal(sl_array_validate(nulls, &f, true, NULL), 0);
  sl_array_release(nulls);
  sl_array_release(a);
  sl_builder_release(&b);
  sl_field_release(&f);
}

static void test_dictionary(void **state) {
  (void)state;
  struct sl_field f = leaf("m", SL_TYPE_DICT_UTF8);
  struct sl_builder b;
  assert_int_equal(sl_builder_init(&b, &f), 0);
  static const char *const in[6] = {"GET", "POST", "GET", NULL, "PUT", "POST"};
  for (int i = 0; i < 6; i++)
    assert_int_equal(
        in[i] ? sl_builder_append_str(&b, in[i], (int64_t)strlen(in[i]))
              : sl_builder_append_null(&b),
        0);
  struct sl_array *a = finish(&b);
  assert_int_equal(sl_array_validate(a, &f, true, NULL), 0);
  assert_int_equal(a->length, 6);
  assert_int_equal(a->null_count, 1);
  assert_non_null(a->dictionary);
  assert_int_equal(a->dictionary->length, 3);
  assert_str(a->dictionary, 0, "GET");
  assert_str(a->dictionary, 1, "POST");
  assert_str(a->dictionary, 2, "PUT");
  static const int32_t idx[6] = {0, 1, 0, 0, 2, 1};
  for (int i = 0; i < 6; i++)
    if (i != 3) assert_int_equal(sl_array_i32(a)[i], idx[i]);
  for (int i = 0; i < 6; i++)
    if (in[i]) assert_str(a, i, in[i]);
  /* The next array built by the same builder has its own dictionary. */
  assert_int_equal(sl_builder_append_str(&b, "PUT", 3), 0);
  struct sl_array *a2 = finish(&b);
  assert_int_equal(a2->dictionary->length, 1);
  assert_int_equal(sl_array_i32(a2)[0], 0);
  assert_str(a2, 0, "PUT");
  /* An out-of-range index is caught by validation. */
  ((int32_t *)a->data->data)[4] = 3;
  struct sl_error err = {0};
  assert_int_equal(sl_array_validate(a, &f, true, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "dictionary index 3 at row 4"));
  sl_array_release(a2);
  sl_array_release(a);
  sl_builder_release(&b);
}

/* Many values: the bitmap grows across many bytes, reserve + unsafe append. */
static void test_many_values_and_slices(void **state) {
  (void)state;
  struct sl_field f = leaf("x", SL_TYPE_INT64);
  struct sl_builder b;
  assert_int_equal(sl_builder_init(&b, &f), 0);
  enum { N = 10000 };
  assert_int_equal(sl_builder_reserve(&b, N), 0);
  for (int64_t i = 0; i < N; i++) {
    if (i % 3 == 0) {
      assert_int_equal(sl_builder_append_null(&b), 0);
      assert_int_equal(sl_builder_reserve(&b, N - i), 0);
    } else {
      sl_builder_unsafe_append_i64(&b, i * i);
    }
  }
  struct sl_array *a = finish(&b);
  assert_int_equal(a->length, N);
  assert_int_equal(sl_array_null_count(a), (N + 2) / 3);
  for (int64_t i = 0; i < N; i++) {
    assert_int_equal(sl_array_is_valid(a, i), i % 3 != 0);
    if (i % 3) assert_int_equal(sl_array_i64(a)[i], i * i);
  }
  /* Slices at odd offsets: values and null counts recomputed by hand. */
  struct sl_array *s = NULL, *s2 = NULL;
  assert_int_equal(sl_array_slice(a, 5, 100, &s, NULL), 0);
  assert_int_equal(s->offset, 5);
  int64_t want = 0;
  for (int64_t i = 5; i < 105; i++)
    want += i % 3 == 0;
  assert_int_equal(sl_array_null_count(s), want);
  assert_int_equal(sl_array_slice(s, 2, 3, &s2, NULL), 0);
  assert_int_equal(s2->offset, 7);
  assert_int_equal(sl_array_i64(s2)[0], 49);
  assert_false(sl_array_is_valid(s2, 2)); /* row 9 */
  assert_int_equal(sl_array_null_count(s2), 1);
  struct sl_error err = {0};
  struct sl_array *bad = NULL;
  assert_int_equal(sl_array_slice(s, 90, 11, &bad, &err), SL_ERANGE);
  assert_null(bad);
  assert_int_equal(sl_array_slice(s, -1, 1, &bad, &err), SL_ERANGE);
  assert_int_equal(sl_array_slice(s, 100, 0, &bad, &err),
                   0); /* empty, at end */
  assert_int_equal(bad->length, 0);
  sl_array_release(bad);
  sl_array_release(s2);
  sl_array_release(s);
  sl_array_release(a);
  sl_builder_release(&b);
}

/* ---- schemas and batches ------------------------------------------------ */

static void test_schema(void **state) {
  (void)state;
  struct sl_schema s, c;
  sl_schema_init(&s);
  struct sl_field x = leaf("x", SL_TYPE_INT64), y = leaf("y", SL_TYPE_UTF8);
  y.nullable = false;
  assert_int_equal(sl_schema_add_field(&s, &x), 0);
  assert_int_equal(sl_schema_add_field(&s, &y), 0);
  assert_int_equal(sl_schema_add_metadata(&s, "k", "v"), 0);
  assert_int_equal(sl_schema_find(&s, "y"), 1);
  assert_int_equal(sl_schema_find(&s, "z"), -1);
  assert_int_equal(sl_schema_copy(&c, &s), 0);
  assert_int_equal(c.n_fields, 2);
  assert_true(sl_field_equal(&c.fields[1], &y));
  assert_false(sl_field_equal(&c.fields[0], &c.fields[1]));
  assert_false(c.fields[1].nullable);
  assert_string_equal(c.metadata_values[0], "v");
  assert_ptr_not_equal(c.fields[0].name, s.fields[0].name); /* deep copy */
  sl_schema_release(&c);
  sl_schema_release(&s);
}

static struct sl_array *int_column(int64_t n, int64_t start) {
  struct sl_field f = leaf("x", SL_TYPE_INT64);
  struct sl_builder b;
  assert_int_equal(sl_builder_init(&b, &f), 0);
  for (int64_t i = 0; i < n; i++)
    assert_int_equal(sl_builder_append_int(&b, start + i), 0);
  struct sl_array *a = finish(&b);
  sl_builder_release(&b);
  return a;
}

static void test_batch(void **state) {
  (void)state;
  struct sl_schema s;
  sl_schema_init(&s);
  struct sl_field x = leaf("x", SL_TYPE_INT64), y = leaf("y", SL_TYPE_INT64);
  assert_int_equal(sl_schema_add_field(&s, &x), 0);
  assert_int_equal(sl_schema_add_field(&s, &y), 0);
  struct sl_error err = {0};
  struct sl_batch *b = NULL;
  /* A length mismatch is refused and both columns are released. */
  struct sl_array *cols[2] = {int_column(4, 0), int_column(3, 0)};
  assert_int_equal(sl_batch_make(&s, cols, 4, &b, &err), SL_EINVAL);
  assert_null(b);
  assert_non_null(strstr(err.msg, "'y'"));
  /* A type mismatch too. */
  struct sl_field sf = leaf("y", SL_TYPE_UTF8);
  struct sl_builder sb;
  assert_int_equal(sl_builder_init(&sb, &sf), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(sl_builder_append_str(&sb, "a", 1), 0);
  cols[0] = int_column(4, 0);
  cols[1] = finish(&sb);
  sl_builder_release(&sb);
  assert_int_equal(sl_batch_make(&s, cols, 4, &b, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "utf8"));
  /* A good one, sliced. */
  cols[0] = int_column(4, 0);
  cols[1] = int_column(4, 100);
  assert_int_equal(sl_batch_make(&s, cols, 4, &b, &err), 0);
  assert_int_equal(sl_batch_validate(b, &err), 0);
  struct sl_batch *sl = NULL;
  assert_int_equal(sl_batch_slice(b, 1, 2, &sl, &err), 0);
  assert_int_equal(sl->length, 2);
  assert_int_equal(sl_array_i64(sl->columns[1])[0], 101);
  assert_int_equal(sl_array_i64(sl->columns[0])[1], 2);
  assert_int_equal(sl_batch_validate(sl, &err), 0);
  sl_batch_free(sl);
  assert_int_equal(sl_batch_slice(b, 3, 2, &sl, &err), SL_ERANGE);
  assert_null(sl);
  sl_batch_free(b);
  sl_schema_release(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_types, setup, teardown),
      cmocka_unit_test_setup_teardown(test_int32_with_nulls, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bool_and_float, setup, teardown),
      cmocka_unit_test_setup_teardown(test_temporal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_null_type, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
      cmocka_unit_test_setup_teardown(test_utf8_offset_overflow_guard, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_struct, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dictionary, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_values_and_slices, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
