/* bench.h: quench bench: speed measured against a reference taken in the same run. */
#ifndef QN_BENCH_H
#define QN_BENCH_H

#include <stddef.h>
#include <stdio.h>

/* Every format's fake quantization on `mib` MiB of float32 against memcpy. Returns 0 or 1. */
int qn_bench_kernels(size_t mib, int reps, int json, FILE *out);

/* Examples/s of one BERT training step (forward, backward, AdamW) of the preset on B sequences of T
 * tokens with `threads` BLAS threads, best of `steps` steps, against PyTorch running the same step
 * (bench/bert_train_torch.py) in the same run. Returns 0, 1 (internal failure) or 2 (bad preset or sizes). */
int qn_bench_train(const char *preset, int B, int T, int threads, int steps, int json, FILE *out);

#ifdef QUENCH_HAVE_CUDA
/* The same on GPU 0, against a device-to-device copy, plus the NF4 and MXINT8 dequantization
 * kernels; with json, appends a "gpu" member to the object being printed. */
int qn_cuda_bench_formats(const char *const *specs, int nspecs, size_t mib, int reps, int json, FILE *out);
#endif

#endif
