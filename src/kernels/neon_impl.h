/* kernels/neon_impl.h: the body of the two NEON kernel sets, included by
 * kernels/neon.c (vmull_s8 + vpadalq_s16) and kernels/neon_dot.c (sdot),
 * which differ only in their integer block dot. The including file defines
 * dot16(acc, w, x) (acc += products of 16 signed bytes, any lane split),
 * dot32(w0, w1, x0, x1) (the same over 32 bytes), NEON_LANE_DOT (1 with sdot
 * by lane, kernels/neon_q32.h), NEON_SET (the table's symbol), NEON_SET_NAME
 * and NEON_SET_NEEDS. */
#ifndef INLINE
#endif

enum { NCOL = 4 };  /* activation columns per pass over a weight row */

static inline const void *row_at(const void *base, size_t stride, size_t i)
{
    return (const char *)base + i * stride;
}

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline uint32_t ld32(const char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
/* Halves by the FPU's own conversion (fcvt, base AArch64), exact as the
 * portable fp16_to_fp32 / fp32_to_fp16 (round to nearest even under the
 * default FPCR) and inline: block scales convert once or twice a block. */
static inline float f16(const char *p) { __fp16 h; memcpy(&h, p, 2); return (float)h; }
static inline uint16_t to_f16(float f) { __fp16 h = (__fp16)f; uint16_t u; memcpy(&u, &h, 2); return u; }


/* ---- float weights: F32, F16, BF16 (activations of the same type) ---- */

/* 4 elements of a float-type row from element i. */
INLINE float32x4_t load_float(int type, const void *p, int i)
{
    const uint16_t *h = (const uint16_t *)p + i;
    switch (type) {
    case TL_F16:
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
    case TL_BF16: /* bf16 is the top half of an f32 */
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(h), 16));
    default:
        return vld1q_f32((const float *)p + i);
    }
}

/* The m < 4 elements from i, zero-padded through a copy (no read past a row). */
INLINE float32x4_t load_float_tail(int type, const void *p, int i, int m)
{
    size_t es = type == TL_F32 ? 4 : 2;
    uint32_t buf[4] = { 0 };
    memcpy(buf, (const char *)p + (size_t)i * es, (size_t)m * es);
    return load_float(type, buf, 0);
}

/* y[c * ldy + r + k] = dot(W row r + k, X column c0 + c), k < R, c < C:
 * R x C accumulators over four elements each, summed at the end. */
