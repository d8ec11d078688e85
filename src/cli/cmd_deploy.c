/* sluice deploy: from function.yaml to a running, autoscaled function on
 * Kubernetes. Renders the image recipe and the objects into a folder; when
 * kubectl is on PATH and a cluster answers, builds and pushes the image
 * (docker, podman or buildah) and applies the objects; otherwise prints the
 * exact commands to finish by hand. See docs/deploy.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "runtime/deploy/deploy.h"
#include "sluice/alloc.h"

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: sluice deploy function.yaml [--namespace NS] [--image IMAGE]\n"
      "         [--registry R] [--dry-run] [--output DIR] [--source DIR]\n"
      "         [--partitions N] [--lag-threshold N] [--target-rate N]\n"
      "         [--cpu-target PCT] [--no-probe]\n"
      "Renders a Dockerfile and the Kubernetes objects (ConfigMap,\n"
      "Deployment, Service, HorizontalPodAutoscaler or KEDA ScaledObject,\n"
      "PodDisruptionBudget) into DIR (default ./sluice-deploy/<name>).\n"
      "When kubectl is on PATH and a cluster answers (and not --dry-run),\n"
      "builds and pushes the image and applies the objects; otherwise\n"
      "prints the commands that do it.\n"
      "  --image IMAGE      image name (default [R/]<name>:<version>-<hash>)\n"
      "  --registry R       registry prefix, e.g. registry.example:5000/team\n"
      "  --source DIR       the sluice source tree the image is built from\n"
      "  --partitions N     Kafka partitions: caps the replicas (default:\n"
      "                     asked of the brokers, 3 s at most)\n"
      "  --no-probe         do not ask the brokers\n"
      "  --lag-threshold N  KEDA lag per replica (default: see the file)\n"
      "  --target-rate N    records/s one replica sustains (default 10000)\n"
      "  --cpu-target PCT   average CPU utilisation to scale at (70)\n");
}

static int read_text(const char *path, char **out, size_t *len,
                     struct sl_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return sl_error_set(err, SL_ENOENT, "%s: cannot open the function spec: %s",
                        path, strerror(errno));
  char *buf = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (n == cap) {
      if (cap >= (16u << 20)) {
        rc = sl_error_set(err, SL_ERANGE,
                          "%s: expected a spec of at most "
                          "16 MiB",
                          path);
        break;
      }
      cap = cap ? cap * 2 : 8192;
      char *nb = sl_realloc(buf, cap + 1);
      if (!nb) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory");
        break;
      }
      buf = nb;
    }
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (k == 0) break;
  }
  if (!rc && ferror(f)) rc = sl_error_set(err, SL_EIO, "%s: read failed", path);
  fclose(f);
  if (rc) {
    sl_free(buf);
    return rc;
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return 0;
}

static int mkdirs(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
  for (char *c = buf + 1; *c; c++) {
    if (*c != '/') continue;
    *c = 0;
    if (mkdir(buf, 0755) && errno != EEXIST) return -1;
    *c = '/';
  }
  return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

typedef void (*render_fn)(const struct sl_deploy_plan *, FILE *);

static int write_file(const char *dir, const char *name, render_fn fn,
                      const struct sl_deploy_plan *p, const char *bytes,
                      size_t n, struct sl_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f)
    return sl_error_set(err, SL_EIO, "%s: cannot write: %s", path,
                        strerror(errno));
  if (fn) {
    /* A Dockerfile's parser directive must stay its first line. */
    if (strstr(name, ".yaml"))
      fprintf(f, "# Written by `sluice deploy` (sluice %s) from %s.\n",
              SLUICE_VERSION, p->spec->file);
    fn(p, f);
  } else {
    fwrite(bytes, 1, n, f);
  }
  int bad = ferror(f);
  if (fclose(f) || bad)
    return sl_error_set(err, SL_EIO, "%s: write failed", path);
  return 0;
}

