/* infer_formats.cu: int8 rows (W8A16 and LLM.int8()), NF4 and FP4 (with double quantization) on the
 * GPU, with bitsandbytes' rules shared with the CPU (kernels/cpu/bnb4_elem.h). Per-row and per-block
 * statistics are maxima, which do not depend on the order of reduction; the double-quantization mean
 * is summed in double on one CTA. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>

#include "../cpu/bnb4_elem.h"
#include "qn_cuda_check.h"
#include "cuda_internal.h"
#include "qn_infer_formats.h"

namespace {

const int kThreads = 256;
__constant__ float c_nf4[16], c_fp4[16], c_dyn8[256];

#define GRID_STRIDE(i, n) for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

unsigned grid_for(size_t n) {
    size_t b = (n + kThreads - 1) / kThreads;
    return (unsigned)(b > 65535u * 16u ? 65535u * 16u : (b ? b : 1));
}

__device__ float block_max_abs(const float *x, size_t n, const float *skip_threshold) {
    __shared__ float red[kThreads];
    float m = 0.0f;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
        float a = fabsf(x[i]);
        if (skip_threshold && a >= *skip_threshold) continue;
        m = fmaxf(m, a);
    }
    red[threadIdx.x] = m;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + w]);
        __syncthreads();
    }
    float r = red[0];
    __syncthreads();
    return r;
}

__global__ void outlier_cols_kernel(const float *x, size_t rows, size_t cols, float threshold, unsigned char *outlier) {
    GRID_STRIDE(c, cols) {
        unsigned char o = 0;
        for (size_t r = 0; r < rows && !o; r++) o = fabsf(x[r * cols + c]) >= threshold;
        outlier[c] = o;
    }
}

/* One CTA per row: absmax (outlier values excluded), then q = rint(x * (127 / absmax)) back to float. */
__global__ void int8_rows_kernel(const float *x, float *y, size_t cols, float threshold, const unsigned char *outlier) {
    const float *xr = x + (size_t)blockIdx.x * cols;
    float *yr = y + (size_t)blockIdx.x * cols;
    float amax = block_max_abs(xr, cols, threshold > 0.0f ? &threshold : NULL);
    float s = amax > 0.0f ? __fmul_rn(__frcp_rn(amax), 127.0f) : 0.0f;
    for (size_t c = threadIdx.x; c < cols; c += blockDim.x) {
        if (outlier && outlier[c]) {
            yr[c] = xr[c];
            continue;
        }
        float v = rintf(xr[c] * s);
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        yr[c] = v * amax * 7.874015718698502e-3f;
    }
}

__global__ void absmax_blocks_kernel(const float *x, size_t n, size_t bs, float *absmax) {
    const float *xb = x + (size_t)blockIdx.x * bs;
    size_t len = n - (size_t)blockIdx.x * bs < bs ? n - (size_t)blockIdx.x * bs : bs;
    float m = block_max_abs(xb, len, NULL);
    if (threadIdx.x == 0) absmax[blockIdx.x] = m;
}

/* Double quantization of the absmax: offset = mean (one CTA, double), groups of 256 against the
 * 8-bit dynamic code, then the reconstructed absmax written back in place. */
__global__ void dq_mean_kernel(const float *absmax, size_t nb, float *offset) {
    __shared__ double red[kThreads];
    double s = 0.0;
    for (size_t i = threadIdx.x; i < nb; i += blockDim.x) s += absmax[i];
    red[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) red[threadIdx.x] += red[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) *offset = nb ? (float)(red[0] / (double)nb) : 0.0f;
}

__global__ void dq_groups_kernel(float *absmax, size_t nb, const float *offset) {
    __shared__ float red[kThreads];
    size_t lo = (size_t)blockIdx.x * 256, hi = lo + 256 < nb ? lo + 256 : nb;
    float off = *offset, m = 0.0f;
    for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) m = fmaxf(m, fabsf(absmax[i] - off));
    red[threadIdx.x] = m;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + w]);
        __syncthreads();
    }
    float amax2 = red[0], r = 1.0f / amax2;
    for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
        unsigned char q = qn_dynamic8_encode_elem(c_dyn8, (absmax[i] - off) * r);
        absmax[i] = __fadd_rn(__fmul_rn(c_dyn8[q], amax2), off); /* qn_4bit_block_absmax's roundings: no FMA */
    }
}

__global__ void fourbit_kernel(const float *x, float *y, size_t n, size_t bs, const float *absmax_q,
                               const float *absmax_raw, int nf4) {
    GRID_STRIDE(i, n) {
        size_t b = i / bs;
        float r = 1.0f / absmax_raw[b], v = x[i] * r;
        unsigned char c = nf4 ? qn_nf4_encode_elem(v) : qn_fp4_encode_elem(v);
        y[i] = (nf4 ? c_nf4[c] : c_fp4[c]) * absmax_q[b];
    }
}

