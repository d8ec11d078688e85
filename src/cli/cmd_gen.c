/* sluice gen: deterministic sample logs (service logs or the article's
 * metrics rows) as JSON Lines, fast enough to make gigabytes for benchmarks. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

struct rng {
  uint64_t s;
};

static uint64_t next(struct rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static uint32_t below(struct rng *r, uint32_t n) {
  return (uint32_t)(((next(r) >> 32) * n) >> 32);
}
static double unit(struct rng *r) {
  return (double)(next(r) >> 11) * 0x1p-53;
}

#define PICK(r, arr) (arr[below(r, sizeof arr / sizeof arr[0])])

static const char *const levels[] = {"INFO",  "INFO", "INFO", "INFO",
                                     "DEBUG", "WARN", "ERROR"};
static const char *const services[] = {"checkout", "cart",     "search",
                                       "auth",     "payments", "catalog",
                                       "shipping", "frontend"};
static const char *const regions[] = {"us-east-1",  "us-west-2",
                                      "eu-west-1",  "eu-central-1",
                                      "ap-south-1", "ap-northeast-1"};
static const char *const methods[] = {"GET",  "GET", "GET",
                                      "POST", "PUT", "DELETE"};
static const char *const paths[] = {
    "/api/v1/orders",   "/api/v1/cart",  "/api/v1/search", "/login",
    "/api/v1/payments", "/api/v1/items", "/health",        "/api/v2/users",
    "/static/app.js",   "/api/v1/ship"};
static const int statuses[] = {200, 200, 200, 200, 200, 200, 200,
                               201, 204, 301, 304, 400, 401, 403,
                               404, 404, 429, 500, 502, 503};
/* JSON-escaped user agents: quotes, backslashes, \u escapes, raw UTF-8. */
static const char *const agents[] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) \\\"Edge\\\"",
    "curl/8.5.0",
    "okhttp/4.12 (Android 14; caf\\u00e9)",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "MeinBrowser/1.0 (München; Grüße)",
    "アプリ/3.1 (iOS 17)",
    "python-requests/2.31 C:\\\\tmp\\\\agent",
    "emoji-client/0.1 \\ud83d\\ude80",
};
static const struct {
  const char *country, *city;
} places[] = {{"US", "New York"},  {"US", "San Francisco"}, {"DE", "München"},
              {"DE", "Berlin"},    {"FR", "Paris"},         {"JP", "東京"},
              {"BR", "São Paulo"}, {"IN", "Bengaluru"},     {"GB", "London"},
              {"NL", "Amsterdam"}, {"CA", "Montréal"},      {"AU", "Sydney"}};
static const char *const tags[] = {"web", "mobile",   "beta", "canary",
                                   "eu",  "internal", "retry"};
static const char *const errors[] = {
    "upstream timeout after 30s", "connection reset by peer",
    "invalid token: \\\"expired\\\"", "db error:\\nduplicate key",
    "rate limited"};

struct gen {
  struct rng r;
  FILE *out;
  int messy;
  int64_t ts_ms;
  char line[4096];
  size_t n;
  int64_t bad_lines;
};

static void put(struct gen *g, const char *s) {
  size_t k = strlen(s);
  memcpy(g->line + g->n, s, k);
  g->n += k;
}
static void putf(struct gen *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void putf(struct gen *g, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(g->line + g->n, sizeof g->line - g->n, fmt, ap);
  va_end(ap);
  if (k > 0) g->n += (size_t)k;
}
static void ws(struct gen *g) {
  if (g->messy && below(&g->r, 4) == 0) put(g, below(&g->r, 2) ? " " : "\t ");
}

static void format_ts(char *buf, size_t cap, int64_t ms) {
  int64_t secs = ms / 1000, days = secs / 86400, rem = secs % 86400;
  /* days since 1970-01-01 to civil date (proleptic Gregorian). */
  int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)y, (int)m,
           (int)d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60),
           (int)(ms % 1000));
}

/* One key-value pair per call, so the messy mode can shuffle them. */
enum {
  K_TS,
  K_LEVEL,
  K_SERVICE,
  K_HOST,
  K_REGION,
  K_METHOD,
  K_PATH,
  K_STATUS,
  K_BYTES,
  K_LATENCY,
  K_USER,
  K_TRACE,
  K_AGENT,
  K_GEO,
  K_TAGS,
  K_ERROR,
  K_COUNT
};

