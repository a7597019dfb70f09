/* llm.h: decoder-only language models (Llama family, Phi-3, Phi-2) on the CPU backend in float32,
 * with a KV cache: prefill a batch of prompts, decode one token at a time, greedy generation and
 * perplexity with a sliding window. The math is transformers' (modeling_llama, modeling_phi3,
 * modeling_phi), checked against a PyTorch re-implementation (tests/e2e/llm_parity.sh).
 *
 * Shapes in comments as llm.c: B sequences, T tokens, C = hidden, NH query heads, NKV key/value
 * heads, HD head size, I intermediate, V vocabulary, L layers, M = B*T rows.
 *
 * Contract:
 *  - Every sequence of a batch holds the same number of cache slots; slot p is token p of each
 *    sequence. Prompts of different lengths are left-padded (pad, below): a sequence's pad slots are
 *    masked out of attention and its positions count from its first real token, as transformers'
 *    attention_mask with padding_side='left'.
 *  - Weights stay where the loader put them (mapped or converted once); a Linear layer names its
 *    weight format, so packed precisions plug in at qn_llm_linear_forward alone.
 *  - Errors: 0, or 2 with one line in err (bad model directory, too many tokens).
 */
#ifndef QN_LLM_H
#define QN_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "qn_hf_llm.h"
#include "qn_infer_formats.h"

/* ---- Linear: y (M,out) = x (M,in) W^T + b, W (out,in) as stored by PyTorch ---- */
typedef enum {
    QN_LLM_WEIGHT_F32 = 0, /* w: float32 (out,in) */
    /* packed formats: their data behind `packed` (a qn_llm_packed, llm_quant.c) */
    QN_LLM_WEIGHT_F16,     /* h: IEEE half (out,in), computed in fp32 */
    QN_LLM_WEIGHT_BF16,    /* h: bfloat16 (out,in), computed in fp32 */
    QN_LLM_WEIGHT_W8A16,   /* q: int8 (out,in), absmax (out): w = q * absmax / 127; activations float */
    QN_LLM_WEIGHT_INT8,    /* LLM.int8: as W8A16, activations int8 per row except outlier columns */
    QN_LLM_WEIGHT_4BIT,    /* t: bitsandbytes NF4 / FP4 blocks of the flattened (out,in) weight */
} qn_llm_weight_format;

typedef struct {
    int out, in;
    qn_llm_weight_format format;
    const float *w;        /* QN_LLM_WEIGHT_F32 */
    const void *packed;    /* packed formats */
    const float *bias;     /* (out) or NULL */
} qn_llm_linear;

/* A Linear's packed weight (the storage of one format above). */
typedef struct {
    uint16_t *h;        /* F16, BF16 */
    int8_t *q;          /* W8A16, INT8 */
    float *absmax;      /* W8A16, INT8: per output row */
    float threshold;    /* INT8: outlier columns have some |x| >= threshold (0: none) */
    qn_4bit_tensor t;   /* 4BIT */
    int h_mapped;       /* h is the checkpoint's storage (qn_llm_load's view of an F16/BF16 tensor): not freed */
} qn_llm_packed;

/* y (M, ldy) columns [0, out): x (M,in) with rows ldx apart. */
void qn_llm_linear_forward(const qn_llm_linear *l, float *y, int ldy, const float *x, int ldx, int M);
/* Rows [j0, j1) of the weight as float32 (j1-j0, in): what the kernels multiply by (the dequantized
 * reference; prefill multiplies tiles of it with qn_sgemm). */
void qn_llm_linear_dequantize(const qn_llm_linear *l, int j0, int j1, float *out);
/* Threads of the few-row (decode) path; the GEMM's are qn_set_num_threads'. Default 1. */
void qn_llm_set_threads(int n);
int qn_llm_threads(void); /* that number */

/* ---- elementwise ops and norms (llm_ops.c) ---- */
/* RMSNorm (Llama): out = x / sqrt(mean(x^2) + eps) * w. x, out (M,C). */
void qn_llm_rmsnorm(float *out, const float *x, const float *w, int M, int C, float eps);
/* silu(g) * u where gu (M, 2I) holds g in columns [0,I) and u in [I,2I); out (M,I). */
void qn_llm_swiglu(float *out, const float *gu, int M, int I);
/* gelu_new (tanh approximation), in place. */
void qn_llm_gelu_tanh(float *x, size_t n);

