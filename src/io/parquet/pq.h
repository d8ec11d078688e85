/* Private declarations of the Parquet reader and writer.
 *
 * Layers inside src/io/parquet:
 *   pq_buf.c      growable byte buffer
 *   thrift.c      Thrift compact protocol encoder and bounded decoder
 *   pq_meta.c     parquet.thrift structures: footer and page headers
 *   pq_rle.c      RLE/bit-packed hybrid, bit packing, DELTA_BINARY_PACKED
 *   pq_codec.c    page compression through zstd, snappy, zlib, lz4
 *   pq_schema.c   sluice fields <-> Parquet schema elements, leaf paths
 *   pq_stats.c    column statistics with Parquet ordering
 *   pq_column.c   one column chunk: shred, dictionary, pages (writer side)
 *   pq_writer.c   the streaming writer
 *   pq_pages.c    page decoding into levels and values (reader side)
 *   pq_flat.c     flat columns: pages straight into Arrow-layout arrays
 *   pq_bufpool.c  cache of released column buffers for the reader
 *   pq_assemble.c levels and values back into nested Arrow-layout arrays
 *   pq_rowgroups.c row groups into batches on the thread pool
 *   pq_reader.c   footer, projection, row-group skipping, batch reader */
#ifndef SLUICE_IO_PARQUET_PQ_H
#define SLUICE_IO_PARQUET_PQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/alloc.h"
#include "sluice/error.h"

/* ---- parquet.thrift enumerations -------------------------------------- */
enum {
  PQ_BOOLEAN = 0,
  PQ_INT32 = 1,
  PQ_INT64 = 2,
  PQ_INT96 = 3,
  PQ_FLOAT = 4,
  PQ_DOUBLE = 5,
  PQ_BYTE_ARRAY = 6,
  PQ_FIXED_LEN_BYTE_ARRAY = 7
};
enum { PQ_REQUIRED = 0, PQ_OPTIONAL = 1, PQ_REPEATED = 2 };
enum {
  PQ_ENC_PLAIN = 0,
  PQ_ENC_PLAIN_DICTIONARY = 2,
  PQ_ENC_RLE = 3,
  PQ_ENC_BIT_PACKED = 4,
  PQ_ENC_DELTA_BINARY_PACKED = 5,
  PQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
  PQ_ENC_DELTA_BYTE_ARRAY = 7,
  PQ_ENC_RLE_DICTIONARY = 8,
  PQ_ENC_BYTE_STREAM_SPLIT = 9
};
enum {
  PQ_CODEC_UNCOMPRESSED = 0,
  PQ_CODEC_SNAPPY = 1,
  PQ_CODEC_GZIP = 2,
  PQ_CODEC_LZO = 3,
  PQ_CODEC_BROTLI = 4,
  PQ_CODEC_LZ4 = 5,
  PQ_CODEC_ZSTD = 6,
  PQ_CODEC_LZ4_RAW = 7
};
enum {
  PQ_PAGE_DATA = 0,
  PQ_PAGE_INDEX = 1,
  PQ_PAGE_DICTIONARY = 2,
  PQ_PAGE_DATA_V2 = 3
};
/* ConvertedType values that matter here; -1 means none. */
enum {
  PQ_CT_UTF8 = 0,
  PQ_CT_MAP = 1,
  PQ_CT_MAP_KEY_VALUE = 2,
  PQ_CT_LIST = 3,
  PQ_CT_ENUM = 4,
  PQ_CT_DECIMAL = 5,
  PQ_CT_DATE = 6,
  PQ_CT_TIME_MILLIS = 7,
  PQ_CT_TIME_MICROS = 8,
  PQ_CT_TIMESTAMP_MILLIS = 9,
  PQ_CT_TIMESTAMP_MICROS = 10,
  PQ_CT_UINT_8 = 11,
  PQ_CT_UINT_16 = 12,
  PQ_CT_UINT_32 = 13,
  PQ_CT_UINT_64 = 14,
  PQ_CT_INT_8 = 15,
  PQ_CT_INT_16 = 16,
  PQ_CT_INT_32 = 17,
  PQ_CT_INT_64 = 18,
  PQ_CT_JSON = 19
};
/* LogicalType union members (field ids). */
enum {
  PQ_LT_NONE = 0,
  PQ_LT_STRING = 1,
  PQ_LT_MAP = 2,
  PQ_LT_LIST = 3,
  PQ_LT_ENUM = 4,
  PQ_LT_DECIMAL = 5,
  PQ_LT_DATE = 6,
  PQ_LT_TIME = 7,
  PQ_LT_TIMESTAMP = 8,
  PQ_LT_INTEGER = 10,
  PQ_LT_UNKNOWN = 11,
  PQ_LT_JSON = 12
};
enum { PQ_UNIT_MILLIS = 1, PQ_UNIT_MICROS = 2, PQ_UNIT_NANOS = 3 };

