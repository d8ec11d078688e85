/* sluice bench-device: runs the benchmark queries Q1-Q6 (docs/benchmarks.md)
 * as device plans on the GPU backend, end to end from a JSON Lines file and
 * device-only (input resident on the GPU), printing results as JSON Lines
 * for comparison with the CPU engine and peers (bench/gpu/run.sh). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "device/device_abi.h"
#include "sluice/device.h"
#include "sluice/parquet.h"
#include "sluice/table.h"

static int add_col(struct sl_dev_plan *p, const char *path, int type) {
  for (int c = 0; c < p->n_columns; c++)
    if (!strcmp(p->columns[c].path, path)) return c;
  snprintf(p->columns[p->n_columns].path, SL_DEV_MAX_PATH, "%s", path);
  p->columns[p->n_columns].type = type;
  return p->n_columns++;
}
static void add_key(struct sl_dev_plan *p, int col, int64_t bucket) {
  p->keys[p->n_keys].column = col;
  p->keys[p->n_keys++].bucket_ms = bucket;
}
static void add_agg(struct sl_dev_plan *p, int op, int col) {
  p->aggs[p->n_aggs].op = op;
  p->aggs[p->n_aggs++].column = col;
}

/* The benchmark queries of docs/benchmarks.md as device plans. */
static int make_plan(const char *q, struct sl_dev_plan *p, const char **names,
                     int *top_n) {
  memset(p, 0, sizeof *p);
  *top_n = 0;
  if (!strcmp(q, "q1")) {
    add_key(p, add_col(p, "service", SL_DEV_STRING), 0);
    add_key(p, add_col(p, "status", SL_DEV_INT64), 0);
    add_agg(p, SL_DEV_COUNT_STAR, -1);
    add_agg(p, SL_DEV_SUM, add_col(p, "bytes", SL_DEV_INT64));
    add_agg(p, SL_DEV_AVG, add_col(p, "latency_ms", SL_DEV_FLOAT64));
    add_agg(p, SL_DEV_MAX, add_col(p, "latency_ms", SL_DEV_FLOAT64));
    const char *n[] = {"service", "status",      "n",
                       "bytes",   "avg_latency", "max_latency"};
    memcpy(names, n, sizeof n);
  } else if (!strcmp(q, "q2")) {
    add_key(p, add_col(p, "ts", SL_DEV_TS_MS), 60000);
    add_key(p, add_col(p, "region", SL_DEV_STRING), 0);
    add_agg(p, SL_DEV_COUNT_STAR, -1);
    add_agg(p, SL_DEV_AVG, add_col(p, "latency_ms", SL_DEV_FLOAT64));
    add_agg(p, SL_DEV_SUM, add_col(p, "bytes", SL_DEV_INT64));
    const char *n[] = {"minute", "region", "n", "avg_latency", "bytes"};
    memcpy(names, n, sizeof n);
  } else if (!strcmp(q, "q3")) {
    int st = add_col(p, "status", SL_DEV_INT64);
    p->preds[0].column = st;
    p->preds[0].cmp = SL_DEV_GE;
    p->preds[0].i64 = 500;
    p->n_preds = 1;
    add_key(p, add_col(p, "host", SL_DEV_STRING), 0);
    add_key(p, add_col(p, "path", SL_DEV_STRING), 0);
    add_agg(p, SL_DEV_COUNT_STAR, -1);
    const char *n[] = {"host", "path", "n"};
    memcpy(names, n, sizeof n);
  } else if (!strcmp(q, "q4")) {
    add_key(p, add_col(p, "user_id", SL_DEV_INT64), 0);
    add_agg(p, SL_DEV_COUNT_STAR, -1);
    add_agg(p, SL_DEV_SUM, add_col(p, "bytes", SL_DEV_INT64));
    const char *n[] = {"user_id", "n", "bytes"};
    memcpy(names, n, sizeof n);
  } else if (!strcmp(q, "q5")) {
    add_key(p, add_col(p, "geo.country", SL_DEV_STRING), 0);
    add_agg(p, SL_DEV_COUNT_STAR, -1);
    add_agg(p, SL_DEV_AVG, add_col(p, "latency_ms", SL_DEV_FLOAT64));
    const char *n[] = {"country", "n", "avg_latency"};
    memcpy(names, n, sizeof n);
  } else if (!strcmp(q, "q6")) {
    add_key(p, add_col(p, "company", SL_DEV_STRING), 0);
    static const char *m[] = {"cpu_utilization", "latency", "packet_loss",
                              "throughput"};
    static char buf[12][40];
    int k = 1;
    names[0] = "company";
    for (int i = 0; i < 4; i++) {
      int c = add_col(p, m[i], SL_DEV_FLOAT64);
      static const int ops[] = {SL_DEV_MIN, SL_DEV_MAX, SL_DEV_AVG};
      static const char *on[] = {"min", "max", "mean"};
      for (int o = 0; o < 3; o++) {
        add_agg(p, ops[o], c);
        snprintf(buf[k - 1], sizeof buf[0], "%s_%s", m[i], on[o]);
        names[k] = buf[k - 1];
        k++;
      }
    }
    *top_n = 10; /* ORDER BY cpu_utilization_mean DESC LIMIT 10 */
  } else {
    return -1;
  }
  return 0;
}

