/* Kubernetes objects of a function: ConfigMap (the spec), Deployment and
 * Service. Values from the spec are always written double-quoted (sl__yq);
 * numbers sluice computed are written bare. */
#include <string.h>

#include "runtime/deploy/deploy.h"

#define SPEC_VOLUME "sluice-spec"

static bool ours(const char *key) {
  return !strcmp(key, "app.kubernetes.io/name") ||
         !strcmp(key, "app.kubernetes.io/component") ||
         !strcmp(key, "app.kubernetes.io/managed-by") ||
         !strcmp(key, "sluice.dev/function");
}

void sl__deploy_labels(const struct sl_deploy_plan *p, FILE *f, int indent) {
  sl__ykey(f, indent, "app.kubernetes.io/name");
  fputc(' ', f);
  sl__yq(f, p->name);
  fputc('\n', f);
  sl__ykey(f, indent, "app.kubernetes.io/component");
  fputs(" \"function\"\n", f);
  sl__ykey(f, indent, "app.kubernetes.io/managed-by");
  fputs(" \"sluice\"\n", f);
  sl__ykey(f, indent, "sluice.dev/function");
  fputc(' ', f);
  sl__yq(f, p->name);
  fputc('\n', f);
  const struct sl_strmap *l = &p->spec->meta.labels;
  for (int32_t i = 0; i < l->n; i++) {
    if (ours(l->keys[i])) continue;
    sl__ykey(f, indent, l->keys[i]);
    fputc(' ', f);
    sl__yq(f, l->values[i]);
    fputc('\n', f);
  }
}

static void selector(const struct sl_deploy_plan *p, FILE *f, int indent) {
  sl__ykey(f, indent, "sluice.dev/function");
  fputc(' ', f);
  sl__yq(f, p->name);
  fputc('\n', f);
}

static void annotations(const struct sl_deploy_plan *p, FILE *f, int indent) {
  const struct sl_strmap *a = &p->spec->meta.annotations;
  if (a->n == 0) return;
  fprintf(f, "%*sannotations:\n", indent, "");
  for (int32_t i = 0; i < a->n; i++) {
    sl__ykey(f, indent + 2, a->keys[i]);
    fputc(' ', f);
    sl__yq(f, a->values[i]);
    fputc('\n', f);
  }
}

void sl__deploy_metadata(const struct sl_deploy_plan *p, FILE *f,
                         const char *name) {
  fprintf(f, "metadata:\n  name: ");
  sl__yq(f, name);
  fprintf(f, "\n  namespace: ");
  sl__yq(f, p->ns);
  fprintf(f, "\n  labels:\n");
  sl__deploy_labels(p, f, 4);
}

void sl__deploy_configmap(const struct sl_deploy_plan *p, FILE *f) {
  fprintf(f,
          "# The function spec, mounted at %s/function.yaml.\n"
          "apiVersion: v1\nkind: ConfigMap\n",
          SL_DEPLOY_SPEC_DIR);
  sl__deploy_metadata(p, f, p->name);
  annotations(p, f, 2);
  fprintf(f, "data:\n");
  sl__ykey(f, 2, "function.yaml");
  sl__yblock(f, p->spec_text, p->spec_len, 4);
}

static void quantities(FILE *f, const char *what,
                       const struct sl_deploy_quantity *q, int n) {
  if (!n) return;
  fprintf(f, "            %s:\n", what);
  for (int i = 0; i < n; i++) {
    sl__ykey(f, 14, q[i].name);
    fputc(' ', f);
    sl__yq(f, q[i].value);
    fputc('\n', f);
  }
}

static bool user_env(const struct sl_deploy_plan *p, const char *name) {
  const struct sl_strmap *e = &p->spec->env;
  for (int32_t i = 0; i < e->n; i++)
    if (!strcmp(e->keys[i], name)) return true;
  return false;
}

