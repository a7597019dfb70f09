/* linear.c: the quantized, prunable Linear layer (see linear.h). */
#include "linear.h"

#include <stdlib.h>
#include <string.h>

#include "qn_nn.h"

int qn_linear_init(qn_linear *l, const char *name, int in, int out, float *W, float *dW, int max_rows) {
    memset(l, 0, sizeof *l);
    l->name = name;
    l->in = in, l->out = out, l->max_rows = max_rows;
    l->W = W, l->b = W + (size_t)out * in;
    l->dW = dW, l->db = dW + (size_t)out * in;
    size_t nx = (size_t)max_rows * in;
    l->x_q = l->x_buf = calloc(nx ? nx : 1, sizeof(float));
    l->x_mask = calloc(nx ? nx : 1, 1);
    l->Wq = calloc((size_t)out * in, sizeof(float));
    l->bq = calloc((size_t)out ? (size_t)out : 1, sizeof(float));
    if (!l->x_buf || !l->x_mask || !l->Wq || !l->bq) {
        qn_linear_free(l);
        return -1;
    }
    return 0;
}

void qn_linear_free(qn_linear *l) {
    free(l->x_buf), free(l->x_mask), free(l->Wq), free(l->bq), free(l->weight_mask), free(l->dx_scratch);
    l->x_q = l->x_buf = NULL, l->x_mask = NULL, l->Wq = NULL, l->bq = NULL, l->weight_mask = NULL, l->dx_scratch = NULL;
}

int qn_linear_set_quant(qn_linear *l, const qn_quant_cfg *q, char *err, size_t errlen) {
    const qn_quant_operand *ops[3] = {&q->data_in, &q->weight, &q->bias};
    l->quant = *q;
    for (int o = 0; o < 3; o++)
        if (qn_quant_operand_format(ops[o], &l->fmt[o], err, errlen) != 0) return -1;
    return 0;
}

/* Fake-quantize a (rows, cols) operand; blocks run along cols (the layer's input features). */
static void fake_quant(const qn_format *f, const float *x, float *y, int64_t rows, int64_t cols, int *failed) {
    int64_t shape[2] = {rows, cols};
    char err[160];
    if (qn_format_apply(f, x, y, shape, 2, err, sizeof err) != 0) {
        *failed = 1;
        if (x != y) memcpy(y, x, (size_t)(rows * cols) * sizeof(float));
    }
}

/* The forward's operands: the input masked and quantized (x_q), the weight and bias quantized
 * (w_used, b_used). */
static void prepare_forward(qn_linear *l, const float *x, int rows, qn_rng *rng, int *quant_failed) {
    size_t nx = (size_t)rows * l->in;
    const float *src = x;
    l->last_rows = rows;
    /* an input used as it is is saved as the caller's pointer, not copied */
    const int copy_input = l->act_prune.method[0] || l->fmt[0].kind != QN_FMT_NONE;
    l->x_q = copy_input ? l->x_buf : (float *)x;
    if (l->act_prune.method[0]) {
        size_t zeros;
        if (strcmp(l->act_prune.method, "l1-norm") == 0) {
            /* local: one threshold over the whole input (all rows together), recomputed on every
             * forward; global: the threshold fixed at prune time */
            float t = l->act_threshold;
            if (strcmp(l->act_prune.scope, "global") != 0) {
                const float *bufs[1] = {x};
                size_t lens[1] = {nx};
                t = qn_abs_quantile(bufs, lens, 1, l->act_prune.sparsity);
            }
            zeros = qn_mask_l1(x, nx, t, l->x_mask);
        } else {
            zeros = qn_mask_random(nx, l->act_prune.sparsity, rng, l->x_mask);
        }
        qn_apply_mask(x, l->x_mask, l->x_q, nx);
        src = l->x_q;
        l->act_zeros += (double)zeros;
        l->act_total += (double)nx;
    }
    if (copy_input) fake_quant(&l->fmt[0], src, l->x_q, rows, l->in, quant_failed);
    /* unquantized weight and bias: multiply by the parameters themselves rather than a copy made
     * every step */
    l->w_used = l->W, l->b_used = l->b;
    if (l->fmt[1].kind != QN_FMT_NONE) fake_quant(&l->fmt[1], l->W, l->Wq, l->out, l->in, quant_failed), l->w_used = l->Wq;
    if (l->fmt[2].kind != QN_FMT_NONE) fake_quant(&l->fmt[2], l->b, l->bq, 1, l->out, quant_failed), l->b_used = l->bq;
}

