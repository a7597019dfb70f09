/* null_trial.h: model.arch: null, a trial with no model and no data (docs/jobs.md). */
#ifndef QN_NULL_TRIAL_H
#define QN_NULL_TRIAL_H

#include "qn_worker.h"

/* The metrics each step would record, as hashes of (trial_seed, step index); a one-float
 * checkpoint when asked for, so that from: chains work. Never loads or generates data. */
int qn_null_trial_execute(const qn_trial_config *cfg, const qn_step *steps, int nsteps, uint64_t trial_seed,
                          int want_checkpoint, qn_trial_result *out);

#endif