static int copy_file(const char *from, const char *dir, const char *name,
                     struct sl_error *err) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = fopen(from, "rb");
  if (!f)
    return sl_error_set(err, SL_EIO, "%s: cannot read: %s", from,
                        strerror(errno));
  int rc = 0;
  size_t cap = 0;
  for (;;) {
    if (n == cap) {
      if (cap >= ((size_t)1 << 31)) {
        rc = sl_error_set(err, SL_ERANGE, "%s: larger than 2 GiB", from);
        break;
      }
      cap = cap ? cap * 2 : 1 << 16;
      char *nb = sl_realloc(buf, cap);
      if (!nb) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory");
        break;
      }
      buf = nb;
    }
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (k == 0) break;
  }
  fclose(f);
  if (!rc) rc = write_file(dir, name, NULL, NULL, buf, n, err);
  sl_free(buf);
  return rc;
}

struct files {
  char out[4096], k8s[4200];
};

static int render_all(const struct sl_deploy_plan *p, struct files *d,
                      struct sl_error *err) {
  snprintf(d->k8s, sizeof d->k8s, "%s/k8s", d->out);
  char handler_dir[4200];
  snprintf(handler_dir, sizeof handler_dir, "%s/handler", d->out);
  if (mkdirs(d->k8s) || (p->handler_src && mkdirs(handler_dir)))
    return sl_error_set(err, SL_EIO, "%s: cannot create the folder: %s", d->out,
                        strerror(errno));
  /* Objects the function no longer has must not be applied again. */
  static const char *const stale[] = {"20-service.yaml", "30-hpa.yaml",
                                      "30-scaledobject.yaml", NULL};
  for (int i = 0; stale[i]; i++) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", d->k8s, stale[i]);
    unlink(path);
  }
  SL_RETURN_NOT_OK(
      write_file(d->out, "Dockerfile", sl__deploy_dockerfile, p, NULL, 0, err));
  SL_RETURN_NOT_OK(write_file(d->out, "function.yaml", NULL, p, p->spec_text,
                              p->spec_len, err));
  if (p->handler_src)
    SL_RETURN_NOT_OK(
        copy_file(p->handler_src, d->out, p->handler_context, err));
  SL_RETURN_NOT_OK(write_file(d->k8s, "00-configmap.yaml", sl__deploy_configmap,
                              p, NULL, 0, err));
  SL_RETURN_NOT_OK(write_file(d->k8s, "10-deployment.yaml",
                              sl__deploy_deployment, p, NULL, 0, err));
  if (sl__deploy_has_service(p))
    SL_RETURN_NOT_OK(write_file(d->k8s, "20-service.yaml", sl__deploy_service,
                                p, NULL, 0, err));
  if (sl__deploy_has_hpa(p))
    SL_RETURN_NOT_OK(
        write_file(d->k8s, "30-hpa.yaml", sl__deploy_hpa, p, NULL, 0, err));
  if (sl__deploy_has_scaledobject(p))
    SL_RETURN_NOT_OK(write_file(d->k8s, "30-scaledobject.yaml",
                                sl__deploy_scaledobject, p, NULL, 0, err));
  return write_file(d->k8s, "40-pdb.yaml", sl__deploy_pdb, p, NULL, 0, err);
}

/* ---- the commands -------------------------------------------------------- */
#define MAX_ARGS 16
struct cmd {
  char *argv[MAX_ARGS];
  char bufs[MAX_ARGS][4400];
  int n;
};

static void arg(struct cmd *c, const char *s) {
  if (c->n >= MAX_ARGS - 1) return;
  snprintf(c->bufs[c->n], sizeof c->bufs[c->n], "%s", s);
  c->argv[c->n] = c->bufs[c->n];
  c->argv[++c->n] = NULL;
}

static const char *engine(void) {
  static const char *const engines[] = {"docker", "podman", "buildah", NULL};
  for (int i = 0; engines[i]; i++)
    if (sl__exec_on_path(engines[i])) return engines[i];
  return NULL;
}

