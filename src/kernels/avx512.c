/* kernels/avx512.c: the avx512 kernel set (AVX-512 F/BW/VL/DQ + VNNI), built
 * with its ISA flags (Makefile). Decode (nc == 1) streams the weight rows one
 * after another; prompt products (nc > 1) repack 16-row tiles so that one
 * vector lane is one weight row and activations arrive as broadcasts. */
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kernels.h"
#include "kernels/x86_impl.h"
#include "kernels/prefetch.h"


enum {
    TILE = 16,      /* weight rows per repacked tile: one per 32-bit lane */
    NCOL = 8,       /* activation columns per pass over a tile */
    CC = 256,       /* activation columns whose block data is prepared at once */
    FKC = 512,      /* float elements per K chunk of a tile (a 64 KiB tile) */
    FCC = 256,      /* float columns converted at once (a 512 KiB panel) */
};

/* The 4 bytes at p in every 32-bit lane (a vpbroadcastd from memory). */
INLINE __m512i bcast4(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

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

/* Column c, rows [r0, r1), K in chunks of MVK: the activation chunk is
 * widened to f32 once, so a row step converts only its weights. */
INLINE void matvec_float(const struct matmul_args *a, int type, int c, int r0, int r1)
{
    _Alignas(64) float xf[MVK];
    const void *x = row_at(a->x, a->x_row_bytes, (size_t)c);
    float *y = a->y + (size_t)c * a->ldy;
    for (int k0 = 0; k0 < a->n; k0 += MVK) {
        int kc = imin(MVK, a->n - k0);
        for (int i = 0; i < kc; i += 16) {
            __mmask16 m = tail_mask(imin(16, kc - i));
            _mm512_mask_storeu_ps(xf + i, m, load_float(type, x, k0 + i, m));
        }
        for (int r = r0; r < r1; r++)
            y[r] = (k0 > 0 ? y[r] : 0.0f) + matvec_float_row(a, type, xf, k0, kc, r);
    }
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

static void run_f32_tile(const struct tile_float *t, const struct panel_float *pf, const struct matmul_args *a,
                         int kc, int first, int r, int nr, int c0, int cc, struct next_rows *nx)
{
    run_float_tile(t, pf, a, kc, first, r, nr, c0, cc, nx, madd_f32);
}

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

/* nc > 1: K chunks of FKC, column chunks of FCC converted to an f32 panel
 * once, every 16-row tile packed per chunk. With pairs_madd (BF16 through
 * vdpbf16ps), tiles and panels hold FKC pairs of elements instead and
 * pairs_madd multiplies them. */
INLINE void gemm_float_with(const struct matmul_args *a, int type, int r0, int r1, madd_fn pairs_madd)
{
    size_t es = type == TL_F32 ? 4 : 2;
    int kchunk = pairs_madd ? 2 * FKC : FKC;
    void *own;
    struct float_scratch *fs = float_scratch_or_columns(a, type, r0, r1, &own);
    if (!fs)
        return;
    struct tile_float *t = &fs->t;
    struct panel_float *pf = &fs->p;
    for (int c0 = 0; c0 < a->nc; c0 += FCC) {
        int cc = imin(FCC, a->nc - c0);
        for (int k0 = 0; k0 < a->n; k0 += kchunk) {
            int kc = imin(kchunk, a->n - k0);
            if (pairs_madd)
                prep_panel_pairs(pf, a, c0, cc, k0, kc);
            else
                prep_panel(pf, a, type, c0, cc, k0, kc);
            for (int r = r0; r < r1; r += 2 * TILE) {
                int nr = imin(2 * TILE, r1 - r), next = imin(2 * TILE, r1 - r - nr);
                /* the next tile's rows come from DRAM as short streams:
                 * ask for them while this one computes */
                struct next_rows nx = next_rows_at(a->w, a->w_row_bytes, r + nr, (size_t)k0 * es,
                                                   (size_t)kc * es, next, cc / 8);
                if (pairs_madd) {
                    pack_pairs(t, a, r, nr, k0, kc);
                    run_float_tile(t, pf, a, (kc + 1) / 2, k0 == 0, r, nr, c0, cc, &nx, pairs_madd);
                } else {
                    pack_float(t, a, type, r, nr, k0, kc);
                    run_f32_tile(t, pf, a, kc, k0 == 0, r, nr, c0, cc, &nx);
                }
            }
        }
    }
    free(own);
}

INLINE void gemm_float(const struct matmul_args *a, int type, int r0, int r1)
{
    gemm_float_with(a, type, r0, r1, NULL);
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

/* matvec_cols' activation chunk: kc elements of x from k0 as f32 at xf
 * (64-byte aligned), zero to the next multiple of 16 and to 64 at least:
 * cols_row64 reads 4 vectors, and 0 * whatever was on the stack may be NaN. */
INLINE void convert_cols_chunk(float *xf, const void *x, int type, int k0, int kc)
{
    for (int i = 0; i < kc || i < 64; i += 16)
        _mm512_store_ps(xf + i, load_float(type, x, k0 + i, tail_mask(imax(0, imin(16, kc - i)))));
}


/* ---- 32-element types against Q8_0 / Q8_1 activations ----
 * vpdpbusd multiplies unsigned by signed bytes, so each weight block is made
 * unsigned, u = q + off (Q4_0 nibbles as stored, off 8; Q5_0 off 16; Q8_0
 * q ^ 0x80, off 128; Q4_1/Q5_1 are unsigned, off 0), and
 * sum(q*x) = sum(u*x) - off*sum(x), the activation sum taken once per
 * activation block. A block's value is d*dx*sum(q*x) (+ m*s with mins). */


INLINE int q32_off(int type)
{
    return type == TL_Q4_0 ? 8 : type == TL_Q5_0 ? 16 : type == TL_Q8_0 || type == TL_IQ4_NL ? 128 : 0;
}

/* IQ4_NL's grid + 128 in every 128-bit lane: vpshufb turns nibbles into
 * unsigned weights with off 128. */
INLINE __m512i iq4nl_lut(void)
{
    __m128i g = _mm_loadu_si128((const __m128i *)iq4nl_values);
    return _mm512_broadcast_i32x4(_mm_xor_si128(g, _mm_set1_epi8((char)0x80)));
}

/* ---- decode: groups of G blocks (4; Q8_0: 2) per step ----
 * Two loads cover a group of gb = 68..96 bytes: A its first 64 bytes, B
 * the gb - 64 after them (a plain 4-32 byte load), so no byte is loaded
 * twice and B seldom crosses a cache line (split loads that miss the cache
 * halve decode speed; masked byte loads are slow on a miss too). One
 * vpermt2w gathers the quants, another the scales: word i of A is index i,
 * word i of B index 32 + i. Layout of a group in a vector:
 *   G = 4: 16 bytes per block, v[16j + e] = qs[e] of block j, so the low
 *          nibbles are elements 0-15 and the high ones 16-31;
 *   G = 2: 32 bytes per block (Q8_0 quants in element order).
 * The activation row is prepared once in the same layout, with its scales
 * and -off * sum(x) spread over each block's lanes. */

enum { MVG = 128 };  /* groups per K chunk of a prepared activation row */

INLINE int q32_group(int type) { return type == TL_Q8_0 ? 2 : 4; }

struct xprep {
    __m512i q[MVG][2];  /* G = 4: elements 0-15 | 16-31 of each block; G = 2: q[g][0] */
    __m512i corr[MVG];  /* lanes sum to -off * sum(x) per block */
    __m512  d[MVG];     /* activation scale of each lane's block */
    __m512  s[MVG];     /* Q8_1 d * sum, in the first lane of each block */
};

/* vpermt2w indices for one group of a weight type. */
struct gidx {
    __m512i q, d, m, h; /* quants; scales and mins (16 lanes); qh words lo0-3, hi0-3 */
};

/* Index of the word at byte P (even) of a group loaded as A | B. */
static inline uint16_t word_at(int P) { return (uint16_t)(P < 64 ? P / 2 : 32 + (P - 64) / 2); }

INLINE void make_gidx(int type, struct gidx *ix)
{
    int G = q32_group(type), bs = (int)q32_bytes(type), qs = (int)q32_qs(type);
    uint16_t q[32], d[32] = { 0 }, m[32] = { 0 }, h[32] = { 0 };
    for (int w = 0; w < 32; w++) /* word w: block w / (32 / G), its qs word w % (32 / G) */
        q[w] = word_at(w / (32 / G) * bs + qs + 2 * (w % (32 / G)));
    for (int l = 0; l < 16; l++) {
        d[l] = word_at(l / (16 / G) * bs);
        m[l] = word_at(l / (16 / G) * bs + 2);
    }
    for (int j = 0; j < 4 && q32_five(type); j++) {
        h[j] = word_at(j * bs + (int)q32_qh(type));
        h[j + 4] = word_at(j * bs + (int)q32_qh(type) + 2);
    }
    ix->q = _mm512_loadu_si512(q);
    ix->d = _mm512_loadu_si512(d);
    ix->m = _mm512_loadu_si512(m);
    ix->h = _mm512_loadu_si512(h);
}

/* Groups [0, ng) of activation blocks from x (nb blocks left in the row;
 * blocks past them are zero), block i being block i % period of x. */
INLINE void prep_x_wrap(struct xprep *p, int type, const char *x, int nb, int ng, int period)
{
    int G = q32_group(type);
    size_t xb = act_bytes(type);
    __m512i off = _mm512_set1_epi8((char)q32_off(type)), z = _mm512_setzero_si512();
    for (int g = 0; g < ng; g++) {
        float d[16] = { 0 }, s[16] = { 0 };
        memset(p->q[g], 0, sizeof p->q[g]);
        for (int j = 0; j < G && g * G + j < nb; j++) {
            const char *b = x + (size_t)((g * G + j) % period) * xb, *qs = b + act_qs(type);
            if (G == 4) {
                memcpy((char *)&p->q[g][0] + 16 * j, qs, 16);
                memcpy((char *)&p->q[g][1] + 16 * j, qs + 16, 16);
            } else {
                memcpy((char *)&p->q[g][0] + 32 * j, qs, 32);
            }
            for (int l = 0; l < 16 / G; l++)
                d[j * 16 / G + l] = _cvtsh_ss(ld16(b));
            s[j * 16 / G] = q32_mins(type) ? _cvtsh_ss(ld16(b + 2)) : 0.0f;
        }
        p->d[g] = _mm512_loadu_ps(d);
        p->s[g] = _mm512_loadu_ps(s);
        __m512i t = _mm512_dpbusd_epi32(z, off, p->q[g][0]);
        if (G == 4)
            t = _mm512_dpbusd_epi32(t, off, p->q[g][1]);
        p->corr[g] = _mm512_sub_epi32(z, t);
    }
}

INLINE void prep_x(struct xprep *p, int type, const char *x, int nb, int ng)
{
    prep_x_wrap(p, type, x, nb, ng, nb);
}

/* acc += the group loaded as A | B times prepared group g. */
INLINE __m512 group_dot_ab(int type, const struct gidx *ix, __m512i A, __m512i B, const struct xprep *p, int g,
                           __m512 acc)
{
    __m512i v = _mm512_permutex2var_epi16(A, ix->q, B), f = _mm512_set1_epi8(15), dot;
    if (type == TL_Q8_0) {
        dot = _mm512_dpbusd_epi32(p->corr[g], _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80)), p->q[g][0]);
    } else {
        __m512i lo = _mm512_and_si512(v, f), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), f);
        if (type == TL_IQ4_NL) {
            lo = _mm512_shuffle_epi8(iq4nl_lut(), lo);
            hi = _mm512_shuffle_epi8(iq4nl_lut(), hi);
        }
        if (q32_five(type)) { /* bit e of qh: bit 4 of element e */
            __m128i h = _mm512_castsi512_si128(_mm512_permutex2var_epi16(A, ix->h, B));
            __m512i sixteen = _mm512_set1_epi8(16);
            lo = _mm512_mask_add_epi8(lo, (__mmask64)_mm_cvtsi128_si64(h), lo, sixteen);
            hi = _mm512_mask_add_epi8(hi, (__mmask64)_mm_extract_epi64(h, 1), hi, sixteen);
        }
        dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(p->corr[g], lo, p->q[g][0]), hi, p->q[g][1]);
    }
    /* the scales of Q4_0, IQ4_NL, Q4_1 and Q8_0 groups all lie in A */
    __m512i dw = q32_group(type) * (int)q32_bytes(type) <= 80 ? _mm512_permutexvar_epi16(ix->d, A)
                                                               : _mm512_permutex2var_epi16(A, ix->d, B);
    __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(dw));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, p->d[g]), acc);
    if (q32_mins(type)) {
        __m512 m = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(A, ix->m, B)));
        acc = _mm512_fmadd_ps(m, p->s[g], acc);
    }
    return acc;
}

