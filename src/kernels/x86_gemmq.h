/* kernels/x86_gemmq.h: the quantized GEMM of both x86 sets and their
 * matmul_* entry points written once,
 * included by kernels/avx2.c and kernels/avx512.c where they have defined
 * what differs by width (TILE rows a tile, one per float lane):
 *   types   VF (TILE floats), VMASK (a lane mask), struct tileq, struct colsq;
 *   ops     vf_zero, vmask_below(n) (lanes below n, any n), vf_load_masked
 *           (zero outside the mask), vf_store_masked;
 *   ints    VI (TILE dwords) and vi_* (and, or, xor, set1, shifts, mullo,
 *           loadu, shuffle8), vf_from_f16, transpose_rows_x4, iq4nl_lut;
 *   hooks   prep_colsq (the activation groups of a chunk), decode_k_tile (a
 *           K-quant super-block of a tile's rows, decoded), packq_x16 (a tile of x16 rows), tileq_cols
 *           (the products of a tile with C columns), the decode kernels
 *           matvec32, matvec_k (column c) and x16_column, the float ones
 *           matvec_float, matvec_cols_pass and convert_cols_chunk (nc <=
 *           MCOLS, in chunks of MCK), gemm_float; q8_block
 *           (after the include) for the activation quantizers.
 * Constants: TILE, NCOL (columns a pass over a tile, 4 or 8), CC, KE. */
#ifndef TINYLLM_KERNELS_X86_GEMMQ_H
#define TINYLLM_KERNELS_X86_GEMMQ_H

struct quant_scratch {
    struct tileq t;
    struct colsq c;
};
_Static_assert(sizeof(struct quant_scratch) <= KERNELS_SCRATCH_BYTES, "quantized GEMM scratch");

/* Block b (of 32 elements) of the TILE rows at rows[i]: group b of the
 * tile, quad j as the weights of elements 4j..4j+3 of each row: unsigned
 * nibbles (+ bit 4 for Q5_0/Q5_1), IQ4_NL through the set's iq4nl_lut,
 * Q8_0 as stored, + 128 where the set takes it unsigned (q32_off 128). */
INLINE void pack32_block(struct tileq *t, int type, const char *const *rows, int b)
{
    size_t qs = q32_qs(type);
    const char *p[TILE];
    uint16_t d[TILE], m[TILE];
    uint32_t h[TILE];
    block_fields(type, rows, b, TILE, p, d, m, h);
    t->d[b] = vf_from_f16(d);
    t->m[b] = vf_from_f16(m);
    VI *q = t->q + 8 * b;
    if (type == TL_Q8_0) {
        transpose_rows_x4(p, qs, q);
        transpose_rows_x4(p, qs + 16, q + 4);
        for (int j = 0; j < 8 && q32_off(type) == 128; j++)
            q[j] = vi_xor(q[j], vi_set1_8(0x80));
        return;
    }
    VI v[4], f = vi_set1_8(15);
    transpose_rows_x4(p, qs, v);
    for (int j = 0; j < 4; j++) {
        q[j] = vi_and(v[j], f);
        q[j + 4] = vi_and(vi_srli32(v[j], 4), f);
    }
    for (int j = 0; j < 8 && type == TL_IQ4_NL; j++)
        q[j] = vi_shuffle8(iq4nl_lut(), q[j]);
    if (q32_five(type)) {
        /* bits 4j..4j+3 of a lane's qh go to bit 4 of its bytes 0..3: the
         * multiply by 1 + 2^7 + 2^14 + 2^21 moves bit k to bit 8k without carries */
        VI hv = vi_loadu(h);
        for (int j = 0; j < 8; j++) {
            VI s = vi_and(vi_srli32(hv, 4 * j), vi_set1_32(15));
            s = vi_and(vi_mullo32(s, vi_set1_32(0x00204081)), vi_set1_32(0x01010101));
            q[j] = vi_or(q[j], vi_slli32(s, 4));
        }
    }
}

