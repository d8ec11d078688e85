/* The http trigger, on libmicrohttpd (thread per connection, keep-alive).
 *
 * POST/PUT on `path`: the body (one JSON object, JSON Lines or a JSON array)
 * is split into records and appended to the trigger's batcher; the request
 * waits until the batch holding its records went through the handler and
 * sinks, then answers {"accepted":N,"rejected":M} (200 when nothing was
 * rejected or something was accepted, 400 when every record was rejected).
 * When the queue stays full for workerAvailabilityTimeoutMilliseconds the
 * answer is 503 with Retry-After. GET /metrics, /ready, /live are served here
 * when spec.admin.port is 0. */
#include "runtime/rt.h"

#ifdef SLUICE_HAVE_MHD
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/records.h"
#include "runtime/rt.h"
#include "sluice/alloc.h"

struct http_attrs {
  char *host;
  int64_t port;
  char *path;
  int64_t max_body;
  bool keep_alive;
  int64_t connection_limit;
  int64_t idle_timeout_s;
  int64_t retry_after_s;
};

#define A(f) offsetof(struct http_attrs, f)
static const struct sl_cfg_entry http_config[] = {
    {"host", SL_CFG_STRING, "127.0.0.1", 0, 0, NULL, A(host),
     "IPv4 address to listen on (`0.0.0.0`: every interface).", false},
    {"port", SL_CFG_INT, "8080", 0, 65535, NULL, A(port),
     "TCP port (0: any free port, logged at start).", false},
    {"path", SL_CFG_STRING, "/", 0, 0, NULL, A(path),
     "URL path that accepts events (POST or PUT).", false},
    {"maxRequestBodySize", SL_CFG_SIZE, "32MiB", 1, 1073741824, NULL,
     A(max_body), "Larger bodies are answered 413.", false},
    {"keepAlive", SL_CFG_BOOL, "true", 0, 0, NULL, A(keep_alive),
     "Keep connections open between requests (HTTP/1.1).", false},
    {"connectionLimit", SL_CFG_INT, "1024", 1, 65536, NULL, A(connection_limit),
     "Most concurrent connections.", false},
    {"idleTimeout", SL_CFG_INT, "60", 0, 86400, NULL, A(idle_timeout_s),
     "Seconds an idle connection stays open (0: forever).", false},
    {"retryAfter", SL_CFG_INT, "1", 0, 3600, NULL, A(retry_after_s),
     "Seconds sent in Retry-After with a 503.", false},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};

struct http_state {
  struct MHD_Daemon *d;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int in_flight; /* requests between admission and the end of their append */
  bool closed;
};

struct req {
  char *body;
  size_t len, cap;
  bool too_large;
};

static int http_validate(const struct sl_spec_trigger *t, const char *file,
                         struct sl_error *err) {
  const struct http_attrs *a = t->attrs;
  struct in_addr ia;
  if (inet_pton(AF_INET, a->host, &ia) != 1)
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes.host: expected "
                        "an IPv4 address, found '%s'",
                        file, t->line, t->col, t->name, a->host);
  if (a->path[0] != '/')
    return sl_error_set(err, SL_EINVAL,
                        "%s:%d:%d: spec.triggers.%s.attributes.path: expected "
                        "a path starting with '/', found '%s'",
                        file, t->line, t->col, t->name, a->path);
  return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *ctype, char *body, size_t len,
                             bool must_free, int64_t retry_after,
                             bool keep_alive) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
  if (!r) {
    if (must_free) free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", ctype);
  if (retry_after >= 0) {
    char ra[32];
    snprintf(ra, sizeof ra, "%lld", (long long)retry_after);
    MHD_add_response_header(r, "Retry-After", ra);
  }
  if (!keep_alive) MHD_add_response_header(r, "Connection", "close");
  enum MHD_Result rc = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status,
                                  const char *json, int64_t retry_after,
                                  bool keep_alive) {
  return reply(c, status, "application/json", (char *)json, strlen(json), false,
               retry_after, keep_alive);
}

static bool enter(struct sl_trigger *t, struct http_state *st) {
  pthread_mutex_lock(&st->mu);
  bool ok = !st->closed && atomic_load(&t->accepting);
  if (ok) st->in_flight++;
  pthread_mutex_unlock(&st->mu);
  return ok;
}

static void leave(struct http_state *st) {
  pthread_mutex_lock(&st->mu);
  if (--st->in_flight == 0) pthread_cond_broadcast(&st->cv);
  pthread_mutex_unlock(&st->mu);
}

