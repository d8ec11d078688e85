/* Unit tests of the Arrow C Data / Stream Interface: export layout against
 * the specification (formats, buffer counts, hand-computed buffer contents),
 * C-side round trips, and every kind of bad input on import, built by hand
 * as a hostile producer would: each must be rejected with an error naming
 * what and where, and the producer's release must run exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/alloc.h"
#include "sluice/arrow_c.h"
#include "sluice/thread_pool.h"
#include "table/arrow_c_internal.h"

/* ---- a hand-built producer ---------------------------------------------- */

static int releases; /* how many times the producer's root release ran */

static void child_release(struct ArrowArray *a) {
  a->release = NULL;
}
static void root_release(struct ArrowArray *a) {
  releases++;
  a->release = NULL;
}
static void schema_release(struct ArrowSchema *s) {
  s->release = NULL;
}

/* A producer node: up to 3 buffers and 4 children, all static storage. */
struct node {
  struct ArrowArray a;
  const void *bufs[3];
  struct ArrowArray *kids[4];
};

static void node_init(struct node *n, int64_t length, int64_t n_buffers,
                      const void *b0, const void *b1, const void *b2) {
  memset(n, 0, sizeof *n);
  n->a.length = length;
  n->a.n_buffers = n_buffers;
  n->bufs[0] = b0;
  n->bufs[1] = b1;
  n->bufs[2] = b2;
  n->a.buffers = n->bufs;
  n->a.children = n->kids;
  n->a.release = child_release;
}

static void node_child(struct node *parent, struct node *child) {
  parent->kids[parent->a.n_children++] = &child->a;
}

struct snode {
  struct ArrowSchema s;
  struct ArrowSchema *kids[4];
};

static void snode_init(struct snode *n, const char *format, const char *name) {
  memset(n, 0, sizeof *n);
  n->s.format = format;
  n->s.name = name;
  n->s.flags = ARROW_FLAG_NULLABLE;
  n->s.children = n->kids;
  n->s.release = schema_release;
}

static void snode_child(struct snode *parent, struct snode *child) {
  parent->kids[parent->s.n_children++] = &child->s;
}

/* Imports `root` as field f; expects failure with `code` and every needle
 * in the message, and the producer released exactly once. */
static void expect_reject(struct ArrowArray *root, const struct sl_field *f,
                          int code, const char *needle1, const char *needle2) {
  struct sl_error err = {0};
  struct sl_array *out = NULL;
  int64_t live = sl_alloc_live();
  releases = 0;
  root->release = root_release;
  int rc = sl_import_array(root, f, &out, &err);
  if (rc == 0 || (code && rc != code) || !strstr(err.msg, needle1) ||
      (needle2 && !strstr(err.msg, needle2)))
    fail_msg("expected an error with '%s' and '%s', got rc %d: %s", needle1,
             needle2 ? needle2 : "", rc, err.msg);
  assert_null(out);
  assert_int_equal(releases, 1);
  assert_null(root->release);
  assert_int_equal(sl_alloc_live(), live);
}

static struct sl_field mkfield(const char *name, enum sl_type_id t) {
  struct sl_field f = {.name = (char *)name, .type = t, .nullable = true};
  return f;
}

static const int64_t i64s[6] = {10, 20, 30, 40, 50, 60};
static const int32_t offs_ok[4] = {0, 1, 3, 6};
static const char chars[] = "abcdef";

/* ---- bad input ---------------------------------------------------------- */

static void test_missing_release(void **state) {
  (void)state;
  struct node n;
  node_init(&n, 6, 2, NULL, i64s, NULL);
  n.a.release = NULL;
  struct sl_field f = mkfield("x", SL_TYPE_INT64);
  struct sl_error err = {0};
  struct sl_array *out = NULL;
  assert_int_equal(sl_import_array(&n.a, &f, &out, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "released"));
  assert_null(out);
}

