/* The CPU kernels of a BERT training step give the same bits at 1, 2 and 3 threads (the project's
 * rule: results do not depend on the thread count), on shapes that do split over threads; and the
 * kernels' thread pool serves two callers at once. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qn_kernels.h"
#include "qn_nn.h"
#include "../support/test_arrays.h"

static float *copy_of(const float *x, size_t n) {
    float *y = malloc(n * sizeof *y);
    cr_assert_not_null(y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

/* C = op(A) op(B) + C at `threads` threads, for the four transpositions; M, N, K not multiples of
 * any register tile */
static float *gemm_at(int threads, int ta, int tb, const float *A, const float *B, const float *C0, int M, int N,
                      int K) {
    qn_set_num_threads(threads);
    float *C = copy_of(C0, (size_t)M * N);
    qn_sgemm(ta, tb, M, N, K, 0.75f, A, ta ? M : K, B, tb ? K : N, 1.0f, C, N);
    qn_set_num_threads(1);
    return C;
}

Test(threads, gemm_same_bits) {
    const int shapes[][3] = {{301, 203, 157}, {97, 517, 261}, {1030, 45, 77}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = qn_test_uniform((size_t)M * K, 1), *B = qn_test_uniform((size_t)K * N, 2);
        float *C0 = qn_test_uniform((size_t)M * N, 3);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                float *one = gemm_at(1, ta, tb, A, B, C0, M, N, K);
                for (int t = 2; t <= 3; t++) {
                    float *many = gemm_at(t, ta, tb, A, B, C0, M, N, K);
                    cr_expect_arr_eq(one, many, (size_t)M * N * sizeof *one, "gemm %dx%dx%d ta %d tb %d: %d threads differ",
                                     M, N, K, ta, tb, t);
                    free(many);
                }
                free(one);
            }
        free(A), free(B), free(C0);
    }
}

Test(threads, layernorm_same_bits) {
    const int N = 1100, C = 100; /* C: a lane tail (100 = 12 x 8 + 4) and a partial column chunk */
    const size_t n = (size_t)N * C;
    float *x = qn_test_uniform(n, 4), *w = qn_test_uniform((size_t)C, 5), *b = qn_test_uniform((size_t)C, 6);
    float *dout = qn_test_uniform(n, 7), *dx0 = qn_test_uniform(n, 8), *dw0 = qn_test_uniform((size_t)C, 9);
    float *out[3], *mean[3], *rstd[3], *dx[3], *dw[3], *db[3];
    for (int t = 0; t < 3; t++) {
        out[t] = malloc(n * sizeof(float)), mean[t] = malloc((size_t)N * sizeof(float));
        rstd[t] = malloc((size_t)N * sizeof(float));
        dx[t] = copy_of(dx0, n), dw[t] = copy_of(dw0, (size_t)C), db[t] = copy_of(dw0, (size_t)C);
        qn_set_num_threads(t + 1);
        qn_layernorm_forward(out[t], mean[t], rstd[t], x, w, b, N, C, 1e-12f);
        qn_layernorm_backward(dx[t], dw[t], db[t], dout, x, w, mean[t], rstd[t], N, C);
        qn_set_num_threads(1);
    }
    for (int t = 1; t < 3; t++) {
        cr_expect_arr_eq(out[0], out[t], n * sizeof(float), "out, %d threads", t + 1);
        cr_expect_arr_eq(mean[0], mean[t], (size_t)N * sizeof(float), "mean, %d threads", t + 1);
        cr_expect_arr_eq(rstd[0], rstd[t], (size_t)N * sizeof(float), "rstd, %d threads", t + 1);
        cr_expect_arr_eq(dx[0], dx[t], n * sizeof(float), "dinp, %d threads", t + 1);
        cr_expect_arr_eq(dw[0], dw[t], (size_t)C * sizeof(float), "dweight, %d threads", t + 1);
        cr_expect_arr_eq(db[0], db[t], (size_t)C * sizeof(float), "dbias, %d threads", t + 1);
    }
    /* the parameter gradients are added row by row in order, as a serial loop adds them */
    for (int i = 0; i < C; i++) {
        float sb = dw0[i], sw = dw0[i];
        for (int r = 0; r < N; r++) {
            const float d = dout[(size_t)r * C + i];
            sb += d;
            sw += d * ((x[(size_t)r * C + i] - mean[0][r]) * rstd[0][r]);
        }
        cr_expect_eq(db[0][i], sb, "dbias[%d]", i);
        cr_expect_eq(dw[0][i], sw, "dweight[%d]", i);
    }
    for (int t = 0; t < 3; t++) free(out[t]), free(mean[t]), free(rstd[t]), free(dx[t]), free(dw[t]), free(db[t]);
    free(x), free(w), free(b), free(dout), free(dx0), free(dw0);
}

Test(threads, column_sums_in_row_order) {
    const int rows = 700, cols = 203;
    float *x = qn_test_uniform((size_t)rows * cols, 10), *base = qn_test_uniform((size_t)cols, 11);
    float *want = copy_of(base, (size_t)cols);
    for (int c = 0; c < cols; c++) {
        float s = 0.0f;
        for (int r = 0; r < rows; r++) s += x[(size_t)r * cols + c];
        want[c] += s;
    }
    for (int t = 1; t <= 3; t++) {
        float *got = copy_of(base, (size_t)cols);
        qn_set_num_threads(t);
        qn_add_column_sums(got, x, rows, cols);
        qn_set_num_threads(1);
        cr_expect_arr_eq(got, want, (size_t)cols * sizeof(float), "column sums, %d threads", t);
        free(got);
    }
    free(x), free(base), free(want);
}

