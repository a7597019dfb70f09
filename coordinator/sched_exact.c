/* sched_exact.c: the optimal makespan when a job's trials fall into a few classes of equal durations
 * (a grid over one setting, a search stage's trials at the base configuration): then a schedule is
 * only how many trials of each class each device runs, and whether makespan T is reachable is a
 * small dynamic program over those counts. The lower bounds of placement.c pretend trials split
 * (fluid, preemptive) or count trials without mixing classes on one device (counting); on a mix of
 * long and short trials over devices of three speeds they stay a few percent below the optimum.
 *
 * Feasibility of T: a device of kind k can run the "patterns" x (x_c trials of class c) with
 * sum_c x_c sec(c,k) <= T. Devices are taken one by one; the set of count vectors covered so far
 * (capped at the class sizes n_c) grows by every pattern the device allows; T is feasible when n is
 * covered after the last device. Covering more than needed costs nothing (a trial can be dropped
 * from a pattern), so only maximal patterns, those that no further trial fits, need trying; and a
 * vector whose remaining trials exceed the remaining devices' fluid capacity is dropped.
 * The optimum is the load of some device's pattern, so the search bisects over the sorted pattern
 * loads between the bounds it is given: its answer is that load exactly, not a bisection tolerance.
 *
 * Everything is capped (classes, count vectors, patterns, transitions) so that it answers in well
 * under a second or declines; an unfinished search still proves every load it found infeasible. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "qn_placement.h"

#define MAX_CLASSES 8
#define MAX_STATES (1 << 20)      /* count vectors: prod_c (n_c + 1) */
#define MAX_PATTERNS (1 << 16)    /* over all kinds */
#define MAX_TRANSITIONS 10000000L /* (count vector, pattern) pairs over the whole search: ~0.3 s */

typedef struct {
    const qn_sched_problem *p;
    int nclasses;
    int64_t n[MAX_CLASSES], stride[MAX_CLASSES], nstates;
    const double *sec[MAX_CLASSES]; /* a member's row of p->seconds: the class's durations */
    /* every kind's patterns, grouped by kind: digits, load, and the least load with one more trial
     * (a pattern is maximal at T when load <= T < grow) */
    int32_t *digits;
    double *load, *grow;
    int *kind_first; /* (nkinds + 1): kind k's patterns are [kind_first[k], kind_first[k + 1]) */
    int npatterns, cap;
    long transitions;
    /* the search's working sets: covered count vectors before and after a device, and a stamp per
     * vector saying in which device's step it was added */
    int32_t *cur, *next, *pats;
    uint32_t *seen;
} exact;

/* A pattern's load, always summed in class order: the optimum is compared with these exact values. */
static double pattern_load(const exact *e, int k, const int32_t *x) {
    double s = 0;
    for (int c = 0; c < e->nclasses; c++)
        if (x[c]) s += (double)x[c] * e->sec[c][k];
    return s;
}

/* Classes of trials with equal durations on every kind; 1 when there are more than MAX_CLASSES. */
static int group_classes(exact *e) {
    const qn_sched_problem *p = e->p;
    int K = p->nkinds;
    for (int64_t t = 0; t < p->ntrials; t++) {
        const double *row = p->seconds + t * K;
        int c = 0;
        while (c < e->nclasses && memcmp(e->sec[c], row, (size_t)K * sizeof *row)) c++;
        if (c == e->nclasses) {
            if (c == MAX_CLASSES) return 1;
            e->sec[c] = row, e->n[c] = 0, e->nclasses++;
        }
        e->n[c]++;
    }
    return 0;
}

static int fits(const exact *e, int c, int k) { return e->sec[c][k] >= 0; }

