/* kernels/cpu.h: what the processor and OS can run, read once. */
#ifndef TINYLLM_CPU_H
#define TINYLLM_CPU_H

#include <stdint.h>

enum {
    CPU_AVX2      = 1u << 0,  /* with FMA and F16C, and OS saves YMM */
    CPU_AVX512    = 1u << 1,  /* F, BW, VL, DQ, and OS saves ZMM/opmask */
    CPU_AVX512VNNI= 1u << 2,
    CPU_AVXVNNI   = 1u << 3,
    CPU_AVX512BF16= 1u << 4,
    CPU_NEON      = 1u << 8,
    CPU_DOTPROD   = 1u << 9,
    CPU_I8MM      = 1u << 10,
};

/* Bit set of CPU_* features usable by this process. */
uint32_t cpu_features(void);

/* Physical cores (best effort; >= 1). */
int cpu_physical_cores(void);

/* The processor's name ("AMD EPYC 9B45"; the CPUID brand string on x86, the
 * "model name" or "Hardware" line of /proc/cpuinfo elsewhere), or "" when
 * there is none to read. */
void cpu_name(char *buf, int size);

#endif
