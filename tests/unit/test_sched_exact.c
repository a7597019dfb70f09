/* The exact search of sched_exact.c: the optimum on lab 2's compression-aware study (where the other
 * bounds stay 7% below it), equality with a brute-force optimum on small instances, and a bound that
 * stays a bound when the search declines or stops early. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "qn_placement.h"

/* Every assignment of trials to devices, the best makespan (branch and bound on the partial one). */
typedef struct {
    int ndev, n, K;
    const int *dev_kind;
    const double *sec;
    double load[16], best;
} brute;

static void brute_rec(brute *b, int t, double cur) {
    if (cur >= b->best) return;
    if (t == b->n) {
        b->best = cur;
        return;
    }
    for (int d = 0; d < b->ndev; d++) {
        double s = b->sec[t * b->K + b->dev_kind[d]];
        if (s < 0) continue;
        b->load[d] += s;
        brute_rec(b, t + 1, b->load[d] > cur ? b->load[d] : cur);
        b->load[d] -= s;
    }
}

Test(sched_exact, lab2_compression_aware_bound_is_lpt_makespan) {
    /* the cost model's seconds (bench schedule, 8xl40s,4xrtx8000,16xrtx2080ti): 60 trials of one
     * training run, 30 of two, compress_best's evaluation. Every slow card runs two short trials
     * (a long one does less work); the l40s then carry 20 short and 30 long, and no 8 of their
     * patterns cover that below 3 long + 4 short, LPT's 0.113364 s. The fluid, preemptive and
     * counting bounds stop at 0.1061. */
    const double a[3] = {0.011604165589519651, 0.040756961963190182, 0.049577498507462688};
    const double b[3] = {0.022315703056768558, 0.078378773006134966, 0.095341343283582083};
    const double c[3] = {0.00089262812227074238, 0.0031351509202453987, 0.0038136537313432834};
    enum { N = 91 };
    double sec[N * 3];
    for (int t = 0; t < N; t++)
        for (int k = 0; k < 3; k++) sec[t * 3 + k] = t < 30 ? a[k] : t == 30 ? c[k] : t < 61 ? a[k] : b[k];
    int count[] = {8, 4, 16};
    double speed[] = {91.6e12 * 0.25, 16.3e12 * 0.40, 13.4e12 * 0.40};
    qn_sched_problem p = {3, count, speed, N, sec};
    int optimal = 0;
    double lb = qn_schedule_lower_bound_ex(&p, &optimal), lpt = qn_schedule(&p, QN_SCHED_LPT, NULL, NULL);
    cr_expect(optimal);
    cr_expect_float_eq(lb, 3 * b[0] + 4 * a[0], 1e-12, "bound %.9g", lb);
    cr_expect_float_eq(lpt, lb, 1e-12, "lpt %.9g bound %.9g", lpt, lb);
    double opt = 0;
    cr_expect_eq(qn_schedule_optimum(&p, 0.1061, lpt, &opt), 1);
    cr_expect_float_eq(opt, lb, 1e-15);
}

Test(sched_exact, beats_the_other_bounds_where_lpt_is_not_optimal) {
    /* two identical devices, trials 8 7 5 4 4: half the work is 14, but no subset sums to 14, so
     * the optimum is 15 (8+5 | 7+4+4); LPT gives 16 (8+4+4 | 7+5) */
    double sec[] = {8, 7, 5, 4, 4};
    int count[] = {2};
    double speed[] = {1};
    qn_sched_problem p = {1, count, speed, 5, sec};
    int optimal = 0;
    cr_expect_float_eq(qn_schedule_lower_bound_ex(&p, &optimal), 15, 1e-12);
    cr_expect(optimal);
    cr_expect_float_eq(qn_schedule(&p, QN_SCHED_LPT, NULL, NULL), 16, 1e-12);
    double opt = 0;
    cr_expect_eq(qn_schedule_optimum(&p, 14, 16, &opt), 1);
    cr_expect_float_eq(opt, 15, 1e-12);
}

