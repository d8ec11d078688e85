/* Result writers: CSV (RFC 4180 quoting, header line), JSON Lines, and an
 * aligned text table for terminals. They read Arrow-layout batches, so they
 * work on any sl_batch_reader, not only query results. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "compute/expr.h"
#include "sluice/alloc.h"
#include "sluice/sql.h"

/* Formats one cell; returns its length (text in buf or *str for strings). */
static int64_t cell(const struct sl_array *a, int64_t r, char *buf, size_t cap,
                    const char **str, bool *is_null) {
  *str = buf;
  *is_null = !sl_array_is_valid(a, r);
  if (*is_null) return 0;
  int n = 0;
  switch (a->type) {
  case SL_TYPE_BOOL:
    n = snprintf(buf, cap, "%s", sl_array_bool(a, r) ? "true" : "false");
    break;
  case SL_TYPE_INT32:
    n = snprintf(buf, cap, "%" PRId32, sl_array_i32(a)[r]);
    break;
  case SL_TYPE_INT64:
    n = snprintf(buf, cap, "%" PRId64, sl_array_i64(a)[r]);
    break;
  case SL_TYPE_FLOAT64:
    n = sl__format_double(sl_array_f64(a)[r], buf, cap);
    break;
  case SL_TYPE_TIMESTAMP_MS:
    n = sl__format_timestamp(sl_array_i64(a)[r] * 1000, buf, cap);
    break;
  case SL_TYPE_TIMESTAMP_US:
    n = sl__format_timestamp(sl_array_i64(a)[r], buf, cap);
    break;
  case SL_TYPE_DATE32: n = sl__format_date(sl_array_i32(a)[r], buf, cap); break;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
  case SL_TYPE_DICT_UTF8: {
    int64_t len;
    *str = sl_array_str(a, r, &len);
    return len;
  }
  default: n = snprintf(buf, cap, "<%s>", sl_type_name(a->type)); break;
  }
  if (n < 0) n = 0;
  if ((size_t)n >= cap) n = (int)cap - 1;
  return n;
}

static bool is_text(enum sl_type_id t) {
  return sl_type_is_string(t);
}

int sl_write_csv(FILE *f, const struct sl_batch *b, bool header,
                 struct sl_error *err) {
  char buf[64];
  if (header) {
    for (int32_t c = 0; c < b->n_columns; c++) {
      const char *nm = b->schema.fields[c].name;
      fputs(c ? "," : "", f);
      bool q = strpbrk(nm, ",\"\n\r") != NULL;
      if (q) fputc('"', f);
      for (const char *p = nm; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
      }
      if (q) fputc('"', f);
    }
    fputc('\n', f);
  }
  for (int64_t r = 0; r < b->length; r++) {
    for (int32_t c = 0; c < b->n_columns; c++) {
      if (c) fputc(',', f);
      const char *s;
      bool nul;
      int64_t n = cell(b->columns[c], r, buf, sizeof buf, &s, &nul);
      if (nul) continue;
      bool q =
          is_text(b->columns[c]->type) &&
          (n == 0 || memchr(s, ',', (size_t)n) || memchr(s, '"', (size_t)n) ||
           memchr(s, '\n', (size_t)n) || memchr(s, '\r', (size_t)n));
      if (!q) {
        fwrite(s, 1, (size_t)n, f);
        continue;
      }
      fputc('"', f);
      for (int64_t i = 0; i < n; i++) {
        if (s[i] == '"') fputc('"', f);
        fputc(s[i], f);
      }
      fputc('"', f);
    }
    fputc('\n', f);
  }
  if (ferror(f)) return sl_error_set(err, SL_EIO, "writing CSV failed");
  return 0;
}

static void json_string(FILE *f, const char *s, int64_t n) {
  fputc('"', f);
  for (int64_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (c < 0x20)
        fprintf(f, "\\u%04x", c);
      else
        fputc(c, f);
    }
  }
  fputc('"', f);
}

