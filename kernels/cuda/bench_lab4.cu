/* bench_lab4.cu: the GPU half of quench bench attention and quench bench dequant (bench_lab4.h):
 * CUDA events around each kernel, the best of reps after a warm-up run. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_cuda_check.h"
#include "cuda_event_timer.h"
#include "qn_dequant.h"
#include "qn_formats.h"
#include "qn_sdpa.h"

extern "C" {
int qn_cuda_bench_sdpa(int B, int H, int T, int D, int causal, int reps, double *naive_ms, double *fused_ms,
                       double *max_diff, char *err, size_t errlen);
int qn_cuda_bench_dequant(size_t n_out, int reps, double *copy_gbs, double *mxint8_gbs, double *nf4_gbs, char *err,
                          size_t errlen);
void qn_cuda_bench_device_name(char *buf, size_t len);
}

namespace {

__device__ uint32_t hash32(uint64_t i) {
    uint64_t z = i + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)(z ^ (z >> 31));
}

/* uniform in [-2, 2): spread scores, so the softmax is not flat */
__global__ void fill_uniform(float *x, size_t n, uint64_t seed) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        x[i] = (float)(hash32(seed * 0x100000000ull + i) >> 8) * (4.0f / 16777216.0f) - 2.0f;
}

__global__ void fill_bytes(uint8_t *x, size_t n, uint64_t seed) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        x[i] = (uint8_t)hash32(seed * 0x100000000ull + i);
}

/* realistic scales: MXINT8 around 2^-7, NF4 absmax in [0.05, 0.15) */
__global__ void fix_scales(qn_mxint8_block *mx, size_t nmx, qn_nf4_block64 *nf4, size_t nnf4) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < nmx || i < nnf4; i += (size_t)blockDim.x * gridDim.x) {
        if (i < nmx) mx[i].scale = (uint8_t)(120 + hash32(i) % 6);
        if (i < nnf4) nf4[i].absmax = 0.05f + 0.1f * (float)(hash32(i + 7) >> 8) / 16777216.0f;
    }
}

} // namespace

extern "C" void qn_cuda_bench_device_name(char *buf, size_t len) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) snprintf(buf, len, "unknown");
    else snprintf(buf, len, "%s", p.name);
}

extern "C" int qn_cuda_bench_sdpa(int B, int H, int T, int D, int causal, int reps, double *naive_ms, double *fused_ms,
                                  double *max_diff, char *err, size_t errlen) {
    const size_t n = (size_t)B * H * T * D;
    float *q = NULL, *k = NULL, *v = NULL, *o1 = NULL, *o2 = NULL, *s = NULL, *h1 = NULL, *h2 = NULL;
    cublasHandle_t h = NULL;
    int rc = -1;
    qn_event_timer t;
    if (cudaMalloc(&q, n * 4) != cudaSuccess || cudaMalloc(&k, n * 4) != cudaSuccess || cudaMalloc(&v, n * 4) != cudaSuccess ||
        cudaMalloc(&o1, n * 4) != cudaSuccess || cudaMalloc(&o2, n * 4) != cudaSuccess ||
        cudaMalloc(&s, qn_sdpa_naive_scores(B, H, T) * 4) != cudaSuccess) {
        snprintf(err, errlen, "cannot allocate (%d, %d, %d, %d) and its scores on the GPU", B, H, T, D);
        goto done;
    }
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "cublasCreate failed");
        goto done;
    }
    cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH); /* float32 products: no TF32 on Ampere and later */
    fill_uniform<<<1024, 256>>>(q, n, 1);
    fill_uniform<<<1024, 256>>>(k, n, 2);
    fill_uniform<<<1024, 256>>>(v, n, 3);
    if (cudaDeviceSynchronize() != cudaSuccess) {
        snprintf(err, errlen, "filling the inputs failed: %s", cudaGetErrorString(cudaGetLastError()));
        goto done;
    }
    for (int path = 0; path < 2; path++) {
        float best = INFINITY;
        for (int r = 0; r <= reps; r++) {
            t.start();
            int e = path == 0 ? qn_cuda_sdpa_naive(h, o1, s, q, k, v, B, H, T, D, causal, err, errlen)
                              : qn_cuda_sdpa_fused(o2, q, k, v, B, H, T, D, causal, err, errlen);
            float ms = t.stop_ms();
            if (e != 0) goto done;
            if (r > 0 && ms < best) best = ms;
        }
        *(path == 0 ? naive_ms : fused_ms) = best;
    }
    h1 = (float *)malloc(n * 4), h2 = (float *)malloc(n * 4);
    if (!h1 || !h2) {
        snprintf(err, errlen, "out of host memory");
        goto done;
    }
    if (cudaMemcpy(h1, o1, n * 4, cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(h2, o2, n * 4, cudaMemcpyDeviceToHost) != cudaSuccess) {
        snprintf(err, errlen, "attention failed: %s", cudaGetErrorString(cudaGetLastError()));
        goto done;
    }
    *max_diff = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)h1[i] - h2[i]);
        *max_diff = d > *max_diff || isnan(d) ? d : *max_diff;
    }
    rc = 0;
