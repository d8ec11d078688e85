/* sluice demo: the main job on built-in defaults. Generates a sample log,
 * loads it into Arrow-layout columns with the JSON Lines reader and prints a
 * per-column summary; then runs the article's kind of aggregation over it,
 * as `sluice query` does, and writes zstd Parquet. */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/commands.h"
#include "sluice/json.h"
#include "sluice/parquet.h"
#include "sluice/sql.h"
#include "sluice/table.h"

/* The article's kind of job: per service, request counts, errors, latency
 * and bytes, from the raw log into a small Parquet table. */
static const char demo_sql[] =
    "SELECT service,\n"
    "       count(*) AS requests,\n"
    "       sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS errors,\n"
    "       round(avg(latency_ms), 1) AS avg_ms,\n"
    "       round(approx_quantile(latency_ms, 0.99), 1) AS p99_ms,\n"
    "       sum(bytes) AS bytes\n"
    "FROM read_json('%s', columns => {'service': 'VARCHAR', 'status': "
    "'BIGINT',\n"
    "     'latency_ms': 'DOUBLE', 'bytes': 'BIGINT'})\n"
    "GROUP BY service\n"
    "ORDER BY requests DESC";

/* Runs demo_sql over path, writes out_path (zstd Parquet), prints the rows. */
static int run_query(const char *path, const char *out_path) {
  char sql[sizeof demo_sql + 4200];
  snprintf(sql, sizeof sql, demo_sql, path);
  printf("\nsluice query \"%s\" --skip-bad-lines --output %s\n\n", sql,
         out_path);
  struct sl_query_options qo;
  sl_query_options_init(&qo);
  qo.skip_bad_lines = true;
  struct sl_error err = {0};
  struct sl_query *q = NULL;
  struct sl_batch_reader *r = NULL;
  struct sl_parquet_writer *w = NULL;
  struct sl_batch *batches[64];
  int32_t n = 0;
  int rc = sl_query_prepare(sql, &qo, &q, &err);
  if (!rc) rc = sl_query_execute(q, &r, &err);
  if (!rc) {
    struct sl_parquet_write_options po;
    sl_parquet_write_options_init(&po);
    rc = sl_parquet_writer_open(out_path, sl_query_schema(q), &po, &w, &err);
  }
  while (!rc) {
    struct sl_batch *b = NULL;
    rc = r->next(r, &b, &err);
    if (rc || !b) break;
    rc = sl_parquet_writer_write(w, b, &err);
    if (n < 64)
      batches[n++] = b;
    else
      sl_batch_free(b);
  }
  if (w) {
    if (!rc)
      rc = sl_parquet_writer_close(w, &err);
    else
      sl_parquet_writer_abort(w);
  }
  if (!rc) rc = sl_print_table(stdout, batches, n, 100, &err);
  if (!rc) {
    int64_t rows_in = 0, bad = 0;
    sl_query_counters(q, &rows_in, &bad);
    printf("\n%lld rows aggregated, %lld bad lines skipped; result in %s (zstd "
           "Parquet)\n",
           (long long)rows_in, (long long)bad, out_path);
  }
  for (int32_t i = 0; i < n; i++)
    sl_batch_free(batches[i]);
  if (r) r->release(r);
  sl_query_free(q);
  if (rc) fprintf(stderr, "sluice demo: %s\n", err.msg);
  return rc;
}

struct col_summary {
  int64_t rows, nulls;
  double min, max;          /* numeric and temporal columns */
  int64_t min_len, max_len; /* strings */
  bool seen;
};

static void summarise(struct col_summary *s, struct sl_array *a) {
  s->rows += a->length;
  s->nulls += sl_array_null_count(a);
  for (int64_t i = 0; i < a->length; i++) {
    if (!sl_array_is_valid(a, i)) continue;
    double v;
    switch (a->type) {
    case SL_TYPE_INT64:
    case SL_TYPE_TIMESTAMP_MS:
    case SL_TYPE_TIMESTAMP_US: v = (double)sl_array_i64(a)[i]; break;
    case SL_TYPE_INT32:
    case SL_TYPE_DATE32: v = sl_array_i32(a)[i]; break;
    case SL_TYPE_FLOAT64: v = sl_array_f64(a)[i]; break;
    case SL_TYPE_BOOL: v = sl_array_bool(a, i); break;
    case SL_TYPE_UTF8:
    case SL_TYPE_LARGE_UTF8:
    case SL_TYPE_DICT_UTF8: {
      int64_t n;
      sl_array_str(a, i, &n);
      v = (double)n;
      break;
    }
    default: continue;
    }
    if (!s->seen || v < s->min) s->min = v;
    if (!s->seen || v > s->max) s->max = v;
    s->seen = true;
  }
}

static void fmt_ts(char *buf, size_t cap, double v, bool us) {
  time_t secs = (time_t)floor(us ? v / 1e6 : v / 1e3);
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, cap - n, ".%03dZ", (int)fmod(us ? v / 1e3 : v, 1000.0));
}

