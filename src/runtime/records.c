/* Splitting an event body into records, one per line: a JSON array (each
 * element a record), one JSON value (pretty-printed or not), or JSON Lines.
 * Only structure is scanned here (strings, brackets); the JSON reader
 * validates each record when the batch is parsed. */
#include <string.h>

#include "runtime/records.h"

static bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Appends p[0, n) as one line, newlines (outside and inside strings) turned
 * into spaces so the record stays on one line; trims whitespace. */
static int put_record(struct sl_text *out, const char *p, size_t n) {
  while (n && is_ws(p[0])) {
    p++;
    n--;
  }
  while (n && is_ws(p[n - 1]))
    n--;
  SL_RETURN_NOT_OK(sl__text_reserve(out, n + 1));
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    out->p[out->len++] = (c == '\n' || c == '\r') ? ' ' : c;
  }
  out->p[out->len++] = '\n';
  out->p[out->len] = '\0';
  return 0;
}

/* From p[i] (an opening bracket), the index just past its matching close, or
 * n when unbalanced. */
static size_t match_close(const char *p, size_t i, size_t n) {
  int depth = 0;
  bool in_str = false;
  for (; i < n; i++) {
    char c = p[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"')
      in_str = true;
    else if (c == '{' || c == '[')
      depth++;
    else if ((c == '}' || c == ']') && --depth == 0)
      return i + 1;
  }
  return n;
}

int sl__split_records(const char *body, size_t len, struct sl_text *out,
                      int64_t *n_records, const char **why) {
  *n_records = 0;
  *why = NULL;
  size_t i = 0;
  while (i < len && is_ws(body[i]))
    i++;
  if (i == len) return 0;
  if (body[i] == '[') {
    size_t end = match_close(body, i, len);
    size_t rest = end;
    while (rest < len && is_ws(body[rest]))
      rest++;
    if (end == len && (len == 0 || body[len - 1] != ']')) {
      *why = "unbalanced JSON array";
      return SL_EINVAL;
    }
    if (rest != len) {
      *why = "text after the JSON array";
      return SL_EINVAL;
    }
    /* Elements between i+1 and end-1, split at depth-0 commas. */
    size_t start = i + 1, stop = end - 1;
    int depth = 0;
    bool in_str = false, any = false;
    for (size_t k = start; k <= stop; k++) {
      char c = k < stop ? body[k] : ',';
      if (in_str && k < stop) {
        if (c == '\\')
          k++;
        else if (c == '"')
          in_str = false;
        continue;
      }
      if (c == '"') {
        in_str = true;
      } else if (c == '{' || c == '[') {
        depth++;
      } else if (c == '}' || c == ']') {
        depth--;
      } else if (c == ',' && depth == 0) {
        size_t a = start, b = k;
        while (a < b && is_ws(body[a]))
          a++;
        if (a == b) {
          if (k == stop && !any) break; /* [] */
          *why = "empty element in the JSON array";
          return SL_EINVAL;
        }
        SL_RETURN_NOT_OK(put_record(out, body + start, k - start));
        (*n_records)++;
        any = true;
        start = k + 1;
      }
    }
    return 0;
  }
  if (body[i] == '{') {
    size_t end = match_close(body, i, len);
    size_t rest = end;
    while (rest < len && is_ws(body[rest]))
      rest++;
    if (end < len && rest == len) { /* one (maybe pretty-printed) object */
      SL_RETURN_NOT_OK(put_record(out, body + i, end - i));
      *n_records = 1;
      return 0;
    }
    if (end == len && body[len - 1] == '}' && rest == len) {
      SL_RETURN_NOT_OK(put_record(out, body + i, end - i));
      *n_records = 1;
      return 0;
    }
  }
  /* JSON Lines: one record per non-blank line. */
  size_t s = 0;
  while (s < len) {
    const char *nl = memchr(body + s, '\n', len - s);
    size_t e = nl ? (size_t)(nl - body) : len;
    size_t a = s;
    while (a < e && is_ws(body[a]))
      a++;
    if (a < e) {
      size_t b = e;
      if (b > a && body[b - 1] == '\r') b--;
      SL_RETURN_NOT_OK(sl__text_reserve(out, b - a + 1));
      memcpy(out->p + out->len, body + a, b - a);
      out->len += b - a;
      out->p[out->len++] = '\n';
      out->p[out->len] = '\0';
      (*n_records)++;
    }
    s = e + 1;
  }
  return 0;
}
