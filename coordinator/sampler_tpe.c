/* sampler_tpe.c: Optuna's univariate TPE (TPESampler defaults, group=False): random for the first
 * n_startup_trials; then per parameter, the DONE trials ranked by objective are split into the best
 * gamma(n) ("below") and the rest ("above", with RUNNING trials under the constant liar), a Parzen
 * estimator is fitted to each, and of n_ei_candidates draws from l the one with the largest
 * log l(x) - log g(x) wins. A parameter's observations are the trials where it was present. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_internal.h"

static int reserve_trials(qn_sampler *s, int n) {
    if (n <= s->cap_trials) return 0;
    int cap = n > 2 * s->cap_trials ? n : 2 * s->cap_trials;
    int *idx = realloc(s->idx, 2 * (size_t)cap * sizeof *idx);
    if (!idx) return -1;
    s->idx = idx;
    unsigned char *b = realloc(s->is_below, (size_t)cap);
    if (!b) return -1;
    s->is_below = b;
    /* from cap on: where the gathering writes the values of non-observations */
    double *ob = realloc(s->obs_below, 2 * (size_t)cap * sizeof *ob);
    if (!ob) return -1;
    s->obs_below = ob;
    double *oa = realloc(s->obs_above, (size_t)cap * sizeof *oa);
    if (!oa) return -1;
    s->obs_above = oa;
    int *ko = realloc(s->kernel_of, (size_t)cap * sizeof *ko);
    if (!ko) return -1;
    s->kernel_of = ko;
    unsigned char *g = realloc(s->group, (size_t)cap);
    if (!g) return -1;
    s->group = g;
    /* the prior, and one spare: the gathering writes past an order's end */
    int *ob2 = realloc(s->order_below, ((size_t)cap + 2) * sizeof *ob2);
    if (!ob2) return -1;
    s->order_below = ob2;
    int *oa2 = realloc(s->order_above, ((size_t)cap + 2) * sizeof *oa2);
    if (!oa2) return -1;
    s->order_above = oa2;
    s->cap_trials = cap;
    return 0;
}

static int is_done(const qn_history *h, int i) { return h->state[i] == QN_TRIAL_DONE && !isnan(h->value[i]); }

int qn_tpe_suggest(qn_sampler *s, const qn_history *h, double *x, char *err, size_t errlen) {
    const qn_space *sp = s->space;
    const int D = sp->n, N = h->n;
    const qn_sampler_options *o = &s->o;
    int n_done = 0;
    for (int i = 0; i < N; i++) n_done += is_done(h, i);
    qn_rng r;
    if (n_done < o->n_startup_trials) {
        /* the same stream as the random sampler's: a seeded TPE study starts as a random one */
        qn_sampler_rng(&r, o->seed, N, QN_STREAM_RANDOM);
        qn_random_suggest(sp, &r, x);
        return 0;
    }
    if (reserve_trials(s, N) || qn_tpe_order_update(s, h)) return snprintf(err, errlen, "out of memory"), -1;

    /* rank DONE trials by loss (ties by trial number) and mark the best gamma(n) */
    const int k = qn_tpe_loss_order(s, h, s->idx, s->group);
    if (k < 0) return snprintf(err, errlen, "out of memory"), -1;
    /* each trial's estimator, the same for every parameter where it has a value: 1 below, 2 above
     * (RUNNING trials too under the constant liar: as bad as it gets), 0 neither */
    unsigned char *cls = s->is_below;
    for (int i = 0; i < N; i++)
        cls[i] = is_done(h, i) ? 2 : h->state[i] == QN_TRIAL_RUNNING && o->constant_liar ? 2 : 0;
    const int n_below = qn_tpe_gamma(n_done);
    for (int j = 0; j < n_below && j < k; j++) cls[s->idx[j]] = 1;

    qn_sampler_rng(&r, o->seed, N, QN_STREAM_TPE);
    int mb = 0, ma = 0, all_present_ready = 0;
    for (int p = 0; p < D; p++) {
        if (!qn_space_active(sp, x, p)) {
            x[p] = NAN;
            continue;
        }
        const qn_domain *d = &s->domains[p];
        /* each observation's kernel: its rank among its estimator's observations by trial number
         * (a trial where p is absent is not an observation of p). The same for every parameter
         * that every trial has (its kept order holds them all): then kept from the last one. */
        const int present_in_all = s->n_sorted[p] == N;
        if (!(present_in_all && all_present_ready)) {
            mb = 0, ma = 0;
            for (int i = 0; i < N; i++) {
                int g = present_in_all || !isnan(h->x[(size_t)i * D + p]) ? cls[i] : 0;
                s->group[i] = (unsigned char)g;
                s->kernel_of[i] = g == 1 ? mb : ma;
                mb += g == 1, ma += g == 2;
            }
            all_present_ready = present_in_all;
        }
        /* each estimator's kernels by mean and their values, from the parameter's kept order (its
         * keys are the internal values): the prior (the last kernel, at the domain's centre) goes
         * after every observation not above the centre. Branch-free: every entry is written to
         * both orders, and only its own estimator's count advances. */
        const int *tr = s->sorted_trial + (size_t)p * s->cap_seen;
        const double *key = s->sorted_key + (size_t)p * s->cap_seen, centre = 0.5 * (d->lo + d->hi);
        const int n_sorted = s->n_sorted[p];
        int split = 0, len = n_sorted; /* the first key above the centre */
        while (len > 0) {
            int half = len / 2;
            if (key[split + half] <= centre) split += half + 1, len -= half + 1;
            else len = half;
        }
        double *obs_of[3] = {s->obs_below + s->cap_trials, s->obs_below, s->obs_above};
        int nb = 0, na = 0;
        for (int j = 0; j < n_sorted; j++) {
            if (j == split) s->order_below[nb++] = mb, s->order_above[na++] = ma;
            const int i = tr[j], g = s->group[i], kk = s->kernel_of[i];
            obs_of[g][kk] = key[j];
            s->order_below[nb] = kk, s->order_above[na] = kk;
            nb += g == 1, na += g == 2;
        }
        if (split == n_sorted) s->order_below[nb++] = mb, s->order_above[na++] = ma;
        if (qn_parzen_build_ordered(&s->below, d, s->obs_below, mb, o, s->order_below) ||
            qn_parzen_build_ordered(&s->above, d, s->obs_above, ma, o, s->order_above))
            return snprintf(err, errlen, "out of memory"), -1;
        double best = -INFINITY, best_x = NAN;
        for (int c = 0; c < o->n_ei_candidates; c++) {
            double ext = qn_domain_external(d, qn_parzen_sample(&s->below, d, &r));
            double v = qn_domain_internal(d, ext); /* scored where it lands after rounding */
            double score = qn_parzen_logpdf(&s->below, d, v) - qn_parzen_logpdf(&s->above, d, v);
            if (c == 0 || score > best) best = score, best_x = ext;
        }
        x[p] = best_x;
    }
    return 0;
}