/* acc += the group at w (one weight row) times prepared group g. */
INLINE __m512 group_dot(int type, const struct gidx *ix, const char *w, const struct xprep *p, int g, __m512 acc)
{
    int gb = q32_group(type) * (int)q32_bytes(type);
    __m512i A = _mm512_loadu_si512(w), B;
    if (gb - 64 == 4)
        B = _mm512_castsi128_si512(_mm_cvtsi32_si128((int)ld32(w + 64)));
    else if (gb - 64 == 8)
        B = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(w + 64)));
    else if (gb - 64 == 16)
        B = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(w + 64)));
    else if (gb - 64 == 24)
        B = _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(w + 64))),
                                                           _mm_loadl_epi64((const __m128i *)(w + 80)), 1));
    else
        B = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(w + 64)));
    return group_dot_ab(type, ix, A, B, p, g, acc);
}

/* acc[0], acc[1] += whole groups [g0, g1) at w, two a step */
INLINE void group_run(int type, const struct gidx *ix, const char *w, size_t gb, const struct xprep *p, int g0,
                      int g1, __m512 acc[2])
{
    int g = g0;
    for (; g + 2 <= g1; g += 2) {
        prefetch_ahead(w + (size_t)g * gb, 2 * gb);
        acc[0] = group_dot(type, ix, w + (size_t)g * gb, p, g, acc[0]);
        acc[1] = group_dot(type, ix, w + (size_t)(g + 1) * gb, p, g + 1, acc[1]);
    }
    if (g < g1)
        acc[0] = group_dot(type, ix, w + (size_t)g * gb, p, g, acc[0]);
}

