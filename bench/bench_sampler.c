/* bench_sampler.c: quench bench sampler: best-so-far regret of a sampler on a synthetic function
 * over seeds, and the time per suggestion, against Optuna running the same functions, samplers and
 * grid (bench/optuna_sampler_ref.py) in the same run. Trials run one at a time, as in Optuna's
 * optimize(n_jobs=1). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qn_clock.h"
#include "bench_median.h"
#include "bench_sampler.h"
#include "reference_process.h"
#include "qn_sampler.h"
#include "test_functions.h"

static const int checkpoints[] = {10, 25, 50, 100, 200};
enum { N_CHECK = sizeof checkpoints / sizeof checkpoints[0] };


typedef struct {
    int n_check;
    double median[N_CHECK], mean[N_CHECK];
    double ms_per_suggest;
} figures;

/* quench's runs: regret[seed][checkpoint], then the median and mean over seeds */
static int run_quench(const qn_test_function *tf, qn_sampler_kind kind, int trials, int seeds, figures *fig,
                      char *err, size_t errlen) {
    const int D = tf->dim;
    qn_space_param params[QN_TF_MAX_DIM];
    double *values[QN_TF_MAX_DIM] = {0};
    int n_values[QN_TF_MAX_DIM];
    int rc = 1;
    double *x = malloc((size_t)trials * D * sizeof *x), *val = malloc((size_t)trials * sizeof *val);
    qn_trial_state *state = malloc((size_t)trials * sizeof *state);
    double *regret = malloc((size_t)seeds * N_CHECK * sizeof *regret);
    int ok = x && val && state && regret;
    for (int p = 0; p < D && ok; p++) ok = (values[p] = malloc(((size_t)trials + 2) * sizeof(double))) != NULL;
    if (!ok) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    memcpy(params, tf->params, sizeof params);
    if (kind == QN_SAMPLER_GRID) {
        qn_test_function_grid(tf, trials, values, n_values);
        for (int p = 0; p < D; p++) params[p].values = values[p], params[p].n_values = n_values[p];
    }
    qn_space space = {D, params};
    double t_suggest = 0;
    long n_suggest = 0;
    for (int s = 0; s < seeds; s++) {
        qn_sampler_options o;
        qn_sampler_defaults(&o);
        o.seed = (uint64_t)s;
        qn_sampler *sm = qn_sampler_new(kind, &space, &o, err, errlen);
        if (!sm) goto done;
        double best = INFINITY;
        int c = 0;
        for (int t = 0; t < trials; t++) {
            qn_history h = {t, state, val, x};
            double t0 = qn_clock_monotonic_s();
            int r = qn_sampler_suggest(sm, &h, x + (size_t)t * D, err, errlen);
            t_suggest += qn_clock_monotonic_s() - t0;
            if (r < 0) {
                qn_sampler_free(sm);
                goto done;
            }
            if (r == 1) break; /* the grid is used up: the best stays */
            n_suggest++;
            state[t] = QN_TRIAL_DONE;
            val[t] = tf->f(x + (size_t)t * D);
            if (val[t] < best) best = val[t];
            while (c < N_CHECK && checkpoints[c] == t + 1) regret[s * N_CHECK + c++] = best - tf->optimum;
        }
        for (; c < N_CHECK; c++) regret[s * N_CHECK + c] = best - tf->optimum;
        qn_sampler_free(sm);
    }
    fig->n_check = 0;
    for (int c = 0; c < N_CHECK && checkpoints[c] <= trials; c++) {
        double col[seeds], sum = 0;
        for (int s = 0; s < seeds; s++) col[s] = regret[s * N_CHECK + c], sum += col[s];
        fig->median[c] = qn_bench_median(col, (size_t)seeds);
        fig->mean[c] = sum / seeds;
        fig->n_check++;
    }
    fig->ms_per_suggest = n_suggest ? t_suggest * 1e3 / n_suggest : 0;
    rc = 0;
done:
    free(x), free(val), free(state), free(regret);
    for (int p = 0; p < D; p++) free(values[p]);
    return rc;
}

