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

/* ternary (the next rows prefetched, streamed output) against a scalar transcription of its
 * definition: MASE's float32 sums in torch's CPU order (8 lanes, four vectors side by side, four
 * cascade levels; test_kernels_mase_vectors.c checks that order against MASE itself), delta =
 * 0.75 * sum / n, alpha the kept |x| summed the same way over the count kept. Odd and even row
 * counts, row lengths around the 8-wide blocks, arrays below and above the streaming threshold, NaN
 * and inf rows. */
static float kept(float v, float delta) { return (fabsf(v) > delta ? 1.0f : 0.0f) * fabsf(v); }

/* slots[k] over groups g of `width` values, level-cascaded every 2^lp groups (lp = max(4, ceil(log2 groups) / 4)) */
static void cascade_reference(const float *x, size_t groups, size_t width, float delta, float *slots) {
    float lvl[4][32] = {{0}};
    int c = 1;
    while (groups > 2 && ((size_t)1 << c) < groups) c++;
    const int lp = c / 4 > 4 ? c / 4 : 4;
    size_t g = 0;
    for (; g + ((size_t)1 << lp) <= groups;) {
        for (size_t j = 0; j < ((size_t)1 << lp); j++, g++)
            for (size_t k = 0; k < width; k++) lvl[0][k] += kept(x[g * width + k], delta);
        for (int l = 1; l < 4; l++) {
            for (size_t k = 0; k < width; k++) lvl[l][k] += lvl[l - 1][k], lvl[l - 1][k] = 0.0f;
            if (g % ((size_t)1 << (lp * (l + 1))) != 0) break;
        }
    }
    for (; g < groups; g++)
        for (size_t k = 0; k < width; k++) lvl[0][k] += kept(x[g * width + k], delta);
    for (size_t k = 0; k < width; k++) slots[k] = ((lvl[0][k] + lvl[1][k]) + lvl[2][k]) + lvl[3][k];
}

static float torch_sum_reference(const float *x, size_t n, float delta) {
    float slots[32];
    if (n < 8) {
        cascade_reference(x, n / 4, 4, delta, slots);
        for (size_t i = n / 4 * 4; i < n; i++) slots[0] += kept(x[i], delta);
        return ((slots[0] + slots[1]) + slots[2]) + slots[3];
    }
    size_t vecs = n / 8;
    cascade_reference(x, vecs / 4, 32, delta, slots);
    for (size_t v = vecs / 4 * 4; v < vecs; v++)
        for (int l = 0; l < 8; l++) slots[l] += kept(x[v * 8 + (size_t)l], delta);
    for (int l = 0; l < 8; l++) slots[l] = ((slots[l] + slots[8 + l]) + slots[16 + l]) + slots[24 + l];
    float s = 0.0f;
    for (size_t i = vecs * 8; i < n; i++) s += kept(x[i], delta);
    for (int l = 0; l < 8; l++) s += slots[l];
    return s;
}

static void ternary_reference(const float *x, float *y, size_t lead, size_t rest, int scaling_factor) {
    for (size_t r = 0; r < lead; r++) {
        const float *xr = x + r * rest;
        float delta = rest ? 0.75f * torch_sum_reference(xr, rest, -1.0f) / (float)rest : 0.0f, alpha = 1.0f;
        if (scaling_factor) {
            size_t count = 0;
            for (size_t i = 0; i < rest; i++) count += fabsf(xr[i]) > delta;
            alpha = torch_sum_reference(xr, rest, delta) / (float)count; /* 0 / 0: NaN, as MASE */
        }
        for (size_t i = 0; i < rest; i++) {
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
