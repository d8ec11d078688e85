/* Sequential byte sources of the file trigger: plain, .gz and .zst files,
 * positioned by decompressed offset. One thread per source. */
#ifndef SLUICE_RUNTIME_FILE_SOURCE_H
#define SLUICE_RUNTIME_FILE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/error.h"

struct sl_fsrc;

/* True for names ending in .gz or .zst. */
bool sl__fsrc_compressed(const char *path);
/* Opens path positioned at decompressed byte `offset` (SL_EIO when the file
 * is shorter or corrupt). */
int sl__fsrc_open(const char *path, int64_t offset, struct sl_fsrc **out,
                  struct sl_error *err);
/* Reads up to cap bytes: > 0 bytes, 0 at the end, -1 on an I/O or
 * decompression error. */
int64_t sl__fsrc_read(struct sl_fsrc *s, char *buf, size_t cap);
int64_t sl__fsrc_pos(const struct sl_fsrc *s);
void sl__fsrc_close(struct sl_fsrc *s);

#endif
