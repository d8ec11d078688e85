/* Parquet internals and the C API: Thrift compact protocol, RLE/bit-packed
 * hybrid, DELTA_BINARY_PACKED, codecs (and bombs), writer + reader round
 * trips of nested data, row-group skipping, safe publication, partition
 * paths, option strings, and every allocation failure on the way. Values
 * are checked against hand-computed expectations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/parquet/pq.h"
#include "sluice/alloc.h"
#include "sluice/parquet.h"
#include "sluice/publish.h"

static char tmpdir[256];

static int setup_dir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/sluice-pq-test-XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", tmpdir, name);
}

/* ---- thrift ------------------------------------------------------------ */

static void test_thrift_roundtrip(void **state) {
  (void)state;
  struct pq_buf b = {0};
  struct tc_writer w;
  tc_writer_init(&w, &b);
  tc_struct_begin(&w);
  tc_field_i32(&w, 1, -7);
  tc_field_i64(&w, 2, INT64_MIN);
  tc_field_string(&w, 4, "hello");
  tc_field_bool(&w, 5, true);
  tc_field_struct(&w, 40); /* id jump: long form header */
  tc_field_i32(&w, 1, 300);
  tc_struct_end(&w);
  tc_field_list(&w, 41, TC_I32, 20);
  for (int i = 0; i < 20; i++)
    tc_list_i32(&w, i * 1000);
  tc_struct_end(&w);
  assert_int_equal(w.rc, 0);
  /* Hand-checked bytes: field 1 i32 -7 -> header 0x15, zigzag 13. */
  assert_int_equal(b.data[0], 0x15);
  assert_int_equal(b.data[1], 13);

  struct tc_reader r;
  tc_reader_init(&r, b.data, b.size);
  int16_t last = 0, id;
  int type, seen = 0;
  while (tc_next_field(&r, &last, &id, &type)) {
    switch (id) {
    case 1:
      assert_int_equal(tc_read_i32(&r, type), -7);
      seen++;
      break;
    case 2:
      assert_true(tc_read_i64(&r, type) == INT64_MIN);
      seen++;
      break;
    case 4: {
      uint32_t n;
      const uint8_t *s = tc_read_binary(&r, type, &n);
      assert_int_equal(n, 5);
      assert_memory_equal(s, "hello", 5);
      seen++;
      break;
    }
    case 5:
      assert_int_equal(type, TC_TRUE);
      seen++;
      break;
    case 40:
      tc_skip(&r, type);
      seen++;
      break;
    case 41: {
      int et;
      int32_t n = tc_read_list(&r, type, &et);
      assert_int_equal(n, 20);
      for (int i = 0; i < n; i++)
        assert_int_equal(tc_read_i32(&r, et), i * 1000);
      seen++;
      break;
    }
    default: fail();
    }
  }
  assert_int_equal(r.rc, 0);
  assert_int_equal(seen, 6);
  assert_true(r.p == r.end);
  /* Every truncation is an error, never a read past the end. */
  for (size_t cut = 0; cut < b.size; cut++) {
    tc_reader_init(&r, b.data, cut);
    last = 0;
    while (tc_next_field(&r, &last, &id, &type))
      tc_skip(&r, type);
    assert_int_not_equal(r.rc, 0);
  }
  /* A list claiming more elements than bytes left. */
  const uint8_t bad[] = {0x19, 0xF5, 0xFF, 0xFF, 0xFF, 0x0F};
  tc_reader_init(&r, bad, sizeof bad);
  last = 0;
  assert_true(tc_next_field(&r, &last, &id, &type));
  int et;
  assert_int_equal(tc_read_list(&r, type, &et), 0);
  assert_int_not_equal(r.rc, 0);
  pq_buf_release(&b);
}

/* ---- encodings --------------------------------------------------------- */

/* Packs n values of bw bits LSB first, the layout of a bit-packed run
 * (written bit by bit here, independently of the encoder). */
static size_t pack_ref(const uint32_t *v, size_t n, int bw, uint8_t *out) {
  size_t bytes = (n * (size_t)bw + 7) / 8;
  memset(out, 0, bytes);
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < bw; b++)
      if ((v[i] >> b) & 1) {
        size_t bit = i * (size_t)bw + (size_t)b;
        out[bit / 8] |= (uint8_t)(1u << (bit % 8));
      }
  return bytes;
}

