/* The training step's fast paths against the plain ones: GEMM with beta = 0 (the kernel writes C
 * instead of a pass of zeros first; transposed A packed), with a bias in its stores and a pass over
 * its finished blocks, on shapes that cross every blocking boundary; GELU's row passes, the
 * backwards' _write variants against zeros and the accumulating backward, and the attention
 * softmax (a vectorized exp) against exp in double. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_kernels.h"
#include "qn_nn.h"
#include "../support/test_arrays.h"

/* alpha op(A) op(B) in double */
static double naive_entry(int ta, int tb, int i, int j, int K, const float *A, int lda, const float *B, int ldb) {
    double acc = 0.0;
    for (int k = 0; k < K; k++) {
        const float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
        const float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
        acc += (double)a * b;
    }
    return acc;
}

/* M past the row block (144), K past the depth block (256) twice, N with a partial panel; ldc > N */
static const int gemm_shapes[][3] = {{301, 45, 600}, {13, 70, 300}, {150, 33, 257}};

Test(gemm, beta_zero_never_reads_c_and_matches_naive) {
    for (size_t s = 0; s < sizeof gemm_shapes / sizeof gemm_shapes[0]; s++) {
        const int M = gemm_shapes[s][0], N = gemm_shapes[s][1], K = gemm_shapes[s][2], ldc = N + 3;
        float *A = qn_test_uniform((size_t)M * K, 1), *B = qn_test_uniform((size_t)K * N, 2);
        float *C = malloc((size_t)M * ldc * sizeof *C);
        cr_assert_not_null(C);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = NAN; /* read, it would spread */
                const int lda = ta ? M : K, ldb = tb ? K : N;
                qn_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.0f, C, ldc);
                int bad = 0;
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < ldc; j++) {
                        const float got = C[(size_t)i * ldc + j];
                        if (j >= N) {
                            bad += !isnan(got); /* outside C: untouched */
                            continue;
                        }
                        const double want = 0.5 * naive_entry(ta, tb, i, j, K, A, lda, B, ldb);
                        bad += !(fabs(got - want) <= 1e-4 * (1.0 + fabs(want)));
                    }
                cr_expect_eq(bad, 0, "%dx%dx%d ta %d tb %d: %d entries wrong", M, N, K, ta, tb, bad);
            }
        free(A), free(B), free(C);
    }
}

Test(gemm, beta_zero_gives_the_bits_of_zeros_then_beta_one) {
    for (size_t s = 0; s < sizeof gemm_shapes / sizeof gemm_shapes[0]; s++) {
        const int M = gemm_shapes[s][0], N = gemm_shapes[s][1], K = gemm_shapes[s][2];
        float *A = qn_test_uniform((size_t)M * K, 3), *B = qn_test_uniform((size_t)K * N, 4);
        float *zeroed = calloc((size_t)M * N, sizeof *zeroed), *written = malloc((size_t)M * N * sizeof *written);
        cr_assert(zeroed && written);
        for (int threads = 1; threads <= 2; threads++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    qn_set_num_threads(threads);
                    memset(zeroed, 0, (size_t)M * N * sizeof *zeroed);
                    qn_sgemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 1.0f, zeroed, N);
                    qn_sgemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, written, N);
                    cr_expect_arr_eq(zeroed, written, (size_t)M * N * sizeof *written,
                                     "%dx%dx%d ta %d tb %d, %d threads", M, N, K, ta, tb, threads);
                }
        qn_set_num_threads(1);
        free(A), free(B), free(zeroed), free(written);
    }
}

/* the Linear layers' forward: the bias added in the kernel's stores gives the floats of the bias
 * copied into C followed by a product with beta = 1 (C's old contents never read), K = 0 included */