Test(sched_exact, bound_equals_brute_force_optimum) {
    srand(7);
    for (int inst = 0; inst < 600; inst++) {
        int K = 1 + rand() % 3, count[3], dev_kind[9], ndev = 0;
        double speed[3];
        for (int k = 0; k < K; k++) {
            count[k] = 1 + rand() % 3, speed[k] = 1 + rand() % 5;
            for (int i = 0; i < count[k]; i++) dev_kind[ndev++] = k;
        }
        int C = 1 + rand() % 3, n = 1 + rand() % 8;
        double work[3], sec[8 * 3];
        for (int c = 0; c < C; c++) work[c] = 1 + rand() % 20;
        for (int t = 0; t < n; t++) {
            int c = rand() % C;
            for (int k = 0; k < K; k++) /* some classes refused by some kinds; kind 0 takes all */
                sec[t * K + k] = k > 0 && (c + k + inst) % 4 == 0 ? -1 : work[c] / speed[k];
        }
        brute b = {ndev, n, K, dev_kind, sec, {0}, 1e300};
        brute_rec(&b, 0, 0);
        qn_sched_problem p = {K, count, speed, n, sec};
        int optimal = 0;
        double lb = qn_schedule_lower_bound_ex(&p, &optimal);
        cr_assert(optimal, "instance %d", inst);
        cr_assert_float_eq(lb, b.best, 1e-9 * b.best, "instance %d: bound %.12g optimum %.12g", inst, lb, b.best);
    }
}

Test(sched_exact, declines_past_its_caps_and_keeps_the_bound) {
    /* nine classes: past MAX_CLASSES, the search gives back the bound it was given */
    double sec[9];
    for (int t = 0; t < 9; t++) sec[t] = 1 + t;
    int count[] = {2};
    double speed[] = {1};
    qn_sched_problem p = {1, count, speed, 9, sec};
    double opt = 0;
    cr_expect_eq(qn_schedule_optimum(&p, 22.5, 25, &opt), 0);
    cr_expect_float_eq(opt, 22.5, 1e-15);
    /* 10,000 trials of three classes: past the count vectors' cap */
    enum { N = 10000 };
    double *many = malloc(N * sizeof *many);
    for (int t = 0; t < N; t++) many[t] = 1 + t % 3;
    int cnt[] = {7};
    qn_sched_problem q = {1, cnt, speed, N, many};
    cr_expect_eq(qn_schedule_optimum(&q, 2857, 2860, &opt), 0);
    cr_expect_float_eq(opt, 2857, 1e-15);
    free(many);
}

Test(sched_exact, few_classes_bound_below_every_schedule) {
    /* larger instances than brute force reaches, few classes, some searches stopped by the step
     * budget: whatever the search proves stays at or below LPT's and FIFO's makespans */
    srand(11);
    for (int inst = 0; inst < 60; inst++) {
        int K = 1 + rand() % 3, C = 1 + rand() % 4, count[3], n = 0, per[4];
        double speed[3], work[4];
        for (int k = 0; k < K; k++) count[k] = 1 + rand() % 10, speed[k] = 1 + rand() % 8;
        for (int c = 0; c < C; c++) per[c] = 1 + rand() % 25, work[c] = 1 + rand() % 100, n += per[c];
        double *sec = malloc(sizeof *sec * n * K);
        for (int c = 0, t = 0; c < C; c++)
            for (int i = 0; i < per[c]; i++, t++)
                for (int k = 0; k < K; k++) sec[t * K + k] = k > 0 && (c + k) % 3 == 0 ? -1 : work[c] / speed[k];
        qn_sched_problem p = {K, count, speed, n, sec};
        double lb = qn_schedule_lower_bound(&p);
        cr_assert_gt(lb, 0);
        cr_expect_leq(lb, qn_schedule(&p, QN_SCHED_LPT, NULL, NULL) * (1 + 1e-12), "instance %d", inst);
        cr_expect_leq(lb, qn_schedule(&p, QN_SCHED_FIFO, NULL, NULL) * (1 + 1e-12), "instance %d", inst);
        free(sec);
    }
}
