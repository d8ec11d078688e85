/* The stdout sink: result rows as JSON Lines on standard output (or a file).
 * Rows are durable once written and flushed, so no ack is held. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/json_out.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"

struct stdout_attrs {
  char *path;
  bool flush;
};

struct stdout_state {
  pthread_mutex_t mu;
  int fd;
  bool own_fd;
};

#define A(f) offsetof(struct stdout_attrs, f)
static const struct sl_cfg_entry stdout_config[] = {
    {"path", SL_CFG_STRING, "-", 0, 0, NULL, A(path),
     "`-` = standard output; else a file appended to.", false},
    {"flush", SL_CFG_BOOL, "true", 0, 0, NULL, A(flush),
     "Write each batch out at once (else buffered by the OS only).", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

static int stdout_init(struct sl_sink *s, struct sl_error *err) {
  const struct stdout_attrs *a = s->attrs;
  struct stdout_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  pthread_mutex_init(&st->mu, NULL);
  st->fd = 1;
  if (strcmp(a->path, "-")) {
    st->fd = open(a->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (st->fd < 0) {
      int e = errno;
      pthread_mutex_destroy(&st->mu);
      sl_free(st);
      return sl_error_set(err, SL_EIO, "sink %s: cannot open '%s': %s",
                          s->spec->name, a->path, strerror(e));
    }
    st->own_fd = true;
  }
  s->state = st;
  return 0;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return SL_EIO;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int stdout_write(struct sl_sink *s, const struct sl_batch *batch,
                        struct sl_ack *ack, struct sl_error *err) {
  struct stdout_state *st = s->state;
  struct sl_text t = {0};
  int rc = sl__batch_to_jsonl(batch, &t);
  if (rc) {
    sl_free(t.p);
    return sl_error_set(err, rc, "out of memory");
  }
  pthread_mutex_lock(&st->mu);
  rc = write_all(st->fd, t.p, t.len);
  pthread_mutex_unlock(&st->mu);
  sl_free(t.p);
  if (rc) return sl_error_set(err, rc, "write failed: %s", strerror(errno));
  return 0;
}

static void stdout_destroy(struct sl_sink *s) {
  struct stdout_state *st = s->state;
  if (!st) return;
  if (st->own_fd) close(st->fd);
  pthread_mutex_destroy(&st->mu);
  sl_free(st);
}

const struct sl_sink_vtable sl__sink_stdout = {
    .name = "stdout",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "Result rows as JSON Lines (one object per row; timestamps as "
           "RFC 3339 text).",
    .config = stdout_config,
    .config_size = sizeof(struct stdout_attrs),
    .init = stdout_init,
    .write = stdout_write,
    .destroy = stdout_destroy,
};
