/* kernels/neon.c: the neon kernel set (baseline AArch64 Advanced SIMD).
 * Weights decode to signed bytes (q - offset), so an integer block dot is
 * signed x signed: here vmull_s8 + vpadalq_s16. The kernels themselves are
 * in kernels/neon_impl.h, shared with kernels/neon_dot.c (sdot). */
#include <arm_neon.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kernels_impl.h"


/* acc += products of 16 signed bytes, summed into four lanes (which lane
 * holds which products differs from sdot; only the lane total is used). */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t x)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(x)));
    return vpadalq_s16(acc, vmull_high_s8(w, x));
}

/* 32 products (w0.x0 + w1.x1) in four lanes: two products per 16-bit lane
 * (vmull + vmlal_high) fit for any bytes but -128 * -128 twice, which no
 * activation holds (they are within +-127); then widened pairwise. */
INLINE int32x4_t dot32(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1)
{
    int16x8_t p = vmlal_high_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), w0, x0);
    int16x8_t q = vmlal_high_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)), w1, x1);
    return vpadalq_s16(vpaddlq_s16(p), q);
}

/* dot32 added to acc. */
INLINE int32x4_t dot32_acc(int32x4_t acc, int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1)
{
    int16x8_t p = vmlal_high_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), w0, x0);
    int16x8_t q = vmlal_high_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)), w1, x1);
    return vpadalq_s16(vpadalq_s16(acc, p), q);
}

#define NEON_LANE_DOT 0
#define NEON_SET kernels_neon
#define NEON_SET_NAME "neon"
#define NEON_SET_NEEDS CPU_NEON
#include "kernels/neon_impl.h"
