/* The deploy plan: every value the image recipe and the objects need,
 * derived once from the validated spec (and its YAML tree for resources and
 * volumes, which the runtime itself does not keep). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "runtime/deploy/deploy.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"

static const struct sl_ynode *tree_get(const struct sl_ynode *n,
                                       const char *key) {
  return n && n->kind == SL_YNODE_MAP ? sl__ynode_get(n, key) : NULL;
}

static const struct sl_ynode *spec_node(const struct sl_deploy_plan *p,
                                        const char *key) {
  return tree_get(tree_get(p->root, "spec"), key);
}

static const struct sl_ynode *trigger_attr_node(const struct sl_deploy_plan *p,
                                                const char *trigger,
                                                const char *key) {
  return tree_get(
      tree_get(tree_get(spec_node(p, "triggers"), trigger), "attributes"), key);
}

/* A typed attribute of a trigger or sink, through its config table. */
static const void *attr(const struct sl_cfg_entry *table, const void *attrs,
                        const char *key, enum sl_cfg_type *type) {
  for (const struct sl_cfg_entry *e = table; e && e->key; e++)
    if (!strcmp(e->key, key) && e->type != SL_CFG_SECTION &&
        e->type != SL_CFG_IGNORE) {
      *type = e->type;
      return (const char *)attrs + e->offset;
    }
  return NULL;
}

static int64_t attr_int(const struct sl_cfg_entry *table, const void *attrs,
                        const char *key, int64_t def) {
  enum sl_cfg_type t;
  const void *v = attr(table, attrs, key, &t);
  if (v && (t == SL_CFG_INT || t == SL_CFG_DURATION || t == SL_CFG_SIZE))
    return *(const int64_t *)v;
  return def;
}

static const char *attr_str(const struct sl_cfg_entry *table, const void *attrs,
                            const char *key) {
  enum sl_cfg_type t;
  const void *v = attr(table, attrs, key, &t);
  if (v && (t == SL_CFG_STRING || t == SL_CFG_ENUM)) return *(char *const *)v;
  return NULL;
}

/* A list attribute (a list, or one comma-separated string), joined by ','. */
static char *attr_joined(const struct sl_spec_trigger *t,
                         const struct sl_ynode *raw, const char *key) {
  enum sl_cfg_type ty;
  const void *v = attr(t->vt->config, t->attrs, key, &ty);
  char buf[4096];
  size_t k = 0;
  buf[0] = 0;
  if (v && ty == SL_CFG_STRLIST) {
    const struct sl_strlist *l = v;
    for (int32_t i = 0; i < l->n && k < sizeof buf; i++)
      k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", i ? "," : "",
                            l->v[i]);
  } else if (v && (ty == SL_CFG_STRING || ty == SL_CFG_ENUM)) {
    if (*(char *const *)v) snprintf(buf, sizeof buf, "%s", *(char *const *)v);
  } else if (raw && raw->kind == SL_YNODE_SCALAR) {
    snprintf(buf, sizeof buf, "%s", raw->str);
  } else if (raw && raw->kind == SL_YNODE_SEQ) {
    for (int32_t i = 0; i < raw->n && k < sizeof buf; i++)
      if (raw->items[i]->kind == SL_YNODE_SCALAR)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", k ? "," : "",
                              raw->items[i]->str);
  }
  if (k >= sizeof buf) return NULL;
  return buf[0] ? sl_strdup(buf) : NULL;
}

static bool dns_label(const char *s, bool letter_first) {
  size_t n = strlen(s);
  if (n == 0 || n > 63) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && c != '-') return false;
  }
  if (s[0] == '-' || s[n - 1] == '-') return false;
  return !letter_first || (s[0] >= 'a' && s[0] <= 'z');
}

static bool label_value(const char *s) {
  size_t n = strlen(s);
  if (n > 63) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9');
    if (!alnum && c != '-' && c != '_' && c != '.') return false;
    if ((i == 0 || i == n - 1) && !alnum) return false;
  }
  return true;
}

static bool loopback(const char *host) {
  return !host || !strncmp(host, "127.", 4) || !strcmp(host, "localhost");
}

