/* bert_cuda.c: bert.c's forward, backward and AdamW on one GPU (see bert_cuda.h), in bert.c's order
 * line for line so the two can be read side by side. */
#include "bert_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linear_cuda.h"

int qn_bert_cuda_supported(const qn_bert *host, char *err, size_t errlen) {
    qn_linear *lins[QN_BERT_LIN_PER_LAYER * 64 + 2];
    int n = qn_bert_linears((qn_bert *)host, lins, (int)(sizeof lins / sizeof lins[0]));
    if (n < host->cfg.layers * QN_BERT_LIN_PER_LAYER + 2) {
        snprintf(err, errlen, "%d encoder layers are not supported on CUDA yet", host->cfg.layers);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (qn_linear_cuda_supported(lins[i], err, errlen) != 0) return -1;
    return 0;
}

#ifndef QUENCH_HAVE_CUDA
#include "no_cuda.h"

qn_bert_cuda *qn_bert_cuda_new(qn_bert *host, int device, char *err, size_t errlen) {
    (void)host, (void)device;
    snprintf(err, errlen, QN_NO_CUDA_MESSAGE);
    return NULL;
}
void qn_bert_cuda_free(qn_bert_cuda *d) { (void)d; }

int qn_bert_cuda_upload(qn_bert_cuda *d, const uint8_t *adam_mask, const uint8_t *decay_mask, char *err, size_t errlen) {
    (void)adam_mask, (void)decay_mask;
    QN_NO_CUDA_FAIL(d);
}
int qn_bert_cuda_download(qn_bert_cuda *d, int what, char *err, size_t errlen) {
    (void)what;
    QN_NO_CUDA_FAIL(d);
}
int qn_bert_cuda_download_inputs(qn_bert_cuda *d, char *err, size_t errlen) { QN_NO_CUDA_FAIL(d); }
int qn_bert_cuda_forward(qn_bert_cuda *d, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                         qn_rng *rng, float *loss, char *err, size_t errlen) {
    (void)ids, (void)lengths, (void)labels, (void)B, (void)rng, (void)loss;
    QN_NO_CUDA_FAIL(d);
}
int qn_bert_cuda_forward_masked(qn_bert_cuda *d, const int32_t *ids, const int32_t *mask, const int32_t *labels,
                                int B, qn_rng *rng, float *loss, char *err, size_t errlen) {
    (void)ids, (void)mask, (void)labels, (void)B, (void)rng, (void)loss;
    QN_NO_CUDA_FAIL(d);
}
int qn_bert_cuda_backward(qn_bert_cuda *d, const int32_t *ids, const int32_t *labels, int B, char *err,
                          size_t errlen) {
    (void)ids, (void)labels, (void)B;
    QN_NO_CUDA_FAIL(d);
}
int qn_bert_cuda_adamw(qn_bert_cuda *d, float lr, float beta1, float beta2, float eps, float weight_decay, int by_groups,
                       int t, char *err, size_t errlen) {
    (void)lr, (void)beta1, (void)beta2, (void)eps, (void)weight_decay, (void)by_groups, (void)t;
    QN_NO_CUDA_FAIL(d);
}
int qn_bert_cuda_sync(qn_bert_cuda *d, char *err, size_t errlen) { QN_NO_CUDA_FAIL(d); }
float *qn_bert_cuda_grads(qn_bert_cuda *d) {
    (void)d;
    return NULL;
}

#else /* QUENCH_HAVE_CUDA */

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>

#include "qn_cuda_check.h"
#include "qn_nn_cuda.h"

typedef struct {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b, *dln1_w, *dln1_b, *dln2_w, *dln2_b; /* views */
    float *out, *q, *k, *v, *ctx, *att, *att_out, *res1, *h1, *mean1, *rstd1;
    float *inter, *gelu, *ffn_out, *res2, *mean2, *rstd2;
} dev_layer;

struct qn_bert_cuda {
    qn_bert *host;
    int device;
    cublasHandle_t blas;
    char *arena; /* every device buffer below lives in this one allocation */
    float *params, *grads, *m, *v;
    uint8_t *adam_mask, *decay_mask;
    int have_mask, have_decay_mask;
    float *word, *pos, *type, *emb_ln_w, *emb_ln_b, *dword, *dpos, *dtype, *demb_ln_w, *demb_ln_b; /* views */
    dev_layer *layer;
    qn_linear_cuda *lin; /* qn_bert_linears' order: 6 per layer, pooler, classifier */
    int nlin;
    float *emb, *emb_mean, *emb_rstd, *x0, *cls, *pooled_pre, *pooled, *logits, *probs;
    int32_t *ids, *mask, *labels, *order, *seg_start, *seg_id; /* (BT) x3, (B), (BT), (BT+1), (BT) */
    float *dx, *dres, *dh, *dctx, *dq, *dk, *dv, *demb, *dgelu, *dinter, *dcls, *dpooled, *dlogits;
    float *datt, *scratch; /* (B,NH,T,T), (BT, max(C,I)) */
    /* host scratch */
    int32_t *h_mask, *h_order, *h_seg_start, *h_seg_id;
    int64_t *h_keys;
};

#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((call) != 0) return -1;                                                                \
    } while (0)
