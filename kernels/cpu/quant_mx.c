/* quant_mx.c: MASE's MX formats (research note, section 8), blocks of block_size along each row.
 *
 * mxint: scale 2^ceil(log2 max), two's-complement elements (so +max clamps to 2^(k-1)-1 steps and
 * -max is exact), 8-bit scale code.
 * mxfp: MASE's shared exponent (floor(log2 max) - emax, subnormal inputs flushed) and its finite
 * all-ones element exponent (E4M3 reaches 480, E5M2 114688); the element rounding follows the MX
 * definition where MASE's codec is defective (see qn_mxfp_elem and docs/formats.md). */
#include <stdint.h>

#include "format_elem.h"
#include "qn_formats.h"

void qn_quant_mxint(const float *x, float *y, size_t rows, size_t cols, int block_size, int element_bits) {
    const size_t bs = (size_t)block_size;
    const float half = ldexpf(1.0f, element_bits - 1);
    for (size_t r = 0; r < rows; r++)
        for (size_t start = 0; start < cols; start += bs) {
            const float *xb = x + r * cols + start;
            float *yb = y + r * cols + start;
            size_t len = cols - start < bs ? cols - start : bs;
            float M = 0.0f;
            for (size_t i = 0; i < len; i++) {
                float a = fabsf(xb[i]);
                if (a > M || isnan(a)) M = a;
            }
            M = M > 0x1p-126f || isnan(M) ? M : 0x1p-126f; /* max(M, FLT_MIN) */
            float S = qn_ceil_log2f(M);
            float p = isnan(S) ? NAN : exp2f(S);
            float code = qn_clampf(S + 127.0f, 0.0f, 255.0f);
            float scale = isnan(code) ? NAN : exp2f(code - 127.0f);
            for (size_t i = 0; i < len; i++) yb[i] = qn_mxint_elem(xb[i], p, scale, half);
        }
}

void qn_quant_mxfp(const float *x, float *y, size_t rows, size_t cols, int block_size, int exp_bits, int frac_bits) {
    const size_t bs = (size_t)block_size;
    const int bias = (1 << (exp_bits - 1)) - 1, emax_code = (1 << exp_bits) - 1, emax = emax_code - bias;
    for (size_t r = 0; r < rows; r++)
        for (size_t start = 0; start < cols; start += bs) {
            const float *xb = x + r * cols + start;
            float *yb = y + r * cols + start;
            size_t len = cols - start < bs ? cols - start : bs;
            float M = 0.0f;
            for (size_t i = 0; i < len; i++) {
                float a = fabsf(qn_flush_subnormal(xb[i]));
                if (a > M || isnan(a)) M = a;
            }
            if (M == 0.0f) { /* every element flushed: +0.0, as MASE (no NaN here: it would be M) */
                for (size_t i = 0; i < len; i++) yb[i] = 0.0f;
                continue;
            }
            float se = qn_clampf(qn_floor_log2f(M) - (float)emax, -127.0f, 128.0f);
            float scale = isnan(se) ? NAN : exp2f(se);
            for (size_t i = 0; i < len; i++)
                yb[i] = qn_mxfp_elem(qn_flush_subnormal(xb[i]) / scale, frac_bits, bias, emax_code) * scale;
        }
}

/* ---------------------------------------------------------------- MXINT8, OCP layout */

void qn_mxint8_pack(const float *x, size_t n, qn_mxint8_block *out) {
    for (size_t blk = 0; blk < n / 32; blk++) {
        const float *xb = x + blk * 32;
        int E = 0; /* largest biased float32 exponent in the block (subnormals flushed) */
        for (int i = 0; i < 32; i++) {
            int e = (int)((qn_f32_bits(xb[i]) >> 23) & 0xFFu);
            if (e != 0xFF && e > E) E = e;
        }
        out[blk].scale = (uint8_t)E;
        float inv = ldexpf(1.0f, 127 - E + 6); /* |x| / 2^(E-127) * 64 */
        for (int i = 0; i < 32; i++) {
            float a = isnormal(xb[i]) ? fabsf(xb[i]) : 0.0f;
            float m = E == 0 ? 0.0f : qn_clampf(rintf(a * inv), 0.0f, 127.0f);
            out[blk].elem[i] = (int8_t)(signbit(xb[i]) ? -m : m);
        }
    }
}

static uint16_t f32_to_bf16_rne(float v) {
    uint32_t b = qn_f32_bits(v);
    if (isnan(v)) return (uint16_t)((b >> 16) | 0x40u);
    b += 0x7FFFu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

void qn_mxint8_to_bf16(const qn_mxint8_block *in, size_t nblocks, uint16_t *out) {
    for (size_t blk = 0; blk < nblocks; blk++) {
        const int E = in[blk].scale;
        if (E >= 7 && E != 0xFF) {
            /* 2^(E-133) is a normal float32, and elem * 2^(E-133) is exact with at most 8
             * significant bits (or 0, or -inf for -128 at E = 254, as ldexpf gives), so its bf16
             * is its top half: no rounding, no libm call, and the loop vectorises. */
            const float p = qn_f32_from_bits((uint32_t)(E - 6) << 23);
            for (int i = 0; i < 32; i++) out[blk * 32 + i] = (uint16_t)(qn_f32_bits((float)in[blk].elem[i] * p) >> 16);
            continue;
        }
        for (int i = 0; i < 32; i++) {
            uint16_t *o = out + blk * 32 + i;
            if (in[blk].scale == 0xFF) {
                *o = 0x7FC0; /* E8M0 255 is NaN */
                continue;
            }
            /* m * 2^-6 * 2^(E-127): exact in float32 for every E (down to 2^-133 * 127, a
             * float32 subnormal with 7 significant bits), then one rounding to bf16. */
            *o = f32_to_bf16_rne(ldexpf((float)in[blk].elem[i], (int)in[blk].scale - 133));
        }
    }
}
