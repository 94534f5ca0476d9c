/* tool_kbench.c: microbenchmark of the matmul kernels at TinyLlama sizes.
 * Matrix-vector: GB/s of weights streamed (from memory: the weights rotate
 * through copies larger than the caches), against a plain read of memory.
 * Matrix-matrix: GFLOP/s (2 * rows * n * nc per product). Threads split
 * the rows in 16-row slices as engine/matmul.c does.
 *   tool_kbench [-k set] [-t f16,q4_0,...|bw] [-j 1,2] [-c 1,64,512] [-s secs] [-h 1] [-m ROWSxN]
 * -h 1 keeps one copy of the weights (cache-hot): kernel speed alone.
 * -x 1 repacks the weights x16 (format/quant.h) where the set has products over
 * that layout, as the engine does at load.
 * Times are the median over the products, or for products over 1 ms the
 * slowest thread's CPU time in the kernel (the machine may be shared);
 * -w 1 reports the mean wall time instead. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"
#include "util/mem.h"

enum { MAX_THREADS = 16, POOL_BYTES = 512 << 20 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A matrix and its copies, rotated so each product reads cold weights. */
struct bench {
    const struct kernels *k;
    int type, rows, n, nc, copies;
    size_t row_bytes, mat_bytes;
    uint8_t *w;             /* copies * mat_bytes */
    void *x;                /* nc activation rows */
    size_t x_row_bytes;
    float *y;               /* nc * rows */
    int iters, nth, cpu;    /* cpu: time the kernel calls in thread CPU time */
    int x16;                /* w packed x16, run through matmul_x16 */
    atomic_int barrier;     /* arrivals at the current iteration's end */
    double *done;           /* [iters]: when thread 0 saw iteration i end */
};

struct worker {
    struct bench *b;
    int ith;
    pthread_t tid;
    double cpu;     /* CPU seconds inside the kernel calls (with b->cpu) */
};

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wait until all nth threads have finished iteration it: spin, and yield
 * only after a long wait (an oversubscribed machine must make progress,
 * but yielding at once hands the caches to other jobs). */
static void spin_barrier(struct bench *b, int it)
{
    if (b->nth == 1)
        return;
    atomic_fetch_add(&b->barrier, 1);
    for (long spins = 0; atomic_load(&b->barrier) < (it + 1) * b->nth; spins++)
        if (spins > 100000)
            sched_yield();
}

