/* sluice: safe publication of output files, Hive-style partition paths.
 *
 * A published file is written under a temporary name in the target folder,
 * fsynced, renamed to its final name and the folder is fsynced: readers and
 * crashes see either no file or the whole file, never a partial one under
 * the final name. Temporary names start with '.' and contain ".tmp-" so
 * that query engines (which skip hidden files) ignore them.
 *
 * Thread-safety: one struct sl_publish per thread; different files may be
 * published concurrently. */
#ifndef SLUICE_PUBLISH_H
#define SLUICE_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_publish {
  char *final_path; /* owned */
  char *temp_path;  /* owned */
  int fd;           /* -1 when closed */
  int64_t bytes;    /* written so far */
  bool fsync;       /* fsync file and folder at commit (default true) */
};

/* Creates the temporary file next to final_path (the folder must exist;
 * see sl_publish_mkdirs). */
int sl_publish_open(const char *final_path, struct sl_publish *p,
                    struct sl_error *err);
/* Writes all n bytes (retries short writes and EINTR). */
int sl_publish_write(struct sl_publish *p, const void *data, size_t n,
                     struct sl_error *err);
/* fsync, close, rename over final_path, fsync the folder. On failure the
 * temporary file is removed. Releases p in every case. */
int sl_publish_commit(struct sl_publish *p, struct sl_error *err);
/* Closes and removes the temporary file; releases p. Safe to call twice. */
void sl_publish_abort(struct sl_publish *p);

/* mkdir -p, fsyncing each parent folder that gained an entry. */
int sl_publish_mkdirs(const char *dir, struct sl_error *err);

/* Builds "<root>/<k1>=<v1>/<k2>=<v2>/<file_name>" into buf (cap bytes).
 * Values are escaped the way Hive does: '/', '=', '%', control characters
 * and a few others become %XX; an empty value becomes
 * __HIVE_DEFAULT_PARTITION__. root or file_name may be NULL (left out).
 * Returns SL_ERANGE when buf is too small. */
int sl_partition_path(char *buf, size_t cap, const char *root,
                      const char *const *keys, const char *const *values, int n,
                      const char *file_name, struct sl_error *err);

#ifdef __cplusplus
}
#endif
#endif
