/* The pod's copy of the spec: the same text, with loopback listen addresses
 * (the http triggers' and the admin server's `host`, which default to
 * 127.0.0.1 for `sluice run` on a laptop) turned into 0.0.0.0, so that the
 * Service, the kubelet's probes and Prometheus can reach the pod.
 *
 * The text is edited in place, at the positions the YAML tree recorded, so
 * comments, order and every other byte stay as the author wrote them: a
 * scalar is replaced; a missing key is inserted before the first key of its
 * map, as a new line (block style) or as `key: value, ` (flow style). An
 * edit that cannot be made safely (a host built from ${VAR}, a map on a
 * "- " line) is skipped, and the plan then reports that host as an error.
 * The caller re-loads the edited text through the strict spec loader. */
#include <stdlib.h>
#include <string.h>

#include "runtime/deploy/deploy.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"

#define MAX_EDITS 24

struct edit {
  size_t off, del;
  char ins[160];
  int line;
};

struct edits {
  const char *t;
  size_t len;
  struct edit e[MAX_EDITS];
  int n;
};

/* Byte offset of 1-based line:column (libyaml counts characters). */
static size_t offset_of(const char *t, size_t len, int line, int col) {
  size_t i = 0;
  for (int l = 1; l < line; l++) {
    const char *nl = memchr(t + i, '\n', len - i);
    if (!nl) return SIZE_MAX;
    i = (size_t)(nl - t) + 1;
  }
  for (int c = 1; c < col; c++) {
    if (i >= len || t[i] == '\n') return SIZE_MAX;
    i++;
    while (i < len && ((unsigned char)t[i] & 0xc0) == 0x80)
      i++;
  }
  return i;
}

static bool add(struct edits *E, size_t off, size_t del, const char *ins,
                int line) {
  if (E->n >= MAX_EDITS || off > E->len || del > E->len - off) return false;
  struct edit *e = &E->e[E->n++];
  e->off = off;
  e->del = del;
  e->line = line;
  snprintf(e->ins, sizeof e->ins, "%s", ins);
  return true;
}

static bool replace_scalar(struct edits *E, const struct sl_ynode *n) {
  size_t off = offset_of(E->t, E->len, n->line, n->col);
  if (off == SIZE_MAX || off >= E->len) return false;
  const char *t = E->t;
  size_t end;
  if (t[off] == '"' || t[off] == '\'') {
    char q = t[off];
    end = off + 1;
    for (; end < E->len; end++) {
      if (q == '"' && t[end] == '\\') {
        end++;
        continue;
      }
      if (t[end] == q) {
        if (q == '\'' && end + 1 < E->len && t[end + 1] == '\'') {
          end++;
          continue;
        }
        break;
      }
      if (t[end] == '\n') return false;
    }
    if (end >= E->len) return false;
    end++;
  } else {
    /* Plain: the source must be the value itself (not ${VAR}). */
    if (n->len == 0 || n->len > E->len - off || memcmp(t + off, n->str, n->len))
      return false;
    end = off + n->len;
  }
  /* A value from ${VAR} is the author's indirection: not ours to change. */
  for (size_t i = off; i + 1 < end; i++)
    if (t[i] == '$' && t[i + 1] == '{') return false;
  return add(E, off, end - off, "0.0.0.0", n->line);
}

/* Inserts `kv` ("host: 0.0.0.0") as the first entry of map m. */
static bool insert_key(struct edits *E, const struct sl_ynode *m,
                       const char *kv) {
  if (!m || m->kind != SL_YNODE_MAP) return false;
  const char *t = E->t;
  char buf[160];
  if (m->n == 0) { /* only a flow map can be empty: "{}" */
    size_t off = offset_of(t, E->len, m->line, m->col);
    if (off == SIZE_MAX || off >= E->len || t[off] != '{') return false;
    return add(E, off + 1, 0, kv, m->line);
  }
  size_t off = offset_of(t, E->len, m->key_lines[0], m->key_cols[0]);
  if (off == SIZE_MAX) return false;
  size_t ls = off;
  while (ls > 0 && t[ls - 1] != '\n')
    ls--;
  size_t k = off;
  while (k > ls && (t[k - 1] == ' ' || t[k - 1] == '\t'))
    k--;
  if (k > ls && (t[k - 1] == '{' || t[k - 1] == ',')) {
    snprintf(buf, sizeof buf, "%s, ", kv);
    return add(E, off, 0, buf, m->key_lines[0]);
  }
  if (k != ls) return false; /* "- key:" or another shape: leave it */
  for (size_t i = ls; i < off; i++)
    if (t[i] != ' ') return false;
  int indent = (int)(off - ls);
  snprintf(buf, sizeof buf, "%*s%s\n", indent, "", kv);
  return add(E, ls, 0, buf, m->key_lines[0]);
}

