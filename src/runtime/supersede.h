/* sluice runtime: replays that cut batches differently (issue 7, kafka).
 *
 * A replayable trigger (SL_POS_OFFSETS positions) names each batch's output
 * "<prefix>-<source>-<first>-<last>[-<n>].parquet" (sl__position_key_offsets).
 * A replay after a crash restarts at the last committed offset, which is
 * always the end of a batch, but may cut the following batches at other
 * offsets (maxWait fired at another moment, another process owns the
 * partition now). A file published by the earlier run whose offset range
 * overlaps the range of a file just published by this run holds rows that
 * this run writes again (its range starts at or after the committed offset),
 * so it is removed: the replay supersedes it instead of duplicating it. */
#ifndef SLUICE_RUNTIME_SUPERSEDE_H
#define SLUICE_RUNTIME_SUPERSEDE_H

#include <stdint.h>

/* After publishing the file of `key` (an offsets key) in `dir`: removes the
 * other files "<prefix>-<same source>-<a>-<b>[-<n>].parquet" of dir whose
 * [a, b] overlaps the key's range with (a, b) different, then fsyncs dir.
 * Returns how many files were removed (0 when key is not an offsets key). */
int64_t sl__supersede_overlapping(const char *dir, const char *prefix,
                                  const char *key);

#endif
