/* kernels/avx2_quant.h: the quantized kernels of the avx2 set: decode over the stored
 * layouts, the GEMM tiles (8 rows, vpmaddubsw + vpmaddwd). Part of
 * kernels/avx2.c (its ISA flags and definitions), included by it alone. */
#ifndef TINYLLM_KERNELS_AVX2_QUANT_H
#define TINYLLM_KERNELS_AVX2_QUANT_H

/* ---- 32-element types against Q8_0 / Q8_1 activations ----
 * Weights are made unsigned, u = q + off (Q4_0 nibbles as stored, off 8;
 * Q5_0 off 16; Q4_1/Q5_1 off 0), and sum(q*x) = sum(u*x) - off*sum(x).
 * Q8_0 uses the sign trick instead: |w| times x carrying w's sign. A
 * block's value is d*dx*sum(q*x) (+ m*s with mins). */


INLINE int q32_off(int type) { return type == TL_Q4_0 ? 8 : type == TL_Q5_0 ? 16 : 0; }
/* signed weights (the sign trick): Q8_0, and IQ4_NL whose grid reaches
 * -127..113, too wide for unsigned pair sums in 16 bits */
INLINE int q32_signed(int type) { return type == TL_Q8_0 || type == TL_IQ4_NL; }

/* IQ4_NL's grid in both 128-bit lanes, for vpshufb on nibbles. */
INLINE __m256i iq4nl_lut(void)
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4nl_values));
}

/* 32 bits to 32 bytes: byte j is 16 when bit j of h is set (bit 4 of a
 * 5-bit quant). vpshufb copies byte j/8 of h to byte j, the AND keeps bit
 * j%8 and the compare widens it to the byte. */
INLINE __m256i bits_to_16(uint32_t h)
{
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h),
                                    _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                     2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit), _mm256_set1_epi8(16));
}

/* A weight block as 32 unsigned bytes in element order (Q8_0, IQ4_NL: signed
 * values). qs holds element j in the low nibble of byte j, j+16 in the high. */
INLINE __m256i unpack32(int type, const char *w)
{
    if (type == TL_Q8_0)
        return _mm256_loadu_si256((const __m256i *)(w + q32_qs(type)));
    __m128i q = _mm_loadu_si128((const __m128i *)(w + q32_qs(type)));
    __m256i u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(15));
    if (type == TL_IQ4_NL)
        return _mm256_shuffle_epi8(iq4nl_lut(), u);
    if (q32_five(type))
        u = _mm256_or_si256(u, bits_to_16(ld32(w + q32_qh(type))));
    return u;
}

/* 16-bit pair sums of w (unsigned, or signed for Q8_0 and IQ4_NL) times x. */
INLINE __m256i pair_dot(int type, __m256i w, __m256i x)
{
    if (q32_signed(type)) /* |w| * (x with w's sign): at most 2*128*127 per pair */
        return _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_maddubs_epi16(w, x);
}

enum { MVB = 256 };  /* blocks per K chunk of a prepared activation row */

/* An activation row prepared once per K chunk for decode. */
struct xprep {
    __m256i q[MVB];     /* quants */
    __m256i corr[MVB];  /* off times the quants' pair sums (subtracted) */
    __m256  d[MVB];     /* dx in every lane */
    float   s[MVB];     /* Q8_1 d * sum */
};

INLINE void prep_x(struct xprep *p, int type, const char *x, int nb)
{
    __m256i off = _mm256_set1_epi8((char)q32_off(type));
    for (int b = 0; b < nb; b++, x += act_bytes(type)) {
        p->q[b] = _mm256_loadu_si256((const __m256i *)(x + act_qs(type)));
        p->corr[b] = _mm256_maddubs_epi16(off, p->q[b]);
        p->d[b] = _mm256_set1_ps(_cvtsh_ss(ld16(x)));
        p->s[b] = q32_mins(type) ? _cvtsh_ss(ld16(x + 2)) : 0.0f;
    }
}

