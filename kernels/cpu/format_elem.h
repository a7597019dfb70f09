/* format_elem.h: the per-element arithmetic of MASE's formats, written once for the CPU loops and
 * the CUDA kernels (QN_HD: __host__ __device__ under nvcc), so both give the same bits. Every step
 * is one float32 operation, in MASE's order (research note sections 3-8). */
#ifndef QN_FORMAT_ELEM_H
#define QN_FORMAT_ELEM_H

#include "log2_exact.h"

/* minifloat_denorm: no implicit bit; exponent from ceil(log2), so 2^k -> (1 - 2^-m) 2^k. */
QN_HD static inline float qn_minifloat_denorm_elem(float xi, int m, float emin, float emax) {
    if (isnan(xi)) return xi;
    const float two_m = ldexpf(1.0f, m), smax = two_m - 1.0f;
    float sgn = qn_signf(xi + 1e-9f), v = fabsf(xi);
    float E = qn_clampf(qn_ceil_log2f(v + 1e-9f), emin, emax);
    float p = qn_exp2i(E);
    float s = qn_clampf(rintf((v / p) * two_m), 0.0f, smax);
    return qn_passthrough(xi, sgn * p * (s / two_m)); /* MASE: sign * 2**exponent * mantissa */
}

/* minifloat_ieee: implicit bit and subnormals, no carry across binades; bias b (per block for
 * block_minifloat). */
QN_HD static inline float qn_minifloat_ieee_elem(float xi, int m, float b, float emin, float emax) {
    if (isnan(xi)) return xi;
    const float two_m = ldexpf(1.0f, m), smax = two_m - 1.0f;
    float sgn = qn_signf(xi + 1e-9f), v = fabsf(xi);
    float E = qn_clampf(qn_floor_log2f(v + 1e-9f), emin, emax);
    float p = qn_exp2i(E), q;
    if (E != -b) {
        float s = qn_clampf(rintf((v / p) * two_m - two_m), 0.0f, smax);
        q = sgn * p * (1.0f + s / two_m);
    } else { /* subnormal: mantissa s / 2^m * 2 under the exponent -b, in MASE's order */
        float s = qn_clampf(rintf((v / p) * two_m / 2.0f), 0.0f, smax);
        q = sgn * p * (s / two_m * 2.0f);
    }
    return qn_passthrough(xi, q);
}

/* log: sign and a power of two rounded in the log domain; no zero (0 -> +2^emin). */
QN_HD static inline float qn_log_elem(float xi, float emin, float emax) {
    if (isnan(xi)) return xi;
    const float off = 0.1f * qn_exp2i(emin);
    float sgn = qn_signf(xi + off), v = fabsf(xi) + off;
    float E = qn_clampf(qn_rint_log2f(v), emin, emax);
    return sgn * qn_exp2i(E);
}

/* block_fp element under the block's shared exponent E (m mantissa bits, sign-magnitude). */
QN_HD static inline float qn_block_fp_elem(float xi, float E, int m) {
    if (isnan(E) || isnan(xi)) return NAN;
    const float two_m = ldexpf(1.0f, m), smax = two_m - 1.0f;
    float p = qn_exp2i(E);
    float sgn = qn_signf(xi + 1e-9f), v = fabsf(xi) + 1e-9f;
    float s = qn_clampf(rintf((v / p) * two_m), 0.0f, smax);
    return qn_passthrough(xi, sgn * p * (s / two_m)); /* MASE: sign * 2**exponent * mantissa */
}

/* mxint element: p = 2^ceil(log2 max), scale = 2^(clamped code - 127), half = 2^(k-1). */
QN_HD static inline float qn_mxint_elem(float xi, float p, float scale, float half) {
    float e = qn_clampf(rintf(xi / p * half), -half, half - 1.0f);
    return e / half * scale;
}

/* mxfp element codec (y already divided by the shared scale): MASE's truncate-then-round mantissa
 * and underflow, with the mantissa carry going into the exponent (MASE ORs it in; see quant_mx.c). */
