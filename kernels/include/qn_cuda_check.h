/* qn_cuda_check.h: turn a failed CUDA/cuBLAS call into a message naming the call (no exit: the worker
 * reports the trial as failed and goes on). */
#ifndef QN_CUDA_CHECK_H
#define QN_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <stdio.h>

#define QN_CUDA_TRY(call, err, errlen)                                                             \
    do {                                                                                           \
        cudaError_t qn_status_ = (call);                                                           \
        if (qn_status_ != cudaSuccess) {                                                           \
            if (err) snprintf(err, errlen, "%s failed: %s", #call, cudaGetErrorString(qn_status_)); \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

#endif
