/* quant_binary.c: MASE's binary and ternary formats (research note, section 9). Statistics are per
 * index of the first axis (MASE's per-sample n); MASE itself only accepts 4-D tensors there, quench
 * takes any shape as lead x rest. Deterministic only (MASE's stochastic binary follows torch's RNG). */
#include <math.h>
#include <stdint.h>

#include "fakequant_isa.h"
#include "log2_exact.h"
#include "qn_formats.h"
#include "stream_store.h"

/* MASE's per-row statistics are torch.sum / torch.mean over float32 rows, and torch's CPU kernel adds
 * a contiguous row in a fixed order: 8-lane vectors (its AVX2 kernels), four vectors side by side,
 * each lane cascading through four levels of accumulators (level k+1 takes level k every 2^lp rows
 * of four vectors); then the leftover vectors, the four vectors into the first, the scalar tail and
 * the 8 lanes, in that order. Rows shorter than 8 go through the same cascade on scalars, four at a
 * time. Reproducing that order gives MASE's float32 sums bit for bit (checked against torch 1.13
 * single-threaded, tests/unit/test_kernels_mase_vectors.c); a double sum would be off by an ulp in
 * about half the rows. kept_abs is MASE's masked |x|: (|x| > delta) * |x|, all of |x| for delta -1. */
enum { TS_LANES = 8, TS_ILP = 4, TS_GROUP = TS_LANES * TS_ILP, TS_LEVELS = 4 };

static inline float kept_abs(float v, float delta) {
    float a = fabsf(v);
    return (a > delta ? 1.0f : 0.0f) * a;
}

/* The cascade over `rows` consecutive groups of `width` floats (width 32 or 4); per-slot sums to out. */
static inline __attribute__((always_inline)) void torch_cascade(const float *x, size_t rows, size_t width,
                                                                float delta, float *out) {
    float acc[TS_LEVELS][TS_GROUP] = {{0.0f}};
    int lp = 1;
    if (rows > 2)
        for (size_t v = rows - 1; v >>= 1;) lp++; /* ceil(log2(rows)) */
    lp = lp / TS_LEVELS > 4 ? lp / TS_LEVELS : 4;
    const size_t step = (size_t)1 << lp, mask = step - 1;
    size_t i = 0;
    while (i + step <= rows) {
        for (size_t end = i + step; i < end; i++)
            for (size_t k = 0; k < width; k++) acc[0][k] += kept_abs(x[i * width + k], delta);
        for (int j = 1; j < TS_LEVELS; j++) {
            for (size_t k = 0; k < width; k++) acc[j][k] += acc[j - 1][k], acc[j - 1][k] = 0.0f;
            if (i & (mask << (j * lp))) break;
        }
    }
    for (; i < rows; i++)
        for (size_t k = 0; k < width; k++) acc[0][k] += kept_abs(x[i * width + k], delta);
    for (int j = 1; j < TS_LEVELS; j++)
        for (size_t k = 0; k < width; k++) acc[0][k] += acc[j][k];
    for (size_t k = 0; k < width; k++) out[k] = acc[0][k];
}

/* torch.sum of kept_abs over a row of n floats, in torch's order (above). */
QN_SIMD_CLONES static float torch_row_sum(const float *x, size_t n, float delta) {
    float part[TS_GROUP];
    if (n < TS_LANES) { /* scalars, four side by side */
        torch_cascade(x, n / TS_ILP, TS_ILP, delta, part);
        for (size_t i = n / TS_ILP * TS_ILP; i < n; i++) part[0] += kept_abs(x[i], delta);
        return ((part[0] + part[1]) + part[2]) + part[3];
    }
    const size_t nvec = n / TS_LANES, groups = nvec / TS_ILP;
    torch_cascade(x, groups, TS_GROUP, delta, part);
    for (size_t v = groups * TS_ILP; v < nvec; v++) /* leftover vectors into the first */
        for (int l = 0; l < TS_LANES; l++) part[l] += kept_abs(x[v * TS_LANES + (size_t)l], delta);
    for (int k = 1; k < TS_ILP; k++)
        for (int l = 0; l < TS_LANES; l++) part[l] += part[k * TS_LANES + l];
    float s = 0.0f;
    for (size_t i = nvec * TS_LANES; i < n; i++) s += kept_abs(x[i], delta);
    for (int l = 0; l < TS_LANES; l++) s += part[l];
    return s;
}

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
        float alpha = torch_row_sum(xr, rest, -1.0f) / (float)rest; /* MASE: |x|.mean() */
        /* MASE: pos_one * alpha, so a NaN mean reaches every element */
        for (size_t i = 0; i < rest; i++) y[r * rest + i] = (xr[i] > 0.0f ? 1.0f : 0.0f) * alpha;
    }
}

QN_SIMD_CLONES void qn_quant_ternary(const float *x, float *y, size_t lead, size_t rest, int scaling_factor) {
    float buf[QN_STREAM_CHUNK];
    const int large = lead * rest >= QN_STREAM_MIN_FLOATS;
    const int isa = qn_fakequant_isa(), vec = isa != QN_FQ_PORTABLE; /* vector loops: no L1 buffer */
    int stream = large && (vec || rest <= QN_STREAM_CHUNK);
    for (size_t r = 0; r < lead; r++) {
        const float *xr = x + r * rest;
        if (stream && r + 2 < lead && !vec) /* a later row arrives while this one computes */
            for (size_t k = 0; k < rest; k += 16) __builtin_prefetch(xr + 2 * rest + k);
        /* MASE: 0.75 * torch.sum(|x|) / n, in that order */
        float delta = rest ? 0.75f * torch_row_sum(xr, rest, -1.0f) / (float)rest : 0.0f;
        float alpha = 1.0f;
        if (scaling_factor) {
            /* MASE: sum((|x| > delta) * |x|) / count(|x| > delta); 0 / 0 is NaN for an empty set */
            size_t k = 0;
            for (size_t i = 0; i < rest; i++) k += fabsf(xr[i]) > delta;
            alpha = torch_row_sum(xr, rest, delta) / (float)k;
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
