/* libFuzzer target: the function spec loader (YAML tree, ${ENV}
 * substitution, config tables, trigger/sink validation) and the cron parser
 * on hostile text. Every input must load or be rejected with an error that
 * names file:line:column; ASan/UBSan watch for everything else. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "runtime/cron.h"
#include "runtime/records.h"
#include "sluice/alloc.h"
#include "sluice/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  struct sl_spec *spec = NULL;
  struct sl_error err = {0};
  if (sl_spec_load_buffer((const char *)data, size, "fuzz.yaml", &spec, &err) ==
      0) {
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) {
      sl_spec_summary(spec, devnull);
      fclose(devnull);
    }
    sl_spec_free(spec);
  } else if (!strstr(err.msg, "fuzz.yaml")) {
    /* Every rejection names the file (and where in it). */
    __builtin_trap();
  }
  /* The same bytes as a cron expression and as an HTTP body. */
  char expr[256];
  size_t n = size < sizeof expr - 1 ? size : sizeof expr - 1;
  memcpy(expr, data, n);
  expr[n] = '\0';
  struct sl_cron c;
  char why[200];
  if (sl__cron_parse(expr, &c, why, sizeof why) == 0)
    (void)sl__cron_next(&c, 1700000000000LL);
  struct sl_text out = {0};
  int64_t recs = 0;
  const char *whyp = NULL;
  sl__split_records((const char *)data, size, &out, &recs, &whyp);
  sl_free(out.p);
  return 0;
}
