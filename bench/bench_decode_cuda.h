/* bench_decode_cuda.h: the GPU part of quench bench decode: the same greedy decode on the CUDA
 * backend (worker/llm_cuda.h), against the bound the device's own copy bandwidth (cudaMemcpy
 * device-to-device, measured in the same run) puts on it. */
#ifndef QN_BENCH_DECODE_CUDA_H
#define QN_BENCH_DECODE_CUDA_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

/* Each precision (np of them, fp32 first) on GPU 0 with the prompts (B,T) and S decode steps.
 * cpu_fp32_tokens (B, S+1): the CPU's fp32 greedy tokens, compared with the GPU's fp32 ones.
 * Returns {"device", "copy_gbs", "copy_mib", "results": [...]}, or {"error": "..."} when a step
 * failed (the figures measured before it stay out); NULL when there is no GPU. */
json_t *qn_bench_decode_cuda(const char *model, const char *const *precisions, int np, int B, int T, int S,
                             const int32_t *prompts, const int32_t *cpu_fp32_tokens);
/* The text table of that object, starting "cuda: ". */
void qn_bench_decode_cuda_print(const json_t *cuda, FILE *out);

#endif