/* dot of row r with the prepared chunk: groups [0, ng) from byte w0 of
 * the row, of which nb blocks are real. A partial last group is loaded
 * masked, zero-padded, so no load passes a row's end. */
INLINE float matvec32_row(const struct matmul_args *a, int type, const struct gidx *ix, const struct xprep *p,
                          size_t w0, int nb, int ng, int r)
{
    int G = q32_group(type);
    size_t gb = (size_t)G * q32_bytes(type);
    const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + w0;
    __m512 acc[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
    int full = nb / G;
    group_run(type, ix, w, gb, p, 0, full, acc);
    if (full < ng) {
        const char *t = w + (size_t)full * gb;
        int tb = (nb - full * G) * (int)q32_bytes(type);   /* 18..72 bytes */
        __m512i A = _mm512_maskz_loadu_epi8(tb >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << tb) - 1, t);
        __m512i B = tb > 64 ? _mm512_maskz_loadu_epi8(((__mmask64)1 << (tb - 64)) - 1, t + 64) : _mm512_setzero_si512();
        acc[1] = group_dot_ab(type, ix, A, B, p, full, acc[1]);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
}

/* Rows of nb = 4k + 2 blocks (576- and 960-wide models) end in half a
 * group. Two such rows, one after the other in memory, are 2k + 1 whole
 * groups: walked as one run against the activation prepared twice over,
 * the group across their boundary gives its low 8 lanes (2 blocks) to the
 * first row and its high 8 to the second, and no load is masked. */
INLINE void matvec32_pair(const struct matmul_args *a, int type, const struct gidx *ix, const struct xprep *p,
                          int nb, int r, float *y)
{
    size_t gb = 4 * q32_bytes(type);
    const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r);
    __m512 ra[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() }, rb[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
    int mid = nb / 4, ng = nb / 2;   /* group mid holds blocks nb - 2 .. nb + 1 */
    group_run(type, ix, w, gb, p, 0, mid, ra);
    prefetch_ahead(w + (size_t)mid * gb, 2 * gb);
    __m512 t = group_dot(type, ix, w + (size_t)mid * gb, p, mid, _mm512_setzero_ps());
    ra[1] = _mm512_mask_add_ps(ra[1], 0x00ff, ra[1], t);
    rb[1] = _mm512_mask_add_ps(rb[1], 0xff00, rb[1], t);
    group_run(type, ix, w, gb, p, mid + 1, ng, rb);
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(ra[0], ra[1]));
    y[r + 1] = _mm512_reduce_add_ps(_mm512_add_ps(rb[0], rb[1]));
}

