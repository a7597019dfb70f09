/* test_sdpa_cuda.c: the CUDA attention kernels (naive and fused) against the CPU fused kernel on
 * odd shapes, causal and not, and NF4 -> fp16 on the GPU against the CPU bit for bit.
 * Exits 77 (ctest: skipped) when quench is built without CUDA or no GPU is present. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpu_test.h"
#include "qn_dequant.h"
#include "qn_infer_formats.h"
#include "qn_kernels.h"
#include "qn_sdpa.h"

#ifdef QUENCH_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

static int failures;

static float *upload(const float *x, size_t n) {
    float *d = NULL;
    cudaMalloc((void **)&d, n * sizeof *d);
    cudaMemcpy(d, x, n * sizeof *d, cudaMemcpyHostToDevice);
    return d;
}

static void check_shape(cublasHandle_t h, int B, int H, int T, int D, int causal) {
    const size_t n = (size_t)B * H * T * D;
    float *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4), *want = malloc(n * 4), *got = malloc(n * 4);
    qn_rng r;
    qn_rng_seed(&r, (uint64_t)T * 131 + D);
    for (size_t i = 0; i < n; i++)
        q[i] = 4 * qn_rng_uniform(&r) - 2, k[i] = 4 * qn_rng_uniform(&r) - 2, v[i] = 2 * qn_rng_uniform(&r) - 1;
    if (qn_sdpa_fused(want, q, k, v, B, H, T, D, causal) != 0) failures++;
    float *dq = upload(q, n), *dk = upload(k, n), *dv = upload(v, n), *dout = NULL, *ds = NULL;
    cudaMalloc((void **)&dout, n * 4);
    cudaMalloc((void **)&ds, qn_sdpa_naive_scores(B, H, T) * 4);
    char err[256];
    for (int path = 0; path < 2; path++) {
        int e = path == 0 ? qn_cuda_sdpa_naive(h, dout, ds, dq, dk, dv, B, H, T, D, causal, err, sizeof err)
                          : qn_cuda_sdpa_fused(dout, dq, dk, dv, B, H, T, D, causal, err, sizeof err);
        if (e != 0 || cudaMemcpy(got, dout, n * 4, cudaMemcpyDeviceToHost) != cudaSuccess) {
            fprintf(stderr, "(%d,%d,%d,%d) %s: %s\n", B, H, T, D, path ? "fused" : "naive", e ? err : "cudaMemcpy failed");
            failures++;
            continue;
        }
        double worst = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - want[i]);
            worst = d > worst || isnan(d) ? d : worst;
        }
        if (!(worst <= 2e-5)) {
            fprintf(stderr, "(%d,%d,%d,%d) causal=%d %s: max |cuda - cpu| = %g\n", B, H, T, D, causal,
                    path ? "fused" : "naive", worst);
            failures++;
        }
    }
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dout), cudaFree(ds);
    free(q), free(k), free(v), free(want), free(got);
}

static void check_nf4(void) {
    const size_t nb = 1000, n = nb * 64;
    float *x = malloc(n * 4);
    qn_rng r;
    qn_rng_seed(&r, 9);
    for (size_t i = 0; i < n; i++) x[i] = qn_rng_normal(&r) * ldexpf(1.0f, (int)(i / 64 % 40) - 30); /* subnormal halves too */
    qn_4bit_tensor t;
    qn_nf4_block64 *blocks = malloc(nb * sizeof *blocks);
    uint16_t *want = malloc(n * 2), *got = malloc(n * 2), *dout = NULL;
    qn_nf4_block64 *dblocks = NULL;
    char err[256];
    if (qn_4bit_quantize(x, n, QN_4BIT_NF4, 64, 0, &t) != 0 || qn_nf4_pack_blocks(&t, blocks, nb) != 0) {
        failures++;
        return;
    }
    qn_nf4_to_f16(blocks, nb, want);
    cudaMalloc((void **)&dblocks, nb * sizeof *blocks);
    cudaMalloc((void **)&dout, n * 2);
    cudaMemcpy(dblocks, blocks, nb * sizeof *blocks, cudaMemcpyHostToDevice);
    if (qn_cuda_nf4_to_f16(dblocks, nb, dout, err, sizeof err) != 0) {
        fprintf(stderr, "nf4 -> fp16: %s\n", err);
        failures++;
    } else {
        cudaMemcpy(got, dout, n * 2, cudaMemcpyDeviceToHost);
        int shown = 0;
        for (size_t i = 0; i < n; i++)
            if (got[i] != want[i]) {
                failures++;
                if (shown++ < 5) fprintf(stderr, "nf4 -> fp16 [%zu]: cpu %#06x cuda %#06x\n", i, want[i], got[i]);
            }
    }
    cudaFree(dblocks), cudaFree(dout);
    qn_4bit_free(&t);
    free(x), free(blocks), free(want), free(got);
}
#endif

int main(void) {
    QN_GPU_TEST_SKIP_WITHOUT_GPU();
#ifdef QUENCH_HAVE_CUDA
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "cublasCreate failed\n");
        return 1;
    }
    cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH); /* float32 products, no TF32: the CPU is the reference */
    static const int shapes[][4] = {{1, 1, 1, 64}, {2, 3, 37, 64}, {1, 2, 100, 80}, {2, 1, 129, 128}, {4, 8, 128, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int causal = 0; causal < 2; causal++) check_shape(h, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], causal);
    cublasDestroy(h);
    check_nf4();
    if (failures) fprintf(stderr, "%d failures\n", failures);
    else puts("sdpa and nf4 -> fp16: CUDA matches the CPU");
    return failures ? 1 : 0;
#endif
}