#define CUDA_TRY(call) QN_CUDA_TRY(call, err, errlen)

/* Carve n bytes (256-aligned) from the arena at *off; with base NULL only count. */
static void *take(char *base, size_t *off, size_t n) {
    size_t o = *off;
    *off += (n + 255) & ~(size_t)255;
    return base ? base + o : NULL;
}

/* Place every device buffer in an arena at base (NULL: just measure). Returns the arena's size. */
static size_t layout(qn_bert_cuda *d, char *base) {
    const qn_bert *h = d->host;
    const qn_bert_config *c = &h->cfg;
    const size_t C = (size_t)c->hidden, I = (size_t)c->intermediate, B = (size_t)h->max_batch, T = (size_t)h->T;
    const size_t BT = B * T, NL = (size_t)c->num_labels, NP = h->nparams, wide = I > C ? I : C;
    size_t off = 0;
#define F(ptr, n) ((ptr) = take(base, &off, (size_t)(n) * sizeof(float)))
#define I32(ptr, n) ((ptr) = take(base, &off, (size_t)(n) * sizeof(int32_t)))
#define U8(ptr, n) ((ptr) = take(base, &off, (size_t)(n)))
    F(d->params, NP), F(d->grads, NP), F(d->m, NP), F(d->v, NP), U8(d->adam_mask, NP), U8(d->decay_mask, NP);
    for (int l = 0; l < c->layers; l++) {
        dev_layer *y = &d->layer[l];
        F(y->out, BT * C), F(y->q, BT * C), F(y->k, BT * C), F(y->v, BT * C), F(y->ctx, BT * C);
        F(y->att, B * (size_t)c->heads * T * T), F(y->att_out, BT * C), F(y->res1, BT * C), F(y->h1, BT * C);
        F(y->mean1, BT), F(y->rstd1, BT), F(y->inter, BT * I), F(y->gelu, BT * I), F(y->ffn_out, BT * C);
        F(y->res2, BT * C), F(y->mean2, BT), F(y->rstd2, BT);
    }
    for (int i = 0; i < d->nlin; i++) {
        qn_linear_cuda *l = &d->lin[i];
        size_t nx = (size_t)l->host->max_rows * l->host->in;
        F(l->x_q, nx), U8(l->x_mask, nx), F(l->Wq, (size_t)l->host->out * l->host->in), F(l->bq, l->host->out);
    }
    F(d->emb, BT * C), F(d->emb_mean, BT), F(d->emb_rstd, BT), F(d->x0, BT * C);
    F(d->cls, B * C), F(d->pooled_pre, B * C), F(d->pooled, B * C), F(d->logits, B * NL), F(d->probs, B * NL);
    I32(d->ids, BT), I32(d->mask, BT), I32(d->labels, B), I32(d->order, BT), I32(d->seg_start, BT + 1);
    I32(d->seg_id, BT);
    F(d->dx, BT * C), F(d->dres, BT * C), F(d->dh, BT * C), F(d->dctx, BT * C), F(d->dq, BT * C), F(d->dk, BT * C);
    F(d->dv, BT * C), F(d->demb, BT * C), F(d->dgelu, BT * I), F(d->dinter, BT * I);
    F(d->dcls, B * C), F(d->dpooled, B * C), F(d->dlogits, B * NL);
    F(d->datt, B * (size_t)c->heads * T * T), F(d->scratch, BT * wide);
#undef F
#undef I32
#undef U8
    return off;
}

