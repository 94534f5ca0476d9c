/* kernels/avx512.c: the avx512 kernel set (AVX-512 F/BW/VL/DQ + VNNI), built
 * with its ISA flags (Makefile). Decode (nc == 1) streams the weight rows one
 * after another; prompt products (nc > 1) repack 16-row tiles so that one
 * vector lane is one weight row and activations arrive as broadcasts. The
 * quantized kernels are in kernels/avx512_dec.h and kernels/avx512_tile.h,
 * what the avx2 set shares in kernels/x86_*.h. */
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kernels.h"
#include "kernels/x86_impl.h"
#include "kernels/prefetch.h"


enum {
    TILE = 16,     /* weight rows per repacked tile: one per 32-bit lane */
    NCOL = 8,       /* activation columns per pass over a tile */
};

/* The 4 bytes at p in every 32-bit lane (a vpbroadcastd from memory). */
INLINE __m512i bcast4(const void *p) { return _mm512_set1_epi32((int32_t)ld32(p)); }

static inline __mmask16 tail_mask(int n) { return (__mmask16)((1u << n) - 1); }

/* The vector ops of the shared skeletons (kernels/x86_gemm[fq].h): 16 floats,
 * masks as mask registers. */
typedef __m512 VF;
typedef __mmask16 VMASK;
INLINE VF vf_zero(void) { return _mm512_setzero_ps(); }
INLINE VF vf_set1(float v) { return _mm512_set1_ps(v); }
INLINE VMASK vmask_below(int n) { return tail_mask(imax(0, imin(n, 16))); }
INLINE VF vf_load_masked(VMASK m, const float *p) { return _mm512_maskz_loadu_ps(m, p); }
INLINE void vf_store_masked(float *p, VMASK m, VF v) { _mm512_mask_storeu_ps(p, m, v); }
INLINE VF vf_add(VF a, VF b) { return _mm512_add_ps(a, b); }
INLINE VF vf_loadu(const float *p) { return _mm512_loadu_ps(p); }
INLINE VF vf_abs(VF v) { return _mm512_abs_ps(v); }
INLINE float vf_hmax(VF v) { return _mm512_reduce_max_ps(v); }
/* bit i set where lane i of a equals lane i of b (ordered) */
INLINE unsigned vf_eq_bits(VF a, VF b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
INLINE VF vf_mul(VF a, VF b) { return _mm512_mul_ps(a, b); }
INLINE VF vf_min(VF a, VF b) { return _mm512_min_ps(a, b); }
INLINE VF vf_max(VF a, VF b) { return _mm512_max_ps(a, b); }
INLINE VF vf_fmadd(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
INLINE VF vf_fnmadd(VF a, VF b, VF c) { return _mm512_fnmadd_ps(a, b, c); }
INLINE VF vf_round(VF v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
INLINE VF vf_from_i32(__m512i v) { return _mm512_cvtepi32_ps(v); }
/* p * 2^n, n integral */
INLINE VF vf_scale2(VF p, VF n) { return _mm512_scalef_ps(p, n); }

/* ---- float weights: F32, F16, BF16 (activations of the same type) ---- */

/* 16 elements of a float-type row from element i; lanes outside m are 0. */
INLINE __m512 load_float(int type, const void *p, int i, __mmask16 m)
{
    const uint16_t *h = (const uint16_t *)p + i;
    switch (type) {
    case TL_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h));
    case TL_BF16: /* bf16 is the top half of an f32 */
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, h)), 16));
    default:
        return _mm512_maskz_loadu_ps(m, (const float *)p + i);
    }
}

enum { MVK = 16384 };  /* elements per K chunk of a decode activation row */

/* dot of row r, elements [k0, k0 + kc), with xf: those elements of the
 * activation row as f32. 32 weights (one or two cache lines) a step. */
