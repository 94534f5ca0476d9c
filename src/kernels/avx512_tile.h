/* kernels/avx512_tile.h: the quantized GEMM tiles of the avx512 set (16
 * rows, vpdpbusd) and its kernels over the x16 layout (format/x16.h). Part
 * of kernels/avx512.c (its ISA flags and definitions), included by it alone. */
#ifndef TINYLLM_KERNELS_AVX512_TILE_H
#define TINYLLM_KERNELS_AVX512_TILE_H

/* ---- matrix-matrix products of the quantised types ----
 * A 16-row tile is repacked so that lane i of every vector is row i: quad
 * e/4 holds elements e..e+3 of each row as unsigned bytes, and vpdpbusd
 * against a broadcast of 4 activation bytes finishes one group of QG
 * quads per lane before its scale applies: QG = 8 for the 32-element
 * blocks and the Q4_K/Q5_K sub-blocks, 4 for the 16-element sub-blocks of
 * Q2_K/Q3_K/Q6_K. An activation group brings its scale dx, the integer
 * correction -off * sum(x) and dx * sum(x) for the weight's mins. */

enum { KE = 1024 };  /* elements per K chunk: 32 blocks of 32 or 4 super-blocks */

struct tileq {
    __m512i q[KE / 4];   /* quad e/4: elements e..e+3 of each row */
    __m512  d[KE / 16];  /* per group: each row's scale */
    __m512  m[KE / 16];  /* per group: each row's min */
};

struct colsq {
    float   d[CC][KE / 16];
    int32_t corr[CC][KE / 16];
    float   s[CC][KE / 16];
};




/* out[j] 128-bit lane L = dword j of l[0..3] lane L (4x4 dword transposes). */
INLINE void transpose_4x4(const __m512i l[4], __m512i out[4])
{
    __m512i t0 = _mm512_unpacklo_epi32(l[0], l[1]), t1 = _mm512_unpackhi_epi32(l[0], l[1]);
    __m512i t2 = _mm512_unpacklo_epi32(l[2], l[3]), t3 = _mm512_unpackhi_epi32(l[2], l[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* out[j] lane i = dword j of the 16 bytes at p[i] + off (i < 16, j < 4):
 * lanes of l[k] hold rows k, k+4, k+8, k+12, so the in-lane transpose puts
 * rows 4L..4L+3 in 128-bit lane L. */
INLINE void transpose_16x4(const char *const *p, size_t off, __m512i out[4])
{
    __m512i l[4];
    for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[k] + off)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[k + 4] + off)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[k + 8] + off)), 2);
        l[k] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[k + 12] + off)), 3);
    }
    transpose_4x4(l, out);
}

/* The integer vector ops of the shared tile packing (x86_gemmq.h's
 * pack32_block): a tile's quads in 16 dword lanes. */
typedef __m512i VI;
INLINE VI vi_and(VI a, VI b) { return _mm512_and_si512(a, b); }
INLINE VI vi_or(VI a, VI b) { return _mm512_or_si512(a, b); }
INLINE VI vi_xor(VI a, VI b) { return _mm512_xor_si512(a, b); }
INLINE VI vi_set1_8(int v) { return _mm512_set1_epi8((char)v); }
INLINE VI vi_set1_32(int v) { return _mm512_set1_epi32(v); }
INLINE VI vi_srli32(VI v, int n) { return _mm512_srli_epi32(v, (unsigned)n); }
INLINE VI vi_slli32(VI v, int n) { return _mm512_slli_epi32(v, (unsigned)n); }
INLINE VI vi_mullo32(VI a, VI b) { return _mm512_mullo_epi32(a, b); }
INLINE VI vi_loadu(const void *p) { return _mm512_loadu_si512(p); }
INLINE VI vi_shuffle8(VI lut, VI v) { return _mm512_shuffle_epi8(lut, v); }
/* TILE f16 words at p as floats */
INLINE VF vf_from_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
/* out[j] lane i = dword j of the 16 bytes at p[i] + off (i < TILE, j < 4) */
INLINE void transpose_rows_x4(const char *const *p, size_t off, VI out[4]) { transpose_16x4(p, off, out); }