void qn_linear_forward(qn_linear *l, const float *x, float *y, int rows, qn_rng *rng, int *quant_failed) {
    prepare_forward(l, x, rows, rng, quant_failed);
    /* the bias joins in the GEMM's stores (the floats of y = b, then y += x W^T) */
    qn_sgemm_bias(0, 1, rows, l->out, l->in, 1.0f, l->x_q, l->in, l->w_used, l->in, l->b_used, y, l->out);
}

/* the fused GELU passes' other operand, shaped as the product's C: the forward's output, the
 * backward's GELU input */
typedef struct {
    float *out;
    const float *in;
    size_t ld;
} gelu_block_args;

static void gelu_forward_block(void *ctx, float *c, int ldc, int row0, int rows, int col0, int cols) {
    const gelu_block_args *a = ctx;
    qn_gelu_forward_rows(a->out + (size_t)row0 * a->ld + col0, a->ld, c, (size_t)ldc, rows, cols);
}

static void gelu_backward_block(void *ctx, float *c, int ldc, int row0, int rows, int col0, int cols) {
    const gelu_block_args *a = ctx;
    qn_gelu_backward_in_place_rows(c, (size_t)ldc, a->in + (size_t)row0 * a->ld + col0, a->ld, rows, cols);
}

void qn_linear_forward_gelu(qn_linear *l, const float *x, float *y, float *y_gelu, int rows, qn_rng *rng,
                            int *quant_failed) {
    prepare_forward(l, x, rows, rng, quant_failed);
    /* GELU on each block of y as the product finishes it, while it is in cache (a pass over y
     * afterwards read it back from memory) */
    gelu_block_args a = {y_gelu, NULL, (size_t)l->out};
    qn_sgemm_then(0, 1, rows, l->out, l->in, 1.0f, l->x_q, l->in, l->w_used, l->in, l->b_used, y, l->out,
                  gelu_forward_block, &a);
}

/* dW += dy^T x_q, db += column sums of dy */
static void backward_params(qn_linear *l, const float *dy, int rows) {
    qn_sgemm(1, 0, l->out, l->in, rows, 1.0f, dy, l->out, l->x_q, l->in, 1.0f, l->dW, l->in);
    qn_add_column_sums(l->db, dy, rows, l->out);
}

void qn_linear_backward_gelu(qn_linear *l, const float *dy, float *dx_pre, const float *x_pre, int rows) {
    if (l->act_prune.method[0]) { /* the mask comes between the product and GELU's backward */
        qn_linear_backward(l, dy, dx_pre, rows, 0);
        qn_gelu_backward_in_place_rows(dx_pre, (size_t)l->in, x_pre, (size_t)l->in, rows, l->in);
        return;
    }
    backward_params(l, dy, rows);
    /* dx_pre = dy Q(W), times GELU'(x_pre) on each block as the product finishes it */
    gelu_block_args a = {NULL, x_pre, (size_t)l->in};
    qn_sgemm_then(0, 0, rows, l->in, l->out, 1.0f, dy, l->out, l->w_used, l->in, NULL, dx_pre, l->in,
                  gelu_backward_block, &a);
}

void qn_linear_backward(qn_linear *l, const float *dy, float *dx, int rows, int accumulate_dx) {
    backward_params(l, dy, rows);
    if (!dx) return;
    size_t nx = (size_t)rows * l->in;
    int masked = l->act_prune.method[0] != 0;
    if (!masked) {
        qn_sgemm(0, 0, rows, l->in, l->out, 1.0f, dy, l->out, l->w_used, l->in, accumulate_dx ? 1.0f : 0.0f, dx, l->in);
        return;
    }
    float *dst = dx;
    if (accumulate_dx) {
        if (!l->dx_scratch && !(l->dx_scratch = malloc((size_t)l->max_rows * l->in * sizeof(float)))) return;
        dst = l->dx_scratch;
    }
    qn_sgemm(0, 0, rows, l->in, l->out, 1.0f, dy, l->out, l->w_used, l->in, 0.0f, dst, l->in);
    for (size_t i = 0; i < nx; i++)
        if (!l->x_mask[i]) dst[i] = 0.0f;
    if (accumulate_dx)
        for (size_t i = 0; i < nx; i++) dx[i] += dst[i];
}
