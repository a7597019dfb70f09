/* placement.c: the list schedulers of qn_placement.h. One min-heap of free times per device kind: a
 * trial only needs the earliest-free device of each kind, so placing one costs O(kinds x log devices),
 * which keeps the coordinator's share small at 1,000 workers and 100,000 trials. */
#include <stdlib.h>
#include <string.h>

#include "qn_placement.h"

typedef struct {
    double *t;
    int n;
} heap;

static void sift_down(heap *h, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->t[l] < h->t[m]) m = l;
        if (r < h->n && h->t[r] < h->t[m]) m = r;
        if (m == i) return;
        double x = h->t[i];
        h->t[i] = h->t[m], h->t[m] = x, i = m;
    }
}

static const double *sort_key; /* qsort has no context argument in C17 */
static int by_key_desc(const void *a, const void *b) {
    double x = sort_key[*(const int64_t *)a], y = sort_key[*(const int64_t *)b];
    if (x != y) return x < y ? 1 : -1;
    return *(const int64_t *)a < *(const int64_t *)b ? -1 : 1; /* stable by id */
}

static double fastest(const qn_sched_problem *p, int64_t t) {
    double best = -1;
    for (int k = 0; k < p->nkinds; k++) {
        double s = p->seconds[t * p->nkinds + k];
        if (p->count[k] > 0 && s >= 0 && (best < 0 || s < best)) best = s;
    }
    return best;
}

double qn_schedule(const qn_sched_problem *p, qn_sched_policy policy, int *kind_of, double *start) {
    int K = p->nkinds;
    int64_t n = p->ntrials, total = 0;
    for (int k = 0; k < K; k++) total += p->count[k] > 0 ? p->count[k] : 0;
    heap *h = calloc((size_t)K, sizeof *h);
    double *pool = calloc((size_t)(total ? total : 1), sizeof *pool);
    int64_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    double *key = malloc((size_t)(n ? n : 1) * sizeof *key);
    double makespan = -1;
    if (!h || !pool || !order || !key) goto done;
    for (int k = 0, off = 0; k < K; k++) {
        h[k].t = pool + off, h[k].n = p->count[k] > 0 ? p->count[k] : 0; /* all free at 0 */
        off += h[k].n;
    }
    for (int64_t t = 0; t < n; t++) {
        order[t] = t;
        key[t] = fastest(p, t);
        if (key[t] < 0) goto done;
    }
    if (policy == QN_SCHED_LPT) {
        sort_key = key;
        qsort(order, (size_t)n, sizeof *order, by_key_desc);
    }
    makespan = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t t = order[i];
        int best = -1;
        double best_v = 0;
        for (int k = 0; k < K; k++) {
            double s = p->seconds[t * K + k];
            if (!h[k].n || s < 0) continue;
            /* lpt: where it finishes first; fifo: where it starts first (first device idle) */
            double v = policy == QN_SCHED_LPT ? h[k].t[0] + s : h[k].t[0];
            if (best < 0 || v < best_v) best = k, best_v = v;
        }
        double s0 = h[best].t[0], end = s0 + p->seconds[t * K + best];
        if (kind_of) kind_of[t] = best;
        if (start) start[t] = s0;
        h[best].t[0] = end;
        sift_down(&h[best], 0);
        if (end > makespan) makespan = end;
    }
done:
    free(h), free(pool), free(order), free(key);
    return makespan;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Counting bound: a trial runs whole on one device, so in time T a device of kind k completes at most
 * m_k(T) trials, the most of the shortest ones (on k) that fit in T. T is infeasible when the devices
 * together cannot complete every trial: sum_k count_k m_k(T) < n. It is what makes the bound tight
 * for a few rounds of similar trials, where the fluid bound pretends trials split across devices.
 * Smallest feasible T by bisection between lo (a bound) and hi (feasible); -1 when out of memory. */
static double counting_bound(const qn_sched_problem *p, double lo, double hi) {
    int K = p->nkinds;
    int64_t n = p->ntrials;
    double *prefix = malloc((size_t)K * (size_t)(n + 1) * sizeof *prefix);
    int64_t *len = calloc((size_t)K, sizeof *len);
    if (!prefix || !len) {
        free(prefix), free(len);
        return -1;
    }
    for (int k = 0; k < K; k++) {
        double *pk = prefix + (size_t)k * (size_t)(n + 1);
        if (p->count[k] <= 0) continue;
        for (int64_t t = 0; t < n; t++)
            if (p->seconds[t * K + k] >= 0) pk[1 + len[k]++] = p->seconds[t * K + k];
        qsort(pk + 1, (size_t)len[k], sizeof *pk, by_value);
        pk[0] = 0;
        for (int64_t i = 1; i <= len[k]; i++) pk[i] += pk[i - 1];
    }
    for (int iter = 0; iter < 60 && hi - lo > 1e-9 * hi; iter++) {
        double T = 0.5 * (lo + hi), done = 0;
        for (int k = 0; k < K && done < (double)n; k++) {
            const double *pk = prefix + (size_t)k * (size_t)(n + 1);
            int64_t a = 0, b = len[k]; /* largest m with pk[m] <= T */
            while (a < b) {
                int64_t m = (a + b + 1) / 2;
                if (pk[m] <= T) a = m;
                else b = m - 1;
            }
            done += (double)p->count[k] * (double)a;
        }
        if (done >= (double)n) hi = T;
        else lo = T;
    }
    free(prefix), free(len);
    return lo;
}

