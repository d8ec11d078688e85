/* A growable byte buffer for pages, footers and compressed output. */
#include <string.h>

#include "io/parquet/pq.h"

int pq_buf_reserve_slow(struct pq_buf *b, size_t extra) {
  if (extra > SIZE_MAX / 2 - b->size) return SL_EOVERFLOW;
  size_t need = b->size + extra;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  uint8_t *p = sl_realloc(b->data, cap);
  if (!p) return SL_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int pq_buf_append(struct pq_buf *b, const void *p, size_t n) {
  int rc = pq_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->size, p, n);
  b->size += n;
  return 0;
}

void pq_buf_release(struct pq_buf *b) {
  sl_free(b->data);
  b->data = NULL;
  b->size = b->cap = 0;
}
