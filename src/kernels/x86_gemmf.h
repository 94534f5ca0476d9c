/* kernels/x86_gemmf.h: the tiles, panels and tile runs of the float GEMM
 * (F32, F16, BF16) of both x86 sets, written once; included by
 * kernels/avx2.c and kernels/avx512.c where they have defined what differs
 * by width: VF, VMASK and the ops of kernels/x86_gemmq.h, TILE (floats a
 * vector), NCOL, FKC, FCC, MVK, pack_lanes_float (TILE rows transposed into
 * vectors), convert_cols_chunk (a row chunk to f32) and matvec_float_row. A tile is 2 * TILE weight rows, two vectors per element. */
#ifndef TINYLLM_KERNELS_X86_GEMMF_H
#define TINYLLM_KERNELS_X86_GEMMF_H

/* acc + w * x lane by lane: the float types' FMA, or (BF16 on AVX512_BF16)
 * vdpbf16ps, where each lane holds a pair of adjacent elements. */
typedef VF (*madd_fn)(VF w, VF x, VF acc);

/* A 2 * TILE-row tile of a float weight, elements [k0, k0 + kc) as f32:
 * lane i of w[k][h] = row TILE * h + i. */
struct tile_float {
    VF w[FKC][2];
};

/* Activations of FCC columns for the same K chunk as f32, TILE columns
 * interleaved: x[g][k][c] = column TILE * g + c, element k0 + k. All the
 * broadcasts of one k then come from one line. */
struct panel_float {
    _Alignas(64) float x[FCC / TILE][FKC][TILE];
};

/* The float GEMM's tile and panel, and the quantized GEMM's, live in the
 * caller's scratch (matmul_args.scratch), not on the stack: hundreds of
 * KiB, more than a thread's stack need hold. */
struct float_scratch {
    struct tile_float  t;
    struct panel_float p;
};
_Static_assert(sizeof(struct float_scratch) <= KERNELS_SCRATCH_BYTES, "float GEMM scratch");

/* Column c, rows [r0, r1), K in chunks of MVK: the activation chunk is
 * widened to f32 once (convert_cols_chunk), so a row step converts only its
 * weights (F16 x F16 rows converting both spent half the conversions on
 * the same x); matvec_float_row is the set's row dot. */
INLINE void matvec_float(const struct matmul_args *a, int type, int c, int r0, int r1)
{
    _Alignas(64) float xf[MVK];
    const void *x = row_at(a->x, a->x_row_bytes, (size_t)c);
    float *y = a->y + (size_t)c * a->ldy;
    for (int k0 = 0; k0 < a->n; k0 += MVK) {
        int kc = imin(MVK, a->n - k0);
        convert_cols_chunk(xf, x, type, k0, kc);
        for (int r = r0; r < r1; r++)
            y[r] = (k0 > 0 ? y[r] : 0.0f) + matvec_float_row(a, type, xf, k0, kc, r);
    }
}

/* The float GEMM without scratch: column by column through matvec_float
 * (the ISA file's decode kernel; out of line, as gemmq_by_columns). */
__attribute__((noinline, cold)) static void gemm_float_by_columns(const struct matmul_args *a, int type, int r0,
                                                                  int r1)
{
    for (int c = 0; c < a->nc; c++)
        matvec_float(a, type, c, r0, r1);
}

/* The float GEMM's scratch (gemm_scratch), or NULL when there is none to
 * be had, after running the product column by column. */
INLINE struct float_scratch *float_scratch_or_columns(const struct matmul_args *a, int type, int r0, int r1,
                                                      void **own)
{
    struct float_scratch *fs = gemm_scratch(a, own);
    if (!fs)
        gemm_float_by_columns(a, type, r0, r1);
    return fs;
}

/* Tile rows [r, r + nr); rows past nr repeat the last (never stored). */
INLINE void pack_float(struct tile_float *t, const struct matmul_args *a, int type, int r, int nr, int k0, int kc)
{
    const void *p[2 * TILE];
    for (int i = 0; i < 2 * TILE; i++)
        p[i] = row_at(a->w, a->w_row_bytes, (size_t)(r + imin(i, nr - 1)));
    pack_lanes_float(&t->w[0][0], 2, type, p, k0, kc);
    if (nr > TILE)
        pack_lanes_float(&t->w[0][1], 2, type, p + TILE, k0, kc);
}

/* Columns [c0, c0 + cc), padded to a multiple of TILE with the last column. */
INLINE void prep_panel(struct panel_float *pf, const struct matmul_args *a, int type, int c0, int cc, int k0, int kc)
{
    for (int g = 0; g < (cc + TILE - 1) / TILE; g++) {
        const void *p[TILE];
        for (int c = 0; c < TILE; c++)
            p[c] = row_at(a->x, a->x_row_bytes, (size_t)(c0 + imin(TILE * g + c, cc - 1)));
        pack_lanes_float((VF *)pf->x[g], 1, type, p, k0, kc);
    }
}

/* acc[h][c] += tile half h * column c over kc elements (H halves of TILE
 * rows); x = the column group's panel from column c0 on. One broadcast
 * feeds both halves. */
INLINE void tile_float_cols(const struct tile_float *t, const float (*x)[TILE], int c0, int kc, int H, int C,
                            VF acc[2][NCOL], madd_fn madd)
{
    for (int k = 0; k < kc; k++) {
        VF w0 = t->w[k][0], w1 = t->w[k][1];
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            VF b = vf_set1(x[k][c0 + c]);
            acc[0][c] = madd(w0, b, acc[0][c]);
            if (H == 2)
                acc[1][c] = madd(w1, b, acc[1][c]);
        }
    }
}