/* Super-block sb of the TILE rows at rows[i]: decoded by the set's
 * decode_k_tile, then the bytes transposed 16 at a time; group g of QG
 * quads takes its 16-group's scale and min. */
INLINE void packk_block(struct tileq *t, int type, const char *const *rows, int sb)
{
    char u[TILE][QK_K];
    const char *p[TILE];
    VF sc[16], mn[16];
    decode_k_tile(type, rows, sb, u, sc, mn);
    for (int i = 0; i < TILE; i++)
        p[i] = u[i];
    int qg = qgroup(type), ng = QK_K / (4 * qg);
    for (int g = 0; g < ng; g++) {
        t->d[sb * ng + g] = sc[g * qg / 4];
        t->m[sb * ng + g] = mn[g * qg / 4];
    }
    for (int c = 0; c < QK_K / 16; c++)
        transpose_rows_x4(p, (size_t)(16 * c), t->q + sb * (QK_K / 4) + 4 * c);
}

/* Tile rows [r, r + nr), elements [e0, e0 + ke); rows past nr repeat the last. */
INLINE void packq(struct tileq *t, const struct matmul_args *a, int type, int r, int nr, int e0, int ke)
{
    const char *rows[TILE];
    for (int i = 0; i < TILE; i++)
        rows[i] = (const char *)row_at(a->w, a->w_row_bytes, (size_t)(r + imin(i, nr - 1)))
                + (size_t)(e0 / wblock_elems(type)) * wblock_bytes(type);
    for (int b = 0; b < ke / wblock_elems(type); b++) {
        if (is_k(type))
            packk_block(t, type, rows, b);
        else
            pack32_block(t, type, rows, b);
    }
}

/* x16 groups are X16_TILES tiles: after a group's last tile, the next
 * group's chunk is the next to read. */
enum { X16_TILES = X16 / TILE };
_Static_assert(X16 % TILE == 0, "tiles split x16 groups");

/* y rows [r, r + nr) of C columns from c (index within the chunk). */
INLINE void runq_cols(const struct tileq *t, const struct colsq *ci, const struct matmul_args *a,
                      const char *const *x, int type, int ng, int first, int r, int nr, int c0, int c, int C)
{
    VF acc[NCOL];
    VMASK m = vmask_below(nr);
    float *y = a->y + (size_t)(c0 + c) * a->ldy + r;
    for (int j = 0; j < C; j++)
        acc[j] = first ? vf_zero() : vf_load_masked(m, y + (size_t)j * a->ldy);
    prefetch_outputs(a->y, a->ldy, a->nc, c0 + c + C, C, r);
    tileq_cols(t, ci, x, ng, type, c, C, acc);
    for (int j = 0; j < C; j++)
        vf_store_masked(y + (size_t)j * a->ldy, m, acc[j]);
}

/* Every column of one tile for one K chunk: groups of NCOL, 4, then 1. */
INLINE void runq_tile(const struct tileq *t, const struct colsq *ci, const struct matmul_args *a,
                      const char *const *x, int type, int ng, int first, int r, int nr, int c0, int cc,
                      struct next_rows *nx)
{
    int c = 0;
    for (; c + NCOL <= cc; c += NCOL) {
        prefetch_next(nx, nx->per);
        runq_cols(t, ci, a, x, type, ng, first, r, nr, c0, c, NCOL);
    }
    prefetch_next(nx, nx->n);
    for (; NCOL > 4 && c + 4 <= cc; c += 4)
        runq_cols(t, ci, a, x, type, ng, first, r, nr, c0, c, 4);
    for (; c < cc; c++)
        runq_cols(t, ci, a, x, type, ng, first, r, nr, c0, c, 1);
}

/* Column c of a product over x16 weights through the decode kernels:
 * gemmq's way without scratch. */
