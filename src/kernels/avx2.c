/* kernels/avx2.c: the avx2 kernel set (AVX2, FMA, F16C), built with its ISA
 * flags (Makefile). The kernels of kernels/avx512.c at 256 bits and without
 * vpdpbusd: vpmaddubsw multiplies unsigned by signed bytes into 16-bit pair
 * sums (saturating, so every sum below is kept in range by construction)
 * and vpmaddwd takes them to 32 bits. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kernels.h"
#include "kernels/x86_impl.h"
#include "kernels/prefetch.h"

/* Functions that may use AVX-VNNI (the avx2-vnni set only) */
#define VNNI __attribute__((target("avxvnni")))

enum {
    TILE = 8,       /* weight rows per repacked tile: one per 32-bit lane */
    NCOL = 4,       /* activation columns per pass over a tile */
};

/* The 4 bytes at p in every 32-bit lane (a vpbroadcastd from memory). */
INLINE __m256i bcast4(const void *p) { return _mm256_set1_epi32((int32_t)ld32(p)); }

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* Lanes below n set (for vmaskmov). */
static inline __m256i lanes_below(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The vector ops of the shared skeletons (kernels/x86_gemm[fq].h): 8 floats,
 * masks as lanes of all ones for vmaskmov. */
typedef __m256 VF;
typedef __m256i VMASK;
INLINE VF vf_zero(void) { return _mm256_setzero_ps(); }
INLINE VF vf_set1(float v) { return _mm256_set1_ps(v); }
INLINE VMASK vmask_below(int n) { return lanes_below(n); }
INLINE VF vf_load_masked(VMASK m, const float *p) { return _mm256_maskload_ps(p, m); }
INLINE void vf_store_masked(float *p, VMASK m, VF v) { _mm256_maskstore_ps(p, m, v); }
INLINE VF vf_add(VF a, VF b) { return _mm256_add_ps(a, b); }
INLINE VF vf_loadu(const float *p) { return _mm256_loadu_ps(p); }
INLINE float vf_hmax(VF v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
INLINE VF vf_abs(VF v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
/* bit i set where lane i of a equals lane i of b (ordered) */
INLINE unsigned vf_eq_bits(VF a, VF b) { return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)); }
INLINE VF vf_mul(VF a, VF b) { return _mm256_mul_ps(a, b); }
INLINE VF vf_min(VF a, VF b) { return _mm256_min_ps(a, b); }
INLINE VF vf_max(VF a, VF b) { return _mm256_max_ps(a, b); }
INLINE VF vf_fmadd(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
INLINE VF vf_fnmadd(VF a, VF b, VF c) { return _mm256_fnmadd_ps(a, b, c); }
INLINE VF vf_round(VF v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
INLINE VF vf_from_i32(__m256i v) { return _mm256_cvtepi32_ps(v); }
/* p * 2^n, n integral: 2^n built in the exponent field (n in [-126, 127]) */
INLINE VF vf_scale2(VF p, VF n)
{
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* ---- float weights: F32, F16, BF16 (activations of the same type) ---- */

/* 8 elements of a float-type row from element i. */
INLINE __m256 load_float(int type, const void *p, int i)
{
    const __m128i *h = (const __m128i *)((const uint16_t *)p + i);
    switch (type) {
    case TL_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128(h));
    case TL_BF16: /* bf16 is the top half of an f32 */
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(h)), 16));
    default:
        return _mm256_loadu_ps((const float *)p + i);
    }
}

/* The m < 8 elements from i, zero-padded through a copy (no read past a row). */
INLINE __m256 load_float_tail(int type, const void *p, int i, int m)
{
    size_t es = type == TL_F32 ? 4 : 2;
    uint32_t buf[8] = { 0 };
    memcpy(buf, (const char *)p + (size_t)i * es, (size_t)m * es);
    return load_float(type, buf, 0);
}

enum { MVK = 16384 };  /* elements per K chunk of a decode activation row */

/* dot(W row r from element k0, xf), kc elements, 32 (one or two cache
 * lines) a step; xf is f32 and zero from kc to the next multiple of 8. */
