/* job_internal.h: what the job module's files share. */
#ifndef QN_JOB_INTERNAL_H
#define QN_JOB_INTERNAL_H

#include "qn_job.h"

void qn_config_defaults(qn_trial_config *c);
/* The override of `layer` in cfg, a new one when it has none; NULL with a message when the name is
 * too long or cfg holds QN_MAX_LAYER_OVERRIDES already. */
qn_layer_override *qn_layer_override_slot(qn_trial_config *cfg, const char *layer, char *err, size_t errlen);
/* Check the overrides of a configuration whose model and global quant/prune are finished: layer
 * names against the model, each layer's effective formats and pruning. 0, or -1 with a message. */
int qn_layers_finish(qn_trial_config *cfg, char *err, size_t errlen);
/* Finish only the model section (sizes from the preset); for checking layer names early. */
int qn_config_finish_model(qn_trial_config *cfg, char *err, size_t errlen);
/* Check a layer name against a finished model: 0, or -1 with a did-you-mean. */
int qn_layer_check_name(const qn_model_cfg *m, const char *layer, char *err, size_t errlen);
/* Every parameter name (for hints); returns the count. */
int qn_param_names(const char **out, int max);
int qn_param_is_base_only(const char *name);
/* All metrics a step records; returns the count (at most 4). */
int qn_step_metrics(qn_step s, const char **out);

#endif
