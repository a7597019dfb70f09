/* half.c: float32 <-> IEEE binary16 and bfloat16, round to nearest even, by bit manipulation (the
 * same results as the hardware conversions, __float2half_rn and __float2bfloat16_rn). */
#include <math.h>
#include <string.h>

#include "qn_infer_formats.h"

static uint32_t bits_of(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static float float_of(uint32_t b) {
    float v;
    memcpy(&v, &b, sizeof v);
    return v;
}

uint16_t qn_f32_to_f16(float v) {
    uint32_t b = bits_of(v), sign = (b >> 16) & 0x8000u, a = b & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu)); /* NaN, quiet */
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {
        /* below 2^-14: a half subnormal, value = m * 2^-24; round |v| * 2^24 to an integer, ties even */
        float scaled = float_of(a) * 16777216.0f; /* exact: a power-of-two scaling of a small float */
        float r = rintf(scaled);
        return (uint16_t)(sign | (uint32_t)r); /* r = 1024 becomes the smallest normal, correctly */
    }
    uint32_t mant = a & 0x7FFFFFu, exp = (a >> 23) - 112; /* rebias 127 -> 15 */
    uint32_t h = (exp << 10) | (mant >> 13), rest = mant & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* a carry into the exponent is right */
    return (uint16_t)(sign | h);
}

float qn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0x1F) return float_of(sign | 0x7F800000u | (mant << 13));
    if (exp == 0) {
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    return float_of(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t qn_f32_to_bf16(float v) {
    uint32_t b = bits_of(v);
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((b >> 16) | 0x40u); /* NaN, quiet */
    b += 0x7FFFu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

float qn_bf16_to_f32(uint16_t h) { return float_of((uint32_t)h << 16); }

void qn_quant_fp16(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = qn_f16_to_f32(qn_f32_to_f16(x[i]));
}

void qn_quant_bf16(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = qn_bf16_to_f32(qn_f32_to_bf16(x[i]));
}