INLINE float matvec_float_row(const struct matmul_args *a, int type, const float *xf, int k0, int kc, int r)
{
    size_t es = type == TL_F32 ? 4 : 2;
    const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)k0 * es;
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    int i = 0;
    for (; i + 32 <= kc; i += 32) {
        prefetch_ahead(w + (size_t)i * es, 32 * es);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(load_float(type, w, i + 8 * k), _mm256_loadu_ps(xf + i + 8 * k), acc[k]);
    }
    for (; i + 8 <= kc; i += 8)
        acc[0] = _mm256_fmadd_ps(load_float(type, w, i), _mm256_loadu_ps(xf + i), acc[0]);
    if (i < kc)
        acc[1] = _mm256_fmadd_ps(load_float_tail(type, w, i, kc - i), _mm256_loadu_ps(xf + i), acc[1]);
    return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

/* An activation chunk for matvec_float and matvec_cols: kc elements of x from k0 as f32 at xf
 * (32-byte aligned), zero to the next multiple of 8. */
INLINE void convert_cols_chunk(float *xf, const void *x, int type, int k0, int kc)
{
    for (int i = 0; i < kc; i += 8)
        _mm256_store_ps(xf + i, i + 8 <= kc ? load_float(type, x, k0 + i) : load_float_tail(type, x, k0 + i, kc - i));
}

/* In-register transpose of an 8x8 float matrix: v[k] lane i <- v[i] lane k. */
static void transpose8(__m256 v[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) { /* u[i+j] lane L: rows i..i+3, element 4L+j */
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        v[j + 4] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}

/* 8 rows (row i at p[i]) from element k0, kc elements, transposed:
 * out[k * stride] lane i = row i, element k0 + k. */
INLINE void pack_lanes_float(__m256 *out, size_t stride, int type, const void *const *p, int k0, int kc)
{
    for (int k = 0; k < kc; k += 8) {
        __m256 v[8];
        int m = imin(8, kc - k);
        for (int i = 0; i < 8; i++)
            v[i] = m == 8 ? load_float(type, p[i], k0 + k) : load_float_tail(type, p[i], k0 + k, m);
        transpose8(v);
        for (int i = 0; i < m; i++)
            out[(size_t)(k + i) * stride] = v[i];
    }
}

INLINE __m256 madd_f32(__m256 w, __m256 x, __m256 acc) { return _mm256_fmadd_ps(w, x, acc); }

/* The float GEMM's tiles, panels and the runs over them. */
#include "kernels/x86_gemmf.h"

enum { MCK = 1024, MCOLS = 8 };  /* K chunk and most columns of the few-column path */

/* Rows [r0, r1) against C columns whose chunk [k0, k0 + kc) is xf (f32,
 * zero past kc): each weight row is read once for all C. */
INLINE void matvec_cols_pass(const struct matmul_args *a, int type, const float (*xf)[MCK], int k0, int kc,
                             int r0, int r1, int C)
{
    size_t es = type == TL_F32 ? 4 : 2;
    for (int r = r0; r < r1; r++) {
        const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)k0 * es;
        __m256 acc[MCOLS];
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            acc[c] = _mm256_setzero_ps();
        for (int i = 0; i < kc; i += 8) {
            if ((i & 31) == 0)
                prefetch_ahead(w + (size_t)i * es, 32 * es);
            __m256 wv = i + 8 <= kc ? load_float(type, w, i) : load_float_tail(type, w, i, kc - i);
#pragma GCC unroll 8
            for (int c = 0; c < C; c++)
                acc[c] = _mm256_fmadd_ps(wv, _mm256_load_ps(xf[c] + i), acc[c]);
        }
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            float *y = a->y + (size_t)c * a->ldy + r;
            *y = (k0 > 0 ? *y : 0.0f) + hsum(acc[c]);
        }
    }
}

#include "kernels/avx2_quant.h"

/* ---- activation conversion ---- */


static inline int hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1)));
}


/* roundf (half away from zero) of each lane, as an int32: the fraction
 * v - trunc(v) is exact, so comparing it with 0.5 decides the tie. */
static inline __m256i round_away(__m256 v)
{
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 up = _mm256_cmp_ps(vf_abs(_mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, one)));
}

/* 32 int32 (q[0..3], 8 each) saturated to bytes in order: the two packs
 * interleave 128-bit lanes, the dword permute puts them back. */
static inline __m256i pack_i8(const __m256i q[4])
{
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One 32-element block as quant_q8_block does it: d = amax/127, q =
 * roundf(x/d) written to qs; returns d, sets *sum to sum(q). */
static inline float q8_block(const float *x, int8_t *qs, int *sum)
{
    __m256 v[4], am = _mm256_setzero_ps();
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_loadu_ps(x + 8 * j);
        am = _mm256_max_ps(am, vf_abs(v[j]));
    }
    float amax = vf_hmax(am), d = amax / 127, id = d ? 1.0f / d : 0.0f;
    __m256i q[4];
    for (int j = 0; j < 4; j++)
        q[j] = round_away(_mm256_mul_ps(v[j], _mm256_set1_ps(id)));
    _mm256_storeu_si256((__m256i *)qs, pack_i8(q));
    *sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    return d;
}


