/* quant_minifloat.c: MASE's minifloat_denorm (no implicit bit) and minifloat_ieee (implicit bit,
 * subnormals, no inf/NaN codes), float32 operation by float32 operation (research note, sections 3
 * and 4), quirks included: 2^k -> (1 - 2^-m) 2^k in denorm, no carry across binades in ieee, and the
 * near-zero passthrough with its mask arithmetic (-0.0 comes out +0.0, +-inf come out NaN). */
#include "qn_formats.h"
#include <stdint.h>
#include <string.h>

#include "format_elem.h"
#include "fakequant_isa.h"
#include "stream_store.h"

static int default_bias_of(int exponent_width, int exponent_bias) {
    return exponent_bias == QN_BIAS_DEFAULT ? (1 << (exponent_width - 1)) - 1 : exponent_bias;
}

/* The fast path needs every 2^E it forms to be a normal float. */
static int fast_ok(int m, int b, float emin, float emax) {
    return emin >= -126.0f && emax <= 126.0f && 1 - b - m >= -126 && m <= 23;
}

typedef float (*exact_fn)(float x, int m, int b, float emin, float emax);

/* ---- Rounding by addition (the default formats' path): v + C - C, with C = 2^(es + 23) > v, rounds v
 * to a multiple of 2^es with ties to even in one float add; a min against the largest mantissa of the
 * binade (or of the format) does MASE's clamp. Every element MASE's arithmetic and this one could
 * disagree on is flagged and recomputed exactly: NaN and inf, u = |x| + 1e-9 within log2f's rounding
 * window for floor (ieee) or ceil (denorm), and u in a higher binade than |x| (ieee). */

/* The add path needs m <= 22 (so v < C), 2^es normal and C finite for every es formed. */
static int add_ok(int m, int es_min, int emax) { return m <= 22 && es_min >= -126 && emax - m + 23 <= 127; }

static inline uint32_t exp_field(float v) { return (qn_f32_bits(v) >> 23) & 0xFFu; }

/* Both return NaN for an element to recompute exactly (NaN inputs included); no other NaN comes out. */
static inline float minifloat_ieee_add(float xi, int m, uint32_t ebits_lo, uint32_t ebits_hi, float smax) {
    float v = fabsf(xi), u = v + 1e-9f;
    uint32_t bu = qn_f32_bits(u), eu = bu & 0x7F800000u;
    /* E = clamp(floor(log2 u), -b, emax), the subnormal branch (E = -b) stepping as E = 1 - b does */
    uint32_t eb = eu < ebits_lo ? ebits_lo : eu < ebits_hi ? eu : ebits_hi;
    float step = qn_f32_from_bits(eb - ((uint32_t)m << 23)), c = step * 8388608.0f;
    float lim = (eu < ebits_lo ? smax : 2.0f * smax + 1.0f) * step;
    float q = (v + c) - c;
    q = q < lim ? q : lim;
    int slow = (eu == 0x7F800000u) | ((bu & 0x7FFFFFu) > 0x7FFFFFu - QN_LOG2_WINDOW) |
               (eu != (qn_f32_bits(v) & 0x7F800000u));
    q = slow ? NAN : q;
    return v <= 1e-8f ? xi + 0.0f : copysignf(q, xi);
}

static inline float minifloat_denorm_add(float xi, int m, uint32_t ebits_lo, uint32_t ebits_hi, float smax) {
    float v = fabsf(xi), u = v + 1e-9f;
    uint32_t bu = qn_f32_bits(u), mu = bu & 0x7FFFFFu;
    uint32_t eu = (bu & 0x7F800000u) + (mu != 0 ? 0x800000u : 0u); /* ceil(log2 u) */
    uint32_t eb = eu < ebits_lo ? ebits_lo : eu < ebits_hi ? eu : ebits_hi;
    float step = qn_f32_from_bits(eb - ((uint32_t)m << 23)), c = step * 8388608.0f;
    float lim = smax * step;
    float q = (v + c) - c;
    q = q < lim ? q : lim;
    int slow = ((bu & 0x7F800000u) == 0x7F800000u) | ((mu != 0) & (mu < QN_LOG2_WINDOW));
    q = slow ? NAN : q;
    return v <= 1e-8f ? xi + 0.0f : copysignf(q, xi);
}

