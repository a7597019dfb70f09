/* Pruning masks with MASE's semantics: torch.quantile thresholds (linear interpolation), strict
 * comparison, global thresholds over several layers, random masks (research note section 11). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "qn_kernels.h"

static float quantile1(const float *x, size_t n, double q) {
    const float *bufs[] = {x};
    size_t lens[] = {n};
    return qn_abs_quantile(bufs, lens, 1, q);
}

static const float W[6] = {0.1f, -0.5f, 0.3f, 0.05f, -0.2f, 0.4f};

Test(prune, local_l1_half) {
    uint8_t mask[6];
    float t = quantile1(W, 6, 0.5);
    cr_expect_float_eq(t, 0.25f, 1e-7f);
    size_t zeros = qn_mask_l1(W, 6, t, mask);
    const uint8_t want[] = {0, 1, 1, 0, 0, 1};
    for (int i = 0; i < 6; i++) cr_expect_eq(mask[i], want[i], "element %d", i);
    cr_expect_eq(zeros, 3);
}

Test(prune, local_l1_fractional_rank) {
    uint8_t mask[6];
    float t = quantile1(W, 6, 0.3); /* rank fl32(0.3f * 5) = 1.5 */
    cr_expect_float_eq(t, 0.15f, 1e-7f);
    cr_expect_eq(qn_mask_l1(W, 6, t, mask), 2);
    const uint8_t want[] = {0, 1, 1, 0, 1, 1};
    for (int i = 0; i < 6; i++) cr_expect_eq(mask[i], want[i], "element %d", i);
}

Test(prune, strict_comparison_prunes_the_threshold_itself) {
    uint8_t mask[6];
    cr_expect_eq(qn_mask_l1(W, 6, quantile1(W, 6, 0.0), mask), 1, "sparsity 0 still prunes the minimum");
    cr_expect_eq(mask[3], 0);
    cr_expect_eq(qn_mask_l1(W, 6, quantile1(W, 6, 1.0), mask), 6, "sparsity 1 prunes everything");
    const float v[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
    uint8_t m5[5];
    float t = quantile1(v, 5, 0.25);
    cr_expect_eq(t, 0.2f);
    cr_expect_eq(qn_mask_l1(v, 5, t, m5), 2, "rank 1.0: 40%% pruned, not 25%%");
}

Test(prune, activation_vector) {
    float x[8] = {1.0f, -0.1f, 0.5f, 0.2f, 0.05f, 2.0f, -0.3f, 0.0f};
    uint8_t mask[8];
    float t = quantile1(x, 8, 0.5);
    cr_expect_float_eq(t, 0.25f, 1e-7f);
    qn_mask_l1(x, 8, t, mask);
    qn_apply_mask(x, mask, x, 8);
    const float want[8] = {1.0f, 0, 0.5f, 0, 0, 2.0f, -0.3f, 0};
    for (int i = 0; i < 8; i++) cr_expect_eq(x[i], want[i], "element %d", i);
}

Test(prune, global_threshold_spans_layers) {
    const float a[4] = {0.1f, 0.2f, 0.3f, 0.4f}, b[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    const float *bufs[] = {a, b};
    size_t lens[] = {4, 4};
    float t = qn_abs_quantile(bufs, lens, 2, 0.5);
    cr_expect_float_eq(t, 0.7f, 1e-6f);
    uint8_t ma[4], mb[4];
    cr_expect_eq(qn_mask_l1(a, 4, t, ma), 4, "layer A fully pruned");
    cr_expect_eq(qn_mask_l1(b, 4, t, mb), 0, "layer B untouched");
}

Test(prune, random_mask_rate_and_determinism) {
    enum { N = 200000 };
    static uint8_t m1[N], m2[N];
    for (int s = 1; s <= 9; s += 2) {
        double sparsity = s / 10.0;
        qn_rng r1, r2;
        qn_rng_seed(&r1, 99);
        qn_rng_seed(&r2, 99);
        size_t z1 = qn_mask_random(N, sparsity, &r1, m1);
        size_t z2 = qn_mask_random(N, sparsity, &r2, m2);
        cr_expect_eq(z1, z2);
        cr_expect(memcmp(m1, m2, N) == 0, "same seed, same mask");
        double achieved = (double)z1 / N;
        cr_expect(fabs(achieved - sparsity) < 0.005, "sparsity %.1f achieved %.4f", sparsity, achieved);
    }
    qn_rng r;
    qn_rng_seed(&r, 1);
    cr_expect_eq(qn_mask_random(1000, 0.0, &r, m1), 0);
    cr_expect_eq(qn_mask_random(1000, 1.0, &r, m1), 1000);
}

static int cmp_ref(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Selection gives torch.quantile's answer, as sorting does: random sizes, ties, quantiles. */
Test(prune, quantile_by_selection_equals_quantile_by_sorting) {
    qn_rng rng;
    qn_rng_seed(&rng, 99);
    float x[300], s[300];
    for (int trial = 0; trial < 3000; trial++) {
        size_t n = 1 + (size_t)qn_rng_below(&rng, 300);
        int levels = 1 + (int)qn_rng_below(&rng, 40); /* few levels: many ties */
        for (size_t i = 0; i < n; i++) {
            x[i] = ((float)(int)qn_rng_below(&rng, (uint64_t)levels) - levels / 2) * 0.37f;
            s[i] = fabsf(x[i]);
        }
        qsort(s, n, sizeof *s, cmp_ref);
        double q = trial % 7 == 0 ? (trial % 2 ? 1.0 : 0.0) : qn_rng_uniform(&rng);
        float rank = (float)q * (float)(n - 1);
        size_t lo = (size_t)rank, hi = (size_t)ceilf(rank);
        if (hi > n - 1) hi = n - 1;
        float w = rank - (float)lo;
        float want = w < 0.5f ? s[lo] + w * (s[hi] - s[lo]) : s[hi] - (s[hi] - s[lo]) * (1.0f - w);
        float got = quantile1(x, n, q);
        cr_assert(got == want, "n=%zu q=%g: %.9g != %.9g", n, q, (double)got, (double)want);
    }
    float with_nan[3] = {1.0f, NAN, 2.0f};
    cr_expect(isnan(quantile1(with_nan, 3, 0.5)), "a NaN input gives NaN, as torch.quantile");
}
