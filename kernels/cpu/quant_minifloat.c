/* quant_minifloat.c: MASE's minifloat_denorm (no implicit bit) and minifloat_ieee (implicit bit,
 * subnormals, no inf/NaN codes), float32 operation by float32 operation (research note, sections 3
 * and 4), quirks included: 2^k -> (1 - 2^-m) 2^k in denorm, no carry across binades in ieee, and the
 * near-zero passthrough with its mask arithmetic (-0.0 comes out +0.0, +-inf come out NaN). */
#include "qn_formats.h"
#include <stdint.h>
#include <string.h>

#include "format_elem.h"
#include "fakequant_isa.h"
#include "stream_store.h"

static int default_bias_of(int exponent_width, int exponent_bias) {
    return exponent_bias == QN_BIAS_DEFAULT ? (1 << (exponent_width - 1)) - 1 : exponent_bias;
}

/* The fast path needs every 2^E it forms to be a normal float. */
static int fast_ok(int m, int b, float emin, float emax) {
    return emin >= -126.0f && emax <= 126.0f && 1 - b - m >= -126 && m <= 23;
}

typedef float (*exact_fn)(float x, int m, int b, float emin, float emax);

/* ---- Rounding by addition (the default formats' path): v + C - C, with C = 2^(es + 23) > v, rounds v
 * to a multiple of 2^es with ties to even in one float add; a min against the largest mantissa of the
 * binade (or of the format) does MASE's clamp. Every element MASE's arithmetic and this one could
 * disagree on is flagged and recomputed exactly: NaN and inf, u = |x| + 1e-9 within log2f's rounding
 * window for floor (ieee) or ceil (denorm), and u in a higher binade than |x| (ieee). */

/* The add path needs m <= 22 (so v < C), 2^es normal and C finite for every es formed. */
static int add_ok(int m, int es_min, int emax) { return m <= 22 && es_min >= -126 && emax - m + 23 <= 127; }

static inline uint32_t exp_field(float v) { return (qn_f32_bits(v) >> 23) & 0xFFu; }

/* Both return NaN for an element to recompute exactly (NaN inputs included); no other NaN comes out. */
static inline float minifloat_ieee_add(float xi, int m, uint32_t ebits_lo, uint32_t ebits_hi, float smax) {
    float v = fabsf(xi), u = v + 1e-9f;
    uint32_t bu = qn_f32_bits(u), eu = bu & 0x7F800000u;
    /* E = clamp(floor(log2 u), -b, emax), the subnormal branch (E = -b) stepping as E = 1 - b does */
    uint32_t eb = eu < ebits_lo ? ebits_lo : eu < ebits_hi ? eu : ebits_hi;
    float step = qn_f32_from_bits(eb - ((uint32_t)m << 23)), c = step * 8388608.0f;
    float lim = (eu < ebits_lo ? smax : 2.0f * smax + 1.0f) * step;
    float q = (v + c) - c;
    q = q < lim ? q : lim;
    int slow = (eu == 0x7F800000u) | ((bu & 0x7FFFFFu) > 0x7FFFFFu - QN_LOG2_WINDOW) |
               (eu != (qn_f32_bits(v) & 0x7F800000u));
    q = slow ? NAN : q;
    return v <= 1e-8f ? xi + 0.0f : copysignf(q, xi);
}

static inline float minifloat_denorm_add(float xi, int m, uint32_t ebits_lo, uint32_t ebits_hi, float smax) {
    float v = fabsf(xi), u = v + 1e-9f;
    uint32_t bu = qn_f32_bits(u), mu = bu & 0x7FFFFFu;
    uint32_t eu = (bu & 0x7F800000u) + (mu != 0 ? 0x800000u : 0u); /* ceil(log2 u) */
    uint32_t eb = eu < ebits_lo ? ebits_lo : eu < ebits_hi ? eu : ebits_hi;
    float step = qn_f32_from_bits(eb - ((uint32_t)m << 23)), c = step * 8388608.0f;
    float lim = smax * step;
    float q = (v + c) - c;
    q = q < lim ? q : lim;
    int slow = ((bu & 0x7F800000u) == 0x7F800000u) | ((mu != 0) & (mu < QN_LOG2_WINDOW));
    q = slow ? NAN : q;
    return v <= 1e-8f ? xi + 0.0f : copysignf(q, xi);
}