/* The width-specialised unpacker against values packed bit by bit, for
 * every width 0..32, counts that end inside a group and buffers that end
 * exactly at the last value (so the one-at-a-time tail runs too). */
static void test_unpack_widths(void **state) {
  (void)state;
  enum { N = 1000 };
  uint32_t v[N], got[N], ref[N];
  uint8_t *packed = malloc(N * 4 + 8);
  srand(11);
  for (int bw = 0; bw <= 32; bw++) {
    uint64_t mask = bw == 32 ? 0xFFFFFFFFu : ((1ull << bw) - 1);
    for (int i = 0; i < N; i++)
      v[i] = (uint32_t)(((uint32_t)rand() << 16 ^ (uint32_t)rand()) & mask);
    if (bw > 0) v[5] = (uint32_t)mask; /* all ones */
    for (size_t n = 0; n <= N; n = n < 40 ? n + 1 : n * 2 + 3) {
      size_t bytes = pack_ref(v, n, bw, packed);
      memset(got, 0xAB, sizeof got);
      pq_unpack(packed, bytes, bw, got, n);
      assert_memory_equal(got, v, n * 4);
      pq_unpack_ref(packed, bytes, bw, ref, n);
      assert_memory_equal(ref, v, n * 4);
      assert_int_equal(got[n < N ? n : N - 1], n < N ? 0xABABABABu : v[N - 1]);
    }
    /* Through the hybrid decoder, with an index limit just above the
     * largest value and just at it. */
    struct pq_buf b = {0};
    assert_int_equal(pq_rle_encode_u32(v, N, bw, &b), 0);
    uint32_t mx = 0;
    for (int i = 0; i < N; i++)
      mx = v[i] > mx ? v[i] : mx;
    struct sl_error err = {0};
    uint32_t lim = mx == UINT32_MAX ? 0 : mx + 1;
    assert_int_equal(pq_rle_decode_u32(b.data, b.size, bw, got, N, lim, &err),
                     0);
    assert_memory_equal(got, v, sizeof v);
    if (mx > 0) {
      assert_int_equal(pq_rle_decode_u32(b.data, b.size, bw, got, N, mx, &err),
                       SL_EINVAL);
      assert_non_null(strstr(err.msg, "out of range"));
    }
    pq_buf_release(&b);
  }
  free(packed);
}

/* Definition levels of width 1 straight into validity bits, at every bit
 * offset, for pages with no nulls, only nulls, runs and alternations:
 * bits before the offset are kept and the count of ones is exact. */
static void test_def_levels_to_bitmap(void **state) {
  (void)state;
  enum { N = 3000 };
  uint16_t lv[N];
  uint8_t bm[N / 8 + 16];
  srand(5);
  for (int pattern = 0; pattern < 5; pattern++) {
    for (int i = 0; i < N; i++)
      lv[i] = pattern == 0   ? 1
              : pattern == 1 ? 0
              : pattern == 2 ? (uint16_t)((i / 50) % 2)
              : pattern == 3 ? (uint16_t)(i % 2)
                             : (uint16_t)(rand() % 7 != 0);
    for (int n = 0; n <= N; n = n * 2 + 5) {
      struct pq_buf b = {0};
      assert_int_equal(pq_rle_encode_u16(lv, n, 1, &b), 0);
      for (int at = 0; at < 20; at++) {
        memset(bm, 0x5A, sizeof bm);
        int64_t nn = -1;
        struct sl_error err = {0};
        assert_int_equal(pq_def_to_bitmap(b.data, b.size, bm, at, n, &nn, &err),
                         0);
        int64_t ones = 0;
        for (int i = 0; i < at; i++)
          assert_int_equal((bm[i / 8] >> (i % 8)) & 1, (0x5A >> (i % 8)) & 1);
        for (int i = 0; i < n; i++) {
          int bit = at + i;
          assert_int_equal((bm[bit / 8] >> (bit % 8)) & 1, lv[i]);
          ones += lv[i];
        }
        assert_int_equal(nn, ones);
      }
      pq_buf_release(&b);
    }
  }
  /* A level of 2 where the maximum is 1, and a stream cut short. */
  int64_t nn;
  struct sl_error err = {0};
  const uint8_t run_of_two[] = {(uint8_t)(10 << 1), 2};
  assert_int_equal(pq_def_to_bitmap(run_of_two, 2, bm, 0, 10, &nn, &err),
                   SL_EINVAL);
  assert_non_null(strstr(err.msg, "out of range"));
  const uint8_t cut[] = {(uint8_t)(4 << 1 | 1), 0xFF};
  assert_int_equal(pq_def_to_bitmap(cut, 2, bm, 0, 32, &nn, &err), SL_EINVAL);
}

