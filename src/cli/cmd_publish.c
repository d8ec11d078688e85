/* sluice publish: a test publisher for the nats and mqtt triggers (Debian
 * ships no NATS command-line client). Messages are either lines of stdin
 * (one message per line) or generated log records {"ts", "service", "seq",
 * "bytes", "level"} with seq = start, start+1, ... so that tests can check
 * the output against values they compute themselves. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "sluice/alloc.h"

#ifdef SLUICE_HAVE_NATS
#include <nats/nats.h>
#endif
#ifdef SLUICE_HAVE_MOSQUITTO
#include <mosquitto.h>
#endif

static void usage(FILE *f) {
  fprintf(f, "usage: sluice publish nats [--url URL] --subject S [--jetstream "
             "[--stream NAME]]\n"
             "       sluice publish mqtt [--url tcp://HOST:PORT] --topic T "
             "[--qos 0|1]\n"
             "  message source: --count N [--start K] [--per-message L] "
             "generates N records\n"
             "  (L records per message), else each line of stdin is one "
             "message.\n"
             "  --stream NAME creates the JetStream stream when it is missing, "
             "over the subject's\n  first token (logs.web -> logs.>).\n"
             "Prints the messages published and the rate on stderr.\n");
}

struct src {
  long long count, start, per_msg, next;
  char *line;
  size_t line_cap;
  char *buf;
  size_t buf_cap;
};

static const char *const services[] = {"checkout", "search",  "auth",   "cart",
                                       "payments", "profile", "catalog"};
static const char *const levels[] = {"INFO", "INFO", "INFO", "WARN", "ERROR"};

/* The next message (borrowed until the next call), or NULL at the end. */
__attribute__((unused)) static const char *next_msg(struct src *s, int *len) {
  if (s->count < 0) {
    ssize_t n = getline(&s->line, &s->line_cap, stdin);
    if (n < 0) return NULL;
    while (n > 0 && (s->line[n - 1] == '\n' || s->line[n - 1] == '\r'))
      n--;
    *len = (int)n;
    return s->line;
  }
  if (s->next >= s->start + s->count) return NULL;
  size_t used = 0;
  for (long long k = 0; k < s->per_msg && s->next < s->start + s->count; k++) {
    if (s->buf_cap - used < 256) {
      size_t nc = s->buf_cap ? s->buf_cap * 2 : 4096;
      char *nb = sl_realloc(s->buf, nc);
      if (!nb) return NULL;
      s->buf = nb;
      s->buf_cap = nc;
    }
    long long i = s->next++;
    int w = snprintf(s->buf + used, s->buf_cap - used,
                     "%s{\"ts\":\"2024-01-01T%02lld:%02lld:%02lldZ\","
                     "\"service\":\"%s\",\"level\":\"%s\",\"seq\":%lld,"
                     "\"bytes\":%lld}",
                     used ? "\n" : "", (i / 3600) % 24, (i / 60) % 60, i % 60,
                     services[i % 7], levels[i % 5], i, i % 1000);
    used += (size_t)w;
  }
  *len = (int)used;
  return s->buf;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#ifdef SLUICE_HAVE_NATS
static void js_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure) {
  (void)js;
  if (__atomic_add_fetch((long long *)closure, 1, __ATOMIC_RELAXED) == 1)
    fprintf(stderr, "publish: JetStream refused a message: %s\n",
            pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
}

static int pub_nats(const char *url, const char *subject, bool jetstream,
                    const char *stream, struct src *s, long long *sent) {
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  long long failed = 0;
  natsStatus st = natsConnection_ConnectTo(&nc, url);
  if (st != NATS_OK) {
    fprintf(stderr, "publish: cannot connect to %s: %s\n", url,
            natsStatus_GetText(st));
    return 1;
  }
  int rc = 0;
  if (jetstream) {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 8192;
    jo.PublishAsync.ErrHandler = js_pub_error;
    jo.PublishAsync.ErrHandlerClosure = &failed;
    st = natsConnection_JetStream(&js, nc, &jo);
    if (st == NATS_OK && stream) {
      jsStreamInfo *si = NULL;
      jsErrCode jerr = 0;
      if (js_GetStreamInfo(&si, js, stream, NULL, &jerr) == NATS_OK) {
        jsStreamInfo_Destroy(si);
      } else {
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        sc.Name = stream;
        /* The stream covers the subject's first token: "logs.web" -> "logs.>".
         */
        char wide[512];
        const char *dot = strchr(subject, '.');
        snprintf(wide, sizeof wide, "%.*s%s",
                 (int)(dot ? dot - subject : (long)strlen(subject)), subject,
                 dot ? ".>" : "");
        const char *subs[1] = {wide};
        sc.Subjects = subs;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        st = js_AddStream(&si, js, &sc, NULL, &jerr);
        if (st == NATS_OK) jsStreamInfo_Destroy(si);
      }
    }
    if (st != NATS_OK) {
      fprintf(stderr, "publish: JetStream setup failed: %s (%s)\n",
              natsStatus_GetText(st), nats_GetLastError(NULL));
      rc = 1;
      goto out;
    }
  }
  int len;
  const char *m;
  while ((m = next_msg(s, &len)) != NULL) {
    if (jetstream)
      st = js_PublishAsync(js, subject, m, len, NULL);
    else
      st = natsConnection_Publish(nc, subject, m, len);
    if (st != NATS_OK) {
      fprintf(stderr, "publish: failed after %lld messages: %s\n", *sent,
              natsStatus_GetText(st));
      rc = 1;
      goto out;
    }
    (*sent)++;
  }
  if (jetstream) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if (*sent) st = js_PublishAsyncComplete(js, &po);
    if (__atomic_load_n(&failed, __ATOMIC_RELAXED)) {
      fprintf(stderr, "publish: %lld messages refused by JetStream\n",
              __atomic_load_n(&failed, __ATOMIC_RELAXED));
      rc = 1;
    }
  } else {
    st = natsConnection_FlushTimeout(nc, 60000);
  }
  if (st != NATS_OK) {
    fprintf(stderr, "publish: flush failed: %s\n", natsStatus_GetText(st));
    rc = 1;
  }
out:
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return rc;
}
#endif

