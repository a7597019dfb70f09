/* bench_schedule.c: quench bench schedule: the placement policy simulated on a job's real trial set
 * with the cost model, against the lower bound and plain first-come dispatch, and the simulator's
 * own time per trial (the coordinator's cost of placing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qn_clock.h"
#include "bench_schedule.h"
#include "qn_cost.h"
#include "qn_placement.h"

#define MAX_KINDS 16

/* The coordinator's own cost at scale: the policy on the job's trial durations repeated to `trials`,
 * on the cluster's kinds in their proportions scaled to `workers` devices. Microseconds per trial,
 * or -1 when out of memory. */
static double scheduler_us_per_trial(const double *base_sec, int64_t base_n, int K, const int *count, const double *speed,
                                     int64_t trials, int workers) {
    double *sec = malloc((size_t)trials * K * sizeof *sec);
    if (!sec) return -1;
    for (int64_t i = 0; i < trials; i++) memcpy(sec + i * K, base_sec + (i % base_n) * K, (size_t)K * sizeof *sec);
    int total = 0, kc[MAX_KINDS];
    for (int k = 0; k < K; k++) total += count[k];
    for (int k = 0; k < K; k++) {
        kc[k] = (int)((double)count[k] * workers / total + 0.5);
        if (kc[k] < 1) kc[k] = 1;
    }
    qn_sched_problem p = {K, kc, speed, trials, sec};
    double t0 = qn_clock_monotonic_s();
    double makespan = qn_schedule(&p, QN_SCHED_LPT, NULL, NULL);
    double us = (qn_clock_monotonic_s() - t0) * 1e6 / (double)trials;
    free(sec);
    return makespan < 0 ? -1 : us;
}

static const struct {
    int workers;
    int64_t trials;
} scale_points[] = {{10, 1000}, {100, 10000}, {1000, 100000}};
#define NSCALE ((int)(sizeof scale_points / sizeof scale_points[0]))

