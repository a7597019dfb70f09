/* lr_schedule.c: learning-rate schedules (see lr_schedule.h). */
#include "lr_schedule.h"

#include <math.h>
#include <string.h>

double qn_lr_factor(const qn_train_cfg *t, long step, long total) {
    /* Hugging Face's Trainer: math.ceil(num_training_steps * warmup_ratio), the same double product */
    long warmup = (long)ceil((double)total * t->warmup_ratio);
    if (step < warmup) return (double)step / (double)(warmup > 1 ? warmup : 1);
    if (!strcmp(t->lr_schedule, "linear")) {
        long rest = total - warmup;
        double f = (double)(total - step) / (double)(rest > 1 ? rest : 1);
        return f > 0.0 ? f : 0.0;
    }
    if (!strcmp(t->lr_schedule, "cosine")) {
        long rest = total - warmup;
        double progress = (double)(step - warmup) / (double)(rest > 1 ? rest : 1);
        double f = 0.5 * (1.0 + cos(M_PI * progress));
        return f > 0.0 ? f : 0.0;
    }
    return 1.0;
}
