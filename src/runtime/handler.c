/* Handler dispatch: sql, native c, passthrough. */
#include <string.h>

#include "runtime/handler.h"
#include "sluice/alloc.h"

enum kind { H_PASS, H_NATIVE, H_SQL };

struct sl_handler {
  enum kind kind;
  struct sl_runtime *rt;
  struct sl_native *native;
  struct sl_sqlh *sql;
};

int sl__handler_create(struct sl_runtime *rt, struct sl_handler **out,
                       struct sl_error *err) {
  struct sl_handler *h = sl_calloc(1, sizeof *h);
  if (!h) return sl_error_set(err, SL_ENOMEM, "out of memory");
  h->rt = rt;
  const char *r = rt->spec->runtime;
  int rc = 0;
  if (!strcmp(r, "c")) {
    h->kind = H_NATIVE;
    int slots = 0;
    for (int32_t i = 0; i < rt->spec->n_triggers; i++)
      slots += (int)rt->spec->triggers[i].max_workers;
    rc = sl__native_open(rt, rt->spec->handler, slots, &h->native, err);
  } else if (!strcmp(r, "sql")) {
    h->kind = H_SQL;
    rc = sl__sqlh_create(rt, &h->sql, err);
  } else {
    h->kind = H_PASS;
  }
  if (rc) {
    sl__handler_free(h);
    return rc;
  }
  *out = h;
  return 0;
}

bool sl__handler_wants_raw(const struct sl_handler *h) {
  return h->kind == H_NATIVE && sl__native_wants_raw(h->native);
}

/* Worker slots are numbered per trigger; native contexts per runtime. */
static int slot_base(struct sl_runtime *rt, struct sl_trigger *t) {
  int base = 0;
  for (int32_t i = 0; i < rt->n_triggers && &rt->triggers[i] != t; i++)
    base += (int)rt->spec->triggers[i].max_workers;
  return base;
}

int sl__handler_run(struct sl_handler *h, int worker, struct sl_trigger *t,
                    struct sl_rt_batch *b, const struct sl_batch *parsed,
                    struct sl_error *err) {
  switch (h->kind) {
  case H_NATIVE:
    return sl__native_run(h->native, slot_base(h->rt, t) + worker, t, b, parsed,
                          err);
  case H_SQL: return sl__sqlh_run(h->sql, t, b, parsed, err);
  default: return sl__rt_emit(h->rt, parsed, b->ack, err);
  }
}

int sl__handler_drain(struct sl_handler *h, struct sl_error *err) {
  if (!h) return 0;
  if (h->kind == H_NATIVE) return sl__native_drain(h->native, err);
  if (h->kind == H_SQL) return sl__sqlh_drain(h->sql, err);
  return 0;
}

void sl__handler_tick(struct sl_handler *h, int64_t now_ms) {
  if (h && h->kind == H_SQL) sl__sqlh_tick(h->sql, now_ms);
}

void sl__handler_free(struct sl_handler *h) {
  if (!h) return;
  if (h->native) sl__native_close(h->native);
  if (h->sql) sl__sqlh_free(h->sql);
  sl_free(h);
}
