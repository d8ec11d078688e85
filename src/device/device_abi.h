/* sluice: the ABI between the engine and a device backend library.
 *
 * A backend is a shared library (libsluice_cuda.so) that exports one symbol,
 * `sl_device_backend_v1`, a const table of the functions below. The library
 * depends on nothing of sluice: plans come in and results go out as plain C
 * structs, so a sluice binary without CUDA libraries still runs, and the
 * backend can be built by nvcc alone. */
#ifndef SLUICE_DEVICE_ABI_H
#define SLUICE_DEVICE_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_DEVICE_ABI_VERSION 3
#define SL_DEV_MAX_COLUMNS 16
#define SL_DEV_MAX_KEYS 4
#define SL_DEV_MAX_AGGS 16
#define SL_DEV_MAX_PREDS 8
#define SL_DEV_MAX_PATH 64
#define SL_DEV_MAX_LIST 32         /* constants of one IN list */
#define SL_DEV_MAX_LIST_BYTES 1024 /* their string bytes */
#define SL_DEV_MAX_PROG 32         /* steps of a WHERE program */

/* How a JSON value is read into a device column. */
enum sl_dev_type {
  SL_DEV_INT64 = 1, /* integer JSON numbers */
  SL_DEV_FLOAT64,   /* any JSON number */
  SL_DEV_STRING,    /* JSON string (escapes kept raw for hashing/compare) */
  SL_DEV_BOOL,      /* true / false */
  SL_DEV_TS_MS,     /* RFC 3339 string or epoch-ms number, to epoch ms */
};

enum sl_dev_agg_op {
  SL_DEV_COUNT_STAR = 1,
  SL_DEV_COUNT, /* non-null values */
  SL_DEV_SUM,
  SL_DEV_MIN,
  SL_DEV_MAX,
  SL_DEV_AVG,
  SL_DEV_VAR_POP, /* from the count and the sums of (x - K) and (x - K)^2 in
                     double, K the group's first value seen (shifted data:
                     no cancellation when the mean is far from 0) */
  SL_DEV_VAR_SAMP,
  SL_DEV_STDDEV_POP,
  SL_DEV_STDDEV_SAMP,
  SL_DEV_COUNT_DISTINCT, /* exact: a device set of (group, value) pairs */
  SL_DEV_BOOL_AND,       /* of a bool column; NULL when no value */
  SL_DEV_BOOL_OR,
  /* Exact quantiles of a number column (q in struct sl_dev_agg; median is
   * quantile_cont 0.5): (group, value) pairs are collected on the device,
   * sorted, and the ranks picked as the CPU engine does. */
  SL_DEV_QUANTILE_CONT, /* interpolated, a double */
  SL_DEV_QUANTILE_DISC, /* the value at rank ceil(q * n) */
  /* approx_count_distinct of a number column: the CPU engine's HyperLogLog
   * (hash, 4096 registers, exact count up to 64 distinct hashes), from the
   * sorted (group, hash) pairs, so the estimate is the same. */
  SL_DEV_APPROX_COUNT_DISTINCT,
  SL_DEV_FIRST,   /* value of the group's first line (NULL too) */
  SL_DEV_LAST,    /* value of the group's last line */
  SL_DEV_ARG_MIN, /* column at the line with the least column2 (lines where
                     either is NULL skipped; ties: the first line) */
  SL_DEV_ARG_MAX,
};

enum sl_dev_cmp {
  SL_DEV_EQ = 1,
  SL_DEV_NE,
  SL_DEV_LT,
  SL_DEV_LE,
  SL_DEV_GT,
  SL_DEV_GE,
  SL_DEV_IN,      /* column IN (list); `negate` for NOT IN */
  SL_DEV_LIKE,    /* string column LIKE str ('%' any run, '_' one code point);
                     `negate` for NOT LIKE, `ci` for ILIKE (ASCII folding) */
  SL_DEV_IS_NULL, /* column IS NULL; `negate` for IS NOT NULL (never NULL) */
};

/* WHERE program steps (struct sl_dev_plan.prog): 0..n_preds-1 push the
 * three-valued result of that predicate; the others pop their operands and
 * push the result, as SQL's AND, OR and NOT do with NULL. */
enum sl_dev_step {
  SL_DEV_STEP_AND = -1,
  SL_DEV_STEP_OR = -2,
  SL_DEV_STEP_NOT = -3,
};

struct sl_dev_column {
  char path[SL_DEV_MAX_PATH]; /* "status", "geo.country", "a.b.c" (up to
                                 8 levels) */
  int32_t type;               /* enum sl_dev_type */
  /* SL_DEV_TS_MS: how many units of a JSON number make one millisecond
   * (1: epoch ms, 1000: epoch us), as the CPU reader reads numbers in the
   * column's own unit. 0 means 1. */
  int32_t num_per_ms;
};

struct sl_dev_key {
  int32_t column;    /* index into plan columns */
  int64_t bucket_ms; /* for SL_DEV_TS_MS: floor to this width; 0 = raw */
};

struct sl_dev_agg {
  int32_t op;      /* enum sl_dev_agg_op */
  int32_t column;  /* -1 for count(*) */
  int32_t column2; /* arg_min / arg_max: the column compared */
  double q;        /* quantile_cont / quantile_disc: the fraction */
};

/* column CMP constant: TRUE, FALSE, or NULL where the column is null (NOT
 * IN and NOT LIKE included, as in SQL); IS [NOT] NULL is never NULL.
 * Strings compare decoded JSON bytes. */