/* Column c, rows [r0, r1), K in chunks of MVG groups. */
INLINE void matvec32(const struct matmul_args *a, int type, int c, int r0, int r1)
{
    struct xprep p;
    struct gidx ix;
    int G = q32_group(type), nb = a->n / QK;
    const char *x = row_at(a->x, a->x_row_bytes, (size_t)c);
    float *y = a->y + (size_t)c * a->ldy;
    make_gidx(type, &ix);
    if (G == 4 && nb % 4 == 2 && 2 * nb <= MVG * G && a->w_row_bytes == (size_t)nb * q32_bytes(type) &&
        r1 - r0 >= 2) {
        prep_x_wrap(&p, type, x, 2 * nb, nb / 2, nb);
        for (; r0 + 2 <= r1; r0 += 2)
            matvec32_pair(a, type, &ix, &p, nb, r0, y);
        if (r0 == r1)
            return;
    }
    for (int b0 = 0; b0 < nb; b0 += MVG * G) {
        int kb = imin(MVG * G, nb - b0), ng = (kb + G - 1) / G;
        prep_x(&p, type, x + (size_t)b0 * act_bytes(type), kb, ng);
        size_t w0 = (size_t)b0 * q32_bytes(type);
        for (int r = r0; r < r1; r++)
            y[r] = (b0 > 0 ? y[r] : 0.0f) + matvec32_row(a, type, &ix, &p, w0, kb, ng, r);
    }
}

