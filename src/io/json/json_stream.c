/* JSON reader: the push stream (chunks in, batches out) used by the runtime
 * for trigger payloads that arrive in pieces. Pushed bytes are appended to a
 * pending buffer; next() parses every whole line in it and keeps the tail
 * (a record straddling the chunk boundary) for the next push. */
#include <stdio.h>
#include <string.h>

#include "io/json/json_internal.h"

struct sl_json_stream {
  struct sl__jengine e;
  bool ready, ended, skipping;
  int failed; /* a hard error stops the stream */
  struct sl_json_options opt;
  struct sl_schema schema;
  bool has_schema;
  char **proj;
  int32_t n_proj;
  struct sl_bytes pending;
};

int sl_json_stream_new(const struct sl_json_options *o,
                       struct sl_json_stream **out, struct sl_error *err) {
  *out = NULL;
  struct sl_json_stream *s = sl_calloc(1, sizeof *s);
  if (!s) return sl_error_set(err, SL_ENOMEM, "JSON stream: out of memory");
  if (o)
    s->opt = *o;
  else
    sl_json_options_init(&s->opt);
  s->opt.owned_ = NULL;
  int rc = 0;
  if (s->opt.schema) {
    sl_schema_init(&s->schema);
    s->has_schema = true;
    SL_CHECK_GOTO(sl_schema_copy(&s->schema, s->opt.schema), rc, fail);
    s->opt.schema = &s->schema;
  }
  if (s->opt.n_projection > 0) {
    s->proj = sl_calloc((size_t)s->opt.n_projection, sizeof *s->proj);
    if (!s->proj) {
      rc = SL_ENOMEM;
      goto fail;
    }
    for (int32_t i = 0; i < s->opt.n_projection; i++) {
      s->proj[i] = sl_strdup(s->opt.projection[i]);
      if (!s->proj[i]) {
        rc = SL_ENOMEM;
        goto fail;
      }
      s->n_proj++;
    }
    s->opt.projection = (const char *const *)s->proj;
  }
  *out = s;
  return 0;
fail:
  sl_json_stream_free(s);
  return sl_error_set(err, rc, "JSON stream: out of memory");
}

void sl_json_stream_free(struct sl_json_stream *s) {
  if (!s) return;
  if (s->ready) sl__jengine_release(&s->e);
  if (s->has_schema) sl_schema_release(&s->schema);
  for (int32_t i = 0; i < s->n_proj; i++)
    sl_free(s->proj[i]);
  sl_free(s->proj);
  sl_bytes_release(&s->pending);
  sl_free(s);
}

int sl_json_stream_push(struct sl_json_stream *s, const void *data, size_t len,
                        struct sl_error *err) {
  if (s->ended)
    return sl_error_set(err, SL_EINVAL,
                        "JSON stream: push after the end of input");
  if (len > INT64_MAX / 2)
    return sl_error_set(err, SL_EOVERFLOW, "JSON stream: chunk too large");
  int rc = sl_bytes_append(&s->pending, data, (int64_t)len);
  if (rc) return sl_error_set(err, rc, "JSON stream: out of memory");
  return 0;
}

void sl_json_stream_end(struct sl_json_stream *s) {
  s->ended = true;
}

const struct sl_schema *sl_json_stream_schema(struct sl_json_stream *s) {
  if (s->ready) return &s->e.plan.schema;
  return NULL;
}

void sl_json_stream_stats(const struct sl_json_stream *s,
                          struct sl_json_stats *out) {
  if (s->ready)
    *out = s->e.stats;
  else
    memset(out, 0, sizeof *out);
}

static void consume(struct sl_json_stream *s, size_t n) {
  memmove(s->pending.data, s->pending.data + n, (size_t)s->pending.size - n);
  s->pending.size -= (int64_t)n;
}

static int stream_next(struct sl_json_stream *s, struct sl_batch **out,
                       struct sl_error *err);

int sl_json_stream_next(struct sl_json_stream *s, struct sl_batch **out,
                        struct sl_error *err) {
  *out = NULL;
  if (s->failed)
    return sl_error_set(err, s->failed,
                        "JSON stream: stopped by an earlier error");
  int rc = stream_next(s, out, err);
  if (rc) s->failed = rc;
  return rc;
}

static int stream_next(struct sl_json_stream *s, struct sl_batch **out,
                       struct sl_error *err) {
  if (s->ready) {
    *out = sl__jengine_pop(&s->e);
    if (*out) return 0;
  }
  for (;;) {
    uint8_t *p = s->pending.data;
    size_t len = (size_t)s->pending.size;
    if (len == 0) return 0;
    const uint8_t *nl = memrchr(p, '\n', len);
    size_t n = nl ? (size_t)(nl - p) + 1 : 0;
    if (s->ended) n = len;
    if (!s->ready) {
      if (n == 0 && !s->ended && (int64_t)len <= s->opt.max_line_bytes)
        return 0;
      SL_RETURN_NOT_OK(sl__jengine_init(&s->e, &s->opt, p, n ? n : len, err));
      s->ready = true;
    }
    if (s->skipping) {
      const uint8_t *first = memchr(p, '\n', len);
      size_t k = first ? (size_t)(first - p) + 1 : len;
      s->e.byte_base += (int64_t)k;
      consume(s, k);
      if (first) s->skipping = false;
      continue;
    }
    if (n == 0) {
      if ((int64_t)len <= s->e.opt.max_line_bytes) return 0;
      char why[128];
      snprintf(why, sizeof why, "line longer than max_line_bytes %lld",
               (long long)s->e.opt.max_line_bytes);
      int rc =
          sl__jengine_bad_line(&s->e, p, (size_t)s->e.opt.max_line_bytes,
                               s->e.line_base + 1, s->e.byte_base, why, err);
      s->e.stats.lines++;
      s->e.line_base++;
      s->skipping = true;
      if (rc) return rc;
      continue;
    }
    int rc = sl__jengine_parse(&s->e, p, n, err);
    consume(s, n);
    if (rc) return rc;
    *out = sl__jengine_pop(&s->e);
    if (*out) return 0;
  }
}
