/* qn_sdpa.h: scaled dot-product attention on (B, H, T, D) float32, lab 4's two ways:
 * naive (S = Q K^T * scale materialised for every head, softmax, P V) and fused (FlashAttention's
 * online softmax over key tiles: a running max and sum per query row, no T x T matrix).
 * Q, K, V and O are contiguous (B, H, T, D); scale is 1/sqrt(D). With causal, query i attends to
 * keys 0..i only. Both give the same values up to float rounding. */
#ifndef QN_SDPA_H
#define QN_SDPA_H

#include <stddef.h>

#ifdef QUENCH_HAVE_CUDA
#include <cublas_v2.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Floats the naive kernel needs for its scores: B * H * T * T. */
size_t qn_sdpa_naive_scores(int B, int H, int T);

/* scores: qn_sdpa_naive_scores() floats (the lab's naive path keeps them all, as PyTorch's math
 * backend does). Heads run in parallel on the kernels' threads. */
void qn_sdpa_naive(float *out, float *scores, const float *q, const float *k, const float *v, int B, int H, int T,
                   int D, int causal);
/* No T x T buffer; work is split over (b, h, query tile). Returns 0, or -1 when out of memory. */
int qn_sdpa_fused(float *out, const float *q, const float *k, const float *v, int B, int H, int T, int D, int causal);

/* The CUDA fused kernel's largest head dimension (its tiles live in shared memory). */
#define QN_CUDA_SDPA_MAX_D 128

#ifdef QUENCH_HAVE_CUDA
/* The same on device pointers. naive: cuBLAS strided-batched products and a softmax kernel, scores
 * on the device (qn_sdpa_naive_scores floats). fused: one block per (b, h, 16-query tile), K and V
 * tiles in shared memory, D <= QN_CUDA_SDPA_MAX_D. Both are asynchronous on the default stream.
 * Return 0, or -1 with a message. */
int qn_cuda_sdpa_naive(cublasHandle_t h, float *d_out, float *d_scores, const float *d_q, const float *d_k,
                       const float *d_v, int B, int H, int T, int D, int causal, char *err, size_t errlen);
int qn_cuda_sdpa_fused(float *d_out, const float *d_q, const float *d_k, const float *d_v, int B, int H, int T, int D,
                       int causal, char *err, size_t errlen);
#endif

#ifdef __cplusplus
}
#endif
#endif