static enum MHD_Result ingest(struct sl_trigger *t, struct MHD_Connection *c,
                              struct req *rq) {
  const struct http_attrs *a = t->attrs;
  struct http_state *st = t->state;
  char msg[320];
  sl__count(&t->m->requests, 1);
  if (!enter(t, st))
    return reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "{\"error\":\"draining\"}\n", a->retry_after_s, false);
  if (!sl__batcher_admit(t->batcher, t->spec->worker_timeout_ms)) {
    leave(st);
    sl__count(&t->m->rejected_503, 1);
    return reply_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "{\"error\":\"every worker stayed busy\"}\n",
                      a->retry_after_s, a->keep_alive);
  }
  struct sl_text lines = {0};
  int64_t n = 0;
  const char *why = NULL;
  int rc =
      sl__split_records(rq->body ? rq->body : "", rq->len, &lines, &n, &why);
  if (rc) {
    leave(st);
    sl_free(lines.p);
    if (rc == SL_ENOMEM)
      return reply_json(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                        "{\"error\":\"out of memory\"}\n", -1, a->keep_alive);
    if (t->rt->dead)
      sl__deadletter_write(t->rt->dead, rq->body ? rq->body : "", rq->len, why,
                           t->spec->name, NULL, -1);
    sl__count(&t->m->dead_letters, 1);
    snprintf(msg, sizeof msg,
             "{\"accepted\":0,\"rejected\":1,\"error\":\"%s\"}\n", why);
    return reply_json(c, MHD_HTTP_BAD_REQUEST, msg, -1, a->keep_alive);
  }
  if (n == 0) {
    leave(st);
    sl_free(lines.p);
    return reply_json(c, MHD_HTTP_OK, "{\"accepted\":0,\"rejected\":0}\n", -1,
                      a->keep_alive);
  }
  struct sl_ticket tk;
  sl__ticket_init(&tk);
  struct sl_error err = {0};
  rc = sl__batcher_append(t->batcher, lines.p, lines.len, n, &tk, NULL, &err);
  leave(st);
  sl_free(lines.p);
  if (!rc) sl__ticket_wait(&tk);
  unsigned status = MHD_HTTP_OK;
  if (rc || tk.status) {
    char esc[200];
    const char *m = rc ? err.msg : tk.reason;
    sl__json_escape(esc, sizeof esc, m, strlen(m));
    snprintf(msg, sizeof msg,
             "{\"accepted\":0,\"rejected\":%lld,"
             "\"error\":\"%s\"}\n",
             (long long)n, esc);
    status = MHD_HTTP_INTERNAL_SERVER_ERROR;
  } else {
    if (tk.accepted == 0 && tk.rejected > 0) status = MHD_HTTP_BAD_REQUEST;
    if (tk.results) { /* the response sink's rows */
      size_t cap = tk.results_len + 128;
      char *body = malloc(cap); /* MHD frees it with free() */
      if (body) {
        int k = snprintf(
            body, cap,
            "{\"accepted\":%lld,\"rejected\":%lld,\"results\":[%s]}\n",
            (long long)tk.accepted, (long long)tk.rejected, tk.results);
        sl__ticket_destroy(&tk);
        return reply(c, status, "application/json", body, (size_t)k, true, -1,
                     a->keep_alive);
      }
    }
    snprintf(msg, sizeof msg, "{\"accepted\":%lld,\"rejected\":%lld}\n",
             (long long)tk.accepted, (long long)tk.rejected);
  }
  sl__ticket_destroy(&tk);
  return reply_json(c, status, msg, -1, a->keep_alive);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  struct sl_trigger *t = cls;
  const struct http_attrs *a = t->attrs;
  bool is_post = !strcmp(method, "POST") || !strcmp(method, "PUT");
  struct req *rq = *con_cls;
  if (!rq) {
    rq = sl_calloc(1, sizeof *rq);
    if (!rq) return MHD_NO;
    *con_cls = rq;
    return MHD_YES;
  }
  if (*upload_size) {
    if (!rq->too_large) {
      size_t k = *upload_size;
      if ((int64_t)(rq->len + k) > a->max_body) {
        rq->too_large = true;
      } else {
        if (rq->len + k > rq->cap) {
          size_t ncap = rq->cap ? rq->cap * 2 : 65536;
          while (ncap < rq->len + k)
            ncap *= 2;
          char *nb = sl_realloc(rq->body, ncap);
          if (!nb) return MHD_NO;
          rq->body = nb;
          rq->cap = ncap;
        }
        memcpy(rq->body + rq->len, upload, k);
        rq->len += k;
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (!strcmp(method, "GET") && t->rt->spec->admin.port == 0) {
    int status;
    char *body;
    size_t len;
    const char *ctype;
    if (sl__admin_route(t->rt, url, &status, &body, &len, &ctype)) {
      /* MHD frees with free(): copy out of sl_malloc'd memory. */
      enum MHD_Result r = reply(c, (unsigned)status, ctype, body, len, false,
                                -1, a->keep_alive);
      sl_free(body);
      return r;
    }
  }
  if (strcmp(url, a->path))
    return reply_json(c, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such path\"}\n",
                      -1, a->keep_alive);
  if (!is_post)
    return reply_json(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                      "{\"error\":\"use POST or PUT\"}\n", -1, a->keep_alive);
  if (rq->too_large) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "{\"error\":\"body larger than maxRequestBodySize (%lld)\"}\n",
             (long long)a->max_body);
    return reply_json(c, 413, msg, -1, false);
  }
  (void)version;
  return ingest(t, c, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  struct req *rq = *con_cls;
  (void)cls;
  (void)c;
  (void)toe;
  if (!rq) return;
  sl_free(rq->body);
  sl_free(rq);
  *con_cls = NULL;
}

static int http_init(struct sl_trigger *t, struct sl_error *err) {
  struct http_state *st = sl_calloc(1, sizeof *st);
  if (!st) return sl_error_set(err, SL_ENOMEM, "out of memory");
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->cv, NULL);
  t->state = st;
  return 0;
}

