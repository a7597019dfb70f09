/* quant_binary.c: MASE's binary and ternary formats (research note, section 9). Statistics are per
 * index of the first axis (MASE's per-sample n); MASE itself only accepts 4-D tensors there, quench
 * takes any shape as lead x rest. Deterministic only (MASE's stochastic binary follows torch's RNG). */
#include <math.h>

#include "log2_exact.h"
#include "qn_formats.h"
#include "stream_store.h"

/* sum |x| in double over 8 interleaved partial sums (a fixed order, and it vectorizes). */
QN_SIMD_CLONES static double sum_abs(const float *x, size_t n) {
    double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) part[k] += fabsf(x[i + (size_t)k]);
    double s = 0.0;
    for (; i < n; i++) s += fabsf(x[i]);
    for (int k = 0; k < 8; k++) s += part[k];
    return s;
}

/* sum_abs of two rows at once, each in sum_abs's order: two independent chains of additions, so the
 * adder's latency is paid once for both. */
QN_SIMD_CLONES static void sum_abs2(const float *x0, const float *x1, size_t n, double sums[2]) {
    double p0[8] = {0, 0, 0, 0, 0, 0, 0, 0}, p1[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            p0[k] += fabsf(x0[i + (size_t)k]);
            p1[k] += fabsf(x1[i + (size_t)k]);
        }
    double s0 = 0.0, s1 = 0.0;
    for (; i < n; i++) s0 += fabsf(x0[i]), s1 += fabsf(x1[i]);
    for (int k = 0; k < 8; k++) s0 += p0[k], s1 += p1[k];
    sums[0] = s0, sums[1] = s1;
}

static double mean_abs(const float *x, size_t n) { return n ? sum_abs(x, n) / (double)n : 0.0; }

QN_SIMD_CLONES static void bipolar_chunk(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] >= 0.0f ? 1.0f : -1.0f; /* -0.0 and 0 give +1 */
}

void qn_quant_binary(const float *x, float *y, size_t lead, size_t rest, int bipolar) {
    if (bipolar) {
        size_t n = lead * rest;
        if (n < QN_STREAM_MIN_FLOATS) {
            bipolar_chunk(x, y, n);
            return;
        }
        float buf[QN_STREAM_CHUNK];
        for (size_t c0 = 0; c0 < n; c0 += QN_STREAM_CHUNK) {
            size_t len = n - c0 < QN_STREAM_CHUNK ? n - c0 : QN_STREAM_CHUNK;
            bipolar_chunk(x + c0, buf, len);
            qn_stream_store(y + c0, buf, len);
        }
        return;
    }
    for (size_t r = 0; r < lead; r++) {
        const float *xr = x + r * rest;
        float alpha = (float)mean_abs(xr, rest);
        for (size_t i = 0; i < rest; i++) y[r * rest + i] = xr[i] > 0.0f ? alpha : 0.0f;
    }
}

QN_SIMD_CLONES void qn_quant_ternary(const float *x, float *y, size_t lead, size_t rest, int scaling_factor) {
    float buf[QN_STREAM_CHUNK];
    int stream = lead * rest >= QN_STREAM_MIN_FLOATS && rest <= QN_STREAM_CHUNK;
    double sums[2] = {0.0, 0.0};
    for (size_t r = 0; r < lead; r++) {
        const float *xr = x + r * rest;
        if (stream && r + 2 < lead) /* a later row arrives while this one computes */
            for (size_t k = 0; k < rest; k += 16) __builtin_prefetch(xr + 2 * rest + k);
        if ((r & 1) == 0) { /* rows in pairs */
            if (r + 1 < lead) sum_abs2(xr, xr + rest, rest, sums);
            else sums[0] = sum_abs(xr, rest);
        }
        /* MASE: 0.75 * torch.sum(|x|) / n, in that order */
        float delta = rest ? 0.75f * (float)sums[r & 1] / (float)rest : 0.0f;
        float alpha = 1.0f;
        if (scaling_factor) {
            double s = 0.0;
            size_t k = 0;
            for (size_t i = 0; i < rest; i++)
                if (fabsf(xr[i]) > delta) s += fabsf(xr[i]), k++;
            alpha = k ? (float)(s / (double)k) : NAN; /* MASE: mean over an empty set is NaN */
        }
        float *out = stream ? buf : y + r * rest;
        for (size_t i = 0; i < rest; i++) {
            float t = xr[i] > delta ? 1.0f : xr[i] < -delta ? -1.0f : 0.0f;
            out[i] = scaling_factor ? t * alpha : t;
        }
        if (stream) qn_stream_store(y + r * rest, buf, rest);
    }
}