INLINE float matvec_float_row(const struct matmul_args *a, int type, const float *xf, int k0, int kc, int r)
{
    size_t es = type == TL_F32 ? 4 : 2;
    const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)k0 * es;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= kc; i += 32) {
        prefetch_ahead(w + (size_t)i * es, 32 * es);
        acc0 = _mm512_fmadd_ps(load_float(type, w, i, 0xffff), _mm512_loadu_ps(xf + i), acc0);
        acc1 = _mm512_fmadd_ps(load_float(type, w, i + 16, 0xffff), _mm512_loadu_ps(xf + i + 16), acc1);
    }
    for (; i < kc; i += 16) {
        __mmask16 m = tail_mask(imin(16, kc - i));
        acc0 = _mm512_fmadd_ps(load_float(type, w, i, m), _mm512_maskz_loadu_ps(m, xf + i), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* An activation chunk for matvec_float and matvec_cols: kc elements of x from k0 as f32 at xf
 * (64-byte aligned), zero to the next multiple of 16 and to 64 at least:
 * cols_row64 reads 4 vectors, and 0 * whatever was on the stack may be NaN. */
INLINE void convert_cols_chunk(float *xf, const void *x, int type, int k0, int kc)
{
    for (int i = 0; i < kc || i < 64; i += 16)
        _mm512_store_ps(xf + i, load_float(type, x, k0 + i, tail_mask(imax(0, imin(16, kc - i)))));
}

/* In-register transpose of a 16x16 float matrix: v[k] lane i <- v[i] lane k.
 * Stage 1-2 build 4x4 blocks inside 128-bit lanes, stage 3-4 move lanes. */
static void transpose16(__m512 v[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) { /* u[i+j] lane l: rows i..i+3, element 4l+j */
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int j = 0; j < 4; j++) { /* t: lanes (rows 0-3 | 4-7 or 8-11 | 12-15) of two elements */
        t[j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);       /* k = j, 8+j */
        t[j + 4] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);   /* k = 4+j, 12+j */
        t[j + 8] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        t[j + 12] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
    }
    for (int j = 0; j < 4; j++) {
        v[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        v[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
        v[j + 4] = _mm512_shuffle_f32x4(t[j + 4], t[j + 12], 0x88);
        v[j + 12] = _mm512_shuffle_f32x4(t[j + 4], t[j + 12], 0xdd);
    }
}

/* 16 rows of a float-type matrix (row i at p[i]) from element k0, kc
 * elements, transposed: out[k * stride] lane i = row i, element k0 + k. */
INLINE void pack_lanes_float(__m512 *out, size_t stride, int type, const void *const *p, int k0, int kc)
{
    for (int k = 0; k < kc; k += 32) { /* 32 elements per row at once: whole cache lines */
        __m512 v[16], u[16];
        __mmask16 m0 = tail_mask(imin(16, kc - k)), m1 = tail_mask(imax(0, imin(16, kc - k - 16)));
        for (int i = 0; i < 16; i++) {
            v[i] = load_float(type, p[i], k0 + k, m0);
            u[i] = load_float(type, p[i], k0 + k + 16, m1);
        }
        transpose16(v);
        for (int i = 0; i < 16 && k + i < kc; i++)
            out[(size_t)(k + i) * stride] = v[i];
        if (k + 16 >= kc)
            break;
        transpose16(u);
        for (int i = 0; i < 16 && k + 16 + i < kc; i++)
            out[(size_t)(k + 16 + i) * stride] = u[i];
    }
}

INLINE __m512 madd_f32(__m512 w, __m512 x, __m512 acc) { return _mm512_fmadd_ps(w, x, acc); }

/* The float GEMM's tiles, panels and the runs over them. */
#include "kernels/x86_gemmf.h"

INLINE __mmask32 tail_mask32(int n) { return n >= 32 ? 0xffffffffu : (1u << n) - 1; }

/* 16 bf16 rows (row i at p[i]) from element k0 (even), kc elements, as
 * pairs: out[j * stride] lane i = row i, elements k0 + 2j and k0 + 2j + 1,
 * zero past kc. 32 elements of 16 rows are one 16x16 transpose of dwords. */
INLINE void pack16_pairs(__m512 *out, size_t stride, const void *const *p, int k0, int kc)
{
    for (int k = 0; k < kc; k += 32) {
        __m512 v[16];
        int left = imin(32, kc - k);
        for (int i = 0; i < 16; i++)
            v[i] = _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(tail_mask32(left), (const uint16_t *)p[i] + k0 + k));
        transpose16(v);
        for (int j = 0; j < 16 && 2 * j < left; j++)
            out[(size_t)(k / 2 + j) * stride] = v[j];
    }
}

/* Tile rows [r, r + nr) as pairs; rows past nr repeat the last. */
INLINE void pack_pairs(struct tile_float *t, const struct matmul_args *a, int r, int nr, int k0, int kc)
{
    const void *p[32];
    for (int i = 0; i < 32; i++)
        p[i] = row_at(a->w, a->w_row_bytes, (size_t)(r + imin(i, nr - 1)));
    pack16_pairs(&t->w[0][0], 2, p, k0, kc);
    if (nr > 16)
        pack16_pairs(&t->w[0][1], 2, p + 16, k0, kc);
}

INLINE void prep_panel_pairs(struct panel_float *pf, const struct matmul_args *a, int c0, int cc, int k0, int kc)
{
    for (int g = 0; g < (cc + 15) / 16; g++) {
        const void *p[16];
        for (int c = 0; c < 16; c++)
            p[c] = row_at(a->x, a->x_row_bytes, (size_t)(c0 + imin(16 * g + c, cc - 1)));
        pack16_pairs((__m512 *)pf->x[g], 1, p, k0, kc);
    }
}

enum { MCK = 1024, MCOLS = 8 };  /* K chunk and most columns of the few-column path */

/* Lane i of the result = the sum of the lanes of v[i]: a block's 16 row
 * sums in one vector, in 46 instructions where 16 reductions take ~130.
 * Every row's lanes are added in the same order wherever it sits. */
INLINE __m512 sum16(const __m512 v[16])
{
    __m512 a[8], b[4];
    for (int i = 0; i < 8; i++)   /* 256-bit halves: rows i, i + 8 */
        a[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[i], v[i + 8], 0x44), _mm512_shuffle_f32x4(v[i], v[i + 8], 0xee));
    for (int i = 0; i < 4; i++)   /* 128-bit quarters: rows i, i + 8, i + 4, i + 12 */
        b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[i], a[i + 4], 0x88), _mm512_shuffle_f32x4(a[i], a[i + 4], 0xdd));
    __m512 c0 = _mm512_add_ps(_mm512_unpacklo_ps(b[0], b[1]), _mm512_unpackhi_ps(b[0], b[1]));
    __m512 c1 = _mm512_add_ps(_mm512_unpacklo_ps(b[2], b[3]), _mm512_unpackhi_ps(b[2], b[3]));
    __m512d d0 = _mm512_castps_pd(c0), d1 = _mm512_castps_pd(c1);
    __m512 d = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(d0, d1)), _mm512_castpd_ps(_mm512_unpackhi_pd(d0, d1)));
    return _mm512_shuffle_f32x4(d, d, 0xd8);   /* rows 0-3, 8-11, 4-7, 12-15 -> in order */
}

