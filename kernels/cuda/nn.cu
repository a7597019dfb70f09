/* nn.cu: the transformer ops of kernels/cpu/{layernorm,activations,attention,adamw}.c and the pieces
 * of bert.c and linear.c around them, on the GPU (see qn_nn_cuda.h). Each kernel follows its CPU
 * loop's arithmetic; where the CPU sums in a fixed order and the GPU can afford the same (bias and
 * LayerNorm parameter gradients, embedding gradients, AdamW), it keeps that order and rounds each
 * operation separately (__f*_rn: nvcc would otherwise fuse a*b+c into one FMA, which the CPU build
 * never does), so those results are the CPU's bit for bit given the same inputs. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "qn_cuda_check.h"
#include "qn_nn_cuda.h"

namespace {

const int kThreads = 256;
const int kWarpsPerBlock = kThreads / 32;

unsigned grid_for(size_t n) {
    size_t blocks = (n + kThreads - 1) / kThreads;
    return (unsigned)(blocks > 65535u * 16u ? 65535u * 16u : (blocks ? blocks : 1));
}

/* one warp per row */
unsigned grid_rows(size_t rows) {
    size_t blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
    return (unsigned)(blocks ? blocks : 1);
}

#define GRID_STRIDE(i, n) for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

#define LAUNCH_CHECK(err, errlen) QN_CUDA_TRY(cudaGetLastError(), err, errlen)

