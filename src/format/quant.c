/* format/quant.c: the type table, fp16/bf16 conversion, and the reference
 * (de)quantisation of every supported tensor type. The quantisers reproduce
 * llama.cpp's quantize_row_*_ref float operation for float operation, so a
 * file written by `tinyllm quantize` matches llama-quantize byte for byte. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "format/quant.h"

/* Bit-exactness with llama.cpp needs every a*b+c rounded twice, as written.
 * GCC in ISO C mode never contracts; clang would within one expression. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define T(id, nm, be, bb, sup, act) [id] = { nm, be, bb, sup, act }
/* Every ggml id llama.cpp knows. Q8_1 and Q8_K are activation formats:
 * (de)quantize_row handle them, but no weight may have them. */
static const struct type_info types[TL_TYPE_COUNT] = {
    T(TL_F32, "f32", 1, 4, 1, TL_F32),
    T(TL_F16, "f16", 1, 2, 1, TL_F16),
    T(TL_Q4_0, "q4_0", QK, 18, 1, TL_Q8_0),
    T(TL_Q4_1, "q4_1", QK, 20, 1, TL_Q8_1),
    T(TL_Q5_0, "q5_0", QK, 22, 1, TL_Q8_0),
    T(TL_Q5_1, "q5_1", QK, 24, 1, TL_Q8_1),
    T(TL_Q8_0, "q8_0", QK, 34, 1, TL_Q8_0),
    T(TL_Q8_1, "q8_1", QK, 36, 0, TL_Q8_1),
    T(TL_Q2_K, "q2_K", QK_K, 84, 1, TL_Q8_K),
    T(TL_Q3_K, "q3_K", QK_K, 110, 1, TL_Q8_K),
    T(TL_Q4_K, "q4_K", QK_K, 144, 1, TL_Q8_K),
    T(TL_Q5_K, "q5_K", QK_K, 176, 1, TL_Q8_K),
    T(TL_Q6_K, "q6_K", QK_K, 210, 1, TL_Q8_K),
    T(TL_Q8_K, "q8_K", QK_K, 292, 0, TL_Q8_K),
    T(TL_IQ2_XXS, "iq2_xxs", QK_K, 66, 0, TL_Q8_K),
    T(TL_IQ2_XS, "iq2_xs", QK_K, 74, 0, TL_Q8_K),
    T(TL_IQ3_XXS, "iq3_xxs", QK_K, 98, 0, TL_Q8_K),
    T(TL_IQ1_S, "iq1_s", QK_K, 50, 0, TL_Q8_K),
    T(TL_IQ4_NL, "iq4_nl", QK, 18, 1, TL_Q8_0),
    T(TL_IQ3_S, "iq3_s", QK_K, 110, 0, TL_Q8_K),
    T(TL_IQ2_S, "iq2_s", QK_K, 82, 0, TL_Q8_K),
    T(TL_IQ4_XS, "iq4_xs", QK_K, 136, 0, TL_Q8_K),
    T(TL_I8, "i8", 1, 1, 0, TL_F32),
    T(TL_I16, "i16", 1, 2, 0, TL_F32),
    T(TL_I32, "i32", 1, 4, 0, TL_F32),
    T(TL_I64, "i64", 1, 8, 0, TL_F32),
    T(TL_F64, "f64", 1, 8, 0, TL_F32),
    T(TL_IQ1_M, "iq1_m", QK_K, 56, 0, TL_Q8_K),
    T(TL_BF16, "bf16", 1, 2, 1, TL_BF16),
    T(34, "tq1_0", QK_K, 54, 0, TL_Q8_K),
    T(35, "tq2_0", QK_K, 66, 0, TL_Q8_K),
};
#undef T

const struct type_info *type_info(uint32_t type)
{
    if (type >= TL_TYPE_COUNT || !types[type].name)
        return NULL;
    return &types[type];
}

size_t type_row_bytes(uint32_t type, int64_t n)
{
    const struct type_info *ti = type_info(type);
    if (!ti || n < 0 || n % ti->block_elems)
        return 0;
    uint64_t blocks = (uint64_t)(n / ti->block_elems);
    if (blocks > SIZE_MAX / (uint64_t)ti->block_bytes)
        return 0;
    return (size_t)blocks * (size_t)ti->block_bytes;
}

/* ---- scalar conversions ---- */