int sl_write_jsonl(FILE *f, const struct sl_batch *b, struct sl_error *err) {
  char buf[64];
  for (int64_t r = 0; r < b->length; r++) {
    fputc('{', f);
    for (int32_t c = 0; c < b->n_columns; c++) {
      if (c) fputc(',', f);
      const char *nm = b->schema.fields[c].name;
      json_string(f, nm, (int64_t)strlen(nm));
      fputc(':', f);
      const struct sl_array *a = b->columns[c];
      const char *s;
      bool nul;
      int64_t n = cell(a, r, buf, sizeof buf, &s, &nul);
      if (nul)
        fputs("null", f);
      else if (is_text(a->type) || a->type == SL_TYPE_TIMESTAMP_MS ||
               a->type == SL_TYPE_TIMESTAMP_US || a->type == SL_TYPE_DATE32)
        json_string(f, s, n);
      else if (a->type == SL_TYPE_FLOAT64 &&
               (strstr(buf, "nan") || strstr(buf, "inf")))
        fputs("null", f);
      else
        fwrite(s, 1, (size_t)n, f);
    }
    fputs("}\n", f);
  }
  if (ferror(f)) return sl_error_set(err, SL_EIO, "writing JSON Lines failed");
  return 0;
}

static int64_t display_width(const char *s, int64_t n) {
  int64_t w = 0;
  for (int64_t i = 0; i < n; i++)
    w += ((unsigned char)s[i] & 0xC0) != 0x80;
  return w;
}

int sl_print_table(FILE *f, struct sl_batch *const *batches, int32_t n_batches,
                   int64_t max_rows, struct sl_error *err) {
  if (n_batches == 0) return 0;
  const struct sl_batch *b0 = batches[0];
  int32_t nc = b0->n_columns;
  int64_t *w = sl_calloc((size_t)(nc ? nc : 1), sizeof *w);
  if (!w) return SL_ENOMEM;
  char buf[64];
  int64_t total = 0, shown = 0;
  for (int32_t c = 0; c < nc; c++)
    w[c] = display_width(b0->schema.fields[c].name,
                         (int64_t)strlen(b0->schema.fields[c].name));
  for (int32_t k = 0; k < n_batches; k++) {
    total += batches[k]->length;
    for (int64_t r = 0; r < batches[k]->length && shown < max_rows;
         r++, shown++)
      for (int32_t c = 0; c < nc; c++) {
        const char *s;
        bool nul;
        int64_t n = cell(batches[k]->columns[c], r, buf, sizeof buf, &s, &nul);
        int64_t dw = nul ? 4 : display_width(s, n > 60 ? 60 : n);
        if (dw > w[c]) w[c] = dw;
      }
  }
#define RULE()                                                                 \
  do {                                                                         \
    for (int32_t c = 0; c < nc; c++) {                                         \
      fputc('+', f);                                                           \
      for (int64_t i = 0; i < w[c] + 2; i++)                                   \
        fputc('-', f);                                                         \
    }                                                                          \
    fputs("+\n", f);                                                           \
  } while (0)
  RULE();
  for (int32_t c = 0; c < nc; c++) {
    const char *nm = b0->schema.fields[c].name;
    fprintf(f, "| %s%*s ", nm,
            (int)(w[c] - display_width(nm, (int64_t)strlen(nm))), "");
  }
  fputs("|\n", f);
  RULE();
  shown = 0;
  for (int32_t k = 0; k < n_batches; k++) {
    const struct sl_batch *b = batches[k];
    for (int64_t r = 0; r < b->length && shown < max_rows; r++, shown++) {
      for (int32_t c = 0; c < nc; c++) {
        const char *s;
        bool nul;
        int64_t n = cell(b->columns[c], r, buf, sizeof buf, &s, &nul);
        if (nul) s = "NULL", n = 4;
        bool cut = n > 60;
        if (cut) {
          n = 57;
          while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        }
        int64_t dw = display_width(s, n) + (cut ? 3 : 0);
        bool right = !nul && !is_text(b->columns[c]->type) &&
                     b->columns[c]->type != SL_TYPE_BOOL;
        fputs("| ", f);
        if (right) fprintf(f, "%*s", (int)(w[c] - dw), "");
        for (int64_t i = 0; i < n; i++) {
          char ch = s[i];
          fputc(ch == '\n' || ch == '\t' || ch == '\r' ? ' ' : ch, f);
        }
        if (cut) fputs("...", f);
        if (!right) fprintf(f, "%*s", (int)(w[c] - dw), "");
        fputc(' ', f);
      }
      fputs("|\n", f);
    }
  }
  RULE();
#undef RULE
  fprintf(f, "%" PRId64 " row%s", total, total == 1 ? "" : "s");
  if (shown < total) fprintf(f, " (%" PRId64 " shown)", shown);
  fputc('\n', f);
  sl_free(w);
  if (ferror(f)) return sl_error_set(err, SL_EIO, "writing the table failed");
  return 0;
}
