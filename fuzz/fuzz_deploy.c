/* libFuzzer target: `sluice deploy` on hostile specs. Every spec the loader
 * accepts is planned (no broker probe) and rendered; every rendered
 * Kubernetes object must be well-formed YAML (libyaml), and the ConfigMap
 * must give back the pod's copy of the spec byte for byte, whatever bytes
 * it holds. The pod's copy (listen addresses edited in place) must itself
 * load. ASan/UBSan watch for everything else. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "runtime/deploy/deploy.h"
#include "sluice/alloc.h"
#include "sluice/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef void (*render_fn)(const struct sl_deploy_plan *, FILE *);

/* Parses `text`; returns the value of the first scalar whose key is `key`
 * (malloc'd, *n its length), or NULL. Traps on malformed YAML. */
static char *check_yaml(const char *text, size_t len, const char *key,
                        size_t *n) {
  yaml_parser_t p;
  yaml_event_t ev;
  char *found = NULL;
  int want_value = 0, done = 0;
  if (!yaml_parser_initialize(&p)) return NULL;
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  while (!done) {
    if (!yaml_parser_parse(&p, &ev)) __builtin_trap();
    if (ev.type == YAML_SCALAR_EVENT) {
      const char *v = (const char *)ev.data.scalar.value;
      size_t vl = ev.data.scalar.length;
      if (want_value && !found) {
        found = malloc(vl + 1);
        memcpy(found, v, vl);
        found[vl] = 0;
        *n = vl;
      }
      want_value = key && vl == strlen(key) && !memcmp(v, key, vl);
    } else {
      want_value = 0;
    }
    done = ev.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  return found;
}

static void render(render_fn fn, const struct sl_deploy_plan *p,
                   const char *key) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return;
  fn(p, f);
  fclose(f);
  size_t n = 0;
  char *v = check_yaml(buf, len, key, &n);
  if (key && (!v || n != p->spec_len || memcmp(v, p->spec_text, n)))
    __builtin_trap();
  free(v);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 16)) return 0;
  struct sl_spec *spec = NULL;
  struct sl_ynode *root = NULL;
  struct sl_error err = {0};
  const char *text = (const char *)data;
  if (sl_spec_load_buffer(text, size, "fuzz.yaml", &spec, &err) ||
      sl__yaml_parse(text, size, "fuzz.yaml", &root, &err)) {
    sl_spec_free(spec);
    return 0;
  }
  struct sl_deploy_opts o = {.registry = "r.example:5000/x",
                             .source_dir = "/nonexistent",
                             .probe_ms = 0};
  struct sl_deploy_plan p;
  if (sl__deploy_plan(spec, root, text, size, &o, &p, &err) == 0) {
    if (p.pod_text) { /* the edited copy loads */
      struct sl_spec *again = NULL;
      if (sl_spec_load_buffer(p.pod_text, p.spec_len, "pod.yaml", &again, &err))
        __builtin_trap();
      sl_spec_free(again);
    }
    render(sl__deploy_configmap, &p, "function.yaml");
    render(sl__deploy_deployment, &p, NULL);
    if (sl__deploy_has_service(&p)) render(sl__deploy_service, &p, NULL);
    if (sl__deploy_has_hpa(&p)) render(sl__deploy_hpa, &p, NULL);
    if (sl__deploy_has_scaledobject(&p))
      render(sl__deploy_scaledobject, &p, NULL);
    render(sl__deploy_pdb, &p, NULL);
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) {
      sl__deploy_dockerfile(&p, devnull);
      fclose(devnull);
    }
    sl__deploy_plan_release(&p);
  } else if (!strstr(err.msg, "fuzz.yaml") && !strstr(err.msg, "spec.")) {
    __builtin_trap(); /* a refusal names where */
  }
  sl__ynode_free(root);
  sl_spec_free(spec);
  return 0;
}
