/* sluice run: run a function until SIGTERM / SIGINT; SIGHUP reloads the
 * spec when the new one is valid (else keeps the running one and logs why).
 * Without a spec, runs the built-in default function. Signals are taken
 * synchronously with sigtimedwait in this thread (blocked everywhere else),
 * so no signal-handler state is needed. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "sluice/runtime.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: sluice run [function.yaml] [--port N] [--host ADDR] "
          "[--out DIR]\n"
          "Runs the function until SIGTERM or SIGINT (graceful drain within\n"
          "spec.drainTimeout, exit 0). SIGHUP reloads the spec. With no\n"
          "spec, runs the built-in default function: HTTP trigger on\n"
          "127.0.0.1:8080, per-minute SQL aggregation, Parquet in ./out\n"
          "(--host/--port/--out change those). A function whose triggers all\n"
          "finish by themselves (file trigger, mode once) drains and exits.\n");
}

static int load(const char *path, const char *host, int port, const char *out,
                struct sl_spec **spec, struct sl_error *err) {
  if (path) return sl_spec_load_file(path, spec, err);
  return sl_spec_default(host, port, out, spec, err);
}

int sl_cmd_run(int argc, char **argv) {
  static const struct option opts[] = {{"port", required_argument, 0, 'p'},
                                       {"host", required_argument, 0, 'H'},
                                       {"out", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *host = NULL, *out = NULL;
  int port = 0, c;
  while ((c = getopt_long(argc, argv, "p:H:o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'p': port = atoi(optarg); break;
    case 'H': host = optarg; break;
    case 'o': out = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  const char *path = optind < argc ? argv[optind] : NULL;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct sl_error err = {0};
  struct sl_spec *spec = NULL;
  struct sl_runtime *rt = NULL;
  if (load(path, host, port, out, &spec, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  if (sl_runtime_create(spec, &rt, &err) || sl_runtime_start(rt, &err)) {
    sl_log(rt, SL_LOG_ERROR, "cannot start the function", "\"error\":\"%s\"",
           err.msg);
    fprintf(stderr, "%s\n", err.msg);
    sl_runtime_free(rt);
    sl_spec_free(spec);
    return 1;
  }
  int rc = 0;
  for (;;) {
    struct timespec ts = {0, 100 * 1000000};
    int sig = sigtimedwait(&set, NULL, &ts);
    if (sig < 0) {
      if (sl_runtime_wait_finished(rt, 0) == 0) {
        sl_log(rt, SL_LOG_INFO, "every trigger finished", NULL);
        break;
      }
      continue;
    }
    if (sig == SIGHUP) {
      struct sl_spec *next = NULL;
      struct sl_error e2 = {0};
      if (load(path, host, port, out, &next, &e2)) {
        sl_log(rt, SL_LOG_ERROR,
               "reload refused: the new spec is invalid; "
               "keeping the running one",
               "\"error\":\"%s\"", e2.msg);
        continue;
      }
      struct sl_runtime *nrt = NULL;
      if (sl_runtime_create(next, &nrt, &e2)) {
        sl_log(rt, SL_LOG_ERROR, "reload refused; keeping the running one",
               "\"error\":\"%s\"", e2.msg);
        sl_spec_free(next);
        continue;
      }
      sl_log(rt, SL_LOG_INFO, "reloading", NULL);
      sl_runtime_drain(rt, -1, &err);
      sl_runtime_free(rt);
      sl_spec_free(spec);
      rt = nrt;
      spec = next;
      if (sl_runtime_start(rt, &e2)) {
        sl_log(rt, SL_LOG_ERROR, "reloaded function failed to start",
               "\"error\":\"%s\"", e2.msg);
        rc = 1;
        break;
      }
      continue;
    }
    sl_log(rt, SL_LOG_INFO, "stop signal", "\"signal\":%d", sig);
    break;
  }
  if (sl_runtime_drain(rt, -1, &err)) {
    fprintf(stderr, "drain: %s\n", err.msg);
    if (!rc) rc = 1;
  }
  sl_runtime_free(rt);
  sl_spec_free(spec);
  return rc;
}