/* acc += weight block at w times prepared block b (mins into *accm). */
INLINE __m256 block_dot(int type, const char *w, const struct xprep *p, int b, __m256 acc, float *accm)
{
    __m256i prod = pair_dot(type, unpack32(type, w), p->q[b]);
    if (q32_off(type))
        prod = _mm256_sub_epi16(prod, p->corr[b]);
    __m256i i32 = _mm256_madd_epi16(prod, _mm256_set1_epi16(1));
    __m256 d = _mm256_cvtph_ps(_mm_set1_epi16((short)ld16(w)));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(d, p->d[b]), acc);
    if (q32_mins(type))
        *accm += _cvtsh_ss(ld16(w + 2)) * p->s[b];
    return acc;
}

/* dot of row r with the prepared chunk of nb blocks from byte w0 of the row. */
INLINE float matvec32_row(const struct matmul_args *a, int type, const struct xprep *p, size_t w0, int nb, int r)
{
    size_t bs = q32_bytes(type);
    const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + w0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float accm = 0.0f;
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        prefetch_ahead(w + (size_t)b * bs, 2 * bs);
        acc0 = block_dot(type, w + (size_t)b * bs, p, b, acc0, &accm);
        acc1 = block_dot(type, w + (size_t)(b + 1) * bs, p, b + 1, acc1, &accm);
    }
    if (b < nb)
        acc0 = block_dot(type, w + (size_t)b * bs, p, b, acc0, &accm);
    return hsum(_mm256_add_ps(acc0, acc1)) + accm;
}

/* The nibble types (all but Q8_0) two blocks a step: both blocks' nibbles
 * in one vector (A's 16 bytes | B's), so one AND, one shift and two
 * vpmaddubsw serve both, the low nibbles against (A's x 0-15 | B's x 0-15)
 * and the high against x 16-31, and 128-bit lane j of the sums is block
 * j's (5-bit weights: pair sums within 2*31*128 a half, so the halves add
 * in 16 bits; IQ4_NL's signed grid does not fit and widens each half).
 * 30% fewer instructions than block by block, where the kernel, not
 * memory, set the pace (19-22 GB/s a core). */
INLINE int q32_paired(int type) { return type != TL_Q8_0; }

struct xprep2 {
    __m256i lo[MVB / 2], hi[MVB / 2];   /* x 0-15 | 0-15 and 16-31 | 16-31 of blocks 2i, 2i + 1 */
    __m256i corr[MVB / 2];              /* off times the pair sums of lo and hi together */
    __m256  d[MVB / 2];                 /* dx of block 2i in lanes 0-3, of 2i + 1 in 4-7 */
};

INLINE void prep_x2(struct xprep2 *p, int type, const struct xprep *p1, int nb)
{
    __m256i off = _mm256_set1_epi8((char)q32_off(type));
    for (int i = 0; 2 * i + 1 < nb; i++) {
        __m256i a = p1->q[2 * i], b = p1->q[2 * i + 1];
        p->lo[i] = _mm256_permute2x128_si256(a, b, 0x20);
        p->hi[i] = _mm256_permute2x128_si256(a, b, 0x31);
        if (q32_off(type))
            p->corr[i] = _mm256_add_epi16(_mm256_maddubs_epi16(off, p->lo[i]), _mm256_maddubs_epi16(off, p->hi[i]));
        p->d[i] = _mm256_blend_ps(p1->d[2 * i], p1->d[2 * i + 1], 0xf0);
    }
}