static int add_pattern(exact *e, int k, int32_t *x, double load) {
    int C = e->nclasses;
    if (e->npatterns == MAX_PATTERNS) return 1;
    if (e->npatterns == e->cap) {
        int cap = e->cap ? 2 * e->cap : 1024;
        int32_t *d = realloc(e->digits, (size_t)cap * C * sizeof *d);
        if (d) e->digits = d;
        double *l = d ? realloc(e->load, (size_t)cap * sizeof *l) : NULL;
        if (l) e->load = l;
        double *g = l ? realloc(e->grow, (size_t)cap * sizeof *g) : NULL;
        if (g) e->grow = g;
        if (!g) return -1;
        e->cap = cap;
    }
    double grow = DBL_MAX;
    for (int c = 0; c < C; c++) {
        if (x[c] == e->n[c] || !fits(e, c, k)) continue;
        x[c]++;
        double g = pattern_load(e, k, x);
        x[c]--;
        if (g < grow) grow = g;
    }
    memcpy(e->digits + (size_t)e->npatterns * C, x, (size_t)C * sizeof *x);
    e->load[e->npatterns] = load, e->grow[e->npatterns] = grow;
    e->npatterns++;
    return 0;
}

/* Kind k's patterns of load <= limit with classes c.. still to choose (x[c..] are 0). Durations are
 * not negative, so a partial load past the limit ends the branch. 1 past MAX_PATTERNS, -1 out of
 * memory. */
static int enumerate(exact *e, int k, int c, int32_t *x, double limit) {
    if (c == e->nclasses) return add_pattern(e, k, x, pattern_load(e, k, x));
    int r = enumerate(e, k, c + 1, x, limit);
    if (!fits(e, c, k)) return r;
    while (!r && x[c] < e->n[c]) {
        x[c]++;
        if (pattern_load(e, k, x) > limit) break;
        r = enumerate(e, k, c + 1, x, limit);
    }
    x[c] = 0;
    return r;
}

/* Whether makespan T is reachable: 1 yes, 0 no, 2 past the transition budget, -1 out of memory. */
static int feasible(exact *e, double T) {
    const qn_sched_problem *p = e->p;
    int C = e->nclasses;
    int64_t full = e->nstates - 1; /* every class covered: the last vector in mixed radix */
    int64_t ncur = 1;
    uint32_t stamp = 0;
    memset(e->seen, 0, (size_t)e->nstates * sizeof *e->seen);
    e->cur[0] = 0;
    if (full == 0) return 1;
    double rest_speed = 0; /* of the devices not yet taken */
    for (int k = 0; k < p->nkinds; k++)
        if (p->count[k] > 0) rest_speed += p->count[k] * p->speed[k];
    for (int k = 0; k < p->nkinds; k++) {
        if (p->count[k] <= 0) continue;
        int np = 0;
        for (int i = e->kind_first[k]; i < e->kind_first[k + 1]; i++)
            if (e->load[i] <= T && e->grow[i] > T) e->pats[np++] = i;
        /* a class's least work (seconds x speed) on the kinds from k on: what is left after a
         * device must fit in T x the speed of the devices after it (the fluid bound on the rest),
         * which prunes most vectors that cannot be completed */
        double least[MAX_CLASSES];
        for (int c = 0; c < C; c++) {
            least[c] = -1;
            for (int j = k; j < p->nkinds; j++)
                if (p->count[j] > 0 && fits(e, c, j) && (least[c] < 0 || e->sec[c][j] * p->speed[j] < least[c]))
                    least[c] = e->sec[c][j] * p->speed[j];
        }
        for (int d = 0; d < p->count[k]; d++) {
            int64_t nnext = 0;
            stamp++;
            rest_speed -= p->speed[k];
            double room = T * rest_speed * (1 + 1e-9);
            e->transitions += (long)ncur * np;
            if (e->transitions > MAX_TRANSITIONS) return 2;
            for (int64_t i = 0; i < ncur; i++) {
                int32_t have[MAX_CLASSES];
                int64_t u = e->cur[i];
                for (int c = C - 1; c >= 0; c--) have[c] = (int32_t)(u / e->stride[c]), u %= e->stride[c];
                for (int j = 0; j < np; j++) {
                    const int32_t *x = e->digits + (size_t)e->pats[j] * C;
                    int64_t v = 0;
                    double left = 0;
                    for (int c = 0; c < C; c++) {
                        int64_t h = have[c] + x[c];
                        if (h >= e->n[c]) h = e->n[c];
                        else left += least[c] < 0 ? DBL_MAX : (double)(e->n[c] - h) * least[c];
                        v += h * e->stride[c];
                    }
                    if (v == full) return 1;
                    if (left <= room && e->seen[v] != stamp) e->seen[v] = stamp, e->next[nnext++] = (int32_t)v;
                }
            }
            int32_t *t = e->cur;
            e->cur = e->next, e->next = t, ncur = nnext;
        }
    }
    return 0;
}

