/* lowbit_gemv.c: decode GEMVs of the packed LLM weights (qn_lowbit_gemv.h) and the choice of path.
 * CPUs with AVX-512 take lowbit_gemv_avx512.c. Decode is memory-bound:
 * the AVX2 path reads each packed byte once and widens it in registers (int8 -> fp32, half/bfloat16
 * -> fp32 with F16C or a shift, 4-bit codes -> fp32 through a 16-entry table in two permutes), then
 * FMAs it into every activation row. The portable path widens 256 weights at a time into an L1
 * buffer and sums it in LANES-wide partial sums (no reassociation needed to vectorize). The float32
 * weights of unquantized layers take the same paths (no widening). */
#include <stdlib.h>
#include <string.h>

#include "lowbit_gemv_avx512.h"
#include "qn_lowbit_gemv.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define QN_LOWBIT_X86 1
#endif

enum { CHUNK = 256, LANES = 16, MAX_M = 8, PREFETCH_AHEAD = 2048 /* bytes of 4-bit codes */ };
#define INV127 7.874015718698502e-3f

static float block_absmax(const qn_4bit_tensor *t, const float *dyn, size_t b) {
    if (!t->double_quant) return t->absmax[b];
    return dyn[t->absmax_q[b]] * t->absmax2[b / 256] + t->offset; /* qn_4bit_block_absmax's order */
}

/* ---- portable: widen a chunk of a row, then dot ---- */
static void widen_i8(const int8_t *q, float *out, int n) {
    for (int u = 0; u < n; u++) out[u] = (float)q[u];
}
static void widen_h16(const uint16_t *w, int bf16, float *out, int n) {
    for (int u = 0; u < n; u++) out[u] = bf16 ? qn_bf16_to_f32(w[u]) : qn_f16_to_f32(w[u]);
}
/* Elements [e0, e0 + n) of the flattened tensor, scaled by their block's absmax: a block at a time. */
static void widen_4bit(const qn_4bit_tensor *t, size_t e0, float *out, int n) {
    const float *code = t->type == QN_4BIT_NF4 ? qn_nf4_code : qn_fp4_code, *dyn = qn_dynamic8_code();
    const size_t bs = (size_t)t->blocksize, end = e0 + (size_t)n;
    for (size_t e = e0; e < end;) {
        size_t b = e / bs, stop = (b + 1) * bs < end ? (b + 1) * bs : end;
        const float amax = block_absmax(t, dyn, b);
        for (; e < stop; e++) {
            uint8_t byte = t->packed[e / 2], c = e % 2 == 0 ? byte >> 4 : byte & 0xF; /* earlier element: high nibble */
            out[e - e0] = code[c] * amax;
        }
    }
}

typedef enum { F_I8, F_F16, F_BF16, F_4BIT, F_F32 } fmt;
typedef struct {
    fmt f;
    const void *w;
    const qn_4bit_tensor *t;
    int in;
} rowsrc;

static void widen(const rowsrc *s, int j, int k0, float *out, int n) {
    size_t off = (size_t)j * (size_t)s->in + (size_t)k0;
    switch (s->f) {
    case F_I8: widen_i8((const int8_t *)s->w + off, out, n); break;
    case F_F16: widen_h16((const uint16_t *)s->w + off, 0, out, n); break;
    case F_BF16: widen_h16((const uint16_t *)s->w + off, 1, out, n); break;
    case F_4BIT: widen_4bit(s->t, off, out, n); break;
    case F_F32: memcpy(out, (const float *)s->w + off, (size_t)n * sizeof(float)); break;
    }
}