#include "kernels/x86_x16.h"

/* Super-block sb of the 16 rows at rows[i] for packk_block: row i's
 * elements in element order as unsigned bytes in u[i]; sc[g], mn[g] lane i
 * = row i's scale of 16-group g times d and min times -dmin (one 16x16
 * register transpose). */
INLINE void decode_k_tile(int type, const char *const *rows, int sb, char (*u)[QK_K], VF sc[16], VF mn[16])
{
    for (int i = 0; i < TILE; i++) {
        struct kdec k;
        decode_k(type, rows[i] + (size_t)sb * k_bytes(type), &k);
        if (k_stored_order(type)) {
            swap_quarters(&k.u[0], &k.u[1]);
            swap_quarters(&k.u[2], &k.u[3]);
        }
        for (int j = 0; j < 4; j++)
            _mm512_storeu_si512(u[i] + 64 * j, k.u[j]);
        sc[i] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(k.sc)), _mm512_set1_ps(k.d));
        mn[i] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(k.mn)), _mm512_set1_ps(-k.dmin));
    }
    transpose16(sc);
    transpose16(mn);
}


/* Sum of 32 signed bytes: sad against 0 of the bytes biased to unsigned. */
static inline int sum_i8x32(const char *p)
{
    __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), _mm256_set1_epi8((char)0x80));
    __m256i s = _mm256_sad_epu8(v, _mm256_setzero_si256());
    __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (int)(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1)) - 32 * 128;
}

/* Group data of columns [c0, c0 + cc), elements [e0, e0 + ke). */
INLINE void prep_colsq(struct colsq *ci, const struct matmul_args *a, int type, int c0, int cc, int e0, int ke)
{
    int ge = 4 * qgroup(type), ng = ke / ge;
    for (int c = 0; c < cc; c++) {
        const char *x = row_at(a->x, a->x_row_bytes, (size_t)(c0 + c));
        for (int g = 0; g < ng; g++) {
            int e = e0 + g * ge;
            if (is_k(type)) {
                const char *xb = x + (size_t)(e / QK_K) * sizeof(struct block_q8_K);
                const char *bsum = xb + offsetof(struct block_q8_K, bsums) + (e % QK_K) / 16 * 2;
                int sum = (int16_t)ld16(bsum) + (ge == 32 ? (int16_t)ld16(bsum + 2) : 0);
                memcpy(&ci->d[c][g], xb, 4);
                ci->s[c][g] = ci->d[c][g] * (float)sum;
                ci->corr[c][g] = -k_off(type) * sum;
            } else {
                const char *xb = x + (size_t)(e / QK) * act_bytes(type);
                ci->d[c][g] = _cvtsh_ss(ld16(xb));
                ci->s[c][g] = q32_mins(type) ? _cvtsh_ss(ld16(xb + 2)) : 0.0f;
                ci->corr[c][g] = q32_off(type) ? -q32_off(type) * sum_i8x32(xb + act_qs(type)) : 0;
            }
        }
    }
}

/* acc[c] += tile * column cf + c over ng groups; x[cf + c] points at that
 * column's chunk. QG vpdpbusd finish a group in every lane, then its scale
 * (and min) apply. */
