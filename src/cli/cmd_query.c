/* sluice query: run one SQL statement over JSON Lines / Parquet inputs and
 * print the result as a table, or write it as Parquet, CSV or JSON Lines. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "sluice/alloc.h"
#include "sluice/device.h"
#include "sluice/parquet.h"
#include "sluice/sql.h"

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: sluice query [options] \"SELECT ... FROM 'logs/*.jsonl' ...\"\n"
      "\n"
      "Runs one SQL query (see docs/sql.md). Inputs are named in FROM: a "
      "quoted\n"
      "path or glob of JSON Lines (.jsonl, .gz, .zst) or Parquet files, a "
      "folder\n"
      "(Hive key=value partitions become columns), read_json('f', columns =>\n"
      "{...}), read_parquet('f') or stdin.\n"
      "\n"
      "options:\n"
      "  -o, --output FILE        write the result to FILE (format from the\n"
      "                           extension: .parquet, .csv, .jsonl/.json)\n"
      "  -f, --format FMT         parquet | csv | jsonl | table\n"
      "  -c, --compression C      parquet codec: zstd (default), snappy, "
      "gzip,\n"
      "                           lz4, none\n"
      "  -t, --threads N          worker threads (default: every core)\n"
      "      --skip-bad-lines     skip malformed JSON lines instead of "
      "failing\n"
      "      --device D           auto (default): a GPU when the CUDA backend\n"
      "                           loads and the query qualifies "
      "(docs/gpu.md);\n"
      "                           gpu[:N]: fail unless it runs there; cpu\n"
      "                           ($SLUICE_DEVICE sets the default)\n"
      "      --max-rows N         rows to print as a table (default 1000)\n"
      "      --no-progress        never draw the progress bar\n"
      "      --no-fsync           publish a Parquet --output without "
      "fsync\n"
      "                           (still written under a temporary name "
      "and\n"
      "                           renamed; not durable across a crash)\n"
      "  -h, --help               this text\n");
}

enum fmt { FMT_TABLE, FMT_PARQUET, FMT_CSV, FMT_JSONL };

static int parse_fmt(const char *s, enum fmt *out) {
  if (!strcasecmp(s, "parquet") || !strcasecmp(s, "pq"))
    *out = FMT_PARQUET;
  else if (!strcasecmp(s, "csv"))
    *out = FMT_CSV;
  else if (!strcasecmp(s, "jsonl") || !strcasecmp(s, "json") ||
           !strcasecmp(s, "ndjson"))
    *out = FMT_JSONL;
  else if (!strcasecmp(s, "table"))
    *out = FMT_TABLE;
  else
    return -1;
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct progress {
  double t0, last;
  bool enabled, drawn;
};

static void on_progress(void *ctx, int64_t done, int64_t total) {
  struct progress *p = ctx;
  if (!p->enabled) return;
  double t = now_s();
  if (t - p->t0 < 1.0 || t - p->last < 0.1) return;
  p->last = t;
  p->drawn = true;
  double mb = (double)done / 1e6, rate = mb / (t - p->t0);
  if (total > 0) {
    double frac = (double)done / (double)total;
    if (frac > 1) frac = 1;
    int w = 30, k = (int)(frac * w);
    fprintf(stderr, "\r[%.*s%*s] %3d%%  %.0f MB  %.0f MB/s ", k,
            "==============================", w - k, "", (int)(frac * 100), mb,
            rate);
  } else {
    fprintf(stderr, "\r%.0f MB  %.0f MB/s ", mb, rate);
  }
  fflush(stderr);
}

int sl_cmd_query(int argc, char **argv) {
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'},
      {"format", required_argument, NULL, 'f'},
      {"compression", required_argument, NULL, 'c'},
      {"threads", required_argument, NULL, 't'},
      {"skip-bad-lines", no_argument, NULL, 'S'},
      {"device", required_argument, NULL, 'D'},
      {"max-rows", required_argument, NULL, 'M'},
      {"no-progress", no_argument, NULL, 'P'},
      {"no-fsync", no_argument, NULL, 'F'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *output = NULL, *codec = "zstd", *device = getenv("SLUICE_DEVICE");
  enum fmt fmt = FMT_TABLE;
  bool fmt_given = false, progress = true, fsync_out = true;
  int64_t max_rows = 1000;
  struct sl_query_options qo;
  sl_query_options_init(&qo);
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "o:f:c:t:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'o': output = optarg; break;
    case 'f':
      if (parse_fmt(optarg, &fmt)) {
        fprintf(
            stderr,
            "sluice query: unknown format '%s' (parquet, csv, jsonl, table)\n",
            optarg);
        return 2;
      }
      fmt_given = true;
      break;
    case 'c': codec = optarg; break;
    case 't': {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || v < 0 || v > 1024) {
        fprintf(stderr,
                "sluice query: --threads wants a number 0..1024, got '%s'\n",
                optarg);
        return 2;
      }
      qo.threads = (int)v;
      break;
    }
    case 'S': qo.skip_bad_lines = true; break;
    case 'D': device = optarg; break;
    case 'M': max_rows = strtoll(optarg, NULL, 10); break;
    case 'P': progress = false; break;
    case 'F': fsync_out = false; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr,
            "sluice query: expected one SQL statement (in quotes), got %d "
            "arguments\n\n",
            argc - optind);
    usage(stderr);
    return 2;
  }
  const char *sql = argv[optind];
  if (output && !fmt_given) {
    const char *dot = strrchr(output, '.');
    if (!dot || parse_fmt(dot + 1, &fmt) || fmt == FMT_TABLE) {
      fprintf(
          stderr,
          "sluice query: cannot tell the format of '%s' from its extension; "
          "use --format parquet|csv|jsonl\n",
          output);
      return 2;
    }
  }
  if (fmt == FMT_PARQUET && !output) {
    fprintf(stderr, "sluice query: Parquet output needs --output FILE\n");
    return 2;
  }
  struct sl_parquet_write_options po;
  sl_parquet_write_options_init(&po);
  if (fmt == FMT_PARQUET) {
    enum sl_parquet_codec pc;
    if (!strcasecmp(codec, "none"))
      pc = SL_PARQUET_UNCOMPRESSED;
    else if (!strcasecmp(codec, "lz4"))
      pc = SL_PARQUET_LZ4_RAW;
    else if (sl_parquet_codec_parse(codec, &pc)) {
      fprintf(stderr,
              "sluice query: unknown compression '%s' (zstd, snappy, gzip, "
              "lz4, none)\n",
              codec);
      return 2;
    }
    po.compression = pc;
    po.threads = qo.threads;
    po.fsync = fsync_out;
  }
  struct progress pg = {.t0 = now_s(), .enabled = progress && isatty(2)};
  qo.progress = on_progress;
  qo.progress_ctx = &pg;

  struct sl_error err = {0};
  /* --device: auto (the default) uses a GPU when the backend loads and the
   * query qualifies; gpu insists; cpu never tries. */
  struct sl_device_choice dc = {.kind = SL_DEVICE_AUTO};
  struct sl_device *dev = NULL;
  char dev_note[600] = "";
  if (device && sl_device_choice_parse(device, &dc, &err)) {
    fprintf(stderr, "sluice query: %s\n", err.msg);
    return 2;
  }
  if (dc.kind != SL_DEVICE_CPU && !getenv("SLUICE_NO_GPU")) {
    if (sl_device_open(&dc, &dev, &err)) {
      if (dc.kind == SL_DEVICE_GPU) {
        fprintf(stderr, "sluice query: --device %s: %s\n", device, err.msg);
        return 1;
      }
      snprintf(dev_note, sizeof dev_note, "cpu: %s", err.msg);
      sl_error_reset(&err);
    }
  }
  qo.device = dev;
  qo.device_required = dc.kind == SL_DEVICE_GPU;
  struct sl_query *q = NULL;
  struct sl_batch_reader *r = NULL;
  struct sl_parquet_writer *pw = NULL;
  FILE *f = NULL;
  struct sl_batch **kept = NULL;
  int32_t n_kept = 0, cap_kept = 0;
  int64_t rows_out = 0, kept_rows = 0;
  int rc = sl_query_prepare(sql, &qo, &q, &err);
  if (rc) goto done;
  if (sl_query_star_skipped(q))
    fprintf(stderr,
            "sluice query: note: * leaves out %s (list columns are not in SQL "
            "yet)\n",
            sl_query_star_skipped(q));
  SL_CHECK_GOTO(sl_query_execute(q, &r, &err), rc, done);
  if (fmt == FMT_PARQUET) {
    SL_CHECK_GOTO(
        sl_parquet_writer_open(output, sl_query_schema(q), &po, &pw, &err), rc,
        done);
  } else if (output) {
    f = fopen(output, "w");
    if (!f) {
      rc = sl_error_set(&err, SL_EIO, "cannot open '%s' for writing", output);
      goto done;
    }
  }
  bool header = true;
  for (;;) {
    struct sl_batch *b = NULL;
    SL_CHECK_GOTO(r->next(r, &b, &err), rc, done);
    if (!b) break;
    rows_out += b->length;
    if (fmt == FMT_PARQUET)
      rc = sl_parquet_writer_write(pw, b, &err);
    else if (fmt == FMT_CSV)
      rc = sl_write_csv(f ? f : stdout, b, header, &err);
    else if (fmt == FMT_JSONL)
      rc = sl_write_jsonl(f ? f : stdout, b, &err);
    header = false;
    if (fmt == FMT_TABLE && kept_rows < max_rows) {
      if (n_kept == cap_kept) {
        cap_kept = cap_kept ? cap_kept * 2 : 8;
        struct sl_batch **nk = sl_realloc(kept, sizeof *nk * (size_t)cap_kept);
        if (!nk) {
          sl_batch_free(b);
          rc = SL_ENOMEM;
          goto done;
        }
        kept = nk;
      }
      kept[n_kept++] = b;
      kept_rows += b->length;
    } else {
      sl_batch_free(b);
    }
    if (rc) goto done;
  }
  if (pg.drawn) fprintf(stderr, "\r%*s\r", 70, "");
  if (fmt == FMT_CSV && header) { /* no rows: still write the header */
    const struct sl_schema *s = sl_query_schema(q);
    for (int32_t i = 0; i < s->n_fields; i++)
      fprintf(f ? f : stdout, "%s%s", i ? "," : "", s->fields[i].name);
    fputc('\n', f ? f : stdout);
  }
  if (fmt == FMT_TABLE) {
    if (n_kept == 0) {
      const struct sl_schema *s = sl_query_schema(q);
      for (int32_t i = 0; i < s->n_fields; i++)
        printf("%s%s", i ? " | " : "", s->fields[i].name);
      printf("\n0 rows\n");
    } else {
      SL_CHECK_GOTO(sl_print_table(stdout, kept, n_kept, max_rows, &err), rc,
                    done);
      if (rows_out > kept_rows) printf("(%" PRId64 " rows in all)\n", rows_out);
    }
  }
  if (pw) {
    rc = sl_parquet_writer_close(pw, &err);
    pw = NULL;
    if (rc) goto done;
  }
  if (f && fclose(f) != 0) {
    f = NULL;
    rc = sl_error_set(&err, SL_EIO, "writing '%s' failed", output);
    goto done;
  }
  f = NULL;
  if (output) {
    int64_t rows_in, bad;
    sl_query_counters(q, &rows_in, &bad);
    fprintf(stderr,
            "sluice query: %" PRId64 " rows in, %" PRId64
            " rows to %s in %.2f s",
            rows_in, rows_out, output, now_s() - pg.t0);
    if (bad) fprintf(stderr, " (%" PRId64 " bad lines skipped)", bad);
    fputc('\n', stderr);
  }
