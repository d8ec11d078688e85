/* Arena: bump allocation from a list of chunks, freed in one call. */
#include "sluice/alloc.h"

#include <stdint.h>

struct sl_arena_chunk {
  struct sl_arena_chunk *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  _Alignas(16) unsigned char mem[];
};

void sl_arena_init(struct sl_arena *a, size_t chunk_size) {
  a->head = NULL;
  a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
  a->used_bytes = 0;
}

void *sl_arena_alloc(struct sl_arena *a, size_t n) {
  if (n > SIZE_MAX - 15) return NULL;
  n = (n + 15) & ~(size_t)15;
  struct sl_arena_chunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t sz = n > a->chunk_size ? n : a->chunk_size;
    if (sz > SIZE_MAX - sizeof *c) return NULL;
    c = sl_malloc(sizeof *c + sz);
    if (!c) return NULL;
    c->size = sz;
    c->used = 0;
    /* A big one-off block goes behind the head so the head keeps serving. */
    if (a->head && sz > a->chunk_size) {
      c->next = a->head->next;
      a->head->next = c;
    } else {
      c->next = a->head;
      a->head = c;
    }
  }
  void *p = c->mem + c->used;
  c->used += n;
  a->used_bytes += n;
  return p;
}

void sl_arena_reset(struct sl_arena *a) {
  if (!a->head) return;
  struct sl_arena_chunk *keep = NULL, *c = a->head;
  while (c) {
    struct sl_arena_chunk *next = c->next;
    if (!keep && c->size == a->chunk_size) {
      keep = c;
    } else {
      sl_free(c);
    }
    c = next;
  }
  if (keep) {
    keep->next = NULL;
    keep->used = 0;
  }
  a->head = keep;
  a->used_bytes = 0;
}

void sl_arena_release(struct sl_arena *a) {
  struct sl_arena_chunk *c = a->head;
  while (c) {
    struct sl_arena_chunk *next = c->next;
    sl_free(c);
    c = next;
  }
  a->head = NULL;
  a->used_bytes = 0;
}
