/* quant_binary.c: MASE's binary and ternary formats (research note, section 9). Statistics are per
 * index of the first axis (MASE's per-sample n); MASE itself only accepts 4-D tensors there, quench
 * takes any shape as lead x rest. Deterministic only (MASE's stochastic binary follows torch's RNG). */
#include <math.h>

#include "log2_exact.h"
#include "qn_formats.h"

QN_SIMD_CLONES static double mean_abs(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += fabsf(x[i]);
    return n ? s / (double)n : 0.0;
}

QN_SIMD_CLONES void qn_quant_binary(const float *x, float *y, size_t lead, size_t rest, int bipolar) {
    if (bipolar) {
        for (size_t i = 0; i < lead * rest; i++) y[i] = x[i] >= 0.0f ? 1.0f : -1.0f; /* -0.0 and 0 give +1 */
        return;
    }
    for (size_t r = 0; r < lead; r++) {
        const float *xr = x + r * rest;
        float alpha = (float)mean_abs(xr, rest);
        for (size_t i = 0; i < rest; i++) y[r * rest + i] = xr[i] > 0.0f ? alpha : 0.0f;
    }
}

QN_SIMD_CLONES void qn_quant_ternary(const float *x, float *y, size_t lead, size_t rest, int scaling_factor) {
    for (size_t r = 0; r < lead; r++) {
        const float *xr = x + r * rest;
        /* MASE: 0.75 * torch.sum(|x|) / n, in that order */
        float delta = rest ? 0.75f * (float)(mean_abs(xr, rest) * (double)rest) / (float)rest : 0.0f;
        float alpha = 1.0f;
        if (scaling_factor) {
            double s = 0.0;
            size_t k = 0;
            for (size_t i = 0; i < rest; i++)
                if (fabsf(xr[i]) > delta) s += fabsf(xr[i]), k++;
            alpha = k ? (float)(s / (double)k) : NAN; /* MASE: mean over an empty set is NaN */
        }
        for (size_t i = 0; i < rest; i++) {
            float t = xr[i] > delta ? 1.0f : xr[i] < -delta ? -1.0f : 0.0f;
            y[r * rest + i] = scaling_factor ? t * alpha : t;
        }
    }
}
