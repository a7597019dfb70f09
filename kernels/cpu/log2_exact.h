/* log2_exact.h: floor, ceil and round-to-even of log2f(v), equal to applying them to glibc's log2f
 * (as MASE applies them to torch.log2), but reading the exponent bits except within 2^-11 of the
 * points where log2f's rounding decides (powers of two, and 2^(k+1/2) for the rounding variant). */
#ifndef QN_LOG2_EXACT_H
#define QN_LOG2_EXACT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define QN_HD __host__ __device__
#else
#define QN_HD
#endif

/* x86-64 CPU loops: AVX-512 and AVX2 clones chosen at run time (the same bits: no FMA contraction
 * in C17 mode). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define QN_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QN_SIMD_CLONES
#endif

#define QN_LOG2_WINDOW (1u << 12)
#define QN_SQRT2_MANTISSA 0x3504F3u /* fraction bits of sqrtf(2) */

QN_HD static inline uint32_t qn_f32_bits(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* v > 0 expected; anything else (0, subnormal, inf, NaN) takes log2f itself. */
QN_HD static inline float qn_floor_log2f(float v) {
    uint32_t b = qn_f32_bits(v), e = (b >> 23) & 0xFFu, m = b & 0x7FFFFFu;
    if (e == 0 || e == 0xFF || (b >> 31) || m > 0x7FFFFFu - QN_LOG2_WINDOW) return floorf(log2f(v));
    return (float)((int)e - 127);
}

QN_HD static inline float qn_ceil_log2f(float v) {
    uint32_t b = qn_f32_bits(v), e = (b >> 23) & 0xFFu, m = b & 0x7FFFFFu;
    if (e == 0 || e == 0xFF || (b >> 31) || (m != 0 && m < QN_LOG2_WINDOW)) return ceilf(log2f(v));
    return (float)((int)e - 127 + (m != 0));
}

QN_HD static inline float qn_rint_log2f(float v) {
    uint32_t b = qn_f32_bits(v), e = (b >> 23) & 0xFFu, m = b & 0x7FFFFFu;
    uint32_t d = m > QN_SQRT2_MANTISSA ? m - QN_SQRT2_MANTISSA : QN_SQRT2_MANTISSA - m;
    if (e == 0 || e == 0xFF || (b >> 31) || d < QN_LOG2_WINDOW || m > 0x7FFFFFu - QN_LOG2_WINDOW)
        return rintf(log2f(v));
    return (float)((int)e - 127 + (m > QN_SQRT2_MANTISSA));
}

/* torch.sign: -1, 0 or +1; NaN stays NaN. */
QN_HD static inline float qn_signf(float v) { return v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : v; }

QN_HD static inline float qn_clampf(float v, float lo, float hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* 2^E for an integer-valued float E, as torch's 2**E in float32 (inf above 127, 0 far below). */
QN_HD static inline float qn_exp2i(float E) { return ldexpf(1.0f, (int)E); }

/* MASE's near-zero passthrough, with its mask arithmetic: (~close)*q + close*x. */
QN_HD static inline float qn_passthrough(float x, float q) {
    float close = fabsf(x) <= 1e-8f ? 1.0f : 0.0f;
    return (1.0f - close) * q + close * x;
}

#endif
