/* sluice demo: the foundation's main job. Generates sample logs, loads
 * them into Arrow-layout columns and prints a per-column summary. Later
 * issues replace it with a real query pipeline. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

int sl_cmd_demo(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "sluice demo: not available yet\n");
  return 1;
}
