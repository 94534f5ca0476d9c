/* format/x16.h: the 16-row interleaved ("x16") layout of Q4_0, IQ4_NL, Q5_0,
 * Q8_0, Q2_K, Q3_K, Q4_K and Q5_K weights, defined once: by the fields of
 * the block structs (format/quant.h), from which both the packer
 * (format/x16.c) and the kernels (kernels/avx2.c, kernels/avx512.c) take
 * every offset. Included by format/quant.h after the block structs. */
#ifndef TINYLLM_X16_H
#define TINYLLM_X16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/quant.h"

/* Made at load for kernel sets with products over it (kernels/kernels.h,
 * matmul_x16): one register then holds a quad of 4 elements of 16 rows, a
 * vpdpbusd against 4 broadcast activation bytes adds into each row's own
 * lane, and no horizontal sums are left. The 16 rows of a group keep their
 * bytes (16 * row_bytes from row 16g), and block column b (the 16 rows'
 * block b, 16 * block bytes) holds the block's fields in block order, field
 * f from byte X16 * offsetof(block, f) of the column:
 *   - f16 words (d, dmin) as 16 words: row i's at word i (byte 2i);
 *   - every other field as 64-byte vectors, vector j holding bytes
 *     4j..4j+3 of the field of row i in its dword i (byte 64j + 4i).
 * Per type (the kernels' view):
 *   Q4_0, IQ4_NL: d; qs as 4 vectors, vector j = bytes 4j..4j+3 (elements
 *         4j..4j+3 in the low nibbles, 16+4j..16+4j+3 in the high ones);
 *   Q5_0: d; qh as 1 vector, its bits reordered: element 4j+t's at bit
 *         8t+j, element 16+4j+t's at bit 8t+4+j; qs as Q4_0's;
 *   Q8_0: d; qs as 8 vectors, vector j = qs[4j..4j+3] + 128 (unsigned);
 *   Q4_K: d, dmin; the 12 scale bytes as 3 vectors; qs as 32 vectors;
 *   Q2_K: the 16 scale/min bytes as 4 vectors, qs as 16, then d, dmin;
 *   Q3_K: hmask as 8 vectors, qs as 16, the 12 scale bytes as 3, then d;
 *   Q5_K: d, dmin; scales as 3 vectors; qh as 8 vectors (vector l = qh
 *         bytes 4l..4l+3, bit s of a byte: sub-block s); qs as 32 vectors.
 * Q8_0's +128 and Q5_0's qh order are the only value changes. */
enum { X16 = 16 };

/* Byte offset of a field's data in an x16 block column. */
#define X16_AT(blk, field) (X16 * offsetof(struct blk, field))
/* Bytes of an x16 block column. */
#define X16_COL(blk) (X16 * sizeof(struct blk))

/* Every offset the kernels use, by type and field. */
enum {
    X16_Q4_0_D = X16_AT(block_q4_0, d), X16_Q4_0_QS = X16_AT(block_q4_0, qs),
    X16_IQ4_NL_D = X16_AT(block_iq4_nl, d), X16_IQ4_NL_QS = X16_AT(block_iq4_nl, qs),
    X16_Q5_0_D = X16_AT(block_q5_0, d), X16_Q5_0_QH = X16_AT(block_q5_0, qh),
    X16_Q5_0_QS = X16_AT(block_q5_0, qs),
    X16_Q8_0_D = X16_AT(block_q8_0, d), X16_Q8_0_QS = X16_AT(block_q8_0, qs),
    X16_Q2_K_SC = X16_AT(block_q2_K, scales), X16_Q2_K_QS = X16_AT(block_q2_K, qs),
    X16_Q2_K_D = X16_AT(block_q2_K, d), X16_Q2_K_DMIN = X16_AT(block_q2_K, dmin),
    X16_Q3_K_HMASK = X16_AT(block_q3_K, hmask), X16_Q3_K_QS = X16_AT(block_q3_K, qs),
    X16_Q3_K_SC = X16_AT(block_q3_K, scales), X16_Q3_K_D = X16_AT(block_q3_K, d),
    X16_Q4_K_D = X16_AT(block_q4_K, d), X16_Q4_K_DMIN = X16_AT(block_q4_K, dmin),
    X16_Q4_K_SC = X16_AT(block_q4_K, scales), X16_Q4_K_QS = X16_AT(block_q4_K, qs),
    X16_Q5_K_D = X16_AT(block_q5_K, d), X16_Q5_K_DMIN = X16_AT(block_q5_K, dmin),
    X16_Q5_K_SC = X16_AT(block_q5_K, scales), X16_Q5_K_QH = X16_AT(block_q5_K, qh),
    X16_Q5_K_QS = X16_AT(block_q5_K, qs),
};

