/* llm_forward.c: the decoder's forward over the KV cache: embeddings, L blocks (Llama/Phi-3:
 * pre-norm attention then pre-norm SwiGLU MLP, each added to the residual; Phi-2: one LayerNorm
 * feeding attention and MLP in parallel, both added to the residual), the final norm, and the LM head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "qn_nn.h"

int qn_llm_check_batch(const qn_llm_config *c, int B, int Tmax, char *err, size_t errlen) {
    if (B < 1 || Tmax < 1) {
        snprintf(err, errlen, "a batch needs at least one sequence of one token");
        return 2;
    }
    if (Tmax > c->max_position) {
        snprintf(err, errlen, "%d tokens per sequence, more than the model's max_position_embeddings %d", Tmax,
                 c->max_position);
        return 2;
    }
    return 0;
}

int qn_llm_reset(qn_llm *m, int B, int Tmax, char *err, size_t errlen) {
    const qn_llm_config *c = &m->cfg;
    if (qn_llm_check_batch(c, B, Tmax, err, errlen)) return 2;
    if (!m->precision[0] && qn_llm_quantize(m, "fp32", NULL, 0, err, errlen)) return 2; /* never quantized: fp32 */
    size_t per = (size_t)c->layers * B * c->kv_heads * Tmax * c->head_dim;
    if (per > ((size_t)1 << 40) / sizeof(float)) {
        snprintf(err, errlen, "a KV cache for %d sequences of %d tokens is too large", B, Tmax);
        return 2;
    }
    if ((size_t)B * Tmax > (size_t)m->B * m->Tmax || !m->kcache) {
        free(m->kcache), free(m->vcache);
        m->kcache = malloc(per * sizeof(float)), m->vcache = malloc(per * sizeof(float));
        if (!m->kcache || !m->vcache) {
            free(m->kcache), free(m->vcache);
            m->kcache = m->vcache = NULL;
            snprintf(err, errlen, "out of memory for a KV cache of %d sequences of %d tokens", B, Tmax);
            return 2;
        }
    }
    m->B = B, m->Tmax = Tmax, m->pos = 0, m->pad = NULL;
    return 0;
}

static int grow(float **p, size_t n) {
    float *q = realloc(*p, (n ? n : 1) * sizeof(float));
    if (!q) return -1;
    *p = q;
    return 0;
}

/* Scratch for `rows` rows of n new tokens at cache length len. */
static int ensure_scratch(qn_llm *m, size_t rows, size_t n, size_t len) {
    const qn_llm_config *c = &m->cfg;
    const size_t C = c->hidden, I = c->intermediate, QKV = (size_t)(c->heads + 2 * c->kv_heads) * c->head_dim;
    if (grow(&m->scores, n * len)) return -1;
    if (rows <= m->scratch_rows) return 0;
    if (grow(&m->x, rows * C) || grow(&m->h, rows * C) || grow(&m->tmp, rows * C) || grow(&m->qkv, rows * QKV) ||
        grow(&m->att, rows * c->heads * c->head_dim) || grow(&m->mlp, rows * 2 * I) || grow(&m->mlp_act, rows * I) ||
        grow(&m->norm_mean, rows) || grow(&m->norm_rstd, rows))
        return -1;
    m->scratch_rows = rows;
    return 0;
}

/* out (M,C) = norm(x) with the weights of the architecture's kind (RMSNorm or LayerNorm with bias). */
static void norm(qn_llm *m, float *out, const float *x, const float *w, const float *b, int M) {
    const qn_llm_config *c = &m->cfg;
    if (c->arch == QN_LLM_PHI2) qn_layernorm_forward(out, m->norm_mean, m->norm_rstd, x, w, b, M, c->hidden, c->norm_eps);
    else qn_llm_rmsnorm(out, x, w, M, c->hidden, c->norm_eps);
}

