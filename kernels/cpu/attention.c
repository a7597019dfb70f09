/* attention.c: the core of BERT's multi-head self-attention, forward and backward: per head,
 * softmax(Q K^T / sqrt(HS) + padding mask) V. The mask is Hugging Face's additive one,
 * (1 - mask) * (most negative float), so padded keys get probability exactly 0. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"
#include "qn_kernels.h"
#include "qn_nn.h"
#include "softmax_row.h"

/* Per (batch, head), the products are GEMMs on strided views: head h of row t sits at
 * q + (b*T + t)*C + h*HS, so Q_bh is a (T,HS) matrix with leading dimension C. */

/* Softmax of one row of scores in place, the padded keys first pushed to the most negative float
 * (softmax_row.h's vectorized exp and sums). Its exp stops at exp(-86) ~ 4e-38, where expf reaches
 * 0; a padded key's term is set to 0 afterwards, so that padding keeps probability exactly 0 (the
 * 4e-38 it added to a sum of at least 1 is lost in rounding). */
static void softmax_row(float *restrict a, const int32_t *restrict mask, int T) {
    int padded = 0;
    if (mask)
        for (int j = 0; j < T; j++)
            if (!mask[j]) a[j] += -FLT_MAX, padded = 1;
    const float mx = qn_row_max(a, T, -INFINITY);
    const float sum = qn_exp_sum(a, T, mx);
    if (padded && mx > -FLT_MAX / 2) /* not a row of padding only, whose terms are all alike */
        for (int j = 0; j < T; j++)
            if (!mask[j]) a[j] = 0.0f;
    const float inv = 1.0f / sum;
    for (int j = 0; j < T; j++) a[j] *= inv;
}

typedef struct {
    float *out, *att, *dq, *dk, *dv;        /* att: the forward's output */
    const float *q, *k, *v, *dout, *att_in; /* att_in: the backward's input */
    const int32_t *mask;
    int T, C, NH;
    float beta; /* the backward's: 1 adds to dq, dk, dv, 0 overwrites them */
} att_args;

/* heads [lo, hi) of B*NH, forward */
static void forward_heads(void *ctx, size_t lo, size_t hi) {
    const att_args *x = ctx;
    const int T = x->T, C = x->C, NH = x->NH, HS = C / NH;
    const float scale = 1.0f / sqrtf((float)HS);
    for (size_t bh = lo; bh < hi; bh++) {
        const size_t b = bh / NH, h = bh % NH, off = b * T * C + h * HS;
        float *a = x->att + bh * T * T;
        qn_sgemm(0, 1, T, T, HS, scale, x->q + off, C, x->k + off, C, 0.0f, a, T); /* (T,T) = scale Q K^T */
        for (int t = 0; t < T; t++) softmax_row(a + (size_t)t * T, x->mask ? x->mask + b * T : NULL, T);
        qn_sgemm(0, 0, T, HS, T, 1.0f, a, T, x->v + off, C, 0.0f, x->out + off, C); /* (T,HS) = att V */
    }
}

/* q, k, v, out (B,T,C) with head h at columns [h*HS, (h+1)*HS); att (B,NH,T,T). Heads are
 * independent: they run in parallel. */
void qn_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          const int32_t *mask, int B, int T, int C, int NH) {
    att_args x = {.out = out, .att = att, .q = q, .k = k, .v = v, .mask = mask, .T = T, .C = C, .NH = NH};
    qn_parallel_for((size_t)B * NH, 1, forward_heads, &x);
}

/* heads [lo, hi) of B*NH, backward; each writes its own columns of dq, dk, dv */
static void backward_heads(void *ctx, size_t lo, size_t hi) {
    const att_args *x = ctx;
    const int T = x->T, C = x->C, NH = x->NH, HS = C / NH;
    const float scale = 1.0f / sqrtf((float)HS);
    float *ds = malloc((size_t)T * T * sizeof *ds); /* one head's score gradients (T,T) */
    if (!ds) return; /* nothing sensible to do without memory; callers size T by data.max_len */
    for (size_t bh = lo; bh < hi; bh++) {
        const size_t b = bh / NH, h = bh % NH, off = b * T * C + h * HS;
        const float *a = x->att_in + bh * T * T, *dout = x->dout + off;
        /* out = att V: dV += att^T dout, datt = dout V^T */
        qn_sgemm(1, 0, T, HS, T, 1.0f, a, T, dout, C, x->beta, x->dv + off, C);
        qn_sgemm(0, 1, T, T, HS, 1.0f, dout, C, x->v + off, C, 0.0f, ds, T);
        /* softmax: dscore = att * (datt - sum(att * datt)), times the scale of scores = scale q k^T */
        for (int t = 0; t < T; t++) {
            const float *at = a + (size_t)t * T;
            float *dt = ds + (size_t)t * T;
            const float dsum = qn_row_dot(at, dt, T); /* in lanes: one chain of T additions was latency-bound */
            for (int j = 0; j < T; j++) dt[j] = at[j] * (dt[j] - dsum) * scale;
        }
        qn_sgemm(0, 0, T, HS, T, 1.0f, ds, T, x->k + off, C, x->beta, x->dq + off, C); /* dQ += dscore K */
        qn_sgemm(1, 0, T, HS, T, 1.0f, ds, T, x->q + off, C, x->beta, x->dk + off, C); /* dK += dscore^T Q */
    }
    free(ds);
}

static void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att, const float *q,
                               const float *k, const float *v, int B, int T, int C, int NH, float beta) {
    att_args x = {.att_in = att, .dq = dq, .dk = dk, .dv = dv, .q = q, .k = k, .v = v, .dout = dout,
                  .T = T, .C = C, .NH = NH, .beta = beta};
    qn_parallel_for((size_t)B * NH, 1, backward_heads, &x);
}

void qn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att, const float *q,
                           const float *k, const float *v, int B, int T, int C, int NH) {
    attention_backward(dq, dk, dv, dout, att, q, k, v, B, T, C, NH, 1.0f);
}

/* every element of dq, dk, dv is one head's product, written once: beta 0 gives what zeros and
 * then the accumulating backward give, without the pass of zeros */
void qn_attention_backward_write(float *dq, float *dk, float *dv, const float *dout, const float *att, const float *q,
                                 const float *k, const float *v, int B, int T, int C, int NH) {
    attention_backward(dq, dk, dv, dout, att, q, k, v, B, T, C, NH, 0.0f);
}
