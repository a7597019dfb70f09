/* quant_integer.cu: MASE's `integer` fake quantization on the GPU, the same float32 operations as
 * kernels/cpu/quant_integer.c so the two agree bit for bit: scale by 2^f (exact), round half to even
 * (rintf), clamp, scale back. No fast-math: __fmul_rn keeps the products unfused. */
#include <cuda_runtime.h>
#include <math.h>

#include "qn_cuda_check.h"
#include "qn_kernels.h"

__global__ static void quant_integer_kernel(const float *x, float *y, size_t n, float lo, float hi,
                                            int frac_width, int exact_scale, float scale, float inv) {
    size_t stride = (size_t)blockDim.x * gridDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float v = exact_scale ? rintf(__fmul_rn(x[i], scale)) : rintf(ldexpf(x[i], frac_width));
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        y[i] = exact_scale ? __fmul_rn(v, inv) : ldexpf(v, -frac_width);
    }
}

extern "C" int qn_cuda_quant_integer(const float *d_x, float *d_y, size_t n, int width,
                                     int frac_width, char *err, size_t errlen) {
    if (n == 0) return 0;
    const float lo = -ldexpf(1.0f, width - 1);
    const float hi = ldexpf(1.0f, width - 1) - 1.0f;
    int exact_scale = frac_width >= -126 && frac_width <= 126;
    float scale = exact_scale ? ldexpf(1.0f, frac_width) : 1.0f;
    float inv = exact_scale ? ldexpf(1.0f, -frac_width) : 1.0f;
    int threads = 256;
    size_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535u * 8u) blocks = 65535u * 8u;
    quant_integer_kernel<<<(unsigned)blocks, threads>>>(d_x, d_y, n, lo, hi, frac_width, exact_scale,
                                                        scale, inv);
    QN_CUDA_TRY(cudaGetLastError(), err, errlen);
    return 0;
}
