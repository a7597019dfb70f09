/* gpu_test.h: what every GPU test does first. ctest reads exit code 77 as "skipped" (never
 * "passed"), so a build without CUDA or a machine without a GPU reports the test as not run. */
#ifndef QN_GPU_TEST_H
#define QN_GPU_TEST_H

#include <math.h>
#include <stddef.h>
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

/* CUDA against CPU, element-wise: element i passes when |want - got| <= rtol * (|want| + 0.1
 * max|want|), relative with a floor at the tensor's scale for elements that cancel to near zero.
 * Adds the failing elements to *failures and shows the first few. */
static inline void qn_gpu_compare(int *failures, const char *what, const float *want, const float *got, size_t n,
                                  double rtol) {
    double mx = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
    int shown = 0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)want[i] - (double)got[i]), scale = fabs(want[i]) + 0.1 * mx;
        if (!(diff <= rtol * scale)) { /* NaN fails too */
            (*failures)++;
            if (shown++ < 4) fprintf(stderr, "  %s[%zu]: cpu %.9g cuda %.9g\n", what, i, want[i], got[i]);
        }
        if (scale > 0) worst = fmax(worst, diff / scale);
    }
    if (shown) fprintf(stderr, "  %s: worst relative error %.3g (tolerance %.1g)\n", what, worst, rtol);
}

/* Norm-wise: ||want - got|| <= rtol ||want||; one failure when not. */
static inline void qn_gpu_compare_norm(int *failures, const char *what, const float *want, const float *got, size_t n,
                                       double rtol) {
    double d = 0.0, w = 0.0;
    for (size_t i = 0; i < n; i++) d += ((double)want[i] - got[i]) * ((double)want[i] - got[i]), w += (double)want[i] * want[i];
    if (!(sqrt(d) <= rtol * sqrt(w) + 1e-30)) {
        (*failures)++;
        fprintf(stderr, "  %s: norm-wise relative error %.3g (tolerance %.1g)\n", what, sqrt(d) / sqrt(w), rtol);
    }
}

#endif
