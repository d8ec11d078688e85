/* JSON reader: the per-chunk parser built for AVX-512BW CPUs (see
 * json_parse.c). The engine uses it when the AVX-512 kernel is picked; the
 * generic build, with the kernel behind a pointer, serves every other
 * choice and stays the reference. */
#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang attribute push(                                                  \
    __attribute__((target("avx512f,avx512bw,bmi,bmi2,lzcnt,popcnt"))),         \
    apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,bmi,bmi2,lzcnt,popcnt")
#endif
#define SL__JSON_PARSE_AVX512 1
#include "json_parse.c"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
