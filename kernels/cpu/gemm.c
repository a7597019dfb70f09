/* gemm.c: single-precision GEMM on the CPU.
 *
 * quench's own GEMM (GotoBLAS blocking: B packed in panels of NR columns, A read in place, an
 * MR x NR register-tile micro-kernel with FMA) on x86-64 with AVX-512 or AVX2+FMA, chosen at run
 * time; OpenBLAS everywhere else. Why not OpenBLAS throughout: its DYNAMIC_ARCH builds pick kernels
 * from a table of known CPU models, and on a model newer than the library (Debian 12's 0.3.21 on
 * Emerald Rapids, say) it falls back to its SSE3 "Prescott" kernels, 3-4x slower; run-time feature
 * checks do not age that way.
 *
 * Threads (the kernels' pool, parallel.c) split C into column (or row) slices, so each element's sum
 * runs in the same order whatever the thread count: results do not depend on the machine's cores.
 */
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"
#include "qn_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QN_GEMM_X86 1
#endif

enum { KC = 256, MC = 144, NC = 3072 };

typedef struct {
    int mr, nr;
    void (*kernel)(int kc, const float *a, size_t rs, size_t cs, const float *b, float *c, int ldc, float alpha, int mr,
                   int nr);
} gemm_arch;

static pthread_once_t arch_once = PTHREAD_ONCE_INIT;
static const gemm_arch *arch_chosen;
static const gemm_arch *arch(void);
/* Each thread's pack buffer (the caller's and the kernels' pool threads'), kept across calls (a fresh
 * malloc of this size may be an mmap whose pages all fault again on every call) and freed when the
 * thread ends. */
static pthread_key_t pack_key;
static int have_pack_key;
static void probe_arch(void) {
    arch_chosen = arch();
    have_pack_key = pthread_key_create(&pack_key, free) == 0;
}

/* Pack op(B)[p0:p0+kc, j0:j0+nc] into panels of NR columns, k-major inside a panel, zero-padded.
 * NR is a constant at each call site (inlined), so the row copies compile to vector moves. */
static inline void pack_b(float *restrict dst, const float *B, int ldb, int trans, int p0, int kc, int j0, int nc,
                          const int NR) {
    for (int j = 0; j < nc; j += NR) {
        const int n = nc - j < NR ? nc - j : NR;
        if (!trans && n == NR) {
            /* a copy of constant size, expanded inline (the loop it replaces became a memmove call) */
            for (int p = 0; p < kc; p++, dst += NR) memcpy(dst, B + (size_t)(p0 + p) * ldb + j0 + j, sizeof(float) * NR);
        } else if (trans) {
            for (int c = 0; c < n; c++) {
                const float *src = B + (size_t)(j0 + j + c) * ldb + p0;
                for (int p = 0; p < kc; p++) dst[(size_t)p * NR + c] = src[p];
            }
            for (int p = 0; p < kc; p++)
                for (int c = n; c < NR; c++) dst[(size_t)p * NR + c] = 0.0f;
            dst += (size_t)kc * NR;
        } else {
            for (int p = 0; p < kc; p++, dst += NR) {
                const float *src = B + (size_t)(p0 + p) * ldb + j0 + j;
                for (int c = 0; c < n; c++) dst[c] = src[c];
                for (int c = n; c < NR; c++) dst[c] = 0.0f;
            }
        }
    }
}

#ifdef QN_GEMM_X86
/* C[0:mr, 0:nr] += alpha * A[0:mr, 0:kc] (b panel), A(i,p) at a[i*rs + p*cs], read in place: A
 * is not packed (the rows of a tile are few and stay in cache; packing them cost more than it saved
 * on these shapes). Rows past mr re-read row mr-1 and are not stored.
 * 12 x 32 tile: 24 accumulators of 16 floats. */
__attribute__((target("avx512f"))) static void kernel_avx512(int kc, const float *a, size_t rs, size_t cs,
                                                             const float *restrict b, float *restrict c, int ldc,
                                                             float alpha, int mr, int nr) {
    enum { MR = 12 };
    const float *ar[MR];
    for (int i = 0; i < MR; i++) ar[i] = a + (size_t)(i < mr ? i : mr - 1) * rs;
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < MR; i++) c0[i] = _mm512_setzero_ps(), c1[i] = _mm512_setzero_ps();
    for (size_t p = 0, o = 0; p < (size_t)kc; p++, o += cs, b += 32) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int i = 0; i < MR; i++) {
            const __m512 ai = _mm512_set1_ps(ar[i][o]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha);
    const __mmask16 k0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 k1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        _mm512_mask_storeu_ps(ci, k0, _mm512_fmadd_ps(va, c0[i], _mm512_maskz_loadu_ps(k0, ci)));
        _mm512_mask_storeu_ps(ci + 16, k1, _mm512_fmadd_ps(va, c1[i], _mm512_maskz_loadu_ps(k1, ci + 16)));
    }
}