/* RoPE, rotate_half convention (first half paired with second half of the rotary dims). inv_freq
 * (RD) from rope_theta and the scaling: [0, RD/2) what a forward rotates with, [RD/2, RD) what one
 * past longrope's original_max_position rotates with (the long factors; a copy of the first half
 * for every other scaling). */
void qn_llm_rope_inv_freq(const qn_llm_config *c, float *inv_freq);
/* Which half of inv_freq a forward uses whose last cache slot is `last` (pad: (B) leading pad slots
 * per sequence, or NULL): 1 when longrope's sequence length, transformers' max(position_ids) + 1,
 * passes original_max_position (so the switch happens per forward: cached keys keep theirs). */
int qn_llm_rope_long(const qn_llm_config *c, const int32_t *pad, int B, int last);
/* x (NHx, HD) of one token at position pos: its first RD dims of each head rotated, cos and sin
 * scaled by attention_factor (longrope's; 1 otherwise). */
void qn_llm_rope_apply(float *x, int nheads, int HD, int RD, const float *inv_freq, float attention_factor, int pos);
/* transformers' Phi-3 generate drops the KV cache the step a sequence first passes longrope's
 * original_max_position (prepare_inputs_for_generation) and runs the whole sequence again, so every
 * key turns with the long factors: 1 at decode step s (s >= 1) of prompts of T tokens when so. */
int qn_llm_rope_recompute(const qn_llm_config *c, int T, int s);

/* ---- attention (llm_attention.c) ---- */
typedef struct qn_llm qn_llm;
/* qkv (B,n,(NH+2NKV)HD) of tokens in cache slots pos0..pos0+n-1: rotates q and k in place, appends k
 * and v to layer l's cache, writes the attention output (B,n,NH*HD) to out. scores: n*(pos0+n). */
void qn_llm_attention(qn_llm *m, int l, float *qkv, int n, int pos0, float *out, float *scores);
/* The RoPE position of cache slot i of sequence b: i - pad[b], and 1 for a pad slot (transformers'
 * position_ids = cumsum(attention_mask) - 1 with pads filled with 1). */
int qn_llm_position(const qn_llm *m, int b, int i);
/* The first key slot query slot q of sequence b sees; it sees [that, q]: causal, after the sequence's
 * pad slots, and within Phi-3's sliding window (q - W < k). A pad query, all of whose keys are
 * padded, sees itself alone (transformers leaves such rows' values unspecified; nothing reads them). */
int qn_llm_visible_keys(const qn_llm *m, int b, int q);

/* ---- the model ---- */
typedef struct {
    const float *norm1_w, *norm1_b;  /* input_layernorm (bias: Phi-2) */
    const float *norm2_w;            /* post_attention_layernorm (Llama, Phi-3; Phi-2 has none) */
    qn_llm_linear qkv[3];            /* q | k | v columns of one (M, (NH+2NKV)HD) buffer; Phi-3: one */
    int nqkv;
    qn_llm_linear o;
    qn_llm_linear mlp_in[2];         /* gate | up (SwiGLU), or fc1 alone (Phi-2); Phi-3: one gate_up */
    int nmlp_in;
    qn_llm_linear down;              /* down_proj, or fc2 */
} qn_llm_layer;

struct qn_llm {
    qn_llm_config cfg;
    qn_hf_weights weights;           /* owns the mapping and converted copies */
    const float *embed;              /* (V,C) float32, or NULL: the lookup widens rows of embed_view */
    qn_hf_view embed_view;           /* the embedding as stored (F16/BF16 stay so; qn_llm_embed_rows) */
    qn_llm_layer *layers;            /* L */
    const float *final_w, *final_b;  /* final norm (bias: Phi-2) */
    qn_llm_linear lm_head;           /* (V,C), tied to embed where the config says */
    float *inv_freq;                 /* RD (qn_llm_rope_inv_freq) */
    /* KV cache: (L, B, NKV, Tmax, HD) each, rotated keys */
    int B, Tmax, pos;
    float *kcache, *vcache;
    /* (B) leading pad slots of each sequence (left padding), borrowed from the caller for a run;
     * NULL: none. qn_llm_reset clears it. */
    const int32_t *pad;
    /* scratch for up to B*chunk rows, grown on demand */
    size_t scratch_rows;
    float *x, *h, *tmp, *qkv, *att, *mlp, *mlp_act, *scores, *norm_mean, *norm_rstd;
    size_t weight_bytes;
    /* qn_llm_quantize: the packed weights (freed by qn_llm_free), the precision, the footprint parts */
    qn_llm_packed *packed;
    int npacked;
    /* qn_llm_load: Linear weights stored F16/BF16, format F16/BF16 over the checkpoint (h_mapped) */
    qn_llm_packed *views;
    int nviews;
    char precision[64];
    double fp_f16, fp_i8, fp_other, fp_f32_dropped;
    double prefill_s, decode_s;      /* the last qn_llm_generate_greedy: prefill, all decode steps */
};

