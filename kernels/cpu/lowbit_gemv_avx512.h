/* lowbit_gemv_avx512.h: the AVX-512 decode GEMVs behind qn_lowbit_gemv.h (lowbit_gemv.c picks them at
 * run time). Same contracts: rows [j0, j1) of W (out, in), M <= 8 activation rows ldx apart, and
 * each output summed the same way whatever [j0, j1) and M are. */
#ifndef QN_LOWBIT_GEMV_AVX512_H
#define QN_LOWBIT_GEMV_AVX512_H

#include <stdint.h>

#include "qn_infer_formats.h"

/* 1 if the CPU has the AVX-512 these kernels use (F, BW, VL, DQ; they need FMA and F16C as well,
 * which the caller checks). */
int qn_lowbit_avx512_supported(void);
/* 1 if it has AVX-512 VNNI as well (the int8 x int8 dot). */
int qn_lowbit_avx512_vnni_supported(void);

/* y = sum_k W[j,k] x[i,k] (times absmax_j / 127 for int8): any in. */
void qn_lowbit_avx512_f32(const float *w, int in, int j0, int j1, const float *x, int ldx, int M, float *y, int ldy);
void qn_lowbit_avx512_h16(const uint16_t *w, int bf16, int in, int j0, int j1, const float *x, int ldx, int M,
                          float *y, int ldy);
void qn_lowbit_avx512_i8(const int8_t *q, const float *absmax, int in, int j0, int j1, const float *x, int ldx, int M,
                         float *y, int ldy);
/* 4-bit rows that start on a block (in % blocksize == 0). Returns 0, or -1 when out of memory (nothing
 * written: the caller takes another path). */
int qn_lowbit_avx512_4bit(const qn_4bit_tensor *t, int in, int j0, int j1, const float *x, int ldx, int M, float *y,
                          int ldy);
/* acc = sum_k q[j,k] xq[i,k] in int32 with VNNI (exact); M <= 8. */
void qn_lowbit_avx512_i8i8(const int8_t *q, int in, int j0, int j1, const int8_t *xq, int M, int32_t *acc, int ldacc);

#endif
