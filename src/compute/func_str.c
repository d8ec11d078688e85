/* String kernels: concat, case mapping, length/substr (code points),
 * starts_with/ends_with/contains, replace, trim, and LIKE / ILIKE with
 * fast paths for the common constant patterns ('abc%', '%abc', '%abc%'). */
#include <ctype.h>
#include <string.h>

#include "compute/expr.h"
#include "sluice/alloc.h"

#define AT(v, r) ((v)->constant ? 0 : (r))

/* Validity of a row-wise function of all args: valid where every arg is. */
static int valid_all(struct sl_arena *ar, struct sl_vec *args, int32_t k,
                     int64_t n, uint8_t **out) {
  *out = NULL;
  for (int32_t j = 0; j < k; j++) {
    if (args[j].constant || !args[j].valid) continue;
    if (!*out) {
      *out = sl_arena_alloc(ar, (size_t)(n ? n : 1));
      if (!*out) return SL_ENOMEM;
      memcpy(*out, args[j].valid, (size_t)n);
    } else {
      for (int64_t r = 0; r < n; r++)
        (*out)[r] &= args[j].valid[r];
    }
  }
  return 0;
}

static bool is_ascii(struct sl_str s) {
  for (int64_t i = 0; i < s.n; i++)
    if ((unsigned char)s.p[i] >= 0x80) return false;
  return true;
}

static int64_t utf8_len(struct sl_str s) {
  int64_t k = 0;
  for (int64_t i = 0; i < s.n; i++)
    k += ((unsigned char)s.p[i] & 0xC0) != 0x80;
  return k;
}

/* Byte offset of code point `cp` (clamped to the end). */
static int64_t utf8_offset(struct sl_str s, int64_t cp) {
  int64_t i = 0, k = 0;
  while (i < s.n) {
    if (((unsigned char)s.p[i] & 0xC0) != 0x80) {
      if (k == cp) return i;
      k++;
    }
    i++;
  }
  return s.n;
}

static struct sl_str substr(struct sl_str s, int64_t start, bool has_len,
                            int64_t len) {
  /* positions beyond any string: clamp before arithmetic */
  const int64_t lim = INT64_C(1) << 40;
  if (start > lim) start = lim;
  if (start < -lim) start = -lim;
  if (len > lim) len = lim;
  if (len < -lim) len = -lim;
  bool ascii = is_ascii(s);
  int64_t total = ascii ? s.n : utf8_len(s);
  int64_t b = start > 0 ? start - 1 : start == 0 ? -1 : total + start;
  int64_t e = has_len ? (len < 0 ? b : b + len) : total;
  if (b < 0) b = 0;
  if (e > total) e = total;
  if (e <= b) return (struct sl_str){s.p, 0};
  int64_t bo = ascii ? b : utf8_offset(s, b),
          eo = ascii ? e : utf8_offset(s, e);
  return (struct sl_str){s.p + bo, eo - bo};
}

static const char *find(struct sl_str h, struct sl_str nd) {
  if (nd.n == 0) return h.p;
  if (nd.n > h.n) return NULL;
  return memmem(h.p, (size_t)h.n, nd.p, (size_t)nd.n);
}

static bool trim_char(char c) {
  return c == ' ';
}

