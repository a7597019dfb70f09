/* tpe_parzen.c: TPE's Parzen estimator over one parameter (Optuna's univariate _ParzenEstimator):
 * truncated-normal kernels at the observations plus a broad prior kernel, or smoothed one-hot rows
 * for a categorical; weights by default_weights; log densities with the corrected (>= 3.5) formula
 * (the continuous one in tpe_density.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_internal.h"

#define LOG_SQRT_2PI 0.91893853320467274178
/* A kernel whose log term is this far below the largest adds less than e^-40 ~ 4e-18 of it: skip its
 * exp (and, for discrete kernels, its two erfc), the difference is below double precision. */
#define NEGLIGIBLE 40.0

void qn_tpe_weights(int m, double *w) {
    int ramp = m > 25 ? m - 25 : 0;
    /* numpy linspace(1/m, 1, ramp): the older observations count less */
    for (int i = 0; i < ramp; i++) w[i] = ramp == 1 ? 1.0 / m : 1.0 / m + (1.0 - 1.0 / m) * i / (ramp - 1);
    for (int i = ramp; i < m; i++) w[i] = 1.0;
}

int qn_tpe_gamma(int n) {
    int g = (int)ceil(0.1 * n); /* the same double arithmetic as Python's math.ceil(0.1 * n) */
    return g < 25 ? g : 25;
}

void qn_parzen_init(qn_parzen *pe) { memset(pe, 0, sizeof *pe); }

void qn_parzen_release(qn_parzen *pe) {
    free(pe->mu), free(pe->sigma), free(pe->inv_sigma), free(pe->c), free(pe->logz), free(pe->ub);
    free(pe->logw), free(pe->cumw), free(pe->prob), free(pe->logp_mix), free(pe->scratch), free(pe->order);
    free(pe->sorted_block), free(pe->live_chunk), free(pe->chunk_max);
    qn_parzen_init(pe);
}

enum { PAD = 16 }; /* the sorted view's padding on each side: a visit reads sixteen positions at a time */

static int reserve(qn_parzen *pe, int n, int choices) {
    if (n > pe->cap) {
        int cap = n > 2 * pe->cap ? n : 2 * pe->cap;
        double **arrays[] = {&pe->mu, &pe->sigma, &pe->inv_sigma, &pe->c, &pe->logz, &pe->ub, &pe->logw, &pe->cumw,
                             &pe->scratch};
        for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
            /* 16 spare entries: the density stores its terms in scratch sixteen at a time */
            double *p = realloc(*arrays[i], ((size_t)cap + 16) * sizeof(double));
            if (!p) return -1;
            *arrays[i] = p;
        }
        int *o = realloc(pe->order, 2 * (size_t)cap * sizeof(int)); /* the order, and the sort's buffer */
        if (!o) return -1;
        pe->order = o;
        const size_t stride = (size_t)cap + 2 * PAD;
        double *b = realloc(pe->sorted_block, 7 * stride * sizeof(double));
        if (!b) return -1;
        pe->sorted_block = b;
        int *lc = realloc(pe->live_chunk, ((size_t)cap / 8 + 3) * sizeof(int));
        if (!lc) return -1;
        pe->live_chunk = lc;
        double *cm = realloc(pe->chunk_max, ((size_t)cap / 8 + 5) * sizeof(double));
        if (!cm) return -1;
        pe->chunk_max = cm;
        double **views[] = {&pe->smu, &pe->sc, &pe->sinv, &pe->pre_c, &pe->pre_s, &pe->suf_c, &pe->suf_s};
        for (int i = 0; i < 7; i++) *views[i] = b + i * stride + PAD;
        pe->cap = cap;
        pe->cap_choices = 0; /* prob's size depends on cap */
    }
    if (choices > pe->cap_choices) {
        double *p = realloc(pe->prob, (size_t)pe->cap * (size_t)choices * sizeof(double));
        if (!p) return -1;
        pe->prob = p;
        double *l = realloc(pe->logp_mix, (size_t)choices * sizeof(double));
        if (!l) return -1;
        pe->logp_mix = l, pe->cap_choices = choices;
    }
    return 0;
}

/* Stable sort of idx[0..n) by key (tmp: n ints): insertion sort on runs of 16, then bottom-up
 * merges that alternate between the two buffers. Stable, so ties keep kernel order (the prior
 * last), as Optuna's argsort does on this data, and tied kernels get the widths Optuna gives them. */
void qn_sort_by_key(int *idx, int *tmp, int n, const double *key) {
    enum { RUN = 16 };
    for (int lo = 0; lo < n; lo += RUN) {
        int hi = lo + RUN < n ? lo + RUN : n;
        for (int i = lo + 1; i < hi; i++) {
            int v = idx[i], j = i;
            double kv = key[v];
            while (j > lo && key[idx[j - 1]] > kv) idx[j] = idx[j - 1], j--;
            idx[j] = v;
        }
    }
    int *src = idx, *dst = tmp;
    for (int width = RUN; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = key[src[j]] < key[src[i]] ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        int *t = src;
        src = dst, dst = t;
    }
    if (src != idx) memcpy(idx, src, (size_t)n * sizeof *idx);
}

