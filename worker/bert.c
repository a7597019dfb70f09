/* bert.c: forward and backward of the BERT encoder classifier (see bert.h). */
#include "bert.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_nn.h"

int qn_bert_preset(const char *name, qn_bert_config *out) {
    static const struct {
        const char *name;
        int L, C, NH, I;
    } presets[] = {{"bert-tiny", 2, 128, 2, 512}, {"bert-mini", 4, 256, 4, 1024}, {"bert-small", 4, 512, 8, 2048}};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, name)) {
            *out = (qn_bert_config){30522, 512, 2, presets[i].C, presets[i].L, presets[i].NH, presets[i].I, 2, 1e-12f};
            return 0;
        }
    return -1;
}

size_t qn_bert_param_count(const qn_bert_config *c) {
    size_t C = (size_t)c->hidden, I = (size_t)c->intermediate;
    size_t emb = ((size_t)c->vocab_size + (size_t)c->max_position + (size_t)c->type_vocab) * C + 2 * C;
    size_t layer = 4 * (C * C + C) + 2 * C + (I * C + I) + (C * I + C) + 2 * C;
    return emb + (size_t)c->layers * layer + (C * C + C) + ((size_t)c->num_labels * C + (size_t)c->num_labels);
}

static const char *const lin_names[QN_BERT_LIN_PER_LAYER] = {"attention.self.query", "attention.self.key",
                                                             "attention.self.value", "attention.output.dense",
                                                             "intermediate.dense", "output.dense"};

void qn_bert_free(qn_bert *m) {
    if (!m) return;
    for (int l = 0; m->layer && l < m->cfg.layers; l++) {
        qn_bert_layer *y = &m->layer[l];
        for (int k = 0; k < QN_BERT_LIN_PER_LAYER; k++) qn_linear_free(&y->lin[k]);
        free(y->out), free(y->q), free(y->k), free(y->v), free(y->ctx), free(y->att), free(y->att_out), free(y->res1);
        free(y->h1), free(y->mean1), free(y->rstd1), free(y->inter), free(y->gelu), free(y->ffn_out), free(y->res2);
        free(y->mean2), free(y->rstd2);
    }
    free(m->layer);
    qn_linear_free(&m->pooler), qn_linear_free(&m->classifier);
    free(m->params), free(m->grads), free(m->m), free(m->v);
    free(m->emb), free(m->emb_mean), free(m->emb_rstd), free(m->x0), free(m->cls), free(m->pooled_pre), free(m->pooled);
    free(m->logits), free(m->probs), free(m->mask);
    free(m->dx), free(m->dres), free(m->dh), free(m->dctx), free(m->dq), free(m->dk), free(m->dv), free(m->demb);
    free(m->dinter), free(m->dcls), free(m->dpooled), free(m->dlogits);
    free(m);
}

static float *fbuf(size_t n, int *fail) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) *fail = 1;
    return p;
}