/* acc += weight blocks 2i and 2i + 1 at w times prepared pair i */
INLINE __m256 pair_block_dot(int type, const char *w, const struct xprep2 *p, const struct xprep *p1, int i,
                             __m256 acc, float *accm)
{
    size_t bs = q32_bytes(type), qs = q32_qs(type);
    __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(w + qs))),
                                        _mm_loadu_si128((const __m128i *)(w + bs + qs)), 1);
    __m256i f = _mm256_set1_epi8(15);
    __m256i lo = _mm256_and_si256(q, f), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), f);
    if (q32_five(type)) { /* bits 0-15 of each qh top the low nibbles, 16-31 the high */
        uint32_t ha = ld32(w + q32_qh(type)), hb = ld32(w + bs + q32_qh(type));
        lo = _mm256_or_si256(lo, bits_to_16((ha & 0xffffu) | hb << 16));
        hi = _mm256_or_si256(hi, bits_to_16(ha >> 16 | (hb & 0xffff0000u)));
    }
    __m256i i32;
    if (type == TL_IQ4_NL) { /* grid values to 127 in magnitude: each half widened on its own */
        lo = _mm256_shuffle_epi8(iq4nl_lut(), lo);
        hi = _mm256_shuffle_epi8(iq4nl_lut(), hi);
        i32 = _mm256_add_epi32(_mm256_madd_epi16(pair_dot(type, lo, p->lo[i]), _mm256_set1_epi16(1)),
                               _mm256_madd_epi16(pair_dot(type, hi, p->hi[i]), _mm256_set1_epi16(1)));
    } else {
        __m256i prod = _mm256_add_epi16(_mm256_maddubs_epi16(lo, p->lo[i]), _mm256_maddubs_epi16(hi, p->hi[i]));
        if (q32_off(type))
            prod = _mm256_sub_epi16(prod, p->corr[i]);
        i32 = _mm256_madd_epi16(prod, _mm256_set1_epi16(1));
    }
    __m128i dw = _mm_cvtsi32_si128((int)(ld16(w) | (uint32_t)ld16(w + bs) << 16));
    __m256 d = _mm256_cvtph_ps(_mm_shuffle_epi8(dw, _mm_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3)));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(d, p->d[i]), acc);
    if (q32_mins(type))
        *accm += _cvtsh_ss(ld16(w + 2)) * p1->s[2 * i] + _cvtsh_ss(ld16(w + bs + 2)) * p1->s[2 * i + 1];
    return acc;
}

INLINE float matvec32_row_paired(const struct matmul_args *a, int type, const struct xprep2 *p,
                                 const struct xprep *p1, size_t w0, int nb, int r)
{
    size_t bs = q32_bytes(type);
    const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + w0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float accm = 0.0f;
    int i = 0;
    for (; 2 * i + 3 < nb; i += 2) {
        prefetch_ahead(w + (size_t)(2 * i) * bs, 4 * bs);
        acc0 = pair_block_dot(type, w + (size_t)(2 * i) * bs, p, p1, i, acc0, &accm);
        acc1 = pair_block_dot(type, w + (size_t)(2 * i + 2) * bs, p, p1, i + 1, acc1, &accm);
    }
    if (2 * i + 1 < nb) {
        prefetch_ahead(w + (size_t)(2 * i) * bs, 2 * bs);
        acc0 = pair_block_dot(type, w + (size_t)(2 * i) * bs, p, p1, i, acc0, &accm);
        i++;
    }
    if (2 * i < nb)
        acc1 = block_dot(type, w + (size_t)(2 * i) * bs, p1, 2 * i, acc1, &accm);
    return hsum(_mm256_add_ps(acc0, acc1)) + accm;
}

/* Column c, rows [r0, r1), K in chunks of MVB blocks. */
INLINE void matvec32(const struct matmul_args *a, int type, int c, int r0, int r1)
{
    struct xprep p;
    struct xprep2 p2;
    int nb = a->n / QK;
    const char *x = row_at(a->x, a->x_row_bytes, (size_t)c);
    float *y = a->y + (size_t)c * a->ldy;
    for (int b0 = 0; b0 < nb; b0 += MVB) {
        int kb = imin(MVB, nb - b0);
        prep_x(&p, type, x + (size_t)b0 * act_bytes(type), kb);
        size_t w0 = (size_t)b0 * q32_bytes(type);
        if (q32_paired(type)) {
            prep_x2(&p2, type, &p, kb);
            for (int r = r0; r < r1; r++)
                y[r] = (b0 > 0 ? y[r] : 0.0f) + matvec32_row_paired(a, type, &p2, &p, w0, kb, r);
        } else {
            for (int r = r0; r < r1; r++)
                y[r] = (b0 > 0 ? y[r] : 0.0f) + matvec32_row(a, type, &p, w0, kb, r);
        }
    }
}

/* ---- K-quants against Q8_K activations ----
 * decode_k turns one super-block of a row into registers: u[j] holds
 * elements 32j..32j+31 as unsigned bytes in element order, and element e
 * is worth d * sc[e/16] * (u - off) - dmin * mn[e/16], with integer scales
 * and mins per 16 elements (Q4_K/Q5_K sub-blocks of 32 give both
 * 16-halves the same). Decode applies them in 32 bits: vpmaddubsw pair
 * sums (at most 2*63*128 with off taken out) times the scale words by
 * vpmaddwd, the off and mins terms from the activation's 16-sums. */

