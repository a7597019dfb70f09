/* placement.c: the list schedulers of qn_placement.h. One min-heap of free times per device kind: a
 * trial only needs the earliest-free device of each kind, so placing one costs O(kinds x log devices),
 * which keeps the coordinator's share small at 1,000 workers and 100,000 trials. */
#include <stdlib.h>

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

double qn_schedule_lower_bound(const qn_sched_problem *p) {
    int K = p->nkinds;
    double cap = 0, work = 0, longest = 0;
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
        if (w < 0) return -1;
        work += w;
        if (f > longest) longest = f;
    }
    double fluid = cap > 0 ? work / cap : 0;
    return fluid > longest ? fluid : longest;
}