INLINE void float_block(const struct matmul_args *a, int type, int r, int R, int c0, int C)
{
    const void *w[4], *x[4];
    float32x4_t acc[4][4];
#pragma GCC unroll 4
    for (int k = 0; k < R; k++)
        w[k] = row_at(a->w, a->w_row_bytes, (size_t)(r + k));
#pragma GCC unroll 4
    for (int c = 0; c < C; c++)
        x[c] = row_at(a->x, a->x_row_bytes, (size_t)(c0 + c));
#pragma GCC unroll 4
    for (int k = 0; k < R; k++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            acc[k][c] = vdupq_n_f32(0);
    for (int i = 0; i < a->n; i += 4) {
        int m = imin(4, a->n - i);
        float32x4_t wv[4], xv[4];
#pragma GCC unroll 4
        for (int k = 0; k < R; k++)
            wv[k] = m == 4 ? load_float(type, w[k], i) : load_float_tail(type, w[k], i, m);
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            xv[c] = m == 4 ? load_float(type, x[c], i) : load_float_tail(type, x[c], i, m);
#pragma GCC unroll 4
        for (int k = 0; k < R; k++)
#pragma GCC unroll 4
            for (int c = 0; c < C; c++)
                acc[k][c] = vfmaq_f32(acc[k][c], wv[k], xv[c]);
    }
#pragma GCC unroll 4
    for (int k = 0; k < R; k++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            a->y[(size_t)(c0 + c) * a->ldy + (size_t)(r + k)] = vaddvq_f32(acc[k][c]);
}

/* Rows in fours, columns in fours (one column when decoding). */
INLINE void matmul_float(const struct matmul_args *a, int r0, int r1, int type)
{
    for (int c0 = 0; c0 < a->nc; c0 += NCOL) {
        int C = imin(NCOL, a->nc - c0), r = r0;
        for (; r + 4 <= r1; r += 4) {
            switch (C) {
            case 4: float_block(a, type, r, 4, c0, 4); break;
            case 3: float_block(a, type, r, 4, c0, 3); break;
            case 2: float_block(a, type, r, 4, c0, 2); break;
            default: float_block(a, type, r, 4, c0, 1); break;
            }
        }
        for (; r < r1; r++)
            for (int c = c0; c < c0 + C; c++)
                float_block(a, type, r, 1, c, 1);
    }
}

static void matmul_f32(const struct matmul_args *a, int r0, int r1) { matmul_float(a, r0, r1, TL_F32); }
static void matmul_f16(const struct matmul_args *a, int r0, int r1) { matmul_float(a, r0, r1, TL_F16); }
static void matmul_bf16(const struct matmul_args *a, int r0, int r1) { matmul_float(a, r0, r1, TL_BF16); }

/* ---- 32-element types against Q8_0 / Q8_1 activations ----
 * A weight block decodes to signed q[32] (Q4_0 nibble - 8, Q5_0 - 16, Q8_0
 * as stored, IQ4_NL its grid value, Q4_1/Q5_1 unsigned but below 32) and scale d, min m; its dot
 * with activation dx*qx (s = dx*sum(qx)) is d*dx*sum(q*qx) + m*s. */

INLINE int q32_off(int type) { return type == TL_Q4_0 ? 8 : type == TL_Q5_0 ? 16 : 0; }

/* 16 bits of h (from bit b) to 16 bytes: 16 where the bit is set. */
INLINE uint8x16_t bits_to_16(uint32_t h, int b)
{
    static const uint8_t bit[16] = { 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128 };
    uint8x16_t v = vcombine_u8(vdup_n_u8((uint8_t)(h >> b)), vdup_n_u8((uint8_t)(h >> (b + 8))));
    return vandq_u8(vtstq_u8(v, vld1q_u8(bit)), vdupq_n_u8(16));
}

struct qblock {
    int8x16_t q[2];   /* elements 0-15, 16-31 */
    float     d, m;
};

/* qs holds element j in the low nibble of byte j, j+16 in the high one. */
INLINE void decode32(int type, const char *w, struct qblock *b)
{
    b->d = f16(w);
    b->m = q32_mins(type) ? f16(w + 2) : 0.0f;
    if (type == TL_Q8_0) {
        b->q[0] = vld1q_s8((const int8_t *)(w + q32_qs(type)));
        b->q[1] = vld1q_s8((const int8_t *)(w + q32_qs(type) + 16));
        return;
    }
    uint8x16_t q = vld1q_u8((const uint8_t *)(w + q32_qs(type)));
    uint8x16_t lo = vandq_u8(q, vdupq_n_u8(15)), hi = vshrq_n_u8(q, 4);
    if (type == TL_IQ4_NL) {
        int8x16_t grid = vld1q_s8(iq4nl_values);
        b->q[0] = vqtbl1q_s8(grid, lo);
        b->q[1] = vqtbl1q_s8(grid, hi);
        return;
    }
    if (q32_five(type)) {
        uint32_t h = ld32(w + q32_qh(type));
        lo = vorrq_u8(lo, bits_to_16(h, 0));
        hi = vorrq_u8(hi, bits_to_16(h, 16));
    }
    int8x16_t off = vdupq_n_s8((int8_t)q32_off(type));
    b->q[0] = vsubq_s8(vreinterpretq_s8_u8(lo), off);
    b->q[1] = vsubq_s8(vreinterpretq_s8_u8(hi), off);
}

/* acc += the block's dot with activation block x (mins into *accm). */
INLINE float32x4_t qdot32(int type, const struct qblock *b, const char *x, float32x4_t acc, float *accm)
{
    const int8_t *xq = (const int8_t *)(x + act_qs(type));
    int32x4_t i = dot16(dot16(vdupq_n_s32(0), b->q[0], vld1q_s8(xq)), b->q[1], vld1q_s8(xq + 16));
    acc = vfmaq_n_f32(acc, vcvtq_f32_s32(i), b->d * f16(x));
    if (q32_mins(type))
        *accm += b->m * f16(x + 2);
    return acc;
}

/* ---- K-quants against Q8_K activations ----
 * A super-block decodes to signed q[256] in 16 vectors, integer scales and
 * mins per 16 elements and d, dmin; as the scalar set, its dot is
 * dx*d*sum_g sc_g*dot_g - dx*dmin*sum_g mn_g*bsum_g in exact integers. */

struct kblock {
    int8x16_t q[16];   /* elements 16g..16g+15 */
    int16_t   sc[16], mn[16];
    float     d, dmin;
};


INLINE int8x16_t as_s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }
INLINE uint8x16_t load16(const char *p) { return vld1q_u8((const uint8_t *)p); }
/* v >> s for a shift known only at run time */
INLINE uint8x16_t shr(uint8x16_t v, int s) { return vshlq_u8(v, vdupq_n_s8((int8_t)-s)); }

/* Q4_K/Q5_K: 6-bit scales and mins of 8 sub-blocks from 12 bytes: j < 4
 * low 6 bits of bytes j and j+4; j >= 4 nibbles of byte j+4 topped by the
 * high 2 bits of bytes j-4 and j. Each for both 16-halves. */
INLINE void decode_scales_k4(const char *b, struct kblock *k)
{
    uint32_t s0 = ld32(b + 4), s1 = ld32(b + 8), s2 = ld32(b + 12);
    uint64_t sc = (s0 & 0x3f3f3f3fu) | (uint64_t)((s2 & 0x0f0f0f0fu) | (s0 >> 2 & 0x30303030u)) << 32;
    uint64_t mn = (s1 & 0x3f3f3f3fu) | (uint64_t)((s2 >> 4 & 0x0f0f0f0fu) | (s1 >> 2 & 0x30303030u)) << 32;
#pragma GCC unroll 16
    for (int j = 0; j < 8; j++) {
        k->sc[2 * j] = k->sc[2 * j + 1] = (int16_t)(sc >> 8 * j & 63);
        k->mn[2 * j] = k->mn[2 * j + 1] = (int16_t)(mn >> 8 * j & 63);
    }
    k->d = f16(b);
    k->dmin = f16(b + 2);
}

/* Q4_K: qs[32c + l] holds element 64c + l (low nibble) and 64c + 32 + l;
 * Q5_K adds bit 2c (low) or 2c+1 (high) of qh[l] as bit 4. */
INLINE void decode_q45_K(int type, const char *b, struct kblock *k)
{
    size_t qs = type == TL_Q4_K ? offsetof(struct block_q4_K, qs) : offsetof(struct block_q5_K, qs);
    decode_scales_k4(b, k);
    uint8x16_t f = vdupq_n_u8(15), sixteen = vdupq_n_u8(16);
#pragma GCC unroll 16
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 16
        for (int h = 0; h < 2; h++) {
            uint8x16_t q = load16(b + qs + 32 * c + 16 * h), lo = vandq_u8(q, f), hi = vshrq_n_u8(q, 4);
            if (type == TL_Q5_K) {
                uint8x16_t qh = load16(b + offsetof(struct block_q5_K, qh) + 16 * h);
                lo = vorrq_u8(lo, vandq_u8(vtstq_u8(qh, vdupq_n_u8((uint8_t)(1 << 2 * c))), sixteen));
                hi = vorrq_u8(hi, vandq_u8(vtstq_u8(qh, vdupq_n_u8((uint8_t)(2 << 2 * c))), sixteen));
            }
            k->q[4 * c + h] = as_s8(lo);
            k->q[4 * c + 2 + h] = as_s8(hi);
        }
}

/* Q6_K: element 128h + 32s + l: low 4 bits from ql[64h + 32(s&1) + l]
 * (high nibble when s >= 2), high 2 bits from qh[32h + l] >> 2s; minus 32. */
INLINE void decode_q6_K(const char *b, struct kblock *k)
{
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
        int h = g / 8, s = g / 2 % 4, l = 16 * (g % 2);
        uint8x16_t ql = load16(b + 64 * h + 32 * (s & 1) + l), qh = load16(b + 128 + 32 * h + l);
        uint8x16_t lo = s < 2 ? vandq_u8(ql, vdupq_n_u8(15)) : vshrq_n_u8(ql, 4);
        uint8x16_t hi = vshlq_n_u8(vandq_u8(shr(qh, 2 * s), vdupq_n_u8(3)), 4);
        k->q[g] = vsubq_s8(as_s8(vorrq_u8(lo, hi)), vdupq_n_s8(32));
        k->sc[g] = ((const int8_t *)b)[192 + g];
        k->mn[g] = 0;
    }
    k->d = f16(b + 208);
    k->dmin = 0;
}