__device__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ float warp_max(float v) {
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

cublasOperation_t op_of(int trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

int blas_fail(cublasStatus_t s, const char *call, int M, int N, int K, char *err, size_t errlen) {
    if (err) snprintf(err, errlen, "%s (%d x %d x %d) failed: %s", call, M, N, K, cublasGetStatusString(s));
    return -1;
}

/* ---- element-wise ---- */

__global__ void add_kernel(float *out, const float *a, const float *b, size_t n) {
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

__global__ void rows_set_kernel(float *y, const float *b, size_t rows, size_t cols) {
    GRID_STRIDE(i, rows * cols) y[i] = b[i % cols];
}

__global__ void colsum_add_kernel(float *out, const float *in, size_t rows, size_t cols) {
    GRID_STRIDE(j, cols) {
        float s = 0.0f;
        for (size_t r = 0; r < rows; r++) s = __fadd_rn(s, in[r * cols + j]);
        out[j] = __fadd_rn(out[j], s);
    }
}

__global__ void masked_grad_kernel(float *dx, const float *src, const uint8_t *mask, size_t n, int accumulate) {
    GRID_STRIDE(i, n) {
        float g = mask[i] ? src[i] : 0.0f;
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

__global__ void count_zeros_kernel(const uint8_t *mask, size_t n, unsigned long long *count) {
    unsigned long long z = 0;
    GRID_STRIDE(i, n) z += mask[i] == 0;
    for (int o = 16; o > 0; o /= 2) z += __shfl_xor_sync(0xffffffffu, z, o);
    if ((threadIdx.x & 31) == 0 && z) atomicAdd(count, z);
}

/* ---- embeddings ---- */

__global__ void embedding_forward_kernel(float *emb, const int32_t *ids, const float *word, const float *pos,
                                         const float *type, size_t BT, int T, int C) {
    GRID_STRIDE(i, BT * (size_t)C) {
        size_t n = i / (size_t)C, c = i % (size_t)C, t = n % (size_t)T;
        emb[i] = __fadd_rn(__fadd_rn(word[(size_t)ids[n] * C + c], type[c]), pos[t * C + c]);
    }
}

__global__ void embedding_word_grad_kernel(float *dword, const float *demb, const int32_t *order,
                                           const int32_t *seg_start, const int32_t *seg_id, int nseg, int C) {
    GRID_STRIDE(i, (size_t)nseg * C) {
        size_t s = i / (size_t)C, c = i % (size_t)C;
        float acc = 0.0f;
        for (int k = seg_start[s]; k < seg_start[s + 1]; k++) acc = __fadd_rn(acc, demb[(size_t)order[k] * C + c]);
        float *dst = dword + (size_t)seg_id[s] * C + c;
        *dst = __fadd_rn(*dst, acc);
    }
}

__global__ void embedding_pos_grad_kernel(float *dpos, const float *demb, int B, int T, int C) {
    GRID_STRIDE(i, (size_t)T * C) {
        size_t t = i / (size_t)C, c = i % (size_t)C;
        float acc = dpos[i];
        for (int b = 0; b < B; b++) acc = __fadd_rn(acc, demb[((size_t)b * T + t) * C + c]);
        dpos[i] = acc;
    }
}

__global__ void embedding_type_grad_kernel(float *dtype, const float *demb, size_t BT, int C) {
    GRID_STRIDE(c, (size_t)C) {
        float acc = dtype[c];
        for (size_t n = 0; n < BT; n++) acc = __fadd_rn(acc, demb[n * C + c]);
        dtype[c] = acc;
    }
}

/* ---- LayerNorm ---- */

__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                                         const float *bias, int N, int C, float eps) {
    int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    float *o = out + (size_t)row * C;
    double m = 0.0;
    for (int i = lane; i < C; i += 32) m += x[i];
    m = warp_sum_d(m) / C;
    double var = 0.0;
    for (int i = lane; i < C; i += 32) var += (x[i] - m) * (x[i] - m);
    var = warp_sum_d(var) / C;
    float s = (float)(1.0 / sqrt(var + eps));
    float mf = (float)m;
    for (int i = lane; i < C; i += 32) o[i] = __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(x[i], mf), s), weight[i]), bias[i]);
    if (lane == 0) mean[row] = mf, rstd[row] = s;
}

__global__ void layernorm_backward_rows_kernel(float *dinp, const float *dout, const float *inp, const float *weight,
                                               const float *mean, const float *rstd, int N, int C) {
    int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C, *d = dout + (size_t)row * C;
    float *dx = dinp + (size_t)row * C;
    const float m = mean[row], s = rstd[row];
    double sum_dnorm = 0.0, sum_dnorm_norm = 0.0;
    for (int i = lane; i < C; i += 32) {
        float norm = __fmul_rn(__fsub_rn(x[i], m), s), dnorm = __fmul_rn(d[i], weight[i]);
        sum_dnorm += dnorm;
        sum_dnorm_norm += (double)dnorm * norm;
    }
    sum_dnorm = warp_sum_d(sum_dnorm);
    sum_dnorm_norm = warp_sum_d(sum_dnorm_norm);
    const float mean_dnorm = (float)(sum_dnorm / C), mean_dnorm_norm = (float)(sum_dnorm_norm / C);
    for (int i = lane; i < C; i += 32) {
        float norm = __fmul_rn(__fsub_rn(x[i], m), s), dnorm = __fmul_rn(d[i], weight[i]);
        float g = __fmul_rn(s, __fsub_rn(__fsub_rn(dnorm, mean_dnorm), __fmul_rn(norm, mean_dnorm_norm)));
        dx[i] = __fadd_rn(dx[i], g);
    }
}

/* dweight, dbias: one thread per channel over the rows in order, as the CPU accumulates them */
__global__ void layernorm_backward_params_kernel(float *dweight, float *dbias, const float *dout, const float *inp,
                                                 const float *mean, const float *rstd, int N, int C) {
    GRID_STRIDE(c, (size_t)C) {
        float dw = dweight[c], db = dbias[c];
        for (int n = 0; n < N; n++) {
            size_t i = (size_t)n * C + c;
            float norm = __fmul_rn(__fsub_rn(inp[i], mean[n]), rstd[n]);
            db = __fadd_rn(db, dout[i]);
            dw = __fadd_rn(dw, __fmul_rn(dout[i], norm));
        }
        dweight[c] = dw, dbias[c] = db;
    }
}

/* ---- activations ---- */

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

__global__ void gelu_forward_kernel(float *out, const float *inp, size_t n) {
    GRID_STRIDE(i, n) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * (float)INV_SQRT2));
    }
}

