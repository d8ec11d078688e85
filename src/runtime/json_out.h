/* sluice runtime: batches as JSON Lines text. */
#ifndef SLUICE_RUNTIME_JSON_OUT_H
#define SLUICE_RUNTIME_JSON_OUT_H

#include <stddef.h>

#include "runtime/rt.h"

struct sl_text {
  char *p; /* sl_malloc'd, NUL-terminated when len > 0 */
  size_t len, cap;
};
int sl__text_reserve(struct sl_text *t, size_t extra);
int sl__text_put(struct sl_text *t, const char *s, size_t n);
/* Appends one JSON object per row; timestamps as RFC 3339 strings. */
int sl__batch_to_jsonl(const struct sl_batch *b, struct sl_text *out);

#endif
