/* engine/threads.h: a fixed pool of worker threads, created once, that runs one
 * parallel job at a time: fn(arg, ith, nth) on every thread, the caller
 * being thread 0. Workers spin briefly between jobs (decode issues a few
 * hundred jobs per token) and then sleep, so an idle pool costs nothing.
 * Built with OpenMP (make OPENMP=1) the job runs in an omp parallel region. */
#ifndef TINYLLM_THREADS_H
#define TINYLLM_THREADS_H

#include "tinyllm.h"

struct pool;

typedef void (*pool_fn)(void *arg, int ith, int nth);

/* Start n_threads - 1 workers (n_threads >= 1). */
int  pool_init(struct pool **p, int n_threads, struct tl_error *err);
void pool_free(struct pool *p);
int  pool_size(const struct pool *p);
/* Thread ith's scratch for the kernels' GEMMs (matmul_args.scratch):
 * KERNELS_SCRATCH_BYTES, 64-byte aligned, made with the pool, so no product
 * depends on the size of its thread's stack. */
void *pool_scratch(const struct pool *p, int ith);

/* Run fn on all threads and return when every thread has finished it. */
void pool_run(struct pool *p, pool_fn fn, void *arg);

/* Split [0, n) into nth near-equal parts, each a multiple of align (but the
 * last); the part of thread ith is [*lo, *hi). */
void pool_split(int n, int align, int ith, int nth, int *lo, int *hi);

#endif