static int by_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int qn_schedule_optimum(const qn_sched_problem *p, double lo, double hi, double *bound) {
    exact e;
    memset(&e, 0, sizeof e);
    e.p = p;
    *bound = lo;
    if (p->nkinds <= 0 || p->ntrials <= 0 || group_classes(&e)) return 0;
    e.nstates = 1;
    for (int c = 0; c < e.nclasses; c++) {
        e.stride[c] = e.nstates;
        if (e.n[c] + 1 > MAX_STATES / e.nstates) return 0;
        e.nstates *= e.n[c] + 1;
    }
    int rc = -1;
    double *cand = NULL;
    int32_t x[MAX_CLASSES] = {0};
    double limit = hi * (1 + 1e-9);
    e.kind_first = calloc((size_t)p->nkinds + 1, sizeof *e.kind_first);
    if (!e.kind_first) goto done;
    for (int k = 0; k < p->nkinds; k++) {
        e.kind_first[k] = e.npatterns;
        int r = p->count[k] > 0 ? enumerate(&e, k, 0, x, limit) : 0;
        if (r) {
            rc = r < 0 ? -1 : 0;
            goto done;
        }
    }
    e.kind_first[p->nkinds] = e.npatterns;
    /* the optimum is some device's load: the candidates are the pattern loads in [lo, hi] */
    cand = malloc((size_t)(e.npatterns ? e.npatterns : 1) * sizeof *cand);
    e.cur = malloc((size_t)e.nstates * sizeof *e.cur);
    e.next = malloc((size_t)e.nstates * sizeof *e.next);
    e.seen = malloc((size_t)e.nstates * sizeof *e.seen);
    e.pats = malloc((size_t)(e.npatterns ? e.npatterns : 1) * sizeof *e.pats);
    if (!cand || !e.cur || !e.next || !e.seen || !e.pats) goto done;
    int m = 0;
    for (int i = 0; i < e.npatterns; i++)
        if (e.load[i] >= lo * (1 - 1e-9)) cand[m++] = e.load[i];
    qsort(cand, (size_t)m, sizeof *cand, by_double);
    int u = 0;
    for (int i = 0; i < m; i++)
        if (!u || cand[i] != cand[u - 1]) cand[u++] = cand[i];
    m = u;
    rc = 0;
    if (!m) goto done;
    /* every candidate below a is infeasible; b is feasible once tested */
    int a = 0, b = m - 1, b_known = 0;
    while (a < b || !b_known) {
        int mid = a < b ? a + (b - a) / 2 : b;
        int f = feasible(&e, cand[mid]);
        if (f < 0) {
            rc = -1;
            goto done;
        }
        if (f == 2) break;
        if (f == 1) b = mid, b_known = 1;
        else if (mid == m - 1) break; /* rounding put the optimum past hi: keep what is proven */
        else a = mid + 1;
    }
    if (cand[a] > *bound) *bound = cand[a];
    rc = a == b && b_known;
done:
    free(cand), free(e.cur), free(e.next), free(e.seen), free(e.pats);
    free(e.digits), free(e.load), free(e.grow), free(e.kind_first);
    return rc;
}
