/* Device selection and the run-time loading of the CUDA backend. */
#include "sluice/device.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "device/device_abi.h"
#include "sluice/alloc.h"

struct sl_device {
  void *lib;
  const struct sl_device_backend *be;
  void *ctx;
  pthread_mutex_t mu;
  char desc[256];
};

int sl_device_choice_parse(const char *s, struct sl_device_choice *out,
                           struct sl_error *err) {
  out->index = 0;
  if (!strcmp(s, "auto")) {
    out->kind = SL_DEVICE_AUTO;
    return 0;
  }
  if (!strcmp(s, "cpu")) {
    out->kind = SL_DEVICE_CPU;
    return 0;
  }
  if (!strncmp(s, "gpu", 3)) {
    out->kind = SL_DEVICE_GPU;
    if (s[3] == '\0') return 0;
    if (s[3] == ':' && s[4]) {
      char *end;
      long v = strtol(s + 4, &end, 10);
      if (*end == '\0' && v >= 0 && v < 1024) {
        out->index = (int)v;
        return 0;
      }
    }
  }
  return sl_error_set(err, SL_EINVAL,
                      "device: expected auto, cpu, gpu or gpu:N, found '%s'",
                      s);
}

static void *load_backend(char *why, size_t cap) {
  const char *env = getenv("SLUICE_CUDA_LIB");
  if (env && *env) {
    void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
    if (!h) snprintf(why, cap, "%s", dlerror());
    return h;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash && (size_t)(slash - exe) + 20 < sizeof exe) {
      strcpy(slash + 1, "libsluice_cuda.so");
      void *h = dlopen(exe, RTLD_NOW | RTLD_LOCAL);
      if (h) return h;
      snprintf(why, cap, "%s", dlerror());
    }
  }
  void *h = dlopen("libsluice_cuda.so", RTLD_NOW | RTLD_LOCAL);
  if (!h && !why[0]) snprintf(why, cap, "%s", dlerror());
  return h;
}

