/* The decode GEMVs of kernels/cpu/lowbit_gemv.c (and lowbit_gemv_avx512.c) on every path this CPU has
 * (QUENCH_LOWBIT=portable, avx2, avx512): each output against a double-precision dot with the
 * dequantized row, for sizes that are no multiple of the vector steps, every 4-bit block size, double
 * quantization and 1..8 activation rows; and the contracts the decoder relies on, bit for bit: a row's
 * result does not depend on how many rows come with it (M) nor on the split of the output rows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_infer_formats.h"
#include "qn_kernels.h"
#include "qn_lowbit_gemv.h"
#include "../support/test_arrays.h"

static const char *const paths[] = {"portable", "avx2", "avx512"};
enum { NPATHS = 3, MAX_M = 8 };

typedef enum { G_F32, G_F16, G_BF16, G_I8, G_4BIT } gfmt;

/* One weight in a packed format, with its dequantized rows (what the GEMV must multiply by). */
typedef struct {
    gfmt f;
    int out, in;
    float *w, *absmax, *deq;
    uint16_t *h;
    int8_t *q;
    qn_4bit_tensor t;
} weight;

static weight make_weight(gfmt f, int out, int in, uint64_t seed, qn_4bit_type type, int blocksize, int dq) {
    weight g = {.f = f, .out = out, .in = in};
    size_t n = (size_t)out * in;
    g.w = qn_test_randn(n, seed, 0.05f);
    g.deq = malloc(n * sizeof(float));
    switch (f) {
    case G_F32: memcpy(g.deq, g.w, n * sizeof(float)); break;
    case G_F16:
    case G_BF16:
        g.h = malloc(n * sizeof(uint16_t));
        for (size_t e = 0; e < n; e++) g.h[e] = f == G_BF16 ? qn_f32_to_bf16(g.w[e]) : qn_f32_to_f16(g.w[e]);
        for (int j = 0; j < out; j++) qn_lowbit_row_h16(g.h, f == G_BF16, in, j, g.deq + (size_t)j * in);
        break;
    case G_I8:
        g.q = malloc(n), g.absmax = malloc((size_t)out * sizeof(float));
        qn_int8_rowwise_quantize(g.w, out, in, g.q, g.absmax);
        for (int j = 0; j < out; j++) qn_lowbit_row_i8(g.q, g.absmax, in, j, g.deq + (size_t)j * in);
        break;
    case G_4BIT:
        cr_assert_eq(qn_4bit_quantize(g.w, n, type, blocksize, dq, &g.t), 0);
        qn_4bit_dequantize(&g.t, g.deq);
        break;
    }
    return g;
}

static void free_weight(weight *g) {
    free(g->w), free(g->absmax), free(g->deq), free(g->h), free(g->q);
    if (g->f == G_4BIT) qn_4bit_free(&g->t);
}

static void gemv(const weight *g, int j0, int j1, const float *x, int M, float *y) {
    switch (g->f) {
    case G_F32: qn_gemv_f32(g->w, g->in, j0, j1, x, g->in, M, y, g->out); break;
    case G_F16:
    case G_BF16: qn_gemv_h16_f32(g->h, g->f == G_BF16, g->in, j0, j1, x, g->in, M, y, g->out); break;
    case G_I8: qn_gemv_i8_f32(g->q, g->absmax, g->in, j0, j1, x, g->in, M, y, g->out); break;
    case G_4BIT: qn_gemv_4bit_f32(&g->t, g->in, j0, j1, x, g->in, M, y, g->out); break;
    }
}

/* On every path: y within 1e-5 of the dequantized dot (relative to sum |w x|) for M = 1..8; each row
 * of y(M) bit-equal to y(1) of that activation row; rows computed in odd slices bit-equal to all at once. */
static void check_weight(gfmt f, int out, int in, qn_4bit_type type, int blocksize, int dq) {
    weight g = make_weight(f, out, in, 100 + (uint64_t)out * 7 + (uint64_t)in, type, blocksize, dq);
    float *x = qn_test_randn((size_t)MAX_M * in, 5, 1.0f);
    float *y = malloc((size_t)MAX_M * out * sizeof(float)), *y1 = malloc((size_t)MAX_M * out * sizeof(float));
    float *ys = malloc((size_t)MAX_M * out * sizeof(float));
    for (int p = 0; p < NPATHS; p++) {
        setenv("QUENCH_LOWBIT", paths[p], 1);
        char what[160];
        snprintf(what, sizeof what, "format %d, %dx%d, type %d, block %d, dq %d, path %s (%s)", f, out, in, type,
                 blocksize, dq, paths[p], qn_lowbit_path());
        for (int i = 0; i < MAX_M; i++) gemv(&g, 0, out, x + (size_t)i * in, 1, y1 + (size_t)i * out);
        for (int M = 1; M <= MAX_M; M++) {
            gemv(&g, 0, out, x, M, y);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < out; j++) {
                    double s = 0, a = 0;
                    for (int k = 0; k < in; k++) {
                        double prod = (double)g.deq[(size_t)j * in + k] * x[(size_t)i * in + k];
                        s += prod, a += fabs(prod);
                    }
                    float got = y[(size_t)i * out + j];
                    cr_assert(fabs(got - s) <= 1e-5 * a + 1e-30, "%s, M %d: y[%d,%d] = %g, want %g", what, M, i, j, got, s);
                    cr_assert(memcmp(&got, &y1[(size_t)i * out + j], sizeof got) == 0,
                              "%s: y[%d,%d] with M %d is %.9g, alone %.9g", what, i, j, M, got, y1[(size_t)i * out + j]);
                }
            /* the output rows in slices of 1, 2, 3, ... starting anywhere */
            for (int j0 = 0, len = 1; j0 < out; j0 += len, len++) {
                int j1 = j0 + len < out ? j0 + len : out;
                gemv(&g, j0, j1, x, M, ys);
            }
            for (int i = 0; i < M; i++)
                cr_assert(memcmp(ys + (size_t)i * out, y + (size_t)i * out, (size_t)out * sizeof(float)) == 0,
                          "%s, M %d: row slices differ from all rows at once", what, M);
        }
    }
    unsetenv("QUENCH_LOWBIT");
    free_weight(&g), free(x), free(y), free(y1), free(ys);
}

