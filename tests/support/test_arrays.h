/* test_arrays.h: float arrays for the Criterion suites: seeded random inputs (qn_rng, so a seed gives
 * the same array on every machine) and the relative difference the suites compare results by. */
#ifndef QN_TEST_ARRAYS_H
#define QN_TEST_ARRAYS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "qn_kernels.h"

/* n values uniform in [-1, 1) from seed; the caller frees. */
static inline float *qn_test_uniform(size_t n, uint64_t seed) {
    float *x = malloc(n * sizeof *x);
    cr_assert_not_null(x);
    qn_rng r;
    qn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * qn_rng_uniform(&r) - 1.0f;
    return x;
}

/* n values normal with standard deviation scale from seed; the caller frees. */
static inline float *qn_test_randn(size_t n, uint64_t seed, float scale) {
    float *x = malloc(n * sizeof *x);
    cr_assert_not_null(x);
    qn_rng r;
    qn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = scale * qn_rng_normal(&r);
    return x;
}

/* max |a - b| over n, relative to the scale of a (at least 1): for results summed in different
 * orders (decode's GEMV and prefill's GEMM, chunked and whole forwards). */
static inline float qn_test_max_rel_diff(const float *a, const float *b, size_t n) {
    float d = 0, scale = 1;
    for (size_t i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i])), scale = fmaxf(scale, fabsf(a[i]));
    return d / scale;
}

#endif
