/* kernels/neon_dot.c: the neon-dot kernel set (AArch64 with the dot product
 * instructions), built for armv8.2-a+dotprod (Makefile): the kernels of
 * kernels/neon_impl.h with the integer block dot done by sdot, each lane
 * summing four signed byte products. */
#include <arm_neon.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kernels_impl.h"


/* acc += products of 16 signed bytes, lane i summing bytes 4i..4i+3. */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t x)
{
    return vdotq_s32(acc, w, x);
}

/* 32 products (w0.x0 + w1.x1) in four lanes. */
INLINE int32x4_t dot32(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1)
{
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
}

/* 32 products (w0.x0 + w1.x1) added to acc's four lanes. */
INLINE int32x4_t dot32_acc(int32x4_t acc, int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1)
{
    return vdotq_s32(vdotq_s32(acc, w0, x0), w1, x1);
}

#define NEON_LANE_DOT 1
#define NEON_SET kernels_neon_dot
#define NEON_SET_NAME "neon-dot"
#define NEON_SET_NEEDS (CPU_NEON | CPU_DOTPROD)
#include "kernels/neon_impl.h"