/* One row against C columns, kc elements from w: the lane partial sums. */
INLINE void cols_row(const char *w, size_t es, int type, const float (*xf)[MCK], int kc, int C, __m512 *acc)
{
#pragma GCC unroll 8
    for (int c = 0; c < C; c++)
        acc[c] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= kc; i += 16) {
        if ((i & 31) == 0)
            prefetch_ahead(w + (size_t)i * es, 32 * es);
        __m512 wv = load_float(type, w, i, 0xffff);
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            acc[c] = _mm512_fmadd_ps(wv, _mm512_load_ps(xf[c] + i), acc[c]);
    }
    if (i < kc) {
        __m512 wv = load_float(type, w, i, tail_mask(kc - i));
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            acc[c] = _mm512_fmadd_ps(wv, _mm512_load_ps(xf[c] + i), acc[c]);
    }
}

/* The same for a row of at most 64 elements and C <= 4, x held in xr. */
INLINE void cols_row64(const char *w, size_t es, int type, const __m512 xr[4][4], int kc, int C, __m512 *acc)
{
    prefetch_ahead(w, 64 * es);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
        acc[c] = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        __m512 wv = load_float(type, w, 16 * q, tail_mask(imax(0, imin(16, kc - 16 * q))));
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            if (c < C)
                acc[c] = _mm512_fmadd_ps(wv, xr[c][q], acc[c]);
    }
}

/* Rows [r0, r1) against C columns whose chunk [k0, k0 + kc) is xf (f32,
 * zero past kc): each weight row is read once for all C. Short rows (decode
 * attention's K, head_dim long) spent most of their time in per-row
 * reductions and reloading x: their lane sums are reduced 16 rows at a
 * time, and up to 64 elements of up to 4 columns stay in registers. */