/* ---- K-quants against Q8_K activations ----
 * decode_k turns one super-block of a row into registers: u[j] holds 64
 * elements as unsigned bytes, element e worth d * sc[e/16] * (u - off) -
 * dmin * mn[e/16], with integer scales and mins per 16 elements (the
 * 32-element sub-blocks of Q4_K/Q5_K repeat theirs). u[j] is elements
 * 64j..64j+63 in order, except for Q4_K/Q5_K whose nibbles stay as stored:
 * u[j] = elements 128(j/2) + 32(j%2) + 0..31 then the same + 64, and the
 * activations are permuted to match. vpmaddubsw makes 16-bit pair sums
 * (at most 2*63*127) and vpdpwssd applies the scale words to them. */

struct kdec {
    __m512i u[4];
    __m256i sc, mn;   /* 16 words each: scale and min of each 16 elements */
    float   d, dmin;
};

INLINE int k_stored_order(int type) { return type == TL_Q4_K || type == TL_Q5_K; }


/* 32 bytes at p in both halves of a vector. */
INLINE __m512i bcast32(const char *p) { return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p)); }

/* v >> s0 in bytes 0-31 and v >> s1 in bytes 32-63 (64-bit shifts: callers
 * mask away the bits that cross into a neighbouring byte). */
INLINE __m512i srl_halves(__m512i v, int s0, int s1)
{
    return _mm512_srlv_epi64(v, _mm512_setr_epi64(s0, s0, s0, s0, s1, s1, s1, s1));
}

/* A byte mask selecting bit b0 in bytes 0-31 and bit b1 in bytes 32-63. */
INLINE __m512i bit_halves(int b0, int b1)
{
    return _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << b0)), _mm256_set1_epi8((char)(1 << b1)), 1);
}

/* Swap the middle 256-bit quarters of a and b: stored Q4_K/Q5_K nibble
 * order <-> element order (the map is its own inverse). */
INLINE void swap_quarters(__m512i *a, __m512i *b)
{
    __m512i t = _mm512_shuffle_i64x2(*a, *b, 0x44);
    *b = _mm512_shuffle_i64x2(*a, *b, 0xee);
    *a = t;
}

/* Q4_K/Q5_K: scales, mins and the two super-block factors. */
INLINE void decode_scales_k4(const char *b, struct kdec *k)
{
    k4_scales(b, &k->sc, &k->mn);
    k->d = _cvtsh_ss(ld16(b));
    k->dmin = _cvtsh_ss(ld16(b + 2));
}

/* Q4_K: qs[32c + l] holds element 64c + l (low nibble) and 64c + 32 + l;
 * Q5_K adds bit 2c (low) or 2c+1 (high) of qh[l] as bit 4. */
INLINE void decode_q45_K(int type, const char *b, struct kdec *k)
{
    size_t qs = type == TL_Q4_K ? offsetof(struct block_q4_K, qs) : offsetof(struct block_q5_K, qs);
    __m512i f = _mm512_set1_epi8(15);
    decode_scales_k4(b, k);
#pragma GCC unroll 4
    for (int h = 0; h < 2; h++) {
        __m512i q = _mm512_loadu_si512(b + qs + 64 * h);
        k->u[2 * h] = _mm512_and_si512(q, f);
        k->u[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(q, 4), f);
    }
    if (type == TL_Q5_K) {
        __m512i qh = bcast32(b + offsetof(struct block_q5_K, qh)), sixteen = _mm512_set1_epi8(16);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) { /* u[j] halves: c = 2(j/2) and 2(j/2)+1, low or high nibble j%2 */
            int c = 2 * (j / 2), hi = j % 2;
            __mmask64 hb = _mm512_test_epi8_mask(qh, bit_halves(2 * c + hi, 2 * c + 2 + hi));
            k->u[j] = _mm512_mask_add_epi8(k->u[j], hb, k->u[j], sixteen);
        }
    }
}

/* Q6_K: element 128h + 32s + l: low 4 bits from ql[64h + 32(s&1) + l]
 * (high nibble when s >= 2), high 2 bits from qh[32h + l] >> 2s. */
INLINE void decode_q6_K(const char *b, struct kdec *k)
{
    __m512i f = _mm512_set1_epi8(15), m = _mm512_set1_epi8(0x30);
#pragma GCC unroll 4
    for (int h = 0; h < 2; h++) {
        __m512i ql = _mm512_loadu_si512(b + 64 * h), qh = bcast32(b + 128 + 32 * h);
        __m512i h01 = _mm512_and_si512(_mm512_sllv_epi64(qh, _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2)), m);
        __m512i h23 = _mm512_and_si512(srl_halves(qh, 0, 2), m);
        k->u[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, f), h01);
        k->u[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), f), h23);
    }
    k->sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 192)));
    k->mn = _mm256_setzero_si256();
    k->d = _cvtsh_ss(ld16(b + 208));
    k->dmin = 0;
}

