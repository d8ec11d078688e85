/* JSON reader: the pipelined source for input that is addressable all at
 * once (a file mapped whole, a caller's buffer).
 *
 * The input is cut into morsels on a grid of nominal byte ranges [a, b).
 * A morsel owns the lines that start inside its range: it skips the line
 * that straddles a (unless a is 0) and finishes the one that straddles b,
 * so a worker finds its own cuts and nothing runs serially but the hand-out
 * of the next range. Workers (the pool's helpers and the consumer's own
 * thread while it waits) take the next range as soon as they finish one;
 * the consumer takes finished morsels strictly in input order, so line
 * numbers, bad lines and batches come out as if one thread had read the
 * input. At most n_slots morsels are in flight (taken and not yet consumed),
 * which bounds memory whatever the input size; consumed ranges of a mapping
 * are released (MADV_DONTNEED), so the resident part of the file stays
 * bounded too.
 *
 * A line that does not end within max_line_bytes of its start is reported
 * as a bad line without being parsed or copied; the morsel it starts in ends
 * before it and later morsels skip it like any straddling line. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/json/json_internal.h"
#include "sluice/thread_pool.h"

enum { MORSEL_FREE, MORSEL_BUSY, MORSEL_DONE };

#define AUTO_MIN (1LL << 20)
#define AUTO_MAX (8LL << 20)
/* consumed input is released in steps of 8 MiB (2 MiB aligned, the mapping
 * is mostly mapped by 2 MiB entries) */
#define RELEASE_STEP (8LL << 20)

struct morsel {
  struct sl__jtask task;
  int64_t a, b;    /* nominal range */
  int64_t begin;   /* input offset of task.begin (its first line) */
  int64_t covered; /* input below this is done once this morsel is */
  int64_t long_at; /* >= 0: a line over max_line_bytes starts here */
  int rc;          /* hard error of the parse (task.err) */
  int state;
};

struct sl__jpipe {
  struct sl__jengine *e;
  const uint8_t *base;
  int64_t size;
  bool mapped;
  int64_t morsel; /* nominal morsel size */
  int64_t min_morsel;
  int32_t n_slots;
  struct morsel *slots;
  /* per worker: a copy of the engine for the parser, whose line-length
   * estimate reads the counters the consumer keeps changing */
  struct sl__jengine *views;
  pthread_mutex_t mu;
  pthread_cond_t done_cv, room_cv;
  /* under mu */
  int64_t cut; /* nominal start of the next morsel */
  int64_t next_seq, head_seq;
  int64_t stop_seq; /* no morsel at or after this one is taken */
  bool closing;
  int64_t lines_done, bytes_done;
  /* the consumer's */
  bool background; /* helpers run between advance calls (own pool) */
  bool helpers;    /* a helper job is running */
  int64_t released, ra_to;
  int64_t page; /* the system's page size */
};

static bool nothing_left(const struct sl__jpipe *p) {
  return p->closing || p->cut >= p->size || p->next_seq >= p->stop_seq;
}

/* Nominal size of the next morsel: near the end of the input morsels shrink
 * so that the workers finish at about the same time. */
static int64_t next_size(const struct sl__jpipe *p) {
  int64_t left = p->size - p->cut;
  int64_t m = p->morsel;
  if (p->e->n_workers > 1) {
    int64_t guided = left / (2 * (int64_t)p->e->n_workers);
    if (guided < m) m = guided;
    if (m < p->min_morsel) m = p->min_morsel;
  }
  if (m > left) m = left;
  return m;
}

/* Finds the morsel's lines and parses them on worker w. */
static void parse_morsel(struct sl__jpipe *p, int w, struct morsel *m) {
  const uint8_t *B = p->base;
  const int64_t size = p->size, a = m->a, b = m->b;
  const int64_t L = p->e->opt.max_line_bytes;
  int64_t s = 0;
  m->long_at = -1;
  m->covered = b;
  if (a > 0) {
    /* the first line that starts in [a, b) follows a '\n' in [a-1, b-1) */
    const uint8_t *nl = memchr(B + a - 1, '\n', (size_t)(b - a));
    if (!nl) { /* inside one long line: no line starts here */
      m->begin = b;
      return;
    }
    s = nl - B + 1;
  }
  int64_t e = size;
  if (b < size && B[b - 1] == '\n') {
    e = b;
  } else if (b < size) {
    /* finish the line that straddles b, unless it is over the limit */
    const uint8_t *prev = memrchr(B + s, '\n', (size_t)(b - 1 - s));
    int64_t ls = prev ? prev - B + 1 : s;
    int64_t lim = ls + L + 1 < size ? ls + L + 1 : size;
    const uint8_t *nl = lim > b ? memchr(B + b, '\n', (size_t)(lim - b)) : NULL;
    if (nl) {
      e = nl - B + 1;
    } else if (lim < size) {
      e = ls;
      m->long_at = ls;
    }
  }
  if (e > m->covered && m->long_at < 0) m->covered = e;
  m->begin = s;
  struct sl__jtask *t = &m->task;
  t->begin = B + s;
  t->end = B + e;
  t->at_input_start = s == 0;
  if (s < e) m->rc = sl__jengine_run(&p->views[w], &p->e->workers[w], t);
}