/* The MLP of h (M,C) into out (M,C). */
static void mlp(qn_llm *m, const qn_llm_layer *y, const float *h, float *out, int M) {
    const qn_llm_config *c = &m->cfg;
    const int C = c->hidden, I = c->intermediate;
    if (c->arch == QN_LLM_PHI2) {
        qn_llm_linear_forward(&y->mlp_in[0], m->mlp_act, I, h, C, M); // fc1 (M,I)
        qn_llm_gelu_tanh(m->mlp_act, (size_t)M * I);
    } else {
        for (int k = 0, col = 0; k < y->nmlp_in; col += y->mlp_in[k].out, k++) // gate | up (M,2I)
            qn_llm_linear_forward(&y->mlp_in[k], m->mlp + col, 2 * I, h, C, M);
        qn_llm_swiglu(m->mlp_act, m->mlp, M, I); // (M,I)
    }
    qn_llm_linear_forward(&y->down, out, C, m->mlp_act, I, M); // (M,C)
}

int qn_llm_check_step(const qn_llm_config *c, int pos, int Tmax, const int32_t *ids, int n, int rows, char *err,
                      size_t errlen) {
    if (n < 1 || pos + n > Tmax) {
        snprintf(err, errlen, "%d more tokens do not fit the %d the sequences were started with (%d used)", n, Tmax, pos);
        return 2;
    }
    for (int i = 0; i < rows; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size) {
            snprintf(err, errlen, "token id %d is outside the vocabulary [0, %d)", ids[i], c->vocab_size);
            return 2;
        }
    return 0;
}

int qn_llm_forward(qn_llm *m, const int32_t *ids, int n, float *hidden, char *err, size_t errlen) {
    const qn_llm_config *c = &m->cfg;
    const int C = c->hidden, B = m->B, M = B * n, QKV = (c->heads + 2 * c->kv_heads) * c->head_dim;
    if (qn_llm_check_step(c, m->pos, m->Tmax, ids, n, M, err, errlen)) return 2;
    if (ensure_scratch(m, (size_t)M, (size_t)n, (size_t)(m->pos + n))) {
        snprintf(err, errlen, "out of memory for %d rows of activations", M);
        return 2;
    }
    float *x = m->x, *h = m->h, *tmp = m->tmp;
    for (int i = 0; i < M; i++) qn_llm_embed_rows(m, ids[i], ids[i] + 1, x + (size_t)i * C); // (M,C)
    for (int l = 0; l < c->layers; l++) {
        const qn_llm_layer *y = &m->layers[l];
        norm(m, h, x, y->norm1_w, y->norm1_b, M);
        for (int k = 0, col = 0; k < y->nqkv; col += y->qkv[k].out, k++) // q | k | v (M,QKV)
            qn_llm_linear_forward(&y->qkv[k], m->qkv + col, QKV, h, C, M);
        qn_llm_attention(m, l, m->qkv, n, m->pos, m->att, m->scores); // (M,NH*HD)
        qn_llm_linear_forward(&y->o, tmp, C, m->att, y->o.in, M);
        if (c->arch == QN_LLM_PHI2) {
            // x = x + attn(h) + mlp(h), h = input_layernorm(x)
            for (size_t i = 0; i < (size_t)M * C; i++) x[i] += tmp[i];
            mlp(m, y, h, tmp, M);
        } else {
            for (size_t i = 0; i < (size_t)M * C; i++) x[i] += tmp[i];
            norm(m, h, x, y->norm2_w, NULL, M);
            mlp(m, y, h, tmp, M);
        }
        for (size_t i = 0; i < (size_t)M * C; i++) x[i] += tmp[i];
    }
    if (hidden) norm(m, hidden, x, m->final_w, m->final_b, M);
    m->pos += n;
    return 0;
}

void qn_llm_logits(const qn_llm *m, const float *hidden, int rows, float *logits) {
    qn_llm_linear_forward(&m->lm_head, logits, m->cfg.vocab_size, hidden, m->cfg.hidden, rows); // (rows,V)
}
