/* no_cuda.h: what a CUDA backend's entry points do in a build without CUDA (one message for all). */
#ifndef QN_NO_CUDA_H
#define QN_NO_CUDA_H

#include <stdio.h>

#define QN_NO_CUDA_MESSAGE "quench was built without CUDA"

/* Inside a function taking (handle, ..., err, errlen) and returning int: fail with the message. */
#define QN_NO_CUDA_FAIL(handle)                                                                    \
    do {                                                                                           \
        (void)(handle);                                                                            \
        snprintf(err, errlen, QN_NO_CUDA_MESSAGE);                                                 \
        return -1;                                                                                 \
    } while (0)

#endif