qn_bert *qn_bert_new(const qn_bert_config *c, int max_batch, int T, uint64_t seed) {
    if (T > c->max_position || c->hidden % c->heads != 0) return NULL;
    qn_bert *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *c;
    m->max_batch = max_batch, m->T = T;
    const size_t C = (size_t)c->hidden, I = (size_t)c->intermediate, BT = (size_t)max_batch * T, B = (size_t)max_batch;
    int fail = 0;
    m->nparams = qn_bert_param_count(c);
    m->params = fbuf(m->nparams, &fail), m->grads = fbuf(m->nparams, &fail);
    m->m = fbuf(m->nparams, &fail), m->v = fbuf(m->nparams, &fail);
    m->layer = calloc((size_t)c->layers, sizeof *m->layer);
    if (fail || !m->layer) {
        qn_bert_free(m);
        return NULL;
    }
    /* views, in the order of Hugging Face's state dict */
    float *p = m->params, *g = m->grads;
#define TAKE(view, dview, n) (view = p, dview = g, p += (n), g += (n))
    TAKE(m->word, m->dword, (size_t)c->vocab_size * C);
    TAKE(m->pos, m->dpos, (size_t)c->max_position * C);
    TAKE(m->type, m->dtype, (size_t)c->type_vocab * C);
    TAKE(m->emb_ln_w, m->demb_ln_w, C);
    TAKE(m->emb_ln_b, m->demb_ln_b, C);
    for (int l = 0; l < c->layers; l++) {
        qn_bert_layer *y = &m->layer[l];
        for (int k = 0; k < 4; k++) { /* query, key, value, attention output: (C,C) + (C) */
            fail |= qn_linear_init(&y->lin[k], lin_names[k], (int)C, (int)C, p, g, (int)BT) != 0;
            p += C * C + C, g += C * C + C;
            if (k == 3) {
                TAKE(y->ln1_w, y->dln1_w, C);
                TAKE(y->ln1_b, y->dln1_b, C);
            }
        }
        fail |= qn_linear_init(&y->lin[QN_BERT_LIN_INTER], lin_names[4], (int)C, (int)I, p, g, (int)BT) != 0;
        p += I * C + I, g += I * C + I;
        fail |= qn_linear_init(&y->lin[QN_BERT_LIN_OUT], lin_names[5], (int)I, (int)C, p, g, (int)BT) != 0;
        p += C * I + C, g += C * I + C;
        TAKE(y->ln2_w, y->dln2_w, C);
        TAKE(y->ln2_b, y->dln2_b, C);
        y->out = fbuf(BT * C, &fail), y->q = fbuf(BT * C, &fail), y->k = fbuf(BT * C, &fail), y->v = fbuf(BT * C, &fail);
        y->ctx = fbuf(BT * C, &fail), y->att = fbuf(B * (size_t)c->heads * T * T, &fail);
        y->att_out = fbuf(BT * C, &fail), y->res1 = fbuf(BT * C, &fail), y->h1 = fbuf(BT * C, &fail);
        y->mean1 = fbuf(BT, &fail), y->rstd1 = fbuf(BT, &fail), y->inter = fbuf(BT * I, &fail), y->gelu = fbuf(BT * I, &fail);
        y->ffn_out = fbuf(BT * C, &fail), y->res2 = fbuf(BT * C, &fail), y->mean2 = fbuf(BT, &fail), y->rstd2 = fbuf(BT, &fail);
    }
    fail |= qn_linear_init(&m->pooler, "pooler.dense", (int)C, (int)C, p, g, (int)B) != 0;
    p += C * C + C, g += C * C + C;
    fail |= qn_linear_init(&m->classifier, "classifier", (int)C, c->num_labels, p, g, (int)B) != 0;
#undef TAKE
    m->emb = fbuf(BT * C, &fail), m->emb_mean = fbuf(BT, &fail), m->emb_rstd = fbuf(BT, &fail), m->x0 = fbuf(BT * C, &fail);
    m->cls = fbuf(B * C, &fail), m->pooled_pre = fbuf(B * C, &fail), m->pooled = fbuf(B * C, &fail);
    m->logits = fbuf(B * (size_t)c->num_labels, &fail), m->probs = fbuf(B * (size_t)c->num_labels, &fail);
    m->mask = calloc(BT ? BT : 1, sizeof(int32_t));
    m->dx = fbuf(BT * C, &fail), m->dres = fbuf(BT * C, &fail), m->dh = fbuf(BT * C, &fail), m->dctx = fbuf(BT * C, &fail);
    m->dq = fbuf(BT * C, &fail), m->dk = fbuf(BT * C, &fail), m->dv = fbuf(BT * C, &fail), m->demb = fbuf(BT * C, &fail);
    m->dinter = fbuf(BT * I, &fail);
    m->dcls = fbuf(B * C, &fail), m->dpooled = fbuf(B * C, &fail), m->dlogits = fbuf(B * (size_t)c->num_labels, &fail);
    if (fail || !m->mask) {
        qn_bert_free(m);
        return NULL;
    }
    /* BERT's initialisation: N(0, 0.02) for embeddings and Linear weights, zero biases, LayerNorm 1/0,
     * and a zero row for [PAD] (padding_idx 0). */
    qn_rng rng;
    qn_rng_seed(&rng, seed);
    for (size_t i = 0; i < m->nparams; i++) m->params[i] = 0.02f * qn_rng_normal(&rng);
    memset(m->word, 0, C * sizeof(float));
    qn_linear *lins[64];
    int nl = qn_bert_linears(m, lins, 64);
    for (int i = 0; i < nl; i++) memset(lins[i]->b, 0, (size_t)lins[i]->out * sizeof(float));
    for (size_t i = 0; i < C; i++) m->emb_ln_w[i] = 1.0f, m->emb_ln_b[i] = 0.0f;
    for (int l = 0; l < c->layers; l++)
        for (size_t i = 0; i < C; i++) {
            m->layer[l].ln1_w[i] = m->layer[l].ln2_w[i] = 1.0f;
            m->layer[l].ln1_b[i] = m->layer[l].ln2_b[i] = 0.0f;
        }
    return m;
}

