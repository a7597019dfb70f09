/* tiny_llm.h: tiny random decoder models written as Hugging Face directories (config.json +
 * model.safetensors, float32), for the tests of the CPU and CUDA decoders. */
#ifndef QN_TEST_TINY_LLM_H
#define QN_TEST_TINY_LLM_H

#include <stdint.h>

#include "qn_hf_llm.h"

typedef struct {
    int vocab, hidden, heads, head_dim, intermediate, layers;
} qn_tiny_llm_dims;

/* Write a model of arch with d's sizes and kv_heads key/value heads into the existing directory
 * dir, weights drawn from seed: Llama gets llama3 rope scaling, Phi-2 partial rotary (0.5) and
 * biases. Returns 0, or -1 when a file cannot be written. */
int qn_tiny_llm_write(const char *dir, qn_llm_arch arch, const qn_tiny_llm_dims *d, int kv_heads, uint64_t seed);
/* Add JSON members (e.g. ", \"sliding_window\": 3") at the end of dir/config.json. 0, or -1. */
int qn_tiny_llm_config_add(const char *dir, const char *members);

#endif
