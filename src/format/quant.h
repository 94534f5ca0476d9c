/* format/quant.h: tensor element types (ggml's ids), their block layouts, scalar
 * conversions, and the reference (de)quantisation every kernel is tested
 * against. Layouts: ../shared/docs/FORMATS.md. */
#ifndef TINYLLM_QUANT_H
#define TINYLLM_QUANT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

/* ggml type ids as stored in GGUF tensor infos. */
enum tl_type {
    TL_F32 = 0, TL_F16 = 1, TL_Q4_0 = 2, TL_Q4_1 = 3,
    TL_Q5_0 = 6, TL_Q5_1 = 7, TL_Q8_0 = 8, TL_Q8_1 = 9,
    TL_Q2_K = 10, TL_Q3_K = 11, TL_Q4_K = 12, TL_Q5_K = 13, TL_Q6_K = 14,
    TL_Q8_K = 15,
    TL_IQ2_XXS = 16, TL_IQ2_XS = 17, TL_IQ3_XXS = 18, TL_IQ1_S = 19,
    TL_IQ4_NL = 20, TL_IQ3_S = 21, TL_IQ2_S = 22, TL_IQ4_XS = 23,
    TL_I8 = 24, TL_I16 = 25, TL_I32 = 26, TL_I64 = 27, TL_F64 = 28,
    TL_IQ1_M = 29, TL_BF16 = 30,
    TL_TYPE_COUNT = 40
};

#define QK 32    /* elements per block of the 32-element types */
#define QK_K 256 /* elements per K-quant super-block */

/* The block layouts, each asserted to its size in bytes in ggml's files. */
struct block_q4_0 { uint16_t d; uint8_t qs[QK / 2]; };
static_assert(sizeof(struct block_q4_0) == 18, "q4_0");
struct block_q4_1 { uint16_t d, m; uint8_t qs[QK / 2]; };
static_assert(sizeof(struct block_q4_1) == 20, "q4_1");
struct block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; };
static_assert(sizeof(struct block_q5_0) == 22, "q5_0");
struct block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; };
static_assert(sizeof(struct block_q5_1) == 24, "q5_1");
struct block_q8_0 { uint16_t d; int8_t qs[QK]; };
static_assert(sizeof(struct block_q8_0) == 34, "q8_0");
/* IQ4_NL: Q4_0's layout, but each nibble indexes iq4nl_values (a
 * non-linear grid) instead of standing for nibble - 8 */
struct block_iq4_nl { uint16_t d; uint8_t qs[QK / 2]; };
static_assert(sizeof(struct block_iq4_nl) == 18, "iq4_nl");
extern const int8_t iq4nl_values[16];
/* activation format for Q4_1/Q5_1: s = d * sum(qs) */
struct block_q8_1 { uint16_t d, s; int8_t qs[QK]; };
static_assert(sizeof(struct block_q8_1) == 36, "q8_1");

struct block_q2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; };
static_assert(sizeof(struct block_q2_K) == 84, "q2_K");
struct block_q3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; };
static_assert(sizeof(struct block_q3_K) == 110, "q3_K");
struct block_q4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; };
static_assert(sizeof(struct block_q4_K) == 144, "q4_K");
struct block_q5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
static_assert(sizeof(struct block_q5_K) == 176, "q5_K");
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
static_assert(sizeof(struct block_q6_K) == 210, "q6_K");
/* activation format for the K-quants: bsums[j] = sum of qs[16j .. 16j+15] */
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };
static_assert(sizeof(struct block_q8_K) == 292, "q8_K");

struct type_info {
    const char *name;       /* "q4_0", "f16", ... as llama.cpp prints them */
    int         block_elems;/* elements per block (1 for float types) */
    int         block_bytes;/* bytes per block */
    int         supported;  /* 1 when tinyllm can compute with it */
    int         act_type;   /* enum tl_type the activation row is converted to
                               before the dot product (F32, F16, BF16, Q8_0,
                               Q8_1, Q8_K); meaningful when supported */
};

/* NULL for an id that is not a known ggml type. Known but unsupported types
 * (IQ*) return an entry with supported == 0 and their name. */
const struct type_info *type_info(uint32_t type);

/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t type_row_bytes(uint32_t type, int64_t n);

/* ---- scalar conversions ---- */
float    fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);         /* round to nearest even, as F16C does */
static inline float bf16_to_fp32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
uint16_t fp32_to_bf16(float f);         /* round to nearest even, NaN kept quiet */

/* ---- reference dequantisation: n elements (a multiple of the block size)
 * from src of the given type into dst. Supported types only. ---- */
void dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);

/* ---- reference quantisation of n floats (multiple of the block size).
 * quantize_row handles every type with supported == 1 plus the activation
 * formats Q8_1 and Q8_K; the file-format quantisers match llama.cpp's
 * quantize_row_*_ref bit for bit where the quantize issue asks for it. ---- */
void quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* the x16 layout of these blocks (after them: it is defined by their fields) */
#include "format/x16.h"

#endif
