/* fakequant_isa.h (kernels-internal): whether the fake-quantization loops written for AVX-512
 * (quant_minifloat.c, quant_binary.c) run. They give the same bits as the portable loops, which the
 * other CPUs take; QUENCH_FAKEQUANT=portable asks for those (to test them on an AVX-512 machine). */
#ifndef QN_FAKEQUANT_ISA_H
#define QN_FAKEQUANT_ISA_H

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QN_FAKEQUANT_AVX512
#define QN_AVX512_FN __attribute__((target("avx512f")))

static inline int qn_fakequant_avx512(void) {
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f");
    }
    const char *want = getenv("QUENCH_FAKEQUANT");
    return have && !(want && strcmp(want, "portable") == 0);
}
#endif

#endif
