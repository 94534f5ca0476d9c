/* kernels/neon_k45.h: the decode dot of one Q4_K or Q5_K super-block with a
 * Q8_K activation block in the NEON sets, straight from the block (no
 * struct kblock in between). Included by kernels/neon_impl.h, which has
 * dot32 from the including set.
 *
 * The 8 six-bit scales and 8 mins come out of their 12 packed bytes s[]
 * (j < 4: low 6 bits of s[j] and s[j+4]; j >= 4: nibbles of s[j+4] topped
 * by the high 2 bits of s[j-4] and s[j]) in one 16-lane pass: lanes 0-7
 * the scales, 8-15 the mins. Each 32-element sub-block's dot then goes to
 * its scale by a multiply-add by lane, and the mins meet the activation's
 * per-32 sums (pairs of its per-16 bsums) in one widening dot. */

/* y = dx * (d * sum_j sc_j * dot_j - dmin * sum_j mn_j * bsum_j), as kdot. */
INLINE float kdot_q45(int type, const char *b, const char *x)
{
    static const uint8_t pick_lo[16] = { 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11 };
    static const uint8_t pick_hi[16] = { 255, 255, 255, 255, 0, 1, 2, 3, 255, 255, 255, 255, 4, 5, 6, 7 };
    static const int8_t nib_shift[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -4, -4, -4, -4 };
    static const uint8_t keep[16] = { 63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15 };
    /* the 12 scale bytes at offset 4 and 4 bytes of what follows (unused) */
    uint8x16_t s = load16(b + offsetof(struct block_q4_K, scales));
    uint8x16_t t = vandq_u8(vshlq_u8(vqtbl1q_u8(s, vld1q_u8(pick_lo)), vld1q_s8(nib_shift)), vld1q_u8(keep));
    uint8x16_t u = vshrq_n_u8(vandq_u8(vqtbl1q_u8(s, vld1q_u8(pick_hi)), vdupq_n_u8(0xc0)), 2);
    uint8x16_t sm = vorrq_u8(t, u);
    uint16x8_t sc16 = vmovl_u8(vget_low_u8(sm));
    int32x4_t sc[2] = { vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(sc16))),
                        vreinterpretq_s32_u32(vmovl_high_u16(sc16)) };
    int16x8_t mn = vreinterpretq_s16_u16(vmovl_high_u8(sm));

    const size_t qs = type == TL_Q4_K ? offsetof(struct block_q4_K, qs) : offsetof(struct block_q5_K, qs);
    const int8_t *xq = (const int8_t *)(x + offsetof(struct block_q8_K, qs));
    uint8x16_t qh[2] = { vdupq_n_u8(0), vdupq_n_u8(0) };
    if (type == TL_Q5_K) {
        qh[0] = load16(b + offsetof(struct block_q5_K, qh));
        qh[1] = load16(b + offsetof(struct block_q5_K, qh) + 16);
    }
    int32x4_t acc = vdupq_n_s32(0);
    /* chunk c: qs[32c + l] holds element 64c + l (low nibble, sub-block 2c)
     * and 64c + 32 + l (high, 2c + 1); Q5_K's bit 4 is bit 2c / 2c+1 of qh[l]. */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        uint8x16_t lo[2], hi[2];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            uint8x16_t q = load16(b + qs + 32 * c + 16 * h);
            lo[h] = vandq_u8(q, vdupq_n_u8(15));
            hi[h] = vshrq_n_u8(q, 4);
            if (type == TL_Q5_K) {
                lo[h] = vorrq_u8(lo[h], vandq_u8(vtstq_u8(qh[h], vdupq_n_u8((uint8_t)(1 << 2 * c))), vdupq_n_u8(16)));
                hi[h] = vorrq_u8(hi[h], vandq_u8(vtstq_u8(qh[h], vdupq_n_u8((uint8_t)(2 << 2 * c))), vdupq_n_u8(16)));
            }
        }
        const int8_t *xc = xq + 64 * c;
        int32x4_t dl = dot32(as_s8(lo[0]), as_s8(lo[1]), vld1q_s8(xc), vld1q_s8(xc + 16));
        int32x4_t dh = dot32(as_s8(hi[0]), as_s8(hi[1]), vld1q_s8(xc + 32), vld1q_s8(xc + 48));
        /* sub-blocks 2c and 2c + 1: lanes 2c % 4 and 2c % 4 + 1 of sc[c / 2] */
        if (c % 2 == 0) {
            acc = vmlaq_laneq_s32(acc, dl, sc[c / 2], 0);
            acc = vmlaq_laneq_s32(acc, dh, sc[c / 2], 1);
        } else {
            acc = vmlaq_laneq_s32(acc, dl, sc[c / 2], 2);
            acc = vmlaq_laneq_s32(acc, dh, sc[c / 2], 3);
        }
    }
    const int16_t *bs = (const int16_t *)(x + offsetof(struct block_q8_K, bsums));
    int16x8_t b32 = vpaddq_s16(vld1q_s16(bs), vld1q_s16(bs + 8));   /* per-32 sums, |.| <= 4064 */
    int32x4_t m = vmlal_high_s16(vmull_s16(vget_low_s16(mn), vget_low_s16(b32)), mn, b32);
    float dx;
    memcpy(&dx, x, 4);
    return dx * f16(b) * (float)vaddvq_s32(acc) - dx * f16(b + 2) * (float)vaddvq_s32(m);
}