static void *run_worker(void *arg)
{
    struct worker *wk = arg;
    struct bench *b = wk->b;
    int per = (b->rows / b->nth + 15) / 16 * 16;
    int r0 = wk->ith * per, r1 = r0 + per > b->rows ? b->rows : r0 + per;
    if (r0 > b->rows)
        r0 = b->rows;
    void *scratch = aligned_alloc(64, KERNELS_SCRATCH_BYTES);   /* the thread's, as the pool's */
    for (int it = 0; it < b->iters; it++) {
        struct matmul_args a = {
            .y = b->y, .ldy = (size_t)b->rows, .w = b->w + (size_t)(it % b->copies) * b->mat_bytes,
            .w_row_bytes = b->row_bytes, .x = b->x, .x_row_bytes = b->x_row_bytes, .n = b->n, .nc = b->nc,
            .scratch = scratch,
        };
        double t0 = b->cpu ? thread_cpu() : 0;
        if (r0 < r1)
            (b->x16 ? b->k->matmul_x16 : b->k->matmul)[b->type](&a, r0, r1);
        if (b->cpu)
            wk->cpu += thread_cpu() - t0;
        spin_barrier(b, it);
        if (wk->ith == 0)
            b->done[it] = now();
    }
    free(scratch);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Seconds per product with nth threads over iters products: the median of
 * the products' wall times, or with mean set their mean. The median is
 * what an undisturbed run takes on a machine shared with other jobs (and
 * the clock is read without a system call: one flushes the TLB here).
 * With cpu set, products long enough to be time-sliced by other jobs, it
 * is the slowest thread's CPU time in the kernel per product instead. */
static double time_products(struct bench *b, int nth, int iters, int mean, int cpu)
{
    struct worker wk[MAX_THREADS];
    double *d = malloc(sizeof(double) * (size_t)iters * 2);
    if (!d)
        return 1e30;
    b->nth = nth;
    b->iters = iters;
    b->cpu = cpu;
    b->done = d + iters;
    atomic_store(&b->barrier, 0);
    double t0 = now();
    for (int i = 1; i < nth; i++) {
        wk[i] = (struct worker){ b, i, 0, 0 };
        pthread_create(&wk[i].tid, NULL, run_worker, &wk[i]);
    }
    wk[0] = (struct worker){ b, 0, 0, 0 };
    run_worker(&wk[0]);
    double slowest = 0;
    for (int i = 0; i < nth; i++) {
        if (i)
            pthread_join(wk[i].tid, NULL);
        slowest = wk[i].cpu > slowest ? wk[i].cpu : slowest;
    }
    for (int i = 0; i < iters; i++)
        d[i] = b->done[i] - (i ? b->done[i - 1] : t0);
    qsort(d, (size_t)iters, sizeof *d, cmp_double);
    double t = cpu ? slowest / iters : mean ? (b->done[iters - 1] - t0) / iters : d[iters / 2];
    free(d);
    return t;
}

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(*s >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

/* Weights of rows x n (one real matrix, copied), nc quantised columns. */
static int bench_init(struct bench *b, const struct kernels *k, int type, int rows, int n, int nc, int cold,
                      int x16)
{
    memset(b, 0, sizeof *b);
    b->k = k;
    b->x16 = x16 && k->matmul_x16[type] && rows % X16 == 0;
    b->type = type;
    b->rows = rows;
    b->n = n;
    b->nc = nc;
    b->row_bytes = type_row_bytes((uint32_t)type, n);
    b->mat_bytes = b->row_bytes * (size_t)rows;
    b->copies = cold ? (int)(POOL_BYTES / b->mat_bytes) + 1 : 1;
    b->w = aligned_alloc(64, (b->mat_bytes * (size_t)b->copies + 63) / 64 * 64);
    int at = type_info((uint32_t)type)->act_type;
    b->x_row_bytes = type_row_bytes((uint32_t)at, n);
    b->x = aligned_alloc(64, (b->x_row_bytes * (size_t)nc + 63) / 64 * 64);
    b->y = aligned_alloc(64, (sizeof(float) * (size_t)rows * (size_t)nc + 63) / 64 * 64);
    float *src = malloc(sizeof(float) * (size_t)n);
    if (!b->w || !b->x || !b->y || !src)
        return -1;
    uint64_t s = 42;
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < n; i++)
            src[i] = frand(&s);
        quantize_row((uint32_t)type, src, b->w + (size_t)r * b->row_bytes, n);
    }
    if (b->x16 && !pack_x16((uint32_t)type, b->w, b->row_bytes, rows))
        return -1;
    for (int c = 1; c < b->copies; c++)
        memcpy(b->w + (size_t)c * b->mat_bytes, b->w, b->mat_bytes);
    for (int c = 0; c < nc; c++) {
        for (int i = 0; i < n; i++)
            src[i] = frand(&s);
        k->quantize[at](src, (char *)b->x + (size_t)c * b->x_row_bytes, n);
    }
    free(src);
    return 0;
}

static void bench_free(struct bench *b)
{
    mem_free_all(b->w, b->x, b->y);
}

/* Products for about secs seconds after a warm-up pass; products over a
 * millisecond are timed in CPU time (see time_products). */
static double measure(struct bench *b, int nth, double secs, int mean)
{
    double t = time_products(b, nth, 1, 1, 0);
    int iters = (int)(secs / t) + 1;
    if (iters > 100000)
        iters = 100000;
    return time_products(b, nth, iters, mean, !mean && t > 1e-3);
}

/* ---- plain memory read: the bound for matrix-vector products ---- */

struct bw_arg {
    const uint64_t *p;
    size_t n;       /* words */
    uint64_t sum;
    pthread_t tid;
};

/* Eight independent xor chains: the compiler vectorises them, and a read
 * this simple is limited by memory, not by the loop. */
static void *read_mem(void *arg)
{
    struct bw_arg *a = arg;
    uint64_t s[8] = { 0 };
    for (size_t i = 0; i + 8 <= a->n; i += 8)
        for (int l = 0; l < 8; l++)
            s[l] ^= a->p[i + l];
    for (int l = 0; l < 8; l++)
        a->sum ^= s[l];
    return NULL;
}

static void bench_bandwidth(const int *threads, int nt)
{
    size_t bytes = POOL_BYTES;
    uint64_t *p = aligned_alloc(64, bytes);
    if (!p)
        return;
    memset(p, 1, bytes);
    for (int ti = 0; ti < nt; ti++) {
        int nth = threads[ti];
        struct bw_arg a[MAX_THREADS];
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now();
            for (int i = 0; i < nth; i++) {
                a[i] = (struct bw_arg){ p + bytes / 8 / nth * i, bytes / 8 / nth, 0, 0 };
                pthread_create(&a[i].tid, NULL, read_mem, &a[i]);
            }
            for (int i = 0; i < nth; i++)
                pthread_join(a[i].tid, NULL);
            double t = now() - t0;
            best = t < best ? t : best;
        }
        printf("memory read            %d thr: %6.1f GB/s\n", nth, bytes / best * 1e-9);
    }
    free(p);
}

