/* kernels/neon_x16k.h: the Q4_K products over the x16 layout (format/x16.h)
 * in the NEON sets: the panel of Q8_K activations and the tile of four rows.
 * Included by kernels/neon_x16.h before its drivers; shares its register
 * view of a block column (four rows a register), x16_put16 and x16_dot.
 *
 * A super-block column holds d and dmin as 16 words each, the 12 scale
 * bytes as 3 vectors, qs as 32: vector 8c + g holds bytes 4g..4g+3 of chunk
 * c (qs[32c..32c+31]) of each row, its low nibbles elements 4g..4g+3 of
 * sub-block 2c, its high ones those of sub-block 2c + 1. Four rows' 8
 * registers of one sub-block against the activation's sub-block are then
 * what a Q4_0 block is against its block: one x16_dot, D_s per row.
 *
 * y = dx * (d * sum_s sc_s D_s - dmin * sum_s mn_s B_s), B_s the sum of the
 * activation's sub-block s (|B_s| <= 32 * 127). The 6-bit scales come out
 * of their 12 bytes for four rows at once (byte s % 4 of a lane: sub-block
 * s of that lane's row) and multiply D_s as integers; the mins stay bytes,
 * one more dot's operand against B split as 64 * (B >> 6) + (B & 63), both
 * parts signed bytes. */

enum {
    XKM = NEON_LANE_DOT ? 16 : 64,   /* a column's min operand: B >> 6, B & 63 by sub-block */
    XKC = 8 * XQ + XKM,              /* a column's panel bytes per super-block, before dx */
    XKK = NEON_LANE_DOT ? 16 : 4,    /* super-blocks per K chunk */
    XKP = NEON_LANE_DOT ? 4 : 1,     /* widest K panel (plain NEON: a column's 8
                                        group registers leave room for 1) */
};
/* K panel bytes per super-block for P columns: P columns, then dx for P
 * rounded up to 4 lanes */
#define XK_PB(P) ((P) * XKC + 16 * (((P) + 3) / 4))
_Static_assert((size_t)XKK * XCC * XK_PB(1) <= KERNELS_SCRATCH_BYTES, "x16 K panels fit the scratch");

/* Columns [c, c + P) of a's activation (Q8_K), super-blocks [b0, b0 + kb),
 * as a panel at p: per column the 8 sub-blocks' quants (XQ bytes each),
 * then the min operand. */
static void x16k_panel(char *p, const struct matmul_args *a, int c, int P, int b0, int kb)
{
    for (int b = 0; b < kb; b++, p += XK_PB(P)) {
        float *dx = (float *)(p + P * XKC);
        for (int i = 0; i < P; i++) {
            const struct block_q8_K *x = (const struct block_q8_K *)row_at(a->x, a->x_row_bytes, (size_t)(c + i)) + b0 + b;
            char *o = p + (size_t)i * XKC;
            for (int s = 0; s < 8; s++) {
                x16_put16(o + s * XQ, vld1q_s8(x->qs + 32 * s));
                x16_put16(o + s * XQ + XQ / 2, vld1q_s8(x->qs + 32 * s + 16));
            }
            int8_t m[16];   /* groups: B >> 6 of sub-blocks 0-3, 4-7; B & 63 of 0-3, 4-7 */
            for (int s = 0; s < 8; s++) {
                int B = x->bsums[2 * s] + x->bsums[2 * s + 1], lo = B & 63;
                m[s] = (int8_t)((B - lo) / 64);
                m[8 + s] = (int8_t)lo;
            }
            x16_put16(o + 8 * XQ, vld1q_s8(m));
            dx[i] = x->d;
        }
        for (int i = P; i % 4; i++)
            dx[i] = 0;
    }
}

/* Rows 4q..4q+3's scales and mins from the column's 3 scale vectors at p:
 * byte k of lane i of sc[h] (mn[h]) = sub-block 4h + k's of row 4q + i. */
INLINE void x16k_scales(const char *p, int q, uint8x16_t sc[2], int8x16_t mn[2])
{
    uint8x16_t s0 = load16(p + 16 * q), s1 = load16(p + 64 + 16 * q), s2 = load16(p + 128 + 16 * q);
    uint8x16_t m6 = vdupq_n_u8(63), m2 = vdupq_n_u8(0x30);
    sc[0] = vandq_u8(s0, m6);
    sc[1] = vorrq_u8(vandq_u8(s2, vdupq_n_u8(15)), vandq_u8(vshrq_n_u8(s0, 2), m2));
    mn[0] = as_s8(vandq_u8(s1, m6));
    mn[1] = as_s8(vorrq_u8(vshrq_n_u8(s2, 4), vandq_u8(vshrq_n_u8(s1, 2), m2)));
}

/* Sub-block s's scale of each lane's row (s a constant once unrolled). */
INLINE int32x4_t x16k_scale(const uint8x16_t sc[2], int s)
{
    uint32x4_t v = vreinterpretq_u32_u8(sc[s / 4]), ff = vdupq_n_u32(255);
    switch (s % 4) {
    case 0: return vreinterpretq_s32_u32(vandq_u32(v, ff));
    case 1: return vreinterpretq_s32_u32(vandq_u32(vshrq_n_u32(v, 8), ff));
    case 2: return vreinterpretq_s32_u32(vandq_u32(vshrq_n_u32(v, 16), ff));
    default: return vreinterpretq_s32_u32(vshrq_n_u32(v, 24));
    }
}

