/* linear_cuda.c: the Linear layer of linear.c on the GPU (see linear_cuda.h), step for step. */
#include "linear_cuda.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int qn_linear_cuda_supported(const qn_linear *l, char *err, size_t errlen) {
    for (int o = 0; o < 3; o++)
        if ((int)l->fmt[o].kind < 0 || l->fmt[o].kind >= QN_FMT_COUNT) {
            snprintf(err, errlen, "%s: format %d is not supported on CUDA yet", l->name, (int)l->fmt[o].kind);
            return -1;
        }
    /* linear.c treats every method other than l1-norm as random; the CUDA path names both */
    const char *m = l->act_prune.method;
    if (m[0] && strcmp(m, "l1-norm") != 0 && strcmp(m, "random") != 0) {
        snprintf(err, errlen, "%s: activation pruning method '%s' is not supported on CUDA yet", l->name, m);
        return -1;
    }
    return 0;
}

#ifdef QUENCH_HAVE_CUDA
#include <cuda_runtime.h>

#include "qn_nn_cuda.h"

#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((call) != 0) return -1;                                                                \
    } while (0)

/* linear.c's fake_quant: on failure the operand passes unquantized and *failed is set. */
static int fake_quant(const qn_format *f, const float *x, float *y, int64_t rows, int64_t cols, int *failed,
                      char *err, size_t errlen) {
    int64_t shape[2] = {rows, cols};
    char qerr[160];
    if (qn_cuda_format_apply(f, x, y, shape, 2, qerr, sizeof qerr) == 0) return 0;
    *failed = 1;
    cudaError_t e = cudaSuccess; /* a broken device (sticky error) surfaces in this copy */
    if (x != y) e = cudaMemcpy(y, x, (size_t)(rows * cols) * sizeof(float), cudaMemcpyDeviceToDevice);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "fake quantization (%s) failed: %s", qerr, cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

int qn_linear_cuda_forward(qn_linear_cuda *d, cublasHandle_t blas, const float *x, float *y, int rows, qn_rng *rng,
                           int *quant_failed, char *err, size_t errlen) {
    qn_linear *l = d->host;
    if (rows > l->max_rows) {
        snprintf(err, errlen, "%s: %d rows, room for %d", l->name, rows, l->max_rows);
        return -1;
    }
    TRY(qn_linear_cuda_supported(l, err, errlen));
    const size_t nx = (size_t)rows * l->in;
    const float *src = x;
    l->last_rows = rows;
    if (l->act_prune.method[0] && nx > 0) {
        if (strcmp(l->act_prune.method, "l1-norm") == 0) {
            /* local: one threshold over the whole input, recomputed every forward; global: fixed */
            float t = l->act_threshold;
            if (strcmp(l->act_prune.scope, "global") != 0) {
                err[0] = 0;
                t = qn_cuda_abs_quantile(x, nx, l->act_prune.sparsity, err, errlen);
                if (isnan(t) && err[0]) return -1; /* NaN without a message: NaN inputs, as on the CPU */
            }
            TRY(qn_cuda_mask_l1(x, nx, t, d->x_mask, err, errlen));
        } else {
            const uint64_t key = qn_rng_u64(rng); /* the draw qn_mask_random makes */
            TRY(qn_cuda_mask_random(nx, l->act_prune.sparsity, key, d->x_mask, err, errlen));
        }
        TRY(qn_cuda_apply_mask(x, d->x_mask, d->x_q, nx, err, errlen));
        src = d->x_q;
        size_t zeros = 0;
        TRY(qn_cuda_count_zeros(d->x_mask, nx, &zeros, err, errlen));
        l->act_zeros += (double)zeros;
        l->act_total += (double)nx;
    }
    TRY(fake_quant(&l->fmt[0], src, d->x_q, rows, l->in, quant_failed, err, errlen));
    /* unquantized weight and bias: the parameters themselves, as linear.c (no copy every step) */
    d->w_used = d->W, d->b_used = d->b;
    if (l->fmt[1].kind != QN_FMT_NONE) {
        TRY(fake_quant(&l->fmt[1], d->W, d->Wq, l->out, l->in, quant_failed, err, errlen));
        d->w_used = d->Wq;
    }
    if (l->fmt[2].kind != QN_FMT_NONE) {
        TRY(fake_quant(&l->fmt[2], d->b, d->bq, 1, l->out, quant_failed, err, errlen));
        d->b_used = d->bq;
    }
    TRY(qn_cuda_rows_set(y, d->b_used, rows, l->out, err, errlen));
    return qn_cuda_sgemm(blas, 0, 1, rows, l->out, l->in, 1.0f, d->x_q, l->in, d->w_used, l->in, 1.0f, y, l->out,
                         err, errlen);
}

int qn_linear_cuda_backward(qn_linear_cuda *d, cublasHandle_t blas, const float *dy, float *dx, int rows,
                            int accumulate_dx, float *scratch, char *err, size_t errlen) {
    qn_linear *l = d->host;
    TRY(qn_cuda_sgemm(blas, 1, 0, l->out, l->in, rows, 1.0f, dy, l->out, d->x_q, l->in, 1.0f, d->dW, l->in, err,
                      errlen));
    TRY(qn_cuda_colsum_add(d->db, dy, rows, l->out, err, errlen));
    if (!dx) return 0;
    if (!l->act_prune.method[0])
        return qn_cuda_sgemm(blas, 0, 0, rows, l->in, l->out, 1.0f, dy, l->out, d->w_used, l->in,
                             accumulate_dx ? 1.0f : 0.0f, dx, l->in, err, errlen);
    /* masked inputs pass no gradient: the product into scratch, then masked into (or onto) dx */
    TRY(qn_cuda_sgemm(blas, 0, 0, rows, l->in, l->out, 1.0f, dy, l->out, d->w_used, l->in, 0.0f, scratch, l->in, err,
                      errlen));
    return qn_cuda_masked_grad(dx, scratch, d->x_mask, (size_t)rows * l->in, accumulate_dx, err, errlen);
}
#endif
