/* matmul.h: products of weights with activation rows, spread over the
 * thread pool. The activation rows are converted once to the weights'
 * activation type (Q8_0, Q8_K, F16, ...) and shared by every weight that
 * reads them (Q, K and V; gate and up), then each thread takes a slice of
 * the output rows of all those weights together. */
#ifndef TINYLLM_MATMUL_H
#define TINYLLM_MATMUL_H

#include <stddef.h>

#include "kernels.h"
#include "model.h"
#include "threads.h"

struct compute {
    const struct kernels *k;
    struct pool          *pool;
    void                 *act;       /* converted activations, act_cap bytes */
    size_t                act_cap;
};

/* One weight applied to the shared input:
 *   y[c * ldy + r] = dot(W row r, x row c) + bias[r]   (bias may be NULL) */
struct mm_job {
    const struct weight *w;
    float               *y;
    size_t               ldy;
    const float         *bias;
};

/* Bytes of c->act needed to convert nc rows of n elements for up to two
 * activation types at once. */
size_t matmul_act_bytes(int n, int nc);

/* Run jobs[0..n_jobs) on x: nc rows of n_in floats, ldx floats apart. Every
 * job's weight has n_in == that width. */
void matmul(struct compute *c, const struct mm_job *jobs, int n_jobs,
            const float *x, size_t ldx, int nc);

#endif
