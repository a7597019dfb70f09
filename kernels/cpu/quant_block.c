/* quant_block.c: MASE's block formats along the last axis: block_fp (shared exponent, sign-magnitude
 * elements), block_minifloat (shared bias, minifloat_ieee elements) and block_log (shared bias, log
 * elements), research note sections 6 and 7.
 *
 * Blocks are block_size consecutive elements of a row; a partial last block is zero-padded (padding
 * only enters the block maximum). As MASE's blocking does, a block whose maximum is 0 takes the
 * smallest non-zero block maximum of the whole tensor, or 1 when every block is zero. A NaN in a
 * block makes the block maximum NaN, as torch's max does, and then the smallest (torch's min) too. */
#include <stdlib.h>

#include "format_elem.h"
#include "qn_formats.h"

/* max |x| per block, with MASE's substitution for zero blocks. Caller frees. */
static float *block_maxima(const float *x, size_t rows, size_t cols, size_t bs, size_t *nblocks_per_row) {
    size_t nb = (cols + bs - 1) / bs;
    size_t count = rows * nb > 0 ? rows * nb : 1;
    float *mx = malloc(count * sizeof *mx);
    if (!mx) return NULL;
    float fill = -1.0f; /* qn_zero_fill_step: none yet */
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < nb; j++) {
            float m = 0.0f;
            size_t end = (j + 1) * bs < cols ? (j + 1) * bs : cols;
            for (size_t c = j * bs; c < end; c++) {
                float a = fabsf(x[r * cols + c]);
                if (a > m || isnan(a)) m = a;
                if (isnan(m)) break;
            }
            mx[r * nb + j] = m;
            fill = qn_zero_fill_step(fill, m);
        }
    if (fill < 0.0f) fill = 1.0f;
    for (size_t k = 0; k < rows * nb; k++)
        if (mx[k] == 0.0f) mx[k] = fill;
    *nblocks_per_row = nb;
    return mx;
}

int qn_quant_block_fp(const float *x, float *y, size_t rows, size_t cols, int block_size, int width,
                      int exponent_width, int exponent_bias) {
    size_t nb;
    float *mx = block_maxima(x, rows, cols, (size_t)block_size, &nb);
    if (!mx) return -1;
    const int m = width - 1;
    const int b = exponent_bias == QN_BIAS_DEFAULT ? (1 << (exponent_width - 1)) - 1 : exponent_bias;
    const float emin = (float)-b, emax = (float)((1 << exponent_width) - 1 - b);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            float M = mx[r * nb + c / (size_t)block_size];
            float E = qn_clampf(qn_ceil_log2f(M), emin, emax);
            y[r * cols + c] = qn_block_fp_elem(x[r * cols + c], E, m);
        }
    free(mx);
    return 0;
}

int qn_quant_block_minifloat(const float *x, float *y, size_t rows, size_t cols, int block_size, int width,
                             int exponent_width, int exponent_bias_width) {
    size_t nb;
    float *mx = block_maxima(x, rows, cols, (size_t)block_size, &nb);
    if (!mx) return -1;
    const int m = width - exponent_width - 1;
    const float bmax = ldexpf(1.0f, exponent_bias_width) - 1.0f, ecodes = ldexpf(1.0f, exponent_width) - 1.0f;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            float M = mx[r * nb + c / (size_t)block_size];
            float b = qn_clampf(qn_floor_log2f(M), 0.0f, bmax);
            float xi = x[r * cols + c];
            y[r * cols + c] = isnan(b) ? NAN : qn_minifloat_ieee_elem(xi, m, b, -b, ecodes - b);
        }
    free(mx);
    return 0;
}

int qn_quant_block_log(const float *x, float *y, size_t rows, size_t cols, int block_size, int width,
                       int exponent_bias_width) {
    size_t nb;
    float *mx = block_maxima(x, rows, cols, (size_t)block_size, &nb);
    if (!mx) return -1;
    const int eb = width - 1;
    const float top = ldexpf(1.0f, eb) - 1.0f, bmax = ldexpf(1.0f, exponent_bias_width) - 1.0f;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            float M = mx[r * nb + c / (size_t)block_size];
            float b = qn_clampf(top - qn_ceil_log2f(M), 0.0f, bmax);
            float xi = x[r * cols + c];
            y[r * cols + c] = isnan(b) ? NAN : qn_log_elem(xi, -b, top - b);
        }
    free(mx);
    return 0;
}