int qn_parzen_build(qn_parzen *pe, const qn_domain *d, const double *obs, int m, const qn_sampler_options *o) {
    return qn_parzen_build_ordered(pe, d, obs, m, o, NULL);
}

int qn_parzen_build_ordered(qn_parzen *pe, const qn_domain *d, const double *obs, int m, const qn_sampler_options *o,
                            const int *order) {
    const int n = m + 1; /* the prior kernel is always there (Optuna's consider_prior=True) */
    if (reserve(pe, n, d->categorical ? d->n_choices : 0)) return -1;
    pe->n = n;
    /* the weights depend on m and the prior weight only: the same for most parameters in turn */
    if (pe->weights_m != m || pe->weights_prior != o->prior_weight) {
        double *w = pe->scratch;
        qn_tpe_weights(m, w);
        w[m] = o->prior_weight;
        double total = 0;
        for (int k = 0; k < n; k++) total += w[k];
        double acc = 0;
        for (int k = 0; k < n; k++) {
            pe->logw[k] = log(w[k] / total);
            acc += w[k] / total;
            pe->cumw[k] = acc;
        }
        pe->weights_m = m, pe->weights_prior = o->prior_weight;
    }
    if (d->categorical) {
        /* each row: prior_weight/n everywhere, +1 at the observed choice, normalised; the prior row
         * is uniform */
        const int C = d->n_choices;
        double fill = o->prior_weight / n;
        for (int k = 0; k < n; k++) {
            double *row = pe->prob + (size_t)k * C;
            for (int c = 0; c < C; c++) row[c] = fill;
            if (k < m) row[(int)obs[k]] += 1.0;
            double s = 0;
            for (int c = 0; c < C; c++) s += row[c];
            for (int c = 0; c < C; c++) row[c] /= s;
        }
        for (int c = 0; c < C; c++) {
            double p = 0;
            for (int k = 0; k < n; k++) p += exp(pe->logw[k]) * pe->prob[(size_t)k * C + c];
            pe->logp_mix[c] = log(p);
        }
        return 0;
    }
    const double lo = d->lo, hi = d->hi, range = hi - lo;
    for (int k = 0; k < m; k++) pe->mu[k] = obs[k];
    pe->mu[m] = 0.5 * (lo + hi);
    /* width of each mean: the larger gap to its sorted neighbours, the domain's ends as outer
     * neighbours; without consider_endpoints the outermost means use their inner gap only */
    int *ord = pe->order;
    if (order) memcpy(ord, order, (size_t)n * sizeof *ord);
    else {
        for (int k = 0; k < n; k++) ord[k] = k;
        qn_sort_by_key(ord, ord + pe->cap, n, pe->mu);
    }
    const double smax = range, smin = o->consider_magic_clip ? range / fmin(100.0, 1.0 + n) : 1e-12;
    const double log_density = !o->optuna31_density; /* Optuna 3.1-3.4 left out -log(sigma) */
    /* most widths are the clip's minimum: 1/s and log(s) once per run of equal widths */
    double last_s = NAN, last_inv = 0, last_log = 0;
    double prev_mu = lo, mu = n > 0 ? pe->mu[ord[0]] : 0;
    int ns = 0;
    for (int i = 0; i < n; i++) {
        const int k = ord[i];
        const double next_mu = i + 1 < n ? pe->mu[ord[i + 1]] : hi;
        double s;
        if (k == m) s = range; /* the prior: centred, as wide as the domain */
        else {
            double left = mu - prev_mu, right = next_mu - mu;
            s = left > right ? left : right;
            if (!o->consider_endpoints && n >= 2) {
                if (i == 0) s = right;
                else if (i == n - 1) s = left;
            }
            /* fmin(fmax(s, smin), smax) without the calls: s is a finite width, smin > 0 */
            s = s > smin ? s : smin;
            s = s < smax ? s : smax;
        }
        pe->sigma[k] = s;
        if (s != last_s) last_s = s, last_inv = 1.0 / s, last_log = log(s);
        pe->inv_sigma[k] = last_inv;
        /* beyond 9 sigma on both sides the cut tails weigh < 1e-19: log Z is 0 to double precision.
         * Far inside (9.5 sigma, with room for rounding) that needs no division. */
        if (mu - lo > 9.5 * s && hi - mu > 9.5 * s) pe->logz[k] = 0.0;
        else {
            const double a = (lo - mu) / s, b = (hi - mu) / s;
            pe->logz[k] = (a < -9 && b > 9) ? 0.0 : qn_log_gauss_mass(a, b);
        }
        if (d->q > 0) {
            pe->c[k] = pe->logw[k] - pe->logz[k];
            pe->ub[k] = pe->c[k] + log(d->q / s) - LOG_SQRT_2PI;
        } else {
            pe->c[k] = pe->logw[k] - pe->logz[k] - LOG_SQRT_2PI - (log_density ? last_log : 0.0);
            /* the sorted view: pre_s holds each kernel's sigma until the running maxima below */
            if (k != m) pe->smu[ns] = mu, pe->sc[ns] = pe->c[k], pe->sinv[ns] = last_inv, pe->pre_s[ns] = s, ns++;
        }
        prev_mu = mu, mu = next_mu;
    }
    if (d->q > 0) return 0; /* the sorted view serves the continuous density only */
    /* the observation kernels by mean (the prior left out), with running maxima of c and sigma
     * from the right (suf_) and from the left (pre_) */
    pe->ns = ns;
    double run_c = -INFINITY, run_s = -INFINITY;
    for (int i = ns - 1; i >= 0; i--) {
        double c = pe->sc[i], s = pe->pre_s[i];
        run_c = run_c > c ? run_c : c, run_s = run_s > s ? run_s : s;
        pe->suf_c[i] = run_c, pe->suf_s[i] = run_s;
    }
    run_c = -INFINITY, run_s = -INFINITY;
    for (int i = 0; i < ns; i++) {
        double c = pe->sc[i], s = pe->pre_s[i];
        run_c = run_c > c ? run_c : c, run_s = run_s > s ? run_s : s;
        pe->pre_c[i] = run_c, pe->pre_s[i] = run_s;
    }
    /* the padding: kernels whose bound is -inf stop a visit there */
    double *const views[] = {pe->smu, pe->sc, pe->sinv, pe->pre_c, pe->pre_s, pe->suf_c, pe->suf_s};
    const double fill[] = {0.0, -INFINITY, 0.0, -INFINITY, 1.0, -INFINITY, 1.0};
    for (int a = 0; a < 7; a++)
        for (int i = 0; i < PAD; i++) views[a][-1 - i] = views[a][ns + i] = fill[a];
    return 0;
}

