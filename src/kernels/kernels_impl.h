/* kernels/kernels_impl.h: what every kernel set's file shares (scalar.c,
 * the x86 and NEON families): the 32-element block geometry and the table
 * each set fills. Included by kernel files only. */
#ifndef TINYLLM_KERNELS_IMPL_H
#define TINYLLM_KERNELS_IMPL_H

#include <stddef.h>

#include "kernels/kernels.h"

#define INLINE static inline __attribute__((always_inline))

/* Bytes of one 32-element weight block, and the offset of its low bits. */
INLINE size_t q32_bytes(int type)
{
    switch (type) {
    case TL_Q4_0: return sizeof(struct block_q4_0);
    case TL_IQ4_NL: return sizeof(struct block_iq4_nl);
    case TL_Q4_1: return sizeof(struct block_q4_1);
    case TL_Q5_0: return sizeof(struct block_q5_0);
    case TL_Q5_1: return sizeof(struct block_q5_1);
    default: return sizeof(struct block_q8_0);
    }
}

INLINE size_t q32_qs(int type)
{
    switch (type) {
    case TL_Q4_0: return offsetof(struct block_q4_0, qs);
    case TL_IQ4_NL: return offsetof(struct block_iq4_nl, qs);
    case TL_Q4_1: return offsetof(struct block_q4_1, qs);
    case TL_Q5_0: return offsetof(struct block_q5_0, qs);
    case TL_Q5_1: return offsetof(struct block_q5_1, qs);
    default: return offsetof(struct block_q8_0, qs);
    }
}

/* Q4_1/Q5_1 carry a min and meet Q8_1 activations (with sums); the rest Q8_0. */
INLINE int q32_mins(int type) { return type == TL_Q4_1 || type == TL_Q5_1; }
INLINE int q32_five(int type) { return type == TL_Q5_0 || type == TL_Q5_1; }
INLINE size_t q32_qh(int type) { return type == TL_Q5_0 ? offsetof(struct block_q5_0, qh) : offsetof(struct block_q5_1, qh); }
/* the activation block a 32-element type's products read */
INLINE size_t act_bytes(int type) { return q32_mins(type) ? sizeof(struct block_q8_1) : sizeof(struct block_q8_0); }
INLINE size_t act_qs(int type) { return q32_mins(type) ? offsetof(struct block_q8_1, qs) : offsetof(struct block_q8_0, qs); }

/* K-quants: 256-element super-blocks against Q8_K activations. */
INLINE int is_k(int type) { return type >= TL_Q2_K && type <= TL_Q6_K; }
INLINE size_t k_bytes(int type)
{
    switch (type) {
    case TL_Q2_K: return sizeof(struct block_q2_K);
    case TL_Q3_K: return sizeof(struct block_q3_K);
    case TL_Q4_K: return sizeof(struct block_q4_K);
    case TL_Q5_K: return sizeof(struct block_q5_K);
    default: return sizeof(struct block_q6_K);
    }
}

/* matmul_TYPE for every quantised type: q32(a, r0, r1, TL_...) for the
 * 32-element types, k(a, r0, r1, TL_...) for the K-quants. */
#define KERNELS_QUANT_PRODUCTS(q32, k) \
    static void matmul_q4_0(const struct matmul_args *a, int r0, int r1) { q32(a, r0, r1, TL_Q4_0); } \
    static void matmul_q4_1(const struct matmul_args *a, int r0, int r1) { q32(a, r0, r1, TL_Q4_1); } \
    static void matmul_q5_0(const struct matmul_args *a, int r0, int r1) { q32(a, r0, r1, TL_Q5_0); } \
    static void matmul_q5_1(const struct matmul_args *a, int r0, int r1) { q32(a, r0, r1, TL_Q5_1); } \
    static void matmul_q8_0(const struct matmul_args *a, int r0, int r1) { q32(a, r0, r1, TL_Q8_0); } \
    static void matmul_iq4_nl(const struct matmul_args *a, int r0, int r1) { q32(a, r0, r1, TL_IQ4_NL); } \
    static void matmul_q2_K(const struct matmul_args *a, int r0, int r1) { k(a, r0, r1, TL_Q2_K); } \
    static void matmul_q3_K(const struct matmul_args *a, int r0, int r1) { k(a, r0, r1, TL_Q3_K); } \
    static void matmul_q4_K(const struct matmul_args *a, int r0, int r1) { k(a, r0, r1, TL_Q4_K); } \
    static void matmul_q5_K(const struct matmul_args *a, int r0, int r1) { k(a, r0, r1, TL_Q5_K); } \
    static void matmul_q6_K(const struct matmul_args *a, int r0, int r1) { k(a, r0, r1, TL_Q6_K); }

/* The table entries every set fills alike, from the functions of those
 * names (bf16: the set's BF16 product). */
#define KERNELS_TABLE(bf16) \
    .matmul = { \
        [TL_F32] = matmul_f32, [TL_F16] = matmul_f16, [TL_BF16] = bf16, \
        [TL_Q4_0] = matmul_q4_0, [TL_Q4_1] = matmul_q4_1, \
        [TL_Q5_0] = matmul_q5_0, [TL_Q5_1] = matmul_q5_1, [TL_Q8_0] = matmul_q8_0, \
        [TL_IQ4_NL] = matmul_iq4_nl, \
        [TL_Q2_K] = matmul_q2_K, [TL_Q3_K] = matmul_q3_K, [TL_Q4_K] = matmul_q4_K, \
        [TL_Q5_K] = matmul_q5_K, [TL_Q6_K] = matmul_q6_K, \
    }, \
    .quantize = { \
        [TL_F32] = quantize_f32, [TL_F16] = quantize_f16, [TL_BF16] = quantize_bf16, \
        [TL_Q8_0] = quantize_q8_0, [TL_Q8_1] = quantize_q8_1, [TL_Q8_K] = quantize_q8_K, \
    }, \
    .f32_to_f16 = f32_to_f16, \
    .f16_to_f32 = f16_to_f32, \
    .exp_sum = exp_sum, \
    .swiglu = swiglu

#endif