/* __constant__ memory is per device: the tables go to each device the process uses (bit d of done:
 * device d has them; devices past 63 get them at every call). */
int upload_tables(char *err, size_t errlen) {
    static unsigned long long done;
    int dev = 0;
    QN_CUDA_TRY(cudaGetDevice(&dev), err, errlen);
    const unsigned long long bit = dev >= 0 && dev < 64 ? 1ull << dev : 0;
    if (done & bit) return 0;
    QN_CUDA_TRY(cudaMemcpyToSymbol(c_nf4, qn_nf4_code, sizeof qn_nf4_code), err, errlen);
    QN_CUDA_TRY(cudaMemcpyToSymbol(c_fp4, qn_fp4_code, sizeof qn_fp4_code), err, errlen);
    QN_CUDA_TRY(cudaMemcpyToSymbol(c_dyn8, qn_dynamic8_code(), 256 * sizeof(float)), err, errlen);
    done |= bit;
    return 0;
}

} // namespace

extern "C" int qn_cuda_infer_format_apply(const qn_format *f, const float *d_x, float *d_y, size_t rows, size_t cols,
                                          char *err, size_t errlen) {
    size_t n = rows * cols;
    if (n == 0) return 0;
    if (upload_tables(err, errlen) != 0) return -1;
    if (f->kind == QN_FMT_INT8) {
        unsigned char *outlier = NULL;
        if (f->threshold > 0.0f) {
            QN_CUDA_TRY(cudaMalloc(&outlier, cols), err, errlen);
            outlier_cols_kernel<<<grid_for(cols), kThreads>>>(d_x, rows, cols, f->threshold, outlier);
        }
        int8_rows_kernel<<<(unsigned)rows, kThreads>>>(d_x, d_y, cols, f->threshold, outlier);
        cudaError_t e = cudaGetLastError();
        if (outlier) cudaFree(outlier);
        QN_CUDA_TRY(e, err, errlen);
        return 0;
    }
    if (f->kind == QN_FMT_NF4 || f->kind == QN_FMT_FP4) {
        size_t bs = (size_t)f->block_size, nb = (n + bs - 1) / bs;
        float *absmax = NULL;
        QN_CUDA_TRY(cudaMalloc(&absmax, (2 * nb + 1) * sizeof(float)), err, errlen);
        float *raw = absmax + nb, *offset = absmax + 2 * nb;
        absmax_blocks_kernel<<<(unsigned)nb, kThreads>>>(d_x, n, bs, raw);
        cudaError_t e = cudaMemcpy(absmax, raw, nb * sizeof(float), cudaMemcpyDeviceToDevice);
        if (e != cudaSuccess) {
            cudaFree(absmax);
            QN_CUDA_TRY(e, err, errlen);
        }
        if (f->double_quant) {
            dq_mean_kernel<<<1, kThreads>>>(raw, nb, offset);
            dq_groups_kernel<<<(unsigned)((nb + 255) / 256), kThreads>>>(absmax, nb, offset);
        }
        fourbit_kernel<<<grid_for(n), kThreads>>>(d_x, d_y, n, bs, absmax, raw, f->kind == QN_FMT_NF4);
        e = cudaGetLastError();
        cudaFree(absmax);
        QN_CUDA_TRY(e, err, errlen);
        return 0;
    }
    snprintf(err, errlen, "format %d has no CUDA implementation", (int)f->kind);
    return -1;
}

namespace {
__global__ void nf4_dequant_kernel(const unsigned char *packed, const float *absmax, size_t n, unsigned log2_bs, int nf4,
                                   float *out) {
    /* two outputs per packed byte: the high nibble is the earlier element */
    GRID_STRIDE(j, (n + 1) / 2) {
        unsigned char byte = packed[j];
        size_t i = 2 * j;
        float a = absmax[i >> log2_bs];
        out[i] = (nf4 ? c_nf4[byte >> 4] : c_fp4[byte >> 4]) * a;
        if (i + 1 < n) out[i + 1] = (nf4 ? c_nf4[byte & 0xF] : c_fp4[byte & 0xF]) * absmax[(i + 1) >> log2_bs];
    }
}
} // namespace

extern "C" int qn_cuda_4bit_dequantize(const unsigned char *d_packed, const float *d_absmax, size_t n, int blocksize,
                                       int nf4, float *d_out, char *err, size_t errlen) {
    if (n == 0) return 0;
    if (upload_tables(err, errlen) != 0) return -1;
    unsigned log2_bs = 0;
    while ((1u << log2_bs) < (unsigned)blocksize) log2_bs++;
    nf4_dequant_kernel<<<grid_for((n + 1) / 2), kThreads>>>(d_packed, d_absmax, n, log2_bs, nf4, d_out);
    QN_CUDA_TRY(cudaGetLastError(), err, errlen);
    return 0;
}
