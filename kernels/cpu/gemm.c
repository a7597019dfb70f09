/* gemm.c: single-precision GEMM on the CPU.
 *
 * quench's own GEMM (GotoBLAS blocking: B packed in panels of NR columns, A read in place or,
 * transposed, packed in tiles of MR rows, an MR x NR register-tile micro-kernel with FMA; beta = 0
 * handled by the kernel's stores) on x86-64 with AVX-512 or AVX2+FMA, chosen at run
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
                   int nr, int overwrite, const float *bias);
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

/* Pack op(B)[p0:p0+kc, j0:j0+nc] into panels of NR columns, k-major inside a panel, zero-padded
 * (panel j/NR at dst + j kc). NR is a constant at each call site (inlined), so the row copies
 * compile to vector moves. B not transposed is read row by row, each row once from start to end:
 * read panel by panel, the rows' few lines each, ldb apart, defeated the hardware prefetcher
 * (B is often a layer's input, long out of cache). */
static inline void pack_b(float *restrict dst, const float *B, int ldb, int trans, int p0, int kc, int j0, int nc,
                          const int NR) {
    if (!trans) {
        const int full = nc / NR * NR, n = nc - full;
        for (int p = 0; p < kc; p++) {
            const float *src = B + (size_t)(p0 + p) * ldb + j0;
            float *d = dst + (size_t)p * NR;
            /* a copy of constant size, expanded inline (a memmove call per panel row cost more) */
            for (int j = 0; j < full; j += NR) memcpy(d + (size_t)j * kc, src + j, sizeof(float) * NR);
            if (n) {
                float *t = d + (size_t)full * kc;
                for (int c = 0; c < n; c++) t[c] = src[full + c];
                for (int c = n; c < NR; c++) t[c] = 0.0f;
            }
        }
        return;
    }
    for (int j = 0; j < nc; j += NR, dst += (size_t)kc * NR) { /* transposed: column c of a panel is a row of B */
        const int n = nc - j < NR ? nc - j : NR;
        for (int c = 0; c < n; c++) {
            const float *src = B + (size_t)(j0 + j + c) * ldb + p0;
            for (int p = 0; p < kc; p++) dst[(size_t)p * NR + c] = src[p];
        }
        for (int p = 0; p < kc; p++)
            for (int c = n; c < NR; c++) dst[(size_t)p * NR + c] = 0.0f;
    }
}

#ifdef QN_GEMM_X86
/* C[0:mr, 0:nr] += alpha * A[0:mr, 0:kc] (b panel), A(i,p) at a[i*rs + p*cs]: a row-major A is
 * read in place (its rows stay in cache; packing them would cost a quarter of the arithmetic at
 * N = 128), a transposed one comes packed (see pack_a_trans). Rows past mr re-read row mr-1 and are not
 * stored. With overwrite, C = alpha * A B, C not read (beta = 0 without a pass of zeros first).
 * 12 x 32 tile: 24 accumulators of 16 floats. */
__attribute__((target("avx512f"))) static void kernel_avx512(int kc, const float *a, size_t rs, size_t cs,
                                                             const float *restrict b, float *restrict c, int ldc,
                                                             float alpha, int mr, int nr, int overwrite,
                                                             const float *bias) {
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
    /* alpha acc is added to C, to nothing (overwrite: C never read) or to the bias (overwrite with a
     * bias: the floats of C = bias, then += alpha acc), read as a matrix of identical rows */
    const int with_bias = overwrite && bias;
    const float *add = with_bias ? bias : c;
    const size_t add_ld = with_bias ? 0 : (size_t)ldc;
    const __mmask16 r0 = overwrite && !with_bias ? 0 : k0, r1 = overwrite && !with_bias ? 0 : k1;
    /* a constant trip count with a test per row keeps the accumulators in registers (a loop to mr
     * spilled all 24 of them) */
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
        if (i < mr) {
            float *ci = c + (size_t)i * ldc;
            const float *ai = add + (size_t)i * add_ld;
            _mm512_mask_storeu_ps(ci, k0, _mm512_fmadd_ps(va, c0[i], _mm512_maskz_loadu_ps(r0, ai)));
            _mm512_mask_storeu_ps(ci + 16, k1, _mm512_fmadd_ps(va, c1[i], _mm512_maskz_loadu_ps(r1, ai + 16)));
        }
}

/* 6 x 16 tile: 12 accumulators of 8 floats. */
__attribute__((target("avx2,fma"))) static void kernel_avx2(int kc, const float *a, size_t rs, size_t cs,
                                                            const float *restrict b, float *restrict c, int ldc,
                                                            float alpha, int mr, int nr, int overwrite,
                                                            const float *bias) {
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
    if (overwrite && bias) { /* C = bias + alpha acc: the floats of C = bias then += alpha acc */
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) c[(size_t)i * ldc + j] = bias[j] + tile[i][j];
        return;
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) c[(size_t)i * ldc + j] = (overwrite ? 0.0f : c[(size_t)i * ldc + j]) + tile[i][j];
}
#endif

