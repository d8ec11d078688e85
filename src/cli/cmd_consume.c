/* sluice consume: a consume-only NATS client, the baseline of the nats
 * trigger's benchmark (bench/nats_mqtt_bench.py). It reads N messages from a
 * subject (core) or a JetStream durable consumer (acknowledging each
 * message as it arrives), does nothing with them, and prints the rate. For
 * MQTT the baseline is Debian's mosquitto_sub. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"

#ifdef SLUICE_HAVE_NATS
#include <nats/nats.h>
#endif

static void usage(FILE *f) {
  fprintf(f,
          "usage: sluice consume nats [--url URL] --subject S --count N "
          "[--jetstream --durable NAME [--stream NAME]] [--timeout SECONDS]\n"
          "Reads N messages and prints \"messages bytes seconds\" on "
          "stdout (time from the first message to the last).\n");
}

__attribute__((unused)) static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sl_cmd_consume(int argc, char **argv) {
  static const struct option opts[] = {{"url", required_argument, 0, 'u'},
                                       {"subject", required_argument, 0, 's'},
                                       {"jetstream", no_argument, 0, 'j'},
                                       {"durable", required_argument, 0, 'd'},
                                       {"stream", required_argument, 0, 'S'},
                                       {"count", required_argument, 0, 'n'},
                                       {"timeout", required_argument, 0, 'T'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  if (argc < 2 || strcmp(argv[1], "nats")) {
    usage(stderr);
    return 2;
  }
  const char *url = "nats://127.0.0.1:4222", *subject = NULL, *durable = NULL,
             *stream = NULL;
  bool jetstream = false;
  long long count = -1;
  double timeout = 60;
  int c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "u:s:jd:S:n:T:h", opts, NULL)) != -1) {
    switch (c) {
    case 'u': url = optarg; break;
    case 's': subject = optarg; break;
    case 'j': jetstream = true; break;
    case 'd': durable = optarg; break;
    case 'S': stream = optarg; break;
    case 'n': count = atoll(optarg); break;
    case 'T': timeout = atof(optarg); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!subject || count < 1 || (jetstream && !durable)) {
    usage(stderr);
    return 2;
  }
#ifdef SLUICE_HAVE_NATS
  natsConnection *nc = NULL;
  natsSubscription *sub = NULL;
  jsCtx *js = NULL;
  natsStatus st = natsConnection_ConnectTo(&nc, url);
  if (st == NATS_OK && !jetstream) {
    st = natsConnection_SubscribeSync(&sub, nc, subject);
    if (st == NATS_OK) st = natsSubscription_SetPendingLimits(sub, -1, -1);
  } else if (st == NATS_OK) {
    st = natsConnection_JetStream(&js, nc, NULL);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Queue = durable; /* the same consumer shape as the nats trigger */
    so.ManualAck = true;
    so.Config.Durable = durable;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.MaxAckPending = 65536;
    if (st == NATS_OK)
      st = js_SubscribeSync(&sub, js, subject, NULL, &so, NULL);
    if (st == NATS_OK) st = natsSubscription_SetPendingLimits(sub, -1, -1);
  }
  if (st != NATS_OK) {
    fprintf(stderr, "consume: %s (%s)\n", natsStatus_GetText(st),
            nats_GetLastError(NULL));
    natsConnection_Destroy(nc);
    return 1;
  }
  if (!jetstream) printf("ready\n"), fflush(stdout);
  long long got = 0, bytes = 0;
  double t0 = 0, end = now_s() + timeout;
  while (got < count && now_s() < end) {
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg(&m, sub, 500) == NATS_OK) {
        if (!t0) t0 = now_s();
        bytes += natsMsg_GetDataLength(m);
        if (jetstream) natsMsg_Ack(m, NULL);
        natsMsg_Destroy(m);
        got++;
      }
    }
  }
  double dt = t0 ? now_s() - t0 : 0;
  if (jetstream) natsConnection_FlushTimeout(nc, 5000);
  printf("%lld %lld %.6f\n", got, bytes, dt);
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return got == count ? 0 : 1;
#else
  (void)url, (void)stream, (void)timeout, (void)jetstream;
  fprintf(stderr, "consume: nats is not built in (no libnats)\n");
  return 1;
#endif
}
