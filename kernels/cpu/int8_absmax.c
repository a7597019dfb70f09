/* int8_absmax.c: bitsandbytes' vector-wise int8 quantization (W8A16 per output channel, LLM.int8()
 * rows) and its outlier decomposition (research note, section 2), as bitsandbytes' PyTorch path
 * (backends/default/ops.py) computes them: q = round(x * ((1 / absmax) * 127)), ties to even, in
 * [-127, 127] (its CUDA kInt8VectorQuant takes 127/absmax with the approximate __fdividef, so it can
 * differ by one step near ties); dequantization as int8_vectorwise_dequant,
 * A * stats * 7.874015718698502e-3: (q * absmax) * float32(1/127), left to right, not q * (absmax / 127). */
#include <math.h>
#include <string.h>

#include "qn_infer_formats.h"

/* The multiplier of a row with this absmax. PyTorch's 127.0 / t is reciprocal(t) * 127
 * (Tensor.__rtruediv__): one ulp from 127 / amax in about a quarter of rows, which flips the odd
 * near-tie code; an all-zero row stays zero. */
static float int8_scale(float amax) { return amax > 0.0f ? (1.0f / amax) * 127.0f : 0.0f; }

void qn_int8_rowwise_quantize(const float *W, int rows, int cols, int8_t *q, float *row_absmax) {
    for (int r = 0; r < rows; r++) {
        const float *w = W + (size_t)r * cols;
        float amax = 0.0f;
        for (int c = 0; c < cols; c++) amax = fmaxf(amax, fabsf(w[c]));
        row_absmax[r] = amax;
        float s = int8_scale(amax);
        for (int c = 0; c < cols; c++) {
            float v = rintf(w[c] * s);
            q[(size_t)r * cols + c] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : v);
        }
    }
}

#define INV127 7.874015718698502e-3f

void qn_int8_rowwise_dequantize(const int8_t *q, const float *row_absmax, int rows, int cols, float *out) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(size_t)r * cols + c] = (float)q[(size_t)r * cols + c] * row_absmax[r] * INV127;
}

int qn_llm_int8_decompose(const float *A, int rows, int cols, float threshold, int8_t *q, float *row_stat,
                          uint8_t *outlier_cols) {
    int outliers = 0;
    memset(outlier_cols, 0, (size_t)cols);
    if (threshold > 0.0f)
        for (int c = 0; c < cols; c++) {
            for (int r = 0; r < rows; r++)
                if (fabsf(A[(size_t)r * cols + c]) >= threshold) {
                    outlier_cols[c] = 1;
                    break;
                }
            outliers += outlier_cols[c];
        }
    for (int r = 0; r < rows; r++) {
        const float *a = A + (size_t)r * cols;
        float amax = 0.0f;
        /* the outlier values themselves (|a| >= threshold) leave the row statistic */
        for (int c = 0; c < cols; c++)
            if (!(threshold > 0.0f && fabsf(a[c]) >= threshold)) amax = fmaxf(amax, fabsf(a[c]));
        row_stat[r] = amax;
        float s = int8_scale(amax);
        for (int c = 0; c < cols; c++) {
            float v = outlier_cols[c] ? 0.0f : rintf(a[c] * s);
            q[(size_t)r * cols + c] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : v);
        }
    }
    return outliers;
}

void qn_quant_int8_rowwise(const float *x, float *y, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        const float *w = x + (size_t)r * cols;
        float amax = 0.0f;
        for (int c = 0; c < cols; c++) amax = fmaxf(amax, fabsf(w[c]));
        float s = int8_scale(amax);
        for (int c = 0; c < cols; c++) {
            float v = rintf(w[c] * s);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            y[(size_t)r * cols + c] = v * amax * INV127;
        }
    }
}
