/* llm_cuda.h: the decoder of llm.h on one GPU. A device copy of a loaded (and possibly quantized)
 * qn_llm: its Linear weights uploaded once in the CPU's packed layouts (qn_llm_packed: fp16/bf16
 * halves, int8 codes with their row absmax, NF4/FP4 codes with absmax or double-quantized absmax),
 * the norms and embeddings in float32, and a device KV cache (L, B, NKV, Tmax, HD) as the CPU's.
 * The forward is llm_forward.c's, step for step, with kernels/cuda/llm_kernels.cu:
 *  - decode (at most QN_CUDA_LLM_GEMV_ROWS rows): fused dequantize GEMVs reading the packed bytes;
 *  - prefill (more rows): float32 weights through cuBLAS SGEMM (no TF32); packed weights widened to
 *    float32 tiles on the device, each tile through SGEMM (the CPU's qn_llm_linear_dequantize
 *    values, so prefill logits match the CPU's dequantized path);
 *  - LLM.int8: the CPU's decomposition on the device, an int32 GEMV/tiled GEMM, the outlier columns
 *    in float with the fp16-rounded weight;
 *  - bfloat16 is widened to float32 in registers (no bf16 arithmetic), so it runs on sm_75 too.
 *
 * The host qn_llm must outlive the device copy (its config is read). Memory: every device buffer is
 * counted (weights, cache, activations, scratch; not the CUDA context or cuBLAS's workspace), with
 * its peak, as torch.cuda.memory_allocated / max_memory_allocated count a model's tensors.
 *
 * Every function returns 0, or 2 for bad input (too many tokens, ids outside the vocabulary) and -1
 * for a CUDA failure, with one line in err. Built without CUDA, new says so and returns NULL. */
#ifndef QN_LLM_CUDA_H
#define QN_LLM_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

typedef struct qn_llm_cuda qn_llm_cuda;

/* Upload host's weights to GPU `device`. NULL with a message (no CUDA in this build, no such
 * device, out of device memory). */
qn_llm_cuda *qn_llm_cuda_new(const qn_llm *host, int device, char *err, size_t errlen);
void qn_llm_cuda_free(qn_llm_cuda *d);

/* qn_llm_reset: B sequences with room for Tmax tokens each (the device cache). */
int qn_llm_cuda_reset(qn_llm_cuda *d, int B, int Tmax, char *err, size_t errlen);
/* The leading pad slots of each sequence (pad (B) on the host, left padding; NULL: none), after
 * reset and before the first forward (as qn_llm's pad). */
int qn_llm_cuda_set_padding(qn_llm_cuda *d, const int32_t *pad, char *err, size_t errlen);
/* qn_llm_forward: n more tokens of each sequence, ids (B,n) on the host. The final-normed hidden
 * states stay on the device for the two functions below. */
int qn_llm_cuda_forward(qn_llm_cuda *d, const int32_t *ids, int n, char *err, size_t errlen);
/* The logits (B*n, V) of every row of the last forward, to the host (qn_llm_logits of its hidden). */
int qn_llm_cuda_logits(qn_llm_cuda *d, float *logits, char *err, size_t errlen);
/* Greedy choice after the last forward: each sequence's last position through the LM head (all B
 * rows at once), argmax on the device; tok (B) on the host; logits (B,V) to the host when not NULL. */
int qn_llm_cuda_next_tokens(qn_llm_cuda *d, int32_t *tok, float *logits, char *err, size_t errlen);

/* qn_llm_generate_greedy's contract (prompts (B,T), gen (padding, EOS stopping) or NULL, new_tokens
 * (B,S), prompt_logits (B,T,V) and step_logits (B,S,V) or NULL), the same stopping rule
 * (qn_llm_gen_step), timed with CUDA events: prefill up to the first token's logits, then the other
 * decode steps run (qn_llm_cuda_times). */
int qn_llm_cuda_generate_greedy(qn_llm_cuda *d, const int32_t *prompts, int B, int T, int S, qn_llm_gen *gen,
                                int32_t *new_tokens, float *prompt_logits, float *step_logits, char *err, size_t errlen);
void qn_llm_cuda_times(const qn_llm_cuda *d, double *prefill_s, double *decode_s);
/* qn_llm_perplexity's contract and windows (one sequence, the cache reset to `context` tokens); the
 * logits come to the host 32 rows at a time and the log-likelihood is summed there in double. */
int qn_llm_cuda_perplexity(qn_llm_cuda *d, const int32_t *tokens, int n, int context, int stride, double *ppl,
                           long *scored, char *err, size_t errlen);

/* Bytes quench holds on the device now, the most it held since the copy was made or the last
 * reset_peak, and the bytes of the weights as uploaded (embedding and Linear layers; norms aside). */
typedef struct { double now, peak, weights; } qn_llm_cuda_memory;
void qn_llm_cuda_memory_of(const qn_llm_cuda *d, qn_llm_cuda_memory *out);
void qn_llm_cuda_reset_peak(qn_llm_cuda *d);
/* Device memory in use by every process and context (cudaMemGetInfo: total - free); -1 on error. */
double qn_llm_cuda_device_used(const qn_llm_cuda *d);

/* cudaMemcpy device-to-device bandwidth on `device` over `bytes` (best of a few passes), for the
 * decode bound. 0, or -1 with err. */
int qn_llm_cuda_copy_bandwidth(int device, size_t bytes, double *bytes_per_s, char *err, size_t errlen);

#endif
