/* kernels/scalar.c: the portable kernel set, plain C for any CPU. It is
 * complete (every supported weight and activation type) and is the oracle
 * the SIMD sets are tested against. Quantised products follow llama.cpp's
 * scheme: integer dot products per block, scaled once per block. */
#include <math.h>

#include "kernels/kernels_impl.h"

/* Branch-free fp16 -> fp32, so loops over halves vectorise: moving the
 * exponent and mantissa to the f32 positions yields value * 2^-112 for
 * normal and subnormal halves alike, and the exact multiply rebiases. */
static inline float half_to_float(uint16_t h)
{
    uint32_t em = (uint32_t)(h & 0x7fff) << 13, sign = (uint32_t)(h & 0x8000) << 16;
    float mag;
    memcpy(&mag, &em, 4);
    mag *= 0x1p112f;
    uint32_t u;
    memcpy(&u, &mag, 4);
    uint32_t special = 0u - (uint32_t)(em >= 0x7c00u << 13); /* inf and nan: all ones */
    u = (u & ~special) | ((em | 0x7f800000) & special) | sign;
    memcpy(&mag, &u, 4);
    return mag;
}

static inline const void *row_at(const void *base, size_t stride, size_t i)
{
    return (const char *)base + i * stride;
}

/* ---- float weights: F32 x F32, F16 x F16, BF16 x BF16 ----
 * Eight independent partial sums let the compiler use vector lanes
 * without reassociating a single float chain. */

static float load_f32(const void *p, int i) { return ((const float *)p)[i]; }
static float load_f16(const void *p, int i) { return half_to_float(((const uint16_t *)p)[i]); }
static float load_bf16(const void *p, int i) { return bf16_to_fp32(((const uint16_t *)p)[i]); }

/* dot(w, x) of n elements that load() reads as floats */
static inline float dot_float(const void *w, const void *x, int n, float (*load)(const void *, int))
{
    float acc[8] = { 0 }, s = 0;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += load(w, i + l) * load(x, i + l);
    for (; i < n; i++)
        s += load(w, i) * load(x, i);
    for (int l = 0; l < 8; l++)
        s += acc[l];
    return s;
}

static inline void matmul_float(const struct matmul_args *a, int r0, int r1, float (*load)(const void *, int))
{
    for (int r = r0; r < r1; r++)
        for (int c = 0; c < a->nc; c++)
            a->y[(size_t)c * a->ldy + r] = dot_float(row_at(a->w, a->w_row_bytes, r),
                                                     row_at(a->x, a->x_row_bytes, c), a->n, load);
}

static void matmul_f32(const struct matmul_args *a, int r0, int r1) { matmul_float(a, r0, r1, load_f32); }
static void matmul_f16(const struct matmul_args *a, int r0, int r1) { matmul_float(a, r0, r1, load_f16); }
static void matmul_bf16(const struct matmul_args *a, int r0, int r1) { matmul_float(a, r0, r1, load_bf16); }

/* ---- 32-element types against Q8_0 / Q8_1 activations ----
 * A weight block becomes int8 q[32] with value d*q + m (m = 0 for the
 * symmetric types); against activation dx*qx with s = dx*sum(qx), its dot
 * is d*dx*sum(q*qx) + m*s. */