static void test_rle_roundtrip(void **state) {
  (void)state;
  enum { N = 5000 };
  uint32_t *v = malloc(N * sizeof *v), *back = malloc(N * sizeof *back);
  uint16_t *lv = malloc(N * sizeof *lv), *lback = malloc(N * sizeof *lback);
  srand(3);
  for (int bw = 0; bw <= 32; bw += (bw < 4 ? 1 : 7)) {
    uint64_t mask = bw == 32 ? 0xFFFFFFFFu : ((1ull << bw) - 1);
    for (int pattern = 0; pattern < 3; pattern++) {
      for (int i = 0; i < N; i++) {
        uint32_t x = pattern == 0   ? (uint32_t)rand()
                     : pattern == 1 ? (uint32_t)(i / 37)
                                    : (uint32_t)((i % 100 < 60) ? 5 : rand());
        v[i] = (uint32_t)(x & mask);
      }
      for (int n = 0; n < N; n = n * 3 + 1) {
        struct pq_buf b = {0};
        assert_int_equal(pq_rle_encode_u32(v, n, bw, &b), 0);
        struct sl_error err = {0};
        assert_int_equal(
            pq_rle_decode_u32(b.data, b.size, bw, back, n, 0, &err), 0);
        assert_memory_equal(v, back, (size_t)n * 4);
        pq_buf_release(&b);
      }
    }
  }
  /* Levels: runs, alternations, odd lengths. */
  for (int i = 0; i < N; i++)
    lv[i] = (uint16_t)((i % 23 < 11) ? 2 : (i % 3));
  struct pq_buf b = {0};
  assert_int_equal(pq_rle_encode_u16(lv, 4999, 2, &b), 0);
  struct sl_error err = {0};
  assert_int_equal(pq_rle_decode_u16(b.data, b.size, 2, lback, 4999, 3, &err),
                   0);
  assert_memory_equal(lv, lback, 4999 * 2);
  /* A level above the limit and a truncated stream are errors. */
  assert_int_equal(pq_rle_decode_u16(b.data, b.size, 2, lback, 4999, 2, &err),
                   SL_EINVAL);
  assert_int_equal(
      pq_rle_decode_u16(b.data, b.size / 2, 2, lback, 4999, 3, &err),
      SL_EINVAL);
  assert_non_null(strstr(err.msg, "of 4999 values"));
  assert_int_equal(pq_rle_decode_u16(b.data, b.size, 33, lback, 10, 0, &err),
                   SL_EINVAL);
  pq_buf_release(&b);
  free(v);
  free(back);
  free(lv);
  free(lback);
}

static void test_delta_roundtrip(void **state) {
  (void)state;
  enum { N = 3000 };
  int64_t *v = malloc(N * sizeof *v), *back = malloc(N * sizeof *back);
  int32_t *w = malloc(N * sizeof *w), *wback = malloc(N * sizeof *wback);
  for (int i = 0; i < N; i++) {
    v[i] = i % 5 == 0   ? INT64_MIN + i
           : i % 7 == 0 ? INT64_MAX - i
                        : 1700000000000LL + i * 13;
    w[i] = i % 5 == 0 ? INT32_MIN : i % 7 == 0 ? INT32_MAX : i * 3 - 500;
  }
  int sizes[] = {0, 1, 2, 127, 128, 129, 1000, N};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    int n = sizes[k];
    struct pq_buf b = {0}, c = {0};
    struct sl_error err = {0};
    size_t used = 0;
    assert_int_equal(pq_delta_encode_i64(v, n, &b), 0);
    assert_int_equal(pq_delta_decode_i64(b.data, b.size, back, n, &used, &err),
                     0);
    assert_memory_equal(v, back, (size_t)n * 8);
    assert_int_equal(used, b.size);
    assert_int_equal(pq_delta_encode_i32(w, n, &c), 0);
    assert_int_equal(pq_delta_decode_i32(c.data, c.size, wback, n, &used, &err),
                     0);
    assert_memory_equal(w, wback, (size_t)n * 4);
    /* Cut in half: the values are not there (padding of a last partial
     * miniblock may be missing, so only a real shortfall is an error). */
    if (n > 200)
      assert_int_equal(
          pq_delta_decode_i64(b.data, b.size / 2, back, n, &used, &err),
          SL_EINVAL);
    pq_buf_release(&b);
    pq_buf_release(&c);
  }
  /* Sorted timestamps pack into few bits: 1000 values, step 13. */
  int64_t ts[1000];
  for (int i = 0; i < 1000; i++)
    ts[i] = 1700000000000LL + 13 * i;
  struct pq_buf b = {0};
  assert_int_equal(pq_delta_encode_i64(ts, 1000, &b), 0);
  assert_true(b.size < 100);
  pq_buf_release(&b);
  free(v);
  free(back);
  free(w);
  free(wback);
}

