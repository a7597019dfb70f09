/* formats.cu: MASE's formats, fp16/bf16 and the MXINT8 -> bf16 dequantization on the GPU. The
 * per-element arithmetic is kernels/cpu/format_elem.h, shared with the CPU loops, so both give the
 * same bits; block maxima, MASE's zero-block substitution and per-row statistics are computed here. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>

#include "../cpu/format_elem.h"
#include "qn_cuda_check.h"
#include "cuda_internal.h"
#include "qn_formats.h"
#include "qn_kernels.h"

namespace {

const int kThreads = 256;

unsigned grid_for(size_t n) {
    size_t blocks = (n + kThreads - 1) / kThreads;
    return (unsigned)(blocks > 65535u * 16u ? 65535u * 16u : (blocks ? blocks : 1));
}

#define GRID_STRIDE(i, n) for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

struct elem_params {
    int kind, m, width, frac;
    float b, emin, emax;
};

__global__ void elementwise_kernel(const float *x, float *y, size_t n, elem_params p) {
    GRID_STRIDE(i, n) {
        float xi = x[i], out = xi;
        switch (p.kind) {
        case QN_FMT_MINIFLOAT_DENORM: out = qn_minifloat_denorm_elem(xi, p.m, p.emin, p.emax); break;
        case QN_FMT_MINIFLOAT_IEEE: out = qn_minifloat_ieee_elem(xi, p.m, p.b, p.emin, p.emax); break;
        case QN_FMT_LOG: out = qn_log_elem(xi, p.emin, p.emax); break;
        case QN_FMT_BINARY: out = xi >= 0.0f ? 1.0f : -1.0f; break;
        case QN_FMT_FP16: out = __half2float(__float2half_rn(xi)); break;
        case QN_FMT_BF16: out = __bfloat162float(__float2bfloat16_rn(xi)); break;
        default: break;
        }
        y[i] = out;
    }
}

/* NaN-propagating max |x| of each block of a row (flush: mxfp's subnormal flush first). */
__global__ void block_max_kernel(const float *x, size_t rows, size_t cols, size_t bs, size_t nb, int flush, float *mx) {
    GRID_STRIDE(k, rows * nb) {
        size_t r = k / nb, j = k % nb, end = (j + 1) * bs < cols ? (j + 1) * bs : cols;
        float m = 0.0f;
        for (size_t c = j * bs; c < end; c++) {
            float v = x[r * cols + c];
            float a = fabsf(flush ? qn_flush_subnormal(v) : v);
            if (a > m || isnan(a)) m = a;
            if (isnan(m)) break;
        }
        mx[k] = m;
    }
}

/* MASE's blocking: zero maxima take the smallest non-zero maximum of the tensor (1 if none, NaN if
 * any maximum is NaN: qn_zero_fill_step). One CTA. */
__global__ void zero_block_fill_kernel(float *mx, size_t count) {
    __shared__ float smallest[kThreads];
    float s = -1.0f;
    for (size_t k = threadIdx.x; k < count; k += blockDim.x) s = qn_zero_fill_step(s, mx[k]);
    smallest[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) {
            /* a partial result of -1 (none) is skipped like a zero maximum */
            float other = smallest[threadIdx.x + w];
            if (other != -1.0f) smallest[threadIdx.x] = qn_zero_fill_step(smallest[threadIdx.x], other);
        }
        __syncthreads();
    }
    float fill = smallest[0] < 0.0f ? 1.0f : smallest[0];
    for (size_t k = threadIdx.x; k < count; k += blockDim.x)
        if (mx[k] == 0.0f) mx[k] = fill;
}

struct block_params {
    int kind, m, bias_i, emax_code, ew, ebw;
    float emin, emax, half;
    size_t bs, nb;
};

__global__ void block_apply_kernel(const float *x, float *y, size_t rows, size_t cols, const float *mx, block_params p) {
    GRID_STRIDE(i, rows * cols) {
        size_t r = i / cols, c = i % cols;
        float M = mx[r * p.nb + c / p.bs], xi = x[i], out;
        switch (p.kind) {
        case QN_FMT_BLOCK_FP:
            out = qn_block_fp_elem(xi, qn_clampf(qn_ceil_log2f(M), p.emin, p.emax), p.m);
            break;
        case QN_FMT_BLOCK_MINIFLOAT: {
            float b = qn_clampf(qn_floor_log2f(M), 0.0f, ldexpf(1.0f, p.ebw) - 1.0f);
            out = isnan(b) ? NAN : qn_minifloat_ieee_elem(xi, p.m, b, -b, ldexpf(1.0f, p.ew) - 1.0f - b);
            break;
        }
        case QN_FMT_BLOCK_LOG: {
            float top = ldexpf(1.0f, p.m) - 1.0f; /* m carries eb = width - 1 here */
            float b = qn_clampf(top - qn_ceil_log2f(M), 0.0f, ldexpf(1.0f, p.ebw) - 1.0f);
            out = isnan(b) ? NAN : qn_log_elem(xi, -b, top - b);
            break;
        }
        case QN_FMT_MXINT: {
            M = M > 0x1p-126f || isnan(M) ? M : 0x1p-126f;
            float S = qn_ceil_log2f(M);
            float pw = isnan(S) ? NAN : exp2f(S);
            float code = qn_clampf(S + 127.0f, 0.0f, 255.0f);
            float scale = isnan(code) ? NAN : exp2f(code - 127.0f);
            out = qn_mxint_elem(xi, pw, scale, p.half);
            break;
        }
        default: { /* QN_FMT_MXFP */
            if (M == 0.0f) { /* every element flushed: +0.0, as MASE (no NaN here: it would be M) */
                out = 0.0f;
                break;
            }
            float se = qn_clampf(qn_floor_log2f(M) - p.emax, -127.0f, 128.0f);
            float scale = isnan(se) ? NAN : exp2f(se);
            out = qn_mxfp_elem(qn_flush_subnormal(xi) / scale, p.m, p.bias_i, p.emax_code) * scale;
            break;
        }
        }
        y[i] = out;
    }
}

