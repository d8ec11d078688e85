/* Replays that cut batches at other offsets (runtime/supersede.h): which
 * files of a partition a newly published file removes, checked against
 * hand-made folders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/supersede.h"

#define O20 "%020llu"

static void touch(const char *dir, const char *name) {
  char p[8192];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fclose(f);
}

static int exists(const char *dir, const char *name) {
  char p[8192];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

/* "<prefix>-<src>-<a>-<b><tail>" */
static void fname(char *buf, size_t cap, const char *src, unsigned long long a,
                  unsigned long long b, const char *tail) {
  snprintf(buf, cap, "part-%s-" O20 "-" O20 "%s", src, a, b, tail);
}

static void key(char *buf, size_t cap, const char *src, unsigned long long a,
                unsigned long long b) {
  snprintf(buf, cap, "%s-" O20 "-" O20, src, a, b);
}

static void test_overlapping_files_of_the_same_partition_go(void **state) {
  (void)state;
  char dir[] = "/tmp/sluice-supersede-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char n[16][256];
  /* Earlier run, partition t-3: [100,199] [200,249] [250,400] [401,500]. */
  fname(n[0], 256, "t-3", 100, 199, ".parquet");
  fname(n[1], 256, "t-3", 200, 249, ".parquet");
  fname(n[2], 256, "t-3", 250, 400, ".parquet");
  fname(n[3], 256, "t-3", 401, 500, ".parquet");
  fname(n[4], 256, "t-3", 200, 249, "-1.parquet"); /* 2nd file of a batch */
  /* Other partitions and look-alikes that must stay. */
  fname(n[5], 256, "t-30", 150, 260, ".parquet");    /* partition 30 */
  fname(n[6], 256, "x-t-3", 150, 260, ".parquet");   /* topic x-t */
  fname(n[7], 256, "t-3", 150, 260, ".parquet.tmp"); /* not a result */
  snprintf(n[8], 256, "other-t-3-" O20 "-" O20 ".parquet", 150ULL, 260ULL);
  /* The replay's file [150, 260] itself (just published). */
  fname(n[9], 256, "t-3", 150, 260, ".parquet");
  for (int i = 0; i < 10; i++)
    touch(dir, n[i]);

  char k[128];
  key(k, sizeof k, "t-3", 150, 260);
  /* [100,199] [200,249] [200,249]-1 [250,400] overlap [150,260]. */
  assert_int_equal(sl__supersede_overlapping(dir, "part", k), 4);
  assert_false(exists(dir, n[0]));
  assert_false(exists(dir, n[1]));
  assert_false(exists(dir, n[2]));
  assert_false(exists(dir, n[4]));
  for (int i = 3; i < 10; i++)
    if (i != 4) assert_true(exists(dir, n[i]));

  /* The same range again (a replay with equal boundaries overwrote it):
   * nothing else overlaps now, and a file never removes itself. */
  assert_int_equal(sl__supersede_overlapping(dir, "part", k), 0);
  assert_true(exists(dir, n[9]));

  /* Touching ranges do not overlap: [261, 400] leaves [150,260] and
   * [401,500]. */
  key(k, sizeof k, "t-3", 261, 400);
  assert_int_equal(sl__supersede_overlapping(dir, "part", k), 0);

  /* Not an offsets key: nothing happens. */
  assert_int_equal(sl__supersede_overlapping(dir, "part", "f0123abcd"), 0);
  assert_int_equal(sl__supersede_overlapping(dir, "part", ""), 0);
  /* A missing folder is not an error. */
  assert_int_equal(sl__supersede_overlapping("/nonexistent/sluice", "part", k),
                   0);

  for (int i = 0; i < 10; i++) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", dir, n[i]);
    unlink(p);
  }
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_overlapping_files_of_the_same_partition_go),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
