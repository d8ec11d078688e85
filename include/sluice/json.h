/* sluice: the JSON Lines reader.
 *
 * Turns JSON Lines (one JSON object per line) from a memory buffer, a file
 * (plain, .gz or .zst) or a stream of pushed chunks into record batches in
 * Arrow layout (sluice/table.h). See docs/json-reader.md for how it works.
 *
 * Lines: separated by '\n'; a '\r' before it is whitespace. Lines holding only
 * whitespace are skipped (counted in stats.empty_lines). A UTF-8 byte order
 * mark at the very start of the input is skipped. Every non-empty line must
 * be one JSON object (RFC 8259, strict: no comments, no trailing commas, no
 * NaN, strings valid UTF-8); anything else is a bad line.
 *
 * Values into column types:
 *  - null and a missing key both give null;
 *  - bool <- true/false; int64/int32 <- integers (and numbers like 1e3, 2.0,
 *    -0.0 whose value is an exact integer in range); float64 <- any number,
 *    correctly rounded (the same bits as strtod);
 *  - utf8 <- strings with every escape decoded (\uXXXX surrogate pairs
 *    joined; a lone surrogate is a bad line); a number, bool, object or array
 *    in a utf8 column is kept as its JSON text;
 *  - timestamp[ms|us] <- RFC 3339 / ISO-8601 strings ("2024-03-01T12:00:00Z",
 *    with or without fraction, 'T' or ' ', offset Z or +hh:mm or none = UTC,
 *    or a date alone = midnight) and integers = epoch in the column's unit;
 *    date32 <- "YYYY-MM-DD" strings and integers (days);
 *  - struct <- objects; list<T> <- arrays.
 * Keys may come in any order; when a key repeats, the last value wins.
 *
 * Type mismatch (say a string where an int64 is expected): with
 * SL_JSON_MISMATCH_NULL (default) the value becomes null and
 * stats.type_mismatches counts it; with SL_JSON_MISMATCH_BAD_LINE the whole
 * line is a bad line (reason names the column).
 *
 * Bad lines (invalid JSON, not an object, too long, too deep, invalid UTF-8,
 * mismatch under BAD_LINE): SL_JSON_BAD_FAIL (default) stops the read with
 * SL_EINVAL and an error naming the line number (1-based, counting every
 * '\n' of the input), the byte offset of the line start (0-based, in the
 * decompressed input) and the reason. SL_JSON_BAD_SKIP drops the line, counts
 * it and hands it to on_bad_line. The callback runs on the thread that calls
 * next(), in line order, never concurrently; `line` is valid only during the
 * call.
 *
 * Threads: lines are parsed in parallel over newline-aligned morsels (for a
 * buffer or a plain file) or chunks (compressed files, pipes, streams) on
 * options.pool, or on a pool the reader creates with options.threads threads
 * (0 = every core, 1 = the calling thread only); that pool is started only
 * when some input is big enough to split, so reading many small
 * micro-batches costs no thread start-ups. With its own pool a buffer or
 * file reader keeps the pool's helper threads parsing ahead between next()
 * calls (a bounded number of morsels); with a borrowed pool it uses the
 * pool only inside next(). A reader or stream is used by one thread at a
 * time; readers of different threads are independent, and several may share
 * one pool only when they do not run at the same time (sl_pool_parallel_for
 * is not re-entrant).
 *
 * Batches hold at most batch_rows rows; a batch also ends where a morsel or
 * chunk ends (chunk_bytes; by default about batch_rows lines, at most 8 MiB
 * for a file or buffer), so sizes vary. Memory use is bounded by the morsel
 * or chunk size times the thread count, never by the input size. */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/error.h"
#include "sluice/table.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_pool;

enum sl_json_bad_line_policy {
  SL_JSON_BAD_FAIL = 0, /* stop with an error at the first bad line */
  SL_JSON_BAD_SKIP = 1, /* drop it, count it, hand it to on_bad_line */
};

enum sl_json_mismatch_policy {
  SL_JSON_MISMATCH_NULL = 0,     /* the value becomes null, counted */
  SL_JSON_MISMATCH_BAD_LINE = 1, /* the line is a bad line */
};

