/* job_internal.h: what the job module's files share. */
#ifndef QN_JOB_INTERNAL_H
#define QN_JOB_INTERNAL_H

#include "qn_job.h"

void qn_config_defaults(qn_trial_config *c);
int qn_config_has_quant(const qn_trial_config *c);
/* Every parameter name (for hints); returns the count. */
int qn_param_names(const char **out, int max);
int qn_param_is_base_only(const char *name);
/* All metrics a step records; returns the count (at most 4). */
int qn_step_metrics(qn_step s, const char **out);

#endif
