/* nf4_f16.cu: NF4 blocks of 64 to fp16 on the device (qn_dequant.h). One thread per 4 code bytes:
 * one 32-bit load, eight conversions, one 16-byte store; each value is code * absmax in float32
 * rounded once to fp16 (__float2half_rn: nearest even), as the CPU path does. */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "qn_cuda_check.h"
#include "qn_dequant.h"

namespace {

__constant__ float c_nf4[16];

__global__ void nf4_f16_kernel(const qn_nf4_block64 *in, size_t words, uint4 *out) {
    for (size_t w = (size_t)blockIdx.x * blockDim.x + threadIdx.x; w < words; w += (size_t)blockDim.x * gridDim.x) {
        const qn_nf4_block64 *b = in + w / 8;
        const float amax = b->absmax;
        const uint32_t codes = *(const uint32_t *)(b->q + 4 * (w % 8));
        uint32_t h[4];
        for (int k = 0; k < 4; k++) { /* byte k: elements 2k (high nibble) and 2k + 1 */
            const uint32_t byte = (codes >> (8 * k)) & 0xFFu;
            const uint32_t hi = __half_as_ushort(__float2half_rn(c_nf4[byte >> 4] * amax));
            const uint32_t lo = __half_as_ushort(__float2half_rn(c_nf4[byte & 0xFu] * amax));
            h[k] = hi | lo << 16; /* little-endian: the earlier element at the lower address */
        }
        out[w] = make_uint4(h[0], h[1], h[2], h[3]);
    }
}

} // namespace

extern "C" int qn_cuda_nf4_to_f16(const qn_nf4_block64 *d_in, size_t nblocks, uint16_t *d_out, char *err,
                                  size_t errlen) {
    if (nblocks == 0) return 0;
    static unsigned long long uploaded; /* bit d: device d holds c_nf4 (__constant__ is per device) */
    int dev = 0;
    QN_CUDA_TRY(cudaGetDevice(&dev), err, errlen);
    const unsigned long long bit = dev >= 0 && dev < 64 ? 1ull << dev : 0;
    if (!(uploaded & bit)) {
        QN_CUDA_TRY(cudaMemcpyToSymbol(c_nf4, qn_nf4_code, sizeof c_nf4), err, errlen);
        uploaded |= bit;
    }
    const size_t words = nblocks * 8;
    const unsigned grid = (unsigned)(words / 256 + 1 < 65536 ? words / 256 + 1 : 65536);
    nf4_f16_kernel<<<grid, 256>>>(d_in, words, (uint4 *)d_out);
    QN_CUDA_TRY(cudaGetLastError(), err, errlen);
    return 0;
}