__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, size_t n) {
    GRID_STRIDE(i, n) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * (float)INV_SQRT2));
        float pdf = (float)INV_SQRT_2PI * expf(-0.5f * x * x);
        dinp[i] += dout[i] * (cdf + x * pdf);
    }
}

__global__ void tanh_forward_kernel(float *out, const float *inp, size_t n) {
    GRID_STRIDE(i, n) out[i] = tanhf(inp[i]);
}

__global__ void tanh_backward_kernel(float *dinp, const float *out, const float *dout, size_t n) {
    GRID_STRIDE(i, n) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

/* ---- attention: masked softmax over the keys, rows of T in att (B,NH,T,T); the scores arrive scaled */

__global__ void attention_softmax_kernel(float *att, const int32_t *mask, int B, int NH, int T) {
    size_t rows = (size_t)B * NH * T;
    size_t row = (size_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    size_t b = row / ((size_t)NH * T);
    float *a = att + row * T;
    float mx = -INFINITY;
    for (int j = lane; j < T; j += 32) {
        float s = a[j];
        if (mask && !mask[b * T + j]) s += -FLT_MAX; /* Hugging Face's additive padding mask */
        a[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j < T; j += 32) sum += (a[j] = expf(a[j] - mx));
    sum = warp_sum(sum);
    const float inv = 1.0f / sum;
    for (int j = lane; j < T; j += 32) a[j] *= inv;
}

/* datt (the gradient of att) -> the gradient of the scaled scores, in place */
__global__ void attention_softmax_backward_kernel(float *datt, const float *att, int B, int NH, int T, float scale) {
    size_t rows = (size_t)B * NH * T;
    size_t row = (size_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const float *a = att + row * T;
    float *d = datt + row * T;
    float dsum = 0.0f;
    for (int j = lane; j < T; j += 32) dsum += a[j] * d[j];
    dsum = warp_sum(dsum);
    for (int j = lane; j < T; j += 32) d[j] = a[j] * (d[j] - dsum) * scale;
}

/* ---- head ---- */

__global__ void softmax_rows_kernel(float *probs, const float *logits, int B, int NL) {
    GRID_STRIDE(b, (size_t)B) {
        const float *z = logits + b * NL;
        float *pr = probs + b * NL, mx = z[0], sum = 0.0f;
        for (int k = 1; k < NL; k++) mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < NL; k++) sum += (pr[k] = expf(z[k] - mx));
        for (int k = 0; k < NL; k++) pr[k] /= sum;
    }
}

__global__ void crossentropy_backward_kernel(float *dlogits, const float *probs, const int32_t *labels, int B, int NL) {
    GRID_STRIDE(i, (size_t)B * NL) {
        size_t b = i / (size_t)NL;
        int k = (int)(i % (size_t)NL);
        dlogits[i] = (probs[i] - (k == labels[b] ? 1.0f : 0.0f)) / (float)B;
    }
}

/* ---- AdamW: kernels/cpu/adamw.c operation by operation ---- */

__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, const uint8_t *mask, const uint8_t *decays,
                             size_t n, float decay, float step_size, float bc2_sqrt, float lerp_weight,
                             float one_minus_lerp, float beta2, float one_minus_beta2, float eps) {
    GRID_STRIDE(i, n) {
        float gi = g[i], m0 = m[i];
        float pi = __fmul_rn(p[i], (decays && !decays[i]) ? 1.0f : decay); /* x * 1 is x: no decay */
        float mi = lerp_weight < 0.5f ? __fadd_rn(m0, __fmul_rn(lerp_weight, __fsub_rn(gi, m0)))
                                      : __fsub_rn(gi, __fmul_rn(__fsub_rn(gi, m0), one_minus_lerp));
        float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(one_minus_beta2, gi), gi));
        m[i] = mi;
        v[i] = vi;
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
        pi = __fsub_rn(pi, __fdiv_rn(__fmul_rn(step_size, mi), denom));
        p[i] = (mask && !mask[i]) ? 0.0f : pi; /* pruned weights stay exactly zero */
    }
}

} // namespace

