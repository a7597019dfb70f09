/* quant_minifloat.c: MASE's minifloat_denorm (no implicit bit) and minifloat_ieee (implicit bit,
 * subnormals, no inf/NaN codes), float32 operation by float32 operation (research note, sections 3
 * and 4), quirks included: 2^k -> (1 - 2^-m) 2^k in denorm, no carry across binades in ieee, and the
 * near-zero passthrough with its mask arithmetic (-0.0 comes out +0.0, +-inf come out NaN). */
#include "qn_formats.h"
#include <stdint.h>
#include <string.h>

#include "format_elem.h"
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

QN_SIMD_CLONES void qn_quant_minifloat_denorm(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias) {
    const int m = width - exponent_width - 1, b = default_bias_of(exponent_width, exponent_bias);
    const float emin = (float)-b, emax = (float)((1 << exponent_width) - 1 - b);
    if (!fast_ok(m, b, emin, emax)) {
        for (size_t i = 0; i < n; i++) y[i] = qn_minifloat_denorm_elem(x[i], m, emin, emax);
        return;
    }
    minifloat_loop(x, y, n, m, b, emin, emax, 0);
}

QN_SIMD_CLONES void qn_quant_minifloat_ieee(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias) {
    const int m = width - exponent_width - 1, b = default_bias_of(exponent_width, exponent_bias);
    const float emin = (float)-b, emax = (float)((1 << exponent_width) - 1 - b);
    if (!fast_ok(m, b, emin, emax)) {
        for (size_t i = 0; i < n; i++) y[i] = qn_minifloat_ieee_elem(x[i], m, (float)b, emin, emax);
        return;
    }
    minifloat_loop(x, y, n, m, b, emin, emax, 1);
}