static void env(const struct sl_deploy_plan *p, FILE *f) {
  fprintf(f, "          env:\n");
  const struct sl_ynode *raw =
      sl__ynode_get(sl__ynode_get(p->root, "spec"), "env");
  if (raw && raw->kind == SL_YNODE_SEQ) {
    /* Nuclio's list: copied as written, valueFrom (secrets) included. */
    for (int32_t i = 0; i < raw->n; i++) {
      const struct sl_ynode *it = raw->items[i];
      for (int32_t k = 0; k < it->n; k++) {
        fprintf(f, "%s", k ? "" : "            -");
        sl__ykey(f, k ? 14 : 1, it->keys[k]);
        if (it->items[k]->kind == SL_YNODE_SCALAR) {
          fputc(' ', f);
          sl__yqn(f, it->items[k]->str, it->items[k]->len);
          fputc('\n', f);
        } else {
          sl__ynode_write(f, it->items[k], 16);
        }
      }
    }
  } else {
    const struct sl_strmap *e = &p->spec->env;
    for (int32_t i = 0; i < e->n; i++) {
      fprintf(f, "            - name: ");
      sl__yq(f, e->keys[i]);
      fprintf(f, "\n              value: ");
      sl__yq(f, e->values[i]);
      fputc('\n', f);
    }
  }
  if (!user_env(p, "SLUICE_HOST"))
    fprintf(f, "            - name: \"SLUICE_HOST\"\n"
               "              value: \"0.0.0.0\"\n");
  if (!user_env(p, "SLUICE_POD_NAME"))
    fprintf(f, "            - name: \"SLUICE_POD_NAME\"\n"
               "              valueFrom:\n"
               "                fieldRef:\n"
               "                  fieldPath: \"metadata.name\"\n");
  if (!user_env(p, "SLUICE_NAMESPACE"))
    fprintf(f, "            - name: \"SLUICE_NAMESPACE\"\n"
               "              valueFrom:\n"
               "                fieldRef:\n"
               "                  fieldPath: \"metadata.namespace\"\n");
}

static void probe(FILE *f, const char *kind, const char *path, const char *port,
                  int initial, int period, int failures) {
  fprintf(f,
          "          %s:\n"
          "            httpGet:\n"
          "              path: \"%s\"\n"
          "              port: \"%s\"\n"
          "            initialDelaySeconds: %d\n"
          "            periodSeconds: %d\n"
          "            timeoutSeconds: 2\n"
          "            failureThreshold: %d\n",
          kind, path, port, initial, period, failures);
}

static const struct sl_ynode *volumes(const struct sl_deploy_plan *p) {
  return sl__ynode_get(sl__ynode_get(p->root, "spec"), "volumes");
}