QN_SIMD_CLONES static void recompute_nan(size_t n, const float *x, float *y, exact_fn fn, int m, int b, float emin,
                                         float emax) {
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t any = 0; /* a NaN's magnitude bits exceed inf's; integer compares vectorize */
        for (size_t k = i; k < i + 64; k++) any |= (qn_f32_bits(y[k]) & 0x7FFFFFFFu) > 0x7F800000u;
        if (!any) continue;
        for (size_t k = i; k < i + 64; k++)
            if (y[k] != y[k]) y[k] = fn(x[k], m, b, emin, emax);
    }
    for (; i < n; i++)
        if (y[i] != y[i]) y[i] = fn(x[i], m, b, emin, emax);
}

/* Chunks small enough to stay in L1: a branch-free pass that also flags the elements whose exponent
 * log2f's own rounding decides (as NaN on the add path, in a byte array otherwise), then the (rare)
 * exact recomputation of those. */
#define CHUNK 1024

/* The next chunk's input requested now arrives while this one computes (the hardware prefetcher
 * alone leaves computing and loading one after the other). */
static inline void prefetch_next(const float *x, size_t c0, size_t n) {
    for (size_t k = c0 + CHUNK; k < c0 + 2 * CHUNK && k < n; k += 16) __builtin_prefetch(x + k);
}

static float minifloat_denorm_fix(float x, int m, int b, float emin, float emax) {
    (void)b;
    return qn_minifloat_denorm_elem(x, m, emin, emax);
}
static float minifloat_ieee_fix(float x, int m, int b, float emin, float emax) {
    return qn_minifloat_ieee_elem(x, m, (float)b, emin, emax);
}

static void recompute_slow(const uint8_t *slow, size_t n, const float *x, float *y, exact_fn fn, int m, int b,
                           float emin, float emax) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t any;
        memcpy(&any, slow + i, 8);
        if (!any) continue;
        for (size_t k = i; k < i + 8; k++)
            if (slow[k]) y[k] = fn(x[k], m, b, emin, emax);
    }
    for (; i < n; i++)
        if (slow[i]) y[i] = fn(x[i], m, b, emin, emax);
}

/* The chunked loop both formats share, specialised at each call by the constant `ieee`: the fast
 * addition path with NaN marking, or the older fast path with its slow-case flags, then the
 * per-element fix-ups, and streamed stores for large arrays. */
static inline __attribute__((always_inline)) void minifloat_loop(const float *x, float *y, size_t n, int m, int b,
                                                                 float emin, float emax, int ieee) {
    const int stream = n >= QN_STREAM_MIN_FLOATS; /* see stream_store.h */
    const int e_max = (int)emax, add = add_ok(m, (ieee ? 1 : 0) - b - m, e_max);
    /* clamp bounds of E: denorm steps start at 2^-b, ieee's at 2^(1-b) */
    const uint32_t elo = (uint32_t)((ieee ? 128 : 127) - b) << 23, ehi = (uint32_t)(e_max + 127) << 23;
    const float smax = (float)((1 << m) - 1);
    float buf[CHUNK];
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        const size_t len = n - c0 < CHUNK ? n - c0 : CHUNK;
        const float *xc = x + c0;
        float *out = stream ? buf : y + c0;
        uint8_t slow[CHUNK];
        if (add) {
            for (size_t k0 = 0; k0 < len; k0 += 64) { /* 4 lines of the next chunk requested per 4 computed */
                for (size_t k = c0 + k0 + CHUNK; k < c0 + k0 + CHUNK + 64 && k < n; k += 16) __builtin_prefetch(x + k);
                const size_t k1 = k0 + 64 < len ? k0 + 64 : len;
                for (size_t k = k0; k < k1; k++)
                    out[k] = ieee ? minifloat_ieee_add(xc[k], m, elo, ehi, smax) : minifloat_denorm_add(xc[k], m, elo, ehi, smax);
            }
            recompute_nan(len, xc, out, ieee ? minifloat_ieee_fix : minifloat_denorm_fix, m, b, emin, emax);
        } else {
            prefetch_next(x, c0, n);
            for (size_t k = 0; k < len; k++) {
                out[k] = ieee ? qn_minifloat_ieee_fast(xc[k], m, (float)b, emin, emax)
                              : qn_minifloat_denorm_fast(xc[k], m, emin, emax);
                slow[k] = (uint8_t)(qn_log2_slow(fabsf(xc[k]) + 1e-9f) | (xc[k] != xc[k]));
            }
            recompute_slow(slow, len, xc, out, ieee ? minifloat_ieee_fix : minifloat_denorm_fix, m, b, emin, emax);
        }
        if (stream) qn_stream_store(y + c0, buf, len);
    }
}

