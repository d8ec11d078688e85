/* The dead-letter sink: one JSON object per bad record:
 * {"ts":...,"trigger":"http","position":{"a":..,"b":..,"line":..},
 *  "reason":"...","record":"<the record text>"} */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/json_out.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"
#include "sluice/publish.h"

struct sl_deadletter {
  struct sl_runtime *rt;
  pthread_mutex_t mu;
  int fd;
  bool own_fd;
};

int sl__deadletter_open(struct sl_runtime *rt, const char *path,
                        struct sl_deadletter **out, struct sl_error *err) {
  struct sl_deadletter *d = sl_calloc(1, sizeof *d);
  if (!d) return sl_error_set(err, SL_ENOMEM, "out of memory");
  d->rt = rt;
  d->fd = 2;
  if (strcmp(path, "-")) {
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
      char dir[4096];
      snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
      if (sl_publish_mkdirs(dir, err)) {
        sl_free(d);
        return err ? err->code : SL_EIO;
      }
    }
    d->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (d->fd < 0) {
      int e = errno;
      sl_free(d);
      return sl_error_set(err, SL_EIO, "spec.deadLetter: cannot open '%s': %s",
                          path, strerror(e));
    }
    d->own_fd = true;
  }
  pthread_mutex_init(&d->mu, NULL);
  *out = d;
  return 0;
}

void sl__deadletter_write(struct sl_deadletter *d, const char *record,
                          size_t len, const char *reason, const char *trigger,
                          const char *source, int64_t line) {
  struct sl_text t = {0};
  char head[1200], r[300], tr[160], src[600] = "";
  sl__json_escape(r, sizeof r, reason, strlen(reason));
  sl__json_escape(tr, sizeof tr, trigger, strlen(trigger));
  if (source) {
    char esc[560];
    sl__json_escape(esc, sizeof esc, source, strlen(source));
    snprintf(src, sizeof src, "\"file\":\"%s\",", esc);
  }
  int n = snprintf(head, sizeof head,
                   "{\"ts_ms\":%lld,\"trigger\":\"%s\",\"position\":{%s"
                   "\"%s\":%lld},\"reason\":\"%s\",\"record\":\"",
                   (long long)sl__wall_ms(), tr, src, source ? "line" : "index",
                   (long long)line, r);
  if (len > 0 && record[len - 1] == '\n') len--;
  if (sl__text_put(&t, head, (size_t)n) || sl__text_reserve(&t, len * 6 + 4)) {
    sl_free(t.p);
    return;
  }
  t.len += sl__json_escape(t.p + t.len, t.cap - t.len, record, len);
  sl__text_put(&t, "\"}\n", 3);
  pthread_mutex_lock(&d->mu);
  const char *p = t.p;
  size_t left = t.len;
  while (left) {
    ssize_t w = write(d->fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    p += w;
    left -= (size_t)w;
  }
  pthread_mutex_unlock(&d->mu);
  sl_free(t.p);
}

void sl__deadletter_close(struct sl_deadletter *d) {
  if (!d) return;
  if (d->own_fd) {
    fsync(d->fd);
    close(d->fd);
  }
  pthread_mutex_destroy(&d->mu);
  sl_free(d);
}
