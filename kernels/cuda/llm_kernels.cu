/* llm_kernels.cu: the decoder's kernels (qn_llm_cuda.h), each the GPU twin of a CPU loop in
 * worker/llm_*.c. Kept simple on purpose (they were written without a GPU to run them on): one
 * thread block per output row for the GEMVs with warp-shuffle reductions, one thread per element
 * elsewhere, one block per query row for attention. Weights are read in the CPU's packed layouts and
 * widened in registers to float32; every product and sum is float32 (int32 for LLM.int8's integer
 * part), so bfloat16 needs no bf16 arithmetic and runs the same on sm_75 as on sm_80 and later.
 * Where the CPU rounds each operation (dequantization, rotary embedding) the kernels do too
 * (__f*_rn: nvcc would otherwise fuse a*b+c into one FMA, which the CPU build never does). */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "qn_cuda_check.h"
#include "qn_infer_formats.h"
#include "qn_llm_cuda.h"

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxRows = QN_CUDA_LLM_GEMV_ROWS;
constexpr int kAttnThreads = 128;
constexpr int kAttnRed = 32; /* the attention kernel's static shared memory: one float per warp */
static_assert(kAttnRed * sizeof(float) == QN_CUDA_LLM_ATTN_STATIC_SMEM, "qn_llm_cuda.h's launch arithmetic");
/* gridDim.y and gridDim.z are at most 65535 on every architecture (gridDim.x: 2^31 - 1) */
constexpr int kMaxGridYZ = 65535;
constexpr float kInv127 = 7.874015718698502e-3f; /* float(1/127), as kernels/cpu/int8_absmax.c */

unsigned grid_for(size_t n) {
    size_t blocks = (n + kThreads - 1) / kThreads;
    return (unsigned)(blocks > 65535u * 16u ? 65535u * 16u : (blocks ? blocks : 1));
}

#define GRID_STRIDE(i, n) for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)
#define LAUNCH_CHECK(err, errlen) QN_CUDA_TRY(cudaGetLastError(), err, errlen)

/* The code tables of a 4-bit weight, passed by value and copied to shared memory by each block
 * (constant memory would serialize the warp's different indices). */
struct code_tables {
    float code4[16];
    float dyn8[256];
};

code_tables tables_of(const qn_cuda_llm_weight *w) {
    code_tables t;
    const float *c = w->nf4 ? qn_nf4_code : qn_fp4_code, *d = qn_dynamic8_code();
    for (int i = 0; i < 16; i++) t.code4[i] = c[i];
    for (int i = 0; i < 256; i++) t.dyn8[i] = d[i];
    return t;
}

/* Sum / max over the block, returned to every thread. red: 32 floats of shared memory. */
__device__ float block_sum(float v, float *red) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0.0f;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) t += red[w];
    __syncthreads(); /* red is free again */
    return t;
}
__device__ float block_max(float v, float *red) {
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) t = fmaxf(t, red[w]);
    __syncthreads();
    return t;
}

/* ---------------------------------------------------------------- weights */

__device__ __forceinline__ float f16_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_to_f32(uint16_t h) { return __uint_as_float((unsigned)h << 16); }

/* The absmax of 4-bit block b: stored, or rebuilt from its 8-bit code (qn_4bit_block_absmax's order). */
__device__ __forceinline__ float block_absmax4(const qn_cuda_llm_weight &w, const float *dyn8, size_t b) {
    if (!w.double_quant) return w.absmax4[b];
    return __fadd_rn(__fmul_rn(dyn8[w.absmax_q[b]], w.absmax2[b >> 8]), w.offset);
}

/* Element e of the flattened weight as the GEMV multiplies it: the value, except W8A16 and INT8
 * (the int8 code; the row scale is applied once per output). */