static void print_value(FILE *f, const struct sl_array *a, int64_t i) {
  if (!sl_array_is_valid(a, i)) {
    fputs("null", f);
    return;
  }
  switch (a->type) {
  case SL_TYPE_UTF8: {
    int64_t n;
    const char *s = sl_array_str(a, i, &n);
    fputc('"', f);
    for (int64_t k = 0; k < n; k++) {
      unsigned char c = (unsigned char)s[k];
      if (c == '"' || c == '\\')
        fprintf(f, "\\%c", c);
      else if (c < 0x20)
        fprintf(f, "\\u%04x", c);
      else
        fputc(c, f);
    }
    fputc('"', f);
    break;
  }
  case SL_TYPE_FLOAT64: fprintf(f, "%.17g", sl_array_f64(a)[i]); break;
  case SL_TYPE_BOOL: fputs(sl_array_bool(a, i) ? "true" : "false", f); break;
  default: fprintf(f, "%" PRId64, sl_array_i64(a)[i]); break;
  }
}

static int cmp_desc_col = 0;
static const struct sl_array *cmp_arr;
static int cmp_rows(const void *x, const void *y) {
  double a = sl_array_f64(cmp_arr)[*(const int64_t *)x];
  double b = sl_array_f64(cmp_arr)[*(const int64_t *)y];
  return a < b ? 1 : a > b ? -1 : 0;
}

