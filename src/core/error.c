/* Status codes and error messages. */
#include "sluice/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sl_error_set(struct sl_error *err, int code, const char *fmt, ...) {
  if (err) {
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

int sl_error_prefix(struct sl_error *err, const char *fmt, ...) {
  if (!err) return 0;
  char head[SL_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  if (n < 0) return err->code;
  size_t hn = strlen(head), mn = strlen(err->msg);
  if (hn > SL_ERROR_MSG_MAX - 1) hn = SL_ERROR_MSG_MAX - 1;
  if (mn > SL_ERROR_MSG_MAX - 1 - hn) mn = SL_ERROR_MSG_MAX - 1 - hn;
  memmove(err->msg + hn, err->msg, mn);
  memcpy(err->msg, head, hn);
  err->msg[hn + mn] = '\0';
  return err->code;
}

void sl_error_reset(struct sl_error *err) {
  if (err) {
    err->code = 0;
    err->msg[0] = '\0';
  }
}

const char *sl_status_name(int code) {
  switch (code) {
  case SL_OK: return "ok";
  case SL_ENOMEM: return "out of memory";
  case SL_EINVAL: return "invalid input";
  case SL_EIO: return "I/O error";
  case SL_ERANGE: return "out of range";
  case SL_ENOTSUP: return "not supported";
  case SL_ENOENT: return "not found";
  case SL_EOVERFLOW: return "size overflow";
  case SL_ECANCELED: return "canceled";
  default: return "error";
  }
}
