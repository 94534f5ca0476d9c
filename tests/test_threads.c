/* test_threads.c: the pool runs every thread once per job, many times over,
 * the row split covers [0, n) exactly, and the products run on a thread
 * whatever the size of its stack. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "engine/matmul.h"
#include "engine/threads.h"

struct job { atomic_int calls; atomic_int mask; int sum[8]; };

static void count_fn(void *arg, int ith, int nth)
{
    struct job *j = arg;
    atomic_fetch_add(&j->calls, 1);
    atomic_fetch_or(&j->mask, 1 << ith);
    j->sum[ith] += nth;
}

static void every_thread_runs_each_job(void)
{
    for (int n = 1; n <= 4; n++) {
        struct pool *p;
        CHECK(pool_init(&p, n, NULL) == TL_OK, "init %d", n);
        struct job j = { 0 };
        for (int it = 0; it < 2000; it++) {
            atomic_store(&j.mask, 0);
            pool_run(p, count_fn, &j);
            CHECK(atomic_load(&j.mask) == (1 << n) - 1, "all %d threads ran job %d", n, it);
            if (atomic_load(&j.mask) != (1 << n) - 1)
                break;
        }
        CHECK(atomic_load(&j.calls) == 2000 * n, "calls %d", atomic_load(&j.calls));
        pool_free(p);
    }
}

static void sleeping_workers_wake(void)
{
    struct pool *p;
    pool_init(&p, 3, NULL);
    struct job j = { 0 };
    pool_run(p, count_fn, &j);
    usleep(50 * 1000);    /* long enough for the workers to go to sleep */
    atomic_store(&j.mask, 0);
    pool_run(p, count_fn, &j);
    CHECK(atomic_load(&j.mask) == 7, "all threads ran after sleeping");
    pool_free(p);
}

static void split_covers_range(void)
{
    for (int n = 0; n < 100; n += 7)
        for (int nth = 1; nth <= 5; nth++)
            for (int align = 1; align <= 16; align *= 4) {
                int next = 0;
                for (int i = 0; i < nth; i++) {
                    int lo, hi;
                    pool_split(n, align, i, nth, &lo, &hi);
                    CHECK(lo == next && hi >= lo, "n %d nth %d align %d part %d: [%d,%d)", n, nth, align, i, lo, hi);
                    CHECK(lo % align == 0 || lo == n, "aligned start");
                    next = hi;
                }
                CHECK(next == n, "covers %d", n);
            }
}

/* ---- products on a thread with a small stack ---- */

enum { SN = 512, SROWS = 32, SCOLS = 64, SMALL_STACK = 256 << 10 };

/* y (SCOLS x SROWS) = w (SROWS rows of type) times x (SCOLS rows) through
 * set k: by matmul() on a two-thread pool (this thread is its thread 0), or
 * with pool == NULL by the kernel itself with no scratch. */
static void product(const struct kernels *k, struct pool *pool, int type, bool packed, const void *w,
                    const float *x, float *y)
{
    size_t rb = type_row_bytes((uint32_t)type, SN);
    if (pool) {
        struct compute c = { .k = k, .pool = pool, .act_cap = matmul_act_bytes(SN, SCOLS) };
        c.act = aligned_alloc(64, c.act_cap);
        struct weight wt = { .data = w, .type = (uint32_t)type, .n_in = SN, .n_out = SROWS, .row_bytes = rb,
                             .packed = packed };
        struct mm_job job = { .w = &wt, .y = y, .ldy = SROWS };
        matmul(&c, &job, 1, x, SN, SCOLS);
        free(c.act);
        return;
    }
    int at = type_info((uint32_t)type)->act_type;
    size_t xrb = type_row_bytes((uint32_t)at, SN);
    char *xa = malloc(SCOLS * xrb);
    for (int c = 0; c < SCOLS; c++)
        k->quantize[at](x + (size_t)c * SN, xa + (size_t)c * xrb, SN);
    struct matmul_args a = { y, SROWS, w, rb, xa, xrb, SN, SCOLS, NULL };
    (packed ? k->matmul_x16 : k->matmul)[type](&a, 0, SROWS);
    free(xa);
}

