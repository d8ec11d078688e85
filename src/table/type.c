/* Type names and widths. */
#include <string.h>

#include "sluice/table.h"

static const char *const type_names[SL_TYPE_COUNT_] = {
    [SL_TYPE_NULL] = "null",
    [SL_TYPE_BOOL] = "bool",
    [SL_TYPE_INT32] = "int32",
    [SL_TYPE_INT64] = "int64",
    [SL_TYPE_FLOAT64] = "float64",
    [SL_TYPE_UTF8] = "utf8",
    [SL_TYPE_LARGE_UTF8] = "large_utf8",
    [SL_TYPE_TIMESTAMP_MS] = "timestamp[ms]",
    [SL_TYPE_TIMESTAMP_US] = "timestamp[us]",
    [SL_TYPE_DATE32] = "date32",
    [SL_TYPE_LIST] = "list",
    [SL_TYPE_STRUCT] = "struct",
    [SL_TYPE_DICT_UTF8] = "dictionary<int32,utf8>",
};

const char *sl_type_name(enum sl_type_id t) {
  if ((unsigned)t >= SL_TYPE_COUNT_) return "?";
  return type_names[t];
}

static const struct {
  const char *name;
  enum sl_type_id id;
} aliases[] = {
    {"string", SL_TYPE_UTF8},
    {"varchar", SL_TYPE_UTF8},
    {"text", SL_TYPE_UTF8},
    {"large_string", SL_TYPE_LARGE_UTF8},
    {"double", SL_TYPE_FLOAT64},
    {"float", SL_TYPE_FLOAT64},
    {"int", SL_TYPE_INT64},
    {"bigint", SL_TYPE_INT64},
    {"integer", SL_TYPE_INT32},
    {"boolean", SL_TYPE_BOOL},
    {"timestamp", SL_TYPE_TIMESTAMP_US},
    {"date", SL_TYPE_DATE32},
    {"dict", SL_TYPE_DICT_UTF8},
    {"dictionary", SL_TYPE_DICT_UTF8},
};

int sl_type_parse(const char *s, size_t n, enum sl_type_id *out) {
  for (int t = 0; t < SL_TYPE_COUNT_; t++) {
    if (strlen(type_names[t]) == n && strncasecmp(type_names[t], s, n) == 0) {
      *out = (enum sl_type_id)t;
      return 0;
    }
  }
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
    if (strlen(aliases[i].name) == n &&
        strncasecmp(aliases[i].name, s, n) == 0) {
      *out = aliases[i].id;
      return 0;
    }
  }
  return SL_EINVAL;
}

int sl_type_width(enum sl_type_id t) {
  switch (t) {
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32:
  case SL_TYPE_DICT_UTF8: return 4;
  case SL_TYPE_INT64:
  case SL_TYPE_FLOAT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US: return 8;
  default: return 0;
  }
}
