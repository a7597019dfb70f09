/* qn_hf_llm.h: a Hugging Face decoder-only model directory: config.json (Llama, Phi-3, Phi-2) and its
 * weights, model.safetensors or shards model-0000N-of-0000M.safetensors named by
 * model.safetensors.index.json.
 *
 * Contract:
 *  - Parsers never crash on any input; bad input gives 2 and one line "PATH: what is wrong; what to
 *    do" in err (they are fuzzed: tests/unit/test_io_hf_llm.c).
 *  - Shards are memory-mapped once; a floating tensor is handed out as a view (qn_hf_weights_view): in
 *    place when stored as aligned F32, F16 or BF16, else converted once (F64, unaligned F32 to
 *    float32) or realigned once (F16, BF16 at an odd address) into a buffer the weights own; or as
 *    float32 (qn_hf_weights_f32), F16/BF16 converted once. No byte of the checkpoint is read twice.
 */
#ifndef QN_HF_LLM_H
#define QN_HF_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "qn_safetensors.h"

typedef enum { QN_LLM_LLAMA = 0, QN_LLM_PHI3 = 1, QN_LLM_PHI2 = 2 } qn_llm_arch;

/* longrope's factor lists in the config: rotary dims up to 512 (Phi-3's are 96), a fixed size so the
 * config stays a plain value without a free. */
enum { QN_LLM_MAX_ROPE_FACTORS = 256 };

/* The shapes and constants of a decoder, as config.json gives them (HF's defaults where absent). */
typedef struct {
    qn_llm_arch arch;
    int vocab_size, hidden, layers, heads, kv_heads, head_dim, intermediate, max_position;
    int rotary_dim;           /* head_dim * partial_rotary_factor (Phi-2; Phi-3 may have it too) */
    double rope_theta;
    float norm_eps;           /* rms_norm_eps (Llama, Phi-3) or layer_norm_eps (Phi-2) */
    int tie_word_embeddings;
    int attention_bias, mlp_bias; /* Llama's optional biases on q/k/v/o and gate/up/down */
    /* rope_scaling {rope_type: llama3}: 0 when absent; {rope_type: linear} (Llama): frequencies / factor */
    int rope_llama3, rope_linear;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_position; /* llama3's, or Phi-3's top-level original_max_position_embeddings */
    /* Phi-3's rope_scaling {type: longrope (or su)}: frequencies divided per dimension by short_factor
     * while a forward's sequence (its largest position + 1) is within rope_original_max_position, by
     * long_factor past it (rotary_dim / 2 each); cos and sin scaled by rope_attention_factor, which is
     * 1 for every other scaling. */
    int rope_longrope;
    double rope_attention_factor;
    float rope_short_factor[QN_LLM_MAX_ROPE_FACTORS], rope_long_factor[QN_LLM_MAX_ROPE_FACTORS];
    /* Phi-3's sliding_window W: query q sees keys q - W < k <= q (0: every earlier key). Other
     * model types never use it (transformers' Llama and Phi-2 have no sliding window). */
    int sliding_window;
} qn_llm_config;

const char *qn_llm_arch_name(qn_llm_arch a);

/* config.json text (len bytes) into c. path names the file in messages. */
int qn_hf_llm_config_parse(const char *path, const char *json, size_t len, qn_llm_config *c, char *err, size_t errlen);
/* DIR/config.json */
int qn_hf_llm_config_load(const char *dir, qn_llm_config *c, char *err, size_t errlen);

/* The ids generation stops at and pads with, as transformers' generate takes them: each key of
 * DIR/generation_config.json where the file has it (not null), else of DIR/config.json;
 * eos_token_id an id or a list of ids (neos = 0: none), pad_token_id an id, else the first EOS id
 * (has_pad = 0: neither). */
enum { QN_HF_MAX_EOS = 64 };
typedef struct {
    int32_t eos[QN_HF_MAX_EOS];
    int neos;
    int32_t pad_token_id;
    int has_pad;
} qn_hf_generation;
int qn_hf_generation_load(const char *dir, qn_hf_generation *g, char *err, size_t errlen);
/* One file's text over g: sets only the keys it has. */
int qn_hf_generation_parse(const char *path, const char *json, size_t len, qn_hf_generation *g, char *err,
                           size_t errlen);

/* model.safetensors.index.json: the weight map, tensor name -> shard file name (a plain file name in
 * the same directory). */
typedef struct {
    int n;
    char **names, **shards;  /* n each */
    int nshards;
    char **shard_files;      /* the distinct shards, in order of first appearance */
} qn_hf_index;
int qn_hf_index_parse(const char *path, const char *json, size_t len, qn_hf_index *ix, char *err, size_t errlen);
void qn_hf_index_free(qn_hf_index *ix);

/* The weights of a directory: every shard mapped. */
typedef struct {
    char *dir;
    int nshards;
    qn_safetensors *shards;
    int nowned;
    void **owned;             /* float32 copies (converted tensors) and realigned 16-bit copies */
    size_t bytes_mapped;
    size_t bytes_converted;   /* bytes of those copies: 0 when every tensor is used in place */
} qn_hf_weights;

/* Open DIR's weights: the index and its shards when DIR/model.safetensors.index.json exists, else
 * DIR/model.safetensors. Every tensor the index names must be in its shard. */
int qn_hf_weights_open(const char *dir, qn_hf_weights *w, char *err, size_t errlen);
void qn_hf_weights_close(qn_hf_weights *w);
/* Tensor `name` as float32 with exactly the shape given (ndim dims): *out points into the mapping or
 * into a converted copy the weights own. Returns 0; 1 when absent and optional (*out = NULL); 2 with
 * err for absent (not optional), wrong shape or a non-floating dtype. */
int qn_hf_weights_f32(qn_hf_weights *w, const char *name, int ndim, const int64_t *shape, int optional,
                      const float **out, char *err, size_t errlen);

/* A floating tensor as the checkpoint stores it: F32 (float), F16 or BF16 (uint16_t), aligned. */
typedef struct {
    qn_st_dtype dtype;        /* QN_ST_F32, QN_ST_F16 or QN_ST_BF16 */
    const void *data;
    size_t numel;
} qn_hf_view;
/* Tensor `name` (checked as qn_hf_weights_f32 checks it) without converting a 16-bit tensor: F16 and
 * BF16 stay as stored, in place (copied once only when at an odd address); F64 and unaligned F32 are
 * converted to float32 once. Returns 0, 1 (absent and optional: out->data NULL) or 2 with err. */
int qn_hf_weights_view(qn_hf_weights *w, const char *name, int ndim, const int64_t *shape, int optional,
                       qn_hf_view *out, char *err, size_t errlen);
/* Elements [i0, i0 + n) of a view as float32 into out: exact (every fp16 and bf16 value is a float). */
void qn_hf_view_to_f32(const qn_hf_view *v, size_t i0, size_t n, float *out);
/* A view as float32: in place for F32, else a copy the weights own (counted in bytes_converted).
 * 0, or 2 with err (out of memory). */
int qn_hf_weights_widen(qn_hf_weights *w, const qn_hf_view *v, const float **out, char *err, size_t errlen);
/* The caller is done with bytes [data, data + bytes) of a mapped shard (a weight converted or packed
 * for good): the whole pages inside the range leave the process's resident set (MADV_DONTNEED; the
 * file stays in the page cache). Anything else (owned copies, unmapped shards) is left alone. */
void qn_hf_weights_release(const qn_hf_weights *w, const void *data, size_t bytes);

#endif
