/* lr_schedule.h: the learning rate of each update, as Hugging Face's schedules compute it. */
#ifndef QN_LR_SCHEDULE_H
#define QN_LR_SCHEDULE_H

#include "qn_job.h"

/* The multiplier of train.lr for update `step` (0-based) of `total` in one train step:
 * warmup (the first ceil(total * warmup_ratio) updates, as Hugging Face's Trainer counts them) rises
 * linearly from 0, then "constant" keeps 1, "linear" falls to 0 at total, "cosine" follows half a
 * cosine to 0 (get_constant_schedule_with_warmup, get_linear_schedule_with_warmup,
 * get_cosine_schedule_with_warmup). */
double qn_lr_factor(const qn_train_cfg *t, long step, long total);

#endif