QN_SIMD_CLONES static void recompute_nan(size_t n, const float *x, float *y, exact_fn fn, int m, int b, float emin,
                                         float emax) {
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t any = 0; /* a NaN's magnitude bits exceed inf's; integer compares vectorize */
        for (size_t k = i; k < i + 64; k++) any |= (qn_f32_bits(y[k]) & 0x7FFFFFFFu) > 0x7F800000u;
        if (!any) continue;
        for (size_t k = i; k < i + 64; k++)
            if (y[k] != y[k]) y[k] = fn(x[k], m, b, emin, emax);
    }
    for (; i < n; i++)
        if (y[i] != y[i]) y[i] = fn(x[i], m, b, emin, emax);
}

/* Chunks small enough to stay in L1: a branch-free pass that also flags the elements whose exponent
 * log2f's own rounding decides (as NaN on the add path, in a byte array otherwise), then the (rare)
 * exact recomputation of those. */
#define CHUNK 1024

/* The next chunk's input requested now arrives while this one computes (the hardware prefetcher
 * alone leaves computing and loading one after the other). */
static inline void prefetch_next(const float *x, size_t c0, size_t n) {
    for (size_t k = c0 + CHUNK; k < c0 + 2 * CHUNK && k < n; k += 16) __builtin_prefetch(x + k);
}

static float minifloat_denorm_fix(float x, int m, int b, float emin, float emax) {
    (void)b;
    return qn_minifloat_denorm_elem(x, m, emin, emax);
}
static float minifloat_ieee_fix(float x, int m, int b, float emin, float emax) {
    return qn_minifloat_ieee_elem(x, m, (float)b, emin, emax);
}

static void recompute_slow(const uint8_t *slow, size_t n, const float *x, float *y, exact_fn fn, int m, int b,
                           float emin, float emax) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t any;
        memcpy(&any, slow + i, 8);
        if (!any) continue;
        for (size_t k = i; k < i + 8; k++)
            if (slow[k]) y[k] = fn(x[k], m, b, emin, emax);
    }
    for (; i < n; i++)
        if (slow[i]) y[i] = fn(x[i], m, b, emin, emax);
}

/* The chunked loop both formats share, specialised at each call by the constant `ieee`: the fast
 * addition path with NaN marking, or the older fast path with its slow-case flags, then the
 * per-element fix-ups, and streamed stores for large arrays. */
static inline __attribute__((always_inline)) void minifloat_loop(const float *x, float *y, size_t n, int m, int b,
                                                                 float emin, float emax, int ieee) {
    const int stream = n >= QN_STREAM_MIN_FLOATS; /* see stream_store.h */
    const int e_max = (int)emax, add = add_ok(m, (ieee ? 1 : 0) - b - m, e_max);
    /* clamp bounds of E: denorm steps start at 2^-b, ieee's at 2^(1-b) */
    const uint32_t elo = (uint32_t)((ieee ? 128 : 127) - b) << 23, ehi = (uint32_t)(e_max + 127) << 23;
    const float smax = (float)((1 << m) - 1);
    float buf[CHUNK];
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        const size_t len = n - c0 < CHUNK ? n - c0 : CHUNK;
        const float *xc = x + c0;
        float *out = stream ? buf : y + c0;
        uint8_t slow[CHUNK];
        if (add) {
            for (size_t k0 = 0; k0 < len; k0 += 64) { /* 4 lines of the next chunk requested per 4 computed */
                for (size_t k = c0 + k0 + CHUNK; k < c0 + k0 + CHUNK + 64 && k < n; k += 16) __builtin_prefetch(x + k);
                const size_t k1 = k0 + 64 < len ? k0 + 64 : len;
                for (size_t k = k0; k < k1; k++)
                    out[k] = ieee ? minifloat_ieee_add(xc[k], m, elo, ehi, smax) : minifloat_denorm_add(xc[k], m, elo, ehi, smax);
            }
            recompute_nan(len, xc, out, ieee ? minifloat_ieee_fix : minifloat_denorm_fix, m, b, emin, emax);
        } else {
            prefetch_next(x, c0, n);
            for (size_t k = 0; k < len; k++) {
                out[k] = ieee ? qn_minifloat_ieee_fast(xc[k], m, (float)b, emin, emax)
                              : qn_minifloat_denorm_fast(xc[k], m, emin, emax);
                slow[k] = (uint8_t)(qn_log2_slow(fabsf(xc[k]) + 1e-9f) | (xc[k] != xc[k]));
            }
            recompute_slow(slow, len, xc, out, ieee ? minifloat_ieee_fix : minifloat_denorm_fix, m, b, emin, emax);
        }
        if (stream) qn_stream_store(y + c0, buf, len);
    }
}