static void emit_key(struct gen *g, int k, int status) {
  char ts[40];
  int nul = g->messy && below(&g->r, 20) == 0 && k != K_TS;
  switch (k) {
  case K_TS:
    format_ts(ts, sizeof ts, g->ts_ms);
    putf(g, "\"ts\":");
    ws(g);
    putf(g, "\"%s\"", ts);
    return;
  case K_LEVEL: put(g, "\"level\":"); break;
  case K_SERVICE: put(g, "\"service\":"); break;
  case K_HOST: put(g, "\"host\":"); break;
  case K_REGION: put(g, "\"region\":"); break;
  case K_METHOD: put(g, "\"method\":"); break;
  case K_PATH: put(g, "\"path\":"); break;
  case K_STATUS: put(g, "\"status\":"); break;
  case K_BYTES: put(g, "\"bytes\":"); break;
  case K_LATENCY: put(g, "\"latency_ms\":"); break;
  case K_USER: put(g, "\"user_id\":"); break;
  case K_TRACE: put(g, "\"trace_id\":"); break;
  case K_AGENT: put(g, "\"user_agent\":"); break;
  case K_GEO: put(g, "\"geo\":"); break;
  case K_TAGS: put(g, "\"tags\":"); break;
  case K_ERROR: put(g, "\"error\":"); break;
  }
  ws(g);
  if (nul) {
    put(g, "null");
    return;
  }
  switch (k) {
  case K_LEVEL:
    putf(g, "\"%s\"", status >= 500 ? "ERROR" : PICK(&g->r, levels));
    break;
  case K_SERVICE: putf(g, "\"%s\"", PICK(&g->r, services)); break;
  case K_HOST: putf(g, "\"web-%02u\"", below(&g->r, 64)); break;
  case K_REGION: putf(g, "\"%s\"", PICK(&g->r, regions)); break;
  case K_METHOD: putf(g, "\"%s\"", PICK(&g->r, methods)); break;
  case K_PATH: putf(g, "\"%s\"", PICK(&g->r, paths)); break;
  case K_STATUS: putf(g, "%d", status); break;
  case K_BYTES: {
    unsigned b = below(&g->r, 100000);
    if (g->messy && below(&g->r, 50) == 0)
      putf(g, "%ue3", b / 1000); /* an integer written as 1e3 */
    else
      putf(g, "%u", b);
    break;
  }
  case K_LATENCY: {
    double v = unit(&g->r) * unit(&g->r) * 2000.0;
    if (g->messy && below(&g->r, 100) == 0)
      put(g, "-0.0");
    else
      putf(g, "%.3f", v);
    break;
  }
  case K_USER: putf(g, "%u", below(&g->r, 1000000)); break;
  case K_TRACE:
    putf(g, "\"%016" PRIx64 "%016" PRIx64 "\"", next(&g->r), next(&g->r));
    break;
  case K_AGENT: putf(g, "\"%s\"", PICK(&g->r, agents)); break;
  case K_GEO: {
    unsigned p = below(&g->r, sizeof places / sizeof places[0]);
    putf(g, "{\"country\":");
    ws(g);
    putf(g, "\"%s\",", places[p].country);
    ws(g);
    putf(g, "\"city\":\"%s\"}", places[p].city);
    break;
  }
  case K_TAGS: {
    unsigned n = below(&g->r, 4);
    put(g, "[");
    for (unsigned i = 0; i < n; i++) {
      if (i) put(g, ",");
      ws(g);
      putf(g, "\"%s\"", PICK(&g->r, tags));
    }
    put(g, "]");
    break;
  }
  case K_ERROR: putf(g, "\"%s\"", PICK(&g->r, errors)); break;
  }
}