#if NEON_LANE_DOT
/* sum_s mn_s B_s of four rows: the min bytes against the column's operand
 * m (lanes: B >> 6 of sub-blocks 0-3, 4-7, B & 63 of 0-3, 4-7). */
INLINE int32x4_t x16k_mins(const int8x16_t mn[2], const char *m)
{
    int8x16_t b = vld1q_s8((const int8_t *)m);
    int32x4_t h = vdotq_laneq_s32(vdupq_n_s32(0), mn[0], b, 0), l = vdotq_laneq_s32(vdupq_n_s32(0), mn[0], b, 2);
    h = vdotq_laneq_s32(h, mn[1], b, 1);
    l = vdotq_laneq_s32(l, mn[1], b, 3);
    return vaddq_s32(l, vshlq_n_s32(h, 6));
}
#else
/* The same with each group repeated (16 bytes each at m): products at most
 * 63 * 64, two to a 16-bit lane. */
INLINE int32x4_t x16k_mins(const int8x16_t mn[2], const char *m)
{
    const int8_t *g = (const int8_t *)m;
    int8x16_t h0 = vld1q_s8(g), h1 = vld1q_s8(g + 16), l0 = vld1q_s8(g + 32), l1 = vld1q_s8(g + 48);
    int16x8_t hl = vmlal_s8(vmull_s8(vget_low_s8(mn[0]), vget_low_s8(h0)), vget_low_s8(mn[1]), vget_low_s8(h1));
    int16x8_t hh = vmlal_high_s8(vmull_high_s8(mn[0], h0), mn[1], h1);
    int16x8_t ll = vmlal_s8(vmull_s8(vget_low_s8(mn[0]), vget_low_s8(l0)), vget_low_s8(mn[1]), vget_low_s8(l1));
    int16x8_t lh = vmlal_high_s8(vmull_high_s8(mn[0], l0), mn[1], l1);
    int32x4_t h = vpaddq_s32(vpaddlq_s16(hl), vpaddlq_s16(hh)), l = vpaddq_s32(vpaddlq_s16(ll), vpaddlq_s16(lh));
    return vaddq_s32(l, vshlq_n_s32(h, 6));
}
#endif

/* Rows 4q..4q+3 of the group whose super-block column (at the chunk's
 * first) is col, against the P <= XKP columns of panel xp (kb
 * super-blocks); y = row 4q of the panel's first column, columns a->ldy
 * apart; = when first, else +=. */
INLINE void x16k_tile(const struct matmul_args *a, const char *col, int q, const char *xp, int kb, int P, float *y,
                      int first)
{
    const size_t cb = X16_COL(block_q4_K);
    float32x4_t acc[XKP];
#pragma GCC unroll 4
    for (int i = 0; i < P; i++)
        acc[i] = vdupq_n_f32(0);
    for (int b = 0; b < kb; b++, col += cb, xp += XK_PB(P)) {
        uint8x16_t sc[2];
        int8x16_t mn[2];
        x16k_scales(col + X16_Q4_K_SC, q, sc, mn);
        int32x4_t si[XKP];
#pragma GCC unroll 4
        for (int i = 0; i < P; i++)
            si[i] = vdupq_n_s32(0);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                int8x16_t v[8];
#pragma GCC unroll 8
                for (int g = 0; g < 8; g++) {
                    uint8x16_t raw = load16(col + X16_Q4_K_QS + 64 * (8 * c + g) + 16 * q);
                    v[g] = as_s8(h ? vshrq_n_u8(raw, 4) : vandq_u8(raw, vdupq_n_u8(15)));
                }
                int32x4_t s = x16k_scale(sc, 2 * c + h);
#pragma GCC unroll 4
                for (int i = 0; i < P; i++) {
                    struct xcol xv;
                    x16_xload(xp + (size_t)i * XKC + (2 * c + h) * XQ, &xv);
                    si[i] = vmlaq_s32(si[i], x16_dot(vdupq_n_s32(0), v, &xv), s);
                }
            }
        }
        float32x4_t d = vcvt_f32_f16(vld1_f16((const __fp16 *)(col + X16_Q4_K_D) + 4 * q));
        float32x4_t dm = vcvt_f32_f16(vld1_f16((const __fp16 *)(col + X16_Q4_K_DMIN) + 4 * q));
        float32x4_t dx = vld1q_f32((const float *)(xp + P * XKC));
#pragma GCC unroll 4
        for (int i = 0; i < P; i++) {
            int32x4_t m = x16k_mins(mn, xp + (size_t)i * XKC + 8 * XQ);
            acc[i] = vfmaq_f32(acc[i], vcvtq_f32_s32(si[i]), mul_lane(d, dx, i));
            acc[i] = vfmsq_f32(acc[i], vcvtq_f32_s32(m), mul_lane(dm, dx, i));
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < P; i++)
        x16_store(y + (size_t)i * a->ldy, acc[i], first);
}