INLINE void tileq_cols(const struct tileq *t, const struct colsq *ci, const char *const *x, int ng,
                       int type, int cf, int C, __m512 *acc)
{
    int qg = qgroup(type), mins = is_k(type) ? k_mins(type) : q32_mins(type);
    for (int g = 0; g < ng; g++) {
        __m512i s[NCOL];
        size_t o = act_pos(type, g * 4 * qg);
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            s[c] = _mm512_set1_epi32(ci->corr[cf + c][g]);
#pragma GCC unroll 8
        for (int j = 0; j < qg; j++) {
            __m512i w = t->q[g * qg + j];
#pragma GCC unroll 8
            for (int c = 0; c < C; c++)
                s[c] = _mm512_dpbusd_epi32(s[c], w, bcast4(x[cf + c] + o + 4 * j));
        }
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            __m512 sc = _mm512_mul_ps(t->d[g], _mm512_set1_ps(ci->d[cf + c][g]));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[c]), sc, acc[c]);
            if (mins)
                acc[c] = _mm512_fmadd_ps(t->m[g], _mm512_set1_ps(ci->s[cf + c][g]), acc[c]);
        }
    }
}

/* Byte offset of the quant vectors in an x16 block column of a 32-element
 * type (after the scale words and, for Q5_0, the qh vector). */
INLINE size_t x16_qs(int type)
{
    switch (type) {
    case TL_Q5_0: return X16_Q5_0_QS;
    case TL_IQ4_NL: return X16_IQ4_NL_QS;
    case TL_Q8_0: return X16_Q8_0_QS;
    default: return X16_Q4_0_QS;
    }
}

/* Quad vector j of a 4-bit type's x16 block column at col, as the unsigned
 * weights of elements 4j..4j+3 (lo) and 16+4j..16+4j+3 (hi) of each row:
 * IQ4_NL through its grid + 128, Q5_0 with bit 4 from the reordered qh. */
INLINE void x16_nibbles(int type, __m512i v, const char *col, int j, __m512i *lo, __m512i *hi)
{
    __m512i f = _mm512_set1_epi8(15);
    *lo = _mm512_and_si512(v, f);
    *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), f);
    if (type == TL_IQ4_NL) {
        *lo = _mm512_shuffle_epi8(iq4nl_lut(), *lo);
        *hi = _mm512_shuffle_epi8(iq4nl_lut(), *hi);
    } else if (type == TL_Q5_0) {   /* a | (b & c) */
        __m512i h = _mm512_loadu_si512(col + X16_Q5_0_QH), bit4 = _mm512_set1_epi8(16);
        *lo = _mm512_ternarylogic_epi32(*lo, _mm512_slli_epi32(h, 4 - j), bit4, 0xf8);
        *hi = _mm512_ternarylogic_epi32(*hi, _mm512_srli_epi32(h, j), bit4, 0xf8);
    }
}

/* Q3_K in the x16 layout (format/x16.h): hmask vectors from X16_Q3_K_HMASK, qs
 * vectors from X16_Q3_K_QS, the scale vectors from X16_Q3_K_SC, the d words at
 * X16_Q3_K_D. */

/* Q3_K's 16 scales of each lane from the three scale vectors at p
 * (q3k_scales' formula): byte b of s[k] = scale 4k + b, plus 32. */
INLINE void x16_k3_scales(const char *p, __m512i s[4])
{
    __m512i v0 = _mm512_loadu_si512(p), v1 = _mm512_loadu_si512(p + 64), v2 = _mm512_loadu_si512(p + 128);
    __m512i lo = _mm512_set1_epi8(15), hi = _mm512_set1_epi8(0x30);
    s[0] = _mm512_or_si512(_mm512_and_si512(v0, lo), _mm512_and_si512(_mm512_slli_epi32(v2, 4), hi));
    s[1] = _mm512_or_si512(_mm512_and_si512(v1, lo), _mm512_and_si512(_mm512_slli_epi32(v2, 2), hi));
    s[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(v0, 4), lo), _mm512_and_si512(v2, hi));
    s[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(v1, 4), lo), _mm512_and_si512(_mm512_srli_epi32(v2, 2), hi));
}

/* Q3_K's weights (value + 4, 0..7) of quad m (elements 128h + 32s + 4m..+3)
 * of each lane of the block column at col: 2 bits of qs vector 8h + m and
 * bit 4h + s of hmask vector m at bit 2. */
