/* sluice runtime: the parsed, validated function spec (function.yaml).
 * See docs/function-spec.md for the reference of every key. */
#ifndef SLUICE_RUNTIME_SPEC_H
#define SLUICE_RUNTIME_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/config.h"
#include "sluice/runtime.h"

struct sl_trigger_vtable;
struct sl_sink_vtable;

struct sl_spec_batch {
  int64_t max_events;
  int64_t max_bytes;
  int64_t max_wait_ms;
};

struct sl_spec_trigger {
  char *name;
  char *kind;
  int64_t num_workers, max_workers;
  int64_t worker_timeout_ms; /* workerAvailabilityTimeoutMilliseconds */
  struct sl_spec_batch batch;
  const struct sl_trigger_vtable *vt;
  void *attrs; /* vt->config_size bytes, filled by vt->config */
  int line, col;
};

struct sl_spec_sink {
  char *name;
  char *kind;
  const struct sl_sink_vtable *vt;
  void *attrs;
  int line, col;
};

struct sl_spec_sql {
  char *query;
  char *mode;        /* "batch" | "window" */
  int64_t window_ms; /* tumbling window length */
  char *time_column;
  int64_t lateness_ms;
};

struct sl_spec_input {
  char *schema; /* "name: type, ..." or NULL to infer per batch */
  char *format; /* "json" */
  int64_t max_line_bytes;
};

struct sl_spec_meta {
  char *name, *namespace_;
  struct sl_strmap labels, annotations;
};

struct sl_spec_admin {
  char *host;
  int64_t port; /* 0: serve /metrics, /ready, /live on the http trigger */
};

struct sl_spec {
  char *file;
  char *api_version, *kind;
  struct sl_spec_meta meta;
  char *handler, *runtime, *description, *device, *log_level;
  struct sl_strmap env;
  int64_t min_replicas, max_replicas;
  int64_t drain_ms;
  struct sl_spec_sql sql;
  struct sl_spec_input input;
  struct sl_spec_admin admin;
  char *dead_letter_path;
  int32_t n_triggers;
  struct sl_spec_trigger *triggers;
  int32_t n_sinks;
  struct sl_spec_sink *sinks;
};

/* Registries: the one static list of each (src/runtime/registry.c). */
const struct sl_trigger_vtable *sl__trigger_find(const char *kind);
const struct sl_sink_vtable *sl__sink_find(const char *kind);
const struct sl_trigger_vtable *const *sl__trigger_list(void);
const struct sl_sink_vtable *const *sl__sink_list(void);

#endif