/* ---- AVX-512: the add path's operations, 16 lanes at a time, written out so that 16 elements cost
 * about 20 vector operations (the portable loop's NaN marking and second pass over the chunk are gone)
 * and the output goes to memory straight from the registers (streamed for large arrays: no L1 buffer,
 * one fence at the end). The same float operations in the same order as minifloat_*_add, with the
 * products by powers of two done on the bits, which gives the same values: c = 2^(es+23) is
 * eb + ((23 - m) << 23); ieee's binade maximum (2 smax + 1) * step is eb with the top m fraction bits
 * set; denorm's smax * step is 2^E - 2^(E-m). The lanes minifloat_*_add would mark are flagged by
 * compares instead, and a vector holding any is finished element by element with the exact function. */
#ifdef QN_FAKEQUANT_AVX512
#include <immintrin.h>

typedef struct {
    __m512i abs_mask, exp_mask, lo, hi, c_shift, frac_top, window, one_below;
    __m512 tiny, near_zero, lim_sub;
} mf_consts;

static QN_AVX512_FN mf_consts mf_consts_for(int m, int b, int emax, int ieee) {
    const uint32_t elo = (uint32_t)((ieee ? 128 : 127) - b) << 23, ehi = (uint32_t)(emax + 127) << 23;
    const float smax = (float)((1 << m) - 1);
    mf_consts k;
    k.abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
    k.exp_mask = _mm512_set1_epi32(0x7F800000);
    k.lo = _mm512_set1_epi32((int)elo);
    k.hi = _mm512_set1_epi32((int)ehi);
    k.c_shift = _mm512_set1_epi32((23 - m) << 23);
    k.frac_top = _mm512_set1_epi32((int)(((1u << m) - 1u) << (23 - m)));
    k.window = _mm512_set1_epi32((int)(ieee ? QN_LOG2_WINDOW : QN_LOG2_WINDOW - 1u));
    k.one_below = _mm512_set1_epi32((int)(1u << (24 - m))); /* smax * step = 2^E - 2^(E-m), m >= 1 */
    k.tiny = _mm512_set1_ps(1e-9f);
    k.near_zero = _mm512_set1_ps(1e-8f);
    k.lim_sub = _mm512_set1_ps(smax * qn_f32_from_bits(elo - ((uint32_t)m << 23))); /* ieee's subnormal cap */
    return k;
}

/* 16 elements; *slow gets the lanes to recompute exactly. */
static inline __attribute__((always_inline)) QN_AVX512_FN __m512 mf_ieee16(__m512 x, const mf_consts *k, __mmask16 *slow) {
    const __m512i v = _mm512_and_si512(_mm512_castps_si512(x), k->abs_mask);
    const __m512i u = _mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(v), k->tiny));
    const __m512i eu = _mm512_and_si512(u, k->exp_mask);
    const __m512i eb = _mm512_min_epu32(_mm512_max_epu32(eu, k->lo), k->hi);
    const __m512 c = _mm512_castsi512_ps(_mm512_add_epi32(eb, k->c_shift));
    const __mmask16 normal = _mm512_cmp_epu32_mask(eu, k->lo, _MM_CMPINT_NLT);
    const __m512 lim = _mm512_castsi512_ps(_mm512_mask_or_epi32(_mm512_castps_si512(k->lim_sub), normal, eb, k->frac_top));
    const __m512 vf = _mm512_castsi512_ps(v);
    __m512 q = _mm512_min_ps(_mm512_sub_ps(_mm512_add_ps(vf, c), c), lim); /* q < lim ? q : lim */
    q = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(q), _mm512_castps_si512(x), k->abs_mask, 0xE4));
    const __mmask16 pass = _mm512_cmp_ps_mask(vf, k->near_zero, _CMP_LE_OQ);
    q = _mm512_mask_add_ps(q, pass, x, _mm512_setzero_ps()); /* xi + 0.0f */
    /* minifloat_ieee_add's flags: u's fraction within the window below the next binade, or u in a higher
     * binade than v, are together "u + window has other exponent bits than v"; v >= inf bits: inf, NaN */
    const __m512i t = _mm512_xor_si512(_mm512_add_epi32(u, k->window), v);
    *slow = _mm512_cmp_epu32_mask(t, _mm512_set1_epi32(0x800000), _MM_CMPINT_NLT) |
            _mm512_cmp_epu32_mask(v, k->exp_mask, _MM_CMPINT_NLT);
    return q;
}