static int fail(struct sl_deploy_plan *p, struct sl_error *err,
                const struct sl_ynode *n, const char *path,
                const char *expected) {
  if (n) return sl__cfg_error_at(err, p->spec->file, n, path, expected);
  return sl_error_set(err, SL_EINVAL, "%s: %s: expected %s (not set)",
                      p->spec->file, path, expected);
}

/* For a key left at its default: point at the section that lacks it. */
static int fail_default(struct sl_deploy_plan *p, struct sl_error *err,
                        int line, int col, const char *path,
                        const char *expected, const char *def) {
  return sl_error_set(err, SL_EINVAL,
                      "%s:%d:%d: %s: expected %s, found the default '%s'",
                      p->spec->file, line, col, path, expected, def);
}

static int quantities(struct sl_deploy_plan *p, const struct sl_ynode *m,
                      const char *path, struct sl_deploy_quantity *q, int *n,
                      struct sl_error *err) {
  if (!m) return 0;
  for (int32_t i = 0; i < m->n; i++) {
    char sub[128];
    snprintf(sub, sizeof sub, "%s.%s", path, m->keys[i]);
    if (*n >= 8) return fail(p, err, m, path, "at most 8 resources");
    const char *v = m->items[i]->str;
    if (!*v) return fail(p, err, m->items[i], sub, "a quantity (2, 500m, 4Gi)");
    q[*n].name = m->keys[i];
    q[(*n)++].value = v;
  }
  return 0;
}

static const char *find_q(const struct sl_deploy_quantity *q, int n,
                          const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(q[i].name, name)) return q[i].value;
  return NULL;
}

static int resources(struct sl_deploy_plan *p, struct sl_error *err) {
  const struct sl_ynode *r = spec_node(p, "resources");
  for (int32_t i = 0; r && i < r->n; i++)
    if (strcmp(r->keys[i], "requests") && strcmp(r->keys[i], "limits")) {
      char sub[128];
      snprintf(sub, sizeof sub, "spec.resources.%s", r->keys[i]);
      return fail(p, err, r->items[i], sub, "requests or limits");
    }
  SL_RETURN_NOT_OK(quantities(p, tree_get(r, "requests"),
                              "spec.resources.requests", p->requests,
                              &p->n_requests, err));
  SL_RETURN_NOT_OK(quantities(p, tree_get(r, "limits"), "spec.resources.limits",
                              p->limits, &p->n_limits, err));
  const char *gl = find_q(p->limits, p->n_limits, "nvidia.com/gpu");
  const char *gr = find_q(p->requests, p->n_requests, "nvidia.com/gpu");
  if (gl && gr && strcmp(gl, gr))
    return fail(p, err, tree_get(tree_get(r, "requests"), "nvidia.com/gpu"),
                "spec.resources.requests.nvidia.com/gpu",
                "the same count as limits (GPUs cannot be overcommitted)");
  if (gr && !gl) { /* Kubernetes takes extended resources from limits. */
    if (p->n_limits >= 8)
      return fail(p, err, r, "spec.resources.limits", "at most 8 resources");
    p->limits[p->n_limits].name = "nvidia.com/gpu";
    p->limits[p->n_limits++].value = gr;
  }
  p->gpu = (gl && strcmp(gl, "0")) || (gr && strcmp(gr, "0"));
  if (!p->gpu && p->spec->device && !strcmp(p->spec->device, "cuda"))
    return fail(p, err, spec_node(p, "device"), "spec.device",
                "resources.limits nvidia.com/gpu with device cuda (a pod "
                "without one has no GPU), or device auto / cpu");
  return 0;
}