int sl__eval_string_fn(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                       struct sl_arena *ar, struct sl_vec *out,
                       struct sl_error *err) {
  (void)err;
  int rc = sl__vec_alloc(ar, e->type, n, out);
  if (rc) return rc;
  if (e->op != SL_X_CONCAT) {
    rc = valid_all(ar, args, e->n_args, n, &out->valid);
    if (rc) return rc;
  }
  struct sl_vec *a = &args[0];
  switch (e->op) {
  case SL_X_CONCAT_OP:
  case SL_X_CONCAT: {
    for (int64_t r = 0; r < n; r++) {
      int64_t total = 0;
      for (int32_t j = 0; j < e->n_args; j++) {
        int64_t i = AT(&args[j], r);
        if (sl__vec_valid(&args[j], i)) total += args[j].d.s[i].n;
      }
      char *p = sl_arena_alloc(ar, (size_t)(total ? total : 1));
      if (!p) return SL_ENOMEM;
      int64_t at = 0;
      for (int32_t j = 0; j < e->n_args; j++) {
        int64_t i = AT(&args[j], r);
        if (!sl__vec_valid(&args[j], i)) continue;
        struct sl_str s = args[j].d.s[i];
        if (s.n) memcpy(p + at, s.p, (size_t)s.n);
        at += s.n;
      }
      out->d.s[r] = (struct sl_str){p, total};
    }
    return 0;
  }
  case SL_X_LOWER:
  case SL_X_UPPER: {
    bool up = e->op == SL_X_UPPER;
    for (int64_t r = 0; r < n; r++) {
      struct sl_str s = a->d.s[AT(a, r)];
      char *p = sl_arena_alloc(ar, (size_t)(s.n ? s.n : 1));
      if (!p) return SL_ENOMEM;
      for (int64_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        p[i] = (char)(c < 0x80 ? (up ? toupper(c) : tolower(c)) : c);
      }
      out->d.s[r] = (struct sl_str){p, s.n};
    }
    return 0;
  }
  case SL_X_LENGTH:
    for (int64_t r = 0; r < n; r++)
      out->d.i[r] = utf8_len(a->d.s[AT(a, r)]);
    return 0;
  case SL_X_SUBSTR: {
    bool has_len = e->n_args > 2;
    for (int64_t r = 0; r < n; r++) {
      int64_t st = args[1].d.i[AT(&args[1], r)];
      int64_t ln = has_len ? args[2].d.i[AT(&args[2], r)] : 0;
      out->d.s[r] = substr(a->d.s[AT(a, r)], st, has_len, ln);
    }
    return 0;
  }
  case SL_X_STARTS_WITH:
  case SL_X_ENDS_WITH:
  case SL_X_CONTAINS: {
    struct sl_vec *b = &args[1];
    for (int64_t r = 0; r < n; r++) {
      struct sl_str s = a->d.s[AT(a, r)], t = b->d.s[AT(b, r)];
      bool v;
      if (e->op == SL_X_CONTAINS)
        v = find(s, t) != NULL;
      else if (t.n > s.n)
        v = false;
      else if (e->op == SL_X_STARTS_WITH)
        v = t.n == 0 || memcmp(s.p, t.p, (size_t)t.n) == 0;
      else
        v = t.n == 0 || memcmp(s.p + s.n - t.n, t.p, (size_t)t.n) == 0;
      out->d.b[r] = v;
    }
    return 0;
  }
  case SL_X_REPLACE: {
    for (int64_t r = 0; r < n; r++) {
      struct sl_str s = a->d.s[AT(a, r)];
      struct sl_str f = args[1].d.s[AT(&args[1], r)];
      struct sl_str t = args[2].d.s[AT(&args[2], r)];
      if (f.n == 0 || s.n == 0) {
        out->d.s[r] = s;
        continue;
      }
      int64_t count = 0;
      for (const char *q = s.p;
           (q = find((struct sl_str){q, s.p + s.n - q}, f)); q += f.n)
        count++;
      int64_t total = s.n + count * (t.n - f.n);
      char *p = sl_arena_alloc(ar, (size_t)(total > 0 ? total : 1));
      if (!p) return SL_ENOMEM;
      int64_t at = 0;
      const char *q = s.p, *end = s.p + s.n;
      for (;;) {
        const char *hit = find((struct sl_str){q, end - q}, f);
        int64_t upto = (hit ? hit : end) - q;
        memcpy(p + at, q, (size_t)upto);
        at += upto;
        if (!hit) break;
        if (t.n) memcpy(p + at, t.p, (size_t)t.n);
        at += t.n;
        q = hit + f.n;
      }
      out->d.s[r] = (struct sl_str){p, at};
    }
    return 0;
  }
  case SL_X_TRIM:
  case SL_X_LTRIM:
  case SL_X_RTRIM:
    for (int64_t r = 0; r < n; r++) {
      struct sl_str s = a->d.s[AT(a, r)];
      if (e->op != SL_X_RTRIM)
        while (s.n && trim_char(s.p[0]))
          s.p++, s.n--;
      if (e->op != SL_X_LTRIM)
        while (s.n && trim_char(s.p[s.n - 1]))
          s.n--;
      out->d.s[r] = s;
    }
    return 0;
  default: return SL_EINVAL;
  }
}

