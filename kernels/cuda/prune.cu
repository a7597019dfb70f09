/* prune.cu: pruning masks on the GPU, the same masks as kernels/cpu/prune.c: the l1-norm threshold
 * is torch.quantile of |x| (sorted on the device, the same lerp on the host), kept elements satisfy
 * |x| > threshold, and random masks use the counter-based coin both backends share. */
#include <cuda_runtime.h>
#include <math.h>
#include <thrust/device_ptr.h>
#include <thrust/execution_policy.h>
#include <thrust/sort.h>
#include <thrust/transform.h>

#include "qn_cuda_check.h"
#include "qn_kernels.h"

namespace {

struct abs_op {
    __host__ __device__ float operator()(float v) const { return fabsf(v); }
};

#define GRID_STRIDE(i, n) for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

__global__ void mask_l1_kernel(const float *x, size_t n, float t, uint8_t *mask) {
    GRID_STRIDE(i, n) mask[i] = fabsf(x[i]) > t;
}

__global__ void mask_random_kernel(size_t n, float s, uint64_t key, uint8_t *mask) {
    GRID_STRIDE(i, n) mask[i] = !(qn_mask_coin(key, i) < s);
}

__global__ void apply_mask_kernel(const float *x, const uint8_t *mask, float *y, size_t n) {
    GRID_STRIDE(i, n) y[i] = mask[i] ? x[i] : 0.0f;
}

unsigned grid_for(size_t n) {
    size_t b = (n + 255) / 256;
    return (unsigned)(b > 65535u * 16u ? 65535u * 16u : (b ? b : 1));
}

} // namespace

extern "C" float qn_cuda_abs_quantile(const float *d_x, size_t n, double q, char *err, size_t errlen) {
    if (n == 0) return NAN;
    float *tmp = NULL;
    if (cudaMalloc(&tmp, n * sizeof(float)) != cudaSuccess) {
        snprintf(err, errlen, "cudaMalloc of %zu floats for the quantile failed", n);
        return NAN;
    }
    thrust::device_ptr<const float> src(d_x);
    thrust::device_ptr<float> dst(tmp);
    thrust::transform(thrust::device, src, src + n, dst, abs_op());
    thrust::sort(thrust::device, dst, dst + n);
    float rank = (float)q * (float)(n - 1);
    size_t lo = (size_t)rank, hi = (size_t)ceilf(rank);
    if (hi > n - 1) hi = n - 1;
    float w = rank - (float)lo, a_lo = 0, a_hi = 0;
    cudaMemcpy(&a_lo, tmp + lo, sizeof(float), cudaMemcpyDeviceToHost);
    cudaError_t e = cudaMemcpy(&a_hi, tmp + hi, sizeof(float), cudaMemcpyDeviceToHost);
    cudaFree(tmp);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "cudaMemcpy of the quantile failed: %s", cudaGetErrorString(e));
        return NAN;
    }
    return w < 0.5f ? a_lo + w * (a_hi - a_lo) : a_hi - (a_hi - a_lo) * (1.0f - w);
}

extern "C" int qn_cuda_mask_l1(const float *d_x, size_t n, float threshold, uint8_t *d_mask, char *err, size_t errlen) {
    if (n == 0) return 0;
    mask_l1_kernel<<<grid_for(n), 256>>>(d_x, n, threshold, d_mask);
    QN_CUDA_TRY(cudaGetLastError(), err, errlen);
    return 0;
}

extern "C" int qn_cuda_mask_random(size_t n, double sparsity, uint64_t key, uint8_t *d_mask, char *err, size_t errlen) {
    if (n == 0) return 0;
    mask_random_kernel<<<grid_for(n), 256>>>(n, (float)sparsity, key, d_mask);
    QN_CUDA_TRY(cudaGetLastError(), err, errlen);
    return 0;
}

extern "C" int qn_cuda_apply_mask(const float *d_x, const uint8_t *d_mask, float *d_y, size_t n, char *err, size_t errlen) {
    if (n == 0) return 0;
    apply_mask_kernel<<<grid_for(n), 256>>>(d_x, d_mask, d_y, n);
    QN_CUDA_TRY(cudaGetLastError(), err, errlen);
    return 0;
}
