/* sluice SQL: the executing query (shared by exec.c and exec_result.c). */
#ifndef SLUICE_SQL_EXEC_H
#define SLUICE_SQL_EXEC_H

#include "compute/convert.h"
#include "compute/sort.h"
#include "sluice/sql.h"
#include "sql/source.h"
#include "sql/sql_internal.h"

/* A plain query's projected rows of one chunk (memory in a worker arena,
 * alive until the next input batch). */
struct chunk_out {
  int64_t n;
  struct sl_vec *cols;
};

struct sl_query {
  struct sl_query_options opts;
  struct sl_arena parse_arena;
  struct sl_plan *plan;
  struct sl__source *src;
  struct sl_schema out_schema;
  struct sl_pool *pool;
  bool own_pool;
  int n_workers;
  struct sl_arena *arenas;   /* one per worker, reset per batch/chunk */
  struct sl_error *errs;     /* one per worker */
  struct sl_hagg **partials; /* aggregate: one per worker */
  /* input position */
  int32_t file;
  struct sl_batch_reader *reader;
  struct sl_batch *batch;
  struct sl_resolved *res; /* per input column, for the current batch */
  int64_t chunk_rows, n_chunks, next_chunk;
  struct chunk_out *chunks;
  int64_t seq; /* rows before the current batch */
  int64_t rows_in, bad_lines, bytes_before_file;
  /* results */
  bool executed, finished, handed_out;
  struct sl_arena result_arena;
  /* result columns held in buffers of their own: batches slice them
   * instead of copying (make_batch) */
  struct sl_buffer **rbufs;
  int32_t n_rbufs;
  struct sl_rowset acc;           /* plain ORDER BY: accumulated rows */
  struct sl_vec *rcols;           /* final columns (n_final) */
  int64_t *perm;                  /* row order; NULL = identity */
  int64_t r_begin, r_end, r_next; /* rows [begin, end) of the order to emit */
  int64_t emitted;                /* streaming: rows passed to OFFSET/LIMIT */
  char device_note[600];          /* where it ran (sl_query_device_note) */
};

/* Reads and processes the next input batch; *done at the end of input. */
int sl__query_step(struct sl_query *q, bool *done, struct sl_error *err);
/* After a parallel run failed with rc: the first worker's error (q->errs),
 * or rc itself (out of memory named as such). */
int sl__query_first_error(struct sl_query *q, int rc, struct sl_error *err);
/* Stage 1 over rows [off, off+n) of a batch whose input columns are
 * resolved in res (n_inputs entries; leaf NULL = a partition key or a
 * missing column), read from file `file`, on worker `worker` (its arena,
 * error and partial table). seq is the input position of row off (ties of
 * first/last). Aggregates feed the worker's partial and reset its arena;
 * plain queries write their projected rows into *o. */
int sl__query_stage1(struct sl_query *q, int worker,
                     const struct sl_resolved *res, int32_t file, int64_t off,
                     int64_t n, int64_t seq, struct chunk_out *o);
/* (Re)creates every worker's empty partial hash table. */
int sl__query_reset_partials(struct sl_query *q);
/* Aggregates over plain JSON files: each worker reads whole byte ranges of
 * the input with its own reader and feeds its own partial table, with no
 * hand-over between threads (exec_scan.c). *ran is false when the input does
 * not qualify or the scan met an error; the caller then runs the in-order
 * path, which reports errors at their first occurrence. */
int sl__query_scan_parallel(struct sl_query *q, bool *ran,
                            struct sl_error *err);

#endif