/* Q8_K quants and bsums of the block at x with scale iscale
 * (x86_gemmq.h's quantize_q8_K): q = nearest-even (the default rounding of
 * vcvtps2dq), 32 at a time. */
INLINE void q8k_quants(const float *x, float iscale, struct block_q8_K *b)
{
    for (int j = 0; j < QK_K; j += 32) {
        __m256i q[4];
        for (int l = 0; l < 4; l++) {
            q[l] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_set1_ps(iscale), _mm256_loadu_ps(x + j + 8 * l)));
            q[l] = _mm256_min_epi32(q[l], _mm256_set1_epi32(127));
        }
        _mm256_storeu_si256((__m256i *)(b->qs + j), pack_i8(q));
        b->bsums[j / 16] = (int16_t)hsum_i32(_mm256_add_epi32(q[0], q[1]));
        b->bsums[j / 16 + 1] = (int16_t)hsum_i32(_mm256_add_epi32(q[2], q[3]));
    }
}


static void quantize_f16(const float *x, void *y, int n)
{
    uint16_t *h = y;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++)
        h[i] = fp32_to_fp16(x[i]);
}

/* Round to nearest even on the f32 bits; NaN keeps its top bits, quieted. */
static void quantize_bf16(const float *x, void *y, int n)
{
    uint16_t *h = y;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
        r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40)), nan);
        __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(h + i), p);
    }
    for (; i < n; i++)
        h[i] = fp32_to_bf16(x[i]);
}

/* ---- f16 conversion (KV cache, attention operands) ---- */


static void f32_to_f16(uint16_t *y, const float *x, int n) { quantize_f16(x, y, n); }

static void f16_to_f32(float *y, const uint16_t *x, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        y[i] = fp16_to_fp32(x[i]);
}

/* ---- elementwise math (softmax, SwiGLU) ---- */

#include "kernels/x86_math.h"

static double exp_sum(float *x, int n, float m)
{
    __m256 vm = _mm256_set1_ps(m);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();   /* summed in double, as scalar */
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = vf_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    double s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    return s;
}

static void swiglu(float *y, const float *g, const float *u, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 vg = _mm256_loadu_ps(g + i);
        __m256 e = vf_exp(_mm256_sub_ps(_mm256_setzero_ps(), vg));
        __m256 s = _mm256_div_ps(vg, _mm256_add_ps(e, _mm256_set1_ps(1.0f)));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* ---- Q4_0 in the x16 layout (format/quant.h) ----
 * Each stored 64-byte vector is two ymm, rows 0-7 and 8-15 of the group
 * in their dwords. Decode: vpmaddubsw of the nibbles (0..15) against 4
 * broadcast activation bytes, a block's 8 products summed in 16 bits (at
 * most 8 * 2 * 15 * 128 = 30720), vpmaddwd to 32 bits, plus -8 * sum(x),
 * times the rows' scales and dx; no horizontal sums. */

enum { X16K = 512 };   /* blocks of activation prepared at a time */

/* The integer dot of one half (8 rows) of a Q4_0 block column with the
 * block's activation quants. */
typedef __m256i (*x16_half_dot_fn)(const char *v, const char *xq, __m256i f);

INLINE __m256i x16_half_dot(const char *v, const char *xq, __m256i f)
{
    __m256i s = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(v + 64 * j));
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(q, f), bcast4(xq + 4 * j)));
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), f), bcast4(xq + 16 + 4 * j)));
    }
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

/* The same with AVX-VNNI's vpdpbusd on 256 bits (avx2-vnni set): the high
 * nibbles taken as 16 q, exact after the shift. */
VNNI INLINE __m256i x16_half_dot_vnni(const char *v, const char *xq, __m256i f)
{
    __m256i s = _mm256_setzero_si256(), t = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(v + 64 * j));
        s = _mm256_dpbusd_avx_epi32(s, _mm256_and_si256(q, f), bcast4(xq + 4 * j));
        t = _mm256_dpbusd_avx_epi32(t, _mm256_andnot_si256(f, q), bcast4(xq + 16 + 4 * j));
    }
    return _mm256_add_epi32(s, _mm256_srai_epi32(t, 4));
}