static void fmt_range(char *buf, size_t cap, const struct sl_field *f,
                      const struct col_summary *s) {
  if (!s->seen) {
    snprintf(buf, cap, "-");
    return;
  }
  char a[40], b[40];
  switch (f->type) {
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US:
    fmt_ts(a, sizeof a, s->min, f->type == SL_TYPE_TIMESTAMP_US);
    fmt_ts(b, sizeof b, s->max, f->type == SL_TYPE_TIMESTAMP_US);
    snprintf(buf, cap, "%s .. %s", a, b);
    break;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
  case SL_TYPE_DICT_UTF8:
    snprintf(buf, cap, "length %.0f .. %.0f", s->min, s->max);
    break;
  case SL_TYPE_FLOAT64:
    snprintf(buf, cap, "%.3f .. %.3f", s->min, s->max);
    break;
  case SL_TYPE_BOOL:
    snprintf(buf, cap, "%s .. %s", s->min ? "true" : "false",
             s->max ? "true" : "false");
    break;
  default: snprintf(buf, cap, "%.0f .. %.0f", s->min, s->max); break;
  }
}

struct bad_ctx {
  int64_t shown;
};

static void on_bad(void *ctx, const char *line, size_t len, int64_t line_no,
                   int64_t off, const char *reason) {
  struct bad_ctx *b = ctx;
  if (b->shown++ < 3)
    fprintf(stderr, "  bad line %" PRId64 " (byte %" PRId64 "): %s: %.60s%s\n",
            line_no, off, reason, line, len > 60 ? "..." : "");
}

int sl_cmd_demo(int argc, char **argv) {
  static const struct option opts[] = {
      {"rows", required_argument, 0, 'r'},
      {"output-dir", required_argument, 0, 'o'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *rows = "200000", *dir = "out";
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "r:o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'r': rows = optarg; break;
    case 'o': dir = optarg; break;
    default:
      fprintf(
          c == 'h' ? stdout : stderr,
          "usage: sluice demo [--rows N] [--output-dir DIR]\n"
          "Generates DIR/sample.jsonl (messy service logs), loads it into\n"
          "columns and prints a per-column summary, then aggregates it per\n"
          "service with SQL into DIR/services.parquet and prints the "
          "result.\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (mkdir(dir, 0755) && errno != EEXIST) {
    fprintf(stderr, "sluice demo: cannot create '%s': %s\n", dir,
            strerror(errno));
    return 1;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/sample.jsonl", dir);
  char *gen_argv[] = {"gen",      "--rows", (char *)rows, "--messy",
                      "--output", path,     NULL};
  int rc = sl_cmd_gen(6, gen_argv);
  if (rc) return rc;
  struct stat st;
  stat(path, &st);
  printf("generated %s: %s rows, %.1f MB of JSON Lines (messy: shuffled keys, "
         "nulls, bad lines)\n\n",
         path, rows, (double)st.st_size / 1e6);
  fflush(stdout);

  struct sl_json_options o;
  sl_json_options_init(&o);
  o.bad_lines = SL_JSON_BAD_SKIP;
  o.infer_timestamps = true;
  struct bad_ctx bad = {0};
  o.on_bad_line = on_bad;
  o.bad_line_ctx = &bad;
  struct sl_error err = {0};
  struct sl_batch_reader *r = NULL;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if ((rc = sl_json_open_file(path, &o, &r, &err))) {
    fprintf(stderr, "sluice demo: %s\n", err.msg);
    return 1;
  }
  const struct sl_schema *schema = r->schema(r);
  int32_t n = schema->n_fields;
  struct col_summary *sum = calloc((size_t)n, sizeof *sum);
  int64_t batches = 0;
  for (;;) {
    struct sl_batch *b = NULL;
    if ((rc = r->next(r, &b, &err))) break;
    if (!b) break;
    batches++;
    for (int32_t i = 0; i < n && i < b->n_columns; i++)
      summarise(&sum[i], b->columns[i]);
    sl_batch_free(b);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  struct sl_json_stats stats = {0};
  sl_json_reader_stats(r, &stats);
  if (rc) {
    fprintf(stderr, "sluice demo: %s\n", err.msg);
  } else {
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("loaded into %" PRId64
           " record batches in %.3f s (%.0f MB/s): %" PRId64 " rows, %" PRId64
           " bad lines set aside, %" PRId64 " type mismatches nulled\n\n",
           batches, secs, (double)stats.bytes / secs / 1e6, stats.rows,
           stats.bad_lines, stats.type_mismatches);
    int wn = 6, wt = 4;
    char type[128];
    for (int32_t i = 0; i < n; i++) {
      int l = (int)strlen(schema->fields[i].name);
      wn = l > wn ? l : wn;
      sl_field_format(&schema->fields[i], type, sizeof type);
      l = (int)strlen(type) - l - 2;
      wt = l > wt ? l : wt;
    }
    printf("%-*s  %-*s %10s %8s  %s\n", wn, "column", wt, "type", "rows",
           "nulls", "range");
    for (int32_t i = 0; i < n; i++) {
      char range[96];
      sl_field_format(&schema->fields[i], type, sizeof type);
      const char *t = type + strlen(schema->fields[i].name) + 2;
      fmt_range(range, sizeof range, &schema->fields[i], &sum[i]);
      printf("%-*s  %-*s %10" PRId64 " %8" PRId64 "  %s\n", wn,
             schema->fields[i].name, wt, t, sum[i].rows, sum[i].nulls, range);
    }
  }
  free(sum);
  r->release(r);
  sl_json_options_release(&o);
  if (rc) return 1;
  char out_path[4200];
  snprintf(out_path, sizeof out_path, "%s/services.parquet", dir);
  return run_query(path, out_path) ? 1 : 0;
}
