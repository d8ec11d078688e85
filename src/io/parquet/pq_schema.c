/* sluice fields <-> Parquet schema elements, and the leaf columns with
 * their definition and repetition levels.
 *
 * Lists are written in the three-level form the spec recommends
 * (<opt> group name (LIST) { repeated group list { <opt> element } }) and
 * read in that form, the legacy two-level forms and as bare repeated
 * fields; MAP groups read as list<struct<key, value>>. */
#include <string.h>

#include "io/parquet/pq.h"

/* ---- writer ------------------------------------------------------------ */

struct leaf_vec {
  struct pq_leaf *v;
  int32_t n, cap;
};

static int push_leaf(struct leaf_vec *lv, const struct pq_leaf *l) {
  if (lv->n == lv->cap) {
    int32_t cap = lv->cap ? lv->cap * 2 : 8;
    struct pq_leaf *p = sl_realloc(lv->v, (size_t)cap * sizeof *p);
    if (!p) return SL_ENOMEM;
    lv->v = p;
    lv->cap = cap;
  }
  lv->v[lv->n++] = *l;
  return 0;
}

static int phys_of(enum sl_type_id t) {
  switch (t) {
  case SL_TYPE_BOOL: return PQ_BOOLEAN;
  case SL_TYPE_INT32:
  case SL_TYPE_DATE32:
  case SL_TYPE_NULL: return PQ_INT32;
  case SL_TYPE_INT64:
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US: return PQ_INT64;
  case SL_TYPE_FLOAT64: return PQ_DOUBLE;
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
  case SL_TYPE_DICT_UTF8: return PQ_BYTE_ARRAY;
  default: return -1;
  }
}

static int walk(struct leaf_vec *lv, struct pq_leaf *cur,
                const struct sl_field *f, const char *name, int depth,
                int16_t d, int16_t rep_ctx, struct sl_error *err) {
  if (depth >= PQ_MAX_DEPTH || cur->n_path + 2 >= PQ_MAX_PATH)
    return sl_error_set(err, SL_ERANGE, "field '%s' is nested deeper than %d",
                        f->name, PQ_MAX_DEPTH);
  struct pq_node *n = &cur->nodes[depth];
  memset(n, 0, sizeof *n);
  n->type = f->type;
  n->nullable = f->nullable || f->type == SL_TYPE_NULL;
  n->d_in = d;
  n->d_present = (int16_t)(d + n->nullable);
  n->rep_ctx = rep_ctx;
  int32_t saved_path = cur->n_path;
  cur->path[cur->n_path++] = name;
  int rc = 0;
  if (f->type == SL_TYPE_STRUCT) {
    if (f->n_children == 0)
      return sl_error_set(err, SL_ENOTSUP,
                          "struct field '%s' has no children; Parquet groups "
                          "need at least one",
                          f->name);
    for (int32_t i = 0; i < f->n_children && !rc; i++) {
      n->child = i;
      rc = walk(lv, cur, &f->children[i], f->children[i].name, depth + 1,
                n->d_present, rep_ctx, err);
    }
  } else if (f->type == SL_TYPE_LIST) {
    if (f->n_children != 1)
      return sl_error_set(err, SL_EINVAL, "list field '%s' needs one child",
                          f->name);
    n->rep = (int16_t)(rep_ctx + 1);
    n->child = 0;
    cur->path[cur->n_path++] = "list";
    rc = walk(lv, cur, &f->children[0], "element", depth + 1,
              (int16_t)(n->d_present + 1), n->rep, err);
  } else {
    int phys = phys_of(f->type);
    if (phys < 0)
      return sl_error_set(err, SL_ENOTSUP,
                          "field '%s' of type %s cannot be written to Parquet",
                          f->name, sl_type_name(f->type));
    cur->n_nodes = depth + 1;
    cur->max_def = n->d_present;
    cur->max_rep = rep_ctx;
    cur->phys = phys;
    rc = push_leaf(lv, cur);
    if (rc) rc = sl_error_set(err, rc, "out of memory");
  }
  cur->n_path = saved_path;
  return rc;
}

