/* sluice: the one allocation choke point, the per-batch arena.
 *
 * All heap memory of sluice goes through sl_malloc / sl_calloc / sl_realloc /
 * sl_free, so that a test can make the N-th allocation fail and prove every
 * error path. Column buffers are 64-byte aligned (sl_aligned_alloc). */
#ifndef SLUICE_ALLOC_H
#define SLUICE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void *sl_malloc(size_t n);
void *sl_calloc(size_t count, size_t size); /* checks count*size for overflow */
void *sl_realloc(void *p, size_t n);
void sl_free(void *p);
/* 64-byte aligned memory for column buffers; free with sl_aligned_free. */
void *sl_aligned_alloc(size_t n);
void *sl_aligned_realloc(void *p, size_t old_n, size_t new_n);
void sl_aligned_free(void *p);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);

/* Test hook: the n-th allocation from now (1 = the next one) fails, and with
 * `sticky` every one after it too. n = 0 turns failure injection off.
 * Process-wide by design (like SQLite's test_malloc); tests only. */
void sl_alloc_fail_after(int64_t n, int sticky);
/* How many allocations were made since the hook was last set, and how many
 * blocks are live now (a leak check for tests). */
int64_t sl_alloc_count(void);
int64_t sl_alloc_live(void);

/* Arena: bump allocation from chunks, everything freed in one call. For
 * per-batch and per-request scratch memory. Not thread-safe: one per thread. */
struct sl_arena_chunk;
struct sl_arena {
  struct sl_arena_chunk *head;
  size_t chunk_size; /* default chunk size; big requests get their own */
  size_t used_bytes; /* total bytes handed out since the last reset */
};

void sl_arena_init(struct sl_arena *a, size_t chunk_size);
/* Returns memory aligned to 16 bytes, or NULL when allocation fails. */
void *sl_arena_alloc(struct sl_arena *a, size_t n);
/* Frees every chunk but the first, which is kept for reuse. */
void sl_arena_reset(struct sl_arena *a);
void sl_arena_release(struct sl_arena *a);

#ifdef __cplusplus
}
#endif
#endif
