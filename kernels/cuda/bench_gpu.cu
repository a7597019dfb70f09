/* bench_gpu.cu: quench bench kernels on the GPU: fake quantization of every format and the NF4 and
 * MXINT8 dequantization kernels against a device-to-device copy of the same bytes measured in the
 * same run, timed with CUDA events (the best of the passes). */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "qn_cuda_check.h"
#include "cuda_event_timer.h"
#include "qn_formats.h"
#include "qn_infer_formats.h"
#include "qn_kernels.h"

namespace {

__global__ void fill_kernel(float *x, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        x[i] = (qn_mask_coin(7, i) - 0.5f) * 8.0f;
}

} // namespace

extern "C" int qn_cuda_bench_formats(const char *const *specs, int nspecs, size_t mib, int reps, int json, FILE *out) {
    size_t n = mib * (1u << 20) / sizeof(float);
    n -= n % 1024;
    float *x = NULL, *y = NULL;
    if (cudaMalloc(&x, n * sizeof(float)) != cudaSuccess || cudaMalloc(&y, n * sizeof(float)) != cudaSuccess) {
        fprintf(stderr, "quench: bench: cannot allocate 2 x %zu MiB on the GPU\n", mib);
        cudaFree(x);
        return 1;
    }
    fill_kernel<<<1024, 256>>>(x, n);
    cudaDeviceSynchronize();
    qn_event_timer t;
    const double bytes = (double)n * sizeof(float);
    float best = INFINITY;
    for (int r = 0; r < reps + 1; r++) {
        t.start();
        cudaMemcpy(y, x, n * sizeof(float), cudaMemcpyDeviceToDevice);
        float ms = t.stop_ms();
        if (r > 0 && ms < best) best = ms;
    }
    double copy_gbs = bytes / (best * 1e-3) / 1e9;
    cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    if (json) fprintf(out, ", \"gpu\": {\"device\": \"%s\", \"copy_gbs\": %.3f, \"formats\": {", prop.name, copy_gbs);
    else fprintf(out, "\ngpu %s, %zu MiB, best of %d passes\n%-16s %9.2f GB/s\n", prop.name, mib, reps, "copy (d2d)", copy_gbs);
    int64_t shape[2] = {(int64_t)(n / 1024), 1024};
    int rc = 0;
    char err[256];
    for (int k = 0; k < nspecs; k++) {
        qn_format f;
        if (qn_format_parse(specs[k], &f, err, sizeof err) != 0) continue;
        float tb = INFINITY;
        for (int r = 0; r < reps + 1; r++) {
            t.start();
            if (qn_cuda_format_apply(&f, x, y, shape, 2, err, sizeof err) != 0) {
                fprintf(stderr, "quench: bench: gpu %s: %s\n", specs[k], err);
                rc = 1;
                break;
            }
            float ms = t.stop_ms();
            if (r > 0 && ms < tb) tb = ms;
        }
        double gbs = bytes / (tb * 1e-3) / 1e9;
        if (json) fprintf(out, "%s\"%s\": {\"gbs\": %.3f, \"ratio\": %.4f}", k ? ", " : "", qn_format_name(f.kind), gbs, gbs / copy_gbs);
        else fprintf(out, "%-16s %9.2f GB/s  %6.3fx copy   %s\n", qn_format_name(f.kind), gbs, gbs / copy_gbs, specs[k]);
    }
    /* dequantization from packed storage: output bytes (fp32 for NF4, bf16 for MXINT8) per second,
     * against the copy rate */
    unsigned char *packed = NULL;
    float *absmax = NULL;
    qn_mxint8_block *blocks = NULL;
    cudaMalloc(&packed, n / 2);
    cudaMalloc(&absmax, n / 64 * sizeof(float));
    cudaMalloc(&blocks, n / 32 * sizeof(qn_mxint8_block));
    cudaMemset(packed, 0x5A, n / 2);
    cudaMemset(blocks, 0x41, n / 32 * sizeof(qn_mxint8_block));
    fill_kernel<<<256, 256>>>(absmax, n / 64);
    float tn = INFINITY, tm = INFINITY;
    for (int r = 0; r < reps + 1; r++) {
        t.start();
        qn_cuda_4bit_dequantize(packed, absmax, n, 64, 1, y, err, sizeof err);
        float ms = t.stop_ms();
        if (r > 0 && ms < tn) tn = ms;
        t.start();
        qn_cuda_mxint8_to_bf16(blocks, n / 32, (uint16_t *)y, err, sizeof err);
        ms = t.stop_ms();
        if (r > 0 && ms < tm) tm = ms;
    }
    double nf4_gbs = bytes / (tn * 1e-3) / 1e9, mx_gbs = bytes / 2 / (tm * 1e-3) / 1e9;
    if (json)
        fprintf(out, "}, \"dequant\": {\"nf4_to_fp32\": {\"gbs\": %.3f, \"ratio\": %.4f}, \"mxint8_to_bf16\": {\"gbs\": %.3f, \"ratio\": %.4f}}}",
                nf4_gbs, nf4_gbs / copy_gbs, mx_gbs, mx_gbs / copy_gbs);
    else
        fprintf(out, "%-16s %9.2f GB/s  %6.3fx copy   (fp32 written)\n%-16s %9.2f GB/s  %6.3fx copy   (bf16 written)\n",
                "nf4 dequant", nf4_gbs, nf4_gbs / copy_gbs, "mxint8 dequant", mx_gbs, mx_gbs / copy_gbs);
    if (cudaGetLastError() != cudaSuccess) rc = 1;
    cudaFree(packed), cudaFree(absmax), cudaFree(blocks), cudaFree(x), cudaFree(y);
    return rc;
}