static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t em = h & 0x7fff;
    if (em >= 0x7c00) /* inf, nan: payload kept */
        return bits_f32(sign | 0x7f800000 | (em & 0x3ff) << 13);
    /* Placing exponent and mantissa at the f32 positions gives the value
     * times 2^-112 (normal halves land on normal floats, subnormal halves on
     * subnormal floats); the exact multiply rebiases both cases at once. */
    float mag = bits_f32(em << 13) * 0x1p112f;
    return bits_f32(sign | f32_bits(mag));
}

uint16_t fp32_to_fp16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)(u >> 16 & 0x8000);
    uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) /* nan: quieted, top payload bits kept, as F16C */
        return sign | 0x7e00 | (uint16_t)(a >> 13 & 0x3ff);
    if (a >= 0x477ff000) /* >= 65520 rounds past the largest half, 65504 */
        return sign | 0x7c00;
    uint32_t q, rem, half;
    if (a >= 0x38800000) { /* normal half: rebias the exponent by 127-15 */
        q = (a >> 13) - (112u << 10);
        rem = a & 0x1fff;
        half = 0x1000;
    } else if (a >= 0x33000000) { /* subnormal half: units of 2^-24 */
        int shift = 126 - (int)(a >> 23); /* 14..24 */
        uint32_t m = (a & 0x7fffff) | 0x800000;
        q = m >> shift;
        rem = m & ((1u << shift) - 1);
        half = 1u << (shift - 1);
    } else { /* below 2^-25: rounds to zero */
        return sign;
    }
    if (rem > half || (rem == half && (q & 1)))
        q++; /* a carry into the exponent is the right encoding */
    return sign | (uint16_t)q;
}

uint16_t fp32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000)
        return (uint16_t)(u >> 16 | 0x40);
    return (uint16_t)((u + 0x7fff + (u >> 16 & 1)) >> 16);
}

/* Round to nearest, ties to even, for |x| < 2^22 (every call site is far
 * inside that): adding 1.5*2^23 leaves the rounded integer in the low
 * mantissa bits. Defined for any input, unlike a float-to-int cast. */
static inline int nearest_int(float x)
{
    float v = x + 12582912.f;
    return (int)(f32_bits(v) & 0x7fffff) - 0x400000;
}

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* ---- 32-element types ----
 * Element j < 16 of a block sits in the low nibble of qs[j], element j+16 in
 * its high nibble; the 5th bit of element j (5-bit types) is bit j of qh. */

static void dequant_q4_0(const struct block_q4_0 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = ((b[i].qs[j] & 15) - 8) * d;
            y[j + QK / 2] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* The grid llama.cpp fitted to the weights of trained models. */
const int8_t iq4nl_values[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

static void dequant_iq4_nl(const struct block_iq4_nl *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * iq4nl_values[b[i].qs[j] & 15];
            y[j + QK / 2] = d * iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

static void dequant_q4_1(const struct block_q4_1 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (b[i].qs[j] & 15) * d + m;
            y[j + QK / 2] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

/* The 5-bit value of element j of a Q5 block with low nibbles qs, high bits qh. */
static inline int q5_value(const uint8_t *qs, uint32_t qh, int j)
{
    int lo = j < QK / 2 ? qs[j] & 15 : qs[j - QK / 2] >> 4;
    return lo | (int)(qh >> j & 1) << 4;
}

static void dequant_q5_0(const struct block_q5_0 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < QK; j++)
            y[j] = (q5_value(b[i].qs, qh, j) - 16) * d;
    }
}

static void dequant_q5_1(const struct block_q5_1 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < QK; j++)
            y[j] = q5_value(b[i].qs, qh, j) * d + m;
    }
}

static void dequant_q8_0(const struct block_q8_0 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK; j++)
            y[j] = b[i].qs[j] * d;
    }
}

static void dequant_q8_1(const struct block_q8_1 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK; j++)
            y[j] = b[i].qs[j] * d;
    }
}

/* The signed value of largest magnitude in x[0..n) (the first one on ties)
 * and that magnitude. */
