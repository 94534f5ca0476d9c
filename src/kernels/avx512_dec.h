/* kernels/avx512_dec.h: the decode kernels (nc == 1) of the avx512 set over the stored
 * quantized layouts: the 32-element types in groups of blocks, the K-quants
 * super-block by super-block. Part of kernels/avx512.c (its ISA flags and
 * definitions), included by it alone. */
#ifndef TINYLLM_KERNELS_AVX512_DEC_H
#define TINYLLM_KERNELS_AVX512_DEC_H

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

#endif
