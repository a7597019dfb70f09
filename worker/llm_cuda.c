/* llm_cuda.c: llm_forward.c and llm_generate.c on one GPU (see llm_cuda.h), in their order line for
 * line so the two can be read side by side. */
#include "llm_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef QUENCH_HAVE_CUDA
#include "no_cuda.h"

qn_llm_cuda *qn_llm_cuda_new(const qn_llm *host, int device, char *err, size_t errlen) {
    (void)host, (void)device;
    snprintf(err, errlen, QN_NO_CUDA_MESSAGE);
    return NULL;
}
void qn_llm_cuda_free(qn_llm_cuda *d) { (void)d; }
int qn_llm_cuda_reset(qn_llm_cuda *d, int B, int Tmax, char *err, size_t errlen) {
    (void)B, (void)Tmax;
    QN_NO_CUDA_FAIL(d);
}
int qn_llm_cuda_set_padding(qn_llm_cuda *d, const int32_t *pad, char *err, size_t errlen) {
    (void)pad;
    QN_NO_CUDA_FAIL(d);
}
int qn_llm_cuda_forward(qn_llm_cuda *d, const int32_t *ids, int n, char *err, size_t errlen) {
    (void)ids, (void)n;
    QN_NO_CUDA_FAIL(d);
}
int qn_llm_cuda_logits(qn_llm_cuda *d, float *logits, char *err, size_t errlen) {
    (void)logits;
    QN_NO_CUDA_FAIL(d);
}
int qn_llm_cuda_next_tokens(qn_llm_cuda *d, int32_t *tok, float *logits, char *err, size_t errlen) {
    (void)tok, (void)logits;
    QN_NO_CUDA_FAIL(d);
}
int qn_llm_cuda_generate_greedy(qn_llm_cuda *d, const int32_t *prompts, int B, int T, int S, qn_llm_gen *gen,
                                int32_t *new_tokens, float *prompt_logits, float *step_logits, char *err, size_t errlen) {
    (void)prompts, (void)B, (void)T, (void)S, (void)gen, (void)new_tokens, (void)prompt_logits, (void)step_logits;
    QN_NO_CUDA_FAIL(d);
}
int qn_llm_cuda_perplexity(qn_llm_cuda *d, const int32_t *tokens, int n, int context, int stride, double *ppl,
                           long *scored, char *err, size_t errlen) {
    (void)tokens, (void)n, (void)context, (void)stride, (void)ppl, (void)scored;
    QN_NO_CUDA_FAIL(d);
}
void qn_llm_cuda_times(const qn_llm_cuda *d, double *prefill_s, double *decode_s) {
    (void)d;
    *prefill_s = *decode_s = 0.0;
}
void qn_llm_cuda_memory_of(const qn_llm_cuda *d, qn_llm_cuda_memory *out) {
    (void)d;
    *out = (qn_llm_cuda_memory){0, 0, 0};
}
void qn_llm_cuda_reset_peak(qn_llm_cuda *d) { (void)d; }
double qn_llm_cuda_device_used(const qn_llm_cuda *d) {
    (void)d;
    return -1.0;
}
int qn_llm_cuda_copy_bandwidth(int device, size_t bytes, double *bytes_per_s, char *err, size_t errlen) {
    (void)device, (void)bytes, (void)bytes_per_s;
    snprintf(err, errlen, QN_NO_CUDA_MESSAGE);
    return -1;
}

#else /* QUENCH_HAVE_CUDA */

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <float.h>
#include <math.h>

#include "qn_cuda_check.h"
#include "qn_llm_cuda.h"
#include "qn_nn_cuda.h"

/* Prefill widens a packed weight to float32 tiles of at most this many elements (64 MiB). */
#define TILE_ELEMS ((size_t)16 << 20)
/* Logit rows computed at a time by qn_llm_cuda_logits: at most this many floats (256 MiB). */
#define LOGIT_ELEMS ((size_t)64 << 20)

typedef struct {
    void *p;
    size_t bytes;
} dev_alloc;

typedef struct {
    const float *norm1_w, *norm1_b, *norm2_w;
    qn_cuda_llm_weight qkv[3], o, mlp_in[2], down;
    int nqkv, nmlp_in;
} dev_layer;

struct qn_llm_cuda {
    const qn_llm *host;
    int device;
    cublasHandle_t blas;
    dev_alloc *allocs; /* every device buffer, for the accounting and the final free */
    int nallocs, capallocs;
    double now, peak, weights;
    const float *embed, *final_w, *final_b, *inv_freq;
    dev_layer *layers;
    qn_cuda_llm_weight lm_head;
    int max_in, max_len;
    /* the cache (L, B, NKV, Tmax, HD) each */
    int B, Tmax, pos, last_n;
    float *kcache, *vcache;
    size_t cache_elems;
    int *pad, pad_cap, pad_on; /* (B) leading pad slots per sequence (qn_llm_cuda_set_padding) */
    int32_t pad_min;           /* the fewest of them: longrope's sequence length (qn_llm_rope_long) */
    /* activations for `rows` rows */
    size_t rows;
    float *x, *h, *tmp, *qkv, *att, *mlp, *mlp_act, *mean, *rstd, *hidden, *stat;
    int32_t *ids, *tok;
    int8_t *xq;
    uint8_t *flags;
    int *cols, *nout;
    float *tile, *logits;
    size_t tile_elems, logit_rows;
    double prefill_s, decode_s;
};