/* The packing for each kernel, compiled for that kernel's instruction set (only a CPU that runs the
 * kernel calls it), so a panel row moves in one or two vector registers rather than eight SSE ones. */
#ifdef QN_GEMM_X86
#define QN_PACK_TARGET(isa) __attribute__((target(isa)))
#else
#define QN_PACK_TARGET(isa)
#endif
#ifdef QN_GEMM_X86
/* dst[p * ldd + c] = src[c * ld + p] for a 16 x 16 block, in registers: unpack pairs, then
 * shuffles of 64-bit, 128-bit and 256-bit parts (a copy: the floats are unchanged) */
__attribute__((target("avx512f"))) static inline void transpose_16x16(const float *src, size_t ld, float *dst,
                                                                      size_t ldd) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * ld);
    for (int i = 0; i < 16; i += 2) t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44), r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44), r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 16; i += 8)
        for (int k = 0; k < 4; k++) {
            t[i + k] = _mm512_shuffle_f32x4(r[i + k], r[i + 4 + k], 0x88);
            t[i + 4 + k] = _mm512_shuffle_f32x4(r[i + k], r[i + 4 + k], 0xDD);
        }
    for (int k = 0; k < 8; k++) {
        r[k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0x88);
        r[8 + k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0xDD);
    }
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + (size_t)i * ldd, r[i]);
}
#endif

/* A transposed B's whole panels go 16 x 16 blocks at a time through registers (element by element,
 * the attention's K^T and the Linear layers' W^T took a quarter of their products' time to pack);
 * the rest as pack_b. */
QN_PACK_TARGET("avx512f")
static void pack_b_32(float *dst, const float *B, int ldb, int trans, int p0, int kc, int j0, int nc) {
#ifdef QN_GEMM_X86
    if (trans && kc >= 16) {
        const int full_nc = nc / 32 * 32, full_kc = kc / 16 * 16;
        for (int j = 0; j < full_nc; j += 32) {
            float *panel = dst + (size_t)j * kc;
            const float *src = B + (size_t)(j0 + j) * ldb + p0;
            for (int p = 0; p < full_kc; p += 16) {
                transpose_16x16(src + p, (size_t)ldb, panel + (size_t)p * 32, 32);
                transpose_16x16(src + (size_t)16 * ldb + p, (size_t)ldb, panel + (size_t)p * 32 + 16, 32);
            }
            for (int c = 0; c < 32; c++) /* the last kc % 16 rows of the panel */
                for (int p = full_kc; p < kc; p++) panel[(size_t)p * 32 + c] = src[(size_t)c * ldb + p];
        }
        if (full_nc < nc) pack_b(dst + (size_t)full_nc * kc, B, ldb, trans, p0, kc, j0 + full_nc, nc - full_nc, 32);
        return;
    }
#endif
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
    int overwrite; /* beta = 0: the first block of K writes C instead of adding to it */
    const float *bias; /* with overwrite: that first write is alpha acc + bias[column] (NULL: none) */
    qn_gemm_block_fn then; /* run on each finished block of C (NULL: none) */
    void *then_ctx;
    int row0, col0; /* this slice's first row and column in the caller's C, for then */
    int pack_a;    /* transposed A packed (pack_a_trans) rather than read in place */
    float *buf;    /* pack buffer of at least pack_floats() floats, set by gemm_slice */
} gemm_job;

/* B's panels, then (transposed A only) A's block */
static size_t pack_b_floats(const gemm_job *j) {
    const int NR = j->g->nr;
    const size_t ncb = (size_t)(j->N < NC ? j->N : NC), kcb = (size_t)(j->K < KC ? j->K : KC);
    return kcb * ((ncb + NR - 1) / NR * NR);
}
static size_t pack_floats(const gemm_job *j) {
    const size_t kcb = (size_t)(j->K < KC ? j->K : KC);
    return pack_b_floats(j) + (j->pack_a ? kcb * (MC + (size_t)j->g->mr) : 0);
}

/* Pack a transposed A's block, A(i,p) = A[(p0+p)*lda + i0+i], into tiles of MR rows, p-major inside
 * a tile (MR floats per p; a short last tile keeps MR as its stride). Read in place, a tile's kc
 * values of p sit lda apart: with lda a multiple of 512 bytes they fall into a few cache sets of L1
 * and evict each other; packed, the kernel reads them in sequence. */