void qn_bert_cuda_free(qn_bert_cuda *d) {
    if (!d) return;
    if (d->device >= 0) cudaSetDevice(d->device);
    if (d->blas) cublasDestroy(d->blas);
    cudaFree(d->arena);
    free(d->layer), free(d->lin);
    free(d->h_mask), free(d->h_order), free(d->h_seg_start), free(d->h_seg_id), free(d->h_keys);
    free(d);
}

qn_bert_cuda *qn_bert_cuda_new(qn_bert *host, int device, char *err, size_t errlen) {
    const qn_bert_config *c = &host->cfg;
    if (qn_bert_cuda_supported(host, err, errlen) != 0) return NULL;
    qn_bert_cuda *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory building the CUDA model");
        return NULL;
    }
    d->host = host;
    d->device = -1;
    const size_t BT = (size_t)host->max_batch * host->T;
    qn_linear *lins[QN_BERT_LIN_PER_LAYER * 64 + 2];
    d->nlin = qn_bert_linears(host, lins, (int)(sizeof lins / sizeof lins[0]));
    d->layer = calloc((size_t)c->layers ? (size_t)c->layers : 1, sizeof *d->layer);
    d->lin = calloc((size_t)d->nlin, sizeof *d->lin);
    d->h_mask = malloc((BT ? BT : 1) * sizeof(int32_t)), d->h_order = malloc((BT ? BT : 1) * sizeof(int32_t));
    d->h_seg_start = malloc((BT + 1) * sizeof(int32_t)), d->h_seg_id = malloc((BT ? BT : 1) * sizeof(int32_t));
    d->h_keys = malloc((BT ? BT : 1) * sizeof(int64_t));
    if (!d->layer || !d->lin || !d->h_mask || !d->h_order || !d->h_seg_start || !d->h_seg_id || !d->h_keys) {
        snprintf(err, errlen, "out of memory building the CUDA model");
        goto fail;
    }
    for (int i = 0; i < d->nlin; i++) d->lin[i].host = lins[i];
    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "cudaSetDevice(%d) failed: %s", device, cudaGetErrorString(e));
        goto fail;
    }
    d->device = device;
    size_t bytes = layout(d, NULL);
    if ((e = cudaMalloc((void **)&d->arena, bytes)) != cudaSuccess) {
        d->arena = NULL;
        snprintf(err, errlen, "cudaMalloc of %.1f MiB for the model failed: %s", (double)bytes / 1048576.0,
                 cudaGetErrorString(e));
        goto fail;
    }
    layout(d, d->arena);
    if ((e = cudaMemset(d->arena, 0, bytes)) != cudaSuccess) {
        snprintf(err, errlen, "cudaMemset of the model failed: %s", cudaGetErrorString(e));
        goto fail;
    }
    cublasStatus_t s = cublasCreate(&d->blas);
    /* FP32 products (no TF32): the results must track the CPU backend's */
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetMathMode(d->blas, CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "cuBLAS initialisation failed: %s", cublasGetStatusString(s));
        goto fail;
    }
    /* views at the host's offsets: the same layout, so buffers move as one block */
#define PV(hp) (d->params + ((hp) - host->params))
#define GV(hp) (d->grads + ((hp) - host->grads))
    d->word = PV(host->word), d->pos = PV(host->pos), d->type = PV(host->type);
    d->emb_ln_w = PV(host->emb_ln_w), d->emb_ln_b = PV(host->emb_ln_b);
    d->dword = GV(host->dword), d->dpos = GV(host->dpos), d->dtype = GV(host->dtype);
    d->demb_ln_w = GV(host->demb_ln_w), d->demb_ln_b = GV(host->demb_ln_b);
    for (int l = 0; l < c->layers; l++) {
        const qn_bert_layer *hy = &host->layer[l];
        dev_layer *y = &d->layer[l];
        y->ln1_w = PV(hy->ln1_w), y->ln1_b = PV(hy->ln1_b), y->ln2_w = PV(hy->ln2_w), y->ln2_b = PV(hy->ln2_b);
        y->dln1_w = GV(hy->dln1_w), y->dln1_b = GV(hy->dln1_b), y->dln2_w = GV(hy->dln2_w), y->dln2_b = GV(hy->dln2_b);
    }
    for (int i = 0; i < d->nlin; i++) {
        qn_linear_cuda *l = &d->lin[i];
        l->W = PV(l->host->W), l->b = PV(l->host->b), l->dW = GV(l->host->dW), l->db = GV(l->host->db);
    }
