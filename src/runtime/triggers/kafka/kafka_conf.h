/* sluice runtime, Kafka: the librdkafka configuration shared by the
 * kafka-cluster trigger, the kafka sink and `sluice produce`.
 *
 * Security settings use Nuclio's attribute names (sasl.enable, sasl.user,
 * sasl.password, sasl.mechanism; tls.enable, tls.caCert, tls.cert, tls.key,
 * tls.insecureSkipVerify) and any librdkafka property can be passed through
 * verbatim in `librdkafka: {property: value}`; unknown properties and bad
 * values are configuration errors, never ignored. */
#ifndef SLUICE_RUNTIME_KAFKA_CONF_H
#define SLUICE_RUNTIME_KAFKA_CONF_H

#include "runtime/config.h"
#include "sluice/error.h"

#ifdef SLUICE_HAVE_RDKAFKA
#include <librdkafka/rdkafka.h>

/* Sets one property; on failure fills err with "<where>: <key>: <why>". */
int sl__kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                  const char *where, struct sl_error *err);
/* Applies brokers, Nuclio-style sasl/tls maps and the passthrough map.
 * Any of them may be empty. */
int sl__kafka_conf_common(rd_kafka_conf_t *conf,
                          const struct sl_strlist *brokers,
                          const struct sl_strmap *sasl,
                          const struct sl_strmap *tls,
                          const struct sl_strmap *passthrough,
                          const char *where, struct sl_error *err);
#endif

/* The error of a spec naming a Kafka kind in a build without librdkafka. */
int sl__kafka_not_built(const char *kind, const char *file, int line, int col,
                        const char *name, struct sl_error *err);

#endif
