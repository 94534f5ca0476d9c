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

#include "kernels/kernels_impl.h"
#include "kernels/prefetch.h"


static inline const void *row_at(const void *base, size_t stride, size_t i)
{
    return (const char *)base + i * stride;
}

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }
static inline uint16_t ld16(const char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t ld32(const char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* Decode reads each thread's rows as one sequential stream, one row after
 * the next, and asks for the bytes PREFETCH_AHEAD further on: the hardware
 * prefetcher alone leaves a Zen 5 core at half its memory bandwidth here
 * (measured with tool_kbench: 4-row interleaving or no software prefetch
 * both cost 30-50%). kernels/prefetch.h says why not _mm_prefetch. */
/* GEMM chunking of both x86 sets (TILE and NCOL are each set's own). */
enum {
    CC = 256,       /* activation columns whose block data is prepared at once */
    FKC = 512,      /* float elements per K chunk of a tile (TILE * 2 KiB) */
    FCC = 256,      /* float columns converted at once (a 512 KiB panel) */
};

enum { PREFETCH_AHEAD = 4096 };

static inline void prefetch_ahead(const void *p, size_t bytes)
{
    prefetch_span((const char *)p + PREFETCH_AHEAD, bytes);
}

/* ---- block geometry beyond kernels_impl.h's ---- */

/* K-quant offsets (the weights are u - off) and which have mins */
INLINE int k_off(int type) { return type == TL_Q6_K ? 32 : type == TL_Q3_K ? 4 : 0; }
INLINE int k_mins(int type) { return type == TL_Q2_K || type == TL_Q4_K || type == TL_Q5_K; }


/* Block b of each of the n rows at rows[i] (32-element types): where it
 * is (p), its d and m words (m 0 without mins) and its qh dword (0 but
 * Q5_0/Q5_1), for a tile's repacking. */
INLINE void block_fields(int type, const char *const *rows, int b, int n, const char **p, uint16_t *d,
                         uint16_t *m, uint32_t *h)
{
    size_t bs = q32_bytes(type);
    for (int i = 0; i < n; i++) {
        p[i] = rows[i] + (size_t)b * bs;
        d[i] = ld16(p[i]);
        m[i] = q32_mins(type) ? ld16(p[i] + 2) : 0;
        h[i] = q32_five(type) ? ld32(p[i] + q32_qh(type)) : 0;
    }
}

/* The GEMMs' view: weight blocks, their elements and activation blocks;
 * qgroup quads (of 4 elements) share one scale. */
INLINE int qgroup(int type) { return type == TL_Q2_K || type == TL_Q3_K || type == TL_Q6_K ? 4 : 8; }
INLINE size_t wblock_bytes(int type) { return is_k(type) ? k_bytes(type) : q32_bytes(type); }
INLINE int wblock_elems(int type) { return is_k(type) ? QK_K : QK; }
INLINE size_t xblock_bytes(int type) { return is_k(type) ? sizeof(struct block_q8_K) : act_bytes(type); }

/* Byte offset of activation element e (from a block start) in its row. */
INLINE size_t act_pos(int type, int e)
{
    if (is_k(type))
        return (size_t)(e / QK_K) * sizeof(struct block_q8_K) + offsetof(struct block_q8_K, qs) + (size_t)(e % QK_K);
    return (size_t)(e / QK) * act_bytes(type) + act_qs(type) + (size_t)(e % QK);
}

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

/* Q2_K: scales (low nibbles) and mins (high) of the 16 sub-blocks, d, dmin. */
static inline void q2k_scales(const char *b, __m256i *sc, __m256i *mn, float *d, float *dmin)
{
    __m256i s = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + offsetof(struct block_q2_K, scales))));
    *sc = _mm256_and_si256(s, _mm256_set1_epi16(15));
    *mn = _mm256_srli_epi16(s, 4);
    *d = _cvtsh_ss(ld16(b + offsetof(struct block_q2_K, d)));
    *dmin = _cvtsh_ss(ld16(b + offsetof(struct block_q2_K, dmin)));
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