/* Q2_K: element 128h + 32s + l = qs[32h + l] >> 2s & 3; Q3_K the same from
 * its qs plus 4 * hmask bit (4h + s) of byte l, minus 4. */
INLINE void decode_q23_K(int type, const char *b, struct kblock *k)
{
    size_t qs = type == TL_Q2_K ? offsetof(struct block_q2_K, qs) : offsetof(struct block_q3_K, qs);
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
        int h = g / 8, s = g / 2 % 4, l = 16 * (g % 2);
        uint8x16_t q = vandq_u8(shr(load16(b + qs + 32 * h + l), 2 * s), vdupq_n_u8(3));
        if (type == TL_Q3_K) {
            uint8x16_t hb = vtstq_u8(load16(b + l), vdupq_n_u8((uint8_t)(1 << (4 * h + s))));
            q = vorrq_u8(q, vandq_u8(hb, vdupq_n_u8(4)));
            k->q[g] = vsubq_s8(as_s8(q), vdupq_n_s8(4));
        } else {
            k->q[g] = as_s8(q);
        }
    }
    const uint8_t *sb = (const uint8_t *)b + (type == TL_Q2_K ? 0 : offsetof(struct block_q3_K, scales));
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
        if (type == TL_Q2_K) {
            k->sc[j] = sb[j] & 15;
            k->mn[j] = sb[j] >> 4;
        } else {
            int lo = j < 8 ? sb[j] & 15 : sb[j - 8] >> 4;
            k->sc[j] = (int16_t)((lo | (sb[8 + j % 4] >> (2 * (j / 4)) & 3) << 4) - 32);
            k->mn[j] = 0;
        }
    }
    k->d = f16(b + (type == TL_Q2_K ? offsetof(struct block_q2_K, d) : offsetof(struct block_q3_K, d)));
    k->dmin = type == TL_Q2_K ? f16(b + offsetof(struct block_q2_K, dmin)) : 0.0f;
}