/* The Optuna reference's figures, or -1 with the reason in why. `label` gets its version and density. */
static int run_reference(const char *function, const char *sampler, int trials, int seeds, figures *fig,
                         char *label, size_t labellen, char *why, size_t whylen) {
    char a_trials[16], a_seeds[16];
    snprintf(a_trials, sizeof a_trials, "%d", trials), snprintf(a_seeds, sizeof a_seeds, "%d", seeds);
    const char *args[] = {"--function", function, "--sampler", sampler, "--trials", a_trials, "--seeds", a_seeds, NULL};
    json_t *j = qn_bench_run_reference("optuna_sampler_ref.py", args, "1", "optuna", "python3-optuna", why, whylen);
    if (!j) return -1;
    json_t *med = j ? json_object_get(j, "median_regret") : NULL, *mean = j ? json_object_get(j, "mean_regret") : NULL;
    json_t *ms = j ? json_object_get(j, "ms_per_suggest") : NULL;
    int rc = json_is_object(med) && json_is_object(mean) && json_is_number(ms) ? 0 : -1;
    fig->n_check = 0;
    for (int c = 0; rc == 0 && c < N_CHECK && checkpoints[c] <= trials; c++) {
        char key[16];
        snprintf(key, sizeof key, "%d", checkpoints[c]);
        json_t *a = json_object_get(med, key), *b = json_object_get(mean, key);
        if (!json_is_number(a) || !json_is_number(b)) rc = -1;
        else fig->median[c] = json_number_value(a), fig->mean[c] = json_number_value(b), fig->n_check++;
    }
    if (rc == 0) {
        fig->ms_per_suggest = json_number_value(ms);
        json_t *v = json_object_get(j, "optuna_version"), *dn = json_object_get(j, "density");
        const char *dens = json_is_string(dn) ? json_string_value(dn) : "";
        snprintf(label, labellen, "optuna %s%s%s%s", json_is_string(v) ? json_string_value(v) : "?", *dens ? ", " : "",
                 dens, "");
    } else {
        snprintf(why, whylen, "the reference printed no figures");
    }
    json_decref(j);
    return rc;
}

static void json_figures(FILE *out, const figures *f) {
    const char *names[2] = {"median_regret", "mean_regret"};
    for (int m = 0; m < 2; m++) {
        fprintf(out, "\"%s\": {", names[m]);
        for (int c = 0; c < f->n_check; c++)
            fprintf(out, "%s\"%d\": %.6g", c ? ", " : "", checkpoints[c], m ? f->mean[c] : f->median[c]);
        fprintf(out, "}, ");
    }
    fprintf(out, "\"ms_per_suggest\": %.6g", f->ms_per_suggest);
}

int qn_bench_sampler(const char *function, const char *sampler, int trials, int seeds, int json, FILE *out) {
    const qn_test_function *tf = qn_test_function_find(function);
    if (!tf) {
        fprintf(stderr, "quench: bench: unknown function '%s': available: %s\n", function, qn_test_function_names());
        return 2;
    }
    qn_sampler_kind kind;
    if (strcmp(sampler, "tpe") == 0) kind = QN_SAMPLER_TPE;
    else if (strcmp(sampler, "random") == 0) kind = QN_SAMPLER_RANDOM;
    else if (strcmp(sampler, "grid") == 0) kind = QN_SAMPLER_GRID;
    else {
        fprintf(stderr, "quench: bench: unknown sampler '%s': available: tpe, random, grid\n", sampler);
        return 2;
    }
    figures q, ref;
    char err[256] = "", why[512] = "", label[128] = "optuna";
    if (run_quench(tf, kind, trials, seeds, &q, err, sizeof err)) {
        fprintf(stderr, "quench: bench: %s\n", err);
        return 1;
    }
    int have_ref = run_reference(function, sampler, trials, seeds, &ref, label, sizeof label, why, sizeof why) == 0;
    if (json) {
        fprintf(out, "{\"benchmark\": \"sampler\", \"function\": \"%s\", \"sampler\": \"%s\", \"trials\": %d, \"seeds\": %d, ",
                function, sampler, trials, seeds);
        json_figures(out, &q);
        fprintf(out, ", \"reference\": ");
        if (have_ref) {
            json_t *s = json_string(label);
            char *dump = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
            fprintf(out, "{\"name\": %s, ", dump ? dump : "null");
            free(dump), json_decref(s);
            json_figures(out, &ref);
            fprintf(out, "}}\n");
        } else {
            json_t *s = json_string(why);
            char *dump = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
            fprintf(out, "null, \"reference_error\": %s}\n", dump ? dump : "null");
            free(dump), json_decref(s);
        }
        return 0;
    }
    fprintf(out, "%s on %s (%d parameters, minimum %.6g), %d trials one at a time, %d seed%s\n", sampler, function,
            tf->dim, tf->optimum, trials, seeds, seeds == 1 ? "" : "s");
    fprintf(out, "regret = best so far - minimum\n");
    fprintf(out, "%-8s %12s %12s", "trials", "quench med", "quench mean");
    if (have_ref) fprintf(out, " %12s %12s   (%s)", "optuna med", "optuna mean", label);
    fputc('\n', out);
    for (int c = 0; c < q.n_check; c++) {
        fprintf(out, "%-8d %12.4g %12.4g", checkpoints[c], q.median[c], q.mean[c]);
        if (have_ref) fprintf(out, " %12.4g %12.4g", ref.median[c], ref.mean[c]);
        fputc('\n', out);
    }
    fprintf(out, "ms per suggestion: quench %.4g", q.ms_per_suggest);
    if (have_ref)
        fprintf(out, ", optuna %.4g (whole ask/tell trial), ratio %.0fx\n", ref.ms_per_suggest,
                q.ms_per_suggest > 0 ? ref.ms_per_suggest / q.ms_per_suggest : 0.0);
    else fprintf(out, "\noptuna   unavailable: %s\n", why);
    return 0;
}