enum sl_json_nested_mode {
  SL_JSON_NESTED_STRUCT = 0,  /* inferred objects become struct columns */
  SL_JSON_NESTED_FLATTEN = 1, /* ... become one column per leaf, "a.b" */
};

enum sl_json_simd {
  SL_JSON_SIMD_AUTO = 0, /* the best the CPU supports */
  SL_JSON_SIMD_SCALAR,   /* the reference implementation */
  SL_JSON_SIMD_AVX2,
  SL_JSON_SIMD_AVX512,
};

typedef void (*sl_json_bad_line_fn)(void *ctx, const char *line, size_t len,
                                    int64_t line_no, int64_t byte_offset,
                                    const char *reason);

struct sl_json_options {
  /* Explicit schema (borrowed; must outlive the reader) or NULL to infer one
   * from the first infer_sample_bytes of input. A field name may be a dotted
   * path: "geo.country" reads key "country" of object "geo" into a top-level
   * column named "geo.country"; a struct field reads an object. */
  const struct sl_schema *schema;
  /* Paths to materialise (borrowed), in output order; NULL = all. With an
   * inferred schema each path becomes one column named by the path (typed
   * from the sample, utf8 when never seen); with an explicit schema they
   * select columns of it. Other keys are validated and skipped. */
  const char *const *projection;
  int32_t n_projection;
  enum sl_json_nested_mode nested;
  int64_t infer_sample_bytes; /* default 1 MiB */
  bool infer_timestamps;      /* strings that are all RFC 3339 -> timestamp */
  int64_t batch_rows;         /* default 65536 */
  int64_t chunk_bytes;        /* bytes per parallel task; 0 = automatic */
  struct sl_pool *pool;       /* borrowed; NULL = the reader makes one */
  int threads;                /* when pool is NULL: 0 = all cores */
  enum sl_json_bad_line_policy bad_lines;
  sl_json_bad_line_fn on_bad_line;
  void *bad_line_ctx;
  enum sl_json_mismatch_policy mismatch;
  int64_t max_line_bytes; /* default 64 MiB; longer lines are bad lines */
  int32_t max_depth;      /* default 64 nesting levels; deeper = bad line */
  enum sl_json_simd simd;
  void *owned_; /* what sl_json_options_set allocated; internal */
};

/* Sets defaults. Call sl_json_options_release when sl_json_options_set was
 * used (harmless otherwise). */
void sl_json_options_init(struct sl_json_options *o);
void sl_json_options_release(struct sl_json_options *o);
/* Sets one option from text, strictly (unknown keys and bad values are
 * SL_EINVAL naming them). Keys: schema ("ts: timestamp[ms], geo.country:
 * utf8, tags: list<utf8>, geo: struct<country: utf8>"), projection
 * ("a,b.c"), nested (struct|flatten), infer_sample_bytes, infer_timestamps
 * (true|false), batch_rows, chunk_bytes, threads, bad_lines (fail|skip),
 * mismatch (null|bad_line), max_line_bytes, max_depth, simd
 * (auto|scalar|avx2|avx512). Strings are copied into o. */
int sl_json_options_set(struct sl_json_options *o, const char *key,
                        const char *value, struct sl_error *err);
size_t sl_json_options_size(void); /* sizeof, for foreign-language bindings */

/* Counters of one reader or stream, totals since it was opened. */
struct sl_json_stats {
  int64_t lines;           /* lines seen, empty and bad ones included */
  int64_t rows;            /* rows produced */
  int64_t empty_lines;     /* whitespace-only lines */
  int64_t bad_lines;       /* lines set aside (SKIP) */
  int64_t type_mismatches; /* values nulled under SL_JSON_MISMATCH_NULL */
  int64_t bytes;           /* input bytes consumed (decompressed) */
};

/* Parses a schema from text "name: type, ..." (see sl_json_options_set).
 * out is initialised by the call; release with sl_schema_release. */
int sl_json_parse_schema(const char *text, struct sl_schema *out,
                         struct sl_error *err);

/* Infers the schema of buf[0, len) (whole lines up to infer_sample_bytes)
 * with o's nested mode, projection and infer_timestamps (o may be NULL).
 * Widening: null + T = T; int + float = float64; strings that are not all
 * timestamps = utf8; any other mix (number and string, scalar and object) =
 * utf8 holding the JSON text; keys in first-seen order; a key seen only as
 * null = utf8; an array's element type is inferred across all elements.
 * Bad lines in the sample are ignored here. out is initialised by the call. */
