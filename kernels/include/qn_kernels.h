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
/* Threads OpenBLAS may use in this process (1 keeps results independent of the machine). */
void qn_set_num_threads(int n);

/* ---- number formats: fake quantization ---- */
/* MASE integer (signed fixed point): y = clamp(RNE(x * 2^f), -2^(w-1), 2^(w-1)-1) / 2^f. */
void qn_quant_integer(const float *x, float *y, size_t n, int width, int frac_width);

/* ---- optimizer ---- */
/* One AdamW step with PyTorch's semantics (decoupled weight decay p -= lr*wd*p first, bias
 * correction with step t >= 1). mask (may be NULL): where mask[i] == 0, p[i] stays 0. */
void qn_adamw_step(float *p, const float *g, float *m, float *v, const uint8_t *mask, size_t n,
                   float lr, float beta1, float beta2, float eps, float weight_decay, int t);

/* ---- pruning masks (MASE semantics: see docs) ---- */
/* The q-quantile (0..1) of |x| over several buffers together, as torch.quantile (linear interpolation). */
float qn_abs_quantile(const float *const *bufs, const size_t *lens, int nbufs, double q);
/* mask[i] = |x[i]| > threshold (strict, as MASE). Returns the number of zeros in the mask. */
size_t qn_mask_l1(const float *x, size_t n, float threshold, uint8_t *mask);
/* Random mask keeping each element with probability 1 - sparsity. Returns the number of zeros. */
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
#endif

#ifdef __cplusplus
}
#endif
#endif