static void build_cmd(const struct sl_deploy_plan *p, const struct files *d,
                      const char *eng, struct cmd *c) {
  char b[4400];
  arg(c, eng);
  arg(c, "build");
  snprintf(b, sizeof b, "sluice-src=%s",
           p->source_dir[0] ? p->source_dir : "<sluice source tree>");
  arg(c, "--build-context");
  arg(c, b);
  arg(c, "-t");
  arg(c, p->image);
  snprintf(b, sizeof b, "%s/Dockerfile", d->out);
  arg(c, "-f");
  arg(c, b);
  arg(c, d->out);
}

/* The commands deploy runs, and prints when it cannot run them: built in
 * one place so that what is printed is exactly what would run. */
static void push_cmd(const char *eng, const char *image, struct cmd *c) {
  arg(c, eng);
  arg(c, "push");
  arg(c, image);
}

/* kubectl <verb> namespace NS (verb: get or create). */
static void ns_cmd(const char *verb, const char *ns, struct cmd *c) {
  arg(c, "kubectl");
  arg(c, verb);
  arg(c, "namespace");
  arg(c, ns);
}

static void apply_cmd(const struct files *d, struct cmd *c) {
  arg(c, "kubectl");
  arg(c, "apply");
  arg(c, "-f");
  arg(c, d->k8s);
}

static void rollout_cmd(const struct sl_deploy_plan *p, struct cmd *c) {
  char dep[300];
  snprintf(dep, sizeof dep, "deployment/%s", p->name);
  arg(c, "kubectl");
  arg(c, "-n");
  arg(c, p->ns);
  arg(c, "rollout");
  arg(c, "status");
  arg(c, dep);
  arg(c, "--timeout=5m");
}

/* Whether the image names a registry ("host[:port]/..." or "a/b"). */
static bool has_registry(const char *image) {
  return strchr(image, '/');
}

static void finish_by_hand(const struct sl_deploy_plan *p,
                           const struct files *d, const char *why) {
  const char *eng = engine();
  printf("\n%s; to finish by hand:\n\n", why);
  struct cmd c = {0};
  build_cmd(p, d, eng ? eng : "docker", &c);
  sl__exec_print(stdout, "  ", c.argv);
  if (has_registry(p->image)) {
    struct cmd push = {0};
    push_cmd(eng ? eng : "docker", p->image, &push);
    sl__exec_print(stdout, "  ", push.argv);
  } else {
    printf("  # no --registry: load the image into the cluster's nodes "
           "(kind load docker-image,\n  # minikube image load) or re-run "
           "with --registry R\n");
  }
  if (strcmp(p->ns, "default")) {
    struct cmd ns = {0};
    ns_cmd("create", p->ns, &ns);
    sl__exec_print(stdout, "  ", ns.argv);
  }
  if (sl__deploy_has_scaledobject(p))
    printf("  # Kafka triggers scale through KEDA: its CRDs must be "
           "installed (docs/deploy.md)\n");
  struct cmd apply = {0}, roll = {0};
  apply_cmd(d, &apply);
  sl__exec_print(stdout, "  ", apply.argv);
  rollout_cmd(p, &roll);
  sl__exec_print(stdout, "  ", roll.argv);
}

static int run_step(const char *what, struct cmd *c) {
  printf("+ ");
  sl__exec_print(stdout, "", c->argv);
  int rc = sl__exec_run(c->argv, false);
  if (rc) fprintf(stderr, "sluice deploy: %s failed (exit %d)\n", what, rc);
  return rc;
}

