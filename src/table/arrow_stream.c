/* The Arrow C Stream Interface: a sluice batch reader exported as an
 * ArrowArrayStream, and an ArrowArrayStream wrapped as a batch reader.
 *
 * Status codes are errno values on both sides (as the specification asks and
 * as sluice's SL_E* codes already are); messages travel through
 * get_last_error one way and struct sl_error the other. */
#include <stdio.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/arrow_c.h"
#include "table/arrow_c_internal.h"

/* ---- export ------------------------------------------------------------ */

struct export_stream {
  struct sl_batch_reader *reader;
  struct sl_error last; /* what get_last_error reports */
};

static int errno_of(int rc) {
  return rc > 0 ? rc : SL_EINVAL;
}

static int stream_get_schema(struct ArrowArrayStream *st,
                             struct ArrowSchema *out) {
  if (!st || !st->release || !out) return SL_EINVAL;
  struct export_stream *p = st->private_data;
  sl_error_reset(&p->last);
  const struct sl_schema *s = p->reader->schema(p->reader);
  if (!s) {
    sl_error_set(&p->last, SL_EINVAL, "stream: the reader has no schema");
    return SL_EINVAL;
  }
  int rc = sl_export_schema(s, out, &p->last);
  return rc ? errno_of(rc) : 0;
}

static int stream_get_next(struct ArrowArrayStream *st,
                           struct ArrowArray *out) {
  if (!st || !st->release || !out) return SL_EINVAL;
  struct export_stream *p = st->private_data;
  sl_error_reset(&p->last);
  memset(out, 0, sizeof *out);
  struct sl_batch *b = NULL;
  int rc = p->reader->next(p->reader, &b, &p->last);
  if (rc) {
    if (!p->last.code)
      sl_error_set(&p->last, rc, "stream: reading the next batch failed (%s)",
                   sl_status_name(rc));
    return errno_of(rc);
  }
  if (!b) return 0; /* end of stream: out stays released */
  rc = sl__export_batch_array(b, out, &p->last);
  sl_batch_free(b); /* the export holds its own references */
  return rc ? errno_of(rc) : 0;
}

static const char *stream_get_last_error(struct ArrowArrayStream *st) {
  if (!st || !st->release) return NULL;
  struct export_stream *p = st->private_data;
  return p->last.code ? p->last.msg : NULL;
}

static void stream_release(struct ArrowArrayStream *st) {
  if (!st || !st->release) return;
  struct export_stream *p = st->private_data;
  if (p) {
    if (p->reader) p->reader->release(p->reader);
    sl_free(p);
  }
  st->release = NULL;
  st->private_data = NULL;
}

int sl_export_stream(struct sl_batch_reader *reader,
                     struct ArrowArrayStream *out, struct sl_error *err) {
  if (!out) {
    if (reader) reader->release(reader);
    return sl_error_set(err, SL_EINVAL, "sl_export_stream: NULL stream");
  }
  memset(out, 0, sizeof *out);
  if (!reader)
    return sl_error_set(err, SL_EINVAL, "sl_export_stream: NULL reader");
  struct export_stream *p = sl_calloc(1, sizeof *p);
  if (!p) {
    reader->release(reader);
    return sl_error_set(err, SL_ENOMEM, "exporting a stream: out of memory");
  }
  p->reader = reader;
  out->get_schema = stream_get_schema;
  out->get_next = stream_get_next;
  out->get_last_error = stream_get_last_error;
  out->release = stream_release;
  out->private_data = p;
  return 0;
}

/* ---- import ------------------------------------------------------------ */

struct import_stream {
  struct ArrowArrayStream stream; /* moved in; released with the reader */
  struct sl_schema schema;
  bool done;
};

static const char *last_error(struct ArrowArrayStream *st) {
  const char *m = st->get_last_error ? st->get_last_error(st) : NULL;
  return m ? m : "(no message)";
}

static const struct sl_schema *reader_schema(struct sl_batch_reader *r) {
  struct import_stream *p = r->private_data;
  return &p->schema;
}

static int reader_next(struct sl_batch_reader *r, struct sl_batch **out,
                       struct sl_error *err) {
  struct import_stream *p = r->private_data;
  *out = NULL;
  if (p->done) return 0;
  struct ArrowArray arr;
  memset(&arr, 0, sizeof arr);
  int rc = p->stream.get_next(&p->stream, &arr);
  if (rc) {
    p->done = true; /* the producer is in an undefined state now */
    return sl_error_set(err, rc > 0 ? rc : SL_EIO,
                        "stream: get_next failed with status %d: %.300s", rc,
                        last_error(&p->stream));
  }
  if (!arr.release) {
    p->done = true;
    return 0;
  }
  return sl__import_batch_with_schema(&arr, &p->schema, out, err);
}

static void reader_release(struct sl_batch_reader *r) {
  if (!r) return;
  struct import_stream *p = r->private_data;
  if (p) {
    if (p->stream.release) p->stream.release(&p->stream);
    sl_schema_release(&p->schema);
    sl_free(p);
  }
  sl_free(r);
}

int sl_import_stream(struct ArrowArrayStream *stream,
                     struct sl_batch_reader **out, struct sl_error *err) {
  *out = NULL;
  if (!stream)
    return sl_error_set(err, SL_EINVAL,
                        "stream: expected an ArrowArrayStream, found NULL");
  if (!stream->release)
    return sl_error_set(
        err, SL_EINVAL,
        "stream: the ArrowArrayStream is released (release is NULL)");
  struct import_stream *p = sl_calloc(1, sizeof *p);
  struct sl_batch_reader *r = sl_calloc(1, sizeof *r);
  if (!p || !r) {
    sl_free(p);
    sl_free(r);
    stream->release(stream);
    stream->release = NULL;
    return sl_error_set(err, SL_ENOMEM, "importing a stream: out of memory");
  }
  p->stream = *stream;
  stream->release = NULL;
  sl_schema_init(&p->schema);
  r->schema = reader_schema;
  r->next = reader_next;
  r->release = reader_release;
  r->private_data = p;
  int rc = 0;
  if (!p->stream.get_schema || !p->stream.get_next) {
    rc = sl_error_set(err, SL_EINVAL,
                      "stream: get_schema or get_next callback is NULL");
    goto fail;
  }
  struct ArrowSchema cs;
  memset(&cs, 0, sizeof cs);
  rc = p->stream.get_schema(&p->stream, &cs);
  if (rc) {
    rc = sl_error_set(err, rc > 0 ? rc : SL_EIO,
                      "stream: get_schema failed with status %d: %.300s", rc,
                      last_error(&p->stream));
    goto fail;
  }
  rc = sl_import_schema(&cs, &p->schema, err);
  if (cs.release) cs.release(&cs);
  if (rc) goto fail;
  *out = r;
  return 0;
fail:
  reader_release(r);
  return rc;
}