static inline int dot_i8(const int8_t *a, const int8_t *b, int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Unpack block blk of a weight row of the given type into q, d, m. */
static inline void unpack_block32(int type, const void *row, int blk, int8_t q[QK], float *d, float *m)
{
    uint32_t qh;
    *m = 0;
    switch (type) {
    case TL_Q4_0: {
        const struct block_q4_0 *b = (const struct block_q4_0 *)row + blk;
        *d = half_to_float(b->d);
        for (int j = 0; j < QK / 2; j++) {
            q[j] = (int8_t)((b->qs[j] & 15) - 8);
            q[j + QK / 2] = (int8_t)((b->qs[j] >> 4) - 8);
        }
        break;
    }
    case TL_IQ4_NL: {
        const struct block_iq4_nl *b = (const struct block_iq4_nl *)row + blk;
        *d = half_to_float(b->d);
        for (int j = 0; j < QK / 2; j++) {
            q[j] = iq4nl_values[b->qs[j] & 15];
            q[j + QK / 2] = iq4nl_values[b->qs[j] >> 4];
        }
        break;
    }
    case TL_Q4_1: {
        const struct block_q4_1 *b = (const struct block_q4_1 *)row + blk;
        *d = half_to_float(b->d);
        *m = half_to_float(b->m);
        for (int j = 0; j < QK / 2; j++) {
            q[j] = (int8_t)(b->qs[j] & 15);
            q[j + QK / 2] = (int8_t)(b->qs[j] >> 4);
        }
        break;
    }
    case TL_Q5_0: {
        const struct block_q5_0 *b = (const struct block_q5_0 *)row + blk;
        *d = half_to_float(b->d);
        memcpy(&qh, b->qh, 4);
        for (int j = 0; j < QK / 2; j++) {
            q[j] = (int8_t)(((b->qs[j] & 15) | (qh >> j & 1) << 4) - 16);
            q[j + QK / 2] = (int8_t)(((b->qs[j] >> 4) | (qh >> (j + QK / 2) & 1) << 4) - 16);
        }
        break;
    }
    case TL_Q5_1: {
        const struct block_q5_1 *b = (const struct block_q5_1 *)row + blk;
        *d = half_to_float(b->d);
        *m = half_to_float(b->m);
        memcpy(&qh, b->qh, 4);
        for (int j = 0; j < QK / 2; j++) {
            q[j] = (int8_t)((b->qs[j] & 15) | (qh >> j & 1) << 4);
            q[j + QK / 2] = (int8_t)((b->qs[j] >> 4) | (qh >> (j + QK / 2) & 1) << 4);
        }
        break;
    }
    default: { /* TL_Q8_0 */
        const struct block_q8_0 *b = (const struct block_q8_0 *)row + blk;
        *d = half_to_float(b->d);
        memcpy(q, b->qs, QK);
        break;
    }
    }
}

/* Columns are done in chunks so one unpacked weight block serves many. */
enum { COL_CHUNK = 32 };

/* acc[c] += the product of block b of weight row w with block b of column
 * c0 + c, for c < nc: one block unpacked, then used nc times. */
typedef void block_dots_fn(const struct matmul_args *a, const void *w, int b, int type, int c0, int nc,
                           float *acc);

/* Rows [r0, r1) of a quantised product over blocks of block_len elements. */
static void matmul_blocks(const struct matmul_args *a, int r0, int r1, int type, int block_len,
                          block_dots_fn *dots)
{
    int nb = a->n / block_len;
    for (int r = r0; r < r1; r++) {
        const void *w = row_at(a->w, a->w_row_bytes, r);
        for (int c0 = 0; c0 < a->nc; c0 += COL_CHUNK) {
            int nc = a->nc - c0 < COL_CHUNK ? a->nc - c0 : COL_CHUNK;
            float acc[COL_CHUNK] = { 0 };
            for (int b = 0; b < nb; b++)
                dots(a, w, b, type, c0, nc, acc);
            for (int c = 0; c < nc; c++)
                a->y[(size_t)(c0 + c) * a->ldy + r] = acc[c];
        }
    }
}

static void block_dots_q32(const struct matmul_args *a, const void *w, int b, int type, int c0, int nc, float *acc)
{
    int8_t q[QK];
    float d, m;
    unpack_block32(type, w, b, q, &d, &m);
    for (int c = 0; c < nc; c++) {
        const void *x = row_at(a->x, a->x_row_bytes, (size_t)(c0 + c));
        if (type == TL_Q4_1 || type == TL_Q5_1) {
            const struct block_q8_1 *xb = (const struct block_q8_1 *)x + b;
            acc[c] += d * half_to_float(xb->d) * dot_i8(q, xb->qs, QK) + m * half_to_float(xb->s);
        } else {
            const struct block_q8_0 *xb = (const struct block_q8_0 *)x + b;
            acc[c] += d * half_to_float(xb->d) * dot_i8(q, xb->qs, QK);
        }
    }
}

static void matmul_q32(const struct matmul_args *a, int r0, int r1, int type)
{
    matmul_blocks(a, r0, r1, type, QK, block_dots_q32);
}


/* ---- K-quants against Q8_K activations ----
 * A weight super-block becomes int8 q[256] with value
 * d*sc[e/16]*q[e] - dmin*mn[e/16] (sub-blocks of 32 repeat their scale
 * twice). Against activation dx*qx its dot is
 * dx*d*sum_j sc_j*dot16_j - dx*dmin*sum_j mn_j*bsums_j: the mins need only
 * the activation's per-16 sums. Layouts: the comment in format/quant.c. */

struct kblock {
    int8_t q[QK_K];
    int    sc[16], mn[16];   /* per 16 elements */
    float  d, dmin;
};

static void unpack_q2_K(const struct block_q2_K *b, struct kblock *k)
{
    k->d = half_to_float(b->d);
    k->dmin = half_to_float(b->dmin);
    for (int j = 0; j < 16; j++) {
        k->sc[j] = b->scales[j] & 15;
        k->mn[j] = b->scales[j] >> 4;
    }
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++)
                k->q[128 * h + 32 * s + l] = (int8_t)(b->qs[32 * h + l] >> (2 * s) & 3);
}

static void unpack_q3_K(const struct block_q3_K *b, struct kblock *k)
{
    k->d = half_to_float(b->d);
    k->dmin = 0;
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? b->scales[j] & 15 : b->scales[j - 8] >> 4;
        k->sc[j] = (lo | (b->scales[8 + j % 4] >> (2 * (j / 4)) & 3) << 4) - 32;
        k->mn[j] = 0;
    }
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) {
                int high = b->hmask[l] >> (4 * h + s) & 1;
                k->q[128 * h + 32 * s + l] = (int8_t)((b->qs[32 * h + l] >> (2 * s) & 3) - 4 + 4 * high);
            }
}