static void test_codecs_and_bombs(void **state) {
  (void)state;
  enum { N = 100000 };
  uint8_t *src = malloc(N), *dst = malloc(N + 16);
  for (int i = 0; i < N; i++)
    src[i] = (uint8_t)((i * 7) % 251 < 100 ? 'a' : i);
  int codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP,
                  PQ_CODEC_ZSTD, PQ_CODEC_LZ4_RAW};
  for (size_t k = 0; k < sizeof codecs / sizeof codecs[0]; k++) {
    struct pq_buf b = {0};
    struct sl_error err = {0};
    assert_int_equal(pq_compress(codecs[k], 0, src, N, &b, &err), 0);
    assert_int_equal(pq_decompress(codecs[k], b.data, b.size, dst, N, &err), 0);
    assert_memory_equal(src, dst, N);
    /* Declared size smaller than the stream: a bomb, refused. */
    assert_int_equal(pq_decompress(codecs[k], b.data, b.size, dst, N / 2, &err),
                     SL_EINVAL);
    /* Declared size larger: also an error. */
    assert_int_equal(
        pq_decompress(codecs[k], b.data, b.size, dst, N + 16, &err), SL_EINVAL);
    if (codecs[k] != PQ_CODEC_UNCOMPRESSED) {
      /* Garbage is an error. */
      memset(b.data, 0x5A, b.size);
      assert_int_not_equal(
          pq_decompress(codecs[k], b.data, b.size, dst, N, &err), 0);
    }
    pq_buf_release(&b);
  }
  struct sl_error err = {0};
  assert_int_equal(pq_decompress(PQ_CODEC_BROTLI, src, 10, dst, 10, &err),
                   SL_ENOTSUP);
  assert_non_null(strstr(err.msg, "BROTLI"));
  free(src);
  free(dst);
}

/* ---- writer and reader ------------------------------------------------- */

/* Schema: id int64 (required), name utf8, tags list<utf8>, geo
 * struct<country utf8, n int32>, ts timestamp[ms], ok bool, day date32,
 * score float64. */
static void make_schema(struct sl_schema *s) {
  sl_schema_init(s);
  struct sl_field f, c1, c2;
  sl_field_init(&f, "id", SL_TYPE_INT64, false);
  sl_schema_add_field(s, &f);
  sl_field_release(&f);
  sl_field_init(&f, "name", SL_TYPE_UTF8, true);
  sl_schema_add_field(s, &f);
  sl_field_release(&f);
  sl_field_init(&f, "tags", SL_TYPE_LIST, true);
  sl_field_init(&c1, "item", SL_TYPE_UTF8, true);
  sl_field_add_child(&f, &c1);
  sl_field_release(&c1);
  sl_schema_add_field(s, &f);
  sl_field_release(&f);
  sl_field_init(&f, "geo", SL_TYPE_STRUCT, true);
  sl_field_init(&c1, "country", SL_TYPE_UTF8, true);
  sl_field_init(&c2, "n", SL_TYPE_INT32, true);
  sl_field_add_child(&f, &c1);
  sl_field_add_child(&f, &c2);
  sl_field_release(&c1);
  sl_field_release(&c2);
  sl_schema_add_field(s, &f);
  sl_field_release(&f);
  const struct {
    const char *n;
    enum sl_type_id t;
  } flat[] = {{"ts", SL_TYPE_TIMESTAMP_MS},
              {"ok", SL_TYPE_BOOL},
              {"day", SL_TYPE_DATE32},
              {"score", SL_TYPE_FLOAT64}};
  for (int i = 0; i < 4; i++) {
    sl_field_init(&f, flat[i].n, flat[i].t, true);
    sl_schema_add_field(s, &f);
    sl_field_release(&f);
  }
}

