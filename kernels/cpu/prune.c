/* prune.c: pruning masks with MASE's semantics (research note, section 11): the l1-norm threshold
 * is torch.quantile of |x| (linear interpolation), elements are kept when |x| > threshold
 * (strict: elements equal to the threshold are pruned too); random keeps each element
 * independently with probability 1 - sparsity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_kernels.h"

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float qn_abs_quantile(const float *const *bufs, const size_t *lens, int nbufs, double q) {
    size_t n = 0;
    for (int b = 0; b < nbufs; b++) n += lens[b];
    if (n == 0) return NAN;
    float *a = malloc(n * sizeof *a);
    if (!a) return NAN;
    size_t k = 0;
    for (int b = 0; b < nbufs; b++)
        for (size_t i = 0; i < lens[b]; i++) a[k++] = fabsf(bufs[b][i]);
    /* torch.quantile: rank = fl32(q * (n - 1)); lerp between the neighbours. */
    float rank = (float)q * (float)(n - 1);
    size_t lo = (size_t)rank;
    size_t hi = (size_t)ceilf(rank);
    if (hi > n - 1) hi = n - 1;
    float w = rank - (float)lo;
    qsort(a, n, sizeof *a, cmp_float);
    float a_lo = a[lo], a_hi = a[hi];
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
