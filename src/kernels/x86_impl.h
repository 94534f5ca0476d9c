/* kernels/x86_impl.h: what the two x86 kernel sets share whatever their
 * vector width, included by kernels/avx2.c and kernels/avx512.c (both
 * built with AVX2 at least): the GEMM scratch and the K-quant scale
 * decoders. Scales come out as 16 words, one per 16 elements of a
 * super-block. */
#ifndef TINYLLM_KERNELS_X86_IMPL_H
#define TINYLLM_KERNELS_X86_IMPL_H

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

/* The GEMM's scratch: the caller's a->scratch, else KERNELS_SCRATCH_BYTES
 * from the heap for this call, also put in *own for the caller to free;
 * NULL without memory (the caller then runs column by column, which needs
 * none). */
static inline void *gemm_scratch(const struct matmul_args *a, void **own)
{
    *own = a->scratch ? NULL : aligned_alloc(64, KERNELS_SCRATCH_BYTES);
    return a->scratch ? a->scratch : *own;
}

/* Column c of a's product alone (nc == 1, the decode case). */
static inline struct matmul_args column_args(const struct matmul_args *a, int c)
{
    struct matmul_args one = *a;
    one.x = (const char *)a->x + (size_t)c * a->x_row_bytes;
    one.y = a->y + (size_t)c * a->ldy;
    one.nc = 1;
    return one;
}

/* Eight byte values of v, each repeated for both 16-halves, as 16 words. */
static inline __m256i words8x2(uint64_t v)
{
    __m128i b = _mm_cvtsi64_si128((long long)v);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(b, b));
}

/* Q4_K/Q5_K: 6-bit scales and mins of 8 sub-blocks from the 12 bytes at
 * b + 4: j < 4 low 6 bits of bytes j and j+4; j >= 4 nibbles of byte j+4
 * topped by the high 2 bits of bytes j-4 and j (scalar: it runs beside the
 * vector work). */
static inline void k4_scales(const char *b, __m256i *sc, __m256i *mn)
{
    uint32_t s0, s1, s2;
    memcpy(&s0, b + 4, 4);
    memcpy(&s1, b + 8, 4);
    memcpy(&s2, b + 12, 4);
    *sc = words8x2((s0 & 0x3f3f3f3fu) | (uint64_t)((s2 & 0x0f0f0f0fu) | (s0 >> 2 & 0x30303030u)) << 32);
    *mn = words8x2((s1 & 0x3f3f3f3fu) | (uint64_t)((s2 >> 4 & 0x0f0f0f0fu) | (s1 >> 2 & 0x30303030u)) << 32);
}

/* Q3_K: the 16 signed 6-bit scales (minus 32): low nibbles from the 8 bytes
 * at 96, high bits from the 4 bytes at 104, where dword i shifted right by
 * 2i puts bits 2i..2i+1 of byte m at the bottom of byte 4i + m: scale
 * 4i + m's. */
static inline __m256i q3k_scales(const char *b)
{
    int32_t h;
    memcpy(&h, b + 104, 4);
    __m128i s = _mm_loadl_epi64((const __m128i *)(b + 96)), f = _mm_set1_epi8(15);
    __m128i lo = _mm_unpacklo_epi64(_mm_and_si128(s, f), _mm_and_si128(_mm_srli_epi16(s, 4), f));
    __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32(h), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(3));
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_or_si128(lo, _mm_slli_epi16(hi, 4))), _mm256_set1_epi16(32));
}

#endif
