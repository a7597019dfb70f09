/* quant_integer.c: MASE's `integer` format (signed fixed point) as fake quantization.
 *   y = clamp(RNE(x * 2^f), -2^(w-1), 2^(w-1) - 1) / 2^f      (float32 throughout)
 * Scaling by 2^f is done with ldexpf, exact for any f (also where 2^f itself is not a normal float).
 * NaN passes through (clamp keeps NaN); +-inf saturate to the range ends. */
#include <math.h>

#include "log2_exact.h"
#include "qn_kernels.h"

/* rintf without a libm call, so the loop vectorizes on any x86-64: adding and removing 2^23 to |v|
 * < 2^23 rounds it to an integer with ties to even (the sum lies in [2^23, 2^24), where the float
 * step is 1; default rounding mode, quench is never built with -ffast-math). Values of 2^23 and
 * above are integers already; copysign keeps -0.0 (rint(-0.3) = -0.0). Adding 1.5 * 2^23 to v
 * itself would misround |v| >= 2^22 (widths 24 and up). */
static inline float rne(float v) {
    const float two23 = 8388608.0f;
    float a = fabsf(v);
    float r = a < two23 ? (a + two23) - two23 : a;
    return copysignf(r, v);
}

QN_SIMD_CLONES static void integer_scaled(const float *x, float *y, size_t n, float scale, float inv, float lo,
                                         float hi) {
    for (size_t i = 0; i < n; i++) {
        float v = rne(x[i] * scale);
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        y[i] = v * inv;
    }
}

void qn_quant_integer(const float *x, float *y, size_t n, int width, int frac_width) {
    const float lo = -ldexpf(1.0f, width - 1);
    const float hi = ldexpf(1.0f, width - 1) - 1.0f;
    if (frac_width >= -126 && frac_width <= 126) {
        /* 2^f and 2^-f are both normal floats: multiplying is exact scaling, and vectorizes. */
        const float scale = ldexpf(1.0f, frac_width), inv = ldexpf(1.0f, -frac_width);
        integer_scaled(x, y, n, scale, inv, lo, hi); /* streaming stores measured slower here */
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v = rintf(ldexpf(x[i], frac_width));
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        y[i] = ldexpf(v, -frac_width);
    }
}
