/* prune.c: pruning masks with MASE's semantics (research note, section 11): the l1-norm threshold
 * is torch.quantile of |x| (linear interpolation), elements are kept when |x| > threshold
 * (strict: elements equal to the threshold are pruned too); random keeps each element
 * independently with probability 1 - sparsity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_kernels.h"

static void swap_f(float *a, float *b) {
    float t = *a;
    *a = *b;
    *b = t;
}

/* Rearrange a[0..n) so that a[k] is the k-th smallest (0-based), as a full sort would place it:
 * quickselect with a median-of-three pivot, O(n) on average. No NaN in a. */
static float select_kth(float *a, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo]) swap_f(&a[mid], &a[lo]);
        if (a[hi] < a[lo]) swap_f(&a[hi], &a[lo]);
        if (a[hi] < a[mid]) swap_f(&a[hi], &a[mid]);
        float pivot = a[mid];
        size_t i = lo, j = hi;
        while (i <= j) { /* Hoare partition: [lo, j] <= pivot <= [i, hi] */
            while (a[i] < pivot) i++;
            while (pivot < a[j]) j--;
            if (i <= j) {
                swap_f(&a[i], &a[j]);
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

float qn_abs_quantile(const float *const *bufs, const size_t *lens, int nbufs, double q) {
    size_t n = 0;
    for (int b = 0; b < nbufs; b++) n += lens[b];
    if (n == 0) return NAN;
    float *a = malloc(n * sizeof *a);
    if (!a) return NAN;
    size_t k = 0;
    int nan = 0;
    for (int b = 0; b < nbufs; b++)
        for (size_t i = 0; i < lens[b]; i++) {
            a[k] = fabsf(bufs[b][i]);
            nan |= isnan(a[k]);
            k++;
        }
    if (nan) { /* as torch.quantile */
        free(a);
        return NAN;
    }
    /* torch.quantile: rank = fl32(q * (n - 1)); lerp between the neighbours. Selection instead of a
     * sort: the activation masks recompute this on every forward. */
    float rank = (float)q * (float)(n - 1);
    size_t lo = (size_t)rank;
    size_t hi = (size_t)ceilf(rank);
    if (hi > n - 1) hi = n - 1;
    float w = rank - (float)lo;
    float a_lo = select_kth(a, n, lo), a_hi = a_lo;
    if (hi > lo) { /* the next order statistic: the smallest of what selection left above lo */
        a_hi = a[lo + 1];
        for (size_t i = lo + 2; i < n; i++)
            if (a[i] < a_hi) a_hi = a[i];
    }
    free(a);
    return w < 0.5f ? a_lo + w * (a_hi - a_lo) : a_hi - (a_hi - a_lo) * (1.0f - w);
}

size_t qn_mask_l1(const float *x, size_t n, float threshold, uint8_t *mask) {
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) {
        mask[i] = fabsf(x[i]) > threshold;
        zeros += !mask[i];
    }
    return zeros;
}

size_t qn_mask_random(size_t n, double sparsity, qn_rng *rng, uint8_t *mask) {
    /* One draw from the stream keys a counter-based generator, so element i's coin does not depend
     * on the others: the CUDA kernel draws the same mask in parallel. */
    const uint64_t key = qn_rng_u64(rng);
    const float s = (float)sparsity;
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) {
        mask[i] = !(qn_mask_coin(key, i) < s); /* as torch.rand(shape) < sparsity -> drop */
        zeros += !mask[i];
    }
    return zeros;
}

void qn_apply_mask(const float *x, const uint8_t *mask, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = mask[i] ? x[i] : 0.0f;
}