/* out[i * ldy + j] for rows [j0, j1): sum over chunks of LANES-wide partial sums. */
static void gemv_portable(const rowsrc *s, const float *scale, int j0, int j1, const float *x, int ldx, int M,
                          float *y, int ldy) {
    float buf[CHUNK];
    for (int j = j0; j < j1; j++) {
        float acc[MAX_M][LANES], tail[MAX_M];
        memset(acc, 0, sizeof acc), memset(tail, 0, sizeof tail);
        for (int k0 = 0; k0 < s->in; k0 += CHUNK) {
            int n = s->in - k0 < CHUNK ? s->in - k0 : CHUNK, nv = n / LANES * LANES;
            widen(s, j, k0, buf, n);
            for (int i = 0; i < M; i++) {
                const float *xr = x + (size_t)i * ldx + k0;
                for (int k = 0; k < nv; k += LANES)
                    for (int u = 0; u < LANES; u++) acc[i][u] += buf[k + u] * xr[k + u];
                for (int k = nv; k < n; k++) tail[i] += buf[k] * xr[k];
            }
        }
        for (int i = 0; i < M; i++) {
            float r = tail[i];
            for (int u = 0; u < LANES; u++) r += acc[i][u];
            y[(size_t)i * ldy + j] = scale ? r * (scale[j] * INV127) : r;
        }
    }
}

/* ---- AVX2 + FMA + F16C ---- */
#ifdef QN_LOWBIT_X86
#define AVX2_FN __attribute__((target("avx2,fma,f16c")))

AVX2_FN static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One function per format (no switch in the inner loop): for each row j, SETUP, then LOAD32(k) puts
 * the 32 weights of columns [k, k + 32) in w[0..3], which every activation row shares. Each row's
 * sum is the same operations whatever M is (a sequence's result does not depend on the batch); the
 * only loop-carried dependency is one add per 32 columns. Columns past the last multiple of 32 go
 * through the portable widening. */
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))
#define GEMV_AVX2(NAME, SETUP, LOAD32)                                                                          \
    AVX2_INLINE void NAME##_m(const rowsrc *s, const float *scale, int j0, int j1, const float *x, int ldx,     \
                              const int M, float *y, int ldy) {                                                 \
        const int in = s->in, k32 = in / 32 * 32;                                                               \
        float tailw[32];                                                                                        \
        for (int j = j0; j < j1; j++) {                                                                         \
            float r[MAX_M];                                                                                     \
            __m256 w[4];                                                                                        \
            SETUP;                                                                                              \
            __m256 a[MAX_M];                                                                                    \
            for (int i = 0; i < M; i++) a[i] = _mm256_setzero_ps();                                             \
            for (int k = 0; k < k32; k += 32) {                                                                 \
                LOAD32;                                                                                         \
                /* in registers: GCC would fold the weight loads into each row's FMAs */                        \
                if (M > 1)                                                                                      \
                    for (int u = 0; u < 4; u++) __asm__("" : "+x"(w[u]));                                       \
                _Pragma("GCC unroll 4") for (int i = 0; i < M; i++) {                                           \
                    const float *xr = x + (size_t)i * ldx + k;                                                  \
                    __m256 p = _mm256_fmadd_ps(w[0], _mm256_loadu_ps(xr), _mm256_mul_ps(w[1], _mm256_loadu_ps(xr + 8)));     \
                    p = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(xr + 16), p);                                     \
                    a[i] = _mm256_add_ps(a[i], _mm256_fmadd_ps(w[3], _mm256_loadu_ps(xr + 24), p));             \
                }                                                                                               \
            }                                                                                                   \
            for (int i = 0; i < M; i++) r[i] = hsum8(a[i]);                                                     \
            if (k32 < in) {                                                                                     \
                widen(s, j, k32, tailw, in - k32);                                                              \
                for (int i = 0; i < M; i++)                                                                     \
                    for (int k = k32; k < in; k++) r[i] += tailw[k - k32] * x[(size_t)i * ldx + k];             \
            }                                                                                                   \
            for (int i = 0; i < M; i++) y[(size_t)i * ldy + j] = scale ? r[i] * (scale[j] * INV127) : r[i];     \
        }                                                                                                       \
    }                                                                                                           \
    /* M a constant in each instance: the accumulators stay in registers */                                     \
    AVX2_FN static void NAME(const rowsrc *s, const float *scale, int j0, int j1, const float *x, int ldx, int M, \
                             float *y, int ldy) {                                                                \
        switch (M) {                                                                                            \
        case 1: NAME##_m(s, scale, j0, j1, x, ldx, 1, y, ldy); break;                                           \
        case 2: NAME##_m(s, scale, j0, j1, x, ldx, 2, y, ldy); break;                                           \
        case 3: NAME##_m(s, scale, j0, j1, x, ldx, 3, y, ldy); break;                                           \
        case 4: NAME##_m(s, scale, j0, j1, x, ldx, 4, y, ldy); break;                                           \
        default: NAME##_m(s, scale, j0, j1, x, ldx, M, y, ldy); break;                                          \
        }                                                                                                       \
    }