INLINE void matvec_cols_pass(const struct matmul_args *a, int type, const float (*xf)[MCK], int k0, int kc,
                             int r0, int r1, int C)
{
    size_t es = type == TL_F32 ? 4 : 2;
    __m512 acc[MCOLS];
    if (kc > 256) {
        for (int r = r0; r < r1; r++) {
            cols_row((const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)k0 * es, es, type, xf, kc, C, acc);
#pragma GCC unroll 8
            for (int c = 0; c < C; c++) {
                float *y = a->y + (size_t)c * a->ldy + r;
                *y = (k0 > 0 ? *y : 0.0f) + _mm512_reduce_add_ps(acc[c]);
            }
        }
        return;
    }
    int in_regs = kc <= 64 && C <= 4;
    __m512 xr[4][4], part[MCOLS][16];   /* part: column c, row j of the block: lane partial sums */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            xr[c][q] = c < C && in_regs ? _mm512_load_ps(xf[c] + 16 * q) : _mm512_setzero_ps();
    for (int rb = r0; rb < r1; rb += 16) {
        int nr = imin(16, r1 - rb);
        for (int j = 0; j < 16; j++) {
            const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)(rb + imin(j, nr - 1))) + (size_t)k0 * es;
            if (in_regs)
                cols_row64(w, es, type, (const __m512 (*)[4])xr, kc, C, acc);
            else
                cols_row(w, es, type, xf, kc, C, acc);
#pragma GCC unroll 8
            for (int c = 0; c < C; c++)
                part[c][j] = acc[c];   /* rows past nr repeat the last, never stored */
        }
        __mmask16 m = tail_mask(nr);
        for (int c = 0; c < C; c++) {
            float *y = a->y + (size_t)c * a->ldy + rb;
            __m512 sum = sum16(part[c]);
            if (k0 > 0)
                sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y), sum);
            _mm512_mask_storeu_ps(y, m, sum);
        }
    }
}

#include "kernels/avx512_dec.h"

#include "kernels/avx512_tile.h"

/* ---- BF16 with AVX512_BF16 (the avx512-bf16 set) ----
 * The activations are rounded to bf16 for BF16 weights in every set
 * (quantize_bf16), as llama.cpp does, so a weight times an activation is
 * exact in f32 either way. vdpbf16ps takes lanes of two adjacent elements
 * and adds both products to the lane's f32 sum: one instruction does the
 * work of two FMAs on widened halves. Tiles and panels hold such pairs where
 * the float GEMM holds single elements, so it runs the same tile code. */
#define TARGET_BF16 __attribute__((target("avx512bf16")))

TARGET_BF16 INLINE __m512 madd_bf16(__m512 w, __m512 x, __m512 acc)
{
    return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)x);
}


/* Dot of a bf16 weight row with the bf16 activation row x, n elements. */
TARGET_BF16 INLINE float dot_bf16_row(const uint16_t *w, const uint16_t *x, int n)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        prefetch_ahead(w + i, 128);
        acc0 = madd_bf16(_mm512_castsi512_ps(_mm512_loadu_si512(w + i)), _mm512_castsi512_ps(_mm512_loadu_si512(x + i)), acc0);
        acc1 = madd_bf16(_mm512_castsi512_ps(_mm512_loadu_si512(w + i + 32)),
                         _mm512_castsi512_ps(_mm512_loadu_si512(x + i + 32)), acc1);
    }
    for (; i < n; i += 32) {   /* zero past n in both: nothing added */
        __mmask32 m = tail_mask32(n - i);
        acc0 = madd_bf16(_mm512_castsi512_ps(_mm512_maskz_loadu_epi16(m, w + i)),
                         _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(m, x + i)), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

TARGET_BF16 INLINE void matvec_bf16_dp(const struct matmul_args *a, int r0, int r1)
{
    const uint16_t *x = a->x;
    for (int r = r0; r < r1; r++)
        a->y[r] = dot_bf16_row(row_at(a->w, a->w_row_bytes, (size_t)r), x, a->n);
}

TARGET_BF16 static void matmul_bf16_dp(const struct matmul_args *a, int r0, int r1)
{
    if (a->nc == 1)
        matvec_bf16_dp(a, r0, r1);
    else if (a->nc <= MCOLS)
        matvec_cols(a, TL_BF16, r0, r1);
    else
        gemm_float_with(a, TL_BF16, r0, r1, &(const struct float_pairs){ pack_pairs, prep_panel_pairs, madd_bf16 });
}

/* ---- activation conversion ---- */

/* roundf (half away from zero) of each lane, as an int32: the fraction
 * v - trunc(v) is exact, so comparing it with 0.5 decides the tie. */
static inline __m512i round_away(__m512 v)
{
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, one));
}

