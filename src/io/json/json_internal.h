/* sluice JSON reader internals: scanning kernels, value parsers, column
 * builders, the parse plan and the parallel engine shared by the buffer, file
 * and stream front ends. Not a public header. */
#ifndef SLUICE_IO_JSON_INTERNAL_H
#define SLUICE_IO_JSON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/error.h"
#include "sluice/json.h"
#include "sluice/table.h"

/* ---- scanning kernels (json_scan.c) -------------------------------------
 * A block kernel classifies 64 readable bytes: bit i of the result is set
 * when b[i] is '"', '\\' or < 0x20 ("stop" bytes that end a plain string
 * run), bit i of *high when b[i] >= 0x80. Every variant gives the same bits;
 * the scalar one is the reference. */
typedef uint64_t (*sl__json_block_fn)(const uint8_t *b, uint64_t *high);
uint64_t sl__json_block_scalar(const uint8_t *b, uint64_t *high);
uint64_t sl__json_block_avx2(const uint8_t *b, uint64_t *high);
uint64_t sl__json_block_avx512(const uint8_t *b, uint64_t *high);
/* The kernel for a choice (AUTO = best the CPU has); *got names the one
 * picked (lower than asked for when the CPU lacks it). */
sl__json_block_fn sl__json_block_pick(enum sl_json_simd want,
                                      enum sl_json_simd *got);
/* True when s[0, n) is valid UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool sl__json_utf8_valid(const uint8_t *s, size_t n);

/* ---- values (json_value.c) ---------------------------------------------- */
struct sl__jnum {
  const uint8_t *start, *end; /* the number's text */
  uint64_t mant;              /* first (up to 19) significant digits */
  int32_t exp10;              /* value = mant * 10^exp10 when !many */
  bool neg, is_int, many;     /* many: more than 19 significant digits */
};
/* Scans a JSON number at p (strict grammar). Returns the byte after it, or
 * NULL when the text is not a number. */
const uint8_t *sl__json_number(const uint8_t *p, const uint8_t *end,
                               struct sl__jnum *n);
/* SWAR digit helpers. x is 8 input bytes XOR '0' (digits become 0..9),
 * the first byte in the low bits. */
static inline unsigned sl__jdigits_lead(uint64_t x) {
  /* a byte is a digit when it is below 10: its high bit is clear and its
   * low 7 bits + 0x76 do not reach 0x80 (no carry crosses bytes) */
  uint64_t bad = (x | ((x & 0x7F7F7F7F7F7F7F7Full) + 0x7676767676767676ull)) &
                 0x8080808080808080ull;
  return bad ? (unsigned)__builtin_ctzll(bad) >> 3 : 8;
}
/* The value of 8 digit bytes (0..9 each, first = most significant). */
static inline uint64_t sl__jdigits_8(uint64_t x) {
  x = ((x & 0x0F0F0F0F0F0F0F0Full) * 2561) >> 8;
  x = ((x & 0x00FF00FF00FF00FFull) * 6553601) >> 16;
  return ((x & 0x0000FFFF0000FFFFull) * 42949672960001ull) >> 32;
}
/* The value of the first k (1..8) digit bytes of x. */
static inline uint64_t sl__jdigits_k(uint64_t x, unsigned k) {
  return sl__jdigits_8(x << (64 - 8 * k));
}
extern const uint64_t sl__jpow10u[20];
extern const double sl__jpow10d[23];
/* sl__json_number with the common shapes ([-]int up to 16 digits, an
 * optional fraction of up to 7 digits, no exponent, at most 19 digits)
 * read 8 digits at a time (a number of at most 7 digits with a fraction in
 * one conversion); everything else, near the end of the input included,
 * goes to sl__json_number. Same results, same grammar. */
