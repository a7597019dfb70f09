/* tpe_obs_order.c: per parameter, the trials that have a value, sorted by (internal value, trial)
 * and kept across suggestions: a new trial is inserted where a stable sort would put it, so TPE's
 * estimators get their kernels' order by mean without sorting ~n observations twice per parameter
 * per suggestion (a fifth of TPE's time at 1000 trials). The history is normally only appended to;
 * if a trial already folded in changed its parameters, the orders start over. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_internal.h"

static int reserve_seen(qn_sampler *s, int n) {
    const int D = s->space->n;
    if (n <= s->cap_seen) return 0;
    int cap = n > 2 * s->cap_seen ? n : 2 * s->cap_seen;
    double *sx = realloc(s->seen_x, (size_t)cap * D * sizeof *sx);
    if (!sx) return -1;
    s->seen_x = sx;
    /* the per-parameter blocks change stride: copy each into a new array */
    int *tr = malloc((size_t)cap * D * sizeof *tr);
    double *key = malloc((size_t)cap * D * sizeof *key);
    int *ns = s->n_sorted ? s->n_sorted : calloc((size_t)D, sizeof *ns);
    if (!tr || !key || !ns) return free(tr), free(key), -1;
    s->n_sorted = ns;
    for (int p = 0; p < D; p++) {
        if (!ns[p]) continue;
        memcpy(tr + (size_t)p * cap, s->sorted_trial + (size_t)p * s->cap_seen, (size_t)ns[p] * sizeof *tr);
        memcpy(key + (size_t)p * cap, s->sorted_key + (size_t)p * s->cap_seen, (size_t)ns[p] * sizeof *key);
    }
    free(s->sorted_trial), free(s->sorted_key);
    s->sorted_trial = tr, s->sorted_key = key, s->cap_seen = cap;
    return 0;
}

int qn_tpe_order_update(qn_sampler *s, const qn_history *h) {
    const int D = s->space->n, N = h->n;
    if (D == 0) return 0;
    if (reserve_seen(s, N > 0 ? N : 1)) return -1;
    if (N < s->seen || (s->seen && memcmp(s->seen_x, h->x, (size_t)s->seen * D * sizeof(double)) != 0)) {
        s->seen = 0;
        memset(s->n_sorted, 0, (size_t)D * sizeof *s->n_sorted);
    }
    for (int i = s->seen; i < N; i++)
        for (int p = 0; p < D; p++) {
            double v = h->x[(size_t)i * D + p];
            if (isnan(v)) continue;
            double k = qn_domain_internal(&s->domains[p], v);
            int *tr = s->sorted_trial + (size_t)p * s->cap_seen, n = s->n_sorted[p];
            double *key = s->sorted_key + (size_t)p * s->cap_seen;
            int lo = 0, hi = n; /* after every key not above k: trial i is the newest of its equals */
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (k < key[mid]) hi = mid;
                else lo = mid + 1;
            }
            memmove(tr + lo + 1, tr + lo, (size_t)(n - lo) * sizeof *tr);
            memmove(key + lo + 1, key + lo, (size_t)(n - lo) * sizeof *key);
            tr[lo] = i, key[lo] = k, s->n_sorted[p] = n + 1;
        }
    if (N > s->seen)
        memcpy(s->seen_x + (size_t)s->seen * D, h->x + (size_t)s->seen * D, (size_t)(N - s->seen) * D * sizeof(double));
    s->seen = N;
    return 0;
}