struct kdec {
    __m256i u[8];
    __m256i sc, mn;   /* 16 words: the scale and min of each 16-group */
    float   d, dmin;
};



INLINE __m256i load32(const char *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Q4_K/Q5_K: scales, mins and the two super-block factors. */
INLINE void decode_scales_k4(const char *b, struct kdec *k)
{
    k4_scales(b, &k->sc, &k->mn);
    k->d = _cvtsh_ss(ld16(b));
    k->dmin = _cvtsh_ss(ld16(b + 2));
}

/* Q4_K: qs[32c + l] holds element 64c + l (low nibble) and 64c + 32 + l. */
INLINE void decode_q4_K(const char *b, struct kdec *k, size_t qs)
{
    decode_scales_k4(b, k);
    __m256i f = _mm256_set1_epi8(15);
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++) {
        __m256i q = load32(b + qs + 32 * c);
        k->u[2 * c] = _mm256_and_si256(q, f);
        k->u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), f);
    }
}

/* Q5_K: Q4_K plus bit j of qh[l] as bit 4 of element 32j + l. */
INLINE void decode_q5_K(const char *b, struct kdec *k)
{
    decode_q4_K(b, k, offsetof(struct block_q5_K, qs));
    __m256i qh = load32(b + offsetof(struct block_q5_K, qh)), sixteen = _mm256_set1_epi8(16);
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        __m256i bit = j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
        k->u[j] = _mm256_or_si256(k->u[j], _mm256_and_si256(bit, sixteen));
    }
}

/* Q6_K: element 128h + 32s + l: low 4 bits from ql[64h + 32(s&1) + l]
 * (high nibble when s >= 2), high 2 bits from qh[32h + l] >> 2s. */
INLINE void decode_q6_K(const char *b, struct kdec *k)
{
    __m256i f = _mm256_set1_epi8(15), m = _mm256_set1_epi8(0x30);
#pragma GCC unroll 8
    for (int h = 0; h < 2; h++) {
        __m256i qh = load32(b + 128 + 32 * h);
#pragma GCC unroll 8
        for (int s = 0; s < 4; s++) {
            __m256i ql = load32(b + 64 * h + 32 * (s & 1));
            __m256i lo = s < 2 ? _mm256_and_si256(ql, f) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), f);
            __m256i hi = s < 2 ? _mm256_slli_epi16(qh, 4 - 2 * s) : _mm256_srli_epi16(qh, 2 * s - 4);
            k->u[4 * h + s] = _mm256_or_si256(lo, _mm256_and_si256(hi, m));
        }
    }
    k->sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 192)));
    k->mn = _mm256_setzero_si256();
    k->d = _cvtsh_ss(ld16(b + 208));
    k->dmin = 0.0f;
}

/* Q2_K: element 128h + 32s + l = qs[32h + l] >> 2s & 3; scales low nibble, mins high. */
INLINE void decode_q2_K(const char *b, struct kdec *k)
{
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        k->u[j] = _mm256_and_si256(_mm256_srli_epi16(load32(b + 16 + 32 * (j / 4)), 2 * (j % 4)), _mm256_set1_epi8(3));
    q2k_scales(b, &k->sc, &k->mn, &k->d, &k->dmin);
}

/* Q3_K: element 128h + 32s + l = (qs[32h + l] >> 2s & 3) + 4 * hmask bit
 * (4h + s) of byte l, offset 4; 16 signed 6-bit scales: low nibble of
 * byte j (j < 8) or j - 8 (high nibble), 2 high bits from byte 8 + j%4. */
