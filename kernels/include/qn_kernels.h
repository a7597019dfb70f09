/* qn_kernels.h: quench's numeric ops. Knows nothing of MPI, HDF5 or YAML.
 *
 * Contract:
 *  - Every op has a CPU implementation (the reference, and a real backend: OpenBLAS for GEMM,
 *    loops the compiler vectorizes elsewhere) and, when built with CUDA, a CUDA one that gives the
 *    same answer element by element (qn_cuda_* below, on device pointers).
 *  - Row-major storage throughout; shapes are written in comments as in llm.c: (M,K) x (K,N).
 *  - Fake quantization is float32 in, float32 out, with MASE's float32 semantics
 *    (round half to even, clamp). Its gradient is the identity (straight-through), so it has no
 *    backward here: callers pass gradients through unchanged.
 */
#ifndef QN_KERNELS_H
#define QN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __CUDACC__
#define QN_KERNELS_HD __host__ __device__
#else
#define QN_KERNELS_HD
#endif

/* ---- random numbers: xoshiro256** seeded through splitmix64; the same stream on every machine ---- */
typedef struct { uint64_t s[4]; } qn_rng;
void qn_rng_seed(qn_rng *r, uint64_t seed);
uint64_t qn_rng_u64(qn_rng *r);
float qn_rng_uniform(qn_rng *r);            /* [0, 1) with 24 random bits */
float qn_rng_normal(qn_rng *r);             /* standard normal (Box-Muller) */
uint64_t qn_rng_below(qn_rng *r, uint64_t n);/* uniform integer in [0, n) without modulo bias */
uint64_t qn_splitmix64(uint64_t x);         /* one mixing step, for deriving seeds */

/* ---- GEMM ---- */
/* C(M,N) = alpha * op(A) op(B) + beta * C; op(A) is (M,K), op(B) is (K,N); trans = 1 transposes. */
void qn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* C(M,N) = bias + alpha * op(A) op(B), bias (N) added to every row, C not read: the floats of C's rows
 * set to bias, then qn_sgemm with beta = 1 (the bias joins in the GEMM's stores, no copy first). */
void qn_sgemm_bias(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, const float *bias, float *C, int ldc);
/* A pass over a finished block of C: rows [row0, row0 + rows) and columns [col0, col0 + cols) of the
 * caller's C, the block's first element at c. */
typedef void (*qn_gemm_block_fn)(void *ctx, float *c, int ldc, int row0, int rows, int col0, int cols);
/* qn_sgemm_bias (bias NULL: beta = 0), then `then` on each block of C once it is final, while it is
 * still in cache (an elementwise op fused into the product); blocks may run on the kernels' threads
 * at once. */
void qn_sgemm_then(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, const float *bias, float *C, int ldc, qn_gemm_block_fn then, void *ctx);
/* sums[j] += the sum of x(rows, cols)'s column j, added over the rows in order (a bias gradient). */
void qn_add_column_sums(float *sums, const float *x, int rows, int cols);
/* Threads OpenBLAS may use in this process (1 keeps results independent of the machine). */
void qn_set_num_threads(int n);
/* fn(ctx, lo, hi) over [0, n) in blocks [k block, (k+1) block) (the last one shorter), on the caller
 * and up to threads - 1 persistent workers that take blocks first come, first served (a thread the
 * system holds back takes fewer), for short loops called back to back (decode's GEMVs). Results must
 * not depend on which thread runs a block; called again meanwhile (another thread, or from fn), or
 * with 2^24 blocks or more, the loop runs in one call on the caller. Returns when all are done. */
void qn_parallel_blocks(size_t n, size_t block, int threads, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx);

/* ---- number formats: fake quantization ---- */
/* MASE integer (signed fixed point): y = clamp(RNE(x * 2^f), -2^(w-1), 2^(w-1)-1) / 2^f. */
void qn_quant_integer(const float *x, float *y, size_t n, int width, int frac_width);

/* ---- optimizer ---- */
/* One AdamW step with PyTorch's semantics (decoupled weight decay p -= lr*wd*p first, bias
 * correction with step t >= 1). mask (may be NULL): where mask[i] == 0, p[i] stays 0. */
void qn_adamw_step(float *p, const float *g, float *m, float *v, const uint8_t *mask, size_t n,
                   float lr, float beta1, float beta2, float eps, float weight_decay, int t);
/* The same with weight decay only where decays[i] != 0 (decays may be NULL: everywhere), as torch's
 * AdamW over two param groups, the second with weight_decay 0 (Hugging Face Trainer's groups). */
void qn_adamw_step_groups(float *p, const float *g, float *m, float *v, const uint8_t *mask, const uint8_t *decays,
                          size_t n, float lr, float beta1, float beta2, float eps, float weight_decay, int t);

/* ---- pruning masks (MASE semantics: see docs) ---- */
/* The q-quantile (0..1) of |x| over several buffers together, as torch.quantile (linear interpolation). */
float qn_abs_quantile(const float *const *bufs, const size_t *lens, int nbufs, double q);
/* mask[i] = |x[i]| > threshold (strict, as MASE). Returns the number of zeros in the mask. */
size_t qn_mask_l1(const float *x, size_t n, float threshold, uint8_t *mask);
/* Uniform [0, 1) coin of element i under key (splitmix64 of key + i, 24 bits), the same on CPU and GPU. */
QN_KERNELS_HD static inline float qn_mask_coin(uint64_t key, uint64_t i) {
    uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}
/* Random mask keeping each element with probability 1 - sparsity (one key drawn from rng, then a
 * counter-based coin per element). Returns the number of zeros. */
size_t qn_mask_random(size_t n, double sparsity, qn_rng *rng, uint8_t *mask);
/* y[i] = mask[i] ? x[i] : 0 (in place allowed). */
void qn_apply_mask(const float *x, const uint8_t *mask, float *y, size_t n);

/* ---- CUDA (defined only when built with QUENCH_HAVE_CUDA) ---- */
int qn_cuda_available(void); /* number of usable GPUs; 0 without CUDA support or GPU */
#ifdef QUENCH_HAVE_CUDA
/* Device pointers. Return 0, or -1 with a message naming the failed CUDA call in err. */
int qn_cuda_quant_integer(const float *d_x, float *d_y, size_t n, int width, int frac_width,
                          char *err, size_t errlen);
typedef struct {
    char name[256];
    int cc_major, cc_minor, sms;
    double memory_bytes;
} qn_cuda_props;
int qn_cuda_device_props(int device, qn_cuda_props *out, char *err, size_t errlen);
/* Measured SGEMM rate (cuBLAS) on the device, GFLOP/s. */
double qn_cuda_gemm_gflops(int device);
/* Pruning masks on device pointers, the same masks as the CPU ones (mask: 1 keep, 0 pruned). */
float qn_cuda_abs_quantile(const float *d_x, size_t n, double q, char *err, size_t errlen); /* NaN on error */
int qn_cuda_mask_l1(const float *d_x, size_t n, float threshold, uint8_t *d_mask, char *err, size_t errlen);
int qn_cuda_mask_random(size_t n, double sparsity, uint64_t key, uint8_t *d_mask, char *err, size_t errlen);
int qn_cuda_apply_mask(const float *d_x, const uint8_t *d_mask, float *d_y, size_t n, char *err, size_t errlen);
#endif

#ifdef __cplusplus
}
#endif
#endif