/* Scales and mins of Q4_K/Q5_K (8 sub-blocks of 32, 6 bits each). */
static void unpack_scales_k4(const uint8_t *s, struct kblock *k)
{
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        if (j < 4) {
            sc = s[j] & 63;
            mn = s[j + 4] & 63;
        } else {
            sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
            mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        }
        k->sc[2 * j] = k->sc[2 * j + 1] = sc;
        k->mn[2 * j] = k->mn[2 * j + 1] = mn;
    }
}

/* Q4_K and Q5_K share scales and nibble order: chunk c of 64 takes the low
 * nibbles of qs[32c ..] then the high ones; Q5_K's qh (NULL for Q4_K) adds
 * bit 4 from bits 2c and 2c + 1. */
static void unpack_k45(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                       struct kblock *k)
{
    k->d = half_to_float(d);
    k->dmin = half_to_float(dmin);
    unpack_scales_k4(scales, k);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            int h0 = qh ? qh[l] >> (2 * c) & 1 : 0, h1 = qh ? qh[l] >> (2 * c + 1) & 1 : 0;
            k->q[64 * c + l] = (int8_t)((qs[32 * c + l] & 15) | h0 << 4);
            k->q[64 * c + 32 + l] = (int8_t)((qs[32 * c + l] >> 4) | h1 << 4);
        }
}

static void unpack_q6_K(const struct block_q6_K *b, struct kblock *k)
{
    k->d = half_to_float(b->d);
    k->dmin = 0;
    for (int j = 0; j < 16; j++) {
        k->sc[j] = b->scales[j];
        k->mn[j] = 0;
    }
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) {
                uint8_t lo = b->ql[64 * h + 32 * (s & 1) + l];
                int q = (s < 2 ? lo & 15 : lo >> 4) | (b->qh[32 * h + l] >> (2 * s) & 3) << 4;
                k->q[128 * h + 32 * s + l] = (int8_t)(q - 32);
            }
}

static void unpack_k(int type, const void *row, int blk, struct kblock *k)
{
    switch (type) {
    case TL_Q2_K: unpack_q2_K((const struct block_q2_K *)row + blk, k); break;
    case TL_Q3_K: unpack_q3_K((const struct block_q3_K *)row + blk, k); break;
    case TL_Q4_K: {
        const struct block_q4_K *b = (const struct block_q4_K *)row + blk;
        unpack_k45(b->d, b->dmin, b->scales, b->qs, NULL, k);
        break;
    }
    case TL_Q5_K: {
        const struct block_q5_K *b = (const struct block_q5_K *)row + blk;
        unpack_k45(b->d, b->dmin, b->scales, b->qs, b->qh, k);
        break;
    }
    default: unpack_q6_K((const struct block_q6_K *)row + blk, k); break;
    }
}

static float dot_kblock(const struct kblock *k, const struct block_q8_K *x)
{
    int sumi = 0, summ = 0;
    for (int j = 0; j < 16; j++) {
        sumi += k->sc[j] * dot_i8(k->q + 16 * j, x->qs + 16 * j, 16);
        summ += k->mn[j] * x->bsums[j];
    }
    return x->d * k->d * (float)sumi - x->d * k->dmin * (float)summ;
}

static void block_dots_k(const struct matmul_args *a, const void *w, int b, int type, int c0, int nc, float *acc)
{
    struct kblock k;
    unpack_k(type, w, b, &k);
    for (int c = 0; c < nc; c++) {
        const void *x = row_at(a->x, a->x_row_bytes, (size_t)(c0 + c));
        acc[c] += dot_kblock(&k, (const struct block_q8_K *)x + b);
    }
}

static void matmul_k(const struct matmul_args *a, int r0, int r1, int type)
{
    matmul_blocks(a, r0, r1, type, QK_K, block_dots_k);
}


/* ---- activation conversion: the reference quantisers themselves ---- */

static void quantize_f32(const float *x, void *y, int n) { memcpy(y, x, (size_t)n * sizeof *x); }
static void quantize_f16(const float *x, void *y, int n) { quantize_row(TL_F16, x, y, n); }
static void quantize_bf16(const float *x, void *y, int n) { quantize_row(TL_BF16, x, y, n); }
static void quantize_q8_0(const float *x, void *y, int n) { quantize_row(TL_Q8_0, x, y, n); }
static void quantize_q8_1(const float *x, void *y, int n) { quantize_row(TL_Q8_1, x, y, n); }
static void quantize_q8_K(const float *x, void *y, int n) { quantize_row(TL_Q8_K, x, y, n); }

/* ---- f16 conversion (KV cache, attention operands) ---- */

static void f32_to_f16(uint16_t *y, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = fp32_to_fp16(x[i]);
}

static void f16_to_f32(float *y, const uint16_t *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = half_to_float(x[i]);
}

/* ---- elementwise math (softmax, SwiGLU) ---- */

static double exp_sum(float *x, int n, float m)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    return sum;
}

static void swiglu(float *y, const float *g, const float *u, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

KERNELS_QUANT_PRODUCTS(matmul_q32, matmul_k)

const struct kernels kernels_scalar = {
    .name = "scalar",
    .needs = 0,
    KERNELS_TABLE(matmul_bf16),
};
