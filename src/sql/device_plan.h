/* sluice SQL: running a query's aggregation on a device (device_plan.c). */
#ifndef SLUICE_SQL_DEVICE_PLAN_H
#define SLUICE_SQL_DEVICE_PLAN_H

#include "sluice/device.h"
#include "sql/exec.h"

struct sl_dev_plan;

/* Fills dp when stage 1 of plan p over src has a device equivalent; else
 * SL_ENOTSUP with the reason in why (for logs: "stays on the CPU: ..."). */
int sl__sql_device_plan(const struct sl_plan *p, const struct sl__source *src,
                        struct sl_dev_plan *dp, struct sl_error *why);

/* Runs dp on dev over q's input; *out_cols gets n_keys + n_aggs vecs of
 * *out_groups rows in q's result arena (the layout of sl__hagg_finish). */
int sl__sql_device_run(struct sl_query *q, struct sl_device *dev,
                       const struct sl_dev_plan *dp, struct sl_vec **out_cols,
                       int64_t *out_groups, struct sl_device_stats *stats,
                       struct sl_error *err);

#endif
