/* kernels/neon_x16.h: the products of Q4_0 and Q8_0 weights in the x16
 * layout (format/x16.h) in the NEON sets, made at load as for the x86 sets.
 * Included by kernels/neon_impl.h after kernels/neon_q32.h; NEON_LANE_DOT
 * picks sdot by lane (neon-dot) or vmull (neon).
 *
 * A stored 64-byte vector of a block column is four NEON registers, each
 * one 4-byte group (elements 4j..4j+3) of four consecutive rows, row 4q + i
 * in lane i. sdot by lane adds the four products of such a register with
 * the activation's same 4 bytes (lane j of its vector) into each row's own
 * lane: 8 sdots make four rows' block sums with no sums across lanes and
 * no transpose. Plain NEON multiplies the register by the 4 bytes repeated
 * in every lane (vmull/vmlal, 16 bits) and adds lanes pairwise.
 *
 * Q4_0's nibbles stay unsigned (0..15 are signed bytes as they are): a
 * block's sum is sum(n * x) - 8 * sum(x), and the accumulator starts at
 * the correction. Q8_0 is stored as q + 128 (vpdpbusd's unsigned side):
 * one eor 0x80 per register gives q back.
 *
 * Activations are first copied into a panel of P columns (XP, 4 or 1) per
 * block: P areas of XQ quant bytes (sdot: the 32 quants; plain: the eight
 * 4-byte groups, each repeated over 16 bytes), then the P scales dx and
 * the P corrections, each as whole 4-lane vectors, which the products take
 * by lane. A GEMM tile is four rows (one register of each group) against a
 * panel's P columns. */

enum {
    XQ = NEON_LANE_DOT ? 32 : 128,   /* panel bytes of one column's block quants */
    XK = NEON_LANE_DOT ? 128 : 56,   /* blocks per K chunk (panels of a chunk) */
    XCC = 64,                        /* GEMM columns per chunk */
    XP = NEON_LANE_DOT ? 16 : 4,     /* widest panel (plain NEON: a column's 8
                                        group registers leave room for 4) */
};
/* panel bytes per block for P columns: quants, then dx and corr for P
 * rounded up to 4 lanes */
#define X16_PB(P) ((P) * XQ + 32 * (((P) + 3) / 4))
_Static_assert((size_t)XK * XCC * X16_PB(1) <= KERNELS_SCRATCH_BYTES, "x16 GEMM panels fit the scratch");

/* 16 activation bytes (four 4-byte groups) in the set's panel form: as
 * they are for sdot by lane (16 bytes), each group repeated over 16 bytes
 * for plain NEON (64). */
INLINE void x16_put16(char *o, int8x16_t v)
{
#if NEON_LANE_DOT
    vst1q_s8((int8_t *)o, v);
#else
    int32x4_t w = vreinterpretq_s32_s8(v);
    vst1q_s32((int32_t *)o, vdupq_laneq_s32(w, 0));
    vst1q_s32((int32_t *)o + 4, vdupq_laneq_s32(w, 1));
    vst1q_s32((int32_t *)o + 8, vdupq_laneq_s32(w, 2));
    vst1q_s32((int32_t *)o + 12, vdupq_laneq_s32(w, 3));
#endif
}

/* Columns [c, c + P) of a's activation (Q8_0), blocks [b0, b0 + kb), as a
 * panel at p. corr = -8 * sum(q) for Q4_0, 0 for Q8_0. */
static void x16_panel(char *p, const struct matmul_args *a, int type, int c, int P, int b0, int kb)
{
    for (int b = 0; b < kb; b++, p += X16_PB(P)) {
        float *dx = (float *)(p + P * XQ);
        int32_t *corr = (int32_t *)(dx + 4 * ((P + 3) / 4));
        for (int i = 0; i < P; i++) {
            const struct block_q8_0 *x = (const struct block_q8_0 *)row_at(a->x, a->x_row_bytes, (size_t)(c + i)) + b0 + b;
            int8x16_t x0 = vld1q_s8(x->qs), x1 = vld1q_s8(x->qs + 16);
            x16_put16(p + XQ * i, x0);
            x16_put16(p + XQ * i + XQ / 2, x1);
            dx[i] = f16((const char *)&x->d);
            corr[i] = type == TL_Q4_0 ? -8 * (vaddlvq_s8(x0) + vaddlvq_s8(x1)) : 0;
        }
        for (int i = P; i % 4; i++)
            dx[i] = corr[i] = 0;
    }
}

/* One column's block of a panel in registers. */
struct xcol { int8x16_t v[NEON_LANE_DOT ? 2 : 8]; };