INLINE __m512i x16_k3_quad(const char *col, int h, int s, int m)
{
    int p = 4 * h + s;
    __m512i q = _mm512_loadu_si512(col + X16_Q3_K_QS + 64 * (8 * h + m));
    __m512i hm = _mm512_loadu_si512(col + X16_Q3_K_HMASK + 64 * m);
    __m512i hb = p >= 2 ? _mm512_srli_epi32(hm, p - 2) : _mm512_slli_epi32(hm, 2 - p);
    return _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi32(q, 2 * s), _mm512_set1_epi8(3)), hb,
                                     _mm512_set1_epi8(4), 0xf8);   /* q2 | (hb & 4) */
}

/* Scale j of each lane (from x16_k3_scales) as a float. */
INLINE __m512 x16_k3_scale(const __m512i sc[4], int j)
{
    __m512i b = _mm512_and_si512(_mm512_srli_epi32(sc[j / 4], 8 * (j % 4)), _mm512_set1_epi32(0xff));
    return _mm512_sub_ps(_mm512_cvtepi32_ps(b), _mm512_set1_ps(32.0f));
}

/* Q2_K in the x16 layout (format/x16.h): scale/min vectors from X16_Q2_K_SC, qs
 * vectors from X16_Q2_K_QS, the d words at X16_Q2_K_D, dmin at X16_Q2_K_DMIN. */

/* Q2_K's weights (0..3) of quad m (elements 128h + 32s + 4m..+3) of each
 * lane: bits 2s of qs vector 8h + m. */
INLINE __m512i x16_k2_quad(const char *col, int h, int s, int m)
{
    __m512i q = _mm512_loadu_si512(col + X16_Q2_K_QS + 64 * (8 * h + m));
    return _mm512_and_si512(_mm512_srli_epi32(q, 2 * s), _mm512_set1_epi8(3));
}

/* Sub-block j's scale (low nibble) or min (high) of each lane, as a float. */
INLINE __m512 x16_k2_nibble(const char *col, int j, int high)
{
    __m512i v = _mm512_srli_epi32(_mm512_loadu_si512(col + X16_Q2_K_SC + 64 * (j / 4)), 8 * (j % 4) + 4 * high);
    return _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(15)));
}

/* Q2_K and Q3_K in the x16 layout, both 16 sub-blocks of 16 elements:
 * the d words, the weights of quad m of elements 128h + 32s (unsigned:
 * Q3_K's value + 4) and sub-block j's scale as a float; sc holds Q3_K's
 * scales from x16_k3_scales (Q2_K's are read from col). */
INLINE __m512 x16_k23_d(int type, const char *col)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(col + (type == TL_Q2_K ? X16_Q2_K_D : X16_Q3_K_D))));
}

INLINE __m512i x16_k23_quad(int type, const char *col, int h, int s, int m)
{
    return type == TL_Q2_K ? x16_k2_quad(col, h, s, m) : x16_k3_quad(col, h, s, m);
}

INLINE __m512 x16_k23_scale(int type, const char *col, const __m512i sc[4], int j)
{
    return type == TL_Q2_K ? x16_k2_nibble(col, j, 0) : x16_k3_scale(sc, j);
}

/* Q5_K in the x16 layout: the nibbles u of sub-block s with their fifth
 * bit, bit s of each byte of the quads' qh vector h, at bit 4. */
INLINE __m512i x16_k5_bit(__m512i u, __m512i h, int s)
{
    __m512i at4 = s <= 4 ? _mm512_slli_epi32(h, 4 - s) : _mm512_srli_epi32(h, s - 4);
    return _mm512_ternarylogic_epi32(u, at4, _mm512_set1_epi8(16), 0xf8);   /* u | (at4 & 16) */
}

/* Byte offset of the quant vectors in an x16 super-block column (after d,
 * dmin, the scales and, for Q5_K, the qh vectors). */