int qn_bert_linears(qn_bert *m, qn_linear **out, int max) {
    int n = 0;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < QN_BERT_LIN_PER_LAYER && n < max; k++) out[n++] = &m->layer[l].lin[k];
    if (n < max) out[n++] = &m->pooler;
    if (n < max) out[n++] = &m->classifier;
    return n;
}

int qn_bert_set_quant(qn_bert *m, const qn_quant_cfg *q, char *err, size_t errlen) {
    qn_linear *lins[256];
    int n = qn_bert_linears(m, lins, 256);
    for (int i = 0; i < n; i++)
        if (qn_linear_set_quant(lins[i], q, err, errlen) != 0) return -1;
    return 0;
}

static void add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static float forward_core(qn_bert *m, const int32_t *ids, const int32_t *labels, int B, qn_rng *rng);

float qn_bert_forward(qn_bert *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                      qn_rng *rng) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < m->T; t++) m->mask[(size_t)b * m->T + t] = t < lengths[b];
    return forward_core(m, ids, labels, B, rng);
}

float qn_bert_forward_masked(qn_bert *m, const int32_t *ids, const int32_t *mask, const int32_t *labels, int B,
                             qn_rng *rng) {
    memcpy(m->mask, mask, (size_t)B * m->T * sizeof(int32_t));
    return forward_core(m, ids, labels, B, rng);
}

static float forward_core(qn_bert *m, const int32_t *ids, const int32_t *labels, int B, qn_rng *rng) {
    const qn_bert_config *c = &m->cfg;
    const int T = m->T, C = c->hidden, NH = c->heads, NL = c->num_labels, BT = B * T;
    /* embeddings: (word + token type 0) + position, then LayerNorm (BT,C) */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *w = m->word + (size_t)ids[(size_t)b * T + t] * C, *ps = m->pos + (size_t)t * C;
            float *e = m->emb + ((size_t)b * T + t) * C;
            for (int i = 0; i < C; i++) e[i] = (w[i] + m->type[i]) + ps[i];
        }
    qn_layernorm_forward(m->x0, m->emb_mean, m->emb_rstd, m->emb, m->emb_ln_w, m->emb_ln_b, BT, C, c->ln_eps);
    const float *x = m->x0;
    for (int l = 0; l < c->layers; l++) {
        qn_bert_layer *y = &m->layer[l];
        qn_linear_forward(&y->lin[QN_BERT_LIN_Q], x, y->q, BT, rng, &m->quant_failed);
        qn_linear_forward(&y->lin[QN_BERT_LIN_K], x, y->k, BT, rng, &m->quant_failed);
        qn_linear_forward(&y->lin[QN_BERT_LIN_V], x, y->v, BT, rng, &m->quant_failed);
        qn_attention_forward(y->ctx, y->att, y->q, y->k, y->v, m->mask, B, T, C, NH); /* (BT,C) */
        qn_linear_forward(&y->lin[QN_BERT_LIN_ATT_OUT], y->ctx, y->att_out, BT, rng, &m->quant_failed);
        add(y->res1, y->att_out, x, (size_t)BT * C);
        qn_layernorm_forward(y->h1, y->mean1, y->rstd1, y->res1, y->ln1_w, y->ln1_b, BT, C, c->ln_eps);
        /* (BT,I), and GELU of it fused into the product */
        qn_linear_forward_gelu(&y->lin[QN_BERT_LIN_INTER], y->h1, y->inter, y->gelu, BT, rng, &m->quant_failed);
        qn_linear_forward(&y->lin[QN_BERT_LIN_OUT], y->gelu, y->ffn_out, BT, rng, &m->quant_failed); /* (BT,C) */
        add(y->res2, y->ffn_out, y->h1, (size_t)BT * C);
        qn_layernorm_forward(y->out, y->mean2, y->rstd2, y->res2, y->ln2_w, y->ln2_b, BT, C, c->ln_eps);
        x = y->out;
    }
    /* pooler on [CLS] (B,C), classifier (B,NL), softmax cross-entropy */
    for (int b = 0; b < B; b++) memcpy(m->cls + (size_t)b * C, x + (size_t)b * T * C, (size_t)C * sizeof(float));
    qn_linear_forward(&m->pooler, m->cls, m->pooled_pre, B, rng, &m->quant_failed);
    qn_tanh_forward(m->pooled, m->pooled_pre, (size_t)B * C);
    qn_linear_forward(&m->classifier, m->pooled, m->logits, B, rng, &m->quant_failed);
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = m->logits + (size_t)b * NL;
        float *pr = m->probs + (size_t)b * NL, mx = z[0], sum = 0.0f;
        for (int k = 1; k < NL; k++) mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < NL; k++) sum += (pr[k] = expf(z[k] - mx));
        for (int k = 0; k < NL; k++) pr[k] /= sum;
        if (labels) loss -= log((double)pr[labels[b]]);
    }
    return labels ? (float)(loss / B) : 0.0f;
}

