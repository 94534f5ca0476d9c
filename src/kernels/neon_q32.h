/* kernels/neon_q32.h: the products of the 32-element block types (Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL) in the NEON sets, over weights as stored
 * (no repacking): four rows per pass, so that the activation blocks load
 * once for four rows and the four rows' sums share one scale multiply.
 * Included by kernels/neon_impl.h after its block decoders; the including
 * set defines dot32 (a 32-byte integer dot, any lane split), dot32_acc (the
 * same added to an accumulator) and
 * NEON_LANE_DOT (1 where sdot by lane exists, for the register-tiled GEMM).
 *
 * A 4-row pass per block: decode the four rows to signed bytes, then per
 * column the four 32-byte dots, their lanes summed across rows by two
 * levels of addp into one vector (lane k = row r + k), converted once and
 * added with the vector of the four rows' scales times the column's. */

enum { Q32_ROWS = 4, Q32_COLS = 8 };

/* Q4_0 decodes to 16 * (nibble - 8): flipping bit 3 of each nibble makes it
 * the two's-complement 4-bit value of nibble - 8, which a shift left by 4
 * (low nibbles) or a mask of the high nibble places in the top of a byte.
 * Three operations for 32 weights; the 16 comes off the row sums at the end. */
INLINE float q32_unit(int type) { return type == TL_Q4_0 ? 1.0f / 16 : 1.0f; }

/* Block w's 32 weights as signed bytes (times 1 / q32_unit): elements 0-15 in *lo, 16-31 in *hi. */
INLINE void q32_decode(int type, const char *w, int8x16_t *lo, int8x16_t *hi)
{
    if (type == TL_Q4_0) {
        uint8x16_t v = veorq_u8(vld1q_u8((const uint8_t *)(w + q32_qs(type))), vdupq_n_u8(0x88));
        *lo = vreinterpretq_s8_u8(vshlq_n_u8(v, 4));
        *hi = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0xf0)));
        return;
    }
    if (q32_five(type)) {
        /* Bit j of qh is element j's fifth bit: a table lookup spreads qh
         * byte j/8 over the 8 lanes of its elements, a test against each
         * lane's own bit gives 0xff where set. Q5_0's value nibble + 16 *
         * bit - 16 is then nibble + (0xf0 where the bit is clear). */
        static const uint8_t lane_bit[16] = { 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128 };
        static const uint8_t byte_lo[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 };
        static const uint8_t byte_hi[16] = { 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3 };
        uint8x16_t h = vreinterpretq_u8_u32(vdupq_n_u32(ld32(w + q32_qh(type))));
        uint8x16_t q = vld1q_u8((const uint8_t *)(w + q32_qs(type)));
        uint8x16_t l = vandq_u8(q, vdupq_n_u8(15)), u = vshrq_n_u8(q, 4);
        uint8x16_t ml = vtstq_u8(vqtbl1q_u8(h, vld1q_u8(byte_lo)), vld1q_u8(lane_bit));
        uint8x16_t mu = vtstq_u8(vqtbl1q_u8(h, vld1q_u8(byte_hi)), vld1q_u8(lane_bit));
        if (type == TL_Q5_0) {
            l = vaddq_u8(l, vbicq_u8(vdupq_n_u8(0xf0), ml));
            u = vaddq_u8(u, vbicq_u8(vdupq_n_u8(0xf0), mu));
        } else {
            l = vorrq_u8(l, vandq_u8(ml, vdupq_n_u8(16)));
            u = vorrq_u8(u, vandq_u8(mu, vdupq_n_u8(16)));
        }
        *lo = vreinterpretq_s8_u8(l);
        *hi = vreinterpretq_s8_u8(u);
        return;
    }
    struct qblock b;
    decode32(type, w, &b);
    *lo = b.q[0];
    *hi = b.q[1];
}