static float signed_absmax(const float *x, int n, float *amax_out)
{
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    *amax_out = amax;
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* Q4_0: d = max/-8 so the extreme value maps to q = 0; q = trunc(x/d + 8.5). */
static void quant_q4_0(const float *x, struct block_q4_0 *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax;
        float d = signed_absmax(x, QK, &amax) / -8;
        float id = d ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK / 2; j++) {
            float x0 = x[j] * id, x1 = x[j + QK / 2] * id;
            int q0 = imin(15, (int8_t)(x0 + 8.5f));
            int q1 = imin(15, (int8_t)(x1 + 8.5f));
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Q4_1: d = (max-min)/15, m = min; q = trunc((x-min)/d + 0.5). */
static void quant_q4_1(const float *x, struct block_q4_1 *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        float d = (mx - mn) / 15;
        float id = d ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        b[i].m = fp32_to_fp16(mn);
        for (int j = 0; j < QK / 2; j++) {
            float x0 = (x[j] - mn) * id, x1 = (x[j + QK / 2] - mn) * id;
            int q0 = imin(15, (int8_t)(x0 + 0.5f));
            int q1 = imin(15, (int8_t)(x1 + 0.5f));
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Pack 32 five-bit values: low nibbles as Q4, bit 4 of element j to bit j of qh. */
static void pack_q5(const uint8_t q[QK], uint8_t qs[QK / 2], uint8_t qh_out[4])
{
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
        qs[j] = (uint8_t)((q[j] & 15) | (q[j + QK / 2] & 15) << 4);
        qh |= (uint32_t)(q[j] >> 4 & 1) << j;
        qh |= (uint32_t)(q[j + QK / 2] >> 4 & 1) << (j + QK / 2);
    }
    memcpy(qh_out, &qh, 4);
}

static void quant_q5_0(const float *x, struct block_q5_0 *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax;
        float d = signed_absmax(x, QK, &amax) / -16;
        float id = d ? 1.0f / d : 0.0f;
        uint8_t q[QK];
        b[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK; j++) {
            float v = x[j] * id;
            q[j] = (uint8_t)imin(31, (int8_t)(v + 16.5f));
        }
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

static void quant_q5_1(const float *x, struct block_q5_1 *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        float d = (mx - mn) / 31;
        float id = d ? 1.0f / d : 0.0f;
        uint8_t q[QK];
        b[i].d = fp32_to_fp16(d);
        b[i].m = fp32_to_fp16(mn);
        for (int j = 0; j < QK; j++) {
            float v = (x[j] - mn) * id;
            q[j] = (uint8_t)(v + 0.5f); /* llama.cpp does not clamp Q5_1 */
        }
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

/* Q8_0 and Q8_1: d = amax/127, q = round-half-away(x/d). Q8_1 also keeps
 * s = d * sum(q), which folds a weight block's offset m into one multiply. */
static float quant_q8_block(const float *x, int8_t *qs, int *sum)
{
    float amax = 0;
    for (int j = 0; j < QK; j++)
        amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    float d = amax / 127;
    float id = d ? 1.0f / d : 0.0f;
    int s = 0;
    for (int j = 0; j < QK; j++) {
        float v = roundf(x[j] * id);
        qs[j] = v >= -127 && v <= 127 ? (int8_t)v : 0; /* |v| <= 127 unless x held inf/nan */
        s += qs[j];
    }
    *sum = s;
    return d;
}

static void quant_q8_0(const float *x, struct block_q8_0 *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        int sum;
        b[i].d = fp32_to_fp16(quant_q8_block(x, b[i].qs, &sum));
    }
}

/* The grid index nearest to v (iq4nl_values ascending; a tie goes up). */
static int iq4nl_nearest(float v)
{
    const int8_t *g = iq4nl_values;
    if (v <= g[0])
        return 0;
    if (v >= g[15])
        return 15;
    int lo = 0, hi = 15;   /* g[lo] <= v < g[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < g[mid])
            hi = mid;
        else
            lo = mid;
    }
    return v - g[lo] < g[hi] - v ? lo : hi;
}

/* sum(w*q*x) and sum(w*q*q) of block x on the grid scaled by 1/inv, w = x^2. */
static void iq4nl_fit(const float *x, float inv, float *sqx, float *sqq)
{
    float a = 0, b = 0;
    for (int j = 0; j < QK; j++) {
        float q = iq4nl_values[iq4nl_nearest(inv * x[j])], w = x[j] * x[j];
        a += w * q * x[j];
        b += w * q * q;
    }
    *sqx = a, *sqq = b;
}

/* As llama-quantize writes IQ4_NL (no importance matrix): a scale from the
 * largest magnitude, refined by least squares, then 15 scales around it
 * (grid ends -127 + t, t = -7..7, at the largest element), keeping the one
 * with the least x^2-weighted error. */
static void quant_iq4_nl(const float *x, struct block_iq4_nl *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax, max = signed_absmax(x, QK, &amax), d = 0;
        if (amax >= 1e-15f) {
            float sqx, sqq;
            iq4nl_fit(x, 1 / (-max / iq4nl_values[0]), &sqx, &sqq);
            d = sqx / sqq;
            float best = d * sqx;
            for (int t = -7; t <= 7; t++) {
                iq4nl_fit(x, (t + iq4nl_values[0]) / max, &sqx, &sqq);
                if (sqq > 0 && sqx * sqx > best * sqq)
                    d = sqx / sqq, best = d * sqx;
            }
        }
        b[i].d = fp32_to_fp16(d);
        float id = d != 0 ? 1 / d : 0;
        for (int j = 0; j < QK / 2; j++)
            b[i].qs[j] = (uint8_t)(iq4nl_nearest(id * x[j]) | iq4nl_nearest(id * x[j + QK / 2]) << 4);
    }
}

static void quant_q8_1(const float *x, struct block_q8_1 *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK) {
        int sum;
        float d = quant_q8_block(x, b[i].qs, &sum);
        b[i].d = fp32_to_fp16(d);
        b[i].s = fp32_to_fp16(sum * d);
    }
}

/* ---- K-quants: 256-element super-blocks ----
 * Element e of a super-block belongs to scale sub-block e/16 (Q2_K, Q3_K,
 * Q6_K) or e/32 (Q4_K, Q5_K). The 2-bit planes of Q2_K/Q3_K: e = 128h +
 * 32j + l sits in bits 2j..2j+1 of qs[32h + l]; Q3_K's third bit is bit
 * 4h + j of hmask[l]. Q4_K/Q5_K: e = 64c + l (l < 32) is the low nibble
 * of qs[32c + l], e = 64c + 32 + l its high nibble; Q5_K's fifth bit is
 * bit e/32 of qh[e%32]. Q6_K: e = 128h + 32k + l takes a nibble of
 * ql[64h + 32(k&1) + l] (low for k < 2) and bits 2k..2k+1 of qh[32h + l].
 * The float operations below are ggml's, in ggml's order. */

/* 6-bit scale and min of sub-block j (0..7) from Q4_K/Q5_K's 12 bytes:
 * j < 4 in the low 6 bits of bytes j and j+4; j >= 4 as nibbles of byte
 * j+4 with the top two bits in bits 6-7 of bytes j-4 and j. */
static inline void scale_min_k4(int j, const uint8_t *s, int *sc, int *mn)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *mn = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* Q3_K's 16 6-bit scales (stored +32): low nibbles in bytes 0-7 (j < 8
 * low half, j >= 8 high half of byte j-8), top bits in bytes 8-11. */
static inline int scale_q3_K(int j, const uint8_t *s)
{
    int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
    return (lo | (s[8 + j % 4] >> (2 * (j / 4)) & 3) << 4) - 32;
}

static inline int bits2_at(const uint8_t *qs, int e)
{
    return qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32)) & 3;
}