/* ---- command line ---- */

static int parse_list(const char *s, int *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        out[n++] = atoi(s);
        while (*s && *s != ',')
            s++;
        if (*s == ',')
            s++;
    }
    return n;
}

static int type_by_name(const char *name, int len)
{
    for (int t = 0; t < TL_TYPE_COUNT; t++) {
        const struct type_info *ti = type_info((uint32_t)t);
        if (ti && ti->supported && (int)strlen(ti->name) == len && !strncmp(ti->name, name, (size_t)len))
            return t;
    }
    return -1;
}

static int shapes[][2] = { { 2048, 2048 }, { 5632, 2048 }, { 2048, 5632 }, { 32000, 2048 } };
static int n_shapes = 4;

static void bench_type(const struct kernels *k, int type, const int *threads, int nt, const int *ncs, int nn,
                       double secs, int hot, int mean, int x16)
{
    char tn[16];
    snprintf(tn, sizeof tn, "%s%s", type_info((uint32_t)type)->name, x16 && k->matmul_x16[type] ? "x16" : "");
    for (int ci = 0; ci < nn; ci++) {
        int nc = ncs[ci];
        int nshape = nc == 1 || n_shapes < 4 ? n_shapes : 2;
        for (int si = 0; si < nshape; si++) {
            struct bench b;
            int rows = shapes[si][0], n = shapes[si][1];
            if (bench_init(&b, k, type, rows, n, nc, nc == 1 && !hot, x16)) {
                printf("out of memory\n");
                bench_free(&b);
                return;
            }
            for (int ti = 0; ti < nt; ti++) {
                double t = measure(&b, threads[ti], secs, mean);
                if (nc == 1)
                    printf("%-6s %-7s %5dx%-5d nc=%-3d %d thr: %6.1f GB/s  %7.1f us\n", k->name, tn, rows, n, nc,
                           threads[ti], (double)b.mat_bytes / t * 1e-9, t * 1e6);
                else
                    printf("%-6s %-7s %5dx%-5d nc=%-3d %d thr: %6.1f GFLOP/s %7.1f us\n", k->name, tn, rows, n, nc,
                           threads[ti], 2.0 * rows * n * nc / t * 1e-9, t * 1e6);
                fflush(stdout);
            }
            bench_free(&b);
        }
    }
}

int main(int argc, char **argv)
{
    const char *set = NULL, *types = "q4_0,q8_0,f16";
    int threads[8] = { 1, 2 }, nt = 2, ncs[8] = { 1, 64, 512 }, nn = 3;
    double secs = 0.5;
    int hot = 0, mean = 0, x16 = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-k"))
            set = argv[i + 1];
        else if (!strcmp(argv[i], "-t"))
            types = argv[i + 1];
        else if (!strcmp(argv[i], "-j"))
            nt = parse_list(argv[i + 1], threads, 8);
        else if (!strcmp(argv[i], "-c"))
            nn = parse_list(argv[i + 1], ncs, 8);
        else if (!strcmp(argv[i], "-s"))
            secs = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "-h"))
            hot = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-m") && sscanf(argv[i + 1], "%dx%d", &shapes[0][0], &shapes[0][1]) == 2)
            n_shapes = 1;
        else if (!strcmp(argv[i], "-x"))
            x16 = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-w"))
            mean = atoi(argv[i + 1]);
    }
    struct kernels k;
    struct tl_error err = { 0 };
    if (set ? !kernels_get(set, &k) : kernels_select(&k, &err) != TL_OK) {
        fprintf(stderr, "kbench: kernel set %s not available\n", set ? set : "(default)");
        return 1;
    }
    for (int i = 0; i < nt; i++)
        threads[i] = threads[i] < 1 ? 1 : threads[i] > MAX_THREADS ? MAX_THREADS : threads[i];
    if (!strcmp(types, "bw")) {
        bench_bandwidth(threads, nt);
        return 0;
    }
    for (const char *s = types; *s;) {
        int len = (int)strcspn(s, ",");
        int t = type_by_name(s, len);
        if (t < 0)
            fprintf(stderr, "kbench: unknown type %.*s\n", len, s);
        else
            bench_type(&k, t, threads, nt, ncs, nn, secs, hot, mean, x16);
        s += len + (s[len] == ',');
    }
    return 0;
}
