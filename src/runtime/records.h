/* sluice runtime: event bodies to one-record-per-line text. */
#ifndef SLUICE_RUNTIME_RECORDS_H
#define SLUICE_RUNTIME_RECORDS_H

#include "runtime/json_out.h"

/* Appends the records of body to out, one per line, and counts them. A body
 * is a JSON array (elements are records), a single JSON object (may span
 * lines), or JSON Lines (blank lines skipped). Returns SL_EINVAL with *why
 * when an array is malformed as a whole; SL_ENOMEM on allocation failure.
 * Records themselves are not validated here. */
int sl__split_records(const char *body, size_t len, struct sl_text *out,
                      int64_t *n_records, const char **why);

#endif