double qn_parzen_logpdf(const qn_parzen *pe, const qn_domain *d, double v) {
    if (d->categorical) {
        int c = (int)v;
        return c >= 0 && c < d->n_choices ? pe->logp_mix[c] : -INFINITY;
    }
    if (!(v >= d->lo && v <= d->hi)) return -INFINITY;
    if (d->q == 0) return qn_parzen_logpdf_continuous(pe, v);
    /* discrete: the mass of the cell [v - q/2, v + q/2] costs two erfc: bound it first by the cell's
     * width times the density at its point nearest the mean, and compute only kernels whose bound
     * reaches within NEGLIGIBLE of the best exact term */
    const int n = pe->n;
    double *t = pe->scratch, top = -INFINITY;
    const double h = 0.5 * d->q;
    int best = 0;
    for (int k = 0; k < n; k++) {
        double dist = fabs(v - pe->mu[k]) - h;
        double z = dist > 0 ? dist * pe->inv_sigma[k] : 0.0;
        double ub = pe->ub[k] - 0.5 * z * z;
        t[k] = ub < pe->c[k] ? ub : pe->c[k]; /* a mass is also at most 1 */
        if (t[k] > t[best]) best = k;
    }
    double floor_ = -INFINITY;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < n; k++) {
            if ((pass == 0) != (k == best)) continue;
            if (t[k] < floor_) {
                t[k] = -INFINITY;
                continue;
            }
            double a = (v - h - pe->mu[k]) * pe->inv_sigma[k], b = (v + h - pe->mu[k]) * pe->inv_sigma[k];
            t[k] = pe->c[k] + qn_log_gauss_mass(a, b);
            if (pass == 0) floor_ = t[k] - NEGLIGIBLE;
            top = t[k] > top ? t[k] : top;
        }
    if (top == -INFINITY) return -INFINITY;
    double sum = 0;
    for (int k = 0; k < n; k++)
        if (t[k] > top - NEGLIGIBLE) sum += exp(t[k] - top);
    return top + log(sum);
}

double qn_parzen_sample(const qn_parzen *pe, const qn_domain *d, qn_rng *r) {
    /* the kernel: first cumulative weight above u (numpy's searchsorted side='right') */
    double u = qn_rng_double(r) * pe->cumw[pe->n - 1];
    int lo = 0, hi = pe->n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (pe->cumw[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    const int k = lo;
    double u2 = qn_rng_double(r);
    if (d->categorical) {
        const double *row = pe->prob + (size_t)k * d->n_choices;
        double acc = 0;
        for (int c = 0; c < d->n_choices; c++) {
            acc += row[c];
            if (u2 < acc) return c;
        }
        return d->n_choices - 1;
    }
    double s = pe->sigma[k], mu = pe->mu[k];
    double x = mu + s * qn_truncnorm_ppf(u2, (d->lo - mu) / s, (d->hi - mu) / s);
    return x < d->lo ? d->lo : x > d->hi ? d->hi : x;
}
