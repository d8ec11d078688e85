/* sluice check: validate a function spec without running it. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "sluice/runtime.h"

int sl_cmd_check(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--describe")) {
    sl_spec_describe(stdout);
    return 0;
  }
  if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fprintf(argc == 2 ? stdout : stderr,
            "usage: sluice check function.yaml\n"
            "       sluice check --describe   (reference of every key)\n"
            "Validates the spec strictly (unknown keys, types, ranges,\n"
            "${ENV} substitution) and prints a summary; exit 0 when valid,\n"
            "1 with file:line:column: message when not.\n");
    return argc == 2 ? 0 : 2;
  }
  struct sl_spec *spec = NULL;
  struct sl_error err = {0};
  if (sl_spec_load_file(argv[1], &spec, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  sl_spec_summary(spec, stdout);
  printf("%s: valid\n", argv[1]);
  sl_spec_free(spec);
  return 0;
}