#define TRY(call)                                                                                  \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_) return rc_;                                                                       \
    } while (0)
#define CUDA_TRY(call) QN_CUDA_TRY(call, err, errlen)

/* ---- device memory, counted ---- */

static int dmalloc(qn_llm_cuda *d, void **p, size_t bytes, char *err, size_t errlen) {
    *p = NULL;
    if (bytes == 0) bytes = 1;
    if (d->nallocs == d->capallocs) {
        int cap = d->capallocs ? 2 * d->capallocs : 64;
        dev_alloc *a = realloc(d->allocs, (size_t)cap * sizeof *a);
        if (!a) {
            snprintf(err, errlen, "out of host memory");
            return -1;
        }
        d->allocs = a, d->capallocs = cap;
    }
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        *p = NULL;
        snprintf(err, errlen, "cudaMalloc of %zu MiB failed: %s (%.0f MiB held)", bytes >> 20, cudaGetErrorString(e),
                 d->now / 1048576.0);
        return -1;
    }
    d->allocs[d->nallocs++] = (dev_alloc){*p, bytes};
    d->now += (double)bytes;
    if (d->now > d->peak) d->peak = d->now;
    return 0;
}

static void dfree(qn_llm_cuda *d, void *p) {
    if (!p) return;
    for (int i = 0; i < d->nallocs; i++)
        if (d->allocs[i].p == p) {
            d->now -= (double)d->allocs[i].bytes;
            d->allocs[i] = d->allocs[--d->nallocs];
            break;
        }
    cudaFree(p);
}

static int upload(qn_llm_cuda *d, void **p, const void *src, size_t bytes, char *err, size_t errlen) {
    TRY(dmalloc(d, p, bytes, err, errlen));
    CUDA_TRY(cudaMemcpy(*p, src, bytes, cudaMemcpyHostToDevice));
    return 0;
}

#define UP(field, src, bytes)                                                                      \
    do {                                                                                           \
        void *p_;                                                                                  \
        TRY(upload(d, &p_, (src), (bytes), err, errlen));                                          \
        (field) = p_;                                                                              \
    } while (0)

/* rows x cols float32 on the device from a host source that widens rows [r0, r1) (a 16-bit embedding
 * or weight as stored), staged TILE_ELEMS at a time: the host never holds the whole float32 copy. */
typedef void (*widen_rows_fn)(const void *src, int r0, int r1, float *out);
static void embed_rows(const void *m, int r0, int r1, float *out) { qn_llm_embed_rows(m, r0, r1, out); }
static void linear_rows(const void *l, int r0, int r1, float *out) { qn_llm_linear_dequantize(l, r0, r1, out); }
static int upload_widened(qn_llm_cuda *d, void **p, widen_rows_fn rows_of, const void *src, int rows, int cols,
                          char *err, size_t errlen) {
    TRY(dmalloc(d, p, (size_t)rows * cols * sizeof(float), err, errlen));
    int step = (int)(TILE_ELEMS / (size_t)cols);
    if (step < 1) step = 1;
    if (step > rows) step = rows;
    float *stage = malloc((size_t)step * cols * sizeof(float));
    if (!stage) {
        snprintf(err, errlen, "out of host memory");
        return -1;
    }
    for (int r0 = 0; r0 < rows; r0 += step) {
        int r1 = r0 + step < rows ? r0 + step : rows;
        rows_of(src, r0, r1, stage);
        cudaError_t e = cudaMemcpy((float *)*p + (size_t)r0 * cols, stage, (size_t)(r1 - r0) * cols * sizeof(float),
                                   cudaMemcpyHostToDevice);
        if (e != cudaSuccess) {
            free(stage);
            snprintf(err, errlen, "cudaMemcpy: %s", cudaGetErrorString(e));
            return -1;
        }
    }
    free(stage);
    return 0;
}

