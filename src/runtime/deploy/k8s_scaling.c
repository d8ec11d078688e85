/* Scaling objects of a function: a HorizontalPodAutoscaler on CPU for
 * functions without Kafka triggers, a KEDA ScaledObject (Kafka consumer-group
 * lag, plus CPU) for functions with them, and a PodDisruptionBudget. */
#include <string.h>

#include "runtime/deploy/deploy.h"

static void target(const struct sl_deploy_plan *p, FILE *f) {
  fprintf(f, "  scaleTargetRef:\n"
             "    apiVersion: \"apps/v1\"\n"
             "    kind: \"Deployment\"\n"
             "    name: ");
  sl__yq(f, p->name);
  fputc('\n', f);
}

void sl__deploy_hpa(const struct sl_deploy_plan *p, FILE *f) {
  int64_t min = p->min_replicas < 1 ? 1 : p->min_replicas;
  fprintf(f,
          "# Replicas %lld..%lld on average CPU use of %lld%% of the "
          "request%s.\n",
          (long long)min, (long long)p->max_replicas, (long long)p->cpu_target,
          p->default_cpu_request ? " (500m: the spec sets none)" : "");
  fprintf(f, "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n");
  sl__deploy_metadata(p, f, p->name);
  fprintf(f, "spec:\n");
  target(p, f);
  fprintf(f,
          "  minReplicas: %lld\n"
          "  maxReplicas: %lld\n"
          "  metrics:\n"
          "    - type: \"Resource\"\n"
          "      resource:\n"
          "        name: \"cpu\"\n"
          "        target:\n"
          "          type: \"Utilization\"\n"
          "          averageUtilization: %lld\n"
          "  behavior:\n"
          "    scaleDown:\n"
          "      stabilizationWindowSeconds: 300\n",
          (long long)min, (long long)p->max_replicas, (long long)p->cpu_target);
}

static void meta_str(FILE *f, const char *key, const char *value) {
  sl__ykey(f, 8, key);
  fputc(' ', f);
  sl__yq(f, value);
  fputc('\n', f);
}

void sl__deploy_scaledobject(const struct sl_deploy_plan *p, FILE *f) {
  long long flush_s = (long long)((p->flush_ms + 999) / 1000);
  if (flush_s < 1) flush_s = 1;
  fprintf(f,
          "# KEDA scales the Deployment on the lag of the consumer group.\n");
  fprintf(f,
          "# sluice commits offsets only once the rows are durable, so a "
          "replica that\n"
          "# keeps up still shows about (its rate x the flush interval) "
          "records of lag:\n"
          "# flush interval %lld ms (%s).\n",
          (long long)p->flush_ms, p->flush_from);
  if (p->lag_threshold_given)
    fprintf(f,
            "# lagThreshold %lld per replica was set with "
            "--lag-threshold.\n",
            (long long)p->lag_threshold);
  else
    fprintf(f,
            "# lagThreshold %lld = 2 x %lld records/s per replica "
            "(--target-rate) x %lld s,\n"
            "# so KEDA adds replicas only when lag builds beyond what "
            "flushing explains.\n",
            (long long)p->lag_threshold, (long long)p->target_rate, flush_s);
  if (p->partitions > 0)
    fprintf(f,
            "# maxReplicaCount %lld: capped at the %lld partitions (%s); "
            "more replicas\n# would sit idle in the group.\n",
            (long long)p->max_replicas, (long long)p->partitions,
            p->partitions_from);
  else
    fprintf(f,
            "# maxReplicaCount %lld from spec.maxReplicas: the partition "
            "count was not known\n"
            "# (pass --partitions N); KEDA still never runs more "
            "consumers than partitions\n"
            "# (allowIdleConsumers: false).\n",
            (long long)p->max_replicas);
  fprintf(f, "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n");
  sl__deploy_metadata(p, f, p->name);
  fprintf(f, "spec:\n");
  target(p, f);
  fprintf(f,
          "  minReplicaCount: %lld\n"
          "  maxReplicaCount: %lld\n"
          "  pollingInterval: 15\n"
          "  cooldownPeriod: %lld\n"
          "  advanced:\n"
          "    horizontalPodAutoscalerConfig:\n"
          "      behavior:\n"
          "        scaleDown:\n"
          "          stabilizationWindowSeconds: 300\n"
          "  triggers:\n",
          (long long)p->min_replicas, (long long)p->max_replicas,
          (long long)(300 > 2 * flush_s ? 300 : 2 * flush_s));
  char num[32];
  for (int i = 0; i < p->n_kafka; i++) {
    const struct sl_deploy_kafka *k = &p->kafka[i];
    for (int32_t t = 0; t < k->n_topics; t++) {
      fprintf(f, "    - type: \"kafka\"\n      name: ");
      char name[200];
      snprintf(name, sizeof name, "%s-%d", k->trigger, (int)t);
      sl__yq(f, name);
      fprintf(f, "\n      metadata:\n");
      meta_str(f, "bootstrapServers", k->brokers);
      meta_str(f, "consumerGroup", k->group);
      meta_str(f, "topic", k->topics[t]);
      snprintf(num, sizeof num, "%lld", (long long)p->lag_threshold);
      meta_str(f, "lagThreshold", num);
      meta_str(f, "activationLagThreshold", "0");
      meta_str(f, "offsetResetPolicy", k->initial_offset);
      meta_str(f, "allowIdleConsumers", "false");
    }
  }
  /* CPU too: a GPU-bound or SQL-heavy function can be short of CPU before
   * lag shows. */
  snprintf(num, sizeof num, "%lld", (long long)p->cpu_target);
  fprintf(f, "    - type: \"cpu\"\n      metricType: \"Utilization\"\n"
             "      metadata:\n");
  meta_str(f, "value", num);
}

void sl__deploy_pdb(const struct sl_deploy_plan *p, FILE *f) {
  fprintf(f, "# Voluntary evictions (node drains) take one replica at a "
             "time; each drains\n# within its grace period.\n"
             "apiVersion: policy/v1\nkind: PodDisruptionBudget\n");
  sl__deploy_metadata(p, f, p->name);
  fprintf(f, "spec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n");
  sl__ykey(f, 6, "sluice.dev/function");
  fputc(' ', f);
  sl__yq(f, p->name);
  fputc('\n', f);
}