/* Q2_K: element 128h + 32s + l = qs[32h + l] >> 2s & 3; scales low nibble, mins high. */
INLINE void decode_q2_K(const char *b, struct kdec *k)
{
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512i q = bcast32(b + 16 + 32 * (j / 2));
        k->u[j] = _mm512_and_si512(srl_halves(q, 4 * (j % 2), 4 * (j % 2) + 2), _mm512_set1_epi8(3));
    }
    q2k_scales(b, &k->sc, &k->mn, &k->d, &k->dmin);
}

/* Q3_K: element 128h + 32s + l = (qs[32h + l] >> 2s & 3) + 4 * hmask bit
 * (4h + s) of byte l, offset 4; 16 signed 6-bit scales: low nibble of
 * byte j (j < 8) or j - 8 (high nibble), 2 high bits from byte 8 + j%4. */
INLINE void decode_q3_K(const char *b, struct kdec *k)
{
    __m512i hm = bcast32(b), four = _mm512_set1_epi8(4);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        int h = j / 2, s0 = 2 * (j % 2);
        __m512i q = _mm512_and_si512(srl_halves(bcast32(b + 32 + 32 * h), 2 * s0, 2 * s0 + 2), _mm512_set1_epi8(3));
        __mmask64 hb = _mm512_test_epi8_mask(hm, bit_halves(4 * h + s0, 4 * h + s0 + 1));
        k->u[j] = _mm512_mask_add_epi8(q, hb, q, four);
    }
    k->sc = q3k_scales(b);
    k->mn = _mm256_setzero_si256();
    k->d = _cvtsh_ss(ld16(b + 108));
    k->dmin = 0;
}

INLINE void decode_k(int type, const char *b, struct kdec *k)
{
    switch (type) {
    case TL_Q2_K: decode_q2_K(b, k); break;
    case TL_Q3_K: decode_q3_K(b, k); break;
    case TL_Q4_K: case TL_Q5_K: decode_q45_K(type, b, k); break;
    default: decode_q6_K(b, k); break;
    }
}

/* The activation side of one Q8_K block, in decode_k's order for type. */
struct kact {
    __m512i q[4];     /* quants */
    __m256i bsum;     /* 16 words: sums of each 16 quants */
    float   d;
};

INLINE void load_kact(int type, const char *x, struct kact *ka)
{
    memcpy(&ka->d, x, 4);
    ka->bsum = _mm256_loadu_si256((const __m256i *)(x + offsetof(struct block_q8_K, bsums)));
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        ka->q[j] = _mm512_loadu_si512(x + offsetof(struct block_q8_K, qs) + 64 * j);
    if (k_stored_order(type)) {
        swap_quarters(&ka->q[0], &ka->q[1]);
        swap_quarters(&ka->q[2], &ka->q[3]);
    }
}

/* vpermw index giving each pair-sum word of u[j] its 16-group's scale:
 * word w covers the element pair at 2w of u[j]'s layout. */
INLINE __m512i scale_idx(int type, int j)
{
    uint16_t idx[32];
    for (int w = 0; w < 32; w++) {
        int e = k_stored_order(type) ? 128 * (j / 2) + 32 * (j % 2) + 64 * (w / 16) + 2 * (w % 16) : 64 * j + 2 * w;
        idx[w] = (uint16_t)(e / 16);
    }
    return _mm512_loadu_si512(idx);
}

/* acc += the decoded super-block times the activation block:
 * dx * (d * sum_g sc_g * (dot_g - off * bsum_g) - dmin * sum_g mn_g * bsum_g). */
INLINE __m512 kdot(int type, const struct kdec *k, const struct kact *ka, const __m512i *idx, __m512 acc)
{
    __m512i s = _mm512_setzero_si512(), sc = _mm512_castsi256_si512(k->sc);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(k->u[j], ka->q[j]), _mm512_permutexvar_epi16(idx[j], sc));
    if (k_off(type)) {   /* off * sc * bsum, off 4 or 32: a shift */
        __m256i c = _mm256_slli_epi32(_mm256_madd_epi16(k->sc, ka->bsum), k_off(type) == 32 ? 5 : 2);
        s = _mm512_sub_epi32(s, _mm512_zextsi256_si512(c));
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(k->d * ka->d), acc);
    if (k_mins(type)) {
        __m512i m = _mm512_zextsi256_si512(_mm256_madd_epi16(k->mn, ka->bsum));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), _mm512_set1_ps(-k->dmin * ka->d), acc);
    }
    return acc;
}

