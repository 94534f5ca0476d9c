/* test_kernels.c: every kernel set this machine runs, against the reference
 * (de)quantisation in format/quant.c: matmul for every supported weight type over
 * awkward shapes and row ranges, the activation quantisers, and the
 * attention helpers. New kernel sets are covered without edits here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu.h"
#include "kernels/kernels.h"
#include "test.h"
#include "util/mem.h"

/* xorshift64*: deterministic data without libc's rand. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
    return (float)(r >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static void fill(float *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = rnd() * (i % 7 == 0 ? 3.0f : 1.0f);
}

/* Bound on sum over blocks of |m * (s - dx*sum(qx))| for a Q4_1/Q5_1 row
 * (m at byte 2 of each block) against a Q8_1 row: s is rounded to f16 and
 * was computed from the f32 d, not the f16 d the row dequantises with. */
static double s_rounding(const uint8_t *w, int block_bytes, const uint8_t *x, int nb)
{
    double e = 0;
    for (int b = 0; b < nb; b++) {
        uint16_t m;
        struct block_q8_1 xb;
        memcpy(&m, w + (size_t)b * block_bytes + 2, 2);
        memcpy(&xb, x + (size_t)b * sizeof xb, sizeof xb);
        e += fabs((double)fp16_to_fp32(m) * fp16_to_fp32(xb.s)) * 0x1p-10;
    }
    return e;
}

/* Check one matmul call of set k for weight type t: nr weight rows of n,
 * nc activation columns, rows [r0, r1) computed. */
static void check_matmul(const struct kernels *k, uint32_t t, int n, int nr, int nc, int r0, int r1)
{
    const struct type_info *ti = type_info(t);
    uint32_t at = (uint32_t)ti->act_type;
    size_t wrb = type_row_bytes(t, n), xrb = type_row_bytes(at, n) + 4 * (nc > 1);
    size_t ldy = (size_t)nr + 3;
    float *src = malloc(sizeof(float) * (size_t)n);
    uint8_t *w = calloc((size_t)nr, wrb), *x = calloc((size_t)nc, xrb);
    float *y = malloc(sizeof(float) * ldy * (size_t)nc);
    float *wf = malloc(sizeof(float) * (size_t)n), *xf = malloc(sizeof(float) * (size_t)n);
    for (int r = 0; r < nr; r++) {
        fill(src, n);
        quantize_row(t, src, w + (size_t)r * wrb, n);
    }
    for (int c = 0; c < nc; c++) {
        fill(src, n);
        k->quantize[at](src, x + (size_t)c * xrb, n);
    }
    for (size_t i = 0; i < ldy * (size_t)nc; i++)
        y[i] = -12345.0f;
    struct matmul_args a = { y, ldy, w, wrb, x, xrb, n, nc, NULL };
    k->matmul[t](&a, r0, r1);
    int bad = 0;
    for (int c = 0; c < nc; c++) {
        dequantize_row(at, x + (size_t)c * xrb, xf, n);
        for (int r = 0; r < nr; r++) {
            float got = y[(size_t)c * ldy + r];
            if (r < r0 || r >= r1) {
                bad += got != -12345.0f;
                continue;
            }
            dequantize_row(t, w + (size_t)r * wrb, wf, n);
            double ref = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                ref += (double)wf[i] * xf[i];
                mag += fabs((double)wf[i] * xf[i]);
            }
            /* Same quantised data on both sides: only float rounding differs,
             * plus, against Q8_1, the f16 rounding of s = dx * sum(qx) that
             * the weight block's offset m is multiplied with. */
            double tol = 2e-5 * mag + 1e-6;
            if (at == TL_Q8_1)
                tol += s_rounding(w + (size_t)r * wrb, ti->block_bytes, x + (size_t)c * xrb, n / QK);
            if (!(fabs(got - ref) <= tol)) {
                if (bad++ < 3)
                    printf("  %s %s n=%d nc=%d r=%d c=%d: got %.7g want %.7g\n",
                           k->name, ti->name, n, nc, r, c, got, ref);
            }
        }
    }
    CHECK(bad == 0, "%s %s n=%d nr=%d nc=%d rows [%d,%d): %d wrong", k->name, ti->name, n, nr, nc, r0, r1, bad);
    mem_free_all(src, w, x, y, wf, xf);
}