static void test_bad_headers(void **state) {
  (void)state;
  struct sl_field f = mkfield("x", SL_TYPE_INT64);
  struct node n;
  node_init(&n, -1, 2, NULL, i64s, NULL);
  expect_reject(&n.a, &f, SL_EINVAL, "column 'x'", "length >= 0, found -1");
  node_init(&n, 2, 2, NULL, i64s, NULL);
  n.a.offset = -5;
  expect_reject(&n.a, &f, SL_EINVAL, "column 'x'", "offset >= 0, found -5");
  node_init(&n, INT64_MAX - 2, 2, NULL, i64s, NULL);
  n.a.offset = 10;
  expect_reject(&n.a, &f, SL_EOVERFLOW, "column 'x'", "too large");
  node_init(&n, 6, 3, NULL, i64s, NULL);
  expect_reject(&n.a, &f, SL_EINVAL, "column 'x'", "2 buffers, found 3");
  node_init(&n, 6, 1, NULL, i64s, NULL);
  expect_reject(&n.a, &f, SL_EINVAL, "2 buffers, found 1", NULL);
  node_init(&n, 6, 2, NULL, NULL, NULL);
  expect_reject(&n.a, &f, SL_EINVAL, "data buffer is NULL", NULL);
  node_init(&n, 6, 2, NULL, i64s, NULL);
  n.a.buffers = NULL;
  expect_reject(&n.a, &f, SL_EINVAL, "buffers is NULL", NULL);
  node_init(&n, 6, 2, NULL, i64s, NULL);
  n.a.null_count = 7;
  expect_reject(&n.a, &f, SL_EINVAL, "null count", NULL);
  node_init(&n, 6, 2, NULL, i64s, NULL);
  n.a.null_count = 2; /* but no validity bitmap */
  expect_reject(&n.a, &f, SL_EINVAL, "no validity bitmap", NULL);
  static const uint8_t bits = 0x3D; /* 0b111101: one null in 6 */
  node_init(&n, 6, 2, &bits, i64s, NULL);
  n.a.null_count = 3;
  expect_reject(&n.a, &f, SL_EINVAL, "null count says 3",
                "validity bitmap has 1 nulls");
  node_init(&n, 6, 2, NULL, i64s, NULL);
  struct node kid;
  node_init(&kid, 6, 2, NULL, i64s, NULL);
  node_child(&n, &kid);
  expect_reject(&n.a, &f, SL_EINVAL, "0 children, found 1", NULL);
  node_init(&n, 6, 2, NULL, i64s, NULL);
  n.a.dictionary = &kid.a;
  expect_reject(&n.a, &f, SL_EINVAL, "must not have a dictionary", NULL);
  /* And a good one, to show the same producer otherwise works. */
  node_init(&n, 6, 2, &bits, i64s, NULL);
  n.a.null_count = 1;
  n.a.release = root_release;
  releases = 0;
  struct sl_array *a = NULL;
  assert_int_equal(sl_import_array(&n.a, &f, &a, NULL), 0);
  assert_ptr_equal(a->data->data, i64s); /* zero-copy */
  assert_false(sl_array_is_valid(a, 1));
  assert_int_equal(sl_array_i64(a)[5], 60);
  assert_int_equal(releases, 0);
  sl_array_release(a);
  assert_int_equal(releases, 1);
}

