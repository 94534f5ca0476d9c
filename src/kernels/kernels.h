/* kernels/kernels.h: the table of hot-loop kernels, one table per ISA file
 * (kernels/scalar.c, kernels/avx2.c, kernels/avx512.c, kernels/neon.c),
 * chosen once at start-up from the CPU's features. Model code calls only
 * through this table and never sees an ISA. The scalar table is complete
 * and is the oracle; other tables may leave entries NULL, which
 * kernels_select fills from the scalar table. */
#ifndef TINYLLM_KERNELS_H
#define TINYLLM_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/quant.h"
#include "tinyllm.h"

/* One matrix product over a row range:
 *   y[c * ldy + r] = dot(W row r, X row c)   r in [r0, r1), c in [0, nc)
 * W rows are w_row_bytes apart in the weight's own type; X holds nc
 * activation rows already converted to type_info(wtype)->act_type, each
 * x_row_bytes apart. n is the inner dimension in elements (a multiple of
 * the weight's block size). nc == 1 is the decode case (matrix-vector). */
struct matmul_args {
    float      *y;
    size_t      ldy;
    const void *w;
    size_t      w_row_bytes;
    const void *x;
    size_t      x_row_bytes;
    int         n;
    int         nc;
    /* nc > 1: KERNELS_SCRATCH_BYTES, 64-byte aligned, the calling thread's
     * alone (engine/threads.h pool_scratch): the GEMM's tiles and panels,
     * never on the thread's stack, whose size the caller may not choose
     * (OpenMP's workers, musl). NULL: the kernel takes them from the heap
     * for the call, or without memory runs column by column. */
    void       *scratch;
};
enum { KERNELS_SCRATCH_BYTES = 576 << 10 };
typedef void (*matmul_fn)(const struct matmul_args *a, int r0, int r1);

/* Convert n floats (multiple of the act type's block size) to an
 * activation row of that type (F32 copy, F16, BF16, Q8_0, Q8_1, Q8_K). */
typedef void (*quantize_fn)(const float *x, void *y, int n);

struct kernels {
    const char *name;               /* "scalar", "avx2", "avx512", "neon", "neon-dot" */
    uint32_t    needs;              /* CPU_* bits (kernels/cpu.h) this file was built for */
    matmul_fn   matmul[TL_TYPE_COUNT];       /* by weight type */
    /* The same over weights in the x16 layout (format/quant.h), rows [r0, r1) on
     * multiples of X16; NULL where the set has none (never filled from
     * scalar): such weights stay as stored. */
    matmul_fn   matmul_x16[TL_TYPE_COUNT];
    quantize_fn quantize[TL_TYPE_COUNT];     /* by activation type */

    /* f16 <-> f32 rows (the KV cache and the attention operands) */
    void  (*f32_to_f16)(uint16_t *y, const float *x, int n);
    void  (*f16_to_f32)(float *y, const uint16_t *x, int n);

    /* Softmax's exponentials: x[i] = e^(x[i] - m); returns their sum. */
    double (*exp_sum)(float *x, int n, float m);
    /* SwiGLU: y[i] = silu(g[i]) * u[i], silu(v) = v / (1 + e^-v); y may be u. */
    void  (*swiglu)(float *y, const float *g, const float *u, int n);
};

extern const struct kernels kernels_scalar;

/* Fill *k with the best set this CPU runs, merged over scalar so no entry is
 * NULL. Never fails; err is for symmetry with kernels_select_named. */
int kernels_select(struct kernels *k, struct tl_error *err);
/* Fill *k with the set called name (kernels_names()), merged over scalar;
 * NULL or "" picks the best set as kernels_select does. A name this build
 * lacks, or a set this CPU cannot run, is TL_EINVAL with err saying which.
 * The library never reads the environment: the CLI passes TINYLLM_KERNELS. */
int kernels_select_named(struct kernels *k, const char *name, struct tl_error *err);

/* Whether k has products over repacked (x16) weights. */
bool kernels_repack(const struct kernels *k);
/* "k's name" or "k's name; repacks q4_0 q8_0 ..." into buf (n bytes). */
void kernels_describe(const struct kernels *k, char *buf, size_t n);

/* Fill *k with the named set, merged over scalar. Returns 1 when this CPU
 * runs it, 0 (k untouched) when not or when no such set is compiled in. */
int kernels_get(const char *name, struct kernels *k);

/* Names of all sets compiled into this binary, NULL-terminated. */
const char *const *kernels_names(void);

#endif
