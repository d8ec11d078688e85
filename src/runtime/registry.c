/* The one static list of trigger and sink kinds. Add a kind: one line here
 * and a folder src/runtime/triggers/<kind>/ or src/runtime/sinks/<kind>/. */
#include <string.h>

#include "runtime/rt.h"

extern const struct sl_trigger_vtable sl__trigger_http;
extern const struct sl_trigger_vtable sl__trigger_cron;
extern const struct sl_trigger_vtable sl__trigger_file;
extern const struct sl_trigger_vtable sl__trigger_nats;
extern const struct sl_trigger_vtable sl__trigger_mqtt;
extern const struct sl_trigger_vtable sl__trigger_kafka;
extern const struct sl_sink_vtable sl__sink_stdout;
extern const struct sl_sink_vtable sl__sink_parquet;
extern const struct sl_sink_vtable sl__sink_response;
extern const struct sl_sink_vtable sl__sink_kafka;

static const struct sl_trigger_vtable *const triggers[] = {&sl__trigger_http,
                                                           &sl__trigger_cron,
                                                           &sl__trigger_file,
                                                           &sl__trigger_nats,
                                                           &sl__trigger_mqtt,
                                                           &sl__trigger_kafka,
                                                           NULL};
static const struct sl_sink_vtable *const sinks[] = {
    &sl__sink_stdout, &sl__sink_parquet, &sl__sink_response, &sl__sink_kafka,
    NULL};

const struct sl_trigger_vtable *const *sl__trigger_list(void) {
  return triggers;
}
const struct sl_sink_vtable *const *sl__sink_list(void) {
  return sinks;
}

const struct sl_trigger_vtable *sl__trigger_find(const char *kind) {
  for (int i = 0; kind && triggers[i]; i++)
    if (!strcmp(triggers[i]->name, kind)) return triggers[i];
  return NULL;
}

const struct sl_sink_vtable *sl__sink_find(const char *kind) {
  for (int i = 0; kind && sinks[i]; i++)
    if (!strcmp(sinks[i]->name, kind)) return sinks[i];
  return NULL;
}