int sl_json_infer_schema(const char *buf, size_t len,
                         const struct sl_json_options *o, struct sl_schema *out,
                         struct sl_error *err);

/* Reads buf[0, len): a batch of messages. The buffer is borrowed and must stay
 * alive and unchanged until the reader is released. o is copied (its schema
 * and projection are copied too). *out is released with (*out)->release. */
int sl_json_read_buffer(const char *buf, size_t len,
                        const struct sl_json_options *o,
                        struct sl_batch_reader **out, struct sl_error *err);

/* Reads a file; ".gz" and ".zst" names are decompressed on the fly. Plain
 * files are mapped window by window, so files larger than memory (and than
 * 2 GiB) read in bounded memory. "-" reads standard input; pipes and other
 * non-regular files are read as a stream. */
int sl_json_open_file(const char *path, const struct sl_json_options *o,
                      struct sl_batch_reader **out, struct sl_error *err);

/* Counters of a reader made by sl_json_read_buffer or sl_json_open_file
 * (SL_EINVAL for other readers). */
int sl_json_reader_stats(struct sl_batch_reader *r, struct sl_json_stats *out);

/* ---- streaming: push chunks, pull batches --------------------------------
 * Chunks are arbitrary byte ranges: a record may straddle chunk boundaries.
 * The stream copies what it needs from each pushed chunk. */
struct sl_json_stream;

int sl_json_stream_new(const struct sl_json_options *o,
                       struct sl_json_stream **out, struct sl_error *err);
/* Appends bytes. Fails (SL_EINVAL) after sl_json_stream_end. */
int sl_json_stream_push(struct sl_json_stream *s, const void *data, size_t len,
                        struct sl_error *err);
/* Marks the end of input: a last line without '\n' becomes a record. */
void sl_json_stream_end(struct sl_json_stream *s);
/* Parses the complete lines buffered so far. *out is a new batch (caller
 * frees it with sl_batch_free) or NULL when no complete line is buffered
 * (push more, or the input ended). Without an explicit schema, the schema is
 * inferred from what is buffered at the first call that finds a line. */
int sl_json_stream_next(struct sl_json_stream *s, struct sl_batch **out,
                        struct sl_error *err);
/* The schema, or NULL while it is not known yet. Borrowed from s. */
const struct sl_schema *sl_json_stream_schema(struct sl_json_stream *s);
void sl_json_stream_stats(const struct sl_json_stream *s,
                          struct sl_json_stats *out);
void sl_json_stream_free(struct sl_json_stream *s);

/* ---- helpers for foreign-language bindings (ctypes tests, benchmarks) ---- */
struct ArrowArray;
struct ArrowSchema;
/* Sets the dead-letter callback (a setter, so bindings need no struct
 * layout for function pointers). */
void sl_json_options_set_bad_line_fn(struct sl_json_options *o,
                                     sl_json_bad_line_fn fn, void *ctx);
/* Pulls the next batch of a JSON reader and exports it (Arrow C Data
 * Interface, struct array + schema, both released by the consumer).
 * Returns 0 with a batch, -1 at the end, or a status code (err set). */
int sl_json_reader_next_arrow(struct sl_batch_reader *r, struct ArrowArray *a,
                              struct ArrowSchema *s, struct sl_error *err);
int sl_json_reader_schema_arrow(struct sl_batch_reader *r,
                                struct ArrowSchema *s);
void sl_json_reader_free(struct sl_batch_reader *r);
/* A counter by name ("lines", "rows", "empty_lines", "bad_lines",
 * "type_mismatches", "bytes"), or -1. */
int64_t sl_json_reader_counter(struct sl_batch_reader *r, const char *name);
/* Infers a schema and writes it as text ("name: type, ...") into out;
 * returns the bytes written (without NUL), 0 on error (err set). */
size_t sl_json_infer_schema_text(const char *buf, size_t len,
                                 const struct sl_json_options *o, char *out,
                                 size_t cap, struct sl_error *err);

#ifdef __cplusplus
}
#endif
#endif
