/* study_search.h: a search stage's sampler as the coordinator drives it. The stage's trials get
 * their points when dispatched, from the sampler and the stage's history (its earlier trials in id
 * order: done with the metric, failed, or running, which TPE's constant liar takes as the worst).
 * Points are kept per trial so that records, children (from:) and resume see the same values. */
#ifndef QN_STUDY_SEARCH_H
#define QN_STUDY_SEARCH_H

#include "qn_job.h"

/* Opaque: qn_sampler.h's names clash with the worker's (QN_TRIAL_DONE), so study.c does not see them. */
typedef struct qn_search qn_search;
typedef enum { QN_SEARCH_PENDING = 0, QN_SEARCH_RUNNING, QN_SEARCH_DONE, QN_SEARCH_FAILED } qn_search_state;

/* The sampler of search stage `s`, seeded from the job seed and the stage index. NULL with err. */
qn_search *qn_search_new(const qn_job *job, int s, char *err, size_t errlen);
void qn_search_free(qn_search *ss);
/* A point for trial index i of the stage (0-based). Returns 0; 1 for a grid with no unused point;
 * -1 with err. */
int qn_search_assign(qn_search *ss, int64_t i, char *err, size_t errlen);
int qn_search_assigned(const qn_search *ss, int64_t i);
/* Trial i's parameters from its point into t (qn_search_params). 0, or -1 (memory). */
int qn_search_trial_params(const qn_search *ss, int64_t i, qn_trial *t);
/* Trial i's state and, when done, its metric. */
void qn_search_note(qn_search *ss, int64_t i, qn_search_state state, double value);
/* Set trial i's point from its recorded parameters (resume). */
void qn_search_restore(qn_search *ss, int64_t i, const qn_param *params, int n);

#endif
