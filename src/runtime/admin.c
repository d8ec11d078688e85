/* /metrics (Prometheus text), /ready and /live; on the http trigger's port
 * or on spec.admin.port with a small libmicrohttpd server of its own. */
#include <stdio.h>
#include <string.h>

#include "runtime/rt.h"
#include "sluice/alloc.h"

#ifdef SLUICE_HAVE_MHD
#include <arpa/inet.h>
#include <microhttpd.h>
#endif

struct sl_admin {
#ifdef SLUICE_HAVE_MHD
  struct MHD_Daemon *d;
#endif
  int unused;
};

static char *dup_text(const char *s, size_t *len) {
  *len = strlen(s);
  return sl_strdup(s);
}

bool sl__admin_route(struct sl_runtime *rt, const char *url, int *status,
                     char **body, size_t *len, const char **ctype) {
  *ctype = "text/plain; charset=utf-8";
  if (!strcmp(url, "/metrics")) {
    *ctype = "text/plain; version=0.0.4; charset=utf-8";
    if (sl_runtime_metrics_text(rt, body, len)) {
      *status = 500;
      *body = dup_text("out of memory\n", len);
    } else {
      *status = 200;
    }
    return true;
  }
  if (!strcmp(url, "/live") || !strcmp(url, "/healthz")) {
    *status = 200;
    *body = dup_text("live\n", len);
    return true;
  }
  if (!strcmp(url, "/ready")) {
    bool ready = sl_runtime_ready(rt);
    *status = ready ? 200 : 503;
    *body = dup_text(ready ? "ready\n" : "not ready\n", len);
    return true;
  }
  return false;
}

#ifdef SLUICE_HAVE_MHD
static enum MHD_Result admin_request(void *cls, struct MHD_Connection *c,
                                     const char *url, const char *method,
                                     const char *version, const char *upload,
                                     size_t *upload_size, void **con_cls) {
  struct sl_runtime *rt = cls;
  (void)version;
  (void)upload;
  (void)con_cls;
  if (*upload_size) {
    *upload_size = 0;
    return MHD_YES;
  }
  int status = 404;
  char *body = NULL;
  size_t len = 0;
  const char *ctype = "text/plain";
  if (strcmp(method, "GET") ||
      !sl__admin_route(rt, url, &status, &body, &len, &ctype)) {
    status = 404;
    sl_free(body);
    body = NULL;
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(
      body ? len : 10, body ? body : "not found\n", MHD_RESPMEM_MUST_COPY);
  sl_free(body);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", ctype);
  enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return rc;
}
#endif

int sl__admin_start(struct sl_runtime *rt, struct sl_error *err) {
  const struct sl_spec *s = rt->spec;
  bool have_http = false;
  for (int32_t i = 0; i < s->n_triggers; i++)
    if (!strcmp(s->triggers[i].kind, "http")) have_http = true;
  if (s->admin.port == 0 && have_http) return 0;
#ifdef SLUICE_HAVE_MHD
  int port = s->admin.port ? (int)s->admin.port : 8081;
  struct sl_admin *a = sl_calloc(1, sizeof *a);
  if (!a) return sl_error_set(err, SL_ENOMEM, "out of memory");
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, s->admin.host, &sa.sin_addr) != 1) {
    sl_free(a);
    return sl_error_set(err, SL_EINVAL,
                        "spec.admin.host: expected an IPv4 address, found "
                        "'%s'",
                        s->admin.host);
  }
  a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO,
                          (uint16_t)port, NULL, NULL, admin_request, rt,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                          MHD_OPTION_END);
  if (!a->d) {
    sl_free(a);
    return sl_error_set(err, SL_EIO,
                        "admin server: cannot listen on %s:%d (port in use? "
                        "set spec.admin.port)",
                        s->admin.host, port);
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
  rt->admin_port = info ? (int)info->port : port;
  rt->admin = a;
  sl_log(rt, SL_LOG_INFO, "admin server listening",
         "\"host\":\"%s\",\"port\":%d", s->admin.host, rt->admin_port);
  return 0;
#else
  (void)err;
  sl_log(rt, SL_LOG_WARN, "admin server not built in (no libmicrohttpd)", NULL);
  return 0;
#endif
}

void sl__admin_stop(struct sl_runtime *rt) {
  struct sl_admin *a = rt->admin;
  if (!a) return;
#ifdef SLUICE_HAVE_MHD
  if (a->d) MHD_stop_daemon(a->d);
#endif
  sl_free(a);
  rt->admin = NULL;
}