enum { MVKB = 32 };  /* Q8_K blocks per chunk of prepared activations (8192 elements) */

/* dot of row r, blocks [b0, b0 + nb), with their prepared activations. */
INLINE float matvec_k_row(const struct matmul_args *a, int type, const struct kact *ka, int b0, int nb,
                          const __m512i idx[4], int r)
{
    size_t bs = k_bytes(type);
    const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)b0 * bs;
    __m512 acc = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        struct kdec kd;
        prefetch_ahead(w + (size_t)b * bs, bs);
        decode_k(type, w + (size_t)b * bs, &kd);
        acc = kdot(type, &kd, &ka[b], idx, acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* Column c, rows [r0, r1): the activation blocks are loaded (and put in
 * decode_k's order) once per chunk, not once per row. */
INLINE void matvec_k(const struct matmul_args *a, int type, int c, int r0, int r1)
{
    const char *x = row_at(a->x, a->x_row_bytes, (size_t)c);
    float *y = a->y + (size_t)c * a->ldy;
    struct kact ka[MVKB];
    __m512i idx[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
        idx[j] = scale_idx(type, j);
    int nbt = a->n / QK_K;
    for (int b0 = 0; b0 < nbt; b0 += MVKB) {
        int nb = imin(MVKB, nbt - b0);
        for (int b = 0; b < nb; b++)
            load_kact(type, x + (size_t)(b0 + b) * sizeof(struct block_q8_K), &ka[b]);
        for (int r = r0; r < r1; r++)
            y[r] = (b0 > 0 ? y[r] : 0.0f) + matvec_k_row(a, type, ka, b0, nb, idx, r);
    }
}

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

/* Block b (of 32 elements) of the 16 rows at p[i]: group b of the tile. */
INLINE void pack32_block(struct tileq *t, int type, const char *const *rows, int b)
{
    size_t qs = q32_qs(type);
    const char *p[TILE];
    uint16_t d[TILE], m[TILE];
    uint32_t h[TILE];
    block_fields(type, rows, b, TILE, p, d, m, h);
    t->d[b] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d));
    t->m[b] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)m));
    __m512i *q = t->q + 8 * b;
    if (type == TL_Q8_0) {
        transpose_16x4(p, qs, q);
        transpose_16x4(p, qs + 16, q + 4);
        for (int j = 0; j < 8; j++)
            q[j] = _mm512_xor_si512(q[j], _mm512_set1_epi8((char)0x80));
        return;
    }
    __m512i v[4], f = _mm512_set1_epi8(15);
    transpose_16x4(p, qs, v);
    for (int j = 0; j < 4; j++) {
        q[j] = _mm512_and_si512(v[j], f);
        q[j + 4] = _mm512_and_si512(_mm512_srli_epi32(v[j], 4), f);
    }
    for (int j = 0; j < 8 && type == TL_IQ4_NL; j++)
        q[j] = _mm512_shuffle_epi8(iq4nl_lut(), q[j]);
    if (q32_five(type)) {
        /* bits 4j..4j+3 of a lane's qh go to bit 4 of its bytes 0..3: the
         * multiply by 1 + 2^7 + 2^14 + 2^21 moves bit k to bit 8k without carries */
        __m512i hv = _mm512_loadu_si512(h);
        for (int j = 0; j < 8; j++) {
            __m512i s = _mm512_and_si512(_mm512_srli_epi32(hv, 4 * j), _mm512_set1_epi32(15));
            s = _mm512_and_si512(_mm512_mullo_epi32(s, _mm512_set1_epi32(0x00204081)), _mm512_set1_epi32(0x01010101));
            q[j] = _mm512_or_si512(q[j], _mm512_slli_epi32(s, 4));
        }
    }
}

/* Super-block sb of the 16 rows at p[i]: decoded row by row (in element
 * order, scales times d and mins times -dmin as floats), then the bytes
 * transposed 16 at a time and the 16x16 scales and mins in registers. */
INLINE void packk_block(struct tileq *t, int type, const char *const *rows, int sb)
{
    char u[TILE][QK_K];
    const char *p[TILE];
    __m512 sc[16], mn[16];
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
        p[i] = u[i];
    }
    transpose16(sc);
    transpose16(mn);
    int qg = qgroup(type), ng = QK_K / (4 * qg);
    for (int g = 0; g < ng; g++) { /* sc[16-group] lane i = row i */
        t->d[sb * ng + g] = sc[g * qg / 4];
        t->m[sb * ng + g] = mn[g * qg / 4];
    }
    for (int c = 0; c < QK_K / 16; c++)
        transpose_16x4(p, (size_t)(16 * c), t->q + sb * (QK_K / 4) + 4 * c);
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

