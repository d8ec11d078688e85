/* SQL lexer: identifiers (keywords are identifiers the parser recognises),
 * "quoted identifiers", 'strings' with '' escapes, numbers, operators and
 * comments. Every token carries its line:column for error messages. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sql/sql_internal.h"

int sl__sql_error_at(struct sl_error *err, int code, int32_t line, int32_t col,
                     const char *fmt, ...) {
  char msg[SL_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return sl_error_set(err, code, "%d:%d: %s", line, col, msg);
}

struct lexer {
  const char *s;
  int32_t i, line, col;
};

static void advance(struct lexer *L, int32_t k) {
  for (int32_t j = 0; j < k && L->s[L->i]; j++) {
    if (L->s[L->i] == '\n') {
      L->line++;
      L->col = 1;
    } else if (((unsigned char)L->s[L->i] & 0xC0) != 0x80) {
      L->col++;
    }
    L->i++;
  }
}

int sl__sql_lex(const char *sql, struct sl_arena *a, struct sl_token **out,
                int32_t *n_out, struct sl_error *err) {
  size_t len = strlen(sql);
  if (len > (1u << 24))
    return sl_error_set(err, SL_ERANGE,
                        "SQL text of %zu bytes is longer than 16 MiB", len);
  int32_t cap = 64, n = 0;
  struct sl_token *t = sl_arena_alloc(a, (size_t)cap * sizeof *t);
  if (!t) return SL_ENOMEM;
  struct lexer L = {sql, 0, 1, 1};
  for (;;) {
    /* whitespace and comments */
    for (;;) {
      char c = L.s[L.i];
      if (c && isspace((unsigned char)c)) {
        advance(&L, 1);
      } else if (c == '-' && L.s[L.i + 1] == '-') {
        while (L.s[L.i] && L.s[L.i] != '\n')
          advance(&L, 1);
      } else if (c == '/' && L.s[L.i + 1] == '*') {
        int32_t l0 = L.line, c0 = L.col;
        advance(&L, 2);
        while (L.s[L.i] && !(L.s[L.i] == '*' && L.s[L.i + 1] == '/'))
          advance(&L, 1);
        if (!L.s[L.i])
          return sl__sql_error_at(err, SL_EINVAL, l0, c0,
                                  "comment is not closed with */");
        advance(&L, 2);
      } else {
        break;
      }
    }
    if (n + 1 >= cap) {
      struct sl_token *nt = sl_arena_alloc(a, (size_t)cap * 2 * sizeof *nt);
      if (!nt) return SL_ENOMEM;
      memcpy(nt, t, (size_t)n * sizeof *t);
      t = nt;
      cap *= 2;
    }
    struct sl_token *k = &t[n];
    k->p = L.s + L.i;
    k->line = L.line;
    k->col = L.col;
    k->off = L.i;
    char c = L.s[L.i], d = c ? L.s[L.i + 1] : 0;
    int32_t w = 1;
    if (!c) {
      k->kind = TK_EOF;
      k->len = 0;
      n++;
      break;
    }
    if (isalpha((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80) {
      while (isalnum((unsigned char)L.s[L.i + w]) || L.s[L.i + w] == '_' ||
             (unsigned char)L.s[L.i + w] >= 0x80)
        w++;
      k->kind = TK_IDENT;
    } else if (isdigit((unsigned char)c) ||
               (c == '.' && isdigit((unsigned char)d))) {
      bool flt = false;
      w = 0;
      while (isdigit((unsigned char)L.s[L.i + w]))
        w++;
      if (L.s[L.i + w] == '.' && L.s[L.i + w + 1] != '.') {
        flt = true;
        w++;
        while (isdigit((unsigned char)L.s[L.i + w]))
          w++;
      }
      if (L.s[L.i + w] == 'e' || L.s[L.i + w] == 'E') {
        int32_t v = w + 1;
        if (L.s[L.i + v] == '+' || L.s[L.i + v] == '-') v++;
        if (isdigit((unsigned char)L.s[L.i + v])) {
          flt = true;
          while (isdigit((unsigned char)L.s[L.i + v]))
            v++;
          w = v;
        }
      }
      if (isalpha((unsigned char)L.s[L.i + w]) || L.s[L.i + w] == '_')
        return sl__sql_error_at(err, SL_EINVAL, L.line, L.col,
                                "a number runs into letters: '%.*s'", w + 1,
                                k->p);
      k->kind = flt ? TK_FLOAT : TK_INT;
    } else if (c == '\'' || c == '"') {
      while (L.s[L.i + w]) {
        if (L.s[L.i + w] == c) {
          if (L.s[L.i + w + 1] == c) {
            w += 2;
            continue;
          }
          break;
        }
        w++;
      }
      if (!L.s[L.i + w])
        return sl__sql_error_at(err, SL_EINVAL, L.line, L.col,
                                "%s is not closed with %c",
                                c == '\'' ? "string" : "quoted identifier", c);
      w++;
      k->kind = c == '\'' ? TK_STRING : TK_QIDENT;
    } else {
      switch (c) {
      case '(': k->kind = TK_LPAREN; break;
      case ')': k->kind = TK_RPAREN; break;
      case '{': k->kind = TK_LBRACE; break;
      case '}': k->kind = TK_RBRACE; break;
      case '[': k->kind = TK_LBRACKET; break;
      case ']': k->kind = TK_RBRACKET; break;
      case ',': k->kind = TK_COMMA; break;
      case '.': k->kind = TK_DOT; break;
      case ';': k->kind = TK_SEMI; break;
      case '*': k->kind = TK_STAR; break;
      case '+': k->kind = TK_PLUS; break;
      case '-': k->kind = TK_MINUS; break;
      case '%': k->kind = TK_PERCENT; break;
      case '^': k->kind = TK_CARET; break;
      case '/':
        k->kind = d == '/' ? TK_DSLASH : TK_SLASH;
        w = d == '/' ? 2 : 1;
        break;
      case '|':
        if (d != '|') goto bad;
        k->kind = TK_CONCAT;
        w = 2;
        break;
      case '=':
        if (d == '>')
          k->kind = TK_ARROW, w = 2;
        else if (d == '=')
          k->kind = TK_EQ, w = 2;
        else
          k->kind = TK_EQ;
        break;
      case '!':
        if (d != '=') goto bad;
        k->kind = TK_NE;
        w = 2;
        break;
      case '<':
        if (d == '=')
          k->kind = TK_LE, w = 2;
        else if (d == '>')
          k->kind = TK_NE, w = 2;
        else
          k->kind = TK_LT;
        break;
      case '>':
        if (d == '=')
          k->kind = TK_GE, w = 2;
        else
          k->kind = TK_GT;
        break;
      case ':':
        if (d == ':')
          k->kind = TK_CAST, w = 2;
        else
          k->kind = TK_COLON;
        break;
      default: goto bad;
      }
    }
    k->len = w;
    advance(&L, w);
    n++;
    continue;
  bad:
    return sl__sql_error_at(err, SL_EINVAL, L.line, L.col,
                            "unexpected character '%c'", c);
  }
  *out = t;
  *n_out = n;
  return 0;
}
