/* librdkafka configuration shared by the Kafka trigger, sink and producer. */
#include <stdio.h>
#include <string.h>

#include "runtime/triggers/kafka/kafka_conf.h"

int sl__kafka_not_built(const char *kind, const char *file, int line, int col,
                        const char *name, struct sl_error *err) {
  return sl_error_set(err, SL_ENOTSUP,
                      "%s:%d:%d: %s: kind '%s' is not built in (librdkafka "
                      "was not found when sluice was built; install "
                      "librdkafka-dev and rebuild)",
                      file, line, col, name, kind);
}

#ifdef SLUICE_HAVE_RDKAFKA

int sl__kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                  const char *where, struct sl_error *err) {
  char why[512];
  if (rd_kafka_conf_set(conf, key, value, why, sizeof why) != RD_KAFKA_CONF_OK)
    return sl_error_set(err, SL_EINVAL,
                        "%s: librdkafka property '%s' = '%s': %s", where, key,
                        value, why);
  return 0;
}

static const char *map_get(const struct sl_strmap *m, const char *key) {
  for (int32_t i = 0; m && i < m->n; i++)
    if (!strcmp(m->keys[i], key)) return m->values[i];
  return NULL;
}

static int truthy(const char *v) {
  return v && (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"));
}

/* Rejects keys of a Nuclio-style map that we do not know. */
static int check_keys(const struct sl_strmap *m, const char *const *known,
                      const char *where, const char *section,
                      struct sl_error *err) {
  for (int32_t i = 0; m && i < m->n; i++) {
    int ok = 0;
    for (int k = 0; known[k]; k++)
      ok |= !strcmp(known[k], m->keys[i]);
    if (!ok)
      return sl_error_set(err, SL_EINVAL,
                          "%s.%s: unknown key '%s' (expected one of the "
                          "documented keys; use `librdkafka:` for raw "
                          "properties)",
                          where, section, m->keys[i]);
  }
  return 0;
}

int sl__kafka_conf_common(rd_kafka_conf_t *conf,
                          const struct sl_strlist *brokers,
                          const struct sl_strmap *sasl,
                          const struct sl_strmap *tls,
                          const struct sl_strmap *passthrough,
                          const char *where, struct sl_error *err) {
  static const char *const sasl_keys[] = {"enable",    "user",      "password",
                                          "mechanism", "handshake", NULL};
  static const char *const tls_keys[] = {
      "enable", "caCert", "cert", "key", "keyPassword", "insecureSkipVerify",
      NULL};
  SL_RETURN_NOT_OK(check_keys(sasl, sasl_keys, where, "sasl", err));
  SL_RETURN_NOT_OK(check_keys(tls, tls_keys, where, "tls", err));
  if (brokers && brokers->n > 0) {
    size_t total = 1;
    for (int32_t i = 0; i < brokers->n; i++)
      total += strlen(brokers->v[i]) + 1;
    char list[8192];
    if (total > sizeof list)
      return sl_error_set(err, SL_ERANGE, "%s: brokers: list too long", where);
    list[0] = '\0';
    for (int32_t i = 0; i < brokers->n; i++) {
      if (i) strcat(list, ",");
      strcat(list, brokers->v[i]);
    }
    SL_RETURN_NOT_OK(
        sl__kafka_set(conf, "bootstrap.servers", list, where, err));
  }
  int use_sasl = truthy(map_get(sasl, "enable"));
  int use_tls = truthy(map_get(tls, "enable"));
  if (use_sasl || use_tls) {
    const char *proto =
        use_sasl ? (use_tls ? "SASL_SSL" : "SASL_PLAINTEXT") : "SSL";
    SL_RETURN_NOT_OK(
        sl__kafka_set(conf, "security.protocol", proto, where, err));
  }
  if (use_sasl) {
    const char *mech = map_get(sasl, "mechanism");
    SL_RETURN_NOT_OK(sl__kafka_set(conf, "sasl.mechanisms",
                                   mech ? mech : "PLAIN", where, err));
    const char *u = map_get(sasl, "user"), *p = map_get(sasl, "password");
    if (u)
      SL_RETURN_NOT_OK(sl__kafka_set(conf, "sasl.username", u, where, err));
    if (p)
      SL_RETURN_NOT_OK(sl__kafka_set(conf, "sasl.password", p, where, err));
  }
  if (use_tls) {
    const char *v;
    if ((v = map_get(tls, "caCert")))
      SL_RETURN_NOT_OK(sl__kafka_set(conf, "ssl.ca.location", v, where, err));
    if ((v = map_get(tls, "cert")))
      SL_RETURN_NOT_OK(
          sl__kafka_set(conf, "ssl.certificate.location", v, where, err));
    if ((v = map_get(tls, "key")))
      SL_RETURN_NOT_OK(sl__kafka_set(conf, "ssl.key.location", v, where, err));
    if ((v = map_get(tls, "keyPassword")))
      SL_RETURN_NOT_OK(sl__kafka_set(conf, "ssl.key.password", v, where, err));
    if (truthy(map_get(tls, "insecureSkipVerify"))) {
      SL_RETURN_NOT_OK(sl__kafka_set(
          conf, "enable.ssl.certificate.verification", "false", where, err));
      SL_RETURN_NOT_OK(sl__kafka_set(
          conf, "ssl.endpoint.identification.algorithm", "none", where, err));
    }
  }
  for (int32_t i = 0; passthrough && i < passthrough->n; i++)
    SL_RETURN_NOT_OK(sl__kafka_set(conf, passthrough->keys[i],
                                   passthrough->values[i], where, err));
  return 0;
}

#endif