int qn_bench_schedule(const char *job_path, const char *cluster, long ntrials_want, int json, FILE *out) {
    const qn_device_kind *kinds[MAX_KINDS];
    int count[MAX_KINDS], K;
    double speed[MAX_KINDS];
    char err[QN_ERR_LEN];
    if (qn_cluster_parse(cluster, kinds, count, MAX_KINDS, &K, err, sizeof err)) {
        fprintf(stderr, "quench: bench: %s\n", err);
        return 2;
    }
    for (int k = 0; k < K; k++) speed[k] = kinds[k]->peak_flops * kinds[k]->efficiency;
    qn_job job;
    const char *names[MAX_KINDS]; /* placement: each_device_kind expands on the cluster's kinds */
    char ids[MAX_KINDS][96];
    for (int k = 0; k < K; k++) names[k] = qn_device_kind_id(kinds[k], ids[k], sizeof ids[k]);
    if (qn_job_load_kinds(job_path, names, K, &job, err, sizeof err)) {
        fprintf(stderr, "quench: %s\n", err);
        return 2;
    }
    int rc = 1;
    int64_t base_n = job.ntrials, n = ntrials_want > 0 ? ntrials_want : base_n;
    double *base_sec = malloc((size_t)(base_n ? base_n : 1) * K * sizeof *base_sec);
    double *sec = malloc((size_t)(n ? n : 1) * K * sizeof *sec);
    if (!base_sec || !sec) goto done;
    for (int64_t id = 0; id < base_n; id++) {
        qn_trial t;
        qn_trial_config cfg;
        qn_trial_cost c;
        if (qn_job_trial(&job, id, &t)) goto done;
        const qn_stage *st = &job.stages[t.stage];
        /* `from:` parents' parameters are unknown before they run, and a search stage's are drawn at
         * run time: both take the base configuration, with the trial's own grid parameters on top */
        int bad = qn_trial_config_build(&job, NULL, 0, &t, &cfg, err, sizeof err) ||
                  qn_trial_cost_estimate(&cfg, st->steps, st->nsteps, &c, err, sizeof err);
        qn_trial_free(&t);
        if (bad) {
            fprintf(stderr, "quench: bench: trial %lld (stage %s): %s\n", (long long)id, st->name, err);
            rc = 2;
            goto done;
        }
        int fits = 0;
        char why[256] = "";
        for (int k = 0; k < K; k++) {
            char w[256];
            base_sec[id * K + k] = qn_trial_seconds(&c, kinds[k], w, sizeof w);
            if (base_sec[id * K + k] >= 0) fits = 1;
            else if (!why[0]) snprintf(why, sizeof why, "%s", w);
        }
        if (!fits) {
            fprintf(stderr, "quench: bench: trial %lld (stage %s) fits no device of the cluster: %s\n", (long long)id,
                    st->name, why);
            rc = 2;
            goto done;
        }
    }
    if (base_n == 0) {
        fprintf(stderr, "quench: bench: the job has no trials\n");
        rc = 2;
        goto done;
    }
    /* --trials N: the job's trials repeated (or cut) to N, to read the scheduler at scale */
    for (int64_t i = 0; i < n; i++) memcpy(sec + i * K, base_sec + (i % base_n) * K, (size_t)K * sizeof *sec);
    int kc[MAX_KINDS];
    for (int k = 0; k < K; k++) kc[k] = count[k];
    qn_sched_problem p = {K, kc, speed, n, sec};
    double t0 = qn_clock_monotonic_s();
    double lpt = qn_schedule(&p, QN_SCHED_LPT, NULL, NULL);
    double t1 = qn_clock_monotonic_s();
    double fifo = qn_schedule(&p, QN_SCHED_FIFO, NULL, NULL);
    int optimal;
    double lb = qn_schedule_lower_bound_ex(&p, &optimal);
    if (lpt < 0 || fifo < 0 || lb < 0) goto done;
    int64_t devices = 0;
    for (int k = 0; k < K; k++) devices += count[k];
    double us_per_trial = (t1 - t0) * 1e6 / (double)n;
    double scale_us[NSCALE];
    for (int i = 0; i < NSCALE; i++) {
        scale_us[i] = scheduler_us_per_trial(base_sec, base_n, K, count, speed, scale_points[i].trials, scale_points[i].workers);
        if (scale_us[i] < 0) goto done;
    }
    if (json) {
        fprintf(out,
                "{\"makespan\": %.6g, \"lower_bound\": %.6g, \"fifo_makespan\": %.6g, \"ratio\": %.6g, "
                "\"fifo_ratio\": %.6g, \"lower_bound_optimal\": %s, \"trials\": %lld, \"devices\": %lld, "
                "\"us_per_trial\": %.6g, \"scaling\": [",
                lpt, lb, fifo, lpt / lb, fifo / lb, optimal ? "true" : "false", (long long)n, (long long)devices,
                us_per_trial);
        for (int i = 0; i < NSCALE; i++)
            fprintf(out, "%s{\"workers\": %d, \"trials\": %lld, \"us_per_trial\": %.6g}", i ? ", " : "",
                    scale_points[i].workers, (long long)scale_points[i].trials, scale_us[i]);
        fprintf(out, "]}\n");
    } else {
        fprintf(out, "%s: %lld trials on %lld devices (%s)\n", job.name, (long long)n, (long long)devices, cluster);
        fprintf(out, "  lower bound     %12.4g s%s\n", lb, optimal ? "  (the optimal makespan)" : "");
        fprintf(out, "  lpt makespan    %12.4g s  (%.4f x lower bound)\n", lpt, lpt / lb);
        fprintf(out, "  fifo makespan   %12.4g s  (%.4f x lower bound, %.4f x lpt)\n", fifo, fifo / lb, fifo / lpt);
        fprintf(out, "  scheduler time  %12.3f us per trial\n", us_per_trial);
        fprintf(out, "  coordinator's placing cost at scale (this job's trials repeated, the cluster's mix scaled):\n");
        for (int i = 0; i < NSCALE; i++)
            fprintf(out, "    %5d workers %7lld trials  %9.3f us per trial\n", scale_points[i].workers,
                    (long long)scale_points[i].trials, scale_us[i]);
    }
    rc = 0;
done:
    free(base_sec), free(sec);
    qn_job_free(&job);
    return rc;
}