#ifdef SLUICE_HAVE_MOSQUITTO
struct mq_pub {
  long long acked;
  int connected; /* 0 waiting, 1 ok, -1 refused */
};

static void mq_on_publish(struct mosquitto *m, void *obj, int mid) {
  (void)m;
  (void)mid;
  __atomic_add_fetch(&((struct mq_pub *)obj)->acked, 1, __ATOMIC_RELAXED);
}

static void mq_on_connect(struct mosquitto *m, void *obj, int rc) {
  (void)m;
  __atomic_store_n(&((struct mq_pub *)obj)->connected, rc ? -1 : 1,
                   __ATOMIC_RELEASE);
}

static int pub_mqtt(const char *url, const char *topic, int qos, struct src *s,
                    long long *sent) {
  char host[256] = "127.0.0.1";
  int port = 1883;
  const char *p = strstr(url, "://") ? strstr(url, "://") + 3 : url;
  const char *colon = strrchr(p, ':');
  snprintf(host, sizeof host, "%.*s",
           (int)(colon ? colon - p : (long)strlen(p)), p);
  if (colon) port = atoi(colon + 1);
  mosquitto_lib_init();
  struct mq_pub st = {0, 0};
  struct mosquitto *m = mosquitto_new(NULL, true, &st);
  if (!m) return 1;
  mosquitto_max_inflight_messages_set(m, 1000);
  mosquitto_publish_callback_set(m, mq_on_publish);
  mosquitto_connect_callback_set(m, mq_on_connect);
  int rc = mosquitto_connect(m, host, port, 60);
  if (rc == 0) rc = mosquitto_loop_start(m);
  if (rc) {
    fprintf(stderr, "publish: cannot connect to %s:%d: %s\n", host, port,
            mosquitto_strerror(rc));
    mosquitto_destroy(m);
    return 1;
  }
  while (__atomic_load_n(&st.connected, __ATOMIC_ACQUIRE) == 0)
    usleep(1000);
  int len;
  const char *msg;
  while (rc == 0 && (msg = next_msg(s, &len)) != NULL) {
    /* Keep the client's queue bounded. */
    while (*sent - __atomic_load_n(&st.acked, __ATOMIC_RELAXED) > 20000 &&
           qos > 0)
      usleep(200);
    rc = mosquitto_publish(m, NULL, topic, len, msg, qos, false);
    if (rc == 0) (*sent)++;
  }
  double deadline = now_s() + 60;
  while (qos > 0 && __atomic_load_n(&st.acked, __ATOMIC_RELAXED) < *sent &&
         now_s() < deadline)
    usleep(1000);
  if (qos == 0) usleep(200000); /* let the loop write the tail */
  long long acked = __atomic_load_n(&st.acked, __ATOMIC_RELAXED);
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);
  mosquitto_destroy(m);
  if (rc) {
    fprintf(stderr, "publish: failed after %lld messages: %s\n", *sent,
            mosquitto_strerror(rc));
    return 1;
  }
  if (qos > 0 && acked < *sent) {
    fprintf(stderr, "publish: only %lld of %lld messages acknowledged\n", acked,
            *sent);
    return 1;
  }
  return 0;
}
#endif