Test(gemm, bias_in_the_stores_gives_the_bits_of_copy_then_beta_one) {
    static const int shapes[][3] = {{301, 45, 600}, {13, 70, 300}, {150, 33, 257}, {40, 100, 128}, {7, 19, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ldc = N + 5;
        float *A = qn_test_uniform((size_t)M * K + 1, 20), *B = qn_test_uniform((size_t)K * N + 1, 21);
        float *bias = qn_test_uniform((size_t)N, 22);
        float *copied = malloc((size_t)M * ldc * sizeof *copied), *fused = malloc((size_t)M * ldc * sizeof *fused);
        cr_assert(copied && fused);
        for (int threads = 1; threads <= 2; threads++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    qn_set_num_threads(threads);
                    const int lda = ta ? M : (K ? K : 1), ldb = tb ? (K ? K : 1) : N;
                    for (size_t i = 0; i < (size_t)M * ldc; i++) copied[i] = fused[i] = NAN; /* padding compared too */
                    for (int i = 0; i < M; i++) memcpy(copied + (size_t)i * ldc, bias, (size_t)N * sizeof *bias);
                    qn_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, copied, ldc);
                    qn_sgemm_bias(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, bias, fused, ldc);
                    int differ = 0;
                    for (size_t i = 0; i < (size_t)M * ldc; i++)
                        differ += memcmp(&copied[i], &fused[i], sizeof *fused) != 0;
                    cr_expect_eq(differ, 0, "%dx%dx%d ta %d tb %d, %d threads: %d entries differ", M, N, K, ta, tb,
                                 threads, differ);
                }
        qn_set_num_threads(1);
        free(A), free(B), free(bias), free(copied), free(fused);
    }
}

/* qn_sgemm_then's pass sees every element of C once, after its last block of K (here: it copies
 * the block out, and the copy must equal the product's final C), with the block's coordinates in
 * the caller's C, at 1 and 2 threads (slices of rows or of columns). */
typedef struct {
    float *copy;
    int *visits, ld;
} then_probe;

static void copy_block(void *ctx, float *c, int ldc, int row0, int rows, int col0, int cols) {
    then_probe *p = ctx;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            p->copy[(size_t)(row0 + i) * p->ld + col0 + j] = c[(size_t)i * ldc + j];
            p->visits[(size_t)(row0 + i) * p->ld + col0 + j]++;
        }
}