/* Per lead row: mean |x| (binary, ternary's delta), then for scaled ternary the mean of |x| > delta. */
__global__ void lead_stats_kernel(const float *x, size_t rest, int ternary, int scaled, float *alpha, float *delta) {
    __shared__ double sum[kThreads];
    __shared__ double cnt[kThreads];
    const float *xr = x + (size_t)blockIdx.x * rest;
    double s = 0.0;
    for (size_t i = threadIdx.x; i < rest; i += blockDim.x) s += fabsf(xr[i]);
    sum[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sum[threadIdx.x] += sum[threadIdx.x + w];
        __syncthreads();
    }
    double total = sum[0];
    __syncthreads(); /* every thread has read sum[0] before it is reused below */
    if (!ternary) {
        if (threadIdx.x == 0) alpha[blockIdx.x] = rest ? (float)(total / (double)rest) : 0.0f;
        return;
    }
    float d = rest ? 0.75f * (float)total / (float)rest : 0.0f; /* MASE's order: 0.75 * sum / n */
    if (threadIdx.x == 0) delta[blockIdx.x] = d;
    if (!scaled) return;
    s = 0.0;
    double k = 0.0;
    for (size_t i = threadIdx.x; i < rest; i += blockDim.x)
        if (fabsf(xr[i]) > d) s += fabsf(xr[i]), k += 1.0;
    sum[threadIdx.x] = s;
    cnt[threadIdx.x] = k;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if ((int)threadIdx.x < w) sum[threadIdx.x] += sum[threadIdx.x + w], cnt[threadIdx.x] += cnt[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) alpha[blockIdx.x] = cnt[0] > 0 ? (float)(sum[0] / cnt[0]) : NAN;
}

__global__ void lead_apply_kernel(const float *x, float *y, size_t lead, size_t rest, int ternary, int scaled,
                                  const float *alpha, const float *delta) {
    GRID_STRIDE(i, lead * rest) {
        size_t r = i / rest;
        float xi = x[i];
        if (!ternary) {
            y[i] = (xi > 0.0f ? 1.0f : 0.0f) * alpha[r]; /* MASE's pos_one * alpha: a NaN mean reaches all */
        } else {
            float t = xi > delta[r] ? 1.0f : xi < -delta[r] ? -1.0f : 0.0f;
            y[i] = scaled ? t * alpha[r] : t;
        }
    }
}

__global__ void mxint8_bf16_kernel(const qn_mxint8_block *in, size_t n, uint16_t *out) {
    GRID_STRIDE(i, n) {
        const qn_mxint8_block *b = in + i / 32;
        if (b->scale == 0xFF) {
            out[i] = 0x7FC0;
        } else {
            /* m * 2^(E-133) is exact in float32 for every E; one rounding to bf16 (the published
             * bit trick breaks at E = 0, E = 255 and m = -128). */
            __nv_bfloat16 h = __float2bfloat16_rn(ldexpf((float)b->elem[i % 32], (int)b->scale - 133));
            out[i] = *reinterpret_cast<unsigned short *>(&h);
        }
    }
}

} // namespace

