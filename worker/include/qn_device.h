/* qn_device.h: what a worker runs on, as it announces itself to the coordinator.
 *
 * Contract: qn_device_probe() fills the profile of the device this rank will use (the GPU given by
 * its local rank when CUDA is built in and a GPU is present, else the CPU) and measures its
 * single-precision GEMM rate in a fraction of a second. QUENCH_DEVICE=cpu in the environment makes
 * every rank use the CPU even where GPUs are present.
 */
#ifndef QN_DEVICE_H
#define QN_DEVICE_H

#include <stdint.h>

typedef struct {
    char kind[8];          /* "cpu" or "cuda" */
    char name[96];         /* "AMD EPYC 7B13", "NVIDIA L40S" */
    char hostname[64];
    int cc_major, cc_minor;/* compute capability, 0.0 on the CPU */
    int cores;             /* CPU cores, or SMs on a GPU */
    double memory_bytes;   /* device memory (host RAM for the CPU) */
    double gemm_gflops;    /* measured */
    int bf16, fp8;         /* native support */
    int device_index;      /* the CUDA device this rank uses (0 on the CPU) */
} qn_device_profile;

/* local_rank selects the GPU; measure_gemm = 0 skips the measurement (gemm_gflops = 0). Returns 0. */
int qn_device_probe(int local_rank, int measure_gemm, qn_device_profile *out);
/* Number of CUDA devices visible (0 without CUDA support or without a GPU). */
int qn_cuda_device_count(void);

#endif