static inline __attribute__((always_inline)) QN_AVX512_FN __m512 mf_denorm16(__m512 x, const mf_consts *k, __mmask16 *slow) {
    const __m512i v = _mm512_and_si512(_mm512_castps_si512(x), k->abs_mask);
    const __m512i u = _mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(v), k->tiny));
    const __m512i frac_ones = _mm512_set1_epi32(0x7FFFFF);
    const __m512i eu = _mm512_and_si512(_mm512_add_epi32(u, frac_ones), k->exp_mask); /* ceil(log2 u) */
    const __m512i eb = _mm512_min_epu32(_mm512_max_epu32(eu, k->lo), k->hi);
    const __m512 c = _mm512_castsi512_ps(_mm512_add_epi32(eb, k->c_shift));
    const __m512 lim = _mm512_castsi512_ps(_mm512_sub_epi32(eb, k->one_below));
    const __m512 vf = _mm512_castsi512_ps(v);
    __m512 q = _mm512_min_ps(_mm512_sub_ps(_mm512_add_ps(vf, c), c), lim);
    q = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(q), _mm512_castps_si512(x), k->abs_mask, 0xE4));
    const __mmask16 pass = _mm512_cmp_ps_mask(vf, k->near_zero, _CMP_LE_OQ);
    q = _mm512_mask_add_ps(q, pass, x, _mm512_setzero_ps());
    /* minifloat_denorm_add's flags: u inf or NaN, or u's fraction in [1, window) */
    const __m512i frac_less_one = _mm512_sub_epi32(_mm512_and_si512(u, frac_ones), _mm512_set1_epi32(1));
    *slow = _mm512_cmp_epu32_mask(u, k->exp_mask, _MM_CMPINT_NLT) |
            _mm512_cmp_epu32_mask(frac_less_one, k->window, _MM_CMPINT_LT);
    return q;
}

static inline __attribute__((always_inline)) QN_AVX512_FN __m512 mf_vector(const float *x, const mf_consts *k, int ieee,
                                                                         __mmask16 *slow) {
    return ieee ? mf_ieee16(_mm512_loadu_ps(x), k, slow) : mf_denorm16(_mm512_loadu_ps(x), k, slow);
}

static inline __attribute__((always_inline)) QN_AVX512_FN void mf_store(float *y, __m512 q, int stream) {
    if (stream) _mm512_stream_ps(y, q);
    else _mm512_storeu_ps(y, q);
}

/* Vectors from i on, up to the first that holds a lane to recompute; returns where it stopped. A
 * function of its own with no call inside, so the constants stay in registers. */
static inline __attribute__((always_inline)) QN_AVX512_FN size_t mf_span(const float *x, float *y, size_t i, size_t i1,
                                                                       const mf_consts *kp, int ieee, int stream) {
    const mf_consts k = *kp;
    for (; i + 16 <= i1; i += 16) {
        __mmask16 slow;
        const __m512 q = mf_vector(x + i, &k, ieee, &slow);
        if (__builtin_expect(slow != 0, 0)) break;
        mf_store(y + i, q, stream);
    }
    return i;
}
#define MF_SPAN(name, ieee, stream)                                                                                    \
    static __attribute__((noinline)) QN_AVX512_FN size_t name(const float *x, float *y, size_t i, size_t i1,          \
                                                              const mf_consts *k) {                                    \
        return mf_span(x, y, i, i1, k, ieee, stream);                                                                  \
    }
MF_SPAN(mf_span_ieee_stream, 1, 1)
MF_SPAN(mf_span_ieee_plain, 1, 0)
MF_SPAN(mf_span_denorm_stream, 0, 1)
MF_SPAN(mf_span_denorm_plain, 0, 0)

