/* TPE: the Parzen estimator against values computed by hand from the formulas and against Optuna's
 * own (the research note's test vectors, checked there against Optuna 3.1's _ParzenEstimator);
 * determinism, the constant liar, conditional parameters, and TPE beating random on Branin. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../coordinator/sampler_internal.h"

static qn_sampler_options defaults(void) {
    qn_sampler_options o;
    qn_sampler_defaults(&o);
    return o;
}

static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double phi(double x) { return exp(-0.5 * x * x) / sqrt(2 * M_PI); }

Test(tpe, weights_and_gamma) {
    double w[30];
    qn_tpe_weights(24, w);
    for (int i = 0; i < 24; i++) cr_assert_eq(w[i], 1.0);
    /* 30 observations: linspace(1/30, 1, 5) then 25 ones */
    qn_tpe_weights(30, w);
    for (int i = 0; i < 5; i++) cr_assert_float_eq(w[i], 1.0 / 30 + (1 - 1.0 / 30) * i / 4, 1e-15);
    for (int i = 5; i < 30; i++) cr_assert_eq(w[i], 1.0);
    cr_assert_eq(qn_tpe_gamma(10), 1);
    cr_assert_eq(qn_tpe_gamma(11), 2);
    cr_assert_eq(qn_tpe_gamma(30), 3);
    cr_assert_eq(qn_tpe_gamma(31), 4);
    cr_assert_eq(qn_tpe_gamma(100), 10);
    cr_assert_eq(qn_tpe_gamma(1000), 25);
}

/* One observation 0.25 on Float[0, 1], by hand:
 *   kernels: mu = (0.25, prior 0.5); weights (1, prior_weight 1) / 2 = (1/2, 1/2)
 *   widths: sorted means 0.25, 0.5; without endpoints the lowest takes its right gap 0.25 (the
 *   prior's is overwritten); magic clip: sigma >= (1 - 0) / min(100, 1 + 2) = 1/3, so sigma_0 = 1/3;
 *   the prior's sigma = 1 - 0 = 1
 *   truncation masses: Z_0 = Phi((1 - .25) * 3) - Phi((0 - .25) * 3) = Phi(2.25) - Phi(-0.75),
 *                      Z_1 = Phi(0.5) - Phi(-0.5)
 *   p(v) = 1/2 * phi(3 (v - .25)) * 3 / Z_0 + 1/2 * phi(v - .5) / Z_1 */
Test(tpe, parzen_by_hand) {
    qn_space_param p = qn_param_float("x", 0, 1, 0);
    qn_domain d;
    qn_domain_of(&p, &d);
    qn_sampler_options o = defaults();
    qn_parzen pe;
    qn_parzen_init(&pe);
    double obs[] = {0.25};
    cr_assert_eq(qn_parzen_build(&pe, &d, obs, 1, &o), 0);
    cr_assert_eq(pe.n, 2);
    cr_assert_float_eq(pe.mu[0], 0.25, 1e-15);
    cr_assert_float_eq(pe.mu[1], 0.5, 1e-15);
    cr_assert_float_eq(pe.sigma[0], 1.0 / 3, 1e-15);
    cr_assert_float_eq(pe.sigma[1], 1.0, 1e-15);
    cr_assert_float_eq(exp(pe.logw[0]), 0.5, 1e-15);
    double Z0 = Phi(2.25) - Phi(-0.75), Z1 = Phi(0.5) - Phi(-0.5);
    for (double v = 0; v <= 1.0; v += 0.125) {
        double want = log(0.5 * phi(3 * (v - 0.25)) * 3 / Z0 + 0.5 * phi(v - 0.5) / Z1);
        cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, v), want, 1e-12, "v=%g", v);
    }
    cr_assert(isinf(qn_parzen_logpdf(&pe, &d, 1.5)));
    /* Optuna 3.1's density leaves out the 1/sigma: the first kernel's term loses its factor 3 */
    o.optuna31_density = 1;
    cr_assert_eq(qn_parzen_build(&pe, &d, obs, 1, &o), 0);
    double v = 0.3, want = log(0.5 * phi(3 * (v - 0.25)) / Z0 + 0.5 * phi(v - 0.5) / Z1);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, v), want, 1e-12);
    qn_parzen_release(&pe);
}

/* The score of a candidate is log l(x) - log g(x), by hand for below = {0.25}, above = {} (the prior
 * alone: p_g(v) = phi(v - .5) / Z_1). */