/* ---------------------------------------------------------------- GEMM */

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands and M, N. */
extern "C" int qn_cuda_sgemm(cublasHandle_t h, int trans_a, int trans_b, int M, int N, int K, float alpha,
                             const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
                             char *err, size_t errlen) {
    if (M <= 0 || N <= 0) return 0;
    cublasStatus_t s = cublasSgemm(h, op_of(trans_b), op_of(trans_a), N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc);
    return s == CUBLAS_STATUS_SUCCESS ? 0 : blas_fail(s, "cublasSgemm", M, N, K, err, errlen);
}

extern "C" int qn_cuda_sgemm_strided(cublasHandle_t h, int trans_a, int trans_b, int M, int N, int K, float alpha,
                                     const float *A, int lda, long long stride_a, const float *B, int ldb,
                                     long long stride_b, float beta, float *C, int ldc, long long stride_c, int batch,
                                     char *err, size_t errlen) {
    if (M <= 0 || N <= 0 || batch <= 0) return 0;
    cublasStatus_t s = cublasSgemmStridedBatched(h, op_of(trans_b), op_of(trans_a), N, M, K, &alpha, B, ldb, stride_b,
                                                 A, lda, stride_a, &beta, C, ldc, stride_c, batch);
    return s == CUBLAS_STATUS_SUCCESS ? 0 : blas_fail(s, "cublasSgemmStridedBatched", M, N, K, err, errlen);
}

/* ---------------------------------------------------------------- element-wise */