static int by_value_desc(const void *a, const void *b) { return by_value(b, a); }

/* Preemptive bound (Horvath, Lam and Sethi's for uniform machines): a trial runs on one device at a
 * time, so the j trials of most work (speed x seconds, at least w_t wherever they run) are served
 * at most by the j fastest devices: T >= sum of the j largest w / sum of the j largest speeds, for
 * every j. It is what stays of the fluid bound when a few long trials can use only a few devices. */
static double preemptive_bound(const qn_sched_problem *p, const double *least_work) {
    int K = p->nkinds;
    int64_t n = p->ntrials;
    double *w = malloc((size_t)(n ? n : 1) * sizeof *w);
    double *spd = malloc((size_t)K * sizeof *spd);
    if (!w || !spd) {
        free(w), free(spd);
        return -1;
    }
    memcpy(w, least_work, (size_t)n * sizeof *w);
    qsort(w, (size_t)n, sizeof *w, by_value_desc);
    int nk = 0;
    for (int k = 0; k < K; k++)
        if (p->count[k] > 0) spd[nk++] = p->speed[k];
    qsort(spd, (size_t)nk, sizeof *spd, by_value_desc);
    double best = 0, work = 0, speed = 0;
    int64_t j = 0;
    for (int i = 0; i < nk && j < n; i++) {
        int cnt = 0;
        for (int k = 0; k < K; k++) /* devices of this speed, whichever kinds share it */
            if (p->count[k] > 0 && p->speed[k] == spd[i]) cnt += p->count[k];
        while (i + 1 < nk && spd[i + 1] == spd[i]) i++;
        for (int c = 0; c < cnt && j < n; c++, j++) {
            work += w[j], speed += spd[i];
            if (work / speed > best) best = work / speed;
        }
    }
    free(w), free(spd);
    return best;
}

double qn_schedule_lower_bound(const qn_sched_problem *p) { return qn_schedule_lower_bound_ex(p, NULL); }

double qn_schedule_lower_bound_ex(const qn_sched_problem *p, int *optimal) {
    if (optimal) *optimal = 0;
    int K = p->nkinds;
    double cap = 0, work = 0, longest = 0;
    double *least_work = malloc((size_t)(p->ntrials ? p->ntrials : 1) * sizeof *least_work);
    if (!least_work) return -1;
    for (int k = 0; k < K; k++)
        if (p->count[k] > 0) cap += p->count[k] * p->speed[k];
    for (int64_t t = 0; t < p->ntrials; t++) {
        /* a trial's least work, in speed x seconds, over the kinds it fits: sum over kinds of
         * (load on k) x speed_k <= T x cap, so T >= sum of these / cap */
        double w = -1;
        for (int k = 0; k < K; k++) {
            double s = p->seconds[t * K + k];
            if (p->count[k] > 0 && s >= 0 && (w < 0 || s * p->speed[k] < w)) w = s * p->speed[k];
        }
        double f = fastest(p, t);
        if (w < 0) {
            free(least_work);
            return -1;
        }
        least_work[t] = w;
        work += w;
        if (f > longest) longest = f;
    }
    double fluid = cap > 0 ? work / cap : 0;
    double bound = fluid > longest ? fluid : longest;
    double preemptive = preemptive_bound(p, least_work);
    free(least_work);
    if (preemptive < 0) return -1;
    if (preemptive > bound) bound = preemptive;
    /* any schedule's makespan is feasible for the counting test: LPT's bounds the search from above */
    double feasible = qn_schedule(p, QN_SCHED_LPT, NULL, NULL);
    if (feasible < 0) return -1;
    if (feasible > bound) {
        double counted = counting_bound(p, bound, feasible);
        if (counted < 0) return -1;
        if (counted > bound) bound = counted;
    }
    /* few classes of equal trials: the optimum itself, where the bounds above stay a few % below it
     * (long and short trials mixed on devices of several speeds) */
    int exact = 0;
    if (feasible > bound * (1 + 1e-9)) {
        double opt;
        exact = qn_schedule_optimum(p, bound, feasible, &opt);
        if (exact < 0) return -1;
        if (opt > bound) bound = opt;
    }
    if (optimal) *optimal = exact == 1 || bound >= feasible * (1 - 1e-9);
    return bound;
}