static inline void pack_a_trans(float *restrict dst, const float *A, int lda, int p0, int kc, int i0, int mc,
                                const int MR) {
    const int full = mc / MR * MR, mr = mc - full;
    for (int p = 0; p < kc; p++) { /* row by row of A's storage, each read once in order (see pack_b) */
        const float *src = A + (size_t)(p0 + p) * lda + i0;
        float *d = dst + (size_t)p * MR; /* tile ir/MR at dst + ir kc */
        /* a copy of constant size, inline (a memmove call per 48 bytes cost more than the copy) */
        for (int ir = 0; ir < full; ir += MR) memcpy(d + (size_t)ir * kc, src + ir, sizeof(float) * MR);
        for (int i = 0; i < mr; i++) d[(size_t)full * kc + i] = src[full + i];
    }
}
QN_PACK_TARGET("avx512f")
static void pack_a_trans_12(float *dst, const float *A, int lda, int p0, int kc, int i0, int mc) {
    pack_a_trans(dst, A, lda, p0, kc, i0, mc, 12);
}
QN_PACK_TARGET("avx2")
static void pack_a_trans_6(float *dst, const float *A, int lda, int p0, int kc, int i0, int mc) {
    pack_a_trans(dst, A, lda, p0, kc, i0, mc, 6);
}