int pq_schema_leaves(const struct sl_schema *s, struct pq_leaf **out,
                     int32_t *n_out, struct sl_error *err) {
  struct leaf_vec lv = {0};
  struct pq_leaf *cur = sl_calloc(1, sizeof *cur);
  if (!cur) return sl_error_set(err, SL_ENOMEM, "out of memory");
  int rc = 0;
  for (int32_t i = 0; i < s->n_fields && !rc; i++) {
    cur->top = i;
    cur->n_path = 0;
    rc = walk(&lv, cur, &s->fields[i], s->fields[i].name, 0, 0, 0, err);
  }
  sl_free(cur);
  if (rc) {
    sl_free(lv.v);
    return rc;
  }
  *out = lv.v;
  *n_out = lv.n;
  return 0;
}

static int32_t count_elems(const struct sl_field *f) {
  if (f->type == SL_TYPE_LIST) return 2 + count_elems(&f->children[0]);
  int32_t n = 1;
  if (f->type == SL_TYPE_STRUCT)
    for (int32_t i = 0; i < f->n_children; i++)
      n += count_elems(&f->children[i]);
  return n;
}

static void logical(struct tc_writer *w, int16_t kind) {
  tc_field_struct(w, 10);
  tc_field_struct(w, kind);
  tc_struct_end(w);
  tc_struct_end(w);
}

static void encode_field(struct tc_writer *w, const struct sl_field *f,
                         const char *name) {
  int rep = f->nullable || f->type == SL_TYPE_NULL ? PQ_OPTIONAL : PQ_REQUIRED;
  tc_struct_begin(w);
  if (f->type == SL_TYPE_LIST) {
    tc_field_i32(w, 3, rep);
    tc_field_string(w, 4, name);
    tc_field_i32(w, 5, 1);
    tc_field_i32(w, 6, PQ_CT_LIST);
    logical(w, PQ_LT_LIST);
    tc_struct_end(w);
    tc_struct_begin(w);
    tc_field_i32(w, 3, PQ_REPEATED);
    tc_field_string(w, 4, "list");
    tc_field_i32(w, 5, 1);
    tc_struct_end(w);
    encode_field(w, &f->children[0], "element");
    return;
  }
  if (f->type == SL_TYPE_STRUCT) {
    tc_field_i32(w, 3, rep);
    tc_field_string(w, 4, name);
    tc_field_i32(w, 5, f->n_children);
    tc_struct_end(w);
    for (int32_t i = 0; i < f->n_children; i++)
      encode_field(w, &f->children[i], f->children[i].name);
    return;
  }
  tc_field_i32(w, 1, phys_of(f->type));
  tc_field_i32(w, 3, rep);
  tc_field_string(w, 4, name);
  switch (f->type) {
  case SL_TYPE_UTF8:
  case SL_TYPE_LARGE_UTF8:
  case SL_TYPE_DICT_UTF8:
    tc_field_i32(w, 6, PQ_CT_UTF8);
    logical(w, PQ_LT_STRING);
    break;
  case SL_TYPE_DATE32:
    tc_field_i32(w, 6, PQ_CT_DATE);
    logical(w, PQ_LT_DATE);
    break;
  case SL_TYPE_TIMESTAMP_MS:
  case SL_TYPE_TIMESTAMP_US: {
    bool ms = f->type == SL_TYPE_TIMESTAMP_MS;
    tc_field_i32(w, 6, ms ? PQ_CT_TIMESTAMP_MILLIS : PQ_CT_TIMESTAMP_MICROS);
    tc_field_struct(w, 10);
    tc_field_struct(w, PQ_LT_TIMESTAMP);
    tc_field_bool(w, 1, true);
    tc_field_struct(w, 2);
    tc_field_struct(w, ms ? PQ_UNIT_MILLIS : PQ_UNIT_MICROS);
    tc_struct_end(w);
    tc_struct_end(w);
    tc_struct_end(w);
    tc_struct_end(w);
    break;
  }
  case SL_TYPE_NULL: logical(w, PQ_LT_UNKNOWN); break;
  default: break;
  }
  tc_struct_end(w);
}

