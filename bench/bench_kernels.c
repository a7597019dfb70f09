/* bench_kernels.c: quench bench kernels: fake-quantization throughput of every format against memcpy
 * of the same buffer measured in the same run (CPU; and on the GPU when one is present). Throughput
 * is the input bytes processed per second; each figure is the best of a few passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qn_clock.h"
#include "bench.h"
#include "qn_formats.h"
#include "qn_kernels.h"

static const char *const bench_specs[] = {
    "integer:width=8,frac_width=4",
    "minifloat_denorm:width=8,exponent_width=4",
    "minifloat_ieee:width=8,exponent_width=4",
    "log:width=5",
    "block_fp:width=8,exponent_width=8,block_size=16",
    "block_minifloat:width=8,exponent_width=4,exponent_bias_width=4,block_size=16",
    "block_log:width=5,exponent_bias_width=4,block_size=16",
    "binary:bipolar=1",
    "ternary",
    "mxint:width=8,block_size=32",
    "mxfp:exponent_width=4,frac_width=3,block_size=32",
    "int8",
    "nf4:block_size=64",
    "fp4:block_size=64",
    "fp16",
    "bf16",
};
#define NSPECS ((int)(sizeof bench_specs / sizeof bench_specs[0]))

int qn_bench_kernels(size_t mib, int reps, int json, FILE *out) {
    size_t n = mib * (1u << 20) / sizeof(float);
    int64_t shape[2] = {(int64_t)(n / 1024), 1024};
    n = (size_t)shape[0] * 1024;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (!x || !y || n == 0) {
        fprintf(stderr, "quench: bench: cannot allocate 2 x %zu MiB\n", mib);
        free(x), free(y);
        return 1;
    }
    qn_rng rng;
    qn_rng_seed(&rng, 1);
    for (size_t i = 0; i < n; i++) x[i] = qn_rng_normal(&rng);
    const double bytes = (double)n * sizeof(float);
    /* memcpy is timed before every pass of every format, not only once at the start, and its best
     * pass over the whole run is the reference: a quiet moment at the start (or a busy one) no longer
     * decides every ratio, and the reference can only be stronger than the best of the first passes. */
    memcpy(y, x, n * sizeof *x); /* faults the pages in */
    double copy_best = INFINITY, gbs[NSPECS];
    const char *names[NSPECS];
    int rc = 0;
    for (int k = 0; k < NSPECS; k++) {
        qn_format f;
        char err[256];
        names[k] = NULL;
        if (qn_format_parse(bench_specs[k], &f, err, sizeof err) != 0) {
            fprintf(stderr, "quench: bench: %s: %s\n", bench_specs[k], err);
            rc = 1;
            continue;
        }
        double t_best = INFINITY;
        for (int r = 0; r < reps; r++) {
            double t0 = qn_clock_monotonic_s();
            memcpy(y, x, n * sizeof *x);
            double t = qn_clock_monotonic_s() - t0;
            if (t < copy_best) copy_best = t;
            t0 = qn_clock_monotonic_s();
            if (qn_format_apply(&f, x, y, shape, 2, err, sizeof err) != 0) {
                fprintf(stderr, "quench: bench: %s: %s\n", bench_specs[k], err);
                rc = 1;
                break;
            }
            t = qn_clock_monotonic_s() - t0;
            if (t < t_best) t_best = t;
        }
        names[k] = qn_format_name(f.kind);
        gbs[k] = bytes / t_best / 1e9;
    }
    double memcpy_gbs = bytes / copy_best / 1e9;
    if (json) fprintf(out, "{\"device\": \"cpu\", \"mib\": %zu, \"memcpy_gbs\": %.3f, \"formats\": {", mib, memcpy_gbs);
    else fprintf(out, "cpu, %zu MiB, best of %d passes (memcpy: of all its passes, one before each)\n%-16s %9.2f GB/s\n", mib,
                 reps, "memcpy", memcpy_gbs);
    for (int k = 0, first = 1; k < NSPECS; k++) {
        if (!names[k]) continue;
        if (json) fprintf(out, "%s\"%s\": {\"gbs\": %.3f, \"ratio\": %.4f}", first ? "" : ", ", names[k], gbs[k], gbs[k] / memcpy_gbs);
        else fprintf(out, "%-16s %9.2f GB/s  %6.3fx memcpy   %s\n", names[k], gbs[k], gbs[k] / memcpy_gbs, bench_specs[k]);
        first = 0;
    }
    if (json) fprintf(out, "}");
#ifdef QUENCH_HAVE_CUDA
    if (qn_cuda_available() > 0) rc |= qn_cuda_bench_formats(bench_specs, NSPECS, mib, reps, json, out);
    else if (!json) fprintf(out, "\nno GPU: the GPU figures need one\n");
#endif
    if (json) fprintf(out, "}\n");
    free(x), free(y);
    return rc;
}
