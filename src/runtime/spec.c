/* Function spec loading: YAML tree -> config tables -> struct sl_spec. */
#include "runtime/spec.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"
#include "sluice/alloc.h"
#include "sluice/sql.h"

#define OFF(f) offsetof(struct sl_spec, f)

static const struct sl_cfg_entry top_table[] = {
    {"apiVersion", SL_CFG_ENUM, "nuclio.io/v1", 0, 0,
     "nuclio.io/v1|sluice.dev/v1|v1", OFF(api_version),
     "Spec format version (Nuclio's value is accepted as is).", false},
    {"kind", SL_CFG_ENUM, "NuclioFunction", 0, 0, "NuclioFunction|Function",
     OFF(kind), "Object kind.", false},
    {"metadata", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "name, namespace, labels, annotations (see metadata).", true},
    {"spec", SL_CFG_SECTION, NULL, 0, 0, NULL, 0, "The function (see spec).",
     true},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

#define MOFF(f) offsetof(struct sl_spec_meta, f)
static const struct sl_cfg_entry meta_table[] = {
    {"name", SL_CFG_STRING, NULL, 0, 0, NULL, MOFF(name),
     "Function name: used in logs, metrics and file names.", true},
    {"namespace", SL_CFG_STRING, "default", 0, 0, NULL, MOFF(namespace_),
     "Kubernetes namespace (used by deploy).", false},
    {"labels", SL_CFG_STRMAP, NULL, 0, 0, NULL, MOFF(labels),
     "Labels (string to string).", false},
    {"annotations", SL_CFG_STRMAP, NULL, 0, 0, NULL, MOFF(annotations),
     "Annotations (string to string).", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

static const struct sl_cfg_entry spec_table[] = {
    {"description", SL_CFG_STRING, NULL, 0, 0, NULL, OFF(description),
     "Free text.", false},
    {"runtime", SL_CFG_ENUM, "sql", 0, 0, "sql|c|passthrough", OFF(runtime),
     "Handler kind: `sql` (spec.sql), `c` (native shared object named by "
     "handler), `passthrough` (parsed records straight to the sinks).",
     false},
    {"handler", SL_CFG_STRING, NULL, 0, 0, NULL, OFF(handler),
     "For runtime c: `path/to/lib.so:prefix` (symbols prefix_init, "
     "prefix_handle, ...; see include/sluice/function.h). Ignored otherwise.",
     false},
    {"env", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "Environment for the handler: a list of {name, value} (Nuclio) or a "
     "map.",
     false},
    {"resources", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "requests / limits of cpu, memory, nvidia.com/gpu (strings); used by "
     "deploy.",
     false},
    {"minReplicas", SL_CFG_INT, "1", 0, 1000, NULL, OFF(min_replicas),
     "Fewest replicas (deploy).", false},
    {"maxReplicas", SL_CFG_INT, "1", 1, 1000, NULL, OFF(max_replicas),
     "Most replicas (deploy).", false},
    {"volumes", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "Nuclio volumes: a list of {volume, volumeMount} maps (deploy).", false},
    {"triggers", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "Map of trigger name to trigger (see triggers).", false},
    {"sinks", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "Map of sink name to sink (see sinks); default: one stdout sink.", false},
    {"sql", SL_CFG_SECTION, NULL, 0, 0, NULL, 0, "The SQL handler (see sql).",
     false},
    {"input", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "How event bodies are parsed (see input).", false},
    {"admin", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "Where /metrics, /ready, /live are served (see admin).", false},
    {"deadLetter", SL_CFG_STRING, NULL, 0, 0, NULL, OFF(dead_letter_path),
     "JSON Lines file for bad records (record, reason, trigger, position); "
     "`-` = stderr; unset = dropped (still counted).",
     false},
    {"device", SL_CFG_ENUM, "cpu", 0, 0, "cpu|auto|gpu|cuda", OFF(device),
     "Where SQL handlers run: cpu; gpu (or cuda) needs the CUDA backend and a "
     "GPU, else the function does not start; auto uses one when present. "
     "Per-batch aggregates that qualify (docs/gpu.md) run on the GPU; one "
     "device context per process is shared by the workers; set batch "
     "maxBytes to tens of MiB so each call has enough work.",
     false},
    {"logLevel", SL_CFG_ENUM, "info", 0, 0, "debug|info|warn|error",
     OFF(log_level), "Threshold of the structured JSON logs.", false},
    {"drainTimeout", SL_CFG_DURATION, "30s", 0, 3600000, NULL, OFF(drain_ms),
     "Grace period of SIGTERM: stop accepting, flush, close files.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

#define TOFF(f) offsetof(struct sl_spec_trigger, f)
static const struct sl_cfg_entry trigger_table[] = {
    {"kind", SL_CFG_STRING, NULL, 0, 0, NULL, TOFF(kind), "http, cron or file.",
     true},
    {"attributes", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "The kind's own keys (see each kind).", false},
    {"numWorkers", SL_CFG_INT, "1", 1, 256, NULL, TOFF(num_workers),
     "Handler workers started with the trigger (the minimum).", false},
    {"maxWorkers", SL_CFG_INT, "0", 0, 256, NULL, TOFF(max_workers),
     "Most workers when the queue grows (0: = numWorkers).", false},
    {"workerAvailabilityTimeoutMilliseconds", SL_CFG_INT, "10000", 0, 3600000,
     NULL, TOFF(worker_timeout_ms),
     "How long an HTTP request waits for a worker before 503.", false},
    {"batch", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "Micro-batching (see batch).", false},
    {"class", SL_CFG_IGNORE, NULL, 0, 0, NULL, 0, "Nuclio; ignored.", false},
    {"annotations", SL_CFG_IGNORE, NULL, 0, 0, NULL, 0, "Nuclio; ignored.",
     false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

#define BOFF(f) offsetof(struct sl_spec_batch, f)
static const struct sl_cfg_entry batch_table[] = {
    {"maxEvents", SL_CFG_INT, "10000", 1, 10000000, NULL, BOFF(max_events),
     "Cut a batch at this many records.", false},
    {"maxBytes", SL_CFG_SIZE, "8MiB", 1, 1073741824, NULL, BOFF(max_bytes),
     "... or at this many bytes of record text.", false},
    {"maxWait", SL_CFG_DURATION, "200ms", 0, 3600000, NULL, BOFF(max_wait_ms),
     "... or this long after its first record arrived.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

#define QOFF(f) offsetof(struct sl_spec_sql, f)
static const struct sl_cfg_entry sql_table[] = {
    {"query", SL_CFG_STRING, NULL, 0, 0, NULL, QOFF(query),
     "The query; its table is `events` (the records of the batch or window).",
     true},
    {"mode", SL_CFG_ENUM, "batch", 0, 0, "batch|window", QOFF(mode),
     "`batch`: run once per micro-batch; `window`: tumbling event-time "
     "windows.",
     false},
    {"window", SL_CFG_DURATION, "1m", 1000, 86400000, NULL, QOFF(window_ms),
     "Window length (mode window).", false},
    {"timeColumn", SL_CFG_STRING, "ts", 0, 0, NULL, QOFF(time_column),
     "Event-time column (mode window).", false},
    {"allowedLateness", SL_CFG_DURATION, "0s", 0, 86400000, NULL,
     QOFF(lateness_ms),
     "How long after its end a window stays open for late records.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

#define IOFF(f) offsetof(struct sl_spec_input, f)
static const struct sl_cfg_entry input_table[] = {
    {"format", SL_CFG_ENUM, "json", 0, 0, "json", IOFF(format),
     "Body format: JSON (one object, JSON Lines or an array).", false},
    {"schema", SL_CFG_STRING, NULL, 0, 0, NULL, IOFF(schema),
     "Columns as `name: type, ...` (see json.h); unset: inferred per batch.",
     false},
    {"maxLineBytes", SL_CFG_SIZE, "16MiB", 16, 1073741824, NULL,
     IOFF(max_line_bytes), "Longer records are dead letters.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

#define AOFF(f) offsetof(struct sl_spec_admin, f)
static const struct sl_cfg_entry admin_table[] = {
    {"host", SL_CFG_STRING, "127.0.0.1", 0, 0, NULL, AOFF(host),
     "Address of the admin server.", false},
    {"port", SL_CFG_INT, "0", 0, 65535, NULL, AOFF(port),
     "0: /metrics, /ready, /live are served on the http trigger's port "
     "(or port 8081 when there is no http trigger); else their own port.",
     false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

#define SOFF(f) offsetof(struct sl_spec_sink, f)
static const struct sl_cfg_entry sink_table[] = {
    {"kind", SL_CFG_STRING, NULL, 0, 0, NULL, SOFF(kind), "parquet or stdout.",
     true},
    {"attributes", SL_CFG_SECTION, NULL, 0, 0, NULL, 0,
     "The kind's own keys (see each kind).", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

static int attrs_apply(const struct sl_cfg_entry *table, size_t size,
                       const struct sl_ynode *node, const char *file,
                       const char *path, void **out, struct sl_error *err) {
  *out = sl_calloc(1, size ? size : 1);
  if (!*out) return sl_error_set(err, SL_ENOMEM, "out of memory");
  return sl__cfg_apply(table, node, file, path, *out, err);
}

static int parse_env(struct sl_spec *s, const struct sl_ynode *n,
                     struct sl_error *err) {
  if (!n) return 0;
  if (n->kind == SL_YNODE_MAP) {
    static const struct sl_cfg_entry t[] = {
        {"env", SL_CFG_STRMAP, NULL, 0, 0, NULL, 0, "", false},
        {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};
    struct sl_ynode wrap = {
        .kind = SL_YNODE_MAP, .n = 1, .line = n->line, .col = n->col};
    char *k = "env";
    int l = n->line, c = n->col;
    struct sl_ynode *it = (struct sl_ynode *)n;
    wrap.keys = &k;
    wrap.key_lines = &l;
    wrap.key_cols = &c;
    wrap.items = &it;
    return sl__cfg_apply(t, &wrap, s->file, "spec", &s->env, err);
  }
  if (n->kind != SL_YNODE_SEQ)
    return sl__cfg_error_at(err, s->file, n, "spec.env",
                            "a list of {name, value} or a map");
  s->env.keys = sl_calloc((size_t)n->n + 1, sizeof(char *));
  s->env.values = sl_calloc((size_t)n->n + 1, sizeof(char *));
  if (!s->env.keys || !s->env.values)
    return sl_error_set(err, SL_ENOMEM, "out of memory");
  for (int32_t i = 0; i < n->n; i++) {
    struct {
      char *name, *value;
    } kv = {0};
    static const struct sl_cfg_entry t[] = {
        {"name", SL_CFG_STRING, NULL, 0, 0, NULL, 0, "Variable name.", true},
        {"value", SL_CFG_STRING, "", 0, 0, NULL, sizeof(char *), "Its value.",
         false},
        {"valueFrom", SL_CFG_IGNORE, NULL, 0, 0, NULL, 0, "Kubernetes only.",
         false},
        {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};
    char path[64];
    snprintf(path, sizeof path, "spec.env[%d]", (int)i);
    int rc = sl__cfg_apply(t, n->items[i], s->file, path, &kv, err);
    s->env.keys[i] = kv.name;
    s->env.values[i] = kv.value;
    s->env.n = i + 1;
    if (rc) return rc;
  }
  return 0;
}

static int check_map_of_strings(const char *file, const struct sl_ynode *n,
                                const char *path, int depth,
                                struct sl_error *err) {
  if (!n) return 0;
  if (n->kind != SL_YNODE_MAP)
    return sl__cfg_error_at(err, file, n, path, "a map");
  for (int32_t i = 0; i < n->n; i++) {
    const struct sl_ynode *v = n->items[i];
    char sub[256];
    if (snprintf(sub, sizeof sub, "%s.%s", path, n->keys[i]) < 0) sub[0] = 0;
    if (depth > 0) {
      int rc = check_map_of_strings(file, v, sub, depth - 1, err);
      if (rc) return rc;
    } else if (v->kind != SL_YNODE_SCALAR) {
      return sl__cfg_error_at(err, file, v, sub, "a string");
    }
  }
  return 0;
}

static int parse_triggers(struct sl_spec *s, const struct sl_ynode *n,
                          struct sl_error *err) {
  if (!n) return 0;
  if (n->kind != SL_YNODE_MAP)
    return sl__cfg_error_at(err, s->file, n, "spec.triggers",
                            "a map of trigger name to trigger");
  s->triggers = sl_calloc((size_t)n->n + 1, sizeof *s->triggers);
  if (!s->triggers) return sl_error_set(err, SL_ENOMEM, "out of memory");
  for (int32_t i = 0; i < n->n; i++) {
    struct sl_spec_trigger *t = &s->triggers[i];
    s->n_triggers = i + 1;
    char path[256];
    snprintf(path, sizeof path, "spec.triggers.%s", n->keys[i]);
    t->name = sl_strdup(n->keys[i]);
    t->line = n->key_lines[i];
    t->col = n->key_cols[i];
    if (!t->name) return sl_error_set(err, SL_ENOMEM, "out of memory");
    const struct sl_ynode *tn = n->items[i];
    SL_RETURN_NOT_OK(sl__cfg_apply(trigger_table, tn, s->file, path, t, err));
    t->vt = sl__trigger_find(t->kind);
    if (!t->vt) {
      char known[200] = "";
      size_t k = 0;
      for (const struct sl_trigger_vtable *const *v = sl__trigger_list(); *v;
           v++)
        k += (size_t)snprintf(known + k, sizeof known - k, "%s%s",
                              k ? ", " : "", (*v)->name);
      return sl__cfg_error_at(
          err, s->file, sl__ynode_get(tn, "kind"),
          (snprintf(path + strlen(path), sizeof path - strlen(path), ".kind"),
           path),
          known);
    }
    char sub[300];
    snprintf(sub, sizeof sub, "%s.batch", path);
    SL_RETURN_NOT_OK(sl__cfg_apply(batch_table, sl__ynode_get(tn, "batch"),
                                   s->file, sub, &t->batch, err));
    snprintf(sub, sizeof sub, "%s.attributes", path);
    SL_RETURN_NOT_OK(attrs_apply(t->vt->config, t->vt->config_size,
                                 sl__ynode_get(tn, "attributes"), s->file, sub,
                                 &t->attrs, err));
    if (t->max_workers == 0) t->max_workers = t->num_workers;
    if (t->max_workers < t->num_workers)
      return sl__cfg_error_at(
          err, s->file, sl__ynode_get(tn, "maxWorkers"),
          (snprintf(sub, sizeof sub, "%s.maxWorkers", path), sub),
          "a value >= numWorkers");
    if (t->vt->validate) SL_RETURN_NOT_OK(t->vt->validate(t, s->file, err));
  }
  return 0;
}

static int parse_sinks(struct sl_spec *s, const struct sl_ynode *n,
                       struct sl_error *err) {
  if (n && n->kind != SL_YNODE_MAP)
    return sl__cfg_error_at(err, s->file, n, "spec.sinks",
                            "a map of sink name to sink");
  int32_t count = n ? n->n : 0;
  s->sinks = sl_calloc((size_t)count + 1, sizeof *s->sinks);
  if (!s->sinks) return sl_error_set(err, SL_ENOMEM, "out of memory");
  if (count == 0) { /* default: stdout */
    struct sl_spec_sink *k = &s->sinks[0];
    s->n_sinks = 1;
    k->name = sl_strdup("stdout");
    k->kind = sl_strdup("stdout");
    k->vt = sl__sink_find("stdout");
    if (!k->name || !k->kind)
      return sl_error_set(err, SL_ENOMEM, "out of memory");
    return attrs_apply(k->vt->config, k->vt->config_size, NULL, s->file,
                       "spec.sinks.stdout.attributes", &k->attrs, err);
  }
  for (int32_t i = 0; i < count; i++) {
    struct sl_spec_sink *k = &s->sinks[i];
    s->n_sinks = i + 1;
    char path[256], sub[300];
    snprintf(path, sizeof path, "spec.sinks.%s", n->keys[i]);
    k->name = sl_strdup(n->keys[i]);
    k->line = n->key_lines[i];
    k->col = n->key_cols[i];
    if (!k->name) return sl_error_set(err, SL_ENOMEM, "out of memory");
    const struct sl_ynode *kn = n->items[i];
    SL_RETURN_NOT_OK(sl__cfg_apply(sink_table, kn, s->file, path, k, err));
    k->vt = sl__sink_find(k->kind);
    if (!k->vt) {
      snprintf(sub, sizeof sub, "%s.kind", path);
      char known[200] = "";
      size_t m = 0;
      for (const struct sl_sink_vtable *const *v = sl__sink_list(); *v; v++)
        m += (size_t)snprintf(known + m, sizeof known - m, "%s%s",
                              m ? ", " : "", (*v)->name);
      return sl__cfg_error_at(err, s->file, sl__ynode_get(kn, "kind"), sub,
                              known);
    }
    snprintf(sub, sizeof sub, "%s.attributes", path);
    SL_RETURN_NOT_OK(attrs_apply(k->vt->config, k->vt->config_size,
                                 sl__ynode_get(kn, "attributes"), s->file, sub,
                                 &k->attrs, err));
    if (k->vt->validate) SL_RETURN_NOT_OK(k->vt->validate(k, s->file, err));
  }
  return 0;
}

static int build_spec(struct sl_spec *s, const struct sl_ynode *root,
                      struct sl_error *err) {
  SL_RETURN_NOT_OK(sl__cfg_apply(top_table, root, s->file, "<top>", s, err));
  SL_RETURN_NOT_OK(sl__cfg_apply(meta_table, sl__ynode_get(root, "metadata"),
                                 s->file, "metadata", &s->meta, err));
  const struct sl_ynode *sp = sl__ynode_get(root, "spec");
  SL_RETURN_NOT_OK(sl__cfg_apply(spec_table, sp, s->file, "spec", s, err));
  SL_RETURN_NOT_OK(parse_env(s, sl__ynode_get(sp, "env"), err));
  SL_RETURN_NOT_OK(check_map_of_strings(s->file, sl__ynode_get(sp, "resources"),
                                        "spec.resources", 1, err));
  const struct sl_ynode *vol = sl__ynode_get(sp, "volumes");
  if (vol && vol->kind != SL_YNODE_SEQ)
    return sl__cfg_error_at(err, s->file, vol, "spec.volumes", "a list");
  SL_RETURN_NOT_OK(parse_triggers(s, sl__ynode_get(sp, "triggers"), err));
  SL_RETURN_NOT_OK(parse_sinks(s, sl__ynode_get(sp, "sinks"), err));
  const struct sl_ynode *sq = sl__ynode_get(sp, "sql");
  if (!strcmp(s->runtime, "sql")) {
    if (!sq)
      return sl_error_set(err, SL_EINVAL,
                          "%s:%d:%d: spec: expected key 'sql' (a query) for "
                          "runtime sql, or runtime: c / passthrough",
                          s->file, sp->line, sp->col);
  }
  if (sq)
    SL_RETURN_NOT_OK(
        sl__cfg_apply(sql_table, sq, s->file, "spec.sql", &s->sql, err));
  if (sq && s->sql.query) {
    /* A query that does not parse fails the spec, not every batch. */
    struct sl_error qerr = {0};
    if (sl_sql_check_syntax(s->sql.query, &qerr)) {
      const struct sl_ynode *qn = sl__ynode_get(sq, "query");
      return sl_error_set(err, SL_EINVAL, "%s:%d:%d: spec.sql.query: %s",
                          s->file, qn ? qn->line : sq->line,
                          qn ? qn->col : sq->col, qerr.msg);
    }
  }
  SL_RETURN_NOT_OK(sl__cfg_apply(input_table, sl__ynode_get(sp, "input"),
                                 s->file, "spec.input", &s->input, err));
  SL_RETURN_NOT_OK(sl__cfg_apply(admin_table, sl__ynode_get(sp, "admin"),
                                 s->file, "spec.admin", &s->admin, err));
  if (!strcmp(s->runtime, "c")) {
    const char *h = s->handler;
    if (!h || !strchr(h, ':') || strchr(h, ':') == h || !strchr(h, ':')[1])
      return sl__cfg_error_at(err, s->file, sl__ynode_get(sp, "handler"),
                              "spec.handler",
                              "'path/to/lib.so:prefix' for runtime c");
  }
  if (s->min_replicas > s->max_replicas)
    return sl__cfg_error_at(err, s->file, sl__ynode_get(sp, "minReplicas"),
                            "spec.minReplicas", "a value <= maxReplicas");
  return 0;
}

int sl_spec_load_buffer(const char *text, size_t len, const char *name,
                        struct sl_spec **out, struct sl_error *err) {
  *out = NULL;
  struct sl_ynode *root = NULL;
  struct sl_spec *s = sl_calloc(1, sizeof *s);
  if (!s) return sl_error_set(err, SL_ENOMEM, "out of memory");
  int rc = 0;
  s->file = sl_strdup(name ? name : "function.yaml");
  if (!s->file) {
    rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    goto cleanup;
  }
  SL_CHECK_GOTO(sl__yaml_parse(text, len, s->file, &root, err), rc, cleanup);
  if (root->kind != SL_YNODE_MAP) {
    rc = sl__cfg_error_at(err, s->file, root, "<top>", "a map");
    goto cleanup;
  }
  SL_CHECK_GOTO(build_spec(s, root, err), rc, cleanup);
  *out = s;
  s = NULL;
cleanup:
  if (rc == SL_ENOMEM && err && !err->msg[0])
    sl_error_set(err, rc, "out of memory");
  sl__ynode_free(root);
  sl_spec_free(s);
  return rc;
}

int sl_spec_load_file(const char *path, struct sl_spec **out,
                      struct sl_error *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return sl_error_set(err, errno == ENOENT ? SL_ENOENT : SL_EIO,
                        "%s: cannot open the function spec: %s", path,
                        strerror(errno));
  char *buf = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (n + 4096 > cap) {
      if (cap > (16u << 20)) {
        rc = sl_error_set(err, SL_ERANGE,
                          "%s: expected a spec of at most 16 MiB", path);
        goto cleanup;
      }
      cap = cap ? cap * 2 : 8192;
      char *nb = sl_realloc(buf, cap);
      if (!nb) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory");
        goto cleanup;
      }
      buf = nb;
    }
    size_t k = fread(buf + n, 1, cap - n, f);
    n += k;
    if (k == 0) break;
  }
  if (ferror(f)) {
    rc = sl_error_set(err, SL_EIO, "%s: read failed", path);
    goto cleanup;
  }
  rc = sl_spec_load_buffer(buf, n, path, out, err);
cleanup:
  sl_free(buf);
  fclose(f);
  return rc;
}

void sl_spec_free(struct sl_spec *s) {
  if (!s) return;
  for (int32_t i = 0; i < s->n_triggers; i++) {
    struct sl_spec_trigger *t = &s->triggers[i];
    if (t->vt && t->attrs) sl__cfg_release(t->vt->config, t->attrs);
    sl_free(t->attrs);
    sl__cfg_release(trigger_table, t);
    sl_free(t->name);
  }
  sl_free(s->triggers);
  for (int32_t i = 0; i < s->n_sinks; i++) {
    struct sl_spec_sink *k = &s->sinks[i];
    if (k->vt && k->attrs) sl__cfg_release(k->vt->config, k->attrs);
    sl_free(k->attrs);
    sl__cfg_release(sink_table, k);
    sl_free(k->name);
  }
  sl_free(s->sinks);
  sl__cfg_release(top_table, s);
  sl__cfg_release(meta_table, &s->meta);
  sl__cfg_release(spec_table, s);
  sl__cfg_release(sql_table, &s->sql);
  sl__cfg_release(input_table, &s->input);
  sl__cfg_release(admin_table, &s->admin);
  sl__strmap_release(&s->env);
  sl_free(s->file);
  sl_free(s);
}

const char *sl_spec_name(const struct sl_spec *spec) {
  return spec->meta.name;
}

void sl_spec_summary(const struct sl_spec *s, FILE *f) {
  fprintf(f, "function %s: runtime %s", s->meta.name, s->runtime);
  if (!strcmp(s->runtime, "c")) fprintf(f, " (handler %s)", s->handler);
  if (!strcmp(s->runtime, "sql"))
    fprintf(f, " (%s mode)", s->sql.mode ? s->sql.mode : "batch");
  fprintf(f, "\n");
  for (int32_t i = 0; i < s->n_triggers; i++) {
    const struct sl_spec_trigger *t = &s->triggers[i];
    fprintf(f,
            "  trigger %s: %s, workers %lld..%lld, batch maxEvents %lld "
            "maxBytes %lld maxWait %lldms\n",
            t->name, t->kind, (long long)t->num_workers,
            (long long)t->max_workers, (long long)t->batch.max_events,
            (long long)t->batch.max_bytes, (long long)t->batch.max_wait_ms);
  }
  for (int32_t i = 0; i < s->n_sinks; i++)
    fprintf(f, "  sink %s: %s\n", s->sinks[i].name, s->sinks[i].kind);
  fprintf(f, "  dead letters: %s\n",
          s->dead_letter_path ? s->dead_letter_path : "(counted, dropped)");
}

void sl_spec_describe(FILE *f) {
  fprintf(f, "### Top level\n\n");
  sl__cfg_describe(top_table, f);
  fprintf(f, "\n### metadata\n\n");
  sl__cfg_describe(meta_table, f);
  fprintf(f, "\n### spec\n\n");
  sl__cfg_describe(spec_table, f);
  fprintf(f, "\n### spec.triggers.<name>\n\n");
  sl__cfg_describe(trigger_table, f);
  fprintf(f, "\n### spec.triggers.<name>.batch\n\n");
  sl__cfg_describe(batch_table, f);
  for (const struct sl_trigger_vtable *const *v = sl__trigger_list(); *v; v++) {
    fprintf(f, "\n### Trigger kind `%s`: attributes\n\n%s\n\n", (*v)->name,
            (*v)->doc);
    sl__cfg_describe((*v)->config, f);
  }
  fprintf(f, "\n### spec.sql\n\n");
  sl__cfg_describe(sql_table, f);
  fprintf(f, "\n### spec.input\n\n");
  sl__cfg_describe(input_table, f);
  fprintf(f, "\n### spec.admin\n\n");
  sl__cfg_describe(admin_table, f);
  fprintf(f, "\n### spec.sinks.<name>\n\n");
  sl__cfg_describe(sink_table, f);
  for (const struct sl_sink_vtable *const *v = sl__sink_list(); *v; v++) {
    fprintf(f, "\n### Sink kind `%s`: attributes\n\n%s\n\n", (*v)->name,
            (*v)->doc);
    sl__cfg_describe((*v)->config, f);
  }
}