/* What the kernels read without naming a field: the 32-element types keep
 * d first (the Q4_0 decode and tiles read it at the column start) and the
 * quants last, Q4_0's, IQ4_NL's and Q8_0's right after d; the 4-bit
 * K-types' dmin words follow d's, their 3 scale vectors follow dmin, and
 * Q4_K's and Q5_K's qs (32 vectors) end the column; Q2_K's d and dmin end
 * theirs. A layout change that breaks one of these fails here, not in a
 * kernel's numbers. */
_Static_assert(X16_Q4_0_D == 0 && X16_Q4_0_QS == 2 * X16, "x16 q4_0");
_Static_assert(X16_IQ4_NL_D == 0 && X16_IQ4_NL_QS == X16_Q4_0_QS, "x16 iq4_nl reads as q4_0");
_Static_assert(X16_Q8_0_D == 0 && X16_Q8_0_QS == 2 * X16 && X16_COL(block_q8_0) == X16_Q8_0_QS + 8 * 64, "x16 q8_0");
_Static_assert(X16_Q5_0_D == 0 && X16_Q5_0_QH == 2 * X16 && X16_Q5_0_QS == X16_Q5_0_QH + 64, "x16 q5_0");
_Static_assert(X16_Q4_K_D == 0 && X16_Q4_K_DMIN == 2 * X16 && X16_Q4_K_SC == 4 * X16 &&
               X16_Q4_K_QS == X16_Q4_K_SC + 3 * 64 && X16_COL(block_q4_K) == X16_Q4_K_QS + 32 * 64, "x16 q4_k");
_Static_assert(X16_Q5_K_D == 0 && X16_Q5_K_DMIN == 2 * X16 && X16_Q5_K_SC == 4 * X16 &&
               X16_Q5_K_QH == X16_Q5_K_SC + 3 * 64 && X16_Q5_K_QS == X16_Q5_K_QH + 8 * 64 &&
               X16_COL(block_q5_K) == X16_Q5_K_QS + 32 * 64, "x16 q5_k");
_Static_assert(X16_Q2_K_SC == 0 && X16_Q2_K_QS == 4 * 64 && X16_Q2_K_D == X16_Q2_K_QS + 16 * 64 &&
               X16_Q2_K_DMIN == X16_Q2_K_D + 2 * X16 && X16_COL(block_q2_K) == X16_Q2_K_DMIN + 2 * X16, "x16 q2_k");
_Static_assert(X16_Q3_K_HMASK == 0 && X16_Q3_K_QS == 8 * 64 && X16_Q3_K_SC == X16_Q3_K_QS + 16 * 64 &&
               X16_Q3_K_D == X16_Q3_K_SC + 3 * 64 && X16_COL(block_q3_K) == X16_Q3_K_D + 2 * X16, "x16 q3_k");

bool x16_packable(uint32_t type);
/* Rows [0, n_rows) (a multiple of X16) of w, row_bytes apart, to x16 in
 * place; false when out of memory for one group's copy (w unchanged). */
bool pack_x16(uint32_t type, void *w, size_t row_bytes, int n_rows);
/* Row r of packed w, in the type's own layout, into row (row_bytes bytes). */
void unpack_x16_row(uint32_t type, const void *w, size_t row_bytes, int r, void *row);

#endif
