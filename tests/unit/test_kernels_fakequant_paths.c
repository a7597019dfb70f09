/* The fake-quantization loops written for AVX-512 and for AVX2 (QUENCH_FAKEQUANT=avx2) (minifloat_denorm,
 * minifloat_ieee, ternary, bipolar binary) against the portable loops (QUENCH_FAKEQUANT=portable), bit
 * for bit, NaN payloads included:
 * every minifloat width 3..16 and exponent width 2..8 under three biases, ternary with and without the
 * scaling factor over several row lengths, arrays below and above the streaming threshold, outputs at
 * 64-byte boundaries and off them. test_kernels_minifloat_exact.c checks the default path against the
 * element emulation. On a CPU without AVX-512 the default path is the AVX2 one (or the portable one
 * without AVX2), and without AVX2 QUENCH_FAKEQUANT=avx2 takes the default path. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_formats.h"
#include "qn_kernels.h"

enum { N = (1 << 20) + 4099, PAD = 16 };

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void fill(float *x, size_t n, qn_rng *rng) {
    static const float specials[] = {0.0f, -0.0f, 1e-9f, -1e-9f, 1e-8f, -1e-8f, INFINITY, -INFINITY, NAN, -NAN,
                                     1e-40f, 1.0f, -1.0f, 0.99999994f, 1.9999999f, 3.4028235e38f, 5e-10f};
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)qn_rng_u64(rng);
        switch (i % 4) {
        case 0: x[i] = from_bits(u); break; /* every class of float, NaN payloads included */
        case 1: x[i] = qn_rng_normal(rng) * ldexpf(1.0f, (int)qn_rng_below(rng, 40) - 20); break;
        case 2: /* a few ulps around a power of two */
            x[i] = from_bits(((uint32_t)((int)qn_rng_below(rng, 60) - 30 + 127) << 23) + (u & 31u) - 16u);
            break;
        default: x[i] = from_bits(u & 0x807FFFFFu); break; /* subnormals and zeros */
        }
    }
    memcpy(x, specials, sizeof specials);
}

static long compare(const float *a, const float *b, size_t n, const char *what) {
    long bad = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && bad++ < 4)
            cr_log_error("%s: [%zu] %a, portable %a", what, i, (double)a[i], (double)b[i]);
    return bad;
}

/* QUENCH_FAKEQUANT=path, or unset for NULL (the CPU's best loops) */
static void use_path(const char *path) {
    if (path) setenv("QUENCH_FAKEQUANT", path, 1);
    else unsetenv("QUENCH_FAKEQUANT");
}

static void minifloat_path_equals_portable(const char *path) {
    float *x = malloc(N * sizeof *x), *yf = malloc((N + PAD) * sizeof *yf), *yp = malloc((N + PAD) * sizeof *yp);
    cr_assert(x && yf && yp);
    qn_rng rng;
    qn_rng_seed(&rng, 31);
    fill(x, N, &rng);
    long bad = 0, configs = 0;
    for (int W = 3; W <= 16; W++)
        for (int E = 2; E <= 8 && E <= W - 1; E++) {
            const int bdef = (1 << (E - 1)) - 1, biases[] = {QN_BIAS_DEFAULT, 1, bdef + 5};
            for (int k = 0; k < 3; k++)
                for (int kind = 0; kind < 2; kind++) {
                    /* alternately the whole array (streamed) and a smaller one; outputs shifted by 0-4 floats
                     * (the buffers have PAD floats to spare) */
                    const size_t n = configs % 2 ? N : 100003, off = (size_t)(configs % 5);
                    char what[96];
                    snprintf(what, sizeof what, "%s: %s w%d e%d bias %d n %zu off %zu", path ? path : "default",
                             kind ? "denorm" : "ieee", W, E, biases[k], n, off);
                    for (int portable = 0; portable < 2; portable++) {
                        float *y = (portable ? yp : yf) + off;
                        use_path(portable ? "portable" : path);
                        if (kind == 0) qn_quant_minifloat_ieee(x, y, n, W, E, biases[k]);
                        else qn_quant_minifloat_denorm(x, y, n, W, E, biases[k]);
                    }
                    use_path(NULL);
                    bad += compare(yf + off, yp + off, n, what);
                    configs++;
                }
        }
    free(x), free(yf), free(yp);
    cr_log_info("%ld configurations", configs);
    cr_expect_eq(bad, 0, "%ld elements differ", bad);
}

Test(fakequant_paths, minifloat_avx512_equals_portable, .timeout = 300) { minifloat_path_equals_portable(NULL); }
Test(fakequant_paths, minifloat_avx2_equals_portable, .timeout = 300) { minifloat_path_equals_portable("avx2"); }

static void ternary_and_bipolar_path_equal_portable(const char *path) {
    static const size_t rests[] = {1, 7, 16, 17, 1023, 1024, 1031, 4096, 5000};
    float *x = malloc(N * sizeof *x), *yf = malloc((N + PAD) * sizeof *yf), *yp = malloc((N + PAD) * sizeof *yp);
    cr_assert(x && yf && yp);
    qn_rng rng;
    qn_rng_seed(&rng, 32);
    for (size_t i = 0; i < N; i++) x[i] = qn_rng_normal(&rng) * ldexpf(1.0f, (int)qn_rng_below(&rng, 20) - 10);
    x[5000] = NAN, x[9000] = INFINITY, x[12000] = -0.0f; /* a NaN row, an inf row, a negative zero */
    long bad = 0, runs = 0;
    for (size_t j = 0; j < sizeof rests / sizeof rests[0]; j++)
        for (int big = 0; big < 2; big++) {
            const size_t rest = rests[j], lead = (big ? N : 30011) / rest, off = (size_t)(runs % 7);
            for (int op = 0; op < 3; op++) { /* ternary, ternary with scaling factor, bipolar binary */
                char what[96];
                snprintf(what, sizeof what, "%s: %s %zu x %zu off %zu", path ? path : "default",
                         op == 2 ? "binary bipolar" : op ? "ternary sf" : "ternary", lead, rest, off);
                for (int portable = 0; portable < 2; portable++) {
                    float *y = (portable ? yp : yf) + off;
                    use_path(portable ? "portable" : path);
                    if (op == 2) qn_quant_binary(x, y, lead, rest, 1);
                    else qn_quant_ternary(x, y, lead, rest, op);
                }
                use_path(NULL);
                bad += compare(yf + off, yp + off, lead * rest, what);
                runs++;
            }
        }
    free(x), free(yf), free(yp);
    cr_expect_eq(bad, 0, "%ld elements differ", bad);
}

Test(fakequant_paths, ternary_and_bipolar_avx512_equal_portable, .timeout = 120) {
    ternary_and_bipolar_path_equal_portable(NULL);
}
Test(fakequant_paths, ternary_and_bipolar_avx2_equal_portable, .timeout = 120) {
    ternary_and_bipolar_path_equal_portable("avx2");
}
