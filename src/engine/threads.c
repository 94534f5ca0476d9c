/* engine/threads.c: the worker pool behind engine/threads.h. One job slot; workers wait
 * for its generation counter to move, spinning first, then on a condition
 * variable. The last worker to finish signals the caller the same way. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "engine/threads.h"
#include "kernels/kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define SPIN_LIMIT 200000   /* polls before a waiting thread sleeps (~0.1-1 ms) */
#define PAUSE_LIMIT 4096    /* polls with a pause; later ones yield the core, so
                               an oversubscribed machine runs whoever has work */

struct pool;
struct worker_arg { struct pool *p; int ith; };

struct pool {
    int n;                          /* threads including the caller */
    pthread_t *tid;                 /* n - 1 workers */
    struct worker_arg *wa;          /* n - 1 start arguments */
    char *scratch;                  /* n * KERNELS_SCRATCH_BYTES: thread ith's from ith * that */
    pool_fn fn;
    void *arg;
    /* each hot counter on its own cache line: workers poll gen, caller polls done */
    _Alignas(64) atomic_uint gen;   /* bumped once per job; workers run on change */
    _Alignas(64) atomic_int done;   /* workers finished with the current job */
    _Alignas(64) atomic_int sleepers;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t wake;            /* workers sleep here waiting for gen */
    pthread_cond_t idle;            /* the caller sleeps here waiting for done */
};

static inline void cpu_relax(int i)
{
    if (i >= PAUSE_LIMIT) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#ifndef _OPENMP
/* Wait until the job generation moves past old: spin, then sleep. */
static void wait_gen(struct pool *p, unsigned old)
{
    for (int i = 0; i < SPIN_LIMIT; i++) {
        if (atomic_load_explicit(&p->gen, memory_order_acquire) != old)
            return;
        cpu_relax(i);
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    while (atomic_load(&p->gen) == old)
        pthread_cond_wait(&p->wake, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
}

static void *worker(void *ptr)
{
    struct worker_arg *wa = ptr;
    struct pool *p = wa->p;
    int ith = wa->ith;
    unsigned seen = 0;
    for (;;) {
        wait_gen(p, seen);
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (atomic_load(&p->stop))
            return NULL;
        p->fn(p->arg, ith, p->n);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == p->n - 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->idle);
            pthread_mutex_unlock(&p->mu);
        }
    }
}
#endif

int pool_init(struct pool **out, int n_threads, struct tl_error *err)
{
    struct pool *p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);
    if (!p)
        return tl_fail(err, TL_ENOMEM, "out of memory for the thread pool");
    *p = (struct pool){ .n = n_threads < 1 ? 1 : n_threads };
    atomic_init(&p->gen, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
    /* pages are touched by the GEMMs only: a pool that runs none (decode
     * only, quantize) costs address space, not memory */
    p->scratch = aligned_alloc(64, (size_t)p->n * KERNELS_SCRATCH_BYTES);
    if (!p->scratch) {
        pool_free(p);
        return tl_fail(err, TL_ENOMEM, "out of memory for the thread pool");
    }
#ifndef _OPENMP
    p->tid = calloc((size_t)p->n, sizeof *p->tid);
    p->wa = calloc((size_t)p->n, sizeof *p->wa);
    if (!p->tid || !p->wa) {
        pool_free(p);
        return tl_fail(err, TL_ENOMEM, "out of memory for the thread pool");
    }
    /* the kernels keep up to ~100 KiB on the stack (decode's activation
     * chunk), more than some libcs (musl: 128 KiB) leave a thread; their
     * GEMM scratch is the pool's (pool_scratch), whatever the stack */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)4 << 20);
    for (int i = 0; i < p->n - 1; i++) {
        p->wa[i] = (struct worker_arg){ p, i + 1 };
        if (pthread_create(&p->tid[i], &attr, worker, &p->wa[i])) {
            pthread_attr_destroy(&attr);
            p->n = i + 1;
            pool_free(p);
            return tl_fail(err, TL_ENOMEM, "cannot start thread %d", i + 1);
        }
    }
    pthread_attr_destroy(&attr);
#endif
    *out = p;
    return TL_OK;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
#ifndef _OPENMP
    if (p->tid) {
        atomic_store(&p->stop, 1);
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->gen, 1);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->n - 1; i++)
            pthread_join(p->tid[i], NULL);
    }
    free(p->tid);
    free(p->wa);
#endif
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle);
    free(p->scratch);
    free(p);
}

int pool_size(const struct pool *p)
{
    return p->n;
}

void *pool_scratch(const struct pool *p, int ith)
{
    return p->scratch + (size_t)ith * KERNELS_SCRATCH_BYTES;
}

void pool_run(struct pool *p, pool_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(p->n)
    fn(arg, omp_get_thread_num(), omp_get_num_threads());
#else
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1);   /* seq_cst: pairs with the sleepers check below */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    for (int i = 0; i < SPIN_LIMIT; i++) {
        if (atomic_load_explicit(&p->done, memory_order_acquire) == p->n - 1)
            return;
        cpu_relax(i);
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->done) != p->n - 1)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
#endif
}

void pool_split(int n, int align, int ith, int nth, int *lo, int *hi)
{
    int units = (n + align - 1) / align;
    int per = units / nth, extra = units % nth;
    int u0 = ith * per + (ith < extra ? ith : extra);
    int u1 = u0 + per + (ith < extra);
    *lo = u0 * align < n ? u0 * align : n;
    *hi = u1 * align < n ? u1 * align : n;
}
