/* tiny_llm.h: tiny random decoder models written as Hugging Face directories (config.json +
 * model.safetensors, float32 or 16-bit), for the tests of the CPU and CUDA decoders. */
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
/* How qn_tiny_llm_write_stored stores a model: dtype QN_ST_F16 or QN_ST_BF16 (else F32) rounds each
 * drawn value to it (nearest even) and writes 16 bits; round_to QN_ST_F16 or QN_ST_BF16 rounds so but
 * writes float32 (a float32 file holding exactly a 16-bit file's values); tied (Llama, Phi-3) writes
 * no lm_head and sets tie_word_embeddings. */
typedef struct {
    qn_st_dtype dtype, round_to;
    int tied;
} qn_tiny_llm_storage;
int qn_tiny_llm_write_stored(const char *dir, qn_llm_arch arch, const qn_tiny_llm_dims *d, int kv_heads, uint64_t seed,
                             const qn_tiny_llm_storage *storage);
/* Add JSON members (e.g. ", \"sliding_window\": 3") at the end of dir/config.json. 0, or -1. */
int qn_tiny_llm_config_add(const char *dir, const char *members);

#endif