/* Load DIR (config.json + weights). Returns NULL with err (one line). Nothing is converted that the
 * precision may not need: F16/BF16 Linear weights stay as stored (their format F16/BF16, packed a
 * view of the mapping) and so does the embedding (qn_llm_embed_rows); norms and biases become
 * float32. qn_llm_quantize then sets every Linear's format; a model not quantized by the first
 * qn_llm_reset (or qn_llm_cuda_new) runs at fp32, as a float32 checkpoint does. */
qn_llm *qn_llm_load(const char *dir, char *err, size_t errlen);
void qn_llm_free(qn_llm *m);
/* Weight bytes as the forward reads them (float32 here). */
size_t qn_llm_weight_bytes(const qn_llm *m);
/* Rows [r0, r1) of the embedding (V,C) as float32 into out ((r1-r0), C): exact for every stored dtype. */
void qn_llm_embed_rows(const qn_llm *m, int r0, int r1, float *out);

/* ---- precisions (llm_quant.c) ---- */
/* Convert the loaded model's Linear weights to `precision`: "fp32" (no change), "fp16", "bf16",
 * "w8a16", "int8" (LLM.int8, key threshold=6.0), "nf4", "fp4" (keys block_size=64, double_quant=0|1),
 * written as NAME or NAME:key=value,key=value. Layers whose name (HF tensor prefix, e.g.
 * "model.layers.3.mlp.down_proj", "lm_head") matches any fnmatch pattern of keep stay fp32; keep ==
 * NULL keeps {"lm_head"} (seed 002's default); nkeep == 0 with keep != NULL keeps none.
 * Call once, after qn_llm_load and before qn_llm_reset. 0, or 2 with a one-line err.
 * Weights stored F16/BF16: fp16 of F16 and bf16 of BF16 stay in the mapping (no copy); the other
 * 16-bit format is converted element by element; w8a16, int8, nf4 and fp4 widen one layer at a time
 * into a reused float32 scratch; fp32 and kept layers are widened to float32 (a tied lm_head so kept
 * widens the embedding, which its lookup then reads). Results are those of a float32 checkpoint
 * holding the same values, bit for bit. */
int qn_llm_quantize(qn_llm *m, const char *precision, const char *const *keep, int nkeep, char *err, size_t errlen);

/* Weight bytes by storage dtype, as seed 002 prints "Memory Usage by dtype": float32, float16 (fp16
 * and bf16), int8, other (packed 4-bit codes, absmax/scales), and the total. */
typedef struct { double float32, float16, int8, other, total; } qn_llm_footprint;
void qn_llm_footprint_of(const qn_llm *m, qn_llm_footprint *out);
/* The Linear layers with their HF names ("model.layers.0.self_attn.q_proj", "lm_head"), in order;
 * returns how many (at most cap written). */
int qn_llm_linears(qn_llm *m, qn_llm_linear **out, char (*names)[96], int cap);
/* Free the packed weights (qn_llm_free calls it). */
void qn_llm_quant_free(qn_llm *m);

/* Start B sequences with room for Tmax tokens each (prompt + generated). Returns 0 or 2 with err. */
int qn_llm_reset(qn_llm *m, int B, int Tmax, char *err, size_t errlen);
/* Feed n more tokens of each of the B sequences: ids (B,n). Writes the final-normed hidden states
 * (B,n,C) to hidden (NULL: only the cache advances). Returns 0 or 2 (cache full) with err. */
int qn_llm_forward(qn_llm *m, const int32_t *ids, int n, float *hidden, char *err, size_t errlen);
/* What every backend's reset checks first: B >= 1 sequences of 1 <= Tmax <= max_position tokens.
 * 0, or 2 with err. */
int qn_llm_check_batch(const qn_llm_config *c, int B, int Tmax, char *err, size_t errlen);
/* What every backend's forward checks first: n (>= 1) more tokens fit a cache of Tmax holding pos,
 * and the rows ids are in the vocabulary. 0, or 2 with err. */