INLINE void decode_k(int type, const char *b, struct kblock *k)
{
    switch (type) {
    case TL_Q2_K: case TL_Q3_K: decode_q23_K(type, b, k); break;
    case TL_Q4_K: case TL_Q5_K: decode_q45_K(type, b, k); break;
    default: decode_q6_K(b, k); break;
    }
}

/* The super-block's dot with Q8_K block x: integer sums as the scalar set. */
INLINE float kdot(const struct kblock *k, const char *x)
{
    const int8_t *xq = (const int8_t *)(x + offsetof(struct block_q8_K, qs));
    int32x4_t acc = vdupq_n_s32(0);
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++)
        acc = vmlaq_n_s32(acc, dot16(vdupq_n_s32(0), k->q[g], vld1q_s8(xq + 16 * g)), k->sc[g]);
    int16x8_t b0 = vld1q_s16((const int16_t *)(x + offsetof(struct block_q8_K, bsums)));
    int16x8_t b1 = vld1q_s16((const int16_t *)(x + offsetof(struct block_q8_K, bsums)) + 8);
    int32x4_t m = vmull_s16(vget_low_s16(b0), vld1_s16(k->mn));
    m = vmlal_s16(m, vget_high_s16(b0), vld1_s16(k->mn + 4));
    m = vmlal_s16(m, vget_low_s16(b1), vld1_s16(k->mn + 8));
    m = vmlal_s16(m, vget_high_s16(b1), vld1_s16(k->mn + 12));
    float dx;
    memcpy(&dx, x, 4);
    return dx * k->d * (float)vaddvq_s32(acc) - dx * k->dmin * (float)vaddvq_s32(m);
}

#include "kernels/neon_k45.h"

/* ---- quantised products: one weight row against C columns per pass, or
 * (decode) R rows against one column ---- */