/* One Linear layer in its packed layout (llm_quant.c's qn_llm_packed), byte for byte. */
static int upload_linear(qn_llm_cuda *d, const qn_llm_linear *l, qn_cuda_llm_weight *w, char *err, size_t errlen) {
    const size_t n = (size_t)l->out * (size_t)l->in;
    const qn_llm_packed *p = l->packed;
    const double before = d->now;
    *w = (qn_cuda_llm_weight){.out = l->out, .in = l->in, .format = (int)l->format};
    switch (l->format) {
    case QN_LLM_WEIGHT_F32:
        if (l->w == d->host->embed) w->w = d->embed; /* tied LM head: the embedding's copy */
        else UP(w->w, l->w, n * sizeof(float));
        break;
    case QN_LLM_WEIGHT_F16:
    case QN_LLM_WEIGHT_BF16:
        if (!d->host->precision[0]) { /* a 16-bit checkpoint never quantized: fp32, as qn_llm_reset makes it */
            w->format = QN_LLM_WEIGHT_F32;
            if (p->h == d->host->embed_view.data) {
                w->w = d->embed; /* tied LM head: the embedding's copy */
            } else {
                void *f;
                TRY(upload_widened(d, &f, linear_rows, l, l->out, l->in, err, errlen));
                w->w = f;
            }
            break;
        }
        UP(w->h, p->h, n * sizeof(uint16_t));
        break;
    case QN_LLM_WEIGHT_W8A16:
    case QN_LLM_WEIGHT_INT8:
        UP(w->q, p->q, n);
        UP(w->absmax, p->absmax, (size_t)l->out * sizeof(float));
        w->threshold = p->threshold;
        break;
    case QN_LLM_WEIGHT_4BIT: {
        const qn_4bit_tensor *t = &p->t;
        const size_t nb = (n + (size_t)t->blocksize - 1) / (size_t)t->blocksize;
        if (t->n != n) {
            snprintf(err, errlen, "a 4-bit weight holds %zu elements, its layer %zu", t->n, n);
            return -1;
        }
        UP(w->packed, t->packed, (n + 1) / 2);
        w->nf4 = t->type == QN_4BIT_NF4, w->blocksize = t->blocksize, w->double_quant = t->double_quant;
        while ((1 << w->block_shift) < t->blocksize) w->block_shift++;
        if ((1 << w->block_shift) != t->blocksize) {
            snprintf(err, errlen, "4-bit block size %d is not a power of two", t->blocksize);
            return -1;
        }
        if (t->double_quant) {
            UP(w->absmax_q, t->absmax_q, nb);
            UP(w->absmax2, t->absmax2, (nb + 255) / 256 * sizeof(float));
            w->offset = t->offset;
        } else {
            UP(w->absmax4, t->absmax, nb * sizeof(float));
        }
        break;
    }
    default: snprintf(err, errlen, "weight format %d has no CUDA path", (int)l->format); return -1;
    }
    if (l->bias) UP(w->bias, l->bias, (size_t)l->out * sizeof(float));
    d->weights += d->now - before;
    if (l->in > d->max_in) d->max_in = l->in;
    return 0;
}

void qn_llm_cuda_free(qn_llm_cuda *d) {
    if (!d) return;
    cudaSetDevice(d->device);
    if (d->blas) cublasDestroy(d->blas);
    for (int i = 0; i < d->nallocs; i++) cudaFree(d->allocs[i].p);
    free(d->allocs), free(d->layers), free(d);
}

