/* sluice: Parquet writer and reader.
 *
 * Writer: record batches in, a Parquet file out, published atomically (a
 * temporary name in the target folder, fsync, rename, fsync of the folder;
 * see sluice/publish.h). Column chunks of a row group are encoded and
 * compressed in parallel on a thread pool.
 * Reader: a Parquet file (ours, pyarrow's, DuckDB's, Polars', ...) read as
 * Arrow-layout batches through a struct sl_batch_reader, with column
 * projection and row-group skipping by min/max statistics.
 *
 * Types: bool, int32, int64, float64, utf8 / large_utf8 / dict_utf8 (as
 * BYTE_ARRAY STRING), timestamp[ms|us] (INT64 TIMESTAMP, UTC-adjusted),
 * date32 (INT32 DATE), null, list<T> (three-level LIST) and struct, nested
 * to any depth. docs/parquet.md lists encodings, codecs and limits.
 *
 * Errors: every function returns 0 or an SL_E* code and fills the optional
 * struct sl_error with what was wrong and where (file name, row group,
 * column, page, byte offset). Bad files never crash the reader.
 *
 * Threads: a writer or a batch reader is used by one thread at a time;
 * different writers and readers run concurrently, and one
 * sl_parquet_file may back several readers at once. A pool handed in
 * through the options runs sl_pool_parallel_for, which is one call at a
 * time per pool: do not share it with a concurrent user. */
#ifndef SLUICE_PARQUET_H
#define SLUICE_PARQUET_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/error.h"
#include "sluice/table.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_pool;

enum sl_parquet_codec {
  SL_PARQUET_UNCOMPRESSED = 0,
  SL_PARQUET_SNAPPY = 1,
  SL_PARQUET_GZIP = 2,
  SL_PARQUET_ZSTD = 6,
  SL_PARQUET_LZ4_RAW = 7,
};
/* "none"/"uncompressed", "snappy", "gzip", "zstd", "lz4"/"lz4_raw". */
int sl_parquet_codec_parse(const char *name, enum sl_parquet_codec *out);
const char *sl_parquet_codec_name(enum sl_parquet_codec c);

/* ---- writing ----------------------------------------------------------- */

struct sl_parquet_write_options {
  enum sl_parquet_codec compression; /* default zstd */
  int compression_level;             /* zstd 1..22 (default 1), gzip 1..9 (6) */
  bool dictionary;          /* try RLE_DICTIONARY per column chunk (on) */
  int64_t dictionary_bytes; /* a dictionary past this falls back (1 MiB) */
  /* Encoding of integer and timestamp columns that are not dictionary
   * encoded: false = PLAIN (default), true = DELTA_BINARY_PACKED. */
  bool delta_integers;
  int data_page_version;   /* 1 (default, most compatible) or 2 */
  int64_t row_group_rows;  /* rows per row group, at most (1Mi) */
  int64_t row_group_bytes; /* buffered input bytes per row group (128 MiB) */
  int64_t page_bytes;      /* target encoded bytes per data page (1 MiB) */
  int64_t page_rows;       /* rows per data page, at most (20000, as
                              parquet-cpp: pages stay cache-sized) */
  bool statistics;         /* min/max/null_count per column chunk (on) */
  bool fsync;              /* fsync file and folder on close (on) */
  /* Key-value metadata for the footer (copied at open); the schema's own
   * metadata is written too. */
  int32_t n_metadata;
  const char *const *metadata_keys;
  const char *const *metadata_values;
  /* Borrowed pool for parallel column encoding; NULL = the writer starts
   * its own with `threads` threads (0 = one per core, 1 = inline). */
  struct sl_pool *pool;
  int threads;
};

void sl_parquet_write_options_init(struct sl_parquet_write_options *o);
/* Applies "key=value" settings separated by ';' or ',' on top of *o:
 * compression (none|snappy|gzip|zstd|lz4), level, dictionary (0|1),
 * dictionary_bytes, delta (0|1), page_version (1|2), row_group_rows,
 * row_group_bytes, page_bytes, page_rows, statistics (0|1), fsync (0|1),
 * threads.
 * Unknown keys and bad values are SL_EINVAL naming them. */
int sl_parquet_write_options_parse(const char *spec,
                                   struct sl_parquet_write_options *o,
                                   struct sl_error *err);

struct sl_parquet_writer;

/* Opens a writer for `path` (the file appears only at close). The schema
 * is copied. Nothing is written under the final name until close. */
int sl_parquet_writer_open(const char *path, const struct sl_schema *schema,
                           const struct sl_parquet_write_options *opts,
                           struct sl_parquet_writer **out,
                           struct sl_error *err);