GEMV_AVX2(gemv_i8_avx2, const int8_t *row = (const int8_t *)s->w + (size_t)j * in,
          for (int u = 0; u < 4; u++) w[u] = _mm256_cvtepi32_ps(
              _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + k + 8 * u)))))

GEMV_AVX2(gemv_f16_avx2, const uint16_t *row = (const uint16_t *)s->w + (size_t)j * in,
          for (int u = 0; u < 4; u++) w[u] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + k + 8 * u))))

GEMV_AVX2(gemv_f32_avx2, const float *row = (const float *)s->w + (size_t)j * in,
          for (int u = 0; u < 4; u++) w[u] = _mm256_loadu_ps(row + k + 8 * u))

/* bfloat16 is the top half of a float32 */
GEMV_AVX2(gemv_bf16_avx2, const uint16_t *row = (const uint16_t *)s->w + (size_t)j * in,
          for (int u = 0; u < 4; u++) w[u] = _mm256_castsi256_ps(_mm256_slli_epi32(
              _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + k + 8 * u))), 16)))

/* 4-bit codes, 8 per little-endian 32-bit word: byte b holds element 2b in its high nibble and 2b+1 in
 * its low one, so lane l's nibble starts at bit nib_shift[l]. The word is broadcast to 8 lanes and
 * shifted per lane (no shuffle); the 16-entry table, pre-scaled by the block's absmax, is two
 * 8-entry permutes (low 3 bits): the lower half, xor'ed where bit 3 (which sllv moves to the sign
 * bit) is set with the bitwise difference of the halves (cheaper than blendv). */
static const int32_t nib_shift[8] = {4, 0, 12, 8, 20, 16, 28, 24}, nib_top[8] = {24, 28, 16, 20, 8, 12, 0, 4};
#define LOAD32_4BIT                                                                                     \
    if ((k & (bs - 1)) == 0) {                                                                          \
        __m256 amax = _mm256_set1_ps(block_absmax(t, dyn, (e0 + (size_t)k) / (size_t)bs));              \
        tlo = _mm256_mul_ps(lo8, amax), tdiff = _mm256_xor_ps(tlo, _mm256_mul_ps(hi8, amax));          \
    }                                                                                                   \
    for (int u = 0; u < 4; u++) {                                                                       \
        /* vbroadcastss from memory: a load, no shuffle (vmovd + vpbroadcastd would take port 5) */    \
        __m256i v = _mm256_castps_si256(_mm256_broadcast_ss((const float *)(bytes + k / 2 + 4 * u)));   \
        __m256i idx = _mm256_srlv_epi32(v, sh), top = _mm256_sllv_epi32(v, tp);                         \
        __m256 upper = _mm256_castsi256_ps(_mm256_srai_epi32(top, 31));                                 \
        w[u] = _mm256_xor_ps(_mm256_permutevar8x32_ps(tlo, idx),                                        \
                             _mm256_and_ps(upper, _mm256_permutevar8x32_ps(tdiff, idx)));               \
    }
#define SETUP_4BIT                                                                    \
    const qn_4bit_tensor *t = s->t;                                                   \
    const float *code = t->type == QN_4BIT_FP4 ? qn_fp4_code : qn_nf4_code;           \
    const float *dyn = qn_dynamic8_code();                                            \
    const int bs = t->blocksize;                                                      \
    const size_t e0 = (size_t)j * in;                                                 \
    const uint8_t *bytes = t->packed + e0 / 2;                                        \
    const __m256 lo8 = _mm256_loadu_ps(code);                                         \
    const __m256 hi8 = _mm256_loadu_ps(code + 8);                                     \
    const __m256i sh = _mm256_loadu_si256((const __m256i *)nib_shift);                \
    const __m256i tp = _mm256_loadu_si256((const __m256i *)nib_top);                  \
    __m256 tlo = lo8;                                                                 \
    __m256 tdiff = _mm256_xor_ps(lo8, hi8);