/* ---- growable byte buffer (pq_buf.c) ---------------------------------- */
struct pq_buf {
  uint8_t *data;
  size_t size;
  size_t cap;
};
int pq_buf_reserve_slow(struct pq_buf *b, size_t extra);
static inline int pq_buf_reserve(struct pq_buf *b, size_t extra) {
  /* Never leaves data NULL, so data + size is always a valid pointer. */
  return b->data && b->cap - b->size >= extra ? 0
                                              : pq_buf_reserve_slow(b, extra);
}
int pq_buf_append(struct pq_buf *b, const void *p, size_t n);
void pq_buf_release(struct pq_buf *b);
static inline void pq_put_u32le(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t pq_get_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* ---- Thrift compact protocol (thrift.c) ------------------------------- */
enum {
  TC_STOP = 0,
  TC_TRUE = 1,
  TC_FALSE = 2,
  TC_BYTE = 3,
  TC_I16 = 4,
  TC_I32 = 5,
  TC_I64 = 6,
  TC_DOUBLE = 7,
  TC_BINARY = 8,
  TC_LIST = 9,
  TC_SET = 10,
  TC_MAP = 11,
  TC_STRUCT = 12
};
#define TC_MAX_DEPTH 32

/* Writer: errors (out of memory) are sticky in rc and checked at the end. */
struct tc_writer {
  struct pq_buf *out;
  int16_t last[TC_MAX_DEPTH];
  int depth;
  int rc;
};
void tc_writer_init(struct tc_writer *w, struct pq_buf *out);
void tc_struct_begin(struct tc_writer *w); /* a list element or the root */
void tc_struct_end(struct tc_writer *w);   /* writes STOP, pops */
void tc_field_struct(struct tc_writer *w, int16_t id); /* header + begin */
void tc_field_i32(struct tc_writer *w, int16_t id, int32_t v);
void tc_field_i64(struct tc_writer *w, int16_t id, int64_t v);
void tc_field_i16(struct tc_writer *w, int16_t id, int16_t v);
void tc_field_bool(struct tc_writer *w, int16_t id, bool v);
void tc_field_binary(struct tc_writer *w, int16_t id, const void *p, size_t n);
void tc_field_string(struct tc_writer *w, int16_t id, const char *s);
void tc_field_list(struct tc_writer *w, int16_t id, int elem_type, int32_t n);
void tc_list_i32(struct tc_writer *w, int32_t v);
void tc_list_string(struct tc_writer *w, const char *s);

/* Reader over [p, end): every read is bounds-checked; the first error is
 * kept in rc/msg and later reads return zeros. */
struct tc_reader {
  const uint8_t *start, *p, *end;
  int depth;
  int rc;
  const char *msg;
};
void tc_reader_init(struct tc_reader *r, const uint8_t *p, size_t n);
/* Next field of the current struct: returns false at STOP (or on error).
 * *type is the compact type (TC_TRUE/TC_FALSE carry a bool's value). */
bool tc_next_field(struct tc_reader *r, int16_t *last_id, int16_t *id,
                   int *type);
int32_t tc_read_i32(struct tc_reader *r, int type);
int64_t tc_read_i64(struct tc_reader *r, int type);
/* Binary/string: a pointer into the input and its length. */
const uint8_t *tc_read_binary(struct tc_reader *r, int type, uint32_t *len);
/* List header: element type and count (count checked against the bytes
 * left, as every element takes at least one byte). */
int32_t tc_read_list(struct tc_reader *r, int type, int *elem_type);
bool tc_enter_struct(struct tc_reader *r, int type); /* checks type, depth */
void tc_leave_struct(struct tc_reader *r);
void tc_skip(struct tc_reader *r, int type);
void tc_fail(struct tc_reader *r, const char *msg);

/* ---- encodings (pq_rle.c) --------------------------------------------- */
int pq_bit_width(uint64_t max_value);
/* RLE/bit-packed hybrid of n values of bit_width bits, appended to out. */
int pq_rle_encode_u16(const uint16_t *v, int64_t n, int bit_width,
                      struct pq_buf *out);
int pq_rle_encode_u32(const uint32_t *v, int64_t n, int bit_width,
                      struct pq_buf *out);
/* Decodes exactly n values; values >= limit (when limit > 0) are an error
 * (dictionary indices, levels). Returns 0 or SL_EINVAL with err->msg. */
int pq_rle_decode_u16(const uint8_t *p, size_t len, int bit_width,
                      uint16_t *out, int64_t n, uint32_t limit,
                      struct sl_error *err);
int pq_rle_decode_u32(const uint8_t *p, size_t len, int bit_width,
                      uint32_t *out, int64_t n, uint32_t limit,
                      struct sl_error *err);
/* Unpacks n values of bw bits (0..32), LSB first, from in[0, len): groups
 * of 8 with the width fixed at compile time while 8 bytes past the group are
 * still input, the rest one at a time (pq_unpack_ref, the reference the
 * tests compare with). Bytes past len are never read (missing ones read as
 * zero). */
void pq_unpack(const uint8_t *in, size_t len, int bw, uint32_t *out, size_t n);
void pq_unpack_ref(const uint8_t *in, size_t len, int bw, uint32_t *out,
                   size_t n);
/* Definition levels of a flat optional column (bit width 1) as validity
 * bits [at, at + n) of bm; *nonnull gets the number of ones. Bits of bm
 * below `at` are kept. */
int pq_def_to_bitmap(const uint8_t *p, size_t len, uint8_t *bm, int64_t at,
                     int64_t n, int64_t *nonnull, struct sl_error *err);
/* DELTA_BINARY_PACKED for int32 (width 32) and int64 (width 64). */
int pq_delta_encode_i32(const int32_t *v, int64_t n, struct pq_buf *out);
int pq_delta_encode_i64(const int64_t *v, int64_t n, struct pq_buf *out);
/* Decodes n values; *used is set to the bytes consumed. */
int pq_delta_decode_i32(const uint8_t *p, size_t len, int32_t *out, int64_t n,
                        size_t *used, struct sl_error *err);
int pq_delta_decode_i64(const uint8_t *p, size_t len, int64_t *out, int64_t n,
                        size_t *used, struct sl_error *err);
/* Bit-packed booleans, LSB first (PLAIN for BOOLEAN). */
int pq_varint_put(struct pq_buf *out, uint64_t v);

/* ---- codecs (pq_codec.c) ---------------------------------------------- */
/* Appends the compressed form of src to out. level: codec-specific
 * (zstd 1..22, gzip 1..9; <= 0 = default). */
int pq_compress(int codec, int level, const uint8_t *src, size_t n,
                struct pq_buf *out, struct sl_error *err);
/* Decompresses src into dst of exactly dst_n bytes: a stream that would
 * produce more or fewer bytes is an error (this is what stops bombs). */
int pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst,
                  size_t dst_n, struct sl_error *err);