void pq_schema_encode(struct tc_writer *w, const struct sl_schema *s) {
  int32_t n = 1;
  for (int32_t i = 0; i < s->n_fields; i++)
    n += count_elems(&s->fields[i]);
  tc_field_list(w, 2, TC_STRUCT, n);
  tc_struct_begin(w);
  tc_field_string(w, 4, "schema");
  tc_field_i32(w, 5, s->n_fields);
  tc_struct_end(w);
  for (int32_t i = 0; i < s->n_fields; i++)
    encode_field(w, &s->fields[i], s->fields[i].name);
}

/* ---- reader ------------------------------------------------------------ */

struct dec {
  const struct pq_file_meta *m;
  int32_t next;
  struct leaf_vec lv;
  struct pq_leaf cur;
  struct sl_error *err;
};

static bool is_group(const struct pq_schema_elem *e) {
  return e->type < 0 || e->num_children > 0;
}

static void leaf_type(const struct pq_schema_elem *e, struct pq_leaf *l,
                      enum sl_type_id *t) {
  int lt = e->logical, ct = e->converted_type;
  l->conv = PQ_CONV_NONE;
  l->unsupported = NULL;
  *t = SL_TYPE_NULL;
  if (lt == PQ_LT_DECIMAL || ct == PQ_CT_DECIMAL) {
    l->unsupported = "DECIMAL columns are not supported";
    return;
  }
  switch (e->type) {
  case PQ_BOOLEAN: *t = SL_TYPE_BOOL; return;
  case PQ_INT32:
    if (lt == PQ_LT_DATE || ct == PQ_CT_DATE) {
      *t = SL_TYPE_DATE32;
    } else if ((lt == PQ_LT_INTEGER && !e->int_signed && e->int_bits == 32) ||
               ct == PQ_CT_UINT_32) {
      *t = SL_TYPE_INT64;
      l->conv = PQ_CONV_U32_TO_I64;
    } else if (lt == PQ_LT_UNKNOWN) {
      *t = SL_TYPE_NULL;
    } else {
      *t = SL_TYPE_INT32;
    }
    return;
  case PQ_INT64:
    if (lt == PQ_LT_TIMESTAMP) {
      if (e->ts_unit == PQ_UNIT_MILLIS)
        *t = SL_TYPE_TIMESTAMP_MS;
      else if (e->ts_unit == PQ_UNIT_MICROS)
        *t = SL_TYPE_TIMESTAMP_US;
      else if (e->ts_unit == PQ_UNIT_NANOS) {
        *t = SL_TYPE_TIMESTAMP_US;
        l->conv = PQ_CONV_NANOS_TO_US;
      } else {
        l->unsupported = "TIMESTAMP with an unknown unit";
      }
    } else if (ct == PQ_CT_TIMESTAMP_MILLIS) {
      *t = SL_TYPE_TIMESTAMP_MS;
    } else if (ct == PQ_CT_TIMESTAMP_MICROS) {
      *t = SL_TYPE_TIMESTAMP_US;
    } else {
      *t = SL_TYPE_INT64;
    }
    return;
  case PQ_INT96:
    *t = SL_TYPE_TIMESTAMP_US;
    l->conv = PQ_CONV_INT96_TO_US;
    return;
  case PQ_FLOAT:
    *t = SL_TYPE_FLOAT64;
    l->conv = PQ_CONV_FLOAT_TO_F64;
    return;
  case PQ_DOUBLE: *t = SL_TYPE_FLOAT64; return;
  case PQ_BYTE_ARRAY: *t = SL_TYPE_UTF8; return;
  case PQ_FIXED_LEN_BYTE_ARRAY:
    l->unsupported = "FIXED_LEN_BYTE_ARRAY columns are not supported";
    return;
  default: l->unsupported = "unknown physical type"; return;
  }
}

static int convert(struct dec *d, int32_t idx, bool force_required,
                   const char *name, int depth, int16_t d_in, int16_t rep_ctx,
                   struct sl_field *out);

static int take(struct dec *d, int32_t *idx) {
  if (d->next >= d->m->n_schema)
    return sl_error_set(d->err, SL_EINVAL,
                        "schema: element %d is missing (the footer lists %d, "
                        "children counts ask for more)",
                        d->next, d->m->n_schema);
  *idx = d->next++;
  return 0;
}

