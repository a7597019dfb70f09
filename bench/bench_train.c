/* bench_train.c: quench bench train: examples/s of one full training step (forward, backward, AdamW)
 * of quench's BERT classifier against the same model and step in PyTorch (bench/bert_train_torch.py),
 * measured in the same run at the same thread count. Each figure is the best step of a few after
 * warm-up: the machine may be shared, and the best step is the one least disturbed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qn_clock.h"
#include "../worker/bert.h"
#include "bench.h"
#include "reference_process.h"
#include "qn_kernels.h"



/* CPU seconds of the process, all its threads: at one thread, a step's own work, which other
 * processes sharing the cores do not lengthen as they do its wall-clock time */
static double process_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sort_times(double *t, int n) { /* by insertion: n is small */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double x = t[j];
            t[j] = t[j - 1], t[j - 1] = x;
        }
}

/* quench's step: best seconds over `steps` steps after `warmup`, or a negative value when out of
 * memory; the median, and the best and median CPU seconds (process_cpu_s), through the pointers. */
static double quench_step_time(const qn_bert_config *c, int B, int T, int warmup, int steps, double *median,
                               double *cpu_best, double *cpu_median) {
    qn_bert *m = qn_bert_new(c, B, T, 1);
    int32_t *ids = malloc((size_t)B * T * sizeof *ids), *lengths = malloc((size_t)B * sizeof *lengths),
            *labels = malloc((size_t)B * sizeof *labels);
    double *times = malloc(2 * (size_t)steps * sizeof *times), *cpu = times + steps;
    if (!m || !ids || !lengths || !labels || !times) {
        qn_bert_free(m), free(ids), free(lengths), free(labels), free(times);
        return -1.0;
    }
    qn_rng rng;
    qn_rng_seed(&rng, 2);
    /* random ids over the vocabulary but [PAD] (0); every token valid; two labels */
    for (size_t i = 0; i < (size_t)B * T; i++) ids[i] = 1 + (int32_t)qn_rng_below(&rng, (uint64_t)(c->vocab_size - 1));
    for (int b = 0; b < B; b++) lengths[b] = T, labels[b] = (int32_t)qn_rng_below(&rng, (uint64_t)c->num_labels);
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = qn_clock_monotonic_s(), c0 = process_cpu_s();
        qn_bert_forward(m, ids, lengths, labels, B, &rng);
        qn_bert_backward(m, ids, labels, B);
        m->step++;
        qn_adamw_step(m->params, m->grads, m->m, m->v, NULL, m->nparams, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, m->step);
        if (s >= warmup) times[s - warmup] = qn_clock_monotonic_s() - t0, cpu[s - warmup] = process_cpu_s() - c0;
    }
    sort_times(times, steps), sort_times(cpu, steps);
    const double best = times[0];
    *median = times[steps / 2], *cpu_best = cpu[0], *cpu_median = cpu[steps / 2];
    qn_bert_free(m), free(ids), free(lengths), free(labels), free(times);
    return best;
}

/* Run the PyTorch reference. Returns its examples/s, or a negative value with the reason in why. */
static double reference_examples_per_s(const qn_bert_config *c, int B, int T, int threads, int warmup, int steps,
                                       char *why, size_t whylen) {
    char a[13][16];
    int vals[13] = {c->layers, c->hidden, c->heads, c->intermediate, c->vocab_size, c->max_position, c->num_labels,
                    B, T, steps, warmup, threads, 0};
    for (int i = 0; i < 13; i++) snprintf(a[i], sizeof a[i], "%d", vals[i]);
    const char *args[] = {"--layers", a[0], "--hidden", a[1], "--heads", a[2], "--intermediate", a[3],
                          "--vocab", a[4], "--positions", a[5], "--labels", a[6], "--batch", a[7], "--seq", a[8],
                          "--steps", a[9], "--warmup", a[10], "--threads", a[11], "--seed", a[12], NULL};
    json_t *j = qn_bench_run_reference("bert_train_torch.py", args, a[11], "torch", "python3-torch", why, whylen);
    if (!j) return -1.0;
    json_t *x = json_object_get(j, "examples_per_s");
    double eps = json_is_number(x) ? json_number_value(x) : -1.0;
    json_decref(j);
    if (eps <= 0.0) snprintf(why, whylen, "the reference printed no examples_per_s");
    return eps;
}

int qn_bench_train(const char *preset, int B, int T, int threads, int steps, int json, FILE *out) {
    qn_bert_config c;
    if (qn_bert_preset(preset, &c) != 0) {
        fprintf(stderr, "quench: bench: unknown preset '%s'\n", preset);
        return 2;
    }
    if (T > c.max_position) {
        fprintf(stderr, "quench: bench: --seq %d exceeds BERT's %d positions\n", T, c.max_position);
        return 2;
    }
    const int warmup = 1;
    qn_set_num_threads(threads);
    double median, cpu_best, cpu_median;
    double best = quench_step_time(&c, B, T, warmup, steps, &median, &cpu_best, &cpu_median);
    if (best < 0.0) {
        fprintf(stderr, "quench: bench: out of memory building %s for batch %d x %d tokens\n", preset, B, T);
        return 1;
    }
    const double eps = B / best;
    char why[512] = "";
    double ref = reference_examples_per_s(&c, B, T, threads, warmup, steps, why, sizeof why);
    if (json) {
        fprintf(out, "{\"benchmark\": \"train\", \"preset\": \"%s\", \"batch\": %d, \"seq\": %d, \"threads\": %d, "
                     "\"steps\": %d, \"examples_per_s\": %.3f, \"best_step_s\": %.6f, \"median_step_s\": %.6f, "
                     "\"cpu_best_step_s\": %.6f, \"cpu_median_step_s\": %.6f, ",
                preset, B, T, threads, steps, eps, best, median, cpu_best, cpu_median);
        if (ref > 0.0) fprintf(out, "\"reference\": \"pytorch\", \"reference_examples_per_s\": %.3f, \"ratio\": %.4f}\n", ref, eps / ref);
        else {
            fprintf(out, "\"reference\": null, \"reference_examples_per_s\": null, \"ratio\": null, \"reference_error\": ");
            json_t *s = json_string(why);
            char *dump = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
            fprintf(out, "%s}\n", dump ? dump : "null");
            free(dump), json_decref(s);
        }
    } else {
        fprintf(out, "train step of %s (forward, backward, AdamW), batch %d x %d tokens, %d thread%s, best of %d steps\n",
                preset, B, T, threads, threads == 1 ? "" : "s", steps);
        fprintf(out, "%-8s %10.2f examples/s  (%.1f ms/step, %.1f ms of CPU)\n", "quench", eps, best * 1e3, cpu_best * 1e3);
        if (ref > 0.0) {
            fprintf(out, "%-8s %10.2f examples/s  (%.1f ms/step)\n", "pytorch", ref, B / ref * 1e3);
            fprintf(out, "ratio    %10.3fx PyTorch\n", eps / ref);
        } else {
            fprintf(out, "pytorch  unavailable: %s\n", why);
        }
    }
    return 0;
}
