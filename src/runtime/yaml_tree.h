/* sluice runtime: a YAML document as a tree that remembers where every node
 * came from (line:column), so spec errors can point at the offending text. */
#ifndef SLUICE_RUNTIME_YAML_TREE_H
#define SLUICE_RUNTIME_YAML_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/error.h"

enum sl_ynode_kind { SL_YNODE_SCALAR, SL_YNODE_MAP, SL_YNODE_SEQ };

struct sl_ynode {
  enum sl_ynode_kind kind;
  int line, col; /* 1-based position of the node's first character */
  char *str;     /* scalar: the text, after ${ENV} substitution */
  size_t len;    /* scalar: bytes in str */
  int quoted;    /* scalar: written with quotes (so never null/bool) */
  int32_t n;     /* map: pairs; seq: items */
  char **keys;   /* map: key texts */
  int *key_lines, *key_cols;
  struct sl_ynode **items; /* map: values; seq: items */
};

/* Parses a whole YAML document (one document; anchors and aliases are
 * rejected). `${NAME}` and `${NAME:-default}` in scalars are replaced from the
 * process environment (`$${` keeps a literal `${`); an unset variable without
 * a default is an error at its position. `file` names the source in errors.
 * An empty document gives an empty map. Free with sl__ynode_free. */
int sl__yaml_parse(const char *text, size_t len, const char *file,
                   struct sl_ynode **out, struct sl_error *err);
void sl__ynode_free(struct sl_ynode *n);
/* The value of key in a map node, or NULL. */
const struct sl_ynode *sl__ynode_get(const struct sl_ynode *map,
                                     const char *key);

#endif
