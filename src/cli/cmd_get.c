/* sluice get: deployed functions, through kubectl (like `nuctl get
 * function`). Every object `sluice deploy` writes carries the label
 * sluice.dev/function=<name>, so the selector finds them all. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "runtime/deploy/deploy.h"

static void usage(FILE *f) {
  fprintf(f, "usage: sluice get [function] [NAME] [--namespace NS | -A] "
             "[-o yaml|json|wide]\n"
             "Without NAME: one line per deployed function (namespace, name, "
             "ready and\nwanted replicas, image). With NAME: every object of "
             "that function\n(Deployment, Service, ConfigMap, autoscaler, "
             "PodDisruptionBudget, pods).\n");
}

int sl_cmd_get(int argc, char **argv) {
  static const struct option opts[] = {{"namespace", required_argument, 0, 'n'},
                                       {"all-namespaces", no_argument, 0, 'A'},
                                       {"output", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *ns = NULL, *out = NULL;
  bool all = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "n:Ao:h", opts, NULL)) != -1) {
    switch (c) {
    case 'n': ns = optarg; break;
    case 'A': all = true; break;
    case 'o': out = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  int i = optind;
  if (i < argc && (!strcmp(argv[i], "function") ||
                   !strcmp(argv[i], "functions") || !strcmp(argv[i], "fn")))
    i++;
  const char *name = i < argc ? argv[i++] : NULL;
  if (i < argc) {
    usage(stderr);
    return 2;
  }
  if (!sl__exec_on_path("kubectl")) {
    fprintf(stderr, "sluice get: kubectl is not on PATH (sluice reads "
                    "deployed functions through it)\n");
    return 1;
  }
  char sel[300];
  char *v[16];
  int n = 0;
  v[n++] = "kubectl";
  v[n++] = "get";
  if (name) {
    snprintf(sel, sizeof sel, "sluice.dev/function=%s", name);
    v[n++] = "deployment,service,configmap,horizontalpodautoscaler,"
             "poddisruptionbudget,pod";
  } else {
    snprintf(sel, sizeof sel, "sluice.dev/function");
    v[n++] = "deployment";
  }
  v[n++] = "-l";
  v[n++] = sel;
  if (all) {
    v[n++] = "--all-namespaces";
  } else if (ns) {
    v[n++] = "-n";
    v[n++] = (char *)ns;
  }
  if (out) {
    v[n++] = "-o";
    v[n++] = (char *)out;
  } else if (!name) {
    v[n++] = "-o";
    v[n++] = "custom-columns=NAMESPACE:.metadata.namespace,"
             "NAME:.metadata.name,READY:.status.readyReplicas,"
             "REPLICAS:.spec.replicas,"
             "IMAGE:.spec.template.spec.containers[0].image";
  }
  v[n] = NULL;
  int rc = sl__exec_run(v, false);
  if (rc || !name) return rc ? 1 : 0;
  /* KEDA's ScaledObject, when KEDA is installed (absent otherwise). */
  v[2] = "scaledobjects.keda.sh";
  char *probe[] = {"kubectl", "get", "crd", "scaledobjects.keda.sh", NULL};
  if (sl__exec_run(probe, true) == 0) rc = sl__exec_run(v, false);
  return rc ? 1 : 0;
}