static const char *names[] = {"alpha", "", "gamma", "delta"};

static int make_batch(const struct sl_schema *s, int64_t first, int64_t n,
                      struct sl_batch **out) {
  struct sl_builder b[8];
  for (int i = 0; i < 8; i++)
    sl_builder_init(&b[i], &s->fields[i]);
  for (int64_t r = first; r < first + n; r++) {
    sl_builder_append_int(&b[0], r);
    if (r % 5 == 4)
      sl_builder_append_null(&b[1]);
    else
      sl_builder_append_str(&b[1], names[r % 4], (int64_t)strlen(names[r % 4]));
    if (r % 7 == 0) {
      sl_builder_append_null(&b[2]);
    } else {
      for (int k = 0; k < r % 3; k++) {
        if (k == 1)
          sl_builder_append_null(&b[2].children[0]);
        else
          sl_builder_append_str(&b[2].children[0], "t", 1);
      }
      sl_builder_list_end(&b[2]);
    }
    if (r % 6 == 1) {
      sl_builder_append_null(&b[3]);
    } else {
      if (r % 2)
        sl_builder_append_null(&b[3].children[0]);
      else
        sl_builder_append_str(&b[3].children[0], "IL", 2);
      sl_builder_append_int(&b[3].children[1], r % 100);
      sl_builder_struct_end(&b[3]);
    }
    sl_builder_append_int(&b[4], 1700000000000LL + r);
    if (r % 9 == 3)
      sl_builder_append_null(&b[5]);
    else
      sl_builder_append_bool(&b[5], r % 2 == 0);
    sl_builder_append_int(&b[6], (int32_t)(19000 + r % 30));
    sl_builder_append_double(&b[7], (double)r * 0.5);
  }
  struct sl_array *cols[8];
  int rc = 0;
  for (int i = 0; i < 8; i++) {
    if (!rc)
      rc = sl_builder_finish(&b[i], &cols[i]);
    else
      cols[i] = NULL;
    sl_builder_release(&b[i]);
  }
  if (rc) {
    for (int i = 0; i < 8; i++)
      sl_array_release(cols[i]);
    return rc;
  }
  return sl_batch_make(s, cols, n, out, NULL);
}

/* Checks row r (absolute) of a read batch against make_batch's values. */
static void check_row(const struct sl_batch *b, int64_t i, int64_t r) {
  int64_t len;
  assert_int_equal(sl_array_i64(b->columns[0])[i], r);
  const struct sl_array *name = b->columns[1];
  if (r % 5 == 4) {
    assert_false(sl_array_is_valid(name, i));
  } else {
    const char *p = sl_array_str(name, i, &len);
    assert_int_equal(len, (int64_t)strlen(names[r % 4]));
    assert_memory_equal(p, names[r % 4], (size_t)len);
  }
  const struct sl_array *tags = b->columns[2];
  if (r % 7 == 0) {
    assert_false(sl_array_is_valid(tags, i));
  } else {
    int64_t start, n;
    sl_array_list_range(tags, i, &start, &n);
    assert_int_equal(n, r % 3);
    for (int k = 0; k < n; k++)
      assert_int_equal(sl_array_is_valid(tags->children[0], start + k), k != 1);
  }
  const struct sl_array *geo = b->columns[3];
  if (r % 6 == 1) {
    assert_false(sl_array_is_valid(geo, i));
  } else {
    assert_true(sl_array_is_valid(geo, i));
    const struct sl_array *n = geo->children[1];
    assert_int_equal(sl_array_i32(n)[geo->offset + i], r % 100);
    assert_int_equal(sl_array_is_valid(geo->children[0], geo->offset + i),
                     r % 2 == 0);
  }
  assert_int_equal(b->columns[4]->type, SL_TYPE_TIMESTAMP_MS);
  assert_int_equal(sl_array_i64(b->columns[4])[i], 1700000000000LL + r);
  if (r % 9 == 3)
    assert_false(sl_array_is_valid(b->columns[5], i));
  else
    assert_int_equal(sl_array_bool(b->columns[5], i), r % 2 == 0);
  assert_int_equal(sl_array_i32(b->columns[6])[i], 19000 + r % 30);
  assert_true(sl_array_f64(b->columns[7])[i] == (double)r * 0.5);
}

