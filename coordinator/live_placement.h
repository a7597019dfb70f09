/* live_placement.h: which trial an idle worker gets, in the running coordinator (study.c). The
 * offline scheduler of qn_placement.h, turned into a dispatch rule.
 *
 * Contract:
 *  - Workers are grouped into kinds (same device name and memory); a kind's speed is the measured
 *    GEMM rate of its first worker. Trial costs come from qn_cost.h.
 *  - A grid stage's queue is built once, when the stage becomes ready: its pending trials grouped
 *    into classes of equal cost, classes longest first (LPT), ids ascending within a class. Taking a
 *    trial costs O(1) amortised on a homogeneous cluster; with several kinds, O(classes x kinds) at
 *    worst (a class another kind would finish sooner is passed over).
 *  - A worker takes only a trial that fits its kind (qn_trial_fits). With several kinds, it passes
 *    over a class that another kind would finish clearly sooner, counting that kind's wait until
 *    one of its workers is free (the "finish first" rule: no long trial left on a slow card), but
 *    only while those kinds' workers are at least as many as the trials left that are as long or
 *    longer (near the end; before that every worker has work and the slow ones take their share).
 *    Times are the model's, calibrated per kind by the trials finished so far.
 *  - A class that fits no live kind is reported by qn_queue_unfit with the reason; the caller
 *    records its trials failed.
 */
#ifndef QN_LIVE_PLACEMENT_H
#define QN_LIVE_PLACEMENT_H

#include <stdint.h>

#include "qn_cost.h"
#include "qn_device.h"

#define QN_MAX_LIVE_KINDS 16

typedef struct {
    qn_device_kind kind;
    int workers;    /* live workers of this kind */
    double avail;   /* set by the caller before taking: seconds until one of them is free (0: one is idle) */
    double est_sum, wall_sum; /* finished trials: the model's seconds and the real ones */
} qn_live_kind;

typedef struct {
    qn_live_kind k[QN_MAX_LIVE_KINDS];
    int n;
} qn_live_kinds;

/* The kind of a worker with this profile, added when new (a full table lumps the rest into the
 * last kind). Returns its index. */
int qn_live_kind_add(qn_live_kinds *ks, const qn_device_profile *p);
/* A trial the model gave `est` seconds took `wall` on kind k. The model's seconds are scaled by each
 * kind's wall/est so far (by all kinds' until this one has finished a trial): it is right about
 * which trial is longer, less about absolute times, and a worker must not wait on a busy one whose
 * trial the model thought over long ago. */
void qn_live_kind_observe(qn_live_kinds *ks, int k, double est, double wall);
/* Kind k's factor from the model's seconds to real ones (1 before any trial finished). */
double qn_live_kind_scale(const qn_live_kinds *ks, int k);

typedef struct {
    qn_trial_cost cost;
    int64_t first, n, next;              /* ids[first .. first+n), next: the next to hand out */
    double sec[QN_MAX_LIVE_KINDS];       /* on each kind; -1: does not fit */
} qn_trial_class;

typedef struct {
    int64_t *ids;
    qn_trial_class *classes;
    int nclasses, head; /* head: the first class with trials left */
    int nkinds_rated;   /* kinds sec[] covers */
} qn_stage_queue;

/* Group n trials (ids, costs[i] the cost of ids[i]) into the queue. 0, or -1 out of memory. */
int qn_queue_build(qn_stage_queue *q, const int64_t *ids, const qn_trial_cost *costs, int64_t n);
void qn_queue_free(qn_stage_queue *q);
/* Seconds of each class on each kind; again whenever a kind is added. */
void qn_queue_rate(qn_stage_queue *q, const qn_live_kinds *ks);
/* The next trial for a worker of kind `kind`, or -1: none fits it, or another kind should run what
 * is left. *seconds: its estimated time on that kind. skip(arg, id) != 0 drops an id that is no
 * longer pending. */
int64_t qn_queue_take(qn_stage_queue *q, const qn_live_kinds *ks, int kind, double *seconds,
                      int (*skip)(void *arg, int64_t id), void *skip_arg);
/* A class with trials left that fits no live kind: its index, with the reason, or -1. */
int qn_queue_unfit(const qn_stage_queue *q, const qn_live_kinds *ks, char *why, size_t whylen);
/* Why a trial of this cost fits no kind of ks ("needs 23.4 GB of device memory; the largest worker
 * (NVIDIA GeForce RTX 2080 Ti) has 11.0 GB"). Returns 1 when it fits none, 0 when one fits it. */
int qn_fits_none(const qn_trial_cost *c, const qn_live_kinds *ks, const char *what, char *why, size_t whylen);

#endif
