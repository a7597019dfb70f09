/* The transformer ops against central finite differences (a random linear functional of the output
 * as the loss), and their defining properties: LayerNorm statistics, GELU values, attention rows
 * that sum to one with zero weight on padded keys. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_kernels.h"
#include "qn_nn.h"

static qn_rng rng;
static void fill(float *x, size_t n, float s) {
    for (size_t i = 0; i < n; i++) x[i] = qn_rng_normal(&rng) * s;
}

static double dotp(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Compare an analytic gradient with central differences of loss(), element by element. */
typedef double (*loss_fn)(void *ctx);
static void gradcheck(const char *what, float *param, const float *grad, size_t n, loss_fn loss, void *ctx) {
    const float h = 1e-3f;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float saved = param[i];
        param[i] = saved + h;
        double up = loss(ctx);
        param[i] = saved - h;
        double down = loss(ctx);
        param[i] = saved;
        double num = (up - down) / (2.0 * h);
        if (fabs(num - grad[i]) > 2e-3 + 2e-2 * fabs(num)) {
            if (bad++ < 5) cr_log_error("%s[%zu]: analytic %.6g numeric %.6g", what, i, grad[i], num);
        }
    }
    cr_expect_eq(bad, 0, "%s: %d of %zu gradients disagree", what, bad, n);
}

/* ---- LayerNorm */
enum { LN_N = 5, LN_C = 24 };
typedef struct {
    float x[LN_N * LN_C], w[LN_C], b[LN_C], r[LN_N * LN_C], out[LN_N * LN_C], mean[LN_N], rstd[LN_N];
} ln_ctx;
static double ln_loss(void *p) {
    ln_ctx *c = p;
    qn_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, LN_N, LN_C, 1e-12f);
    return dotp(c->out, c->r, LN_N * LN_C);
}

Test(nn, layernorm_statistics_and_gradients) {
    qn_rng_seed(&rng, 1);
    ln_ctx c;
    fill(c.x, LN_N * LN_C, 2.0f), fill(c.w, LN_C, 1.0f), fill(c.b, LN_C, 1.0f), fill(c.r, LN_N * LN_C, 1.0f);
    for (int i = 0; i < LN_C; i++) c.x[i] += 5.0f; /* an offset row */
    ln_loss(&c);
    /* with weight 1 and bias 0 the rows have mean 0 and variance 1 */
    float ones[LN_C], zeros[LN_C], o[LN_N * LN_C], m[LN_N], r[LN_N];
    for (int i = 0; i < LN_C; i++) ones[i] = 1, zeros[i] = 0;
    qn_layernorm_forward(o, m, r, c.x, ones, zeros, LN_N, LN_C, 1e-12f);
    for (int n = 0; n < LN_N; n++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < LN_C; i++) s += o[n * LN_C + i], s2 += (double)o[n * LN_C + i] * o[n * LN_C + i];
        cr_expect(fabs(s / LN_C) < 1e-5 && fabs(s2 / LN_C - 1) < 1e-4, "row %d: mean %g var %g", n, s / LN_C, s2 / LN_C);
    }
    float dx[LN_N * LN_C] = {0}, dw[LN_C] = {0}, db[LN_C] = {0};
    qn_layernorm_backward(dx, dw, db, c.r, c.x, c.w, c.mean, c.rstd, LN_N, LN_C);
    gradcheck("ln.dx", c.x, dx, LN_N * LN_C, ln_loss, &c);
    gradcheck("ln.dweight", c.w, dw, LN_C, ln_loss, &c);
    gradcheck("ln.dbias", c.b, db, LN_C, ln_loss, &c);
}

/* ---- GELU and tanh */
enum { G_N = 64 };
typedef struct {
    float x[G_N], r[G_N], out[G_N];
    int tanh;
} g_ctx;
static double g_loss(void *p) {
    g_ctx *c = p;
    if (c->tanh) qn_tanh_forward(c->out, c->x, G_N);
    else qn_gelu_forward(c->out, c->x, G_N);
    return dotp(c->out, c->r, G_N);
}

