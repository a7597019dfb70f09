/* cuda_stub.c: without the CUDA backend there are no GPUs to offer. */
#include "qn_kernels.h"

#ifndef QUENCH_HAVE_CUDA
int qn_cuda_available(void) { return 0; }
#endif
