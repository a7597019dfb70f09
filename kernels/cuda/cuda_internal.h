/* cuda_internal.h: what the CUDA sources share. */
#ifndef QN_CUDA_INTERNAL_H
#define QN_CUDA_INTERNAL_H

#include <stddef.h>

#include "qn_formats.h"

/* int8 (rowwise / LLM.int8), nf4 and fp4 on device pointers: (rows, cols) row-major. */
extern "C" int qn_cuda_infer_format_apply(const qn_format *f, const float *d_x, float *d_y, size_t rows, size_t cols,
                                          char *err, size_t errlen);

#endif
