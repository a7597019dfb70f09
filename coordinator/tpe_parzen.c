/* tpe_parzen.c: TPE's Parzen estimator over one parameter (Optuna's univariate _ParzenEstimator):
 * truncated-normal kernels at the observations plus a broad prior kernel, or smoothed one-hot rows
 * for a categorical; weights by default_weights; log densities with the corrected (>= 3.5) formula. */
#include <math.h>
#include <stdint.h>
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
    free(pe->sidx), free(pe->smu), free(pe->pre_c), free(pe->pre_s), free(pe->suf_c), free(pe->suf_s);
    qn_parzen_init(pe);
}

static int reserve(qn_parzen *pe, int n, int choices) {
    if (n > pe->cap) {
        int cap = n > 2 * pe->cap ? n : 2 * pe->cap;
        double **arrays[] = {&pe->mu,   &pe->sigma, &pe->inv_sigma, &pe->c,     &pe->logz,  &pe->ub,   &pe->logw,
                             &pe->cumw, &pe->scratch, &pe->smu,     &pe->pre_c, &pe->pre_s, &pe->suf_c, &pe->suf_s};
        for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
            /* 4 spare entries: the log-sum-exp pads its lanes in scratch */
            double *p = realloc(*arrays[i], ((size_t)cap + 4) * sizeof(double));
            if (!p) return -1;
            *arrays[i] = p;
        }
        int *o = realloc(pe->order, 2 * (size_t)cap * sizeof(int)); /* the order, and the sort's buffer */
        if (!o) return -1;
        pe->order = o;
        int *si = realloc(pe->sidx, (size_t)cap * sizeof(int));
        if (!si) return -1;
        pe->sidx = si, pe->cap = cap;
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
    for (int i = 0; i < n; i++) {
        double left = pe->mu[ord[i]] - (i > 0 ? pe->mu[ord[i - 1]] : lo);
        double right = (i + 1 < n ? pe->mu[ord[i + 1]] : hi) - pe->mu[ord[i]];
        double s = left > right ? left : right;
        if (!o->consider_endpoints && n >= 2) {
            if (i == 0) s = right;
            else if (i == n - 1) s = left;
        }
        pe->sigma[ord[i]] = s;
    }
    double smax = range, smin = o->consider_magic_clip ? range / fmin(100.0, 1.0 + n) : 1e-12;
    for (int k = 0; k < n; k++) pe->sigma[k] = fmin(fmax(pe->sigma[k], smin), smax);
    pe->sigma[m] = range; /* the prior: centred, as wide as the domain */
    for (int k = 0; k < n; k++) {
        double s = pe->sigma[k], a = (lo - pe->mu[k]) / s, b = (hi - pe->mu[k]) / s;
        pe->inv_sigma[k] = 1.0 / s;
        /* beyond 9 sigma on both sides the cut tails weigh < 1e-19: log Z is 0 to double precision */
        pe->logz[k] = (a < -9 && b > 9) ? 0.0 : qn_log_gauss_mass(a, b);
        if (d->q > 0) {
            pe->c[k] = pe->logw[k] - pe->logz[k];
            pe->ub[k] = pe->c[k] + log(d->q / s) - LOG_SQRT_2PI;
        } else {
            /* Optuna 3.1-3.4 left out -log(sigma) (the density of the standardised variable) */
            pe->c[k] = pe->logw[k] - pe->logz[k] - LOG_SQRT_2PI - (o->optuna31_density ? 0.0 : log(s));
        }
    }
    if (d->q > 0) return 0; /* the sorted view serves the continuous density only */
    /* the observation kernels by mean (ord is sorted by mu; the prior, kernel m, is left out) */
    int ns = 0;
    for (int i = 0; i < n; i++)
        if (ord[i] != m) pe->sidx[ns] = ord[i], pe->smu[ns] = pe->mu[ord[i]], ns++;
    pe->ns = ns;
    for (int i = 0; i < ns; i++) {
        int k = pe->sidx[i];
        pe->pre_c[i] = i && pe->pre_c[i - 1] > pe->c[k] ? pe->pre_c[i - 1] : pe->c[k];
        pe->pre_s[i] = i && pe->pre_s[i - 1] > pe->sigma[k] ? pe->pre_s[i - 1] : pe->sigma[k];
    }
    for (int i = ns - 1; i >= 0; i--) {
        int k = pe->sidx[i];
        pe->suf_c[i] = i < ns - 1 && pe->suf_c[i + 1] > pe->c[k] ? pe->suf_c[i + 1] : pe->c[k];
        pe->suf_s[i] = i < ns - 1 && pe->suf_s[i + 1] > pe->sigma[k] ? pe->suf_s[i + 1] : pe->sigma[k];
    }
    return 0;
}

