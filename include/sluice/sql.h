/* sluice: SQL queries over JSON Lines and Parquet.
 *
 * One SELECT statement (docs/sql.md lists the grammar, functions and
 * aggregates) is parsed, bound against its input's schema and run as a
 * streaming, columnar plan: only the columns the query names are read (the
 * projection is pushed into the JSON and Parquet readers), WHERE becomes a
 * selection per chunk, and aggregates run as parallel hash aggregation with
 * one partial table per thread, merged at the end. An aggregate query's
 * memory grows with the number of groups, not with the input.
 *
 * Inputs, named in FROM:
 *   FROM 'logs/x-*.jsonl'                JSON Lines (.gz/.zst too), globs;
 *                                        a '**' path segment matches any
 *                                        folder depth;
 *   FROM 'out/2024.parquet'              Parquet (by extension);
 *   FROM 'folder'                        every data file below it, with
 *                                        Hive key=value folders as columns;
 *   FROM read_json('a.jsonl.zst', columns => {'ts': 'TIMESTAMP', ...})
 *   FROM read_parquet('x.parquet')
 *   FROM stdin                           JSON Lines on standard input;
 *   FROM <name>                          a table given by open_table.
 *
 * Errors carry "line:column: what" for syntax and binding problems; an
 * unknown column suggests the closest name; type errors quote the
 * expression. Thread-safety: a query is used by one thread at a time. */
#ifndef SLUICE_SQL_H
#define SLUICE_SQL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sluice/error.h"
#include "sluice/table.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_pool;

/* Opens a named table (FROM name) reading only `columns` (dotted paths, may
 * be NULL = all). The reader's schema must not change between calls. */
typedef int (*sl_query_open_table_fn)(void *ctx, const char *name,
                                      const char *const *columns,
                                      int32_t n_columns,
                                      struct sl_batch_reader **out,
                                      struct sl_error *err);

struct sl_query_options {
  int threads;          /* 0 = every core */
  struct sl_pool *pool; /* borrowed; NULL = the query makes its own */
  int64_t batch_rows;   /* rows per result batch (default 65536) */
  sl_query_open_table_fn open_table;
  void *open_table_ctx;
  /* Called on the executing thread after each input batch: bytes of input
   * read so far and the total (0 when unknown, e.g. stdin). */
  void (*progress)(void *ctx, int64_t done, int64_t total);
  void *progress_ctx;
  /* JSON inputs: skip malformed lines (counted) instead of failing. */
  bool skip_bad_lines;
  /* A GPU (sluice/device.h, borrowed) or NULL for the CPU. An aggregate
   * query over one JSON Lines file whose filter, keys and aggregates have
   * device equivalents (docs/gpu.md) runs its scan and aggregation there;
   * any other query runs on the CPU, unless device_required. */
  struct sl_device *device;
  bool device_required;
  /* With FROM <name> (open_table), the same rows as raw JSON Lines bytes
   * (borrowed), so that a device can read them directly; NULL = none. */
  const char *device_json;
  size_t device_json_len;
};

void sl_query_options_init(struct sl_query_options *o);

struct sl_query;

/* Parses and binds sql, opening the input once to learn its schema.
 * o may be NULL (defaults); it is copied. */
int sl_query_prepare(const char *sql, const struct sl_query_options *o,
                     struct sl_query **out, struct sl_error *err);
/* The schema of the result (borrowed from q). */
const struct sl_schema *sl_query_schema(const struct sl_query *q);
/* Runs the query; result batches come from *out (release it before q).
 * Plain queries stream batch by batch; aggregates and ORDER BY deliver
 * after the input is consumed. A query can be executed once. */
int sl_query_execute(struct sl_query *q, struct sl_batch_reader **out,
                     struct sl_error *err);
void sl_query_free(struct sl_query *q);

/* Where the query ran: "gpu: <device>" or "cpu" with the reason a device
 * was not used ("cpu: GROUP BY 'lower(x)' has no device equivalent").
 * Borrowed from q; valid after sl_query_execute. */
const char *sl_query_device_note(const struct sl_query *q);

/* The columns a `*` left out, ", "-separated ("tags, x.ids"): list
 * columns, which SQL cannot read yet; NULL when none. Borrowed from q;
 * valid after sl_query_prepare. */
const char *sl_query_star_skipped(const struct sl_query *q);

/* Rows of input consumed and bad lines skipped so far. */
void sl_query_counters(const struct sl_query *q, int64_t *rows_in,
                       int64_t *bad_lines);

/* Parses sql only (no input needed): 0 when it is a valid statement. For
 * `sluice check` and the fuzzer. */
int sl_sql_check_syntax(const char *sql, struct sl_error *err);

/* ---- result writers (any batch, not only query results) ------------------
 * CSV: RFC 4180 (quotes only where needed), NULL as an empty field, a header
 * line when `header`. JSON Lines: one object per row, NULL as null,
 * timestamps as "YYYY-MM-DD HH:MM:SS[.ffffff]" strings. Table: aligned
 * columns for a terminal, at most max_rows rows (the count of the rest is
 * printed), long text cut at 60 characters. */
int sl_write_csv(FILE *f, const struct sl_batch *b, bool header,
                 struct sl_error *err);
int sl_write_jsonl(FILE *f, const struct sl_batch *b, struct sl_error *err);
int sl_print_table(FILE *f, struct sl_batch *const *batches, int32_t n_batches,
                   int64_t max_rows, struct sl_error *err);

#ifdef __cplusplus
}
#endif
#endif
