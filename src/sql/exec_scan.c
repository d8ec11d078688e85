/* Parallel scan for aggregates over plain JSON Lines files.
 *
 * The in-order path (exec.c) alternates two parallel phases per window: the
 * JSON reader parses on every thread, then the batches are split again
 * across the threads for stage 1. Every phase ends in a barrier, and a batch
 * parsed by one thread is aggregated by another, after it left that core's
 * cache. An aggregate does not need the rows in order, so here each worker
 * takes whole byte ranges ("morsels") of the input, newline-aligned, reads
 * them with a reader of its own (one thread, small windows) and feeds each
 * batch straight into its own partial table while it is still in cache.
 * Threads meet once, at the end; a worker that is slowed down (a busy
 * machine) just takes fewer morsels.
 *
 * Any error (a bad line under the fail policy, a type error in an
 * expression) stops the scan and hands the query to the in-order path, which
 * reports the first error in input order with its exact line and byte
 * offset, as before. */
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/json.h"
#include "sluice/thread_pool.h"
#include "sql/exec.h"

/* Bytes per morsel: small enough that the slowest thread's last morsel is a
 * few milliseconds of work and the mapped morsels (one per thread, counted
 * in the RSS) stay small; large enough that opening a reader is noise
 * (1-16 MiB measured the same CPU time). */
#define MORSEL_BYTES (4 << 20)
/* The reader's window within a morsel: its batches stay in the L2 cache
 * until stage 1 has consumed them, and the reader's scratch memory, made
 * anew for each morsel, stays small (1 MiB windows cost 13% more CPU on the
 * article rows, most of it faulting in fresh pages). */
#define WINDOW_BYTES (256 << 10)

struct scan {
  struct sl_query *q;
  struct sl_schema sch;
  int64_t *first; /* [n_files + 1]: index of each file's first morsel */
  int64_t *sizes; /* [n_files] */
  struct sl_resolved *res; /* per worker, n_inputs + 1 each */
  int64_t *rows;           /* per worker */
  int64_t *bad;            /* per worker */
  atomic_int_fast64_t bytes_done;
  atomic_int stop; /* an error: abandon the scan */
  atomic_int rc;   /* an error that the in-order path cannot redo */
  long page;
};

/* The first line start at or after pos: just after the first '\n' in
 * [pos - 1, size), or size. The first read is small (a line is usually a
 * few hundred bytes, and the copy out of the page cache is paid per byte:
 * 16 KiB reads showed as 1-3% of a query's samples); later ones are not. */
static int64_t line_start(int fd, int64_t pos, int64_t size) {
  if (pos <= 0) return 0;
  if (pos >= size) return size;
  char buf[16384];
  size_t want = 1024;
  for (int64_t at = pos - 1; at < size; want = sizeof buf) {
    ssize_t n = pread(fd, buf, want, at);
    if (n <= 0) return -1;
    const char *nl = memchr(buf, '\n', (size_t)n);
    if (nl) return at + (nl - buf) + 1;
    at += n;
  }
  return size;
}

/* Reads one morsel's bytes and runs stage 1 on every batch. */
static int read_morsel(struct scan *sc, int64_t m, int32_t file,
                       const uint8_t *p, size_t len, int worker) {
  struct sl_query *q = sc->q;
  struct sl_plan *plan = q->plan;
  struct sl_json_options jo;
  sl_json_options_init(&jo);
  jo.schema = &sc->sch;
  jo.threads = 1;
  jo.bad_lines =
      q->src->opts.skip_bad_lines ? SL_JSON_BAD_SKIP : SL_JSON_BAD_FAIL;
  jo.batch_rows = 65536;
  jo.chunk_bytes = WINDOW_BYTES;
  struct sl_error *err = &q->errs[worker];
  struct sl_batch_reader *r = NULL;
  int rc = sl_json_read_buffer((const char *)p, len, &jo, &r, err);
  if (rc) return rc;
  struct sl_resolved *res = sc->res + (size_t)worker * (plan->n_inputs + 1);
  int64_t row = 0;
  for (;;) {
    if (atomic_load_explicit(&sc->stop, memory_order_relaxed)) break;
    struct sl_batch *b = NULL;
    rc = r->next(r, &b, err);
    if (rc || !b) break;
    for (int32_t i = 0; i < plan->n_inputs; i++)
      if (sl__source_partition(q->src, plan->input_paths[i]) >= 0 ||
          sl__resolve_path(b, plan->input_paths[i], &res[i]) != 0)
        memset(&res[i], 0, sizeof res[i]);
    /* seq: the morsel, then the row in it; morsels are numbered in input
     * order, so first/last still break ties by input position */
    if (b->length > 0)
      rc = sl__query_stage1(q, worker, res, file, 0, b->length, (m << 32) + row,
                            NULL);
    row += b->length;
    sl_batch_free(b);
    if (rc) break;
  }
  struct sl_json_stats js;
  if (sl_json_reader_stats(r, &js) == 0) sc->bad[worker] += js.bad_lines;
  sc->rows[worker] += row;
  r->release(r);
  return rc;
}