/* [i0, i1) of x into y; with `stream`, y + i0 is 64-byte aligned. */
static QN_AVX512_FN void mf_avx512(const float *x, float *y, size_t i0, size_t i1, int m, int b, float emin, float emax,
                                   int ieee, int stream) {
    const mf_consts k = mf_consts_for(m, b, (int)emax, ieee);
    size_t (*span)(const float *, float *, size_t, size_t, const mf_consts *) =
        ieee ? (stream ? mf_span_ieee_stream : mf_span_ieee_plain) : (stream ? mf_span_denorm_stream : mf_span_denorm_plain);
    for (size_t i = i0;; i += 16) {
        i = span(x, y, i, i1, &k);
        if (i + 16 > i1) break;
        __mmask16 slow; /* the vector it stopped at: its flagged lanes by the exact function */
        float lane[16];
        _mm512_storeu_ps(lane, mf_vector(x + i, &k, ieee, &slow));
        for (int j = 0; j < 16; j++)
            if (slow >> j & 1)
                lane[j] = ieee ? minifloat_ieee_fix(x[i + (size_t)j], m, b, emin, emax)
                               : minifloat_denorm_fix(x[i + (size_t)j], m, b, emin, emax);
        mf_store(y + i, _mm512_loadu_ps(lane), stream);
    }
    if (stream) _mm_sfence(); /* streamed stores are ordered before anything that follows */
}
#endif

QN_SIMD_CLONES static void minifloat_denorm_portable(const float *x, float *y, size_t n, int m, int b, float emin,
                                                     float emax) {
    minifloat_loop(x, y, n, m, b, emin, emax, 0);
}
QN_SIMD_CLONES static void minifloat_ieee_portable(const float *x, float *y, size_t n, int m, int b, float emin,
                                                   float emax) {
    minifloat_loop(x, y, n, m, b, emin, emax, 1);
}

/* The AVX-512 loop where the CPU has it (fakequant_isa.h) and the add path applies (m >= 1 for its lim
 * arithmetic). */
static void minifloat_run(const float *x, float *y, size_t n, int m, int b, float emin, float emax, int ieee) {
#ifdef QN_FAKEQUANT_AVX512
    if (m >= 1 && add_ok(m, (ieee ? 1 : 0) - b - m, (int)emax) && qn_fakequant_avx512()) {
        /* streamed stores need 64-byte aligned destinations: the few elements before one go the portable way */
        const int stream = n >= QN_STREAM_MIN_FLOATS;
        size_t head = stream ? (size_t)((64 - ((uintptr_t)y & 63)) & 63) / sizeof(float) : 0;
        if (head > n) head = n;
        const size_t body = head + (n - head) / 16 * 16;
        if (ieee) minifloat_ieee_portable(x, y, head, m, b, emin, emax);
        else minifloat_denorm_portable(x, y, head, m, b, emin, emax);
        mf_avx512(x, y, head, body, m, b, emin, emax, ieee, stream);
        if (ieee) minifloat_ieee_portable(x + body, y + body, n - body, m, b, emin, emax);
        else minifloat_denorm_portable(x + body, y + body, n - body, m, b, emin, emax);
        return;
    }
#endif
    if (ieee) minifloat_ieee_portable(x, y, n, m, b, emin, emax);
    else minifloat_denorm_portable(x, y, n, m, b, emin, emax);
}

void qn_quant_minifloat_denorm(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias) {
    const int m = width - exponent_width - 1, b = default_bias_of(exponent_width, exponent_bias);
    const float emin = (float)-b, emax = (float)((1 << exponent_width) - 1 - b);
    if (!fast_ok(m, b, emin, emax)) {
        for (size_t i = 0; i < n; i++) y[i] = qn_minifloat_denorm_elem(x[i], m, emin, emax);
        return;
    }
    minifloat_run(x, y, n, m, b, emin, emax, 0);
}

void qn_quant_minifloat_ieee(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias) {
    const int m = width - exponent_width - 1, b = default_bias_of(exponent_width, exponent_bias);
    const float emin = (float)-b, emax = (float)((1 << exponent_width) - 1 - b);
    if (!fast_ok(m, b, emin, emax)) {
        for (size_t i = 0; i < n; i++) y[i] = qn_minifloat_ieee_elem(x[i], m, (float)b, emin, emax);
        return;
    }
    minifloat_run(x, y, n, m, b, emin, emax, 1);
}