/* The halves at p0..p3 (the four rows' block scales, or mins) as floats. */
INLINE float32x4_t halves4(const char *p0, const char *p1, const char *p2, const char *p3)
{
    uint16x4_t h = vld1_dup_u16((const uint16_t *)p0);
    h = vld1_lane_u16((const uint16_t *)p1, h, 1);
    h = vld1_lane_u16((const uint16_t *)p2, h, 2);
    h = vld1_lane_u16((const uint16_t *)p3, h, 3);
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

/* Lane k = the sum of the four lanes of s[k]. */
INLINE int32x4_t sum_lanes4(int32x4_t s0, int32x4_t s1, int32x4_t s2, int32x4_t s3)
{
    return vpaddq_s32(vpaddq_s32(s0, s1), vpaddq_s32(s2, s3));
}

/* y of rows [r, r + 4) against columns [c0, c0 + C), C <= Q32_COLS: each
 * weight block decodes once for the C columns. The decode (C = 1) case,
 * and the GEMM where there is no sdot by lane. */
INLINE void q32_rows4(const struct matmul_args *a, int type, int r, int c0, int C)
{
    const size_t wb = q32_bytes(type), xb = act_bytes(type), xq = act_qs(type), rs = a->w_row_bytes;
    const char *w = row_at(a->w, rs, (size_t)r), *x[Q32_COLS];
    float32x4_t acc[Q32_COLS], accm[Q32_COLS];
    for (int c = 0; c < C; c++) {
        x[c] = row_at(a->x, a->x_row_bytes, (size_t)(c0 + c));
        acc[c] = accm[c] = vdupq_n_f32(0);
    }
    const int nb = a->n / QK;
    for (int b = 0; b < nb; b++, w += wb) {
        int8x16_t q[4][2];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            q32_decode(type, w + k * rs, &q[k][0], &q[k][1]);
        float32x4_t dw = halves4(w, w + rs, w + 2 * rs, w + 3 * rs), mw = vdupq_n_f32(0);
        if (q32_mins(type))
            mw = halves4(w + 2, w + rs + 2, w + 2 * rs + 2, w + 3 * rs + 2);
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            const char *xc = x[c] + (size_t)b * xb;
            int8x16_t x0 = vld1q_s8((const int8_t *)(xc + xq)), x1 = vld1q_s8((const int8_t *)(xc + xq + 16));
            int32x4_t s = sum_lanes4(dot32(q[0][0], q[0][1], x0, x1), dot32(q[1][0], q[1][1], x0, x1),
                                     dot32(q[2][0], q[2][1], x0, x1), dot32(q[3][0], q[3][1], x0, x1));
            acc[c] = vfmaq_f32(acc[c], vcvtq_f32_s32(s), vmulq_n_f32(dw, f16(xc)));
            if (q32_mins(type))
                accm[c] = vfmaq_n_f32(accm[c], mw, f16(xc + 2));
        }
    }
    for (int c = 0; c < C; c++)
        vst1q_f32(a->y + (size_t)(c0 + c) * a->ldy + r, vfmaq_n_f32(accm[c], acc[c], q32_unit(type)));
}

/* Lane k = the sum of the four lanes of s[k], wrapping. */
INLINE uint32x4_t sum_lanes4u(const int32x4_t s[4])
{
    uint32x4_t a = vpaddq_u32(vreinterpretq_u32_s32(s[0]), vreinterpretq_u32_s32(s[1]));
    uint32x4_t b = vpaddq_u32(vreinterpretq_u32_s32(s[2]), vreinterpretq_u32_s32(s[3]));
    return vpaddq_u32(a, b);
}

/* Decode: y of rows [r, r + 8) against column c, the activation block
 * loaded once for 8 rows. Each row's integer dot runs over all blocks
 * without a reset (a reset is a register copy per row and block, a tenth
 * of the loop); a block's own four row sums are the difference of two
 * consecutive running totals, exact in wrapping 32-bit arithmetic since
 * one block's sum fits in 2^31 whatever the totals wrapped to. */
INLINE void q32_gemv8(const struct matmul_args *a, int type, int r, int c)
{
    const size_t wb = q32_bytes(type), xb = act_bytes(type), xq = act_qs(type), rs = a->w_row_bytes;
    const char *w = row_at(a->w, rs, (size_t)r), *x = row_at(a->x, a->x_row_bytes, (size_t)c);
    int32x4_t run[8];
    uint32x4_t prev[2] = { vdupq_n_u32(0), vdupq_n_u32(0) };
    float32x4_t acc[2] = { vdupq_n_f32(0), vdupq_n_f32(0) }, accm[2] = { vdupq_n_f32(0), vdupq_n_f32(0) };
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        run[k] = vdupq_n_s32(0);
    const int nb = a->n / QK;
    for (int b = 0; b < nb; b++, w += wb, x += xb) {
        int8x16_t x0 = vld1q_s8((const int8_t *)(x + xq)), x1 = vld1q_s8((const int8_t *)(x + xq + 16));
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            int8x16_t lo, hi;
            q32_decode(type, w + k * rs, &lo, &hi);
            run[k] = dot32_acc(run[k], lo, hi, x0, x1);
        }
        float dx = f16(x);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const char *wh = w + 4 * h * rs;
            uint32x4_t t = sum_lanes4u(run + 4 * h);
            int32x4_t s = vreinterpretq_s32_u32(vsubq_u32(t, prev[h]));
            prev[h] = t;
            float32x4_t dw = halves4(wh, wh + rs, wh + 2 * rs, wh + 3 * rs);
            acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(s), vmulq_n_f32(dw, dx));
            if (q32_mins(type))
                accm[h] = vfmaq_n_f32(accm[h], halves4(wh + 2, wh + rs + 2, wh + 2 * rs + 2, wh + 3 * rs + 2),
                                      f16(x + 2));
        }
    }
    float *y = a->y + (size_t)c * a->ldy + r;
    vst1q_f32(y, vfmaq_n_f32(accm[0], acc[0], q32_unit(type)));
    vst1q_f32(y + 4, vfmaq_n_f32(accm[1], acc[1], q32_unit(type)));
}

#if NEON_LANE_DOT
/* The 4 rows' 16-byte vectors v[0..3] (4-byte groups g = 0..3) to t[g] =
 * group g of rows 0, 1, 2, 3: a 4 x 4 transpose of 32-bit lanes. */