template <int F>
__device__ __forceinline__ float element(const qn_cuda_llm_weight &w, const float *code4, const float *dyn8, size_t e) {
    if constexpr (F == QN_CUDA_W_F32) {
        return w.w[e];
    } else if constexpr (F == QN_CUDA_W_F16) {
        return f16_to_f32(w.h[e]);
    } else if constexpr (F == QN_CUDA_W_BF16) {
        return bf16_to_f32(w.h[e]);
    } else if constexpr (F == QN_CUDA_W_W8A16 || F == QN_CUDA_W_INT8) {
        return (float)w.q[e];
    } else { /* 4-bit: the earlier element of a byte in its high nibble */
        const unsigned byte = w.packed[e >> 1], c = (e & 1) ? (byte & 15u) : (byte >> 4);
        return __fmul_rn(code4[c], block_absmax4(w, dyn8, e >> w.block_shift));
    }
}

template <int F>
__device__ void load_tables(const code_tables &tab, float *code4, float *dyn8) {
    if constexpr (F == QN_CUDA_W_4BIT) {
        for (int i = threadIdx.x; i < 256; i += blockDim.x) {
            dyn8[i] = tab.dyn8[i];
            if (i < 16) code4[i] = tab.code4[i];
        }
        __syncthreads();
    }
}

/* Block j: y[i, j] for the M rows. Threads stride over the row's elements (coalesced), each keeps M
 * partial sums, then a warp shuffle and one pass over the warps. */
template <int F>
__global__ void gemv_kernel(qn_cuda_llm_weight w, code_tables tab, const float *x, int ldx, int M, float *y, int ldy) {
    __shared__ float code4[16], dyn8[256];
    __shared__ float partial[kWarps][kMaxRows];
    load_tables<F>(tab, code4, dyn8);
    const int j = blockIdx.x;
    const size_t row = (size_t)j * (size_t)w.in;
    float acc[kMaxRows];
#pragma unroll
    for (int i = 0; i < kMaxRows; i++) acc[i] = 0.0f;
    for (int k = threadIdx.x; k < w.in; k += blockDim.x) {
        const float v = element<F>(w, code4, dyn8, row + (size_t)k);
#pragma unroll
        for (int i = 0; i < kMaxRows; i++)
            if (i < M) acc[i] = fmaf(v, x[(size_t)i * ldx + k], acc[i]);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int i = 0; i < kMaxRows; i++) {
        float s = acc[i];
        for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) partial[warp][i] = s;
    }
    __syncthreads();
    if ((int)threadIdx.x < M) {
        const int i = threadIdx.x;
        float s = 0.0f;
        for (int wi = 0; wi < kWarps; wi++) s += partial[wi][i];
        /* rounded before the bias as the CPU's (which adds it afterwards): no FMA */
        if constexpr (F == QN_CUDA_W_W8A16) s = __fmul_rn(s, w.absmax[j] * kInv127);
        if (w.bias) s += w.bias[j];
        y[(size_t)i * ldy + j] = s;
    }
}

/* out (rows j0.., in) float32: qn_llm_linear_dequantize (W8A16: (q * absmax) * 1/127, its order). */
template <int F>
__global__ void dequant_kernel(qn_cuda_llm_weight w, code_tables tab, int j0, size_t n, float *out) {
    __shared__ float code4[16], dyn8[256];
    load_tables<F>(tab, code4, dyn8);
    GRID_STRIDE(t, n) {
        const int j = j0 + (int)(t / (size_t)w.in);
        float v = element<F>(w, code4, dyn8, (size_t)j0 * w.in + t);
        if constexpr (F == QN_CUDA_W_W8A16) v = __fmul_rn(__fmul_rn(v, w.absmax[j]), kInv127);
        out[t] = v;
    }
}

__global__ void bias_add_kernel(float *y, int ldy, int M, int out, const float *b) {
    const size_t n = (size_t)M * out;
    GRID_STRIDE(t, n) {
        const size_t i = t / (size_t)out, j = t % (size_t)out;
        y[i * ldy + j] += b[j];
    }
}

/* ---------------------------------------------------------------- LLM.int8 */

/* flags[c]: some row has |x[r, c]| >= threshold (threshold 0: none). */
__global__ void int8_flags_kernel(const float *x, int ldx, int M, int in, float threshold, uint8_t *flags) {
    GRID_STRIDE(c, (size_t)in) {
        uint8_t f = 0;
        if (threshold > 0.0f)
            for (int r = 0; r < M && !f; r++) f = fabsf(x[(size_t)r * ldx + c]) >= threshold;
        flags[c] = f;
    }
}

