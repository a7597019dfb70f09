/* The learning-rate schedules against Hugging Face's formulas (transformers.optimization:
 * get_{constant,linear,cosine}_schedule_with_warmup, whose lambda(step) multiplies the rate of update
 * `step`, counted from 0). */
#include <criterion/criterion.h>
#include <string.h>

#include "../../worker/lr_schedule.h"

static qn_train_cfg cfg(const char *schedule, double warmup_ratio) {
    qn_train_cfg t;
    memset(&t, 0, sizeof t);
    strcpy(t.lr_schedule, schedule);
    t.warmup_ratio = warmup_ratio;
    return t;
}

#define NEAR(a, b) cr_expect_float_eq((a), (b), 1e-12, "%s: %.17g != %.17g", #a, (double)(a), (double)(b))

Test(lr_schedule, constant_without_warmup_is_the_rate) {
    qn_train_cfg t = cfg("constant", 0.0);
    for (long s = 0; s < 7; s++) NEAR(qn_lr_factor(&t, s, 7), 1.0);
}

Test(lr_schedule, warmup_rises_from_zero) {
    qn_train_cfg t = cfg("constant", 0.25); /* 2 of 8 updates */
    NEAR(qn_lr_factor(&t, 0, 8), 0.0);
    NEAR(qn_lr_factor(&t, 1, 8), 0.5);
    NEAR(qn_lr_factor(&t, 2, 8), 1.0);
    NEAR(qn_lr_factor(&t, 7, 8), 1.0);
}

Test(lr_schedule, linear_decays_to_zero_after_warmup) {
    qn_train_cfg t = cfg("linear", 0.2); /* 2 of 10 */
    double want[10] = {0.0, 0.5, 1.0, 7.0 / 8, 6.0 / 8, 5.0 / 8, 4.0 / 8, 3.0 / 8, 2.0 / 8, 1.0 / 8};
    for (long s = 0; s < 10; s++) NEAR(qn_lr_factor(&t, s, 10), want[s]);
    qn_train_cfg plain = cfg("linear", 0.0);
    NEAR(qn_lr_factor(&plain, 0, 4), 1.0);
    NEAR(qn_lr_factor(&plain, 3, 4), 0.25);
}

Test(lr_schedule, cosine_follows_half_a_cosine) {
    qn_train_cfg t = cfg("cosine", 0.0);
    NEAR(qn_lr_factor(&t, 0, 4), 1.0);
    NEAR(qn_lr_factor(&t, 1, 4), 0.85355339059327373);
    NEAR(qn_lr_factor(&t, 2, 4), 0.5);
    NEAR(qn_lr_factor(&t, 3, 4), 0.14644660940672627);
    qn_train_cfg w = cfg("cosine", 0.5); /* 2 of 4 */
    NEAR(qn_lr_factor(&w, 1, 4), 0.5);
    NEAR(qn_lr_factor(&w, 2, 4), 1.0);
    NEAR(qn_lr_factor(&w, 3, 4), 0.5);
}

/* Hugging Face's Trainer warms up for math.ceil(num_training_steps * warmup_ratio) updates: a
 * fraction of an update counts as a whole one, including the one a double product leaves over */
Test(lr_schedule, warmup_length_rounds_up_as_the_trainer) {
    qn_train_cfg t = cfg("constant", 0.12); /* 1.2 of 10: 2 updates */
    NEAR(qn_lr_factor(&t, 1, 10), 0.5);
    NEAR(qn_lr_factor(&t, 2, 10), 1.0);
    qn_train_cfg odd = cfg("constant", 0.07); /* 100 * 0.07 is 7.000000000000001 in doubles: 8 updates */
    NEAR(qn_lr_factor(&odd, 7, 100), 0.875);
    NEAR(qn_lr_factor(&odd, 8, 100), 1.0);
    qn_train_cfg tiny = cfg("linear", 0.01); /* 0.06 of 6: 1 update, at rate 0 */
    NEAR(qn_lr_factor(&tiny, 0, 6), 0.0);
    NEAR(qn_lr_factor(&tiny, 1, 6), 1.0);
}

Test(lr_schedule, one_update_gets_the_full_rate) {
    qn_train_cfg t = cfg("linear", 0.0);
    NEAR(qn_lr_factor(&t, 0, 1), 1.0);
}