static int morsel_task(void *ctx, int64_t m, int worker) {
  struct scan *sc = ctx;
  struct sl_query *q = sc->q;
  if (atomic_load_explicit(&sc->stop, memory_order_relaxed)) return 0;
  int32_t f = 0, hi = q->src->n_files;
  while (hi - f > 1) { /* the file whose morsels hold m */
    int32_t mid = (f + hi) / 2;
    if (sc->first[mid] <= m)
      f = mid;
    else
      hi = mid;
  }
  int64_t k = m - sc->first[f], size = sc->sizes[f];
  int rc = 0;
  int fd = open(q->src->files[f], O_RDONLY | O_CLOEXEC);
  if (fd < 0) goto fail;
  int64_t begin = line_start(fd, k * MORSEL_BYTES, size);
  int64_t end = line_start(fd, (k + 1) * MORSEL_BYTES, size);
  if (begin < 0 || end < 0) goto fail;
  if (begin < end) {
    int64_t lead = begin % sc->page;
    size_t map_len = (size_t)(end - begin + lead);
    uint8_t *map = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                        fd, begin - lead);
    if (map == MAP_FAILED) goto fail;
    const uint8_t *p = map + lead;
    /* A byte order mark is skipped only at the start of a file: one at the
     * start of a later morsel is for the in-order path to judge. */
    if (k > 0 && end - begin >= 3 && p[0] == 0xEF && p[1] == 0xBB &&
        p[2] == 0xBF)
      rc = SL_EINVAL;
    else
      rc = read_morsel(sc, m, f, p, (size_t)(end - begin), worker);
    munmap(map, map_len);
  }
  close(fd);
  if (rc) goto stop;
  int64_t done = atomic_fetch_add(&sc->bytes_done, end - begin) + end - begin;
  if (worker == 0 && q->opts.progress)
    q->opts.progress(q->opts.progress_ctx, done, q->src->total_bytes);
  return 0;
fail:
  if (fd >= 0) close(fd);
  rc = SL_EIO;
stop:
  atomic_store(&sc->stop, 1);
  if (rc == SL_ENOMEM) atomic_store(&sc->rc, rc);
  return rc;
}

int sl__query_scan_parallel(struct sl_query *q, bool *ran,
                            struct sl_error *err) {
  struct sl_plan *p = q->plan;
  struct sl__source *src = q->src;
  *ran = false;
  if (!p->aggregate || !sl__source_plain_json(src)) return 0;
  struct scan sc = {.q = q};
  int rc = SL_ENOMEM;
  int nw = q->n_workers;
  sc.page = sysconf(_SC_PAGESIZE);
  sc.first = sl_calloc((size_t)src->n_files + 1, sizeof *sc.first);
  sc.sizes = sl_calloc((size_t)src->n_files + 1, sizeof *sc.sizes);
  sc.res = sl_calloc((size_t)nw * (size_t)(p->n_inputs + 1), sizeof *sc.res);
  sc.rows = sl_calloc((size_t)nw, sizeof *sc.rows);
  sc.bad = sl_calloc((size_t)nw, sizeof *sc.bad);
  sl_schema_init(&sc.sch);
  if (!sc.first || !sc.sizes || !sc.res || !sc.rows || !sc.bad) goto done;
  for (int32_t f = 0; f < src->n_files; f++) {
    struct stat st;
    if (stat(src->files[f], &st) != 0) {
      rc = 0; /* let the in-order path name the problem */
      goto done;
    }
    sc.sizes[f] = st.st_size;
    sc.first[f + 1] =
        sc.first[f] + (st.st_size + MORSEL_BYTES - 1) / MORSEL_BYTES;
  }
  SL_CHECK_GOTO(sl__source_json_schema(src, (const char *const *)p->input_paths,
                                       p->n_inputs, &sc.sch),
                rc, done);
  for (int i = 0; i < nw; i++)
    sl_error_reset(&q->errs[i]);
  sl_pool_parallel_for(q->pool, sc.first[src->n_files], morsel_task, &sc);
  if (sc.rc) {
    rc = sc.rc;
    sl_error_set(err, rc, "out of memory running the query");
    goto done;
  }
  rc = 0;
  if (atomic_load(&sc.stop)) { /* start over in order */
    for (int i = 0; i < nw; i++) {
      sl_error_reset(&q->errs[i]);
      sl_arena_reset(&q->arenas[i]);
    }
    rc = sl__query_reset_partials(q);
    goto done;
  }
  for (int i = 0; i < nw; i++) {
    q->rows_in += sc.rows[i];
    q->bad_lines += sc.bad[i];
  }
  q->file = src->n_files;
  *ran = true;
done:
  sl_schema_release(&sc.sch);
  sl_free(sc.first);
  sl_free(sc.sizes);
  sl_free(sc.res);
  sl_free(sc.rows);
  sl_free(sc.bad);
  return rc;
}