GEMV_AVX2(gemv_4bit_avx2, SETUP_4BIT, LOAD32_4BIT)

/* AVX2, whole blocks of 64 codes (rows of in % 64 == 0, blocks of at least 64): a 32-byte load holds
 * 8 words of 8 codes; nibble p of word l is element 8l + (p ^ 1) (the earlier element of a byte is
 * its high nibble), so with x transposed to match once per call (xd[8p + l] of each group of 64),
 * nibble p of all 8 words is one lookup: a right shift by 4p (the permute reads the low 3 bits of
 * the index) and a left shift by 28 - 4p that puts the code's bit 3 in the sign bit for the blend of
 * the two 8-entry halves of the table. No per-lane shift, no widening shuffle. */
AVX2_FN static void gemv_4bit_avx2_t(const rowsrc *s, int j0, int j1, const float *x, int ldx, int M, float *y,
                                     int ldy, float *xd) {
    const qn_4bit_tensor *t = s->t;
    const int in = s->in, bs = t->blocksize;
    const float *code = t->type == QN_4BIT_FP4 ? qn_fp4_code : qn_nf4_code, *dyn = qn_dynamic8_code();
    for (int i = 0; i < M; i++)
        for (int k = 0; k < in; k += 64)
            for (int p = 0; p < 8; p++)
                for (int l = 0; l < 8; l++) xd[(size_t)i * in + k + 8 * p + l] = x[(size_t)i * ldx + k + 8 * l + (p ^ 1)];
    const __m256 lo8 = _mm256_loadu_ps(code), hi8 = _mm256_loadu_ps(code + 8);
#define LOOKUP(p)                                                                                            \
    _mm256_blendv_ps(_mm256_permutevar8x32_ps(tlo, (p) ? _mm256_srli_epi32(v, 4 * (p)) : v),                \
                     _mm256_permutevar8x32_ps(thi, (p) ? _mm256_srli_epi32(v, 4 * (p)) : v),                 \
                     _mm256_castsi256_ps((p) == 7 ? v : _mm256_slli_epi32(v, 28 - 4 * (p))))
    for (int j = j0; j < j1; j++) {
        const size_t e0 = (size_t)j * in;
        const uint8_t *bytes = t->packed + e0 / 2;
        __m256 tlo = lo8, thi = hi8;
        if (M == 1 && j + 1 < j1) {
            /* two rows at a time: each activation load serves both */
            const uint8_t *bytes2 = bytes + in / 2;
            __m256 tlo2 = lo8, thi2 = hi8;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
            for (int k = 0; k < in; k += 64) {
                if ((k & (bs - 1)) == 0) {
                    __m256 amax = _mm256_set1_ps(block_absmax(t, dyn, (e0 + (size_t)k) / (size_t)bs));
                    tlo = _mm256_mul_ps(lo8, amax), thi = _mm256_mul_ps(hi8, amax);
                    amax = _mm256_set1_ps(block_absmax(t, dyn, (e0 + (size_t)in + (size_t)k) / (size_t)bs));
                    tlo2 = _mm256_mul_ps(lo8, amax), thi2 = _mm256_mul_ps(hi8, amax);
                }
                /* far enough ahead that the codes come from memory in time; the hardware prefetcher
                 * alone leaves a third of the speed from memory on the table */
                _mm_prefetch((const char *)(bytes + k / 2 + PREFETCH_AHEAD), _MM_HINT_T0);
                _mm_prefetch((const char *)(bytes2 + k / 2 + PREFETCH_AHEAD), _MM_HINT_T0);
                const __m256i v1 = _mm256_loadu_si256((const __m256i *)(bytes + k / 2));
                const __m256i v2 = _mm256_loadu_si256((const __m256i *)(bytes2 + k / 2));
                const float *xk = xd + k;
#define PAIR(p, A, B)                                                                 \
    {                                                                                 \
        __m256 xv = _mm256_loadu_ps(xk + 8 * (p));                                    \
        { const __m256i v = v1; A = _mm256_fmadd_ps(LOOKUP(p), xv, A); }             \
        { const __m256i v = v2; __m256 tlo = tlo2, thi = thi2; B = _mm256_fmadd_ps(LOOKUP(p), xv, B); } \
    }
                PAIR(0, a0, b0) PAIR(1, a1, b1) PAIR(2, a0, b0) PAIR(3, a1, b1)
                PAIR(4, a0, b0) PAIR(5, a1, b1) PAIR(6, a0, b0) PAIR(7, a1, b1)
#undef PAIR
            }
            y[j] = hsum8(_mm256_add_ps(a0, a1));
            y[j + 1] = hsum8(_mm256_add_ps(b0, b1));
            j++;
        } else if (M == 1) {
            /* a row left over: the pair's exact order, so results do not depend on the row split */
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            for (int k = 0; k < in; k += 64) {
                if ((k & (bs - 1)) == 0) {
                    __m256 amax = _mm256_set1_ps(block_absmax(t, dyn, (e0 + (size_t)k) / (size_t)bs));
                    tlo = _mm256_mul_ps(lo8, amax), thi = _mm256_mul_ps(hi8, amax);
                }
                _mm_prefetch((const char *)(bytes + k / 2 + PREFETCH_AHEAD), _MM_HINT_T0);
                const __m256i v = _mm256_loadu_si256((const __m256i *)(bytes + k / 2));
                const float *xk = xd + k;
                a0 = _mm256_fmadd_ps(LOOKUP(0), _mm256_loadu_ps(xk), a0);
                a1 = _mm256_fmadd_ps(LOOKUP(1), _mm256_loadu_ps(xk + 8), a1);
                a0 = _mm256_fmadd_ps(LOOKUP(2), _mm256_loadu_ps(xk + 16), a0);
                a1 = _mm256_fmadd_ps(LOOKUP(3), _mm256_loadu_ps(xk + 24), a1);
                a0 = _mm256_fmadd_ps(LOOKUP(4), _mm256_loadu_ps(xk + 32), a0);
                a1 = _mm256_fmadd_ps(LOOKUP(5), _mm256_loadu_ps(xk + 40), a1);
                a0 = _mm256_fmadd_ps(LOOKUP(6), _mm256_loadu_ps(xk + 48), a0);
                a1 = _mm256_fmadd_ps(LOOKUP(7), _mm256_loadu_ps(xk + 56), a1);
            }
            y[j] = hsum8(_mm256_add_ps(a0, a1));
        } else {
            /* each activation row summed in the batch-1 order above: a result does not depend on M */
            __m256 a0[MAX_M], a1[MAX_M];
            for (int i = 0; i < M; i++) a0[i] = _mm256_setzero_ps(), a1[i] = _mm256_setzero_ps();
            for (int k = 0; k < in; k += 64) {
                if ((k & (bs - 1)) == 0) {
                    __m256 amax = _mm256_set1_ps(block_absmax(t, dyn, (e0 + (size_t)k) / (size_t)bs));
                    tlo = _mm256_mul_ps(lo8, amax), thi = _mm256_mul_ps(hi8, amax);
                }
                const __m256i v = _mm256_loadu_si256((const __m256i *)(bytes + k / 2));
                __m256 w[8] = {LOOKUP(0), LOOKUP(1), LOOKUP(2), LOOKUP(3), LOOKUP(4), LOOKUP(5), LOOKUP(6), LOOKUP(7)};
                for (int i = 0; i < M; i++) {
                    const float *xk = xd + (size_t)i * in + k;
                    for (int p = 0; p < 8; p += 2) {
                        a0[i] = _mm256_fmadd_ps(w[p], _mm256_loadu_ps(xk + 8 * p), a0[i]);
                        a1[i] = _mm256_fmadd_ps(w[p + 1], _mm256_loadu_ps(xk + 8 * p + 8), a1[i]);
                    }
                }
            }
            for (int i = 0; i < M; i++) y[(size_t)i * ldy + j] = hsum8(_mm256_add_ps(a0[i], a1[i]));
        }
    }
#undef LOOKUP
}

