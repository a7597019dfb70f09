/* sdpa.cu: scaled dot-product attention on (B, H, T, D) device tensors (qn_sdpa.h).
 * naive: cuBLAS strided-batched Q K^T into a (B H, T, T) score tensor, a row softmax, cuBLAS P V,
 * as PyTorch's math backend does it. fused: FlashAttention's online softmax without tensor cores:
 * one block per (b, h, 16-query tile), 4 warps of 4 query rows each; per 32-key tile, K and V sit
 * in shared memory, lane j scores key j, the warp reduces the running max and sum with shuffles,
 * and each lane accumulates its D / 32 output columns. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>

#include "qn_cuda_check.h"
#include "qn_nn_cuda.h"
#include "qn_sdpa.h"

namespace {

constexpr int kBr = 16, kBc = 32, kWarps = 4, kRowsPerWarp = kBr / kWarps, kCols = QN_CUDA_SDPA_MAX_D / 32;

__device__ float warp_max(float x) {
    for (int o = 16; o > 0; o /= 2) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

__device__ float warp_sum(float x) {
    for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

/* One warp per row of scores; keys past the query (causal) get probability 0. */
__global__ void softmax_rows_kernel(float *s, size_t rows, int T, int causal) {
    const size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= rows) return;
    float *r = s + row * T;
    const int n = causal ? (int)(row % T) + 1 : T;
    float mx = -INFINITY, sum = 0.0f;
    for (int j = lane; j < n; j += 32) mx = fmaxf(mx, r[j]);
    mx = warp_max(mx);
    for (int j = lane; j < n; j += 32) sum += expf(r[j] - mx);
    const float inv = 1.0f / warp_sum(sum);
    for (int j = lane; j < T; j += 32) r[j] = j < n ? expf(r[j] - mx) * inv : 0.0f;
}

__global__ void sdpa_fused_kernel(float *out, const float *q, const float *k, const float *v, int T, int D, int causal,
                                  float scale, int tiles) {
    extern __shared__ float sm[];
    float *qs = sm, *ks = qs + kBr * D, *vs = ks + kBc * (D + 1); /* K rows padded: lanes read a column */
    const size_t bh = blockIdx.x / tiles;
    const int i0 = (int)(blockIdx.x % tiles) * kBr, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    q += bh * T * D, k += bh * T * D, v += bh * T * D;
    for (int x = threadIdx.x; x < kBr * D; x += blockDim.x) {
        const int i = i0 + x / D;
        qs[x] = i < T ? q[(size_t)i * D + x % D] * scale : 0.0f;
    }
    float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][kCols];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
        m[r] = -INFINITY, l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < kCols; c++) o[r][c] = 0.0f;
    }
    const int kend = causal ? min(T, i0 + kBr) : T; /* tiles wholly above the diagonal are skipped */
    for (int j0 = 0; j0 < kend; j0 += kBc) {
        __syncthreads(); /* the previous tile is used up (and, the first time, Q is loaded) */
        for (int x = threadIdx.x; x < kBc * D; x += blockDim.x) {
            const int j = x / D, d = x % D;
            const bool in = j0 + j < T;
            ks[j * (D + 1) + d] = in ? k[(size_t)(j0 + j) * D + d] : 0.0f;
            vs[j * D + d] = in ? v[(size_t)(j0 + j) * D + d] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; r++) {
            const int ri = warp * kRowsPerWarp + r, i = i0 + ri, key = j0 + lane;
            if (i >= T) break; /* warp-uniform */
            float s = -INFINITY;
            if (key < T && (!causal || key <= i)) {
                float acc = 0.0f;
                for (int d = 0; d < D; d++) acc += qs[ri * D + d] * ks[lane * (D + 1) + d];
                s = acc;
            }
            const float mt = fmaxf(m[r], warp_max(s));
            if (mt == -INFINITY) continue; /* every key so far masked: nothing to add */
            const float alpha = expf(m[r] - mt), p = s == -INFINITY ? 0.0f : expf(s - mt);
            l[r] = l[r] * alpha + warp_sum(p);
            m[r] = mt;
#pragma unroll
            for (int c = 0; c < kCols; c++) o[r][c] *= alpha;
            for (int j = 0; j < kBc; j++) {
                const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
                for (int c = 0; c < kCols; c++) {
                    const int d = lane + 32 * c;
                    if (d < D) o[r][c] += pj * vs[j * D + d];
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
        const int i = i0 + warp * kRowsPerWarp + r;
        if (i >= T) break;
        const float inv = 1.0f / l[r];
#pragma unroll
        for (int c = 0; c < kCols; c++) {
            const int d = lane + 32 * c;
            if (d < D) out[bh * T * D + (size_t)i * D + d] = o[r][c] * inv;
        }
    }
}

} // namespace

extern "C" int qn_cuda_sdpa_naive(cublasHandle_t h, float *d_out, float *d_scores, const float *d_q, const float *d_k,
                                  const float *d_v, int B, int H, int T, int D, int causal, char *err, size_t errlen) {
    if (B <= 0 || H <= 0 || T <= 0 || D <= 0) return 0;
    const int batch = B * H;
    const long long sx = (long long)T * D, ss = (long long)T * T;
    if (qn_cuda_sgemm_strided(h, 0, 1, T, T, D, 1.0f / sqrtf((float)D), d_q, D, sx, d_k, D, sx, 0.0f, d_scores, T, ss,
                              batch, err, errlen) != 0)
        return -1;
    const size_t rows = (size_t)batch * T;
    softmax_rows_kernel<<<(unsigned)((rows + 7) / 8), 256>>>(d_scores, rows, T, causal);
    QN_CUDA_TRY(cudaGetLastError(), err, errlen);
    return qn_cuda_sgemm_strided(h, 0, 0, T, D, T, 1.0f, d_scores, T, ss, d_v, D, sx, 0.0f, d_out, D, sx, batch, err,
                                 errlen);
}

extern "C" int qn_cuda_sdpa_fused(float *d_out, const float *d_q, const float *d_k, const float *d_v, int B, int H,
                                  int T, int D, int causal, char *err, size_t errlen) {
    if (B <= 0 || H <= 0 || T <= 0 || D <= 0) return 0;
    if (D > QN_CUDA_SDPA_MAX_D) {
        snprintf(err, errlen, "the fused CUDA attention takes D <= %d, not %d", QN_CUDA_SDPA_MAX_D, D);
        return -1;
    }
    const int tiles = (T + kBr - 1) / kBr;
    const size_t smem = ((size_t)kBr * D + (size_t)kBc * (D + 1) + (size_t)kBc * D) * sizeof(float); /* <= 41 KiB */
    sdpa_fused_kernel<<<(unsigned)((size_t)B * H * tiles), kWarps * 32, smem>>>(d_out, d_q, d_k, d_v, T, D, causal,
                                                                                1.0f / sqrtf((float)D), tiles);
    QN_CUDA_TRY(cudaGetLastError(), err, errlen);
    return 0;
}
