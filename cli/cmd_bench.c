/* cmd_bench.c: quench bench kernels [--json] [--size MIB] [--reps N]
 *              quench bench train [--preset NAME] [--batch B] [--seq T] [--threads N] [--steps S] [--json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

static const char *help =
    "usage: quench bench kernels [--json] [--size MIB] [--reps N]\n"
    "       quench bench train [--preset NAME] [--batch B] [--seq T] [--threads N] [--steps S] [--json]\n"
    "\n"
    "Speed against a reference measured in the same run.\n"
    "\n"
    "kernels: fake-quantization throughput of every number format on MIB MiB of float32 (default 64),\n"
    "in GB/s of input processed, against memcpy of the same buffer, and the ratio. Each figure is the\n"
    "best of N passes (default 3).\n"
    "  --size MIB      buffer size in MiB (1..4096)\n"
    "  --reps N        passes per figure (1..100)\n"
    "\n"
    "train: examples/s of one training step (forward, backward, AdamW) of quench's BERT classifier\n"
    "(random weights and token ids, every token valid, 2 labels, fp32, no quantization) against the\n"
    "same model and step in PyTorch (bench/bert_train_torch.py, run with /usr/bin/python3) at the same\n"
    "thread count, and the ratio. Each figure is the best of S steps after one warm-up step.\n"
    "  --preset NAME   bert-tiny (default), bert-mini or bert-small\n"
    "  --batch B       sequences per step (1..4096, default 32)\n"
    "  --seq T         tokens per sequence (1..512, default 128)\n"
    "  --threads N     BLAS threads for quench and torch threads for the reference (1..1024,\n"
    "                  default: the number of online cores)\n"
    "  --steps S       timed steps (1..1000, default 10)\n"
    "  Without python3-torch the reference is reported unavailable (ratio null).\n"
    "\n"
    "  --json          one object; kernels: {\"memcpy_gbs\": X, \"formats\": {\"integer\": {\"gbs\": Y,\n"
    "                  \"ratio\": R}, ...}}; train: {\"examples_per_s\": X, \"reference_examples_per_s\": Y,\n"
    "                  \"ratio\": R, \"threads\": N, \"preset\": ..., \"batch\": B, \"seq\": T, ...}\n"
    "  -h, --help      this help\n";

static int int_arg(const char *flag, const char *v, long lo, long hi, long *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return qn_usage_error("bench", "%s takes an integer in [%ld, %ld], not '%s'", flag, lo, hi, v);
    *out = x;
    return 0;
}

int qn_cmd_bench(int argc, char **argv) {
    static const struct {
        const char *flag, *bench; /* the benchmark the flag belongs to */
        long lo, hi;
    } opts[] = {{"--size", "kernels", 1, 4096}, {"--reps", "kernels", 1, 100}, {"--batch", "train", 1, 4096},
                {"--seq", "train", 1, 512},      {"--threads", "train", 1, 1024}, {"--steps", "train", 1, 1000}};
    enum { N_OPTS = sizeof opts / sizeof opts[0] };
    long val[N_OPTS] = {64, 3, 32, 128, 0, 10};
    const char *given[N_OPTS + 1] = {0}; /* the last slot: --preset */
    const char *what = NULL, *preset = "bert-tiny";
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k = 0;
        while (k < N_OPTS && strcmp(a, opts[k].flag) != 0) k++;
        if (qn_is_help(a)) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (k < N_OPTS || strcmp(a, "--preset") == 0) {
            if (i + 1 >= argc) return qn_usage_error("bench", "%s needs a value", a);
            if (k == N_OPTS) preset = argv[++i];
            else if (int_arg(a, argv[++i], opts[k].lo, opts[k].hi, &val[k])) return 2;
            given[k] = a;
        } else if (a[0] == '-') {
            return qn_usage_error("bench", "unknown option '%s'", a);
        } else if (!what) {
            what = a;
        } else {
            return qn_usage_error("bench", "unexpected argument '%s'", a);
        }
    }
    if (!what) return qn_usage_error("bench", "say what to measure: quench bench kernels|train");
    if (strcmp(what, "kernels") != 0 && strcmp(what, "train") != 0)
        return qn_usage_error("bench", "unknown benchmark '%s': available: kernels, train", what);
    for (int k = 0; k <= N_OPTS; k++)
        if (given[k] && strcmp(k < N_OPTS ? opts[k].bench : "train", what) != 0)
            return qn_usage_error("bench", "%s applies to bench %s, not bench %s", given[k],
                                  k < N_OPTS ? opts[k].bench : "train", what);
    if (strcmp(what, "kernels") == 0) return qn_bench_kernels((size_t)val[0], (int)val[1], json, stdout);
    if (strcmp(preset, "bert-tiny") != 0 && strcmp(preset, "bert-mini") != 0 && strcmp(preset, "bert-small") != 0)
        return qn_usage_error("bench", "unknown preset '%s': available: bert-tiny, bert-mini, bert-small", preset);
    long threads = val[4];
    if (!threads) {
        threads = sysconf(_SC_NPROCESSORS_ONLN);
        if (threads < 1) threads = 1;
    }
    return qn_bench_train(preset, (int)val[2], (int)val[3], (int)threads, (int)val[5], json, stdout);
}
