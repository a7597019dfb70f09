/* GEMM against a naive triple loop (every transpose combination, alpha/beta, strides), AdamW against
 * PyTorch's update written out in double, and the RNG against the published generators. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "qn_kernels.h"

static void naive(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[k * lda + i] : A[i * lda + k];
                float b = tb ? B[j * ldb + k] : B[k * ldb + j];
                acc += (double)a * b;
            }
            C[i * ldc + j] = (float)(alpha * acc + beta * C[i * ldc + j]);
        }
}

Test(gemm, matches_naive_for_all_transposes) {
    qn_rng rng;
    qn_rng_seed(&rng, 5);
    const int M = 37, N = 23, K = 51;
    float *A = malloc(sizeof(float) * 64 * 64), *B = malloc(sizeof(float) * 64 * 64);
    float *C = malloc(sizeof(float) * 64 * 64), *R = malloc(sizeof(float) * 64 * 64);
    for (int i = 0; i < 64 * 64; i++) A[i] = qn_rng_normal(&rng), B[i] = qn_rng_normal(&rng);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int i = 0; i < 64 * 64; i++) C[i] = R[i] = (float)i * 0.001f;
            int lda = 60, ldb = 61, ldc = 62;
            qn_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, C, ldc);
            naive(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, R, ldc);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < ldc; j++) {
                    float got = C[i * ldc + j], want = R[i * ldc + j];
                    if (j >= N) cr_assert_eq(got, want, "wrote outside C at (%d,%d)", i, j);
                    else cr_assert(fabsf(got - want) <= 1e-4f * (1.0f + fabsf(want)), "ta=%d tb=%d (%d,%d): %g vs %g", ta, tb, i, j, got, want);
                }
        }
    free(A), free(B), free(C), free(R);
}

Test(adamw, matches_pytorch_update_over_steps) {
    enum { N = 64 };
    float p[N], m[N] = {0}, v[N] = {0}, g[N];
    double pd[N], md[N] = {0}, vd[N] = {0};
    qn_rng rng;
    qn_rng_seed(&rng, 3);
    for (int i = 0; i < N; i++) pd[i] = p[i] = qn_rng_normal(&rng);
    const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
    for (int t = 1; t <= 20; t++) {
        for (int i = 0; i < N; i++) g[i] = qn_rng_normal(&rng) * 0.1f;
        qn_adamw_step(p, g, m, v, NULL, N, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, t);
        for (int i = 0; i < N; i++) {
            pd[i] *= 1 - lr * wd;
            md[i] = b1 * md[i] + (1 - b1) * g[i];
            vd[i] = b2 * vd[i] + (1 - b2) * (double)g[i] * g[i];
            double denom = sqrt(vd[i]) / sqrt(1 - pow(b2, t)) + eps;
            pd[i] -= lr / (1 - pow(b1, t)) * md[i] / denom;
        }
    }
    for (int i = 0; i < N; i++) cr_expect(fabs(p[i] - pd[i]) < 2e-6, "p[%d] = %.9g, reference %.9g", i, p[i], pd[i]);
}

Test(adamw, first_step_moves_each_weight_by_lr) {
    /* With bias correction, step 1 moves every parameter by lr * sign(g) (up to eps), whatever |g|. */
    float p[3] = {1, 1, 1}, m[3] = {0}, v[3] = {0};
    const float g[3] = {1e-3f, -5.0f, 2.0f};
    qn_adamw_step(p, g, m, v, NULL, 3, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
    cr_expect_float_eq(p[0], 0.9f, 1e-5f);
    cr_expect_float_eq(p[1], 1.1f, 1e-5f);
    cr_expect_float_eq(p[2], 0.9f, 1e-5f);
}

Test(adamw, masked_weights_stay_zero) {
    float p[4] = {0, 0.5f, 0, -0.5f}, m[4] = {0}, v[4] = {0};
    const float g[4] = {1, 1, -1, -1};
    const uint8_t mask[4] = {0, 1, 0, 1};
    for (int t = 1; t <= 5; t++) qn_adamw_step(p, g, m, v, mask, 4, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, t);
    cr_expect_eq(p[0], 0.0f);
    cr_expect_eq(p[2], 0.0f);
    cr_expect_neq(p[1], 0.5f);
}

Test(rng, splitmix64_and_xoshiro_reference_values) {
    /* splitmix64 seeded with 0: first output 0xE220A8397B1DCDAF (Vigna's reference). */
    cr_expect_eq(qn_splitmix64(0), 0xE220A8397B1DCDAFull);
    qn_rng a, b;
    qn_rng_seed(&a, 12345);
    qn_rng_seed(&b, 12345);
    for (int i = 0; i < 1000; i++) cr_assert_eq(qn_rng_u64(&a), qn_rng_u64(&b));
    qn_rng_seed(&b, 12346);
    cr_expect_neq(qn_rng_u64(&a), qn_rng_u64(&b));
}

Test(rng, xoshiro256starstar_step) {
    /* Hand-set state: output is rotl(s1 * 5, 7) * 9, as in the reference implementation. */
    qn_rng r = {{1, 2, 3, 4}};
    cr_expect_eq(qn_rng_u64(&r), 11520ull); /* rotl(10, 7) * 9 = 1280 * 9 */
    cr_expect_eq(r.s[0], 1ull ^ 4 ^ 2 ^ 0); /* s0 ^= s3 after s3 ^= s1 (4^2), s2 ^= s0 */
}

Test(rng, distributions) {
    qn_rng r;
    qn_rng_seed(&r, 7);
    double sum = 0, sq = 0;
    int counts[10] = {0};
    enum { N = 200000 };
    for (int i = 0; i < N; i++) {
        float u = qn_rng_uniform(&r);
        cr_assert(u >= 0.0f && u < 1.0f);
        float z = qn_rng_normal(&r);
        sum += z, sq += (double)z * z;
        counts[qn_rng_below(&r, 10)]++;
    }
    cr_expect(fabs(sum / N) < 0.01, "normal mean %g", sum / N);
    cr_expect(fabs(sq / N - 1.0) < 0.02, "normal variance %g", sq / N);
    for (int k = 0; k < 10; k++) cr_expect(abs(counts[k] - N / 10) < N / 100, "bucket %d: %d", k, counts[k]);
    cr_expect_eq(qn_rng_below(&r, 1), 0);
}