#undef PV
#undef GV
    return d;
fail:
    qn_bert_cuda_free(d);
    return NULL;
}

int qn_bert_cuda_upload(qn_bert_cuda *d, const uint8_t *adam_mask, const uint8_t *decay_mask, char *err, size_t errlen) {
    const size_t n = d->host->nparams;
    CUDA_TRY(cudaSetDevice(d->device));
    CUDA_TRY(cudaMemcpy(d->params, d->host->params, n * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(d->m, d->host->m, n * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(d->v, d->host->v, n * sizeof(float), cudaMemcpyHostToDevice));
    d->have_mask = adam_mask != NULL;
    if (adam_mask) CUDA_TRY(cudaMemcpy(d->adam_mask, adam_mask, n, cudaMemcpyHostToDevice));
    d->have_decay_mask = decay_mask != NULL;
    if (decay_mask) CUDA_TRY(cudaMemcpy(d->decay_mask, decay_mask, n, cudaMemcpyHostToDevice));
    return 0;
}

int qn_bert_cuda_download(qn_bert_cuda *d, int what, char *err, size_t errlen) {
    const size_t bytes = d->host->nparams * sizeof(float);
    CUDA_TRY(cudaSetDevice(d->device));
    if (what & QN_BERT_CUDA_PARAMS) CUDA_TRY(cudaMemcpy(d->host->params, d->params, bytes, cudaMemcpyDeviceToHost));
    if (what & QN_BERT_CUDA_GRADS) CUDA_TRY(cudaMemcpy(d->host->grads, d->grads, bytes, cudaMemcpyDeviceToHost));
    if (what & QN_BERT_CUDA_MOMENTS) {
        CUDA_TRY(cudaMemcpy(d->host->m, d->m, bytes, cudaMemcpyDeviceToHost));
        CUDA_TRY(cudaMemcpy(d->host->v, d->v, bytes, cudaMemcpyDeviceToHost));
    }
    return 0;
}

int qn_bert_cuda_download_inputs(qn_bert_cuda *d, char *err, size_t errlen) {
    CUDA_TRY(cudaSetDevice(d->device));
    for (int i = 0; i < d->nlin; i++) {
        qn_linear *h = d->lin[i].host;
        size_t n = (size_t)h->last_rows * h->in;
        if (n) CUDA_TRY(cudaMemcpy(h->x_q, d->lin[i].x_q, n * sizeof(float), cudaMemcpyDeviceToHost));
    }
    return 0;
}

int qn_bert_cuda_sync(qn_bert_cuda *d, char *err, size_t errlen) {
    CUDA_TRY(cudaSetDevice(d->device));
    CUDA_TRY(cudaDeviceSynchronize());
    return 0;
}

float *qn_bert_cuda_grads(qn_bert_cuda *d) { return d->grads; }

/* ---------------------------------------------------------------- forward */

int qn_bert_cuda_forward(qn_bert_cuda *d, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                         qn_rng *rng, float *loss, char *err, size_t errlen) {
    const int T = d->host->T;
    if (B > d->host->max_batch) {
        snprintf(err, errlen, "batch of %d, room for %d", B, d->host->max_batch);
        return -1;
    }
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) d->h_mask[(size_t)b * T + t] = t < lengths[b];
    return qn_bert_cuda_forward_masked(d, ids, d->h_mask, labels, B, rng, loss, err, errlen);
}

int qn_bert_cuda_forward_masked(qn_bert_cuda *d, const int32_t *ids, const int32_t *mask, const int32_t *labels,
                                int B, qn_rng *rng, float *loss, char *err, size_t errlen) {
    qn_bert *h = d->host;
    const qn_bert_config *c = &h->cfg;
    const int T = h->T, C = c->hidden, I = c->intermediate, NH = c->heads, NL = c->num_labels, BT = B * T;
    const int L6 = c->layers * QN_BERT_LIN_PER_LAYER;
    int *qf = &h->quant_failed;
    cublasHandle_t blas = d->blas;
    *loss = 0.0f;
    if (B > h->max_batch) {
        snprintf(err, errlen, "batch of %d, room for %d", B, h->max_batch);
        return -1;
    }
    if (B <= 0) return 0;
    CUDA_TRY(cudaSetDevice(d->device));
    CUDA_TRY(cudaMemcpy(d->ids, ids, (size_t)BT * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(d->mask, mask, (size_t)BT * sizeof(int32_t), cudaMemcpyHostToDevice));
    /* embeddings: (word + token type 0) + position, then LayerNorm (BT,C) */
    TRY(qn_cuda_embedding_forward(d->emb, d->ids, d->word, d->pos, d->type, B, T, C, err, errlen));
    TRY(qn_cuda_layernorm_forward(d->x0, d->emb_mean, d->emb_rstd, d->emb, d->emb_ln_w, d->emb_ln_b, BT, C, c->ln_eps,
                                  err, errlen));
    const float *x = d->x0;
    for (int l = 0; l < c->layers; l++) {
        dev_layer *y = &d->layer[l];
        qn_linear_cuda *lin = &d->lin[l * QN_BERT_LIN_PER_LAYER];
        TRY(qn_linear_cuda_forward(&lin[QN_BERT_LIN_Q], blas, x, y->q, BT, rng, qf, err, errlen));
        TRY(qn_linear_cuda_forward(&lin[QN_BERT_LIN_K], blas, x, y->k, BT, rng, qf, err, errlen));
        TRY(qn_linear_cuda_forward(&lin[QN_BERT_LIN_V], blas, x, y->v, BT, rng, qf, err, errlen));
        TRY(qn_cuda_attention_forward(blas, y->ctx, y->att, y->q, y->k, y->v, d->mask, B, T, C, NH, err, errlen));
        TRY(qn_linear_cuda_forward(&lin[QN_BERT_LIN_ATT_OUT], blas, y->ctx, y->att_out, BT, rng, qf, err, errlen));
        TRY(qn_cuda_add(y->res1, y->att_out, x, (size_t)BT * C, err, errlen));
        TRY(qn_cuda_layernorm_forward(y->h1, y->mean1, y->rstd1, y->res1, y->ln1_w, y->ln1_b, BT, C, c->ln_eps, err,
                                      errlen));
        TRY(qn_linear_cuda_forward(&lin[QN_BERT_LIN_INTER], blas, y->h1, y->inter, BT, rng, qf, err, errlen));
        TRY(qn_cuda_gelu_forward(y->gelu, y->inter, (size_t)BT * I, err, errlen));
        TRY(qn_linear_cuda_forward(&lin[QN_BERT_LIN_OUT], blas, y->gelu, y->ffn_out, BT, rng, qf, err, errlen));
        TRY(qn_cuda_add(y->res2, y->ffn_out, y->h1, (size_t)BT * C, err, errlen));
        TRY(qn_cuda_layernorm_forward(y->out, y->mean2, y->rstd2, y->res2, y->ln2_w, y->ln2_b, BT, C, c->ln_eps, err,
                                      errlen));
        x = y->out;
    }
    /* pooler on [CLS] (B,C), classifier (B,NL), softmax cross-entropy */
    CUDA_TRY(cudaMemcpy2D(d->cls, (size_t)C * sizeof(float), x, (size_t)T * C * sizeof(float), (size_t)C * sizeof(float),
                          (size_t)B, cudaMemcpyDeviceToDevice));
    TRY(qn_linear_cuda_forward(&d->lin[L6], blas, d->cls, d->pooled_pre, B, rng, qf, err, errlen));
    TRY(qn_cuda_tanh_forward(d->pooled, d->pooled_pre, (size_t)B * C, err, errlen));
    TRY(qn_linear_cuda_forward(&d->lin[L6 + 1], blas, d->pooled, d->logits, B, rng, qf, err, errlen));
    TRY(qn_cuda_softmax_forward(d->probs, d->logits, B, NL, err, errlen));
    CUDA_TRY(cudaMemcpy(h->logits, d->logits, (size_t)B * NL * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(h->probs, d->probs, (size_t)B * NL * sizeof(float), cudaMemcpyDeviceToHost));
    if (labels) { /* the mean loss on the host, in double, as bert.c */
        double sum = 0.0;
        for (int b = 0; b < B; b++) sum -= log((double)h->probs[(size_t)b * NL + labels[b]]);
        *loss = (float)(sum / B);
    }
    return 0;
}

/* ---------------------------------------------------------------- backward */

static int cmp_key(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The rows of each token id, in ascending row order: the word-embedding gradient sums them in the
 * CPU's order without atomics (see qn_cuda_embedding_backward). Returns the number of ids. */
static int group_ids(qn_bert_cuda *d, const int32_t *ids, int BT) {
    for (int n = 0; n < BT; n++) d->h_keys[n] = (int64_t)ids[n] * BT + n; /* id major, row minor */
    qsort(d->h_keys, (size_t)BT, sizeof *d->h_keys, cmp_key);
    int nseg = 0;
    for (int k = 0; k < BT; k++) {
        int32_t id = (int32_t)(d->h_keys[k] / BT), row = (int32_t)(d->h_keys[k] % BT);
        if (k == 0 || id != d->h_seg_id[nseg - 1]) d->h_seg_start[nseg] = k, d->h_seg_id[nseg++] = id;
        d->h_order[k] = row;
    }
    d->h_seg_start[nseg] = BT;
    return nseg;
}

int qn_bert_cuda_backward(qn_bert_cuda *d, const int32_t *ids, const int32_t *labels, int B, char *err,
                          size_t errlen) {
    const qn_bert *h = d->host;
    const qn_bert_config *c = &h->cfg;
    const int T = h->T, C = c->hidden, I = c->intermediate, NH = c->heads, NL = c->num_labels, BT = B * T;
    const int L6 = c->layers * QN_BERT_LIN_PER_LAYER;
    const size_t nC = (size_t)BT * C * sizeof(float);
    cublasHandle_t blas = d->blas;
    if (B > h->max_batch) {
        snprintf(err, errlen, "batch of %d, room for %d", B, h->max_batch);
        return -1;
    }
    CUDA_TRY(cudaSetDevice(d->device));
    CUDA_TRY(cudaMemset(d->grads, 0, h->nparams * sizeof(float)));
    if (B <= 0) return 0;
    CUDA_TRY(cudaMemcpy(d->labels, labels, (size_t)B * sizeof(int32_t), cudaMemcpyHostToDevice));
    TRY(qn_cuda_crossentropy_backward(d->dlogits, d->probs, d->labels, B, NL, err, errlen));
    TRY(qn_linear_cuda_backward(&d->lin[L6 + 1], blas, d->dlogits, d->dpooled, B, 0, d->scratch, err, errlen));
    CUDA_TRY(cudaMemset(d->dcls, 0, (size_t)B * C * sizeof(float)));
    TRY(qn_cuda_tanh_backward(d->dcls, d->pooled, d->dpooled, (size_t)B * C, err, errlen)); /* -> d pooled_pre */
    TRY(qn_linear_cuda_backward(&d->lin[L6], blas, d->dcls, d->dpooled, B, 0, d->scratch, err, errlen)); /* d cls */
    CUDA_TRY(cudaMemset(d->dx, 0, nC));
    CUDA_TRY(cudaMemcpy2D(d->dx, (size_t)T * C * sizeof(float), d->dpooled, (size_t)C * sizeof(float),
                          (size_t)C * sizeof(float), (size_t)B, cudaMemcpyDeviceToDevice));
    for (int l = c->layers - 1; l >= 0; l--) {
        dev_layer *y = &d->layer[l];
        qn_linear_cuda *lin = &d->lin[l * QN_BERT_LIN_PER_LAYER];
        /* out = LN2(ffn_out + h1) */
        CUDA_TRY(cudaMemset(d->dres, 0, nC));
        TRY(qn_cuda_layernorm_backward(d->dres, y->dln2_w, y->dln2_b, d->dx, y->res2, y->ln2_w, y->mean2, y->rstd2, BT,
                                       C, err, errlen));
        CUDA_TRY(cudaMemcpy(d->dh, d->dres, nC, cudaMemcpyDeviceToDevice)); /* the residual into h1 */
        TRY(qn_linear_cuda_backward(&lin[QN_BERT_LIN_OUT], blas, d->dres, d->dgelu, BT, 0, d->scratch, err, errlen));
        CUDA_TRY(cudaMemset(d->dinter, 0, (size_t)BT * I * sizeof(float)));
        TRY(qn_cuda_gelu_backward(d->dinter, y->inter, d->dgelu, (size_t)BT * I, err, errlen));
        TRY(qn_linear_cuda_backward(&lin[QN_BERT_LIN_INTER], blas, d->dinter, d->dh, BT, 1, d->scratch, err, errlen));
        /* h1 = LN1(att_out + x) */
        CUDA_TRY(cudaMemset(d->dres, 0, nC));
        TRY(qn_cuda_layernorm_backward(d->dres, y->dln1_w, y->dln1_b, d->dh, y->res1, y->ln1_w, y->mean1, y->rstd1, BT,
                                       C, err, errlen));
        CUDA_TRY(cudaMemcpy(d->dx, d->dres, nC, cudaMemcpyDeviceToDevice)); /* the residual into x */
        TRY(qn_linear_cuda_backward(&lin[QN_BERT_LIN_ATT_OUT], blas, d->dres, d->dctx, BT, 0, d->scratch, err, errlen));
        CUDA_TRY(cudaMemset(d->dq, 0, nC));
        CUDA_TRY(cudaMemset(d->dk, 0, nC));
        CUDA_TRY(cudaMemset(d->dv, 0, nC));
        TRY(qn_cuda_attention_backward(blas, d->dq, d->dk, d->dv, d->datt, d->dctx, y->att, y->q, y->k, y->v, B, T, C,
                                       NH, err, errlen));
        TRY(qn_linear_cuda_backward(&lin[QN_BERT_LIN_Q], blas, d->dq, d->dx, BT, 1, d->scratch, err, errlen));
        TRY(qn_linear_cuda_backward(&lin[QN_BERT_LIN_K], blas, d->dk, d->dx, BT, 1, d->scratch, err, errlen));
        TRY(qn_linear_cuda_backward(&lin[QN_BERT_LIN_V], blas, d->dv, d->dx, BT, 1, d->scratch, err, errlen));
    }
    /* embeddings: LayerNorm, then the three tables */
    CUDA_TRY(cudaMemset(d->demb, 0, nC));
    TRY(qn_cuda_layernorm_backward(d->demb, d->demb_ln_w, d->demb_ln_b, d->dx, d->emb, d->emb_ln_w, d->emb_mean,
                                   d->emb_rstd, BT, C, err, errlen));
    int nseg = group_ids(d, ids, BT);
    CUDA_TRY(cudaMemcpy(d->order, d->h_order, (size_t)BT * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(d->seg_start, d->h_seg_start, (size_t)(nseg + 1) * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(d->seg_id, d->h_seg_id, (size_t)nseg * sizeof(int32_t), cudaMemcpyHostToDevice));
    TRY(qn_cuda_embedding_backward(d->dword, d->dpos, d->dtype, d->demb, d->order, d->seg_start, d->seg_id, nseg, B, T,
                                   C, err, errlen));
    return 0;
}

/* ---------------------------------------------------------------- AdamW */

int qn_bert_cuda_adamw(qn_bert_cuda *d, float lr, float beta1, float beta2, float eps, float weight_decay, int by_groups,
                       int t, char *err, size_t errlen) {
    CUDA_TRY(cudaSetDevice(d->device));
    return qn_cuda_adamw_step_groups(d->params, d->grads, d->m, d->v, d->have_mask ? d->adam_mask : NULL,
                                     by_groups && d->have_decay_mask ? d->decay_mask : NULL, d->host->nparams, lr, beta1,
                                     beta2, eps, weight_decay, t, err, errlen);
}

#endif /* QUENCH_HAVE_CUDA */