static void dequant_q2_K(const struct block_q2_K *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            int sc = b[i].scales[e / 16];
            float dl = d * (sc & 15), ml = dmin * (sc >> 4);
            y[e] = dl * bits2_at(b[i].qs, e) - ml;
        }
    }
}

static void dequant_q3_K(const struct block_q3_K *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        float d = fp16_to_fp32(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            float dl = d * scale_q3_K(e / 16, b[i].scales);
            int high = b[i].hmask[e % 32] >> (e / 32) & 1;
            y[e] = dl * (bits2_at(b[i].qs, e) - (high ? 0 : 4));
        }
    }
}

static inline int nibble_k(const uint8_t *qs, int e)
{
    uint8_t byte = qs[32 * (e / 64) + e % 32];
    return e % 64 < 32 ? byte & 15 : byte >> 4;
}

static void dequant_q4_K(const struct block_q4_K *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            int sc, mn;
            scale_min_k4(e / 32, b[i].scales, &sc, &mn);
            float dl = d * sc, ml = dmin * mn;
            y[e] = dl * nibble_k(b[i].qs, e) - ml;
        }
    }
}

static void dequant_q5_K(const struct block_q5_K *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            int sc, mn;
            scale_min_k4(e / 32, b[i].scales, &sc, &mn);
            float dl = d * sc, ml = dmin * mn;
            int q = nibble_k(b[i].qs, e) + ((b[i].qh[e % 32] >> (e / 32) & 1) ? 16 : 0);
            y[e] = dl * q - ml;
        }
    }
}