static inline const uint8_t *
sl__json_number_fast(const uint8_t *p, const uint8_t *end, struct sl__jnum *n) {
  if (end - p < 32) return sl__json_number(p, end, n);
  const uint8_t *s = p;
  bool neg = *p == '-';
  p += neg;
  uint64_t x;
  memcpy(&x, p, 8);
  x ^= 0x3030303030303030ull;
  unsigned nd = sl__jdigits_lead(x);
  if (nd == 0 || (nd > 1 && *p == '0')) return sl__json_number(s, end, n);
  uint64_t mant;
  if (nd < 8) {
    if (p[nd] == '.') {
      /* "int.frac" with at most 7 digits in all: the bytes after the '.'
       * moved down over it make one digit word, converted once */
      uint64_t z;
      memcpy(&z, p + 1, 8);
      z ^= 0x3030303030303030ull;
      uint64_t low = (1ull << (8 * nd)) - 1ull;
      uint64_t both = (x & low) | (z & ~low);
      unsigned nt = sl__jdigits_lead(both);
      if (nt > nd && nt < 8) {
        p += nt + 1;
        if ((*p | 0x20) == 'e') return sl__json_number(s, end, n);
        n->start = s;
        n->end = p;
        n->mant = sl__jdigits_k(both, nt);
        n->exp10 = -(int32_t)(nt - nd);
        n->neg = neg;
        n->is_int = false;
        n->many = false;
        return p;
      }
    }
    mant = sl__jdigits_k(x, nd);
  } else {
    uint64_t x2;
    memcpy(&x2, p + 8, 8);
    x2 ^= 0x3030303030303030ull;
    unsigned nd2 = sl__jdigits_lead(x2);
    if (nd2 == 8) return sl__json_number(s, end, n);
    mant = sl__jdigits_8(x);
    if (nd2) mant = mant * sl__jpow10u[nd2] + sl__jdigits_k(x2, nd2);
    nd += nd2;
  }
  p += nd;
  int32_t frac = 0;
  if (*p == '.') {
    memcpy(&x, p + 1, 8);
    x ^= 0x3030303030303030ull;
    unsigned nf = sl__jdigits_lead(x);
    if (nf == 0 || nf == 8 || nd + nf > 19) return sl__json_number(s, end, n);
    mant = mant * sl__jpow10u[nf] + sl__jdigits_k(x, nf);
    frac = (int32_t)nf;
    p += 1 + nf;
  }
  if ((*p | 0x20) == 'e') return sl__json_number(s, end, n);
  n->start = s;
  n->end = p;
  n->mant = mant;
  n->exp10 = -frac;
  n->neg = neg;
  n->is_int = frac == 0;
  n->many = false;
  return p;
}
/* 0 when the number is an integer in int64 range (1e3, -0.0 included). */
int sl__json_num_i64(const struct sl__jnum *n, int64_t *out);
/* Correctly rounded double (exact fast path, else strtod on the digits). */
double sl__json_num_f64(const struct sl__jnum *n);
/* sl__json_num_f64, inline for the exact case (the digits fit in 53 bits,
 * the power of ten is exact: one correctly rounded IEEE operation). */
static inline double sl__json_num_f64_inline(const struct sl__jnum *n) {
  if (!n->many && n->mant <= (1ull << 53) && n->exp10 >= -22 &&
      n->exp10 <= 22) {
    double d = (double)n->mant;
    d = n->exp10 < 0 ? d / sl__jpow10d[-n->exp10] : d * sl__jpow10d[n->exp10];
    return n->neg ? -d : d;
  }
  return sl__json_num_f64(n);
}
/* RFC 3339 / ISO-8601 timestamp to epoch units (1000 = ms, 1000000 = us).
 * full_only: a date alone is rejected. 0 on success, -1 otherwise. *frac
 * (may be NULL) gets the number of fraction digits. */
int sl__json_parse_ts(const uint8_t *s, size_t n, int64_t per_sec,
                      bool full_only, int64_t *out, int *frac);
int sl__json_parse_date(const uint8_t *s, size_t n, int32_t *days);
int64_t sl__json_days_from_civil(int64_t y, int m, int d);

/* ---- column builders (json_column.c) ------------------------------------
 * Byte-per-value validity (packed to a bitmap at finish), allocated at the
 * first null; easy to truncate when a bad line is rolled back. */
struct sl__jcol {
  enum sl_type_id type;
  int64_t len;
  struct sl_bytes valid; /* uint8 per value, 1 = valid; empty = all valid */
  struct sl_bytes data;  /* values; bool: uint8 per value; utf8: chars */
  struct sl_bytes offs;  /* utf8/list: int32 offsets, len + 1 */
  int32_t n_kids;
  struct sl__jcol *kids;
  int64_t hint_data, hint_offs; /* sizes of the previous batch */
};

/* Column buffer recycling (json_bufpool.c); every function accepts NULL. */
struct sl__jpool;
int sl__jpool_new(int64_t max_bytes, struct sl__jpool **out);
void sl__jpool_release(struct sl__jpool *p);
void *sl__jpool_take(struct sl__jpool *p, int64_t need, int64_t *cap);
int sl__jpool_finish(struct sl__jpool *p, struct sl_bytes *b,
                     struct sl_buffer **out);
void sl__jpool_prime(struct sl__jpool *p, struct sl_bytes *b, int64_t need);

int sl__jcol_init(struct sl__jcol *c, const struct sl_field *f);
void sl__jcol_release(struct sl__jcol *c);
int sl__jcol_null(struct sl__jcol *c);
int sl__jcol_valid_slow(struct sl__jcol *c); /* appends a 1 to valid */
void sl__jcol_truncate(struct sl__jcol *c, int64_t n);
int sl__jcol_reserve(struct sl__jcol *c, int64_t rows, struct sl__jpool *pool);
/* Hands out the column as an array and resets c for the next batch. */
int sl__jcol_finish(struct sl__jcol *c, const struct sl_field *f,
                    struct sl__jpool *pool, struct sl_array **out);