static bool loopback(const char *host) {
  return !host || !strncmp(host, "127.", 4) || !strcmp(host, "localhost");
}

/* host in `parent` (a trigger's attributes or spec.admin), where `holder`
 * is the map that holds parent under `section`. */
static void fix_host(struct edits *E, const struct sl_ynode *holder,
                     const char *section, const char *typed_host) {
  if (!loopback(typed_host)) return;
  const struct sl_ynode *parent = holder && holder->kind == SL_YNODE_MAP
                                      ? sl__ynode_get(holder, section)
                                      : NULL;
  const struct sl_ynode *h = parent && parent->kind == SL_YNODE_MAP
                                 ? sl__ynode_get(parent, "host")
                                 : NULL;
  if (h) {
    if (h->kind == SL_YNODE_SCALAR) replace_scalar(E, h);
    return;
  }
  if (parent) {
    insert_key(E, parent, "host: 0.0.0.0");
    return;
  }
  char kv[96];
  snprintf(kv, sizeof kv, "%s: {host: 0.0.0.0}", section);
  insert_key(E, holder, kv);
}

static const char *attr_host(const struct sl_spec_trigger *t) {
  for (const struct sl_cfg_entry *e = t->vt->config; e && e->key; e++)
    if (!strcmp(e->key, "host") && e->type == SL_CFG_STRING)
      return *(char *const *)((const char *)t->attrs + e->offset);
  return NULL;
}

static int by_offset_desc(const void *a, const void *b) {
  const struct edit *x = a, *y = b;
  return x->off < y->off ? 1 : x->off > y->off ? -1 : 0;
}

int sl__deploy_pod_text(const struct sl_spec *s, const struct sl_ynode *root,
                        const char *text, size_t len, char **out,
                        size_t *out_len, char *lines, size_t lines_cap) {
  *out = NULL;
  *out_len = 0;
  if (lines_cap) lines[0] = 0;
  struct edits *E = sl_calloc(1, sizeof *E);
  if (!E) return SL_ENOMEM;
  E->t = text;
  E->len = len;
  const struct sl_ynode *sp = sl__ynode_get(root, "spec");
  const struct sl_ynode *trs =
      sp && sp->kind == SL_YNODE_MAP ? sl__ynode_get(sp, "triggers") : NULL;
  bool have_http = false;
  for (int32_t i = 0; i < s->n_triggers; i++) {
    const struct sl_spec_trigger *t = &s->triggers[i];
    if (strcmp(t->kind, "http")) continue;
    have_http = true;
    const struct sl_ynode *tn =
        trs && trs->kind == SL_YNODE_MAP ? sl__ynode_get(trs, t->name) : NULL;
    if (tn) fix_host(E, tn, "attributes", attr_host(t));
  }
  if (!have_http || s->admin.port != 0)
    if (sp) fix_host(E, sp, "admin", s->admin.host);
  if (E->n == 0) {
    sl_free(E);
    return 0;
  }
  qsort(E->e, (size_t)E->n, sizeof E->e[0], by_offset_desc);
  size_t grow = 0;
  for (int i = 0; i < E->n; i++)
    grow += strlen(E->e[i].ins);
  char *r = sl_malloc(len + grow + 1);
  if (!r) {
    sl_free(E);
    return SL_ENOMEM;
  }
  memcpy(r, text, len);
  size_t n = len;
  for (int i = 0; i < E->n; i++) { /* from the end: offsets stay valid */
    const struct edit *e = &E->e[i];
    size_t il = strlen(e->ins);
    memmove(r + e->off + il, r + e->off + e->del, n - e->off - e->del);
    memcpy(r + e->off, e->ins, il);
    n = n - e->del + il;
  }
  size_t k = 0;
  for (int i = E->n - 1; i >= 0 && k < lines_cap; i--)
    k += (size_t)snprintf(lines + k, lines_cap - k, "%s%d",
                          i == E->n - 1 ? "" : ", ", E->e[i].line);
  r[n] = 0;
  *out = r;
  *out_len = n;
  sl_free(E);
  return 0;
}
