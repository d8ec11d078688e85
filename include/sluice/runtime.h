/* sluice: the function runtime (`sluice run function.yaml`).
 *
 * A function is a spec (Nuclio-style function.yaml, docs/function-spec.md)
 * plus a handler (SQL, native C, or passthrough). Triggers receive events,
 * a batcher per trigger cuts micro-batches, a worker pool per trigger runs
 * the handler, sinks write the results. See docs/runtime.md.
 *
 * Everything hangs off an explicit struct sl_runtime: two runtimes can live
 * in one process (on different ports). */
#ifndef SLUICE_RUNTIME_H
#define SLUICE_RUNTIME_H

#include <stdint.h>
#include <stdio.h>

#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_spec;
struct sl_runtime;

/* Loads and validates a spec strictly: unknown keys, wrong types, missing
 * required keys and out-of-range values fail with SL_EINVAL and
 * "file:line:col: path: expected ..., found '...'". `${VAR}` and
 * `${VAR:-default}` are substituted from the environment first.
 * *out is freed with sl_spec_free. */
int sl_spec_load_file(const char *path, struct sl_spec **out,
                      struct sl_error *err);
/* The same from memory; `name` is used as the file name in messages. */
int sl_spec_load_buffer(const char *text, size_t len, const char *name,
                        struct sl_spec **out, struct sl_error *err);
/* The built-in default function: HTTP trigger on host:port (127.0.0.1:8080
 * when host is NULL / port is 0), per-minute SQL aggregation, Parquet in
 * out_dir ("./out" when NULL). */
int sl_spec_default(const char *host, int port, const char *out_dir,
                    struct sl_spec **out, struct sl_error *err);
void sl_spec_free(struct sl_spec *spec);
/* A short human summary (name, handler, triggers, sinks) for `sluice check`. */
void sl_spec_summary(const struct sl_spec *spec, FILE *f);
/* The reference of every key (markdown), generated from the config tables. */
void sl_spec_describe(FILE *f);
const char *sl_spec_name(const struct sl_spec *spec);

/* Creates a runtime for spec (borrowed: it must outlive the runtime). Loads
 * the handler; does not open ports yet. */
int sl_runtime_create(const struct sl_spec *spec, struct sl_runtime **out,
                      struct sl_error *err);
/* Starts sinks, workers and triggers (ports are bound here). */
int sl_runtime_start(struct sl_runtime *rt, struct sl_error *err);
/* Graceful drain: stop accepting, flush batches, run them, close sinks
 * (files are published), within timeout_ms (<0: the spec's drainTimeout).
 * Returns SL_ECANCELED when the grace period ran out with work left. */
int sl_runtime_drain(struct sl_runtime *rt, int64_t timeout_ms,
                     struct sl_error *err);
void sl_runtime_free(struct sl_runtime *rt);
/* True when every trigger is started and accepting (for /ready). */
int sl_runtime_ready(const struct sl_runtime *rt);
/* Ports actually bound by the http trigger / admin server (0 when none);
 * useful when the spec asked for port 0 (any free port). */
int sl_runtime_http_port(const struct sl_runtime *rt);
int sl_runtime_admin_port(const struct sl_runtime *rt);
/* Writes the Prometheus text exposition of the runtime's metrics. */
int sl_runtime_metrics_text(struct sl_runtime *rt, char **out, size_t *len);
/* Waits until every trigger that can finish by itself (a file glob read
 * once) has finished and its output is durable; returns 0 then, or
 * SL_ECANCELED after timeout_ms (<0: forever). A runtime with a trigger that
 * never finishes (http, cron, watched folder) waits until timeout. */
int sl_runtime_wait_finished(struct sl_runtime *rt, int64_t timeout_ms);

/* Structured JSON logs on stderr, one object per line:
 * {"ts":"...","level":"info","fn":"<name>","msg":"...", ...fields}.
 * fields_fmt (may be NULL) is printf text of extra JSON members, e.g.
 * "\"port\":%d". Levels: debug, info, warn, error; the threshold is the
 * spec's logLevel (rt may be NULL: info). Thread-safe: one write() per line. */
enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };
int sl_log_parse_level(const char *s, enum sl_log_level *out);
void sl_log(const struct sl_runtime *rt, enum sl_log_level level,
            const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif
#endif