static void test_bad_offsets(void **state) {
  (void)state;
  struct sl_field f = mkfield("s", SL_TYPE_UTF8);
  struct node n;
  static const int32_t neg[4] = {-2, 1, 3, 6};
  node_init(&n, 3, 3, NULL, neg, chars);
  expect_reject(&n.a, &f, SL_EINVAL, "column 's'", "offsets >= 0, found -2");
  static const int32_t down[4] = {0, 4, 2, 6};
  node_init(&n, 3, 3, NULL, down, chars);
  expect_reject(&n.a, &f, SL_EINVAL, "non-decreasing offsets, found 2 after 4",
                "at index 2");
  node_init(&n, 3, 3, NULL, NULL, chars);
  expect_reject(&n.a, &f, SL_EINVAL, "offsets buffer is NULL", NULL);
  node_init(&n, 3, 3, NULL, offs_ok, NULL);
  expect_reject(&n.a, &f, SL_EINVAL, "data buffer is NULL", NULL);
  static const char bad_utf8[] = "a\xc3(def";
  node_init(&n, 3, 3, NULL, offs_ok, bad_utf8);
  expect_reject(&n.a, &f, SL_EINVAL, "invalid UTF-8 at byte 1", NULL);
  static const char split[] = "\xc3\xa9\xc3\xa9xx";
  node_init(&n, 3, 3, NULL, offs_ok, split); /* string 1 starts inside é */
  expect_reject(&n.a, &f, SL_EINVAL, "starts inside a UTF-8 character", NULL);

  /* list<int64>: the last offset must stay inside the child. */
  struct sl_field item = mkfield("item", SL_TYPE_INT64);
  struct sl_field lf = mkfield("l", SL_TYPE_LIST);
  lf.n_children = 1;
  lf.children = &item;
  static const int32_t past[3] = {0, 2, 9};
  struct node kid;
  node_init(&n, 2, 2, NULL, past, NULL);
  node_init(&kid, 6, 2, NULL, i64s, NULL);
  node_child(&n, &kid);
  expect_reject(&n.a, &lf, SL_EINVAL, "column 'l'",
                "last offset 9 is past the end of the child array (6)");
  node_init(&n, 2, 2, NULL, offs_ok, NULL);
  expect_reject(&n.a, &lf, SL_EINVAL, "list array has 1 children, found 0",
                NULL);
}

/* struct geo { city: utf8, n: list<dict<int32, utf8>> } with one flaw at a
 * time, deep inside: every message names the path. */
static void test_nested_paths(void **state) {
  (void)state;
  struct sl_field dict_item = mkfield("item", SL_TYPE_DICT_UTF8);
  struct sl_field kids[2] = {mkfield("city", SL_TYPE_UTF8),
                             mkfield("tags", SL_TYPE_LIST)};
  kids[1].n_children = 1;
  kids[1].children = &dict_item;
  struct sl_field geo = mkfield("geo", SL_TYPE_STRUCT);
  geo.n_children = 2;
  geo.children = kids;

  static const int32_t loffs[4] = {0, 1, 1, 3};
  static const int32_t idx_ok[3] = {0, 1, 0};
  static const int32_t idx_bad[3] = {0, 5, 0};
  static const int32_t doffs[3] = {0, 2, 5};
  struct node root, city, tags, item, dict;
  for (int round = 0; round < 5; round++) {
    node_init(&root, 3, 1, NULL, NULL, NULL);
    node_init(&city, 3, 3, NULL, offs_ok, chars);
    node_init(&tags, 3, 2, NULL, loffs, NULL);
    node_init(&item, 3, 2, NULL, round == 1 ? idx_bad : idx_ok, NULL);
    node_init(&dict, 2, 3, NULL, doffs, "abcde");
    node_child(&root, &city);
    node_child(&root, &tags);
    node_child(&tags, &item);
    item.a.dictionary = &dict.a;
    switch (round) {
    case 0: { /* all good */
      struct sl_array *a = NULL;
      struct sl_error err = {0};
      root.a.release = root_release;
      releases = 0;
      int rc = sl_import_array(&root.a, &geo, &a, &err);
      if (rc) fail_msg("%s", err.msg);
      int64_t len;
      const char *s = sl_array_str(a->children[1]->children[0], 2, &len);
      assert_int_equal(len, 2);
      assert_memory_equal(s, "ab", 2);
      sl_array_release(a);
      assert_int_equal(releases, 1);
      break;
    }
    case 1:
      expect_reject(&root.a, &geo, SL_EINVAL,
                    "column 'geo' child 'tags' child 'item'",
                    "dictionary index 5 at row 1 is out of range");
      break;
    case 2:
      city.a.release = NULL; /* a released child */
      expect_reject(&root.a, &geo, SL_EINVAL, "column 'geo' child 'city'",
                    "released");
      break;
    case 3:
      item.a.dictionary = NULL;
      expect_reject(&root.a, &geo, SL_EINVAL,
                    "column 'geo' child 'tags' child 'item'",
                    "without a dictionary");
      break;
    case 4:
      root.a.n_children = 1;
      expect_reject(&root.a, &geo, SL_EINVAL, "column 'geo'",
                    "2 children, found 1");
      break;
    }
  }
}