/* ---- AVX-512: the add path's operations, 16 lanes at a time, written out so that 16 elements cost
 * about 20 vector operations (the portable loop's NaN marking and second pass over the chunk are gone)
 * and the output goes to memory straight from the registers (streamed for large arrays: no L1 buffer,
 * one fence at the end). The same float operations in the same order as minifloat_*_add, with the
 * products by powers of two done on the bits, which gives the same values: c = 2^(es+23) is
 * eb + ((23 - m) << 23); ieee's binade maximum (2 smax + 1) * step is eb with the top m fraction bits
 * set; denorm's smax * step is 2^E - 2^(E-m). The lanes minifloat_*_add would mark are flagged by
 * compares instead, and a vector holding any is finished element by element with the exact function. */
#ifdef QN_FAKEQUANT_X86
#include <immintrin.h>

/* The constants both widths broadcast. */
typedef struct {
    uint32_t lo, hi, c_shift, frac_top, window, one_below;
    float lim_sub;
} mf_params;

static mf_params mf_params_for(int m, int b, int emax, int ieee) {
    const uint32_t elo = (uint32_t)((ieee ? 128 : 127) - b) << 23, ehi = (uint32_t)(emax + 127) << 23;
    const float smax = (float)((1 << m) - 1);
    return (mf_params){
        .lo = elo,
        .hi = ehi,
        .c_shift = (uint32_t)(23 - m) << 23,
        .frac_top = ((1u << m) - 1u) << (23 - m),
        .window = ieee ? QN_LOG2_WINDOW : QN_LOG2_WINDOW - 1u,
        .one_below = 1u << (24 - m),                                  /* smax * step = 2^E - 2^(E-m), m >= 1 */
        .lim_sub = smax * qn_f32_from_bits(elo - ((uint32_t)m << 23)), /* ieee's subnormal cap */
    };
}

typedef struct {
    __m512i abs_mask, exp_mask, lo, hi, c_shift, frac_top, window, one_below;
    __m512 tiny, near_zero, lim_sub;
} mf_consts_avx512;

static QN_AVX512_FN mf_consts_avx512 mf_consts_for_avx512(const mf_params *p) {
    return (mf_consts_avx512){
        .abs_mask = _mm512_set1_epi32(0x7FFFFFFF),
        .exp_mask = _mm512_set1_epi32(0x7F800000),
        .lo = _mm512_set1_epi32((int)p->lo),
        .hi = _mm512_set1_epi32((int)p->hi),
        .c_shift = _mm512_set1_epi32((int)p->c_shift),
        .frac_top = _mm512_set1_epi32((int)p->frac_top),
        .window = _mm512_set1_epi32((int)p->window),
        .one_below = _mm512_set1_epi32((int)p->one_below),
        .tiny = _mm512_set1_ps(1e-9f),
        .near_zero = _mm512_set1_ps(1e-8f),
        .lim_sub = _mm512_set1_ps(p->lim_sub),
    };
}

/* 16 elements; *slow gets the lanes to recompute exactly. */
static inline __attribute__((always_inline)) QN_AVX512_FN __m512 mf_ieee16(__m512 x, const mf_consts_avx512 *k, unsigned *slow) {
    const __m512i v = _mm512_and_si512(_mm512_castps_si512(x), k->abs_mask);
    const __m512i u = _mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(v), k->tiny));
    const __m512i eu = _mm512_and_si512(u, k->exp_mask);
    const __m512i eb = _mm512_min_epu32(_mm512_max_epu32(eu, k->lo), k->hi);
    const __m512 c = _mm512_castsi512_ps(_mm512_add_epi32(eb, k->c_shift));
    const __mmask16 normal = _mm512_cmp_epu32_mask(eu, k->lo, _MM_CMPINT_NLT);
    const __m512 lim = _mm512_castsi512_ps(_mm512_mask_or_epi32(_mm512_castps_si512(k->lim_sub), normal, eb, k->frac_top));
    const __m512 vf = _mm512_castsi512_ps(v);
    __m512 q = _mm512_min_ps(_mm512_sub_ps(_mm512_add_ps(vf, c), c), lim); /* q < lim ? q : lim */
    q = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(q), _mm512_castps_si512(x), k->abs_mask, 0xE4));
    const __mmask16 pass = _mm512_cmp_ps_mask(vf, k->near_zero, _CMP_LE_OQ);
    q = _mm512_mask_add_ps(q, pass, x, _mm512_setzero_ps()); /* xi + 0.0f */
    /* minifloat_ieee_add's flags: u's fraction within the window below the next binade, or u in a higher
     * binade than v, are together "u + window has other exponent bits than v"; v >= inf bits: inf, NaN */
    const __m512i t = _mm512_xor_si512(_mm512_add_epi32(u, k->window), v);
    *slow = _mm512_cmp_epu32_mask(t, _mm512_set1_epi32(0x800000), _MM_CMPINT_NLT) |
            _mm512_cmp_epu32_mask(v, k->exp_mask, _MM_CMPINT_NLT);
    return q;
}