static inline int q6_at(const struct block_q6_K *b, int e)
{
    int h = e / 128, k = e % 128 / 32, l = e % 32;
    uint8_t lo = b->ql[64 * h + 32 * (k & 1) + l];
    int q = (k < 2 ? lo & 15 : lo >> 4) | (b->qh[32 * h + l] >> (2 * k) & 3) << 4;
    return q - 32;
}

static void dequant_q6_K(const struct block_q6_K *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        float d = fp16_to_fp32(b[i].d);
        for (int e = 0; e < QK_K; e++)
            y[e] = d * b[i].scales[e / 16] * q6_at(&b[i], e);
    }
}

/* Signed value of largest magnitude (the first on ties, by strict >). */
static float signed_absmax_gt(const float *x, int n, float *amax_out)
{
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    *amax_out = amax;
    return max;
}

#define GROUP_MAX_EPS 1e-15f

/* Quantise n values to signed levels -nmax..nmax-1 (stored +nmax in L)
 * with weights x^2, trying 19 scales around nmax/max and keeping the one
 * of least weighted squared error. Returns the scale. (ggml's
 * make_qx_quants with rmse_type 1 and no importance weights.) */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
    float amax, max = signed_absmax_gt(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's sub-block search: levels -nmax..nmax-1 (stored +nmax), then up
 * to 5 passes of moving single values to a better level while the
 * weighted (x^2) fit improves. Returns the scale. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
    float amax, max = signed_absmax_gt(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0))
                continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int new_l = imax(-nmax, imin(nmax - 1, nearest_int(x[i] * sl2 / slx)));
            if (new_l == L[i])
                continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                n_changed++;
            }
        }
        if (!n_changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

/* Weighted error of levels L under x ~ scale*L + min: |.| or squared. */
static float fit_error(int n, const float *x, const float *w, const uint8_t *L, float scale, float min, int use_mad)
{
    float err = 0;
    for (int i = 0; i < n; i++) {
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        err += w[i] * diff;
    }
    return err;
}

/* Asymmetric quantisation to levels 0..nmax with x ~ scale*L + min, min
 * <= 0: starts from the range, then tries nstep+1 level spacings, each
 * with the least-squares scale and min for its levels, keeping the best
 * weighted error. Returns scale; *neg_min = -min. (ggml's make_qkx2_quants.) */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                              float rmin, float rdelta, int nstep, int use_mad)
{
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale;
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
    float best = fit_error(n, x, w, L, scale, min, use_mad);
    uint8_t Laux[32];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0))
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = fit_error(n, x, w, Laux, this_scale, this_min, use_mad);
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Pack 256 2-bit levels into the qs layout of Q2_K/Q3_K. */
static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *p = L + 128 * h + l;
            qs[32 * h + l] = (uint8_t)(p[0] | p[32] << 2 | p[64] << 4 | p[96] << 6);
        }
}

/* Q2_K: per 16-value sub-block an asymmetric 2-bit fit; the 16 scales
 * and 16 mins are quantised to 4 bits against d = max/15, dmin = max/15;
 * then every value is re-quantised against the rounded scales. */
