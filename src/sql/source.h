/* sluice SQL: the input of a query (files, stdin or a named table). */
#ifndef SLUICE_SQL_SOURCE_H
#define SLUICE_SQL_SOURCE_H

#include "sluice/json.h"
#include "sluice/sql.h"
#include "sql/sql_internal.h"

enum sl__source_kind { SRC_JSON, SRC_PARQUET, SRC_STDIN, SRC_TABLE, SRC_NONE };

struct sl__source {
  enum sl__source_kind kind;
  struct sl_query_options opts;
  int32_t n_files, cap_files;
  char **files;        /* sorted within each folder */
  char *base;          /* folder the Hive partitions are relative to */
  int64_t total_bytes; /* sum of file sizes (progress); 0 = unknown (stdin) */
  int32_t n_parts;     /* Hive partition keys */
  char *part_names[16];
  bool part_int[16];       /* every value an integer: BIGINT column */
  char **part_values;      /* [file * n_parts + key], NULL when absent */
  bool explicit;           /* schema from read_json(columns => ...) */
  struct sl_schema schema; /* what the query binds against */
  char *table;
  /* stdin: the prefix read to learn the schema (the reader parses it first,
   * then streams the rest of fd 0); stdin_eof when it holds all of stdin. */
  char *stdin_buf;
  size_t stdin_len;
  bool stdin_eof;
  bool stdin_opened; /* stdin can be read only once */
};

int sl__source_open(const struct sl_from *from, bool has_from,
                    const struct sl_query_options *o, struct sl__source **out,
                    struct sl_error *err);
void sl__source_free(struct sl__source *s);
/* Index of the Hive partition key called path, or -1. */
int32_t sl__source_partition(const struct sl__source *s, const char *path);
/* Opens file `file` (ignored for stdin/tables) reading only `paths`;
 * simple conjuncts of `where` (over those paths) skip Parquet row groups.
 * stdin is streamed in bounded memory and can be opened only once (a second
 * call is SL_EINVAL). */
int sl__source_reader(struct sl__source *s, int32_t file,
                      const char *const *paths, int32_t n_paths,
                      const struct sl_expr *where, struct sl_pool *pool,
                      struct sl_batch_reader **out, struct sl_error *err);

/* The JSON reader counters of a reader made by sl__source_reader (JSON files
 * and stdin); SL_EINVAL for other readers. */
int sl__source_reader_stats(struct sl_batch_reader *r,
                            struct sl_json_stats *out);

/* The explicit JSON schema that reads just `paths` (those found in the
 * source's schema, named by their paths; partition keys left out). out is
 * initialised by the call; release it with sl_schema_release. */
int sl__source_json_schema(const struct sl__source *s, const char *const *paths,
                           int32_t n_paths, struct sl_schema *out);
/* Every input is an uncompressed regular JSON Lines file, which can be read
 * in independent byte ranges. */
bool sl__source_plain_json(const struct sl__source *s);

#endif