static int http_and_health(struct sl_deploy_plan *p, struct sl_error *err) {
  const struct sl_spec *s = p->spec;
  for (int32_t i = 0; i < s->n_triggers; i++) {
    const struct sl_spec_trigger *t = &s->triggers[i];
    if (strcmp(t->kind, "http")) continue;
    char path[256];
    if (p->n_http >= SL_DEPLOY_MAX_HTTP)
      return sl_error_set(err, SL_EINVAL,
                          "%s: expected at most %d http "
                          "triggers",
                          s->file, SL_DEPLOY_MAX_HTTP);
    const char *host = attr_str(t->vt->config, t->attrs, "host");
    int64_t port = attr_int(t->vt->config, t->attrs, "port", 8080);
    if (loopback(host) && !p->hosts_fixed) {
      static const char want[] =
          "0.0.0.0 in a pod, so that the Service and the probes reach it "
          "(write host: ${SLUICE_HOST:-127.0.0.1}; the Deployment sets "
          "SLUICE_HOST=0.0.0.0)";
      snprintf(path, sizeof path, "spec.triggers.%s.attributes.host", t->name);
      const struct sl_ynode *hn = trigger_attr_node(p, t->name, "host");
      if (!hn)
        return fail_default(p, err, t->line, t->col, path, want,
                            host ? host : "");
      return fail(p, err, hn, path, want);
    }
    if (port == 0) {
      snprintf(path, sizeof path, "spec.triggers.%s.attributes.port", t->name);
      return fail(p, err, trigger_attr_node(p, t->name, "port"), path,
                  "a fixed port for the Service (not 0)");
    }
    for (int k = 0; k < p->n_http; k++)
      if (p->http[k].port == port) {
        snprintf(path, sizeof path, "spec.triggers.%s.attributes.port",
                 t->name);
        return fail(p, err, trigger_attr_node(p, t->name, "port"), path,
                    "a port no other http trigger uses");
      }
    struct sl_deploy_http *h = &p->http[p->n_http];
    h->trigger = t->name;
    h->port = port;
    if (p->n_http == 0)
      snprintf(h->port_name, sizeof h->port_name, "http");
    else
      snprintf(h->port_name, sizeof h->port_name, "http-%d",
               p->n_http % SL_DEPLOY_MAX_HTTP);
    p->n_http++;
  }
  if (s->admin.port == 0 && p->n_http > 0) {
    p->health_port = p->http[0].port;
    p->health_port_name = "http";
    return 0;
  }
  p->admin_separate = true;
  p->health_port = s->admin.port ? s->admin.port : 8081;
  p->health_port_name = "admin";
  for (int k = 0; k < p->n_http; k++)
    if (p->http[k].port == p->health_port)
      return fail(p, err, spec_node(p, "admin"), "spec.admin.port",
                  "a port no http trigger uses");
  if (loopback(s->admin.host) && !p->hosts_fixed) {
    static const char want[] =
        "0.0.0.0 in a pod, so that the kubelet's probes and Prometheus reach "
        "/live, /ready and /metrics (write host: ${SLUICE_HOST:-127.0.0.1}; "
        "the Deployment sets SLUICE_HOST=0.0.0.0)";
    const struct sl_ynode *hn = tree_get(spec_node(p, "admin"), "host");
    if (hn) return fail(p, err, hn, "spec.admin.host", want);
    const struct sl_ynode *at = spec_node(p, "admin");
    if (!at) at = tree_get(p->root, "spec");
    return fail_default(p, err, at ? at->line : 0, at ? at->col : 0,
                        "spec.admin.host", want,
                        s->admin.host ? s->admin.host : "");
  }
  return 0;
}

static bool is_kafka(const char *kind) {
  return !strcmp(kind, "kafka-cluster") || !strcmp(kind, "kafka");
}