/* Lane c % 4 of v in every lane, and a times it (c is a constant once
 * the column loops unroll). */
INLINE int32x4_t lane_s32(int32x4_t v, int c)
{
    switch (c & 3) {
    case 0: return vdupq_laneq_s32(v, 0);
    case 1: return vdupq_laneq_s32(v, 1);
    case 2: return vdupq_laneq_s32(v, 2);
    default: return vdupq_laneq_s32(v, 3);
    }
}

INLINE float32x4_t mul_lane(float32x4_t a, float32x4_t v, int c)
{
    switch (c & 3) {
    case 0: return vmulq_laneq_f32(a, v, 0);
    case 1: return vmulq_laneq_f32(a, v, 1);
    case 2: return vmulq_laneq_f32(a, v, 2);
    default: return vmulq_laneq_f32(a, v, 3);
    }
}

INLINE void x16_xload(const char *p, struct xcol *x)
{
    for (int j = 0; j < (NEON_LANE_DOT ? 2 : 8); j++)
        x->v[j] = vld1q_s8((const int8_t *)p + 16 * j);
}

/* Rows 4q..4q+3 of block column col as 8 registers: v[j] lane i = elements
 * 4j..4j+3 of row 4q + i (Q4_0: nibbles 0..15; Q8_0: q). */
INLINE void x16_quad(int type, const char *col, int q, int8x16_t v[8])
{
    if (type == TL_Q4_0) {
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            uint8x16_t u = vld1q_u8((const uint8_t *)(col + X16_Q4_0_QS + 64 * j + 16 * q));
            v[j] = vreinterpretq_s8_u8(vandq_u8(u, vdupq_n_u8(15)));
            v[4 + j] = vreinterpretq_s8_u8(vshrq_n_u8(u, 4));
        }
        return;
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        v[j] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8((const uint8_t *)(col + X16_Q8_0_QS + 64 * j + 16 * q)),
                                            vdupq_n_u8(0x80)));
}

#if NEON_LANE_DOT
/* s + the four rows' block sums: v[j] against the column's group j. Both
 * activation registers are used from the first pair of sdots on, so that
 * the compiler loads them as one pair (one ldp a column). */
INLINE int32x4_t x16_dot(int32x4_t s, const int8x16_t v[8], const struct xcol *x)
{
    s = vdotq_laneq_s32(s, v[0], x->v[0], 0);
    s = vdotq_laneq_s32(s, v[4], x->v[1], 0);
    s = vdotq_laneq_s32(s, v[1], x->v[0], 1);
    s = vdotq_laneq_s32(s, v[5], x->v[1], 1);
    s = vdotq_laneq_s32(s, v[2], x->v[0], 2);
    s = vdotq_laneq_s32(s, v[6], x->v[1], 2);
    s = vdotq_laneq_s32(s, v[3], x->v[0], 3);
    return vdotq_laneq_s32(s, v[7], x->v[1], 3);
}
#else
/* The same by 16-bit products: lane 4k + t of lo (rows 0, 1) and hi (rows
 * 2, 3) sums byte t of row k's 8 groups, at most 8 * 15 * 127 for Q4_0's
 * nibbles (the only type this set repacks); two pairwise adds reduce. */
INLINE int32x4_t x16_dot(int32x4_t s, const int8x16_t v[8], const struct xcol *x)
{
    int16x8_t lo = vmull_s8(vget_low_s8(v[0]), vget_low_s8(x->v[0])), hi = vmull_high_s8(v[0], x->v[0]);
#pragma GCC unroll 8
    for (int j = 1; j < 8; j++) {
        lo = vmlal_s8(lo, vget_low_s8(v[j]), vget_low_s8(x->v[j]));
        hi = vmlal_high_s8(hi, v[j], x->v[j]);
    }
    return vaddq_s32(s, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
}
#endif

/* y + 4q (rows of one column) = or += acc[q]. */
INLINE void x16_store(float *y, float32x4_t acc, int first)
{
    vst1q_f32(y, first ? acc : vaddq_f32(acc, vld1q_f32(y)));
}

/* Decode: rows [r0, r1) (groups of 16) of blocks [b0, b0 + kb) against the
 * one-column panel xp, into y (row r at y[r]); = when first, else +=. */
INLINE void x16_gemv(const struct matmul_args *a, int type, const char *xp, int b0, int kb, float *y, int r0, int r1,
                     int first)
{
    const size_t cb = X16 * q32_bytes(type);
    for (int r = r0; r < r1; r += X16) {
        const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)b0 * cb, *x = xp;
        float32x4_t acc[4] = { vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0) };
        for (int b = 0; b < kb; b++, col += cb, x += X16_PB(1)) {
            struct xcol xv;
            x16_xload(x, &xv);
            float32x4_t dx = vld1q_f32((const float *)(x + XQ));
            int32x4_t corr = lane_s32(vld1q_s32((const int32_t *)(x + XQ + 16)), 0);
            float16x8_t d0 = vld1q_f16((const __fp16 *)col), d1 = vld1q_f16((const __fp16 *)col + 8);
            float32x4_t dw[4] = { vcvt_f32_f16(vget_low_f16(d0)), vcvt_high_f32_f16(d0),
                                  vcvt_f32_f16(vget_low_f16(d1)), vcvt_high_f32_f16(d1) };
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                int8x16_t v[8];
                x16_quad(type, col, q, v);
                int32x4_t s = x16_dot(corr, v, &xv);
                acc[q] = vfmaq_f32(acc[q], vcvtq_f32_s32(s), mul_lane(dw[q], dx, 0));
            }
        }
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
            x16_store(y + r + 4 * q, acc[q], first);
    }
}

