/* The minifloat loops' rounding-by-addition path (and its streamed stores for large arrays) against
 * the per-element MASE emulation, bit for bit: every width 3..16 with every exponent width 2..8 that
 * leaves a mantissa, under the default bias and two others, on a million inputs each (more than the
 * streaming threshold, with a ragged tail): random bit patterns, values in the format's range, exact
 * ties between two steps, values a few ulps around powers of two, subnormals, +-0, +-inf, NaN and the
 * near-zero passthrough's edge. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qn_formats.h"
#include "qn_kernels.h"
#include "../../kernels/cpu/format_elem.h"

enum { N = (1 << 20) + 37 };

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void fill(float *x, qn_rng *rng, int m, int b, int emax) {
    static const float specials[] = {0.0f, -0.0f, 1e-9f, -1e-9f, 1e-8f, -1e-8f, 1.0000001e-8f, -1.0000001e-8f,
                                     INFINITY, -INFINITY, NAN, -NAN, 1e-40f, -1e-40f, 1.0f, -1.0f, 0.99999994f,
                                     1.9999999f, 3.4028235e38f, -3.4028235e38f, 1.17549435e-38f, -7.5f, 5e-10f};
    for (size_t i = 0; i < N; i++) {
        uint32_t u = (uint32_t)qn_rng_u64(rng);
        int e = (int)qn_rng_below(rng, (uint64_t)(emax + b + 6)) - b - 3; /* around the format's exponents */
        float sign = (u >> 31) ? -1.0f : 1.0f;
        switch (i % 5) {
        case 0: x[i] = from_bits(u); break; /* every class of float */
        case 1: x[i] = sign * ((float)qn_rng_uniform(rng) + 1.0f) * ldexpf(1.0f, e); break;
        case 2: /* an exact tie between two steps of 2^(e-m) (or of the subnormal step) */
            x[i] = sign * ldexpf((float)(2 * (qn_rng_below(rng, (uint64_t)1 << (m + 1)) + ((uint64_t)1 << m)) + 1), e - m - 1);
            break;
        case 3: /* a few ulps around a power of two */
            x[i] = from_bits(((uint32_t)(e + 127) << 23) + (uint32_t)(int32_t)((int)(u & 15) - 8)) * sign;
            break;
        default: x[i] = from_bits(u & 0x807FFFFFu); break; /* subnormals and zeros */
        }
    }
    memcpy(x, specials, sizeof specials);
}

Test(minifloat_exact, add_path_equals_element_emulation_for_every_width, .timeout = 300) {
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    cr_assert(x && y);
    qn_rng rng;
    qn_rng_seed(&rng, 77);
    long bad = 0, configs = 0;
    for (int W = 3; W <= 16; W++) {
        for (int E = 2; E <= 8 && E <= W - 1; E++) {
            const int m = W - E - 1, bdef = (1 << (E - 1)) - 1;
            const int biases[] = {QN_BIAS_DEFAULT, 1, bdef + 5};
            for (int k = 0; k < 3; k++) {
                const int b = biases[k] == QN_BIAS_DEFAULT ? bdef : biases[k];
                const float emin = (float)-b, emax = (float)((1 << E) - 1 - b);
                fill(x, &rng, m, b, (int)emax);
                configs++;
                for (int kind = 0; kind < 2; kind++) {
                    if (kind == 0) qn_quant_minifloat_ieee(x, y, N, W, E, biases[k]);
                    else qn_quant_minifloat_denorm(x, y, N, W, E, biases[k]);
                    for (size_t i = 0; i < N; i++) {
                        float want = kind == 0 ? qn_minifloat_ieee_elem(x[i], m, (float)b, emin, emax)
                                               : qn_minifloat_denorm_elem(x[i], m, emin, emax);
                        if (memcmp(&y[i], &want, sizeof want) != 0 && !(isnan(y[i]) && isnan(want)) && bad++ < 8)
                            cr_log_error("%s w%d e%d bias %d: x=%a gives %a, the element emulation %a",
                                         kind ? "denorm" : "ieee", W, E, b, (double)x[i], (double)y[i], (double)want);
                    }
                }
            }
        }
    }
    free(x), free(y);
    cr_log_info("%ld configurations", configs);
    cr_expect_eq(bad, 0, "%ld elements differ", bad);
}

/* ternary (rows summed two at a time, the next rows prefetched, streamed output) against a scalar
 * transcription of its definition: sum |x| per row in double over 8 interleaved partial sums, delta =
 * 0.75 * sum / n, alpha the mean |x| over the kept elements. Odd and even row counts, row lengths
 * around the 8-wide blocks, arrays below and above the streaming threshold, NaN and inf rows. */
static void ternary_reference(const float *x, float *y, size_t lead, size_t rest, int scaling_factor) {
    for (size_t r = 0; r < lead; r++) {
        const float *xr = x + r * rest;
        double part[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s = 0.0;
        size_t i = 0;
        for (; i + 8 <= rest; i += 8)
            for (int k = 0; k < 8; k++) part[k] += fabsf(xr[i + (size_t)k]);
        for (; i < rest; i++) s += fabsf(xr[i]);
        for (int k = 0; k < 8; k++) s += part[k];
        float delta = rest ? 0.75f * (float)s / (float)rest : 0.0f, alpha = 1.0f;
        if (scaling_factor) {
            double a = 0.0;
            size_t kept = 0;
            for (i = 0; i < rest; i++)
                if (fabsf(xr[i]) > delta) a += fabsf(xr[i]), kept++;
            alpha = kept ? (float)(a / (double)kept) : NAN;
        }
        for (i = 0; i < rest; i++) {
            float t = xr[i] > delta ? 1.0f : xr[i] < -delta ? -1.0f : 0.0f;
            y[r * rest + i] = scaling_factor ? t * alpha : t;
        }
    }
}

Test(minifloat_exact, ternary_equals_scalar_definition, .timeout = 120) {
    static const size_t rests[] = {1, 7, 8, 9, 1023, 1024, 1031, 4096};
    const size_t cap = (1 << 20) + 4096 * 3;
    float *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y), *want = malloc(cap * sizeof *want);
    cr_assert(x && y && want);
    qn_rng rng;
    qn_rng_seed(&rng, 5);
    long bad = 0;
    for (size_t j = 0; j < sizeof rests / sizeof rests[0]; j++) {
        const size_t rest = rests[j];
        const size_t leads[] = {1, 2, 3, 17, ((size_t)1 << 20) / rest + 1};
        for (size_t li = 0; li < 5; li++) {
            const size_t lead = leads[li], n = lead * rest;
            if (n > cap) continue;
            for (size_t i = 0; i < n; i++) x[i] = qn_rng_normal(&rng) * ldexpf(1.0f, (int)qn_rng_below(&rng, 20) - 10);
            if (lead > 2) x[rest] = NAN, x[2 * rest] = INFINITY; /* rows 1 and 2 */
            for (int sf = 0; sf < 2; sf++) {
                qn_quant_ternary(x, y, lead, rest, sf);
                ternary_reference(x, want, lead, rest, sf);
                for (size_t i = 0; i < n; i++)
                    if (memcmp(&y[i], &want[i], sizeof(float)) != 0 && !(isnan(y[i]) && isnan(want[i])) && bad++ < 8)
                        cr_log_error("ternary %zu x %zu sf %d: [%zu] %a, want %a", lead, rest, sf, i, (double)y[i],
                                     (double)want[i]);
            }
        }
    }
    free(x), free(y), free(want);
    cr_expect_eq(bad, 0, "%ld elements differ", bad);
}