void sl__deploy_deployment(const struct sl_deploy_plan *p, FILE *f) {
  fprintf(f, "apiVersion: apps/v1\nkind: Deployment\n");
  sl__deploy_metadata(p, f, p->name);
  annotations(p, f, 2);
  fprintf(f, "spec:\n  replicas: %lld\n", (long long)p->min_replicas);
  fprintf(f, "  revisionHistoryLimit: 5\n"
             "  selector:\n    matchLabels:\n");
  selector(p, f, 6);
  fprintf(f,
          "  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n"
          "      maxSurge: %d\n      maxUnavailable: %d\n",
          p->gpu ? 0 : 1, p->gpu ? 1 : 0);
  fprintf(f, "  template:\n    metadata:\n      labels:\n");
  sl__deploy_labels(p, f, 8);
  fprintf(f,
          "      annotations:\n"
          "        sluice.dev/spec-hash: \"%s\"\n"
          "        prometheus.io/scrape: \"true\"\n"
          "        prometheus.io/port: \"%lld\"\n"
          "        prometheus.io/path: \"/metrics\"\n",
          p->hash, (long long)p->health_port);
  fprintf(f,
          "    spec:\n"
          "      # preStop (%d s, while endpoints drop the pod) + the spec's\n"
          "      # drainTimeout (%lld s: stop accepting, flush batches, close\n"
          "      # files) + 5 s of margin before SIGKILL.\n"
          "      terminationGracePeriodSeconds: %lld\n"
          "      securityContext:\n"
          "        runAsNonRoot: true\n"
          "        runAsUser: %d\n"
          "        runAsGroup: %d\n"
          "        fsGroup: %d\n"
          "        seccompProfile:\n"
          "          type: RuntimeDefault\n"
          "      containers:\n"
          "        - name: \"function\"\n"
          "          image: ",
          SL_DEPLOY_PRESTOP_S, (long long)p->drain_s, (long long)p->grace_s,
          SL_DEPLOY_UID, SL_DEPLOY_UID, SL_DEPLOY_UID);
  sl__yq(f, p->image);
  fprintf(f,
          "\n          imagePullPolicy: \"IfNotPresent\"\n"
          "          args: [\"run\", \"%s/function.yaml\"]\n"
          "          workingDir: \"%s\"\n"
          "          ports:\n",
          SL_DEPLOY_SPEC_DIR, SL_DEPLOY_WORKDIR);
  for (int i = 0; i < p->n_http; i++)
    fprintf(f,
            "            - name: \"%s\"\n"
            "              containerPort: %lld\n"
            "              protocol: \"TCP\"\n",
            p->http[i].port_name, (long long)p->http[i].port);
  if (p->admin_separate)
    fprintf(f,
            "            - name: \"admin\"\n"
            "              containerPort: %lld\n"
            "              protocol: \"TCP\"\n",
            (long long)p->health_port);
  env(p, f);
  fprintf(f, "          resources:\n");
  if (!p->n_requests && !p->n_limits) fprintf(f, "            {}\n");
  quantities(f, "requests", p->requests, p->n_requests);
  quantities(f, "limits", p->limits, p->n_limits);
  probe(f, "startupProbe", "/live", p->health_port_name, 0, 2, 60);
  probe(f, "livenessProbe", "/live", p->health_port_name, 0, 10, 3);
  probe(f, "readinessProbe", "/ready", p->health_port_name, 0, 5, 2);
  fprintf(f,
          "          lifecycle:\n"
          "            preStop:\n"
          "              exec:\n"
          "                command: [\"sleep\", \"%d\"]\n"
          "          securityContext:\n"
          "            allowPrivilegeEscalation: false\n"
          "            capabilities:\n"
          "              drop: [\"ALL\"]\n"
          "          volumeMounts:\n"
          "            - name: \"" SPEC_VOLUME "\"\n"
          "              mountPath: \"%s\"\n"
          "              readOnly: true\n",
          SL_DEPLOY_PRESTOP_S, SL_DEPLOY_SPEC_DIR);
  const struct sl_ynode *v = volumes(p);
  for (int32_t i = 0; v && i < v->n; i++) {
    const struct sl_ynode *m = sl__ynode_get(v->items[i], "volumeMount");
    if (!m) continue;
    for (int32_t k = 0; k < m->n; k++) {
      fprintf(f, "%s", k ? "" : "            -");
      sl__ykey(f, k ? 14 : 1, m->keys[k]);
      sl__ynode_write(f, m->items[k], 16);
    }
  }
  fprintf(f, "      volumes:\n"
             "        - name: \"" SPEC_VOLUME "\"\n"
             "          configMap:\n"
             "            name: ");
  sl__yq(f, p->name);
  fputc('\n', f);
  for (int32_t i = 0; v && i < v->n; i++) {
    const struct sl_ynode *m = sl__ynode_get(v->items[i], "volume");
    for (int32_t k = 0; m && k < m->n; k++) {
      fprintf(f, "%s", k ? "" : "        -");
      sl__ykey(f, k ? 10 : 1, m->keys[k]);
      sl__ynode_write(f, m->items[k], 12);
    }
  }
}

void sl__deploy_service(const struct sl_deploy_plan *p, FILE *f) {
  fprintf(f, "# The function's HTTP triggers inside the cluster.\n"
             "apiVersion: v1\nkind: Service\n");
  sl__deploy_metadata(p, f, p->name);
  fprintf(f, "spec:\n  type: \"ClusterIP\"\n  selector:\n");
  selector(p, f, 4);
  fprintf(f, "  ports:\n");
  for (int i = 0; i < p->n_http; i++)
    fprintf(f,
            "    - name: \"%s\"\n"
            "      port: %lld\n"
            "      targetPort: \"%s\"\n"
            "      protocol: \"TCP\"\n",
            p->http[i].port_name, (long long)p->http[i].port,
            p->http[i].port_name);
  if (p->admin_separate)
    fprintf(f,
            "    - name: \"admin\"\n"
            "      port: %lld\n"
            "      targetPort: \"admin\"\n"
            "      protocol: \"TCP\"\n",
            (long long)p->health_port);
}