INLINE void decode_q3_K(const char *b, struct kdec *k)
{
    __m256i hm = load32(b), four = _mm256_set1_epi8(4);
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        int h = j / 4, s = j % 4, hb = 4 * h + s;
        __m256i q = _mm256_and_si256(_mm256_srli_epi16(load32(b + 32 + 32 * h), 2 * s), _mm256_set1_epi8(3));
        __m256i hi = hb <= 2 ? _mm256_slli_epi16(hm, 2 - hb) : _mm256_srli_epi16(hm, hb - 2);
        k->u[j] = _mm256_or_si256(q, _mm256_and_si256(hi, four));
    }
    k->sc = q3k_scales(b);
    k->mn = _mm256_setzero_si256();
    k->d = _cvtsh_ss(ld16(b + 108));
    k->dmin = 0.0f;
}

INLINE void decode_k(int type, const char *b, struct kdec *k)
{
    switch (type) {
    case TL_Q2_K: decode_q2_K(b, k); break;
    case TL_Q3_K: decode_q3_K(b, k); break;
    case TL_Q4_K: decode_q4_K(b, k, offsetof(struct block_q4_K, qs)); break;
    case TL_Q5_K: decode_q5_K(b, k); break;
    default: decode_q6_K(b, k); break;
    }
}

/* The 16-group scales as floats, d * sc and -dmin * mn, groups 8h..8h+7 in
 * [h] (the GEMM's tiles keep them per row). */
INLINE void kdec_float_scales(const struct kdec *k, __m256 sc[2], __m256 mn[2])
{
    for (int h = 0; h < 2; h++) {
        __m128i s = h ? _mm256_extracti128_si256(k->sc, 1) : _mm256_castsi256_si128(k->sc);
        __m128i m = h ? _mm256_extracti128_si256(k->mn, 1) : _mm256_castsi256_si128(k->mn);
        sc[h] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(s)), _mm256_set1_ps(k->d));
        mn[h] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(m)), _mm256_set1_ps(-k->dmin));
    }
}

/* dot of the decoded super-block with Q8_K block x:
 * dx * (d * sum_g sc_g * (dot_g - off * bsum_g) - dmin * sum_g mn_g * bsum_g),
 * as 8 float lanes whose sum it is. */
INLINE __m256 kdot(int type, const struct kdec *k, const char *x, __m256 acc)
{
    const char *q = x + offsetof(struct block_q8_K, qs);
    __m256i bsum = _mm256_loadu_si256((const __m256i *)(x + offsetof(struct block_q8_K, bsums)));
    /* both 128-bit lanes the scales of groups 0-7, or of 8-15: vpshufb
     * then moves group 2j's word to the low lane, 2j + 1's to the high */
    __m256i lo = _mm256_permute2x128_si256(k->sc, k->sc, 0x00), hi = _mm256_permute2x128_si256(k->sc, k->sc, 0x11);
    __m256i s = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        int g = 2 * (j % 4);
        __m256i pick = _mm256_set_m128i(_mm_set1_epi16((short)((2 * g + 3) << 8 | (2 * g + 2))),
                                        _mm_set1_epi16((short)((2 * g + 1) << 8 | 2 * g)));
        __m256i sw = _mm256_shuffle_epi8(j < 4 ? lo : hi, pick);
        s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(k->u[j], load32(q + 32 * j)), sw));
    }
    if (k_off(type))   /* the pair sums counted u; the weights are u - off (4 or 32: a shift) */
        s = _mm256_sub_epi32(s, _mm256_slli_epi32(_mm256_madd_epi16(k->sc, bsum), k_off(type) == 32 ? 5 : 2));
    float dx;
    memcpy(&dx, x, 4);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(k->d * dx), acc);
    if (k_mins(type))
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(k->mn, bsum)), _mm256_set1_ps(-k->dmin * dx), acc);
    return acc;
}

