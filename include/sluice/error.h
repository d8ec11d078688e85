/* sluice: status codes and the caller-owned error record.
 *
 * Every fallible function returns an int status: 0 on success or one of the
 * SL_E* codes below (errno-style values). Details go into an optional,
 * caller-owned struct sl_error that says what was expected, what was found and
 * where. Passing NULL for the error is always allowed. */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

#include <errno.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  SL_OK = 0,
  SL_ENOMEM = ENOMEM,       /* an allocation failed */
  SL_EINVAL = EINVAL,       /* bad input or argument: see the message */
  SL_EIO = EIO,             /* an operating-system I/O call failed */
  SL_ERANGE = ERANGE,       /* a value or size is out of range */
  SL_ENOTSUP = ENOTSUP,     /* a feature is not supported or not built in */
  SL_ENOENT = ENOENT,       /* a file, column or key does not exist */
  SL_EOVERFLOW = EOVERFLOW, /* a size computation would overflow */
  SL_ECANCELED = ECANCELED, /* the operation was stopped on request */
};

#define SL_ERROR_MSG_MAX 512

struct sl_error {
  int code;                   /* 0 until an error is set */
  char msg[SL_ERROR_MSG_MAX]; /* what, and where; always NUL-terminated */
};

/* Sets err (when not NULL) to code and a printf-style message; returns code so
 * that `return sl_error_set(err, SL_EINVAL, "...")` reads naturally. */
int sl_error_set(struct sl_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends context ("reading 'x.jsonl': ") to an existing message. */
int sl_error_prefix(struct sl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears err to the no-error state. */
void sl_error_reset(struct sl_error *err);

/* A short name for a status code ("out of memory", "invalid input", ...). */
const char *sl_status_name(int code);

/* Returns the status of expr from the calling function when it is not 0. */
#define SL_RETURN_NOT_OK(expr)                                                 \
  do {                                                                         \
    int sl__rc_ = (expr);                                                      \
    if (sl__rc_ != 0) return sl__rc_;                                          \
  } while (0)

/* Sets rc and jumps to the function's cleanup label when expr fails. */
#define SL_CHECK_GOTO(expr, rc, label)                                         \
  do {                                                                         \
    (rc) = (expr);                                                             \
    if ((rc) != 0) goto label;                                                 \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif
