/* cmd_devices.c: quench devices [--no-bench] */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "qn_device.h"

static const char *help =
    "usage: quench devices [--no-bench]\n"
    "\n"
    "List the devices this machine offers to workers: the CPU (the backend used where there is no\n"
    "GPU) and each CUDA GPU when quench was built with CUDA, with compute capability, memory and\n"
    "a measured single-precision GEMM rate (--no-bench skips the measurement).\n";

static void print_profile(int index, const qn_device_profile *d) {
    printf("%-3d %-5s %-40s cc %d.%d  %3d %s  %7.1f GiB  %8.1f GFLOP/s  bf16 %s  fp8 %s\n", index, d->kind, d->name,
           d->cc_major, d->cc_minor, d->cores, strcmp(d->kind, "cuda") == 0 ? "SMs  " : "cores", d->memory_bytes / (1 << 30),
           d->gemm_gflops, d->bf16 ? "yes" : "no", d->fp8 ? "yes" : "no");
}

int qn_cmd_devices(int argc, char **argv) {
    int bench = 1;
    for (int i = 1; i < argc; i++) {
        if (qn_is_help(argv[i])) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--no-bench") == 0) {
            bench = 0;
        } else {
            return qn_usage_error("devices", "unknown argument '%s'", argv[i]);
        }
    }
    int ngpu = qn_cuda_device_count();
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    printf("host %s: %d CUDA device%s%s\n", host, ngpu, ngpu == 1 ? "" : "s",
#ifdef QUENCH_HAVE_CUDA
           ""
#else
           " (built without CUDA)"
#endif
    );
    qn_device_profile d;
    for (int g = 0; g < ngpu; g++) {
        qn_device_probe(g, bench, &d);
        print_profile(g, &d);
    }
    if (ngpu == 0) {
        qn_device_probe(0, bench, &d);
        print_profile(0, &d);
    }
    return 0;
}
