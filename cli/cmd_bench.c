/* cmd_bench.c: quench bench kernels [--json] [--size MIB] [--reps N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

static const char *help =
    "usage: quench bench kernels [--json] [--size MIB] [--reps N]\n"
    "\n"
    "Fake-quantization throughput of every number format on MIB MiB of float32 (default 64), in GB/s\n"
    "of input processed, against memcpy of the same buffer measured in the same run, and the ratio.\n"
    "Each figure is the best of N passes (default 3).\n"
    "\n"
    "  --json          one object: {\"memcpy_gbs\": X, \"formats\": {\"integer\": {\"gbs\": Y, \"ratio\": R}, ...}}\n"
    "  --size MIB      buffer size in MiB (1..4096)\n"
    "  --reps N        passes per figure (1..100)\n"
    "  -h, --help      this help\n";

static int int_arg(const char *flag, const char *v, long lo, long hi, long *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return qn_usage_error("bench", "%s takes an integer in [%ld, %ld], not '%s'", flag, lo, hi, v);
    *out = x;
    return 0;
}

int qn_cmd_bench(int argc, char **argv) {
    const char *what = NULL;
    int json = 0;
    long size = 64, reps = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (qn_is_help(a)) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--size") == 0 || strcmp(a, "--reps") == 0) {
            if (i + 1 >= argc) return qn_usage_error("bench", "%s needs a value", a);
            int rc = strcmp(a, "--size") == 0 ? int_arg(a, argv[++i], 1, 4096, &size) : int_arg(a, argv[++i], 1, 100, &reps);
            if (rc) return rc;
        } else if (a[0] == '-') {
            return qn_usage_error("bench", "unknown option '%s'", a);
        } else if (!what) {
            what = a;
        } else {
            return qn_usage_error("bench", "unexpected argument '%s'", a);
        }
    }
    if (!what) return qn_usage_error("bench", "say what to measure: quench bench kernels");
    if (strcmp(what, "kernels") != 0) return qn_usage_error("bench", "unknown benchmark '%s': available: kernels", what);
    return qn_bench_kernels((size_t)size, (int)reps, json, stdout);
}
