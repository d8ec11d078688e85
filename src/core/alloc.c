/* The allocation choke point and its failure-injection hook. */
#include "sluice/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Test hook state. Process-wide on purpose: tests flip it around a workload
 * (see sl_alloc_fail_after in alloc.h). */
static _Atomic int64_t fail_at; /* 0: off; else the count that fails */
static _Atomic int fail_sticky;
static _Atomic int64_t alloc_count; /* allocations since the hook was set */
static _Atomic int64_t alloc_live;  /* blocks currently allocated */

void sl_alloc_fail_after(int64_t n, int sticky) {
  atomic_store(&alloc_count, 0);
  atomic_store(&fail_sticky, sticky);
  atomic_store(&fail_at, n);
}

int64_t sl_alloc_count(void) {
  return atomic_load(&alloc_count);
}
int64_t sl_alloc_live(void) {
  return atomic_load(&alloc_live);
}

static int should_fail(void) {
  int64_t c = atomic_fetch_add(&alloc_count, 1) + 1;
  int64_t at = atomic_load(&fail_at);
  if (at <= 0) return 0;
  return c == at || (atomic_load(&fail_sticky) && c > at);
}

/* Large blocks (group tables, states, result columns, page buffers) are
 * written soon after they are allocated, and each 4 KiB page's first touch
 * costs a fault: about 3 us a page in a VM, a tenth of a second for a
 * million-group aggregate. Transparent huge pages, asked for on these
 * blocks, fault 2 MiB at a time. Only the whole pages inside the block are
 * advised; the kernel falls back to small pages when it has no huge ones. */
#define HUGE_HINT_MIN ((size_t)4 << 20)

static void hint_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  if (!p || n < HUGE_HINT_MIN) return;
  uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
  uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
  if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)n;
#endif
}

void *sl_malloc(size_t n) {
  if (should_fail()) return NULL;
  void *p = malloc(n ? n : 1);
  if (p) atomic_fetch_add(&alloc_live, 1);
  hint_huge(p, n);
  return p;
}

void *sl_calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  if (should_fail()) return NULL;
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (p) atomic_fetch_add(&alloc_live, 1);
  hint_huge(p, count * size);
  return p;
}

void *sl_realloc(void *p, size_t n) {
  if (!p) return sl_malloc(n);
  if (should_fail()) return NULL;
  void *q = realloc(p, n ? n : 1);
  hint_huge(q, n);
  return q;
}

void sl_free(void *p) {
  if (!p) return;
  atomic_fetch_sub(&alloc_live, 1);
  free(p);
}

#define SL_ALIGN 64

void *sl_aligned_alloc(size_t n) {
  if (n > SIZE_MAX - SL_ALIGN) return NULL;
  if (should_fail()) return NULL;
  size_t rounded = (n + SL_ALIGN - 1) / SL_ALIGN * SL_ALIGN;
  void *p = aligned_alloc(SL_ALIGN, rounded ? rounded : SL_ALIGN);
  if (p) atomic_fetch_add(&alloc_live, 1);
  hint_huge(p, rounded);
  return p;
}

void *sl_aligned_realloc(void *p, size_t old_n, size_t new_n) {
  if (!p) return sl_aligned_alloc(new_n);
  void *q = sl_aligned_alloc(new_n);
  if (!q) return NULL;
  memcpy(q, p, old_n < new_n ? old_n : new_n);
  sl_aligned_free(p);
  return q;
}

void sl_aligned_free(void *p) {
  sl_free(p);
}

char *sl_strndup(const char *s, size_t n) {
  char *d = sl_malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *sl_strdup(const char *s) {
  return sl_strndup(s, strlen(s));
}
