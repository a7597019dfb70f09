/* fakequant_isa.h (kernels-internal): which fake-quantization loops (quant_minifloat.c, quant_binary.c)
 * run: the AVX-512 ones where the CPU has AVX-512, the AVX2 ones where it has AVX2 only, the portable
 * ones otherwise. All give the same bits. QUENCH_FAKEQUANT=portable asks for the portable loops and
 * QUENCH_FAKEQUANT=avx2 for the AVX2 ones (to test and measure them on an AVX-512 machine). */
#ifndef QN_FAKEQUANT_ISA_H
#define QN_FAKEQUANT_ISA_H

#include <stdlib.h>
#include <string.h>

enum { QN_FQ_PORTABLE, QN_FQ_AVX2, QN_FQ_AVX512 };

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QN_FAKEQUANT_X86
#define QN_AVX512_FN __attribute__((target("avx512f")))
#define QN_AVX2_FN __attribute__((target("avx2")))

/* Read at each call (not cached) so tests can switch paths with setenv. */
static inline int qn_fakequant_isa(void) {
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") ? QN_FQ_AVX512 : __builtin_cpu_supports("avx2") ? QN_FQ_AVX2 : QN_FQ_PORTABLE;
    }
    const char *want = getenv("QUENCH_FAKEQUANT");
    if (want && strcmp(want, "portable") == 0) return QN_FQ_PORTABLE;
    if (want && strcmp(want, "avx2") == 0 && have >= QN_FQ_AVX2) return QN_FQ_AVX2;
    return have;
}
#else
static inline int qn_fakequant_isa(void) { return QN_FQ_PORTABLE; }
#endif

#endif