/* y for rows [r, r + nr) and C columns from c: load (or zero), accumulate, store. */
INLINE void run_float_cols(const struct tile_float *t, const struct panel_float *pf, const struct matmul_args *a,
                           int kc, int first, int r, int nr, int c, int H, int C, madd_fn madd)
{
    VF acc[2][NCOL];
    VMASK m[2] = { vmask_below(nr), vmask_below(nr - TILE) };
    float *y = a->y + (size_t)c * a->ldy + r;
#pragma GCC unroll 2
    for (int h = 0; h < H; h++)
#pragma GCC unroll 8
        for (int j = 0; j < C; j++)
            acc[h][j] = first ? vf_zero() : vf_load_masked(m[h], y + (size_t)j * a->ldy + TILE * h);
    prefetch_outputs(a->y, a->ldy, a->nc, c + C, C, r);
    if (H == 2)
        prefetch_outputs(a->y, a->ldy, a->nc, c + C, C, r + TILE);
    tile_float_cols(t, (const float (*)[TILE])pf->x[(c % FCC) / TILE], c % TILE, kc, H, C, acc, madd);
#pragma GCC unroll 2
    for (int h = 0; h < H; h++)
#pragma GCC unroll 8
        for (int j = 0; j < C; j++)
            vf_store_masked(y + (size_t)j * a->ldy + TILE * h, m[h], acc[h][j]);
}

/* Every column of one tile for one K chunk: groups of NCOL, 4, then 1. */
INLINE void run_float_half(const struct tile_float *t, const struct panel_float *pf, const struct matmul_args *a,
                           int kc, int first, int r, int nr, int c0, int cc, int H, struct next_rows *nx,
                           madd_fn madd)
{
    int c = 0;
    for (; c + NCOL <= cc; c += NCOL) {
        prefetch_next(nx, nx->per);
        run_float_cols(t, pf, a, kc, first, r, nr, c0 + c, H, NCOL, madd);
    }
    prefetch_next(nx, nx->n);
    for (; NCOL > 4 && c + 4 <= cc; c += 4)
        run_float_cols(t, pf, a, kc, first, r, nr, c0 + c, H, 4, madd);
    for (; c < cc; c++)
        run_float_cols(t, pf, a, kc, first, r, nr, c0 + c, H, 1, madd);
}

INLINE void run_float_tile(const struct tile_float *t, const struct panel_float *pf, const struct matmul_args *a,
                           int kc, int first, int r, int nr, int c0, int cc, struct next_rows *nx, madd_fn madd)
{
    if (nr > TILE)
        run_float_half(t, pf, a, kc, first, r, nr, c0, cc, 2, nx, madd);
    else
        run_float_half(t, pf, a, kc, first, r, nr, c0, cc, 1, nx, madd);
}

static void run_f32_tile(const struct tile_float *t, const struct panel_float *pf, const struct matmul_args *a,
                         int kc, int first, int r, int nr, int c0, int cc, struct next_rows *nx)
{
    run_float_tile(t, pf, a, kc, first, r, nr, c0, cc, nx, madd_f32);
}

/* A set that multiplies BF16 weights as pairs of elements a lane (avx512's
 * vdpbf16ps) packs its tiles and panels with these and multiplies with madd. */
typedef void (*pack_pairs_fn)(struct tile_float *t, const struct matmul_args *a, int r, int nr, int k0, int kc);
typedef void (*prep_pairs_fn)(struct panel_float *pf, const struct matmul_args *a, int c0, int cc, int k0, int kc);
struct float_pairs { pack_pairs_fn pack; prep_pairs_fn prep; madd_fn madd; };

/* nc > 1: K chunks of FKC, column chunks of FCC converted to an f32 panel
 * once, every 2 * TILE-row tile packed per chunk. With pairs (NULL: plain
 * f32 FMAs), tiles and panels hold FKC pairs of elements instead and
 * pairs->madd multiplies them. */
INLINE void gemm_float_with(const struct matmul_args *a, int type, int r0, int r1, const struct float_pairs *pairs)
{
    size_t es = type == TL_F32 ? 4 : 2;
    int kchunk = pairs ? 2 * FKC : FKC;
    void *own;
    struct float_scratch *fs = float_scratch_or_columns(a, type, r0, r1, &own);
    if (!fs)
        return;
    struct tile_float *t = &fs->t;
    struct panel_float *pf = &fs->p;
    for (int c0 = 0; c0 < a->nc; c0 += FCC) {
        int cc = imin(FCC, a->nc - c0);
        for (int k0 = 0; k0 < a->n; k0 += kchunk) {
            int kc = imin(kchunk, a->n - k0);
            if (pairs)
                pairs->prep(pf, a, c0, cc, k0, kc);
            else
                prep_panel(pf, a, type, c0, cc, k0, kc);
            for (int r = r0; r < r1; r += 2 * TILE) {
                int nr = imin(2 * TILE, r1 - r), next = imin(2 * TILE, r1 - r - nr);
                /* the next tile's rows come from DRAM as short streams:
                 * ask for them while this one computes */
                struct next_rows nx = next_rows_at(a->w, a->w_row_bytes, r + nr, (size_t)k0 * es,
                                                   (size_t)kc * es, next, 2 * cc / TILE);
                if (pairs) {
                    pairs->pack(t, a, r, nr, k0, kc);
                    run_float_tile(t, pf, a, (kc + 1) / 2, k0 == 0, r, nr, c0, cc, &nx, pairs->madd);
                } else {
                    pack_float(t, a, type, r, nr, k0, kc);
                    run_f32_tile(t, pf, a, kc, k0 == 0, r, nr, c0, cc, &nx);
                }
            }
        }
    }
    free(own);
}

INLINE void gemm_float(const struct matmul_args *a, int type, int r0, int r1)
{
    gemm_float_with(a, type, r0, r1, NULL);
}

#endif