static void gen_log_line(struct gen *g) {
  int order[K_COUNT + 1];
  int n = 0;
  int status = PICK(&g->r, statuses);
  for (int k = 0; k < K_COUNT; k++) {
    if (k == K_ERROR && status < 500 && below(&g->r, 20) != 0) continue;
    order[n++] = k;
  }
  if (g->messy)
    for (int i = n - 1; i > 0; i--) {
      int j = (int)below(&g->r, (uint32_t)i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  g->n = 0;
  if (g->messy && below(&g->r, 10) == 0) put(g, "  ");
  put(g, "{");
  for (int i = 0; i < n; i++) {
    if (i) put(g, ",");
    ws(g);
    emit_key(g, order[i], status);
    if (g->messy && below(&g->r, 30) == 0)
      putf(g, ",\"x_unknown_%u\":{\"a\":[1,2,{\"b\":null}]}", below(&g->r, 3));
  }
  ws(g);
  put(g, "}");
  if (g->messy && below(&g->r, 200) == 0) {
    /* Truncated (malformed), cut on a character boundary so the file stays
     * valid UTF-8. */
    size_t cut = 1 + below(&g->r, (uint32_t)g->n - 1);
    while (cut > 1 && ((unsigned char)g->line[cut] & 0xC0) == 0x80)
      cut--;
    g->n = cut;
    g->bad_lines++;
  }
  g->line[g->n++] = '\n';
  g->ts_ms += below(&g->r, 20);
}

static const char *const companies_prefix[] = {
    "Acme",  "Globex", "Initech", "Umbrella", "Hooli",
    "Stark", "Wayne",  "Wonka",   "Tyrell",   "Cyberdyne"};

static void gen_article_line(struct gen *g) {
  g->n = 0;
  unsigned c = below(&g->r, 100);
  putf(g,
       "{\"company\":\"%s %s %u\",\"cpu_utilization\":%.4f,\"latency\":%.4f,"
       "\"packet_loss\":%.4f,\"throughput\":%.4f,"
       "\"cpu_utilization_is_error\":%s,\"latency_is_error\":%s,"
       "\"packet_loss_is_error\":%s,\"throughput_is_error\":%s,"
       "\"timestamp\":%" PRId64 "}\n",
       companies_prefix[c % 10], c < 50 ? "Corp" : "Labs", c, unit(&g->r) * 100,
       unit(&g->r) * 50, unit(&g->r) * 5, 200 + unit(&g->r) * 800,
       below(&g->r, 50) ? "false" : "true", below(&g->r, 50) ? "false" : "true",
       below(&g->r, 50) ? "false" : "true", below(&g->r, 50) ? "false" : "true",
       g->ts_ms);
  g->ts_ms += below(&g->r, 10);
}

static int parse_size(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0) return -1;
  switch (*end) {
  case 'k':
  case 'K':
    v *= 1e3;
    end++;
    break;
  case 'm':
  case 'M':
    v *= 1e6;
    end++;
    break;
  case 'g':
  case 'G':
    v *= 1e9;
    end++;
    break;
  default: break;
  }
  if (*end || v > 9e18) return -1;
  *out = (int64_t)v;
  return 0;
}

static void gen_usage(FILE *f) {
  fprintf(
      f,
      "usage: sluice gen [--rows N | --bytes SIZE] [--seed S] [--messy]\n"
      "                  [--kind logs|article] [--output FILE]\n"
      "Writes deterministic sample JSON Lines (default 100000 rows of\n"
      "service logs to stdout). SIZE takes k/M/G suffixes (powers of 10).\n"
      "--messy shuffles keys, adds whitespace, unknown keys, nulls, 1e3-style\n"
      "numbers, -0.0 and about one truncated (malformed) line in 200.\n");
}

int sl_cmd_gen(int argc, char **argv) {
  static const struct option opts[] = {{"rows", required_argument, 0, 'r'},
                                       {"bytes", required_argument, 0, 'b'},
                                       {"seed", required_argument, 0, 's'},
                                       {"messy", no_argument, 0, 'm'},
                                       {"kind", required_argument, 0, 'k'},
                                       {"output", required_argument, 0, 'o'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int64_t rows = -1, bytes = -1;
  uint64_t seed = 42;
  int messy = 0, article = 0;
  const char *output = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "r:b:s:mk:o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'r':
      if (parse_size(optarg, &rows)) {
        fprintf(stderr, "sluice gen: --rows expects a count, got '%s'\n",
                optarg);
        return 2;
      }
      break;
    case 'b':
      if (parse_size(optarg, &bytes)) {
        fprintf(stderr,
                "sluice gen: --bytes expects a size like 1G, got '%s'\n",
                optarg);
        return 2;
      }
      break;
    case 's': seed = strtoull(optarg, NULL, 10); break;
    case 'm': messy = 1; break;
    case 'k':
      if (!strcmp(optarg, "article"))
        article = 1;
      else if (strcmp(optarg, "logs")) {
        fprintf(stderr,
                "sluice gen: --kind expects logs or article, got '%s'\n",
                optarg);
        return 2;
      }
      break;
    case 'o': output = optarg; break;
    case 'h': gen_usage(stdout); return 0;
    default: gen_usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "sluice gen: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (rows < 0 && bytes < 0) rows = 100000;
  FILE *out = stdout;
  if (output && !(out = fopen(output, "wb"))) {
    fprintf(stderr, "sluice gen: cannot open '%s': %s\n", output,
            strerror(errno));
    return 1;
  }
  static char iobuf[1 << 20];
  setvbuf(out, iobuf, _IOFBF, sizeof iobuf);
  struct gen g = {.r = {seed}, .out = out, .messy = messy};
  g.ts_ms = INT64_C(1795824000000); /* 2026-11-28T00:00:00Z */
  int64_t written = 0;
  for (int64_t i = 0; rows < 0 || i < rows; i++) {
    if (bytes >= 0 && written >= bytes) break;
    if (article)
      gen_article_line(&g);
    else
      gen_log_line(&g);
    fwrite(g.line, 1, g.n, out);
    written += (int64_t)g.n;
  }
  int bad = ferror(out);
  if (out != stdout)
    bad |= fclose(out);
  else
    bad |= fflush(out);
  if (bad) {
    fprintf(stderr, "sluice gen: write failed: %s\n", strerror(errno));
    return 1;
  }
  return 0;
}
