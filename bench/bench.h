/* bench.h: quench bench: speed measured against a reference taken in the same run. */
#ifndef QN_BENCH_H
#define QN_BENCH_H

#include <stddef.h>
#include <stdio.h>

/* Every format's fake quantization on `mib` MiB of float32 against memcpy. Returns 0 or 1. */
int qn_bench_kernels(size_t mib, int reps, int json, FILE *out);

#endif
