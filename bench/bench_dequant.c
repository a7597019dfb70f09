/* bench_dequant.c: quench bench dequant: lab 4's MXINT8 -> bf16 kernel and NF4 -> fp16, in GB/s of
 * 16-bit output written, against a copy of the same output size measured in the same run (memcpy on
 * one CPU thread; a device-to-device copy on GPU 0 when there is one). Each figure is the best of a
 * few passes after a warm-up pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qn_clock.h"
#include "bench_lab4.h"
#include "../cli/cli.h" /* qn_usage_error, qn_is_help: the subcommands parse their own flags */
#include "qn_dequant.h"
#include "qn_formats.h"
#include "qn_infer_formats.h"
#include "qn_kernels.h"

enum { REPS = 5 };

/* which: 0 memcpy, 1 MXINT8 -> bf16, 2 NF4 -> fp16; returns the best seconds */
static double best_of(int which, size_t n, uint16_t *dst, const uint16_t *src, const qn_mxint8_block *mx,
                      const qn_nf4_block64 *nf4) {
    double best = INFINITY;
    for (int r = 0; r <= REPS; r++) {
        double t0 = qn_clock_monotonic_s();
        if (which == 0) memcpy(dst, src, n * sizeof *dst);
        else if (which == 1) qn_mxint8_to_bf16(mx, n / 32, dst);
        else qn_nf4_to_f16(nf4, n / 64, dst);
        double t = qn_clock_monotonic_s() - t0;
        if (r > 0 && t < best) best = t;
    }
    return best;
}

static int run(size_t mib, int json, FILE *out) {
    const size_t n = mib * (1u << 20) / sizeof(uint16_t); /* a multiple of 64: mib >= 1 */
    uint16_t *dst = malloc(n * sizeof *dst), *src = malloc(n * sizeof *src);
    qn_mxint8_block *mx = malloc(n / 32 * sizeof *mx);
    qn_nf4_block64 *nf4 = malloc(n / 64 * sizeof *nf4);
    if (!dst || !src || !mx || !nf4) {
        fprintf(stderr, "quench: bench: cannot allocate %zu MiB of output and its inputs\n", mib);
        free(dst), free(src), free(mx), free(nf4);
        return 1;
    }
    /* random codes and realistic scales: weights around 2^-4, absmax around 0.1 */
    qn_rng r;
    qn_rng_seed(&r, 5);
    for (size_t b = 0; b < n / 32; b++) {
        mx[b].scale = (uint8_t)(120 + qn_rng_below(&r, 6));
        for (int i = 0; i < 32; i++) mx[b].elem[i] = (int8_t)(qn_rng_u64(&r) & 0xFF);
    }
    for (size_t b = 0; b < n / 64; b++) {
        nf4[b].absmax = 0.05f + 0.1f * qn_rng_uniform(&r);
        for (int i = 0; i < 32; i++) nf4[b].q[i] = (uint8_t)(qn_rng_u64(&r) & 0xFF);
    }
    memset(src, 0x3C, n * sizeof *src);
    const double bytes = (double)n * sizeof(uint16_t);
    const double copy = bytes / best_of(0, n, dst, src, mx, nf4) / 1e9;
    const double mxg = bytes / best_of(1, n, dst, src, mx, nf4) / 1e9;
    const double nfg = bytes / best_of(2, n, dst, src, mx, nf4) / 1e9;
    free(dst), free(src), free(mx), free(nf4);
    if (json)
        fprintf(out,
                "{\"mib\": %zu, \"elements\": %zu, \"unit\": \"GB/s of 16-bit output written\", \"cpu\": {\"threads\": 1, "
                "\"copy_gbs\": %.3f, \"mxint8_to_bf16\": {\"gbs\": %.3f, \"ratio\": %.4f}, \"nf4_to_fp16\": {\"gbs\": %.3f, "
                "\"ratio\": %.4f}}",
                mib, n, copy, mxg, mxg / copy, nfg, nfg / copy);
    else
        fprintf(out,
                "dequantization to 16 bits, %zu MiB of output (%zu elements), GB/s of output written, best of %d passes\n"
                "cpu (one thread)\n  %-16s %9.2f GB/s\n  %-16s %9.2f GB/s  %6.3fx memcpy\n  %-16s %9.2f GB/s  %6.3fx memcpy\n",
                mib, n, REPS, "memcpy", copy, "mxint8 -> bf16", mxg, mxg / copy, "nf4 -> fp16", nfg, nfg / copy);
    int rc = 0;
#ifdef QUENCH_HAVE_CUDA
    if (qn_cuda_available() > 0) {
        char name[256], err[256];
        double gc, gm, gn;
        qn_cuda_bench_device_name(name, sizeof name);
        if (qn_cuda_bench_dequant(n, REPS, &gc, &gm, &gn, err, sizeof err) != 0) {
            fprintf(stderr, "quench: bench: cuda dequant: %s\n", err);
            if (json) fputs(", \"cuda\": null", out);
            rc = 1;
        } else if (json) {
            fprintf(out,
                    ", \"cuda\": {\"device\": \"%s\", \"copy_gbs\": %.3f, \"mxint8_to_bf16\": {\"gbs\": %.3f, \"ratio\": %.4f}, "
                    "\"nf4_to_fp16\": {\"gbs\": %.3f, \"ratio\": %.4f}}",
                    name, gc, gm, gm / gc, gn, gn / gc);
        } else {
            fprintf(out, "cuda %s\n  %-16s %9.2f GB/s\n  %-16s %9.2f GB/s  %6.3fx copy\n  %-16s %9.2f GB/s  %6.3fx copy\n", name,
                    "copy (d2d)", gc, "mxint8 -> bf16", gm, gm / gc, "nf4 -> fp16", gn, gn / gc);
        }
        if (json) fputs("}\n", out);
        return rc;
    }
#endif
    if (json) fputs(", \"cuda\": null}\n", out);
    else fputs("cuda: no GPU\n", out);
    return rc;
}

int qn_bench_dequant_main(int argc, char **argv, int self, const char *help) {
    long mib = 64;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        qn_bench_arg common = qn_bench_common_arg(argv, i, self, help, &json);
        if (common == QN_BENCH_ARG_HELP) return 0;
        if (common == QN_BENCH_ARG_TAKEN) continue;
        if (strcmp(a, "--size") == 0) {
            if (i + 1 >= argc) return qn_usage_error("bench", "--size needs a value");
            if (qn_int_flag("bench", a, argv[++i], 1, 4096, &mib)) return 2;
        } else if (a[0] == '-') {
            return qn_usage_error("bench", "unknown option '%s' for bench dequant (--size, --json)", a);
        } else {
            return qn_usage_error("bench", "unexpected argument '%s'", a);
        }
    }
    return run((size_t)mib, json, stdout);
}
