/* Removal of files superseded by a replay (see supersede.h). */
#include "runtime/supersede.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DIGITS 20 /* offsets in keys are zero-padded to 20 digits */

static bool parse_offset(const char *s, uint64_t *v) {
  uint64_t x = 0;
  for (int i = 0; i < DIGITS; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  *v = x;
  return true;
}

/* "<first>-<last>" at s (exactly 2*DIGITS+1 characters). */
static bool parse_range(const char *s, uint64_t *a, uint64_t *b) {
  return parse_offset(s, a) && s[DIGITS] == '-' &&
         parse_offset(s + DIGITS + 1, b);
}

/* The rest of a file name after the range: ".parquet" or "-<n>.parquet". */
static bool parse_tail(const char *s) {
  if (!strcmp(s, ".parquet")) return true;
  if (*s++ != '-' || *s < '0' || *s > '9') return false;
  while (*s >= '0' && *s <= '9')
    s++;
  return !strcmp(s, ".parquet");
}

int64_t sl__supersede_overlapping(const char *dir, const char *prefix,
                                  const char *key) {
  size_t kl = strlen(key);
  if (kl < 2 * DIGITS + 3 || key[kl - 2 * DIGITS - 2] != '-') return 0;
  uint64_t first, last;
  const char *range = key + kl - 2 * DIGITS - 1;
  if (!parse_range(range, &first, &last)) return 0;
  /* "<prefix>-<source>-": what every file of this stream starts with. */
  char head[512];
  int hn = snprintf(head, sizeof head, "%s-%.*s", prefix,
                    (int)(kl - 2 * DIGITS - 1), key);
  if (hn <= 0 || (size_t)hn >= sizeof head) return 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  int64_t removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *n = e->d_name;
    if (strncmp(n, head, (size_t)hn)) continue;
    uint64_t a, b;
    if (strlen(n + hn) < 2 * DIGITS + 1 || !parse_range(n + hn, &a, &b) ||
        !parse_tail(n + hn + 2 * DIGITS + 1))
      continue;
    if ((a == first && b == last) || a > last || b < first) continue;
    char path[4608];
    if (snprintf(path, sizeof path, "%s/%s", dir, n) >= (int)sizeof path)
      continue;
    if (unlink(path) == 0) removed++;
  }
  closedir(d);
  if (removed) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      fsync(fd);
      close(fd);
    }
  }
  return removed;
}