/* ---- LIKE ---------------------------------------------------------------- */

static int fold(int c, bool ci) {
  return ci && c < 0x80 ? tolower(c) : c;
}

/* Generic matcher: '%' any run, '_' one code point. Iterative with one
 * backtrack point, linear for patterns with a single '%'. */
static bool like_match(const char *s, int64_t sn, const char *p, int64_t pn,
                       bool ci) {
  int64_t si = 0, pi = 0, star_p = -1, star_s = 0;
  while (si < sn) {
    if (pi < pn && p[pi] == '%') {
      star_p = ++pi;
      star_s = si;
      continue;
    }
    if (pi < pn && p[pi] == '_') {
      si++;
      while (si < sn && ((unsigned char)s[si] & 0xC0) == 0x80)
        si++;
      pi++;
      continue;
    }
    if (pi < pn &&
        fold((unsigned char)p[pi], ci) == fold((unsigned char)s[si], ci)) {
      si++;
      pi++;
      continue;
    }
    if (star_p < 0) return false;
    pi = star_p;
    si = ++star_s;
  }
  while (pi < pn && p[pi] == '%')
    pi++;
  return pi == pn;
}

enum like_kind { LK_GENERIC, LK_EXACT, LK_PREFIX, LK_SUFFIX, LK_INFIX };

static enum like_kind classify(struct sl_str p, struct sl_str *core) {
  int64_t b = 0, e = p.n;
  bool lead = p.n && p.p[0] == '%', trail = p.n > 1 && p.p[p.n - 1] == '%';
  if (lead) b = 1;
  if (trail) e = p.n - 1;
  for (int64_t i = b; i < e; i++)
    if (p.p[i] == '%' || p.p[i] == '_') return LK_GENERIC;
  if (p.n == 1 && lead) trail = false, e = 1;
  *core = (struct sl_str){p.p + b, e - b};
  if (lead && trail) return LK_INFIX;
  if (lead) return LK_SUFFIX;
  if (trail) return LK_PREFIX;
  return LK_EXACT;
}

int sl__eval_like(const struct sl_expr *e, struct sl_vec *args, int64_t n,
                  struct sl_arena *ar, struct sl_vec *out) {
  int rc = sl__vec_alloc(ar, SL_VT_BOOL, n, out);
  if (rc) return rc;
  rc = valid_all(ar, args, 2, n, &out->valid);
  if (rc) return rc;
  struct sl_vec *a = &args[0], *p = &args[1];
  bool ci = e->part == 1;
  uint8_t neg = e->negate;
  if (p->constant && !ci) {
    struct sl_str core;
    enum like_kind k = classify(p->d.s[0], &core);
    if (k != LK_GENERIC) {
      for (int64_t r = 0; r < n; r++) {
        struct sl_str s = a->d.s[AT(a, r)];
        bool v;
        switch (k) {
        case LK_EXACT:
          v = s.n == core.n &&
              (!core.n || !memcmp(s.p, core.p, (size_t)core.n));
          break;
        case LK_PREFIX:
          v = s.n >= core.n &&
              (!core.n || !memcmp(s.p, core.p, (size_t)core.n));
          break;
        case LK_SUFFIX:
          v = s.n >= core.n &&
              (!core.n || !memcmp(s.p + s.n - core.n, core.p, (size_t)core.n));
          break;
        default: v = find(s, core) != NULL; break;
        }
        out->d.b[r] = (uint8_t)v ^ neg;
      }
      return 0;
    }
  }
  for (int64_t r = 0; r < n; r++) {
    struct sl_str s = a->d.s[AT(a, r)], q = p->d.s[AT(p, r)];
    out->d.b[r] = (uint8_t)like_match(s.p, s.n, q.p, q.n, ci) ^ neg;
  }
  return 0;
}