static void quant_q2_K(const float *x, struct block_q2_K *b, int64_t nb)
{
    uint8_t L[QK_K];
    float w[16], mins[16], scales[16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++)
                w[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        memset(b[i].scales, 0, 16);
        b[i].d = fp32_to_fp16(0.f);
        b[i].dmin = fp32_to_fp16(0.f);
        if (max_scale > 0) {
            float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; j++)
                b[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            b[i].d = fp32_to_fp16(max_scale / 15.f);
        }
        if (max_min > 0) {
            float iscale = 15.f / max_min;
            for (int j = 0; j < 16; j++)
                b[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            b[i].dmin = fp32_to_fp16(max_min / 15.f);
        }
        for (int j = 0; j < 16; j++) {
            float d = fp16_to_fp32(b[i].d) * (b[i].scales[j] & 15);
            if (!d)
                continue; /* keeps the levels of the first fit */
            float dm = fp16_to_fp32(b[i].dmin) * (b[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)imax(0, imin(3, nearest_int((x[16 * j + l] + dm) / d)));
        }
        pack_2bit(L, b[i].qs);
    }
}

/* Q3_K: per 16-value sub-block a symmetric 3-bit fit; scales to 6 bits
 * (signed, stored +32) against d = max/-32; re-quantise; split the level
 * into 2 low bits (qs) and a high bit (hmask). */
static void quant_q3_K(const float *x, struct block_q3_K *b, int64_t nb)
{
    int8_t L[QK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(b[i].scales, 0, 12);
        b[i].d = fp32_to_fp16(0.f);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = imax(-32, imin(31, (int8_t)nearest_int(iscale * scales[j]))) + 32;
                if (j < 8)
                    b[i].scales[j] = (uint8_t)(l & 15);
                else
                    b[i].scales[j - 8] |= (uint8_t)((l & 15) << 4);
                b[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            b[i].d = fp32_to_fp16(1 / iscale);
        }
        for (int j = 0; j < 16; j++) {
            float d = fp16_to_fp32(b[i].d) * scale_q3_K(j, b[i].scales);
            if (!d)
                continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(imax(-4, imin(3, nearest_int(x[16 * j + l] / d))) + 4);
        }
        uint8_t low[QK_K];
        memset(b[i].hmask, 0, 32);
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 3)
                b[i].hmask[e % 32] |= (uint8_t)(1 << (e / 32));
            low[e] = (uint8_t)(L[e] & 3);
        }
        pack_2bit(low, b[i].qs);
    }
}

/* Q4_K and Q5_K (nmax 15 or 31): per 32-value sub-block an asymmetric
 * fit weighted by rms + |x|; scales and mins to 6 bits against
 * d = max/63, dmin = max/63; re-quantise. Leaves the levels in L. */
static void quant_k4_common(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out,
                            uint16_t *dmin_out, uint8_t s[12], uint8_t L[QK_K])
{
    float w[32], mins[8], scales[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        int ls = imin(63, (uint8_t)nearest_int(inv_scale * scales[j]));
        int lm = imin(63, (uint8_t)nearest_int(inv_min * mins[j]));
        if (j < 4) {
            s[j] = (uint8_t)ls;
            s[j + 4] = (uint8_t)lm;
        } else {
            s[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
            s[j - 4] |= (uint8_t)((ls >> 4) << 6);
            s[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = fp32_to_fp16(max_scale / 63.f);
    *dmin_out = fp32_to_fp16(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        scale_min_k4(j, s, &sc, &mn);
        float d = fp16_to_fp32(*d_out) * sc;
        if (!d)
            continue;
        float dm = fp16_to_fp32(*dmin_out) * mn;
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)imax(0, imin(nmax, nearest_int((x[32 * j + l] + dm) / d)));
    }
}

static void quant_q4_K(const float *x, struct block_q4_K *b, int64_t nb)
{
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        quant_k4_common(x, 15, -1.f, 20, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

static void quant_q5_K(const float *x, struct block_q5_K *b, int64_t nb)
{
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        quant_k4_common(x, 31, -0.5f, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, 32);
        for (int e = 0; e < QK_K; e++)
            b[i].qh[e % 32] |= (uint8_t)((L[e] >> 4) << (e / 32));
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)((L[64 * c + l] & 15) | (L[64 * c + 32 + l] & 15) << 4);
    }
}

/* Q6_K: per 16-value sub-block a symmetric 6-bit fit; the 16 scales to
 * int8 against d = max/-128; re-quantise. */
static void quant_q6_K(const float *x, struct block_q6_K *b, int64_t nb)
{
    int8_t L[QK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = make_qx_quants(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) {
                max_abs = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs < GROUP_MAX_EPS) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        b[i].d = fp32_to_fp16(1 / iscale);
        for (int j = 0; j < 16; j++)
            b[i].scales[j] = (int8_t)imin(127, nearest_int(iscale * scales[j]));
        for (int j = 0; j < 16; j++) {
            float d = fp16_to_fp32(b[i].d) * b[i].scales[j];
            if (!d)
                continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(imax(-32, imin(31, nearest_int(x[16 * j + l] / d))) + 32);
        }
        memset(b[i].ql, 0, sizeof b[i].ql);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, k = e % 128 / 32, l = e % 32;
            b[i].ql[64 * h + 32 * (k & 1) + l] |= (uint8_t)((L[e] & 15) << (k < 2 ? 0 : 4));
            b[i].qh[32 * h + l] |= (uint8_t)((L[e] >> 4) << (2 * k));
        }
    }
}

/* Q8_K, the K-quants' activation format: d = max/-127 (max the signed
 * value of largest magnitude), q = nearest-even(x/d), and the sums of each
 * 16 q that let a dot product apply a weight sub-block's min in one step. */
static void quant_q8_K(const float *x, struct block_q8_K *b, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (!amax) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++)
            b[i].qs[j] = (int8_t)imin(127, nearest_int(iscale * x[j]));
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b[i].qs[16 * j + l];
            b[i].bsums[j] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}

static void dequant_q8_K(const struct block_q8_K *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        for (int j = 0; j < QK_K; j++)
            y[j] = b[i].d * b[i].qs[j];
    }
}

