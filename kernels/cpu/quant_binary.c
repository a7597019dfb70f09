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

#ifdef QN_FAKEQUANT_X86
#include <immintrin.h>

/* AVX-512: the compares give mask registers, the selects are masked moves. */
#define BV_ISA avx512
#define BV_W 16
#define BV_FN QN_AVX512_FN
#define BV_VEC __m512
#define BV_SET1 _mm512_set1_ps
#define BV_LOADU _mm512_loadu_ps
#define BV_STOREU _mm512_storeu_ps
#define BV_STREAM _mm512_stream_ps
#define BV_MUL _mm512_mul_ps
#define BV_BIPOLAR(v, one, minus_one)                                                                                  \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ), minus_one, one)
#define BV_TERNARY(v, lo, hi, one, minus_one)                                                                          \
    _mm512_mask_mov_ps(_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), minus_one),                         \
                       _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), one)
#include "quant_binary_vec.inc"

/* AVX2: the compares give all-ones lanes, the selects are and and blendv. */
#define BV_ISA avx2
#define BV_W 8
#define BV_FN QN_AVX2_FN
#define BV_VEC __m256
#define BV_SET1 _mm256_set1_ps
#define BV_LOADU _mm256_loadu_ps
#define BV_STOREU _mm256_storeu_ps
#define BV_STREAM _mm256_stream_ps
#define BV_MUL _mm256_mul_ps
#define BV_BIPOLAR(v, one, minus_one) _mm256_blendv_ps(minus_one, one, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ))
#define BV_TERNARY(v, lo, hi, one, minus_one)                                                                          \
    ternary_select_avx2(v, lo, hi, one, minus_one)
static inline __attribute__((always_inline)) QN_AVX2_FN __m256 ternary_select_avx2(__m256 v, __m256 lo, __m256 hi,
                                                                                  __m256 one, __m256 minus_one) {
    const __m256 t = _mm256_and_ps(_mm256_cmp_ps(v, lo, _CMP_LT_OQ), minus_one); /* -1 or +0 */
    return _mm256_blendv_ps(t, one, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
}
#include "quant_binary_vec.inc"
#endif

void qn_quant_binary(const float *x, float *y, size_t lead, size_t rest, int bipolar) {
    if (bipolar) {
        size_t n = lead * rest;
#ifdef QN_FAKEQUANT_X86
        switch (qn_fakequant_isa()) {
        case QN_FQ_AVX512: bipolar_avx512(x, y, n, n >= QN_STREAM_MIN_FLOATS); return;
        case QN_FQ_AVX2: bipolar_avx2(x, y, n, n >= QN_STREAM_MIN_FLOATS); return;
        default: break;
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
    const int isa = qn_fakequant_isa(), vec = isa != QN_FQ_PORTABLE; /* vector loops: no L1 buffer */
    int stream = large && (vec || rest <= QN_STREAM_CHUNK);
    double sums[2] = {0.0, 0.0};
    for (size_t r = 0; r < lead; r++) {
        const float *xr = x + r * rest;
        if (stream && r + 2 < lead && !vec) /* a later row arrives while this one computes */
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
#ifdef QN_FAKEQUANT_X86
        if (vec) {
            const float *ahead = stream && r + 2 < lead ? xr + 2 * rest : NULL;
            if (isa == QN_FQ_AVX512)
                ternary_row_avx512(xr, y + r * rest, rest, delta, alpha, scaling_factor, stream, ahead);
            else ternary_row_avx2(xr, y + r * rest, rest, delta, alpha, scaling_factor, stream, ahead);
            continue;
        }
#endif
        float *out = stream ? buf : y + r * rest;
        for (size_t i = 0; i < rest; i++) out[i] = ternary_elem(xr[i], delta, alpha, scaling_factor);
        if (stream) qn_stream_store(y + r * rest, buf, rest);
    }
#ifdef QN_FAKEQUANT_X86
    if (vec && stream) _mm_sfence(); /* the rows' streamed stores are ordered before anything that follows */
#endif
}