/* Takes the next range (mu held, a free slot, something left); returns the
 * slot. */
static struct morsel *take(struct sl__jpipe *p, int w, int64_t *ra_from,
                           int64_t *ra_to) {
  int64_t seq = p->next_seq++;
  struct morsel *m = &p->slots[seq % p->n_slots];
  sl__jtask_clear(&m->task);
  m->rc = 0;
  m->a = p->cut;
  m->b = p->cut + next_size(p);
  p->cut = m->b;
  m->state = MORSEL_BUSY;
  p->views[w].stats.lines = p->lines_done;
  p->views[w].stats.bytes = p->bytes_done;
  /* read ahead one morsel beyond this one */
  *ra_from = *ra_to = 0;
  if (p->mapped) {
    int64_t to = m->b + p->morsel < p->size ? m->b + p->morsel : p->size;
    if (to > p->ra_to) {
      *ra_from = p->ra_to > m->a ? p->ra_to : m->a;
      *ra_to = to;
      p->ra_to = to;
    }
  }
  return m;
}

/* Asks the kernel to read [from, to) ahead unless its first and last pages
 * are in the page cache already (then the walk over the cached pages would
 * be all the call does). */
static void read_ahead(struct sl__jpipe *p, int64_t from, int64_t to) {
  if (to <= from) return;
  const int64_t pg = p->page;
  int64_t a0 = from & ~(pg - 1), a1 = (to - 1) & ~(pg - 1);
  unsigned char in0 = 0, in1 = 0;
  if (mincore((void *)(p->base + a0), 1, &in0) == 0 &&
      mincore((void *)(p->base + a1), 1, &in1) == 0 && (in0 & in1 & 1))
    return;
  madvise((void *)(p->base + a0), (size_t)(to - a0), MADV_WILLNEED);
}

/* mu held; parses one morsel with mu released. */
static void work_one(struct sl__jpipe *p, int w) {
  int64_t ra0, ra1;
  struct morsel *m = take(p, w, &ra0, &ra1);
  int64_t seq = p->next_seq - 1;
  pthread_mutex_unlock(&p->mu);
  read_ahead(p, ra0, ra1);
  parse_morsel(p, w, m);
  pthread_mutex_lock(&p->mu);
  m->state = MORSEL_DONE;
  if ((m->rc || m->task.failed) && p->stop_seq > seq + 1)
    p->stop_seq = seq + 1; /* nothing after it will be handed out */
  pthread_cond_broadcast(&p->done_cv);
}

/* A helper thread's loop: in the background it waits for a free slot, in a
 * round (borrowed pool) it leaves when none is free. */
static int helper(void *ctx, int64_t i, int w) {
  (void)i;
  struct sl__jpipe *p = ctx;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (nothing_left(p)) break;
    if (p->next_seq - p->head_seq >= p->n_slots) {
      if (!p->background) break;
      pthread_cond_wait(&p->room_cv, &p->mu);
      continue;
    }
    work_one(p, w);
  }
  pthread_mutex_unlock(&p->mu);
  return 0;
}

