/* sluice invoke: send a test event to a running function over HTTP and
 * print the answer. A tiny HTTP/1.1 client (one request, Connection: close);
 * the server side is libmicrohttpd. */
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/commands.h"

static void usage(FILE *f) {
  fprintf(f, "usage: sluice invoke [--url http://HOST:PORT/PATH] "
             "[--body JSON | --file FILE]\n"
             "Sends one event (default: a sample log record) and prints the "
             "status and the answer\n({\"accepted\":N,\"rejected\":M}). "
             "Exit 0 on 2xx.\n");
}

static const char sample[] =
    "{\"ts\":\"2024-01-01T00:00:00Z\",\"level\":\"INFO\",\"service\":"
    "\"checkout\",\"status\":200,\"latency_ms\":12.5,\"bytes\":512}";

int sl_cmd_invoke(int argc, char **argv) {
  static const struct option opts[] = {{"url", required_argument, 0, 'u'},
                                       {"body", required_argument, 0, 'b'},
                                       {"file", required_argument, 0, 'f'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *url = "http://127.0.0.1:8080/", *body = sample, *file = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "u:b:f:h", opts, NULL)) != -1) {
    switch (c) {
    case 'u': url = optarg; break;
    case 'b': body = optarg; break;
    case 'f': file = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  char *fbody = NULL;
  size_t blen = strlen(body);
  if (file) {
    FILE *f = fopen(file, "rb");
    if (!f) {
      fprintf(stderr, "invoke: cannot open '%s'\n", file);
      return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    fbody = malloc(n > 0 ? (size_t)n : 1);
    if (!fbody || fread(fbody, 1, (size_t)n, f) != (size_t)n) {
      fclose(f);
      free(fbody);
      fprintf(stderr, "invoke: cannot read '%s'\n", file);
      return 1;
    }
    fclose(f);
    body = fbody;
    blen = (size_t)n;
  }
  char host[256], port[16] = "80", path[1024] = "/";
  if (strncmp(url, "http://", 7)) {
    fprintf(stderr,
            "invoke: expected a URL starting with http://, found "
            "'%s'\n",
            url);
    free(fbody);
    return 2;
  }
  const char *h = url + 7, *slash = strchr(h, '/');
  size_t hl = slash ? (size_t)(slash - h) : strlen(h);
  if (hl == 0 || hl >= sizeof host) {
    fprintf(stderr, "invoke: bad host in '%s'\n", url);
    free(fbody);
    return 2;
  }
  snprintf(host, sizeof host, "%.*s", (int)hl, h);
  if (slash) snprintf(path, sizeof path, "%s", slash);
  char *colon = strchr(host, ':');
  if (colon) {
    *colon = '\0';
    snprintf(port, sizeof port, "%s", colon + 1);
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *ai = NULL;
  if (getaddrinfo(host, port, &hints, &ai) || !ai) {
    fprintf(stderr, "invoke: cannot resolve '%s'\n", host);
    free(fbody);
    return 1;
  }
  int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
  if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
    fprintf(stderr,
            "invoke: cannot connect to %s:%s (is the function "
            "running?)\n",
            host, port);
    freeaddrinfo(ai);
    if (fd >= 0) close(fd);
    free(fbody);
    return 1;
  }
  freeaddrinfo(ai);
  char head[1600];
  int n = snprintf(head, sizeof head,
                   "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: "
                   "application/json\r\nContent-Length: %zu\r\nConnection: "
                   "close\r\n\r\n",
                   path, host, port, blen);
  int rc = 1;
  if (write(fd, head, (size_t)n) == n &&
      write(fd, body, blen) == (ssize_t)blen) {
    char buf[65536];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof buf - 1 &&
           (k = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
      got += (size_t)k;
    buf[got] = '\0';
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    char *b = strstr(buf, "\r\n\r\n");
    printf("%d %s", status, b ? b + 4 : "");
    if (b && b[4] && buf[got - 1] != '\n') printf("\n");
    rc = status >= 200 && status < 300 ? 0 : 1;
  } else {
    fprintf(stderr, "invoke: send failed\n");
  }
  close(fd);
  free(fbody);
  return rc;
}