/* Appends a batch whose schema must match the writer's (names, types,
 * nesting; any string flavour for a string column; a nullable batch field
 * is accepted for a non-nullable file field as long as it holds no null,
 * which is checked when the row group is encoded: such a null fails the
 * write, naming the column). The writer keeps references to the batch's buffers
 * until its row group is flushed; the caller keeps ownership of `batch`. Row
 * groups are cut at row_group_rows rows or row_group_bytes buffered bytes. */
int sl_parquet_writer_write(struct sl_parquet_writer *w,
                            const struct sl_batch *batch, struct sl_error *err);
/* Flushes the buffered rows as a row group now (no-op when empty). */
int sl_parquet_writer_flush(struct sl_parquet_writer *w, struct sl_error *err);
/* For rolling files by size: bytes written to the file so far (flushed
 * row groups), the in-memory bytes buffered for the open row group (an
 * estimate of the input, before encoding), and all rows accepted. */
int64_t sl_parquet_writer_bytes(const struct sl_parquet_writer *w);
int64_t sl_parquet_writer_pending_bytes(const struct sl_parquet_writer *w);
int64_t sl_parquet_writer_rows(const struct sl_parquet_writer *w);
/* Writes the last row group and the footer, then publishes the file
 * atomically under its final name. Frees w in every case; on failure the
 * temporary file is removed and nothing appears under the final name. */
int sl_parquet_writer_close(struct sl_parquet_writer *w, struct sl_error *err);
/* Drops everything: removes the temporary file and frees w. */
void sl_parquet_writer_abort(struct sl_parquet_writer *w);

/* One-shot: writes one batch to path (tests, small results). */
int sl_parquet_write_batch_file(const char *path, const struct sl_batch *batch,
                                const struct sl_parquet_write_options *opts,
                                struct sl_error *err);

/* ---- reading ----------------------------------------------------------- */

enum sl_parquet_op {
  SL_PQ_EQ,
  SL_PQ_NE,
  SL_PQ_LT,
  SL_PQ_LE,
  SL_PQ_GT,
  SL_PQ_GE
};
enum sl_parquet_value_kind { SL_PQ_INT, SL_PQ_DOUBLE, SL_PQ_STRING };

/* `column <op> value`: a row group whose statistics prove that no row can
 * match is skipped. A conservative filter: rows of kept row groups are not
 * filtered. column is a top-level name or a dotted path through structs
 * ("geo.country"); a column without statistics never skips. Integers
 * compare with int/timestamp/date columns (in the column's unit), doubles
 * with float columns, strings with string columns (byte order). */
struct sl_parquet_predicate {
  const char *column;
  enum sl_parquet_op op;
  enum sl_parquet_value_kind kind;
  int64_t i;
  double d;
  const char *s;
  int64_t s_len;
};

struct sl_parquet_read_options {
  /* Projection: top-level names or dotted paths into structs ("geo.city"
   * keeps struct geo with only its child city). NULL = every column.
   * Columns come out in file order. */
  const char *const *columns;
  int32_t n_columns;
  const struct sl_parquet_predicate *predicates; /* all must hold (AND) */
  int32_t n_predicates;
  int64_t batch_rows; /* rows per batch, at most (65536) */
  /* Limits against hostile files: largest page after decompression, and
   * largest value count of one column chunk. */
  int64_t max_page_bytes;   /* 1 GiB */
  int64_t max_chunk_values; /* 1Gi */
  /* Borrowed pool for decoding columns in parallel; NULL = the reader
   * starts its own with `threads` threads (0 = one per core, 1 = inline). */
  struct sl_pool *pool;
  int threads;
  /* Borrowed cache of freed column buffers (see sl_parquet_buffers_create);
   * NULL = the reader keeps its own for as long as its batches live. */
  struct sl_parquet_buffers *buffers;
};

void sl_parquet_read_options_init(struct sl_parquet_read_options *o);

/* A cache of the memory of released column buffers, for readers to decode
 * into: fresh memory costs a page fault per 4 KiB, which for large reads
 * was more CPU than decompressing and decoding. Every batch a reader
 * returns keeps a reference to the pool; when a batch's buffer is released
 * its memory is kept here (up to max_bytes in all, the rest is freed) for
 * the next column chunk of any reader given this pool. Thread-safe: readers
 * on several threads may share one pool, and buffers may be released from
 * any thread. The pool is freed when its creator has called
 * sl_parquet_buffers_release and the last buffer made from it is gone. */
