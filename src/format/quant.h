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

struct block_q4_0 { uint16_t d; uint8_t qs[QK / 2]; };
struct block_q4_1 { uint16_t d, m; uint8_t qs[QK / 2]; };
struct block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; };
struct block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; };
struct block_q8_0 { uint16_t d; int8_t qs[QK]; };
/* IQ4_NL: Q4_0's layout, but each nibble indexes iq4nl_values (a
 * non-linear grid) instead of standing for nibble - 8 */
struct block_iq4_nl { uint16_t d; uint8_t qs[QK / 2]; };
extern const int8_t iq4nl_values[16];
/* activation format for Q4_1/Q5_1: s = d * sum(qs) */
struct block_q8_1 { uint16_t d, s; int8_t qs[QK]; };

struct block_q2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; };
struct block_q3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; };
struct block_q4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; };
struct block_q5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
/* activation format for the K-quants: bsums[j] = sum of qs[16j .. 16j+15] */
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

static_assert(sizeof(struct block_q4_0) == 18, "q4_0");
static_assert(sizeof(struct block_q4_1) == 20, "q4_1");
static_assert(sizeof(struct block_q5_0) == 22, "q5_0");
static_assert(sizeof(struct block_q5_1) == 24, "q5_1");
static_assert(sizeof(struct block_q8_0) == 34, "q8_0");
static_assert(sizeof(struct block_iq4_nl) == 18, "iq4_nl");
static_assert(sizeof(struct block_q8_1) == 36, "q8_1");
static_assert(sizeof(struct block_q2_K) == 84, "q2_K");
static_assert(sizeof(struct block_q3_K) == 110, "q3_K");
static_assert(sizeof(struct block_q4_K) == 144, "q4_K");
static_assert(sizeof(struct block_q5_K) == 176, "q5_K");
static_assert(sizeof(struct block_q6_K) == 210, "q6_K");
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

/* ---- the 16-row interleaved ("x16") layout of Q4_0, IQ4_NL, Q5_0, Q8_0,
 * Q2_K, Q3_K, Q4_K and Q5_K weights ----
 * Made at load for kernel sets with products over it (kernels/kernels.h,
 * matmul_x16): one register then holds a quad of 4 elements of 16 rows, a
 * vpdpbusd against 4 broadcast activation bytes adds into each row's own
 * lane, and no horizontal sums are left. The 16 rows of a group keep their
 * bytes (16 * row_bytes from row 16g) and hold, per block column b, the
 * block's fields in order: f16 words (d, dmin) as 16 words (row i at word
 * i), every other field as 64-byte vectors whose dword i holds 4 bytes of
 * row i:
 *   Q4_0, IQ4_NL: d; qs as 4 vectors, vector j = bytes 4j..4j+3 (elements
 *         4j..4j+3 in the low nibbles, 16+4j..16+4j+3 in the high ones);
 *   Q5_0: d; qh as 1 vector, its bits reordered: element 4j+t's at bit
 *         8t+j, element 16+4j+t's at bit 8t+4+j; qs as Q4_0's;
 *   Q8_0: d; qs as 8 vectors, vector j = qs[4j..4j+3] + 128 (unsigned);
 *   Q4_K: d, dmin; the 12 scale bytes as 3 vectors; qs as 32 vectors;
 *   Q2_K (fields in its block order): the 16 scale/min bytes as 4
 *         vectors, qs as 16, then d, dmin;
 *   Q3_K (fields in its block order): hmask as 8 vectors, qs as 16, the
 *         12 scale bytes as 3, then d;
 *   Q5_K: d, dmin; scales as 3 vectors; qh as 8 vectors (vector l = qh
 *         bytes 4l..4l+3, bit s of a byte: sub-block s); qs as 32 vectors.
 * So a block column is 16 blocks' bytes. */
enum { X16 = 16 };
bool x16_packable(uint32_t type);
/* Rows [0, n_rows) (a multiple of X16) of w, row_bytes apart, to x16 in
 * place; false when out of memory for one group's copy (w unchanged). */
bool pack_x16(uint32_t type, void *w, size_t row_bytes, int n_rows);
/* Row r of packed w, in the type's own layout, into row (row_bytes bytes). */
void unpack_x16_row(uint32_t type, const void *w, size_t row_bytes, int r, void *row);

/* ---- reference quantisation of n floats (multiple of the block size).
 * quantize_row handles every type with supported == 1 plus the activation
 * formats Q8_1 and Q8_K; the file-format quantisers match llama.cpp's
 * quantize_row_*_ref bit for bit where the quantize issue asks for it. ---- */
void quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

#endif
