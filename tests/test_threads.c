/* test_threads.c: the pool runs every thread once per job, many times over,
 * and the row split covers [0, n) exactly. */
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
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

int main(void)
{
    RUN_TEST(every_thread_runs_each_job);
    RUN_TEST(sleeping_workers_wake);
    RUN_TEST(split_covers_range);
    return test_finish();
}
