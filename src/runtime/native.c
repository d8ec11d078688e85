/* Native C handlers: a shared object loaded with dlopen (ABI in
 * include/sluice/function.h). One context per worker slot. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/handler.h"
#include "sluice/alloc.h"

struct slot {
  struct sl_fn_context ctx;
  struct sl_native *owner;
  bool inited;
  struct sl_ack *ack; /* of the batch being handled (NULL while draining) */
  struct sl_trigger *trigger;
  int emit_status;
  struct sl_error emit_err;
};

struct sl_native {
  struct sl_runtime *rt;
  void *dl;
  sl_fn_init_fn init;
  sl_fn_handle_fn handle;
  sl_fn_drain_fn drain;
  sl_fn_destroy_fn destroy;
  int input;
  int n_slots;
  struct slot *slots;
};

static int ctx_emit(struct sl_fn_context *ctx, const struct sl_batch *batch) {
  struct slot *s = ctx->runtime_private;
  if (!batch) return SL_EINVAL;
  int rc = sl__rt_emit(s->owner->rt, batch, s->ack, &s->emit_err);
  if (rc && !s->emit_status) s->emit_status = rc;
  return rc;
}

static void ctx_dead_letter(struct sl_fn_context *ctx, const char *record,
                            size_t len, const char *reason) {
  struct slot *s = ctx->runtime_private;
  struct sl_runtime *rt = s->owner->rt;
  const char *tname = s->trigger ? s->trigger->spec->name : "";
  if (s->trigger) sl__count(&s->trigger->m->dead_letters, 1);
  if (rt->dead)
    sl__deadletter_write(rt->dead, record, len, reason ? reason : "rejected",
                         tname, NULL, -1);
}

static void ctx_log(struct sl_fn_context *ctx, int level, const char *msg) {
  struct slot *s = ctx->runtime_private;
  if (level < 0) level = 0;
  if (level > 3) level = 3;
  sl_log(s->owner->rt, (enum sl_log_level)level, msg ? msg : "",
         "\"worker\":%d,\"source\":\"handler\"", ctx->worker_id);
}

static const char *ctx_env(struct sl_fn_context *ctx, const char *name) {
  struct slot *s = ctx->runtime_private;
  const struct sl_strmap *env = &s->owner->rt->spec->env;
  for (int32_t i = 0; i < env->n; i++)
    if (!strcmp(env->keys[i], name)) return env->values[i];
  return getenv(name);
}

static void *sym(void *dl, const char *prefix, const char *suffix) {
  char name[256];
  snprintf(name, sizeof name, "%s_%s", prefix, suffix);
  return dlsym(dl, name);
}

