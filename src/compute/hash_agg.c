/* Hash aggregation: typed group keys -> dense group ids.
 *
 * Open addressing with linear probing over 8-byte slots holding the upper
 * 32 bits of the hash (a tag) and the group id + 1, so a probe touches one
 * cache line until the tag matches. Keys are stored per column (int64 or
 * double bits, bool as 0/1, strings copied into the table's arena) and
 * compared only on a tag match. Hashes per row are computed column by column
 * (xxh3 for strings, a 64-bit mixer for fixed-width values) before probing.
 *
 * A single integer key (BIGINT, timestamp, date) whose values span a small
 * range skips hashing altogether: a direct table maps key - lo to the group
 * id ("perfect hash"), one array access per row. The range grows as keys
 * come; past DIRECT_MAX_SPAN the table turns into the hash table above.
 *
 * A direct table that fills up (many groups, keys dense in their range, a
 * user id say) turns into an identity table: the group id is the key's
 * offset in the range (slot 0 holds the NULL key), so a row costs no table
 * lookup, two partials merge slot by slot, and the groups come out in key
 * order. Slots without a row stay empty; sl__hagg_groups counts the rest,
 * and ident_leave() packs them into a direct table before the groups are
 * read out (or when the keys leave the range). */
#include <string.h>
/* xxh3 inlined here: group keys are mostly short strings, for which the
 * call into the shared library costs as much as the hash */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "compute/agg.h"

struct keycol {
  enum sl_vt type;
  int64_t *v;       /* fixed-width keys (bools 0/1, doubles as bits) */
  struct sl_str *s; /* string keys */
  uint8_t *valid;
};

struct sl_hagg {
  int32_t n_keys;
  struct keycol *keys;
  int32_t n_aggs;
  struct sl_agg_spec *specs;
  struct sl__agg_state **states;
  int64_t n_groups, cap;
  uint64_t *hashes;
  uint64_t *slots;
  int64_t n_slots;
  struct sl_arena strings;
  /* direct mode (one integer key): gid + 1 of key lo + i, 0 = none */
  bool direct;
  uint32_t *d_gid;
  int64_t d_lo, d_span;
  int64_t d_null; /* gid + 1 of the NULL key's group, 0 = none */
  /* identity mode (from direct mode): slot 0 is the NULL key, slot 1 + i
   * key d_lo + i, for i < d_span; n_groups counts the slots in use */
  bool ident, no_ident;
  uint8_t *present; /* d_span + 1 slots: 1 = a group */
  uint32_t *fin_at; /* read out by finish_range: row r is slot fin_at[r] */
};

/* 4M keys: a 16 MiB table at most, of which only touched pages are
 * resident. */
#define DIRECT_MAX_SPAN (INT64_C(1) << 22)

/* Identity tables: entered by a direct table of at least this many groups
 * that fill 1/32 of its range (the direct range has slack: about 1/16 of
 * the keys' own), and whose states for the range take at most
 * IDENT_MAX_BYTES (per slot about 48 bytes an aggregate). Entering early
 * moves few groups and leaves few rows to the direct table's lookups. */
#define IDENT_MIN_GROUPS (INT64_C(1) << 15)
#define IDENT_MAX_BYTES (INT64_C(256) << 20)
#define IDENT_SLOT_BYTES(h) (48 * (int64_t)(h)->n_aggs + 1)

#define NULL_HASH UINT64_C(0x9ae16a3b2f90404f)

uint64_t sl__hash_str(const char *p, int64_t n) {
  return XXH3_64bits(p, (size_t)n);
}

/* Hash of a string group key. Keys are mostly short (names, codes), for
 * which one 64x64->128-bit multiply of the (overlapping) first and last
 * words, the length folded in, is a third of xxh3's work; longer keys take
 * xxh3. Only group keys use it: every table of a query hashes its keys here,
 * so stored hashes stay comparable across partials. */
static inline uint64_t key_hash_str(const char *p, int64_t n) {
  uint64_t a, b;
  if (n > 16) return sl__hash_str(p, n);
  if (n >= 8) {
    memcpy(&a, p, 8);
    memcpy(&b, p + n - 8, 8);
  } else if (n >= 4) {
    uint32_t x, y;
    memcpy(&x, p, 4);
    memcpy(&y, p + n - 4, 4);
    a = x;
    b = y;
  } else if (n > 0) {
    a = ((uint64_t)(uint8_t)p[0] << 16) | ((uint64_t)(uint8_t)p[n >> 1] << 8) |
        (uint8_t)p[n - 1];
    b = 0;
  } else {
    a = b = 0;
  }
  unsigned __int128 m = (unsigned __int128)(a ^ UINT64_C(0xa0761d6478bd642f)) *
                        (b ^ UINT64_C(0xe7037ed1a0b428db) ^ (uint64_t)n);
  return sl__hash_u64((uint64_t)m ^ (uint64_t)(m >> 64));
}

static inline int64_t key_bits(const struct sl_vec *v, int64_t r) {
  switch (v->type) {
  case SL_VT_BOOL: return v->d.b[r] != 0;
  case SL_VT_F64: {
    double d = v->d.f[r];
    if (d == 0) d = 0; /* -0.0 groups with 0.0 */
    if (d != d) return INT64_C(0x7ff8000000000000);
    int64_t b;
    memcpy(&b, &d, 8);
    return b;
  }
  default: return v->d.i[r];
  }
}

/* count(*) aggregates lean on the first sum/avg of a column, if any. */
static void share_rows(struct sl_hagg *h) {
  int32_t b = -1;
  for (int32_t a = 0; a < h->n_aggs && b < 0; a++)
    if (sl__agg_state_can_count_rows(h->states[a])) b = a;
  for (int32_t a = 0; a < h->n_aggs && b >= 0; a++)
    if (h->specs[a].fn == SL_AGG_COUNT_STAR)
      sl__agg_state_share_rows(h->states[a], h->states[b]);
}

