/* sluice runtime: handlers (sql, native c, passthrough) behind one face. */
#ifndef SLUICE_RUNTIME_HANDLER_H
#define SLUICE_RUNTIME_HANDLER_H

#include <stdbool.h>

#include "runtime/rt.h"
#include "sluice/function.h"

struct sl_handler;

int sl__handler_create(struct sl_runtime *rt, struct sl_handler **out,
                       struct sl_error *err);
/* True when the handler wants raw records (no column parsing). */
bool sl__handler_wants_raw(const struct sl_handler *h);
/* Runs one parsed batch (parsed == NULL in raw mode) on worker slot `worker`
 * of trigger t. */
int sl__handler_run(struct sl_handler *h, int worker, struct sl_trigger *t,
                    struct sl_rt_batch *b, const struct sl_batch *parsed,
                    struct sl_error *err);
/* Emits what the handler still buffers (open windows, native drain). */
int sl__handler_drain(struct sl_handler *h, struct sl_error *err);
/* Emits windows whose end + allowedLateness has passed (wall clock), for
 * windowed SQL; called by the runtime timer. No-op for others. */
void sl__handler_tick(struct sl_handler *h, int64_t now_ms);
void sl__handler_free(struct sl_handler *h);

/* The native-handler module (native.c). */
struct sl_native;
int sl__native_open(struct sl_runtime *rt, const char *spec_handler,
                    int n_slots, struct sl_native **out, struct sl_error *err);
bool sl__native_wants_raw(const struct sl_native *n);
int sl__native_run(struct sl_native *n, int worker, struct sl_trigger *t,
                   struct sl_rt_batch *b, const struct sl_batch *parsed,
                   struct sl_error *err);
int sl__native_drain(struct sl_native *n, struct sl_error *err);
void sl__native_close(struct sl_native *n);

/* The SQL-handler module (handler_sql.c). */
struct sl_sqlh;
int sl__sqlh_create(struct sl_runtime *rt, struct sl_sqlh **out,
                    struct sl_error *err);
int sl__sqlh_run(struct sl_sqlh *q, struct sl_trigger *t, struct sl_rt_batch *b,
                 const struct sl_batch *parsed, struct sl_error *err);
int sl__sqlh_drain(struct sl_sqlh *q, struct sl_error *err);
void sl__sqlh_tick(struct sl_sqlh *q, int64_t now_ms);
void sl__sqlh_free(struct sl_sqlh *q);

#endif
