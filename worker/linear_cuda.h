/* linear_cuda.h: the quantized, prunable Linear layer of linear.h on the GPU: the same forward and
 * backward (MASE's semantics, straight-through gradients, masked inputs pass no gradient) on device
 * buffers. The host qn_linear stays the layer's description: its formats (fmt), activation pruning
 * (act_prune, act_threshold) and counters (act_zeros, act_total, last_rows) are read and updated
 * there, so qn_linear_set_quant and the pruning passes of model.c apply to both backends alike.
 *
 * Declared only when quench is built with CUDA (QUENCH_HAVE_CUDA).
 */
#ifndef QN_LINEAR_CUDA_H
#define QN_LINEAR_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "linear.h"

/* Whether the layer's formats and activation pruning have a CUDA path: 0, or -1 with "... not
 * supported on CUDA yet" (the caller then runs the model on the CPU). Defined in every build. */
int qn_linear_cuda_supported(const qn_linear *l, char *err, size_t errlen);

#ifdef QUENCH_HAVE_CUDA
#include <cublas_v2.h>

typedef struct {
    qn_linear *host;        /* the description (see above); its W, b, x_q, ... are not touched */
    float *W, *b, *dW, *db; /* device (out,in), (out) views into the device model's params and grads */
    float *x_q;             /* device (max_rows,in): the input after masking and quantization */
    uint8_t *x_mask;        /* device (max_rows,in): the activation mask */
    float *Wq, *bq;         /* device (out,in), (out): the quantized weight and bias of this forward */
    const float *w_used, *b_used; /* what the forward multiplied by: Wq, bq, or W, b when unquantized */
} qn_linear_cuda;

/* x (rows,in) -> y (rows,out), device pointers. Activation-pruning keys are drawn from rng in the
 * CPU's order, so both backends draw the same random masks. *quant_failed is set as on the CPU
 * when a format cannot be applied (the operand then passes unquantized). Returns 0, or -1 with a
 * message (a CUDA failure, or a configuration without a CUDA path). */
int qn_linear_cuda_forward(qn_linear_cuda *l, cublasHandle_t blas, const float *x, float *y, int rows, qn_rng *rng,
                           int *quant_failed, char *err, size_t errlen);
/* dy (rows,out): dW and db accumulate; dx (rows,in) is overwritten, or accumulated when
 * accumulate_dx; dx may be NULL. scratch: device (rows,in) floats, used when the input is masked. */
int qn_linear_cuda_backward(qn_linear_cuda *l, cublasHandle_t blas, const float *dy, float *dx, int rows,
                            int accumulate_dx, float *scratch, char *err, size_t errlen);
#endif

#endif
