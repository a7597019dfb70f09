/* lowbit_gemv_avx512.c: the AVX-512 decode GEMVs (lowbit_gemv_avx512.h). Each step widens 32 weights
 * of a row into two 16-lane vectors (int8: vpmovsxbd + convert; fp16: vcvtph2ps; bf16: a 16-bit
 * shift; 4-bit: one vpermps of the block's scaled 16-entry table per 16 codes) and FMAs them into two
 * accumulators per activation row. The row count M is a compile-time constant in each instance, so
 * the accumulators stay in registers; at M = 1 four weight rows (two at M = 2..4) go through the loop
 * together, which shares the activation loads and gives the FMAs at least eight independent chains. Each
 * row's sum is the same operations in every instance (rows never mix), so a result depends neither
 * on M nor on the row split. Columns past the last multiple of 32 are masked loads. */
#include <stdlib.h>

#include "lowbit_gemv_avx512.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX512_TARGET "avx512f,avx512bw,avx512vl,avx512dq,fma,f16c"
#define AVX512_FN __attribute__((target(AVX512_TARGET)))
#define AVX512_INLINE static inline __attribute__((always_inline, target(AVX512_TARGET)))

enum { W_F32, W_F16, W_BF16, W_I8, W_4BIT };
enum { MAX_R = 4, MAX_M = 8 };
/* Each step prefetches the same columns of the rows the next pass takes (R rows further on): the packed
 * streams from memory ran 1.2-1.4x slower with the hardware prefetcher alone (2-4 interleaved row
 * streams), and a fixed 2 KiB ahead landed inside the rows being read when rows are long. float32
 * rows (4 KiB and more) stream well without it. */
#define PREFETCH_NEXT_PASS(p, pass_bytes) _mm_prefetch((const char *)(p) + (pass_bytes), _MM_HINT_T0)
#define INV127 7.874015718698502e-3f

/* FMA and F16C too, which lowbit_gemv.c checks before (AVX2 level) */
int qn_lowbit_avx512_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

int qn_lowbit_avx512_vnni_supported(void) {
    __builtin_cpu_init();
    return qn_lowbit_avx512_supported() && __builtin_cpu_supports("avx512vnni");
}

/* A value the compiler must keep in a register: without this GCC folds a shared load into every FMA
 * that uses it (a weight vector used by M FMAs, an activation vector by R), doubling the loads. */
AVX512_INLINE __m512 in_register(__m512 v) {
    __asm__("" : "+v"(v));
    return v;
}

/* Columns [k, k + 32) of a row (element pointer for the plain formats, code bytes for 4-bit). */
AVX512_INLINE void load32(const int f, const void *row, int k, __m512 tab, __m512 *w0, __m512 *w1) {
    if (f == W_F32) {
        *w0 = _mm512_loadu_ps((const float *)row + k), *w1 = _mm512_loadu_ps((const float *)row + k + 16);
    } else if (f == W_F16) {
        const __m256i *p = (const __m256i *)((const uint16_t *)row + k);
        *w0 = _mm512_cvtph_ps(_mm256_loadu_si256(p)), *w1 = _mm512_cvtph_ps(_mm256_loadu_si256(p + 1));
    } else if (f == W_BF16) { /* bfloat16 is the top half of a float32 */
        const __m256i *p = (const __m256i *)((const uint16_t *)row + k);
        *w0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p)), 16));
        *w1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p + 1)), 16));
    } else if (f == W_I8) {
        const __m128i *p = (const __m128i *)((const int8_t *)row + k);
        *w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p)));
        *w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p + 1)));
    } else { /* 16 bytes: the high nibbles are the even elements, the low ones the odd (x is split to match) */
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)((const uint8_t *)row + k / 2)));
        *w0 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), tab); /* vpermps reads the low 4 bits */
        *w1 = _mm512_permutexvar_ps(v, tab);
    }
}