int sl__hagg_create(int32_t n_keys, const enum sl_vt *key_types, int32_t n_aggs,
                    const struct sl_agg_spec *specs, struct sl_hagg **out) {
  int rc = SL_ENOMEM;
  struct sl_hagg *h = sl_calloc(1, sizeof *h);
  if (!h) return SL_ENOMEM;
  sl_arena_init(&h->strings, 256 * 1024);
  h->n_keys = n_keys;
  h->n_aggs = n_aggs;
  h->keys = sl_calloc((size_t)(n_keys ? n_keys : 1), sizeof *h->keys);
  h->specs = sl_calloc((size_t)(n_aggs ? n_aggs : 1), sizeof *h->specs);
  h->states = sl_calloc((size_t)(n_aggs ? n_aggs : 1), sizeof *h->states);
  if (!h->keys || !h->specs || !h->states) goto fail;
  for (int32_t k = 0; k < n_keys; k++)
    h->keys[k].type = key_types[k];
  for (int32_t a = 0; a < n_aggs; a++) {
    h->specs[a] = specs[a];
    SL_CHECK_GOTO(sl__agg_state_new(&specs[a], &h->states[a]), rc, fail);
  }
  share_rows(h);
  h->n_slots = 1024;
  h->slots = sl_calloc((size_t)h->n_slots, sizeof *h->slots);
  if (!h->slots) goto fail;
  h->direct = n_keys == 1 && sl__vt_is_i64(key_types[0]);
  *out = h;
  return 0;
fail:
  sl__hagg_free(h);
  return rc;
}

void sl__hagg_free(struct sl_hagg *h) {
  if (!h) return;
  for (int32_t k = 0; h->keys && k < h->n_keys; k++) {
    sl_free(h->keys[k].v);
    sl_free(h->keys[k].s);
    sl_free(h->keys[k].valid);
  }
  for (int32_t a = 0; h->states && a < h->n_aggs; a++)
    sl__agg_state_free(h->states[a]);
  sl_free(h->keys);
  sl_free(h->specs);
  sl_free(h->states);
  sl_free(h->hashes);
  sl_free(h->slots);
  sl_free(h->d_gid);
  sl_free(h->present);
  sl_free(h->fin_at);
  sl_arena_release(&h->strings);
  sl_free(h);
}

int64_t sl__hagg_groups(const struct sl_hagg *h) {
  return h->n_keys == 0 ? 1 : h->n_groups;
}

/* Group slots of the states: the groups, or an identity table's range. */
static int64_t slots_of(const struct sl_hagg *h) {
  return h->ident ? h->d_span + 1 : sl__hagg_groups(h);
}

int64_t sl__hagg_bytes(const struct sl_hagg *h) {
  int64_t b = h->n_slots * 8 + h->cap * 8 + (int64_t)h->strings.used_bytes +
              (h->ident ? h->d_span + 1 : h->d_span * 4);
  b += h->cap * h->n_keys * 17;
  for (int32_t a = 0; a < h->n_aggs; a++)
    b += sl__agg_state_bytes(h->states[a]);
  return b;
}

/* A zeroed table that is read before it is written: written here, so each
 * page is faulted in once as the process's own. calloc() would map fresh
 * pages to the shared zero page on the first read, and the first write
 * would then copy it and flush the TLB of every thread of the process (an
 * IPI each, costly in a VM): a tenth of a second for a million groups. */