Test(gemm, then_pass_sees_each_final_block_once) {
    /* rows past a row block, columns past NC (3072), K past KC; a tall and a wide shape for the
     * two ways of slicing over threads */
    static const int shapes[][3] = {{150, 3100, 300}, {301, 45, 600}, {5, 7, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = qn_test_uniform((size_t)M * K + 1, 30), *B = qn_test_uniform((size_t)K * N + 1, 31);
        float *bias = qn_test_uniform((size_t)N, 32), *C = malloc((size_t)M * N * sizeof *C);
        float *copy = malloc((size_t)M * N * sizeof *copy);
        int *visits = malloc((size_t)M * N * sizeof *visits);
        cr_assert(C && copy && visits);
        for (int threads = 1; threads <= 2; threads++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                qn_set_num_threads(threads);
                memset(visits, 0, (size_t)M * N * sizeof *visits);
                then_probe p = {copy, visits, N};
                qn_sgemm_then(0, 1, M, N, K, 1.0f, A, K ? K : 1, B, K ? K : 1, with_bias ? bias : NULL, C, N,
                              copy_block, &p);
                int wrong = 0;
                for (size_t i = 0; i < (size_t)M * N; i++)
                    wrong += visits[i] != 1 || memcmp(&copy[i], &C[i], sizeof *C) != 0;
                cr_expect_eq(wrong, 0, "%dx%dx%d, %d threads, bias %d: %d elements seen not once or not final", M, N,
                             K, threads, with_bias, wrong);
            }
        qn_set_num_threads(1);
        free(A), free(B), free(bias), free(C), free(copy), free(visits);
    }
}

/* the row versions GELU runs in a GEMM's pass give the floats of the whole-buffer ones */
Test(nn, gelu_rows_equal_the_whole_buffer_passes) {
    const int rows = 37, cols = 301, ld = 320;
    const size_t n = (size_t)rows * ld;
    float *x = qn_test_uniform(n, 33), *dout = qn_test_uniform(n, 34);
    float *whole = malloc(n * sizeof *whole), *by_rows = malloc(n * sizeof *by_rows);
    cr_assert(whole && by_rows);
    for (size_t i = 0; i < n; i++) x[i] *= 6.0f;
    qn_gelu_forward(whole, x, n);
    qn_gelu_forward_rows(by_rows, ld, x, ld, rows, cols);
    int differ = 0;
    for (int r = 0; r < rows; r++) differ += memcmp(whole + (size_t)r * ld, by_rows + (size_t)r * ld, (size_t)cols * sizeof *x) != 0;
    cr_expect_eq(differ, 0, "forward: %d rows differ", differ);
    qn_gelu_backward_write(whole, x, dout, n);
    memcpy(by_rows, dout, n * sizeof *by_rows);
    qn_gelu_backward_in_place_rows(by_rows, ld, x, ld, rows, cols);
    differ = 0;
    for (int r = 0; r < rows; r++) differ += memcmp(whole + (size_t)r * ld, by_rows + (size_t)r * ld, (size_t)cols * sizeof *x) != 0;
    cr_expect_eq(differ, 0, "backward: %d rows differ", differ);
    free(x), free(dout), free(whole), free(by_rows);
}

Test(nn, layernorm_backward_write_equals_zeros_then_accumulate) {
    const int N = 130, C = 100; /* C: 12 lanes of 8 and a tail */
    float *x = qn_test_uniform((size_t)N * C, 5), *dout = qn_test_uniform((size_t)N * C, 6), *w = qn_test_uniform(C, 7);
    float *b = qn_test_uniform(C, 8), *out = malloc((size_t)N * C * sizeof *out), mean[130], rstd[130];
    float *dx_acc = calloc((size_t)N * C, sizeof *dx_acc), *dx_write = malloc((size_t)N * C * sizeof *dx_write);
    float *dw_acc = calloc(C, sizeof *dw_acc), *db_acc = calloc(C, sizeof *db_acc);
    float *dw_write = calloc(C, sizeof *dw_write), *db_write = calloc(C, sizeof *db_write);
    cr_assert(out && dx_acc && dx_write && dw_acc && db_acc && dw_write && db_write);
    for (size_t i = 0; i < (size_t)N * C; i++) dx_write[i] = NAN;
    qn_layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-12f);
    qn_layernorm_backward(dx_acc, dw_acc, db_acc, dout, x, w, mean, rstd, N, C);
    qn_layernorm_backward_write(dx_write, dw_write, db_write, dout, x, w, mean, rstd, N, C);
    cr_expect_arr_eq(dx_acc, dx_write, (size_t)N * C * sizeof *dx_acc);
    cr_expect_arr_eq(dw_acc, dw_write, (size_t)C * sizeof *dw_acc);
    cr_expect_arr_eq(db_acc, db_write, (size_t)C * sizeof *db_acc);
    free(x), free(dout), free(w), free(b), free(out), free(dx_acc), free(dx_write);
    free(dw_acc), free(db_acc), free(dw_write), free(db_write);
}

Test(nn, gelu_backward_write_equals_zeros_then_accumulate) {
    const size_t n = 40003; /* chunks over threads and a vector tail */
    float *x = qn_test_uniform(n, 9), *dout = qn_test_uniform(n, 10);
    float *acc = calloc(n, sizeof *acc), *written = malloc(n * sizeof *written);
    cr_assert(acc && written);
    for (size_t i = 0; i < n; i++) x[i] *= 6.0f, written[i] = NAN;
    for (int threads = 1; threads <= 2; threads++) {
        qn_set_num_threads(threads);
        memset(acc, 0, n * sizeof *acc);
        qn_gelu_backward(acc, x, dout, n);
        qn_gelu_backward_write(written, x, dout, n);
        cr_expect_arr_eq(acc, written, n * sizeof *acc, "%d threads", threads);
    }
    qn_set_num_threads(1);
    free(x), free(dout), free(acc), free(written);
}