/* The lanes of mask m of the 16 columns from k (plain formats), zeros elsewhere. */
AVX512_INLINE __m512 load_masked(const int f, const void *row, int k, __mmask16 m) {
    if (f == W_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    if (f == W_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k));
    if (f == W_BF16)
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k)), 16));
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, (const int8_t *)row + k)));
}

AVX512_INLINE size_t elem_size(const int f) {
    return f == W_F32 ? 4 : f == W_F16 || f == W_BF16 ? 2 : 1;
}

/* s[r][i] = row (j + r) . x_i for R rows and M activation rows (plain formats). */
AVX512_INLINE void dot_plain(const int f, const void *w, int in, int j, const int R, const int M, const float *x, int ldx,
                             float s[MAX_R][MAX_M]) {
    const char *rows[MAX_R];
    __m512 a[MAX_R][MAX_M], b[MAX_R][MAX_M];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) rows[r] = (const char *)w + (size_t)(j + r) * (size_t)in * elem_size(f);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) a[r][i] = _mm512_setzero_ps(), b[r][i] = _mm512_setzero_ps();
    const int k32 = in / 32 * 32;
    for (int k = 0; k < k32; k += 32) {
        __m512 w0[MAX_R], w1[MAX_R];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (f != W_F32) PREFETCH_NEXT_PASS(rows[r] + (size_t)k * elem_size(f), (size_t)R * in * elem_size(f));
            load32(f, rows[r], k, _mm512_setzero_ps(), &w0[r], &w1[r]);
            if (M > 1) w0[r] = in_register(w0[r]), w1[r] = in_register(w1[r]);
        }
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            const __m512 x0 = in_register(_mm512_loadu_ps(x + (size_t)i * ldx + k));
            const __m512 x1 = in_register(_mm512_loadu_ps(x + (size_t)i * ldx + k + 16));
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                a[r][i] = _mm512_fmadd_ps(w0[r], x0, a[r][i]), b[r][i] = _mm512_fmadd_ps(w1[r], x1, b[r][i]);
        }
    }
    if (k32 < in) {
        const int rem = in - k32, n0 = rem < 16 ? rem : 16;
        const __mmask16 m0 = (__mmask16)((1u << n0) - 1), m1 = (__mmask16)((1u << (rem - n0)) - 1);
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) {
            const __m512 x0 = _mm512_maskz_loadu_ps(m0, x + (size_t)i * ldx + k32);
            const __m512 x1 = _mm512_maskz_loadu_ps(m1, x + (size_t)i * ldx + k32 + 16);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                a[r][i] = _mm512_fmadd_ps(load_masked(f, rows[r], k32, m0), x0, a[r][i]);
                b[r][i] = _mm512_fmadd_ps(load_masked(f, rows[r], k32 + 16, m1), x1, b[r][i]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) s[r][i] = _mm512_reduce_add_ps(_mm512_add_ps(a[r][i], b[r][i]));
}

/* Weight rows per pass for M <= 4 activation rows: enough accumulator chains to hide the FMA latency
 * and enough row streams to keep the loads coming (one stream runs at a third of the L2's bandwidth). */
#define ROWS_FOR(M) ((M) == 1 ? 4 : 2)
/* Activation rows past the first 4 take a second pass over the same weight rows (still in L1): 2 x 8
 * rows would need 32 accumulators. */
#define FIRST_PASS(M) ((M) > 4 ? 4 : (M))

AVX512_INLINE void store_rows(const float s[MAX_R][MAX_M], const float *scale, int j, const int R, int i0, const int M,
                              float *y, int ldy) {
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int i = 0; i < M; i++)
            y[(size_t)(i0 + i) * ldy + j + r] = scale ? s[r][i] * (scale[j + r] * INV127) : s[r][i];
}