static inline __attribute__((always_inline)) QN_AVX512_FN __m512 mf_denorm16(__m512 x, const mf_consts_avx512 *k, unsigned *slow) {
    const __m512i v = _mm512_and_si512(_mm512_castps_si512(x), k->abs_mask);
    const __m512i u = _mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(v), k->tiny));
    const __m512i frac_ones = _mm512_set1_epi32(0x7FFFFF);
    const __m512i eu = _mm512_and_si512(_mm512_add_epi32(u, frac_ones), k->exp_mask); /* ceil(log2 u) */
    const __m512i eb = _mm512_min_epu32(_mm512_max_epu32(eu, k->lo), k->hi);
    const __m512 c = _mm512_castsi512_ps(_mm512_add_epi32(eb, k->c_shift));
    const __m512 lim = _mm512_castsi512_ps(_mm512_sub_epi32(eb, k->one_below));
    const __m512 vf = _mm512_castsi512_ps(v);
    __m512 q = _mm512_min_ps(_mm512_sub_ps(_mm512_add_ps(vf, c), c), lim);
    q = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(q), _mm512_castps_si512(x), k->abs_mask, 0xE4));
    const __mmask16 pass = _mm512_cmp_ps_mask(vf, k->near_zero, _CMP_LE_OQ);
    q = _mm512_mask_add_ps(q, pass, x, _mm512_setzero_ps());
    /* minifloat_denorm_add's flags: u inf or NaN, or u's fraction in [1, window) */
    const __m512i frac_less_one = _mm512_sub_epi32(_mm512_and_si512(u, frac_ones), _mm512_set1_epi32(1));
    *slow = _mm512_cmp_epu32_mask(u, k->exp_mask, _MM_CMPINT_NLT) |
            _mm512_cmp_epu32_mask(frac_less_one, k->window, _MM_CMPINT_LT);
    return q;
}

/* ---- AVX2: mf_ieee16's and mf_denorm16's float operations in the same order, 8 lanes at a time.
 * Without mask registers the selects are blends and the flagged lanes come out of a movemask; AVX2 has
 * only signed integer compares, which serve where the operands' top bits are known (see each). */
typedef struct {
    __m256i abs_mask, exp_mask, lo, hi, c_shift, frac_top, window, window_flipped, one_below;
    __m256 tiny, near_zero, lim_sub;
} mf_consts_avx2;

static QN_AVX2_FN mf_consts_avx2 mf_consts_for_avx2(const mf_params *p) {
    return (mf_consts_avx2){
        .abs_mask = _mm256_set1_epi32(0x7FFFFFFF),
        .exp_mask = _mm256_set1_epi32(0x7F800000),
        .lo = _mm256_set1_epi32((int)p->lo),
        .hi = _mm256_set1_epi32((int)p->hi),
        .c_shift = _mm256_set1_epi32((int)p->c_shift),
        .frac_top = _mm256_set1_epi32((int)p->frac_top),
        .window = _mm256_set1_epi32((int)p->window),
        .window_flipped = _mm256_set1_epi32((int)(p->window ^ 0x80000000u)),
        .one_below = _mm256_set1_epi32((int)p->one_below),
        .tiny = _mm256_set1_ps(1e-9f),
        .near_zero = _mm256_set1_ps(1e-8f),
        .lim_sub = _mm256_set1_ps(p->lim_sub),
    };
}