/* GEMM tile: rows 4q..4q+3 of the group whose block column (at the
 * chunk's first block) is col, against the P columns of panel xp (kb
 * blocks); y = row 4q of the panel's first column, columns a->ldy apart. */
INLINE void x16_tile(const struct matmul_args *a, int type, const char *col, int q, const char *xp, int kb, int P,
                     float *y, int first)
{
    const size_t cb = X16 * q32_bytes(type);
    float32x4_t acc[XP];
#pragma GCC unroll 16
    for (int c = 0; c < P; c++)
        acc[c] = vdupq_n_f32(0);
    for (int b = 0; b < kb; b++, col += cb, xp += X16_PB(P)) {
        int8x16_t v[8];
        x16_quad(type, col, q, v);
        float32x4_t dw = vcvt_f32_f16(vld1_f16((const __fp16 *)col + 4 * q));
        const float *dxp = (const float *)(xp + P * XQ);
        const int32_t *corrp = (const int32_t *)(dxp + 4 * ((P + 3) / 4));
#pragma GCC unroll 16
        for (int h = 0; h < (P + 3) / 4; h++) {
            /* a group's dx and corr are loaded when it starts, not all
             * ahead: 16 accumulators leave no room for 8 more registers */
            __asm__ volatile("" ::: "memory");
            float32x4_t dx = vld1q_f32(dxp + 4 * h);
            int32x4_t corr = vld1q_s32(corrp + 4 * h);
#pragma GCC unroll 4
            for (int c = 4 * h; c < imin(P, 4 * h + 4); c++) {
                struct xcol xv;
                x16_xload(xp + XQ * c, &xv);
                int32x4_t s = x16_dot(lane_s32(corr, c), v, &xv);
                acc[c] = vfmaq_f32(acc[c], vcvtq_f32_s32(s), mul_lane(dw, dx, c));
            }
        }
    }
#pragma GCC unroll 16
    for (int c = 0; c < P; c++)
        x16_store(y + (size_t)c * a->ldy, acc[c], first);
}

#include "kernels/neon_x16k.h"

/* ---- the drivers, by type (Q4_0, Q8_0: blocks of 32; Q4_K: super-blocks) ---- */

INLINE int x16_chunk(int type) { return is_k(type) ? XKK : XK; }          /* blocks per K chunk */
INLINE int x16_widest(int type) { return is_k(type) ? XKP : XP; }         /* widest panel */
INLINE size_t x16_pb(int type, int P) { return is_k(type) ? XK_PB(P) : X16_PB(P); }
INLINE size_t x16_col_bytes(int type) { return is_k(type) ? X16_COL(block_q4_K) : X16 * q32_bytes(type); }

INLINE void x16_panel_of(char *p, const struct matmul_args *a, int type, int c, int P, int b0, int kb)
{
    if (is_k(type))
        x16k_panel(p, a, c, P, b0, kb);
    else
        x16_panel(p, a, type, c, P, b0, kb);
}

/* A tile of P <= x16_widest(type) columns (P a constant). */
INLINE void x16_tile_of(const struct matmul_args *a, int type, const char *col, int q, const char *xp, int kb, int P,
                        float *y, int first)
{
    if (is_k(type))
        x16k_tile(a, col, q, xp, kb, P, y, first);
    else
        x16_tile(a, type, col, q, xp, kb, P, y, first);
}

enum { X16_STACK = XK * X16_PB(1) > XKK * XK_PB(1) ? XK * X16_PB(1) : XKK * XK_PB(1) };