static int ship(const struct sl_deploy_plan *p, const struct files *d,
                bool image_given) {
  const char *eng = engine();
  if (!eng && !image_given) {
    fprintf(stderr,
            "sluice deploy: no container engine (docker, podman or "
            "buildah) on PATH to build %s; install one, or build it "
            "elsewhere and pass --image\n",
            p->image);
    return 1;
  }
  if (eng) {
    if (!p->source_dir[0]) {
      fprintf(stderr, "sluice deploy: the sluice source tree was not found; "
                      "pass --source DIR\n");
      return 1;
    }
    struct cmd c = {0};
    build_cmd(p, d, eng, &c);
    if (run_step("image build", &c)) return 1;
    if (has_registry(p->image)) {
      struct cmd push = {0};
      push_cmd(eng, p->image, &push);
      if (run_step("image push", &push)) return 1;
    }
  }
  if (sl__deploy_has_scaledobject(p)) {
    struct cmd crd = {0};
    arg(&crd, "kubectl");
    arg(&crd, "get");
    arg(&crd, "crd");
    arg(&crd, "scaledobjects.keda.sh");
    if (sl__exec_run(crd.argv, true)) {
      fprintf(stderr, "sluice deploy: the function has Kafka triggers and "
                      "scales through KEDA, but the cluster has no "
                      "ScaledObject CRD: install KEDA (docs/deploy.md), then "
                      "re-run; nothing was applied\n");
      return 1;
    }
  }
  if (strcmp(p->ns, "default")) {
    struct cmd ns = {0};
    ns_cmd("get", p->ns, &ns);
    if (sl__exec_run(ns.argv, true)) {
      struct cmd mk = {0};
      ns_cmd("create", p->ns, &mk);
      if (run_step("namespace creation", &mk)) return 1;
    }
  }
  struct cmd apply = {0}, roll = {0};
  apply_cmd(d, &apply);
  if (run_step("kubectl apply", &apply)) return 1;
  rollout_cmd(p, &roll);
  return run_step("rollout", &roll) ? 1 : 0;
}

static bool cluster_answers(void) {
  char *argv[] = {"kubectl", "version", "--request-timeout=5s", NULL};
  return sl__exec_run(argv, true) == 0;
}

static int parse_count(const char *opt, const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < 1 || v > 1000000000000LL) {
    fprintf(stderr,
            "sluice deploy: %s: expected a positive integer, found "
            "'%s'\n",
            opt, s);
    return 2;
  }
  *out = v;
  return 0;
}