static void *zeroed(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  void *p = sl_malloc(count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

static int grow_groups(struct sl_hagg *h, int64_t need) {
  if (need <= h->cap) return 0;
  int64_t cap = h->cap ? h->cap * 2 : 256;
  while (cap < need)
    cap *= 2;
  if (cap > (INT64_C(1) << 32)) return SL_ERANGE;
  uint64_t *hs = sl_realloc(h->hashes, (size_t)cap * 8);
  if (!hs) return SL_ENOMEM;
  h->hashes = hs;
  for (int32_t k = 0; k < h->n_keys; k++) {
    struct keycol *c = &h->keys[k];
    if (c->type == SL_VT_STR) {
      void *p = sl_realloc(c->s, (size_t)cap * sizeof *c->s);
      if (!p) return SL_ENOMEM;
      c->s = p;
    } else {
      void *p = sl_realloc(c->v, (size_t)cap * 8);
      if (!p) return SL_ENOMEM;
      c->v = p;
    }
    void *q = sl_realloc(c->valid, (size_t)cap);
    if (!q) return SL_ENOMEM;
    c->valid = q;
  }
  for (int32_t a = 0; a < h->n_aggs; a++)
    SL_RETURN_NOT_OK(sl__agg_state_grow(h->states[a], cap));
  h->cap = cap;
  return 0;
}

/* Rebuilds the slot table with ns slots (a power of two) from the groups'
 * stored hashes. */
static int build_slots(struct sl_hagg *h, int64_t ns) {
  uint64_t *s = zeroed((size_t)ns, sizeof *s);
  if (!s) return SL_ENOMEM;
  uint64_t mask = (uint64_t)ns - 1;
  for (int64_t g = 0; g < h->n_groups; g++) {
    uint64_t hv = h->hashes[g], pos = hv & mask;
    while (s[pos])
      pos = (pos + 1) & mask;
    s[pos] = ((hv >> 32) << 32) | (uint64_t)(g + 1);
  }
  sl_free(h->slots);
  h->slots = s;
  h->n_slots = ns;
  return 0;
}

static int rehash(struct sl_hagg *h) {
  return build_slots(h, h->n_slots * 2);
}

/* Group g's keys equal row r of the input keys? */
static inline bool row_eq(const struct sl_hagg *h, int64_t g,
                          const struct sl_vec *keys, int64_t r) {
  for (int32_t k = 0; k < h->n_keys; k++) {
    const struct keycol *c = &h->keys[k];
    const struct sl_vec *v = &keys[k];
    bool vv = sl__vec_valid(v, r);
    if (vv != (c->valid[g] != 0)) return false;
    if (!vv) continue;
    int64_t i = sl__vec_idx(v, r);
    if (c->type == SL_VT_STR) {
      if (!sl__str_eq(c->s[g], v->d.s[i])) return false;
    } else if (c->v[g] != key_bits(v, i)) {
      return false;
    }
  }
  return true;
}

static inline bool group_eq(const struct sl_hagg *h, int64_t g,
                            const struct sl_hagg *o, int64_t og) {
  for (int32_t k = 0; k < h->n_keys; k++) {
    const struct keycol *c = &h->keys[k], *d = &o->keys[k];
    if (c->valid[g] != d->valid[og]) return false;
    if (!c->valid[g]) continue;
    if (c->type == SL_VT_STR) {
      if (!sl__str_eq(c->s[g], d->s[og])) return false;
    } else if (c->v[g] != d->v[og]) {
      return false;
    }
  }
  return true;
}

static int store_str(struct sl_hagg *h, struct sl_str in, struct sl_str *out) {
  char *p = sl_arena_alloc(&h->strings, (size_t)(in.n ? in.n : 1));
  if (!p) return SL_ENOMEM;
  if (in.n) memcpy(p, in.p, (size_t)in.n);
  *out = (struct sl_str){p, in.n};
  return 0;
}

/* Appends a new group with row r's keys (from vecs) or group og's (from o). */
static int new_group(struct sl_hagg *h, uint64_t hv, const struct sl_vec *keys,
                     int64_t r, const struct sl_hagg *o, int64_t og,
                     int64_t *gid) {
  int64_t g = h->n_groups;
  SL_RETURN_NOT_OK(grow_groups(h, g + 1));
  h->hashes[g] = hv;
  for (int32_t k = 0; k < h->n_keys; k++) {
    struct keycol *c = &h->keys[k];
    bool valid;
    if (o) {
      valid = o->keys[k].valid[og];
      if (valid && c->type == SL_VT_STR)
        SL_RETURN_NOT_OK(store_str(h, o->keys[k].s[og], &c->s[g]));
      else if (valid)
        c->v[g] = o->keys[k].v[og];
    } else {
      const struct sl_vec *v = &keys[k];
      valid = sl__vec_valid(v, r);
      int64_t i = sl__vec_idx(v, r);
      if (valid && c->type == SL_VT_STR)
        SL_RETURN_NOT_OK(store_str(h, v->d.s[i], &c->s[g]));
      else if (valid)
        c->v[g] = key_bits(v, i);
    }
    c->valid[g] = valid;
    if (!valid) {
      if (c->type == SL_VT_STR)
        c->s[g] = (struct sl_str){"", 0};
      else
        c->v[g] = 0;
    }
  }
  h->n_groups = g + 1;
  *gid = g;
  if (!h->direct && h->n_groups * 2 > h->n_slots) SL_RETURN_NOT_OK(rehash(h));
  return 0;
}

/* Row hashes. A single key: its value's hash (integers through
 * sl__hash_u64, as the direct table stores them). Several keys: each key's
 * part (an integer's bits, a string's hash, NULL_HASH) folded in with a
 * multiply-add, then mixed once: two multiplies per key and row instead of
 * two mixes. One loop per column and kind, without per-row type checks. */
static void hash_rows(const struct sl_hagg *h, const struct sl_vec *keys,
                      int64_t n, uint64_t *hs) {
  const uint64_t K = UINT64_C(0x9E3779B97F4A7C15);
  bool multi = h->n_keys > 1;
  for (int32_t k = 0; k < h->n_keys; k++) {
    const struct sl_vec *v = &keys[k];
    const uint8_t *ok = v->valid;
    bool first = k == 0;
#define FOLD(x)                                                                \
  do {                                                                         \
    uint64_t x_ = (x);                                                         \
    hs[r] = first ? x_ : hs[r] * K + x_;                                       \
  } while (0)
    if (!v->constant && v->type == SL_VT_STR) {
      const struct sl_str *x = v->d.s;
      for (int64_t r = 0; r < n; r++)
        FOLD(ok && !ok[r] ? NULL_HASH : key_hash_str(x[r].p, x[r].n));
    } else if (!v->constant && sl__vt_is_i64(v->type)) {
      const int64_t *x = v->d.i;
      if (multi)
        for (int64_t r = 0; r < n; r++)
          FOLD(ok && !ok[r] ? NULL_HASH : (uint64_t)x[r]);
      else
        for (int64_t r = 0; r < n; r++)
          FOLD(ok && !ok[r] ? NULL_HASH : sl__hash_u64((uint64_t)x[r]));
    } else {
      for (int64_t r = 0; r < n; r++) {
        int64_t i = sl__vec_idx(v, r);
        uint64_t x;
        if (!sl__vec_valid(v, r))
          x = NULL_HASH;
        else if (v->type == SL_VT_STR)
          x = key_hash_str(v->d.s[i].p, v->d.s[i].n);
        else if (multi)
          x = (uint64_t)key_bits(v, i);
        else
          x = sl__hash_u64((uint64_t)key_bits(v, i));
        FOLD(x);
      }
    }
#undef FOLD
  }
  if (multi)
    for (int64_t r = 0; r < n; r++)
      hs[r] = sl__hash_u64(hs[r]);
}

/* Finds or inserts; `o` non-NULL means the key comes from o's group og. */
static inline int lookup(struct sl_hagg *h, uint64_t hv,
                         const struct sl_vec *keys, int64_t r,
                         const struct sl_hagg *o, int64_t og, int64_t *gid) {
  uint64_t mask = (uint64_t)h->n_slots - 1, pos = hv & mask;
  uint64_t tag = hv >> 32;
  for (;;) {
    uint64_t s = h->slots[pos];
    if (!s) {
      SL_RETURN_NOT_OK(new_group(h, hv, keys, r, o, og, gid));
      if (h->n_slots - 1 == (int64_t)mask) /* no rehash happened */
        h->slots[pos] = (tag << 32) | (uint64_t)(*gid + 1);
      return 0;
    }
    if ((s >> 32) == tag) {
      int64_t g = (int64_t)(uint32_t)s - 1;
      if (o ? group_eq(h, g, o, og) : row_eq(h, g, keys, r)) {
        *gid = g;
        return 0;
      }
    }
    pos = (pos + 1) & mask;
  }
}

/* ---- direct mode --------------------------------------------------------
 */

static int ident_leave(struct sl_hagg *h);

/* Leaves direct mode: the groups go into the hash table. */
static int leave_direct(struct sl_hagg *h) {
  if (h->ident) SL_RETURN_NOT_OK(ident_leave(h));
  int64_t ns = 1024;
  while (ns < 2 * h->n_groups + 2)
    ns *= 2;
  SL_RETURN_NOT_OK(build_slots(h, ns));
  sl_free(h->d_gid);
  h->d_gid = NULL;
  h->d_span = 0;
  h->direct = false;
  return 0;
}

/* Makes the direct table cover keys [lo, hi], or leaves direct mode when
 * that range is too wide. */
static int direct_cover(struct sl_hagg *h, int64_t lo, int64_t hi) {
  if (h->d_span) {
    int64_t end = (int64_t)((uint64_t)h->d_lo + (uint64_t)(h->d_span - 1));
    if (lo >= h->d_lo && hi <= end) return 0;
    if (h->d_lo < lo) lo = h->d_lo;
    if (end > hi) hi = end;
  }
  uint64_t need = (uint64_t)hi - (uint64_t)lo + 1; /* hi >= lo */
  if (need == 0 || need > (uint64_t)DIRECT_MAX_SPAN) return leave_direct(h);
  /* twice the range, half the slack on each side, so keys that creep
   * outward do not copy the table every time */
  uint64_t nspan = need * 2 < 1024 ? 1024 : need * 2;
  if (nspan > (uint64_t)DIRECT_MAX_SPAN) nspan = (uint64_t)DIRECT_MAX_SPAN;
  uint64_t below = (nspan - need) / 2;
  if ((uint64_t)lo - (uint64_t)INT64_MIN < below)
    below = (uint64_t)lo - (uint64_t)INT64_MIN;
  int64_t nlo = (int64_t)((uint64_t)lo - below);
  if (nlo > INT64_MAX - (int64_t)(nspan - 1))
    nlo = INT64_MAX - (int64_t)(nspan - 1);
  uint32_t *t = zeroed((size_t)nspan, sizeof *t);
  if (!t) return SL_ENOMEM;
  if (h->d_span)
    memcpy(t + ((uint64_t)h->d_lo - (uint64_t)nlo), h->d_gid,
           (size_t)h->d_span * sizeof *t);
  sl_free(h->d_gid);
  h->d_gid = t;
  h->d_lo = nlo;
  h->d_span = (int64_t)nspan;
  return 0;
}

static inline uint64_t key_hash(bool valid, int64_t bits) {
  return valid ? sl__hash_u64((uint64_t)bits) : NULL_HASH;
}

/* ---- identity mode ------------------------------------------------------
 */

/* Moves every aggregate's states into fresh ones of n_new slots: old slot g
 * is merged into map[g]. All or nothing. */
static int relayout(struct sl_hagg *h, int64_t n_new, const uint32_t *map,
                    int64_t n_old) {
  struct sl_error err = {0};
  struct sl__agg_state **ns =
      sl_calloc((size_t)(h->n_aggs ? h->n_aggs : 1), sizeof *ns);
  if (!ns) return SL_ENOMEM;
  int rc = 0;
  for (int32_t a = 0; a < h->n_aggs && !rc; a++) {
    rc = sl__agg_state_new(&h->specs[a], &ns[a]);
    if (!rc) rc = sl__agg_state_grow(ns[a], n_new);
    if (!rc) rc = sl__agg_state_merge_prepare(ns[a], h->states[a]);
    if (!rc)
      rc = sl__agg_state_merge(ns[a], h->states[a], map, 0, n_old, &h->strings,
                               &err);
  }
  for (int32_t a = 0; a < h->n_aggs; a++) {
    struct sl__agg_state *drop = rc ? ns[a] : h->states[a];
    if (!rc) h->states[a] = ns[a];
    sl__agg_state_free(drop);
  }
  sl_free(ns);
  share_rows(h);
  return rc;
}

/* Identity ranges start and end on multiples of this, so that partials fed
 * the same kind of keys get the same range and merge without a copy. */
#define IDENT_ALIGN (UINT64_C(1) << 16)

/* The identity range for keys [lo, hi] with up to more_lo / more_hi slack
 * below / above, aligned; false when [lo, hi] alone is too wide. */
static bool ident_range(const struct sl_hagg *h, int64_t lo, int64_t hi,
                        uint64_t more_lo, uint64_t more_hi, int64_t *out_lo,
                        uint64_t *out_span) {
  uint64_t max = (uint64_t)(IDENT_MAX_BYTES / IDENT_SLOT_BYTES(h));
  if (max > (uint64_t)DIRECT_MAX_SPAN) max = (uint64_t)DIRECT_MAX_SPAN;
  uint64_t need = (uint64_t)hi - (uint64_t)lo + 1; /* hi >= lo */
  if (need == 0 || need > max) return false;
  uint64_t room = max - need;
  if (more_lo > room / 2) more_lo = room / 2;
  if (more_hi > room / 2) more_hi = room / 2;
  if ((uint64_t)lo - (uint64_t)INT64_MIN < more_lo)
    more_lo = (uint64_t)lo - (uint64_t)INT64_MIN;
  if ((uint64_t)INT64_MAX - (uint64_t)hi < more_hi)
    more_hi = (uint64_t)INT64_MAX - (uint64_t)hi;
  uint64_t l = (uint64_t)lo - more_lo, e = (uint64_t)hi + more_hi;
  /* aligned when that still fits (INT64_MIN is aligned, INT64_MAX ends a
   * block: no overflow) */
  uint64_t al = (uint64_t)((int64_t)l & ~(int64_t)(IDENT_ALIGN - 1));
  uint64_t ae = (uint64_t)((int64_t)e | (int64_t)(IDENT_ALIGN - 1));
  if (ae - al + 1 != 0 && ae - al + 1 <= max) {
    l = al;
    e = ae;
  }
  *out_lo = (int64_t)l;
  *out_span = e - l + 1;
  return true;
}

/* Moves the groups into identity slots over keys [lo, lo + span): from
 * the slots of the identity table's current range, or (from_slots false)
 * from the n_old groups of a direct table by their stored keys. */
static int to_range(struct sl_hagg *h, int64_t lo, uint64_t span, int64_t n_old,
                    bool from_slots) {
  const struct keycol *c = &h->keys[0];
  uint64_t off = (uint64_t)h->d_lo - (uint64_t)lo;
  uint32_t *map = sl_malloc((size_t)(n_old ? n_old : 1) * sizeof *map);
  uint8_t *pr = zeroed(span + 1, 1);
  int rc = map && pr ? 0 : SL_ENOMEM;
  for (int64_t g = 0; !rc && g < n_old; g++) {
    if (from_slots) { /* slot 0, the NULL key, stays */
      map[g] = g ? (uint32_t)((uint64_t)g + off) : 0;
      pr[map[g]] = h->present[g];
    } else {
      map[g] =
          c->valid[g] ? (uint32_t)((uint64_t)c->v[g] - (uint64_t)lo + 1) : 0;
      pr[map[g]] = 1;
    }
  }
  if (!rc) rc = relayout(h, (int64_t)span + 1, map, n_old);
  sl_free(map);
  if (rc) {
    sl_free(pr);
    return rc;
  }
  sl_free(h->present);
  h->present = pr;
  h->d_lo = lo;
  h->d_span = (int64_t)span;
  return 0;
}

/* Direct -> identity, over the stored keys' range and 1/32 more on each
 * side (not below 0 for non-negative keys); or marks the table as staying
 * direct when that range is too wide. */
static int ident_enter(struct sl_hagg *h) {
  const struct keycol *c = &h->keys[0];
  int64_t ng = h->n_groups, mn = INT64_MAX, mx = INT64_MIN, lo;
  uint64_t span;
  for (int64_t g = 0; g < ng; g++)
    if (c->valid[g]) {
      mn = c->v[g] < mn ? c->v[g] : mn;
      mx = c->v[g] > mx ? c->v[g] : mx;
    }
  /* keys not seen yet: those of a range filled at random fall inside or
   * near it; non-negative keys (ids) stay so */
  uint64_t more = mn <= mx ? ((uint64_t)mx - (uint64_t)mn) / 32 : 0;
  uint64_t below = mn >= 0 && (uint64_t)mn < more ? (uint64_t)mn : more;
  if (mn > mx || !ident_range(h, mn, mx, below, more, &lo, &span)) {
    h->no_ident = true;
    return 0;
  }
  SL_RETURN_NOT_OK(to_range(h, lo, span, ng, false));
  /* the keys are the slots now */
  sl_free(h->hashes);
  sl_free(h->keys[0].v);
  sl_free(h->keys[0].valid);
  h->hashes = NULL;
  h->keys[0].v = NULL;
  h->keys[0].valid = NULL;
  h->cap = 0;
  sl_free(h->d_gid);
  h->d_gid = NULL;
  h->d_null = 0;
  h->ident = true;
  return 0;
}

/* Makes the identity table cover keys [lo, hi] (with slack: half the old
 * range more on each side that grows), or leaves identity mode when that
 * is too wide. */
static int ident_cover(struct sl_hagg *h, int64_t lo, int64_t hi, bool slack) {
  int64_t olo = h->d_lo, nlo;
  int64_t end = (int64_t)((uint64_t)olo + (uint64_t)(h->d_span - 1));
  if (lo >= olo && hi <= end) return 0;
  uint64_t more = slack ? (uint64_t)h->d_span / 2 : 0, need;
  if (!ident_range(h, lo < olo ? lo : olo, hi > end ? hi : end,
                   lo < olo ? more : 0, hi > end ? more : 0, &nlo, &need))
    return ident_leave(h);
  return to_range(h, nlo, need, h->d_span + 1, true);
}

/* Identity -> direct: the groups packed in place in key order (the NULL
 * key first), their keys stored, a direct table over the same range. */
static int ident_leave(struct sl_hagg *h) {
  int64_t ns = h->d_span + 1, n = h->n_groups;
  uint32_t *map = sl_malloc((size_t)ns * sizeof *map);
  uint32_t *t = zeroed((size_t)h->d_span, sizeof *t);
  int rc = map && t ? 0 : SL_ENOMEM;
  /* the key arrays (the states have at least as many slots, as
   * grow_groups() promises new_group()) */
  h->n_groups = 0;
  if (!rc) rc = grow_groups(h, n);
  h->n_groups = n;
  if (rc) { /* still an identity table */
    sl_free(map);
    sl_free(t);
    return rc;
  }
  int64_t k = 0;
  for (int64_t g = 0; g < ns; g++)
    map[g] = (uint32_t)k, k += h->present[g];
  for (int32_t a = 0; a < h->n_aggs; a++)
    sl__agg_state_pack(h->states[a], map, h->present, ns, n);
  struct keycol *c = &h->keys[0];
  for (int64_t g = 0; g < ns; g++) {
    if (!h->present[g]) continue;
    uint32_t d = map[g];
    if (g == 0) {
      c->v[d] = 0;
      c->valid[d] = 0;
      h->hashes[d] = NULL_HASH;
      h->d_null = d + 1;
    } else {
      int64_t key = (int64_t)((uint64_t)h->d_lo + (uint64_t)(g - 1));
      c->v[d] = key;
      c->valid[d] = 1;
      h->hashes[d] = key_hash(true, key);
      t[g - 1] = d + 1;
    }
  }
  sl_free(map);
  sl_free(h->present);
  h->present = NULL;
  h->d_gid = t;
  h->ident = false;
  h->no_ident = true; /* no back and forth */
  return 0;
}

/* Group ids of n rows of one integer key, through the direct table. Sets
 * *done = false (and does nothing) when the keys leave direct mode. */
static int direct_update(struct sl_hagg *h, const struct sl_vec *k, int64_t n,
                         uint32_t *gid, bool *done) {
  const int64_t *x = k->d.i;
  const uint8_t *ok = k->valid;
  int64_t mn = INT64_MAX, mx = INT64_MIN;
  for (int64_t r = 0; r < n; r++) {
    if (ok && !ok[r]) continue;
    mn = x[r] < mn ? x[r] : mn;
    mx = x[r] > mx ? x[r] : mx;
  }
  *done = false;
  if (!h->ident && !h->no_ident && h->n_groups >= IDENT_MIN_GROUPS &&
      h->n_groups * 32 >= h->d_span)
    SL_RETURN_NOT_OK(ident_enter(h));
  if (mn <= mx && h->ident) SL_RETURN_NOT_OK(ident_cover(h, mn, mx, true));
  if (mn <= mx && !h->ident) {
    SL_RETURN_NOT_OK(direct_cover(h, mn, mx));
    if (!h->direct) return 0;
  }
  if (h->ident) {
    /* the slot is the group: no lookup, no new group to add */
    uint8_t *pr = h->present;
    uint64_t base = (uint64_t)h->d_lo - 1;
    int64_t ng = h->n_groups;
    for (int64_t r = 0; r < n; r++) {
      uint32_t g = ok && !ok[r] ? 0 : (uint32_t)((uint64_t)x[r] - base);
      ng += !pr[g];
      pr[g] = 1;
      gid[r] = g;
    }
    h->n_groups = ng;
    *done = true;
    return 0;
  }
  uint32_t *t = h->d_gid;
  int64_t lo = h->d_lo;
  /* a wide table misses the cache on most keys: ask for them early */
  bool big = h->d_span > (INT64_C(1) << 16);
  for (int64_t r = 0; r < n; r++) {
    int64_t g;
    if (big && r + 16 < n)
      __builtin_prefetch(&t[(uint64_t)x[r + 16] - (uint64_t)lo]);
    if (ok && !ok[r]) {
      if (!h->d_null) {
        SL_RETURN_NOT_OK(new_group(h, NULL_HASH, k, r, NULL, 0, &g));
        h->d_null = g + 1;
      }
      gid[r] = (uint32_t)(h->d_null - 1);
      continue;
    }
    uint32_t *e = &t[(uint64_t)x[r] - (uint64_t)lo];
    if (!*e) {
      SL_RETURN_NOT_OK(new_group(h, key_hash(true, x[r]), k, r, NULL, 0, &g));
      *e = (uint32_t)(g + 1);
    }
    gid[r] = *e - 1;
  }
  *done = true;
  return 0;
}

/* Keys that the dense probe loop handles: strings and integers (stored as
 * themselves), none constant. */
static bool dense_keys(const struct sl_hagg *h, const struct sl_vec *keys) {
  for (int32_t k = 0; k < h->n_keys; k++) {
    const struct sl_vec *v = &keys[k];
    if (v->constant || v->type != h->keys[k].type ||
        !(v->type == SL_VT_STR || sl__vt_is_i64(v->type)))
      return false;
  }
  return true;
}

/* Whether group g holds row r's key, for the probe loops below: one
 * non-null fixed-width key, one string key (NULL matches NULL), several
 * string / integer keys (see dense_keys). */
static inline bool eq_i64(const struct sl_hagg *h, const struct sl_vec *keys,
                          int64_t r, int64_t g) {
  return h->keys[0].valid[g] && h->keys[0].v[g] == keys[0].d.i[r];
}

static inline bool eq_str(const struct sl_hagg *h, const struct sl_vec *keys,
                          int64_t r, int64_t g) {
  const struct keycol *c = &h->keys[0];
  bool valid = !keys[0].valid || keys[0].valid[r];
  return valid ? c->valid[g] && sl__str_eq(c->s[g], keys[0].d.s[r])
               : !c->valid[g];
}

static inline bool eq_dense(const struct sl_hagg *h, const struct sl_vec *keys,
                            int64_t r, int64_t g) {
  const struct keycol *kc = h->keys;
  for (int32_t k = 0; k < h->n_keys; k++) {
    const struct sl_vec *v = &keys[k];
    bool vv = !v->valid || v->valid[r];
    if (vv != (kc[k].valid[g] != 0)) return false;
    if (vv && !(kc[k].type == SL_VT_STR ? sl__str_eq(kc[k].s[g], v->d.s[r])
                                        : kc[k].v[g] == v->d.i[r]))
      return false;
  }
  return true;
}

typedef bool (*row_eq_fn)(const struct sl_hagg *h, const struct sl_vec *keys,
                          int64_t r, int64_t g);

/* Group ids of n rows whose hashes are hs: slots are probed inline (their
 * upper 32 bits hold a tag of the hash, so most mismatches never touch the
 * keys) and a row without a group goes to lookup(), which adds it. Always
 * inlined with a constant eq, so each caller is its own loop with the
 * compare inline. Big tables miss the cache on every probe: slots are
 * asked for 16 rows ahead. */
__attribute__((always_inline)) static inline int
probe_rows(struct sl_hagg *h, const struct sl_vec *keys, int64_t n,
           const uint64_t *hs, uint32_t *gid, row_eq_fn eq) {
  for (int64_t r = 0; r < n; r++) {
    if (r + 16 < n)
      __builtin_prefetch(&h->slots[hs[r + 16] & ((uint64_t)h->n_slots - 1)]);
    /* lookup() may rehash: the mask is read for every row */
    uint64_t hv = hs[r], mask = (uint64_t)h->n_slots - 1, pos = hv & mask;
    uint64_t tag = hv >> 32;
    int64_t g = -1;
    for (;;) {
      uint64_t s = h->slots[pos];
      if (!s) break;
      if ((s >> 32) == tag && eq(h, keys, r, (int64_t)(uint32_t)s - 1)) {
        g = (int64_t)(uint32_t)s - 1;
        break;
      }
      pos = (pos + 1) & mask;
    }
    if (g < 0) SL_RETURN_NOT_OK(lookup(h, hv, keys, r, NULL, 0, &g));
    gid[r] = (uint32_t)g;
  }
  return 0;
}

int sl__hagg_update(struct sl_hagg *h, const struct sl_vec *keys,
                    const struct sl_vec *args, int64_t n, int64_t seq_base,
                    const int32_t *sel, struct sl_arena *scratch,
                    struct sl_error *err) {
  if (n <= 0) return 0;
  uint32_t *gid = sl_arena_alloc(scratch, (size_t)n * sizeof *gid);
  if (!gid) return SL_ENOMEM;
  if (h->n_keys == 0) {
    memset(gid, 0, (size_t)n * sizeof *gid);
    if (h->cap == 0) SL_RETURN_NOT_OK(grow_groups(h, 1));
  } else {
    bool done = false;
    if (h->direct && !keys[0].constant)
      SL_RETURN_NOT_OK(direct_update(h, &keys[0], n, gid, &done));
    else if (h->direct)
      SL_RETURN_NOT_OK(leave_direct(h));
    if (done) goto states;
    uint64_t *hs = sl_arena_alloc(scratch, (size_t)n * sizeof *hs);
    if (!hs) return SL_ENOMEM;
    hash_rows(h, keys, n, hs);
    /* Single fixed-width non-null key, single string key, several string /
     * integer keys: each gets its own loop, the key compare inline. */
    const struct sl_vec *k0 = &keys[0];
    if (h->n_keys == 1 && k0->type != SL_VT_STR && !k0->constant &&
        !k0->valid && k0->type != SL_VT_F64 && k0->type != SL_VT_BOOL) {
      SL_RETURN_NOT_OK(probe_rows(h, keys, n, hs, gid, eq_i64));
    } else if (h->n_keys == 1 && k0->type == SL_VT_STR && !k0->constant) {
      SL_RETURN_NOT_OK(probe_rows(h, keys, n, hs, gid, eq_str));
    } else if (dense_keys(h, keys)) {
      SL_RETURN_NOT_OK(probe_rows(h, keys, n, hs, gid, eq_dense));
    } else {
      for (int64_t r = 0; r < n; r++) {
        int64_t g;
        if (r + 16 < n)
          __builtin_prefetch(
              &h->slots[hs[r + 16] & ((uint64_t)h->n_slots - 1)]);
        SL_RETURN_NOT_OK(lookup(h, hs[r], keys, r, NULL, 0, &g));
        gid[r] = (uint32_t)g;
      }
    }
  }
states:
  for (int32_t a = 0; a < h->n_aggs; a++)
    SL_RETURN_NOT_OK(sl__agg_state_update(h->states[a], gid, slots_of(h), args,
                                          n, seq_base, sel, &h->strings, err));
  return 0;
}

int sl__hagg_merge_keys(struct sl_hagg *dst, struct sl_hagg *src,
                        uint32_t **map_out, int64_t *n_map) {
  *map_out = NULL;
  *n_map = 0;
  /* two identity tables merge slot by slot; else both leave that mode */
  if (dst->ident && src->ident)
    SL_RETURN_NOT_OK(ident_cover(
        dst, src->d_lo,
        (int64_t)((uint64_t)src->d_lo + (uint64_t)(src->d_span - 1)), false));
  if (src->ident && !dst->ident) SL_RETURN_NOT_OK(ident_leave(src));
  if (dst->ident && !src->ident) SL_RETURN_NOT_OK(ident_leave(dst));
  for (int32_t a = 0; a < dst->n_aggs; a++)
    SL_RETURN_NOT_OK(
        sl__agg_state_merge_prepare(dst->states[a], src->states[a]));
  int64_t ng = slots_of(src);
  uint32_t *map = sl_malloc((size_t)(ng ? ng : 1) * sizeof *map);
  if (!map) return SL_ENOMEM;
  *map_out = map;
  *n_map = ng;
  if (dst->ident) {
    uint64_t off = (uint64_t)src->d_lo - (uint64_t)dst->d_lo;
    const uint8_t *sp = src->present;
    uint8_t *dp = dst->present;
    int64_t added = 0;
    for (int64_t g = 0; g < ng; g++) {
      uint32_t t = g ? (uint32_t)((uint64_t)g + off) : 0;
      map[g] = t;
      added += sp[g] & !dp[t];
      dp[t] |= sp[g];
    }
    dst->n_groups += added;
    return 0;
  }
  if (dst->n_keys == 0) {
    map[0] = 0;
    if (dst->cap == 0) SL_RETURN_NOT_OK(grow_groups(dst, 1));
    return 0;
  }
  if (dst->direct) { /* cover src's keys, or leave direct mode */
    const struct keycol *c = &src->keys[0];
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (int64_t g = 0; g < ng; g++)
      if (c->valid[g]) {
        mn = c->v[g] < mn ? c->v[g] : mn;
        mx = c->v[g] > mx ? c->v[g] : mx;
      }
    if (mn <= mx) SL_RETURN_NOT_OK(direct_cover(dst, mn, mx));
  }
  if (dst->direct) {
    const struct keycol *c = &src->keys[0];
    uint64_t lo = (uint64_t)dst->d_lo;
    for (int64_t g = 0; g < ng; g++) {
      /* a big direct table misses the cache on every key */
      if (g + 16 < ng && c->valid[g + 16])
        __builtin_prefetch(&dst->d_gid[(uint64_t)c->v[g + 16] - lo]);
      uint32_t *e =
          c->valid[g] ? &dst->d_gid[(uint64_t)c->v[g] - lo] : (uint32_t *)NULL;
      int64_t d = e ? (int64_t)*e - 1 : dst->d_null - 1;
      if (d < 0) {
        SL_RETURN_NOT_OK(new_group(dst, src->hashes[g], NULL, 0, src, g, &d));
        if (e)
          *e = (uint32_t)(d + 1);
        else
          dst->d_null = d + 1;
      }
      map[g] = (uint32_t)d;
    }
    return 0;
  }
  for (int64_t g = 0; g < ng; g++) {
    int64_t d;
    if (g + 16 < ng)
      __builtin_prefetch(
          &dst->slots[src->hashes[g + 16] & ((uint64_t)dst->n_slots - 1)]);
    SL_RETURN_NOT_OK(lookup(dst, src->hashes[g], NULL, 0, src, g, &d));
    map[g] = (uint32_t)d;
  }
  return 0;
}

int sl__hagg_merge_states(struct sl_hagg *dst, const struct sl_hagg *src,
                          const uint32_t *map, int64_t g0, int64_t g1,
                          struct sl_error *err) {
  for (int32_t a = 0; a < dst->n_aggs; a++)
    SL_RETURN_NOT_OK(sl__agg_state_merge(dst->states[a], src->states[a], map,
                                         g0, g1, &dst->strings, err));
  return 0;
}

bool sl__hagg_parallel_ok(const struct sl_hagg *h) {
  for (int32_t a = 0; a < h->n_aggs; a++)
    if (!sl__agg_state_merge_in_parallel(h->states[a])) return false;
  return true;
}

int sl__hagg_merge(struct sl_hagg *dst, struct sl_hagg *src,
                   struct sl_error *err) {
  if (src->n_keys == 0 && src->cap == 0) return 0; /* never saw a row */
  uint32_t *map = NULL;
  int64_t ng = 0;
  int rc = sl__hagg_merge_keys(dst, src, &map, &ng);
  if (!rc) rc = sl__hagg_merge_states(dst, src, map, 0, ng, err);
  sl_free(map);
  return rc;
}

int sl__hagg_finish_alloc(struct sl_hagg *h, struct sl_arena *a,
                          struct sl_vec *out) {
  int64_t ng = sl__hagg_groups(h);
  if (h->ident && !h->fin_at) {
    /* no packing: the rows are read from their slots, in key order */
    uint32_t *at = sl_malloc((size_t)(ng ? ng : 1) * sizeof *at);
    if (!at) return SL_ENOMEM;
    int64_t k = 0;
    for (int64_t g = 0; g <= h->d_span; g++)
      if (h->present[g]) at[k++] = (uint32_t)g;
    h->fin_at = at;
  }
  if (!h->ident && h->cap < ng) SL_RETURN_NOT_OK(grow_groups(h, ng));
  for (int32_t k = 0; k < h->n_keys + h->n_aggs; k++) {
    enum sl_vt t =
        k < h->n_keys ? h->keys[k].type : h->specs[k - h->n_keys].out_type;
    SL_RETURN_NOT_OK(sl__vec_alloc(a, t, ng, &out[k]));
    SL_RETURN_NOT_OK(sl__vec_add_valid(a, &out[k]));
  }
  return 0;
}

/* Keys of groups [g0, g1) into the same rows of out. */
static void finish_keys(const struct sl_hagg *h, int64_t g0, int64_t g1,
                        struct sl_vec *out) {
  int64_t n = g1 - g0;
  if (n <= 0) return;
  for (int32_t k = 0; k < h->n_keys; k++) {
    const struct keycol *c = &h->keys[k];
    struct sl_vec *v = &out[k];
    memcpy(v->valid + g0, c->valid + g0, (size_t)n);
    switch (c->type) {
    case SL_VT_STR:
      memcpy(v->d.s + g0, c->s + g0, (size_t)n * sizeof *c->s);
      break;
    case SL_VT_BOOL:
      for (int64_t g = g0; g < g1; g++)
        v->d.b[g] = (uint8_t)c->v[g];
      break;
    default: memcpy(v->d.i + g0, c->v + g0, (size_t)n * 8);
    }
  }
}

int sl__hagg_finish_range(struct sl_hagg *h, int64_t g0, int64_t g1,
                          struct sl_vec *out, struct sl_error *err) {
  const uint32_t *at = h->ident ? h->fin_at : NULL;
  if (at) { /* an identity table: the key is the slot's */
    struct sl_vec *v = &out[0];
    for (int64_t r = g0; r < g1; r++) {
      v->valid[r] = at[r] != 0;
      v->d.i[r] = at[r] ? (int64_t)((uint64_t)h->d_lo + at[r] - 1) : 0;
    }
  } else {
    finish_keys(h, g0, g1, out);
  }
  for (int32_t i = 0; i < h->n_aggs; i++)
    SL_RETURN_NOT_OK(sl__agg_state_finish_range(h->states[i], g0, g1, at,
                                                &out[h->n_keys + i], err));
  return 0;
}

int sl__hagg_finish(struct sl_hagg *h, struct sl_arena *a, struct sl_vec *out,
                    struct sl_error *err) {
  if (h->ident) SL_RETURN_NOT_OK(ident_leave(h));
  int64_t ng = sl__hagg_groups(h);
  if (h->cap < ng) SL_RETURN_NOT_OK(grow_groups(h, ng));
  for (int32_t k = 0; k < h->n_keys; k++) {
    SL_RETURN_NOT_OK(sl__vec_alloc(a, h->keys[k].type, ng, &out[k]));
    SL_RETURN_NOT_OK(sl__vec_add_valid(a, &out[k]));
  }
  finish_keys(h, 0, ng, out);
  for (int32_t i = 0; i < h->n_aggs; i++)
    SL_RETURN_NOT_OK(
        sl__agg_state_finish(h->states[i], ng, a, &out[h->n_keys + i], err));
  return 0;
}
