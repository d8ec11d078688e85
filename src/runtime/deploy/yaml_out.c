/* YAML and shell text for deploy: quoting that is right whatever the bytes.
 *
 * Kubernetes reads YAML with YAML 1.1 rules (go-yaml), where `on`, `yes`,
 * `n` and `~` are not strings. Every string sluice itself writes is
 * therefore double-quoted; a subtree copied from the spec keeps a plain
 * scalar plain only when it is made of harmless characters, so its type is
 * the one the author wrote. */
#include <string.h>

#include "runtime/deploy/deploy.h"

void sl__yqn(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\t': fputs("\\t", f); break;
    case '\r': fputs("\\r", f); break;
    default:
      if (c < 0x20 || c == 0x7f)
        fprintf(f, "\\x%02x", c);
      else
        fputc(c, f);
    }
  }
  fputc('"', f);
}

void sl__yq(FILE *f, const char *s) {
  sl__yqn(f, s ? s : "", s ? strlen(s) : 0);
}

/* Words YAML 1.1 reads as booleans or null when plain. */
static bool yaml11_special(const char *s) {
  static const char *const words[] = {
      "y",  "Y",    "yes",  "Yes",  "YES",   "n",     "N",     "no", "No",
      "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On",
      "ON", "off",  "Off",  "OFF",  "null",  "Null",  "NULL",  "~",  NULL};
  for (int i = 0; words[i]; i++)
    if (!strcmp(s, words[i])) return true;
  return false;
}

static bool plain_chars(const char *s, size_t n, const char *extra) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr(extra, c);
    if (!ok || c == 0) return false;
  }
  return true;
}

void sl__ykey(FILE *f, int indent, const char *key) {
  fprintf(f, "%*s", indent, "");
  size_t n = strlen(key);
  if (plain_chars(key, n, "_./-") && key[0] != '-' && key[0] != '.' &&
      !yaml11_special(key))
    fputs(key, f);
  else
    sl__yq(f, key);
  fputs(":", f);
}

static void scalar(FILE *f, const struct sl_ynode *n) {
  /* Plain scalars of harmless characters stay plain (numbers, booleans,
   * quantities, paths); anything else becomes a quoted string. */
  if (!n->quoted && plain_chars(n->str, n->len, "_./+~-") &&
      !(n->len == 1 && n->str[0] == '-'))
    fwrite(n->str, 1, n->len, f);
  else
    sl__yqn(f, n->str, n->len);
}

void sl__ynode_write(FILE *f, const struct sl_ynode *n, int indent) {
  switch (n->kind) {
  case SL_YNODE_SCALAR:
    fputc(' ', f);
    scalar(f, n);
    fputc('\n', f);
    return;
  case SL_YNODE_MAP:
    if (n->n == 0) {
      fputs(" {}\n", f);
      return;
    }
    fputc('\n', f);
    for (int32_t i = 0; i < n->n; i++) {
      sl__ykey(f, indent, n->keys[i]);
      sl__ynode_write(f, n->items[i], indent + 2);
    }
    return;
  case SL_YNODE_SEQ:
    if (n->n == 0) {
      fputs(" []\n", f);
      return;
    }
    fputc('\n', f);
    for (int32_t i = 0; i < n->n; i++) {
      const struct sl_ynode *it = n->items[i];
      fprintf(f, "%*s-", indent, "");
      if (it->kind == SL_YNODE_MAP && it->n > 0) {
        /* "- key: value" then the other keys aligned under the first. */
        for (int32_t k = 0; k < it->n; k++) {
          sl__ykey(f, k ? indent + 2 : 1, it->keys[k]);
          sl__ynode_write(f, it->items[k], indent + 4);
        }
      } else {
        sl__ynode_write(f, it, indent + 2);
      }
    }
    return;
  }
}

/* A literal block keeps the spec readable in `kubectl get cm -o yaml`; it
 * is used only when the text survives it byte for byte. */
static bool block_ok(const char *t, size_t n) {
  if (n == 0) return false;
  if (n >= 3 && (unsigned char)t[0] == 0xef && (unsigned char)t[1] == 0xbb &&
      (unsigned char)t[2] == 0xbf)
    return false;
  bool first_content = true;
  size_t ls = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && t[i] != '\n') {
      unsigned char c = (unsigned char)t[i];
      if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
      continue;
    }
    size_t len = i - ls;
    if (len > 0) {
      bool blank = true;
      for (size_t k = ls; k < i; k++)
        if (t[k] != ' ' && t[k] != '\t') blank = false;
      if (blank) return false;
      if (first_content && (t[ls] == ' ' || t[ls] == '\t')) return false;
      first_content = false;
    }
    ls = i + 1;
  }
  return true;
}

void sl__yblock(FILE *f, const char *t, size_t n, int indent) {
  if (!block_ok(t, n)) {
    fputc(' ', f);
    sl__yqn(f, t, n);
    fputc('\n', f);
    return;
  }
  const char *chomp = "";
  if (t[n - 1] != '\n')
    chomp = "-";
  else if (n >= 2 && t[n - 2] == '\n')
    chomp = "+";
  fprintf(f, " |%s\n", chomp);
  size_t ls = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && t[i] != '\n') continue;
    if (i == n && ls == n) break; /* the text ended with '\n' */
    if (i > ls) fprintf(f, "%*s", indent, "");
    fwrite(t + ls, 1, i - ls, f);
    fputc('\n', f);
    ls = i + 1;
  }
}

void sl__shell_word(FILE *f, const char *s) {
  size_t n = strlen(s);
  if (plain_chars(s, n, "_@%+=:,./-")) {
    fputs(s, f);
    return;
  }
  fputc('\'', f);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\'')
      fputs("'\\''", f);
    else
      fputc(s[i], f);
  }
  fputc('\'', f);
}