int sl__native_open(struct sl_runtime *rt, const char *spec_handler,
                    int n_slots, struct sl_native **out, struct sl_error *err) {
  *out = NULL;
  const char *colon = strrchr(spec_handler, ':');
  if (!colon)
    return sl_error_set(err, SL_EINVAL,
                        "spec.handler: expected 'lib.so:prefix', found '%s'",
                        spec_handler);
  char path[4096], prefix[200];
  size_t pl = (size_t)(colon - spec_handler);
  if (pl >= sizeof path || strlen(colon + 1) >= sizeof prefix)
    return sl_error_set(err, SL_ERANGE, "spec.handler: name too long");
  memcpy(path, spec_handler, pl);
  path[pl] = '\0';
  snprintf(prefix, sizeof prefix, "%s", colon + 1);
  /* A bare file name would make dlopen search the library path: anchor
   * relative names at the working folder instead. */
  char full[4200];
  snprintf(full, sizeof full, "%s%s", strchr(path, '/') ? "" : "./", path);
  struct sl_native *n = sl_calloc(1, sizeof *n);
  if (!n) return sl_error_set(err, SL_ENOMEM, "out of memory");
  n->rt = rt;
  int rc = 0;
  n->dl = dlopen(full, RTLD_NOW | RTLD_LOCAL);
  if (!n->dl) {
    rc = sl_error_set(err, SL_ENOENT, "spec.handler: cannot load '%s': %s",
                      full, dlerror());
    goto fail;
  }
  sl_fn_abi_version_fn abi =
      (sl_fn_abi_version_fn)sym(n->dl, prefix, "abi_version");
  n->handle = (sl_fn_handle_fn)sym(n->dl, prefix, "handle");
  if (!abi || !n->handle) {
    rc = sl_error_set(err, SL_ENOENT,
                      "spec.handler: '%s' must export %s_abi_version and "
                      "%s_handle (see include/sluice/function.h)",
                      full, prefix, prefix);
    goto fail;
  }
  if (abi() != SL_FUNCTION_ABI) {
    rc = sl_error_set(err, SL_ENOTSUP,
                      "spec.handler: '%s' was built for handler ABI %d, this "
                      "runtime speaks ABI %d; rebuild it",
                      full, abi(), SL_FUNCTION_ABI);
    goto fail;
  }
  n->init = (sl_fn_init_fn)sym(n->dl, prefix, "init");
  n->drain = (sl_fn_drain_fn)sym(n->dl, prefix, "drain");
  n->destroy = (sl_fn_destroy_fn)sym(n->dl, prefix, "destroy");
  sl_fn_input_fn input = (sl_fn_input_fn)sym(n->dl, prefix, "input");
  n->input = input ? input() : SL_FN_INPUT_COLUMNS;
  n->n_slots = n_slots > 0 ? n_slots : 1;
  n->slots = sl_calloc((size_t)n->n_slots, sizeof *n->slots);
  if (!n->slots) {
    rc = sl_error_set(err, SL_ENOMEM, "out of memory");
    goto fail;
  }
  for (int i = 0; i < n->n_slots; i++) {
    struct slot *s = &n->slots[i];
    s->owner = n;
    s->ctx.abi_version = SL_FUNCTION_ABI;
    s->ctx.function_name = sl_spec_name(rt->spec);
    s->ctx.worker_id = i;
    s->ctx.emit = ctx_emit;
    s->ctx.dead_letter = ctx_dead_letter;
    s->ctx.log = ctx_log;
    s->ctx.env = ctx_env;
    s->ctx.runtime_private = s;
  }
  *out = n;
  return 0;
fail:
  sl__native_close(n);
  return rc;
}

bool sl__native_wants_raw(const struct sl_native *n) {
  return n->input == SL_FN_INPUT_RAW;
}

int sl__native_run(struct sl_native *n, int worker, struct sl_trigger *t,
                   struct sl_rt_batch *b, const struct sl_batch *parsed,
                   struct sl_error *err) {
  if (worker < 0 || worker >= n->n_slots)
    return sl_error_set(err, SL_ERANGE, "worker slot %d out of range", worker);
  struct slot *s = &n->slots[worker];
  s->trigger = t;
  if (!s->inited) {
    if (n->init) {
      int rc = n->init(&s->ctx);
      if (rc)
        return sl_error_set(err, SL_EINVAL,
                            "native handler init returned %d (worker %d)", rc,
                            worker);
    }
    s->inited = true;
  }
  struct sl_fn_events ev = {.n_events = parsed ? parsed->length : b->n_events,
                            .batch = parsed,
                            .raw = parsed ? NULL : b->data,
                            .raw_len = parsed ? 0 : b->len,
                            .trigger_name = t->spec->name,
                            .trigger_kind = t->spec->kind,
                            .sequence = b->ack->seq};
  s->ack = b->ack;
  s->emit_status = 0;
  sl_error_reset(&s->emit_err);
  int rc = n->handle(&s->ctx, &ev);
  s->ack = NULL;
  if (s->emit_status)
    return sl_error_set(err, s->emit_status, "%s", s->emit_err.msg);
  if (rc) return sl_error_set(err, SL_EINVAL, "native handler returned %d", rc);
  return 0;
}

int sl__native_drain(struct sl_native *n, struct sl_error *err) {
  int first = 0;
  for (int i = 0; n && i < n->n_slots; i++) {
    struct slot *s = &n->slots[i];
    if (!s->inited || !n->drain) continue;
    s->ack = NULL;
    s->emit_status = 0;
    int rc = n->drain(&s->ctx);
    if ((rc || s->emit_status) && !first) {
      first = rc ? SL_EINVAL : s->emit_status;
      sl_error_set(err, first, "native handler drain failed on worker %d: %s",
                   i, s->emit_status ? s->emit_err.msg : "non-zero return");
    }
  }
  return first;
}

void sl__native_close(struct sl_native *n) {
  if (!n) return;
  for (int i = 0; n->slots && i < n->n_slots; i++)
    if (n->slots[i].inited && n->destroy) n->destroy(&n->slots[i].ctx);
  sl_free(n->slots);
  if (n->dl) dlclose(n->dl);
  sl_free(n);
}