int sl_cmd_devbench(int argc, char **argv) {
  static const struct option opts[] = {{"file", required_argument, 0, 'f'},
                                       {"query", required_argument, 0, 'q'},
                                       {"device", required_argument, 0, 'd'},
                                       {"resident", required_argument, 0, 'r'},
                                       {"output", required_argument, 0, 'o'},
                                       {"parquet", required_argument, 0, 'p'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *file = NULL, *query = "q1", *device = "gpu", *output = NULL,
             *parquet = NULL;
  int resident = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "f:q:d:r:o:p:h", opts, NULL)) != -1) {
    switch (c) {
    case 'f': file = optarg; break;
    case 'q': query = optarg; break;
    case 'd': device = optarg; break;
    case 'r': resident = atoi(optarg); break;
    case 'o': output = optarg; break;
    case 'p': parquet = optarg; break;
    default:
      fprintf(stderr,
              "usage: sluice bench-device --file F.jsonl --query q1..q6 "
              "[--device gpu[:N]] [--resident REPEAT] [--output R.jsonl]\n"
              "       [--parquet R.parquet]   (the whole group result, zstd;\n"
              "                                timed as part of end to end)\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (!file) {
    fprintf(stderr, "sluice bench-device: --file is required\n");
    return 2;
  }
  struct sl_dev_plan plan;
  const char *names[SL_DEV_MAX_KEYS + SL_DEV_MAX_AGGS];
  int top_n;
  if (make_plan(query, &plan, names, &top_n)) {
    fprintf(stderr, "sluice bench-device: --query expects q1..q6, got '%s'\n",
            query);
    return 2;
  }
  struct sl_error err = {0};
  struct sl_device_choice choice;
  struct sl_device *dev = NULL;
  if (sl_device_choice_parse(device, &choice, &err) ||
      sl_device_open(&choice, &dev, &err)) {
    fprintf(stderr, "sluice bench-device: %s\n", err.msg);
    return 1;
  }
  int fd = open(file, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) {
    fprintf(stderr, "sluice bench-device: cannot open '%s': %s\n", file,
            strerror(errno));
    sl_device_close(dev);
    return 1;
  }
  size_t len = (size_t)st.st_size;
  /* Device-only runs copy a mapping to the device once; end-to-end runs
   * hand the backend the file, as `sluice query` does. */
  const char *data =
      len && resident ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : "";
  if (data == MAP_FAILED) {
    close(fd);
    fprintf(stderr, "sluice bench-device: cannot map '%s': %s\n", file,
            strerror(errno));
    sl_device_close(dev);
    return 1;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  struct sl_batch *out = NULL;
  struct sl_device_stats stats = {0};
  int rc = resident ? sl_device_groupby_json(dev, &plan, names, data, len,
                                             resident, &out, &stats, &err)
                    : sl_device_groupby_fd(dev, &plan, names, fd, len, &out,
                                           &stats, &err);
  close(fd);
  if (!rc && parquet) {
    struct timespec p0, p1;
    clock_gettime(CLOCK_MONOTONIC, &p0);
    struct sl_parquet_write_options po;
    sl_parquet_write_options_init(&po);
    po.compression = SL_PARQUET_ZSTD;
    rc = sl_parquet_write_batch_file(parquet, out, &po, &err);
    clock_gettime(CLOCK_MONOTONIC, &p1);
    if (getenv("SLUICE_TRACE"))
      fprintf(stderr, "bench-device: Parquet result written in %.4f s\n",
              (double)(p1.tv_sec - p0.tv_sec) +
                  (double)(p1.tv_nsec - p0.tv_nsec) / 1e9);
    if (rc) {
      sl_batch_free(out);
      out = NULL;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (rc) {
    fprintf(stderr, "sluice bench-device: %s\n", err.msg);
  } else {
    int64_t n = out->length,
            *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    for (int64_t i = 0; i < n; i++)
      order[i] = i;
    if (top_n) {
      cmp_desc_col = plan.n_keys + 2;
      cmp_arr = out->columns[cmp_desc_col];
      qsort(order, (size_t)n, sizeof *order, cmp_rows);
      if (n > top_n) n = top_n;
    }
    FILE *f = output ? fopen(output, "w") : stdout;
    for (int64_t r = 0; f && r < n; r++) {
      fputc('{', f);
      for (int k = 0; k < out->n_columns; k++) {
        fprintf(f, "%s\"%s\":", k ? "," : "", out->schema.fields[k].name);
        print_value(f, out->columns[k], order[r]);
      }
      fputs("}\n", f);
    }
    if (f && f != stdout) fclose(f);
    free(order);
    double secs = resident ? stats.seconds_kernels : wall;
    fprintf(
        stderr,
        "{\"query\":\"%s\",\"device\":\"%s\",\"mode\":\"%s\",\"bytes\":%zu,"
        "\"rows\":%" PRId64 ",\"matched\":%" PRId64 ",\"bad_lines\":%" PRId64
        ",\"groups\":%" PRId64 ",\"seconds\":%.6f,\"gb_per_s\":%.3f,"
        "\"h2d_seconds\":%.4f}\n",
        query, sl_device_describe(dev), resident ? "device-only" : "end-to-end",
        len, stats.rows_in, stats.rows_matched, stats.bad_lines, stats.groups,
        secs, (double)len / secs / 1e9, stats.seconds_h2d);
    sl_batch_free(out);
  }
  if (len && resident) munmap((void *)data, len);
  sl_device_close(dev);
  return rc ? 1 : 0;
}