/* One block: the outlier columns in ascending order. Each thread takes a contiguous chunk of
 * columns; the chunks' counts are scanned in shared memory (Hillis-Steele) to place them. */
__global__ void __launch_bounds__(1024) int8_compact_kernel(const uint8_t *flags, int in, int *cols, int *nout) {
    __shared__ int count[1024];
    const int t = threadIdx.x, nt = blockDim.x;
    const int per = (in + nt - 1) / nt, c0 = t * per, c1 = c0 + per < in ? c0 + per : in;
    int n = 0;
    for (int c = c0; c < c1; c++) n += flags[c];
    count[t] = n;
    __syncthreads();
    for (int o = 1; o < nt; o *= 2) {
        const int add = t >= o ? count[t - o] : 0;
        __syncthreads();
        count[t] += add;
        __syncthreads();
    }
    int at = count[t] - n; /* exclusive prefix */
    for (int c = c0; c < c1; c++)
        if (flags[c]) cols[at++] = c;
    if (t == nt - 1) *nout = count[t];
}

/* Block r: qn_llm_int8_decompose's row statistic (absmax leaving out the values >= threshold) and
 * codes (0 across the outlier columns). */
__global__ void int8_rows_kernel(const float *x, int ldx, int in, float threshold, const uint8_t *flags, int8_t *xq,
                                 float *stat) {
    __shared__ float red[32];
    const int r = blockIdx.x;
    const float *a = x + (size_t)r * ldx;
    float amax = 0.0f;
    for (int c = threadIdx.x; c < in; c += blockDim.x) {
        const float v = fabsf(a[c]);
        if (!(threshold > 0.0f && v >= threshold)) amax = fmaxf(amax, v);
    }
    amax = block_max(amax, red);
    if (threadIdx.x == 0) stat[r] = amax;
    const float s = amax > 0.0f ? __fmul_rn(__frcp_rn(amax), 127.0f) : 0.0f;
    for (int c = threadIdx.x; c < in; c += blockDim.x) {
        const float v = flags[c] ? 0.0f : rintf(__fmul_rn(a[c], s));
        xq[(size_t)r * in + c] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : v);
    }
}

/* The integer part for M <= kMaxRows rows: block j, exact int32 sums. */
__global__ void int8_gemv_kernel(const int8_t *q, const float *absmax, int in, const int8_t *xq, const float *stat,
                                 int M, float *y, int ldy) {
    __shared__ int partial[kWarps][kMaxRows];
    const int j = blockIdx.x;
    const int8_t *wr = q + (size_t)j * in;
    int acc[kMaxRows];
#pragma unroll
    for (int i = 0; i < kMaxRows; i++) acc[i] = 0;
    for (int k = threadIdx.x; k < in; k += blockDim.x) {
        const int v = wr[k];
#pragma unroll
        for (int i = 0; i < kMaxRows; i++)
            if (i < M) acc[i] += v * (int)xq[(size_t)i * in + k];
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int i = 0; i < kMaxRows; i++) {
        int s = acc[i];
        for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) partial[warp][i] = s;
    }
    __syncthreads();
    if ((int)threadIdx.x < M) {
        const int i = threadIdx.x;
        int s = 0;
        for (int wi = 0; wi < kWarps; wi++) s += partial[wi][i];
        y[(size_t)i * ldy + j] = (float)s * (stat[i] * absmax[j] * (1.0f / (127.0f * 127.0f)));
    }
}

/* The integer part for more rows: 16 x 16 output tiles, the k dimension in shared-memory chunks.
 * Thread (tx, ty) computes y[i = tile row + ty, j = tile column + tx]. */
