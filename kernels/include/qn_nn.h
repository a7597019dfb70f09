/* qn_nn.h: the transformer ops (BERT's math, as Hugging Face's BertModel computes it), forward and
 * backward side by side in llm.c's manner. Row-major; shapes in comments: B batch, T tokens,
 * C channels, NH heads, HS = C / NH head size.
 *
 * Contract:
 *  - Backward functions accumulate into their gradient outputs (+=), so a tensor used twice sums
 *    its gradients; callers zero the gradient buffer once per step. The _write variants store the
 *    input gradient instead (=, the same floats as zeros then +=) without a pass of zeros first;
 *    parameter gradients (LayerNorm's dweight, dbias) still accumulate.
 *  - Forward functions save what their backward needs in caller-owned buffers named in the
 *    signature (mean/rstd, att).
 */
#ifndef QN_NN_H
#define QN_NN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- LayerNorm over the last axis: out = (x - mean) * rstd * weight + bias, rstd = 1/sqrt(var + eps)
 * with the biased variance, as torch.nn.LayerNorm. inp, out (N,C); weight, bias (C); mean, rstd (N). */
void qn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                          const float *bias, int N, int C, float eps);
void qn_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, const float *mean, const float *rstd, int N, int C);
void qn_layernorm_backward_write(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                 const float *weight, const float *mean, const float *rstd, int N, int C);

/* ---- GELU, the exact (erf) form of BERT: 0.5 x (1 + erf(x / sqrt 2)). (n) */
void qn_gelu_forward(float *out, const float *inp, size_t n);
void qn_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
void qn_gelu_backward_write(float *dinp, const float *inp, const float *dout, size_t n);
/* The same floats on a block of rows (leading dimensions ld*), on the calling thread: passes fused
 * into a GEMM's stores (qn_sgemm_then). The backward works in place: d = dout * GELU'(inp). */
void qn_gelu_forward_rows(float *out, size_t ldo, const float *inp, size_t ldi, int rows, int cols);
void qn_gelu_backward_in_place_rows(float *d, size_t ldd, const float *inp, size_t ldi, int rows, int cols);

/* ---- tanh (the pooler's activation). */
void qn_tanh_forward(float *out, const float *inp, size_t n);
/* dinp += dout * (1 - out^2), from the forward's output */
void qn_tanh_backward(float *dinp, const float *out, const float *dout, size_t n);

/* ---- multi-head self-attention core, BertSelfAttention's math:
 *   scores = Q K^T / sqrt(HS) + (1 - mask) * FLT_MIN_NEG   (the padding mask of the keys)
 *   att = softmax(scores) over the keys;  out = att V, heads concatenated.
 * q, k, v, out (B,T,C); mask (B,T) with 1 for real tokens and 0 for padding (NULL: no padding);
 * att (B,NH,T,T) saved for the backward. Dropout is not applied (evaluation and quench's training
 * alike). */
void qn_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          const int32_t *mask, int B, int T, int C, int NH);
void qn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att, const float *q,
                           const float *k, const float *v, int B, int T, int C, int NH);
void qn_attention_backward_write(float *dq, float *dk, float *dv, const float *dout, const float *att, const float *q,
                                 const float *k, const float *v, int B, int T, int C, int NH);

#ifdef __cplusplus
}
#endif
#endif
