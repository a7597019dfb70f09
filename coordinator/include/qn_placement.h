/* qn_placement.h: which device runs which trial, and when: a list scheduler over a heterogeneous
 * cluster, with trial durations per device kind from the cost model (qn_cost.h).
 *
 * Contract:
 *  - Trials are independent here: `from:` dependencies are ignored (a later stage's trials become
 *    ready at once); with stages in file order and LPT within them the schedule is the same shape,
 *    and the lower bound stays a bound.
 *  - seconds[t * nkinds + k] < 0: trial t cannot run on kind k. Every trial must fit some kind with
 *    count > 0 (the caller reports those that do not; the schedulers return -1 for them).
 *  - lpt: trials by decreasing duration on their fastest kind, each to the device where it would
 *    finish first (so a long trial never starts on a slow card near the end when a fast one frees
 *    soon). fifo: trials in id order, each to the device that is idle first among those it fits.
 *  - lower bound: the largest of five, each a bound on any schedule's makespan: fluid (sum of each
 *    trial's least speed-weighted work / total speed); the longest trial on its fastest kind;
 *    preemptive (the j trials of most work on the j fastest devices, every j); counting (in time T
 *    a device completes at most the most of its shortest trials that fit in T, and all devices
 *    together must complete every trial); and, when the trials fall into a few classes of equal
 *    durations, the optimum itself (sched_exact.c: counts of each class per device, found by a capped
 *    search; past its caps, the loads it proved unreachable).
 */
#ifndef QN_PLACEMENT_H
#define QN_PLACEMENT_H

#include <stdint.h>

typedef struct {
    int nkinds;
    const int *count;       /* (nkinds) devices of each kind */
    const double *speed;    /* (nkinds) relative speed, > 0: weights of the fluid bound (any are valid) */
    int64_t ntrials;
    const double *seconds;  /* (ntrials, nkinds) */
} qn_sched_problem;

typedef enum { QN_SCHED_LPT = 0, QN_SCHED_FIFO = 1 } qn_sched_policy;

/* Makespan of the policy's schedule; kind_of (ntrials, may be NULL) receives each trial's kind and
 * start (may be NULL) its start time. -1 when a trial fits no device or out of memory. */
double qn_schedule(const qn_sched_problem *p, qn_sched_policy policy, int *kind_of, double *start);
double qn_schedule_lower_bound(const qn_sched_problem *p);
/* The same; *optimal (may be NULL) is 1 when the bound is the optimal makespan itself: LPT reaches
 * it, or the exact search finished. */
double qn_schedule_lower_bound_ex(const qn_sched_problem *p, int *optimal);
/* The exact search alone, given a lower bound lo and a makespan hi some schedule reaches: *bound
 * receives the optimum (returns 1), or a lower bound >= lo when the instance is past the caps (more
 * than 8 classes, 2^20 count vectors, 2^16 device patterns, 1e7 steps; returns 0); -1 out of memory. */
int qn_schedule_optimum(const qn_sched_problem *p, double lo, double hi, double *bound);

#endif
