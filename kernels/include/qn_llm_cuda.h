/* qn_llm_cuda.h: the decoder's kernels on the GPU (kernels/cuda/llm_kernels.cu), for the CUDA backend
 * of worker/llm_cuda.c. Each mirrors a CPU function of worker/llm.h (named in its comment): same
 * shapes, same float32 math, the packed weights in the CPU's layouts (qn_llm_packed) so a weight is
 * uploaded byte for byte.
 *
 * Every pointer is a device pointer unless said otherwise. Kernels run on the default stream, in
 * order. Each function returns 0, or -1 with a message naming the failed CUDA call in err.
 * Declared only when quench is built with CUDA (QUENCH_HAVE_CUDA). */
#ifndef QN_LLM_CUDA_KERNELS_H
#define QN_LLM_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* The attention kernel's launch arithmetic, pure (tests/unit checks it in every build): its dynamic
 * shared memory for a cache of len slots (q, then one score per slot), whether that passes the 48 KiB
 * a kernel gets without opting in (cudaFuncAttributeMaxDynamicSharedMemorySize), and the longest
 * cache that optin_bytes per block (cudaDevAttrMaxSharedMemoryPerBlockOptin) hold, the kernel's
 * static part and 896 bytes of slack aside. */
enum { QN_CUDA_LLM_ATTN_STATIC_SMEM = 32 * 4, QN_CUDA_LLM_SMEM_DEFAULT = 48 * 1024 };
static inline size_t qn_cuda_llm_attention_smem(int HD, int len) { return ((size_t)HD + (size_t)len) * sizeof(float); }
static inline int qn_cuda_llm_attention_needs_optin(int HD, int len) {
    return qn_cuda_llm_attention_smem(HD, len) + QN_CUDA_LLM_ATTN_STATIC_SMEM > QN_CUDA_LLM_SMEM_DEFAULT;
}
static inline int qn_cuda_llm_attention_len_for(long optin_bytes, int HD) {
    const long floats = (optin_bytes - 1024) / (long)sizeof(float) - HD;
    return floats > 0 ? (int)floats : 0;
}

#ifdef QUENCH_HAVE_CUDA