int qn_llm_check_step(const qn_llm_config *c, int pos, int Tmax, const int32_t *ids, int n, int rows, char *err,
                      size_t errlen);
/* logits (rows,V) of hidden states (rows,C). */
void qn_llm_logits(const qn_llm *m, const float *hidden, int rows, float *logits);

/* What a generation does beyond greedy choice, as transformers' generate does it; all zero: prompts
 * of one length, no stop. */
typedef struct {
    const int32_t *pad;   /* (B) leading pad tokens of each prompt (left padding), or NULL: none */
    const int32_t *eos;   /* neos stop ids (eos_token_id), or neos = 0: never stop */
    int neos;
    int32_t pad_token_id; /* what a stopped sequence holds after its EOS (and is fed) */
    /* out */
    int steps;            /* tokens generated per sequence: S, or fewer when every sequence stopped */
    long tokens;          /* tokens up to and including each sequence's EOS, summed over sequences */
} qn_llm_gen;

/* Greedy generation: prompts (B,T), new_tokens out (B,S). gen (NULL: plain): padding and EOS
 * stopping; positions past gen->steps hold pad_token_id. step_logits (B,S,V) or NULL: the logits each
 * token was chosen from (steps not run: 0); prompt_logits (B,T,V) or NULL (pad positions: whatever
 * the pad query computes). Returns 0 or 2 with err. */
int qn_llm_generate_greedy(qn_llm *m, const int32_t *prompts, int B, int T, int S, qn_llm_gen *gen,
                           int32_t *new_tokens, float *prompt_logits, float *step_logits, char *err, size_t errlen);
/* The stopping rule of every backend's generator (transformers' generate): before a run, check gen
 * against B prompts of T tokens and a vocabulary of V (0, or 2 with err) and zero done (B). Each
 * step s: a sequence already done gets pad_token_id in place of its choice tok[b] (tok is what the
 * next step feeds), the choice goes to new_tokens[b*S+s], and a sequence is done once it emits an
 * EOS. Returns 1 when every sequence is done (the run stops: the rest of new_tokens is filled). */
int qn_llm_gen_start(qn_llm_gen *gen, int B, int T, int V, unsigned char *done, char *err, size_t errlen);
/* Longrope's recompute (qn_llm_rope_recompute) in a generation of S tokens from prompts of T: the
 * most tokens per sequence one forward runs (T, or the sequence at the recompute), and the ids it
 * runs at step s, the prompts then the s tokens fed so far (B, T+s; malloc'd, NULL when out of memory). */
int qn_llm_longest_forward(const qn_llm_config *c, int T, int S);
int32_t *qn_llm_sequence_ids(const int32_t *prompts, int B, int T, const int32_t *new_tokens, int S, int s);
int qn_llm_gen_step(qn_llm_gen *gen, int B, int S, int s, int32_t *tok, unsigned char *done, int32_t *new_tokens);
/* Perplexity of tokens (n) with windows of `context` tokens every `stride`, Hugging Face's
 * perplexity guide: a window scores only the tokens past the previous window's end (labels -100 on
 * the overlap); the result is exp of the mean negative log-likelihood over all scored tokens.
 * *scored: how many tokens were scored. Returns 0 or 2 with err. */
int qn_llm_perplexity(qn_llm *m, const int32_t *tokens, int n, int context, int stride, double *ppl, long *scored,
                      char *err, size_t errlen);

/* The windows and the negative log-likelihood of qn_llm_perplexity on any backend: forward runs
 * window ids (len tokens) from position 0; logits writes the logits (rows, vocab) of the window's
 * positions r0 .. r0+rows-1 (rows <= QN_LLM_PPL_ROWS) into out. context <= n, checked by the caller.
 * Returns 0 or the first nonzero code of a callback (its message in err). */
enum { QN_LLM_PPL_ROWS = 32 };
typedef struct {
    void *ctx;
    int (*forward)(void *ctx, const int32_t *ids, int len, char *err, size_t errlen);
    int (*logits)(void *ctx, int r0, int rows, float *out, char *err, size_t errlen);
} qn_llm_ppl_backend;
int qn_llm_perplexity_windows(const qn_llm_ppl_backend *be, int vocab, const int32_t *tokens, int n, int context,
                              int stride, float *logits, double *ppl, long *scored, char *err, size_t errlen);

#endif