static void gemv_avx2(const rowsrc *s, const float *scale, int j0, int j1, const float *x, int ldx, int M, float *y,
                      int ldy) {
    switch (s->f) {
    case F_I8: gemv_i8_avx2(s, scale, j0, j1, x, ldx, M, y, ldy); break;
    case F_F16: gemv_f16_avx2(s, scale, j0, j1, x, ldx, M, y, ldy); break;
    case F_BF16: gemv_bf16_avx2(s, scale, j0, j1, x, ldx, M, y, ldy); break;
    case F_4BIT: gemv_4bit_avx2(s, scale, j0, j1, x, ldx, M, y, ldy); break;
    case F_F32: gemv_f32_avx2(s, scale, j0, j1, x, ldx, M, y, ldy); break;
    }
}

AVX2_FN static void i8i8_avx2(const int8_t *q, int in, int j0, int j1, const int8_t *xq, int M, int32_t *acc, int ldacc) {
    const int k32 = in / 32 * 32;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int j = j0; j < j1; j++) {
        const int8_t *w = q + (size_t)j * in;
        for (int i = 0; i < M; i++) {
            const int8_t *xr = xq + (size_t)i * in;
            __m256i s = _mm256_setzero_si256();
            for (int k = 0; k < k32; k += 32) {
                __m256i a = _mm256_loadu_si256((const __m256i *)(w + k)), b = _mm256_loadu_si256((const __m256i *)(xr + k));
                /* signed x signed through maddubs (unsigned x signed): |a| times b with a's sign; codes
                 * are in [-127, 127], so a pair sums to at most 2 * 127^2 < 2^15: no saturation */
                __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
                s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
            }
            __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
            int32_t r = _mm_cvtsi128_si32(h);
            for (int k = k32; k < in; k++) r += (int32_t)w[k] * xr[k];
            acc[(size_t)i * ldacc + j] = r;
        }
    }
}
#endif