/* ---- dispatch ---- */

void dequantize_row(uint32_t type, const void *src, float *dst, int64_t n)
{
    const struct type_info *ti = type_info(type);
    assert(ti && n % ti->block_elems == 0);
    int64_t nb = n / ti->block_elems;
    const uint16_t *h = src;
    switch (type) {
    case TL_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case TL_F16: for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_fp32(h[i]); break;
    case TL_BF16: for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(h[i]); break;
    case TL_Q4_0: dequant_q4_0(src, dst, nb); break;
    case TL_Q4_1: dequant_q4_1(src, dst, nb); break;
    case TL_Q5_0: dequant_q5_0(src, dst, nb); break;
    case TL_Q5_1: dequant_q5_1(src, dst, nb); break;
    case TL_Q8_0: dequant_q8_0(src, dst, nb); break;
    case TL_IQ4_NL: dequant_iq4_nl(src, dst, nb); break;
    case TL_Q8_1: dequant_q8_1(src, dst, nb); break;
    case TL_Q8_K: dequant_q8_K(src, dst, nb); break;
    case TL_Q2_K: dequant_q2_K(src, dst, nb); break;
    case TL_Q3_K: dequant_q3_K(src, dst, nb); break;
    case TL_Q4_K: dequant_q4_K(src, dst, nb); break;
    case TL_Q5_K: dequant_q5_K(src, dst, nb); break;
    case TL_Q6_K: dequant_q6_K(src, dst, nb); break;
    default: assert(!"dequantize_row: unsupported type"); break;
    }
}

void quantize_row(uint32_t type, const float *src, void *dst, int64_t n)
{
    const struct type_info *ti = type_info(type);
    assert(ti && n % ti->block_elems == 0);
    int64_t nb = n / ti->block_elems;
    uint16_t *h = dst;
    switch (type) {
    case TL_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case TL_F16: for (int64_t i = 0; i < n; i++) h[i] = fp32_to_fp16(src[i]); break;
    case TL_BF16: for (int64_t i = 0; i < n; i++) h[i] = fp32_to_bf16(src[i]); break;
    case TL_Q4_0: quant_q4_0(src, dst, nb); break;
    case TL_Q4_1: quant_q4_1(src, dst, nb); break;
    case TL_Q5_0: quant_q5_0(src, dst, nb); break;
    case TL_Q5_1: quant_q5_1(src, dst, nb); break;
    case TL_Q8_0: quant_q8_0(src, dst, nb); break;
    case TL_IQ4_NL: quant_iq4_nl(src, dst, nb); break;
    case TL_Q8_1: quant_q8_1(src, dst, nb); break;
    case TL_Q8_K: quant_q8_K(src, dst, nb); break;
    case TL_Q2_K: quant_q2_K(src, dst, nb); break;
    case TL_Q3_K: quant_q3_K(src, dst, nb); break;
    case TL_Q4_K: quant_q4_K(src, dst, nb); break;
    case TL_Q5_K: quant_q5_K(src, dst, nb); break;
    case TL_Q6_K: quant_q6_K(src, dst, nb); break;
    default: assert(!"quantize_row: unsupported type"); break;
    }
}
