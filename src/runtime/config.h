/* sluice runtime: typed config tables.
 *
 * Each trigger, sink and spec section describes its keys once, in a const
 * table (key, type, default, range, doc, where the value goes). The same
 * table drives parsing, validation, defaults and the generated reference in
 * docs/function-spec.md (`sluice check --describe`). */
#ifndef SLUICE_RUNTIME_CONFIG_H
#define SLUICE_RUNTIME_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/yaml_tree.h"
#include "sluice/error.h"

enum sl_cfg_type {
  SL_CFG_INT,      /* int64_t */
  SL_CFG_BOOL,     /* bool: true/false */
  SL_CFG_STRING,   /* char * (owned) */
  SL_CFG_ENUM,     /* char * (owned), one of `choices` ("a|b|c") */
  SL_CFG_DURATION, /* int64_t milliseconds: 500ms, 10s, 5m, 1h, bare = ms */
  SL_CFG_SIZE,     /* int64_t bytes: 512, 64KiB, 8MiB, 1GiB, 10MB */
  SL_CFG_STRLIST,  /* struct sl_strlist: a list of strings */
  SL_CFG_STRMAP,   /* struct sl_strmap: a map of string to string */
  SL_CFG_IGNORE,   /* accepted for Nuclio compatibility, not used */
  SL_CFG_SECTION,  /* a nested map or list parsed by the caller's code */
};

struct sl_strlist {
  int32_t n;
  char **v;
};

struct sl_strmap {
  int32_t n;
  char **keys;
  char **values;
};

struct sl_cfg_entry {
  const char *key;
  enum sl_cfg_type type;
  const char *def;     /* default as text; NULL = none (unset: 0/false/NULL) */
  int64_t min, max;    /* for INT, DURATION, SIZE (min == max == 0: no range) */
  const char *choices; /* ENUM: "a|b|c" */
  size_t offset;       /* where the value goes in the target struct */
  const char *doc;
  bool required;
};

/* Applies defaults of every entry to `out`, then sets the keys found in
 * `map` (a YAML map node; NULL = only defaults). Unknown keys, wrong types
 * and out-of-range values fail with "file:line:col: path.key: expected ...,
 * found '...'". `path` is the dotted location of the map in the spec. */
int sl__cfg_apply(const struct sl_cfg_entry *table, const struct sl_ynode *map,
                  const char *file, const char *path, void *out,
                  struct sl_error *err);
/* Frees what sl__cfg_apply allocated in `out`. */
void sl__cfg_release(const struct sl_cfg_entry *table, void *out);

/* Parsers shared with other spec code; `what` is used in messages. */
int sl__cfg_parse_duration(const char *s, int64_t *ms);
int sl__cfg_parse_size(const char *s, int64_t *bytes);

/* An error at a node: "file:line:col: path: expected <exp>, found '<text>'". */
int sl__cfg_error_at(struct sl_error *err, const char *file,
                     const struct sl_ynode *n, const char *path,
                     const char *expected);

/* Writes one markdown table describing the entries. */
void sl__cfg_describe(const struct sl_cfg_entry *table, FILE *f);

void sl__strlist_release(struct sl_strlist *l);
void sl__strmap_release(struct sl_strmap *m);

#endif
