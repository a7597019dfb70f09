/* bench_lab4.h: lab 4's kernels as benchmarks: quench bench attention (naive against fused scaled
 * dot-product attention) and quench bench dequant (MXINT8 to bf16, NF4 to fp16 against a copy). */
#ifndef QN_BENCH_LAB4_H
#define QN_BENCH_LAB4_H

#include <stddef.h>

/* The subcommands' own argument parsing: argv is the whole `quench bench ...` line, argv[self] the
 * subcommand's name; help is `quench bench --help`'s text. Return 0, 1 (a kernel failed) or 2. */
int qn_bench_attention_main(int argc, char **argv, int self, const char *help);
int qn_bench_dequant_main(int argc, char **argv, int self, const char *help);

#ifdef QUENCH_HAVE_CUDA
/* GPU 0 (kernels/cuda/bench_lab4.cu), timed with CUDA events, best of reps after one warm-up.
 * attention: ms of the naive and fused kernels and their largest difference. dequant: device-to-
 * device copy of the 2-byte output, MXINT8 -> bf16 and NF4 -> fp16, in GB/s of output written.
 * Return 0, or -1 with a message in err. */
int qn_cuda_bench_sdpa(int B, int H, int T, int D, int causal, int reps, double *naive_ms, double *fused_ms,
                       double *max_diff, char *err, size_t errlen);
int qn_cuda_bench_dequant(size_t n_out, int reps, double *copy_gbs, double *mxint8_gbs, double *nf4_gbs, char *err,
                          size_t errlen);
/* The name of GPU 0. */
void qn_cuda_bench_device_name(char *buf, size_t len);
#endif

#endif