INLINE void matvec_x16_q4_0_with(const struct matmul_args *a, int r0, int r1, x16_half_dot_fn half_dot)
{
    float dx[X16K];
    int32_t corr[X16K];
    size_t cb = X16_COL(block_q4_0);
    int nb = a->n / QK;
    const struct block_q8_0 *x = a->x;
    __m256i f = _mm256_set1_epi8(15);
    for (int b0 = 0; b0 < nb; b0 += X16K) {
        int kb = imin(X16K, nb - b0);
        for (int b = 0; b < kb; b++) {
            int sum = 0;
            for (int i = 0; i < QK; i++)
                sum += x[b0 + b].qs[i];
            dx[b] = _cvtsh_ss(x[b0 + b].d);
            corr[b] = -8 * sum;
        }
        for (int r = r0; r < r1; r += X16) {
            const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)b0 * cb;
            __m256 acc[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() };
            for (int b = 0; b < kb; b++, col += cb) {
                const char *xq = (const char *)x[b0 + b].qs;
                prefetch_ahead(col, cb);
                __m256 d = _mm256_set1_ps(dx[b]);
                __m256i c = _mm256_set1_epi32(corr[b]);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    __m256i s = _mm256_add_epi32(half_dot(col + X16_Q4_0_QS + 32 * h, xq, f), c);
                    __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(col + X16_Q4_0_D + 16 * h)));
                    acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, d), acc[h]);
                }
            }
            for (int h = 0; h < 2; h++) {
                float *y = a->y + r + 8 * h;
                _mm256_storeu_ps(y, b0 > 0 ? _mm256_add_ps(acc[h], _mm256_loadu_ps(y)) : acc[h]);
            }
        }
    }
}

/* The integer dots of sub-blocks 2c (lo) and 2c + 1 (hi) of one half of a
 * Q4_K super-block column, v at the half's first quad vector of chunk c. */
typedef void (*x16_k4_dots_fn)(const char *v, const char *xq, __m256i f, __m256i *lo, __m256i *hi);

INLINE void x16_k4_dots(const char *v, const char *xq, __m256i f, __m256i *lo, __m256i *hi)
{
    __m256i l16 = _mm256_setzero_si256(), h16 = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++) {
        __m256i q = load32(v + 64 * l);
        l16 = _mm256_add_epi16(l16, _mm256_maddubs_epi16(_mm256_and_si256(q, f), bcast4(xq + 4 * l)));
        h16 = _mm256_add_epi16(h16, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), f), bcast4(xq + 32 + 4 * l)));
    }
    *lo = _mm256_madd_epi16(l16, _mm256_set1_epi16(1));
    *hi = _mm256_madd_epi16(h16, _mm256_set1_epi16(1));
}

VNNI INLINE void x16_k4_dots_vnni(const char *v, const char *xq, __m256i f, __m256i *lo, __m256i *hi)
{
    __m256i s = _mm256_setzero_si256(), t = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++) {
        __m256i q = load32(v + 64 * l);
        s = _mm256_dpbusd_avx_epi32(s, _mm256_and_si256(q, f), bcast4(xq + 4 * l));
        t = _mm256_dpbusd_avx_epi32(t, _mm256_andnot_si256(f, q), bcast4(xq + 32 + 4 * l));
    }
    *lo = s;
    *hi = _mm256_srai_epi32(t, 4);
}

/* Q4_K in the x16 layout, per half of a group and super-block column:
 * each sub-block's 8 quad products summed in 16 bits (at most 30720) and
 * once to 32, then y = dx * (d * sum_s sc_s dot_s - dmin * sum_s mn_s
 * bsum_s) in 8 lanes. */