/* Column c alone (the decode): its panel on the stack; the 32-element
 * types through x16_gemv (the activation block loaded once for 16 rows),
 * Q4_K through the one-column tile. */
INLINE void x16_column(const struct matmul_args *a, int type, int c, int r0, int r1)
{
    _Alignas(16) char p[X16_STACK];
    const int nb = a->n / type_info((uint32_t)type)->block_elems, kc = x16_chunk(type);
    const size_t cb = x16_col_bytes(type);
    float *y = a->y + (size_t)c * a->ldy;
    for (int b0 = 0; b0 < nb; b0 += kc) {
        int kb = imin(kc, nb - b0);
        x16_panel_of(p, a, type, c, 1, b0, kb);
        if (!is_k(type)) {
            x16_gemv(a, type, p, b0, kb, y, r0, r1, b0 == 0);
            continue;
        }
        for (int r = r0; r < r1; r += X16) {
            const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)b0 * cb;
            for (int q = 0; q < 4; q++)
                x16k_tile(a, col, q, p, kb, 1, y + r + 4 * q, b0 == 0);
        }
    }
}

/* The GEMM over panels in the scratch: per K chunk and chunk of columns,
 * the panels (the widest, then 4, then 1), then every tile of 4 rows
 * against each panel. */
INLINE void x16_gemm(const struct matmul_args *a, int type, char *buf, int r0, int r1)
{
    const size_t cb = x16_col_bytes(type);
    const int nb = a->n / type_info((uint32_t)type)->block_elems, kc = x16_chunk(type), wide = x16_widest(type);
    for (int b0 = 0; b0 < nb; b0 += kc) {
        int kb = imin(kc, nb - b0);
        for (int c0 = 0; c0 < a->nc; c0 += XCC) {
            int cc = imin(XCC, a->nc - c0), np = 0, pw[XCC], pc[XCC];
            const char *pp[XCC];
            char *p = buf;
            for (int c = 0; c < cc; c += pw[np++]) {
                pw[np] = cc - c >= wide ? wide : cc - c >= 4 ? 4 : 1;
                pc[np] = c0 + c;
                pp[np] = p;
                x16_panel_of(p, a, type, c0 + c, pw[np], b0, kb);
                p += (size_t)kb * x16_pb(type, pw[np]);
            }
            for (int r = r0; r < r1; r += X16) {
                const char *col = (const char *)row_at(a->w, a->w_row_bytes, (size_t)r) + (size_t)b0 * cb;
                for (int q = 0; q < 4; q++)
                    for (int i = 0; i < np; i++) {
                        float *y = a->y + (size_t)pc[i] * a->ldy + r + 4 * q;
                        if (wide == 16 && pw[i] == 16)
                            x16_tile_of(a, type, col, q, pp[i], kb, 16, y, b0 == 0);
                        else if (wide >= 4 && pw[i] == 4)
                            x16_tile_of(a, type, col, q, pp[i], kb, 4, y, b0 == 0);
                        else if (wide == 2 && pw[i] == 2)
                            x16_tile_of(a, type, col, q, pp[i], kb, 2, y, b0 == 0);
                        else
                            x16_tile_of(a, type, col, q, pp[i], kb, 1, y, b0 == 0);
                    }
            }
        }
    }
}

/* Rows [r0, r1) (multiples of X16) of a product over x16 weights. Without
 * scratch and no memory for one, column by column. */
INLINE void matmul_x16(const struct matmul_args *a, int r0, int r1, int type)
{
    if (a->nc == 1) {
        x16_column(a, type, 0, r0, r1);
        return;
    }
    void *own = a->scratch ? NULL : aligned_alloc(64, KERNELS_SCRATCH_BYTES);
    char *buf = a->scratch ? a->scratch : own;
    if (!buf) {
        for (int c = 0; c < a->nc; c++)
            x16_column(a, type, c, r0, r1);
        return;
    }
    x16_gemm(a, type, buf, r0, r1);
    free(own);
}

static void matmul_x16_q4_0(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q4_0); }
static void matmul_x16_q4_K(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q4_K); }
#if NEON_LANE_DOT
static void matmul_x16_q8_0(const struct matmul_args *a, int r0, int r1) { matmul_x16(a, r0, r1, TL_Q8_0); }
#define NEON_X16_TABLE \
    .matmul_x16 = { [TL_Q4_0] = matmul_x16_q4_0, [TL_Q8_0] = matmul_x16_q8_0, [TL_Q4_K] = matmul_x16_q4_K }
#else
#define NEON_X16_TABLE .matmul_x16 = { [TL_Q4_0] = matmul_x16_q4_0, [TL_Q4_K] = matmul_x16_q4_K }
#endif
