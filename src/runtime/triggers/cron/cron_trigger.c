/* The cron trigger: fires an event on a cron schedule or at an interval.
 * Each firing appends the configured body (a JSON object) as one record; with
 * addTimestamp the firing time goes in as "cron_ts" (RFC 3339, UTC). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "runtime/cron.h"
#include "runtime/json_out.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"

struct cron_attrs {
  char *schedule;
  char *interval;
  char *body;
  bool add_ts;
};

#define A(f) offsetof(struct cron_attrs, f)
static const struct sl_cfg_entry cron_config[] = {
    {"schedule", SL_CFG_STRING, NULL, 0, 0, NULL, A(schedule),
     "Cron expression, 5 fields in UTC (`*/5 * * * *`), or a macro "
     "(`@hourly`, `@every 10s`). One of schedule / interval.",
     false},
    {"interval", SL_CFG_STRING, NULL, 0, 0, NULL, A(interval),
     "Fixed interval (`10s`, `1m`), as Nuclio's cron trigger.", false},
    {"body", SL_CFG_STRING, "{}", 0, 0, NULL, A(body),
     "The event: a JSON object (text).", false},
    {"addTimestamp", SL_CFG_BOOL, "true", 0, 0, NULL, A(add_ts),
     "Add \"cron_ts\" (the firing time) to the body.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

struct cron_state {
  struct sl_cron cron;
  pthread_t th;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;
  int64_t fired;
};

static int compile(const struct cron_attrs *a, struct sl_cron *c, char *why,
                   size_t cap) {
  if (a->interval) {
    char buf[80];
    snprintf(buf, sizeof buf, "@every %s", a->interval);
    return sl__cron_parse(buf, c, why, cap);
  }
  return sl__cron_parse(a->schedule, c, why, cap);
}

static int cron_validate(const struct sl_spec_trigger *t, const char *file,
                         struct sl_error *err) {
  const struct cron_attrs *a = t->attrs;
  if (!!a->schedule == !!a->interval)
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes: expected "
                        "exactly one of 'schedule' and 'interval'",
                        file, t->line, t->col, t->name);
  struct sl_cron c;
  char why[300];
  if (compile(a, &c, why, sizeof why))
    return sl_error_set(
        err, SL_EINVAL, "%s:%d:%d: spec.triggers.%s.attributes.%s: %s", file,
        t->line, t->col, t->name, a->schedule ? "schedule" : "interval", why);
  const char *b = a->body;
  while (*b == ' ' || *b == '\n' || *b == '\t')
    b++;
  if (*b != '{')
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes.body: expected "
                        "a JSON object, found '%.40s'",
                        file, t->line, t->col, t->name, a->body);
  return 0;
}

static void fire(struct sl_trigger *t, int64_t when_ms) {
  const struct cron_attrs *a = t->attrs;
  struct sl_text rec = {0};
  const char *b = a->body;
  while (*b == ' ' || *b == '\n' || *b == '\t')
    b++;
  if (a->add_ts) {
    time_t secs = (time_t)(when_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[96];
    const char *rest = b + 1;
    while (*rest == ' ' || *rest == '\n' || *rest == '\t')
      rest++;
    int n = snprintf(
        ts, sizeof ts, "{\"cron_ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"%s",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
        tm.tm_sec, (int)(when_ms % 1000), *rest == '}' ? "" : ",");
    if (sl__text_put(&rec, ts, (size_t)n) ||
        sl__text_put(&rec, rest, strlen(rest))) {
      sl_free(rec.p);
      return;
    }
  } else if (sl__text_put(&rec, b, strlen(b))) {
    sl_free(rec.p);
    return;
  }
  for (size_t i = 0; i < rec.len; i++)
    if (rec.p[i] == '\n' || rec.p[i] == '\r') rec.p[i] = ' ';
  struct sl_error err = {0};
  struct sl_rt_pos pos = {.a = (uint64_t)when_ms};
  sl__count(&t->m->requests, 1);
  if (sl__batcher_append(t->batcher, rec.p, rec.len, 1, NULL, &pos, &err))
    sl_log(t->rt, SL_LOG_ERROR, "cron event lost", "\"error\":\"%s\"", err.msg);
  sl_free(rec.p);
}

static void *cron_main(void *arg) {
  struct sl_trigger *t = arg;
  struct cron_state *st = t->state;
  int64_t wall = sl__wall_ms();
  pthread_mutex_lock(&st->mu);
  while (!st->stop) {
    int64_t next = sl__cron_next(&st->cron, wall);
    if (next < 0) {
      sl_log(t->rt, SL_LOG_WARN, "cron schedule never fires again",
             "\"trigger\":\"%s\"", t->spec->name);
      while (!st->stop)
        pthread_cond_wait(&st->cv, &st->mu);
      break;
    }
    for (;;) {
      int64_t now = sl__wall_ms();
      if (st->stop || now >= next) break;
      struct timespec ts;
      int64_t w = next - now;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += w / 1000;
      ts.tv_nsec += (w % 1000) * 1000000;
      if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait(&st->cv, &st->mu, &ts);
    }
    if (st->stop) break;
    pthread_mutex_unlock(&st->mu);
    fire(t, next);
    pthread_mutex_lock(&st->mu);
    st->fired++;
    wall = next;
  }
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

static int cron_init(struct sl_trigger *t, struct sl_error *err) {
  struct cron_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  char why[300];
  if (compile(t->attrs, &st->cron, why, sizeof why)) {
    sl_free(st);
    return sl_error_set(err, SL_EINVAL, "trigger %s: %s", t->spec->name, why);
  }
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  t->state = st;
  return 0;
}

static int cron_start(struct sl_trigger *t, struct sl_error *err) {
  struct cron_state *st = t->state;
  if (pthread_create(&st->th, NULL, cron_main, t))
    return sl_error_set(err, SL_EIO, "cannot start the cron thread");
  st->started = true;
  return 0;
}

static void cron_stop(struct sl_trigger *t) {
  struct cron_state *st = t->state;
  if (!st) return;
  pthread_mutex_lock(&st->mu);
  st->stop = true;
  pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
  if (st->started) pthread_join(st->th, NULL);
  st->started = false;
}

static void cron_destroy(struct sl_trigger *t) {
  struct cron_state *st = t->state;
  if (!st) return;
  cron_stop(t);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  sl_free(st);
  t->state = NULL;
}

const struct sl_trigger_vtable sl__trigger_cron = {
    .name = "cron",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "Fires an event on a cron schedule (5 fields, UTC; ranges, steps, "
           "lists, names) or at a fixed interval.",
    .config = cron_config,
    .config_size = sizeof(struct cron_attrs),
    .validate = cron_validate,
    .init = cron_init,
    .start = cron_start,
    .stop = cron_stop,
    .destroy = cron_destroy,
};