INLINE size_t x16_k_qs(int type) { return type == TL_Q5_K ? X16_Q5_K_QS : X16_Q4_K_QS; }

/* The tile of the 16 x16-packed rows from r (format/quant.h), elements [e0, e0 + ke):
 * the stored vectors are the tile's quads already (Q4_K's in stored
 * nibble order: vector 8c + l holds quads 16c + l and 16c + 8 + l). */
INLINE void packq_x16(struct tileq *t, const struct matmul_args *a, int type, int r, int e0, int ke)
{
    __m512i f = _mm512_set1_epi8(15);
    if (type == TL_Q2_K || type == TL_Q3_K) {   /* quads in element order; group j = sub-block j */
        size_t cb = X16 * k_bytes(type);
        const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)(e0 / QK_K) * cb;
        for (int sb = 0; sb < ke / QK_K; sb++, col += cb) {
            __m512i sc[4];
            if (type == TL_Q3_K)
                x16_k3_scales(col + X16_Q3_K_SC, sc);
            __m512 d = x16_k23_d(type, col), ndmin = _mm512_setzero_ps();
            if (type == TL_Q2_K)
                ndmin = _mm512_sub_ps(ndmin, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(col + X16_Q2_K_DMIN))));
            for (int j = 0; j < 16; j++) {
                t->d[sb * 16 + j] = _mm512_mul_ps(d, x16_k23_scale(type, col, sc, j));
                t->m[sb * 16 + j] = type == TL_Q2_K ? _mm512_mul_ps(ndmin, x16_k2_nibble(col, j, 1)) : ndmin;
            }
            __m512i *q = t->q + sb * (QK_K / 4);
            for (int h = 0; h < 2; h++)
                for (int s = 0; s < 4; s++)
                    for (int m = 0; m < 8; m++)
                        q[32 * h + 8 * s + m] = x16_k23_quad(type, col, h, s, m);
        }
        return;
    }
    if (type == TL_Q4_K || type == TL_Q5_K) {
        size_t cb = X16 * k_bytes(type);
        const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)(e0 / QK_K) * cb;
        for (int sb = 0; sb < ke / QK_K; sb++, col += cb) {
            __m512i sc[2], mn[2];
            x16_k4_scales(col + X16_Q4_K_SC, sc, mn);
            __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(col + X16_Q4_K_D)));
            __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(col + X16_Q4_K_DMIN)));
            for (int sub = 0; sub < 8; sub++) {
                t->d[sb * 8 + sub] = _mm512_mul_ps(d, x16_k4_byte(sc, sub));
                t->m[sb * 8 + sub] = _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), dmin), x16_k4_byte(mn, sub));
            }
            __m512i *q = t->q + sb * (QK_K / 4);
            for (int c = 0; c < 4; c++)
                for (int l = 0; l < 8; l++) {
                    __m512i v = _mm512_loadu_si512(col + x16_k_qs(type) + 64 * (8 * c + l));
                    q[16 * c + l] = _mm512_and_si512(v, f);
                    q[16 * c + 8 + l] = _mm512_and_si512(_mm512_srli_epi16(v, 4), f);
                    if (type == TL_Q5_K) {
                        __m512i h = _mm512_loadu_si512(col + X16_Q5_K_QH + 64 * l);
                        q[16 * c + l] = x16_k5_bit(q[16 * c + l], h, 2 * c);
                        q[16 * c + 8 + l] = x16_k5_bit(q[16 * c + 8 + l], h, 2 * c + 1);
                    }
                }
        }
        return;
    }
    size_t cb = X16 * q32_bytes(type), qs = x16_qs(type);
    const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)(e0 / QK) * cb;
    for (int b = 0; b < ke / QK; b++, col += cb) {
        t->d[b] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(col + X16_Q4_0_D)));
        t->m[b] = _mm512_setzero_ps();
        __m512i *q = t->q + 8 * b;
        if (type == TL_Q8_0) {
            for (int j = 0; j < 8; j++)
                q[j] = _mm512_loadu_si512(col + qs + 64 * j);
            continue;
        }
        for (int j = 0; j < 4; j++) {
            __m512i v = _mm512_loadu_si512(col + qs + 64 * j);
            x16_nibbles(type, v, col, j, &q[j], &q[j + 4]);
        }
    }
}