AVX512_INLINE void gemv_plain_m(const int f, const void *w, const float *scale, int in, int j0, int j1, const float *x,
                                int ldx, const int M, float *y, int ldy) {
    const int MA = FIRST_PASS(M), MB = M - MA, R = ROWS_FOR(MA);
    const float *xb = x + (size_t)MA * ldx;
    float s[MAX_R][MAX_M];
    int j = j0;
    for (; j + R <= j1; j += R) {
        dot_plain(f, w, in, j, R, MA, x, ldx, s);
        store_rows(s, scale, j, R, 0, MA, y, ldy);
        if (MB) {
            dot_plain(f, w, in, j, R, MB, xb, ldx, s);
            store_rows(s, scale, j, R, MA, MB, y, ldy);
        }
    }
    for (; j < j1; j++) { /* the rows left over, one at a time: each row's operations are the same */
        dot_plain(f, w, in, j, 1, MA, x, ldx, s);
        store_rows(s, scale, j, 1, 0, MA, y, ldy);
        if (MB) {
            dot_plain(f, w, in, j, 1, MB, xb, ldx, s);
            store_rows(s, scale, j, 1, MA, MB, y, ldy);
        }
    }
}

AVX512_INLINE void gemv_plain(const int f, const void *w, const float *scale, int in, int j0, int j1, const float *x,
                              int ldx, int M, float *y, int ldy) {
    switch (M) {
    case 1: gemv_plain_m(f, w, scale, in, j0, j1, x, ldx, 1, y, ldy); break;
    case 2: gemv_plain_m(f, w, scale, in, j0, j1, x, ldx, 2, y, ldy); break;
    case 3: gemv_plain_m(f, w, scale, in, j0, j1, x, ldx, 3, y, ldy); break;
    case 4: gemv_plain_m(f, w, scale, in, j0, j1, x, ldx, 4, y, ldy); break;
    case 5: gemv_plain_m(f, w, scale, in, j0, j1, x, ldx, 5, y, ldy); break;
    case 6: gemv_plain_m(f, w, scale, in, j0, j1, x, ldx, 6, y, ldy); break;
    case 7: gemv_plain_m(f, w, scale, in, j0, j1, x, ldx, 7, y, ldy); break;
    default: gemv_plain_m(f, w, scale, in, j0, j1, x, ldx, 8, y, ldy); break;
    }
}

AVX512_FN void qn_lowbit_avx512_f32(const float *w, int in, int j0, int j1, const float *x, int ldx, int M, float *y,
                                    int ldy) {
    gemv_plain(W_F32, w, NULL, in, j0, j1, x, ldx, M, y, ldy);
}

AVX512_FN void qn_lowbit_avx512_h16(const uint16_t *w, int bf16, int in, int j0, int j1, const float *x, int ldx,
                                    int M, float *y, int ldy) {
    if (bf16) gemv_plain(W_BF16, w, NULL, in, j0, j1, x, ldx, M, y, ldy);
    else gemv_plain(W_F16, w, NULL, in, j0, j1, x, ldx, M, y, ldy);
}

AVX512_FN void qn_lowbit_avx512_i8(const int8_t *q, const float *absmax, int in, int j0, int j1, const float *x,
                                   int ldx, int M, float *y, int ldy) {
    gemv_plain(W_I8, q, absmax, in, j0, j1, x, ldx, M, y, ldy);
}

/* ---- 4-bit: x split into even and odd elements of each 32 (xd, in apart), the table scaled per block ---- */

static float block_absmax(const qn_4bit_tensor *t, const float *dyn, size_t b) {
    if (!t->double_quant) return t->absmax[b];
    return dyn[t->absmax_q[b]] * t->absmax2[b / 256] + t->offset; /* qn_4bit_block_absmax's order */
}