Test(tpe, score_by_hand) {
    qn_space_param p = qn_param_float("x", 0, 1, 0);
    qn_domain d;
    qn_domain_of(&p, &d);
    qn_sampler_options o = defaults();
    qn_parzen l, g;
    qn_parzen_init(&l), qn_parzen_init(&g);
    double obs[] = {0.25};
    qn_parzen_build(&l, &d, obs, 1, &o);
    qn_parzen_build(&g, &d, NULL, 0, &o);
    double Z0 = Phi(2.25) - Phi(-0.75), Z1 = Phi(0.5) - Phi(-0.5), v = 0.2;
    double want = log(0.5 * phi(3 * (v - 0.25)) * 3 / Z0 + 0.5 * phi(v - 0.5) / Z1) - log(phi(v - 0.5) / Z1);
    cr_assert_float_eq(qn_parzen_logpdf(&l, &d, v) - qn_parzen_logpdf(&g, &d, v), want, 1e-12);
    qn_parzen_release(&l), qn_parzen_release(&g);
}

static void check_sigmas(qn_space_param p, const double *obs_ext, int m, const double *want, double tol) {
    qn_domain d;
    qn_domain_of(&p, &d);
    qn_sampler_options o = defaults();
    double obs[8];
    for (int i = 0; i < m; i++) obs[i] = qn_domain_internal(&d, obs_ext[i]);
    qn_parzen pe;
    qn_parzen_init(&pe);
    cr_assert_eq(qn_parzen_build(&pe, &d, obs, m, &o), 0);
    for (int k = 0; k <= m; k++) cr_assert_float_eq(pe.sigma[k], want[k], tol, "kernel %d: %g", k, pe.sigma[k]);
    qn_parzen_release(&pe);
}

/* Optuna's values for the same data (research note 1.11, verified against Optuna 3.1) */
Test(tpe, parzen_matches_optuna) {
    qn_sampler_options o = defaults();
    qn_parzen pe;
    qn_parzen_init(&pe);
    qn_domain d;

    qn_space_param f = qn_param_float("x", 0, 1, 0);
    qn_domain_of(&f, &d);
    double obs[] = {0.1, 0.5, 0.55};
    qn_parzen_build(&pe, &d, obs, 3, &o);
    const double sig[] = {0.4, 0.4, 0.2, 1.0};
    for (int k = 0; k < 4; k++) cr_assert_float_eq(pe.sigma[k], sig[k], 1e-15);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 0.0), -0.2253994879, 1e-9);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 0.3), 0.1321815609, 1e-9);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 0.77), -0.1233754569, 1e-9);
    o.optuna31_density = 1;
    qn_parzen_build(&pe, &d, obs, 3, &o);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 0.0), -0.7877171215, 1e-9);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 0.3), -0.5738739407, 1e-9);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 0.77), -0.8008448675, 1e-9);
    o.optuna31_density = 0;

    qn_space_param i = qn_param_int("n", 0, 10, 0);
    qn_domain_of(&i, &d);
    cr_assert_float_eq(d.lo, -0.5, 0);
    cr_assert_float_eq(d.hi, 10.5, 0);
    double iobs[] = {2, 3, 9};
    qn_parzen_build(&pe, &d, iobs, 3, &o);
    const double isig[] = {2.2, 2.2, 4.0, 11.0};
    for (int k = 0; k < 4; k++) cr_assert_float_eq(pe.sigma[k], isig[k], 1e-12);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 0), -2.5520152289, 1e-9);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 4), -2.1297413662, 1e-9);
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 10), -2.8204952495, 1e-9);

    const double lobs[] = {1e-3, 1e-2, 0.5}, lsig[] = {2.302585, 2.302585, 3.912023, 9.210340};
    check_sigmas(qn_param_float("lr", 1e-4, 1, 1), lobs, 3, lsig, 1e-6);
    const double liobs[] = {2, 10, 50}, lisig[] = {1.265358, 1.609438, 1.609438, 5.303305};
    check_sigmas(qn_param_int("bs", 1, 100, 1), liobs, 3, lisig, 1e-6);

    qn_space_param c = qn_param_categorical("opt", 3);
    qn_domain_of(&c, &d);
    double cobs[] = {0, 2, 2};
    qn_parzen_build(&pe, &d, cobs, 3, &o);
    /* rows: 1/4 everywhere, +1 at the choice, normalised: (1.25, .25, .25) / 1.75 */
    cr_assert_float_eq(pe.prob[0], 1.25 / 1.75, 1e-15);
    cr_assert_float_eq(pe.prob[1], 0.25 / 1.75, 1e-15);
    cr_assert_float_eq(pe.prob[2 * 3 + 2], 1.25 / 1.75, 1e-15);
    cr_assert_float_eq(pe.prob[3 * 3 + 1], 1.0 / 3, 1e-15);
    /* mixture: choice 2 = (0.25/1.75 + 2 * 1.25/1.75 + 1/3) / 4 */
    cr_assert_float_eq(qn_parzen_logpdf(&pe, &d, 2), log((0.25 / 1.75 + 2 * 1.25 / 1.75 + 1.0 / 3) / 4), 1e-14);
    qn_parzen_release(&pe);
}