/* Calls fn for each kernel set this CPU runs, merged over scalar. */
static int each_set(void (*fn)(const struct kernels *k))
{
    int ran = 0;
    for (const char *const *nm = kernels_names(); *nm; nm++) {
        struct kernels k;
        if (!kernels_get(*nm, &k))
            continue;
        printf("  set %s\n", k.name);
        fn(&k);
        ran++;
    }
    return ran;
}

static void matmul_set(const struct kernels *k)
{
    static const int ncs[] = { 1, 2, 3, 8, 9, 40 };
    for (uint32_t t = 0; t < TL_TYPE_COUNT; t++) {
        const struct type_info *ti = type_info(t);
        if (!ti || !ti->supported)
            continue;
        CHECK(k->matmul[t] != NULL, "%s: no matmul for %s", k->name, ti->name);
        CHECK(k->quantize[ti->act_type] != NULL, "%s: no quantize for act of %s", k->name, ti->name);
        if (!k->matmul[t] || !k->quantize[ti->act_type])
            continue;
        int be = ti->block_elems;
        int ns[] = { be == 1 ? 1 : be, be == 1 ? 7 : 2 * be, be == 1 ? 259 : 5 * be, be == 1 ? 64 : 9 * be };
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 6; j++)
                check_matmul(k, t, ns[i], 19, ncs[j], (i + j) % 5, 19 - (i * j) % 7);
        check_matmul(k, t, ns[1], 19, 3, 7, 8);
        if (be == 1) {   /* past the K chunks of the decode and few-column paths */
            check_matmul(k, t, 1100, 5, 3, 0, 5);
            check_matmul(k, t, 16400, 3, 1, 0, 3);
        }
        check_matmul(k, t, ns[1], 19, 2, 4, 4); /* empty range writes nothing */
    }
}

static void test_matmul(void)
{
    CHECK(each_set(matmul_set) >= 1, "no kernel set runs here");
}

/* Set k's activation quantisers against quantize_row on x[0 .. n), n <= 1024:
 * byte for byte when exact (and always for the float formats), else each
 * value within one step (amax / 127) and 0.2%: a SIMD set may round a tie
 * of random data the other way and compute d in another order. */
static void compare_quantize(const struct kernels *k, const float *x, int n, bool exact, const char *data)
{
    static const uint32_t acts[] = { TL_F32, TL_F16, TL_BF16, TL_Q8_0, TL_Q8_1, TL_Q8_K };
    enum { N_MAX = 1024 };
    static float a[N_MAX], b[N_MAX];
    static uint8_t got[N_MAX * 4], want[N_MAX * 4];
    for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
        uint32_t t = acts[ai];
        size_t rb = type_row_bytes(t, n);
        memset(got, 0, sizeof got);
        memset(want, 0, sizeof want);
        k->quantize[t](x, got, n);
        quantize_row(t, x, want, n);
        if (exact || t == TL_F32 || t == TL_F16 || t == TL_BF16) {
            CHECK(!memcmp(got, want, rb), "%s: quantize %s of %s data differs from quantize_row", k->name,
                  type_info(t)->name, data);
            continue;
        }
        dequantize_row(t, got, a, n);
        dequantize_row(t, want, b, n);
        int bad = 0, be = type_info(t)->block_elems;
        for (int i0 = 0; i0 < n; i0 += be) {
            float amax = 0;
            for (int i = i0; i < i0 + be; i++)
                amax = fmaxf(amax, fabsf(x[i]));
            for (int i = i0; i < i0 + be; i++)
                bad += !(fabsf(a[i] - b[i]) <= 1.01f * amax / 127 + 2e-3f * fabsf(b[i]));
        }
        CHECK(bad == 0, "%s: quantize %s of %s data: %d values off", k->name, type_info(t)->name, data, bad);
    }
}

/* Random data (scalar bit for bit, the others within a step), then values
 * where rounding is decided by a tie or by the last bit: Q8_0/Q8_1 round
 * half away from zero like roundf, Q8_K to nearest even, so every set
 * matches quantize_row byte for byte there. */
static void quantize_set(const struct kernels *k)
{
    enum { N = 1024, N_TIES = 512 };
    float x[N];
    fill(x, N);
    for (int i = 0; i < 32; i++)
        x[i] = 0; /* an all-zero block */
    compare_quantize(k, x, N, !strcmp(k->name, "scalar"), "random");
    for (int i = 0; i < N_TIES; i++) /* multiples of 127/254: ties after scaling */
        x[i] = (float)((i * 37) % 255 - 127) / 254.0f * (i % 3 ? 1.0f : 1e-3f);
    x[5] = 1.0f;
    x[300] = -1e-30f;
    x[301] = 65519.0f;
    compare_quantize(k, x, N_TIES, true, "tie");
}

