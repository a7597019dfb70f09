/* GELU's float formula (activations.c) against erfc in double, over the floats where GELU is not
 * saturated: the forward within 4e-7 absolute and, for x >= -1, 4 units in the last place; the
 * backward's factor Phi(x) + x phi(x) within 2e-7 absolute; the negative tail within 1e-5 relative
 * (PyTorch's float 0.5 (1 + erf) has no relative accuracy there). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qn_nn.h"

Test(gelu, float_formula_accuracy) {
    /* every 101st float bit pattern in [0, 16), both signs, and the extremes */
    size_t n = 0;
    const size_t cap = 2 * (0x41800000u / 101 + 1) + 4;
    float *x = malloc(cap * sizeof *x), *y, *g, *one;
    cr_assert_not_null(x);
    for (uint32_t b = 0; b < 0x41800000u; b += 101) {
        float f;
        memcpy(&f, &b, sizeof f);
        x[n++] = f, x[n++] = -f;
    }
    x[n++] = 40.0f, x[n++] = -40.0f, x[n++] = 1e30f, x[n++] = -1e30f;
    y = malloc(n * sizeof *y), g = calloc(n, sizeof *g), one = malloc(n * sizeof *one);
    cr_assert(y && g && one);
    for (size_t i = 0; i < n; i++) one[i] = 1.0f;
    qn_gelu_forward(y, x, n);
    qn_gelu_backward(g, x, one, n);
    double worst_fwd = 0.0, worst_abs = 0.0, worst_bwd = 0.0, worst_tail = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double xd = x[i], phi = 0.5 * erfc(-xd / sqrt(2.0)), want = xd * phi;
        const double ulp = nextafterf(fabsf((float)want), INFINITY) - fabsf((float)want);
        const double e = fabs(y[i] - want) / (ulp + 1e-12);
        if (xd >= -1.0) worst_fwd = e > worst_fwd ? e : worst_fwd;
        worst_abs = fabs(y[i] - want) > worst_abs ? fabs(y[i] - want) : worst_abs;
        const double dwant = phi + xd * exp(-0.5 * xd * xd) * 0.39894228040143267794; /* 1 / sqrt(2 pi) */
        const double eb = fabs(g[i] - dwant);
        worst_bwd = eb > worst_bwd ? eb : worst_bwd;
        if (xd < -1.0 && xd > -12.0) { /* Phi's negative tail, relative */
            const double et = fabs(y[i] - want) / fabs(want);
            worst_tail = et > worst_tail ? et : worst_tail;
        }
    }
    cr_expect(worst_abs <= 4e-7, "forward: %.3g absolute", worst_abs);
    cr_expect(worst_fwd <= 4.0, "forward: %.3g units in the last place", worst_fwd);
    cr_expect(worst_bwd <= 2e-7, "backward: %.3g absolute", worst_bwd);
    cr_expect(worst_tail <= 1e-5, "negative tail: %.3g relative", worst_tail);
    cr_expect(y[n - 4] == 40.0f && y[n - 2] == 1e30f, "gelu(40) = %g, gelu(1e30) = %g", y[n - 4], y[n - 2]);
    cr_expect(y[n - 3] == 0.0f && y[n - 1] == 0.0f, "gelu(-40) = %g, gelu(-1e30) = %g", y[n - 3], y[n - 1]);
    free(x), free(y), free(g), free(one);
}