AVX512_INLINE void dot_4bit(const qn_4bit_tensor *t, const float *dyn, __m512 table, int in, int j, const int R,
                            const int M, const float *xd, float s[MAX_R][MAX_M]) {
    const int bs = t->blocksize;
    const size_t nb = (size_t)(in / bs); /* blocks per row: rows start on a block */
    const uint8_t *rows[MAX_R];
    __m512 a[MAX_R][MAX_M], b[MAX_R][MAX_M];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) rows[r] = t->packed + (size_t)(j + r) * (size_t)in / 2;
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) a[r][i] = _mm512_setzero_ps(), b[r][i] = _mm512_setzero_ps();
    size_t blk = 0;
    for (int kb = 0; kb < in; kb += bs, blk++) {
        __m512 tab[MAX_R];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            tab[r] = _mm512_mul_ps(table, _mm512_set1_ps(block_absmax(t, dyn, (size_t)(j + r) * nb + blk)));
        for (int k = kb; k < kb + bs; k += 32) {
            __m512 w0[MAX_R], w1[MAX_R];
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                PREFETCH_NEXT_PASS(rows[r] + k / 2, (size_t)R * in / 2);
                load32(W_4BIT, rows[r], k, tab[r], &w0[r], &w1[r]);
            }
#pragma GCC unroll 8
            for (int i = 0; i < M; i++) {
                const __m512 x0 = in_register(_mm512_loadu_ps(xd + (size_t)i * in + k));
                const __m512 x1 = in_register(_mm512_loadu_ps(xd + (size_t)i * in + k + 16));
#pragma GCC unroll 4
                for (int r = 0; r < R; r++)
                    a[r][i] = _mm512_fmadd_ps(w0[r], x0, a[r][i]), b[r][i] = _mm512_fmadd_ps(w1[r], x1, b[r][i]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int i = 0; i < M; i++) s[r][i] = _mm512_reduce_add_ps(_mm512_add_ps(a[r][i], b[r][i]));
}

AVX512_INLINE void gemv_4bit_m(const qn_4bit_tensor *t, int in, int j0, int j1, const float *xd, const int M, float *y,
                               int ldy) {
    const int MA = FIRST_PASS(M), MB = M - MA, R = ROWS_FOR(MA);
    const float *dyn = t->double_quant ? qn_dynamic8_code() : NULL;
    const __m512 table = _mm512_loadu_ps(t->type == QN_4BIT_FP4 ? qn_fp4_code : qn_nf4_code);
    const float *xb = xd + (size_t)MA * in;
    float s[MAX_R][MAX_M];
    int j = j0;
    for (; j + R <= j1; j += R) {
        dot_4bit(t, dyn, table, in, j, R, MA, xd, s);
        store_rows(s, NULL, j, R, 0, MA, y, ldy);
        if (MB) {
            dot_4bit(t, dyn, table, in, j, R, MB, xb, s);
            store_rows(s, NULL, j, R, MA, MB, y, ldy);
        }
    }
    for (; j < j1; j++) {
        dot_4bit(t, dyn, table, in, j, 1, MA, xd, s);
        store_rows(s, NULL, j, 1, 0, MA, y, ldy);
        if (MB) {
            dot_4bit(t, dyn, table, in, j, 1, MB, xb, s);
            store_rows(s, NULL, j, 1, MA, MB, y, ldy);
        }
    }
}

AVX512_FN int qn_lowbit_avx512_4bit(const qn_4bit_tensor *t, int in, int j0, int j1, const float *x, int ldx, int M,
                                    float *y, int ldy) {
    float *xd = malloc((size_t)M * (size_t)in * sizeof(float));
    if (!xd) return -1;
    /* even elements of each 32 first, then the odd ones: once per call instead of per weight row */
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int i = 0; i < M; i++)
        for (int k = 0; k < in; k += 32) {
            const float *xr = x + (size_t)i * ldx + k;
            __m512 lo = _mm512_loadu_ps(xr), hi = _mm512_loadu_ps(xr + 16);
            _mm512_storeu_ps(xd + (size_t)i * in + k, _mm512_permutex2var_ps(lo, even, hi));
            _mm512_storeu_ps(xd + (size_t)i * in + k + 16, _mm512_permutex2var_ps(lo, odd, hi));
        }
    switch (M) {
    case 1: gemv_4bit_m(t, in, j0, j1, xd, 1, y, ldy); break;
    case 2: gemv_4bit_m(t, in, j0, j1, xd, 2, y, ldy); break;
    case 3: gemv_4bit_m(t, in, j0, j1, xd, 3, y, ldy); break;
    case 4: gemv_4bit_m(t, in, j0, j1, xd, 4, y, ldy); break;
    case 5: gemv_4bit_m(t, in, j0, j1, xd, 5, y, ldy); break;
    case 6: gemv_4bit_m(t, in, j0, j1, xd, 6, y, ldy); break;
    case 7: gemv_4bit_m(t, in, j0, j1, xd, 7, y, ldy); break;
    default: gemv_4bit_m(t, in, j0, j1, xd, 8, y, ldy); break;
    }
    free(xd);
    return 0;
}