static int kafka(struct sl_deploy_plan *p, const struct sl_deploy_opts *o,
                 struct sl_error *err) {
  const struct sl_spec *s = p->spec;
  int64_t max_wait = 0;
  for (int32_t i = 0; i < s->n_triggers; i++) {
    const struct sl_spec_trigger *t = &s->triggers[i];
    if (!is_kafka(t->kind)) continue;
    char path[256];
    if (p->n_kafka >= SL_DEPLOY_MAX_KAFKA)
      return sl_error_set(err, SL_EINVAL,
                          "%s: expected at most %d kafka "
                          "triggers",
                          s->file, SL_DEPLOY_MAX_KAFKA);
    struct sl_deploy_kafka *k = &p->kafka[p->n_kafka++];
    k->trigger = t->name;
    k->brokers =
        attr_joined(t, trigger_attr_node(p, t->name, "brokers"), "brokers");
    char *topics =
        attr_joined(t, trigger_attr_node(p, t->name, "topics"), "topics");
    const char *g = attr_str(t->vt->config, t->attrs, "consumerGroup");
    const struct sl_ynode *gn = trigger_attr_node(p, t->name, "consumerGroup");
    if (!g && gn && gn->kind == SL_YNODE_SCALAR) g = gn->str;
    const char *off = attr_str(t->vt->config, t->attrs, "initialOffset");
    k->group = g ? sl_strdup(g) : NULL;
    k->initial_offset =
        sl_strdup(off && !strcmp(off, "earliest") ? "earliest" : "latest");
    snprintf(path, sizeof path, "spec.triggers.%s.attributes", t->name);
    if (!k->brokers || !topics || !k->group) {
      sl_free(topics);
      return fail(
          p, err,
          tree_get(tree_get(spec_node(p, "triggers"), t->name), "attributes"),
          path,
          "brokers, topics and consumerGroup (KEDA reads the "
          "lag of that group)");
    }
    /* Split the joined topics into a list. */
    for (char *c = topics; *c; c++)
      k->n_topics += *c == ',';
    k->n_topics++;
    k->topics = sl_calloc((size_t)k->n_topics, sizeof *k->topics);
    if (!k->topics || !k->initial_offset) {
      sl_free(topics);
      return sl_error_set(err, SL_ENOMEM, "out of memory");
    }
    int32_t n = 0;
    for (char *tok = strtok(topics, ","); tok; tok = strtok(NULL, ","))
      if (!(k->topics[n++] = sl_strdup(tok))) {
        sl_free(topics);
        return sl_error_set(err, SL_ENOMEM, "out of memory");
      }
    k->n_topics = n;
    sl_free(topics);
    if (t->batch.max_wait_ms > max_wait) max_wait = t->batch.max_wait_ms;
    int64_t parts = attr_int(t->vt->config, t->attrs, "partitions", 0);
    if (parts > 0 && !p->partitions) {
      p->partitions = parts;
      p->partitions_from = "the trigger's partitions attribute";
    }
  }
  if (!p->n_kafka) return 0;
  if (o->partitions > 0) {
    p->partitions = o->partitions;
    p->partitions_from = "--partitions";
  } else if (!p->partitions && o->probe_ms > 0) {
    /* The most replicas any one trigger can keep busy. */
    int64_t best = 0;
    for (int i = 0; i < p->n_kafka; i++) {
      const struct sl_spec_trigger *t = NULL;
      for (int32_t j = 0; j < s->n_triggers; j++)
        if (!strcmp(s->triggers[j].name, p->kafka[i].trigger))
          t = &s->triggers[j];
      int64_t n = 0;
      struct sl_error perr = {0};
      if (sl__deploy_kafka_partitions(t, &p->kafka[i], o->probe_ms, &n,
                                      &perr)) {
        memcpy(p->probe_note, perr.msg, sizeof p->probe_note);
        best = 0;
        break;
      }
      if (n > best) best = n;
    }
    if (best > 0) {
      p->partitions = best;
      p->partitions_from = "asked of the brokers";
    }
  }
  /* Offsets are committed only once the rows are durable: a replica that
   * keeps up still holds up to (its rate x the flush interval) records of
   * lag. The flush interval is the longest a record waits: the batch's
   * maxWait plus the Parquet sinks' rollInterval. */
  int64_t roll = 0;
  for (int32_t i = 0; i < s->n_sinks; i++) {
    const struct sl_spec_sink *k = &s->sinks[i];
    int64_t r = attr_int(k->vt->config, k->attrs, "rollInterval", 0);
    if (r > roll) roll = r;
  }
  p->flush_ms = max_wait + roll;
  p->flush_from =
      roll ? "batch maxWait + Parquet rollInterval" : "batch maxWait";
  p->target_rate = o->target_rate > 0 ? o->target_rate : 10000;
  int64_t flush_s = (p->flush_ms + 999) / 1000;
  if (flush_s < 1) flush_s = 1;
  if (o->lag_threshold > 0) {
    p->lag_threshold = o->lag_threshold;
    p->lag_threshold_given = true;
  } else {
    if (p->target_rate > INT64_MAX / 2 / flush_s)
      return sl_error_set(err, SL_ERANGE, "--target-rate %lld is too large",
                          (long long)p->target_rate);
    p->lag_threshold = 2 * p->target_rate * flush_s;
  }
  return 0;
}

/* Nuclio volumes: a list of {volume: <Volume>, volumeMount: <VolumeMount>};
 * both are copied as written, so their shape is checked here. */
