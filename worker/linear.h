/* linear.h: the quantized, prunable Linear layer both models use, with MASE's Linear semantics:
 * y = Q(x) Q(W)^T + Q(b) with each operand's own format, activation pruning of the input (mask
 * first, then quantize), straight-through gradients (dX = dY Q(W), dW = dY^T Q(x), db = sum dY),
 * masked inputs pass no gradient. W (out,in) and b (out) are views into the model's parameter
 * buffer, dW and db into its gradient buffer. */
#ifndef QN_LINEAR_H
#define QN_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "qn_formats.h"
#include "qn_job.h"
#include "qn_kernels.h"

typedef struct {
    const char *name;       /* "fc1", "layer.0.attention.self.query", ... */
    int in, out, max_rows;
    float *W, *b;           /* (out,in), (out) views into params */
    float *dW, *db;         /* views into grads */
    uint8_t *weight_mask;   /* (out,in) or NULL: pruned weights */
    qn_quant_cfg quant;     /* per operand: data_in, weight, bias */
    qn_format fmt[3];       /* their formats (QN_FMT_NONE: not quantized) */
    qn_prune_target act_prune; /* activation pruning of the layer's input (method[0] == 0: off) */
    float act_threshold;    /* l1-norm, global scope: the threshold fixed from the calibration batch */
    /* forward activations kept for the backward (max_rows rows) */
    float *x_q;             /* (rows,in) the input after masking and quantization: x_buf, or the caller's
                             * x itself when the layer neither masks nor quantizes it (the caller keeps x
                             * unchanged until the backward: no copy per forward) */
    float *x_buf;           /* (max_rows,in) the layer's own buffer for a masked or quantized input */
    uint8_t *x_mask;        /* (rows,in) activation mask, when pruning activations */
    float *Wq, *bq;         /* quantized weight and bias of the current forward */
    const float *w_used, *b_used; /* what the forward multiplied by: Wq, bq, or W, b when unquantized */
    float *dx_scratch;      /* (rows,in) for accumulating a masked input gradient, allocated on use */
    double act_zeros, act_total; /* activation sparsity counters */
    int last_rows;          /* rows of the last forward (x_q holds them) */
} qn_linear;

/* Views and buffers for up to max_rows input rows. Returns 0, or -1 when out of memory. */
int qn_linear_init(qn_linear *l, const char *name, int in, int out, float *W, float *dW, int max_rows);
void qn_linear_free(qn_linear *l);
/* Set the operands' formats. Returns 0, or -1 with a message. */
int qn_linear_set_quant(qn_linear *l, const qn_quant_cfg *q, char *err, size_t errlen);
/* x (rows,in) -> y (rows,out). *quant_failed is set when a fake quantization ran out of memory. */
void qn_linear_forward(qn_linear *l, const float *x, float *y, int rows, qn_rng *rng, int *quant_failed);
/* dy (rows,out): dW and db accumulate (+=); dx (rows,in) is overwritten, or accumulated when
 * accumulate_dx (a residual connection); dx may be NULL. */
void qn_linear_backward(qn_linear *l, const float *dy, float *dx, int rows, int accumulate_dx);
/* A layer followed by GELU, and the layer after it, with GELU's pass fused into their products
 * (the same floats as qn_linear_forward then qn_gelu_forward, and qn_linear_backward then
 * qn_gelu_backward_write): forward y = the layer's output (kept for the backward), y_gelu =
 * GELU(y); the next layer's backward with x_pre = that y stores the gradient at x_pre in dx_pre
 * (rows, in). */
void qn_linear_forward_gelu(qn_linear *l, const float *x, float *y, float *y_gelu, int rows, qn_rng *rng,
                            int *quant_failed);
void qn_linear_backward_gelu(qn_linear *l, const float *dy, float *dx_pre, const float *x_pre, int rows);

#endif
