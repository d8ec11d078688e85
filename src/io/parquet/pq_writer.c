/* The streaming Parquet writer: buffers batches into row groups, encodes
 * the column chunks of a row group in parallel, writes the footer and
 * publishes the file atomically (sluice/publish.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "io/parquet/pq.h"
#include "sluice/parquet.h"
#include "sluice/publish.h"
#include "sluice/thread_pool.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0"
#endif

struct chunk_rec {
  int64_t start; /* absolute offset of the chunk's first byte */
  int64_t num_values, total_uncompressed, total_compressed;
  int64_t dict_offset, data_offset; /* absolute; dict -1 when none */
  uint32_t encodings;
  int32_t dict_pages, data_pages[10];
  struct pq_stats_out stats;
  uint8_t *stats_min, *stats_max;
};

struct rg_rec {
  int64_t num_rows;
  int64_t start;
  int64_t total_uncompressed, total_compressed;
  struct chunk_rec *cols;
};

struct sl_parquet_writer {
  struct sl_publish pub;
  struct sl_schema schema;
  struct pq_leaf *leaves;
  int32_t n_leaves;
  struct pq_write_cfg cfg;
  int64_t row_group_rows, row_group_bytes;
  int32_t n_kv;
  char **kv_keys, **kv_values;
  struct sl_pool *pool;
  bool own_pool;
  bool want_pool;   /* start a pool of want_threads once a flush has work */
  int want_threads; /* 0: one thread a core */
  struct sl_batch **pending;
  int32_t n_pending, cap_pending;
  int64_t pending_rows, pending_bytes;
  struct rg_rec *rgs;
  int32_t n_rgs, cap_rgs;
  struct pq_scratch *scratch; /* one per pool worker, reused */
  int32_t n_scratch;
  struct pq_buf *chunk_bytes; /* one per leaf, reused across row groups */
  int64_t total_rows;
  bool failed;
};

int sl_parquet_codec_parse(const char *name, enum sl_parquet_codec *out) {
  static const struct {
    const char *name;
    enum sl_parquet_codec c;
  } names[] = {{"none", SL_PARQUET_UNCOMPRESSED},
               {"uncompressed", SL_PARQUET_UNCOMPRESSED},
               {"snappy", SL_PARQUET_SNAPPY},
               {"gzip", SL_PARQUET_GZIP},
               {"zstd", SL_PARQUET_ZSTD},
               {"lz4", SL_PARQUET_LZ4_RAW},
               {"lz4_raw", SL_PARQUET_LZ4_RAW}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp(name, names[i].name) == 0) {
      *out = names[i].c;
      return 0;
    }
  return SL_EINVAL;
}

const char *sl_parquet_codec_name(enum sl_parquet_codec c) {
  switch (c) {
  case SL_PARQUET_UNCOMPRESSED: return "none";
  case SL_PARQUET_SNAPPY: return "snappy";
  case SL_PARQUET_GZIP: return "gzip";
  case SL_PARQUET_ZSTD: return "zstd";
  case SL_PARQUET_LZ4_RAW: return "lz4_raw";
  }
  return "unknown";
}

void sl_parquet_write_options_init(struct sl_parquet_write_options *o) {
  memset(o, 0, sizeof *o);
  o->compression = SL_PARQUET_ZSTD;
  o->compression_level = 0;
  o->dictionary = true;
  o->dictionary_bytes = 1 << 20;
  o->delta_integers = false;
  o->data_page_version = 1;
  o->row_group_rows = 1 << 20;
  o->row_group_bytes = 128 << 20;
  o->page_bytes = 1 << 20;
  o->page_rows = 20000;
  o->statistics = true;
  o->fsync = true;
  o->threads = 0;
}

static void free_rgs(struct sl_parquet_writer *w) {
  for (int32_t i = 0; i < w->n_rgs; i++) {
    for (int32_t c = 0; c < w->n_leaves; c++) {
      sl_free(w->rgs[i].cols[c].stats_min);
      sl_free(w->rgs[i].cols[c].stats_max);
    }
    sl_free(w->rgs[i].cols);
  }
  sl_free(w->rgs);
}

