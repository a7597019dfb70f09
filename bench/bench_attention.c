/* bench_attention.c: quench bench attention: lab 4's naive matmul-softmax-matmul attention against
 * the fused online-softmax kernel, on the CPU and on GPU 0 when there is one, for the lab's shape
 * (32, 8, 128, 64) and a few others (or one --shape). Effective GFLOP/s counts the two products,
 * 4 B H T^2 D, halved when causal (the tiles above the diagonal are not work). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qn_clock.h"
#include "bench_lab4.h"
#include "../cli/cli.h" /* qn_usage_error, qn_is_help: the subcommands parse their own flags */
#include "qn_kernels.h"
#include "qn_sdpa.h"

static const int default_shapes[][4] = {{32, 8, 128, 64}, {8, 16, 512, 64}, {4, 8, 1024, 128}, {1, 32, 2048, 128}};
enum { N_DEFAULT = sizeof default_shapes / sizeof default_shapes[0], MAX_REPS = 10 };
/* the naive path's scores beyond this are refused rather than swapped */
static const double max_score_bytes = 8.0 * (1 << 30);

typedef struct {
    double naive_ms, fused_ms, max_diff;
} sdpa_times;

/* Best of up to MAX_REPS runs after a warm-up, stopping once 0.5 s have been spent. */
static int time_cpu(const int *s, int causal, sdpa_times *t) {
    const int B = s[0], H = s[1], T = s[2], D = s[3];
    const size_t n = (size_t)B * H * T * D;
    float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
    float *o1 = malloc(n * sizeof *o1), *o2 = malloc(n * sizeof *o2);
    float *scores = malloc(qn_sdpa_naive_scores(B, H, T) * sizeof *scores);
    int rc = 0;
    if (!q || !k || !v || !o1 || !o2 || !scores) {
        fprintf(stderr, "quench: bench: cannot allocate attention (%d, %d, %d, %d) on the CPU\n", B, H, T, D);
        rc = 1;
        goto done;
    }
    qn_rng r;
    qn_rng_seed(&r, 4);
    for (size_t i = 0; i < n; i++) /* uniform in [-2, 2): spread scores, so the softmax is not flat */
        q[i] = 4 * qn_rng_uniform(&r) - 2, k[i] = 4 * qn_rng_uniform(&r) - 2, v[i] = 4 * qn_rng_uniform(&r) - 2;
    for (int path = 0; path < 2 && rc == 0; path++) {
        double best = INFINITY, spent = 0.0;
        for (int rep = 0; rep <= MAX_REPS && (rep < 2 || spent < 0.5); rep++) {
            double t0 = qn_clock_monotonic_s();
            if (path == 0) qn_sdpa_naive(o1, scores, q, k, v, B, H, T, D, causal);
            else if (qn_sdpa_fused(o2, q, k, v, B, H, T, D, causal) != 0) {
                fprintf(stderr, "quench: bench: fused attention: out of memory\n");
                rc = 1;
                break;
            }
            double dt = qn_clock_monotonic_s() - t0;
            spent += dt;
            if (rep > 0 && dt < best) best = dt; /* run 0 faults the pages in */
        }
        *(path == 0 ? &t->naive_ms : &t->fused_ms) = best * 1e3;
    }
    t->max_diff = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)o1[i] - o2[i]);
        t->max_diff = d > t->max_diff || isnan(d) ? d : t->max_diff;
    }
done:
    free(q), free(k), free(v), free(o1), free(o2), free(scores);
    return rc;
}

static int parse_shape(const char *arg, int *s) {
    const char *p = arg;
    for (int i = 0; i < 4; i++) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 1 || x > 65536 || (i < 3 ? *end != ',' : *end != '\0'))
            return qn_usage_error("bench", "--shape takes B,H,T,D (four integers in [1, 65536]), not '%s'", arg);
        s[i] = (int)x;
        p = end + 1;
    }
    double elems = (double)s[0] * s[1] * s[2] * s[3], scores = (double)s[0] * s[1] * s[2] * s[2] * sizeof(float);
    if (elems * sizeof(float) > max_score_bytes || scores > max_score_bytes)
        return qn_usage_error("bench", "--shape %s needs %.1f GiB for the naive scores (at most 8)", arg, scores / (1 << 30));
    return 0;
}

