/* What a worker does with one micro-batch: parse the JSON records once into
 * columns (bad records go to the dead-letter sink), run the handler, hand
 * the results to the sinks. */
#include <stdio.h>
#include <string.h>

#include "runtime/handler.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"
#include "sluice/json.h"

struct bad_ctx {
  struct sl_trigger *t;
  struct sl_rt_batch *b;
};

static struct sl_rt_segment *segment_of(struct sl_rt_batch *b, int64_t line) {
  int32_t lo = 0, hi = b->n_segs - 1;
  while (lo < hi) {
    int32_t mid = (lo + hi + 1) / 2;
    if (b->segs[mid].first_line <= line)
      lo = mid;
    else
      hi = mid - 1;
  }
  return b->n_segs ? &b->segs[lo] : NULL;
}

static void on_bad_line(void *ctx, const char *line, size_t len,
                        int64_t line_no, int64_t byte_offset,
                        const char *reason) {
  struct bad_ctx *c = ctx;
  (void)byte_offset;
  int64_t idx = line_no - 1; /* 0-based line of the batch */
  struct sl_rt_segment *s = segment_of(c->b, idx);
  const char *source = NULL;
  int64_t rel = idx;
  if (s) {
    s->rejected++;
    source = s->pos.source;
    rel = idx - s->first_line;
    if (source) rel += (int64_t)s->pos.b; /* 1-based line in the file */
  }
  sl__count(&c->t->m->dead_letters, 1);
  if (c->t->rt->dead)
    sl__deadletter_write(c->t->rt->dead, line, len, reason, c->t->spec->name,
                         source, rel);
}

int sl__rt_parse_options(const struct sl_runtime *rt, struct sl_json_options *o,
                         struct sl_schema *schema, bool *have_schema,
                         struct sl_error *err) {
  sl_json_options_init(o);
  *have_schema = false;
  if (rt->spec->input.schema) {
    SL_RETURN_NOT_OK(sl_json_parse_schema(rt->spec->input.schema, schema, err));
    *have_schema = true;
    o->schema = schema;
  }
  o->threads = 1;
  o->bad_lines = SL_JSON_BAD_SKIP;
  o->infer_timestamps = true;
  o->max_line_bytes = rt->spec->input.max_line_bytes;
  return 0;
}

int sl__rt_process(struct sl_trigger *t, struct sl_rt_batch *b, int worker,
                   struct sl_error *err) {
  struct sl_runtime *rt = t->rt;
  struct sl_batch_reader *r = NULL;
  struct sl_batch *parsed = NULL;
  struct bad_ctx bctx = {t, b};
  struct sl_json_options o;
  struct sl_schema schema;
  bool have_schema = false;
  int rc = 0;
  sl_schema_init(&schema);
  SL_CHECK_GOTO(sl__rt_parse_options(rt, &o, &schema, &have_schema, err), rc,
                cleanup);
  o.on_bad_line = on_bad_line;
  o.bad_line_ctx = &bctx;
  o.batch_rows = b->n_events > 0 ? b->n_events : 1;
  o.chunk_bytes = (int64_t)b->len + 1;
  if (b->n_events == 0) goto cleanup;
  if (sl__handler_wants_raw(rt->handler)) {
    rc = sl__handler_run(rt->handler, worker, t, b, NULL, err);
    goto cleanup;
  }
  SL_CHECK_GOTO(sl_json_read_buffer(b->data, b->len, &o, &r, err), rc, cleanup);
  for (;;) {
    SL_CHECK_GOTO(r->next(r, &parsed, err), rc, cleanup);
    if (!parsed) break;
    if (parsed->length > 0)
      SL_CHECK_GOTO(sl__handler_run(rt->handler, worker, t, b, parsed, err), rc,
                    cleanup);
    sl_batch_free(parsed);
    parsed = NULL;
  }
cleanup:
  if (parsed) sl_batch_free(parsed);
  if (r) r->release(r);
  sl_json_options_release(&o);
  if (have_schema) sl_schema_release(&schema);
  return rc;
}

int sl__rt_emit(struct sl_runtime *rt, const struct sl_batch *out,
                struct sl_ack *ack, struct sl_error *err) {
  for (int32_t i = 0; i < rt->n_sinks; i++) {
    struct sl_sink *s = &rt->sinks[i];
    struct sl_sink_metrics *m = &rt->metrics.sinks[i];
    int rc = s->spec->vt->write(s, out, ack, err);
    if (rc) {
      sl__count(&m->errors, 1);
      return sl_error_prefix(err, "sink %s: ", s->spec->name);
    }
    sl__count(&m->rows, out->length);
    sl__count(&m->batches, 1);
  }
  return 0;
}

void sl__rt_seal(struct sl_runtime *rt, struct sl_ack *ack) {
  if (!ack || !ack->key[0]) return;
  for (int32_t i = 0; i < rt->n_sinks; i++) {
    struct sl_sink *s = &rt->sinks[i];
    if (s->state && s->spec->vt->seal) s->spec->vt->seal(s, ack);
  }
}

static bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool sl__position_key_offsets(struct sl_trigger *t,
                              const struct sl_rt_segment *segs, int32_t n,
                              char *buf, size_t cap) {
  (void)t;
  if (n <= 0 || !segs[0].pos.source || cap < 48) return false;
  const char *src = segs[0].pos.source;
  for (int32_t i = 0; i < n; i++)
    if (!(segs[i].pos.flags & SL_POS_OFFSETS) || !segs[i].pos.source ||
        strcmp(segs[i].pos.source, src) ||
        (i > 0 && segs[i].pos.a != segs[i - 1].pos.end))
      return false;
  char name[40];
  size_t k = 0, len = strlen(src);
  bool changed = len > 20;
  for (size_t i = 0; i < len && k < sizeof name - 1; i++) {
    name[k++] = key_char(src[i]) ? src[i] : '_';
    changed |= !key_char(src[i]);
  }
  name[k] = '\0';
  uint64_t h = 1469598103934665603ull; /* FNV-1a: a stable name, not security */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)src[i]) * 1099511628211ull;
  int w;
  if (changed)
    w = snprintf(buf, cap, "%.20s_%08x-%020llu-%020llu", name,
                 (unsigned)(h & 0xffffffffu), (unsigned long long)segs[0].pos.a,
                 (unsigned long long)(segs[n - 1].pos.end - 1));
  else
    w = snprintf(buf, cap, "%s-%020llu-%020llu", name,
                 (unsigned long long)segs[0].pos.a,
                 (unsigned long long)(segs[n - 1].pos.end - 1));
  return w > 0 && (size_t)w < cap;
}