static void test_bad_schemas(void **state) {
  (void)state;
  static const struct {
    const char *format;
    int code;
    const char *needle;
  } cases[] = {
      {"", SL_EINVAL, "malformed format string"},
      {"q", SL_EINVAL, "unknown format string 'q'"},
      {"c", SL_ENOTSUP, "format 'c' is not supported"},
      {"tsm", SL_EINVAL, "malformed timestamp format"},
      {"tsx:UTC", SL_EINVAL, "malformed timestamp format"},
      {"tss:UTC", SL_ENOTSUP, "unit"},
      {"tsm:", SL_ENOTSUP, "time zone"},
      {"tsu:Europe/Paris", SL_ENOTSUP, "time zone"},
      {"+L", SL_ENOTSUP, "'+L' is not supported"},
      {"w:16", SL_ENOTSUP, "not supported"},
      {"ix", SL_EINVAL, "unknown format string 'ix'"},
      {NULL, SL_EINVAL, "format string is missing"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct snode n;
    snode_init(&n, cases[i].format, "geo");
    struct sl_field f;
    struct sl_error err = {0};
    int rc = sl_import_field(&n.s, &f, &err);
    if (rc != cases[i].code || !strstr(err.msg, cases[i].needle) ||
        !strstr(err.msg, "field 'geo'"))
      fail_msg("format '%s': rc %d, message: %s",
               cases[i].format ? cases[i].format : "(NULL)", rc, err.msg);
  }
  /* Children counts, released children, dictionaries, in a batch schema. */
  struct snode root, geo, city, lst;
  struct sl_schema s;
  struct sl_error err = {0};
  snode_init(&root, "+s", "");
  snode_init(&geo, "+s", "geo");
  snode_init(&city, "u", "city");
  snode_init(&lst, "+l", "tags");
  snode_child(&root, &geo);
  snode_child(&geo, &city);
  snode_child(&geo, &lst);
  assert_int_equal(sl_import_schema(&root.s, &s, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "column 'geo' child 'tags'"));
  assert_non_null(strstr(err.msg, "expects 1 children, found 0"));
  struct snode item;
  snode_init(&item, "l", "item");
  snode_child(&lst, &item);
  city.s.release = NULL;
  assert_int_equal(sl_import_schema(&root.s, &s, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "column 'geo' child 'city'"));
  assert_non_null(strstr(err.msg, "released"));
  city.s.release = schema_release;
  struct snode dict;
  snode_init(&dict, "l", "");
  city.s.format = "i";
  city.s.dictionary = &dict.s;
  assert_int_equal(sl_import_schema(&root.s, &s, &err), SL_ENOTSUP);
  assert_non_null(strstr(err.msg, "column 'geo' child 'city' dictionary"));
  dict.s.format = "u";
  city.s.format = "l";
  assert_int_equal(sl_import_schema(&root.s, &s, &err), SL_ENOTSUP);
  assert_non_null(strstr(err.msg, "index format 'l'"));
  city.s.format = "i";
  assert_int_equal(sl_import_schema(&root.s, &s, &err), 0);
  assert_int_equal(s.fields[0].children[0].type, SL_TYPE_DICT_UTF8);
  assert_int_equal(s.fields[0].children[1].type, SL_TYPE_LIST);
  assert_int_equal(s.fields[0].children[1].children[0].type, SL_TYPE_INT64);
  sl_schema_release(&s);
  root.s.format = "+l";
  assert_int_equal(sl_import_schema(&root.s, &s, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "expected a struct format"));
}

static void test_deep_nesting_rejected(void **state) {
  (void)state;
  enum { DEPTH = 100 };
  static struct snode nodes[DEPTH];
  for (int i = 0; i < DEPTH; i++)
    snode_init(&nodes[i], i == DEPTH - 1 ? "l" : "+l", "item");
  for (int i = 0; i + 1 < DEPTH; i++)
    snode_child(&nodes[i], &nodes[i + 1]);
  struct sl_field f;
  struct sl_error err = {0};
  assert_int_equal(sl_import_field(&nodes[0].s, &f, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "nesting deeper"));
}

/* ---- export layout ------------------------------------------------------ */

static void test_export_layout(void **state) {
  (void)state;
  struct sl_error err = {0};
  struct sl_batch *b = NULL;
  assert_int_equal(sl_testdata_batch(2, 0, 12, 2, 9, &b, &err), 0);
  struct ArrowArray arr;
  struct ArrowSchema sch;
  assert_int_equal(sl_export_batch(b, &arr, &sch, &err), 0);
  assert_string_equal(sch.format, "+s");
  assert_int_equal(sch.n_children, 16);
  assert_int_equal(arr.length, 9);
  assert_int_equal(arr.n_buffers, 1);
  assert_null(arr.buffers[0]);
  static const char *const formats[16] = {
      "n",       "b",   "i", "l",  "g",  "u",  "U",  "tsm:UTC",
      "tsu:UTC", "tdD", "i", "+l", "+l", "+s", "+l", "+s"};
  static const int64_t n_buffers[16] = {0, 2, 2, 2, 2, 3, 3, 2,
                                        2, 2, 2, 2, 2, 1, 2, 1};
  for (int i = 0; i < 16; i++) {
    assert_string_equal(sch.children[i]->format, formats[i]);
    assert_string_equal(sch.children[i]->name, b->schema.fields[i].name);
    assert_int_equal(sch.children[i]->flags, ARROW_FLAG_NULLABLE);
    assert_int_equal(arr.children[i]->n_buffers, n_buffers[i]);
    assert_int_equal(arr.children[i]->length, 9);
    assert_int_equal(arr.children[i]->offset, 2); /* slices keep offsets */
  }
  /* The null column: all null, no buffers. */
  assert_int_equal(arr.children[0]->null_count, 9);
  /* i32 rows 2..10: null where g%5==0 (g = 5, 10): 2 nulls. */
  assert_int_equal(arr.children[2]->null_count, 2);
  const int32_t *i32 = arr.children[2]->buffers[1];
  assert_int_equal(i32[2], INT32_MAX); /* g == 2 */
  assert_int_equal(i32[3], 7 * 3 - 300);
  /* dict: index format i with a utf8 dictionary. */
  assert_non_null(sch.children[10]->dictionary);
  assert_string_equal(sch.children[10]->dictionary->format, "u");
  assert_non_null(arr.children[10]->dictionary);
  assert_int_equal(arr.children[10]->dictionary->length, 4);
  /* Schema metadata: int32 count, then length-prefixed key and value. */
  int32_t n, kl, vl;
  memcpy(&n, sch.metadata, 4);
  memcpy(&kl, sch.metadata + 4, 4);
  memcpy(&vl, sch.metadata + 8 + kl, 4);
  assert_int_equal(n, 1);
  assert_int_equal(kl, 6);
  assert_memory_equal(sch.metadata + 8, "source", 6);
  assert_int_equal(vl, 15);
  assert_memory_equal(sch.metadata + 12 + kl, "sluice-testdata", 15);

  /* Move one column out, free the batch and the parent: the column lives. */
  struct ArrowArray s_col = *arr.children[5];
  arr.children[5]->release = NULL;
  sl_batch_free(b);
  arr.release(&arr);
  assert_null(arr.release);
  const int32_t *offs = s_col.buffers[1];
  const char *chars_ = s_col.buffers[2];
  /* Row g = 4: "row4-é" + "xxxx". */
  assert_memory_equal(chars_ + offs[2 + 2], "row4-\xc3\xa9xxxx", 11);
  s_col.release(&s_col);
  sch.release(&sch);
  assert_null(sch.release);
}

/* Element-wise equality of two arrays of the same field. */
static bool value_equal(const struct sl_array *a, int64_t i,
                        const struct sl_array *b, int64_t j) {
  bool va = sl_array_is_valid(a, i), vb = sl_array_is_valid(b, j);
  if (va != vb || a->type != b->type) return false;
  if (!va) return true;
  int64_t la, lb, sa, sb;
  switch (a->type) {
  case SL_TYPE_BOOL: return sl_array_bool(a, i) == sl_array_bool(b, j);
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32: return sl_array_i32(a)[i] == sl_array_i32(b)[j];
  case SL_TYPE_INT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US:
  case SL_TYPE_FLOAT64: /* compared bitwise */
    return sl_array_i64(a)[i] == sl_array_i64(b)[j];
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
  case SL_TYPE_DICT_UTF8: {
    const char *x = sl_array_str(a, i, &la), *y = sl_array_str(b, j, &lb);
    return la == lb && memcmp(x, y, (size_t)la) == 0;
  }
  case SL_TYPE_LIST:
    sl_array_list_range(a, i, &sa, &la);
    sl_array_list_range(b, j, &sb, &lb);
    if (la != lb) return false;
    for (int64_t k = 0; k < la; k++)
      if (!value_equal(a->children[0], sa + k, b->children[0], sb + k))
        return false;
    return true;
  case SL_TYPE_STRUCT:
    for (int32_t c = 0; c < a->n_children; c++)
      if (!value_equal(a->children[c], a->offset + i, b->children[c],
                       b->offset + j))
        return false;
    return true;
  default: return true;
  }
}

static void test_c_roundtrip(void **state) {
  (void)state;
  int64_t live = sl_alloc_live();
  struct sl_error err = {0};
  struct sl_batch *b = NULL, *s = NULL, *back = NULL;
  assert_int_equal(sl_testdata_batch(2, 0, 200, -1, 0, &b, &err), 0);
  assert_int_equal(sl_batch_slice(b, 37, 101, &s, &err), 0);
  struct ArrowArray arr;
  struct ArrowSchema sch;
  assert_int_equal(sl_export_batch(s, &arr, &sch, &err), 0);
  int rc = sl_import_batch(&arr, &sch, &back, &err);
  if (rc) fail_msg("%s", err.msg);
  sch.release(&sch);
  assert_int_equal(back->length, 101);
  assert_int_equal(back->n_columns, s->n_columns);
  assert_int_equal(back->schema.n_metadata, 1);
  for (int32_t c = 0; c < s->n_columns; c++) {
    assert_true(sl_field_equal(&back->schema.fields[c], &s->schema.fields[c]));
    /* zero-copy both ways: the same memory comes back */
    if (s->columns[c]->data)
      assert_ptr_equal(back->columns[c]->data->data, s->columns[c]->data->data);
    for (int64_t i = 0; i < 101; i++)
      if (!value_equal(back->columns[c], i, s->columns[c], i))
        fail_msg("column %s row %lld differs", s->schema.fields[c].name,
                 (long long)i);
  }
  /* The import keeps the sluice export (and so the original batch's
   * buffers) alive after the original is gone. */
  sl_batch_free(s);
  sl_batch_free(b);
  int64_t len;
  assert_false(sl_array_is_valid(back->columns[5], 1));      /* g = 38: null */
  const char *str = sl_array_str(back->columns[5], 2, &len); /* g = 39 */
  assert_int_equal(len, 12);
  assert_memory_equal(str, "row39-\xc3\xa9xxxx", 12);
  sl_batch_free(back);
  assert_int_equal(sl_alloc_live(), live);
}

/* ---- validation of sluice-built arrays and UTF-8 ------------------------- */

static void test_validate_built_arrays(void **state) {
  (void)state;
  struct sl_field f = mkfield("s", SL_TYPE_UTF8);
  struct sl_builder b;
  struct sl_array *a = NULL;
  struct sl_error err = {0};
  assert_int_equal(sl_builder_init(&b, &f), 0);
  assert_int_equal(sl_builder_append_str(&b, "abc", 3), 0);
  assert_int_equal(sl_builder_append_null(&b), 0);
  assert_int_equal(sl_builder_append_str(&b, "de", 2), 0);
  assert_int_equal(sl_builder_finish(&b, &a), 0);
  sl_builder_release(&b);
  assert_int_equal(sl_array_validate(a, &f, true, &err), 0);
  /* Corrupt the last offset past the data. */
  int32_t *o = (int32_t *)a->offsets->data;
  o[3] = 99;
  assert_int_equal(sl_array_validate(a, &f, true, &err), SL_EINVAL);
  assert_non_null(
      strstr(err.msg, "column 's': last offset 99 is past the end"));
  o[3] = 5;
  /* The wrong field type. */
  struct sl_field g = mkfield("s", SL_TYPE_INT64);
  assert_int_equal(sl_array_validate(a, &g, true, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "expected type int64, found utf8"));
  /* A too-short data buffer for a fixed-width array. */
  struct sl_array *x = NULL;
  assert_int_equal(sl_array_new(SL_TYPE_INT64, &x), 0);
  x->length = 4;
  assert_int_equal(sl_buffer_new(16, &x->data), 0);
  assert_int_equal(sl_array_validate(x, NULL, false, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "at least 32 bytes, found 16"));
  sl_array_release(x);
  /* Batch: a column of the wrong length. */
  struct sl_schema s;
  sl_schema_init(&s);
  assert_int_equal(sl_schema_add_field(&s, &f), 0);
  struct sl_batch *batch = NULL;
  struct sl_array *cols[1] = {a};
  assert_int_equal(sl_batch_make(&s, cols, 3, &batch, &err), 0);
  assert_int_equal(sl_batch_validate(batch, &err), 0);
  batch->length = 2;
  assert_int_equal(sl_batch_validate(batch, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "column 's': expected 2 rows"));
  sl_batch_free(batch);
  sl_schema_release(&s);
}

static void test_utf8(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t n;
    bool ok;
    int64_t bad;
  } cases[] = {
      {"plain ascii, longer than eight bytes", 36, true, 0},
      {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, true, 0}, /* é € 😀 */
      {"\xf4\x8f\xbf\xbf", 4, true, 0},                     /* U+10FFFF */
      {"abc\xc0\xaf", 5, false, 3},                         /* overlong / */
      {"\xe0\x80\xaf", 3, false, 0},                        /* overlong */
      {"\xed\xa0\x80", 3, false, 0},                        /* surrogate */
      {"\xf4\x90\x80\x80", 4, false, 0},                    /* > U+10FFFF */
      {"abcdefgh\xe2\x82", 10, false, 8},                   /* truncated */
      {"\x80", 1, false, 0},                                /* lone cont. */
      {"\xff", 1, false, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t bad = -1;
    bool ok =
        sl__utf8_valid((const uint8_t *)cases[i].s, (int64_t)cases[i].n, &bad);
    if (ok != cases[i].ok) fail_msg("case %zu: expected %d", i, cases[i].ok);
    if (!ok) assert_int_equal(bad, cases[i].bad);
  }
}

/* ---- streams ------------------------------------------------------------- */

static int stream_fail_next(struct ArrowArrayStream *st,
                            struct ArrowArray *out) {
  (void)st;
  (void)out;
  return SL_EIO;
}
static const char *stream_fail_error(struct ArrowArrayStream *st) {
  (void)st;
  return "disk on fire";
}
static int stream_schema(struct ArrowArrayStream *st, struct ArrowSchema *out) {
  (void)st;
  struct sl_schema s;
  sl_schema_init(&s);
  struct sl_field f = mkfield("x", SL_TYPE_INT64);
  int rc = sl_schema_add_field(&s, &f);
  if (!rc) rc = sl_export_schema(&s, out, NULL);
  sl_schema_release(&s);
  return rc;
}
static int stream_releases;
static void stream_release(struct ArrowArrayStream *st) {
  stream_releases++;
  st->release = NULL;
}

static void test_stream_errors(void **state) {
  (void)state;
  struct ArrowArrayStream st = {stream_schema, stream_fail_next,
                                stream_fail_error, stream_release, NULL};
  struct sl_batch_reader *r = NULL;
  struct sl_error err = {0};
  stream_releases = 0;
  assert_int_equal(sl_import_stream(&st, &r, &err), 0);
  assert_null(st.release); /* moved into the reader */
  assert_int_equal(r->schema(r)->n_fields, 1);
  struct sl_batch *b = NULL;
  assert_int_equal(r->next(r, &b, &err), SL_EIO);
  assert_non_null(strstr(err.msg, "disk on fire"));
  assert_null(b);
  r->release(r);
  assert_int_equal(stream_releases, 1);
  /* A released stream is refused. */
  assert_int_equal(sl_import_stream(&st, &r, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "released"));
}

/* ---- threads ------------------------------------------------------------ */

/* Many threads export columns of one shared batch at once, import them back
 * and drop them in whatever order they finish: the reference counts of the
 * shared arrays and of the import holders must come out exact. */
static int export_import_task(void *ctx, int64_t i, int worker) {
  (void)worker;
  const struct sl_batch *b = ctx;
  int32_t c = (int32_t)(i % b->n_columns);
  struct ArrowArray arr;
  struct sl_array *back = NULL;
  int rc = sl_export_array(b->columns[c], &arr, NULL);
  if (rc) return rc;
  rc = sl_import_array(&arr, &b->schema.fields[c], &back, NULL);
  if (rc) return rc;
  for (int64_t r = 0; r < back->length; r++)
    if (!value_equal(back, r, b->columns[c], r)) rc = SL_EINVAL;
  sl_array_release(back);
  return rc;
}

static void test_concurrent_export_import(void **state) {
  (void)state;
  int64_t live = sl_alloc_live();
  struct sl_batch *b = NULL, *s = NULL;
  struct sl_pool *pool = NULL;
  assert_int_equal(sl_testdata_batch(2, 0, 300, -1, 0, &b, NULL), 0);
  assert_int_equal(sl_batch_slice(b, 11, 250, &s, NULL), 0);
  sl_batch_free(b);
  assert_int_equal(sl_pool_create(4, &pool, NULL), 0);
  assert_int_equal(sl_pool_parallel_for(pool, 2000, export_import_task, s), 0);
  sl_pool_free(pool);
  for (int32_t c = 0; c < s->n_columns; c++)
    assert_int_equal(s->columns[c]->refs, 1);
  sl_batch_free(s);
  assert_int_equal(sl_alloc_live(), live);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_missing_release),
      cmocka_unit_test(test_bad_headers),
      cmocka_unit_test(test_bad_offsets),
      cmocka_unit_test(test_nested_paths),
      cmocka_unit_test(test_bad_schemas),
      cmocka_unit_test(test_deep_nesting_rejected),
      cmocka_unit_test(test_export_layout),
      cmocka_unit_test(test_c_roundtrip),
      cmocka_unit_test(test_validate_built_arrays),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_stream_errors),
      cmocka_unit_test(test_concurrent_export_import),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