Test(tpe, truncnorm_numerics) {
    for (double x = -30; x <= 5; x += 0.37) /* above 5, Phi(x) itself has lost the digits */ cr_assert_float_eq(qn_ndtri(Phi(x)), x, 1e-9 * fmax(1, fabs(x)), "x=%g", x);
    cr_assert_float_eq(qn_log_ndtr(-25), log(Phi(-25)), 1e-9 * fabs(log(Phi(-25))));
    cr_assert_float_eq(qn_log_gauss_mass(-1, 2), log(Phi(2) - Phi(-1)), 1e-14);
    cr_assert_float_eq(qn_log_gauss_mass(3, 4), log(Phi(-3) - Phi(-4)), 1e-12);
    cr_assert_float_eq(qn_log_gauss_mass(-4, -3), log(Phi(-3) - Phi(-4)), 1e-12);
    /* the ppf inverts the truncated CDF */
    for (double u = 0.05; u < 1; u += 0.1) {
        double x = qn_truncnorm_ppf(u, -0.5, 3.0);
        cr_assert_float_eq((Phi(x) - Phi(-0.5)) / (Phi(3.0) - Phi(-0.5)), u, 1e-12);
    }
}

static double branin(const double *x) {
    double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI), u = x[1] - b * x[0] * x[0] + c * x[0] - 6;
    return u * u + 10 * (1 - t) * cos(x[0]) + 10;
}

/* Runs `trials` sequential trials; returns the best value. */
static double optimize(qn_sampler_kind kind, uint64_t seed, int trials, const qn_space *sp, double (*f)(const double *),
                       double *xs) {
    qn_sampler_options o = defaults();
    o.seed = seed;
    char err[256];
    qn_sampler *s = qn_sampler_new(kind, sp, &o, err, sizeof err);
    cr_assert(s, "%s", err);
    qn_trial_state st[256];
    double val[256], best = INFINITY;
    for (int t = 0; t < trials; t++) {
        qn_history h = {t, st, val, xs};
        cr_assert_eq(qn_sampler_suggest(s, &h, xs + (size_t)t * sp->n, err, sizeof err), 0);
        st[t] = QN_TRIAL_DONE, val[t] = f(xs + (size_t)t * sp->n);
        best = fmin(best, val[t]);
    }
    qn_sampler_free(s);
    return best;
}

Test(tpe, beats_random_on_branin) {
    qn_space_param ps[2] = {qn_param_float("x1", -5, 10, 0), qn_param_float("x2", 0, 15, 0)};
    qn_space sp = {2, ps};
    static double xs[256 * 2];
    int wins = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        double tpe = optimize(QN_SAMPLER_TPE, seed, 100, &sp, branin, xs);
        double rnd = optimize(QN_SAMPLER_RANDOM, seed, 100, &sp, branin, xs);
        wins += tpe < rnd;
    }
    cr_assert_geq(wins, 14, "TPE better on %d of 20 seeds", wins);
}