enum { A_B = 2, A_T = 37, A_C = 12, A_NH = 3 }; /* T: two lanes of 16 and a tail */

Test(nn, attention_backward_write_equals_zeros_then_accumulate) {
    const size_t n = (size_t)A_B * A_T * A_C;
    float *q = qn_test_uniform(n, 11), *k = qn_test_uniform(n, 12), *v = qn_test_uniform(n, 13);
    float *dout = qn_test_uniform(n, 14);
    float *out = malloc(n * sizeof *out), *att = malloc((size_t)A_B * A_NH * A_T * A_T * sizeof *att);
    float *acc = calloc(3 * n, sizeof *acc), *written = malloc(3 * n * sizeof *written);
    cr_assert(out && att && acc && written);
    int32_t mask[A_B * A_T];
    for (int i = 0; i < A_B * A_T; i++) mask[i] = !(i >= A_T && i % A_T >= 30); /* item 1: 7 padded tokens */
    for (size_t i = 0; i < 3 * n; i++) written[i] = NAN;
    qn_attention_forward(out, att, q, k, v, mask, A_B, A_T, A_C, A_NH);
    qn_attention_backward(acc, acc + n, acc + 2 * n, dout, att, q, k, v, A_B, A_T, A_C, A_NH);
    qn_attention_backward_write(written, written + n, written + 2 * n, dout, att, q, k, v, A_B, A_T, A_C, A_NH);
    cr_expect_arr_eq(acc, written, 3 * n * sizeof *acc);
    free(q), free(k), free(v), free(dout), free(out), free(att), free(acc), free(written);
}

Test(nn, attention_softmax_matches_exp_in_double) {
    const size_t n = (size_t)A_B * A_T * A_C;
    float *q = qn_test_uniform(n, 15), *k = qn_test_uniform(n, 16), *v = qn_test_uniform(n, 17);
    float *out = malloc(n * sizeof *out), *att = malloc((size_t)A_B * A_NH * A_T * A_T * sizeof *att);
    cr_assert(out && att);
    for (size_t i = 0; i < n; i++) q[i] *= 4.0f; /* scores over a range of a few tens */
    int32_t mask[A_B * A_T];
    for (int i = 0; i < A_B * A_T; i++) mask[i] = !(i >= A_T && i % A_T >= 30);
    qn_attention_forward(out, att, q, k, v, mask, A_B, A_T, A_C, A_NH);
    const int HS = A_C / A_NH;
    int bad = 0;
    for (int b = 0; b < A_B; b++)
        for (int h = 0; h < A_NH; h++)
            for (int t = 0; t < A_T; t++) {
                double s[A_T], mx = -INFINITY, sum = 0.0;
                for (int j = 0; j < A_T; j++) {
                    double d = 0.0;
                    for (int e = 0; e < HS; e++)
                        d += (double)q[((size_t)b * A_T + t) * A_C + h * HS + e] * k[((size_t)b * A_T + j) * A_C + h * HS + e];
                    s[j] = d / sqrt((double)HS);
                    if (mask[b * A_T + j] && s[j] > mx) mx = s[j];
                }
                for (int j = 0; j < A_T; j++) sum += (s[j] = mask[b * A_T + j] ? exp(s[j] - mx) : 0.0);
                const float *row = att + (((size_t)b * A_NH + h) * A_T + t) * A_T;
                for (int j = 0; j < A_T; j++) {
                    if (!mask[b * A_T + j]) bad += row[j] != 0.0f; /* padding: exactly 0 */
                    else bad += !(fabs(row[j] - s[j] / sum) <= 1e-6 * (1.0 + s[j] / sum));
                }
            }
    cr_expect_eq(bad, 0, "%d probabilities off", bad);
    free(q), free(k), free(v), free(out), free(att);
}
