/* Small runtime helpers: clocks, JSON escaping, structured logs, tickets,
 * acknowledgement references. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/rt.h"
#include "sluice/alloc.h"

int64_t sl__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t sl__json_escape(char *buf, size_t cap, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t k = 0;
  if (cap == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char tmp[7];
    size_t tl = 1;
    tmp[0] = (char)c;
    if (c == '"' || c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)c;
      tl = 2;
    } else if (c == '\n') {
      memcpy(tmp, "\\n", 2);
      tl = 2;
    } else if (c == '\r') {
      memcpy(tmp, "\\r", 2);
      tl = 2;
    } else if (c == '\t') {
      memcpy(tmp, "\\t", 2);
      tl = 2;
    } else if (c < 0x20) {
      memcpy(tmp, "\\u00", 4);
      tmp[4] = hex[c >> 4];
      tmp[5] = hex[c & 15];
      tl = 6;
    }
    if (k + tl >= cap) break;
    memcpy(buf + k, tmp, tl);
    k += tl;
  }
  buf[k] = '\0';
  return k;
}

int sl_log_parse_level(const char *s, enum sl_log_level *out) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (s && !strcmp(s, names[i])) {
      *out = (enum sl_log_level)i;
      return 0;
    }
  return SL_EINVAL;
}

void sl_log(const struct sl_runtime *rt, enum sl_log_level level,
            const char *msg, const char *fields_fmt, ...) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  enum sl_log_level min = rt ? rt->log_level : SL_LOG_INFO;
  if (level < min) return;
  char line[2048], emsg[600], fields[1200] = "";
  int64_t now = sl__wall_ms();
  time_t secs = (time_t)(now / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  sl__json_escape(emsg, sizeof emsg, msg, strlen(msg));
  if (fields_fmt) {
    va_list ap;
    va_start(ap, fields_fmt);
    vsnprintf(fields, sizeof fields, fields_fmt, ap);
    va_end(ap);
  }
  char fname[200] = "";
  if (rt && rt->spec) {
    char esc[150];
    sl__json_escape(esc, sizeof esc, sl_spec_name(rt->spec),
                    strlen(sl_spec_name(rt->spec)));
    snprintf(fname, sizeof fname, ",\"fn\":\"%s\"", esc);
  }
  int n = snprintf(line, sizeof line,
                   "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\","
                   "\"level\":\"%s\"%s,\"msg\":\"%s\"%s%s}\n",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, (int)(now % 1000), names[level], fname,
                   emsg, fields[0] ? "," : "", fields);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) {
    n = (int)sizeof line - 1;
    line[n - 2] = '}';
    line[n - 1] = '\n';
  }
  ssize_t w = write(2, line, (size_t)n);
  (void)w;
}

void sl__ticket_init(struct sl_ticket *t) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cv, NULL);
}

void sl__ticket_destroy(struct sl_ticket *t) {
  sl_free(t->results);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
}

void sl__ticket_wait(struct sl_ticket *t) {
  pthread_mutex_lock(&t->mu);
  while (t->pending > 0)
    pthread_cond_wait(&t->cv, &t->mu);
  pthread_mutex_unlock(&t->mu);
}

void sl__ack_retain(struct sl_ack *a) {
  atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

void sl__ack_release(struct sl_ack *a) {
  if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1) return;
  if (a->trigger) sl__delivery_done(&a->trigger->delivery, a->seq);
  for (int32_t i = 0; i < a->n_deps; i++)
    sl__ack_release(a->deps[i]);
  sl_free(a->deps);
  sl_free(a);
}