INLINE void matvec_x16_q4_K_with(const struct matmul_args *a, int r0, int r1, x16_k4_dots_fn dots)
{
    size_t cb = X16_COL(block_q4_K);
    int nb = a->n / QK_K;
    const struct block_q8_K *xk = a->x;
    __m256i f = _mm256_set1_epi8(15);
    for (int r = r0; r < r1; r += X16) {
        __m256 acc[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() }, accm[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() };
        const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r);
        for (int b = 0; b < nb; b++, col += cb) {
            const char *xq = (const char *)xk[b].qs;
            prefetch_ahead(col, cb);
            __m256 dx = _mm256_set1_ps(xk[b].d), bs[8];
            for (int sub = 0; sub < 8; sub++)
                bs[sub] = _mm256_set1_ps((float)(xk[b].bsums[2 * sub] + xk[b].bsums[2 * sub + 1]));
            for (int h = 0; h < 2; h++) {
                __m256i sc[2], mn[2];
                x16_k4_scales(col + X16_Q4_K_SC + 32 * h, sc, mn);
                __m256 sd = _mm256_setzero_ps(), sm = _mm256_setzero_ps();
                for (int c = 0; c < 4; c++) {
                    __m256i lo, hi;
                    dots(col + X16_Q4_K_QS + 64 * 8 * c + 32 * h, xq + 64 * c, f, &lo, &hi);
                    sd = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), x16_k4_byte(sc, 2 * c), sd);
                    sd = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), x16_k4_byte(sc, 2 * c + 1), sd);
                    sm = _mm256_fmadd_ps(x16_k4_byte(mn, 2 * c), bs[2 * c], sm);
                    sm = _mm256_fmadd_ps(x16_k4_byte(mn, 2 * c + 1), bs[2 * c + 1], sm);
                }
                __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(col + X16_Q4_K_D + 16 * h)));
                __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(col + X16_Q4_K_DMIN + 16 * h)));
                acc[h] = _mm256_fmadd_ps(sd, _mm256_mul_ps(d, dx), acc[h]);
                accm[h] = _mm256_fmadd_ps(sm, _mm256_mul_ps(dmin, dx), accm[h]);
            }
        }
        for (int h = 0; h < 2; h++)
            _mm256_storeu_ps(a->y + r + 8 * h, _mm256_sub_ps(acc[h], accm[h]));
    }
}

static void x16_column(const struct matmul_args *a, int type, int c, int r0, int r1)
{
    struct matmul_args one = column_args(a, c);
    if (type == TL_Q4_K)
        matvec_x16_q4_K_with(&one, r0, r1, x16_k4_dots);
    else
        matvec_x16_q4_0_with(&one, r0, r1, x16_half_dot);
}

/* Products over x16 weights: the GEMM (maddubs either way) or a decode
 * kernel with the set's inner dots. */
INLINE void x16_product(const struct matmul_args *a, int r0, int r1, int type, x16_half_dot_fn half_dot,
                        x16_k4_dots_fn k4_dots)
{
    if (a->nc > 1)
        gemmq(a, type, r0, r1, 1);
    else if (type == TL_Q4_K)
        matvec_x16_q4_K_with(a, r0, r1, k4_dots);
    else
        matvec_x16_q4_0_with(a, r0, r1, half_dot);
}

static void matmul_x16_q4_0(const struct matmul_args *a, int r0, int r1)
{
    x16_product(a, r0, r1, TL_Q4_0, x16_half_dot, x16_k4_dots);
}

static void matmul_x16_q4_K(const struct matmul_args *a, int r0, int r1)
{
    x16_product(a, r0, r1, TL_Q4_K, x16_half_dot, x16_k4_dots);
}

VNNI static void matmul_x16_q4_0_vnni(const struct matmul_args *a, int r0, int r1)
{
    x16_product(a, r0, r1, TL_Q4_0, x16_half_dot_vnni, x16_k4_dots_vnni);
}

VNNI static void matmul_x16_q4_K_vnni(const struct matmul_args *a, int r0, int r1)
{
    x16_product(a, r0, r1, TL_Q4_K, x16_half_dot_vnni, x16_k4_dots_vnni);
}

/* Everything the avx2 and avx2-vnni sets share. */
#define AVX2_SET_COMMON \
    KERNELS_TABLE(matmul_bf16),

const struct kernels kernels_avx2 = {
    .name = "avx2",
    .needs = CPU_AVX2,
    AVX2_SET_COMMON
    .matmul_x16 = { [TL_Q4_0] = matmul_x16_q4_0, [TL_Q4_K] = matmul_x16_q4_K },
};

/* avx2 with AVX-VNNI (Intel since Alder Lake, AMD since Zen 5): vpdpbusd on
 * 256 bits in the x16 decode kernels. */
const struct kernels kernels_avx2_vnni = {
    .name = "avx2-vnni",
    .needs = CPU_AVX2 | CPU_AVXVNNI,
    AVX2_SET_COMMON
    .matmul_x16 = { [TL_Q4_0] = matmul_x16_q4_0_vnni, [TL_Q4_K] = matmul_x16_q4_K_vnni },
};