/* q with x's sign, then x + 0 where |x| <= 1e-8 (minifloat_*_add's last line). q >= +0 in every lane
 * not flagged (v >= 0, c > 0, lim > 0), so or-ing x's sign bit in is copysignf. */
static inline __attribute__((always_inline)) QN_AVX2_FN __m256 mf_finish8(__m256 q, __m256 x, __m256 vf,
                                                                         const mf_consts_avx2 *k) {
    q = _mm256_or_ps(q, _mm256_andnot_ps(_mm256_castsi256_ps(k->abs_mask), x));
    const __m256 pass = _mm256_cmp_ps(vf, k->near_zero, _CMP_LE_OQ);
    return _mm256_blendv_ps(q, _mm256_add_ps(x, _mm256_setzero_ps()), pass);
}

static inline __attribute__((always_inline)) QN_AVX2_FN __m256 mf_ieee8(__m256 x, const mf_consts_avx2 *k, unsigned *slow) {
    const __m256i v = _mm256_and_si256(_mm256_castps_si256(x), k->abs_mask);
    const __m256i u = _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(v), k->tiny));
    const __m256i eu = _mm256_and_si256(u, k->exp_mask);
    const __m256i eu_lo = _mm256_max_epu32(eu, k->lo);
    const __m256i eb = _mm256_min_epu32(eu_lo, k->hi);
    const __m256 c = _mm256_castsi256_ps(_mm256_add_epi32(eb, k->c_shift));
    const __m256i normal = _mm256_cmpeq_epi32(eu_lo, eu); /* eu >= lo */
    const __m256 lim = _mm256_blendv_ps(k->lim_sub, _mm256_castsi256_ps(_mm256_or_si256(eb, k->frac_top)),
                                        _mm256_castsi256_ps(normal));
    const __m256 vf = _mm256_castsi256_ps(v);
    const __m256 q = _mm256_min_ps(_mm256_sub_ps(_mm256_add_ps(vf, c), c), lim); /* q < lim ? q : lim */
    /* as in mf_ieee16, signed: v's top bit is clear, and t's is set only when u + window wraps, which
     * needs u (so v) NaN, flagged by the second compare */
    const __m256i t = _mm256_xor_si256(_mm256_add_epi32(u, k->window), v);
    const __m256i s = _mm256_or_si256(_mm256_cmpgt_epi32(t, _mm256_set1_epi32(0x7FFFFF)),
                                      _mm256_cmpgt_epi32(v, _mm256_set1_epi32(0x7F7FFFFF)));
    *slow = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(s));
    return mf_finish8(q, x, vf, k);
}

static inline __attribute__((always_inline)) QN_AVX2_FN __m256 mf_denorm8(__m256 x, const mf_consts_avx2 *k, unsigned *slow) {
    const __m256i v = _mm256_and_si256(_mm256_castps_si256(x), k->abs_mask);
    const __m256i u = _mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(v), k->tiny));
    const __m256i frac_ones = _mm256_set1_epi32(0x7FFFFF);
    const __m256i eu = _mm256_and_si256(_mm256_add_epi32(u, frac_ones), k->exp_mask); /* ceil(log2 u) */
    const __m256i eb = _mm256_min_epu32(_mm256_max_epu32(eu, k->lo), k->hi);
    const __m256 c = _mm256_castsi256_ps(_mm256_add_epi32(eb, k->c_shift));
    const __m256 lim = _mm256_castsi256_ps(_mm256_sub_epi32(eb, k->one_below));
    const __m256 vf = _mm256_castsi256_ps(v);
    const __m256 q = _mm256_min_ps(_mm256_sub_ps(_mm256_add_ps(vf, c), c), lim);
    /* u inf or NaN (u's top bit is clear), or u's fraction - 1 below the window unsigned (a zero
     * fraction wraps above it): a signed compare after flipping both sides' top bits, which for
     * fraction - 1 is fraction + 0x7FFFFFFF */
    const __m256i frac_flipped = _mm256_add_epi32(_mm256_and_si256(u, frac_ones), _mm256_set1_epi32(0x7FFFFFFF));
    const __m256i in_window = _mm256_cmpgt_epi32(k->window_flipped, frac_flipped);
    const __m256i s = _mm256_or_si256(_mm256_cmpgt_epi32(u, _mm256_set1_epi32(0x7F7FFFFF)), in_window);
    *slow = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(s));
    return mf_finish8(q, x, vf, k);
}

