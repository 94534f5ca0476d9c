/* test_simd.c: the SIMD kernel sets at the shapes where their blocking
 * changes (K chunks, partial groups and tiles, column chunks), against a
 * double-precision product of the dequantised operands. Buffers are sized
 * exactly, so under ASan a read past a row's end is caught. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "test.h"
#include "util/mem.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float rnd(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(rng >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

/* Q8_1 keeps s = d * sum(q) as an fp16, and every kernel applies a weight
 * block's min m as m * s: the difference from m * sum(x) that the exact
 * product of dequantised rows has. */
static double q8_1_min_error(const uint8_t *w, size_t wb, const uint8_t *x, const float *xf, int n)
{
    double e = 0;
    for (int b = 0; b < n / QK; b++) {
        const struct block_q8_1 *xb = (const struct block_q8_1 *)x + b;
        uint16_t m;
        memcpy(&m, w + (size_t)b * wb + 2, 2); /* Q4_1 and Q5_1: f16 d, m first */
        double sum = 0;
        for (int i = 0; i < QK; i++)
            sum += xf[b * QK + i];
        e += fp16_to_fp32(m) * (fp16_to_fp32(xb->s) - sum);
    }
    return e;
}

/* One product of set k: nr rows of n, nc columns, rows [r0, r1), the
 * weight packed x16 (format/quant.h) for k's matmul_x16 when x16. Returns the
 * number of wrong outputs (printing the first few). */
static int product_of(const struct kernels *k, uint32_t t, int n, int nr, int nc, int r0, int r1, int x16)
{
    const struct type_info *ti = type_info(t);
    uint32_t at = (uint32_t)ti->act_type;
    size_t wrb = type_row_bytes(t, n), xrb = type_row_bytes(at, n), ldy = (size_t)nr;
    float *src = malloc(sizeof(float) * (size_t)n), *wf = malloc(sizeof(float) * (size_t)n * (size_t)nr);
    float *xf = malloc(sizeof(float) * (size_t)n * (size_t)nc), *y = malloc(sizeof(float) * ldy * (size_t)nc);
    uint8_t *w = malloc(wrb * (size_t)nr), *x = malloc(xrb * (size_t)nc);
    int bad = 0;
    for (int r = 0; r < nr; r++) {
        for (int i = 0; i < n; i++)
            src[i] = rnd() * (r % 3 ? 1.0f : 0.01f);
        quantize_row(t, src, w + (size_t)r * wrb, n);
        dequantize_row(t, w + (size_t)r * wrb, wf + (size_t)r * (size_t)n, n);
    }
    for (int c = 0; c < nc; c++) {
        for (int i = 0; i < n; i++)
            src[i] = rnd() * (i % 5 == 0 ? 4.0f : 1.0f);
        k->quantize[at](src, x + (size_t)c * xrb, n);
        dequantize_row(at, x + (size_t)c * xrb, xf + (size_t)c * (size_t)n, n);
    }
    for (size_t i = 0; i < ldy * (size_t)nc; i++)
        y[i] = -7.0f;
    struct matmul_args a = { y, ldy, w, wrb, x, xrb, n, nc, NULL };
    if (x16) {
        CHECK(pack_x16(t, w, wrb, nr), "pack_x16: out of memory");
        k->matmul_x16[t](&a, r0, r1);
    } else {
        k->matmul[t](&a, r0, r1);
    }
    for (int c = 0; c < nc; c++) {
        for (int r = 0; r < nr; r++) {
            float got = y[(size_t)c * ldy + (size_t)r];
            if (r < r0 || r >= r1) {
                bad += got != -7.0f;
                continue;
            }
            const float *wr = wf + (size_t)r * (size_t)n, *xc = xf + (size_t)c * (size_t)n;
            double ref = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                ref += (double)wr[i] * xc[i];
                mag += fabs((double)wr[i] * xc[i]);
            }
            if (at == TL_Q8_1)
                ref += q8_1_min_error(w + (size_t)r * wrb, wrb / (size_t)(n / QK), x + (size_t)c * xrb, xc, n);
            if (!(fabs(got - ref) <= 2e-5 * mag + 1e-6) && bad++ < 3)
                printf("  %s %s%s n=%d nc=%d r=%d c=%d: got %.7g want %.7g\n", k->name, ti->name, x16 ? " x16" : "",
                       n, nc, r, c, got, ref);
        }
    }
    mem_free_all(src, wf, xf, y, w, x);
    return bad;
}

static int product(const struct kernels *k, uint32_t t, int n, int nr, int nc, int r0, int r1)
{
    return product_of(k, t, n, nr, nc, r0, r1, 0);
}

/* Calls fn for each set this CPU runs except scalar (test_kernels covers it). */
static int each_simd_set(void (*fn)(const struct kernels *k))
{
    int ran = 0;
    for (const char *const *nm = kernels_names(); *nm; nm++) {
        struct kernels k;
        if (!strcmp(*nm, "scalar") || !kernels_get(*nm, &k))
            continue;
        printf("  set %s\n", k.name);
        fn(&k);
        ran++;
    }
    return ran;
}

static const uint32_t quant_types[] = {
    TL_Q4_0, TL_Q4_1, TL_Q5_0, TL_Q5_1, TL_Q8_0, TL_IQ4_NL, TL_Q2_K, TL_Q3_K, TL_Q4_K, TL_Q5_K, TL_Q6_K,
};

