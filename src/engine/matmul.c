/* engine/matmul.c: activation conversion and the row split of weight products
 * over threads (see engine/matmul.h). */
#include <string.h>

#include "engine/matmul.h"
#include "kernels/prefetch.h"
#include "format/quant.h"

#define ROW_ALIGN 16   /* slices start on a multiple of 16 rows: SIMD kernels
                          that interleave rows never see a partial group */
#define STREAM_PRIME 4096   /* bytes asked for at the start of a decode slice */

struct act_buf {
    int         type;      /* activation type, -1 unused */
    const void *data;      /* nc rows */
    size_t      row_bytes;
};

struct mm_task {
    struct compute      *c;
    const struct mm_job *jobs;
    int                  n_jobs;
    const float         *x;
    size_t               ldx;
    int                  nc, n_in;
    struct act_buf       act[2];
    int                  total_rows;
    const struct mm_extra *e;       /* or NULL */
};

size_t matmul_act_bytes(int n, int nc)
{
    /* F32 is the widest activation type: 4 bytes per element */
    return 2 * (size_t)nc * (size_t)n * sizeof(float) + 64;
}

static const struct act_buf *act_for(const struct mm_task *t, int wtype)
{
    int at = type_info(wtype)->act_type;
    return t->act[0].type == at ? &t->act[0] : &t->act[1];
}

static void convert_task(void *arg, int ith, int nth)
{
    struct mm_task *t = arg;
    for (int a = 0; a < 2; a++) {
        const struct act_buf *b = &t->act[a];
        if (b->type < 0)
            continue;
        int lo, hi;
        pool_split(t->nc, 1, ith, nth, &lo, &hi);
        for (int r = lo; r < hi; r++)
            t->c->k->quantize[b->type](t->x + (size_t)r * t->ldx,
                                       (char *)b->data + (size_t)r * b->row_bytes, t->n_in);
    }
}

/* Rows [r0, r1) of one job, on thread ith. */
static void job_rows(const struct mm_task *t, const struct mm_job *job, int ith, int r0, int r1)
{
    const struct act_buf *b = act_for(t, job->w->type);
    struct matmul_args a = {
        .y = job->y, .ldy = job->ldy, .w = job->w->data, .w_row_bytes = job->w->row_bytes,
        .x = b->data, .x_row_bytes = b->row_bytes, .n = t->n_in, .nc = t->nc,
        .scratch = pool_scratch(t->c->pool, ith),
    };
    const struct kernels *k = t->c->k;
    (job->w->packed ? k->matmul_x16 : k->matmul)[job->w->type](&a, r0, r1);
    if (job->bias)
        for (int c = 0; c < t->nc; c++)
            for (int r = r0; r < r1; r++)
                job->y[(size_t)c * job->ldy + r] += job->bias[r];
}

/* Decode reads a thread's rows of a weight as one stream, and the kernels
 * ask for bytes a few KiB ahead of where they read: the first KiBs of each
 * slice would be demand misses one after another. Small models run a
 * hundred such slices a token; ask for their starts together. */
static void prime_stream(const struct mm_task *t, const struct mm_job *job, int r0, int r1)
{
    if (t->nc != 1 || r0 >= r1)
        return;
    size_t bytes = (size_t)(r1 - r0) * job->w->row_bytes;
    const char *p = (const char *)job->w->data + (size_t)r0 * job->w->row_bytes;
    prefetch_span(p, bytes < STREAM_PRIME ? bytes : STREAM_PRIME);
}

/* Thread ith's share of the rows of all jobs, stacked one after another
 * (or, with e->then, the same share of each job's rows). */
static void product_task(void *arg, int ith, int nth)
{
    struct mm_task *t = arg;
    int lo, hi;
    if (t->e && t->e->before)
        t->e->before(t->e->arg, ith, nth);
    if (t->e && t->e->then) {
        pool_split(t->jobs[0].w->n_out, ROW_ALIGN, ith, nth, &lo, &hi);
        if (lo < hi) {
            for (int j = 0; j < t->n_jobs; j++)
                prime_stream(t, &t->jobs[j], lo, hi);
            for (int j = 0; j < t->n_jobs; j++)
                job_rows(t, &t->jobs[j], ith, lo, hi);
            t->e->then(t->e->arg, lo, hi);
        }
        return;
    }
    pool_split(t->total_rows, ROW_ALIGN, ith, nth, &lo, &hi);
    for (int pass = 0; pass < 2; pass++) {   /* prime every slice's stream, then compute */
        int base = 0;
        for (int j = 0; j < t->n_jobs && lo < hi; j++) {
            int n_out = t->jobs[j].w->n_out;
            int r0 = lo - base, r1 = hi - base;
            base += n_out;
            if (r1 <= 0 || r0 >= n_out)
                continue;
            r0 = r0 < 0 ? 0 : r0;
            r1 = r1 > n_out ? n_out : r1;
            if (pass == 0)
                prime_stream(t, &t->jobs[j], r0, r1);
            else
                job_rows(t, &t->jobs[j], ith, r0, r1);
        }
    }
}

void matmul_ex(struct compute *c, const struct mm_job *jobs, int n_jobs,
               const float *x, size_t ldx, int nc, const struct mm_extra *e)
{
    struct mm_task t = {
        .c = c, .jobs = jobs, .n_jobs = n_jobs, .x = x, .ldx = ldx, .nc = nc,
        .n_in = jobs[0].w->n_in, .act = { { .type = -1 }, { .type = -1 } },
        .e = e,
    };
    char *next = c->act;
    for (int j = 0; j < n_jobs; j++) {
        int at = type_info(jobs[j].w->type)->act_type;
        t.total_rows += jobs[j].w->n_out;
        if (t.act[0].type == at || t.act[1].type == at)
            continue;
        struct act_buf *b = t.act[0].type < 0 ? &t.act[0] : &t.act[1];
        b->type = at;
        b->row_bytes = type_row_bytes(at, t.n_in);
        b->data = next;
        next += ((size_t)nc * b->row_bytes + 63) / 64 * 64;
    }
    if (nc == 1)
        convert_task(&t, 0, 1);
    else
        pool_run(c->pool, convert_task, &t);
    pool_run(c->pool, product_task, &t);
}

void matmul(struct compute *c, const struct mm_job *jobs, int n_jobs,
            const float *x, size_t ldx, int nc)
{
    matmul_ex(c, jobs, n_jobs, x, ldx, nc, NULL);
}