/* Every compiled set's GEMMs (F16, Q4_0 plain and x16, Q4_K) against the
 * scalar set's, on this thread. */
static void *gemms_on_this_thread(void *arg)
{
    int *bad = arg;
    static const int types[] = { TL_F16, TL_Q4_0, TL_Q4_K };
    float *wf = malloc(sizeof(float) * SN * SROWS), *x = malloc(sizeof(float) * SN * SCOLS);
    float *ref = malloc(sizeof(float) * SROWS * SCOLS), *y = malloc(sizeof(float) * SROWS * SCOLS);
    char *w = malloc(SROWS * type_row_bytes(TL_F16, SN)), *wp = malloc(SROWS * type_row_bytes(TL_F16, SN));
    struct kernels scalar, k;
    struct pool *pool;
    if (pool_init(&pool, 2, NULL) != TL_OK || !kernels_get("scalar", &scalar)) {
        *bad += 1;
        return NULL;
    }
    for (int i = 0; i < SN * SROWS; i++)
        wf[i] = sinf(0.37f * (float)i);
    for (int i = 0; i < SN * SCOLS; i++)
        x[i] = cosf(0.11f * (float)i);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t rb = type_row_bytes((uint32_t)types[t], SN);
        for (int r = 0; r < SROWS; r++)
            quantize_row((uint32_t)types[t], wf + (size_t)r * SN, w + (size_t)r * rb, SN);
        memcpy(wp, w, SROWS * rb);
        bool can_pack = x16_packable((uint32_t)types[t]) && pack_x16((uint32_t)types[t], wp, rb, SROWS);
        product(&scalar, NULL, types[t], false, w, x, ref);
        for (const char *const *name = kernels_names(); *name; name++) {
            if (!kernels_get(*name, &k))
                continue;
            for (int way = 0; way < 4; way++) {
                bool packed = way >= 2;
                if (packed && !(can_pack && k.matmul_x16[types[t]]))
                    continue;
                product(&k, way % 2 ? NULL : pool, types[t], packed, packed ? wp : w, x, y);
                int wrong = 0;
                for (int i = 0; i < SROWS * SCOLS; i++)
                    wrong += !(fabsf(y[i] - ref[i]) <= 1e-3f * (1.0f + fabsf(ref[i])));
                CHECK(!wrong, "%s %s%s %s: %d of %d outputs differ from scalar", *name,
                      type_info((uint32_t)types[t])->name, packed ? " x16" : "", way % 2 ? "kernel alone" : "matmul",
                      wrong, SROWS * SCOLS);
                *bad += wrong > 0;
            }
        }
    }
    pool_free(pool);
    free(wf), free(x), free(ref), free(y), free(w), free(wp);
    return NULL;
}

/* The GEMMs' tiles and panels (about 0.6 MiB) are the pool's or the
 * heap's, never the thread's stack or thread-local storage: on a thread of
 * 256 KiB of stack (an OpenMP worker or musl may give less than the pool's
 * 4 MiB) the products run and match. (Thread-local tiles made every thread
 * need MiBs: such a thread could not even start.) */
static void gemm_on_small_stack(void)
{
    pthread_attr_t attr;
    pthread_t tid;
    int bad = 0;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, SMALL_STACK);
    int rc = pthread_create(&tid, &attr, gemms_on_this_thread, &bad);
    pthread_attr_destroy(&attr);
    CHECK(rc == 0, "a thread with a %d KiB stack starts (pthread_create: %d)", SMALL_STACK >> 10, rc);
    if (rc == 0)
        pthread_join(tid, NULL);
    CHECK(bad == 0, "%d products differ", bad);
}

int main(void)
{
    RUN_TEST(every_thread_runs_each_job);
    RUN_TEST(sleeping_workers_wake);
    RUN_TEST(split_covers_range);
    RUN_TEST(gemm_on_small_stack);
    return test_finish();
}