int sl__jpipe_new(struct sl__jengine *e, const uint8_t *base, int64_t size,
                  bool mapped, struct sl__jpipe **out, struct sl_error *err) {
  *out = NULL;
  struct sl__jpipe *p = sl_calloc(1, sizeof *p);
  if (!p) return sl_error_set(err, SL_ENOMEM, "JSON reader: out of memory");
  p->e = e;
  p->base = base;
  p->size = size;
  p->mapped = mapped;
  p->page = sysconf(_SC_PAGESIZE);
  if (p->page <= 0) p->page = 4096;
  if (e->opt.chunk_bytes > 0) {
    p->morsel = e->opt.chunk_bytes;
  } else {
    /* about batch_rows lines, within [AUTO_MIN, AUTO_MAX] */
    int64_t n = size < AUTO_MIN ? size : AUTO_MIN, lines = 0;
    for (const uint8_t *q = base, *end = base + n;
         q < end && (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++)
      lines++;
    int64_t avg = lines > 0 ? n / lines : 512;
    int64_t c = avg * e->opt.batch_rows;
    p->morsel = c < AUTO_MIN ? AUTO_MIN : c > AUTO_MAX ? AUTO_MAX : c;
  }
  p->min_morsel = p->morsel < (256 << 10) ? p->morsel : (256 << 10);
  p->n_slots = 2 * e->n_workers + 2;
  p->stop_seq = INT64_MAX;
  p->slots = sl_calloc((size_t)p->n_slots, sizeof *p->slots);
  p->views = sl_calloc((size_t)e->n_workers, sizeof *p->views);
  if (!p->slots || !p->views) {
    sl_free(p->slots);
    sl_free(p->views);
    sl_free(p);
    return sl_error_set(err, SL_ENOMEM, "JSON reader: out of memory");
  }
  for (int i = 0; i < e->n_workers; i++)
    p->views[i] = *e;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  pthread_cond_init(&p->room_cv, NULL);
  *out = p;
  return 0;
}

/* Starts the helper threads: once for good with an own pool, for one
 * advance with a borrowed one (the caller may use it between reads). */
static int start_helpers(struct sl__jpipe *p, struct sl_error *err) {
  struct sl__jengine *e = p->e;
  if (p->helpers || e->n_workers < 2) return 0;
  if (!e->pool) {
    if (p->size - p->cut <= p->min_morsel) return 0; /* not worth threads */
    SL_RETURN_NOT_OK(sl_pool_create(e->n_workers, &e->pool, err));
    e->own_pool = true;
  }
  p->background = e->own_pool;
  if (sl_pool_start(e->pool, helper, p) == 0) p->helpers = true;
  return 0;
}

static void stop_helpers(struct sl__jpipe *p) {
  if (!p->helpers) return;
  if (p->background) {
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    pthread_cond_broadcast(&p->room_cv);
    pthread_mutex_unlock(&p->mu);
  }
  sl_pool_wait(p->e->pool);
  p->helpers = false;
}

static void release_input(struct sl__jpipe *p, int64_t upto) {
  if (!p->mapped) return;
  upto &= ~((2LL << 20) - 1);
  if (upto - p->released < RELEASE_STEP) return;
  madvise((void *)(p->base + p->released), (size_t)(upto - p->released),
          MADV_DONTNEED);
  p->released = upto;
}

int sl__jpipe_advance(struct sl__jpipe *p, bool *done, struct sl_error *err) {
  struct sl__jengine *e = p->e;
  *done = false;
  pthread_mutex_lock(&p->mu);
  bool head_done = p->head_seq < p->next_seq &&
                   p->slots[p->head_seq % p->n_slots].state == MORSEL_DONE;
  bool idle = p->head_seq == p->next_seq && nothing_left(p);
  pthread_mutex_unlock(&p->mu);
  if (idle) {
    *done = true;
    return 0;
  }
  if (!head_done) SL_RETURN_NOT_OK(start_helpers(p, err));
  pthread_mutex_lock(&p->mu);
  struct morsel *m;
  for (;;) {
    if (p->head_seq < p->next_seq) {
      m = &p->slots[p->head_seq % p->n_slots];
      if (m->state == MORSEL_DONE) break;
    } else if (nothing_left(p)) {
      m = NULL;
      break;
    }
    if (!nothing_left(p) && p->next_seq - p->head_seq < p->n_slots)
      work_one(p, 0);
    else
      pthread_cond_wait(&p->done_cv, &p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  if (p->helpers && !p->background) stop_helpers(p); /* end of the round */
  if (!m) {
    *done = true;
    return 0;
  }
  int rc = m->rc;
  if (rc) {
    if (err) *err = m->task.err;
  } else {
    rc = sl__jengine_collect(e, &m->task, m->begin, err);
  }
  if (!rc && m->long_at >= 0) {
    char why[128];
    snprintf(why, sizeof why, "line longer than max_line_bytes %lld",
             (long long)e->opt.max_line_bytes);
    rc = sl__jengine_bad_line(e, p->base + m->long_at,
                              (size_t)e->opt.max_line_bytes, e->line_base + 1,
                              m->long_at, why, err);
    e->stats.lines++;
    e->line_base++;
  }
  if (m->covered > e->stats.bytes) e->stats.bytes = m->covered;
  e->byte_base = e->stats.bytes;
  sl__jtask_clear(&m->task);
  int64_t done_to = m->b - 1; /* m is a worker's again once it is free */
  pthread_mutex_lock(&p->mu);
  m->state = MORSEL_FREE;
  p->head_seq++;
  p->lines_done = e->stats.lines;
  p->bytes_done = e->stats.bytes;
  if (rc) p->closing = true; /* the read ends here */
  pthread_cond_broadcast(&p->room_cv);
  pthread_mutex_unlock(&p->mu);
  release_input(p, done_to);
  return rc;
}

void sl__jpipe_free(struct sl__jpipe *p) {
  if (!p) return;
  stop_helpers(p);
  for (int32_t i = 0; i < p->n_slots; i++)
    sl__jtask_clear(&p->slots[i].task);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->done_cv);
  pthread_cond_destroy(&p->room_cv);
  sl_free(p->slots);
  sl_free(p->views);
  sl_free(p);
}
