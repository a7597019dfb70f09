/* sampler_internal.h: what the samplers share: the sampler object, parameters in TPE's internal
 * units, the truncated normal, and Parzen estimators. Not part of the public API (tests use it to
 * check the estimator against hand-computed values). */
#ifndef QN_SAMPLER_INTERNAL_H
#define QN_SAMPLER_INTERNAL_H

#include "qn_kernels.h"
#include "qn_sampler.h"

/* ---- a parameter in internal units: log params in ln space, discrete ones with a cell width ---- */
typedef struct {
    int categorical, n_choices;
    int log, is_int;
    double low, high, step; /* external bounds and step (0: continuous) */
    double lo, hi;          /* the kernels' domain in internal units (widened by half a step / cell) */
    double q;               /* internal cell width for the discrete density; 0: continuous */
} qn_domain;

void qn_domain_of(const qn_space_param *p, qn_domain *d);
double qn_domain_internal(const qn_domain *d, double x);
/* An internal value back to the parameter's units: exp for log, rounded to the step (half to even)
 * and clipped to [low, high]. */
double qn_domain_external(const qn_domain *d, double v);

/* ---- the stateless random stream of one suggestion: (seed, trial number, purpose) ---- */
enum { QN_STREAM_RANDOM = 0, QN_STREAM_TPE = 1, QN_STREAM_GRID = 2 };
void qn_sampler_rng(qn_rng *r, uint64_t seed, int trial, int stream);
double qn_rng_double(qn_rng *r); /* [0, 1) with 53 bits */
/* One value of parameter p drawn as Optuna's RandomSampler draws it. */
double qn_random_value(const qn_space_param *p, qn_rng *r);
/* Every active parameter at random (the random sampler, and TPE's startup trials). */
void qn_random_suggest(const qn_space *space, qn_rng *r, double *x);

/* ---- standard normal pieces (truncnorm.c) ---- */
double qn_log_ndtr(double a);                   /* log Phi(a), accurate in both tails */
double qn_log_gauss_mass(double a, double b);   /* log(Phi(b) - Phi(a)), a < b */
double qn_ndtri(double p);                      /* Phi^-1(p), 0 < p < 1 */
/* Inverse CDF of N(0,1) truncated to [a, b] at u in [0, 1), with a <= 0 <= b (every kernel's mean
 * lies in its domain). */
double qn_truncnorm_ppf(double u, double a, double b);

/* ---- a Parzen estimator over one parameter (tpe_parzen.c) ---- */
typedef struct {
    int n;                   /* kernels: the observations (chronological) then the prior */
    double *mu, *sigma;      /* numeric: internal means and widths */
    double *inv_sigma, *c;   /* numeric: 1/sigma and the per-kernel constant of the log density */
    double *logz;            /* numeric: log(Phi(b_k) - Phi(a_k)) over the domain */
    double *ub;              /* discrete: c + log(q / sigma) - log sqrt(2 pi), for a cheap upper bound */
    double *logw, *cumw;     /* log weights; cumulative weights for drawing a kernel */
    int weights_m;           /* logw and cumw are for this many observations */
    double weights_prior;    /* and this prior weight (0: not computed yet) */
    double *prob;            /* categorical: n x n_choices rows */
    double *logp_mix;        /* categorical: log of the mixture's probability of each choice */
    double *scratch;         /* n */
    int *order;              /* 2 cap: a sort order and its buffer */
    /* continuous: the observation kernels (the prior left out) sorted by mean, with running maxima
     * of c and sigma from the left and from the right, so that a density only visits the kernels
     * that can matter at its point (tpe_density.c); each array has 16 padding entries on both sides
     * that stop a visit, so it can read sixteen positions at a time */
    int ns;
    double *smu, *sc, *sinv; /* their means, constants c and 1/sigma */
    double *pre_c, *pre_s, *suf_c, *suf_s;
    double *sorted_block;    /* the storage of the seven arrays above */
    int *live_chunk;         /* the density's scratch: the chunks of eight terms that are live */
    double *chunk_max;       /* and an upper bound of each chunk's terms */
    int cap, cap_choices;
} qn_parzen;