constexpr int kTile8 = 16;
__global__ void int8_gemm_kernel(const int8_t *q, const float *absmax, int out, int in, const int8_t *xq,
                                 const float *stat, int M, float *y, int ldy) {
    __shared__ int xs[kTile8][kTile8 + 1], ws[kTile8][kTile8 + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int i = blockIdx.y * kTile8 + ty, j = blockIdx.x * kTile8 + tx;
    const int wrow = blockIdx.x * kTile8 + ty; /* the weight row this thread loads */
    int acc = 0;
    for (int k0 = 0; k0 < in; k0 += kTile8) {
        const int k = k0 + tx;
        xs[ty][tx] = i < M && k < in ? (int)xq[(size_t)i * in + k] : 0;
        ws[ty][tx] = wrow < out && k < in ? (int)q[(size_t)wrow * in + k] : 0;
        __syncthreads();
        for (int kk = 0; kk < kTile8; kk++) acc += xs[ty][kk] * ws[tx][kk];
        __syncthreads();
    }
    if (i < M && j < out) y[(size_t)i * ldy + j] = (float)acc * (stat[i] * absmax[j] * (1.0f / (127.0f * 127.0f)));
}

/* y[i, j] += the outlier columns' product in float (ascending columns, as the CPU), then the bias. */
__global__ void int8_outliers_kernel(const int8_t *q, const float *absmax, int out, int in, const float *x, int ldx,
                                     int M, const int *cols, const int *nout, const float *bias, float *y, int ldy) {
    const int n = *nout;
    GRID_STRIDE(t, (size_t)M * out) {
        const size_t i = t / (size_t)out, j = t % (size_t)out;
        float v = y[i * ldy + j];
        if (n > 0) {
            float s = 0.0f;
            for (int k = 0; k < n; k++) {
                const int c = cols[k];
                const float wv = __half2float(__float2half_rn(__fmul_rn(__fmul_rn((float)q[j * in + c], absmax[j]), kInv127)));
                s = __fadd_rn(s, __fmul_rn(x[i * ldx + c], wv));
            }
            v += s;
        }
        if (bias) v += bias[j];
        y[i * ldy + j] = v;
    }
}

/* ---------------------------------------------------------------- the rest of the block */

__global__ void embed_kernel(float *x, const int32_t *ids, const float *embed, int M, int C) {
    GRID_STRIDE(t, (size_t)M * C) {
        const size_t i = t / (size_t)C, c = t % (size_t)C;
        x[t] = embed[(size_t)ids[i] * C + c];
    }
}

__global__ void rmsnorm_kernel(float *out, const float *x, const float *w, int C, float eps) {
    __shared__ float red[32];
    const float *xi = x + (size_t)blockIdx.x * C;
    float *oi = out + (size_t)blockIdx.x * C;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < C; j += blockDim.x) ss = fmaf(xi[j], xi[j], ss);
    ss = block_sum(ss, red);
    const float r = 1.0f / sqrtf(ss / (float)C + eps);
    for (int j = threadIdx.x; j < C; j += blockDim.x) oi[j] = w[j] * (xi[j] * r);
}

__global__ void swiglu_kernel(float *out, const float *gu, int M, int I) {
    GRID_STRIDE(t, (size_t)M * I) {
        const size_t i = t / (size_t)I, j = t % (size_t)I;
        const float g = gu[i * 2 * I + j], u = gu[i * 2 * I + I + j];
        out[t] = g / (1.0f + expf(-g)) * u;
    }
}

__global__ void gelu_tanh_kernel(float *x, size_t n) {
    const float k = 0.7978845608028654f;
    GRID_STRIDE(i, n) {
        /* the CPU's roundings, left to right (nvcc would fuse v + c v^3 into an FMA) */
        const float v = x[i], v3 = __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, v), v), v);
        x[i] = __fmul_rn(__fmul_rn(0.5f, v), __fadd_rn(1.0f, tanhf(__fmul_rn(k, __fadd_rn(v, v3)))));
    }
}

/* qn_llm_position: cache slot i of sequence b is at position i - pad[b] (1 for a pad slot). */
__device__ int slot_position(const int *pad, int b, int i) {
    const int p = pad ? pad[b] : 0;
    return i >= p ? i - p : 1;
}