struct sl_parquet_buffers;
int sl_parquet_buffers_create(int64_t max_bytes,
                              struct sl_parquet_buffers **out,
                              struct sl_error *err);
void sl_parquet_buffers_release(struct sl_parquet_buffers *b);
/* Bytes of free memory held now. */
int64_t sl_parquet_buffers_cached(struct sl_parquet_buffers *b);

struct sl_parquet_file;

/* Opens a file (memory-mapped) and decodes its footer. */
int sl_parquet_file_open(const char *path, struct sl_parquet_file **out,
                         struct sl_error *err);
/* Opens an in-memory file; data must outlive the handle (not copied).
 * name is used in error messages. */
int sl_parquet_file_open_memory(const void *data, size_t size, const char *name,
                                struct sl_parquet_file **out,
                                struct sl_error *err);
void sl_parquet_file_close(struct sl_parquet_file *f);
/* The file's schema as sluice fields (owned by f). */
const struct sl_schema *sl_parquet_file_schema(const struct sl_parquet_file *f);
int64_t sl_parquet_file_num_rows(const struct sl_parquet_file *f);
int32_t sl_parquet_file_num_row_groups(const struct sl_parquet_file *f);
int64_t sl_parquet_file_row_group_rows(const struct sl_parquet_file *f,
                                       int32_t row_group);
/* "created_by" of the footer, or NULL. */
const char *sl_parquet_file_created_by(const struct sl_parquet_file *f);
/* Footer key-value metadata: count, and the i-th pair (value may be NULL). */
int32_t sl_parquet_file_metadata_count(const struct sl_parquet_file *f);
void sl_parquet_file_metadata(const struct sl_parquet_file *f, int32_t i,
                              const char **key, const char **value);

/* A batch reader over f (f must outlive the reader). Batches never span
 * row groups. Row groups skipped by predicates are reported through
 * sl_parquet_reader_skipped. */
int sl_parquet_file_reader(struct sl_parquet_file *f,
                           const struct sl_parquet_read_options *opts,
                           struct sl_batch_reader **out, struct sl_error *err);
/* Opens path and returns a reader that owns the file handle. */
int sl_parquet_open(const char *path,
                    const struct sl_parquet_read_options *opts,
                    struct sl_batch_reader **out, struct sl_error *err);
/* Row groups skipped by statistics so far (readers made by this module). */
int32_t sl_parquet_reader_skipped(struct sl_batch_reader *r);

/* Reads a whole file into one batch (tests and small files). */
int sl_parquet_read_file(const char *path,
                         const struct sl_parquet_read_options *opts,
                         struct sl_batch **out, struct sl_error *err);

/* ---- bindings through the Arrow C Data Interface ------------------------
 * For Python (ctypes) tests and other hosts: schemas and batches cross as
 * ArrowSchema / ArrowArray (struct arrays), readers as ArrowArrayStream. */
struct ArrowSchema;
struct ArrowArray;
struct ArrowArrayStream;

/* Opens a writer for an ArrowSchema (a struct schema, not consumed);
 * spec as for sl_parquet_write_options_parse (may be NULL). */
int sl_parquet_writer_open_arrow(const char *path,
                                 const struct ArrowSchema *schema,
                                 const char *spec,
                                 struct sl_parquet_writer **out,
                                 struct sl_error *err);
/* Imports (takes over) one ArrowArray batch and writes it. */
int sl_parquet_writer_write_arrow(struct sl_parquet_writer *w,
                                  struct ArrowArray *array,
                                  const struct ArrowSchema *schema,
                                  struct sl_error *err);
/* Opens path as an ArrowArrayStream. columns: comma-separated projection
 * or NULL; predicates: ';'-separated "column OP value" with OP one of
 * = != < <= > >= (value: integer, number or text); batch_rows <= 0 for the
 * default. */
int sl_parquet_open_stream(const char *path, const char *columns,
                           const char *predicates, int64_t batch_rows,
                           struct ArrowArrayStream *out, struct sl_error *err);
/* The same with a shared buffer pool (may be NULL) and a thread count
 * (0 = one per core, 1 = the calling thread only). */
int sl_parquet_open_stream_with(const char *path, const char *columns,
                                const char *predicates, int64_t batch_rows,
                                struct sl_parquet_buffers *buffers, int threads,
                                struct ArrowArrayStream *out,
                                struct sl_error *err);
/* Row groups a predicate string skips in path (tests of pruning). */
int sl_parquet_count_skipped(const char *path, const char *predicates,
                             int32_t *skipped, struct sl_error *err);

#ifdef __cplusplus
}
#endif
#endif
