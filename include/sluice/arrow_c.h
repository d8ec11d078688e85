/* sluice: the Arrow C Data Interface and C Stream Interface.
 *
 * The struct definitions are the ABI fixed by the Arrow specification
 * ("The Arrow C data interface"); they are declared here from the spec under
 * the spec's include guards so that other Arrow-aware headers can coexist.
 *
 * Export moves nothing out of sluice: the exported ArrowArray holds
 * references to sluice's buffers and drops them in its release callback.
 * Import takes over the ArrowArray (the source struct is marked released, as
 * the spec asks of a consumer that moves it) and is zero-copy: sluice buffers
 * point into the producer's memory, which is released when the last sluice
 * reference goes. Every import is validated (buffer counts, lengths,
 * offsets, dictionary indices) before anything reads the data. */
#ifndef SLUICE_ARROW_C_H
#define SLUICE_ARROW_C_H

#include <stdint.h>

#include "sluice/error.h"
#include "sluice/table.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char *format;
  const char *name;
  const char *metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema **children;
  struct ArrowSchema *dictionary;
  void (*release)(struct ArrowSchema *);
  void *private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void **buffers;
  struct ArrowArray **children;
  struct ArrowArray *dictionary;
  void (*release)(struct ArrowArray *);
  void *private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
  int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
  const char *(*get_last_error)(struct ArrowArrayStream *);
  void (*release)(struct ArrowArrayStream *);
  void *private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* Exports a field (type tree, name, nullability) as an ArrowSchema.
 * Fills *out; the consumer calls out->release. */
int sl_export_field(const struct sl_field *f, struct ArrowSchema *out,
                    struct sl_error *err);
/* Exports a schema as a struct-typed ArrowSchema (one child per field, with
 * key-value metadata). */
int sl_export_schema(const struct sl_schema *s, struct ArrowSchema *out,
                     struct sl_error *err);
/* Exports an array (the array gains a reference held by *out). */
int sl_export_array(struct sl_array *a, struct ArrowArray *out,
                    struct sl_error *err);
/* Exports a batch as a struct array plus its schema. */
int sl_export_batch(const struct sl_batch *b, struct ArrowArray *out_array,
                    struct ArrowSchema *out_schema, struct sl_error *err);

/* Imports a field from an ArrowSchema; the schema is not consumed (the
 * caller still releases it). Unsupported formats are SL_ENOTSUP naming the
 * format string. */
int sl_import_field(const struct ArrowSchema *schema, struct sl_field *out,
                    struct sl_error *err);
/* Imports a struct-typed ArrowSchema as a schema (not consumed). */
int sl_import_schema(const struct ArrowSchema *schema, struct sl_schema *out,
                     struct sl_error *err);
/* Imports an array of type f, taking over *array (array->release is set to
 * NULL on success and on failure, and the producer's memory is released
 * when sluice is done with it). */
int sl_import_array(struct ArrowArray *array, const struct sl_field *f,
                    struct sl_array **out, struct sl_error *err);
/* Imports a struct array + schema as a batch; takes over *array, not
 * *schema. */
int sl_import_batch(struct ArrowArray *array, const struct ArrowSchema *schema,
                    struct sl_batch **out, struct sl_error *err);

/* Exports a batch reader as a stream; the stream takes over the reader. */
int sl_export_stream(struct sl_batch_reader *reader,
                     struct ArrowArrayStream *out, struct sl_error *err);
/* Wraps a stream as a batch reader; the reader takes over the stream. */
int sl_import_stream(struct ArrowArrayStream *stream,
                     struct sl_batch_reader **out, struct sl_error *err);

#ifdef __cplusplus
}
#endif
#endif
