/* test_formats_cuda.c: every format, the MXINT8 -> bf16 dequantization and the pruning masks on the
 * GPU against the CPU, element by element, on random data with special values mixed in.
 * Exits 77 (ctest: skipped) when quench is built without CUDA or no GPU is present. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"
#include "qn_formats.h"
#include "qn_kernels.h"

#ifdef QUENCH_HAVE_CUDA
#include <cuda_runtime.h>

static int failures;

static void compare(const char *what, const float *want, const float *got, size_t n, int allow_ulps) {
    int shown = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(want[i]) && isnan(got[i])) continue;
        if (memcmp(&want[i], &got[i], sizeof(float)) == 0) continue;
        if (allow_ulps && fabsf(want[i] - got[i]) <= fabsf(want[i]) * 1e-6f) continue;
        failures++;
        if (shown++ < 5) fprintf(stderr, "%s[%zu]: cpu %.9g cuda %.9g\n", what, i, want[i], got[i]);
    }
}
#endif

int main(void) {
    QN_GPU_TEST_SKIP_WITHOUT_GPU();
#ifdef QUENCH_HAVE_CUDA
    enum { ROWS = 96, COLS = 1000, N = ROWS * COLS };
    float *x = malloc(N * sizeof(float)), *want = malloc(N * sizeof(float)), *got = malloc(N * sizeof(float));
    qn_rng rng;
    qn_rng_seed(&rng, 77);
    for (int i = 0; i < N; i++) x[i] = qn_rng_normal(&rng) * ldexpf(1.0f, (int)qn_rng_below(&rng, 20) - 10);
    const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 1e-9f, -1e-9f, 1e-40f, 3e38f, -3e38f, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) x[i * 37] = special[i];
    for (int c = 0; c < COLS; c++) x[5 * COLS + c] = 0.0f; /* an all-zero row: zero blocks */
    float *dx, *dy;
    cudaMalloc((void **)&dx, N * sizeof(float));
    cudaMalloc((void **)&dy, N * sizeof(float));
    cudaMemcpy(dx, x, N * sizeof(float), cudaMemcpyHostToDevice);
    const char *specs[] = {
        "integer:width=8,frac_width=4", "minifloat_denorm:width=8,exponent_width=4", "minifloat_ieee:width=8,exponent_width=4",
        "minifloat_ieee:width=6,exponent_width=3,exponent_bias=3", "log:width=5", "log:width=8,exponent_bias=128",
        "block_fp:width=8,exponent_width=8,block_size=16", "block_minifloat:width=8,exponent_width=4,exponent_bias_width=4,block_size=16",
        "block_log:width=5,exponent_bias_width=4,block_size=16", "binary:bipolar=1", "binary", "ternary", "ternary:scaling_factor=1",
        "mxint:width=8,block_size=32", "mxint:width=4,block_size=32", "mxfp:exponent_width=4,frac_width=3,block_size=32",
        "mxfp:exponent_width=5,frac_width=2,block_size=32", "mxfp:exponent_width=2,frac_width=1,block_size=32",
        "int8", "int8:threshold=6", "nf4:block_size=64", "fp4:block_size=64", "nf4:block_size=64,double_quant=1", "fp16", "bf16",
    };
    int64_t shape[2] = {ROWS, COLS};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        qn_format f;
        char err[256];
        if (qn_format_parse(specs[k], &f, err, sizeof err) != 0 || qn_format_apply(&f, x, want, shape, 2, err, sizeof err) != 0 ||
            qn_cuda_format_apply(&f, dx, dy, shape, 2, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", specs[k], err);
            failures++;
            continue;
        }
        cudaMemcpy(got, dy, N * sizeof(float), cudaMemcpyDeviceToHost);
        /* per-row means are summed in another order on the GPU: allow 1e-6 relative there */
        int loose = f.kind == QN_FMT_BINARY || f.kind == QN_FMT_TERNARY;
        compare(specs[k], want, got, N, loose);
    }
    /* MXINT8 -> bf16: every scale byte and every element value */
    size_t nblocks = 256 * 8;
    qn_mxint8_block *blocks = malloc(nblocks * sizeof *blocks);
    for (size_t b = 0; b < nblocks; b++) {
        blocks[b].scale = (uint8_t)(b % 256);
        for (int i = 0; i < 32; i++) blocks[b].elem[i] = (int8_t)((b / 256) * 32 + i - 128);
    }
    uint16_t *bw = malloc(nblocks * 32 * 2), *bg = malloc(nblocks * 32 * 2);
    qn_mxint8_block *dblocks;
    uint16_t *dout;
    cudaMalloc((void **)&dblocks, nblocks * sizeof *blocks);
    cudaMalloc((void **)&dout, nblocks * 32 * 2);
    cudaMemcpy(dblocks, blocks, nblocks * sizeof *blocks, cudaMemcpyHostToDevice);
    char err[256];
    qn_mxint8_to_bf16(blocks, nblocks, bw);
    if (qn_cuda_mxint8_to_bf16(dblocks, nblocks, dout, err, sizeof err) != 0) {
        fprintf(stderr, "mxint8: %s\n", err);
        failures++;
    } else {
        cudaMemcpy(bg, dout, nblocks * 32 * 2, cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < nblocks * 32; i++)
            if (bw[i] != bg[i] && failures++ < 5) fprintf(stderr, "mxint8[%zu]: cpu %04x cuda %04x\n", i, bw[i], bg[i]);
    }
    /* masks */
    const float *bufs[1] = {x};
    size_t lens[1] = {N};
    for (double q = 0.1; q < 1.0; q += 0.2) {
        float tc = qn_abs_quantile(bufs, lens, 1, q), tg = qn_cuda_abs_quantile(dx, N, q, err, sizeof err);
        if (!(tc == tg) && !(isnan(tc) && isnan(tg)) && failures++ < 5) fprintf(stderr, "quantile %.1f: cpu %g cuda %g\n", q, tc, tg);
    }
    uint8_t *mc = malloc(N), *mg = malloc(N), *dmask;
    cudaMalloc((void **)&dmask, N);
    qn_rng r1;
    qn_rng_seed(&r1, 3);
    uint64_t key = qn_rng_u64(&r1);
    qn_rng_seed(&r1, 3);
    qn_mask_random(N, 0.4, &r1, mc);
    qn_cuda_mask_random(N, 0.4, key, dmask, err, sizeof err);
    cudaMemcpy(mg, dmask, N, cudaMemcpyDeviceToHost);
    if (memcmp(mc, mg, N) != 0 && failures++ < 5) fprintf(stderr, "random masks differ\n");
    qn_mask_l1(x, N, 0.25f, mc);
    qn_cuda_mask_l1(dx, N, 0.25f, dmask, err, sizeof err);
    cudaMemcpy(mg, dmask, N, cudaMemcpyDeviceToHost);
    if (memcmp(mc, mg, N) != 0 && failures++ < 5) fprintf(stderr, "l1 masks differ\n");
    cudaFree(dx), cudaFree(dy), cudaFree(dblocks), cudaFree(dout), cudaFree(dmask);
    if (failures) {
        fprintf(stderr, "%d mismatches\n", failures);
        return 1;
    }
    puts("every format, MXINT8 dequantization and mask matches the CPU");
    return 0;
#endif
}
