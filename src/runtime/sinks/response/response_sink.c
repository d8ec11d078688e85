/* The response sink: result rows go back in the HTTP response of the
 * requests whose records were in the batch ({"accepted":..,"rejected":..,
 * "results":[rows]}). Every request of a batch gets the batch's results, so
 * per-request results need maxEvents small enough or one request per batch.
 * Rows emitted at drain time (no batch) are dropped. */
#include <string.h>

#include "runtime/json_out.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"

struct response_attrs {
  int64_t max_rows;
};

#define A(f) offsetof(struct response_attrs, f)
static const struct sl_cfg_entry response_config[] = {
    {"maxRows", SL_CFG_INT, "10000", 0, 10000000, NULL, A(max_rows),
     "Most result rows put in one response (the rest are counted only).",
     false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

static int response_init(struct sl_sink *s, struct sl_error *err) {
  s->state = (void *)1;
  return 0;
}

static int response_write(struct sl_sink *s, const struct sl_batch *batch,
                          struct sl_ack *ack, struct sl_error *err) {
  const struct response_attrs *a = s->attrs;
  if (!ack || !ack->batch) return 0;
  int64_t rows = batch->length < a->max_rows ? batch->length : a->max_rows;
  struct sl_batch *part = NULL;
  int rc = sl_batch_slice(batch, 0, rows, &part, err);
  if (rc) return rc;
  struct sl_text t = {0};
  rc = sl__batch_to_jsonl(part, &t);
  sl_batch_free(part);
  if (rc) {
    sl_free(t.p);
    return sl_error_set(err, rc, "out of memory");
  }
  for (size_t i = 0; i + 1 < t.len; i++)
    if (t.p[i] == '\n') t.p[i] = ',';
  if (t.len) t.len--; /* the last '\n' */
  struct sl_rt_batch *b = ack->batch;
  for (int32_t i = 0; i < b->n_segs; i++) {
    struct sl_ticket *tk = b->segs[i].ticket;
    if (!tk || !t.len) continue;
    pthread_mutex_lock(&tk->mu);
    size_t need = tk->results_len + t.len + 2;
    if (need > tk->results_cap) {
      char *np = sl_realloc(tk->results, need * 2);
      if (!np) {
        pthread_mutex_unlock(&tk->mu);
        sl_free(t.p);
        return sl_error_set(err, SL_ENOMEM, "out of memory");
      }
      tk->results = np;
      tk->results_cap = need * 2;
    }
    if (tk->results_len) tk->results[tk->results_len++] = ',';
    memcpy(tk->results + tk->results_len, t.p, t.len);
    tk->results_len += t.len;
    tk->results[tk->results_len] = '\0';
    pthread_mutex_unlock(&tk->mu);
  }
  sl_free(t.p);
  return 0;
}

const struct sl_sink_vtable sl__sink_response = {
    .name = "response",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "Result rows in the HTTP response (\"results\": [...]) of every "
           "request whose records were in the batch.",
    .config = response_config,
    .config_size = sizeof(struct response_attrs),
    .init = response_init,
    .write = response_write,
};