static int check_volumes(struct sl_deploy_plan *p, struct sl_error *err) {
  const struct sl_ynode *v = spec_node(p, "volumes");
  for (int32_t i = 0; v && i < v->n; i++) {
    const struct sl_ynode *it = v->items[i];
    char path[64], sub[96];
    snprintf(path, sizeof path, "spec.volumes[%d]", (int)i);
    if (it->kind != SL_YNODE_MAP)
      return fail(p, err, it, path, "a map of volume and volumeMount");
    for (int32_t k = 0; k < it->n; k++)
      if (strcmp(it->keys[k], "volume") && strcmp(it->keys[k], "volumeMount")) {
        snprintf(sub, sizeof sub, "%s.%s", path, it->keys[k]);
        return fail(p, err, it->items[k], sub, "only volume and volumeMount");
      }
    const struct sl_ynode *vol = tree_get(it, "volume");
    const struct sl_ynode *mnt = tree_get(it, "volumeMount");
    snprintf(sub, sizeof sub, "%s.volume", path);
    if (!vol || vol->kind != SL_YNODE_MAP)
      return fail(p, err, vol ? vol : it, sub,
                  "a Kubernetes volume (a map with name and a source)");
    const struct sl_ynode *vn = tree_get(vol, "name");
    snprintf(sub, sizeof sub, "%s.volume.name", path);
    if (!vn || vn->kind != SL_YNODE_SCALAR || !dns_label(vn->str, false))
      return fail(p, err, vn ? vn : vol, sub, "a DNS label");
    if (!mnt) continue; /* a volume only some other container would use */
    snprintf(sub, sizeof sub, "%s.volumeMount", path);
    const struct sl_ynode *mn = tree_get(mnt, "name");
    const struct sl_ynode *mp = tree_get(mnt, "mountPath");
    if (mnt->kind != SL_YNODE_MAP || !mp || mp->kind != SL_YNODE_SCALAR ||
        mp->str[0] != '/')
      return fail(p, err, mp ? mp : mnt, sub,
                  "a volume mount with an absolute mountPath");
    if (!strcmp(mp->str, SL_DEPLOY_SPEC_DIR))
      return fail(p, err, mp, sub,
                  "a mountPath other than " SL_DEPLOY_SPEC_DIR
                  " (the spec's own)");
    if (!mn || mn->kind != SL_YNODE_SCALAR || strcmp(mn->str, vn->str))
      return fail(p, err, mn ? mn : mnt, sub,
                  "name equal to the volume's name");
  }
  return 0;
}

static int handler_lib(struct sl_deploy_plan *p, struct sl_error *err) {
  const struct sl_spec *s = p->spec;
  if (strcmp(s->runtime, "c") || !s->handler) return 0;
  const char *colon = strrchr(s->handler, ':');
  size_t n = (size_t)(colon - s->handler);
  p->handler_src = sl_strndup(s->handler, n);
  if (!p->handler_src) return sl_error_set(err, SL_ENOMEM, "out of memory");
  const char *src = p->handler_src;
  if (access(src, R_OK) != 0)
    return fail(p, err, spec_node(p, "handler"), "spec.handler",
                "a handler library readable from the current directory "
                "(as `sluice run` loads it), to copy into the image");
  for (const char *c = src; *c; c++)
    if ((c == src || c[-1] == '/') && !strncmp(c, "..", 2) &&
        (c[2] == '/' || !c[2]))
      return fail(p, err, spec_node(p, "handler"), "spec.handler",
                  "a library path without '..' (it is placed at the same "
                  "path under the image's working directory)");
  const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "handler/%s", base);
  p->handler_context = sl_strdup(buf);
  while (!strncmp(src, "./", 2))
    src += 2;
  if (src[0] == '/')
    snprintf(buf, sizeof buf, "%s", src);
  else
    snprintf(buf, sizeof buf, "%s/%s", SL_DEPLOY_WORKDIR, src);
  p->handler_dst = sl_strdup(buf);
  if (!p->handler_context || !p->handler_dst)
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  return 0;
}