static int build(qn_llm_cuda *d, char *err, size_t errlen) {
    const qn_llm *m = d->host;
    const qn_llm_config *c = &m->cfg;
    const size_t C = (size_t)c->hidden;
    CUDA_TRY(cudaSetDevice(d->device));
    if (cublasCreate(&d->blas) != CUBLAS_STATUS_SUCCESS) {
        d->blas = NULL;
        snprintf(err, errlen, "cublasCreate failed on GPU %d", d->device);
        return -1;
    }
    if (cublasSetMathMode(d->blas, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) { /* float32 products: no TF32 */
        snprintf(err, errlen, "cublasSetMathMode failed on GPU %d", d->device);
        return -1;
    }
    if (m->embed) {
        UP(d->embed, m->embed, (size_t)c->vocab_size * C * sizeof(float));
    } else { /* stored 16-bit: widened on the way (the device lookup reads float32) */
        void *e;
        TRY(upload_widened(d, &e, embed_rows, m, c->vocab_size, (int)C, err, errlen));
        d->embed = e;
    }
    d->weights += (double)c->vocab_size * C * sizeof(float);
    UP(d->final_w, m->final_w, C * sizeof(float));
    if (m->final_b) UP(d->final_b, m->final_b, C * sizeof(float));
    const int half = c->rotary_dim / 2;
    if (half > 0) UP(d->inv_freq, m->inv_freq, (size_t)2 * half * sizeof(float)); /* both halves; else no rotation */
    float *zeros = calloc(C, sizeof(float)); /* a LayerNorm without bias adds these */
    if (!zeros) {
        snprintf(err, errlen, "out of host memory");
        return -1;
    }
    int rc = 0;
    for (int l = 0; l < c->layers && !rc; l++) {
        const qn_llm_layer *y = &m->layers[l];
        dev_layer *g = &d->layers[l];
        void *p;
        rc = upload(d, &p, y->norm1_w, C * sizeof(float), err, errlen), g->norm1_w = p;
        if (!rc && (y->norm1_b || c->arch == QN_LLM_PHI2))
            rc = upload(d, &p, y->norm1_b ? y->norm1_b : zeros, C * sizeof(float), err, errlen), g->norm1_b = p;
        if (!rc && y->norm2_w) rc = upload(d, &p, y->norm2_w, C * sizeof(float), err, errlen), g->norm2_w = p;
        g->nqkv = y->nqkv, g->nmlp_in = y->nmlp_in;
        for (int k = 0; k < y->nqkv && !rc; k++) rc = upload_linear(d, &y->qkv[k], &g->qkv[k], err, errlen);
        if (!rc) rc = upload_linear(d, &y->o, &g->o, err, errlen);
        for (int k = 0; k < y->nmlp_in && !rc; k++) rc = upload_linear(d, &y->mlp_in[k], &g->mlp_in[k], err, errlen);
        if (!rc) rc = upload_linear(d, &y->down, &g->down, err, errlen);
    }
    if (!rc && c->arch == QN_LLM_PHI2 && !d->final_b) {
        void *p;
        rc = upload(d, &p, zeros, C * sizeof(float), err, errlen), d->final_b = p;
    }
    free(zeros);
    if (rc) return rc;
    TRY(upload_linear(d, &m->lm_head, &d->lm_head, err, errlen));
    d->max_len = qn_cuda_llm_attention_max_len(c->head_dim);
    return 0;
}

qn_llm_cuda *qn_llm_cuda_new(const qn_llm *host, int device, char *err, size_t errlen) {
    qn_llm_cuda *d = calloc(1, sizeof *d);
    if (d) d->layers = calloc((size_t)(host->cfg.layers > 0 ? host->cfg.layers : 1), sizeof *d->layers);
    if (!d || !d->layers) {
        free(d);
        snprintf(err, errlen, "out of host memory building the CUDA model");
        return NULL;
    }
    d->host = host, d->device = device;
    if (build(d, err, errlen)) {
        qn_llm_cuda_free(d);
        return NULL;
    }
    return d;
}

int qn_llm_cuda_reset(qn_llm_cuda *d, int B, int Tmax, char *err, size_t errlen) {
    const qn_llm_config *c = &d->host->cfg;
    if (qn_llm_check_batch(c, B, Tmax, err, errlen)) return 2;
    if (Tmax > d->max_len) {
        snprintf(err, errlen, "%d tokens per sequence: the CUDA attention holds a row of scores in shared memory, "
                              "at most %d tokens on this GPU", Tmax, d->max_len);
        return 2;
    }
    /* no sequences until the cache below exists: a failed reset must not leave forward writing
     * the old B/Tmax layout into a freed or smaller cache (an illegal address poisons the context) */
    d->B = 0, d->last_n = 0;
    CUDA_TRY(cudaSetDevice(d->device));
    const size_t per = (size_t)c->layers * B * c->kv_heads * Tmax * c->head_dim;
    if (per > d->cache_elems || !d->kcache) {
        dfree(d, d->kcache), dfree(d, d->vcache);
        d->kcache = d->vcache = NULL, d->cache_elems = 0;
        void *k, *v;
        TRY(dmalloc(d, &k, per * sizeof(float), err, errlen));
        d->kcache = k;
        TRY(dmalloc(d, &v, per * sizeof(float), err, errlen));
        d->vcache = v, d->cache_elems = per;
    }
    d->B = B, d->Tmax = Tmax, d->pos = 0, d->last_n = 0, d->pad_on = 0;
    return 0;
}

int qn_llm_cuda_set_padding(qn_llm_cuda *d, const int32_t *pad, char *err, size_t errlen) {
    d->pad_on = 0;
    if (!pad) return 0;
    if (d->B < 1 || d->pos > 0) {
        snprintf(err, errlen, "padding is set after qn_llm_cuda_reset, before the first forward");
        return 2;
    }
    for (int b = 0; b < d->B; b++)
        if (pad[b] < 0 || pad[b] >= d->Tmax) {
            snprintf(err, errlen, "sequence %d: %d pad tokens do not fit %d slots", b, (int)pad[b], d->Tmax);
            return 2;
        }
    CUDA_TRY(cudaSetDevice(d->device));
    if (d->B > d->pad_cap) {
        dfree(d, d->pad), d->pad = NULL, d->pad_cap = 0;
        void *p;
        TRY(dmalloc(d, &p, (size_t)d->B * sizeof(int), err, errlen));
        d->pad = p, d->pad_cap = d->B;
    }
    CUDA_TRY(cudaMemcpy(d->pad, pad, (size_t)d->B * sizeof(int), cudaMemcpyHostToDevice));
    d->pad_on = 1, d->pad_min = pad[0];
    for (int b = 1; b < d->B; b++) d->pad_min = pad[b] < d->pad_min ? pad[b] : d->pad_min;
    return 0;
}

/* Activations for M rows (grown on demand, as the CPU's scratch). */
static int ensure_rows(qn_llm_cuda *d, size_t M, char *err, size_t errlen) {
    if (M <= d->rows) return 0;
    const qn_llm_config *c = &d->host->cfg;
    const size_t C = (size_t)c->hidden, I = (size_t)c->intermediate, NHD = (size_t)c->heads * c->head_dim;
    const size_t QKV = (size_t)(c->heads + 2 * c->kv_heads) * c->head_dim, IN = (size_t)d->max_in, F = sizeof(float);
    d->rows = 0;
#define REALLOC(field, bytes)                                                                      \
    do {                                                                                           \
        void *p_;                                                                                  \
        dfree(d, (void *)(field)), (field) = NULL;                                                 \
        TRY(dmalloc(d, &p_, (bytes), err, errlen));                                                \
        (field) = p_;                                                                              \
    } while (0)
    REALLOC(d->x, M * C * F);
    REALLOC(d->h, M * C * F);
    REALLOC(d->tmp, M * C * F);
    REALLOC(d->hidden, M * C * F);
    REALLOC(d->qkv, M * QKV * F);
    REALLOC(d->att, M * NHD * F);
    REALLOC(d->mlp, M * 2 * I * F);
    REALLOC(d->mlp_act, M * I * F);
    REALLOC(d->mean, M * F);
    REALLOC(d->rstd, M * F);
    REALLOC(d->stat, M * F);
    REALLOC(d->ids, M * sizeof(int32_t));
    REALLOC(d->tok, M * sizeof(int32_t));
    REALLOC(d->xq, M * IN);
    REALLOC(d->flags, IN);
    REALLOC(d->cols, IN * sizeof(int));
    REALLOC(d->nout, sizeof(int));
#undef REALLOC
    d->rows = M;
    return 0;
}

/* A float buffer of at least `need` elements (tile, logits). */
static int ensure_buffer(qn_llm_cuda *d, float **buf, size_t *have, size_t need, char *err, size_t errlen) {
    if (need <= *have) return 0;
    dfree(d, *buf), *buf = NULL, *have = 0;
    void *p;
    TRY(dmalloc(d, &p, need * sizeof(float), err, errlen));
    *buf = p, *have = need;
    return 0;
}

/* qn_llm_linear_forward on the device: y (M, ldy) columns [0, out) of x (M, ldx). */
static int linear(qn_llm_cuda *d, const qn_cuda_llm_weight *w, float *y, int ldy, const float *x, int ldx, int M,
                  char *err, size_t errlen) {
    if (w->format == QN_CUDA_W_INT8) {
        TRY(qn_cuda_llm_int8_decompose(x, ldx, M, w->in, w->threshold, d->xq, d->stat, d->flags, d->cols, d->nout, err,
                                       errlen));
        return qn_cuda_llm_int8_matmul(w, d->xq, d->stat, x, ldx, M, d->cols, d->nout, y, ldy, err, errlen);
    }
    if (M <= QN_CUDA_LLM_GEMV_ROWS) return qn_cuda_llm_gemv(w, x, ldx, M, y, ldy, err, errlen); /* bias included */
    if (w->format == QN_CUDA_W_F32) {
        // y (M,out) = x (M,in) @ W^T, W (out,in)
        TRY(qn_cuda_sgemm(d->blas, 0, 1, M, w->out, w->in, 1.0f, x, ldx, w->w, w->in, 0.0f, y, ldy, err, errlen));
    } else {
        size_t rows = TILE_ELEMS / (size_t)w->in;
        if (rows < 1) rows = 1;
        if (rows > (size_t)w->out) rows = (size_t)w->out;
        TRY(ensure_buffer(d, &d->tile, &d->tile_elems, rows * (size_t)w->in, err, errlen));
        for (int j0 = 0; j0 < w->out; j0 += (int)rows) {
            const int n = w->out - j0 < (int)rows ? w->out - j0 : (int)rows;
            TRY(qn_cuda_llm_dequantize_rows(w, j0, j0 + n, d->tile, err, errlen));
            // y[:, j0:j0+n] (M,n) = x (M,in) @ tile^T, tile (n,in)
            TRY(qn_cuda_sgemm(d->blas, 0, 1, M, n, w->in, 1.0f, x, ldx, d->tile, w->in, 0.0f, y + j0, ldy, err, errlen));
        }
    }
    return qn_cuda_llm_bias_add(y, ldy, M, w->out, w->bias, err, errlen);
}

/* RMSNorm, or LayerNorm with bias (Phi-2). */
static int norm(qn_llm_cuda *d, float *out, const float *x, const float *w, const float *b, int M, char *err,
                size_t errlen) {
    const qn_llm_config *c = &d->host->cfg;
    if (c->arch == QN_LLM_PHI2)
        return qn_cuda_layernorm_forward(out, d->mean, d->rstd, x, w, b, M, c->hidden, c->norm_eps, err, errlen);
    return qn_cuda_llm_rmsnorm(out, x, w, M, c->hidden, c->norm_eps, err, errlen);
}

/* The MLP of h (M,C) into out (M,C). */
static int mlp(qn_llm_cuda *d, const dev_layer *y, const float *h, float *out, int M, char *err, size_t errlen) {
    const qn_llm_config *c = &d->host->cfg;
    const int C = c->hidden, I = c->intermediate;
    if (c->arch == QN_LLM_PHI2) {
        TRY(linear(d, &y->mlp_in[0], d->mlp_act, I, h, C, M, err, errlen)); // fc1 (M,I)
        TRY(qn_cuda_llm_gelu_tanh(d->mlp_act, (size_t)M * I, err, errlen));
    } else {
        for (int k = 0, col = 0; k < y->nmlp_in; col += y->mlp_in[k].out, k++) // gate | up (M,2I)
            TRY(linear(d, &y->mlp_in[k], d->mlp + col, 2 * I, h, C, M, err, errlen));
        TRY(qn_cuda_llm_swiglu(d->mlp_act, d->mlp, M, I, err, errlen)); // (M,I)
    }
    return linear(d, &y->down, out, C, d->mlp_act, I, M, err, errlen); // (M,C)
}

int qn_llm_cuda_forward(qn_llm_cuda *d, const int32_t *ids, int n, char *err, size_t errlen) {
    const qn_llm_config *c = &d->host->cfg;
    const int C = c->hidden, B = d->B, M = B * n, NH = c->heads, NKV = c->kv_heads, HD = c->head_dim;
    const int QKV = (NH + 2 * NKV) * HD;
    if (B < 1) {
        snprintf(err, errlen, "no sequences started (qn_llm_cuda_reset)");
        return 2;
    }
    if (qn_llm_check_step(c, d->pos, d->Tmax, ids, n, M, err, errlen)) return 2;
    d->last_n = 0; /* until this forward completes: ensure_rows may free the last one's hidden rows */
    CUDA_TRY(cudaSetDevice(d->device));
    TRY(ensure_rows(d, (size_t)M, err, errlen));
    CUDA_TRY(cudaMemcpy(d->ids, ids, (size_t)M * sizeof(int32_t), cudaMemcpyHostToDevice));
    float *x = d->x, *h = d->h, *tmp = d->tmp;
    TRY(qn_cuda_llm_embed(x, d->ids, d->embed, M, C, err, errlen)); // (M,C)
    const size_t layer_cache = (size_t)B * NKV * d->Tmax * HD;
    const int *pad = d->pad_on ? d->pad : NULL;
    const float *inv_freq =
        d->inv_freq + qn_llm_rope_long(c, d->pad_on ? &d->pad_min : NULL, 1, d->pos + n - 1) * (c->rotary_dim / 2);
    for (int l = 0; l < c->layers; l++) {
        const dev_layer *y = &d->layers[l];
        float *kc = d->kcache + (size_t)l * layer_cache, *vc = d->vcache + (size_t)l * layer_cache;
        TRY(norm(d, h, x, y->norm1_w, y->norm1_b, M, err, errlen));
        for (int k = 0, col = 0; k < y->nqkv; col += y->qkv[k].out, k++) // q | k | v (M,QKV)
            TRY(linear(d, &y->qkv[k], d->qkv + col, QKV, h, C, M, err, errlen));
        TRY(qn_cuda_llm_rope_append(d->qkv, kc, vc, inv_freq, (float)c->rope_attention_factor, pad, B, n, d->pos, NH, NKV,
                                    HD, c->rotary_dim, d->Tmax, err, errlen));
        TRY(qn_cuda_llm_attention(d->att, d->qkv, kc, vc, pad, c->sliding_window, B, n, d->pos, NH, NKV, HD, d->Tmax, err,
                                  errlen)); // (M,NH*HD)
        TRY(linear(d, &y->o, tmp, C, d->att, y->o.in, M, err, errlen));
        // Phi-2: x = x + attn(h) + mlp(h), h = input_layernorm(x); the others norm again before the MLP
        TRY(qn_cuda_add(x, x, tmp, (size_t)M * C, err, errlen));
        if (c->arch != QN_LLM_PHI2) TRY(norm(d, h, x, y->norm2_w, NULL, M, err, errlen));
        TRY(mlp(d, y, h, tmp, M, err, errlen));
        TRY(qn_cuda_add(x, x, tmp, (size_t)M * C, err, errlen));
    }
    TRY(norm(d, d->hidden, x, d->final_w, d->final_b, M, err, errlen));
    d->pos += n, d->last_n = n;
    return 0;
}

/* Logits (rows,V) of hidden rows [first, first + rows) of the last forward, to the host, through the
 * head a chunk of rows at a time (as few chunks as LOGIT_ELEMS allows). */
static int logits_of_rows(qn_llm_cuda *d, int first, int rows, float *logits, char *err, size_t errlen) {
    const int C = d->host->cfg.hidden, V = d->host->cfg.vocab_size;
    CUDA_TRY(cudaSetDevice(d->device));
    int chunk = (int)(LOGIT_ELEMS / (size_t)V);
    if (chunk < 1) chunk = 1;
    if (chunk > rows) chunk = rows;
    TRY(ensure_buffer(d, &d->logits, &d->logit_rows, (size_t)chunk * V, err, errlen));
    for (int r0 = 0; r0 < rows; r0 += chunk) {
        const int n = rows - r0 < chunk ? rows - r0 : chunk;
        TRY(linear(d, &d->lm_head, d->logits, V, d->hidden + (size_t)(first + r0) * C, C, n, err, errlen)); // (n,V)
        CUDA_TRY(cudaMemcpy(logits + (size_t)r0 * V, d->logits, (size_t)n * V * sizeof(float), cudaMemcpyDeviceToHost));
    }
    return 0;
}

int qn_llm_cuda_logits(qn_llm_cuda *d, float *logits, char *err, size_t errlen) {
    const int rows = d->B * d->last_n;
    if (rows < 1) {
        snprintf(err, errlen, "no forward to take logits of");
        return 2;
    }
    return logits_of_rows(d, 0, rows, logits, err, errlen);
}

int qn_llm_cuda_next_tokens(qn_llm_cuda *d, int32_t *tok, float *logits, char *err, size_t errlen) {
    const int C = d->host->cfg.hidden, V = d->host->cfg.vocab_size, B = d->B;
    if (d->last_n < 1) {
        snprintf(err, errlen, "no forward to choose tokens after");
        return 2;
    }
    CUDA_TRY(cudaSetDevice(d->device));
    TRY(ensure_buffer(d, &d->logits, &d->logit_rows, (size_t)B * V, err, errlen));
    TRY(qn_cuda_llm_last_rows(d->tmp, d->hidden, B, d->last_n, C, err, errlen)); // (B,C): tmp is free after forward
    TRY(linear(d, &d->lm_head, d->logits, V, d->tmp, C, B, err, errlen));       // (B,V)
    TRY(qn_cuda_llm_argmax(d->tok, d->logits, B, V, err, errlen));
    CUDA_TRY(cudaMemcpy(tok, d->tok, (size_t)B * sizeof(int32_t), cudaMemcpyDeviceToHost));
    if (logits) CUDA_TRY(cudaMemcpy(logits, d->logits, (size_t)B * V * sizeof(float), cudaMemcpyDeviceToHost));
    return 0;
}

/* Longrope's recompute at step s (qn_llm_rope_recompute): the whole sequences again from slot 0. */
static int forward_sequences(qn_llm_cuda *d, const int32_t *prompts, int B, int T, const int32_t *new_tokens, int S,
                             int s, char *err, size_t errlen) {
    int32_t *ids = qn_llm_sequence_ids(prompts, B, T, new_tokens, S, s);
    if (!ids) {
        snprintf(err, errlen, "out of host memory");
        return 2;
    }
    d->pos = 0;
    const int rc = qn_llm_cuda_forward(d, ids, T + s, err, errlen);
    free(ids);
    return rc;
}

static int generate(qn_llm_cuda *d, const int32_t *prompts, int B, int T, int S, qn_llm_gen *gen, int32_t *new_tokens,
                    float *prompt_logits, float *step_logits, cudaEvent_t ev[3], int32_t *tok, float *row_logits,
                    unsigned char *done, char *err, size_t errlen) {
    const int V = d->host->cfg.vocab_size;
    d->prefill_s = d->decode_s = 0.0;
    int rc = qn_llm_gen_start(gen, B, T, V, done, err, errlen);
    if (rc) return rc;
    TRY(qn_llm_cuda_set_padding(d, gen ? gen->pad : NULL, err, errlen));
    if (step_logits) memset(step_logits, 0, (size_t)B * S * V * sizeof(float));
    CUDA_TRY(cudaEventRecord(ev[0], 0));
    TRY(qn_llm_cuda_forward(d, prompts, T, err, errlen)); // prefill (B,T)
    if (prompt_logits) TRY(qn_llm_cuda_logits(d, prompt_logits, err, errlen));
    int s = 0;
    for (; s < S; s++) {
        if (s == 1) CUDA_TRY(cudaEventRecord(ev[1], 0)); // prefill up to the first token's logits
        if (s > 0 && qn_llm_rope_recompute(&d->host->cfg, T, s))
            TRY(forward_sequences(d, prompts, B, T, new_tokens, S, s, err, errlen)); // (B,T+s): next_tokens takes the last
        else if (s > 0) TRY(qn_llm_cuda_forward(d, tok, 1, err, errlen));          // decode (B,1)
        TRY(qn_llm_cuda_next_tokens(d, tok, step_logits ? row_logits : NULL, err, errlen));
        if (step_logits)
            for (int b = 0; b < B; b++)
                memcpy(step_logits + ((size_t)b * S + s) * V, row_logits + (size_t)b * V, (size_t)V * sizeof(float));
        if (qn_llm_gen_step(gen, B, S, s, tok, done, new_tokens)) { // the stopping rule of llm_generate.c
            s++;
            break;
        }
    }
    float ms = 0.0f;
    if (s <= 1) {
        CUDA_TRY(cudaEventRecord(ev[1], 0));
        CUDA_TRY(cudaEventSynchronize(ev[1]));
        CUDA_TRY(cudaEventElapsedTime(&ms, ev[0], ev[1]));
        d->prefill_s = ms * 1e-3;
    } else {
        CUDA_TRY(cudaEventRecord(ev[2], 0));
        CUDA_TRY(cudaEventSynchronize(ev[2]));
        CUDA_TRY(cudaEventElapsedTime(&ms, ev[0], ev[1]));
        d->prefill_s = ms * 1e-3;
        CUDA_TRY(cudaEventElapsedTime(&ms, ev[1], ev[2]));
        d->decode_s = ms * 1e-3;
    }
    return 0;
}

int qn_llm_cuda_generate_greedy(qn_llm_cuda *d, const int32_t *prompts, int B, int T, int S, qn_llm_gen *gen,
                                int32_t *new_tokens, float *prompt_logits, float *step_logits, char *err, size_t errlen) {
    const int V = d->host->cfg.vocab_size;
    TRY(qn_llm_cuda_reset(d, B, T + (S > 1 ? S - 1 : 0), err, errlen));
    int32_t *tok = malloc((size_t)B * sizeof *tok);
    unsigned char *done = malloc((size_t)B);
    float *row_logits = step_logits ? malloc((size_t)B * V * sizeof *row_logits) : NULL;
    cudaEvent_t ev[3] = {NULL, NULL, NULL};
    int rc = -1;
    if (!tok || !done || (step_logits && !row_logits)) snprintf(err, errlen, "out of host memory");
    else if (cudaEventCreate(&ev[0]) != cudaSuccess || cudaEventCreate(&ev[1]) != cudaSuccess ||
             cudaEventCreate(&ev[2]) != cudaSuccess)
        snprintf(err, errlen, "cudaEventCreate failed");
    else
        rc = generate(d, prompts, B, T, S, gen, new_tokens, prompt_logits, step_logits, ev, tok, row_logits, done, err,
                      errlen);
    for (int i = 0; i < 3; i++)
        if (ev[i]) cudaEventDestroy(ev[i]);
    free(tok), free(done), free(row_logits);
    return rc;
}

/* The CUDA backend's perplexity window (qn_llm_perplexity_windows). */
static int cuda_window_forward(void *ctx, const int32_t *ids, int len, char *err, size_t errlen) {
    qn_llm_cuda *d = ctx;
    d->pos = 0;
    return qn_llm_cuda_forward(d, ids, len, err, errlen);
}

static int cuda_window_logits(void *ctx, int r0, int rows, float *out, char *err, size_t errlen) {
    return logits_of_rows(ctx, r0, rows, out, err, errlen);
}

int qn_llm_cuda_perplexity(qn_llm_cuda *d, const int32_t *tokens, int n, int context, int stride, double *ppl,
                           long *scored, char *err, size_t errlen) {
    if (n < 2 || context < 2 || stride < 1 || stride > context) {
        snprintf(err, errlen, "perplexity needs at least 2 tokens, a context >= 2 and 1 <= stride <= context");
        return 2;
    }
    if (context > n) context = n;
    TRY(qn_llm_cuda_reset(d, 1, context, err, errlen));
    const int V = d->host->cfg.vocab_size;
    float *logits = malloc((size_t)QN_LLM_PPL_ROWS * V * sizeof(float));
    if (!logits) {
        snprintf(err, errlen, "out of host memory");
        return -1;
    }
    qn_llm_ppl_backend be = {d, cuda_window_forward, cuda_window_logits};
    int rc = qn_llm_perplexity_windows(&be, V, tokens, n, context, stride, logits, ppl, scored, err, errlen);
    free(logits);
    return rc;
}

void qn_llm_cuda_times(const qn_llm_cuda *d, double *prefill_s, double *decode_s) {
    *prefill_s = d->prefill_s, *decode_s = d->decode_s;
}

void qn_llm_cuda_memory_of(const qn_llm_cuda *d, qn_llm_cuda_memory *out) {
    *out = (qn_llm_cuda_memory){d->now, d->peak, d->weights};
}

void qn_llm_cuda_reset_peak(qn_llm_cuda *d) { d->peak = d->now; }

double qn_llm_cuda_device_used(const qn_llm_cuda *d) {
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(d->device) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return -1.0;
    return (double)(total_b - free_b);
}

int qn_llm_cuda_copy_bandwidth(int device, size_t bytes, double *bytes_per_s, char *err, size_t errlen) {
    CUDA_TRY(cudaSetDevice(device));
    return qn_cuda_llm_copy_bandwidth(bytes, 4, bytes_per_s, err, errlen);
}

#endif /* QUENCH_HAVE_CUDA */