static void write_file(const char *path, const char *spec, int64_t rows,
                       int64_t per_batch) {
  struct sl_schema s;
  make_schema(&s);
  struct sl_parquet_write_options o;
  sl_parquet_write_options_init(&o);
  struct sl_error err = {0};
  assert_int_equal(sl_parquet_write_options_parse(spec, &o, &err), 0);
  struct sl_parquet_writer *w;
  assert_int_equal(sl_parquet_writer_open(path, &s, &o, &w, &err), 0);
  for (int64_t r = 0; r < rows; r += per_batch) {
    struct sl_batch *b;
    int64_t n = rows - r < per_batch ? rows - r : per_batch;
    assert_int_equal(make_batch(&s, r, n, &b), 0);
    assert_int_equal(sl_parquet_writer_write(w, b, &err), 0);
    sl_batch_free(b);
  }
  assert_int_equal(sl_parquet_writer_rows(w), rows);
  assert_true(sl_parquet_writer_bytes(w) >= 4);
  assert_true(sl_parquet_writer_pending_bytes(w) >= 0);
  int rc = sl_parquet_writer_close(w, &err);
  if (rc) fail_msg("%s", err.msg);
  sl_schema_release(&s);
}

static void test_write_read_roundtrip(void **state) {
  (void)state;
  const char *specs[] = {
      "row_group_rows=1000;page_bytes=512",
      "compression=snappy;page_version=2;dictionary=0;delta=1;row_group_rows="
      "777",
      "compression=gzip;level=9;dictionary_bytes=64",
      "compression=lz4;statistics=0;threads=1",
      "compression=none;row_group_bytes=10000",
  };
  for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
    char path[300];
    path_in(path, sizeof path, "rt.parquet");
    write_file(path, specs[k], 2500, 300);
    struct sl_parquet_file *f;
    struct sl_error err = {0};
    assert_int_equal(sl_parquet_file_open(path, &f, &err), 0);
    assert_int_equal(sl_parquet_file_num_rows(f), 2500);
    assert_string_equal(sl_parquet_file_created_by(f),
                        "sluice version " SLUICE_VERSION);
    const struct sl_schema *fs = sl_parquet_file_schema(f);
    struct sl_schema want;
    make_schema(&want);
    assert_int_equal(fs->n_fields, want.n_fields);
    for (int32_t i = 0; i < want.n_fields; i++)
      assert_true(sl_field_equal(&fs->fields[i], &want.fields[i]));
    sl_schema_release(&want);
    struct sl_parquet_read_options ro;
    sl_parquet_read_options_init(&ro);
    ro.batch_rows = 333;
    struct sl_batch_reader *r;
    assert_int_equal(sl_parquet_file_reader(f, &ro, &r, &err), 0);
    int64_t row = 0;
    struct sl_batch *b;
    while (r->next(r, &b, &err) == 0 && b) {
      assert_true(b->length <= 333);
      assert_int_equal(sl_batch_validate(b, &err), 0);
      for (int64_t i = 0; i < b->length; i++)
        check_row(b, i, row + i);
      row += b->length;
      sl_batch_free(b);
    }
    assert_int_equal(err.code, 0);
    assert_int_equal(row, 2500);
    r->release(r);
    sl_parquet_file_close(f);
  }
}

