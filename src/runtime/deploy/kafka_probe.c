/* How many partitions a Kafka trigger's topics have, asked of the brokers
 * with the trigger's own connection settings (brokers, sasl, tls,
 * librdkafka passthrough), so that deploy can cap the replicas there: more
 * consumers than partitions sit idle in the group. Best effort with a short
 * timeout: brokers named by in-cluster DNS are often unreachable from where
 * deploy runs, and then --partitions (or KEDA's own cap) has to do. */
#include <stdio.h>
#include <string.h>

#include "runtime/deploy/deploy.h"
#include "runtime/rt.h"

#ifdef SLUICE_HAVE_RDKAFKA
#include <librdkafka/rdkafka.h>

#include "runtime/triggers/kafka/kafka_conf.h"

static const void *attr_of(const struct sl_spec_trigger *t, const char *key,
                           enum sl_cfg_type type) {
  for (const struct sl_cfg_entry *e = t->vt->config; e && e->key; e++)
    if (!strcmp(e->key, key) && e->type == type)
      return (const char *)t->attrs + e->offset;
  return NULL;
}

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf) {
  (void)rk;
  (void)level;
  (void)fac;
  (void)buf;
}

int sl__deploy_kafka_partitions(const struct sl_spec_trigger *t,
                                const struct sl_deploy_kafka *k,
                                int64_t timeout_ms, int64_t *total,
                                struct sl_error *err) {
  *total = 0;
  char why[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (!conf) return sl_error_set(err, SL_ENOMEM, "out of memory");
  rd_kafka_conf_set_log_cb(conf, quiet_log);
  char where[200];
  snprintf(where, sizeof where, "spec.triggers.%s.attributes", t->name);
  int rc = sl__kafka_conf_common(
      conf, attr_of(t, "brokers", SL_CFG_STRLIST),
      attr_of(t, "sasl", SL_CFG_STRMAP), attr_of(t, "tls", SL_CFG_STRMAP),
      attr_of(t, "librdkafka", SL_CFG_STRMAP), where, err);
  if (!rc && !attr_of(t, "brokers", SL_CFG_STRLIST))
    rc = sl__kafka_set(conf, "bootstrap.servers", k->brokers, where, err);
  /* Asking about a topic must never create it (brokers that auto-create). */
  if (!rc)
    rc = sl__kafka_set(conf, "allow.auto.create.topics", "false", where, err);
  if (rc) {
    rd_kafka_conf_destroy(conf);
    return rc;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return sl_error_set(err, SL_EINVAL, "%s: %s", where, why);
  }
  for (int32_t i = 0; i < k->n_topics && !rc; i++) {
    rd_kafka_topic_t *topic = rd_kafka_topic_new(rk, k->topics[i], NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e =
        topic ? rd_kafka_metadata(rk, 0, topic, &md, (int)timeout_ms)
              : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || !md || md->topic_cnt != 1 ||
        md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_resp_err_t te =
          e ? e : (md && md->topic_cnt ? md->topics[0].err : e);
      rc = sl_error_set(err, SL_EIO, "topic '%s' on %s: %s", k->topics[i],
                        k->brokers, rd_kafka_err2str(te));
    } else {
      *total += md->topics[0].partition_cnt;
    }
    if (md) rd_kafka_metadata_destroy(md);
    if (topic) rd_kafka_topic_destroy(topic);
  }
  rd_kafka_destroy(rk);
  return rc;
}

#else

int sl__deploy_kafka_partitions(const struct sl_spec_trigger *t,
                                const struct sl_deploy_kafka *k,
                                int64_t timeout_ms, int64_t *total,
                                struct sl_error *err) {
  (void)t;
  (void)k;
  (void)timeout_ms;
  *total = 0;
  return sl_error_set(err, SL_ENOTSUP, "librdkafka is not built in");
}

#endif