void qn_parzen_init(qn_parzen *pe);
void qn_parzen_release(qn_parzen *pe);
/* Build from m internal observations (chronological). Returns 0 or -1 (out of memory). */
int qn_parzen_build(qn_parzen *pe, const qn_domain *d, const double *obs, int m, const qn_sampler_options *o);
/* The same, given the kernels' order by mean (ties by kernel, the prior last among equals: what a
 * stable sort gives), n = m + 1 entries, so that the build need not sort; NULL sorts. */
int qn_parzen_build_ordered(qn_parzen *pe, const qn_domain *d, const double *obs, int m, const qn_sampler_options *o,
                            const int *order);
/* log density (continuous) or log mass (discrete, categorical) at internal value v. */
double qn_parzen_logpdf(const qn_parzen *pe, const qn_domain *d, double v);
/* The continuous case, v inside the domain (tpe_density.c). */
double qn_parzen_logpdf_continuous(const qn_parzen *pe, double v);
/* One draw, in internal units, not yet rounded to the parameter's step. */
double qn_parzen_sample(const qn_parzen *pe, const qn_domain *d, qn_rng *r);
/* Optuna's default_weights(m): 1 for the newest 25, a ramp from 1/m up for the older ones. */
void qn_tpe_weights(int m, double *w);
/* Stable sort of idx[0..n) by key[idx[.]] ascending (tmp: n ints of scratch). */
void qn_sort_by_key(int *idx, int *tmp, int n, const double *key);
/* Optuna's default_gamma(n) = min(ceil(0.1 n), 25). */
int qn_tpe_gamma(int n);

/* ---- the sampler object ---- */
struct qn_sampler {
    qn_sampler_kind kind;
    const qn_space *space;
    qn_sampler_options o;
    /* grid */
    long n_points;
    double *points;          /* n_points x space->n */
    long *slots;             /* open-addressing table of point ids (-1 empty), n_slots */
    long n_slots;
    unsigned char *used;     /* n_points */
    /* TPE scratch */
    qn_domain *domains;
    qn_parzen below, above;
    int *idx;                /* trial indices, and the sort's buffer (2 x cap_trials) */
    unsigned char *is_below; /* per trial: 1 below, 2 above, 0 neither (sampler_tpe.c) */
    double *obs_below, *obs_above; /* cap_trials (obs_below: 2 cap_trials, the rest scratch) */
    int *kernel_of;          /* per trial: its kernel in its estimator (cap_trials) */
    unsigned char *group;    /* per trial: 0 none, 1 below, 2 above (cap_trials) */
    int *order_below, *order_above; /* the kernels by mean (cap_trials + 2) */
    int cap_trials;
    /* TPE, kept across suggestions (tpe_obs_order.c): per parameter, the trials that have a value,
     * sorted by (internal value, trial), so no estimator has to sort its observations */
    int seen;                /* trials of the history folded in */
    double *seen_x;          /* their parameters as folded in (seen x D): a changed history restarts */
    int *sorted_trial;       /* (D + 1) x cap_seen: slot D holds the DONE trials by loss */
    double *sorted_key;      /* (D + 1) x cap_seen */
    int *n_sorted;           /* D + 1 */
    int cap_seen;
};

/* Folds trials seen..h->n - 1 into the per-parameter orders (from scratch if the trials already
 * folded in changed); 0, or -1 out of memory. */
int qn_tpe_order_update(qn_sampler *s, const qn_history *h);
/* The DONE trials of h (state DONE, value not NaN) by loss, ties by trial number, into idx (room
 * for h->n); member: h->n bytes of scratch. Returns their count, or -1 (out of memory). */
int qn_tpe_loss_order(qn_sampler *s, const qn_history *h, int *idx, unsigned char *member);

int qn_grid_build(qn_sampler *s, char *err, size_t errlen);
int qn_grid_suggest(qn_sampler *s, const qn_history *h, double *x);
int qn_tpe_suggest(qn_sampler *s, const qn_history *h, double *x, char *err, size_t errlen);

#endif