/* The writer's own pool goes before its buffers do: freed while the pool's
 * threads live, each large buffer's unmapping interrupts every core they
 * ran on. */
static void drop_pool(struct sl_parquet_writer *w) {
  if (w->own_pool) sl_pool_free(w->pool);
  w->own_pool = false;
  w->pool = NULL;
}

static void writer_free(struct sl_parquet_writer *w) {
  if (!w) return;
  drop_pool(w);
  for (int32_t i = 0; i < w->n_pending; i++)
    sl_batch_free(w->pending[i]);
  sl_free(w->pending);
  free_rgs(w);
  for (int32_t i = 0; i < w->n_kv; i++) {
    sl_free(w->kv_keys[i]);
    sl_free(w->kv_values[i]);
  }
  sl_free(w->kv_keys);
  sl_free(w->kv_values);
  for (int32_t i = 0; i < w->n_scratch; i++)
    pq_scratch_release(&w->scratch[i]);
  sl_free(w->scratch);
  if (w->chunk_bytes)
    for (int32_t i = 0; i < w->n_leaves; i++)
      pq_buf_release(&w->chunk_bytes[i]);
  sl_free(w->chunk_bytes);
  sl_free(w->leaves);
  sl_schema_release(&w->schema);
  sl_free(w);
}

void sl_parquet_writer_abort(struct sl_parquet_writer *w) {
  if (!w) return;
  sl_publish_abort(&w->pub);
  writer_free(w);
}

static int add_kv(struct sl_parquet_writer *w, const char *k, const char *v) {
  char **nk = sl_realloc(w->kv_keys, (size_t)(w->n_kv + 1) * sizeof *nk);
  if (!nk) return SL_ENOMEM;
  w->kv_keys = nk;
  char **nv = sl_realloc(w->kv_values, (size_t)(w->n_kv + 1) * sizeof *nv);
  if (!nv) return SL_ENOMEM;
  w->kv_values = nv;
  nk[w->n_kv] = sl_strdup(k);
  nv[w->n_kv] = sl_strdup(v ? v : "");
  w->n_kv++;
  return nk[w->n_kv - 1] && nv[w->n_kv - 1] ? 0 : SL_ENOMEM;
}