/* dot(W row r, x), x a Q8_K row. */
INLINE float matvec_k_row(const struct matmul_args *a, int type, const char *x, int r)
{
    size_t bs = k_bytes(type);
    const char *w = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int nb = a->n / QK_K, b = 0;
    for (; b + 2 <= nb; b += 2) {
        struct kdec k0, k1;
        prefetch_ahead(w + (size_t)b * bs, 2 * bs);
        decode_k(type, w + (size_t)b * bs, &k0);
        acc0 = kdot(type, &k0, x + (size_t)b * sizeof(struct block_q8_K), acc0);
        decode_k(type, w + (size_t)(b + 1) * bs, &k1);
        acc1 = kdot(type, &k1, x + (size_t)(b + 1) * sizeof(struct block_q8_K), acc1);
    }
    if (b < nb) {
        struct kdec k0;
        prefetch_ahead(w + (size_t)b * bs, bs);
        decode_k(type, w + (size_t)b * bs, &k0);
        acc0 = kdot(type, &k0, x + (size_t)b * sizeof(struct block_q8_K), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

/* Column c, rows [r0, r1). */
INLINE void matvec_k(const struct matmul_args *a, int type, int c, int r0, int r1)
{
    const char *x = row_at(a->x, a->x_row_bytes, (size_t)c);
    float *y = a->y + (size_t)c * a->ldy;
    for (int r = r0; r < r1; r++)
        y[r] = matvec_k_row(a, type, x, r);
}

/* ---- matrix-matrix products of the quantised types ----
 * An 8-row tile is repacked so that lane i of every vector is row i: quad
 * e/4 holds elements e..e+3 of each row as unsigned bytes (Q8_0, IQ4_NL: signed).
 * vpmaddubsw against a broadcast of 4 activation bytes gives each lane two
 * 16-bit pair sums, added up over a group of QG quads before vpmaddwd; to
 * keep those sums in 16 bits the weights are taken as u - o with o their
 * midpoint (the group's 16-bit start is -o times the activation pair sums,
 * and (o - off) * sum(x) is added back in 32 bits). */

enum { KE = 1024 };  /* elements per K chunk: 32 blocks of 32 or 4 super-blocks */

struct tileq {
    __m256i q[KE / 4];   /* quad e/4: elements e..e+3 of each row */
    __m256  d[KE / 16];  /* per group: each row's scale */
    __m256  m[KE / 16];  /* per group: each row's min */
};

struct colsq {
    float   d[CC][KE / 16];
    int32_t corr16[CC][KE / 16];  /* -o * pair sums: low half elements 4q, 4q+1 */
    int32_t corr32[CC][KE / 16];  /* (o - off) * sum */
    float   s[CC][KE / 16];
};


INLINE int w_off(int type) { return is_k(type) ? k_off(type) : q32_off(type); }
INLINE int w_mins(int type) { return is_k(type) ? k_mins(type) : q32_mins(type); }

/* The midpoint o of the unsigned weights (see above). */
INLINE int mid_off(int type)
{
    return type == TL_Q5_1 || type == TL_Q5_K ? 16 : w_off(type);
}


/* out[j] 128-bit lane L = dword j of l[0..3] lane L (4x4 dword transposes). */
INLINE void transpose_4x4(const __m256i l[4], __m256i out[4])
{
    __m256i t0 = _mm256_unpacklo_epi32(l[0], l[1]), t1 = _mm256_unpackhi_epi32(l[0], l[1]);
    __m256i t2 = _mm256_unpacklo_epi32(l[2], l[3]), t3 = _mm256_unpackhi_epi32(l[2], l[3]);
    out[0] = _mm256_unpacklo_epi64(t0, t2);
    out[1] = _mm256_unpackhi_epi64(t0, t2);
    out[2] = _mm256_unpacklo_epi64(t1, t3);
    out[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* out[j] lane i = dword j of the 16 bytes at p[i] + off (i < 8, j < 4):
 * l[k] holds rows k and k+4, so the in-lane transpose puts rows 4L..4L+3
 * in 128-bit lane L. */
INLINE void transpose_8x4(const char *const *p, size_t off, __m256i out[4])
{
    __m256i l[4];
    for (int k = 0; k < 4; k++)
        l[k] = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(p[k + 4] + off)),
                                _mm_loadu_si128((const __m128i *)(p[k] + off)));
    transpose_4x4(l, out);
}

/* The integer vector ops of the shared tile packing (x86_gemmq.h's
 * pack32_block): a tile's quads in 8 dword lanes. */
typedef __m256i VI;
INLINE VI vi_and(VI a, VI b) { return _mm256_and_si256(a, b); }
INLINE VI vi_or(VI a, VI b) { return _mm256_or_si256(a, b); }
INLINE VI vi_xor(VI a, VI b) { return _mm256_xor_si256(a, b); }
INLINE VI vi_set1_8(int v) { return _mm256_set1_epi8((char)v); }
INLINE VI vi_set1_32(int v) { return _mm256_set1_epi32(v); }
INLINE VI vi_srli32(VI v, int n) { return _mm256_srli_epi32(v, n); }
INLINE VI vi_slli32(VI v, int n) { return _mm256_slli_epi32(v, n); }
INLINE VI vi_mullo32(VI a, VI b) { return _mm256_mullo_epi32(a, b); }
INLINE VI vi_loadu(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
INLINE VI vi_shuffle8(VI lut, VI v) { return _mm256_shuffle_epi8(lut, v); }
/* TILE f16 words at p as floats */
INLINE VF vf_from_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
/* out[j] lane i = dword j of the 16 bytes at p[i] + off (i < TILE, j < 4) */
INLINE void transpose_rows_x4(const char *const *p, size_t off, VI out[4]) { transpose_8x4(p, off, out); }

#include "kernels/x86_x16.h"

/* Super-block sb of the 8 rows at rows[i] for packk_block: row i's
 * elements in order as unsigned bytes in u[i]; sc[g], mn[g] lane i = row
 * i's scale of 16-group g times d and min times -dmin (two 8x8 register
 * transposes a half). */
INLINE void decode_k_tile(int type, const char *const *rows, int sb, char (*u)[QK_K], VF sc[16], VF mn[16])
{
    for (int i = 0; i < TILE; i++) {
        struct kdec k;
        decode_k(type, rows[i] + (size_t)sb * k_bytes(type), &k);
        for (int j = 0; j < 8; j++)
            _mm256_storeu_si256((__m256i *)(u[i] + 32 * j), k.u[j]);
        __m256 ksc[2], kmn[2];
        kdec_float_scales(&k, ksc, kmn);
        for (int h = 0; h < 2; h++) {
            sc[8 * h + i] = ksc[h];
            mn[8 * h + i] = kmn[h];
        }
    }
    for (int h = 0; h < 2; h++) {
        transpose8(sc + 8 * h);
        transpose8(mn + 8 * h);
    }
}


/* Group data of columns [c0, c0 + cc), elements [e0, e0 + ke). */
INLINE void prep_colsq(struct colsq *ci, const struct matmul_args *a, int type, int c0, int cc, int e0, int ke)
{
    int ge = 4 * qgroup(type), ng = ke / ge, o = mid_off(type);
    for (int c = 0; c < cc; c++) {
        const char *x = row_at(a->x, a->x_row_bytes, (size_t)(c0 + c));
        for (int g = 0; g < ng; g++) {
            int e = e0 + g * ge, lo = 0, hi = 0;
            const int8_t *q = (const int8_t *)(x + act_pos(type, e));
            for (int i = 0; i < ge; i += 4) {
                lo += q[i] + q[i + 1];
                hi += q[i + 2] + q[i + 3];
            }
            ci->corr16[c][g] = (int32_t)((uint32_t)(uint16_t)(-o * lo) | (uint32_t)(uint16_t)(-o * hi) << 16);
            ci->corr32[c][g] = (o - w_off(type)) * (lo + hi);
            if (is_k(type)) {
                memcpy(&ci->d[c][g], x + (size_t)(e / QK_K) * sizeof(struct block_q8_K), 4);
                ci->s[c][g] = ci->d[c][g] * (float)(lo + hi);
            } else {
                const char *xb = x + (size_t)(e / QK) * act_bytes(type);
                ci->d[c][g] = _cvtsh_ss(ld16(xb));
                ci->s[c][g] = q32_mins(type) ? _cvtsh_ss(ld16(xb + 2)) : 0.0f;
            }
        }
    }
}

/* acc[c] += tile * column cf + c over ng groups; x[cf + c] points at that
 * column's chunk. */
INLINE void tileq_cols(const struct tileq *t, const struct colsq *ci, const char *const *x, int ng,
                       int type, int cf, int C, __m256 *acc)
{
    int qg = qgroup(type);
    __m256i ones = _mm256_set1_epi16(1);
    for (int g = 0; g < ng; g++) {
        __m256i s[NCOL];
        size_t o = act_pos(type, g * 4 * qg);
        for (int c = 0; c < C; c++)
            s[c] = q32_signed(type) ? _mm256_setzero_si256() : _mm256_set1_epi32(ci->corr16[cf + c][g]);
        for (int j = 0; j < qg; j++) {
            __m256i w = t->q[g * qg + j];
            if (q32_signed(type)) { /* pair sums reach 2*128*127: to 32 bits at once */
                __m256i aw = _mm256_sign_epi8(w, w);
#pragma GCC unroll 4
                for (int c = 0; c < C; c++) {
                    __m256i xs = _mm256_sign_epi8(bcast4(x[cf + c] + o + 4 * j), w);
                    s[c] = _mm256_add_epi32(s[c], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xs), ones));
                }
            } else {
#pragma GCC unroll 4
                for (int c = 0; c < C; c++)
                    s[c] = _mm256_add_epi16(s[c], _mm256_maddubs_epi16(w, bcast4(x[cf + c] + o + 4 * j)));
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            __m256i i32 = q32_signed(type) ? s[c] : _mm256_madd_epi16(s[c], ones);
            if (mid_off(type) != w_off(type))
                i32 = _mm256_add_epi32(i32, _mm256_set1_epi32(ci->corr32[cf + c][g]));
            __m256 sc = _mm256_mul_ps(t->d[g], _mm256_set1_ps(ci->d[cf + c][g]));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), sc, acc[c]);
            if (w_mins(type))
                acc[c] = _mm256_fmadd_ps(t->m[g], _mm256_set1_ps(ci->s[cf + c][g]), acc[c]);
        }
    }
}

/* The tile of rows [r, r + 8) of a Q4_0 or Q4_K weight in the x16 layout
 * (format/quant.h), elements [e0, e0 + ke): half h = (r / 8) % 2 of each stored
 * 64-byte vector is the tile's quad, as unsigned nibbles (Q4_K's in stored
 * order: vector 8c + l holds quads 16c + l and 16c + 8 + l). */
INLINE void packq_x16(struct tileq *t, const struct matmul_args *a, int type, int r, int e0, int ke)
{
    int h = (r / TILE) % 2;
    __m256i f = _mm256_set1_epi8(15);
    if (type == TL_Q4_K) {
        size_t cb = X16_COL(block_q4_K);
        const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)(r - TILE * h)) + (size_t)(e0 / QK_K) * cb;
        for (int sb = 0; sb < ke / QK_K; sb++, col += cb) {
            __m256i sc[2], mn[2];
            x16_k4_scales(col + X16_Q4_K_SC + 32 * h, sc, mn);
            __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(col + X16_Q4_K_D + 16 * h)));
            __m256 ndmin = _mm256_sub_ps(_mm256_setzero_ps(),
                                         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(col + X16_Q4_K_DMIN + 16 * h))));
            for (int sub = 0; sub < 8; sub++) {
                t->d[sb * 8 + sub] = _mm256_mul_ps(d, x16_k4_byte(sc, sub));
                t->m[sb * 8 + sub] = _mm256_mul_ps(ndmin, x16_k4_byte(mn, sub));
            }
            __m256i *q = t->q + sb * (QK_K / 4);
            for (int c = 0; c < 4; c++)
                for (int l = 0; l < 8; l++) {
                    __m256i v = load32(col + X16_Q4_K_QS + 64 * (8 * c + l) + 32 * h);
                    q[16 * c + l] = _mm256_and_si256(v, f);
                    q[16 * c + 8 + l] = _mm256_and_si256(_mm256_srli_epi16(v, 4), f);
                }
        }
        return;
    }
    size_t cb = X16_COL(block_q4_0);
    const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)(r - TILE * h)) + (size_t)(e0 / QK) * cb;
    for (int b = 0; b < ke / QK; b++, col += cb) {
        t->d[b] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(col + X16_Q4_0_D + 16 * h)));
        t->m[b] = _mm256_setzero_ps();
        __m256i *q = t->q + 8 * b;
        for (int j = 0; j < 4; j++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(col + X16_Q4_0_QS + 64 * j + 32 * h));
            q[j] = _mm256_and_si256(v, f);
            q[j + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), f);
        }
    }
}

/* The GEMM loops over tiles and columns, decode by type, the set's matmul_*. */
#include "kernels/x86_gemmq.h"

#endif
