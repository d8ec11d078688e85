/* The SQL handler: a query over each micro-batch (mode batch) or over
 * tumbling event-time windows (mode window). Waits for the SQL engine
 * (include/sluice/sql.h); until it lands, creating it answers "not built in". */
#include "runtime/handler.h"
#include "sluice/alloc.h"

struct sl_sqlh {
  struct sl_runtime *rt;
};

int sl__sqlh_create(struct sl_runtime *rt, struct sl_sqlh **out,
                    struct sl_error *err) {
  (void)rt;
  *out = NULL;
  return sl_error_set(err, SL_ENOTSUP,
                      "%s: spec.runtime sql: the SQL engine is not built in "
                      "yet; use runtime: passthrough or c",
                      rt->spec->file);
}

int sl__sqlh_run(struct sl_sqlh *q, struct sl_trigger *t,
                 struct sl_rt_batch *b, const struct sl_batch *parsed,
                 struct sl_error *err) {
  return sl_error_set(err, SL_ENOTSUP, "SQL engine not built in");
}

int sl__sqlh_drain(struct sl_sqlh *q, struct sl_error *err) { return 0; }
void sl__sqlh_tick(struct sl_sqlh *q, int64_t now_ms) {}
void sl__sqlh_free(struct sl_sqlh *q) { sl_free(q); }
