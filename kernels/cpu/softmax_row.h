/* softmax_row.h (kernels-internal): the row work of a softmax, written to vectorize, for the
 * attention kernels (attention.c, sdpa.c). libm's scalar expf made the softmax cost as much as the
 * two products at head size 64; here a branch-free exp, and 16 explicit lanes for the max and the
 * sums, which fix the order of every addition: each instruction set gives the same bits. */
#ifndef QN_SOFTMAX_ROW_H
#define QN_SOFTMAX_ROW_H

#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QN_SOFTMAX_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), unused))
#else
#define QN_SOFTMAX_CLONES __attribute__((unused))
#endif
enum { QN_SOFTMAX_LANES = 16 };

static inline float qn_bits_to_float(uint32_t u) {
    union {
        uint32_t u;
        float f;
    } c = {.u = u};
    return c.f;
}

/* exp(x) for x <= 0 to about 1 ulp (Cephes' expf: x = n ln2 + r, |r| <= ln2 / 2, a degree-6
 * polynomial for exp(r), times 2^n). Below -86 it gives exp(-86) ~ 4e-38 instead of smaller: next
 * to the row's largest term, 1, that is nothing. */
static inline float qn_exp_nonpositive(float x) {
    x = x < -86.0f ? -86.0f : x;
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* rint: 1.5 * 2^23 */
    const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float y = p * r * r + r + 1.0f;
    return y * qn_bits_to_float((uint32_t)((int32_t)n + 127) << 23);
}

/* max(init, x[0:n]) */
QN_SOFTMAX_CLONES static float qn_row_max(const float *restrict x, int n, float init) {
    float acc[QN_SOFTMAX_LANES], m = init;
    for (int k = 0; k < QN_SOFTMAX_LANES; k++) acc[k] = init;
    int j = 0;
    for (; j + QN_SOFTMAX_LANES <= n; j += QN_SOFTMAX_LANES)
        for (int k = 0; k < QN_SOFTMAX_LANES; k++) acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
    for (int k = 0; k < QN_SOFTMAX_LANES; k++) m = acc[k] > m ? acc[k] : m;
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* x[j] = exp(x[j] - mx) for j < n (mx >= every x[j]); returns their sum. */
QN_SOFTMAX_CLONES static float qn_exp_sum(float *restrict x, int n, float mx) {
    float acc[QN_SOFTMAX_LANES] = {0}, sum = 0.0f;
    int j = 0;
    for (; j + QN_SOFTMAX_LANES <= n; j += QN_SOFTMAX_LANES)
        for (int k = 0; k < QN_SOFTMAX_LANES; k++) acc[k] += (x[j + k] = qn_exp_nonpositive(x[j + k] - mx));
    for (int k = 0; k < QN_SOFTMAX_LANES; k++) sum += acc[k];
    for (; j < n; j++) sum += (x[j] = qn_exp_nonpositive(x[j] - mx));
    return sum;
}

/* sum of a[j] * b[j], j < n */
QN_SOFTMAX_CLONES static float qn_row_dot(const float *restrict a, const float *restrict b, int n) {
    float acc[QN_SOFTMAX_LANES] = {0}, sum = 0.0f;
    int j = 0;
    for (; j + QN_SOFTMAX_LANES <= n; j += QN_SOFTMAX_LANES)
        for (int k = 0; k < QN_SOFTMAX_LANES; k++) acc[k] += a[j + k] * b[j + k];
    for (int k = 0; k < QN_SOFTMAX_LANES; k++) sum += acc[k];
    for (; j < n; j++) sum += a[j] * b[j];
    return sum;
}

#endif
