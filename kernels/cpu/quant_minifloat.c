/* quant_minifloat.c: MASE's minifloat_denorm (no implicit bit) and minifloat_ieee (implicit bit,
 * subnormals, no inf/NaN codes), float32 operation by float32 operation (research note, sections 3
 * and 4), quirks included: 2^k -> (1 - 2^-m) 2^k in denorm, no carry across binades in ieee, and the
 * near-zero passthrough with its mask arithmetic (-0.0 comes out +0.0, +-inf come out NaN). */
#include "qn_formats.h"
#include <stdint.h>
#include <string.h>

#include "format_elem.h"

static int default_bias_of(int exponent_width, int exponent_bias) {
    return exponent_bias == QN_BIAS_DEFAULT ? (1 << (exponent_width - 1)) - 1 : exponent_bias;
}

/* The fast path needs every 2^E it forms to be a normal float. */
static int fast_ok(int m, int b, float emin, float emax) {
    return emin >= -126.0f && emax <= 126.0f && 1 - b - m >= -126 && m <= 23;
}


/* Chunks small enough to stay in L1: a branch-free pass that also flags the elements whose exponent
 * log2f's own rounding decides, then the (rare) exact recomputation of those. */
#define CHUNK 1024

typedef float (*exact_fn)(float x, int m, int b, float emin, float emax);
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

QN_SIMD_CLONES void qn_quant_minifloat_denorm(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias) {
    const int m = width - exponent_width - 1, b = default_bias_of(exponent_width, exponent_bias);
    const float emin = (float)-b, emax = (float)((1 << exponent_width) - 1 - b);
    if (!fast_ok(m, b, emin, emax)) {
        for (size_t i = 0; i < n; i++) y[i] = qn_minifloat_denorm_elem(x[i], m, emin, emax);
        return;
    }
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
        uint8_t slow[CHUNK];
        for (size_t i = c0; i < c1; i++) {
            y[i] = qn_minifloat_denorm_fast(x[i], m, emin, emax);
            slow[i - c0] = (uint8_t)(qn_log2_slow(fabsf(x[i]) + 1e-9f) | (x[i] != x[i]));
        }
        recompute_slow(slow, c1 - c0, x + c0, y + c0, minifloat_denorm_fix, m, b, emin, emax);
    }
}

QN_SIMD_CLONES void qn_quant_minifloat_ieee(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias) {
    const int m = width - exponent_width - 1, b = default_bias_of(exponent_width, exponent_bias);
    const float emin = (float)-b, emax = (float)((1 << exponent_width) - 1 - b);
    if (!fast_ok(m, b, emin, emax)) {
        for (size_t i = 0; i < n; i++) y[i] = qn_minifloat_ieee_elem(x[i], m, (float)b, emin, emax);
        return;
    }
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
        uint8_t slow[CHUNK];
        for (size_t i = c0; i < c1; i++) {
            y[i] = qn_minifloat_ieee_fast(x[i], m, (float)b, emin, emax);
            slow[i - c0] = (uint8_t)(qn_log2_slow(fabsf(x[i]) + 1e-9f) | (x[i] != x[i]));
        }
        recompute_slow(slow, c1 - c0, x + c0, y + c0, minifloat_ieee_fix, m, b, emin, emax);
    }
}
