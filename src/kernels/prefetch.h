/* kernels/prefetch.h: ask for cache lines ahead of their use.
 * Inline asm rather than __builtin_prefetch: GCC 12 counts that builtin as a
 * const call, so a helper made only of prefetches is itself const, returns
 * nothing, and its calls are deleted (engine/matmul.c's stream priming compiled to
 * nothing that way); in kernel loops with constant types it drops them too. */
#ifndef TINYLLM_PREFETCH_H
#define TINYLLM_PREFETCH_H

#include <stddef.h>

static inline void prefetch_line(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#elif defined(__aarch64__)
    __asm__ volatile("prfm pldl1keep, %0" : : "Q"(*(const char *)p));
#else
    __builtin_prefetch(p);
#endif
}

/* every 64-byte line of [p, p + bytes) */
static inline void prefetch_span(const void *p, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64)
        prefetch_line((const char *)p + o);
}

/* The GEMMs add each K chunk into their outputs y (column j at y + j * ldy,
 * nc columns): the line at row r of columns [c, c + n), those the next
 * column group loads, adds to and stores. By then they are in L3 or DRAM,
 * and the loads would stall the tile. */
static inline void prefetch_outputs(const float *y, size_t ldy, int nc, int c, int n, int r)
{
    for (int j = c; j < c + n && j < nc; j++)
        prefetch_line(y + (size_t)j * ldy + r);
}

/* A GEMM's next weight tile: rows of bytes each, stride apart, asked for a
 * few rows per column group while the current tile runs. Asked for all at
 * once they fill the miss queue and stall the tile's start. */
struct next_rows {
    const char *p;      /* the next row's first byte in this K chunk */
    size_t      stride, bytes;
    int         n, per; /* rows left; rows per column group */
};

/* The n rows from row r of w (stride apart), bytes each from byte off of a
 * row, spread over the current tile's `groups` column groups. */
static inline struct next_rows next_rows_at(const void *w, size_t stride, int r, size_t off, size_t bytes,
                                            int n, int groups)
{
    groups = groups > 0 ? groups : 1;
    return (struct next_rows){
        .p = n ? (const char *)w + (size_t)r * stride + off : NULL,
        .stride = stride, .bytes = bytes, .n = n, .per = (n + groups - 1) / groups,
    };
}

static inline void prefetch_next(struct next_rows *nx, int rows)
{
    for (; rows > 0 && nx->n > 0; rows--, nx->n--, nx->p += nx->stride)
        prefetch_span(nx->p, nx->bytes);
}

#endif