static int make_list(struct dec *d, const struct pq_schema_elem *e,
                     const char *name, bool nullable, int depth, int16_t d_in,
                     int16_t rep_ctx, int32_t elem_idx, bool elem_required,
                     struct sl_field *out) {
  struct pq_node *n = &d->cur.nodes[depth];
  memset(n, 0, sizeof *n);
  n->type = SL_TYPE_LIST;
  n->nullable = nullable;
  n->d_in = d_in;
  n->d_present = (int16_t)(d_in + nullable);
  n->rep_ctx = rep_ctx;
  n->rep = (int16_t)(rep_ctx + 1);
  struct sl_field child;
  int rc = convert(d, elem_idx, elem_required, "item", depth + 1,
                   (int16_t)(n->d_present + 1), n->rep, &child);
  if (rc) return rc;
  rc = sl_field_init(out, name, SL_TYPE_LIST, nullable);
  if (!rc) rc = sl_field_add_child(out, &child);
  sl_field_release(&child);
  if (rc) return sl_error_set(d->err, rc, "out of memory");
  (void)e;
  return 0;
}

static int convert(struct dec *d, int32_t idx, bool force_required,
                   const char *name, int depth, int16_t d_in, int16_t rep_ctx,
                   struct sl_field *out) {
  const struct pq_schema_elem *e = &d->m->schema[idx];
  memset(out, 0, sizeof *out);
  if (depth >= PQ_MAX_DEPTH - 1 || d->cur.n_path >= PQ_MAX_PATH - 1)
    return sl_error_set(d->err, SL_ERANGE,
                        "schema: column '%s' nested deeper than %d", e->name,
                        PQ_MAX_DEPTH);
  if (e->num_children < 0)
    return sl_error_set(d->err, SL_EINVAL,
                        "schema: element '%s' has %d children", e->name,
                        e->num_children);
  int32_t saved_path = d->cur.n_path;
  d->cur.path[d->cur.n_path++] = e->name;
  int rc = 0;
  int rep = force_required ? PQ_REQUIRED : e->repetition;
  if (rep == PQ_REPEATED) {
    /* A bare repeated field: a required list of required elements. */
    d->cur.n_path--; /* the element re-enters this same schema element */
    rc = make_list(d, e, name, false, depth, d_in, rep_ctx, idx, true, out);
    d->cur.n_path = saved_path;
    return rc;
  }
  bool nullable = rep == PQ_OPTIONAL;
  if (is_group(e)) {
    bool is_list = e->logical == PQ_LT_LIST || e->converted_type == PQ_CT_LIST;
    bool is_map = e->logical == PQ_LT_MAP || e->converted_type == PQ_CT_MAP ||
                  e->converted_type == PQ_CT_MAP_KEY_VALUE;
    if ((is_list || is_map) && e->num_children == 1) {
      int32_t c_idx = 0;
      if ((rc = take(d, &c_idx))) goto done;
      const struct pq_schema_elem *c = &d->m->schema[c_idx];
      if (c->repetition != PQ_REPEATED) {
        rc = sl_error_set(d->err, SL_EINVAL,
                          "schema: LIST/MAP group '%s' has a child '%s' that "
                          "is not repeated",
                          e->name, c->name);
        goto done;
      }
      size_t nl = strlen(e->name);
      bool legacy = !is_list || !is_group(c) || c->num_children != 1 ||
                    strcmp(c->name, "array") == 0 ||
                    (strncmp(c->name, e->name, nl) == 0 &&
                     strcmp(c->name + nl, "_tuple") == 0);
      if (legacy) {
        d->cur.path[d->cur.n_path++] = c->name;
        d->cur.n_path--; /* convert() pushes c->name itself */
        rc = make_list(d, e, name, nullable, depth, d_in, rep_ctx, c_idx, true,
                       out);
      } else {
        d->cur.path[d->cur.n_path++] = c->name;
        int32_t el_idx = 0;
        if ((rc = take(d, &el_idx))) goto done;
        rc = make_list(d, e, name, nullable, depth, d_in, rep_ctx, el_idx,
                       false, out);
      }
      goto done;
    }
    struct pq_node *n = &d->cur.nodes[depth];
    memset(n, 0, sizeof *n);
    n->type = SL_TYPE_STRUCT;
    n->nullable = nullable;
    n->d_in = d_in;
    n->d_present = (int16_t)(d_in + nullable);
    n->rep_ctx = rep_ctx;
    if ((rc = sl_field_init(out, name, SL_TYPE_STRUCT, nullable))) goto oom;
    if (e->num_children == 0) {
      rc = sl_error_set(d->err, SL_ENOTSUP, "schema: group '%s' is empty",
                        e->name);
      goto done;
    }
    for (int32_t i = 0; i < e->num_children && !rc; i++) {
      int32_t c_idx = 0;
      if ((rc = take(d, &c_idx))) goto done;
      n->child = i;
      struct sl_field child;
      rc = convert(d, c_idx, false, d->m->schema[c_idx].name, depth + 1,
                   n->d_present, rep_ctx, &child);
      if (rc) goto done;
      rc = sl_field_add_child(out, &child);
      sl_field_release(&child);
      if (rc) goto oom;
    }
    goto done;
  }
  /* A leaf column. */
  {
    struct pq_leaf *l = &d->cur;
    enum sl_type_id t;
    leaf_type(e, l, &t);
    struct pq_node *n = &l->nodes[depth];
    memset(n, 0, sizeof *n);
    n->type = t;
    n->nullable = nullable;
    n->d_in = d_in;
    n->d_present = (int16_t)(d_in + nullable);
    n->rep_ctx = rep_ctx;
    l->n_nodes = depth + 1;
    l->max_def = n->d_present;
    l->max_rep = rep_ctx;
    l->phys = e->type;
    l->type_length = e->type_length;
    if ((rc = sl_field_init(out, name, t, nullable || t == SL_TYPE_NULL)))
      goto oom;
    if ((rc = push_leaf(&d->lv, l))) goto oom;
  }
done:
  d->cur.n_path = saved_path;
  if (rc) sl_field_release(out);
  return rc;
oom:
  d->cur.n_path = saved_path;
  sl_field_release(out);
  return sl_error_set(d->err, SL_ENOMEM, "out of memory");
}