/* qn_llm_visible_keys: query slot q of sequence b sees keys [first, q]. */
__device__ int first_visible_key(const int *pad, int window, int b, int q) {
    int lo = pad ? pad[b] : 0;
    if (window > 0 && q - window + 1 > lo) lo = q - window + 1;
    return lo <= q ? lo : q;
}

/* One thread per (row, head among the NH + NKV rotated ones, pair i < RD/2). */
__global__ void rope_kernel(float *qkv, const float *inv_freq, float attention_factor, const int *pad, int rows, int n,
                            int pos0, int heads, int HD, int RD, int QKV) {
    const int half = RD / 2;
    GRID_STRIDE(t, (size_t)rows * heads * half) {
        const int i = (int)(t % (size_t)half);
        const size_t rh = t / (size_t)half;
        const int hh = (int)(rh % (size_t)heads);
        const size_t r = rh / (size_t)heads;
        const int pos = slot_position(pad, (int)(r / (size_t)n), pos0 + (int)(r % (size_t)n));
        float *xh = qkv + r * QKV + (size_t)hh * HD;
        const float ang = (float)pos * inv_freq[i];
        const float c = __fmul_rn(cosf(ang), attention_factor), s = __fmul_rn(sinf(ang), attention_factor);
        const float x1 = xh[i], x2 = xh[i + half];
        xh[i] = __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s));
        xh[i + half] = __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s));
    }
}

/* One thread per (row, kv head g, d): the row's k and v into the caches at its position. */
__global__ void append_kernel(const float *qkv, float *kc, float *vc, int rows, int n, int pos0, int NH, int NKV,
                              int HD, int Tmax, int QKV) {
    GRID_STRIDE(t, (size_t)rows * NKV * HD) {
        const int d = (int)(t % (size_t)HD);
        const size_t rg = t / (size_t)HD;
        const int g = (int)(rg % (size_t)NKV);
        const size_t r = rg / (size_t)NKV;
        const size_t b = r / (size_t)n, p = (size_t)pos0 + r % (size_t)n;
        const size_t dst = ((b * NKV + g) * (size_t)Tmax + p) * HD + d;
        const float *row = qkv + r * QKV;
        kc[dst] = row[(size_t)(NH + g) * HD + d];
        vc[dst] = row[(size_t)(NH + NKV + g) * HD + d];
    }
}

/* Block (t, h, b): query t of head h of sequence b against its visible keys lo..pos0+t (causal,
 * padding, sliding window). Shared: q (HD), then the scores, then the probabilities, in place (at
 * slots lo..pos0+t of pos0 + n floats). */
__global__ void attention_kernel(float *out, const float *qkv, const float *kc, const float *vc, const int *pad,
                                 int window, int n, int pos0, int NH, int NKV, int HD, int Tmax) {
    extern __shared__ float sh[];
    __shared__ float red[kAttnRed];
    const int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int QKV = (NH + 2 * NKV) * HD, g = h / (NH / NKV), visible = pos0 + t + 1;
    const int lo = first_visible_key(pad, window, b, pos0 + t);
    const float *q = qkv + ((size_t)b * n + t) * QKV + (size_t)h * HD;
    const float *K = kc + ((size_t)b * NKV + g) * Tmax * HD, *V = vc + ((size_t)b * NKV + g) * Tmax * HD;
    float *qs = sh, *p = sh + HD;
    for (int d = threadIdx.x; d < HD; d += blockDim.x) qs[d] = q[d];
    __syncthreads();
    const float scale = 1.0f / sqrtf((float)HD);
    float mx = -INFINITY;
    for (int j = lo + threadIdx.x; j < visible; j += blockDim.x) {
        const float *k = K + (size_t)j * HD;
        float s = 0.0f;
        for (int d = 0; d < HD; d++) s = fmaf(qs[d], k[d], s);
        p[j] = s * scale;
        mx = fmaxf(mx, p[j]);
    }
    mx = block_max(mx, red);
    float sum = 0.0f;
    for (int j = lo + threadIdx.x; j < visible; j += blockDim.x) sum += (p[j] = expf(p[j] - mx));
    sum = block_sum(sum, red); /* its barriers also publish p */
    for (int j = lo + threadIdx.x; j < visible; j += blockDim.x) p[j] = p[j] / sum;
    __syncthreads();
    float *o = out + (((size_t)b * n + t) * NH + h) * HD;
    for (int d = threadIdx.x; d < HD; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = lo; j < visible; j++) acc = fmaf(p[j], V[(size_t)j * HD + d], acc);
        o[d] = acc;
    }
}