static void x16_column(const struct matmul_args *a, int type, int c, int r0, int r1);

/* gemmq without scratch: column by column through the decode kernels (out
 * of line: the GEMM's loops keep their shape and registers). */
__attribute__((noinline, cold)) static void gemmq_by_columns(const struct matmul_args *a, int type, int r0, int r1,
                                                             int x16)
{
    for (int c = 0; c < a->nc; c++) {
        if (x16)
            x16_column(a, type, c, r0, r1);
        else if (is_k(type))
            matvec_k(a, type, c, r0, r1);
        else
            matvec32(a, type, c, r0, r1);
    }
}

/* nc > 1: activation group data prepared per (CC columns, KE elements)
 * chunk, each tile packed per chunk (x16: read from the layout) and run
 * against every column. */
INLINE void gemmq(const struct matmul_args *a, int type, int r0, int r1, int x16)
{
    void *own;
    struct quant_scratch *qs = gemm_scratch(a, &own);
    if (!qs) {
        gemmq_by_columns(a, type, r0, r1, x16);
        return;
    }
    struct tileq *t = &qs->t;
    struct colsq *ci = &qs->c;
    const char *x[CC];
    int ge = 4 * qgroup(type);
    for (int c0 = 0; c0 < a->nc; c0 += CC) {
        int cc = imin(CC, a->nc - c0);
        for (int e0 = 0; e0 < a->n; e0 += KE) {
            int ke = imin(KE, a->n - e0);
            prep_colsq(ci, a, type, c0, cc, e0, ke);
            for (int c = 0; c < cc; c++)
                x[c] = (const char *)row_at(a->x, a->x_row_bytes, (size_t)(c0 + c))
                     + (size_t)(e0 / wblock_elems(type)) * xblock_bytes(type);
            size_t kb = (size_t)(ke / wblock_elems(type)) * wblock_bytes(type);
            for (int r = r0; r < r1; r += TILE) {
                int nr = imin(TILE, r1 - r), next = imin(TILE, r1 - r - nr);
                struct next_rows nx;
                if (x16) {   /* after a group's last tile, the next group's chunk: 16 * kb bytes in one run */
                    packq_x16(t, a, type, r, e0, ke);
                    int last = (r / TILE) % X16_TILES == X16_TILES - 1;
                    nx = next_rows_at((const char *)row_at(a->w, a->w_row_bytes, (size_t)(r + nr)) +
                                          X16 * (size_t)(e0 / wblock_elems(type)) * wblock_bytes(type),
                                      kb, 0, 0, kb, last ? X16_TILES * next : 0, cc / NCOL);
                } else {
                    packq(t, a, type, r, nr, e0, ke);
                    nx = next_rows_at(a->w, a->w_row_bytes, r + nr,   /* as in gemm_float */
                                      (size_t)(e0 / wblock_elems(type)) * wblock_bytes(type), kb, next, cc / NCOL);
                }
                runq_tile(t, ci, a, x, type, ke / ge, e0 == 0, r, nr, c0, cc, &nx);
            }
        }
    }
    free(own);
}

/* ---- the set's entry points: matmul_* by type, the activation rows ---- */

/* 2 <= nc <= MCOLS (decode attention's G query heads, short batches):
 * packing tiles for the GEMM would cost more than the products. */
