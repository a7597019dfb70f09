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
    double *ob = realloc(s->obs_below, (size_t)cap * sizeof *ob);
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
    int *ob2 = realloc(s->order_below, ((size_t)cap + 1) * sizeof *ob2);
    if (!ob2) return -1;
    s->order_below = ob2;
    int *oa2 = realloc(s->order_above, ((size_t)cap + 1) * sizeof *oa2);
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
    double *loss = s->obs_above; /* scratch until the per-parameter gathering */
    int k = 0;
    for (int i = 0; i < N; i++) {
        loss[i] = is_done(h, i) ? (o->maximize ? -h->value[i] : h->value[i]) : 0.0;
        if (is_done(h, i)) s->idx[k++] = i;
    }
    qn_sort_by_key(s->idx, s->idx + s->cap_trials, k, loss);
    if (N > 0) memset(s->is_below, 0, (size_t)N);
    const int n_below = qn_tpe_gamma(n_done);
    for (int j = 0; j < n_below && j < k; j++) s->is_below[s->idx[j]] = 1;

    qn_sampler_rng(&r, o->seed, N, QN_STREAM_TPE);
    for (int p = 0; p < D; p++) {
        if (!qn_space_active(sp, x, p)) {
            x[p] = NAN;
            continue;
        }
        const qn_domain *d = &s->domains[p];
        int mb = 0, ma = 0;
        for (int i = 0; i < N; i++) {
            double v = h->x[(size_t)i * D + p];
            s->group[i] = 0;
            if (isnan(v)) continue; /* absent in that trial: not an observation of p */
            if (is_done(h, i)) {
                double iv = qn_domain_internal(d, v);
                if (s->is_below[i]) s->group[i] = 1, s->kernel_of[i] = mb, s->obs_below[mb++] = iv;
                else s->group[i] = 2, s->kernel_of[i] = ma, s->obs_above[ma++] = iv;
            } else if (h->state[i] == QN_TRIAL_RUNNING && o->constant_liar) {
                /* the lie: as bad as it gets */
                s->group[i] = 2, s->kernel_of[i] = ma, s->obs_above[ma++] = qn_domain_internal(d, v);
            }
        }
        /* each estimator's kernels by mean, from the parameter's kept order: the prior (the last
         * kernel, at the domain's centre) goes after every observation not above the centre */
        const int *tr = s->sorted_trial + (size_t)p * s->cap_seen;
        const double *key = s->sorted_key + (size_t)p * s->cap_seen, centre = 0.5 * (d->lo + d->hi);
        int nb = 0, na = 0, prior_b = 0, prior_a = 0;
        for (int j = 0; j < s->n_sorted[p]; j++) {
            int i = tr[j];
            if (s->group[i] == 1) {
                if (!prior_b && centre < key[j]) s->order_below[nb++] = mb, prior_b = 1;
                s->order_below[nb++] = s->kernel_of[i];
            } else if (s->group[i] == 2) {
                if (!prior_a && centre < key[j]) s->order_above[na++] = ma, prior_a = 1;
                s->order_above[na++] = s->kernel_of[i];
            }
        }
        if (!prior_b) s->order_below[nb++] = mb;
        if (!prior_a) s->order_above[na++] = ma;
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
