/* device.c: the profile a worker announces: its GPU when CUDA is built in and one is present,
 * else the CPU, with a measured single-precision GEMM rate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qn_clock.h"
#include "qn_device.h"
#include "qn_kernels.h"

int qn_cuda_device_count(void) { return qn_cuda_available(); }

static void cpu_name(char *out, size_t len) {
    snprintf(out, len, "cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t') colon++;
                colon[strcspn(colon, "\n")] = 0;
                snprintf(out, len, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

/* SGEMM 256x256x256 repeated for about 50 ms. */
static double cpu_gemm_gflops(void) {
    const int n = 256;
    float *a = calloc((size_t)n * n, sizeof(float)), *b = calloc((size_t)n * n, sizeof(float)),
          *c = calloc((size_t)n * n, sizeof(float));
    double rate = 0.0;
    if (a && b && c) {
        for (int i = 0; i < n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
        qn_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
        int reps = 0;
        double t0 = qn_clock_monotonic_s(), t;
        do {
            qn_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            reps++;
        } while ((t = qn_clock_monotonic_s() - t0) < 0.05);
        rate = 2.0 * n * n * (double)n * reps / t / 1e9;
    }
    free(a), free(b), free(c);
    return rate;
}

int qn_device_probe(int local_rank, int measure_gemm, qn_device_profile *out) {
    memset(out, 0, sizeof *out);
    gethostname(out->hostname, sizeof out->hostname - 1);
#ifdef QUENCH_HAVE_CUDA
    /* QUENCH_DEVICE=cpu keeps a GPU machine's ranks on the CPU backend */
    const char *force = getenv("QUENCH_DEVICE");
    int count = force && !strcmp(force, "cpu") ? 0 : qn_cuda_available();
    if (count > 0) {
        int dev = local_rank % count;
        qn_cuda_props p;
        char err[256];
        if (qn_cuda_device_props(dev, &p, err, sizeof err) == 0) {
            snprintf(out->kind, sizeof out->kind, "cuda");
            snprintf(out->name, sizeof out->name, "%.95s", p.name);
            out->cc_major = p.cc_major;
            out->cc_minor = p.cc_minor;
            out->cores = p.sms;
            out->memory_bytes = p.memory_bytes;
            out->bf16 = p.cc_major >= 8;
            out->fp8 = p.cc_major * 10 + p.cc_minor >= 89;
            out->gemm_gflops = measure_gemm ? qn_cuda_gemm_gflops(dev) : 0.0;
            out->device_index = dev;
            return 0;
        }
    }
#else
    (void)local_rank;
#endif
    snprintf(out->kind, sizeof out->kind, "cpu");
    cpu_name(out->name, sizeof out->name);
    out->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    out->memory_bytes = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    out->gemm_gflops = measure_gemm ? cpu_gemm_gflops() : 0.0;
    return 0;
}
