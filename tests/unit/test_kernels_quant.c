/* MASE's `integer` fake quantization on hand-checked values (research note section 2, including
 * MASE's own configs/tests/quantize/integer.toml), and its properties over many inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "qn_kernels.h"

static void expect_bits(float got, float want, const char *what, float x) {
    cr_expect(memcmp(&got, &want, sizeof got) == 0, "%s: x=%.9g gave %.9g (want %.9g)", what, x, got, want);
}

Test(quant_integer, w8_f4_ties_round_to_even_and_clamp) {
    const float x[] = {0.3f, -1.03125f, 1.09375f, 0.03125f, -0.03125f, 10.0f, -9.0f, 7.9375f, -8.0f};
    const float want[] = {0.3125f, -1.0f, 1.125f, 0.0f, -0.0f, 7.9375f, -8.0f, 7.9375f, -8.0f};
    float y[9];
    qn_quant_integer(x, y, 9, 8, 4);
    for (int i = 0; i < 9; i++) expect_bits(y[i], want[i], "w8f4", x[i]);
}

Test(quant_integer, w8_f3_mase_toml_vectors) {
    const float x[] = {0.3f, -2.7f, 15.9f, -16.1f, 0.0625f};
    const float want[] = {0.25f, -2.75f, 15.875f, -16.0f, 0.0f};
    float y[5];
    qn_quant_integer(x, y, 5, 8, 3);
    for (int i = 0; i < 5; i++) expect_bits(y[i], want[i], "w8f3", x[i]);
}

Test(quant_integer, in_place_and_special_values) {
    float x[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-40f};
    qn_quant_integer(x, x, 6, 4, 2);
    cr_expect_eq(x[0], 1.75f, "+inf saturates to the top");
    cr_expect_eq(x[1], -2.0f, "-inf saturates to the bottom");
    cr_expect(isnan(x[2]), "NaN passes through");
    expect_bits(x[3], 0.0f, "zero", 0.0f);
    expect_bits(x[4], -0.0f, "negative zero keeps its sign", -0.0f);
    cr_expect_eq(x[5], 0.0f);
}

Test(quant_integer, negative_and_large_frac_widths) {
    /* f = -2: steps of 4; f = 10 with w = 4: range [-2^-7, 7*2^-10] */
    const float x[] = {5.0f, 6.0f, 10.0f, -30.0f};
    float y[4];
    qn_quant_integer(x, y, 4, 4, -2);
    const float want[] = {4.0f, 8.0f, 8.0f, -32.0f}; /* 1.25->1, 1.5->2 (even), 2.5->2, -7.5->-8 */
    for (int i = 0; i < 4; i++) expect_bits(y[i], want[i], "w4f-2", x[i]);
    const float small[] = {0.003f, -1.0f};
    qn_quant_integer(small, y, 2, 4, 10);
    expect_bits(y[0], 3.0f / 1024.0f, "w4f10", small[0]);
    expect_bits(y[1], -8.0f / 1024.0f, "w4f10 clamp", small[1]);
    /* frac widths beyond the normal-float scale range take the exact ldexp path */
    const float tiny[] = {1e-38f};
    qn_quant_integer(tiny, y, 1, 32, 140);
    cr_expect_eq(y[0], ldexpf(rintf(ldexpf(1e-38f, 140)), -140));
}

Test(quant_integer, properties_over_random_inputs) {
    qn_rng rng;
    qn_rng_seed(&rng, 42);
    enum { N = 100000 };
    static float x[N], y[N], z[N];
    for (int i = 0; i < N; i++) x[i] = qn_rng_normal(&rng) * 3.0f;
    for (int w = 2; w <= 16; w += 2) {
        for (int f = 0; f <= w; f += 3) {
            float step = ldexpf(1.0f, -f), lo = -ldexpf(1.0f, w - 1 - f), hi = (ldexpf(1.0f, w - 1) - 1.0f) * step;
            qn_quant_integer(x, y, N, w, f);
            qn_quant_integer(y, z, N, w, f);
            for (int i = 0; i < N; i++) {
                cr_assert(y[i] >= lo && y[i] <= hi, "w%d f%d: %g out of [%g, %g]", w, f, y[i], lo, hi);
                cr_assert_eq(y[i], z[i], "w%d f%d: not idempotent at %g", w, f, x[i]);
                cr_assert_eq(fmodf(y[i], step), 0.0f, "w%d f%d: %g is off the grid", w, f, y[i]);
                if (x[i] > lo && x[i] < hi)
                    cr_assert(fabsf(y[i] - x[i]) <= step / 2, "w%d f%d: error %g above half a step", w, f, y[i] - x[i]);
            }
        }
    }
}