/* Q4_K in the x16 layout: the 8 scales and mins of each row, 6 bits
 * each in 12 bytes, decoded in all 16 lanes at once (k4_scales' formula on
 * the three dword vectors at col + X16_Q4_K_SC, Q5_K's too): sc[h], mn[h]
 * byte s of lane i = sub-block 4h + s of row i. */
INLINE void x16_k4_scales(const char *col, __m512i sc[2], __m512i mn[2])
{
    __m512i s0 = _mm512_loadu_si512(col + X16_Q4_K_SC), s1 = _mm512_loadu_si512(col + X16_Q4_K_SC + 64),
            s2 = _mm512_loadu_si512(col + X16_Q4_K_SC + 128);
    __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f), m2 = _mm512_set1_epi32(0x30303030);
    sc[0] = _mm512_and_si512(s0, m6);
    sc[1] = _mm512_or_si512(_mm512_and_si512(s2, m4), _mm512_and_si512(_mm512_srli_epi32(s0, 2), m2));
    mn[0] = _mm512_and_si512(s1, m6);
    mn[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(s2, 4), m4), _mm512_and_si512(_mm512_srli_epi32(s1, 2), m2));
}

/* Sub-block s's byte of each lane (from x16_k4_scales) as a float. */
INLINE __m512 x16_k4_byte(const __m512i v[2], int s)
{
    return _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v[s / 4], 8 * (s % 4)), _mm512_set1_epi32(0xff)));
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
            x16_k4_scales(col, sc, mn);
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
        gemm_float_with(a, TL_BF16, r0, r1, madd_bf16);
}

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
            x16_k4_scales(col, sc, mn);
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


/* Q8_K: d = max/-127 with max the first value of largest magnitude,
 * q = nearest-even (the default rounding of vcvtps2dq), bsums per 16. */
static void quantize_q8_K(const float *x, void *y, int n)
{
    struct block_q8_K *b = y;
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        __m512 am = _mm512_setzero_ps();
        for (int j = 0; j < QK_K; j += 16)
            am = _mm512_max_ps(am, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        float amax = _mm512_reduce_max_ps(am), max = 0;
        if (!amax) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        for (int j = 0; j < QK_K; j += 16) {
            __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit) {
                max = x[j + __builtin_ctz(hit)];
                break;
            }
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j += 16) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_set1_ps(iscale), _mm512_loadu_ps(x + j)));
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(b[i].qs + j), _mm512_cvtsepi32_epi8(q));
            b[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        b[i].d = 1 / iscale;
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

/* e^x within 2 ulp (the scalar set's expf is the reference): x = n ln2 + r,
 * |r| <= ln2/2 (ln2 in two parts so r is exact), e^r by Cephes' degree-5
 * polynomial, times 2^n. x is clamped to [-87.3, 88]: e^x stays a normal
 * float, and softmax and SiLU need nothing beyond. */
INLINE __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33654f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static double exp_sum(float *x, int n, float m)
{
    __m512 vm = _mm512_set1_ps(m);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();   /* summed in double, as scalar */
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(imin(16, n - i));
        __m512 e = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm)));
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
        __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), vg));
        __m512 s = _mm512_div_ps(vg, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, u + i)));
    }
}

#define AVX512_SET(set_name, set_needs, bf16) { \
    .name = set_name, \
    .needs = set_needs, \
    X86_SET_MATMUL(bf16), \
    .matmul_x16 = { \
        [TL_Q4_0] = matmul_x16_q4_0, [TL_Q8_0] = matmul_x16_q8_0, [TL_Q4_K] = matmul_x16_q4_K, \
        [TL_Q5_0] = matmul_x16_q5_0, [TL_IQ4_NL] = matmul_x16_iq4_nl, [TL_Q5_K] = matmul_x16_q5_K, \
        [TL_Q3_K] = matmul_x16_q3_K, [TL_Q2_K] = matmul_x16_q2_K, \
    }, \
    X86_SET_REST, \
}

const struct kernels kernels_avx512 = AVX512_SET("avx512", CPU_AVX512 | CPU_AVX512VNNI, matmul_bf16);

/* avx512 with AVX512_BF16 (Zen 4 and 5, Intel since Cooper Lake): BF16
 * weights through vdpbf16ps. */
const struct kernels kernels_avx512_bf16 =
    AVX512_SET("avx512-bf16", CPU_AVX512 | CPU_AVX512VNNI | CPU_AVX512BF16, matmul_bf16_dp);