static const int odd_ins[] = {1, 7, 16, 31, 33, 45, 64, 100, 257};

Test(lowbit_gemv, f32_any_size) {
    for (size_t s = 0; s < sizeof odd_ins / sizeof *odd_ins; s++) check_weight(G_F32, 15, odd_ins[s], 0, 0, 0);
}
Test(lowbit_gemv, f16_bf16_any_size) {
    for (size_t s = 0; s < sizeof odd_ins / sizeof *odd_ins; s++) {
        check_weight(G_F16, 11, odd_ins[s], 0, 0, 0);
        check_weight(G_BF16, 14, odd_ins[s], 0, 0, 0);
    }
}
Test(lowbit_gemv, w8a16_any_size) {
    for (size_t s = 0; s < sizeof odd_ins / sizeof *odd_ins; s++) check_weight(G_I8, 13, odd_ins[s], 0, 0, 0);
    check_weight(G_I8, 9, 1000, 0, 0, 0);
}

/* Rows that start on a block (the vector paths) and rows that do not (portable). */
Test(lowbit_gemv, nf4_fp4_every_block_size) {
    for (int bs = 32; bs <= 4096; bs *= 2)
        for (int dq = 0; dq <= 1; dq++) {
            check_weight(G_4BIT, 5, bs, QN_4BIT_NF4, bs, dq);          /* one block per row */
            check_weight(G_4BIT, 3, 2 * bs, QN_4BIT_FP4, bs, dq);      /* two */
            if (bs <= 256) check_weight(G_4BIT, 13, 4 * bs, QN_4BIT_NF4, bs, dq);
        }
}
Test(lowbit_gemv, nf4_rows_off_the_blocks) {
    check_weight(G_4BIT, 9, 45, QN_4BIT_NF4, 64, 1);  /* odd rows start mid-byte */
    check_weight(G_4BIT, 13, 96, QN_4BIT_FP4, 64, 0); /* blocks straddle rows */
    check_weight(G_4BIT, 7, 100, QN_4BIT_NF4, 32, 0);
    check_weight(G_4BIT, 11, 33, QN_4BIT_NF4, 32, 1);
}

/* int8 x int8 is exact in int32 on every path, for odd sizes, more than 8 activation rows, and output
 * rows in slices of 1, 2, 3, ... (every count of rows left over after the passes of 2 or 4 rows). */
Test(lowbit_gemv, int8_int8_exact) {
    static const int ins[] = {1, 63, 64, 65, 200};
    enum { OUT = 23, M = 11 };
    qn_rng r;
    qn_rng_seed(&r, 17);
    for (size_t s = 0; s < sizeof ins / sizeof *ins; s++) {
        const int in = ins[s];
        int8_t *q = malloc((size_t)OUT * in), *xq = malloc((size_t)M * in);
        for (int e = 0; e < OUT * in; e++) q[e] = (int8_t)(qn_rng_u64(&r) % 255 - 127);
        for (int e = 0; e < M * in; e++) xq[e] = (int8_t)(qn_rng_u64(&r) % 255 - 127);
        q[0] = xq[0] = -127;
        int32_t acc[M * OUT];
        for (int p = 0; p < NPATHS; p++) {
            setenv("QUENCH_LOWBIT", paths[p], 1);
            for (int m = 1; m <= M; m++) {
                memset(acc, 0x5a, sizeof acc); /* no output left unwritten */
                if (m % 2) qn_gemv_i8_i8(q, in, 0, OUT, xq, m, acc, OUT);
                else
                    for (int j0 = 0, len = 1; j0 < OUT; j0 += len, len++)
                        qn_gemv_i8_i8(q, in, j0, j0 + len < OUT ? j0 + len : OUT, xq, m, acc, OUT);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < OUT; j++) {
                        int32_t want = 0;
                        for (int k = 0; k < in; k++) want += q[(size_t)j * in + k] * xq[(size_t)i * in + k];
                        cr_assert_eq(acc[i * OUT + j], want, "path %s, in %d, M %d, [%d,%d]", qn_lowbit_path(), in, m, i, j);
                    }
            }
        }
        unsetenv("QUENCH_LOWBIT");
        free(q), free(xq);
    }
}

Test(lowbit_gemv, path_names) {
    setenv("QUENCH_LOWBIT", "portable", 1);
    cr_expect_str_eq(qn_lowbit_path(), "portable");
    setenv("QUENCH_LOWBIT", "avx2", 1);
    const char *p = qn_lowbit_path();
    cr_expect(!strcmp(p, "avx2") || !strcmp(p, "portable"), "avx2 asks for at most AVX2: %s", p);
    unsetenv("QUENCH_LOWBIT");
    const char *best = qn_lowbit_path();
    setenv("QUENCH_LOWBIT", "avx512", 1);
    cr_expect_str_eq(qn_lowbit_path(), best, "avx512 is the best this CPU has");
    unsetenv("QUENCH_LOWBIT");
}