/* y of rows [r, r + R) against column c: the activation blocks load once for all R rows. */
INLINE void qrows(const struct matmul_args *a, int type, int r, int R, int c)
{
    const char *x = row_at(a->x, a->x_row_bytes, (size_t)c), *w[4];
    for (int k = 0; k < R; k++)
        w[k] = row_at(a->w, a->w_row_bytes, (size_t)(r + k));
    float *y = a->y + (size_t)c * a->ldy + r;
    if (is_k(type)) {
        float acc[4] = { 0 };
        for (int b = 0; b < a->n / QK_K; b++)
            for (int k = 0; k < R; k++) {
                if (type == TL_Q4_K || type == TL_Q5_K) {
                    acc[k] += kdot_q45(type, w[k] + (size_t)b * k_bytes(type), x + (size_t)b * sizeof(struct block_q8_K));
                    continue;
                }
                struct kblock kb;
                decode_k(type, w[k] + (size_t)b * k_bytes(type), &kb);
                acc[k] += kdot(&kb, x + (size_t)b * sizeof(struct block_q8_K));
            }
        for (int k = 0; k < R; k++)
            y[k] = acc[k];
        return;
    }
    float32x4_t acc[4];
    float accm[4] = { 0 };
    for (int k = 0; k < R; k++)
        acc[k] = vdupq_n_f32(0);
    for (int b = 0; b < a->n / QK; b++)
        for (int k = 0; k < R; k++) {
            struct qblock qb;
            decode32(type, w[k] + (size_t)b * q32_bytes(type), &qb);
            acc[k] = qdot32(type, &qb, x + (size_t)b * act_bytes(type), acc[k], &accm[k]);
        }
    for (int k = 0; k < R; k++)
        y[k] = vaddvq_f32(acc[k]) + accm[k];
}

/* y of row r against columns [c0, c0 + C): each weight block decodes once. */
INLINE void qcols(const struct matmul_args *a, int type, int r, int c0, int C)
{
    const char *w = row_at(a->w, a->w_row_bytes, (size_t)r), *x[NCOL];
    for (int c = 0; c < C; c++)
        x[c] = row_at(a->x, a->x_row_bytes, (size_t)(c0 + c));
    float acc[NCOL] = { 0 }, accm[NCOL] = { 0 };
    float32x4_t accv[NCOL];
    for (int c = 0; c < C; c++)
        accv[c] = vdupq_n_f32(0);
    if (is_k(type)) {
        for (int b = 0; b < a->n / QK_K; b++) {
            struct kblock kb;
            decode_k(type, w + (size_t)b * k_bytes(type), &kb);
            for (int c = 0; c < C; c++)
                acc[c] += kdot(&kb, x[c] + (size_t)b * sizeof(struct block_q8_K));
        }
    } else {
        for (int b = 0; b < a->n / QK; b++) {
            struct qblock qb;
            decode32(type, w + (size_t)b * q32_bytes(type), &qb);
            for (int c = 0; c < C; c++)
                accv[c] = qdot32(type, &qb, x[c] + (size_t)b * act_bytes(type), accv[c], &accm[c]);
        }
    }
    for (int c = 0; c < C; c++)
        a->y[(size_t)(c0 + c) * a->ldy + (size_t)r] = acc[c] + vaddvq_f32(accv[c]) + accm[c];
}

#include "kernels/neon_q32.h"
#include "kernels/neon_x16.h"

INLINE void matmulq(const struct matmul_args *a, int r0, int r1, int type)
{
    if (!is_k(type)) {
        matmul_q32(a, r0, r1, type);
        return;
    }
    if (a->nc == 1) {
        int r = r0;
        for (; r + 4 <= r1; r += 4)
            qrows(a, type, r, 4, 0);
        for (; r < r1; r++)
            qrows(a, type, r, 1, 0);
        return;
    }
    for (int r = r0; r < r1; r++) {
        int c = 0;
        for (; c + NCOL <= a->nc; c += NCOL)
            qcols(a, type, r, c, NCOL);
        for (; c < a->nc; c++)
            qcols(a, type, r, c, 1);
    }
}

KERNELS_QUANT_PRODUCTS(matmulq, matmulq)

/* ---- activation conversion ---- */

/* One 32-element block as quant_q8_block does it: d = amax/127, q =
 * roundf(x/d) (vcvtaq rounds half away from zero, as roundf); returns d,
 * sets *sum to sum(q). */
static inline float q8_block(const float *x, int8_t *qs, int *sum)
{
    float32x4_t v[8], am = vdupq_n_f32(0);
    for (int j = 0; j < 8; j++) {
        v[j] = vld1q_f32(x + 4 * j);
        am = vmaxq_f32(am, vabsq_f32(v[j]));
    }
    float amax = vmaxvq_f32(am), d = amax / 127, id = d ? 1.0f / d : 0.0f;
    int32x4_t s = vdupq_n_s32(0);
    for (int j = 0; j < 8; j += 2) {
        int32x4_t q0 = vcvtaq_s32_f32(vmulq_n_f32(v[j], id)), q1 = vcvtaq_s32_f32(vmulq_n_f32(v[j + 1], id));
        s = vaddq_s32(s, vaddq_s32(q0, q1));
        int16x8_t q16 = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
        vst1_s8(qs + 4 * j, vqmovn_s16(q16));
    }
    *sum = vaddvq_s32(s);
    return d;
}