/* The GEMM loops over tiles and columns, decode by type, the set's matmul_*. */
#include "kernels/x86_gemmq.h"

/* ---- the 32-element types (Q4_0, IQ4_NL, Q5_0, Q8_0), Q4_K and Q5_K in the x16
 * layout (format/quant.h) ----
 * Decode: each group of 16 rows is one stream of block columns; per block,
 * vpdpbusd adds each quad of a row's weights times 4 broadcast activation
 * bytes into the row's lane (two chains: low and high nibbles, or the
 * first and second half of a Q8_0 block), starting from -off * sum(x), and
 * the sum meets the 16 row scales times the block's dx in one multiply-add.
 * About 30 instructions a Q4_0 block column where matvec32 spends 64:
 * cache-hot, one core, Q4_0 42 -> 71 GB/s, Q8_0 42-48 -> 95-120. */

enum { X16K = 512 };   /* blocks of activation prepared at a time */

INLINE void matvec_x16(const struct matmul_args *a, int type, int r0, int r1)
{
    float dx[X16K];
    int32_t corr[X16K];
    size_t cb = X16 * q32_bytes(type), xb = sizeof(struct block_q8_0);
    int nb = a->n / QK, off = q32_off(type);
    const char *x = a->x;
    __m512i f = _mm512_set1_epi8(15);
    for (int b0 = 0; b0 < nb; b0 += X16K) {
        int kb = imin(X16K, nb - b0);
        for (int b = 0; b < kb; b++) {
            const char *xbk = x + (size_t)(b0 + b) * xb;
            dx[b] = _cvtsh_ss(ld16(xbk));
            corr[b] = -off * sum_i8x32(xbk + offsetof(struct block_q8_0, qs));
        }
        for (int r = r0; r < r1; r += X16) {
            const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)b0 * cb;
            __m512 acc[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
            for (int b = 0; b < kb; b++, col += cb) {
                const char *xq = x + (size_t)(b0 + b) * xb + offsetof(struct block_q8_0, qs), *v = col + x16_qs(type);
                prefetch_ahead(col, cb);
                __m512i s = _mm512_set1_epi32(corr[b]), t = _mm512_setzero_si512();
                if (type == TL_Q8_0) {
#pragma GCC unroll 4
                    for (int j = 0; j < 4; j++) {
                        s = _mm512_dpbusd_epi32(s, _mm512_loadu_si512(v + 64 * j), bcast4(xq + 4 * j));
                        t = _mm512_dpbusd_epi32(t, _mm512_loadu_si512(v + 4 * 64 + 64 * j), bcast4(xq + 16 + 4 * j));
                    }
                } else if (type == TL_Q4_0) {
#pragma GCC unroll 4
                    for (int j = 0; j < 4; j++) {
                        __m512i q = _mm512_loadu_si512(v + 64 * j);
                        s = _mm512_dpbusd_epi32(s, _mm512_and_si512(q, f), bcast4(xq + 4 * j));
                        t = _mm512_dpbusd_epi32(t, _mm512_andnot_si512(f, q), bcast4(xq + 16 + 4 * j));
                    }
                    t = _mm512_srai_epi32(t, 4);   /* the high nibbles were taken as 16 * q: exact */
                } else {
#pragma GCC unroll 4
                    for (int j = 0; j < 4; j++) {
                        __m512i lo, hi;
                        x16_nibbles(type, _mm512_loadu_si512(v + 64 * j), col, j, &lo, &hi);
                        s = _mm512_dpbusd_epi32(s, lo, bcast4(xq + 4 * j));
                        t = _mm512_dpbusd_epi32(t, hi, bcast4(xq + 16 + 4 * j));
                    }
                }
                __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(col + X16_Q4_0_D))), _mm512_set1_ps(dx[b]));
                acc[b & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s, t)), d, acc[b & 1]);
            }
            __m512 sum = _mm512_add_ps(acc[0], acc[1]);
            if (b0 > 0)
                sum = _mm512_add_ps(sum, _mm512_loadu_ps(a->y + r));
            _mm512_storeu_ps(a->y + r, sum);
        }
    }
}

