/* bench_decode_cuda.c: quench bench decode on the GPU (bench_decode_cuda.h). A step is what the CPU
 * bench times: the forward of B new tokens, their logits and the greedy choice, ending when the
 * chosen tokens reach the host (the next step needs them); the median step over S. The bound is
 * B x (device copy bandwidth) / (weight bytes read per step): decode reads every weight once per
 * step, so it cannot beat a copy of the weights. */
#include "bench_decode_cuda.h"
#include "bench_median.h"

#include <stdlib.h>
#include <string.h>

#include "../worker/llm.h"
#include "../worker/llm_cuda.h"
#include "qn_clock.h"
#include "qn_kernels.h"

enum { COPY_MIB = 1024, GPU = 0 };

/* One precision: its figures into x. 0, or nonzero with err. */
static int measure(const char *dir, const char *precision, int B, int T, int S, const int32_t *prompts,
                   const int32_t *cpu_tokens, double bw, json_t *x, double *fp32_tps, char *err, size_t errlen) {
    qn_llm *m = qn_llm_load(dir, err, errlen);
    if (!m) return 2;
    qn_llm_cuda *d = NULL;
    double *times = malloc((size_t)S * sizeof *times);
    int32_t *tok = malloc((size_t)B * sizeof *tok), *all = malloc((size_t)B * (S + 1) * sizeof *all);
    int rc = !times || !tok || !all;
    if (rc) snprintf(err, errlen, "out of memory");
    if (!rc) rc = qn_llm_quantize(m, precision, NULL, 0, err, errlen); /* lm_head stays fp32, as on the CPU */
    if (!rc && !(d = qn_llm_cuda_new(m, GPU, err, errlen))) rc = 1;
    if (!rc) rc = qn_llm_cuda_reset(d, B, T + S, err, errlen);
    if (!rc) rc = qn_llm_cuda_forward(d, prompts, T, err, errlen);
    if (!rc) rc = qn_llm_cuda_next_tokens(d, tok, NULL, err, errlen);
    for (int b = 0; !rc && b < B; b++) all[(size_t)b * (S + 1)] = tok[b];
    for (int s = 0; !rc && s < S; s++) {
        double t0 = qn_clock_monotonic_s();
        rc = qn_llm_cuda_forward(d, tok, 1, err, errlen);
        if (!rc) rc = qn_llm_cuda_next_tokens(d, tok, NULL, err, errlen);
        times[s] = qn_clock_monotonic_s() - t0;
        for (int b = 0; b < B; b++) all[(size_t)b * (S + 1) + s + 1] = tok[b];
    }
    if (!rc) {
        const double step = qn_bench_median(times, (size_t)S);
        const double wb = (double)qn_llm_weight_bytes(m), tps = B / step, bound = B * bw / wb;
        if (!strcmp(precision, "fp32")) *fp32_tps = tps;
        qn_llm_cuda_memory mem;
        qn_llm_cuda_memory_of(d, &mem);
        json_object_set_new(x, "precision", json_string(precision));
        json_object_set_new(x, "tokens_per_s", json_real(tps));
        json_object_set_new(x, "ms_per_token", json_real(step * 1e3));
        json_object_set_new(x, "weight_bytes", json_integer((json_int_t)wb));
        json_object_set_new(x, "bound_tokens_per_s", json_real(bound));
        json_object_set_new(x, "fraction_of_bound", json_real(tps / bound));
        json_object_set_new(x, "ratio_vs_fp32", *fp32_tps > 0 ? json_real(tps / *fp32_tps) : json_null());
        json_object_set_new(x, "device_peak_bytes", json_integer((json_int_t)mem.peak));
        json_object_set_new(x, "same_tokens_as_cpu",
                            cpu_tokens ? json_boolean(!memcmp(all, cpu_tokens, (size_t)B * (S + 1) * sizeof *all)) : json_null());
    }
    qn_llm_cuda_free(d);
    qn_llm_free(m);
    free(times), free(tok), free(all);
    return rc;
}

json_t *qn_bench_decode_cuda(const char *model, const char *const *precisions, int np, int B, int T, int S,
                             const int32_t *prompts, const int32_t *cpu_fp32_tokens) {
    if (qn_cuda_available() <= 0) return NULL;
    json_t *o = json_object(), *arr = json_array();
    char err[512] = "", msg[600];
    double bw = 0.0, fp32_tps = 0.0;
    int rc = qn_llm_cuda_copy_bandwidth(GPU, (size_t)COPY_MIB << 20, &bw, err, sizeof err);
#ifdef QUENCH_HAVE_CUDA
    qn_cuda_props props;
    char perr[256];
    if (qn_cuda_device_props(GPU, &props, perr, sizeof perr) == 0) {
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", props.cc_major, props.cc_minor);
        json_object_set_new(o, "device", json_string(props.name));
        json_object_set_new(o, "compute_capability", json_string(cc));
    }
#endif
    json_object_set_new(o, "copy_gbs", json_real(bw / 1e9));
    json_object_set_new(o, "copy_mib", json_integer(COPY_MIB));
    for (int i = 0; !rc && i < np; i++) {
        json_t *x = json_object();
        rc = measure(model, precisions[i], B, T, S, prompts, i == 0 ? cpu_fp32_tokens : NULL, bw, x, &fp32_tps, err,
                     sizeof err);
        if (rc) snprintf(msg, sizeof msg, "%.40s: %s", precisions[i], err);
        json_array_append_new(arr, x);
    }
    json_object_set_new(o, "results", arr);
    if (rc) json_object_set_new(o, "error", json_string(np > 0 && json_array_size(arr) ? msg : err));
    return o;
}

void qn_bench_decode_cuda_print(const json_t *cuda, FILE *out) {
    if (!cuda) {
        fputs("cuda: no GPU\n", out);
        return;
    }
    const json_t *dev = json_object_get(cuda, "device");
    fprintf(out, "cuda: %s (sm %s), device copy (cudaMemcpy d2d of %lld MiB): %.1f GB/s\n",
            json_is_string(dev) ? json_string_value(dev) : "GPU 0",
            json_is_string(json_object_get(cuda, "compute_capability")) ? json_string_value(json_object_get(cuda, "compute_capability")) : "?",
            (long long)json_integer_value(json_object_get(cuda, "copy_mib")), json_number_value(json_object_get(cuda, "copy_gbs")));
    fprintf(out, "%-24s %10s %9s %10s %10s %8s %8s %10s\n", "precision", "weights MB", "ms/token", "tokens/s", "bound",
            "of bound", "vs fp32", "peak MiB");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(cuda, "results"), i, x) {
        if (!json_object_get(x, "precision")) continue; /* the failed one */
        fprintf(out, "%-24s %10.1f %9.3f %10.1f %10.1f %7.0f%% %7.2fx %10.1f%s\n", json_string_value(json_object_get(x, "precision")),
                json_number_value(json_object_get(x, "weight_bytes")) / 1e6, json_number_value(json_object_get(x, "ms_per_token")),
                json_number_value(json_object_get(x, "tokens_per_s")), json_number_value(json_object_get(x, "bound_tokens_per_s")),
                100.0 * json_number_value(json_object_get(x, "fraction_of_bound")), json_number_value(json_object_get(x, "ratio_vs_fp32")),
                json_number_value(json_object_get(x, "device_peak_bytes")) / 1048576.0,
                json_is_false(json_object_get(x, "same_tokens_as_cpu")) ? "  (tokens differ from the CPU's fp32!)" : "");
    }
    const json_t *e = json_object_get(cuda, "error");
    if (e) fprintf(out, "cuda error: %s\n", json_string_value(e));
}