static void quantize_q8_0(const float *x, void *y, int n)
{
    struct block_q8_0 *b = y;
    for (int i = 0; i < n / QK; i++, x += QK) {
        int sum;
        b[i].d = to_f16(q8_block(x, b[i].qs, &sum));
    }
}

static void quantize_q8_1(const float *x, void *y, int n)
{
    struct block_q8_1 *b = y;
    for (int i = 0; i < n / QK; i++, x += QK) {
        int sum;
        float d = q8_block(x, b[i].qs, &sum);
        b[i].d = to_f16(d);
        b[i].s = to_f16((float)sum * d);
    }
}

/* Q8_K: d = max/-127 with max the first value of largest magnitude,
 * q = nearest-even (vcvtnq), bsums per 16. */
static void quantize_q8_K(const float *x, void *y, int n)
{
    struct block_q8_K *b = y;
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        float32x4_t am = vdupq_n_f32(0);
        for (int j = 0; j < QK_K; j += 4)
            am = vmaxq_f32(am, vabsq_f32(vld1q_f32(x + j)));
        float amax = vmaxvq_f32(am), max = 0;
        if (!amax) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        for (int j = 0; j < QK_K; j++) {
            if (x[j] == amax || x[j] == -amax) {
                max = x[j];
                break;
            }
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j += 16) {
            int32x4_t q[4], s = vdupq_n_s32(0);
            for (int l = 0; l < 4; l++) {
                q[l] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j + 4 * l), iscale)), vdupq_n_s32(127));
                s = vaddq_s32(s, q[l]);
            }
            int16x8_t lo = vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]));
            int16x8_t hi = vcombine_s16(vqmovn_s32(q[2]), vqmovn_s32(q[3]));
            vst1q_s8(b[i].qs + j, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
            b[i].bsums[j / 16] = (int16_t)vaddvq_s32(s);
        }
        b[i].d = 1 / iscale;
    }
}

static void quantize_f32(const float *x, void *y, int n) { memcpy(y, x, (size_t)n * sizeof *x); }

/* vcvt_f16_f32 rounds to nearest even under the default FPCR, as fp32_to_fp16. */
static void quantize_f16(const float *x, void *y, int n)
{
    uint16_t *h = y;
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(h + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++)
        h[i] = fp32_to_fp16(x[i]);
}

/* Round to nearest even on the f32 bits; NaN keeps its top bits, quieted. */
static void quantize_bf16(const float *x, void *y, int n)
{
    uint16_t *h = y;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i));
        uint32x4_t odd = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
        uint32x4_t r = vshrq_n_u32(vaddq_u32(u, vaddq_u32(odd, vdupq_n_u32(0x7fff))), 16);
        uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
        r = vbslq_u32(nan, vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x40)), r);
        vst1_u16(h + i, vmovn_u32(r));
    }
    for (; i < n; i++)
        h[i] = fp32_to_bf16(x[i]);
}

/* ---- f16 conversion (KV cache, attention operands) ---- */

static void f32_to_f16(uint16_t *y, const float *x, int n) { quantize_f16(x, y, n); }

static void f16_to_f32(float *y, const uint16_t *x, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
    for (; i < n; i++)
        y[i] = fp16_to_fp32(x[i]);
}

/* ---- elementwise math (softmax, SwiGLU) ---- */

/* e^x as kernels/avx512.c's exp16, 2^n built in the exponent field. */
INLINE float32x4_t exp4(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.33654f)), vdupq_n_f32(88.0f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

static double exp_sum(float *x, int n, float m)
{
    float32x4_t vm = vdupq_n_f32(m);
    float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0);   /* summed in double, as scalar */
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vm));
        vst1q_f32(x + i, e);
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    return s;
}

static void swiglu(float *y, const float *g, const float *u, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t vg = vld1q_f32(g + i);
        float32x4_t e = exp4(vnegq_f32(vg));
        float32x4_t si = vdivq_f32(vg, vaddq_f32(e, vdupq_n_f32(1.0f)));
        vst1q_f32(y + i, vmulq_f32(si, vld1q_f32(u + i)));
    }
    for (; i < n; i++)
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

const struct kernels NEON_SET = {
    .name = NEON_SET_NAME,
    .needs = NEON_SET_NEEDS,
    KERNELS_TABLE(matmul_bf16),
    NEON_X16_TABLE,
};