static inline int sl__jcol_mark(struct sl__jcol *c) {
  if (c->valid.data == NULL) return 0;
  return sl__jcol_valid_slow(c);
}

/* ---- the parse plan (json_plan.c) ---------------------------------------
 * A tree over JSON keys: the root is the line's object; a node either feeds a
 * column (col >= 0: an index into the flat column list of a worker) or is an
 * object whose children feed columns under dotted paths (col < 0). */
enum sl__jnode_kind {
  SL__JN_OBJECT, /* flattened object, no column of its own */
  SL__JN_SCALAR, /* a leaf column */
  SL__JN_STRUCT, /* struct column: kids are its fields */
  SL__JN_LIST,   /* list column: kids[0] is the element */
};

struct sl__jnode {
  enum sl__jnode_kind kind;
  enum sl_type_id type;
  int32_t col; /* flat column index or -1 */
  int32_t n_kids;
  struct sl__jnode *kids;
  char *key; /* the key in the parent object (not for list elements) */
  uint32_t key_len;
  uint64_t key_w[2]; /* first 16 key bytes, zero padded, for fast compares */
  const char *path;  /* column name for messages (borrowed from the schema) */
  /* key lookup: open addressing over kids, 2^bits slots, -1 = empty */
  int32_t *slots;
  uint32_t slot_mask;
  int32_t obj_id; /* object/struct nodes: index of the worker's key cache */
};

struct sl__jplan {
  struct sl__jnode root;
  int32_t n_cols;          /* flat columns, depth-first over the schema */
  int32_t n_objs;          /* object and struct nodes */
  struct sl_schema schema; /* output schema (owned) */
};

int sl__jplan_build(struct sl__jplan *p, const struct sl_schema *schema,
                    struct sl_error *err);
void sl__jplan_release(struct sl__jplan *p);
const struct sl__jnode *sl__jplan_lookup(const struct sl__jnode *obj,
                                         const uint8_t *key, size_t n);
/* Hash of a key given its first 16 bytes zero padded (w) and its length. */
static inline uint64_t sl__jkey_hash(const uint64_t w[2], size_t n) {
  uint64_t h =
      (w[0] ^ (w[1] * 0x9E3779B97F4A7C15ull) ^ n) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 31);
}
static inline void sl__jkey_words(const uint8_t *k, size_t n, uint64_t w[2]) {
  uint8_t tmp[16] = {0};
  memcpy(tmp, k, n < 16 ? n : 16);
  memcpy(w, tmp, 16);
}

/* ---- the per-chunk parser (json_parse.c) --------------------------------*/
struct sl__jbad {
  int64_t line;   /* 0-based line index within the chunk */
  int64_t offset; /* line start within the chunk */
  int64_t len;    /* line length without '\n' */
  int64_t column; /* 1-based byte column of the problem */
  char reason[160];
};

struct sl__jtask {
  /* set by the engine */
  const uint8_t *begin, *end; /* whole lines */
  bool at_input_start;        /* a BOM may open the chunk */
  /* results */
  int64_t lines, rows, empty_lines, mismatches;
  struct sl__jbad *bad;
  int64_t n_bad, cap_bad;
  bool failed; /* FAIL policy hit a bad line: bad[n_bad - 1] */
  struct sl_batch **batches;
  int64_t n_batches, cap_batches;
  struct sl_error err; /* hard errors (memory) */
};

/* Per object node and member position: the key seen there last time and
 * what it resolved to. Log lines repeat their key order, so most keys are
 * resolved by two word compares instead of a hash probe. */
#define SL__JKEY_POSITIONS 32
#define SL__JKEY_PREDICT_MAX 31 /* longest predicted key */
struct sl__jkcache {
  /* keys up to 15 bytes: the key and its closing quote, zero padded, and
   * byte masks of the key's length + 1; w has a bit outside m otherwise */
  uint64_t w[2], m[2];
  uint32_t len;                /* key length; UINT32_MAX: empty */
  const struct sl__jnode *kid; /* NULL = not wanted */
  /* keys of 16 to 31 bytes, likewise over 32 bytes (lm[0] = 0: none) */
  uint64_t lw[4], lm[4];
};

