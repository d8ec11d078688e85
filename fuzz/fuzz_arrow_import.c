/* Fuzz target: importing hostile ArrowArrays through the C Data Interface.
 *
 * The interface carries no buffer sizes, so a producer that lies about them
 * cannot be caught by anyone; what a consumer can and must survive is every
 * lie inside correctly sized buffers: offsets, null counts, validity bits,
 * dictionary indices, UTF-8, lengths and offsets in the header. The fuzzer
 * picks a type and the header fields, fills spec-sized buffers with its
 * bytes, and checks that import either fails cleanly or yields an array
 * that reads back without touching memory outside the buffers (ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/alloc.h"
#include "sluice/arrow_c.h"

#define MAX_DATA (1 << 16)

struct input {
  const uint8_t *p;
  size_t n, at;
};

static uint8_t next_byte(struct input *in) {
  return in->at < in->n ? in->p[in->at++] : 0;
}

/* A buffer of `size` bytes filled from the input (zeros once it runs out). */
static void *fill(struct input *in, size_t size) {
  uint8_t *b = calloc(1, size ? size : 1);
  for (size_t i = 0; i < size && in->at < in->n; i++)
    b[i] = in->p[in->at++];
  return b;
}

struct producer {
  struct ArrowArray nodes[4];
  const void *bufs[4][3];
  struct ArrowArray *kids[2];
  void *owned[12];
  int n_owned;
};

static void *own(struct producer *p, void *b) {
  p->owned[p->n_owned++] = b;
  return b;
}

static void noop_release(struct ArrowArray *a) {
  a->release = NULL;
}
static void root_release(struct ArrowArray *a) {
  struct producer *p = a->private_data;
  a->release = NULL; /* before free: a may live inside p */
  for (int i = 0; i < p->n_owned; i++)
    free(p->owned[i]);
  free(p);
}

/* A leaf of type t with `len` values at `off`: offsets come from the input,
 * and the data buffer is sized to cover the claimed last offset (or the
 * input is skipped when that would be too big). */
static int leaf(struct producer *p, struct input *in, int node, int t,
                int64_t len, int64_t off, bool validity) {
  struct ArrowArray *a = &p->nodes[node];
  int64_t end = len + off;
  a->length = len;
  a->offset = off;
  a->null_count = -1;
  a->buffers = p->bufs[node];
  a->release = noop_release;
  p->bufs[node][0] = validity ? own(p, fill(in, (size_t)(end + 7) / 8)) : NULL;
  if (t == 0 || t == 3) { /* int32 / dict indices */
    a->n_buffers = 2;
    p->bufs[node][1] = own(p, fill(in, (size_t)end * 4));
    return 0;
  }
  a->n_buffers = 3; /* utf8 */
  int32_t *o = own(p, fill(in, (size_t)(end + 1) * 4));
  p->bufs[node][1] = o;
  int64_t last = o[end];
  if (last < 0) last = 0;
  if (last > MAX_DATA) return -1;
  p->bufs[node][2] = own(p, fill(in, (size_t)last));
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct input in = {data, size, 0};
  int kind = next_byte(&in) % 4; /* 0 int32, 1 utf8, 2 struct<utf8>, 3 dict */
  int64_t len = next_byte(&in);
  int64_t off = next_byte(&in) % 16;
  uint8_t flags = next_byte(&in);
  int64_t null_count = (int8_t)next_byte(&in);
  struct producer *p = calloc(1, sizeof *p);
  struct sl_field child = {
      .name = (char *)"city", .type = SL_TYPE_UTF8, .nullable = true};
  struct sl_field f = {.name = (char *)"geo", .nullable = true};
  struct ArrowArray *root = &p->nodes[0];
  int bad = 0;
  switch (kind) {
  case 0:
    f.type = SL_TYPE_INT32;
    bad = leaf(p, &in, 0, 0, len, off, flags & 1);
    break;
  case 1:
    f.type = SL_TYPE_UTF8;
    bad = leaf(p, &in, 0, 1, len, off, flags & 1);
    break;
  case 2:
    f.type = SL_TYPE_STRUCT;
    f.n_children = 1;
    f.children = &child;
    root->length = len;
    root->offset = off;
    root->null_count = -1;
    root->n_buffers = 1;
    root->buffers = p->bufs[0];
    p->bufs[0][0] =
        flags & 1 ? own(p, fill(&in, (size_t)(len + off + 7) / 8)) : NULL;
    root->n_children = 1;
    root->children = p->kids;
    p->kids[0] = &p->nodes[1];
    /* The child may be shorter than the parent claims. */
    bad = leaf(p, &in, 1, 1, next_byte(&in), 0, flags & 2);
    break;
  case 3:
    f.type = SL_TYPE_DICT_UTF8;
    bad = leaf(p, &in, 0, 3, len, off, flags & 1);
    if (!bad) bad = leaf(p, &in, 1, 1, next_byte(&in) % 8, 0, flags & 2);
    root->dictionary = &p->nodes[1];
    break;
  }
  if (flags & 4) root->null_count = null_count;
  root->release = root_release;
  root->private_data = p;
  if (bad) {
    root->release(root);
    return 0;
  }
  struct sl_array *a = NULL;
  if (sl_import_array(root, &f, &a, NULL) == 0) {
    /* Read every value back: ASan catches any read outside the buffers. */
    int64_t sink = 0;
    const struct sl_array *s = f.type == SL_TYPE_STRUCT ? a->children[0] : a;
    int64_t base = f.type == SL_TYPE_STRUCT ? a->offset : 0;
    for (int64_t i = 0; i < a->length; i++) {
      if (!sl_array_is_valid(a, i)) continue;
      if (f.type == SL_TYPE_INT32) {
        sink += sl_array_i32(a)[i];
      } else if (sl_array_is_valid(s, base + i)) {
        int64_t n;
        const char *str = sl_array_str(s, base + i, &n);
        for (int64_t k = 0; k < n; k++)
          sink += str[k];
      }
    }
    sl_array_release(a);
    __asm__ volatile("" : : "r"(sink)); /* keep the reads */
  }
  return 0;
}
