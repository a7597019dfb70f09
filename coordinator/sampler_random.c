/* sampler_random.c: Optuna's RandomSampler: uniform, log-uniform, integer cells of equal width, a
 * uniform choice. Each suggestion draws from its own stream, keyed by (seed, trial number), so a
 * suggestion depends on nothing but the seed and the history's length. */
#include <math.h>

#include "sampler_internal.h"

void qn_sampler_rng(qn_rng *r, uint64_t seed, int trial, int stream) {
    uint64_t k = qn_splitmix64(seed ^ 0x51ed270b27f8e5a7ull);
    k = qn_splitmix64(k + (uint64_t)(uint32_t)trial);
    qn_rng_seed(r, k + (uint64_t)stream * 0x9e3779b97f4a7c15ull);
}

double qn_rng_double(qn_rng *r) { return (double)(qn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

double qn_random_value(const qn_space_param *p, qn_rng *r) {
    if (p->kind == QN_PARAM_CATEGORICAL) return (double)qn_rng_below(r, (uint64_t)p->n_choices);
    qn_domain d;
    qn_domain_of(p, &d);
    double u = qn_rng_double(r);
    if (p->kind == QN_PARAM_FLOAT && d.step == 0) {
        /* [low, high): high itself is never drawn, as in Optuna */
        double v = d.lo + u * (d.hi - d.lo);
        double x = d.log ? exp(v) : v;
        double top = nextafter(p->high, -INFINITY);
        return x < p->low ? p->low : x > top ? top : x;
    }
    /* discrete: uniform over the widened domain, then the nearest cell: every cell equally likely
     * (log int: cells equally likely in ln space) */
    return qn_domain_external(&d, d.lo + u * (d.hi - d.lo));
}

void qn_random_suggest(const qn_space *space, qn_rng *r, double *x) {
    for (int i = 0; i < space->n; i++)
        x[i] = qn_space_active(space, x, i) ? qn_random_value(&space->params[i], r) : NAN;
}