/* The same with decoder state kept across calls by one thread (a zstd
 * context); st may be NULL. */
struct pq_codec_state {
  void *zstd; /* ZSTD_DCtx, made on first use */
};
void pq_codec_state_release(struct pq_codec_state *s);
int pq_decompress_with(struct pq_codec_state *st, int codec, const uint8_t *src,
                       size_t n, uint8_t *dst, size_t dst_n,
                       struct sl_error *err);
bool pq_codec_supported(int codec);
const char *pq_codec_name(int codec);

/* ---- parquet.thrift structures (pq_meta.c decodes, pq_meta_write.c
 * encodes). Strings are NUL-terminated copies in the reader's arena; binary
 * statistics point into the footer bytes, which live as long as the file. */
struct sl_arena;

struct pq_stats {
  const uint8_t *min, *max;             /* deprecated fields 1 and 2 */
  const uint8_t *min_value, *max_value; /* fields 5 and 6 */
  uint32_t min_len, max_len, min_value_len, max_value_len;
  bool has_min, has_max, has_min_value, has_max_value, has_null_count;
  int64_t null_count;
};

struct pq_schema_elem {
  const char *name;
  int32_t type; /* physical type; -1 for groups */
  int32_t type_length;
  int32_t repetition; /* -1 when absent (the root) */
  int32_t num_children;
  int32_t converted_type; /* -1: none */
  int32_t scale, precision;
  int32_t logical;  /* PQ_LT_*; PQ_LT_NONE when absent */
  bool ts_utc;      /* TIMESTAMP */
  int32_t ts_unit;  /* PQ_UNIT_* */
  int32_t int_bits; /* INTEGER */
  bool int_signed;
};

