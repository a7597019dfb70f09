/* bert.h: a BERT encoder classifier with the math of Hugging Face's BertForSequenceClassification
 * (llm.c style: forward and backward side by side, every shape in a comment).
 *
 *   ids (B,T) -> word + position + token-type(0) embeddings -> LayerNorm
 *   -> L x [ Q,K,V Linear -> masked multi-head attention -> output Linear -> +residual -> LayerNorm
 *            -> intermediate Linear -> GELU(erf) -> output Linear -> +residual -> LayerNorm ]  (post-LN)
 *   -> [CLS] row -> pooler Linear -> tanh -> classifier Linear -> softmax cross-entropy
 *
 * Parameters, gradients and the AdamW moments each live in one contiguous buffer, laid out in the
 * order of Hugging Face's state dict; every Linear layer (6 per encoder layer, the pooler and the
 * classifier) is a qn_linear with its own formats and pruning masks. Dropout is not applied.
 */
#ifndef QN_BERT_H
#define QN_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "linear.h"

typedef struct {
    int vocab_size, max_position, type_vocab; /* V, P, 2 */
    int hidden, layers, heads, intermediate;  /* C, L, NH, I */
    int num_labels;
    float ln_eps;                             /* 1e-12, as BERT */
} qn_bert_config;

/* Presets by name: bert-tiny (L2 H128 A2 I512), bert-mini (L4 H256 A4 I1024), bert-small (L4 H512 A8
 * I2048); vocab 30522 and 512 positions as the Google checkpoints. Returns 0, or -1 if unknown. */
int qn_bert_preset(const char *name, qn_bert_config *out);

enum { QN_BERT_LIN_Q, QN_BERT_LIN_K, QN_BERT_LIN_V, QN_BERT_LIN_ATT_OUT, QN_BERT_LIN_INTER, QN_BERT_LIN_OUT,
       QN_BERT_LIN_PER_LAYER };

typedef struct {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;      /* attention.output.LayerNorm, output.LayerNorm (C) */
    float *dln1_w, *dln1_b, *dln2_w, *dln2_b;
    qn_linear lin[QN_BERT_LIN_PER_LAYER];
    /* activations (B*T rows) */
    float *out;                                 /* (BT,C) the layer's output (the next one's input) */
    float *q, *k, *v, *ctx, *att;               /* (BT,C) x4, (B,NH,T,T) */
    float *att_out, *res1, *h1, *mean1, *rstd1; /* (BT,C) x3, (BT) x2 */
    float *inter, *gelu, *ffn_out, *res2, *mean2, *rstd2; /* (BT,I) x2, (BT,C) x2, (BT) x2 */
} qn_bert_layer;

typedef struct {
    qn_bert_config cfg;
    int max_batch, T;
    size_t nparams;
    float *params, *grads, *m, *v;
    float *word, *pos, *type, *emb_ln_w, *emb_ln_b;     /* views */
    float *dword, *dpos, *dtype, *demb_ln_w, *demb_ln_b;
    qn_bert_layer *layer;
    qn_linear pooler, classifier;
    int step;
    int quant_failed;
    /* activations */
    float *emb, *emb_mean, *emb_rstd, *x0;      /* (BT,C), (BT) x2, (BT,C) after the embedding LN */
    float *cls, *pooled_pre, *pooled, *logits, *probs; /* (B,C) x3, (B,NL) x2 */
    int32_t *mask;                              /* (B,T) attention mask built from the lengths */
    /* gradient scratch */
    float *dx, *dres, *dh, *dctx, *dq, *dk, *dv, *demb; /* (BT,C) x8 */
    float *dinter;                              /* (BT,I): through GELU as well (fused) */
    float *dcls, *dpooled, *dlogits;            /* (B,C) x2, (B,NL) */
} qn_bert;

size_t qn_bert_param_count(const qn_bert_config *c);
/* Allocate for up to max_batch sequences of T tokens and initialise from seed as BERT does
 * (normal(0, 0.02) weights and embeddings, zero biases, LayerNorm weight 1 and bias 0). NULL when out
 * of memory or T > max_position. */
qn_bert *qn_bert_new(const qn_bert_config *c, int max_batch, int T, uint64_t seed);
void qn_bert_free(qn_bert *m);
/* Every Linear layer of the model, in state-dict order (6 per encoder layer, then pooler, classifier). */
int qn_bert_linears(qn_bert *m, qn_linear **out, int max);
int qn_bert_set_quant(qn_bert *m, const qn_quant_cfg *q, char *err, size_t errlen);

/* Forward on B sequences: ids (B,T), lengths (B) (tokens before padding: the attention mask),
 * labels (B) or NULL. Returns the mean loss (0 without labels); probabilities in m->probs. */
float qn_bert_forward(qn_bert *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                      qn_rng *rng);
/* The same with an explicit attention mask (B,T): 1 for tokens to attend to, 0 for padding. */
float qn_bert_forward_masked(qn_bert *m, const int32_t *ids, const int32_t *mask, const int32_t *labels, int B,
                             qn_rng *rng);
/* Backward of the last forward (gradients overwritten). */
void qn_bert_backward(qn_bert *m, const int32_t *ids, const int32_t *labels, int B);

/* ---- Hugging Face checkpoints (bert_hf.c) ---- */
/* The sizes of DIR/config.json. Returns 0, or 2 with "PATH: message". */
int qn_bert_config_from_hf(const char *dir, qn_bert_config *c, char *err, size_t errlen);
/* A model with DIR's config and the weights of DIR/model.safetensors. NULL with a message. */
qn_bert *qn_bert_load_hf(const char *dir, int max_batch, int T, char *err, size_t errlen);

#endif