int sl_cmd_publish(int argc, char **argv) {
  static const struct option opts[] = {
      {"url", required_argument, 0, 'u'},
      {"subject", required_argument, 0, 's'},
      {"topic", required_argument, 0, 't'},
      {"jetstream", no_argument, 0, 'j'},
      {"stream", required_argument, 0, 'S'},
      {"qos", required_argument, 0, 'q'},
      {"count", required_argument, 0, 'n'},
      {"start", required_argument, 0, 'k'},
      {"per-message", required_argument, 0, 'l'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  if (argc < 2 || argv[1][0] == '-') {
    usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
    return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
  }
  const char *kind = argv[1];
  const char *url = NULL, *subject = NULL, *stream = NULL;
  bool jetstream = false;
  int qos = 1;
  struct src s = {.count = -1, .start = 0, .per_msg = 1};
  int c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "u:s:t:jS:q:n:k:l:h", opts, NULL)) !=
         -1) {
    switch (c) {
    case 'u': url = optarg; break;
    case 's':
    case 't': subject = optarg; break;
    case 'j': jetstream = true; break;
    case 'S': stream = optarg; break;
    case 'q': qos = atoi(optarg); break;
    case 'n': s.count = atoll(optarg); break;
    case 'k': s.start = atoll(optarg); break;
    case 'l': s.per_msg = atoll(optarg); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!subject || (qos != 0 && qos != 1) || s.per_msg < 1 ||
      (s.count < 0 && s.count != -1)) {
    usage(stderr);
    return 2;
  }
  s.next = s.start;
  (void)url, (void)stream, (void)jetstream; /* unused without the libraries */
  long long sent = 0;
  double t0 = now_s();
  int rc = 2;
  if (!strcmp(kind, "nats")) {
#ifdef SLUICE_HAVE_NATS
    rc = pub_nats(url ? url : "nats://127.0.0.1:4222", subject, jetstream,
                  stream, &s, &sent);
#else
    fprintf(stderr, "publish: nats is not built in (no libnats)\n");
    rc = 1;
#endif
  } else if (!strcmp(kind, "mqtt")) {
#ifdef SLUICE_HAVE_MOSQUITTO
    rc = pub_mqtt(url ? url : "tcp://127.0.0.1:1883", subject, qos, &s, &sent);
#else
    fprintf(stderr, "publish: mqtt is not built in (no libmosquitto)\n");
    rc = 1;
#endif
  } else {
    fprintf(stderr, "publish: expected 'nats' or 'mqtt', found '%s'\n", kind);
    usage(stderr);
  }
  double dt = now_s() - t0;
  fprintf(stderr, "publish: %lld messages in %.3f s (%.0f msg/s)\n", sent, dt,
          dt > 0 ? (double)sent / dt : 0.0);
  sl_free(s.buf);
  free(s.line);
  return rc;
}