struct sl__jworker {
  struct sl__jkcache *kcache; /* n_objs x SL__JKEY_POSITIONS */
  struct sl__jcol *tops;      /* one per schema field */
  struct sl__jcol **flat;     /* plan column index -> builder */
  uint8_t ts_date[10]; /* the last date parsed by a timestamp column... */
  int64_t ts_days;     /* ...and its day number (logs repeat the date) */
  uint8_t *scratch;
  size_t scratch_cap;
  uint8_t *tail; /* a copy of a chunk's last line when it lacks '\n' */
  size_t tail_cap;
};

struct sl__jengine {
  struct sl_json_options opt; /* copy; projection/schema pointers cleared */
  struct sl__jplan plan;
  struct sl_pool *pool;
  bool own_pool;
  struct sl__jpool *buffers; /* recycled column memory */
  int n_workers;
  struct sl__jworker *workers;
  sl__json_block_fn block;
  struct sl__jtask *tasks;
  int64_t cap_tasks;
  int64_t chunk_bytes;
  struct sl_json_stats stats;
  int64_t line_base, byte_base; /* of the next window */
  bool seen_input;              /* BOM only at the very start */
  /* ready batches, in order */
  struct sl_batch **queue;
  int64_t q_head, q_len, q_cap;
};

int sl__jworker_init(struct sl__jworker *w, const struct sl__jplan *p);
void sl__jworker_release(struct sl__jworker *w, const struct sl__jplan *p);
/* Parses t->begin..t->end into batches on worker w. Returns 0 (bad lines
 * are recorded in t) or a hard error (memory) with t->err set. e may be a
 * worker's shallow copy of the engine (json_pipe.c): read-only, counters
 * as of when the worker took its morsel. */
int sl__json_parse_chunk(const struct sl__jengine *e, struct sl__jworker *w,
                         struct sl__jtask *t);
/* The same, built for AVX-512BW (json_parse_avx512.c); only when the
 * AVX-512 kernel was picked. */
int sl__json_parse_chunk_avx512(const struct sl__jengine *e,
                                struct sl__jworker *w, struct sl__jtask *t);
void sl__jtask_clear(struct sl__jtask *t);

/* ---- engine (json_engine.c) ---------------------------------------------
 * o: the caller's options; schema: explicit or NULL to infer from sample. */
int sl__jengine_init(struct sl__jengine *e, const struct sl_json_options *o,
                     const uint8_t *sample, size_t sample_len,
                     struct sl_error *err);
void sl__jengine_release(struct sl__jengine *e);
/* Parses buf[0, len): whole lines (the last one may lack '\n' only at the end
 * of input). Ready batches go to the queue; bad lines to the callback. */
int sl__jengine_parse(struct sl__jengine *e, const uint8_t *buf, size_t len,
                      struct sl_error *err);
/* Parses task t on worker w with the right build of the parser. */
int sl__jengine_run(const struct sl__jengine *e, struct sl__jworker *w,
                    struct sl__jtask *t);
/* Takes one parsed task in input order: bad lines go to the callback (line
 * numbers from e->line_base, byte offsets from off0, the input offset of
 * t->begin), FAIL's bad line becomes the error, counters are added and the
 * batches join the queue. */
int sl__jengine_collect(struct sl__jengine *e, struct sl__jtask *t,
                        int64_t off0, struct sl_error *err);
/* Pops the next ready batch, or NULL. */
struct sl_batch *sl__jengine_pop(struct sl__jengine *e);
/* Reports one line that could not even be framed (longer than the limit);
 * FAIL policy: returns SL_EINVAL with the message in err. */
int sl__jengine_bad_line(struct sl__jengine *e, const uint8_t *line, size_t len,
                         int64_t line_no, int64_t offset, const char *reason,
                         struct sl_error *err);
/* ---- the pipelined source (json_pipe.c) ---------------------------------
 * Input that is all addressable at once (a mapped file, a caller's buffer)
 * is cut into morsels of whole lines that the workers parse as soon as they
 * are free, while the consumer takes finished morsels strictly in input
 * order; at most a fixed number of morsels are in flight. */
struct sl__jpipe;
/* base[0, size): the input (borrowed; a mapping when `mapped`, released
 * range by range once consumed). */
int sl__jpipe_new(struct sl__jengine *e, const uint8_t *base, int64_t size,
                  bool mapped, struct sl__jpipe **out, struct sl_error *err);
/* Hands the next morsel in input order to the engine (its batches join the
 * queue, its bad lines are reported). *done: nothing is left. */
int sl__jpipe_advance(struct sl__jpipe *p, bool *done, struct sl_error *err);
/* Stops the workers and frees the pipeline (not the input). */
void sl__jpipe_free(struct sl__jpipe *p);

/* Infers the schema (json_infer.c). */
int sl__json_infer(const uint8_t *buf, size_t len,
                   const struct sl_json_options *o, struct sl_schema *out,
                   struct sl_error *err);

#endif