static int http_start(struct sl_trigger *t, struct sl_error *err) {
  const struct http_attrs *a = t->attrs;
  struct http_state *st = t->state;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)a->port);
  inet_pton(AF_INET, a->host, &sa.sin_addr);
  st->d = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
          MHD_USE_AUTO | MHD_USE_ITC,
      (uint16_t)a->port, NULL, NULL, on_request, t, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, t,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)a->connection_limit,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)a->idle_timeout_s,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
  if (!st->d)
    return sl_error_set(err, SL_EIO,
                        "trigger %s: cannot listen on %s:%lld (port in use?)",
                        t->spec->name, a->host, (long long)a->port);
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(st->d, MHD_DAEMON_INFO_BIND_PORT);
  int port = info ? (int)info->port : (int)a->port;
  if (!t->rt->http_port) t->rt->http_port = port;
  sl_log(t->rt, SL_LOG_INFO, "http trigger listening",
         "\"trigger\":\"%s\",\"host\":\"%s\",\"port\":%d,\"path\":\"%s\"",
         t->spec->name, a->host, port, a->path);
  return 0;
}

static void http_stop(struct sl_trigger *t) {
  struct http_state *st = t->state;
  pthread_mutex_lock(&st->mu);
  st->closed = true;
  while (st->in_flight > 0)
    pthread_cond_wait(&st->cv, &st->mu);
  pthread_mutex_unlock(&st->mu);
}

static void http_destroy(struct sl_trigger *t) {
  struct http_state *st = t->state;
  if (!st) return;
  if (st->d) MHD_stop_daemon(st->d);
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->cv);
  sl_free(st);
  t->state = NULL;
}

const struct sl_trigger_vtable sl__trigger_http = {
    .name = "http",
    .abi_version = SL_RT_ABI_VERSION,
    .doc = "Events in HTTP request bodies: one JSON object, JSON Lines or a "
           "JSON array. The answer says how many records were accepted and "
           "rejected; 503 with Retry-After when every worker stayed busy.",
    .config = http_config,
    .config_size = sizeof(struct http_attrs),
    .validate = http_validate,
    .init = http_init,
    .start = http_start,
    .stop = http_stop,
    .destroy = http_destroy,
};

#else /* built without libmicrohttpd */
static int http_missing(struct sl_trigger *t, struct sl_error *err) {
  return sl_error_set(err, SL_ENOTSUP,
                      "trigger %s: the http trigger is not built in "
                      "(libmicrohttpd was not found at build time)",
                      t->spec->name);
}
static const struct sl_cfg_entry http_config[] = {
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL, false}};
const struct sl_trigger_vtable sl__trigger_http = {.name = "http",
                                                   .abi_version =
                                                       SL_RT_ABI_VERSION,
                                                   .doc = "Not built in.",
                                                   .config = http_config,
                                                   .config_size = 1,
                                                   .init = http_missing};
#endif