INLINE void matvec_cols(const struct matmul_args *a, int type, int r0, int r1)
{
    _Alignas(64) float xf[MCOLS][MCK];
    for (int k0 = 0; k0 < a->n; k0 += MCK) {
        int kc = imin(MCK, a->n - k0);
        for (int c = 0; c < a->nc; c++)
            convert_cols_chunk(xf[c], row_at(a->x, a->x_row_bytes, (size_t)c), type, k0, kc);
        switch (a->nc) {
        case 2: matvec_cols_pass(a, type, (const float (*)[MCK])xf, k0, kc, r0, r1, 2); break;
        case 3: matvec_cols_pass(a, type, (const float (*)[MCK])xf, k0, kc, r0, r1, 3); break;
        case 4: matvec_cols_pass(a, type, (const float (*)[MCK])xf, k0, kc, r0, r1, 4); break;
        case 5: matvec_cols_pass(a, type, (const float (*)[MCK])xf, k0, kc, r0, r1, 5); break;
        case 6: matvec_cols_pass(a, type, (const float (*)[MCK])xf, k0, kc, r0, r1, 6); break;
        case 7: matvec_cols_pass(a, type, (const float (*)[MCK])xf, k0, kc, r0, r1, 7); break;
        default: matvec_cols_pass(a, type, (const float (*)[MCK])xf, k0, kc, r0, r1, 8); break;
        }
    }
}

INLINE void matmul_float(const struct matmul_args *a, int r0, int r1, int type)
{
    if (a->nc == 1)
        matvec_float(a, type, 0, r0, r1);
    else if (a->nc <= MCOLS)
        matvec_cols(a, type, r0, r1);
    else
        gemm_float(a, type, r0, r1);
}

static void matmul_f32(const struct matmul_args *a, int r0, int r1) { matmul_float(a, r0, r1, TL_F32); }
static void matmul_f16(const struct matmul_args *a, int r0, int r1) { matmul_float(a, r0, r1, TL_F16); }
static void matmul_bf16(const struct matmul_args *a, int r0, int r1) { matmul_float(a, r0, r1, TL_BF16); }

INLINE void matmulq(const struct matmul_args *a, int r0, int r1, int type)
{
    if (a->nc > 1)
        gemmq(a, type, r0, r1, 0);
    else if (is_k(type))
        matvec_k(a, type, 0, r0, r1);
    else
        matvec32(a, type, 0, r0, r1);
}

KERNELS_QUANT_PRODUCTS(matmulq, matmulq)


/* Q8_0 / Q8_1 rows, a block at a time through the set's q8_block (d =
 * amax / 127, q = roundf(x / d) as quant_q8_block; returns d, *sum = sum(q)). */
static float q8_block(const float *x, int8_t *qs, int *sum);

static void quantize_q8_0(const float *x, void *y, int n)
{
    struct block_q8_0 *b = y;
    for (int i = 0; i < n / QK; i++, x += QK) {
        int sum;
        b[i].d = _cvtss_sh(q8_block(x, b[i].qs, &sum), 0);
    }
}

static void quantize_q8_1(const float *x, void *y, int n)
{
    struct block_q8_1 *b = y;
    for (int i = 0; i < n / QK; i++, x += QK) {
        int sum;
        float d = q8_block(x, b[i].qs, &sum);
        b[i].d = _cvtss_sh(d, 0);
        b[i].s = _cvtss_sh((float)sum * d, 0);
    }
}

static void quantize_f32(const float *x, void *y, int n) { memcpy(y, x, (size_t)n * sizeof *x); }

/* Q8_K: d = max/-127 with max the first value of largest magnitude; the
 * quants and bsums by the set's q8k_quants. */
INLINE void q8k_quants(const float *x, float iscale, struct block_q8_K *b);

static void quantize_q8_K(const float *x, void *y, int n)
{
    struct block_q8_K *b = y;
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        VF am = vf_zero();
        for (int j = 0; j < QK_K; j += TILE)
            am = vf_max(am, vf_abs(vf_loadu(x + j)));
        float amax = vf_hmax(am), max = 0;
        if (!amax) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        for (int j = 0; j < QK_K; j += TILE) {
            unsigned hit = vf_eq_bits(vf_abs(vf_loadu(x + j)), vf_set1(amax));
            if (hit) {
                max = x[j + __builtin_ctz(hit)];
                break;
            }
        }
        float iscale = -127.f / max;
        q8k_quants(x, iscale, &b[i]);
        b[i].d = 1 / iscale;
    }
}


#endif