extern "C" int qn_cuda_format_apply(const qn_format *f, const float *d_x, float *d_y, const int64_t *shape, int ndim,
                                    char *err, size_t errlen) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    if (n == 0) return 0;
    size_t last = ndim ? (size_t)shape[ndim - 1] : 1, rows = n / last;
    size_t lead = ndim ? (size_t)shape[0] : 1, rest = n / lead;
    switch (f->kind) {
    case QN_FMT_NONE:
        if (d_x != d_y) QN_CUDA_TRY(cudaMemcpy(d_y, d_x, n * sizeof(float), cudaMemcpyDeviceToDevice), err, errlen);
        return 0;
    case QN_FMT_INTEGER: return qn_cuda_quant_integer(d_x, d_y, n, f->width, f->frac_width, err, errlen);
    case QN_FMT_MINIFLOAT_DENORM:
    case QN_FMT_MINIFLOAT_IEEE:
    case QN_FMT_LOG:
    case QN_FMT_FP16:
    case QN_FMT_BF16: {
        elem_params p = {f->kind, 0, f->width, f->frac_width, 0, 0, 0};
        if (f->kind == QN_FMT_LOG) {
            int eb = f->width - 1, b = f->exponent_bias == QN_BIAS_DEFAULT ? (1 << (eb - 1)) - 1 : f->exponent_bias;
            p.emin = (float)-b, p.emax = (float)((1 << eb) - 1 - b);
        } else if (f->kind != QN_FMT_FP16 && f->kind != QN_FMT_BF16) {
            int b = f->exponent_bias == QN_BIAS_DEFAULT ? (1 << (f->exponent_width - 1)) - 1 : f->exponent_bias;
            p.m = f->width - f->exponent_width - 1, p.b = (float)b;
            p.emin = (float)-b, p.emax = (float)((1 << f->exponent_width) - 1 - b);
        }
        elementwise_kernel<<<grid_for(n), kThreads>>>(d_x, d_y, n, p);
        QN_CUDA_TRY(cudaGetLastError(), err, errlen);
        return 0;
    }
    case QN_FMT_BINARY:
    case QN_FMT_TERNARY: {
        if (f->kind == QN_FMT_BINARY && f->bipolar) {
            elem_params p = {QN_FMT_BINARY, 0, 0, 0, 0, 0, 0};
            elementwise_kernel<<<grid_for(n), kThreads>>>(d_x, d_y, n, p);
            QN_CUDA_TRY(cudaGetLastError(), err, errlen);
            return 0;
        }
        float *stats = NULL;
        QN_CUDA_TRY(cudaMalloc(&stats, 2 * lead * sizeof(float)), err, errlen);
        int ternary = f->kind == QN_FMT_TERNARY, scaled = ternary && f->scaling_factor;
        lead_stats_kernel<<<(unsigned)lead, kThreads>>>(d_x, rest, ternary, scaled, stats, stats + lead);
        lead_apply_kernel<<<grid_for(n), kThreads>>>(d_x, d_y, lead, rest, ternary, scaled, stats, stats + lead);
        cudaError_t e = cudaGetLastError();
        cudaFree(stats);
        QN_CUDA_TRY(e, err, errlen);
        return 0;
    }
    case QN_FMT_BLOCK_FP:
    case QN_FMT_BLOCK_MINIFLOAT:
    case QN_FMT_BLOCK_LOG:
    case QN_FMT_MXINT:
    case QN_FMT_MXFP: {
        size_t bs = (size_t)f->block_size, nb = (last + bs - 1) / bs;
        float *mx = NULL;
        QN_CUDA_TRY(cudaMalloc(&mx, rows * nb * sizeof(float)), err, errlen);
        block_params p = {f->kind, 0, 0, 0, f->exponent_width, f->exponent_bias_width, 0, 0, 0, bs, nb};
        switch (f->kind) {
        case QN_FMT_BLOCK_FP: {
            int b = f->exponent_bias == QN_BIAS_DEFAULT ? (1 << (f->exponent_width - 1)) - 1 : f->exponent_bias;
            p.m = f->width - 1, p.emin = (float)-b, p.emax = (float)((1 << f->exponent_width) - 1 - b);
            break;
        }
        case QN_FMT_BLOCK_MINIFLOAT: p.m = f->width - f->exponent_width - 1; break;
        case QN_FMT_BLOCK_LOG: p.m = f->width - 1; break;
        case QN_FMT_MXINT: p.half = ldexpf(1.0f, f->width - 1); break;
        default:
            p.m = f->frac_width, p.bias_i = (1 << (f->exponent_width - 1)) - 1, p.emax_code = (1 << f->exponent_width) - 1;
            p.emax = (float)(p.emax_code - p.bias_i);
            break;
        }
        block_max_kernel<<<grid_for(rows * nb), kThreads>>>(d_x, rows, last, bs, nb, f->kind == QN_FMT_MXFP, mx);
        if (f->kind == QN_FMT_BLOCK_FP || f->kind == QN_FMT_BLOCK_MINIFLOAT || f->kind == QN_FMT_BLOCK_LOG)
            zero_block_fill_kernel<<<1, kThreads>>>(mx, rows * nb);
        block_apply_kernel<<<grid_for(n), kThreads>>>(d_x, d_y, rows, last, mx, p);
        cudaError_t e = cudaGetLastError();
        cudaFree(mx);
        QN_CUDA_TRY(e, err, errlen);
        return 0;
    }
    default:
        return qn_cuda_infer_format_apply(f, d_x, d_y, rows, last, err, errlen);
    }
}

extern "C" int qn_cuda_mxint8_to_bf16(const qn_mxint8_block *d_in, size_t nblocks, uint16_t *d_out, char *err,
                                      size_t errlen) {
    size_t n = nblocks * 32;
    if (n == 0) return 0;
    mxint8_bf16_kernel<<<grid_for(n), kThreads>>>(d_in, n, d_out);
    QN_CUDA_TRY(cudaGetLastError(), err, errlen);
    return 0;
}
