/* bench.h: quench bench: speed measured against a reference taken in the same run. */
#ifndef QN_BENCH_H
#define QN_BENCH_H

#include <stddef.h>
#include <stdio.h>

/* Every format's fake quantization on `mib` MiB of float32 against memcpy. Returns 0 or 1. */
int qn_bench_kernels(size_t mib, int reps, int json, FILE *out);

#ifdef QUENCH_HAVE_CUDA
/* The same on GPU 0, against a device-to-device copy, plus the NF4 and MXINT8 dequantization
 * kernels; with json, appends a "gpu" member to the object being printed. */
int qn_cuda_bench_formats(const char *const *specs, int nspecs, size_t mib, int reps, int json, FILE *out);
#endif

#endif