done:
  if (pg.drawn && rc) fprintf(stderr, "\n");
  for (int32_t i = 0; i < n_kept; i++)
    sl_batch_free(kept[i]);
  sl_free(kept);
  if (pw) sl_parquet_writer_abort(pw);
  if (f) fclose(f);
  if (r) r->release(r);
  /* Say where it ran when a GPU was used or a device was asked for. */
  if (q && !rc) {
    const char *note = sl_query_device_note(q);
    if (dev_note[0] && !strcmp(note, "cpu")) note = dev_note;
    if (device || !strncmp(note, "gpu", 3))
      fprintf(stderr, "sluice query: ran on %s\n", note);
    /* For test suites: one line per query, where it ran and what it was. */
    const char *log = getenv("SLUICE_DEVICE_LOG");
    FILE *lf = log ? fopen(log, "a") : NULL;
    if (lf) {
      fprintf(lf, "%s\t", note);
      for (const char *ch = sql; *ch; ch++)
        fputc(*ch == '\n' || *ch == '\t' ? ' ' : *ch, lf);
      fputc('\n', lf);
      fclose(lf);
    }
  }
  sl_query_free(q);
  sl_device_close(dev);
  if (rc) {
    fprintf(stderr, "sluice query: %s\n",
            err.code ? err.msg : sl_status_name(rc));
    return 1;
  }
  return 0;
}