int sl_device_open(const struct sl_device_choice *choice,
                   struct sl_device **out, struct sl_error *err) {
  *out = NULL;
  if (choice->kind == SL_DEVICE_CPU)
    return sl_error_set(err, SL_EINVAL, "device: the CPU needs no device");
  char why[512] = "";
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  void *lib = load_backend(why, sizeof why);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (lib && getenv("SLUICE_TRACE"))
    fprintf(stderr, "device: backend loaded in %.4f s\n",
            (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  if (!lib)
    return sl_error_set(err, SL_ENOTSUP,
                        "device: the CUDA backend is not available (%s); "
                        "build on a machine with nvcc or use --device cpu",
                        why);
  const struct sl_device_backend *be =
      (const struct sl_device_backend *)dlsym(lib, "sl_device_backend_v1");
  if (!be || be->abi_version != SL_DEVICE_ABI_VERSION) {
    dlclose(lib);
    return sl_error_set(err, SL_ENOTSUP,
                        "device: libsluice_cuda.so has no compatible "
                        "sl_device_backend_v1 (ABI %d expected)",
                        SL_DEVICE_ABI_VERSION);
  }
  struct sl_device *d = sl_calloc(1, sizeof *d);
  if (!d) {
    dlclose(lib);
    return sl_error_set(err, SL_ENOMEM, "device: out of memory");
  }
  char desc[200] = "", ebuf[300] = "";
  if (be->open(choice->index, &d->ctx, desc, sizeof desc, ebuf, sizeof ebuf)) {
    sl_free(d);
    dlclose(lib);
    return sl_error_set(err, SL_ENOTSUP, "device: gpu:%d: %s", choice->index,
                        ebuf);
  }
  d->lib = lib;
  d->be = be;
  pthread_mutex_init(&d->mu, NULL);
  snprintf(d->desc, sizeof d->desc, "%s: %s", be->name, desc);
  *out = d;
  return 0;
}

void sl_device_close(struct sl_device *d) {
  if (!d) return;
  d->be->close(d->ctx);
  pthread_mutex_destroy(&d->mu);
  dlclose(d->lib);
  sl_free(d);
}

const char *sl_device_describe(const struct sl_device *d) {
  return d->desc;
}

void *sl_device_host_alloc(struct sl_device *d, size_t n) {
  return d->be->host_alloc(d->ctx, n);
}
void sl_device_host_free(struct sl_device *d, void *p) {
  d->be->host_free(d->ctx, p);
}

/* Output type of key k / aggregate a. */
static enum sl_type_id key_type(const struct sl_dev_plan *p, int k) {
  switch (p->columns[p->keys[k].column].type) {
  case SL_DEV_STRING: return SL_TYPE_UTF8;
  case SL_DEV_FLOAT64: return SL_TYPE_FLOAT64;
  case SL_DEV_BOOL: return SL_TYPE_BOOL;
  case SL_DEV_TS_MS: return SL_TYPE_TIMESTAMP_MS;
  default: return SL_TYPE_INT64;
  }
}

static enum sl_type_id agg_type(const struct sl_dev_plan *p, int a) {
  int op = p->aggs[a].op;
  if (op == SL_DEV_COUNT_STAR || op == SL_DEV_COUNT ||
      op == SL_DEV_COUNT_DISTINCT || op == SL_DEV_APPROX_COUNT_DISTINCT)
    return SL_TYPE_INT64;
  if (op == SL_DEV_AVG || op == SL_DEV_QUANTILE_CONT ||
      (op >= SL_DEV_VAR_POP && op <= SL_DEV_STDDEV_SAMP))
    return SL_TYPE_FLOAT64;
  int t = p->columns[p->aggs[a].column].type;
  if (t == SL_DEV_STRING) return SL_TYPE_UTF8; /* first/last/arg_min/max */
  if (t == SL_DEV_BOOL &&
      (op >= SL_DEV_FIRST || op == SL_DEV_BOOL_AND || op == SL_DEV_BOOL_OR))
    return SL_TYPE_BOOL;
  if (t == SL_DEV_FLOAT64) return SL_TYPE_FLOAT64;
  if (t == SL_DEV_TS_MS && op != SL_DEV_SUM) return SL_TYPE_TIMESTAMP_MS;
  return SL_TYPE_INT64;
}

static void malloc_buffer_free(struct sl_buffer *b) {
  free(b->data);
  sl_free(b);
}

/* An 8-byte fixed-width array of n values taken from *vals without a copy
 * (*vals is then NULL: the array owns it; see device_abi.h), with a
 * validity bitmap when some of valid[] are 0 (their values zeroed). */
static int fixed_array(enum sl_type_id t, void **vals, const uint8_t *valid,
                       int64_t n, struct sl_array **out) {
  struct sl_array *a = NULL;
  int rc = sl_array_new(t, &a);
  if (!rc)
    rc = sl_buffer_wrap(*vals, n * 8, malloc_buffer_free, NULL, &a->data);
  if (rc) {
    sl_array_release(a);
    return rc;
  }
  *vals = NULL;
  int64_t *d = (int64_t *)a->data->data, nulls = 0;
  for (int64_t g = 0; g < n; g++)
    nulls += !valid[g];
  if (nulls) {
    rc = sl_buffer_new((n + 7) / 8, &a->validity);
    if (rc) {
      sl_array_release(a);
      return rc;
    }
    uint8_t *bits = a->validity->data;
    memset(bits, 0, (size_t)(n + 7) / 8);
    a->validity->size = (n + 7) / 8;
    for (int64_t g = 0; g < n; g++) {
      if (valid[g])
        sl_bit_set(bits, g);
      else
        d[g] = 0;
    }
  }
  a->length = n;
  a->null_count = nulls;
  *out = a;
  return 0;
}

static int build_batch(const struct sl_dev_plan *p, const char *const *names,
                       struct sl_dev_result *r, struct sl_batch **out,
                       struct sl_error *err) {
  int n = p->n_keys + p->n_aggs, rc = 0;
  struct sl_schema schema;
  sl_schema_init(&schema);
  struct sl_array *cols[SL_DEV_MAX_KEYS + SL_DEV_MAX_AGGS] = {0};
  struct sl_builder b;
  memset(&b, 0, sizeof b);
  for (int c = 0; c < n && !rc; c++) {
    bool is_key = c < p->n_keys;
    int i = is_key ? c : c - p->n_keys;
    struct sl_field f;
    rc = sl_field_init(&f, names[c], is_key ? key_type(p, i) : agg_type(p, i),
                       true);
    if (rc) break;
    rc = sl_schema_add_field(&schema, &f);
    if (!rc) rc = sl_builder_init(&b, &f);
    sl_field_release(&f);
    if (rc) break;
    enum sl_type_id t = schema.fields[c].type;
    if (t == SL_TYPE_INT64 || t == SL_TYPE_FLOAT64 ||
        t == SL_TYPE_TIMESTAMP_MS) {
      /* Fixed width: the backend's array itself (keys keep float bits in
       * key_i64). */
      void **vals = is_key                 ? (void **)&r->key_i64[i]
                    : t == SL_TYPE_FLOAT64 ? (void **)&r->agg_f64[i]
                                           : (void **)&r->agg_i64[i];
      rc = fixed_array(t, vals, is_key ? r->key_valid[i] : r->agg_valid[i],
                       r->n_groups, &cols[c]);
      sl_builder_release(&b);
      continue;
    }
    for (int64_t g = 0; g < r->n_groups && !rc; g++) {
      bool valid = is_key ? r->key_valid[i][g] : r->agg_valid[i][g];
      if (!valid) {
        rc = sl_builder_append_null(&b);
      } else if (t == SL_TYPE_UTF8) {
        const int64_t *o = is_key ? r->key_str_off[i] : r->agg_str_off[i];
        const char *d = is_key ? r->key_str_data[i] : r->agg_str_data[i];
        rc = sl_builder_append_str(&b, d + o[g], o[g + 1] - o[g]);
      } else if (t == SL_TYPE_FLOAT64) {
        double v = is_key ? 0 : r->agg_f64[i][g];
        if (is_key) memcpy(&v, &r->key_i64[i][g], sizeof v);
        rc = sl_builder_append_double(&b, v);
      } else if (t == SL_TYPE_BOOL) {
        rc = sl_builder_append_bool(
            &b, (is_key ? r->key_i64[i][g] : r->agg_i64[i][g]) != 0);
      } else {
        rc = sl_builder_append_int(&b, is_key ? r->key_i64[i][g]
                                              : r->agg_i64[i][g]);
      }
    }
    if (!rc) rc = sl_builder_finish(&b, &cols[c]);
    sl_builder_release(&b);
  }
  if (rc) {
    for (int c = 0; c < n; c++)
      sl_array_release(cols[c]);
    sl_schema_release(&schema);
    return sl_error_set(err, rc, "device: building the result batch: %s",
                        sl_status_name(rc));
  }
  rc = sl_batch_make(&schema, cols, r->n_groups, out, err);
  sl_schema_release(&schema);
  return rc;
}

/* Runs one of the backend's entry points: over data (fd < 0) or over the
 * file fd, or resident on the device. */
static int groupby(struct sl_device *d, const struct sl_dev_plan *plan,
                   const char *const *names, const char *data, int fd,
                   size_t len, int resident_repeat, struct sl_batch **out,
                   struct sl_device_stats *stats, struct sl_error *err) {
  *out = NULL;
  struct sl_dev_result r;
  char ebuf[400] = "";
  pthread_mutex_lock(&d->mu);
  int rc;
  if (resident_repeat > 0)
    rc = d->be->groupby_json_resident(d->ctx, plan, data, len, resident_repeat,
                                      &r, ebuf, sizeof ebuf);
  else if (fd >= 0)
    rc = d->be->groupby_fd(d->ctx, plan, fd, len, &r, ebuf, sizeof ebuf);
  else
    rc = d->be->groupby_json(d->ctx, plan, data, len, &r, ebuf, sizeof ebuf);
  pthread_mutex_unlock(&d->mu);
  if (rc) return sl_error_set(err, SL_EIO, "device: %s", ebuf);
  if (stats) {
    stats->rows_in = r.rows_in;
    stats->rows_matched = r.rows_matched;
    stats->bad_lines = r.bad_lines;
    stats->groups = r.n_groups;
    stats->seconds_total = r.seconds_total;
    stats->seconds_h2d = r.seconds_h2d;
    stats->seconds_kernels = r.seconds_kernels;
  }
  struct timespec t0, t1;
  int64_t groups = r.n_groups;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rc = build_batch(plan, names, &r, out, err);
  d->be->free_result(d->ctx, &r);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (getenv("SLUICE_TRACE"))
    fprintf(stderr, "device: result batch of %lld groups built in %.4f s\n",
            (long long)groups,
            (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  return rc;
}

int sl_device_groupby_json(struct sl_device *d, const struct sl_dev_plan *plan,
                           const char *const *names, const char *data,
                           size_t len, int resident_repeat,
                           struct sl_batch **out, struct sl_device_stats *stats,
                           struct sl_error *err) {
  return groupby(d, plan, names, data, -1, len, resident_repeat, out, stats,
                 err);
}

int sl_device_groupby_fd(struct sl_device *d, const struct sl_dev_plan *plan,
                         const char *const *names, int fd, size_t len,
                         struct sl_batch **out, struct sl_device_stats *stats,
                         struct sl_error *err) {
  if (fd < 0) return sl_error_set(err, SL_EINVAL, "device: no file to read");
  return groupby(d, plan, names, NULL, fd, len, 0, out, stats, err);
}
