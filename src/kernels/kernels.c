/* kernels/kernels.c: the kernel sets compiled into this binary and the choice among
 * them. Each set lives in its own file built with its own ISA flags; this
 * file is built for the baseline CPU and only hands out a set after
 * cpu_features() says its instructions are safe to run here. */
#include <stdio.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kernels.h"

#if defined(__x86_64__)
extern const struct kernels kernels_avx2, kernels_avx2_vnni, kernels_avx512, kernels_avx512_bf16;
static const struct kernels *const sets[] = { &kernels_avx512_bf16, &kernels_avx512, &kernels_avx2_vnni, &kernels_avx2, &kernels_scalar, NULL };
#elif defined(__aarch64__)
extern const struct kernels kernels_neon, kernels_neon_dot;
static const struct kernels *const sets[] = { &kernels_neon_dot, &kernels_neon, &kernels_scalar, NULL };
#else
static const struct kernels *const sets[] = { &kernels_scalar, NULL };
#endif

/* Copy set into *k and fill its NULL entries from the scalar set. */
static void merge(const struct kernels *set, struct kernels *k)
{
    const struct kernels *s = &kernels_scalar;
    *k = *set;
    for (int t = 0; t < TL_TYPE_COUNT; t++) {
        if (!k->matmul[t])
            k->matmul[t] = s->matmul[t];
        if (!k->quantize[t])
            k->quantize[t] = s->quantize[t];
    }
    if (!k->f32_to_f16)
        k->f32_to_f16 = s->f32_to_f16;
    if (!k->f16_to_f32)
        k->f16_to_f32 = s->f16_to_f32;
    if (!k->exp_sum)
        k->exp_sum = s->exp_sum;
    if (!k->swiglu)
        k->swiglu = s->swiglu;
}

static int runs_here(const struct kernels *set)
{
    return (set->needs & cpu_features()) == set->needs;
}

int kernels_get(const char *name, struct kernels *k)
{
    for (int i = 0; sets[i]; i++) {
        if (strcmp(sets[i]->name, name))
            continue;
        if (!runs_here(sets[i]))
            return 0;
        merge(sets[i], k);
        return 1;
    }
    return 0;
}

int kernels_select(struct kernels *k, struct tl_error *err)
{
    return kernels_select_named(k, NULL, err);
}

int kernels_select_named(struct kernels *k, const char *name, struct tl_error *err)
{
    if (name && *name) {
        for (int i = 0; sets[i]; i++) {
            if (strcmp(sets[i]->name, name))
                continue;
            if (!runs_here(sets[i]))
                return tl_fail(err, TL_EINVAL, "kernel set '%s' does not run on this CPU", name);
            merge(sets[i], k);
            return TL_OK;
        }
        char have[128] = "";
        for (int i = 0; sets[i]; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", i ? ", " : "", sets[i]->name);
        return tl_fail(err, TL_EINVAL, "no kernel set '%s' in this build (it has %s)", name, have);
    }
    for (int i = 0; sets[i]; i++) {
        if (runs_here(sets[i])) {
            merge(sets[i], k);
            return TL_OK;
        }
    }
    merge(&kernels_scalar, k);
    return TL_OK;
}

const char *const *kernels_names(void)
{
    static const char *const names[] = {
#if defined(__x86_64__)
        "avx512-bf16", "avx512", "avx2-vnni", "avx2",
#elif defined(__aarch64__)
        "neon-dot", "neon",
#endif
        "scalar", NULL
    };
    return names;
}

bool kernels_repack(const struct kernels *k)
{
    for (int t = 0; t < TL_TYPE_COUNT; t++)
        if (k->matmul_x16[t])
            return true;
    return false;
}

void kernels_describe(const struct kernels *k, char *buf, size_t n)
{
    int used = snprintf(buf, n, "%s", k->name);
    const char *sep = "; repacks ";
    for (int t = 0; t < TL_TYPE_COUNT && used >= 0 && (size_t)used < n; t++)
        if (k->matmul_x16[t]) {
            used += snprintf(buf + used, n - (size_t)used, "%s%s", sep, type_info((uint32_t)t)->name);
            sep = " ";
        }
}
