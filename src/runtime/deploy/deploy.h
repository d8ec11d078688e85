/* sluice deploy: the container image recipe and the Kubernetes objects of a
 * function, rendered from the same function.yaml that `sluice run` uses.
 *
 * The plan (plan.c) reads the validated spec (spec.c) and, for the parts the
 * runtime does not keep (resources, volumes), the spec's YAML tree
 * (yaml_tree.c); it derives every number the objects need (ports, probes,
 * grace period, replica bounds, Kafka lag threshold) once. The renderers
 * (dockerfile.c, k8s_objects.c, k8s_scaling.c) only print the plan.
 * Everything is text written with explicit quoting (yaml_out.c): strings from
 * the spec are always emitted double-quoted. See docs/deploy.md. */
#ifndef SLUICE_RUNTIME_DEPLOY_H
#define SLUICE_RUNTIME_DEPLOY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/spec.h"
#include "runtime/yaml_tree.h"
#include "sluice/error.h"

#define SL_DEPLOY_MAX_KAFKA 8
#define SL_DEPLOY_MAX_HTTP 8
#define SL_DEPLOY_UID 10001
#define SL_DEPLOY_SPEC_DIR "/etc/sluice"
#define SL_DEPLOY_WORKDIR "/opt/sluice/function"
#define SL_DEPLOY_PRESTOP_S 5

struct sl_deploy_opts {
  const char *spec_path;  /* function.yaml */
  const char *namespace_; /* NULL: metadata.namespace */
  const char *image;      /* NULL: [registry/]name:version-hash */
  const char *registry;   /* NULL: a local image name */
  const char *out_dir;    /* NULL: ./sluice-deploy/<name> */
  const char *source_dir; /* sluice source tree; NULL: found from the binary */
  int64_t partitions;     /* Kafka partitions (0: probe, else maxReplicas) */
  int64_t lag_threshold;  /* KEDA lagThreshold (0: derived, see plan.c) */
  int64_t target_rate;    /* records/s a replica is expected to sustain */
  int64_t cpu_target;     /* HPA average CPU utilisation percent */
  int64_t probe_ms;       /* ask the brokers for partitions (0: don't) */
  bool dry_run;
};

struct sl_deploy_http {
  const char *trigger; /* borrowed from the spec */
  int64_t port;
  char port_name[16]; /* "http", "http-1", ... (IANA_SVC_NAME, <= 15) */
};

struct sl_deploy_kafka {
  const char *trigger;
  char *brokers; /* comma-joined, owned */
  char **topics; /* owned */
  int32_t n_topics;
  char *group;          /* owned */
  char *initial_offset; /* "earliest" | "latest", owned */
};

/* A resource quantity of requests or limits; texts borrowed from the tree. */
struct sl_deploy_quantity {
  const char *name, *value;
};

struct sl_deploy_plan {
  const struct sl_spec *spec;  /* borrowed */
  const struct sl_ynode *root; /* borrowed: the spec's YAML tree */
  const char *spec_text;       /* the pod's copy: the file as written, */
  size_t spec_len;             /* or pod_text when listen addresses moved */
  char *pod_text;              /* owned, or NULL */
  char pod_lines[64];          /* lines edited in pod_text */
  bool hosts_fixed;            /* pod_text listens on 0.0.0.0 (verified) */
  const char *name, *ns;
  char image[512];
  char hash[17]; /* xxh64 of spec text + handler bytes + version, hex */
  char source_dir[1024];

  struct sl_deploy_quantity requests[8], limits[8];
  int n_requests, n_limits;
  bool gpu;
  bool default_cpu_request; /* deploy added requests.cpu for autoscaling */

  struct sl_deploy_http http[SL_DEPLOY_MAX_HTTP];
  int n_http;
  int64_t health_port;
  const char *health_port_name; /* "http" or "admin" */
  bool admin_separate;          /* admin server on its own port */

  struct sl_deploy_kafka kafka[SL_DEPLOY_MAX_KAFKA];
  int n_kafka;
  int64_t partitions;                /* 0: unknown */
  const char *partitions_from;       /* "--partitions", "the brokers", ... */
  char probe_note[SL_ERROR_MSG_MAX]; /* why the brokers could not tell */
  int64_t flush_ms;       /* longest time a record waits to be durable */
  const char *flush_from; /* what set flush_ms, for the comment */
  int64_t target_rate;
  int64_t lag_threshold;
  bool lag_threshold_given;

  int64_t min_replicas, max_replicas; /* max capped at partitions */
  int64_t cpu_target;
  int64_t drain_s, grace_s;