Test(threads, gelu_same_bits) {
    const size_t n = 100003;
    float *x = qn_test_uniform(n, 12), *dout = qn_test_uniform(n, 13), *d0 = qn_test_uniform(n, 14);
    for (size_t i = 0; i < n; i++) x[i] *= 8.0f;
    float *y1 = malloc(n * sizeof(float)), *y3 = malloc(n * sizeof(float));
    float *g1 = copy_of(d0, n), *g3 = copy_of(d0, n);
    qn_gelu_forward(y1, x, n), qn_gelu_backward(g1, x, dout, n);
    qn_set_num_threads(3);
    qn_gelu_forward(y3, x, n), qn_gelu_backward(g3, x, dout, n);
    qn_set_num_threads(1);
    cr_expect_arr_eq(y1, y3, n * sizeof(float), "gelu forward, 3 threads");
    cr_expect_arr_eq(g1, g3, n * sizeof(float), "gelu backward, 3 threads");
    free(x), free(dout), free(d0), free(y1), free(y3), free(g1), free(g3);
}

/* Two threads of the process multiply at once: one has the pool, the other starts threads of its
 * own; both get the serial product. */
typedef struct {
    const float *A, *B, *want;
    int M, N, K, rounds, bad;
} gemm_caller;

static void *call_gemm(void *arg) {
    gemm_caller *g = arg;
    float *C = malloc((size_t)g->M * g->N * sizeof *C);
    for (int r = 0; r < g->rounds && C; r++) {
        qn_sgemm(0, 1, g->M, g->N, g->K, 1.0f, g->A, g->K, g->B, g->K, 0.0f, C, g->N);
        g->bad += memcmp(C, g->want, (size_t)g->M * g->N * sizeof *C) != 0;
    }
    free(C);
    return NULL;
}

Test(threads, pool_serves_concurrent_callers) {
    const int M = 256, N = 192, K = 160;
    float *A = qn_test_uniform((size_t)M * K, 15), *B = qn_test_uniform((size_t)N * K, 16);
    float *want = malloc((size_t)M * N * sizeof *want);
    qn_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, want, N);
    qn_set_num_threads(2);
    gemm_caller g[2] = {{A, B, want, M, N, K, 50, 0}, {A, B, want, M, N, K, 50, 0}};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, call_gemm, &g[1]), 0);
    call_gemm(&g[0]);
    pthread_join(tid, NULL);
    qn_set_num_threads(1);
    cr_expect_eq(g[0].bad + g[1].bad, 0, "%d products differ from the serial one", g[0].bad + g[1].bad);
    free(A), free(B), free(want);
}

/* qn_parallel_blocks: every item exactly once, in blocks of the block size (the whole loop in one call
 * at one thread or when a second caller holds the pool), over many loops back to back (the workers
 * spin between them) and after a pause (they sleep), at 1, 2 and 3 threads; a second caller
 * meanwhile runs its loops alone, still covering every item. */
typedef struct {
    _Atomic int *hits;
    size_t n, block;
    int whole_ok;
    _Atomic int misaligned;
} blocks_probe;

static void count_block(void *arg, size_t lo, size_t hi) {
    blocks_probe *p = arg;
    const int whole = p->whole_ok && lo == 0 && hi == p->n;
    if (!whole && (lo % p->block != 0 || hi - lo > p->block)) atomic_fetch_add(&p->misaligned, 1);
    for (size_t i = lo; i < hi; i++) atomic_fetch_add(&p->hits[i], 1);
}

static int blocks_loops(int threads, size_t n, size_t block, int loops, int whole_ok) {
    _Atomic int *hits = calloc(n, sizeof *hits);
    blocks_probe p = {hits, n, block, whole_ok || threads == 1 || n <= block, 0};
    int wrong = 0;
    for (int r = 0; r < loops; r++) {
        for (size_t i = 0; i < n; i++) atomic_store(&hits[i], 0);
        qn_parallel_blocks(n, block, threads, count_block, &p);
        for (size_t i = 0; i < n; i++) wrong += atomic_load(&hits[i]) != 1;
    }
    free(hits);
    return wrong + atomic_load(&p.misaligned);
}

Test(threads, blocks_cover_every_item_once) {
    for (int threads = 1; threads <= 3; threads++) {
        cr_expect_eq(blocks_loops(threads, 1000, 16, 200, 0), 0, "%d threads, back to back", threads);
        usleep(2000); /* the workers go to sleep */
        cr_expect_eq(blocks_loops(threads, 1003, 64, 3, 0), 0, "%d threads, after a pause", threads);
        cr_expect_eq(blocks_loops(threads, 5, 16, 3, 0), 0, "%d threads, one block", threads);
    }
}

static void *blocks_caller(void *arg) {
    *(int *)arg = blocks_loops(2, 4096, 32, 100, 1);
    return NULL;
}

Test(threads, blocks_serve_concurrent_callers) {
    int wrong[2] = {0, 0};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, blocks_caller, &wrong[1]), 0);
    blocks_caller(&wrong[0]);
    pthread_join(tid, NULL);
    cr_expect_eq(wrong[0] + wrong[1], 0);
}