#ifdef __cplusplus
extern "C" {
#endif

/* The weight formats, numbered as qn_llm_weight_format (worker/llm.h). */
enum { QN_CUDA_W_F32 = 0, QN_CUDA_W_F16, QN_CUDA_W_BF16, QN_CUDA_W_W8A16, QN_CUDA_W_INT8, QN_CUDA_W_4BIT };

/* One Linear layer's weight W (out, in) on the device, y = x W^T + b. */
typedef struct {
    int out, in, format;
    const float *w;            /* F32 (out, in) */
    const uint16_t *h;         /* F16 / BF16 (out, in) */
    const int8_t *q;           /* W8A16 / INT8 (out, in) */
    const float *absmax;       /* W8A16 / INT8: per output row */
    float threshold;           /* INT8: outlier threshold (0: none) */
    const uint8_t *packed;     /* 4BIT: the flattened (out, in) codes, earlier element in the high nibble */
    const float *absmax4;      /* 4BIT: per block (not double-quantized) */
    const uint8_t *absmax_q;   /* 4BIT double quant: per block, in the 8-bit dynamic code */
    const float *absmax2;      /* 4BIT double quant: per 256 blocks */
    float offset;              /* 4BIT double quant: added back to every absmax */
    int blocksize, block_shift, nf4, double_quant; /* blocksize = 1 << block_shift (a power of two) */
    const float *bias;         /* (out) or NULL */
} qn_cuda_llm_weight;

/* y[i*ldy + j] = sum_k W[j,k] x[i*ldx + k] + b[j] for M <= QN_CUDA_LLM_GEMV_ROWS rows: one thread
 * block per output row, each weight element read once for all M rows and widened in registers.
 * Every format but INT8. */
enum { QN_CUDA_LLM_GEMV_ROWS = 8 };
int qn_cuda_llm_gemv(const qn_cuda_llm_weight *w, const float *x, int ldx, int M, float *y, int ldy, char *err,
                     size_t errlen);
/* Rows [j0, j1) of W as float32 (j1-j0, in): qn_llm_linear_dequantize. Every format but INT8. */
int qn_cuda_llm_dequantize_rows(const qn_cuda_llm_weight *w, int j0, int j1, float *out, char *err, size_t errlen);
/* y (M rows, ldy) columns [0, out) += b; nothing when b is NULL. */
int qn_cuda_llm_bias_add(float *y, int ldy, int M, int out, const float *b, char *err, size_t errlen);

/* LLM.int8 (llm_linear.c's int8_forward): the activation rows x (M, ldx) decomposed as
 * qn_llm_int8_decompose (xq (M, in) contiguous, stat (M), flags (in) outlier columns), the outlier
 * columns listed in ascending order in cols with their count in *nout (device int); then
 * y = int32(xq W_q^T) * stat_i absmax_j / 127^2, plus the outlier columns' float product with the
 * fp16-rounded dequantized weight, plus the bias. */
int qn_cuda_llm_int8_decompose(const float *x, int ldx, int M, int in, float threshold, int8_t *xq, float *stat,
                               uint8_t *flags, int *cols, int *nout, char *err, size_t errlen);
int qn_cuda_llm_int8_matmul(const qn_cuda_llm_weight *w, const int8_t *xq, const float *stat, const float *x, int ldx,
                            int M, const int *cols, const int *nout, float *y, int ldy, char *err, size_t errlen);

/* x (M, C) = embed[ids[i]] (qn_llm_forward's lookup). */
int qn_cuda_llm_embed(float *x, const int32_t *ids, const float *embed, int M, int C, char *err, size_t errlen);
/* qn_llm_rmsnorm. */
int qn_cuda_llm_rmsnorm(float *out, const float *x, const float *w, int M, int C, float eps, char *err, size_t errlen);
/* qn_llm_swiglu: out (M, I) = silu(gu[:, :I]) * gu[:, I:]. */
int qn_cuda_llm_swiglu(float *out, const float *gu, int M, int I, char *err, size_t errlen);
/* qn_llm_gelu_tanh, in place. */
int qn_cuda_llm_gelu_tanh(float *x, size_t n, char *err, size_t errlen);

/* The first half of qn_llm_attention: qkv (B, n, (NH+2NKV)HD) of cache slots pos0.. rotated in place
 * (q and k heads, first RD dims, rotate_half) at their positions (qn_llm_position: pad (B) leading
 * pad slots per sequence, or NULL), k and v appended to one layer's caches kc, vc (B, NKV, Tmax, HD).
 * inv_freq (RD/2: the half qn_llm_rope_long picks), cos and sin scaled by attention_factor. */
int qn_cuda_llm_rope_append(float *qkv, float *kc, float *vc, const float *inv_freq, float attention_factor,
                            const int *pad, int B, int n, int pos0, int NH, int NKV, int HD, int RD, int Tmax, char *err,
                            size_t errlen);
/* The second half: out (B, n, NH*HD) = softmax(q K^T / sqrt(HD) + mask) V per query head over the
 * cache (GQA: head h reads kv head h / (NH/NKV)); the mask is qn_llm_visible_keys' (causal, pad (B)
 * or NULL, sliding window W or 0). One thread block per query row; its scores (up to pos0+n of them)
 * live in shared memory, so pos0+n <= qn_cuda_llm_attention_max_len(). */
int qn_cuda_llm_attention(float *out, const float *qkv, const float *kc, const float *vc, const int *pad, int window,
                          int B, int n, int pos0, int NH, int NKV, int HD, int Tmax, char *err, size_t errlen);
/* The longest cache the attention kernel takes on the current device (its shared memory). */
int qn_cuda_llm_attention_max_len(int HD);

/* out (B, C) = in row b*n + n-1 (each sequence's last position). */
int qn_cuda_llm_last_rows(float *out, const float *in, int B, int n, int C, char *err, size_t errlen);
/* tok[r] = argmax of logits row r (V), the first of equal maxima (torch.argmax). */
int qn_cuda_llm_argmax(int32_t *tok, const float *logits, int rows, int V, char *err, size_t errlen);

/* Bytes per second of cudaMemcpy device-to-device over a buffer of `bytes`: the best of `passes`
 * after one warm-up, timed with CUDA events. */
int qn_cuda_llm_copy_bandwidth(size_t bytes, int passes, double *bytes_per_s, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* QUENCH_HAVE_CUDA */
#endif