/* C (+)= alpha op(A) op(B) on one thread, with j->buf of at least pack_floats(j) floats. */
static void gemm_serial(const gemm_job *j) {
    const gemm_arch *g = j->g;
    const int MR = g->mr, NR = g->nr;
    float *bpack = j->buf, *apack = j->buf + pack_b_floats(j);
    for (int jc = 0; jc < j->N; jc += NC) {
        const int nc = j->N - jc < NC ? j->N - jc : NC;
        for (int pc = 0; pc < j->K; pc += KC) {
            const int kc = j->K - pc < KC ? j->K - pc : KC, overwrite = j->overwrite && pc == 0;
            const float *bias = overwrite && j->bias ? j->bias + jc : NULL;
            if (NR == 32) pack_b_32(bpack, j->B, j->ldb, j->trans_b, pc, kc, jc, nc);
            else pack_b_16(bpack, j->B, j->ldb, j->trans_b, pc, kc, jc, nc);
            for (int ic = 0; ic < j->M; ic += MC) {
                const int mc = j->M - ic < MC ? j->M - ic : MC;
                /* A(i,p) at a[i*rs + p*cs], its tile ir/MR at a + (ir/MR) tile_stride: in place, or
                 * packed (MR floats per p) */
                const float *a = j->A + (size_t)ic * j->lda + pc;
                size_t rs = (size_t)j->lda, cs = 1, tile_stride = (size_t)MR * j->lda;
                if (j->pack_a) {
                    if (MR == 12) pack_a_trans_12(apack, j->A, j->lda, pc, kc, ic, mc);
                    else pack_a_trans_6(apack, j->A, j->lda, pc, kc, ic, mc);
                    a = apack, rs = 1, cs = (size_t)MR, tile_stride = (size_t)MR * kc;
                } else if (j->trans_a) {
                    a = j->A + ic + (size_t)pc * j->lda, rs = 1, cs = (size_t)j->lda, tile_stride = (size_t)MR;
                }
                for (int jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? nc - jr : NR;
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int mr = mc - ir < MR ? mc - ir : MR;
                        g->kernel(kc, a + (size_t)(ir / MR) * tile_stride, rs, cs, bpack + (size_t)jr * kc,
                                  j->C + (size_t)(ic + ir) * j->ldc + jc + jr, j->ldc, j->alpha, mr, nr, overwrite,
                                  bias ? bias + jr : NULL);
                    }
                }
                /* the block is final after the last block of K: its pass runs while it is in cache */
                if (j->then && pc + kc >= j->K)
                    j->then(j->then_ctx, j->C + (size_t)ic * j->ldc + jc, j->ldc, j->row0 + ic, mc, j->col0 + jc, nc);
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

/* C(M,N)'s rows = bias (N) */
static void fill_rows(float *C, int ldc, const float *bias, int M, int N) {
    for (int i = 0; i < M; i++) memcpy(C + (size_t)i * ldc, bias, (size_t)N * sizeof(float));
}

/* One slice: ours with a pack buffer, OpenBLAS when none can be had (a bias copied into C first). */
static void gemm_slice(gemm_job *j) {
    float *own = NULL;
    const size_t need = pack_floats(j);
    if (!(j->buf = thread_pack_buffer(need))) j->buf = own = malloc(need * sizeof(float));
    if (j->buf) gemm_serial(j);
    else {
        if (j->bias) fill_rows(j->C, j->ldc, j->bias, j->M, j->N);
        cblas_sgemm(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans, j->trans_b ? CblasTrans : CblasNoTrans, j->M,
                    j->N, j->K, j->alpha, j->A, j->lda, j->B, j->ldb, j->overwrite && !j->bias ? 0.0f : 1.0f, j->C,
                    j->ldc);
        if (j->then) j->then(j->then_ctx, j->C, j->ldc, j->row0, j->M, j->col0, j->N);
    }
    free(own);
}

static void gemm_slices(void *ctx, size_t lo, size_t hi) {
    gemm_job *jobs = ctx;
    for (size_t t = lo; t < hi; t++) gemm_slice(&jobs[t]);
}

/* `then` over a whole C made outside the blocked loop (OpenBLAS, or no product), in slices of rows
 * on the kernels' threads as the blocked loop would run it */
typedef struct {
    qn_gemm_block_fn then;
    void *ctx;
    float *C;
    int ldc, N;
} then_rows;
enum { THEN_ROWS = 64 };

static void then_row_slices(void *ctx, size_t lo, size_t hi) {
    const then_rows *t = ctx;
    t->then(t->ctx, t->C + lo * (size_t)t->ldc, t->ldc, (int)lo, (int)(hi - lo), 0, t->N);
}

static void then_whole(qn_gemm_block_fn then, void *ctx, float *C, int ldc, int M, int N) {
    then_rows t = {then, ctx, C, ldc, N};
    qn_parallel_for((size_t)M, THEN_ROWS, then_row_slices, &t);
}

/* C = alpha op(A) op(B) + beta C, or with a bias (then beta is 0) C = bias + alpha op(A) op(B); then
 * `then` on every block of the final C */
static void gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, const float *bias, float *C, int ldc, qn_gemm_block_fn then, void *then_ctx) {
    pthread_once(&arch_once, probe_arch);
    const gemm_arch *g = arch_chosen;
    if (M <= 0 || N <= 0) return;
    if (bias && (!g || K <= 0 || alpha == 0.0f)) { /* the bias copied, then added to */
        fill_rows(C, ldc, bias, M, N);
        bias = NULL, beta = 1.0f;
    }
    if (!g) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                    alpha, A, lda, B, ldb, beta, C, ldc);
        if (then) then_whole(then, then_ctx, C, ldc, M, N);
        return;
    }
    /* beta first (beta = 0 never reads C, as BLAS), then C += alpha op(A) op(B); when there is a
     * product, beta = 0 is left to the kernel, which writes C instead of adding to it (and adds the
     * bias in the same store) */
    const int overwrite = (beta == 0.0f || bias) && K > 0 && alpha != 0.0f;
    /* A transposed is packed when its tiles meet many columns of B: the pass over A then costs
     * little per product (the weight gradients, N = 128 and more: up to 1.5x faster), whereas
     * attention's per-head products (N = 64) ran 10-15 % slower packed. Packing or not, the kernel
     * adds the same products in the same order. */
    const int pack_a = trans_a && N >= 128;
    if (beta != 1.0f && !overwrite)
        for (int i = 0; i < M; i++) {
            float *ci = C + (size_t)i * ldc;
            if (beta == 0.0f) memset(ci, 0, (size_t)N * sizeof(float));
            else
                for (int j = 0; j < N; j++) ci[j] *= beta;
        }
    if (K <= 0 || alpha == 0.0f) {
        if (then) then_whole(then, then_ctx, C, ldc, M, N);
        return;
    }
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
        jobs[t] = (gemm_job){g, trans_a, trans_b, M, N, K, alpha, A, B, lda, ldb, C, ldc, overwrite,
                             bias, then, then_ctx, 0, 0, pack_a, NULL};
        if (split_n) {
            jobs[t].N = hi - lo, jobs[t].C = C + lo, jobs[t].bias = bias ? bias + lo : NULL, jobs[t].col0 = lo;
            jobs[t].B = trans_b ? B + (size_t)lo * ldb : B + lo;
        } else {
            jobs[t].M = hi - lo, jobs[t].C = C + (size_t)lo * ldc, jobs[t].row0 = lo;
            jobs[t].A = trans_a ? A + lo : A + (size_t)lo * lda;
        }
    }
    /* one slice per chunk: nt <= the kernels' threads, so the loop makes exactly nt chunks */
    qn_parallel_for((size_t)nt, 1, gemm_slices, jobs);
}

void qn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, NULL, C, ldc, NULL, NULL);
}

void qn_sgemm_bias(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, const float *bias, float *C, int ldc) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, 0.0f, bias, C, ldc, NULL, NULL);
}

void qn_sgemm_then(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, const float *bias, float *C, int ldc, qn_gemm_block_fn then, void *ctx) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, 0.0f, bias, C, ldc, then, ctx);
}

void qn_set_num_threads(int n) {
    qn_cpu_threads = n < 1 ? 1 : n;
    openblas_set_num_threads(n);
}