QN_HD static inline float qn_mxfp_elem(float yv, int fb, int bias, int emax_code) {
    if (yv == 0.0f || isnan(yv)) return yv;
    const int emax = emax_code - bias;
    float sign = signbit(yv) ? -1.0f : 1.0f, a = fabsf(yv);
    int X;
    float F = frexpf(a, &X) * 2.0f; /* a = F * 2^(X-1), F in [1, 2) */
    X -= 1;
    int YE, YF;
    if (X < -bias) return sign * 0.0f; /* underflow */
    if (X > emax || isinf(a)) {
        YE = emax_code;
        YF = (1 << fb) - 1;
    } else {
        YE = X + bias;
        uint32_t frac = qn_f32_bits(F) & 0x7FFFFFu;
        float t = (float)(frac >> 8); /* 15 bits kept: truncation first, then round half to even */
        YF = (int)rintf(t / ldexpf(1.0f, 15 - fb));
        if (YF == (1 << fb)) { /* carry into the exponent, saturating at the largest code */
            YF = 0;
            if (++YE > emax_code) {
                YE = emax_code;
                YF = (1 << fb) - 1;
            }
        }
        if (YE == 0 && YF != 0) YF = (YF | (1 << fb)) >> 1;
    }
    float v;
    if (YE == 0 && YF == 0) v = 0.0f;
    else if (YE == 0) v = ldexpf((float)YF, 1 - bias - fb);
    else v = ldexpf(1.0f + ldexpf((float)YF, -fb), YE - bias);
    return sign * v;
}

/* float32 with subnormals flushed to (signed) zero, as MASE's mxfp does on its input. */
QN_HD static inline float qn_flush_subnormal(float x) {
    return fabsf(x) < 0x1p-126f ? 0.0f * x : x; /* NaN compares false and passes */
}

/* ---- branch-free versions for the CPU loops (they vectorize). Each equals the exact function
 * above whenever qn_log2_slow(v) is false; the loops recompute the few other elements exactly. */

/* 1 when log2f's rounding could decide floor/ceil/rint of log2(v): v not a normal positive float,
 * or within the window of a power of two or of 2^(k+1/2). */
static inline int qn_log2_slow(float v) {
    uint32_t b = qn_f32_bits(v), e = (b >> 23) & 0xFFu, m = b & 0x7FFFFFu;
    uint32_t d = m > QN_SQRT2_MANTISSA ? m - QN_SQRT2_MANTISSA : QN_SQRT2_MANTISSA - m;
    return (e == 0) | (e == 0xFF) | (b >> 31) | (m < QN_LOG2_WINDOW) | (m > 0x7FFFFFu - QN_LOG2_WINDOW) |
           (d < QN_LOG2_WINDOW);
}

static inline float qn_f32_from_bits(uint32_t b) {
    float v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* 2^E for integer-valued E in [-126, 127] (callers keep E there; others take the exact path). */
static inline float qn_exp2i_fast(float E) { return qn_f32_from_bits((uint32_t)((int)E + 127) << 23); }

static inline float qn_rne_fast(float v) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: (v + magic) - magic rounds half to even */
    float r = fabsf(v) < 8388608.0f ? (v + magic) - magic : v;
    return copysignf(r, v);
}

static inline float qn_exponent_of(float v) { return (float)((int)((qn_f32_bits(v) >> 23) & 0xFFu) - 127); }

static inline float qn_minifloat_denorm_fast(float xi, int m, float emin, float emax) {
    /* dividing by powers of two is multiplying by their exact inverses: the same bits, no divps */
    const float two_m = (float)(1 << m), inv_two_m = 1.0f / two_m, smax = two_m - 1.0f;
    float sgn = xi + 1e-9f > 0.0f ? 1.0f : (xi + 1e-9f < 0.0f ? -1.0f : 0.0f), v = fabsf(xi), u = v + 1e-9f;
    uint32_t mant = qn_f32_bits(u) & 0x7FFFFFu;
    float E = qn_clampf(qn_exponent_of(u) + (mant != 0 ? 1.0f : 0.0f), emin, emax); /* ceil(log2 u) */
    float p = qn_exp2i_fast(E), inv_p = qn_exp2i_fast(-E); /* v * 2^-E == v / 2^E exactly */
    float s = qn_clampf(qn_rne_fast((v * inv_p) * two_m), 0.0f, smax);
    return qn_passthrough(xi, sgn * p * (s * inv_two_m));
}

static inline float qn_minifloat_ieee_fast(float xi, int m, float b, float emin, float emax) {
    const float two_m = (float)(1 << m), inv_two_m = 1.0f / two_m, smax = two_m - 1.0f;
    float sgn = xi + 1e-9f > 0.0f ? 1.0f : (xi + 1e-9f < 0.0f ? -1.0f : 0.0f), v = fabsf(xi);
    float E = qn_clampf(qn_exponent_of(v + 1e-9f), emin, emax); /* floor(log2) */
    float p = qn_exp2i_fast(E), inv_p = qn_exp2i_fast(-E); /* v * 2^-E == v / 2^E exactly */
    float sn = qn_clampf(qn_rne_fast((v * inv_p) * two_m - two_m), 0.0f, smax);
    float ss = qn_clampf(qn_rne_fast((v * inv_p) * two_m * 0.5f), 0.0f, smax);
    float q = E != -b ? sgn * p * (1.0f + sn * inv_two_m) : sgn * p * (ss * inv_two_m * 2.0f);
    return qn_passthrough(xi, q);
}

#endif