/* 6 x 16 tile: 12 accumulators of 8 floats. */
__attribute__((target("avx2,fma"))) static void kernel_avx2(int kc, const float *a, size_t rs, size_t cs,
                                                            const float *restrict b, float *restrict c, int ldc,
                                                            float alpha, int mr, int nr) {
    enum { MR = 6 };
    const float *ar[MR];
    for (int i = 0; i < MR; i++) ar[i] = a + (size_t)(i < mr ? i : mr - 1) * rs;
    __m256 c0[MR], c1[MR];
    for (int i = 0; i < MR; i++) c0[i] = _mm256_setzero_ps(), c1[i] = _mm256_setzero_ps();
    for (size_t p = 0, o = 0; p < (size_t)kc; p++, o += cs, b += 16) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int i = 0; i < MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(ar[i] + o);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
    }
    float tile[MR][16];
    for (int i = 0; i < MR; i++) {
        _mm256_storeu_ps(tile[i], _mm256_mul_ps(_mm256_set1_ps(alpha), c0[i]));
        _mm256_storeu_ps(tile[i] + 8, _mm256_mul_ps(_mm256_set1_ps(alpha), c1[i]));
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) c[(size_t)i * ldc + j] += tile[i][j];
}
#endif

/* The packing for each kernel, compiled for that kernel's instruction set (only a CPU that runs the
 * kernel calls it), so a panel row moves in one or two vector registers rather than eight SSE ones. */
#ifdef QN_GEMM_X86
#define QN_PACK_TARGET(isa) __attribute__((target(isa)))
#else
#define QN_PACK_TARGET(isa)
#endif
QN_PACK_TARGET("avx512f")
static void pack_b_32(float *dst, const float *B, int ldb, int trans, int p0, int kc, int j0, int nc) {
    pack_b(dst, B, ldb, trans, p0, kc, j0, nc, 32);
}
QN_PACK_TARGET("avx2")
static void pack_b_16(float *dst, const float *B, int ldb, int trans, int p0, int kc, int j0, int nc) {
    pack_b(dst, B, ldb, trans, p0, kc, j0, nc, 16);
}

/* The best kernel this CPU runs; QUENCH_GEMM=avx2 or =blas asks for a lesser one (to test them on
 * a machine that has more, or to compare). */
static const gemm_arch *arch(void) {
    const char *want = getenv("QUENCH_GEMM");
    if (want && !strcmp(want, "blas")) return NULL;
#ifdef QN_GEMM_X86
    static const gemm_arch avx512 = {12, 32, kernel_avx512}, avx2 = {6, 16, kernel_avx2};
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && !(want && !strcmp(want, "avx2"))) return &avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &avx2;
#endif
    return NULL;
}

typedef struct {
    const gemm_arch *g;
    int trans_a, trans_b, M, N, K;
    float alpha;
    const float *A, *B;
    int lda, ldb;
    float *C;
    int ldc;
    float *buf;   /* pack buffer of at least pack_floats() floats, set by gemm_slice */
} gemm_job;

static size_t pack_floats(const gemm_job *j) {
    const int NR = j->g->nr;
    const size_t ncb = (size_t)(j->N < NC ? j->N : NC), kcb = (size_t)(j->K < KC ? j->K : KC);
    return kcb * ((ncb + NR - 1) / NR * NR);
}