static int hash_plan(struct sl_deploy_plan *p, struct sl_error *err) {
  XXH64_hash_t h = XXH64(p->spec_text, p->spec_len, 0);
  h = XXH64(SLUICE_VERSION, strlen(SLUICE_VERSION), h);
  if (p->handler_src) {
    FILE *f = fopen(p->handler_src, "rb");
    if (!f)
      return sl_error_set(err, SL_EIO, "%s: cannot read the handler library",
                          p->handler_src);
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
      h = XXH64(buf, k, h);
    fclose(f);
  }
  snprintf(p->hash, sizeof p->hash, "%016llx", (unsigned long long)h);
  return 0;
}

static bool is_source_tree(const char *dir) {
  char a[1200], b[1200];
  snprintf(a, sizeof a, "%s/scripts/build.sh", dir);
  snprintf(b, sizeof b, "%s/scripts/deps.sh", dir);
  return access(a, R_OK) == 0 && access(b, R_OK) == 0;
}

/* The sluice source tree: --source, else the folder above the binary's
 * build folder (build/sluice), else the current directory or a parent. */
static void source_dir(struct sl_deploy_plan *p, const char *given) {
  char buf[1024];
  if (given) {
    if (!realpath(given, p->source_dir))
      snprintf(p->source_dir, sizeof p->source_dir, "%s", given);
    return;
  }
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = 0;
    for (int up = 0; up < 2; up++) {
      char *slash = strrchr(buf, '/');
      if (!slash) break;
      *slash = 0;
      if (up == 1 && is_source_tree(buf)) {
        snprintf(p->source_dir, sizeof p->source_dir, "%s", buf);
        return;
      }
    }
  }
  if (!getcwd(buf, sizeof buf)) return;
  for (;;) {
    if (is_source_tree(buf)) {
      snprintf(p->source_dir, sizeof p->source_dir, "%s", buf);
      return;
    }
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return;
    *slash = 0;
  }
}

static bool pod_hosts_ok(const struct sl_spec *s) {
  bool have_http = false;
  for (int32_t i = 0; i < s->n_triggers; i++) {
    const struct sl_spec_trigger *t = &s->triggers[i];
    if (strcmp(t->kind, "http")) continue;
    have_http = true;
    if (loopback(attr_str(t->vt->config, t->attrs, "host"))) return false;
  }
  if ((!have_http || s->admin.port) && loopback(s->admin.host)) return false;
  return true;
}

/* The pod listens on every interface: edit the spec's copy when it says
 * loopback, and keep the edit only when the strict loader reads it back
 * with every listen address moved. Errors keep pointing at the original. */
static int pod_copy(struct sl_deploy_plan *p, struct sl_error *err) {
  char *pod = NULL;
  size_t pod_len = 0;
  if (sl__deploy_pod_text(p->spec, p->root, p->spec_text, p->spec_len, &pod,
                          &pod_len, p->pod_lines, sizeof p->pod_lines))
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  if (!pod) return 0;
  struct sl_spec *ps = NULL;
  struct sl_error perr = {0};
  if (sl_spec_load_buffer(pod, pod_len, p->spec->file, &ps, &perr) == 0 &&
      pod_hosts_ok(ps)) {
    p->pod_text = pod;
    p->spec_text = pod;
    p->spec_len = pod_len;
    p->hosts_fixed = true;
  } else {
    sl_free(pod);
  }
  sl_spec_free(ps);
  return 0;
}

