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

/* The zero-block fill of MASE's blocking, `per_block_max[per_block_max != 0].min()`, as a reduction
 * step over block maxima (>= 0 or NaN): start from -1 (no non-zero maximum yet, then the fill is 1),
 * skip zeros, and let a NaN win as torch's min does (a NaN anywhere makes every zero block NaN). */
QN_HD static inline float qn_zero_fill_step(float acc, float m) {
    if (m == 0.0f || isnan(acc)) return acc;
    if (isnan(m) || acc < 0.0f || m < acc) return m;
    return acc;
}

/* mxint element: p = 2^ceil(log2 max), scale = 2^(clamped code - 127), half = 2^(k-1). */
QN_HD static inline float qn_mxint_elem(float xi, float p, float scale, float half) {
    float e = qn_clampf(rintf(xi / p * half), -half, half - 1.0f);
    return e / half * scale;
}

/* mxfp element (y already divided by the shared scale): rounded to the nearest element value with
 * ties to even, mantissa carries into the exponent, subnormals below 2^(1-bias) in steps of
 * 2^(1-bias-fb), saturation at the largest code; the all-ones exponent is finite, as MASE has it.
 * MASE's codec at 56a5aa23 truncates to 15 bits first, ORs the carry in and flushes below 2^-bias;
 * quench follows the MX definition there (docs/formats.md). */
QN_HD static inline float qn_mxfp_elem(float yv, int fb, int bias, int emax_code) {
    if (yv == 0.0f || isnan(yv)) return yv;
    const int emax = emax_code - bias;
    const float levels = ldexpf(1.0f, fb), min_normal = ldexpf(1.0f, 1 - bias), step = min_normal / levels;
    float a = fabsf(yv), v;
    if (isinf(a)) {
        v = (2.0f - 1.0f / levels) * ldexpf(1.0f, emax);
    } else if (a < min_normal) {
        float f = rintf(a / step); /* f == levels carries into the smallest normal, the same value */
        v = f * step;
    } else {
        float E = qn_floor_log2f(a);
        if (E > (float)emax) {
            v = (2.0f - 1.0f / levels) * ldexpf(1.0f, emax);
        } else {
            float f = rintf((a / ldexpf(1.0f, (int)E) - 1.0f) * levels);
            if (f >= levels) { /* carry */
                f = 0.0f;
                E += 1.0f;
            }
            v = E > (float)emax ? (2.0f - 1.0f / levels) * ldexpf(1.0f, emax)
                                : (1.0f + f / levels) * ldexpf(1.0f, (int)E);
        }
    }
    return signbit(yv) ? -v : v;
}

/* float32 with subnormals (and -0.0) flushed to +0.0, as MASE's mxfp does on its input with
 * torch.where(flush, 0.0, x). NaN compares false and passes. */
QN_HD static inline float qn_flush_subnormal(float x) { return fabsf(x) < 0x1p-126f ? 0.0f : x; }

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
    /* rintf for any v: |v| < 2^23 plus 2^23 lies where the float step is 1, so the sum rounds half
     * to even; (v + 1.5 * 2^23) would misround |v| >= 2^22 */
    const float two23 = 8388608.0f;
    float a = fabsf(v);
    float r = a < two23 ? (a + two23) - two23 : a;
    return copysignf(r, v);
}

static inline float qn_exponent_of(float v) { return (float)((int)((qn_f32_bits(v) >> 23) & 0xFFu) - 127); }

static inline float qn_minifloat_denorm_fast(float xi, int m, float emin, float emax) {
    /* products by powers of two only, so these are the bits of sign * 2^E * (s / 2^m); the sign and
     * the passthrough as in qn_minifloat_ieee_fast */
    const float two_m = (float)(1 << m), smax = two_m - 1.0f;
    float v = fabsf(xi), u = v + 1e-9f;
    uint32_t mant = qn_f32_bits(u) & 0x7FFFFFu;
    float E = qn_clampf(qn_exponent_of(u) + (mant != 0 ? 1.0f : 0.0f), emin, emax); /* ceil(log2 u) */
    float s = qn_clampf(qn_rne_fast((v * qn_exp2i_fast(-E)) * two_m), 0.0f, smax);
    float q = s * qn_exp2i_fast(E - (float)m);
    return v <= 1e-8f ? xi + 0.0f : copysignf(q, xi);
}

static inline float qn_minifloat_ieee_fast(float xi, int m, float b, float emin, float emax) {
    /* One rounding: the subnormal case (E = -b) scales by 2^(m-1) and keeps no implicit 1; every
     * product is by a power of two, so the bits are those of MASE's two-branch arithmetic. The sign
     * of x + 1e-9 is x's wherever the near-zero passthrough does not take over, and the passthrough
     * turns -0.0 into +0.0 as MASE's mask arithmetic does. */
    const float two_m = (float)(1 << m), smax = two_m - 1.0f;
    float v = fabsf(xi);
    float E = qn_clampf(qn_exponent_of(v + 1e-9f), emin, emax); /* floor(log2) */
    int sub = E == -b;
    float inv_p = qn_exp2i_fast(-E);
    float t = sub ? (v * inv_p) * (two_m * 0.5f) : (v * inv_p) * two_m - two_m;
    float s = qn_clampf(qn_rne_fast(t), 0.0f, smax);
    float q = sub ? s * qn_exp2i_fast(E + 1.0f - (float)m) : qn_exp2i_fast(E) + s * qn_exp2i_fast(E - (float)m);
    return v <= 1e-8f ? xi + 0.0f : copysignf(q, xi);
}

#endif