int pq_schema_decode(const struct pq_file_meta *m, struct sl_schema *out,
                     struct pq_leaf **leaves, int32_t *n_leaves,
                     struct sl_error *err) {
  sl_schema_init(out);
  struct dec *d = sl_calloc(1, sizeof *d);
  if (!d) return sl_error_set(err, SL_ENOMEM, "out of memory");
  d->m = m;
  d->err = err;
  d->next = 1;
  int rc = 0;
  const struct pq_schema_elem *root = &m->schema[0];
  if (root->num_children < 0 || root->num_children > m->n_schema - 1) {
    rc = sl_error_set(err, SL_EINVAL,
                      "schema: root claims %d children, the footer has %d "
                      "elements",
                      root->num_children, m->n_schema);
    goto cleanup;
  }
  for (int32_t i = 0; i < root->num_children && !rc; i++) {
    int32_t idx = 0;
    if ((rc = take(d, &idx))) break;
    d->cur.top = i;
    d->cur.n_path = 0;
    struct sl_field f;
    rc = convert(d, idx, false, m->schema[idx].name, 0, 0, 0, &f);
    if (rc) break;
    rc = sl_schema_add_field(out, &f);
    sl_field_release(&f);
    if (rc) rc = sl_error_set(err, rc, "out of memory");
  }
  for (int32_t i = 0; i < m->n_kv && !rc; i++)
    if (m->kv_values[i] && strcmp(m->kv_keys[i], "ARROW:schema") != 0)
      rc = sl_schema_add_metadata(out, m->kv_keys[i], m->kv_values[i]);
cleanup:
  if (rc) {
    sl_schema_release(out);
    sl_free(d->lv.v);
  } else {
    *leaves = d->lv.v;
    *n_leaves = d->lv.n;
  }
  sl_free(d);
  return rc;
}