int sl_parquet_writer_open(const char *path, const struct sl_schema *schema,
                           const struct sl_parquet_write_options *opts,
                           struct sl_parquet_writer **out,
                           struct sl_error *err) {
  *out = NULL;
  struct sl_parquet_write_options defaults;
  if (!opts) {
    sl_parquet_write_options_init(&defaults);
    opts = &defaults;
  }
  if (!pq_codec_supported((int)opts->compression) ||
      opts->compression == (enum sl_parquet_codec)PQ_CODEC_LZ4)
    return sl_error_set(err, SL_EINVAL,
                        "parquet writer: unknown compression %d",
                        (int)opts->compression);
  if (opts->data_page_version != 1 && opts->data_page_version != 2)
    return sl_error_set(err, SL_EINVAL,
                        "parquet writer: data_page_version must be 1 or 2, "
                        "got %d",
                        opts->data_page_version);
  if (opts->row_group_rows <= 0 || opts->page_bytes <= 0 ||
      opts->page_rows <= 0 || opts->row_group_bytes <= 0 ||
      opts->dictionary_bytes < 0)
    return sl_error_set(err, SL_EINVAL,
                        "parquet writer: row group and page sizes must be "
                        "positive");
  if (opts->compression == SL_PARQUET_ZSTD &&
      (opts->compression_level < -7 || opts->compression_level > 22))
    return sl_error_set(err, SL_EINVAL,
                        "parquet writer: zstd level %d outside -7..22",
                        opts->compression_level);
  struct sl_parquet_writer *w = sl_calloc(1, sizeof *w);
  if (!w) return sl_error_set(err, SL_ENOMEM, "out of memory");
  w->pub.fd = -1;
  int rc = 0;
  if ((rc = sl_schema_copy(&w->schema, schema))) {
    rc = sl_error_set(err, rc, "out of memory");
    goto fail;
  }
  if ((rc = pq_schema_leaves(&w->schema, &w->leaves, &w->n_leaves, err)))
    goto fail; /* leaf paths borrow the names of the writer's own copy */
  if (w->n_leaves == 0) {
    rc = sl_error_set(err, SL_EINVAL,
                      "parquet writer: the schema has no columns");
    goto fail;
  }
  w->cfg.codec = (int)opts->compression;
  w->cfg.level = opts->compression_level;
  w->cfg.dictionary = opts->dictionary;
  w->cfg.dictionary_bytes = opts->dictionary_bytes;
  w->cfg.delta_integers = opts->delta_integers;
  w->cfg.page_version = opts->data_page_version;
  w->cfg.page_bytes = opts->page_bytes;
  w->cfg.page_rows = opts->page_rows;
  w->cfg.statistics = opts->statistics;
  w->row_group_rows = opts->row_group_rows;
  w->row_group_bytes = opts->row_group_bytes;
  for (int32_t i = 0; i < schema->n_metadata && !rc; i++)
    rc = add_kv(w, schema->metadata_keys[i], schema->metadata_values[i]);
  for (int32_t i = 0; i < opts->n_metadata && !rc; i++)
    rc = add_kv(w, opts->metadata_keys[i], opts->metadata_values[i]);
  if (rc) {
    rc = sl_error_set(err, rc, "out of memory");
    goto fail;
  }
  if (opts->pool)
    w->pool = opts->pool;
  else if (opts->threads != 1) {
    w->want_pool = true; /* started by the first flush with work for it */
    w->want_threads = opts->threads;
  }
  w->n_scratch = sl_pool_size(w->pool);
  w->scratch = sl_calloc((size_t)w->n_scratch, sizeof *w->scratch);
  w->chunk_bytes = sl_calloc((size_t)w->n_leaves, sizeof *w->chunk_bytes);
  if (!w->scratch || !w->chunk_bytes) {
    rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = sl_publish_open(path, &w->pub, err))) goto fail;
  w->pub.fsync = opts->fsync;
  if ((rc = sl_publish_write(&w->pub, "PAR1", 4, err))) goto fail;
  *out = w;
  return 0;
fail:
  sl_parquet_writer_abort(w);
  return rc;
}

/* Approximate in-memory bytes of rows [i, i+n) of a (for row group cuts). */
static int64_t array_bytes(const struct sl_array *a, int64_t i, int64_t n) {
  switch (a->type) {
  case SL_TYPE_NULL: return 0;
  case SL_TYPE_BOOL: return n / 8 + 1;
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32:
  case SL_TYPE_DICT_UTF8: return 4 * n;
  case SL_TYPE_INT64:
  case SL_TYPE_FLOAT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US: return 8 * n;
  case SL_TYPE_UTF8: {
    if (n == 0) return 0;
    const int32_t *o = (const int32_t *)a->offsets->data + a->offset;
    return 4 * n + (o[i + n] - o[i]);
  }
  case SL_TYPE_LARGE_UTF8: {
    if (n == 0) return 0;
    const int64_t *o = (const int64_t *)a->offsets->data + a->offset;
    return 8 * n + (o[i + n] - o[i]);
  }
  case SL_TYPE_LIST: {
    if (n == 0) return 0;
    const int32_t *o = (const int32_t *)a->offsets->data + a->offset;
    return 4 * n + array_bytes(a->children[0], o[i], o[i + n] - o[i]);
  }
  case SL_TYPE_STRUCT: {
    int64_t b = 0;
    for (int32_t c = 0; c < a->n_children; c++)
      b += array_bytes(a->children[c], a->offset + i, n);
    return b;
  }
  default: return 8 * n;
  }
}

/* A row group of a few columns leaves most of a pool idle (Q4's result:
 * three columns of a million rows on sixteen threads). The pending rows are
 * then written as several row groups of at least PART_MIN_ROWS rows (DuckDB
 * writes 122,880-row groups), encoded all at once: about four tasks a
 * thread, so that columns of unequal cost (a dictionary of small counts
 * beside unique keys) still keep every thread busy to the end. */
