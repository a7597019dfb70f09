/* device.cu: what a worker learns about its GPU: count, properties and a measured cuBLAS SGEMM rate
 * (the coordinator places trials by it). */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "qn_cuda_check.h"
#include "qn_kernels.h"

extern "C" int qn_cuda_available(void) {
    int count = 0;
    /* No driver or no GPU is not an error here: the worker falls back to the CPU backend. */
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return count;
}

extern "C" int qn_cuda_device_props(int device, qn_cuda_props *out, char *err, size_t errlen) {
    cudaDeviceProp p;
    QN_CUDA_TRY(cudaGetDeviceProperties(&p, device), err, errlen);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", p.name);
    out->cc_major = p.major;
    out->cc_minor = p.minor;
    out->sms = p.multiProcessorCount;
    out->memory_bytes = (double)p.totalGlobalMem;
    return 0;
}

/* SGEMM 2048^3, timed with events over enough repetitions for about 50 ms. Returns 0 on any error. */
extern "C" double qn_cuda_gemm_gflops(int device) {
    const int n = 2048;
    float *a = NULL, *b = NULL, *c = NULL;
    cublasHandle_t handle = NULL;
    cudaEvent_t start = NULL, stop = NULL;
    double rate = 0.0;
    const float one = 1.0f, zero = 0.0f;
    size_t bytes = (size_t)n * n * sizeof(float);
    if (cudaSetDevice(device) != cudaSuccess) goto done;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess ||
        cudaMalloc(&c, bytes) != cudaSuccess)
        goto done;
    cudaMemset(a, 0, bytes);
    cudaMemset(b, 0, bytes);
    if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) goto done;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    /* warm-up, then time one call to choose the repetition count */
    cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, c, n);
    {
        float ms = 0.0f;
        cudaEventRecord(start);
        cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, c, n);
        cudaEventRecord(stop);
        cudaEventSynchronize(stop);
        cudaEventElapsedTime(&ms, start, stop);
        int reps = ms > 0.0f ? (int)(50.0f / ms) + 1 : 10;
        if (reps > 200) reps = 200;
        cudaEventRecord(start);
        for (int i = 0; i < reps; i++)
            cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, n, b, n, &zero, c, n);
        cudaEventRecord(stop);
        cudaEventSynchronize(stop);
        cudaEventElapsedTime(&ms, start, stop);
        if (cudaGetLastError() == cudaSuccess && ms > 0.0f)
            rate = 2.0 * n * (double)n * n * reps / (ms * 1e-3) / 1e9;
    }
done:
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (handle) cublasDestroy(handle);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    cudaGetLastError();
    return rate;
}
