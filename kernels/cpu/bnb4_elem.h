/* bnb4_elem.h: bitsandbytes' nearest-code rules, written once for the CPU and the CUDA kernels
 * (QN_HD: __host__ __device__ under nvcc). */
#ifndef QN_BNB4_ELEM_H
#define QN_BNB4_ELEM_H

#include <stdint.h>

#include "log2_exact.h"

/* NF4: the number of midpoints strictly below v (NaN: 0), as the kernel's decision tree. */
QN_HD static inline uint8_t qn_nf4_encode_elem(float v) {
    const float mid[15] = {-0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
                           -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
                           0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
                           0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f};
    uint8_t code = 0;
    for (int k = 0; k < 15; k++) code += v > mid[k];
    return code;
}

/* FP4 (bitsandbytes' own): sign bit 3 from v < 0, magnitude by thresholds between sorted magnitudes. */
QN_HD static inline uint8_t qn_fp4_encode_elem(float v) {
    const float thr[7] = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f, 0.4166667f, 0.583333f, 0.8333333f};
    const uint8_t by_rank[8] = {0x0, 0x1, 0x6, 0x7, 0x4, 0x5, 0x2, 0x3};
    uint8_t sign = v < 0.0f ? 8 : 0;
    float a = fabsf(v);
    int rank = 0;
    for (int k = 0; k < 7; k++) rank += a > thr[k];
    return (uint8_t)(sign | by_rank[rank]);
}

/* The 8-bit dynamic code's nearest index: bitsandbytes' binary search (dQuantize<0>). */
QN_HD static inline uint8_t qn_dynamic8_encode_elem(const float *code, float x) {
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    float lower = -1.0f, upper = 1.0f, val = code[pivot];
    for (int i = 64; i > 0; i >>= 1) {
        if (x > val) {
            lower_pivot = pivot;
            lower = val;
            pivot += i;
        } else {
            upper_pivot = pivot;
            upper = val;
            pivot -= i;
        }
        val = code[pivot];
    }
    if (upper_pivot == 255) upper = code[upper_pivot];
    if (lower_pivot == 0) lower = code[lower_pivot];
    if (x > val) return (uint8_t)(x > (upper + val) * 0.5f ? upper_pivot : pivot);
    return (uint8_t)(x < (lower + val) * 0.5f ? lower_pivot : pivot);
}

#endif
