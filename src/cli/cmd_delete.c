/* sluice delete: removes a deployed function (like `nuctl delete
 * function`): every object labelled sluice.dev/function=<name>. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "runtime/deploy/deploy.h"

static void usage(FILE *f) {
  fprintf(f, "usage: sluice delete [function] NAME [--namespace NS] "
             "[--dry-run]\n"
             "Deletes the function's KEDA ScaledObject, autoscaler, "
             "PodDisruptionBudget,\nService, Deployment and ConfigMap (pods "
             "drain within their grace period).\n--dry-run prints the kubectl "
             "commands instead.\n");
}

static bool dns_label(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-') return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '-'))
      return false;
  return true;
}

int sl_cmd_delete(int argc, char **argv) {
  static const struct option opts[] = {{"namespace", required_argument, 0, 'n'},
                                       {"dry-run", no_argument, 0, 'd'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *ns = NULL;
  bool dry = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
    switch (c) {
    case 'n': ns = optarg; break;
    case 'd': dry = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  int i = optind;
  if (i < argc && (!strcmp(argv[i], "function") || !strcmp(argv[i], "fn"))) i++;
  if (i != argc - 1) {
    usage(stderr);
    return 2;
  }
  const char *name = argv[i];
  if (!dns_label(name)) {
    fprintf(stderr,
            "sluice delete: expected a function name (lower-case "
            "letters, digits, '-'), found '%s'\n",
            name);
    return 2;
  }
  if (!dry && !sl__exec_on_path("kubectl")) {
    fprintf(stderr, "sluice delete: kubectl is not on PATH (sluice deletes "
                    "through it); --dry-run prints the commands\n");
    return 1;
  }
  char sel[300];
  snprintf(sel, sizeof sel, "sluice.dev/function=%s", name);
  /* The ScaledObject first, so KEDA stops scaling before the Deployment
   * goes; it exists only where KEDA is installed. */
  char *keda[16] = {"kubectl", "delete", "scaledobjects.keda.sh",
                    "-l",      sel,      "--ignore-not-found"};
  char *core[16] = {"kubectl",
                    "delete",
                    "horizontalpodautoscaler,poddisruptionbudget,service,"
                    "deployment,configmap",
                    "-l",
                    sel,
                    "--ignore-not-found"};
  int n = 6;
  if (ns) {
    keda[n] = core[n] = "-n";
    keda[n + 1] = core[n + 1] = (char *)ns;
    n += 2;
  }
  keda[n] = core[n] = NULL;
  if (dry) {
    sl__exec_print(stdout, "", keda);
    sl__exec_print(stdout, "", core);
    return 0;
  }
  char *probe[] = {"kubectl", "get", "crd", "scaledobjects.keda.sh", NULL};
  if (sl__exec_run(probe, true) == 0 && sl__exec_run(keda, false)) return 1;
  return sl__exec_run(core, false) ? 1 : 0;
}