INLINE void transpose4(const int8x16_t v[4], int8x16_t t[4])
{
    int32x4_t a = vreinterpretq_s32_s8(v[0]), b = vreinterpretq_s32_s8(v[1]);
    int32x4_t c = vreinterpretq_s32_s8(v[2]), d = vreinterpretq_s32_s8(v[3]);
    int64x2_t ab0 = vreinterpretq_s64_s32(vtrn1q_s32(a, b)), ab1 = vreinterpretq_s64_s32(vtrn2q_s32(a, b));
    int64x2_t cd0 = vreinterpretq_s64_s32(vtrn1q_s32(c, d)), cd1 = vreinterpretq_s64_s32(vtrn2q_s32(c, d));
    t[0] = vreinterpretq_s8_s64(vtrn1q_s64(ab0, cd0));
    t[1] = vreinterpretq_s8_s64(vtrn1q_s64(ab1, cd1));
    t[2] = vreinterpretq_s8_s64(vtrn2q_s64(ab0, cd0));
    t[3] = vreinterpretq_s8_s64(vtrn2q_s64(ab1, cd1));
}

/* The GEMM tile with sdot by lane: rows [r, r + 4) x columns [c0, c0 + C).
 * Each weight block decodes and transposes once for the C columns into
 * t[g] = 4-byte group g of the four rows; then one sdot of t[g] with the
 * column's group g (a lane of its activation vector) adds four products
 * to each row's lane: 8 sdots per column give the four rows' block sums
 * with no summing across lanes. */
INLINE void q32_tile_lane(const struct matmul_args *a, int type, int r, int c0, int C)
{
    const size_t wb = q32_bytes(type), xb = act_bytes(type), xq = act_qs(type), rs = a->w_row_bytes;
    const char *w = row_at(a->w, rs, (size_t)r), *x[Q32_COLS];
    float32x4_t acc[Q32_COLS], accm[Q32_COLS];
    for (int c = 0; c < C; c++) {
        x[c] = row_at(a->x, a->x_row_bytes, (size_t)(c0 + c));
        acc[c] = accm[c] = vdupq_n_f32(0);
    }
    const int nb = a->n / QK;
    for (int b = 0; b < nb; b++, w += wb) {
        int8x16_t lo[4], hi[4], t[8];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            q32_decode(type, w + k * rs, &lo[k], &hi[k]);
        transpose4(lo, t);
        transpose4(hi, t + 4);
        float32x4_t dw = halves4(w, w + rs, w + 2 * rs, w + 3 * rs), mw = vdupq_n_f32(0);
        if (q32_mins(type))
            mw = halves4(w + 2, w + rs + 2, w + 2 * rs + 2, w + 3 * rs + 2);
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            const char *xc = x[c] + (size_t)b * xb;
            int8x16_t x0 = vld1q_s8((const int8_t *)(xc + xq)), x1 = vld1q_s8((const int8_t *)(xc + xq + 16));
            int32x4_t s = vdupq_n_s32(0);
            s = vdotq_laneq_s32(s, t[0], x0, 0);
            s = vdotq_laneq_s32(s, t[1], x0, 1);
            s = vdotq_laneq_s32(s, t[2], x0, 2);
            s = vdotq_laneq_s32(s, t[3], x0, 3);
            s = vdotq_laneq_s32(s, t[4], x1, 0);
            s = vdotq_laneq_s32(s, t[5], x1, 1);
            s = vdotq_laneq_s32(s, t[6], x1, 2);
            s = vdotq_laneq_s32(s, t[7], x1, 3);
            acc[c] = vfmaq_f32(acc[c], vcvtq_f32_s32(s), vmulq_n_f32(dw, f16(xc)));
            if (q32_mins(type))
                accm[c] = vfmaq_n_f32(accm[c], mw, f16(xc + 2));
        }
    }
    for (int c = 0; c < C; c++)
        vst1q_f32(a->y + (size_t)(c0 + c) * a->ldy + r, vfmaq_n_f32(accm[c], acc[c], q32_unit(type)));
}
#endif

/* Decode: rows in eights. Else rows in fours (the rest one at a time); columns in tiles of 8 (sdot by
 * lane) or 4, then one at a time. */
INLINE void matmul_q32(const struct matmul_args *a, int r0, int r1, int type)
{
    int r = r0;
    if (a->nc == 1)
        for (; r + 8 <= r1; r += 8)
            q32_gemv8(a, type, r, 0);
    for (; r + Q32_ROWS <= r1; r += Q32_ROWS) {
        int c = 0;
#if NEON_LANE_DOT
        for (; c + 8 <= a->nc; c += 8)
            q32_tile_lane(a, type, r, c, 8);
        if (c + 4 <= a->nc) {
            q32_tile_lane(a, type, r, c, 4);
            c += 4;
        }
#else
        for (; c + 4 <= a->nc; c += 4)
            q32_rows4(a, type, r, c, 4);
#endif
        for (; c < a->nc; c++)
            q32_rows4(a, type, r, c, 1);
    }
    for (; r < r1; r++)
        for (int c = 0; c < a->nc; c++)
            qrows(a, type, r, 1, c);
}