Test(tpe, deterministic) {
    qn_space_param ps[3] = {qn_param_float("a", -1, 1, 0), qn_param_int("b", 1, 64, 1), qn_param_categorical("c", 4)};
    qn_space sp = {3, ps};
    static double x1[40 * 3], x2[40 * 3], x3[40 * 3];
    double f1 = optimize(QN_SAMPLER_TPE, 7, 40, &sp, branin, x1); /* branin reads a and b only */
    double f2 = optimize(QN_SAMPLER_TPE, 7, 40, &sp, branin, x2);
    optimize(QN_SAMPLER_TPE, 8, 40, &sp, branin, x3);
    cr_assert_eq(f1, f2);
    cr_assert_eq(memcmp(x1, x2, sizeof x1), 0);
    cr_assert_neq(memcmp(x1, x3, sizeof x1), 0);
    for (int t = 0; t < 40; t++) {
        cr_assert(x1[t * 3] >= -1 && x1[t * 3] < 1);
        cr_assert(x1[t * 3 + 1] >= 1 && x1[t * 3 + 1] <= 64 && x1[t * 3 + 1] == floor(x1[t * 3 + 1]));
        cr_assert(x1[t * 3 + 2] >= 0 && x1[t * 3 + 2] <= 3 && x1[t * 3 + 2] == floor(x1[t * 3 + 2]));
    }
}

/* Four trials running: each new suggestion sees the earlier ones as the worst observations, and all
 * differ; a fresh sampler with the same history gives the same one. */
Test(tpe, constant_liar) {
    qn_space_param ps[2] = {qn_param_float("x1", -5, 10, 0), qn_param_float("x2", 0, 15, 0)};
    qn_space sp = {2, ps};
    static double xs[64 * 2];
    qn_trial_state st[64];
    double val[64];
    optimize(QN_SAMPLER_TPE, 3, 30, &sp, branin, xs);
    for (int t = 0; t < 30; t++) st[t] = QN_TRIAL_DONE, val[t] = branin(xs + 2 * t);
    char err[256];
    qn_sampler *s = qn_sampler_new(QN_SAMPLER_TPE, &sp, NULL, err, sizeof err);
    for (int r = 0; r < 5; r++) {
        qn_history h = {30 + r, st, val, xs};
        cr_assert_eq(qn_sampler_suggest(s, &h, xs + 2 * (30 + r), err, sizeof err), 0);
        st[30 + r] = QN_TRIAL_RUNNING, val[30 + r] = NAN;
        for (int q = 0; q < r; q++)
            cr_assert(xs[2 * (30 + q)] != xs[2 * (30 + r)] || xs[2 * (30 + q) + 1] != xs[2 * (30 + r) + 1]);
    }
    /* with the lie, g has mass at the running points: their score drops relative to no lie */
    double again[2];
    qn_history h = {34, st, val, xs};
    qn_sampler *s2 = qn_sampler_new(QN_SAMPLER_TPE, &sp, NULL, err, sizeof err);
    qn_sampler_suggest(s2, &h, again, err, sizeof err);
    cr_assert(again[0] == xs[2 * 34] && again[1] == xs[2 * 34 + 1]);
    qn_sampler_free(s), qn_sampler_free(s2);
}

/* The per-parameter orders kept across suggestions (many ties in the int) give what a fresh
 * sampler gives at every step, and start over when a trial already seen changes or the history
 * shrinks. */
