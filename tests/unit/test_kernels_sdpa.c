/* Scaled dot-product attention: the naive and fused kernels against a double-precision reference,
 * on shapes where T is not a multiple of either tile (64 queries, 128 keys) and D is 64, 80 or 128,
 * causal and not; and NF4 blocks to fp16 against the float dequantization rounded once. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_dequant.h"
#include "qn_infer_formats.h"
#include "qn_kernels.h"
#include "qn_sdpa.h"

static float *random_tensor(size_t n, uint64_t seed, float amp) {
    float *x = malloc(n * sizeof *x);
    cr_assert_not_null(x);
    qn_rng r;
    qn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (2.0f * qn_rng_uniform(&r) - 1.0f) * amp;
    return x;
}

static void reference(double *out, const float *q, const float *k, const float *v, int BH, int T, int D, int causal) {
    double *s = malloc((size_t)T * sizeof *s);
    const double scale = 1.0 / sqrt((double)D);
    for (int bh = 0; bh < BH; bh++)
        for (int i = 0; i < T; i++) {
            const float *qi = q + ((size_t)bh * T + i) * D;
            const int n = causal ? i + 1 : T;
            double mx = -INFINITY, sum = 0.0;
            for (int j = 0; j < n; j++) {
                const float *kj = k + ((size_t)bh * T + j) * D;
                double acc = 0.0;
                for (int d = 0; d < D; d++) acc += (double)qi[d] * kj[d];
                s[j] = acc * scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
            double *o = out + ((size_t)bh * T + i) * D;
            for (int d = 0; d < D; d++) {
                double acc = 0.0;
                for (int j = 0; j < n; j++) acc += s[j] * v[((size_t)bh * T + j) * D + d];
                o[d] = acc / sum;
            }
        }
    free(s);
}

/* Largest |got - want| over the tensor. */
static double max_err(const float *got, const double *want, size_t n) {
    double e = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        e = d > e || isnan(d) ? d : e;
    }
    return e;
}

static void check_shape(int B, int H, int T, int D, int causal) {
    const size_t n = (size_t)B * H * T * D;
    /* amplitude 2: scores up to ~4 sqrt(D) / sqrt(D) spread, so the softmax is far from uniform */
    float *q = random_tensor(n, 1, 2.0f), *k = random_tensor(n, 2, 2.0f), *v = random_tensor(n, 3, 1.0f);
    float *naive = malloc(n * sizeof *naive), *fused = malloc(n * sizeof *fused);
    float *scores = malloc(qn_sdpa_naive_scores(B, H, T) * sizeof *scores);
    double *want = malloc(n * sizeof *want);
    cr_assert(naive && fused && scores && want);
    reference(want, q, k, v, B * H, T, D, causal);
    qn_sdpa_naive(naive, scores, q, k, v, B, H, T, D, causal);
    cr_assert_eq(qn_sdpa_fused(fused, q, k, v, B, H, T, D, causal), 0);
    double en = max_err(naive, want, n), ef = max_err(fused, want, n);
    cr_expect_leq(en, 1e-5, "naive (%d,%d,%d,%d) causal=%d: max error %g", B, H, T, D, causal, en);
    cr_expect_leq(ef, 1e-5, "fused (%d,%d,%d,%d) causal=%d: max error %g", B, H, T, D, causal, ef);
    free(q), free(k), free(v), free(naive), free(fused), free(scores), free(want);
}

Test(sdpa, odd_shapes_match_the_double_reference) {
    static const int shapes[][4] = {{1, 1, 1, 64}, {2, 3, 37, 64}, {1, 2, 100, 80}, {2, 1, 129, 128}, {1, 1, 65, 80}, {1, 2, 300, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int causal = 0; causal < 2; causal++)
            check_shape(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], causal);
}

Test(sdpa, labs_shape_fused_equals_naive) {
    /* The lab's (32, 8, 128, 64) at B = 2: the two kernels agree with each other closely. */
    check_shape(2, 8, 128, 64, 0);
    check_shape(2, 8, 128, 64, 1);
}

Test(sdpa, causal_first_row_is_the_first_value) {
    /* Query 0 sees key 0 only: its output is v[0] exactly, whatever the scores. */
    const int T = 70, D = 64;
    float *q = random_tensor((size_t)T * D, 4, 3.0f), *k = random_tensor((size_t)T * D, 5, 3.0f);
    float *v = random_tensor((size_t)T * D, 6, 1.0f), *o = malloc((size_t)T * D * sizeof *o);
    cr_assert_eq(qn_sdpa_fused(o, q, k, v, 1, 1, T, D, 1), 0);
    for (int d = 0; d < D; d++) cr_expect_eq(o[d], v[d]);
    free(q), free(k), free(v), free(o);
}

Test(dequant, nf4_to_f16_rounds_the_float_dequantization_once) {
    const size_t n = 64 * 37;
    float *x = random_tensor(n, 7, 3.0f), *y = malloc(n * sizeof *y);
    x[5] = 0.0f, x[64] = 1e-6f; /* a tiny absmax: fp16 subnormals */
    for (int i = 65; i < 128; i++) x[i] = 1e-7f * (float)(i - 96);
    qn_4bit_tensor t;
    cr_assert_eq(qn_4bit_quantize(x, n, QN_4BIT_NF4, 64, 0, &t), 0);
    qn_4bit_dequantize(&t, y);
    qn_nf4_block64 *blocks = malloc(n / 64 * sizeof *blocks);
    uint16_t *h = malloc(n * sizeof *h);
    cr_assert_eq(qn_nf4_pack_blocks(&t, blocks, n / 64), 0);
    for (int portable = 0; portable < 2; portable++) { /* F16C and shuffles where the CPU has them, and not */
        if (portable) setenv("QUENCH_DEQUANT", "portable", 1);
        memset(h, 0xFF, n * sizeof *h);
        qn_nf4_to_f16(blocks, n / 64, h);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(h[i], qn_f32_to_f16(y[i]), "%s element %zu: %#x, not %#x", portable ? "portable" : "default", i,
                         h[i], qn_f32_to_f16(y[i]));
    }
    unsetenv("QUENCH_DEQUANT");
    qn_4bit_free(&t);
    free(x), free(y), free(blocks), free(h);
}

Test(sdpa, threads_give_the_same_bits) {
    /* Work is split by head (naive) and by query tile (fused): the thread count must not matter. */
    const int B = 3, H = 2, T = 150, D = 64;
    const size_t n = (size_t)B * H * T * D;
    float *q = random_tensor(n, 11, 2.0f), *k = random_tensor(n, 12, 2.0f), *v = random_tensor(n, 13, 1.0f);
    float *one = malloc(n * sizeof *one), *many = malloc(n * sizeof *many);
    float *scores = malloc(qn_sdpa_naive_scores(B, H, T) * sizeof *scores);
    for (int fused = 0; fused < 2; fused++) {
        qn_set_num_threads(1);
        if (fused) cr_assert_eq(qn_sdpa_fused(one, q, k, v, B, H, T, D, 1), 0);
        else qn_sdpa_naive(one, scores, q, k, v, B, H, T, D, 1);
        qn_set_num_threads(3);
        if (fused) cr_assert_eq(qn_sdpa_fused(many, q, k, v, B, H, T, D, 1), 0);
        else qn_sdpa_naive(many, scores, q, k, v, B, H, T, D, 1);
        cr_expect_arr_eq(one, many, n * sizeof *one, "%s differs with 3 threads", fused ? "fused" : "naive");
    }
    qn_set_num_threads(1);
    free(q), free(k), free(v), free(one), free(many), free(scores);
}