  /* runtime c: the handler library, where it is read and where it goes. */
  char *handler_src;     /* owned; NULL when the function has none */
  char *handler_context; /* path inside the build context, owned */
  char *handler_dst;     /* path inside the image, owned */
};

/* Builds the plan; spec/root/text are borrowed and must outlive it. Fails
 * with "file:line:col: key: expected ..., found ..." when the spec cannot be
 * deployed as written (a loopback listen address, port 0, a bad name). */
int sl__deploy_plan(const struct sl_spec *spec, const struct sl_ynode *root,
                    const char *text, size_t len,
                    const struct sl_deploy_opts *opts,
                    struct sl_deploy_plan *plan, struct sl_error *err);
void sl__deploy_plan_release(struct sl_deploy_plan *plan);
/* The partitions of k's topics, summed (a consumer of the group can own a
 * partition of any of them), asked of the brokers within timeout_ms with
 * the trigger's connection settings (kafka_probe.c). */
int sl__deploy_kafka_partitions(const struct sl_spec_trigger *t,
                                const struct sl_deploy_kafka *k,
                                int64_t timeout_ms, int64_t *total,
                                struct sl_error *err);

/* The pod's copy of the spec text: loopback listen addresses of the http
 * triggers (and of the admin server when it serves the probes) become
 * 0.0.0.0 by editing the text in place (listen.c). *out is NULL when
 * nothing needed or could be edited; else sl_malloc'd, NUL-terminated.
 * `lines` gets the edited line numbers ("12, 20"). */
int sl__deploy_pod_text(const struct sl_spec *s, const struct sl_ynode *root,
                        const char *text, size_t len, char **out,
                        size_t *out_len, char *lines, size_t lines_cap);

/* Renderers: each writes one complete file. */
void sl__deploy_dockerfile(const struct sl_deploy_plan *p, FILE *f);
void sl__deploy_configmap(const struct sl_deploy_plan *p, FILE *f);
void sl__deploy_deployment(const struct sl_deploy_plan *p, FILE *f);
void sl__deploy_service(const struct sl_deploy_plan *p, FILE *f);
void sl__deploy_hpa(const struct sl_deploy_plan *p, FILE *f);
void sl__deploy_scaledobject(const struct sl_deploy_plan *p, FILE *f);
void sl__deploy_pdb(const struct sl_deploy_plan *p, FILE *f);
/* Which objects the plan has (a Service only with HTTP triggers; a
 * ScaledObject with Kafka triggers, else an HPA when max > min). */
bool sl__deploy_has_service(const struct sl_deploy_plan *p);
bool sl__deploy_has_hpa(const struct sl_deploy_plan *p);
bool sl__deploy_has_scaledobject(const struct sl_deploy_plan *p);

/* The standard labels and the selector, shared by every object. */
void sl__deploy_labels(const struct sl_deploy_plan *p, FILE *f, int indent);
void sl__deploy_metadata(const struct sl_deploy_plan *p, FILE *f,
                         const char *name);

/* ---- YAML text (yaml_out.c) --------------------------------------------- */
/* A double-quoted YAML scalar: always valid, whatever the bytes. */
void sl__yq(FILE *f, const char *s);
void sl__yqn(FILE *f, const char *s, size_t n);
/* "<indent spaces>key: " with the key quoted when it needs to be. */
void sl__ykey(FILE *f, int indent, const char *key);
/* A YAML subtree from the spec, in block style at `indent`, as a value that
 * follows "key:" (a map or list goes on the next lines). Plain scalars keep
 * their YAML type (numbers, booleans); quoted ones stay strings. */
void sl__ynode_write(FILE *f, const struct sl_ynode *n, int indent);
/* The spec file text as a YAML value after "key:": a literal block when the
 * text allows one, else a double-quoted scalar. */
void sl__yblock(FILE *f, const char *text, size_t len, int indent);
/* A shell word: bare when safe, else single-quoted (for printed commands). */
void sl__shell_word(FILE *f, const char *s);

/* ---- processes (exec.c) -------------------------------------------------- */
/* Whether `prog` is an executable on PATH. */
bool sl__exec_on_path(const char *prog);
/* Runs argv (NULL-terminated) with inherited stdio, or with stdout/stderr to
 * /dev/null when quiet; returns the exit status, 127 when it cannot start. */
int sl__exec_run(char *const argv[], bool quiet);
/* Prints argv as one shell command line. */
void sl__exec_print(FILE *f, const char *indent, char *const argv[]);

#endif
