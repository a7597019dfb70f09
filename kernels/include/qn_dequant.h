/* qn_dequant.h: NF4 blocks to fp16, the 16-bit output an fp16 GEMM consumes (lab 4's second
 * dequantization benchmark; MXINT8 to bf16 is qn_mxint8_to_bf16 in qn_formats.h). */
#ifndef QN_DEQUANT_H
#define QN_DEQUANT_H

#include <stddef.h>
#include <stdint.h>

#include "qn_infer_formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* nblocks blocks of 64 to 64 * nblocks fp16 bit patterns: each element is code * absmax computed in
 * float32 and rounded once to fp16 (nearest even), i.e. qn_f32_to_f16 of qn_4bit_dequantize's value. */
void qn_nf4_to_f16(const qn_nf4_block64 *in, size_t nblocks, uint16_t *out);

#ifdef QUENCH_HAVE_CUDA
/* The same on device pointers, bit for bit (d_out 16-byte aligned, as cudaMalloc gives).
 * Asynchronous; returns 0, or -1 with a message. */
int qn_cuda_nf4_to_f16(const qn_nf4_block64 *d_in, size_t nblocks, uint16_t *d_out, char *err, size_t errlen);
#endif

#ifdef __cplusplus
}
#endif
#endif
