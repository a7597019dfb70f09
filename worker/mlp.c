/* mlp.c: forward and backward of the MLP classifier, side by side, with MASE Linear semantics:
 * y = Q(x) Q(W)^T + Q(b), straight-through gradients (dX = dY Q(W), dW = dY^T Q(x), db = sum dY),
 * activation pruning of each Linear input (mask first, then quantize), weight masks kept through
 * fine-tuning. */
#include "mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- set-up */

size_t qn_mlp_param_count(int V, int E, int H, int C) {
    return (size_t)V * E + (size_t)H * E + (size_t)H + (size_t)C * H + (size_t)C;
}

static void *xcalloc(size_t n, size_t size, int *fail) {
    void *p = calloc(n ? n : 1, size);
    if (!p) *fail = 1;
    return p;
}

static void linear_views(qn_linear *l, const char *name, int in, int out, float *W, float *dW, int B, int *fail) {
    if (qn_linear_init(l, name, in, out, W, dW, B) != 0) *fail = 1;
}

qn_mlp *qn_mlp_new(int V, int E, int H, int C, int max_batch, int T, uint64_t seed) {
    qn_mlp *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    int fail = 0;
    m->V = V, m->E = E, m->H = H, m->C = C, m->max_batch = max_batch, m->T = T;
    m->nparams = qn_mlp_param_count(V, E, H, C);
    m->params = xcalloc(m->nparams, sizeof(float), &fail);
    m->grads = xcalloc(m->nparams, sizeof(float), &fail);
    m->m = xcalloc(m->nparams, sizeof(float), &fail);
    m->v = xcalloc(m->nparams, sizeof(float), &fail);
    if (fail) {
        qn_mlp_free(m);
        return NULL;
    }
    /* Layout: emb (V,E) | fc1 W (H,E) b (H) | fc2 W (C,H) b (C) */
    m->emb = m->params;
    m->demb = m->grads;
    size_t off1 = (size_t)V * E, off2 = off1 + (size_t)H * E + H;
    linear_views(&m->layers[0], "fc1", E, H, m->params + off1, m->grads + off1, max_batch, &fail);
    linear_views(&m->layers[1], "fc2", H, C, m->params + off2, m->grads + off2, max_batch, &fail);
    int B = max_batch;
    m->pooled = xcalloc((size_t)B * E, sizeof(float), &fail);
    m->h1 = xcalloc((size_t)B * H, sizeof(float), &fail);
    m->r1 = xcalloc((size_t)B * H, sizeof(float), &fail);
    m->logits = xcalloc((size_t)B * C, sizeof(float), &fail);
    m->probs = xcalloc((size_t)B * C, sizeof(float), &fail);
    m->dlogits = xcalloc((size_t)B * C, sizeof(float), &fail);
    m->dr1 = xcalloc((size_t)B * H, sizeof(float), &fail);
    m->dpooled = xcalloc((size_t)B * E, sizeof(float), &fail);
    if (fail) {
        qn_mlp_free(m);
        return NULL;
    }
    /* PyTorch defaults: nn.Embedding N(0,1); nn.Linear weight and bias U(-1/sqrt(in), 1/sqrt(in)). */
    qn_rng rng;
    qn_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)V * E; i++) m->emb[i] = qn_rng_normal(&rng);
    for (int k = 0; k < QN_MLP_LAYERS; k++) {
        qn_linear *l = &m->layers[k];
        float bound = 1.0f / sqrtf((float)l->in);
        for (size_t i = 0; i < (size_t)l->out * l->in; i++) l->W[i] = (2.0f * qn_rng_uniform(&rng) - 1.0f) * bound;
        for (int i = 0; i < l->out; i++) l->b[i] = (2.0f * qn_rng_uniform(&rng) - 1.0f) * bound;
    }
    return m;
}

void qn_mlp_free(qn_mlp *m) {
    if (!m) return;
    for (int k = 0; k < QN_MLP_LAYERS; k++) {
        qn_linear_free(&m->layers[k]);
    }
    free(m->params), free(m->grads), free(m->m), free(m->v);
    free(m->pooled), free(m->h1), free(m->r1), free(m->logits), free(m->probs);
    free(m->dlogits), free(m->dr1), free(m->dpooled);
    free(m);
}

int qn_mlp_set_quant(qn_mlp *m, const qn_quant_cfg *q, char *err, size_t errlen) {
    for (int k = 0; k < QN_MLP_LAYERS; k++)
        if (qn_linear_set_quant(&m->layers[k], q, err, errlen) != 0) return -1;
    return 0;
}

/* ---------------------------------------------------------------- the model */

float qn_mlp_forward(qn_mlp *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                     qn_rng *rng) {
    const int E = m->E, H = m->H, C = m->C, T = m->T;
    /* mean of the token embeddings: ids (B,T) -> pooled (B,E) */
    for (int b = 0; b < B; b++) {
        float *out = m->pooled + (size_t)b * E;
        memset(out, 0, (size_t)E * sizeof(float));
        int len = lengths[b] > 0 ? lengths[b] : 1;
        for (int t = 0; t < lengths[b]; t++) {
            const float *e = m->emb + (size_t)ids[(size_t)b * T + t] * E;
            for (int i = 0; i < E; i++) out[i] += e[i];
        }
        float inv = 1.0f / (float)len;
        for (int i = 0; i < E; i++) out[i] *= inv;
    }
    qn_linear_forward(&m->layers[0], m->pooled, m->h1, B, rng, &m->quant_failed); /* (B,E) -> (B,H) */
    for (size_t i = 0; i < (size_t)B * H; i++) m->r1[i] = m->h1[i] > 0.0f ? m->h1[i] : 0.0f;
    qn_linear_forward(&m->layers[1], m->r1, m->logits, B, rng, &m->quant_failed); /* (B,H) -> (B,C) */
    /* softmax and cross-entropy (B,C) */
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = m->logits + (size_t)b * C;
        float *p = m->probs + (size_t)b * C;
        float mx = z[0];
        for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
        float sum = 0.0f;
        for (int c = 0; c < C; c++) sum += (p[c] = expf(z[c] - mx));
        for (int c = 0; c < C; c++) p[c] /= sum;
        if (labels) loss -= log((double)p[labels[b]]);
    }
    return labels ? (float)(loss / B) : 0.0f;
}

void qn_mlp_backward(qn_mlp *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B) {
    const int E = m->E, H = m->H, C = m->C, T = m->T;
    memset(m->grads, 0, m->nparams * sizeof(float));
    /* dlogits (B,C) = (p - onehot) / B */
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            m->dlogits[(size_t)b * C + c] = (m->probs[(size_t)b * C + c] - (c == labels[b] ? 1.0f : 0.0f)) / (float)B;
    qn_linear_backward(&m->layers[1], m->dlogits, m->dr1, B, 0); /* -> dr1 (B,H) */
    for (size_t i = 0; i < (size_t)B * H; i++)
        if (m->h1[i] <= 0.0f) m->dr1[i] = 0.0f;             /* ReLU */
    qn_linear_backward(&m->layers[0], m->dr1, m->dpooled, B, 0);  /* -> dpooled (B,E) */
    /* mean pooling: each token's embedding gets dpooled / len */
    for (int b = 0; b < B; b++) {
        const float *g = m->dpooled + (size_t)b * E;
        float inv = 1.0f / (float)(lengths[b] > 0 ? lengths[b] : 1);
        for (int t = 0; t < lengths[b]; t++) {
            float *d = m->demb + (size_t)ids[(size_t)b * T + t] * E;
            for (int i = 0; i < E; i++) d[i] += g[i] * inv;
        }
    }
}