static void test_quantize(void)
{
    CHECK(each_set(quantize_set) >= 1, "no kernel set runs here");
}

static void f16_set(const struct kernels *k)
{
    static const int ns[] = { 1, 7, 8, 64, 80, 128, 131 };
    float kf[131];
    uint16_t kh[131], h[131];
    for (int ni = 0; ni < 7; ni++) {
        int n = ns[ni];
        fill(kf, n);
        for (int i = 0; i < n; i++)
            kh[i] = fp32_to_fp16(kf[i]);
        k->f32_to_f16(h, kf, n);
        CHECK(!memcmp(h, kh, sizeof(uint16_t) * (size_t)n), "%s f32_to_f16 n=%d differs", k->name, n);
    }
    /* every half, subnormals, infinities and nans included, in awkward lengths */
    static uint16_t all[65536];
    static float got[65536];
    for (int i = 0; i < 65536; i++)
        all[i] = (uint16_t)i;
    int bad = 0;
    for (int i0 = 0; i0 < 65536;) {
        int n = 65536 - i0 < 1000 ? 65536 - i0 : 1 + i0 % 999;
        k->f16_to_f32(got + i0, all + i0, n);
        i0 += n;
    }
    for (int i = 0; i < 65536; i++) {
        float want = fp16_to_fp32((uint16_t)i);
        bad += isnan(want) ? !isnan(got[i]) : memcmp(&want, &got[i], 4) != 0;
    }
    CHECK(bad == 0, "%s f16_to_f32: %d halves differ from fp16_to_fp32", k->name, bad);
}

static void test_f16_conversion(void)
{
    CHECK(each_set(f16_set) >= 1, "no kernel set runs here");
}

/* exp_sum and swiglu against the scalar set (libm's expf): within a few
 * ulp, in lengths that leave every kind of tail, over the ranges softmax
 * (x - max <= 0, down to where e^x underflows) and SiLU (either sign) see. */
static void elementwise_set(const struct kernels *k)
{
    enum { N = 300 };
    float x[N], a[N], b[N], g[N], u[N];
    int bad = 0;
    for (int n = 1; n <= N; n += n < 40 ? 1 : 37) {
        for (int i = 0; i < n; i++) {
            x[i] = (rnd() - 1.0f) * (i % 5 == 0 ? 60.0f : 8.0f);   /* [-120, 0] */
            g[i] = rnd() * (i % 3 == 0 ? 90.0f : 6.0f);
            u[i] = rnd();
        }
        memcpy(a, x, sizeof(float) * (size_t)n);
        memcpy(b, x, sizeof(float) * (size_t)n);
        double sa = k->exp_sum(a, n, 0.5f), sb = kernels_scalar.exp_sum(b, n, 0.5f);
        /* sets may clamp e^x at FLT_MIN (the per-element check allows 1e-35) */
        if (!(fabs(sa - sb) <= 1e-6 * sb + 1e-35 * n) && bad++ < 3)
            printf("  exp_sum n=%d: %.12g want %.12g\n", n, sa, sb);
        for (int i = 0; i < n; i++)
            if (!(fabsf(a[i] - b[i]) <= 4e-7f * b[i] + 1e-35f) && bad++ < 3)
                printf("  exp(%g): %.9g want %.9g\n", x[i] - 0.5f, a[i], b[i]);
        k->swiglu(a, g, u, n);
        kernels_scalar.swiglu(b, g, u, n);
        for (int i = 0; i < n; i++)
            if (!(fabsf(a[i] - b[i]) <= 4e-7f * fabsf(b[i]) + 1e-35f) && bad++ < 3)
                printf("  swiglu(%g, %g): %.9g want %.9g\n", g[i], u[i], a[i], b[i]);
        memcpy(a, u, sizeof(float) * (size_t)n);   /* y may be u */
        k->swiglu(a, g, a, n);
        for (int i = 0; i < n; i++)
            if (!(fabsf(a[i] - b[i]) <= 4e-7f * fabsf(b[i]) + 1e-35f) && bad++ < 3)
                printf("  swiglu(%g, %g) in place: %.9g want %.9g\n", g[i], u[i], a[i], b[i]);
    }
    CHECK(bad == 0, "%s: exp_sum/swiglu: %d values off the scalar set", k->name, bad);
}

