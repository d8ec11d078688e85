/* Internal glue between the Arrow C Data Interface files (arrow_export.c,
 * arrow_import.c, arrow_stream.c) and array validation (validate.c). */
#ifndef SLUICE_TABLE_ARROW_C_INTERNAL_H
#define SLUICE_TABLE_ARROW_C_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/arrow_c.h"
#include "sluice/table.h"

/* Nesting deeper than this is rejected on import and validation, so that a
 * hostile producer cannot exhaust the stack through recursion. */
#define SL__ARROW_MAX_DEPTH 64

/* Room for a field path such as "column 'geo' child 'city' dictionary". */
#define SL__PATH_MAX 256

/* Validates a against f (f may be NULL: then only the layout is checked).
 * `path` names the array in error messages ("column 'geo' child 'city'"). */
int sl__array_validate_at(const struct sl_array *a, const struct sl_field *f,
                          bool check_utf8, const char *path, int depth,
                          struct sl_error *err);

/* Appends " child 'name'" (or the given suffix) to a path, truncating
 * safely; dst has SL__PATH_MAX bytes. */
void sl__path_child(char *dst, const char *parent, const char *name);
void sl__path_suffix(char *dst, const char *parent, const char *suffix);

/* True when bytes [0, n) are well-formed UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF). *bad gets the offset of the first bad byte. */
bool sl__utf8_valid(const uint8_t *s, int64_t n, int64_t *bad);

/* Nulls among bits [offset, offset+length) of a validity bitmap. */
int64_t sl__count_nulls(const uint8_t *bits, int64_t offset, int64_t length);

/* Exports only the array part of a batch (a struct array, no schema). */
int sl__export_batch_array(const struct sl_batch *b, struct ArrowArray *out,
                           struct sl_error *err);

/* Imports a struct ArrowArray as a batch of the given schema; takes over
 * *array (released on success and failure alike). */
int sl__import_batch_with_schema(struct ArrowArray *array,
                                 const struct sl_schema *schema,
                                 struct sl_batch **out, struct sl_error *err);

/* Test data (testdata.c): kind 0 = every primitive type, 1 = nested types,
 * 2 = both; rows [base, base+n), then sliced to [offset, offset+length)
 * when offset >= 0. Values follow formulas mirrored by the Python oracle
 * tests. */
int sl_testdata_batch(int kind, int64_t base, int64_t n, int64_t offset,
                      int64_t length, struct sl_batch **out,
                      struct sl_error *err);

#endif