void qn_bert_backward(qn_bert *m, const int32_t *ids, const int32_t *labels, int B) {
    const qn_bert_config *c = &m->cfg;
    const int T = m->T, C = c->hidden, NH = c->heads, NL = c->num_labels, BT = B * T;
    const size_t nC = (size_t)BT * C;
    memset(m->grads, 0, m->nparams * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int k = 0; k < NL; k++)
            m->dlogits[(size_t)b * NL + k] = (m->probs[(size_t)b * NL + k] - (k == labels[b] ? 1.0f : 0.0f)) / (float)B;
    qn_linear_backward(&m->classifier, m->dlogits, m->dpooled, B, 0);       /* -> dpooled (B,C) */
    memset(m->dcls, 0, (size_t)B * C * sizeof(float));
    qn_tanh_backward(m->dcls, m->pooled, m->dpooled, (size_t)B * C);      /* -> d pooled_pre */
    qn_linear_backward(&m->pooler, m->dcls, m->dpooled, B, 0);            /* -> d cls (B,C) */
    /* Three (BT,C) gradient buffers take turns: dx, the gradient at the layer's output; da and db,
     * at its two LayerNorms' inputs. A residual's gradient is the LayerNorm's input gradient itself,
     * the branch's Linear adding into it: the same sums as a copy of it added into, without the
     * copy. The _write backwards store their result, so no buffer is zeroed first. */
    float *dx = m->dx, *da = m->dres, *db = m->dh;
    memset(dx, 0, nC * sizeof(float));
    for (int b = 0; b < B; b++) memcpy(dx + (size_t)b * T * C, m->dpooled + (size_t)b * C, (size_t)C * sizeof(float));
    for (int l = c->layers - 1; l >= 0; l--) {
        qn_bert_layer *y = &m->layer[l];
        /* out = LN2(ffn_out + h1) */
        qn_layernorm_backward_write(da, y->dln2_w, y->dln2_b, dx, y->res2, y->ln2_w, y->mean2, y->rstd2, BT, C);
        /* -> d inter (BT,I): through GELU, fused into the product */
        qn_linear_backward_gelu(&y->lin[QN_BERT_LIN_OUT], da, m->dinter, y->inter, BT);
        qn_linear_backward(&y->lin[QN_BERT_LIN_INTER], m->dinter, da, BT, 1); /* da: d h1 = residual + FFN */
        /* h1 = LN1(att_out + x) */
        qn_layernorm_backward_write(db, y->dln1_w, y->dln1_b, da, y->res1, y->ln1_w, y->mean1, y->rstd1, BT, C);
        qn_linear_backward(&y->lin[QN_BERT_LIN_ATT_OUT], db, m->dctx, BT, 0);
        qn_attention_backward_write(m->dq, m->dk, m->dv, m->dctx, y->att, y->q, y->k, y->v, B, T, C, NH);
        qn_linear_backward(&y->lin[QN_BERT_LIN_Q], m->dq, db, BT, 1); /* db: d x = residual + Q, K, V */
        qn_linear_backward(&y->lin[QN_BERT_LIN_K], m->dk, db, BT, 1);
        qn_linear_backward(&y->lin[QN_BERT_LIN_V], m->dv, db, BT, 1);
        float *free_buf = dx;
        dx = db, db = free_buf; /* the layer below's output gradient */
    }
    /* embeddings: LayerNorm, then the three tables */
    qn_layernorm_backward_write(m->demb, m->demb_ln_w, m->demb_ln_b, dx, m->emb, m->emb_ln_w, m->emb_mean, m->emb_rstd, BT, C);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = m->demb + ((size_t)b * T + t) * C;
            float *dw = m->dword + (size_t)ids[(size_t)b * T + t] * C, *dp = m->dpos + (size_t)t * C;
            for (int i = 0; i < C; i++) dw[i] += d[i], dp[i] += d[i], m->dtype[i] += d[i];
        }
}
