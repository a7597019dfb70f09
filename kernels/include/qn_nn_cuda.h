/* qn_nn_cuda.h: the transformer ops of qn_nn.h (and the Linear and optimizer pieces around them) on
 * the GPU, for the CUDA BERT backend (worker/bert_cuda.c). Same math, same shapes, same contract as
 * the CPU functions they mirror (named in each comment): backward functions accumulate (+=) into
 * their gradient outputs, forward functions save what the backward needs.
 *
 * Every pointer is a device pointer unless said otherwise. Kernels run on the default stream, in
 * order, so callers need no synchronization between them. Each function returns 0, or -1 with a
 * message naming the failed CUDA or cuBLAS call in err.
 *
 * Declared only when quench is built with CUDA (QUENCH_HAVE_CUDA): the CPU-only build has no
 * callers (worker/bert_cuda.c compiles to stubs there).
 */
#ifndef QN_NN_CUDA_H
#define QN_NN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef QUENCH_HAVE_CUDA
#include <cublas_v2.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GEMM, row-major as qn_sgemm: C(M,N) = alpha op(A) op(B) + beta C (cuBLAS, FP32 math) ---- */
int qn_cuda_sgemm(cublasHandle_t h, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc, char *err, size_t errlen);
/* The same for `batch` independent products, operand i at A + i*stride_a etc. (elements). */
int qn_cuda_sgemm_strided(cublasHandle_t h, int trans_a, int trans_b, int M, int N, int K, float alpha,
                          const float *A, int lda, long long stride_a, const float *B, int ldb, long long stride_b,
                          float beta, float *C, int ldc, long long stride_c, int batch, char *err, size_t errlen);

/* ---- element-wise and small helpers ---- */
/* out = a + b (n); out may alias a or b (the residual adds of bert.c) */
int qn_cuda_add(float *out, const float *a, const float *b, size_t n, char *err, size_t errlen);
/* y (rows,cols): every row = b (cols), the start of a Linear's y = b + x W^T */
int qn_cuda_rows_set(float *y, const float *b, int rows, int cols, char *err, size_t errlen);
/* out[j] += sum_r in[r*cols + j], r ascending from 0 (the CPU's order): a Linear's bias gradient */
int qn_cuda_colsum_add(float *out, const float *in, int rows, int cols, char *err, size_t errlen);
/* dx[i] = (accumulate ? dx[i] : 0) + (mask[i] ? src[i] : 0): a masked input's gradient (linear.c) */
int qn_cuda_masked_grad(float *dx, const float *src, const uint8_t *mask, size_t n, int accumulate, char *err,
                        size_t errlen);
/* Zeros of a 0/1 mask of n bytes (counted on the device, returned through *zeros on the host). */
int qn_cuda_count_zeros(const uint8_t *mask, size_t n, size_t *zeros, char *err, size_t errlen);

/* ---- embeddings (bert.c): emb[b,t] = (word[ids[b,t]] + type[0]) + pos[t]; ids (B,T) on the device */
int qn_cuda_embedding_forward(float *emb, const int32_t *ids, const float *word, const float *pos, const float *type,
                              int B, int T, int C, char *err, size_t errlen);
/* The backward, deterministic and in the CPU's order: rows of demb (BT,C) grouped by token id on the
 * host (order: the BT row indices sorted by id, stable; seg_start (nseg+1) offsets into order;
 * seg_id (nseg) the id of each group), each group summed in ascending row order into dword[id];
 * dpos[t] += sum over b; dtype[0] += sum over every row. */
int qn_cuda_embedding_backward(float *dword, float *dpos, float *dtype, const float *demb, const int32_t *order,
                               const int32_t *seg_start, const int32_t *seg_id, int nseg, int B, int T, int C,
                               char *err, size_t errlen);

/* ---- LayerNorm (qn_layernorm_forward/backward): statistics accumulated in double, stored as float */
int qn_cuda_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                              const float *bias, int N, int C, float eps, char *err, size_t errlen);
int qn_cuda_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                               const float *weight, const float *mean, const float *rstd, int N, int C, char *err,
                               size_t errlen);

/* ---- GELU (erf) and tanh (qn_gelu_*, qn_tanh_*) */
int qn_cuda_gelu_forward(float *out, const float *inp, size_t n, char *err, size_t errlen);
int qn_cuda_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, char *err, size_t errlen);
int qn_cuda_tanh_forward(float *out, const float *inp, size_t n, char *err, size_t errlen);
int qn_cuda_tanh_backward(float *dinp, const float *out, const float *dout, size_t n, char *err, size_t errlen);

/* ---- attention core (qn_attention_forward/backward): per head, cuBLAS strided-batched products over
 * the batch for Q K^T and att V, and a row kernel for the masked softmax. q, k, v, out (B,T,C);
 * mask (B,T) int32, 1 = attend (NULL: none); att (B,NH,T,T) saved; datt (B,NH,T,T) scratch. */
int qn_cuda_attention_forward(cublasHandle_t h, float *out, float *att, const float *q, const float *k,
                              const float *v, const int32_t *mask, int B, int T, int C, int NH, char *err,
                              size_t errlen);
int qn_cuda_attention_backward(cublasHandle_t h, float *dq, float *dk, float *dv, float *datt, const float *dout,
                               const float *att, const float *q, const float *k, const float *v, int B, int T, int C,
                               int NH, char *err, size_t errlen);

/* ---- softmax cross-entropy (bert.c's head): probs (B,NL) = softmax(logits); the mean loss is left
 * to the host (in double, as the CPU) from the probabilities. dlogits = (probs - onehot(labels)) / B. */
int qn_cuda_softmax_forward(float *probs, const float *logits, int B, int NL, char *err, size_t errlen);
int qn_cuda_crossentropy_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int NL, char *err,
                                  size_t errlen);

/* ---- AdamW (qn_adamw_step), the same float operations in the same order, bit for bit; the bias
 * corrections are computed on the host in double as there. mask (n) may be NULL. */
int qn_cuda_adamw_step(float *p, const float *g, float *m, float *v, const uint8_t *mask, size_t n, float lr,
                       float beta1, float beta2, float eps, float weight_decay, int t, char *err, size_t errlen);
/* qn_adamw_step_groups: decay only where decays[i] != 0 (decays, device memory, may be NULL). */
int qn_cuda_adamw_step_groups(float *p, const float *g, float *m, float *v, const uint8_t *mask, const uint8_t *decays,
                              size_t n, float lr, float beta1, float beta2, float eps, float weight_decay, int t,
                              char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* QUENCH_HAVE_CUDA */
#endif