/* e^x for x in (-NEGLIGIBLE, 0], within 2 ulp of exp(): x = k ln2 + r with |r| <= ln2 / 2, a
 * degree-13 Taylor polynomial of e^r (the error term r^14 / 14! is under 1e-17), times 2^k built in
 * the exponent bits. Inline and branch-free, unlike libm's exp, which dominated TPE's time. Written
 * for four lanes (GCC vector extension: one AVX2 register, or two SSE2 ones); each lane does the
 * same IEEE operations as a scalar evaluation, so results do not depend on the instruction set. */
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));

static inline void exp_neg4(v4d *inout) { /* by pointer: a vector by value would change the ABI */
    const v4d x = *inout;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    v4d shifted = x * 1.44269504088896340736 + shifter;
    v4d k = shifted - shifter;
    v4d r = (x - k * ln2_hi) - k * ln2_lo;
    v4d p = r * (1.0 / 6227020800.0) + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* the low bits of `shifted` hold k as an integer: 2^k is (k + 1023) in the exponent field */
    const v4i shifter_bits = (v4i)(v4d){shifter, shifter, shifter, shifter};
    v4i scale = (((v4i)shifted - shifter_bits) + 1023) << 52;
    *inout = p * (v4d)scale;
}

/* e^x of one row of four lanes, lanes at or below the floor giving 0 */
static inline void masked_exp(const double *row, v4d *e) {
    const v4d floor_ = {-NEGLIGIBLE, -NEGLIGIBLE, -NEGLIGIBLE, -NEGLIGIBLE};
    v4d x;
    memcpy(&x, row, sizeof x);
    v4i live = x > floor_;
    x = (v4d)(((v4i)x & live) | ((v4i)floor_ & ~live)); /* evaluated at the floor, then masked to 0 */
    exp_neg4(&x);
    *e = (v4d)((v4i)x & live);
}

/* sum[l] += e^row[l] over rows in order, four rows at a time: four independent polynomial chains
 * hide their latency. Compiled for AVX2 and for the baseline, picked at load time. */
__attribute__((target_clones("avx2", "default"))) static void sum_exp_rows(const double *t, int rows, double sum[4]) {
    v4d s;
    memcpy(&s, sum, sizeof s);
    int j = 0;
    for (; j + 4 <= rows; j += 4) {
        const double *r = t + 4 * j;
        v4d e0, e1, e2, e3;
        masked_exp(r, &e0), masked_exp(r + 4, &e1), masked_exp(r + 8, &e2), masked_exp(r + 12, &e3);
        s += e0, s += e1, s += e2, s += e3;
    }
    for (; j < rows; j++) {
        v4d e;
        masked_exp(t + 4 * j, &e);
        s += e;
    }
    memcpy(sum, &s, sizeof s);
}

/* sum[l] += e^(t[i] - top) over i = l mod 4 in order of i, terms NEGLIGIBLE below top adding
 * nothing. t is overwritten, and must have room for cnt + 3 entries: each lane's live terms are
 * first packed (in place, in order) into slots l, l + 4, l + 8, ..., so no exponential is spent on a
 * dead term, then evaluated a row of four lanes at a time. */
