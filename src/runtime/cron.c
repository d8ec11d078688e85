/* Cron expression parsing and next-fire computation (UTC). */
#include "runtime/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "runtime/config.h"
#include "sluice/error.h"

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR",
                                          "MAY", "JUN", "JUL", "AUG",
                                          "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED",
                                        "THU", "FRI", "SAT"};

struct field_def {
  const char *name;
  int lo, hi;
  const char *const *names;
  int name_base;
};

static const struct field_def defs[5] = {{"minute", 0, 59, NULL, 0},
                                         {"hour", 0, 23, NULL, 0},
                                         {"day of month", 1, 31, NULL, 0},
                                         {"month", 1, 12, month_names, 1},
                                         {"day of week", 0, 7, day_names, 0}};

static int parse_num(const char **p, const struct field_def *d, int *out) {
  const char *s = *p;
  if (isdigit((unsigned char)*s)) {
    int v = 0;
    while (isdigit((unsigned char)*s)) {
      v = v * 10 + (*s++ - '0');
      if (v > 1000) return -1;
    }
    *p = s;
    *out = v;
    return 0;
  }
  if (d->names && isalpha((unsigned char)s[0]) &&
      isalpha((unsigned char)s[1]) && isalpha((unsigned char)s[2])) {
    int n = d->name_base == 1 ? 12 : 7;
    for (int i = 0; i < n; i++)
      if (!strncasecmp(s, d->names[i], 3)) {
        *out = i + d->name_base;
        *p = s + 3;
        return 0;
      }
  }
  return -1;
}

/* Parses one field [s, e) into a bit set. */
static int parse_field(const char *s, const char *e, const struct field_def *d,
                       uint64_t *bits, bool *star, char *why, size_t cap) {
  *bits = 0;
  *star = false;
  char text[64];
  snprintf(text, sizeof text, "%.*s", (int)(e - s), s);
  const char *p = s;
  while (p < e) {
    int a, b, step = 1;
    bool item_star = false;
    if (*p == '*') {
      a = d->lo;
      b = d->hi == 7 ? 6 : d->hi;
      p++;
      item_star = true;
    } else {
      if (parse_num(&p, d, &a)) goto bad;
      b = a;
      if (p < e && *p == '-') {
        p++;
        if (parse_num(&p, d, &b)) goto bad;
      }
      if (a < d->lo || a > d->hi || b < d->lo || b > d->hi || b < a) {
        snprintf(why, cap, "%s field: expected values in %d..%d, found '%s'",
                 d->name, d->lo, d->hi, text);
        return SL_EINVAL;
      }
    }
    if (p < e && *p == '/') {
      p++;
      if (!isdigit((unsigned char)*p) || parse_num(&p, d, &step) || step < 1 ||
          step > d->hi + 1) {
        snprintf(why, cap,
                 "%s field: expected a step in 1..%d after '/', "
                 "found '%s'",
                 d->name, d->hi + 1, text);
        return SL_EINVAL;
      }
      if (!item_star && b == a) b = d->hi == 7 ? 6 : d->hi; /* a/n */
      item_star = false;
    }
    if (item_star) *star = true;
    for (int v = a; v <= b; v += step)
      *bits |= 1ull << (v == 7 && d->hi == 7 ? 0 : v);
    if (p < e && *p == ',') {
      p++;
      if (p == e) goto bad;
      continue;
    }
    if (p != e) goto bad;
  }
  if (!*bits) goto bad;
  return 0;
bad:
  snprintf(why, cap,
           "%s field: expected *, a value, a range a-b, a step /n or a list, "
           "found '%s'",
           d->name, text);
  return SL_EINVAL;
}

int sl__cron_parse(const char *expr, struct sl_cron *out, char *why,
                   size_t cap) {
  memset(out, 0, sizeof *out);
  while (isspace((unsigned char)*expr))
    expr++;
  static const struct {
    const char *name, *expr;
  } macros[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                {"@hourly", "0 * * * *"}};
  if (expr[0] == '@') {
    if (!strncmp(expr, "@every", 6) && isspace((unsigned char)expr[6])) {
      const char *d = expr + 6;
      while (isspace((unsigned char)*d))
        d++;
      char buf[64];
      snprintf(buf, sizeof buf, "%s", d);
      size_t n = strlen(buf);
      while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
      int64_t ms = 0;
      if (sl__cfg_parse_duration(buf, &ms) || ms < 1) {
        snprintf(why, cap,
                 "expected a duration after @every (10s, 500ms, 5m), found "
                 "'%s'",
                 buf);
        return SL_EINVAL;
      }
      out->every_ms = ms;
      return 0;
    }
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
      if (!strcmp(expr, macros[i].name))
        return sl__cron_parse(macros[i].expr, out, why, cap);
    snprintf(why, cap,
             "expected @every <duration>, @hourly, @daily, @weekly, "
             "@monthly or @yearly, found '%s'",
             expr);
    return SL_EINVAL;
  }
  const char *p = expr;
  uint64_t bits[5];
  bool star[5];
  for (int f = 0; f < 5; f++) {
    while (isspace((unsigned char)*p))
      p++;
    const char *s = p;
    while (*p && !isspace((unsigned char)*p))
      p++;
    if (s == p) {
      snprintf(why, cap,
               "expected 5 fields (minute hour day-of-month month "
               "day-of-week), found %d in '%s'",
               f, expr);
      return SL_EINVAL;
    }
    SL_RETURN_NOT_OK(parse_field(s, p, &defs[f], &bits[f], &star[f], why, cap));
  }
  while (isspace((unsigned char)*p))
    p++;
  if (*p) {
    snprintf(why, cap,
             "expected 5 fields (minute hour day-of-month month day-of-week), "
             "found more in '%s'",
             expr);
    return SL_EINVAL;
  }
  out->minutes = bits[0];
  out->hours = (uint32_t)bits[1];
  out->mdays = (uint32_t)bits[2];
  out->months = (uint16_t)bits[3];
  out->wdays = (uint8_t)bits[4];
  out->mday_star = star[2];
  out->wday_star = star[4];
  return 0;
}

static bool day_matches(const struct sl_cron *c, const struct tm *tm) {
  bool md = (c->mdays >> tm->tm_mday) & 1;
  bool wd = (c->wdays >> tm->tm_wday) & 1;
  if (c->mday_star && c->wday_star) return true;
  if (c->mday_star) return wd;
  if (c->wday_star) return md;
  return md || wd;
}

int64_t sl__cron_next(const struct sl_cron *c, int64_t after_ms) {
  if (c->every_ms > 0) return after_ms + c->every_ms;
  time_t t = (time_t)(after_ms / 1000);
  t = t - t % 60 + 60; /* the next whole minute */
  time_t limit = t + (time_t)5 * 366 * 86400;
  struct tm tm;
  while (t < limit) {
    gmtime_r(&t, &tm);
    if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
      tm.tm_mon++;
      tm.tm_mday = 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      t = timegm(&tm);
      continue;
    }
    if (!day_matches(c, &tm)) {
      tm.tm_mday++;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      t = timegm(&tm);
      continue;
    }
    if (!((c->hours >> tm.tm_hour) & 1)) {
      tm.tm_hour++;
      tm.tm_min = tm.tm_sec = 0;
      t = timegm(&tm);
      continue;
    }
    if (!((c->minutes >> tm.tm_min) & 1)) {
      t += 60;
      continue;
    }
    return (int64_t)t * 1000;
  }
  return -1;
}
