/* sluice runtime: cron expressions (5 fields, UTC) and "@every <duration>".
 *
 * Fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or
 * JAN-DEC) day-of-week (0-7 or SUN-SAT; 0 and 7 are Sunday). Each field is
 * `*`, a value, a range `a-b`, any of those with a step `/n`, or a
 * comma-separated list of them. When both day fields are restricted a day
 * matches when either matches (classic cron). Macros: @yearly, @annually,
 * @monthly, @weekly, @daily, @midnight, @hourly, and @every 10s (any
 * duration of at least 1 ms, counted from the start of the trigger). */
#ifndef SLUICE_RUNTIME_CRON_H
#define SLUICE_RUNTIME_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_cron {
  uint64_t minutes; /* bit m */
  uint32_t hours;   /* bit h */
  uint32_t mdays;   /* bit d, 1..31 */
  uint16_t months;  /* bit m, 1..12 */
  uint8_t wdays;    /* bit w, 0..6 (Sunday = 0) */
  bool mday_star, wday_star;
  int64_t every_ms; /* > 0 for @every */
};

/* Parses expr; on failure returns SL_EINVAL and writes why (what was
 * expected, found where) into why[0, cap). */
int sl__cron_parse(const char *expr, struct sl_cron *out, char *why,
                   size_t cap);
/* The first firing time strictly after `after_ms` (UTC epoch ms), or -1 when
 * none within 5 years (e.g. Feb 30). For @every: after_ms + every_ms. */
int64_t sl__cron_next(const struct sl_cron *c, int64_t after_ms);

#endif