/* Q4_K: per super-block column, each 32-element sub-block's integer dot
 * (low nibbles: sub-block 2c, high ones, taken as 16 q: 2c + 1) meets the
 * rows' scale, and the mins meet the activation's sub-block sums:
 *   y = dx * (d * sum_s sc_s dot_s - dmin * sum_s mn_s bsum_s). */
INLINE void matvec_x16_k4(const struct matmul_args *a, int type, int r0, int r1)
{
    size_t cb = X16 * k_bytes(type);
    int nb = a->n / QK_K;
    const struct block_q8_K *xk = a->x;
    __m512i f = _mm512_set1_epi8(15);
    for (int r = r0; r < r1; r += X16) {
        const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r);
        __m512 acc = _mm512_setzero_ps(), accm = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++, col += cb) {
            const char *xq = (const char *)xk[b].qs, *v = col + x16_k_qs(type);
            prefetch_ahead(col, cb);
            __m512i sc[2], mn[2];
            x16_k4_scales(col + X16_Q4_K_SC, sc, mn);
            __m512 sd = _mm512_setzero_ps(), sm = _mm512_setzero_ps();
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int l = 0; l < 8; l++) {
                    __m512i q = _mm512_loadu_si512(v + 64 * (8 * c + l)), ql = _mm512_and_si512(q, f), qh;
                    if (type == TL_Q5_K) {
                        __m512i h = _mm512_loadu_si512(col + X16_Q5_K_QH + 64 * l);
                        ql = x16_k5_bit(ql, h, 2 * c);
                        qh = x16_k5_bit(_mm512_and_si512(_mm512_srli_epi16(q, 4), f), h, 2 * c + 1);
                    } else {
                        qh = _mm512_andnot_si512(f, q);   /* 16 q: exact after the shift below */
                    }
                    lo = _mm512_dpbusd_epi32(lo, ql, bcast4(xq + 64 * c + 4 * l));
                    hi = _mm512_dpbusd_epi32(hi, qh, bcast4(xq + 64 * c + 32 + 4 * l));
                }
                if (type == TL_Q4_K)
                    hi = _mm512_srai_epi32(hi, 4);
                sd = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo), x16_k4_byte(sc, 2 * c), sd);
                sd = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi), x16_k4_byte(sc, 2 * c + 1), sd);
                sm = _mm512_fmadd_ps(x16_k4_byte(mn, 2 * c), _mm512_set1_ps((float)(xk[b].bsums[4 * c] + xk[b].bsums[4 * c + 1])), sm);
                sm = _mm512_fmadd_ps(x16_k4_byte(mn, 2 * c + 1),
                                     _mm512_set1_ps((float)(xk[b].bsums[4 * c + 2] + xk[b].bsums[4 * c + 3])), sm);
            }
            __m512 dx = _mm512_set1_ps(xk[b].d);
            acc = _mm512_fmadd_ps(sd, _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(col + X16_Q4_K_D))), dx), acc);
            accm = _mm512_fmadd_ps(sm, _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(col + X16_Q4_K_DMIN))), dx),
                                   accm);
        }
        _mm512_storeu_ps(a->y + r, _mm512_sub_ps(acc, accm));
    }
}