struct pq_column_meta {
  int32_t type;
  int32_t codec;
  int32_t n_path;
  const char **path;
  int64_t num_values;
  int64_t total_uncompressed;
  int64_t total_compressed;
  int64_t data_page_offset;
  int64_t dictionary_page_offset; /* -1: none */
  bool has_stats;
  struct pq_stats stats;
};

struct pq_column_chunk {
  int64_t file_offset;
  bool has_meta;
  struct pq_column_meta meta;
};

struct pq_row_group {
  int32_t n_columns;
  struct pq_column_chunk *columns;
  int64_t total_byte_size;
  int64_t num_rows;
};

struct pq_file_meta {
  int32_t version;
  int32_t n_schema;
  struct pq_schema_elem *schema;
  int64_t num_rows;
  int32_t n_row_groups;
  struct pq_row_group *row_groups;
  int32_t n_kv;
  const char **kv_keys, **kv_values; /* a value may be NULL */
  const char *created_by;            /* NULL when absent */
  bool has_column_orders;
};

/* Decodes a FileMetaData; allocations come from arena. */
int pq_meta_decode(const uint8_t *p, size_t n, struct sl_arena *arena,
                   struct pq_file_meta *out, struct sl_error *err);

struct pq_page_header {
  int32_t type;
  int32_t uncompressed_size;
  int32_t compressed_size;
  int32_t num_values; /* data v1/v2 and dictionary pages */
  int32_t encoding;
  int32_t def_encoding, rep_encoding; /* v1 */
  int32_t num_nulls, num_rows;        /* v2 */
  int32_t def_len, rep_len;           /* v2 */
  bool is_compressed;                 /* v2; default true */
  bool has_data, has_dict, has_v2;
};
/* Decodes a PageHeader from p; *used is its encoded length. */
int pq_page_header_decode(const uint8_t *p, size_t n, struct pq_page_header *h,
                          size_t *used, struct sl_error *err);

/* Writer side: statistics to encode (min/max point at plain-encoded
 * values: little-endian numbers, raw string bytes). */
struct pq_stats_out {
  bool has_null_count;
  int64_t null_count;
  bool has_minmax;
  bool deprecated_too; /* also fields 1/2 (signed-order types) */
  const uint8_t *min, *max;
  uint32_t min_len, max_len;
};
void pq_stats_encode(struct tc_writer *w, int16_t field,
                     const struct pq_stats_out *s);
int pq_page_header_encode(const struct pq_page_header *h,
                          const struct pq_stats_out *stats, bool dict_sorted,
                          struct pq_buf *out);

/* ---- schema (pq_schema.c) ---------------------------------------------- */
#include "sluice/table.h"

#define PQ_MAX_DEPTH 32
#define PQ_MAX_PATH 64

/* One level on the way from a top-level field down to a leaf column. A
 * node's slot exists when the definition level reaches d_in; its value is
 * non-null from d_present on; a list is non-empty from d_present + 1 on.
 * rep_ctx is the repetition level of the innermost repeated group holding
 * the node (a new element of the node starts when an entry's repetition
 * level is <= rep_ctx); a list's own repeated group has level rep. */