/* Decode: K chunks of several sizes, odd block counts and 4k + 2 of them
 * (walked two rows at a time: 2, 18 as in 576-wide models, 258 past a
 * chunk), odd and even row counts from every start of a four-row step. */
static void matvec_set(const struct kernels *k)
{
    for (size_t ti = 0; ti < sizeof quant_types / sizeof quant_types[0]; ti++) {
        uint32_t t = quant_types[ti];
        int be = type_info(t)->block_elems;
        int ns[] = { be, 3 * be, 7 * be, be == 32 ? 8192 + 7 * 32 : 9 * 256, 2 * be, 18 * be, 258 * be };
        for (int i = 0; i < 7 * 8; i++) {
            int n = ns[i / 8], r0 = i % 4, r1 = (i % 8 < 4 ? 23 : 22) - r0;
            if (n > 8192 + 7 * 32)
                continue;
            int bad = product(k, t, n, 23, 1, r0, r1);
            CHECK(bad == 0, "%s %s n=%d nc=1 rows %d-%d: %d wrong", k->name, type_info(t)->name, n, r0, r1, bad);
        }
    }
    static const uint32_t float_types[] = { TL_F32, TL_F16, TL_BF16 };
    static const int fns[] = { 1, 15, 16, 17, 300, 16384 + 43 };  /* the last past a K chunk */
    for (int ti = 0; ti < 3; ti++)
        for (int i = 0; i < 6; i++) {
            int bad = product(k, float_types[ti], fns[i], 9, 1, 1, 8);
            CHECK(bad == 0, "%s %s n=%d nc=1: %d wrong", k->name, type_info(float_types[ti])->name, fns[i], bad);
        }
}

static void test_matvec(void)
{
    if (!each_simd_set(matvec_set))
        SKIP("no SIMD kernel set runs here");
}

/* Prompt products: K past one chunk (256 quantised elements; float types below),
 * columns past a column chunk, partial tiles at both ends. */
static void gemm_set(const struct kernels *k)
{
    static const int ncs[] = { 2, 5, 17, 64, 261 };
    for (size_t ti = 0; ti < sizeof quant_types / sizeof quant_types[0]; ti++) {
        uint32_t t = quant_types[ti];
        int n = type_info(t)->block_elems == 32 ? 19 * 32 : 3 * 256;
        for (int i = 0; i < 5; i++) {
            int bad = product(k, t, n, 37, ncs[i], 3, 37 - i);
            CHECK(bad == 0, "%s %s n=%d nc=%d: %d wrong", k->name, type_info(t)->name, n, ncs[i], bad);
        }
    }
    static const uint32_t float_types[] = { TL_F32, TL_F16, TL_BF16 };
    for (int ti = 0; ti < 3; ti++) {
        static const int fncs[] = { 2, 9, 33, 261 };
        for (int i = 0; i < 4; i++) {
            int bad = product(k, float_types[ti], 300, 37, fncs[i], 5, 36);
            CHECK(bad == 0, "%s %s n=300 nc=%d: %d wrong", k->name, type_info(float_types[ti])->name, fncs[i], bad);
        }
        /* odd and past a K chunk (512 floats; 1024 bf16 elements as pairs) */
        int bad = product(k, float_types[ti], 1067, 37, 33, 2, 37);
        CHECK(bad == 0, "%s %s n=1067 nc=33: %d wrong", k->name, type_info(float_types[ti])->name, bad);
    }
}

static void test_gemm(void)
{
    if (!each_simd_set(gemm_set))
        SKIP("no SIMD kernel set runs here");
}

/* Products over x16-packed weights: decode and GEMM, K past the decode
 * kernel's activation chunk (512 blocks) and the GEMM's (1024 elements:
 * 32 blocks or 4 super-blocks),
 * row ranges starting past the first group, column counts across the
 * GEMM's column groups. */
static void x16_set(const struct kernels *k)
{
    static const int ns32[] = { 32, 96, 576, 1056, 16384 + 64 }, ns256[] = { 256, 512, 1280, 4352, 16384 + 256 };
    static const int ncs[] = { 1, 2, 3, 17, 21 };   /* 21: NEON's 16-, 4- and 1-column panels */
    int tested = 0;
    for (uint32_t t = 0; t < TL_TYPE_COUNT; t++) {
        if (!k->matmul_x16[t])
            continue;
        CHECK(x16_packable(t), "%s has x16 products for %s, which format/quant.c does not pack", k->name, type_info(t)->name);
        const int *ns = type_info(t)->block_elems == QK_K ? ns256 : ns32;
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++) {
                int nr = j % 2 ? 48 : 16, r0 = j == 3 ? 16 : 0, nc = ncs[j];
                if (ns[i] > 2000 && nc > 2)
                    continue;
                int bad = product_of(k, t, ns[i], nr, nc, r0, nr, 1);
                CHECK(bad == 0, "%s %s x16 n=%d nc=%d rows %d-%d: %d wrong", k->name, type_info(t)->name, ns[i], nc,
                      r0, nr, bad);
            }
        tested++;
    }
    printf("  %s: x16 products for %d types\n", k->name, tested);
}

static void test_x16(void)
{
    if (!each_simd_set(x16_set))
        SKIP("no SIMD kernel set runs here");
}

int main(void)
{
    RUN_TEST(test_matvec);
    RUN_TEST(test_gemm);
    RUN_TEST(test_x16);
    return test_finish();
}