struct sl_dev_pred {
  int32_t column;
  int32_t cmp;
  int64_t i64;               /* for int64 / ts / bool columns */
  double f64;                /* for float64 columns */
  char str[SL_DEV_MAX_PATH]; /* string columns: EQ / NE value, LIKE pattern */
  int32_t str_len;
  int32_t negate, ci; /* IN, LIKE, IS NULL: NOT; LIKE: ILIKE */
  int32_t list_null;  /* IN: the list holds a NULL (not found is NULL) */
  /* IN: n_list constants, as i64 / f64 by the column's type, strings as
   * list_str[list_off[k] .. list_off[k + 1]). */
  int32_t n_list;
  int32_t list_off[SL_DEV_MAX_LIST + 1];
  int64_t list_i64[SL_DEV_MAX_LIST];
  double list_f64[SL_DEV_MAX_LIST];
  char list_str[SL_DEV_MAX_LIST_BYTES];
};

struct sl_dev_plan {
  int32_t n_columns, n_keys, n_aggs, n_preds;
  struct sl_dev_column columns[SL_DEV_MAX_COLUMNS];
  struct sl_dev_key keys[SL_DEV_MAX_KEYS];
  struct sl_dev_agg aggs[SL_DEV_MAX_AGGS];
  /* n_prog == 0: the predicates are AND-ed (a row passes when all are
   * TRUE). Otherwise a postfix program over them (enum sl_dev_step) whose
   * result must be TRUE. */
  struct sl_dev_pred preds[SL_DEV_MAX_PREDS];
  int32_t n_prog;
  int8_t prog[SL_DEV_MAX_PROG];
};

/* Group-by result, owned by the backend until free_result. Per group g:
 *  key k: key_valid[k][g] (0 = null); int64 keys in key_i64[k][g]; string
 *  keys are bytes key_str_data[k][key_str_off[k][g] .. key_str_off[k][g+1]);
 *  agg a: agg_valid[a][g]; count/int sums in agg_i64[a][g]; float sums,
 *  min/max of floats and avg in agg_f64[a][g]; int min/max in agg_i64;
 *  count(DISTINCT) and approx_count_distinct in agg_i64; quantile_cont
 *  in agg_f64; quantile_disc like min/max; first/last/arg_min/arg_max in
 *  agg_i64,
 *  agg_f64 or agg_str_* by the column's type. Of agg_i64[a] and
 *  agg_f64[a] only the one of the result's type holds values. key_i64,
 *  agg_i64 and agg_f64 are 64-byte aligned, zero-padded to 64 bytes and
 *  come from aligned_alloc: the caller may take one out (set the pointer
 *  to NULL) and release it with free(). */
struct sl_dev_result {
  int64_t n_groups;
  int64_t rows_in;      /* lines seen */
  int64_t rows_matched; /* lines passing the predicates */
  int64_t bad_lines;    /* lines the device parser rejected */
  uint8_t *key_valid[SL_DEV_MAX_KEYS];
  int64_t *key_i64[SL_DEV_MAX_KEYS];
  int64_t *key_str_off[SL_DEV_MAX_KEYS];
  char *key_str_data[SL_DEV_MAX_KEYS];
  uint8_t *agg_valid[SL_DEV_MAX_AGGS];
  int64_t *agg_i64[SL_DEV_MAX_AGGS];
  double *agg_f64[SL_DEV_MAX_AGGS];
  /* first/last/arg_min/arg_max of a string column: like string keys */
  int64_t *agg_str_off[SL_DEV_MAX_AGGS];
  char *agg_str_data[SL_DEV_MAX_AGGS];
  /* Timings of the last run, for benchmarks and /metrics. */
  double seconds_total, seconds_h2d, seconds_kernels;
};

struct sl_device_backend {
  int32_t abi_version; /* SL_DEVICE_ABI_VERSION */
  const char *name;    /* "cuda" */
  /* Opens device `index`; writes a description ("NVIDIA H100 80GB HBM3,
   * 132 SMs, 79 GiB") into desc. Returns 0 or -1 with errbuf filled. */
  int (*open)(int index, void **ctx, char *desc, size_t desc_cap, char *errbuf,
              size_t errcap);
  void (*close)(void *ctx);
  /* Runs plan over JSON Lines bytes in host memory (pageable or pinned).
   * Streams the input through the device in chunks, overlapping copies
   * and kernels. Returns 0, or -1 with errbuf filled. */
  int (*groupby_json)(void *ctx, const struct sl_dev_plan *plan,
                      const char *data, size_t len, struct sl_dev_result *out,
                      char *errbuf, size_t errcap);
  /* Same, reading bytes [0, len) of file descriptor fd itself (pread by
   * all cores straight into pinned staging buffers, overlapped with the
   * copies and kernels of earlier chunks). */
  int (*groupby_fd)(void *ctx, const struct sl_dev_plan *plan, int fd,
                    size_t len, struct sl_dev_result *out, char *errbuf,
                    size_t errcap);
  /* Same, over input already on the device (for device-only timings):
   * copies `data` once to the device, then times `repeat` runs. */
  int (*groupby_json_resident)(void *ctx, const struct sl_dev_plan *plan,
                               const char *data, size_t len, int repeat,
                               struct sl_dev_result *out, char *errbuf,
                               size_t errcap);
  void (*free_result)(void *ctx, struct sl_dev_result *r);
  /* Pinned host memory for input buffers (NULL when it cannot). */
  void *(*host_alloc)(void *ctx, size_t n);
  void (*host_free)(void *ctx, void *p);
};

#ifdef __cplusplus
}
#endif
#endif