enum { PART_MIN_ROWS = 1 << 16 };

static int32_t flush_parts(const struct sl_parquet_writer *w) {
  int32_t threads = w->pool ? sl_pool_size(w->pool) : 1;
  if (threads <= 1 || w->n_leaves >= 2 * threads) return 1;
  int64_t by_rows = w->pending_rows / PART_MIN_ROWS;
  int64_t want = (4 * (int64_t)threads + w->n_leaves - 1) / w->n_leaves;
  if (want > by_rows) want = by_rows;
  return want > 1 ? (int32_t)want : 1;
}

/* The writer's own pool starts with the first flush that has work for
 * it (at least POOL_MIN_CELLS values): a small file (a group-by's few
 * hundred rows, a function's small batch) is encoded on the caller's
 * thread without starting one thread a core. */
enum { POOL_MIN_CELLS = 1 << 16 };

static int start_pool(struct sl_parquet_writer *w, struct sl_error *err) {
  if (w->pool || !w->want_pool ||
      w->pending_rows * w->n_leaves < POOL_MIN_CELLS)
    return 0;
  int rc = sl_pool_create(w->want_threads, &w->pool, err);
  if (rc) return rc;
  w->own_pool = true;
  int32_t n = sl_pool_size(w->pool);
  if (n > w->n_scratch) {
    struct pq_scratch *s = sl_realloc(w->scratch, (size_t)n * sizeof *s);
    if (!s) return sl_error_set(err, SL_ENOMEM, "out of memory");
    memset(s + w->n_scratch, 0, (size_t)(n - w->n_scratch) * sizeof *s);
    w->scratch = s;
    w->n_scratch = n;
  }
  return 0;
}

struct flush_ctx {
  struct sl_parquet_writer *w;
  int32_t n_leaves;
  struct sl_batch ***parts; /* parts[j]: the batches of row group j */
  struct sl_batch **list;   /* what parts[] point into (parts > 1) */
  int32_t *n_part_batches;
  struct pq_chunk_out *outs; /* [part * n_leaves + leaf] */
  struct sl_error *errs;
};

static int flush_task(void *ctx, int64_t i, int worker) {
  struct flush_ctx *f = ctx;
  int64_t j = i / f->n_leaves, c = i % f->n_leaves;
  return pq_column_encode(&f->w->leaves[c], f->parts[j], f->n_part_batches[j],
                          &f->w->cfg, &f->w->scratch[worker], &f->outs[i],
                          &f->errs[i]);
}

/* Cuts the pending batches into `parts` runs of rows (slices where a cut
 * falls inside a batch); f->parts[j] then lists run j's batches, and
 * `owned` the slices made here (freed by the caller). */
static int cut_parts(struct sl_parquet_writer *w, int32_t parts,
                     struct flush_ctx *f, struct sl_batch **owned,
                     int32_t *n_owned, struct sl_error *err) {
  struct sl_batch **list = f->list;
  int32_t at = 0, bi = 0;
  int64_t boff = 0; /* rows of pending[bi] already given out */
  for (int32_t j = 0; j < parts; j++) {
    int64_t want =
        w->pending_rows * (j + 1) / parts - w->pending_rows * j / parts;
    f->parts[j] = &list[at];
    f->n_part_batches[j] = 0;
    while (want > 0 && bi < w->n_pending) {
      struct sl_batch *b = w->pending[bi];
      int64_t left = b->length - boff;
      int64_t take = left < want ? left : want;
      struct sl_batch *s = b;
      if (boff != 0 || take != b->length) {
        int rc = sl_batch_slice(b, boff, take, &s, err);
        if (rc) return rc;
        owned[(*n_owned)++] = s;
      }
      list[at++] = s;
      f->n_part_batches[j]++;
      want -= take;
      boff += take;
      if (boff == b->length) {
        bi++;
        boff = 0;
      }
    }
  }
  return 0;
}

/* Appends a row group record for part j (outs: its n column chunks) and
 * writes the chunks. */