static void test_elementwise(void)
{
    CHECK(each_set(elementwise_set) >= 1, "no kernel set runs here");
}

static void test_selection(void)
{
    struct kernels k;
    struct tl_error err = { 0 };
    CHECK(kernels_get("scalar", &k) == 1, "scalar must always run");
    CHECK(!strcmp(k.name, "scalar"), "got %s", k.name);
    CHECK(kernels_get("no-such-set", &k) == 0, "unknown set accepted");
    CHECK(kernels_select(&k, &err) == TL_OK, "%s", err.msg);
    for (int t = 0; t < TL_TYPE_COUNT; t++) {
        const struct type_info *ti = type_info((uint32_t)t);
        if (ti && ti->supported)
            CHECK(k.matmul[t] && k.quantize[ti->act_type], "selected set %s lacks %s", k.name, ti->name);
    }
    CHECK(k.f32_to_f16 && k.f16_to_f32, "selected set %s lacks the f16 conversions", k.name);
    CHECK(k.exp_sum && k.swiglu, "selected set %s lacks the elementwise kernels", k.name);
    CHECK(kernels_scalar.f16_to_f32 != NULL, "the scalar set is incomplete");
}

#if defined(__x86_64__)
/* 1 when the "flags" line of /proc/cpuinfo lists every word of want
 * (space-separated), 0 when not, -1 when that file cannot be read. */
static int cpuinfo_has(const char *want)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    static char line[8192];
    int found = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5))
            continue;
        found = 1;
        char w[64];
        for (const char *p = want; sscanf(p, "%63s", w) == 1; p = strstr(p, w) + strlen(w)) {
            char pat[70];
            snprintf(pat, sizeof pat, " %s", w);
            const char *at = strstr(line, pat);
            size_t len = strlen(pat);
            if (!at || (at[len] != ' ' && at[len] != '\n'))
                found = 0;
        }
        break;
    }
    fclose(f);
    return found;
}
#endif

static void test_cpu(void)
{
    uint32_t f = cpu_features();
    int cores = cpu_physical_cores();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  features 0x%x, physical cores %d, online cpus %ld\n", f, cores, online);
    CHECK(cores >= 1 && (online < 1 || cores <= online), "cores %d of %ld", cores, online);
    CHECK(!(f & CPU_AVX512) || (f & CPU_AVX2), "avx512 without avx2");
    CHECK(!(f & (CPU_AVX512VNNI | CPU_AVX512BF16)) || (f & CPU_AVX512), "avx512 extension without avx512");
    CHECK(!(f & CPU_AVXVNNI) || (f & CPU_AVX2), "avx-vnni without avx2");
    CHECK(!(f & CPU_DOTPROD) || (f & CPU_NEON), "dotprod without neon");
    CHECK(!(f & CPU_I8MM) || (f & CPU_DOTPROD), "i8mm without dotprod");
#if defined(__x86_64__)
    /* Linux lists a flag only when the kernel enables its state, so the
     * flags line is an independent answer to "CPU and OS support it". */
    static const struct { uint32_t bit; const char *flags; } map[] = {
        { CPU_AVX2, "avx2 fma f16c" }, { CPU_AVX512, "avx2 fma f16c avx512f avx512bw avx512vl avx512dq" },
        { CPU_AVX512VNNI, "avx512f avx512bw avx512vl avx512dq avx512_vnni" },
        { CPU_AVX512BF16, "avx512f avx512bw avx512vl avx512dq avx512_bf16" },
        { CPU_AVXVNNI, "avx2 fma f16c avx_vnni" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        int has = cpuinfo_has(map[i].flags);
        if (has >= 0)
            CHECK(has == !!(f & map[i].bit), "/proc/cpuinfo says %d for '%s', cpu_features %d", has,
                  map[i].flags, !!(f & map[i].bit));
    }
#endif
}

int main(void)
{
    RUN_TEST(test_cpu);
    RUN_TEST(test_selection);
    RUN_TEST(test_matmul);
    RUN_TEST(test_quantize);
    RUN_TEST(test_f16_conversion);
    RUN_TEST(test_elementwise);
    return test_finish();
}
