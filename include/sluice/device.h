/* sluice: compute devices (CPU or an NVIDIA GPU through the CUDA backend).
 *
 * The CUDA backend is a separate shared library (libsluice_cuda.so) loaded
 * at run time, so a sluice binary runs on machines without CUDA. Lookup
 * order: $SLUICE_CUDA_LIB, then libsluice_cuda.so beside the running
 * executable, then the dynamic loader's search path.
 *
 * The device runs a group-by plan (src/device/device_abi.h: columns read
 * from JSON Lines, AND-ed predicates, up to 4 keys with optional time
 * buckets, count/sum/min/max/avg/variances/count(DISTINCT), IN and LIKE
 * filters) straight from JSON Lines bytes and returns
 * an Arrow-layout batch. Thread-safety: one sl_device may be shared by
 * threads, calls are serialised inside. */
#ifndef SLUICE_DEVICE_H
#define SLUICE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/error.h"
#include "sluice/table.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_dev_plan; /* device/device_abi.h */

enum sl_device_kind { SL_DEVICE_AUTO = 0, SL_DEVICE_CPU, SL_DEVICE_GPU };

struct sl_device_choice {
  enum sl_device_kind kind;
  int index; /* gpu:N, default 0 */
};

/* Parses "auto", "cpu", "gpu" or "gpu:N". */
int sl_device_choice_parse(const char *s, struct sl_device_choice *out,
                           struct sl_error *err);

struct sl_device;

/* Opens the GPU named by choice (kind must be GPU or AUTO). Fails with
 * SL_ENOTSUP and a message saying why (library not found, no GPU, ...). */
int sl_device_open(const struct sl_device_choice *choice,
                   struct sl_device **out, struct sl_error *err);
void sl_device_close(struct sl_device *d);
/* "cuda: NVIDIA H100 80GB HBM3, 132 SMs, 79 GiB, compute 9.0". */
const char *sl_device_describe(const struct sl_device *d);

struct sl_device_stats {
  int64_t rows_in, rows_matched, bad_lines, groups;
  double seconds_total, seconds_h2d, seconds_kernels;
};

/* Runs plan over JSON Lines bytes; names[] gives the output column names
 * (keys first, then aggregates). With resident_repeat > 0 the input is
 * copied to the device once and the plan timed over that many runs
 * (device-only throughput). *out is a new batch owned by the caller. */
int sl_device_groupby_json(struct sl_device *d, const struct sl_dev_plan *plan,
                           const char *const *names, const char *data,
                           size_t len, int resident_repeat,
                           struct sl_batch **out, struct sl_device_stats *stats,
                           struct sl_error *err);

/* Same, reading bytes [0, len) of the open file fd: the backend preads it
 * on all cores straight into pinned staging buffers, overlapped with the
 * device copies and kernels of earlier chunks (no page-cache mapping, no
 * extra copy). fd stays open and owned by the caller. */
int sl_device_groupby_fd(struct sl_device *d, const struct sl_dev_plan *plan,
                         const char *const *names, int fd, size_t len,
                         struct sl_batch **out, struct sl_device_stats *stats,
                         struct sl_error *err);

/* Pinned host memory from the device (faster copies), or NULL. */
void *sl_device_host_alloc(struct sl_device *d, size_t n);
void sl_device_host_free(struct sl_device *d, void *p);

#ifdef __cplusplus
}
#endif
#endif