static int plan_build(const struct sl_spec *spec, const struct sl_ynode *root,
                      const char *text, size_t len,
                      const struct sl_deploy_opts *o, struct sl_deploy_plan *p,
                      struct sl_error *err) {
  memset(p, 0, sizeof *p);
  p->spec = spec;
  p->root = root;
  p->spec_text = text;
  p->spec_len = len;
  SL_RETURN_NOT_OK(pod_copy(p, err));
  p->name = spec->meta.name;
  p->ns = o->namespace_ ? o->namespace_ : spec->meta.namespace_;
  const struct sl_ynode *meta = tree_get(root, "metadata");
  if (!dns_label(p->name, true))
    return fail(p, err, tree_get(meta, "name"), "metadata.name",
                "a DNS label for Kubernetes names: lower-case letters, "
                "digits and '-', starting with a letter, at most 63");
  if (!dns_label(p->ns, false))
    return o->namespace_
               ? sl_error_set(err, SL_EINVAL,
                              "--namespace: expected a DNS "
                              "label (lower-case letters, digits, '-'), "
                              "found '%s'",
                              o->namespace_)
               : fail(p, err, tree_get(meta, "namespace"), "metadata.namespace",
                      "a DNS label (lower-case letters, digits, '-')");
  const struct sl_strmap *l = &spec->meta.labels;
  for (int32_t i = 0; i < l->n; i++)
    if (!label_value(l->values[i])) {
      char path[200];
      snprintf(path, sizeof path, "metadata.labels.%s", l->keys[i]);
      return fail(p, err, tree_get(tree_get(meta, "labels"), l->keys[i]), path,
                  "a label value: at most 63 letters, digits, '-', '_', '.', "
                  "starting and ending with a letter or digit");
    }
  SL_RETURN_NOT_OK(resources(p, err));
  SL_RETURN_NOT_OK(http_and_health(p, err));
  SL_RETURN_NOT_OK(kafka(p, o, err));
  SL_RETURN_NOT_OK(check_volumes(p, err));
  SL_RETURN_NOT_OK(handler_lib(p, err));
  SL_RETURN_NOT_OK(hash_plan(p, err));
  source_dir(p, o->source_dir);

  p->min_replicas = spec->min_replicas;
  p->max_replicas = spec->max_replicas;
  if (p->n_kafka && p->partitions > 0 && p->max_replicas > p->partitions) {
    p->max_replicas = p->partitions; /* idle consumers would get nothing */
    if (p->min_replicas > p->max_replicas) p->min_replicas = p->max_replicas;
  }
  p->cpu_target = o->cpu_target > 0 ? o->cpu_target : 70;
  if ((sl__deploy_has_hpa(p) || sl__deploy_has_scaledobject(p)) &&
      !find_q(p->requests, p->n_requests, "cpu")) {
    /* Utilisation is a share of the request: without one, no CPU scaling. */
    p->requests[p->n_requests].name = "cpu";
    p->requests[p->n_requests++].value = "500m";
    p->default_cpu_request = true;
  }
  p->drain_s = (spec->drain_ms + 999) / 1000;
  p->grace_s = SL_DEPLOY_PRESTOP_S + p->drain_s + 5;

  if (o->image) {
    snprintf(p->image, sizeof p->image, "%s", o->image);
  } else {
    char tag[64];
    snprintf(tag, sizeof tag, "%s-%.8s", SLUICE_VERSION, p->hash);
    if (o->registry && *o->registry) {
      size_t rl = strlen(o->registry);
      while (rl > 0 && o->registry[rl - 1] == '/')
        rl--;
      snprintf(p->image, sizeof p->image, "%.*s/%s:%s", (int)rl, o->registry,
               p->name, tag);
    } else {
      snprintf(p->image, sizeof p->image, "%s:%s", p->name, tag);
    }
  }
  return 0;
}

int sl__deploy_plan(const struct sl_spec *spec, const struct sl_ynode *root,
                    const char *text, size_t len,
                    const struct sl_deploy_opts *o, struct sl_deploy_plan *p,
                    struct sl_error *err) {
  int rc = plan_build(spec, root, text, len, o, p, err);
  if (rc) sl__deploy_plan_release(p); /* a failed plan owns nothing */
  return rc;
}

void sl__deploy_plan_release(struct sl_deploy_plan *p) {
  for (int i = 0; i < p->n_kafka; i++) {
    struct sl_deploy_kafka *k = &p->kafka[i];
    sl_free(k->brokers);
    for (int32_t j = 0; j < k->n_topics; j++)
      sl_free(k->topics[j]);
    sl_free(k->topics);
    sl_free(k->group);
    sl_free(k->initial_offset);
  }
  sl_free(p->pod_text);
  sl_free(p->handler_src);
  sl_free(p->handler_context);
  sl_free(p->handler_dst);
  memset(p, 0, sizeof *p);
}

bool sl__deploy_has_service(const struct sl_deploy_plan *p) {
  return p->n_http > 0;
}

bool sl__deploy_has_scaledobject(const struct sl_deploy_plan *p) {
  return p->n_kafka > 0;
}

bool sl__deploy_has_hpa(const struct sl_deploy_plan *p) {
  return !p->n_kafka && p->spec->max_replicas > p->spec->min_replicas;
}
