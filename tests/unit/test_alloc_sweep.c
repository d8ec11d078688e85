/* Allocation-failure sweep over the columnar core: a workload that builds
 * every type, finishes, slices, exports, imports, validates and releases is
 * run with the n-th allocation failing (and every one after it), for n = 1,
 * 2, ... until the workload succeeds. Every run must fail cleanly (a status,
 * no crash) and leave no block behind (sl_alloc_live back where it was).
 * Run under ASan+UBSan too (build-asan) to catch use-after-free and double
 * frees on the error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sluice/alloc.h"
#include "sluice/arrow_c.h"
#include "table/arrow_c_internal.h"

/* Every step of a batch's life; returns the first failure. */
static int batch_workload(void) {
  struct sl_error err = {0};
  struct sl_batch *b = NULL, *s = NULL, *back = NULL;
  struct ArrowArray arr = {0};
  struct ArrowSchema sch = {0};
  int rc = sl_testdata_batch(2, 3, 70, -1, 0, &b, &err);
  if (!rc) rc = sl_batch_slice(b, 9, 50, &s, &err);
  if (!rc) rc = sl_export_batch(s, &arr, &sch, &err);
  if (!rc) rc = sl_import_batch(&arr, &sch, &back, &err);
  if (!rc) rc = sl_batch_validate(back, &err);
  if (!rc && back->length != 50) rc = SL_EINVAL;
  /* After a successful import the array was taken over; on failure too. */
  assert_null(arr.release);
  if (sch.release) sch.release(&sch);
  sl_batch_free(back);
  sl_batch_free(s);
  sl_batch_free(b);
  if (rc) assert_true(err.code != 0 || rc == SL_ENOMEM);
  return rc;
}

/* A struct column exported, its first child moved out and released after
 * the parent (the specification's "moving child arrays"), then imported. */
static int column_workload(void) {
  struct sl_error err = {0};
  struct sl_batch *b = NULL;
  struct sl_array *a = NULL;
  struct sl_field f = {0};
  struct ArrowArray arr = {0}, moved = {0};
  struct ArrowSchema sch = {0};
  int rc = sl_testdata_batch(1, 0, 40, -1, 0, &b, &err);
  if (!rc) rc = sl_export_array(b->columns[2], &arr, &err); /* geo struct */
  if (!rc) rc = sl_export_field(&b->schema.fields[2], &sch, &err);
  if (!rc) {
    moved = *arr.children[0]; /* geo.city */
    arr.children[0]->release = NULL;
  }
  sl_batch_free(b);
  if (arr.release) arr.release(&arr); /* the parent goes first */
  if (!rc) rc = sl_import_field(sch.children[0], &f, &err);
  if (!rc) rc = sl_import_array(&moved, &f, &a, &err);
  if (!rc && (a->length != 40 || a->type != SL_TYPE_UTF8)) rc = SL_EINVAL;
  sl_field_release(&f);
  if (moved.release) moved.release(&moved);
  if (sch.release) sch.release(&sch);
  sl_array_release(a);
  return rc;
}

/* The stream path: a reader exported as a stream, imported back, drained. */
struct list_reader {
  struct sl_schema schema;
  int left;
};
static const struct sl_schema *lr_schema(struct sl_batch_reader *r) {
  return &((struct list_reader *)r->private_data)->schema;
}
static int lr_next(struct sl_batch_reader *r, struct sl_batch **out,
                   struct sl_error *err) {
  struct list_reader *l = r->private_data;
  *out = NULL;
  if (l->left == 0) return 0;
  l->left--;
  return sl_testdata_batch(2, l->left * 10, 12, -1, 0, out, err);
}
static void lr_release(struct sl_batch_reader *r) {
  struct list_reader *l = r->private_data;
  sl_schema_release(&l->schema);
  sl_free(l);
  sl_free(r);
}

static int stream_workload(void) {
  struct sl_error err = {0};
  struct sl_batch *probe = NULL;
  int rc = sl_testdata_batch(2, 0, 0, -1, 0, &probe, &err);
  if (rc) return rc;
  struct list_reader *l = sl_calloc(1, sizeof *l);
  struct sl_batch_reader *r = sl_calloc(1, sizeof *r);
  if (!l || !r) rc = SL_ENOMEM;
  if (!rc) rc = sl_schema_copy(&l->schema, &probe->schema);
  sl_batch_free(probe);
  if (rc) {
    sl_free(l);
    sl_free(r);
    return rc;
  }
  l->left = 3;
  r->schema = lr_schema;
  r->next = lr_next;
  r->release = lr_release;
  r->private_data = l;
  struct ArrowArrayStream st;
  rc = sl_export_stream(r, &st, &err);
  if (rc) return rc;
  struct sl_batch_reader *in = NULL;
  rc = sl_import_stream(&st, &in, &err);
  if (rc) return rc;
  int batches = 0;
  for (;;) {
    struct sl_batch *b = NULL;
    rc = in->next(in, &b, &err);
    if (rc || !b) break;
    batches++;
    sl_batch_free(b);
  }
  in->release(in);
  if (!rc && batches != 3) rc = SL_EINVAL;
  return rc;
}

static void sweep(int (*workload)(void), const char *name) {
  int64_t start = sl_alloc_live();
  int64_t n;
  int failures = 0;
  for (n = 1; n < 200000; n++) {
    sl_alloc_fail_after(n, 1);
    int rc = workload();
    sl_alloc_fail_after(0, 0);
    if (sl_alloc_live() != start)
      fail_msg("%s: %lld blocks leaked when allocation %lld failed (rc %d)",
               name, (long long)(sl_alloc_live() - start), (long long)n, rc);
    if (rc == 0) break;
    failures++;
  }
  assert_true(n < 200000);
  /* The workload allocates plenty, so many failure points were exercised. */
  assert_true(failures > 50);
  printf("%s: %d injected failure points, succeeded at allocation %lld\n", name,
         failures, (long long)n);
  /* And once more without injection, for good measure. */
  assert_int_equal(workload(), 0);
  assert_int_equal(sl_alloc_live(), start);
}

static void test_sweep_batch(void **state) {
  (void)state;
  sweep(batch_workload, "batch build/slice/export/import");
}

static void test_sweep_column(void **state) {
  (void)state;
  sweep(column_workload, "column export/move/import");
}

static void test_sweep_stream(void **state) {
  (void)state;
  sweep(stream_workload, "stream export/import");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sweep_batch),
      cmocka_unit_test(test_sweep_column),
      cmocka_unit_test(test_sweep_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