static int write_part(struct sl_parquet_writer *w, struct pq_chunk_out *outs,
                      int64_t rows, struct sl_error *err) {
  int32_t n = w->n_leaves;
  struct chunk_rec *cols = sl_calloc((size_t)n, sizeof *cols);
  if (!cols) return sl_error_set(err, SL_ENOMEM, "out of memory");
  struct rg_rec *rg = &w->rgs[w->n_rgs];
  memset(rg, 0, sizeof *rg);
  rg->num_rows = rows;
  rg->start = w->pub.bytes;
  rg->cols = cols;
  w->n_rgs++; /* even when a write fails: close frees the statistics */
  for (int32_t i = 0; i < n; i++) {
    struct pq_chunk_out *o = &outs[i];
    struct chunk_rec *c = &cols[i];
    c->start = w->pub.bytes;
    c->num_values = o->num_values;
    c->total_uncompressed = o->total_uncompressed;
    c->total_compressed = o->total_compressed;
    c->dict_offset = o->dict_offset >= 0 ? c->start + o->dict_offset : -1;
    c->data_offset = c->start + o->data_offset;
    c->encodings = o->encodings;
    c->dict_pages = o->dict_pages;
    memcpy(c->data_pages, o->data_pages, sizeof c->data_pages);
    c->stats = o->stats;
    c->stats_min = o->stats_min;
    c->stats_max = o->stats_max;
    o->stats_min = o->stats_max = NULL;
    rg->total_uncompressed += o->total_uncompressed;
    rg->total_compressed += o->total_compressed;
    int rc = sl_publish_write(&w->pub, o->bytes.data, o->bytes.size, err);
    if (rc) return rc;
  }
  w->total_rows += rows;
  return 0;
}

