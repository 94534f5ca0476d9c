/* kernels/cpu.c: which instruction sets this process may use (the CPU must have
 * them AND the OS must save their registers), and how many physical cores
 * the process may run on. */
#include <ctype.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu.h"

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static uint32_t features_x86(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int osxsave = c >> 27 & 1, avx = c >> 28 & 1, fma = c >> 12 & 1, f16c = c >> 29 & 1;
    /* Without OSXSAVE, xgetbv faults and the OS saves no AVX state. */
    if (!osxsave || !avx || __get_cpuid_max(0, NULL) < 7)
        return 0;
    uint64_t xcr0 = xgetbv0();
    unsigned max_sub7, b7, c7, a71 = 0;
    __cpuid_count(7, 0, max_sub7, b7, c7, d);
    if (max_sub7 >= 1)
        __cpuid_count(7, 1, a71, b, c, d);
    uint32_t f = 0;
    /* XCR0 bits 1-2: XMM and YMM state; bits 5-7: opmask, ZMM0-15 upper halves, ZMM16-31. */
    if ((xcr0 & 0x6) == 0x6 && (b7 >> 5 & 1) && fma && f16c)
        f |= CPU_AVX2;
    int avx512 = (b7 >> 16 & 1) && (b7 >> 17 & 1) && (b7 >> 30 & 1) && (b7 >> 31 & 1);
    if ((f & CPU_AVX2) && (xcr0 & 0xe6) == 0xe6 && avx512)
        f |= CPU_AVX512;
    if ((f & CPU_AVX512) && (c7 >> 11 & 1))
        f |= CPU_AVX512VNNI;
    if ((f & CPU_AVX512) && (a71 >> 5 & 1))
        f |= CPU_AVX512BF16;
    if ((f & CPU_AVX2) && (a71 >> 4 & 1))
        f |= CPU_AVXVNNI;
    return f;
}
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>

/* Linux arm64 hwcap bits (asm/hwcap.h), spelled out for old headers. */
enum {
    HWCAP_BIT_ASIMD = 1 << 1, HWCAP_BIT_FPHP = 1 << 9, HWCAP_BIT_ASIMDHP = 1 << 10,
    HWCAP_BIT_ASIMDDP = 1 << 20, HWCAP2_BIT_I8MM = 1 << 13,
};

static uint32_t features_arm(void)
{
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    uint32_t f = 0;
    if (hw & HWCAP_BIT_ASIMD)
        f |= CPU_NEON;
    /* The dot-product file is built for armv8.2-a+fp16, so it also needs
     * the half-precision arithmetic that flag lets the compiler emit. */
    int fp16 = (hw & HWCAP_BIT_FPHP) && (hw & HWCAP_BIT_ASIMDHP);
    if ((f & CPU_NEON) && fp16 && (hw & HWCAP_BIT_ASIMDDP))
        f |= CPU_DOTPROD;
    if ((f & CPU_DOTPROD) && (hw2 & HWCAP2_BIT_I8MM))
        f |= CPU_I8MM;
    return f;
}
#endif

uint32_t cpu_features(void)
{
#if defined(__x86_64__)
    return features_x86();
#elif defined(__aarch64__) && defined(__linux__)
    return features_arm();
#else
    return 0;
#endif
}

/* Read one small non-negative integer from a sysfs file; -1 on failure. */
static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

/* Distinct (package, core) pairs among the CPUs this process may run on,
 * from /sys topology; 0 when that cannot be read. */
static int count_sysfs_cores(void)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed))
        return 0;
    long seen[CPU_SETSIZE][2];
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        char path[128];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        long pkg = read_long(path);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        long core = read_long(path);
        if (pkg < 0 || core < 0)
            return 0;
        int dup = 0;
        for (int i = 0; i < n && !dup; i++)
            dup = seen[i][0] == pkg && seen[i][1] == core;
        if (!dup) {
            seen[n][0] = pkg;
            seen[n][1] = core;
            n++;
        }
    }
    return n;
}

int cpu_physical_cores(void)
{
    int n = count_sysfs_cores();
    if (n > 0)
        return n;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

/* s without its leading and trailing blanks, copied into buf */
static void copy_trimmed(char *buf, int size, const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    int n = (int)strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    snprintf(buf, (size_t)size, "%.*s", n, s);
}

void cpu_name(char *buf, int size)
{
    if (size <= 0)
        return;
    buf[0] = 0;
#if defined(__x86_64__)
    unsigned r[12];
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {   /* int in clang's cpuid.h */
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        char brand[49];
        memcpy(brand, r, 48);
        brand[48] = 0;
        copy_trimmed(buf, size, brand);
        return;
    }
#endif
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (colon && (!strncmp(line, "model name", 10) || !strncmp(line, "Hardware", 8))) {
            copy_trimmed(buf, size, colon + 1);
            break;
        }
    }
    fclose(f);
}