/* 0 portable, 1 AVX2 (+FMA, F16C), 2 AVX-512 (F, BW, VL, DQ: lowbit_gemv_avx512.c). */
static int level(void) {
#ifdef QN_LOWBIT_X86
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
        if (have && qn_lowbit_avx512_supported()) have = 2;
    }
    const char *want = getenv("QUENCH_LOWBIT");
    if (want && !strcmp(want, "portable")) return 0;
    if (want && !strcmp(want, "avx2") && have > 1) return 1;
    return have; /* "avx512" (or unset): the best this CPU has */
#else
    return 0;
#endif
}

const char *qn_lowbit_path(void) { return level() == 2 ? "avx512" : level() == 1 ? "avx2" : "portable"; }

static void run(const rowsrc *s, const float *scale, int j0, int j1, const float *x, int ldx, int M, float *y, int ldy) {
    for (int i0 = 0; i0 < M; i0 += MAX_M) {
        int m = M - i0 < MAX_M ? M - i0 : MAX_M;
        const float *xm = x + (size_t)i0 * ldx;
        float *ym = y + (size_t)i0 * ldy;
#ifdef QN_LOWBIT_X86
        /* 4-bit: 32-column steps must not straddle a block, so rows start on a block */
        int aligned = s->f != F_4BIT || s->in % s->t->blocksize == 0, lvl = level();
        if (aligned && lvl == 2) {
            switch (s->f) {
            case F_I8: qn_lowbit_avx512_i8(s->w, scale, s->in, j0, j1, xm, ldx, m, ym, ldy); continue;
            case F_F16: qn_lowbit_avx512_h16(s->w, 0, s->in, j0, j1, xm, ldx, m, ym, ldy); continue;
            case F_BF16: qn_lowbit_avx512_h16(s->w, 1, s->in, j0, j1, xm, ldx, m, ym, ldy); continue;
            case F_F32: qn_lowbit_avx512_f32(s->w, s->in, j0, j1, xm, ldx, m, ym, ldy); continue;
            case F_4BIT:
                if (qn_lowbit_avx512_4bit(s->t, s->in, j0, j1, xm, ldx, m, ym, ldy) == 0) continue;
                break; /* out of memory: the AVX2 path, which needs no scratch */
            }
        }
        float *xd;
        if (aligned && s->f == F_4BIT && lvl == 1 && s->in % 64 == 0 && s->t->blocksize >= 64 &&
            (xd = malloc((size_t)m * s->in * sizeof(float)))) {
            gemv_4bit_avx2_t(s, j0, j1, xm, ldx, m, ym, ldy, xd);
            free(xd);
            continue;
        }
        if (aligned && lvl >= 1) {
            gemv_avx2(s, scale, j0, j1, xm, ldx, m, ym, ldy);
            continue;
        }
#endif
        gemv_portable(s, scale, j0, j1, xm, ldx, m, ym, ldy);
    }
}

