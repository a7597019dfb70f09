/* quant_binary.c: MASE's binary and ternary formats (research note, section 9). Statistics are per
 * index of the first axis (MASE's per-sample n); MASE itself only accepts 4-D tensors there, quench
 * takes any shape as lead x rest. Deterministic only (MASE's stochastic binary follows torch's RNG). */
#include <math.h>
#include <stdint.h>

#include "fakequant_isa.h"
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

static inline float bipolar_elem(float x) { return x >= 0.0f ? 1.0f : -1.0f; } /* -0.0 and 0 give +1 */

QN_SIMD_CLONES static void bipolar_chunk(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = bipolar_elem(x[i]);
}

static inline float ternary_elem(float x, float delta, float alpha, int scaling_factor) {
    float t = x > delta ? 1.0f : x < -delta ? -1.0f : 0.0f;
    return scaling_factor ? t * alpha : t;
}

#ifdef QN_FAKEQUANT_AVX512
#include <immintrin.h>

/* The AVX-512 loops: the same compares (and product) as the element functions, 16 lanes at a time;
 * with `stream` the aligned part goes to memory past the caches straight from the registers, without
 * an L1 buffer in between, and one fence at the end. */
static QN_AVX512_FN void bipolar_avx512(const float *x, float *y, size_t n, int stream) {
    size_t i = 0;
    if (stream)
        for (; i < n && ((uintptr_t)(y + i) & 63u); i++) y[i] = bipolar_elem(x[i]);
    const __m512 one = _mm512_set1_ps(1.0f), minus_one = _mm512_set1_ps(-1.0f);
    for (; i + 16 <= n; i += 16) {
        const __mmask16 ge = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), _mm512_setzero_ps(), _CMP_GE_OQ);
        const __m512 t = _mm512_mask_blend_ps(ge, minus_one, one);
        if (stream) _mm512_stream_ps(y + i, t);
        else _mm512_storeu_ps(y + i, t);
    }
    for (; i < n; i++) y[i] = bipolar_elem(x[i]);
    if (stream) _mm_sfence(); /* streamed stores are ordered before anything that follows */
}

/* One row of ternary (the caller fences after the last). With `ahead`, each step also requests the
 * line at the same offset there (a later row), so reading it overlaps this row's stores instead of
 * arriving in a burst the fill buffers cannot hold. */
static QN_AVX512_FN void ternary_row_avx512(const float *x, float *y, size_t n, float delta, float alpha,
                                            int scaling_factor, int stream, const float *ahead) {
    size_t i = 0;
    if (stream)
        for (; i < n && ((uintptr_t)(y + i) & 63u); i++) y[i] = ternary_elem(x[i], delta, alpha, scaling_factor);
    const __m512 hi = _mm512_set1_ps(delta), lo = _mm512_set1_ps(-delta), a = _mm512_set1_ps(alpha);
    const __m512 one = _mm512_set1_ps(1.0f), minus_one = _mm512_set1_ps(-1.0f);
    for (; i + 16 <= n; i += 16) {
        if (ahead) _mm_prefetch((const char *)(ahead + i), _MM_HINT_T0);
        const __m512 v = _mm512_loadu_ps(x + i);
        __m512 t = _mm512_mask_mov_ps(_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), minus_one),
                                      _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), one);
        if (scaling_factor) t = _mm512_mul_ps(t, a);
        if (stream) _mm512_stream_ps(y + i, t);
        else _mm512_storeu_ps(y + i, t);
    }
    for (; i < n; i++) y[i] = ternary_elem(x[i], delta, alpha, scaling_factor);
}
#endif

void qn_quant_binary(const float *x, float *y, size_t lead, size_t rest, int bipolar) {
    if (bipolar) {
        size_t n = lead * rest;
#ifdef QN_FAKEQUANT_AVX512
        if (qn_fakequant_avx512()) {
            bipolar_avx512(x, y, n, n >= QN_STREAM_MIN_FLOATS);
            return;
        }
#endif
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
    const int large = lead * rest >= QN_STREAM_MIN_FLOATS;
#ifdef QN_FAKEQUANT_AVX512
    const int avx512 = qn_fakequant_avx512();
#else
    const int avx512 = 0;
#endif
    int stream = large && (avx512 || rest <= QN_STREAM_CHUNK);
    double sums[2] = {0.0, 0.0};
    for (size_t r = 0; r < lead; r++) {
        const float *xr = x + r * rest;
        if (stream && r + 2 < lead && !avx512) /* a later row arrives while this one computes */
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
#ifdef QN_FAKEQUANT_AVX512
        if (avx512) {
            ternary_row_avx512(xr, y + r * rest, rest, delta, alpha, scaling_factor, stream,
                               stream && r + 2 < lead ? xr + 2 * rest : NULL);
            continue;
        }
#endif
        float *out = stream ? buf : y + r * rest;
        for (size_t i = 0; i < rest; i++) out[i] = ternary_elem(xr[i], delta, alpha, scaling_factor);
        if (stream) qn_stream_store(y + r * rest, buf, rest);
    }
#ifdef QN_FAKEQUANT_AVX512
    if (avx512 && stream) _mm_sfence(); /* the rows' streamed stores are ordered before anything that follows */
#endif
}