__global__ void last_rows_kernel(float *out, const float *in, int B, int n, int C) {
    GRID_STRIDE(t, (size_t)B * C) {
        const size_t b = t / (size_t)C, c = t % (size_t)C;
        out[t] = in[(b * n + n - 1) * C + c];
    }
}

/* Block r: the first index of the row's maximum. */
__global__ void argmax_kernel(int32_t *tok, const float *logits, int V) {
    __shared__ float sv[kThreads];
    __shared__ int si[kThreads];
    const float *row = logits + (size_t)blockIdx.x * V;
    float bv = 0.0f;
    int bi = -1;
    for (int k = threadIdx.x; k < V; k += blockDim.x)
        if (bi < 0 || row[k] > bv) bv = row[k], bi = k; /* k ascending: ties keep the first */
    sv[threadIdx.x] = bv, si[threadIdx.x] = bi;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s /= 2) {
        if ((int)threadIdx.x < s) {
            const float ov = sv[threadIdx.x + s];
            const int oi = si[threadIdx.x + s], mi = si[threadIdx.x];
            if (oi >= 0 && (mi < 0 || ov > sv[threadIdx.x] || (ov == sv[threadIdx.x] && oi < mi)))
                sv[threadIdx.x] = ov, si[threadIdx.x] = oi;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) tok[blockIdx.x] = si[0] < 0 ? 0 : si[0];
}

/* Launch KERNEL<format> (every format but INT8); -1 for INT8 or an unknown one. */
#define DISPATCH_FORMAT(fmt, KERNEL, grid, block, ...)                                               \
    switch (fmt) {                                                                                   \
    case QN_CUDA_W_F32: KERNEL<QN_CUDA_W_F32><<<grid, block>>>(__VA_ARGS__); break;                  \
    case QN_CUDA_W_F16: KERNEL<QN_CUDA_W_F16><<<grid, block>>>(__VA_ARGS__); break;                  \
    case QN_CUDA_W_BF16: KERNEL<QN_CUDA_W_BF16><<<grid, block>>>(__VA_ARGS__); break;                \
    case QN_CUDA_W_W8A16: KERNEL<QN_CUDA_W_W8A16><<<grid, block>>>(__VA_ARGS__); break;              \
    case QN_CUDA_W_4BIT: KERNEL<QN_CUDA_W_4BIT><<<grid, block>>>(__VA_ARGS__); break;                \
    default: snprintf(err, errlen, "weight format %d has no %s kernel", fmt, #KERNEL); return -1;     \
    }

} // namespace