/* One 32-element block as quant_q8_block does it: d = amax/127, q =
 * roundf(x/d) written to qs; returns d, sets *sum to sum(q). */
static inline float q8_block(const float *x, int8_t *qs, int *sum)
{
    __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    __m512i q0 = round_away(_mm512_mul_ps(v0, _mm512_set1_ps(id)));
    __m512i q1 = round_away(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtsepi32_epi8(q1));
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    return d;
}


/* Q8_K quants and bsums of the block at x with scale iscale
 * (x86_gemmq.h's quantize_q8_K): q = nearest-even (the default rounding of
 * vcvtps2dq), 16 at a time. */
INLINE void q8k_quants(const float *x, float iscale, struct block_q8_K *b)
{
    for (int j = 0; j < QK_K; j += 16) {
        __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_set1_ps(iscale), _mm512_loadu_ps(x + j)));
        q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
        _mm_storeu_si128((__m128i *)(b->qs + j), _mm512_cvtsepi32_epi8(q));
        b->bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(q);
    }
}


static void quantize_f16(const float *x, void *y, int n)
{
    uint16_t *h = y;
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(imin(16, n - i));
        __m256i v = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(h + i, m, v);
    }
}

/* Round to nearest even on the f32 bits; NaN keeps its top bits, quieted. */
static void quantize_bf16(const float *x, void *y, int n)
{
    uint16_t *h = y;
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(imin(16, n - i));
        __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
        __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
        r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
        _mm256_mask_storeu_epi16(h + i, m, _mm512_cvtepi32_epi16(r));
    }
}

/* ---- f16 conversion (KV cache, attention operands) ---- */


static void f32_to_f16(uint16_t *y, const float *x, int n) { quantize_f16(x, y, n); }

static void f16_to_f32(float *y, const uint16_t *x, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(imin(16, n - i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

/* ---- elementwise math (softmax, SwiGLU) ---- */

#include "kernels/x86_math.h"

static double exp_sum(float *x, int n, float m)
{
    __m512 vm = _mm512_set1_ps(m);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();   /* summed in double, as scalar */
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(imin(16, n - i));
        __m512 e = _mm512_maskz_mov_ps(k, vf_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm)));
        _mm512_mask_storeu_ps(x + i, k, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

static void swiglu(float *y, const float *g, const float *u, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(imin(16, n - i));
        __m512 vg = _mm512_maskz_loadu_ps(k, g + i);
        __m512 e = vf_exp(_mm512_sub_ps(_mm512_setzero_ps(), vg));
        __m512 s = _mm512_div_ps(vg, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, u + i)));
    }
}

#define AVX512_SET(set_name, set_needs, bf16) { \
    .name = set_name, \
    .needs = set_needs, \
    KERNELS_TABLE(bf16), \
    .matmul_x16 = { \
        [TL_Q4_0] = matmul_x16_q4_0, [TL_Q8_0] = matmul_x16_q8_0, [TL_Q4_K] = matmul_x16_q4_K, \
        [TL_Q5_0] = matmul_x16_q5_0, [TL_IQ4_NL] = matmul_x16_iq4_nl, [TL_Q5_K] = matmul_x16_q5_K, \
        [TL_Q3_K] = matmul_x16_q3_K, [TL_Q2_K] = matmul_x16_q2_K, \
    }, \
}

const struct kernels kernels_avx512 = AVX512_SET("avx512", CPU_AVX512 | CPU_AVX512VNNI, matmul_bf16);

/* avx512 with AVX512_BF16 (Zen 4 and 5, Intel since Cooper Lake): BF16
 * weights through vdpbf16ps. */
const struct kernels kernels_avx512_bf16 =
    AVX512_SET("avx512-bf16", CPU_AVX512 | CPU_AVX512VNNI | CPU_AVX512BF16, matmul_bf16_dp);