void qn_gemv_i8_f32(const int8_t *q, const float *absmax, int in, int j0, int j1, const float *x, int ldx, int M,
                    float *y, int ldy) {
    rowsrc s = {F_I8, q, NULL, in};
    run(&s, absmax, j0, j1, x, ldx, M, y, ldy);
}

void qn_gemv_f32(const float *w, int in, int j0, int j1, const float *x, int ldx, int M, float *y, int ldy) {
    rowsrc s = {F_F32, w, NULL, in};
    run(&s, NULL, j0, j1, x, ldx, M, y, ldy);
}

void qn_gemv_h16_f32(const uint16_t *w, int bf16, int in, int j0, int j1, const float *x, int ldx, int M, float *y,
                     int ldy) {
    rowsrc s = {bf16 ? F_BF16 : F_F16, w, NULL, in};
    run(&s, NULL, j0, j1, x, ldx, M, y, ldy);
}

void qn_gemv_4bit_f32(const qn_4bit_tensor *t, int in, int j0, int j1, const float *x, int ldx, int M, float *y,
                      int ldy) {
    rowsrc s = {F_4BIT, NULL, t, in};
    run(&s, NULL, j0, j1, x, ldx, M, y, ldy);
}

void qn_gemv_i8_i8(const int8_t *q, int in, int j0, int j1, const int8_t *xq, int M, int32_t *acc, int ldacc) {
#ifdef QN_LOWBIT_X86
    static int vnni = -1;
    if (vnni < 0) vnni = qn_lowbit_avx512_vnni_supported();
    if (level() == 2 && vnni) {
        for (int i0 = 0; i0 < M; i0 += MAX_M)
            qn_lowbit_avx512_i8i8(q, in, j0, j1, xq + (size_t)i0 * in, M - i0 < MAX_M ? M - i0 : MAX_M,
                                  acc + (size_t)i0 * ldacc, ldacc);
        return;
    }
    if (level() >= 1) {
        i8i8_avx2(q, in, j0, j1, xq, M, acc, ldacc);
        return;
    }
#endif
    for (int j = j0; j < j1; j++)
        for (int i = 0; i < M; i++) {
            int32_t r = 0;
            for (int k = 0; k < in; k++) r += (int32_t)q[(size_t)j * in + k] * xq[(size_t)i * in + k];
            acc[(size_t)i * ldacc + j] = r;
        }
}

void qn_lowbit_row_i8(const int8_t *q, const float *absmax, int in, int j, float *out) {
    const int8_t *r = q + (size_t)j * in;
    for (int k = 0; k < in; k++) out[k] = (float)r[k] * absmax[j] * INV127; /* qn_int8_rowwise_dequantize's order */
}

void qn_lowbit_row_h16(const uint16_t *w, int bf16, int in, int j, float *out) {
    widen_h16(w + (size_t)j * in, bf16, out, in);
}

void qn_lowbit_row_4bit(const qn_4bit_tensor *t, int in, int j, float *out) { widen_4bit(t, (size_t)j * in, out, in); }
