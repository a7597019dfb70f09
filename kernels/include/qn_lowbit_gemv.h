/* qn_lowbit_gemv.h: the decode GEMV of the packed LLM weight formats on the CPU: each packed weight
 * byte read once and unpacked in registers (AVX-512, else AVX2 + FMA + F16C where the CPU has them,
 * portable C otherwise, as ggml does), and LLM.int8()'s int8 x int8 dot product with int32
 * accumulation (AVX-512 VNNI where the CPU has it).
 *
 * All take rows [j0, j1) of a weight W (out, in) stored row-major and M activation rows x (M, in)
 * with rows ldx apart, and write y[i * ldy + j]. Each output is computed the same way whatever
 * [j0, j1) and M are (on a given path), so splitting the rows over threads or decoding a sequence
 * in a larger batch does not change its results. */
#ifndef QN_LOWBIT_GEMV_H
#define QN_LOWBIT_GEMV_H

#include <stdint.h>

#include "qn_infer_formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = (absmax_j / 127) * sum_k q[j,k] x[i,k] (W8A16). */
void qn_gemv_i8_f32(const int8_t *q, const float *absmax, int in, int j0, int j1, const float *x, int ldx, int M,
                    float *y, int ldy);
/* y = sum_k W[j,k] x[i,k], W float32 (the unquantized decode GEMV: vector FMAs where the CPU has them). */
void qn_gemv_f32(const float *w, int in, int j0, int j1, const float *x, int ldx, int M, float *y, int ldy);
/* y = sum_k W[j,k] x[i,k], W in IEEE half (bf16 == 0) or bfloat16 (bf16 == 1). */
void qn_gemv_h16_f32(const uint16_t *w, int bf16, int in, int j0, int j1, const float *x, int ldx, int M, float *y,
                     int ldy);
/* y = sum_k W[j,k] x[i,k], W the flattened (out, in) NF4/FP4 tensor t. */
void qn_gemv_4bit_f32(const qn_4bit_tensor *t, int in, int j0, int j1, const float *x, int ldx, int M, float *y,
                      int ldy);
/* acc[i * ldacc + j] = sum_k q[j,k] xq[i,k] in int32, xq (M, in) contiguous (exact: no order effects). */
void qn_gemv_i8_i8(const int8_t *q, int in, int j0, int j1, const int8_t *xq, int M, int32_t *acc, int ldacc);

/* Row j of each format as float32 (in values), what the GEMVs multiply by. */
void qn_lowbit_row_i8(const int8_t *q, const float *absmax, int in, int j, float *out);
void qn_lowbit_row_h16(const uint16_t *w, int bf16, int in, int j, float *out);
void qn_lowbit_row_4bit(const qn_4bit_tensor *t, int in, int j, float *out);

/* The path the GEMVs take: "avx512", "avx2" or "portable". QUENCH_LOWBIT=portable or =avx2 asks for
 * a lesser one than the CPU has (to test it), =avx512 (or unset) for the best; read at each call. */
const char *qn_lowbit_path(void);

#ifdef __cplusplus
}
#endif
#endif