/* C += alpha op(A) op(B) on one thread, with j->buf of at least pack_floats(j) floats. */
static void gemm_serial(const gemm_job *j) {
    const gemm_arch *g = j->g;
    const int MR = g->mr, NR = g->nr;
    const size_t rs = j->trans_a ? 1 : (size_t)j->lda, cs = j->trans_a ? (size_t)j->lda : 1;
    for (int jc = 0; jc < j->N; jc += NC) {
        const int nc = j->N - jc < NC ? j->N - jc : NC;
        for (int pc = 0; pc < j->K; pc += KC) {
            const int kc = j->K - pc < KC ? j->K - pc : KC;
            if (NR == 32) pack_b_32(j->buf, j->B, j->ldb, j->trans_b, pc, kc, jc, nc);
            else pack_b_16(j->buf, j->B, j->ldb, j->trans_b, pc, kc, jc, nc);
            for (int ic = 0; ic < j->M; ic += MC) {
                const int mc = j->M - ic < MC ? j->M - ic : MC;
                for (int jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? nc - jr : NR;
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int mr = mc - ir < MR ? mc - ir : MR;
                        g->kernel(kc, j->A + (size_t)(ic + ir) * rs + (size_t)pc * cs, rs, cs, j->buf + (size_t)jr * kc,
                                  j->C + (size_t)(ic + ir) * j->ldc + jc + jr, j->ldc, j->alpha, mr, nr);
                    }
                }
            }
        }
    }
}

/* This thread's pack buffer of at least `need` floats, kept for its next call (NULL: none). */
static float *thread_pack_buffer(size_t need) {
    if (!have_pack_key) return NULL;
    size_t *buf = pthread_getspecific(pack_key); /* its size in floats first, then the floats */
    if (!buf || buf[0] < need) {
        size_t *grown = malloc(64 + need * sizeof(float));
        if (!grown || pthread_setspecific(pack_key, grown) != 0) {
            free(grown);
            return NULL;
        }
        free(buf);
        buf = grown, buf[0] = need;
    }
    return (float *)((char *)buf + 64);
}

/* One slice: ours with a pack buffer, OpenBLAS when none can be had. */
static void gemm_slice(gemm_job *j) {
    float *own = NULL;
    const size_t need = pack_floats(j);
    if (!(j->buf = thread_pack_buffer(need))) j->buf = own = malloc(need * sizeof(float));
    if (j->buf) gemm_serial(j);
    else
        cblas_sgemm(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans, j->trans_b ? CblasTrans : CblasNoTrans, j->M,
                    j->N, j->K, j->alpha, j->A, j->lda, j->B, j->ldb, 1.0f, j->C, j->ldc);
    free(own);
}

static void gemm_slices(void *ctx, size_t lo, size_t hi) {
    gemm_job *jobs = ctx;
    for (size_t t = lo; t < hi; t++) gemm_slice(&jobs[t]);
}

void qn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    pthread_once(&arch_once, probe_arch);
    const gemm_arch *g = arch_chosen;
    if (M <= 0 || N <= 0) return;
    if (!g) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                    alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* beta first (beta = 0 never reads C, as BLAS), then C += alpha op(A) op(B) */
    if (beta != 1.0f)
        for (int i = 0; i < M; i++) {
            float *ci = C + (size_t)i * ldc;
            if (beta == 0.0f) memset(ci, 0, (size_t)N * sizeof(float));
            else
                for (int j = 0; j < N; j++) ci[j] *= beta;
        }
    if (K <= 0 || alpha == 0.0f) return;
    /* Threads only where the work pays for starting them; slices along the longer side of C, in
     * whole register tiles. */
    int nt = qn_cpu_threads;
    if (2.0 * M * N * K < 4e6 || qn_in_parallel) nt = 1;
    const int split_n = N >= M, len = split_n ? N : M, unit = split_n ? g->nr : g->mr;
    const int units = (len + unit - 1) / unit;
    if (nt > units) nt = units;
    if (nt > 64) nt = 64;
    gemm_job jobs[64];
    for (int t = 0; t < nt; t++) {
        const int lo = units * t / nt * unit, hi = units * (t + 1) / nt * unit < len ? units * (t + 1) / nt * unit : len;
        jobs[t] = (gemm_job){g, trans_a, trans_b, M, N, K, alpha, A, B, lda, ldb, C, ldc, NULL};
        if (split_n) {
            jobs[t].N = hi - lo, jobs[t].C = C + lo;
            jobs[t].B = trans_b ? B + (size_t)lo * ldb : B + lo;
        } else {
            jobs[t].M = hi - lo, jobs[t].C = C + (size_t)lo * ldc;
            jobs[t].A = trans_a ? A + lo : A + (size_t)lo * lda;
        }
    }
    /* one slice per chunk: nt <= the kernels' threads, so the loop makes exactly nt chunks */
    qn_parallel_for((size_t)nt, 1, gemm_slices, jobs);
}

void qn_set_num_threads(int n) {
    qn_cpu_threads = n < 1 ? 1 : n;
    openblas_set_num_threads(n);
}