extern "C" int qn_cuda_add(float *out, const float *a, const float *b, size_t n, char *err, size_t errlen) {
    if (n == 0) return 0;
    add_kernel<<<grid_for(n), kThreads>>>(out, a, b, n);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_rows_set(float *y, const float *b, int rows, int cols, char *err, size_t errlen) {
    size_t n = (size_t)rows * cols;
    if (n == 0) return 0;
    rows_set_kernel<<<grid_for(n), kThreads>>>(y, b, (size_t)rows, (size_t)cols);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_colsum_add(float *out, const float *in, int rows, int cols, char *err, size_t errlen) {
    if (cols <= 0) return 0;
    colsum_add_kernel<<<grid_for((size_t)cols), kThreads>>>(out, in, (size_t)(rows > 0 ? rows : 0), (size_t)cols);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_masked_grad(float *dx, const float *src, const uint8_t *mask, size_t n, int accumulate,
                                   char *err, size_t errlen) {
    if (n == 0) return 0;
    masked_grad_kernel<<<grid_for(n), kThreads>>>(dx, src, mask, n, accumulate);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_count_zeros(const uint8_t *mask, size_t n, size_t *zeros, char *err, size_t errlen) {
    *zeros = 0;
    if (n == 0) return 0;
    unsigned long long *d_count = NULL, count = 0;
    QN_CUDA_TRY(cudaMalloc(&d_count, sizeof *d_count), err, errlen);
    cudaError_t e = cudaMemset(d_count, 0, sizeof *d_count);
    if (e == cudaSuccess) {
        count_zeros_kernel<<<grid_for(n), kThreads>>>(mask, n, d_count);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaMemcpy(&count, d_count, sizeof count, cudaMemcpyDeviceToHost);
    cudaFree(d_count);
    QN_CUDA_TRY(e, err, errlen);
    *zeros = (size_t)count;
    return 0;
}

/* ---------------------------------------------------------------- embeddings */

extern "C" int qn_cuda_embedding_forward(float *emb, const int32_t *ids, const float *word, const float *pos,
                                         const float *type, int B, int T, int C, char *err, size_t errlen) {
    size_t n = (size_t)B * T * C;
    if (n == 0) return 0;
    embedding_forward_kernel<<<grid_for(n), kThreads>>>(emb, ids, word, pos, type, (size_t)B * T, T, C);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_embedding_backward(float *dword, float *dpos, float *dtype, const float *demb,
                                          const int32_t *order, const int32_t *seg_start, const int32_t *seg_id,
                                          int nseg, int B, int T, int C, char *err, size_t errlen) {
    if ((size_t)B * T * C == 0) return 0;
    if (nseg > 0) {
        embedding_word_grad_kernel<<<grid_for((size_t)nseg * C), kThreads>>>(dword, demb, order, seg_start, seg_id,
                                                                            nseg, C);
        LAUNCH_CHECK(err, errlen);
    }
    embedding_pos_grad_kernel<<<grid_for((size_t)T * C), kThreads>>>(dpos, demb, B, T, C);
    LAUNCH_CHECK(err, errlen);
    embedding_type_grad_kernel<<<grid_for((size_t)C), kThreads>>>(dtype, demb, (size_t)B * T, C);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

/* ---------------------------------------------------------------- LayerNorm */

extern "C" int qn_cuda_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                                         const float *bias, int N, int C, float eps, char *err, size_t errlen) {
    if (N <= 0 || C <= 0) return 0;
    layernorm_forward_kernel<<<grid_rows((size_t)N), kThreads>>>(out, mean, rstd, inp, weight, bias, N, C, eps);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                          const float *inp, const float *weight, const float *mean, const float *rstd,
                                          int N, int C, char *err, size_t errlen) {
    if (N <= 0 || C <= 0) return 0;
    layernorm_backward_rows_kernel<<<grid_rows((size_t)N), kThreads>>>(dinp, dout, inp, weight, mean, rstd, N, C);
    LAUNCH_CHECK(err, errlen);
    layernorm_backward_params_kernel<<<grid_for((size_t)C), kThreads>>>(dweight, dbias, dout, inp, mean, rstd, N, C);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

/* ---------------------------------------------------------------- activations */

extern "C" int qn_cuda_gelu_forward(float *out, const float *inp, size_t n, char *err, size_t errlen) {
    if (n == 0) return 0;
    gelu_forward_kernel<<<grid_for(n), kThreads>>>(out, inp, n);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, char *err,
                                     size_t errlen) {
    if (n == 0) return 0;
    gelu_backward_kernel<<<grid_for(n), kThreads>>>(dinp, inp, dout, n);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_tanh_forward(float *out, const float *inp, size_t n, char *err, size_t errlen) {
    if (n == 0) return 0;
    tanh_forward_kernel<<<grid_for(n), kThreads>>>(out, inp, n);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_tanh_backward(float *dinp, const float *out, const float *dout, size_t n, char *err,
                                     size_t errlen) {
    if (n == 0) return 0;
    tanh_backward_kernel<<<grid_for(n), kThreads>>>(dinp, out, dout, n);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

/* ---------------------------------------------------------------- attention */

/* Head h of (B,T,C) is the (T,HS) block at column h*HS, row stride C, batch stride T*C; head h of att
 * (B,NH,T,T) is the (T,T) block at h*T*T, batch stride NH*T*T. One strided-batched product per head. */
extern "C" int qn_cuda_attention_forward(cublasHandle_t h, float *out, float *att, const float *q, const float *k,
                                         const float *v, const int32_t *mask, int B, int T, int C, int NH, char *err,
                                         size_t errlen) {
    if (B <= 0 || T <= 0) return 0;
    const int HS = C / NH;
    const float scale = 1.0f / sqrtf((float)HS);
    const long long sx = (long long)T * C, sa = (long long)NH * T * T, tt = (long long)T * T;
    for (int hd = 0; hd < NH; hd++) /* scores = scale * Q K^T */
        if (qn_cuda_sgemm_strided(h, 0, 1, T, T, HS, scale, q + hd * HS, C, sx, k + hd * HS, C, sx, 0.0f, att + hd * tt,
                                  T, sa, B, err, errlen) != 0)
            return -1;
    attention_softmax_kernel<<<grid_rows((size_t)B * NH * T), kThreads>>>(att, mask, B, NH, T);
    LAUNCH_CHECK(err, errlen);
    for (int hd = 0; hd < NH; hd++) /* out = att V */
        if (qn_cuda_sgemm_strided(h, 0, 0, T, HS, T, 1.0f, att + hd * tt, T, sa, v + hd * HS, C, sx, 0.0f,
                                  out + hd * HS, C, sx, B, err, errlen) != 0)
            return -1;
    return 0;
}

extern "C" int qn_cuda_attention_backward(cublasHandle_t h, float *dq, float *dk, float *dv, float *datt,
                                          const float *dout, const float *att, const float *q, const float *k,
                                          const float *v, int B, int T, int C, int NH, char *err, size_t errlen) {
    if (B <= 0 || T <= 0) return 0;
    const int HS = C / NH;
    const float scale = 1.0f / sqrtf((float)HS);
    const long long sx = (long long)T * C, sa = (long long)NH * T * T, tt = (long long)T * T;
    for (int hd = 0; hd < NH; hd++) {
        /* out = att V: datt = dout V^T, dV += att^T dout */
        if (qn_cuda_sgemm_strided(h, 0, 1, T, T, HS, 1.0f, dout + hd * HS, C, sx, v + hd * HS, C, sx, 0.0f,
                                  datt + hd * tt, T, sa, B, err, errlen) != 0 ||
            qn_cuda_sgemm_strided(h, 1, 0, T, HS, T, 1.0f, att + hd * tt, T, sa, dout + hd * HS, C, sx, 1.0f,
                                  dv + hd * HS, C, sx, B, err, errlen) != 0)
            return -1;
    }
    /* softmax: dscore = att * (datt - sum(att * datt)) * scale */
    attention_softmax_backward_kernel<<<grid_rows((size_t)B * NH * T), kThreads>>>(datt, att, B, NH, T, scale);
    LAUNCH_CHECK(err, errlen);
    for (int hd = 0; hd < NH; hd++) {
        /* scores = Q K^T: dQ += dS K, dK += dS^T Q */
        if (qn_cuda_sgemm_strided(h, 0, 0, T, HS, T, 1.0f, datt + hd * tt, T, sa, k + hd * HS, C, sx, 1.0f,
                                  dq + hd * HS, C, sx, B, err, errlen) != 0 ||
            qn_cuda_sgemm_strided(h, 1, 0, T, HS, T, 1.0f, datt + hd * tt, T, sa, q + hd * HS, C, sx, 1.0f,
                                  dk + hd * HS, C, sx, B, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- head */

extern "C" int qn_cuda_softmax_forward(float *probs, const float *logits, int B, int NL, char *err, size_t errlen) {
    if (B <= 0 || NL <= 0) return 0;
    softmax_rows_kernel<<<grid_for((size_t)B), kThreads>>>(probs, logits, B, NL);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_crossentropy_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int NL,
                                             char *err, size_t errlen) {
    if (B <= 0 || NL <= 0) return 0;
    crossentropy_backward_kernel<<<grid_for((size_t)B * NL), kThreads>>>(dlogits, probs, labels, B, NL);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

/* ---------------------------------------------------------------- AdamW */

extern "C" int qn_cuda_adamw_step(float *p, const float *g, float *m, float *v, const uint8_t *mask, size_t n,
                                  float lr, float beta1, float beta2, float eps, float weight_decay, int t, char *err,
                                  size_t errlen) {
    return qn_cuda_adamw_step_groups(p, g, m, v, mask, NULL, n, lr, beta1, beta2, eps, weight_decay, t, err, errlen);
}

extern "C" int qn_cuda_adamw_step_groups(float *p, const float *g, float *m, float *v, const uint8_t *mask,
                                         const uint8_t *decays, size_t n, float lr, float beta1, float beta2, float eps,
                                         float weight_decay, int t, char *err, size_t errlen) {
    if (n == 0) return 0;
    /* the scalars exactly as adamw.c computes them */
    const float decay = (float)(1.0 - (double)lr * (double)weight_decay);
    const double bc1 = 1.0 - pow((double)beta1, t);
    const double bc2 = 1.0 - pow((double)beta2, t);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float lerp_weight = 1.0f - beta1;
    adamw_kernel<<<grid_for(n), kThreads>>>(p, g, m, v, mask, decays, n, decay, step_size, bc2_sqrt, lerp_weight,
                                            1.0f - lerp_weight, beta2, 1.0f - beta2, eps);
    LAUNCH_CHECK(err, errlen);
    return 0;
}