static void test_projection_and_skipping(void **state) {
  (void)state;
  char path[300];
  path_in(path, sizeof path, "skip.parquet");
  write_file(path, "row_group_rows=500", 3000, 1000);
  struct sl_parquet_read_options o;
  sl_parquet_read_options_init(&o);
  const char *cols[] = {"geo.n", "id"};
  o.columns = cols;
  o.n_columns = 2;
  struct sl_parquet_predicate p[2] = {
      {.column = "id", .op = SL_PQ_GE, .kind = SL_PQ_INT, .i = 2100},
      {.column = "name",
       .op = SL_PQ_LT,
       .kind = SL_PQ_STRING,
       .s = "zzz",
       .s_len = -1}};
  o.predicates = p;
  o.n_predicates = 2;
  struct sl_batch *b;
  struct sl_error err = {0};
  assert_int_equal(sl_parquet_read_file(path, &o, &b, &err), 0);
  /* Row groups [0,500) ... [1500,2000) are skipped: 2000..2999 remain. */
  assert_int_equal(b->length, 1000);
  assert_int_equal(b->n_columns, 2);
  assert_string_equal(b->schema.fields[0].name, "id");
  assert_string_equal(b->schema.fields[1].name, "geo");
  assert_int_equal(b->schema.fields[1].n_children, 1);
  assert_string_equal(b->schema.fields[1].children[0].name, "n");
  for (int64_t i = 0; i < b->length; i++) {
    int64_t r = 2000 + i;
    assert_int_equal(sl_array_i64(b->columns[0])[i], r);
    const struct sl_array *geo = b->columns[1];
    if (r % 6 != 1)
      assert_int_equal(sl_array_i32(geo->children[0])[geo->offset + i],
                       r % 100);
  }
  sl_batch_free(b);
  struct sl_batch_reader *r;
  assert_int_equal(sl_parquet_open(path, &o, &r, &err), 0);
  assert_int_equal(sl_parquet_reader_skipped(r), 4);
  r->release(r);
  /* Unknown columns are named. */
  const char *bad[] = {"geo.nope"};
  o.columns = bad;
  o.n_columns = 1;
  assert_int_equal(sl_parquet_open(path, &o, &r, &err), SL_ENOENT);
  assert_non_null(strstr(err.msg, "nope"));
  assert_non_null(strstr(err.msg, "skip.parquet"));
}

static void test_publish_and_partitions(void **state) {
  (void)state;
  char dir[300], path[400], buf[512];
  path_in(dir, sizeof dir, "out/dt=2026-11-28/hour=13");
  struct sl_error err = {0};
  assert_int_equal(sl_publish_mkdirs(dir, &err), 0);
  const char *keys[] = {"dt", "hour"};
  const char *vals[] = {"2026-11-28", "13"};
  char root[300];
  path_in(root, sizeof root, "out");
  assert_int_equal(sl_partition_path(buf, sizeof buf, root, keys, vals, 2,
                                     "part-0.parquet", &err),
                   0);
  snprintf(path, sizeof path, "%s/part-0.parquet", dir);
  assert_string_equal(buf, path);
  struct sl_publish p;
  assert_int_equal(sl_publish_open(path, &p, &err), 0);
  assert_int_equal(access(path, F_OK), -1); /* not visible yet */
  assert_int_equal(access(p.temp_path, F_OK), 0);
  assert_int_equal(sl_publish_write(&p, "abc", 3, &err), 0);
  char temp[512];
  snprintf(temp, sizeof temp, "%s", p.temp_path);
  assert_int_equal(sl_publish_commit(&p, &err), 0);
  assert_int_equal(access(path, F_OK), 0);
  assert_int_equal(access(temp, F_OK), -1);
  /* Abort leaves nothing. */
  assert_int_equal(sl_publish_open(path, &p, &err), 0);
  snprintf(temp, sizeof temp, "%s", p.temp_path);
  sl_publish_abort(&p);
  assert_int_equal(access(temp, F_OK), -1);
  /* Escaping of values and the default partition. */
  const char *k2[] = {"path", "empty"};
  const char *v2[] = {"a/b=c%", ""};
  assert_int_equal(
      sl_partition_path(buf, sizeof buf, NULL, k2, v2, 2, NULL, &err), 0);
  assert_string_equal(buf,
                      "path=a%2Fb%3Dc%25/empty=__HIVE_DEFAULT_PARTITION__");
  assert_int_equal(sl_partition_path(buf, 8, NULL, k2, v2, 2, NULL, &err),
                   SL_ERANGE);
  /* A writer that fails leaves no temporary file behind. */
  struct sl_schema s;
  make_schema(&s);
  struct sl_parquet_writer *w;
  char wpath[300];
  path_in(wpath, sizeof wpath, "aborted.parquet");
  assert_int_equal(sl_parquet_writer_open(wpath, &s, NULL, &w, &err), 0);
  sl_parquet_writer_abort(w);
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  while ((e = readdir(d)))
    assert_null(strstr(e->d_name, "aborted"));
  closedir(d);
  sl_schema_release(&s);
}