static double mono_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int sl_parquet_writer_flush(struct sl_parquet_writer *w, struct sl_error *err) {
  if (w->failed)
    return sl_error_set(err, SL_EINVAL,
                        "parquet writer: an earlier write failed");
  if (w->pending_rows == 0) return 0;
  int32_t n = w->n_leaves;
  double t0 = mono_s(), t1 = 0, t2 = 0, t3 = 0;
  int64_t flushed = w->pending_rows;
  int rc = start_pool(w, err);
  if (rc) return rc;
  int32_t parts = flush_parts(w);
  int64_t tasks = (int64_t)parts * n;
  int32_t n_owned = 0;
  bool handed = false;
  struct flush_ctx f = {.w = w, .n_leaves = n};
  f.outs = sl_calloc((size_t)tasks, sizeof *f.outs);
  f.errs = sl_calloc((size_t)tasks, sizeof *f.errs);
  f.parts = sl_calloc((size_t)parts, sizeof *f.parts);
  /* room for every batch plus one slice a cut */
  f.list = sl_calloc((size_t)(w->n_pending + parts), sizeof *f.list);
  f.n_part_batches = sl_calloc((size_t)parts, sizeof *f.n_part_batches);
  struct sl_batch **owned =
      sl_calloc((size_t)(w->n_pending + parts), sizeof *owned);
  if (!f.outs || !f.errs || !f.parts || !f.list || !f.n_part_batches ||
      !owned || w->cap_rgs > INT32_MAX / 2 - parts) {
    rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    goto cleanup;
  }
  if (w->n_rgs + parts > w->cap_rgs) {
    int32_t cap = w->cap_rgs ? w->cap_rgs : 8;
    while (cap < w->n_rgs + parts)
      cap *= 2;
    struct rg_rec *p = sl_realloc(w->rgs, (size_t)cap * sizeof *p);
    if (!p) {
      rc = sl_error_set(err, SL_ENOMEM, "out of memory");
      goto cleanup;
    }
    w->rgs = p;
    w->cap_rgs = cap;
  }
  if (parts == 1) {
    f.parts[0] = w->pending;
    f.n_part_batches[0] = w->n_pending;
  } else if ((rc = cut_parts(w, parts, &f, owned, &n_owned, err))) {
    goto cleanup;
  }
  for (int32_t i = 0; i < n; i++) { /* part 0 reuses the leaves' buffers */
    f.outs[i].bytes = w->chunk_bytes[i];
    memset(&w->chunk_bytes[i], 0, sizeof w->chunk_bytes[i]);
  }
  handed = true;
  t1 = mono_s();
  rc = sl_pool_parallel_for(w->pool, tasks, flush_task, &f);
  t2 = mono_s();
  if (rc) {
    for (int64_t i = 0; i < tasks; i++)
      if (f.errs[i].code) {
        sl_error_set(err, f.errs[i].code, "%s", f.errs[i].msg);
        break;
      }
    sl_error_prefix(err, "writing '%s': ", w->pub.final_path);
    goto cleanup;
  }
  for (int32_t j = 0; j < parts && !rc; j++) {
    int64_t rows =
        w->pending_rows * (j + 1) / parts - w->pending_rows * j / parts;
    rc = write_part(w, &f.outs[(int64_t)j * n], rows, err);
  }
  t3 = mono_s();
  if (rc) goto cleanup;
  for (int32_t i = 0; i < w->n_pending; i++)
    sl_batch_free(w->pending[i]);
  w->n_pending = 0;
  w->pending_rows = 0;
  w->pending_bytes = 0;
cleanup:
  for (int32_t i = 0; i < n_owned; i++)
    sl_batch_free(owned[i]);
  sl_free(owned);
  if (f.outs)
    for (int64_t i = 0; i < tasks; i++) {
      if (i < n && handed) { /* back for the next row group */
        w->chunk_bytes[i] = f.outs[i].bytes;
        memset(&f.outs[i].bytes, 0, sizeof f.outs[i].bytes);
      }
      pq_chunk_out_release(&f.outs[i]);
    }
  sl_free(f.outs);
  sl_free(f.errs);
  sl_free(f.parts);
  sl_free(f.list);
  sl_free(f.n_part_batches);
  if (rc) w->failed = true;
  if (!rc && getenv("SLUICE_TRACE"))
    fprintf(stderr,
            "parquet: %lld rows in %d row groups of %d columns on %d threads: "
            "pool and cuts %.2f ms, encoding %.2f ms, writing %.2f ms, "
            "freeing %.2f ms\n",
            (long long)flushed, parts, n, sl_pool_size(w->pool),
            (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3,
            (mono_s() - t3) * 1e3);
  return rc;
}

/* A batch field fits a file field when names, types (any string flavour
 * for a string) and nesting agree; nullability is checked on the data
 * (a null where the file says required is an error at encoding). */
static bool compatible(const struct sl_field *b, const struct sl_field *f) {
  bool types = b->type == f->type ||
               (sl_type_is_string(b->type) && sl_type_is_string(f->type));
  if (!types || b->n_children != f->n_children ||
      strcmp(b->name ? b->name : "", f->name ? f->name : "") != 0)
    return false;
  for (int32_t i = 0; i < b->n_children; i++)
    if (!compatible(&b->children[i], &f->children[i])) return false;
  return true;
}

static int push_pending(struct sl_parquet_writer *w, struct sl_batch *b) {
  if (w->n_pending == w->cap_pending) {
    int32_t cap = w->cap_pending ? w->cap_pending * 2 : 16;
    struct sl_batch **p = sl_realloc(w->pending, (size_t)cap * sizeof *p);
    if (!p) return SL_ENOMEM;
    w->pending = p;
    w->cap_pending = cap;
  }
  w->pending[w->n_pending++] = b;
  return 0;
}

int sl_parquet_writer_write(struct sl_parquet_writer *w,
                            const struct sl_batch *batch,
                            struct sl_error *err) {
  if (w->failed)
    return sl_error_set(err, SL_EINVAL,
                        "parquet writer: an earlier write failed");
  if (batch->n_columns != w->schema.n_fields)
    return sl_error_set(err, SL_EINVAL,
                        "parquet writer: batch has %d columns, the file %d",
                        batch->n_columns, w->schema.n_fields);
  for (int32_t i = 0; i < batch->n_columns; i++) {
    if (!compatible(&batch->schema.fields[i], &w->schema.fields[i])) {
      char a[256], b[256];
      sl_field_format(&batch->schema.fields[i], a, sizeof a);
      sl_field_format(&w->schema.fields[i], b, sizeof b);
      return sl_error_set(err, SL_EINVAL,
                          "parquet writer: column %d is '%s', the file "
                          "expects '%s'",
                          i, a, b);
    }
  }
  int64_t len = batch->length, off = 0;
  int64_t total_bytes = 0;
  for (int32_t c = 0; c < batch->n_columns; c++)
    total_bytes += array_bytes(batch->columns[c], 0, len);
  double per_row = len ? (double)total_bytes / (double)len : 0;
  while (off < len) {
    int64_t take = len - off;
    int64_t room = w->row_group_rows - w->pending_rows;
    if (take > room) take = room;
    if (per_row > 0) {
      double left = (double)(w->row_group_bytes - w->pending_bytes);
      int64_t by_bytes = (int64_t)(left / per_row) + 1;
      if (take > by_bytes) take = by_bytes;
    }
    struct sl_batch *s;
    int rc = sl_batch_slice(batch, off, take, &s, err);
    if (rc) return rc;
    if ((rc = push_pending(w, s))) {
      sl_batch_free(s);
      return sl_error_set(err, rc, "out of memory");
    }
    w->pending_rows += take;
    w->pending_bytes += (int64_t)(per_row * (double)take);
    off += take;
    if (w->pending_rows >= w->row_group_rows ||
        w->pending_bytes >= w->row_group_bytes) {
      if ((rc = sl_parquet_writer_flush(w, err))) return rc;
    }
  }
  return 0;
}

int64_t sl_parquet_writer_bytes(const struct sl_parquet_writer *w) {
  return w->pub.bytes;
}

int64_t sl_parquet_writer_pending_bytes(const struct sl_parquet_writer *w) {
  return w->pending_bytes;
}

int64_t sl_parquet_writer_rows(const struct sl_parquet_writer *w) {
  return w->total_rows + w->pending_rows;
}

static void encode_footer(struct sl_parquet_writer *w, struct tc_writer *t) {
  tc_struct_begin(t);
  tc_field_i32(t, 1, 2);
  pq_schema_encode(t, &w->schema);
  tc_field_i64(t, 3, w->total_rows);
  tc_field_list(t, 4, TC_STRUCT, w->n_rgs);
  for (int32_t g = 0; g < w->n_rgs; g++) {
    struct rg_rec *rg = &w->rgs[g];
    tc_struct_begin(t);
    tc_field_list(t, 1, TC_STRUCT, w->n_leaves);
    for (int32_t c = 0; c < w->n_leaves; c++) {
      const struct chunk_rec *cr = &rg->cols[c];
      const struct pq_leaf *l = &w->leaves[c];
      tc_struct_begin(t);
      tc_field_i64(t, 2, cr->start);
      tc_field_struct(t, 3);
      tc_field_i32(t, 1, l->phys);
      int32_t n_enc = __builtin_popcount(cr->encodings);
      tc_field_list(t, 2, TC_I32, n_enc);
      for (int e = 0; e < 32; e++)
        if (cr->encodings & (1u << e)) tc_list_i32(t, e);
      tc_field_list(t, 3, TC_BINARY, l->n_path);
      for (int32_t p = 0; p < l->n_path; p++)
        tc_list_string(t, l->path[p]);
      tc_field_i32(t, 4, w->cfg.codec);
      tc_field_i64(t, 5, cr->num_values);
      tc_field_i64(t, 6, cr->total_uncompressed);
      tc_field_i64(t, 7, cr->total_compressed);
      tc_field_i64(t, 9, cr->data_offset);
      if (cr->dict_offset >= 0) tc_field_i64(t, 11, cr->dict_offset);
      if (w->cfg.statistics) pq_stats_encode(t, 12, &cr->stats);
      /* encoding_stats: lets readers know every page is dictionary-encoded
       * (parquet-mr's dictionary filtering) without guessing. */
      int32_t n_es = cr->dict_pages > 0;
      for (int e = 0; e < 10; e++)
        n_es += cr->data_pages[e] > 0;
      tc_field_list(t, 13, TC_STRUCT, n_es);
      if (cr->dict_pages) {
        tc_struct_begin(t);
        tc_field_i32(t, 1, PQ_PAGE_DICTIONARY);
        tc_field_i32(t, 2, PQ_ENC_PLAIN);
        tc_field_i32(t, 3, cr->dict_pages);
        tc_struct_end(t);
      }
      for (int e = 0; e < 10; e++)
        if (cr->data_pages[e]) {
          tc_struct_begin(t);
          tc_field_i32(
              t, 1, w->cfg.page_version == 2 ? PQ_PAGE_DATA_V2 : PQ_PAGE_DATA);
          tc_field_i32(t, 2, e);
          tc_field_i32(t, 3, cr->data_pages[e]);
          tc_struct_end(t);
        }
      tc_struct_end(t);
      tc_struct_end(t);
    }
    tc_field_i64(t, 2, rg->total_uncompressed);
    tc_field_i64(t, 3, rg->num_rows);
    tc_field_i64(t, 5, rg->start);
    tc_field_i64(t, 6, rg->total_compressed);
    tc_field_i16(t, 7, (int16_t)(g < INT16_MAX ? g : INT16_MAX));
    tc_struct_end(t);
  }
  if (w->n_kv) {
    tc_field_list(t, 5, TC_STRUCT, w->n_kv);
    for (int32_t i = 0; i < w->n_kv; i++) {
      tc_struct_begin(t);
      tc_field_string(t, 1, w->kv_keys[i]);
      tc_field_string(t, 2, w->kv_values[i]);
      tc_struct_end(t);
    }
  }
  tc_field_string(t, 6, "sluice version " SLUICE_VERSION);
  tc_field_list(t, 7, TC_STRUCT, w->n_leaves);
  for (int32_t c = 0; c < w->n_leaves; c++) {
    tc_struct_begin(t);
    tc_field_struct(t, 1);
    tc_struct_end(t);
    tc_struct_end(t);
  }
  tc_struct_end(t);
}

int sl_parquet_writer_close(struct sl_parquet_writer *w, struct sl_error *err) {
  int rc = sl_parquet_writer_flush(w, err);
  struct pq_buf footer = {0};
  double t0 = mono_s();
  drop_pool(w); /* nothing is left to encode */
  double t1 = mono_s();
  if (rc) goto fail;
  struct tc_writer t;
  tc_writer_init(&t, &footer);
  encode_footer(w, &t);
  if (t.rc) {
    rc = sl_error_set(err, t.rc, "out of memory encoding the footer");
    goto fail;
  }
  uint8_t tail[8];
  pq_put_u32le(tail, (uint32_t)footer.size);
  memcpy(tail + 4, "PAR1", 4);
  if ((rc = sl_publish_write(&w->pub, footer.data, footer.size, err)) ||
      (rc = sl_publish_write(&w->pub, tail, 8, err)))
    goto fail;
  pq_buf_release(&footer);
  rc = sl_publish_commit(&w->pub, err);
  double t2 = mono_s();
  bool trace = getenv("SLUICE_TRACE") != NULL;
  writer_free(w);
  if (trace)
    fprintf(
        stderr,
        "parquet: closed: pool stopped %.2f ms, footer and publish %.2f ms, "
        "buffers freed %.2f ms\n",
        (t1 - t0) * 1e3, (t2 - t1) * 1e3, (mono_s() - t2) * 1e3);
  return rc;
fail:
  pq_buf_release(&footer);
  sl_parquet_writer_abort(w);
  return rc;
}

int sl_parquet_write_batch_file(const char *path, const struct sl_batch *batch,
                                const struct sl_parquet_write_options *opts,
                                struct sl_error *err) {
  struct sl_parquet_writer *w;
  int rc = sl_parquet_writer_open(path, &batch->schema, opts, &w, err);
  if (rc) return rc;
  if ((rc = sl_parquet_writer_write(w, batch, err))) {
    sl_parquet_writer_abort(w);
    return rc;
  }
  return sl_parquet_writer_close(w, err);
}