struct pq_node {
  enum sl_type_id type;
  bool nullable;
  int16_t d_in, d_present;
  int16_t rep_ctx, rep;
  int32_t child; /* which child leads to the leaf (struct field index) */
};

/* How the reader turns a leaf's physical values into the sluice type. */
enum pq_convert {
  PQ_CONV_NONE = 0,
  PQ_CONV_U32_TO_I64,  /* INT32 unsigned -> int64 */
  PQ_CONV_NANOS_TO_US, /* INT64 TIMESTAMP(NANOS) -> timestamp[us] */
  PQ_CONV_INT96_TO_US, /* INT96 (legacy timestamps) -> timestamp[us] */
  PQ_CONV_FLOAT_TO_F64,
  PQ_CONV_INT_TO_I32, /* INT32 narrow integer annotations: as is */
};

struct pq_leaf {
  int32_t top; /* top-level field index */
  int32_t n_nodes;
  struct pq_node nodes[PQ_MAX_DEPTH];
  int16_t max_def, max_rep;
  int32_t phys; /* Parquet physical type */
  int32_t type_length;
  int32_t conv;            /* enum pq_convert */
  const char *unsupported; /* reader: why this leaf cannot be read, or NULL */
  int32_t n_path;
  const char *path[PQ_MAX_PATH]; /* borrowed names */
};

/* Writer: the leaves of a sluice schema (names borrowed from it). */
int pq_schema_leaves(const struct sl_schema *s, struct pq_leaf **out,
                     int32_t *n_out, struct sl_error *err);
/* Writer: appends the SchemaElement list of s (field 2 of FileMetaData). */
void pq_schema_encode(struct tc_writer *w, const struct sl_schema *s);
/* Reader: the sluice schema and the leaves of a Parquet schema. Leaves
 * that sluice cannot read get a null-typed field and leaf->unsupported. */
int pq_schema_decode(const struct pq_file_meta *m, struct sl_schema *out,
                     struct pq_leaf **leaves, int32_t *n_leaves,
                     struct sl_error *err);

/* ---- writer column chunks (pq_column.c) -------------------------------- */
struct pq_write_cfg {
  int codec;
  int level;
  bool dictionary;
  int64_t dictionary_bytes;
  bool delta_integers;
  int page_version;
  int64_t page_bytes;
  int64_t page_rows;
  bool statistics;
};

/* One encoded column chunk, offsets relative to its first byte. */
struct pq_chunk_out {
  struct pq_buf bytes;
  int64_t num_values;
  int64_t total_uncompressed, total_compressed;
  int64_t dict_offset; /* -1: none */
  int64_t data_offset;
  uint32_t encodings;     /* bit (1 << PQ_ENC_*) */
  int32_t dict_pages;     /* PageEncodingStats: dictionary pages */
  int32_t data_pages[10]; /* data pages per value encoding */
  struct pq_stats_out stats;
  uint8_t *stats_min, *stats_max; /* owned copies behind stats.min/max */
};
void pq_chunk_out_release(struct pq_chunk_out *c);

struct pq_scratch;
/* Encodes the values of `leaf` over n_batches batches (each batch's column
 * leaf->top) as one column chunk. scratch (may be NULL) holds buffers that
 * are reused from one call to the next (one per thread); out->bytes keeps
 * its capacity for reuse too. */
int pq_column_encode(const struct pq_leaf *leaf,
                     struct sl_batch *const *batches, int32_t n_batches,
                     const struct pq_write_cfg *cfg, struct pq_scratch *scratch,
                     struct pq_chunk_out *out, struct sl_error *err);

/* Levels and dense (non-null) values of one leaf column (pq_shred.c). */
struct pq_sv {
  const uint8_t *p;
  int64_t n;
};
struct pq_colbuf {
  uint16_t *def, *rep; /* NULL when max_def / max_rep is 0 */
  int64_t n_levels, cap_levels;
  /* int32/int64/double: raw values; bool: one byte per value; strings:
   * struct pq_sv per value (pointing into the batches). */
  struct pq_buf values;
  int64_t n_values;
  int64_t string_bytes; /* strings: sum of lengths */
  int32_t width;        /* bytes per value in `values` */
};
/* Returns SL_EINVAL when a value is null where the leaf's schema says
 * required, SL_ENOMEM when out of memory. */