static void test_options(void **state) {
  (void)state;
  struct sl_parquet_write_options o;
  sl_parquet_write_options_init(&o);
  assert_int_equal(o.compression, SL_PARQUET_ZSTD);
  assert_true(o.dictionary);
  assert_int_equal(o.data_page_version, 1);
  struct sl_error err = {0};
  assert_int_equal(sl_parquet_write_options_parse(
                       "compression=snappy, level=3;page_version=2", &o, &err),
                   0);
  assert_int_equal(o.compression, SL_PARQUET_SNAPPY);
  assert_int_equal(o.data_page_version, 2);
  assert_int_equal(sl_parquet_write_options_parse("pagesize=1", &o, &err),
                   SL_EINVAL);
  assert_non_null(strstr(err.msg, "pagesize"));
  assert_int_equal(sl_parquet_write_options_parse("level=x", &o, &err),
                   SL_EINVAL);
  assert_int_equal(
      sl_parquet_write_options_parse("compression=brotli", &o, &err),
      SL_EINVAL);
  struct sl_schema s;
  make_schema(&s);
  struct sl_parquet_writer *w;
  char path[300];
  path_in(path, sizeof path, "x.parquet");
  o.data_page_version = 3;
  assert_int_equal(sl_parquet_writer_open(path, &s, &o, &w, &err), SL_EINVAL);
  assert_non_null(strstr(err.msg, "data_page_version"));
  sl_schema_release(&s);
}

/* Every allocation of a write and of a read fails in turn: each attempt
 * returns an error (or succeeds) and leaks nothing. */
static void test_allocation_failures(void **state) {
  (void)state;
  char path[300], out[300];
  path_in(path, sizeof path, "alloc.parquet");
  write_file(path, "row_group_rows=40;threads=1", 100, 50);
  struct sl_schema s;
  make_schema(&s);
  struct sl_batch *b;
  assert_int_equal(make_batch(&s, 0, 100, &b), 0);
  path_in(out, sizeof out, "alloc-out.parquet");
  struct sl_parquet_write_options o;
  sl_parquet_write_options_init(&o);
  o.threads = 1;
  o.row_group_rows = 40;
  int64_t base = sl_alloc_live();
  int failures = 0;
  for (int64_t k = 1; k < 5000; k++) {
    struct sl_error err = {0};
    sl_alloc_fail_after(k, 0);
    int rc = sl_parquet_write_batch_file(out, b, &o, &err);
    sl_alloc_fail_after(0, 0);
    assert_int_equal(sl_alloc_live(), base);
    if (rc == 0) break;
    failures++;
    assert_int_not_equal(err.code, 0);
  }
  assert_true(failures > 20);
  failures = 0;
  for (int64_t k = 1; k < 5000; k++) {
    struct sl_error err = {0};
    struct sl_parquet_read_options ro;
    sl_parquet_read_options_init(&ro);
    ro.threads = 1;
    struct sl_batch *rb = NULL;
    sl_alloc_fail_after(k, 0);
    int rc = sl_parquet_read_file(path, &ro, &rb, &err);
    sl_alloc_fail_after(0, 0);
    sl_batch_free(rb);
    assert_int_equal(sl_alloc_live(), base);
    if (rc == 0) break;
    failures++;
  }
  assert_true(failures > 20);
  sl_batch_free(b);
  sl_schema_release(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_thrift_roundtrip),
      cmocka_unit_test(test_rle_roundtrip),
      cmocka_unit_test(test_unpack_widths),
      cmocka_unit_test(test_def_levels_to_bitmap),
      cmocka_unit_test(test_delta_roundtrip),
      cmocka_unit_test(test_codecs_and_bombs),
      cmocka_unit_test(test_write_read_roundtrip),
      cmocka_unit_test(test_projection_and_skipping),
      cmocka_unit_test(test_publish_and_partitions),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
