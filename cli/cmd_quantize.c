/* cmd_quantize.c: quench quantize --format SPEC IN.npy OUT.npy [--stats] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qn_formats.h"
#include "qn_npy.h"

static const char *help =
    "usage: quench quantize --format SPEC IN.npy OUT.npy [--stats]\n"
    "\n"
    "Fake-quantize an array: read IN.npy (float32, float16 or float64, any shape, C order), apply the\n"
    "format (block formats along the last axis) and write OUT.npy as float32 of the same shape.\n"
    "\n"
    "  --format SPEC   NAME or NAME:key=value,... with MASE's keys, e.g.\n"
    "                    integer:width=8,frac_width=4\n"
    "                    minifloat_ieee:width=8,exponent_width=4,exponent_bias=7\n"
    "                    block_fp:width=8,exponent_width=8,block_size=16\n"
    "                    mxint:width=8,block_size=32      mxfp:exponent_width=4,frac_width=3\n"
    "                    nf4:block_size=64,double_quant=1  int8:threshold=6   fp16   bf16\n"
    "                  formats: integer, minifloat_denorm, minifloat_ieee, log, block_fp,\n"
    "                  block_minifloat, block_log, binary, ternary, mxint, mxfp, int8, nf4, fp4,\n"
    "                  fp16, bf16 (docs/formats.md)\n"
    "  --stats         print MSE, SQNR (dB), max abs error and bits per element (scales included)\n"
    "  -h, --help      this help\n"
    "\n"
    "Exit codes: 0 done, 2 bad input (SPEC, a malformed .npy), 1 internal failure.\n";

static void print_stats(const qn_format *f, const qn_npy *a, const float *y) {
    double se = 0.0, signal = 0.0, maxerr = 0.0;
    size_t nonfinite = 0;
    for (size_t i = 0; i < a->n; i++) {
        double x = a->data[i], d = (double)y[i] - x;
        if (!isfinite(x) || !isfinite(y[i])) {
            nonfinite++;
            continue;
        }
        se += d * d;
        signal += x * x;
        if (fabs(d) > maxerr) maxerr = fabs(d);
    }
    size_t counted = a->n - nonfinite;
    double mse = counted ? se / (double)counted : 0.0;
    double sqnr = se > 0 ? 10.0 * log10(signal / se) : INFINITY;
    char desc[256];
    printf("format           %s\n", qn_format_describe(f, desc, sizeof desc));
    printf("elements         %zu", a->n);
    if (nonfinite) printf(" (%zu not finite, left out of the errors)", nonfinite);
    printf("\nmse              %.6g\n", mse);
    printf("sqnr_db          %.4f\n", sqnr);
    printf("max_abs_error    %.6g\n", maxerr);
    printf("bits_per_element %.4f\n", qn_format_bits_per_element(f, a->shape, a->ndim));
}

int qn_cmd_quantize(int argc, char **argv) {
    const char *spec = NULL, *in = NULL, *out = NULL;
    int stats = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (qn_is_help(a)) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "--format") == 0 || strcmp(a, "-f") == 0) {
            if (i + 1 >= argc) return qn_usage_error("quantize", "%s needs a format SPEC", a);
            spec = argv[++i];
        } else if (strncmp(a, "--format=", 9) == 0) {
            spec = a + 9;
        } else if (strcmp(a, "--stats") == 0) {
            stats = 1;
        } else if (a[0] == '-' && a[1]) {
            return qn_usage_error("quantize", "unknown option '%s'", a);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            return qn_usage_error("quantize", "unexpected argument '%s'", a);
        }
    }
    if (!spec) return qn_usage_error("quantize", "say which format: --format SPEC");
    if (!in || !out) return qn_usage_error("quantize", "needs IN.npy and OUT.npy");
    qn_format f;
    char err[512];
    if (qn_format_parse(spec, &f, err, sizeof err) != 0) {
        fprintf(stderr, "quench: quantize: --format %s: %s\n", spec, err);
        return 2;
    }
    qn_npy a;
    int rc = qn_npy_read(in, &a, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "quench: %s\n", err);
        return rc;
    }
    float *y = malloc((a.n ? a.n : 1) * sizeof *y);
    if (!y) {
        fprintf(stderr, "quench: quantize: out of memory for %zu elements\n", a.n);
        qn_npy_free(&a);
        return 1;
    }
    if (qn_format_apply(&f, a.data, y, a.shape, a.ndim, err, sizeof err) != 0) {
        fprintf(stderr, "quench: quantize: %s\n", err);
        free(y);
        qn_npy_free(&a);
        return 1;
    }
    rc = qn_npy_write_f32(out, y, a.shape, a.ndim, err, sizeof err);
    if (rc != 0) fprintf(stderr, "quench: %s\n", err);
    else if (stats) print_stats(&f, &a, y);
    free(y);
    qn_npy_free(&a);
    return rc;
}
