/* Grid sampler: every point exactly once, with suggestions asked while earlier ones run, after a
 * history rebuilt from scratch (resume) with done, running and failed trials, and with conditions. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_sampler.h"

enum { D = 3, MAXT = 256 };
static const double fvals[] = {0.1, 0.2};

static void space3(qn_space_param ps[D]) {
    ps[0] = qn_param_categorical("c", 3);
    ps[1] = qn_param_int("i", 1, 4, 0);
    ps[2] = qn_param_float("f", 0, 1, 0);
    ps[2].values = fvals, ps[2].n_values = 2;
}

/* index of x among the grid's points, or -1 */
static long point_id(const qn_sampler *s, const double *x, int d) {
    double p[8];
    for (long i = 0; i < qn_sampler_grid_size(s); i++) {
        qn_sampler_grid_point(s, i, p);
        int same = 1;
        for (int k = 0; k < d; k++) same &= p[k] == x[k] || (isnan(p[k]) && isnan(x[k]));
        if (same) return i;
    }
    return -1;
}

/* Up to `par` trials run at once; finished ones end done or failed at random. Every point is
 * suggested exactly once; then the sampler says the grid is used up. */
static void run_parallel(qn_sampler *s, int d, int par, qn_trial_state *st, double *val, double *xs, int start) {
    char err[256];
    long n = qn_sampler_grid_size(s);
    int t = start, seen_end = 0;
    unsigned r = 12345;
    for (;;) {
        int running = 0;
        for (int i = 0; i < t; i++) running += st[i] == QN_TRIAL_RUNNING;
        if (running < par) {
            qn_history h = {t, st, val, xs};
            int rc = qn_sampler_suggest(s, &h, xs + (size_t)t * d, err, sizeof err);
            cr_assert_neq(rc, -1, "%s", err);
            if (rc == 0) {
                cr_assert_lt(t, MAXT);
                st[t] = QN_TRIAL_RUNNING, val[t] = NAN;
                t++;
                continue;
            }
            seen_end = 1;
            if (running == 0) break;
        }
        /* finish one running trial */
        r = r * 1103515245u + 12345u;
        int pick = (int)((r >> 16) % (unsigned)running);
        for (int i = 0; i < t; i++)
            if (st[i] == QN_TRIAL_RUNNING && pick-- == 0) {
                st[i] = (r >> 8) % 5 == 0 ? QN_TRIAL_FAILED : QN_TRIAL_DONE;
                val[i] = 1.0;
                break;
            }
    }
    cr_assert(seen_end);
    cr_assert_eq(t, n, "%d trials for %ld points", t, n);
    int *count = calloc((size_t)n, sizeof *count);
    for (int i = 0; i < t; i++) {
        long id = point_id(s, xs + (size_t)i * d, d);
        cr_assert_geq(id, 0);
        count[id]++;
    }
    for (long i = 0; i < n; i++) cr_assert_eq(count[i], 1, "point %ld suggested %d times", i, count[i]);
    free(count);
}

Test(grid, every_point_once_while_running) {
    qn_space_param ps[D];
    space3(ps);
    qn_space sp = {D, ps};
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        qn_sampler_options o;
        qn_sampler_defaults(&o);
        o.grid_shuffle = shuffle, o.seed = 5;
        char err[256];
        qn_sampler *s = qn_sampler_new(QN_SAMPLER_GRID, &sp, &o, err, sizeof err);
        cr_assert(s, "%s", err);
        cr_assert_eq(qn_sampler_grid_size(s), 3 * 4 * 2);
        static qn_trial_state st[MAXT];
        static double val[MAXT], xs[MAXT * D];
        run_parallel(s, D, 4, st, val, xs, 0);
        qn_sampler_free(s);
    }
}

Test(grid, in_order_last_parameter_fastest) {
    qn_space_param ps[D];
    space3(ps);
    qn_space sp = {D, ps};
    qn_sampler_options o;
    qn_sampler_defaults(&o);
    o.grid_shuffle = 0;
    char err[256];
    qn_sampler *s = qn_sampler_new(QN_SAMPLER_GRID, &sp, &o, err, sizeof err);
    double x[D];
    qn_trial_state st[1];
    double val[1];
    qn_history h = {0, st, val, x};
    cr_assert_eq(qn_sampler_suggest(s, &h, x, err, sizeof err), 0);
    cr_assert(x[0] == 0 && x[1] == 1 && x[2] == 0.1);
    qn_sampler_grid_point(s, 1, x);
    cr_assert(x[0] == 0 && x[1] == 1 && x[2] == 0.2);
    qn_sampler_free(s);
}

/* A study resumed from its results file: the history is rebuilt with 10 points done, failed or
 * still marked running; a new sampler (another seed even) completes the grid without repeats. */
Test(grid, resume_from_history) {
    qn_space_param ps[D];
    space3(ps);
    qn_space sp = {D, ps};
    char err[256];
    qn_sampler_options o;
    qn_sampler_defaults(&o);
    o.seed = 1;
    qn_sampler *first = qn_sampler_new(QN_SAMPLER_GRID, &sp, &o, err, sizeof err);
    static qn_trial_state st[MAXT];
    static double val[MAXT], xs[MAXT * D];
    for (int t = 0; t < 10; t++) {
        qn_history h = {t, st, val, xs};
        cr_assert_eq(qn_sampler_suggest(first, &h, xs + t * D, err, sizeof err), 0);
        st[t] = t % 3 == 0 ? QN_TRIAL_DONE : t % 3 == 1 ? QN_TRIAL_FAILED : QN_TRIAL_RUNNING;
        val[t] = 0.5;
    }
    qn_sampler_free(first);
    o.seed = 99;
    qn_sampler *resumed = qn_sampler_new(QN_SAMPLER_GRID, &sp, &o, err, sizeof err);
    run_parallel(resumed, D, 3, st, val, xs, 10);
    qn_sampler_free(resumed);
}

/* a child parameter exists only under one choice: points (0, absent) and (1, 1..3) */
Test(grid, conditional) {
    qn_space_param ps[2] = {qn_param_categorical("opt", 2), qn_param_int("k", 1, 3, 0)};
    ps[1].parent = 0, ps[1].parent_choice = 1;
    qn_space sp = {2, ps};
    char err[256];
    qn_sampler *s = qn_sampler_new(QN_SAMPLER_GRID, &sp, NULL, err, sizeof err);
    cr_assert(s, "%s", err);
    cr_assert_eq(qn_sampler_grid_size(s), 4);
    static qn_trial_state st[MAXT];
    static double val[MAXT], xs[MAXT * 2];
    run_parallel(s, 2, 2, st, val, xs, 0);
    int absent = 0;
    for (int t = 0; t < 4; t++) absent += isnan(xs[2 * t + 1]) && xs[2 * t] == 0;
    cr_assert_eq(absent, 1);
    qn_sampler_free(s);
}

Test(grid, refuses_continuous_float) {
    qn_space_param ps[1] = {qn_param_float("x", 0, 1, 0)};
    qn_space sp = {1, ps};
    char err[256] = "";
    cr_assert_null(qn_sampler_new(QN_SAMPLER_GRID, &sp, NULL, err, sizeof err));
    cr_assert(strstr(err, "'x'"), "%s", err);
}
