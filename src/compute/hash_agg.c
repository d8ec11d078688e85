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
 * come; past DIRECT_MAX_SPAN the table turns into the hash table above. */
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
};

/* 4M keys: a 16 MiB table at most, of which only touched pages are
 * resident. */
#define DIRECT_MAX_SPAN (INT64_C(1) << 22)

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
  sl_arena_release(&h->strings);
  sl_free(h);
}

int64_t sl__hagg_groups(const struct sl_hagg *h) {
  return h->n_keys == 0 ? 1 : h->n_groups;
}

int64_t sl__hagg_bytes(const struct sl_hagg *h) {
  int64_t b = h->n_slots * 8 + h->cap * 8 + (int64_t)h->strings.used_bytes +
              h->d_span * 4;
  b += h->cap * h->n_keys * 17;
  for (int32_t a = 0; a < h->n_aggs; a++)
    b += sl__agg_state_bytes(h->states[a]);
  return b;
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
  uint64_t *s = sl_calloc((size_t)ns, sizeof *s);
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

/* Leaves direct mode: the groups go into the hash table. */
static int leave_direct(struct sl_hagg *h) {
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
  uint32_t *t = sl_calloc((size_t)nspan, sizeof *t);
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
  if (mn <= mx) {
    SL_RETURN_NOT_OK(direct_cover(h, mn, mx));
    if (!h->direct) return 0;
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
    SL_RETURN_NOT_OK(sl__agg_state_update(h->states[a], gid, sl__hagg_groups(h),
                                          args, n, seq_base, sel, &h->strings,
                                          err));
  return 0;
}

int sl__hagg_merge_keys(struct sl_hagg *dst, const struct sl_hagg *src,
                        uint32_t *map) {
  int64_t ng = sl__hagg_groups(src);
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

int sl__hagg_merge(struct sl_hagg *dst, const struct sl_hagg *src,
                   struct sl_error *err) {
  int64_t ng = sl__hagg_groups(src);
  if (src->n_keys == 0 && src->cap == 0) return 0; /* never saw a row */
  uint32_t *map = sl_malloc((size_t)(ng ? ng : 1) * sizeof *map);
  if (!map) return SL_ENOMEM;
  int rc = sl__hagg_merge_keys(dst, src, map);
  if (!rc) rc = sl__hagg_merge_states(dst, src, map, 0, ng, err);
  sl_free(map);
  return rc;
}

int sl__hagg_finish_alloc(struct sl_hagg *h, struct sl_arena *a,
                          struct sl_vec *out) {
  int64_t ng = sl__hagg_groups(h);
  if (h->cap < ng) SL_RETURN_NOT_OK(grow_groups(h, ng));
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
  finish_keys(h, g0, g1, out);
  for (int32_t i = 0; i < h->n_aggs; i++)
    SL_RETURN_NOT_OK(sl__agg_state_finish_range(h->states[i], g0, g1,
                                                &out[h->n_keys + i], err));
  return 0;
}

int sl__hagg_finish(struct sl_hagg *h, struct sl_arena *a, struct sl_vec *out,
                    struct sl_error *err) {
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