done:
    if (h) cublasDestroy(h);
    cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(o1), cudaFree(o2), cudaFree(s);
    free(h1), free(h2);
    return rc;
}

extern "C" int qn_cuda_bench_dequant(size_t n_out, int reps, double *copy_gbs, double *mxint8_gbs, double *nf4_gbs,
                                     char *err, size_t errlen) {
    n_out -= n_out % 64;
    uint16_t *dst = NULL, *src = NULL;
    qn_mxint8_block *mx = NULL;
    qn_nf4_block64 *nf4 = NULL;
    int rc = -1;
    qn_event_timer t;
    const double bytes = (double)n_out * 2;
    if (cudaMalloc(&dst, n_out * 2) != cudaSuccess || cudaMalloc(&src, n_out * 2) != cudaSuccess ||
        cudaMalloc(&mx, n_out / 32 * sizeof *mx) != cudaSuccess || cudaMalloc(&nf4, n_out / 64 * sizeof *nf4) != cudaSuccess) {
        snprintf(err, errlen, "cannot allocate %zu MiB of output and its inputs on the GPU", n_out * 2 >> 20);
        goto done;
    }
    fill_bytes<<<1024, 256>>>((uint8_t *)mx, n_out / 32 * sizeof *mx, 1);
    fill_bytes<<<1024, 256>>>((uint8_t *)nf4, n_out / 64 * sizeof *nf4, 2);
    fix_scales<<<1024, 256>>>(mx, n_out / 32, nf4, n_out / 64);
    if (cudaMemset(src, 0x3C, n_out * 2) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) {
        snprintf(err, errlen, "filling the inputs failed: %s", cudaGetErrorString(cudaGetLastError()));
        goto done;
    }
    for (int which = 0; which < 3; which++) {
        float best = INFINITY;
        for (int r = 0; r <= reps; r++) {
            t.start();
            int e = 0;
            if (which == 0) e = cudaMemcpy(dst, src, n_out * 2, cudaMemcpyDeviceToDevice) == cudaSuccess ? 0 : -1;
            else if (which == 1) e = qn_cuda_mxint8_to_bf16(mx, n_out / 32, dst, err, errlen);
            else e = qn_cuda_nf4_to_f16(nf4, n_out / 64, dst, err, errlen);
            float ms = t.stop_ms();
            if (e != 0) {
                if (which == 0) snprintf(err, errlen, "cudaMemcpy device to device failed");
                goto done;
            }
            if (r > 0 && ms < best) best = ms;
        }
        double gbs = bytes / (best * 1e-3) / 1e9;
        *(which == 0 ? copy_gbs : which == 1 ? mxint8_gbs : nf4_gbs) = gbs;
    }
    if (cudaDeviceSynchronize() != cudaSuccess) {
        snprintf(err, errlen, "dequantization failed: %s", cudaGetErrorString(cudaGetLastError()));
        goto done;
    }
    rc = 0;
done:
    cudaFree(dst), cudaFree(src), cudaFree(mx), cudaFree(nf4);
    return rc;
}