/* ---- int8 x int8 with VNNI ---- */

/* vpdpbusd multiplies unsigned by signed bytes: with x + 128 (unsigned), w . x = w . (x + 128) - 128 sum(w),
 * and sum(w) is one more vpdpbusd with ones per weight row, shared by the activation rows. All in int32:
 * exact (|sum| <= in * 255 * 127 < 2^31 for in < 66000), so the order does not matter. */
#define VNNI_TARGET "avx512f,avx512bw,avx512vl,avx512vnni"
#define VNNI_INLINE static inline __attribute__((always_inline, target(VNNI_TARGET)))

VNNI_INLINE void i8i8_m(const int8_t *q, int in, int j0, int j1, const uint8_t *xu, const int M, int32_t *acc,
                        int ldacc) {
    const int rem = in % 64;
    const __mmask64 tail = rem ? (__mmask64)((~0ull) >> (64 - rem)) : ~(__mmask64)0;
    const __m512i ones = _mm512_set1_epi8(1);
    const int R = ROWS_FOR(M);
    for (int j = j0, nr; j < j1; j += nr) {
        nr = j1 - j < R ? 1 : R; /* rows left over go one at a time */
        __m512i sw[MAX_R], s[MAX_R][MAX_M];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            sw[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int i = 0; i < M; i++) s[r][i] = _mm512_setzero_si512();
        }
        if (nr == R) {
            for (int k = 0; k < in; k += 64) {
                const __mmask64 m = k + 64 <= in ? ~(__mmask64)0 : tail;
                __m512i wv[MAX_R];
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) {
                    const int8_t *w = q + (size_t)(j + r) * in + k;
                    PREFETCH_NEXT_PASS(w, (size_t)R * in);
                    wv[r] = _mm512_maskz_loadu_epi8(m, w);
                    sw[r] = _mm512_dpbusd_epi32(sw[r], ones, wv[r]);
                }
#pragma GCC unroll 8
                for (int i = 0; i < M; i++) {
                    const __m512i xv = _mm512_maskz_loadu_epi8(m, xu + (size_t)i * in + k);
#pragma GCC unroll 4
                    for (int r = 0; r < R; r++) s[r][i] = _mm512_dpbusd_epi32(s[r][i], xv, wv[r]);
                }
            }
        } else {
            for (int k = 0; k < in; k += 64) {
                const __mmask64 m = k + 64 <= in ? ~(__mmask64)0 : tail;
                const __m512i wv = _mm512_maskz_loadu_epi8(m, q + (size_t)j * in + k);
                sw[0] = _mm512_dpbusd_epi32(sw[0], ones, wv);
#pragma GCC unroll 8
                for (int i = 0; i < M; i++)
                    s[0][i] = _mm512_dpbusd_epi32(s[0][i], _mm512_maskz_loadu_epi8(m, xu + (size_t)i * in + k), wv);
            }
        }
        for (int r = 0; r < nr; r++) {
            const int32_t wsum = _mm512_reduce_add_epi32(sw[r]);
#pragma GCC unroll 8
            for (int i = 0; i < M; i++) acc[(size_t)i * ldacc + j + r] = _mm512_reduce_add_epi32(s[r][i]) - 128 * wsum;
        }
    }
}

