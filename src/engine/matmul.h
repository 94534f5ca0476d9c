/* engine/matmul.h: products of weights with activation rows, spread over the
 * thread pool. The activation rows are converted once to the weights'
 * activation type (Q8_0, Q8_K, F16, ...) and shared by every weight that
 * reads them (Q, K and V; gate and up), then each thread takes a slice of
 * the output rows of all those weights together. */
#ifndef TINYLLM_MATMUL_H
#define TINYLLM_MATMUL_H

#include <stddef.h>

#include "kernels/kernels.h"
#include "engine/model.h"
#include "engine/threads.h"

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

/* What runs around the products on each thread, for matmul_ex. */
struct mm_extra {
    /* before its share of the products, on thread ith of nth: work that
     * overlaps the weight stream (decode asks for the attention's cache) */
    void (*before)(void *arg, int ith, int nth);
    /* with then, jobs of equal n_out are split over the threads together:
     * each thread computes the same rows [r0, r1) of every job, for all nc
     * columns, then runs then on them, so an elementwise step after the
     * product (the FFN's gating) costs no pass over the threads of its own */
    void (*then)(void *arg, int r0, int r1);
    void  *arg;
};

void matmul_ex(struct compute *c, const struct mm_job *jobs, int n_jobs,
               const float *x, size_t ldx, int nc, const struct mm_extra *e);

#endif