Test(nn, gelu_and_tanh) {
    qn_rng_seed(&rng, 2);
    float x[4] = {0.0f, 1.0f, -1.0f, 3.0f}, y[4];
    qn_gelu_forward(y, x, 4);
    cr_expect_eq(y[0], 0.0f);
    cr_expect(fabsf(y[1] - 0.8413447f) < 1e-6f, "gelu(1) = %.9g", y[1]);
    cr_expect(fabsf(y[2] + 0.1586553f) < 1e-6f, "gelu(-1) = %.9g", y[2]);
    cr_expect(fabsf(y[3] - 2.9959502f) < 1e-5f, "gelu(3) = %.9g", y[3]);
    for (int t = 0; t < 2; t++) {
        g_ctx c = {.tanh = t};
        fill(c.x, G_N, 2.0f), fill(c.r, G_N, 1.0f);
        g_loss(&c);
        float dx[G_N] = {0};
        if (t) qn_tanh_backward(dx, c.out, c.r, G_N);
        else qn_gelu_backward(dx, c.x, c.r, G_N);
        gradcheck(t ? "tanh" : "gelu", c.x, dx, G_N, g_loss, &c);
    }
}

/* ---- attention */
enum { A_B = 2, A_T = 5, A_C = 8, A_NH = 2 };
typedef struct {
    float q[A_B * A_T * A_C], k[A_B * A_T * A_C], v[A_B * A_T * A_C], r[A_B * A_T * A_C], out[A_B * A_T * A_C];
    float att[A_B * A_NH * A_T * A_T];
    int32_t mask[A_B * A_T];
} a_ctx;
static double a_loss(void *p) {
    a_ctx *c = p;
    qn_attention_forward(c->out, c->att, c->q, c->k, c->v, c->mask, A_B, A_T, A_C, A_NH);
    return dotp(c->out, c->r, A_B * A_T * A_C);
}

Test(nn, attention_rows_mask_and_gradients) {
    qn_rng_seed(&rng, 3);
    a_ctx c;
    fill(c.q, sizeof c.q / 4, 1.0f), fill(c.k, sizeof c.k / 4, 1.0f), fill(c.v, sizeof c.v / 4, 1.0f);
    fill(c.r, sizeof c.r / 4, 1.0f);
    for (int b = 0; b < A_B; b++)
        for (int t = 0; t < A_T; t++) c.mask[b * A_T + t] = !(b == 1 && t >= 3); /* item 1: 2 padded tokens */
    a_loss(&c);
    for (int row = 0; row < A_B * A_NH * A_T; row++) {
        double s = 0;
        for (int j = 0; j < A_T; j++) s += c.att[row * A_T + j];
        cr_expect(fabs(s - 1.0) < 1e-6, "row %d sums to %g", row, s);
        int b = row / (A_NH * A_T);
        if (b == 1) cr_expect(c.att[row * A_T + 3] == 0.0f && c.att[row * A_T + 4] == 0.0f, "padded keys get weight");
    }
    float dq[sizeof c.q / 4] = {0}, dk[sizeof c.k / 4] = {0}, dv[sizeof c.v / 4] = {0};
    qn_attention_backward(dq, dk, dv, c.r, c.att, c.q, c.k, c.v, A_B, A_T, A_C, A_NH);
    gradcheck("attn.dq", c.q, dq, sizeof c.q / 4, a_loss, &c);
    gradcheck("attn.dk", c.k, dk, sizeof c.k / 4, a_loss, &c);
    gradcheck("attn.dv", c.v, dv, sizeof c.v / 4, a_loss, &c);
    /* padded keys and values of item 1 receive no gradient */
    for (int t = 3; t < A_T; t++)
        for (int d = 0; d < A_C; d++) {
            cr_expect_eq(dk[(A_T + t) * A_C + d], 0.0f);
            cr_expect_eq(dv[(A_T + t) * A_C + d], 0.0f);
        }
    /* without a mask every key counts */
    qn_attention_forward(c.out, c.att, c.q, c.k, c.v, NULL, A_B, A_T, A_C, A_NH);
    cr_expect_gt(c.att[(A_NH * A_T + 0) * A_T + 4], 0.0f);
}