int sl_cmd_deploy(int argc, char **argv) {
  static const struct option opts[] = {
      {"namespace", required_argument, 0, 'n'},
      {"image", required_argument, 0, 'i'},
      {"registry", required_argument, 0, 'r'},
      {"output", required_argument, 0, 'o'},
      {"dry-run", no_argument, 0, 'd'},
      {"source", required_argument, 0, 's'},
      {"partitions", required_argument, 0, 'P'},
      {"lag-threshold", required_argument, 0, 'L'},
      {"target-rate", required_argument, 0, 'R'},
      {"cpu-target", required_argument, 0, 'C'},
      {"no-probe", no_argument, 0, 'N'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  struct sl_deploy_opts o = {0};
  o.probe_ms = 3000;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "n:i:r:o:h", opts, NULL)) != -1) {
    int bad = 0;
    switch (c) {
    case 'n': o.namespace_ = optarg; break;
    case 'i': o.image = optarg; break;
    case 'r': o.registry = optarg; break;
    case 'o': o.out_dir = optarg; break;
    case 'd': o.dry_run = true; break;
    case 's': o.source_dir = optarg; break;
    case 'P': bad = parse_count("--partitions", optarg, &o.partitions); break;
    case 'L':
      bad = parse_count("--lag-threshold", optarg, &o.lag_threshold);
      break;
    case 'R': bad = parse_count("--target-rate", optarg, &o.target_rate); break;
    case 'C':
      bad = parse_count("--cpu-target", optarg, &o.cpu_target);
      if (!bad && o.cpu_target > 1000) {
        fprintf(stderr,
                "sluice deploy: --cpu-target: expected a percentage "
                "of the CPU request (1..1000), found '%s'\n",
                optarg);
        bad = 2;
      }
      break;
    case 'N': o.probe_ms = 0; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
    if (bad) return bad;
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  o.spec_path = argv[optind];
  /* The spec is read as the pod will read it: the Deployment sets
   * SLUICE_HOST=0.0.0.0, so `host: ${SLUICE_HOST:-127.0.0.1}` listens on
   * every interface there and on loopback under `sluice run`. */
  setenv("SLUICE_HOST", "0.0.0.0", 1);

  struct sl_error err = {0};
  char *text = NULL;
  size_t len = 0;
  struct sl_spec *spec = NULL;
  struct sl_ynode *root = NULL;
  struct sl_deploy_plan plan;
  bool have_plan = false;
  int rc = 1;
  if (read_text(o.spec_path, &text, &len, &err) ||
      sl_spec_load_buffer(text, len, o.spec_path, &spec, &err) ||
      sl__yaml_parse(text, len, o.spec_path, &root, &err))
    goto cleanup;
  if (sl__deploy_plan(spec, root, text, len, &o, &plan, &err)) goto cleanup;
  have_plan = true;
  struct files d;
  if (o.out_dir)
    snprintf(d.out, sizeof d.out, "%s", o.out_dir);
  else
    snprintf(d.out, sizeof d.out, "sluice-deploy/%s", plan.name);
  if (render_all(&plan, &d, &err)) goto cleanup;
  printf("function %s -> namespace %s, image %s\n", plan.name, plan.ns,
         plan.image);
  printf("wrote %s/Dockerfile and %s/ (ConfigMap, Deployment%s%s%s, "
         "PodDisruptionBudget)\n",
         d.out, d.k8s, sl__deploy_has_service(&plan) ? ", Service" : "",
         sl__deploy_has_hpa(&plan) ? ", HorizontalPodAutoscaler" : "",
         sl__deploy_has_scaledobject(&plan) ? ", KEDA ScaledObject" : "");
  printf("replicas %lld..%lld%s%s\n", (long long)plan.min_replicas,
         (long long)plan.max_replicas, plan.gpu ? ", GPU image" : "",
         plan.default_cpu_request
             ? ", requests.cpu 500m added (CPU scaling needs a request)"
             : "");
  for (int32_t i = 0; i < plan.spec->n_triggers; i++) {
    const char *k = plan.spec->triggers[i].kind;
    if (plan.max_replicas > 1 && (!strcmp(k, "cron") || !strcmp(k, "file")))
      printf("warning: trigger %s (%s) runs in every replica: with up to "
             "%lld replicas, %s\n",
             plan.spec->triggers[i].name, k, (long long)plan.max_replicas,
             !strcmp(k, "cron") ? "each schedule fires that many times"
                                : "replicas reading one shared folder read "
                                  "the same files");
  }
  if (plan.hosts_fixed)
    printf("listen address 0.0.0.0 in the pod's copy of the spec (line %s; "
           "loopback would hide the pod from its Service and probes)\n",
           plan.pod_lines);
  if (plan.n_kafka && plan.partitions > 0)
    printf("Kafka partitions: %lld (%s): maxReplicas capped at %lld\n",
           (long long)plan.partitions, plan.partitions_from,
           (long long)plan.max_replicas);
  if (plan.n_kafka && plan.partitions <= 0)
    printf("note: the Kafka partition count is not known%s%s%s; pass "
           "--partitions N to cap maxReplicas at it\n",
           plan.probe_note[0] ? " (the brokers did not tell: " : "",
           plan.probe_note, plan.probe_note[0] ? ")" : "");
  if (o.dry_run) {
    finish_by_hand(&plan, &d, "--dry-run: nothing was built or applied");
    rc = 0;
  } else if (!sl__exec_on_path("kubectl")) {
    finish_by_hand(&plan, &d,
                   "kubectl is not on PATH: nothing was built or "
                   "applied");
    rc = 0;
  } else if (!cluster_answers()) {
    finish_by_hand(&plan, &d,
                   "no Kubernetes cluster answered `kubectl "
                   "version`: nothing was built or applied");
    rc = 0;
  } else {
    rc = ship(&plan, &d, o.image != NULL);
    if (!rc)
      printf("function %s is running in namespace %s\n", plan.name, plan.ns);
  }
cleanup:
  if (err.code) fprintf(stderr, "sluice deploy: %s\n", err.msg);
  if (have_plan) sl__deploy_plan_release(&plan);
  sl__ynode_free(root);
  sl_spec_free(spec);
  sl_free(text);
  return rc;
}