static inline void add_exp_terms(double *t, int cnt, double top, double sum[4]) {
    /* branch-free: every term is written to its lane's next slot, which only a live one advances
     * (slot 4 * live[l] + l <= i: only entries already read are overwritten) */
    int n0 = 0, n1 = 0, n2 = 0, n3 = 0, i = 0; /* four counters in registers, not an array */
    for (; i + 4 <= cnt; i += 4) {
        double x0 = t[i] - top, x1 = t[i + 1] - top, x2 = t[i + 2] - top, x3 = t[i + 3] - top;
        t[4 * n0] = x0, n0 += x0 > -NEGLIGIBLE;
        t[4 * n1 + 1] = x1, n1 += x1 > -NEGLIGIBLE;
        t[4 * n2 + 2] = x2, n2 += x2 > -NEGLIGIBLE;
        t[4 * n3 + 3] = x3, n3 += x3 > -NEGLIGIBLE;
    }
    int live[4] = {n0, n1, n2, n3};
    for (; i < cnt; i++) {
        double x = t[i] - top;
        t[4 * live[i & 3] + (i & 3)] = x;
        live[i & 3] += x > -NEGLIGIBLE;
    }
    int rows = live[0];
    for (int l = 1; l < 4; l++) rows = live[l] > rows ? live[l] : rows;
    for (int l = 0; l < 4; l++)
        for (int j = live[l]; j < rows; j++) t[4 * j + l] = -NEGLIGIBLE;
    sum_exp_rows(t, rows, sum);
}

/* The continuous log density, visiting kernels outward from v in order of their means: beyond a
 * position where even the largest constant and widest kernel further out fall NEGLIGIBLE below the
 * best term so far, no kernel can add to the sum. The prior kernel is always visited. */
static double logpdf_continuous(const qn_parzen *pe, double v) {
    const int ns = pe->ns, prior = pe->n - 1;
    double *t = pe->scratch, zp = (v - pe->mu[prior]) * pe->inv_sigma[prior];
    double top = pe->c[prior] - 0.5 * zp * zp;
    int cnt = 0;
    t[cnt++] = top;
    int lo = 0, hi = ns; /* first position with mean >= v */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (pe->smu[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    for (int j = lo; j < ns; j++) {
        double dist = pe->smu[j] - v, zb = dist / pe->suf_s[j];
        if (pe->suf_c[j] - 0.5 * zb * zb < top - NEGLIGIBLE) break;
        int k = pe->sidx[j];
        double z = dist * pe->inv_sigma[k], tk = pe->c[k] - 0.5 * z * z;
        top = tk > top ? tk : top;
        t[cnt++] = tk;
    }
    for (int j = lo - 1; j >= 0; j--) {
        double dist = v - pe->smu[j], zb = dist / pe->pre_s[j];
        if (pe->pre_c[j] - 0.5 * zb * zb < top - NEGLIGIBLE) break;
        int k = pe->sidx[j];
        double z = dist * pe->inv_sigma[k], tk = pe->c[k] - 0.5 * z * z;
        top = tk > top ? tk : top;
        t[cnt++] = tk;
    }
    /* four partial sums: a chain of dependent adds would cost more than the exponentials */
    double sum[4] = {0, 0, 0, 0};
    add_exp_terms(t, cnt, top, sum);
    return top + log((sum[0] + sum[1]) + (sum[2] + sum[3]));
}

double qn_parzen_logpdf(const qn_parzen *pe, const qn_domain *d, double v) {
    if (d->categorical) {
        int c = (int)v;
        return c >= 0 && c < d->n_choices ? pe->logp_mix[c] : -INFINITY;
    }
    if (!(v >= d->lo && v <= d->hi)) return -INFINITY;
    if (d->q == 0) return logpdf_continuous(pe, v);
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