int pq_shred(const struct pq_leaf *leaf, struct sl_array *top,
             struct pq_colbuf *cb);
void pq_colbuf_release(struct pq_colbuf *cb);
/* Empties cb for another leaf, keeping the capacity it can reuse. */
void pq_colbuf_reset(struct pq_colbuf *cb, const struct pq_leaf *leaf);

/* Per-thread buffers of the writer, reused across column chunks. */
struct pq_scratch {
  struct pq_colbuf cb;
  struct pq_buf page, comp, hdr;
  int32_t *slots;
  uint64_t slots_cap;
  uint32_t *idx;
  int64_t idx_cap;
  int64_t *first;
  uint64_t *keys;
  int64_t ecap;
};
void pq_scratch_release(struct pq_scratch *s);

/* ---- reader: buffer pool (pq_bufpool.c) --------------------------------- */
struct sl_parquet_buffers;
struct sl_parquet_buffers *pq_pool_retain(struct sl_parquet_buffers *p);
/* Gives an empty b a pooled block of at least need bytes (p may be NULL);
 * a b that has memory grows as with pq_buf_reserve(b, need). */
int pq_pool_reserve(struct sl_parquet_buffers *p, struct pq_buf *b,
                    size_t need);
/* Returns b's block to p (or frees it); b is left empty. */
void pq_pool_put(struct sl_parquet_buffers *p, struct pq_buf *b);
/* Moves b into a new sl_buffer whose memory goes back to p when released
 * (b is left empty). */
int pq_pool_wrap(struct sl_parquet_buffers *p, struct pq_buf *b,
                 struct sl_buffer **out);

/* ---- reader: pages of one column chunk (pq_pages.c) -------------------- */
struct pq_limits {
  int64_t max_page_bytes;
  int64_t max_chunk_values;
};

/* Dense decoded values: fixed-width in the sluice type's width (bool: one
 * byte each), strings as int64 offsets (n + 1) into chars. */
struct pq_values {
  struct pq_buf data;
  struct pq_buf offs;
  int64_t n;
};
void pq_values_release(struct pq_values *v);

struct pq_chunk_data {
  uint16_t *def, *rep; /* NULL when the level's maximum is 0 */
  int64_t n_levels, cap_levels;
  struct pq_values v;
};
void pq_chunk_data_release(struct pq_chunk_data *c);

/* A flat column (top-level leaf, no repetition) being decoded straight
 * into its Arrow layout (pq_flat.c). Zero it, then set type, w, has_def and
 * pool. */
struct pq_flat {
  enum sl_type_id type;
  int w;        /* bytes per value of fixed-width types, else 0 */
  bool has_def; /* optional: validity from definition levels */
  struct sl_parquet_buffers *pool; /* may be NULL */
  struct pq_buf valid;             /* bits of rows [0, rows) */
  struct pq_buf data; /* fixed: rows * w; bool: bits; utf8: characters */
  struct pq_buf offs; /* utf8: int32, rows + 1 */
  int64_t rows, nulls;
  int64_t chunk_end; /* rows when the current column chunk is done */
};
#define PQ_STR_SLACK 32
/* Room for `rows` more rows (chars_hint: characters, 0 = unknown). */
int pq_flat_reserve(struct pq_flat *f, int64_t rows, int64_t chars_hint);
/* The array of f's rows; f's buffers move into it (f is left empty). */
int pq_flat_finish(struct pq_flat *f, struct sl_array **out,
                   struct sl_error *err);
void pq_flat_release(struct pq_flat *f);