extern "C" int qn_cuda_llm_gemv(const qn_cuda_llm_weight *w, const float *x, int ldx, int M, float *y, int ldy,
                                char *err, size_t errlen) {
    if (M <= 0 || w->out <= 0) return 0;
    if (M > kMaxRows) {
        snprintf(err, errlen, "qn_cuda_llm_gemv: %d rows, at most %d", M, kMaxRows);
        return -1;
    }
    const code_tables tab = tables_of(w);
    DISPATCH_FORMAT(w->format, gemv_kernel, (unsigned)w->out, kThreads, *w, tab, x, ldx, M, y, ldy);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_dequantize_rows(const qn_cuda_llm_weight *w, int j0, int j1, float *out, char *err,
                                           size_t errlen) {
    const size_t n = (size_t)(j1 - j0) * (size_t)w->in;
    if (j1 <= j0 || n == 0) return 0;
    const code_tables tab = tables_of(w);
    DISPATCH_FORMAT(w->format, dequant_kernel, grid_for(n), kThreads, *w, tab, j0, n, out);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_bias_add(float *y, int ldy, int M, int out, const float *b, char *err, size_t errlen) {
    if (!b || M <= 0 || out <= 0) return 0;
    bias_add_kernel<<<grid_for((size_t)M * out), kThreads>>>(y, ldy, M, out, b);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_int8_decompose(const float *x, int ldx, int M, int in, float threshold, int8_t *xq,
                                          float *stat, uint8_t *flags, int *cols, int *nout, char *err,
                                          size_t errlen) {
    if (M <= 0 || in <= 0) return 0;
    int8_flags_kernel<<<grid_for((size_t)in), kThreads>>>(x, ldx, M, in, threshold, flags);
    LAUNCH_CHECK(err, errlen);
    int8_compact_kernel<<<1, 1024>>>(flags, in, cols, nout);
    LAUNCH_CHECK(err, errlen);
    int8_rows_kernel<<<(unsigned)M, kThreads>>>(x, ldx, in, threshold, flags, xq, stat);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_int8_matmul(const qn_cuda_llm_weight *w, const int8_t *xq, const float *stat,
                                       const float *x, int ldx, int M, const int *cols, const int *nout, float *y,
                                       int ldy, char *err, size_t errlen) {
    if (M <= 0 || w->out <= 0) return 0;
    if (M <= kMaxRows) {
        int8_gemv_kernel<<<(unsigned)w->out, kThreads>>>(w->q, w->absmax, w->in, xq, stat, M, y, ldy);
    } else { /* row tiles on grid.y: slices of at most kMaxGridYZ tiles */
        for (int i0 = 0; i0 < M; i0 += kMaxGridYZ * kTile8) {
            const int m = M - i0 < kMaxGridYZ * kTile8 ? M - i0 : kMaxGridYZ * kTile8;
            const dim3 grid((unsigned)((w->out + kTile8 - 1) / kTile8), (unsigned)((m + kTile8 - 1) / kTile8));
            int8_gemm_kernel<<<grid, dim3(kTile8, kTile8)>>>(w->q, w->absmax, w->out, w->in, xq + (size_t)i0 * w->in,
                                                             stat + i0, m, y + (size_t)i0 * ldy, ldy);
        }
    }
    LAUNCH_CHECK(err, errlen);
    int8_outliers_kernel<<<grid_for((size_t)M * w->out), kThreads>>>(w->q, w->absmax, w->out, w->in, x, ldx, M, cols,
                                                                     nout, w->bias, y, ldy);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_embed(float *x, const int32_t *ids, const float *embed, int M, int C, char *err,
                                 size_t errlen) {
    if (M <= 0) return 0;
    embed_kernel<<<grid_for((size_t)M * C), kThreads>>>(x, ids, embed, M, C);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_rmsnorm(float *out, const float *x, const float *w, int M, int C, float eps, char *err,
                                   size_t errlen) {
    if (M <= 0) return 0;
    rmsnorm_kernel<<<(unsigned)M, kThreads>>>(out, x, w, C, eps);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_swiglu(float *out, const float *gu, int M, int I, char *err, size_t errlen) {
    if (M <= 0) return 0;
    swiglu_kernel<<<grid_for((size_t)M * I), kThreads>>>(out, gu, M, I);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_gelu_tanh(float *x, size_t n, char *err, size_t errlen) {
    if (n == 0) return 0;
    gelu_tanh_kernel<<<grid_for(n), kThreads>>>(x, n);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_rope_append(float *qkv, float *kc, float *vc, const float *inv_freq, float attention_factor,
                                       const int *pad, int B, int n, int pos0, int NH, int NKV, int HD, int RD, int Tmax,
                                       char *err, size_t errlen) {
    const int rows = B * n, QKV = (NH + 2 * NKV) * HD;
    if (rows <= 0) return 0;
    if (RD >= 2) {
        rope_kernel<<<grid_for((size_t)rows * (NH + NKV) * (RD / 2)), kThreads>>>(qkv, inv_freq, attention_factor, pad,
                                                                                  rows, n, pos0, NH + NKV, HD, RD, QKV);
        LAUNCH_CHECK(err, errlen);
    }
    append_kernel<<<grid_for((size_t)rows * NKV * HD), kThreads>>>(qkv, kc, vc, rows, n, pos0, NH, NKV, HD, Tmax, QKV);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_attention_max_len(int HD) {
    int dev = 0, optin = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
        return 0;
    return qn_cuda_llm_attention_len_for(optin, HD);
}

extern "C" int qn_cuda_llm_attention(float *out, const float *qkv, const float *kc, const float *vc, const int *pad,
                                     int window, int B, int n, int pos0, int NH, int NKV, int HD, int Tmax, char *err,
                                     size_t errlen) {
    if (B <= 0 || n <= 0) return 0;
    const size_t smem = qn_cuda_llm_attention_smem(HD, pos0 + n);
    /* past the default cap (48 KiB with the static part) the kernel must opt in, on each device */
    if (qn_cuda_llm_attention_needs_optin(HD, pos0 + n))
        QN_CUDA_TRY(cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), err,
                    errlen);
    const size_t QKV = (size_t)(NH + 2 * NKV) * HD, cache = (size_t)NKV * Tmax * HD;
    for (int b0 = 0; b0 < B; b0 += kMaxGridYZ) { /* sequences on grid.z: slices of at most kMaxGridYZ */
        const int nb = B - b0 < kMaxGridYZ ? B - b0 : kMaxGridYZ;
        attention_kernel<<<dim3((unsigned)n, (unsigned)NH, (unsigned)nb), kAttnThreads, smem>>>(
            out + (size_t)b0 * n * NH * HD, qkv + (size_t)b0 * n * QKV, kc + (size_t)b0 * cache,
            vc + (size_t)b0 * cache, pad ? pad + b0 : NULL, window, n, pos0, NH, NKV, HD, Tmax);
        LAUNCH_CHECK(err, errlen);
    }
    return 0;
}

extern "C" int qn_cuda_llm_last_rows(float *out, const float *in, int B, int n, int C, char *err, size_t errlen) {
    if (B <= 0) return 0;
    last_rows_kernel<<<grid_for((size_t)B * C), kThreads>>>(out, in, B, n, C);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_argmax(int32_t *tok, const float *logits, int rows, int V, char *err, size_t errlen) {
    if (rows <= 0) return 0;
    argmax_kernel<<<(unsigned)rows, kThreads>>>(tok, logits, V);
    LAUNCH_CHECK(err, errlen);
    return 0;
}

extern "C" int qn_cuda_llm_copy_bandwidth(size_t bytes, int passes, double *bytes_per_s, char *err, size_t errlen) {
    void *a = NULL, *b = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    float best = INFINITY;
    int rc = -1;
    cudaError_t s = cudaMalloc(&a, bytes);
    if (s == cudaSuccess) s = cudaMalloc(&b, bytes);
    if (s == cudaSuccess) s = cudaMemset(a, 1, bytes);
    if (s == cudaSuccess) s = cudaEventCreate(&e0);
    if (s == cudaSuccess) s = cudaEventCreate(&e1);
    for (int p = 0; s == cudaSuccess && p <= passes; p++) {
        float ms = 0.0f;
        s = cudaEventRecord(e0);
        if (s == cudaSuccess) s = cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
        if (s == cudaSuccess) s = cudaEventRecord(e1);
        if (s == cudaSuccess) s = cudaEventSynchronize(e1);
        if (s == cudaSuccess) s = cudaEventElapsedTime(&ms, e0, e1);
        if (s == cudaSuccess && p > 0 && ms < best) best = ms; /* pass 0 warms up */
    }
    if (s != cudaSuccess) snprintf(err, errlen, "device-to-device copy of %zu MiB failed: %s", bytes >> 20, cudaGetErrorString(s));
    else if (!(best > 0.0f)) snprintf(err, errlen, "device-to-device copy: no time measured");
    else *bytes_per_s = (double)bytes / (best * 1e-3), rc = 0;
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(a), cudaFree(b);
    return rc;
}
