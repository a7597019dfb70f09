/* nf4_f16.c: NF4 blocks of 64 to fp16. Per block, the 16 possible outputs (code * absmax in float32,
 * rounded once to nearest even) are made first; each element is then a lookup of its 4-bit code.
 * Where the CPU has F16C (and so SSSE3), the 16 roundings are two instructions and the lookups are
 * byte shuffles, 32 elements at a time; the bits are the same as the portable path's. */
#include <stdlib.h>
#include <string.h>

#include "qn_dequant.h"
#include "qn_infer_formats.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QN_HAVE_F16C_PATH 1

__attribute__((target("avx,f16c,ssse3"))) static void nf4_f16_shuffle(const qn_nf4_block64 *in, size_t nblocks,
                                                                        uint16_t *out) {
    const __m256 code0 = _mm256_loadu_ps(qn_nf4_code), code1 = _mm256_loadu_ps(qn_nf4_code + 8);
    const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15), nib = _mm_set1_epi8(0x0F);
    for (size_t b = 0; b < nblocks; b++) {
        const __m256 amax = _mm256_set1_ps(in[b].absmax);
        /* the 16 outputs, then their low bytes and their high bytes as two shuffle tables */
        const __m128i h0 = _mm256_cvtps_ph(_mm256_mul_ps(code0, amax), _MM_FROUND_TO_NEAREST_INT);
        const __m128i h1 = _mm256_cvtps_ph(_mm256_mul_ps(code1, amax), _MM_FROUND_TO_NEAREST_INT);
        const __m128i s0 = _mm_shuffle_epi8(h0, split), s1 = _mm_shuffle_epi8(h1, split);
        const __m128i tlo = _mm_unpacklo_epi64(s0, s1), thi = _mm_unpackhi_epi64(s0, s1);
        __m128i *o = (__m128i *)(out + b * 64);
        for (int half = 0; half < 2; half++) {
            const __m128i c = _mm_loadu_si128((const __m128i *)(in[b].q + 16 * half));
            const __m128i first = _mm_and_si128(_mm_srli_epi16(c, 4), nib), second = _mm_and_si128(c, nib);
            /* byte i holds elements 2i (high nibble) and 2i + 1 (low nibble) */
            const __m128i a0 = _mm_shuffle_epi8(tlo, first), a1 = _mm_shuffle_epi8(thi, first);
            const __m128i b0 = _mm_shuffle_epi8(tlo, second), b1 = _mm_shuffle_epi8(thi, second);
            const __m128i ea = _mm_unpacklo_epi8(a0, a1), eb = _mm_unpacklo_epi8(b0, b1); /* bytes 0..7 */
            const __m128i fa = _mm_unpackhi_epi8(a0, a1), fb = _mm_unpackhi_epi8(b0, b1); /* bytes 8..15 */
            _mm_storeu_si128(o + 4 * half + 0, _mm_unpacklo_epi16(ea, eb));
            _mm_storeu_si128(o + 4 * half + 1, _mm_unpackhi_epi16(ea, eb));
            _mm_storeu_si128(o + 4 * half + 2, _mm_unpacklo_epi16(fa, fb));
            _mm_storeu_si128(o + 4 * half + 3, _mm_unpackhi_epi16(fa, fb));
        }
    }
}
#endif

static void nf4_f16_portable(const qn_nf4_block64 *in, size_t nblocks, uint16_t *out) {
    for (size_t b = 0; b < nblocks; b++) {
        uint16_t lut[16];
        for (int c = 0; c < 16; c++) lut[c] = qn_f32_to_f16(qn_nf4_code[c] * in[b].absmax);
        uint16_t *o = out + b * 64;
        for (int i = 0; i < 32; i++) {
            const uint8_t byte = in[b].q[i];
            o[2 * i] = lut[byte >> 4]; /* the earlier element sits in the high nibble */
            o[2 * i + 1] = lut[byte & 0xF];
        }
    }
}

/* QUENCH_DEQUANT=portable asks for the portable path (to test it on a machine with F16C). */
void qn_nf4_to_f16(const qn_nf4_block64 *in, size_t nblocks, uint16_t *out) {
#ifdef QN_HAVE_F16C_PATH
    const char *want = getenv("QUENCH_DEQUANT");
    __builtin_cpu_init();
    if (!(want && strcmp(want, "portable") == 0) && __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c") &&
        __builtin_cpu_supports("ssse3")) {
        nf4_f16_shuffle(in, nblocks, out);
        return;
    }
#endif
    nf4_f16_portable(in, nblocks, out);
}