/* The loops around the kernels, one instance per width (quant_minifloat_vec.inc). */
#define MF_ISA avx512
#define MF_W 16
#define MF_FN QN_AVX512_FN
#define MF_VEC __m512
#define MF_LOADU _mm512_loadu_ps
#define MF_STOREU _mm512_storeu_ps
#define MF_STREAM _mm512_stream_ps
#define MF_IEEE mf_ieee16
#define MF_DENORM mf_denorm16
#include "quant_minifloat_vec.inc"

#define MF_ISA avx2
#define MF_W 8
#define MF_FN QN_AVX2_FN
#define MF_VEC __m256
#define MF_LOADU _mm256_loadu_ps
#define MF_STOREU _mm256_storeu_ps
#define MF_STREAM _mm256_stream_ps
#define MF_IEEE mf_ieee8
#define MF_DENORM mf_denorm8
#include "quant_minifloat_vec.inc"
#endif

QN_SIMD_CLONES static void minifloat_denorm_portable(const float *x, float *y, size_t n, int m, int b, float emin,
                                                     float emax) {
    minifloat_loop(x, y, n, m, b, emin, emax, 0);
}
QN_SIMD_CLONES static void minifloat_ieee_portable(const float *x, float *y, size_t n, int m, int b, float emin,
                                                   float emax) {
    minifloat_loop(x, y, n, m, b, emin, emax, 1);
}

/* The AVX-512 or AVX2 loop where the CPU has it (fakequant_isa.h) and the add path applies (m >= 1 for
 * its lim arithmetic). */
static void minifloat_run(const float *x, float *y, size_t n, int m, int b, float emin, float emax, int ieee) {
#ifdef QN_FAKEQUANT_X86
    const int isa = m >= 1 && add_ok(m, (ieee ? 1 : 0) - b - m, (int)emax) ? qn_fakequant_isa() : QN_FQ_PORTABLE;
    if (isa != QN_FQ_PORTABLE) {
        /* streamed stores want aligned destinations (64 bytes: whole lines): the few elements before one
         * go the portable way, as do the last ones that fill no vector */
        const int stream = n >= QN_STREAM_MIN_FLOATS;
        const size_t w = isa == QN_FQ_AVX512 ? 16 : 8;
        size_t head = stream ? (size_t)((64 - ((uintptr_t)y & 63)) & 63) / sizeof(float) : 0;
        if (head > n) head = n;
        const size_t body = head + (n - head) / w * w;
        if (ieee) minifloat_ieee_portable(x, y, head, m, b, emin, emax);
        else minifloat_denorm_portable(x, y, head, m, b, emin, emax);
        if (isa == QN_FQ_AVX512) mf_run_avx512(x, y, head, body, m, b, emin, emax, ieee, stream);
        else mf_run_avx2(x, y, head, body, m, b, emin, emax, ieee, stream);
        if (ieee) minifloat_ieee_portable(x + body, y + body, n - body, m, b, emin, emax);
        else minifloat_denorm_portable(x + body, y + body, n - body, m, b, emin, emax);
        return;
    }
#endif
    if (ieee) minifloat_ieee_portable(x, y, n, m, b, emin, emax);
    else minifloat_denorm_portable(x, y, n, m, b, emin, emax);
}

void qn_quant_minifloat_denorm(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias) {
    const int m = width - exponent_width - 1, b = default_bias_of(exponent_width, exponent_bias);
    const float emin = (float)-b, emax = (float)((1 << exponent_width) - 1 - b);
    if (!fast_ok(m, b, emin, emax)) {
        for (size_t i = 0; i < n; i++) y[i] = qn_minifloat_denorm_elem(x[i], m, emin, emax);
        return;
    }
    minifloat_run(x, y, n, m, b, emin, emax, 0);
}

void qn_quant_minifloat_ieee(const float *x, float *y, size_t n, int width, int exponent_width, int exponent_bias) {
    const int m = width - exponent_width - 1, b = default_bias_of(exponent_width, exponent_bias);
    const float emin = (float)-b, emax = (float)((1 << exponent_width) - 1 - b);
    if (!fast_ok(m, b, emin, emax)) {
        for (size_t i = 0; i < n; i++) y[i] = qn_minifloat_ieee_elem(x[i], m, (float)b, emin, emax);
        return;
    }
    minifloat_run(x, y, n, m, b, emin, emax, 1);
}