/* Q2_K and Q3_K: per super-block column, sub-block j = 8h + 2s + t (16
 * elements, quads m = 4t..4t+3 of element range 128h + 32s): each
 * sub-block's vpdpbusd chain (for Q3_K, whose weights are the value + 4,
 * started from -4 * bsum_j) meets the rows' scale; Q2_K's mins meet the
 * bsums: y = dx * (d * sum_j sc_j dot_j - dmin * sum_j mn_j bsum_j). */
INLINE void matvec_x16_k23(const struct matmul_args *a, int type, int r0, int r1)
{
    size_t cb = X16 * k_bytes(type);
    int nb = a->n / QK_K;
    const struct block_q8_K *xk = a->x;
    for (int r = r0; r < r1; r += X16) {
        const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r);
        __m512 acc = _mm512_setzero_ps(), accm = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++, col += cb) {
            const char *xq = (const char *)xk[b].qs;
            prefetch_ahead(col, cb);
            __m512i sc[4];
            if (type == TL_Q3_K)
                x16_k3_scales(col + X16_Q3_K_SC, sc);
            __m512 sum = _mm512_setzero_ps(), summ = _mm512_setzero_ps();
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
                for (int s = 0; s < 4; s++)
#pragma GCC unroll 2
                    for (int t = 0; t < 2; t++) {
                        int j = 8 * h + 2 * s + t;
                        __m512i dot = _mm512_set1_epi32(type == TL_Q3_K ? -4 * xk[b].bsums[j] : 0);
#pragma GCC unroll 4
                        for (int m = 4 * t; m < 4 * t + 4; m++)
                            dot = _mm512_dpbusd_epi32(dot, x16_k23_quad(type, col, h, s, m),
                                                      bcast4(xq + 128 * h + 32 * s + 4 * m));
                        sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), x16_k23_scale(type, col, sc, j), sum);
                        if (type == TL_Q2_K)
                            summ = _mm512_fmadd_ps(x16_k2_nibble(col, j, 1), _mm512_set1_ps((float)xk[b].bsums[j]), summ);
                    }
            __m512 dx = _mm512_set1_ps(xk[b].d);
            acc = _mm512_fmadd_ps(sum, _mm512_mul_ps(x16_k23_d(type, col), dx), acc);
            if (type == TL_Q2_K)
                accm = _mm512_fmadd_ps(summ, _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(col + X16_Q2_K_DMIN))), dx),
                                       accm);
        }
        _mm512_storeu_ps(a->y + r, _mm512_sub_ps(acc, accm));
    }
}

static void x16_column(const struct matmul_args *a, int type, int c, int r0, int r1)
{
    struct matmul_args one = column_args(a, c);
    if (type == TL_Q4_K || type == TL_Q5_K)
        matvec_x16_k4(&one, type, r0, r1);
    else if (type == TL_Q2_K || type == TL_Q3_K)
        matvec_x16_k23(&one, type, r0, r1);
    else
        matvec_x16(&one, type, r0, r1);
}

INLINE void matmul_x16(const struct matmul_args *a, int r0, int r1, int type)
{
    if (a->nc > 1)
        gemmq(a, type, r0, r1, 1);
    else if (type == TL_Q4_K || type == TL_Q5_K)
        matvec_x16_k4(a, type, r0, r1);
    else if (type == TL_Q2_K || type == TL_Q3_K)
        matvec_x16_k23(a, type, r0, r1);
    else
        matvec_x16(a, type, r0, r1);
}

static void matmul_x16_q4_0(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q4_0); }
static void matmul_x16_q8_0(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q8_0); }
static void matmul_x16_q4_K(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q4_K); }
static void matmul_x16_q5_0(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q5_0); }
static void matmul_x16_iq4_nl(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_IQ4_NL); }
static void matmul_x16_q5_K(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q5_K); }
static void matmul_x16_q3_K(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q3_K); }
static void matmul_x16_q2_K(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q2_K); }

#endif