/* State of the page decoder of one column chunk (pq_pages.c). */
struct pq_page_ctx {
  const struct pq_leaf *leaf;
  const struct pq_limits *lim;
  enum sl_type_id type;
  int w; /* bytes per dense value; 0 for strings and null */
  bool strings;
  struct pq_values dict;
  bool has_dict;
  struct pq_buf page;     /* decompressed page */
  struct pq_buf tmp;      /* physical values before conversion, indices */
  struct pq_values dense; /* flat: values of encodings without a direct path */
  struct pq_buf dent;     /* flat strings: dictionary offset | length << 32 */
  uint32_t dict_maxlen;   /* flat strings: longest dictionary entry */
  int64_t first_level;    /* where this chunk's levels start in the output */
  struct pq_flat *flat;   /* set: decode into it instead of levels + values */
  struct pq_codec_state *codec; /* may be NULL */
  struct sl_error *err;
};
/* n dense values of a page in encoding enc, appended to out. */
int pq_decode_values(struct pq_page_ctx *c, int enc, const uint8_t *p,
                     size_t len, int64_t n, struct pq_values *out);
/* One data page of a flat column, decompressed: levels and values into f. */
int pq_flat_page(struct pq_page_ctx *c, const struct pq_page_header *h,
                 const uint8_t *p, size_t len, struct pq_flat *f);

/* Reads and decodes the pages of column chunk cc of a file in memory,
 * appending to out, or with flat set (a flat leaf) to flat (zero them
 * first; chunks of several row groups of the same column may be appended
 * one after the other). On error out is left for the caller to release. */
struct pq_read_scratch {
  struct pq_buf page, tmp; /* reused across chunks by one thread */
  struct pq_values dense, dict;
  struct pq_buf dent;
  struct pq_codec_state codec;
};
void pq_read_scratch_release(struct pq_read_scratch *s);
int pq_read_chunk(const uint8_t *file, size_t file_size,
                  const struct pq_column_chunk *cc, const struct pq_leaf *leaf,
                  const struct pq_limits *lim, struct pq_read_scratch *scratch,
                  struct pq_chunk_data *out, struct pq_flat *flat,
                  struct sl_error *err);

/* ---- reader: assembly into arrays (pq_assemble.c) ---------------------- */
/* Builds the array of one top-level field from the decoded chunks of its
 * projected leaves (leaves[i] with data[i], in schema order). Nested fields
 * only: flat columns go through pq_flat.c. */
int pq_assemble(const struct sl_field *field,
                const struct pq_leaf *const *leaves,
                struct pq_chunk_data *const *data, int32_t n_leaves,
                int64_t num_rows, struct sl_array **out, struct sl_error *err);

/* ---- reader: file, projection, row groups (pq_reader.c, pq_rowgroups.c) */
struct sl_parquet_read_options;
struct sl_batch;

/* An open file: the bytes (mapped or borrowed), footer and schema. */
struct sl_parquet_file {
  char *name;
  const uint8_t *data;
  size_t size;
  void *map;
  struct sl_arena arena;
  struct pq_file_meta meta;
  struct sl_schema schema;
  struct pq_leaf *leaves;
  int32_t n_leaves;
  int32_t *leaf_first; /* per top-level field */
  int32_t *leaf_count;
};

struct pq_proj_col {
  struct sl_field field; /* pruned */
  int32_t n_leaves;
  int32_t *leaves; /* indices into the file's leaves */
};

struct pq_projection {
  struct sl_schema schema;
  struct pq_leaf
      *leaves; /* copies, child indices remapped to the pruned fields */
  struct pq_proj_col *cols;
  int32_t n_cols;
};

/* Decodes groups (all of them as one batch: each column's chunks appended)
 * with the projection p on o->pool; scratch has one entry per pool worker
 * (may be NULL). */
int pq_read_groups(const struct sl_parquet_file *f,
                   const struct pq_projection *p, const int32_t *groups,
                   int32_t n_groups, const struct sl_parquet_read_options *o,
                   struct pq_read_scratch *scratch, struct sl_batch **out,
                   struct sl_error *err);
/* Decodes groups as one batch each into out[0..n_groups), every (group,
 * column) chunk a task, largest first. On error out is left empty. */
int pq_read_window(const struct sl_parquet_file *f,
                   const struct pq_projection *p, const int32_t *groups,
                   int32_t n_groups, const struct sl_parquet_read_options *o,
                   struct pq_read_scratch *scratch, struct sl_batch **out,
                   struct sl_error *err);

#endif