static void print_times(FILE *out, const char *dev, const sdpa_times *t, double flops, int json) {
    const double gn = flops / (t->naive_ms * 1e-3) / 1e9, gf = flops / (t->fused_ms * 1e-3) / 1e9;
    if (json)
        fprintf(out,
                "\"%s\": {\"naive_ms\": %.6g, \"naive_gflops\": %.3f, \"fused_ms\": %.6g, \"fused_gflops\": %.3f, "
                "\"speedup\": %.4f, \"max_abs_diff\": %.3g}",
                dev, t->naive_ms, gn, t->fused_ms, gf, t->naive_ms / t->fused_ms, t->max_diff);
    else
        fprintf(out, "  %-5s naive %10.3f ms %9.2f GFLOP/s   fused %10.3f ms %9.2f GFLOP/s   fused %.2fx naive (max diff %.1e)\n",
                dev, t->naive_ms, gn, t->fused_ms, gf, t->naive_ms / t->fused_ms, t->max_diff);
}

int qn_bench_attention_main(int argc, char **argv, int self, const char *help) {
    int shape[4], have_shape = 0, causal = 0, json = 0;
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        qn_bench_arg common = qn_bench_common_arg(argv, i, self, help, &json);
        if (common == QN_BENCH_ARG_HELP) return 0;
        if (common == QN_BENCH_ARG_TAKEN) continue;
        if (strcmp(a, "--causal") == 0) {
            causal = 1;
        } else if (strcmp(a, "--shape") == 0 || strcmp(a, "--threads") == 0) {
            if (i + 1 >= argc) return qn_usage_error("bench", "%s needs a value", a);
            const char *v = argv[++i];
            if (a[2] == 's') {
                if (parse_shape(v, shape)) return 2;
                have_shape = 1;
            } else {
                if (qn_int_flag("bench", a, v, 1, 1024, &threads)) return 2;
            }
        } else if (a[0] == '-') {
            return qn_usage_error("bench", "unknown option '%s' for bench attention (--shape, --causal, --threads, --json)", a);
        } else {
            return qn_usage_error("bench", "unexpected argument '%s'", a);
        }
    }
    threads = qn_threads_or_cores(threads);
    qn_set_num_threads((int)threads);
    const int nshapes = have_shape ? 1 : N_DEFAULT;
    int gpu = 0;
    char gpu_name[256] = "";
#ifdef QUENCH_HAVE_CUDA
    gpu = qn_cuda_available() > 0;
    if (gpu) qn_cuda_bench_device_name(gpu_name, sizeof gpu_name);
#endif
    FILE *out = stdout;
    if (json)
        fprintf(out, "{\"causal\": %s, \"threads\": %ld, \"gpu\": %s%s%s, \"shapes\": [", causal ? "true" : "false", threads,
                gpu ? "\"" : "", gpu ? gpu_name : "null", gpu ? "\"" : "");
    else
        fprintf(out, "attention, float32, %s, cpu %ld threads, best of up to %d runs\n", causal ? "causal" : "not causal",
                threads, MAX_REPS);
    int rc = 0;
    for (int si = 0; si < nshapes; si++) {
        const int *s = have_shape ? shape : default_shapes[si];
        const double flops = 4.0 * s[0] * s[1] * (double)s[2] * s[2] * s[3] * (causal ? 0.5 : 1.0);
        sdpa_times cpu;
        if (time_cpu(s, causal, &cpu) != 0) {
            rc = 1;
            break;
        }
        if (json) fprintf(out, "%s{\"shape\": [%d, %d, %d, %d], \"gflop\": %.6g, ", si ? ", " : "", s[0], s[1], s[2], s[3], flops / 1e9);
        else fprintf(out, "(B, H, T, D) = (%d, %d, %d, %d), %.3f GFLOP\n", s[0], s[1], s[2], s[3], flops / 1e9);
        print_times(out, "cpu", &cpu, flops, json);
        if (gpu && s[3] > QN_CUDA_SDPA_MAX_D) {
            if (json) fprintf(out, ", \"cuda\": null");
            else fprintf(out, "  cuda: the fused kernel takes D <= %d\n", QN_CUDA_SDPA_MAX_D);
        } else if (gpu) {
#ifdef QUENCH_HAVE_CUDA
            sdpa_times g;
            char err[256];
            if (qn_cuda_bench_sdpa(s[0], s[1], s[2], s[3], causal, MAX_REPS, &g.naive_ms, &g.fused_ms, &g.max_diff, err,
                                   sizeof err) != 0) {
                fprintf(stderr, "quench: bench: cuda attention: %s\n", err);
                if (json) fprintf(out, ", \"cuda\": null");
                rc = 1;
            } else {
                if (json) fputs(", ", out);
                print_times(out, "cuda", &g, flops, json);
            }
#endif
        } else if (json) {
            fprintf(out, ", \"cuda\": null");
        }
        if (json) fputc('}', out);
    }
    if (json) fputs("]}\n", out);
    else if (!gpu) fputs("cuda: no GPU\n", out);
    return rc;
}