__attribute__((target(VNNI_TARGET))) void qn_lowbit_avx512_i8i8(const int8_t *q, int in, int j0, int j1,
                                                                const int8_t *xq, int M, int32_t *acc, int ldacc) {
    uint8_t *xu = malloc((size_t)M * (size_t)in);
    if (!xu) { /* out of memory: the plain sum (exact too) */
        for (int j = j0; j < j1; j++)
            for (int i = 0; i < M; i++) {
                int32_t r = 0;
                for (int k = 0; k < in; k++) r += (int32_t)q[(size_t)j * in + k] * xq[(size_t)i * in + k];
                acc[(size_t)i * ldacc + j] = r;
            }
        return;
    }
    for (size_t e = 0; e < (size_t)M * in; e++) xu[e] = (uint8_t)(xq[e] ^ 0x80); /* x + 128 */
    switch (M) {
    case 1: i8i8_m(q, in, j0, j1, xu, 1, acc, ldacc); break;
    case 2: i8i8_m(q, in, j0, j1, xu, 2, acc, ldacc); break;
    case 3: i8i8_m(q, in, j0, j1, xu, 3, acc, ldacc); break;
    case 4: i8i8_m(q, in, j0, j1, xu, 4, acc, ldacc); break;
    case 5: i8i8_m(q, in, j0, j1, xu, 5, acc, ldacc); break;
    case 6: i8i8_m(q, in, j0, j1, xu, 6, acc, ldacc); break;
    case 7: i8i8_m(q, in, j0, j1, xu, 7, acc, ldacc); break;
    default: i8i8_m(q, in, j0, j1, xu, 8, acc, ldacc); break;
    }
    free(xu);
}

#else /* not x86-64: never called (qn_lowbit_avx512_supported says 0) */
int qn_lowbit_avx512_supported(void) { return 0; }
int qn_lowbit_avx512_vnni_supported(void) { return 0; }
void qn_lowbit_avx512_f32(const float *w, int in, int j0, int j1, const float *x, int ldx, int M, float *y, int ldy) {
    (void)w, (void)in, (void)j0, (void)j1, (void)x, (void)ldx, (void)M, (void)y, (void)ldy;
}
void qn_lowbit_avx512_h16(const uint16_t *w, int bf16, int in, int j0, int j1, const float *x, int ldx, int M,
                          float *y, int ldy) {
    (void)w, (void)bf16, (void)in, (void)j0, (void)j1, (void)x, (void)ldx, (void)M, (void)y, (void)ldy;
}
void qn_lowbit_avx512_i8(const int8_t *q, const float *absmax, int in, int j0, int j1, const float *x, int ldx, int M,
                         float *y, int ldy) {
    (void)q, (void)absmax, (void)in, (void)j0, (void)j1, (void)x, (void)ldx, (void)M, (void)y, (void)ldy;
}
int qn_lowbit_avx512_4bit(const qn_4bit_tensor *t, int in, int j0, int j1, const float *x, int ldx, int M, float *y,
                          int ldy) {
    (void)t, (void)in, (void)j0, (void)j1, (void)x, (void)ldx, (void)M, (void)y, (void)ldy;
    return -1;
}
void qn_lowbit_avx512_i8i8(const int8_t *q, int in, int j0, int j1, const int8_t *xq, int M, int32_t *acc, int ldacc) {
    (void)q, (void)in, (void)j0, (void)j1, (void)xq, (void)M, (void)acc, (void)ldacc;
}
#endif
