/* The built-in default function of `sluice run` with no spec: an HTTP
 * trigger on 127.0.0.1:8080, a per-minute SQL aggregation of log records,
 * Parquet in ./out partitioned by day. */
#include <stdio.h>
#include <string.h>

#include "runtime/spec.h"
#include "sluice/alloc.h"

int sl_spec_default(const char *host, int port, const char *out_dir,
                    struct sl_spec **out, struct sl_error *err) {
  char text[4096];
  int n = snprintf(
      text, sizeof text,
      "apiVersion: nuclio.io/v1\n"
      "kind: NuclioFunction\n"
      "metadata:\n"
      "  name: default\n"
      "spec:\n"
      "  description: per-minute aggregation of JSON logs into Parquet\n"
      "  runtime: sql\n"
      "  sql:\n"
      "    mode: window\n"
      "    window: 1m\n"
      "    timeColumn: ts\n"
      "    allowedLateness: 10s\n"
      "    query: >-\n"
      "      SELECT date_trunc('minute', ts) AS minute, service, level,\n"
      "      count(*) AS requests, avg(latency_ms) AS avg_latency_ms,\n"
      "      max(latency_ms) AS max_latency_ms, sum(bytes) AS bytes\n"
      "      FROM events GROUP BY 1, 2, 3\n"
      "  input:\n"
      "    schema: \"ts: timestamp[ms], level: utf8, service: utf8, "
      "latency_ms: float64, bytes: int64\"\n"
      "  triggers:\n"
      "    http:\n"
      "      kind: http\n"
      "      numWorkers: 2\n"
      "      maxWorkers: 4\n"
      "      attributes:\n"
      "        host: \"%s\"\n"
      "        port: %d\n"
      "  sinks:\n"
      "    parquet:\n"
      "      kind: parquet\n"
      "      attributes:\n"
      "        path: \"%s\"\n"
      "        partition: \"date={minute:%%Y-%%m-%%d}\"\n"
      "        rollInterval: 60s\n"
      "  deadLetter: \"%s/dead-letters.jsonl\"\n",
      host ? host : "127.0.0.1", port > 0 ? port : 8080,
      out_dir ? out_dir : "out", out_dir ? out_dir : "out");
  if (n < 0 || (size_t)n >= sizeof text)
    return sl_error_set(err, SL_ERANGE, "default spec: arguments too long");
  return sl_spec_load_buffer(text, (size_t)n, "<built-in default>", out, err);
}