Test(tpe, kept_order_follows_history) {
    qn_space_param ps[3] = {qn_param_float("x1", -5, 10, 0), qn_param_int("x2", 0, 3, 0), qn_param_float("lr", 1e-4, 1, 1)};
    qn_space sp = {3, ps};
    static double xs[64 * 3];
    qn_trial_state st[64];
    double val[64], fresh[3];
    char err[256];
    qn_sampler_options o = defaults();
    o.n_startup_trials = 5;
    qn_sampler *s = qn_sampler_new(QN_SAMPLER_TPE, &sp, &o, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    for (int t = 0; t < 50; t++) {
        qn_history h = {t, st, val, xs};
        cr_assert_eq(qn_sampler_suggest(s, &h, xs + 3 * t, err, sizeof err), 0);
        qn_sampler *f = qn_sampler_new(QN_SAMPLER_TPE, &sp, &o, err, sizeof err);
        cr_assert_eq(qn_sampler_suggest(f, &h, fresh, err, sizeof err), 0);
        cr_assert_eq(memcmp(fresh, xs + 3 * t, sizeof fresh), 0, "trial %d", t);
        qn_sampler_free(f);
        st[t] = QN_TRIAL_DONE, val[t] = branin(xs + 3 * t);
    }
    double again[3];
    for (int change = 0; change < 2; change++) {
        if (change == 0) xs[3 * 7] = 9.5, xs[3 * 7 + 1] = 0; /* a trial already folded in changes */
        qn_history h = {change ? 20 : 50, st, val, xs};      /* then the history shrinks */
        qn_sampler *f = qn_sampler_new(QN_SAMPLER_TPE, &sp, &o, err, sizeof err);
        cr_assert_eq(qn_sampler_suggest(s, &h, again, err, sizeof err), 0);
        cr_assert_eq(qn_sampler_suggest(f, &h, fresh, err, sizeof err), 0);
        cr_assert_eq(memcmp(fresh, again, sizeof fresh), 0, "change %d", change);
        qn_sampler_free(f);
    }
    qn_sampler_free(s);
}

/* The continuous density visits only the kernels within reach of its point, sixteen at a time, and
 * takes exponentials only of live terms: against a plain log-sum-exp over every kernel, for 600
 * observations in clusters with ties, at the domain's ends and at points between and on the means,
 * with both density formulas. */
Test(tpe, density_matches_every_kernel_sum) {
    qn_space_param p = qn_param_float("x", -2, 3, 0);
    qn_domain d;
    qn_domain_of(&p, &d);
    qn_sampler_options o = defaults();
    enum { M = 600 };
    static double obs[M];
    uint64_t z = 12345;
    for (int i = 0; i < M; i++) {
        z = z * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(z >> 11) * 0x1.0p-53;
        /* a tight cluster, a loose one, repeated values and the ends */
        obs[i] = i % 7 == 0 ? 0.25 : i % 5 == 0 ? 2.9 + 0.1 * u : i % 2 ? 1e-3 * u : -2 + 5 * u * u;
        if (i == 1) obs[i] = -2;
        if (i == 2) obs[i] = 3;
    }
    qn_parzen pe;
    qn_parzen_init(&pe);
    for (int variant = 0; variant < 2; variant++) {
        o.optuna31_density = variant;
        cr_assert_eq(qn_parzen_build(&pe, &d, obs, M, &o), 0);
        for (int j = 0; j <= 400; j++) {
            double v = j < 350 ? -2 + 5.0 * j / 349 : obs[j - 350];
            double top = -INFINITY, t[M + 1];
            for (int k = 0; k <= M; k++) {
                double s = pe.sigma[k], zk = (v - pe.mu[k]) / s;
                double logz = log(Phi((d.hi - pe.mu[k]) / s) - Phi((d.lo - pe.mu[k]) / s));
                t[k] = pe.logw[k] - logz - 0.5 * zk * zk - 0.5 * log(2 * M_PI) - (variant ? 0 : log(s));
                top = fmax(top, t[k]);
            }
            double sum = 0;
            for (int k = 0; k <= M; k++) sum += exp(t[k] - top);
            double want = top + log(sum), got = qn_parzen_logpdf(&pe, &d, v);
            cr_assert_float_eq(got, want, 1e-11 * fmax(1, fabs(want)), "variant %d, v=%.17g: %.17g vs %.17g", variant, v,
                               got, want);
        }
    }
    qn_parzen_release(&pe);
}

/* The DONE trials' order by loss kept across suggestions follows a history where trials finish out
 * of order, fail, tie, and change value after finishing: every suggestion equals a fresh sampler's. */
Test(tpe, kept_loss_order_follows_history) {
    qn_space_param ps[2] = {qn_param_float("x1", -5, 10, 0), qn_param_float("x2", 0, 15, 0)};
    qn_space sp = {2, ps};
    static double xs[90 * 2];
    qn_trial_state st[90];
    double val[90], fresh[2];
    char err[256];
    for (int maximize = 0; maximize < 2; maximize++) {
        qn_sampler_options o = defaults();
        o.n_startup_trials = 5, o.maximize = maximize;
        qn_sampler *s = qn_sampler_new(QN_SAMPLER_TPE, &sp, &o, err, sizeof err);
        cr_assert_not_null(s, "%s", err);
        for (int t = 0; t < 90; t++) {
            qn_history h = {t, st, val, xs};
            cr_assert_eq(qn_sampler_suggest(s, &h, xs + 2 * t, err, sizeof err), 0);
            qn_sampler *f = qn_sampler_new(QN_SAMPLER_TPE, &sp, &o, err, sizeof err);
            cr_assert_eq(qn_sampler_suggest(f, &h, fresh, err, sizeof err), 0);
            cr_assert_eq(memcmp(fresh, xs + 2 * t, sizeof fresh), 0, "maximize %d, trial %d", maximize, t);
            qn_sampler_free(f);
            st[t] = QN_TRIAL_RUNNING, val[t] = NAN;
            /* every third trial finishes two suggestions late; values rounded, so losses tie */
            if (t % 3) st[t] = QN_TRIAL_DONE, val[t] = round(branin(xs + 2 * t));
            if (t >= 2 && (t - 2) % 3 == 0) st[t - 2] = QN_TRIAL_DONE, val[t - 2] = round(branin(xs + 2 * (t - 2)));
            if (t == 40) val[12] = -val[12] + 3;         /* a finished trial's value changes */
            if (t == 60) st[20] = QN_TRIAL_FAILED;       /* and one fails after finishing */
            if (t == 70) st[25] = QN_TRIAL_DONE, val[25] = NAN;
        }
        qn_sampler_free(s);
    }
}

/* opt chooses which of lr (choice 0) and momentum (choice 1) exists */
static double cond_f(const double *x) {
    return x[0] == 0 ? (log10(x[1]) + 2) * (log10(x[1]) + 2) : 0.5 + (x[2] - 0.9) * (x[2] - 0.9);
}

Test(tpe, conditional_parameters) {
    qn_space_param ps[3] = {qn_param_categorical("opt", 2), qn_param_float("lr", 1e-4, 1, 1), qn_param_float("momentum", 0, 1, 0)};
    ps[1].parent = 0, ps[1].parent_choice = 0;
    ps[2].parent = 0, ps[2].parent_choice = 1;
    qn_space sp = {3, ps};
    char err[256];
    cr_assert_eq(qn_space_check(&sp, err, sizeof err), 0, "%s", err);
    static double xs[80 * 3];
    double best = optimize(QN_SAMPLER_TPE, 1, 80, &sp, cond_f, xs);
    int n0 = 0;
    for (int t = 0; t < 80; t++) {
        const double *x = xs + 3 * t;
        cr_assert(x[0] == 0 || x[0] == 1);
        cr_assert_eq(isnan(x[1]), x[0] != 0, "trial %d", t);
        cr_assert_eq(isnan(x[2]), x[0] != 1, "trial %d", t);
        n0 += x[0] == 0;
    }
    cr_assert_lt(best, 0.05);
    cr_assert_gt(n0, 40, "TPE should favour the branch with the lower minimum (%d of 80)", n0);
    /* a child naming a later or non-categorical parent is refused */
    ps[1].parent = 2;
    cr_assert_eq(qn_space_check(&sp, err, sizeof err), -1);
}

Test(random, bounds_steps_and_logs) {
    qn_space_param ps[4] = {qn_param_float("f", 1e-5, 1e-1, 1), qn_param_int("i", 3, 19, 0), qn_param_int("l", 8, 512, 1),
                      qn_param_float("s", 0, 1, 0)};
    ps[1].step = 4, ps[3].step = 0.25;
    qn_space sp = {4, ps};
    char err[256];
    qn_sampler *s = qn_sampler_new(QN_SAMPLER_RANDOM, &sp, NULL, err, sizeof err);
    cr_assert(s, "%s", err);
    static double xs[4000 * 4];
    qn_trial_state st[4000];
    double val[4000];
    int counts[5] = {0}, low_decade = 0;
    for (int t = 0; t < 4000; t++) {
        qn_history h = {t, st, val, xs};
        double *x = xs + 4 * t;
        cr_assert_eq(qn_sampler_suggest(s, &h, x, err, sizeof err), 0);
        st[t] = QN_TRIAL_DONE, val[t] = 0;
        cr_assert(x[0] >= 1e-5 && x[0] < 1e-1);
        low_decade += x[0] < 1e-4;
        cr_assert(x[1] >= 3 && x[1] <= 19 && fmod(x[1] - 3, 4) == 0);
        counts[(int)(x[1] - 3) / 4]++;
        cr_assert(x[2] >= 8 && x[2] <= 512 && x[2] == floor(x[2]));
        cr_assert(x[3] >= 0 && x[3] <= 1 && fmod(x[3], 0.25) == 0);
    }
    for (int k = 0; k < 5; k++) cr_assert(counts[k] > 650 && counts[k] < 950, "cell %d: %d", k, counts[k]);
    cr_assert(low_decade > 850 && low_decade < 1150, "log-uniform: %d of 4000 in the lowest of 4 decades", low_decade);
    qn_sampler_free(s);
}
