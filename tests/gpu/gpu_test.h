/* gpu_test.h: what every GPU test does first. ctest reads exit code 77 as "skipped" (never
 * "passed"), so a build without CUDA or a machine without a GPU reports the test as not run. */
#ifndef QN_GPU_TEST_H
#define QN_GPU_TEST_H

#include <stdio.h>

#include "qn_kernels.h"

#ifndef QUENCH_HAVE_CUDA
#define QN_GPU_TEST_SKIP_WITHOUT_GPU()              \
    do {                                            \
        puts("skipped: quench built without CUDA"); \
        return 77;                                  \
    } while (0)
#else
#define QN_GPU_TEST_SKIP_WITHOUT_GPU()            \
    do {                                          \
        if (qn_cuda_available() == 0) {           \
            puts("skipped: no CUDA GPU present"); \
            return 77;                            \
        }                                         \
    } while (0)
#endif

#endif
