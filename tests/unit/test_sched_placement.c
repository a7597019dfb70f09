/* The cost model (memory by hand, refusals) and the placement policies (a known optimum, the lower
 * bound on random instances, FIFO against LPT on an adversarial case). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "qn_cost.h"
#include "qn_placement.h"

static qn_trial_config bert_tiny(void) {
    qn_trial_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.model.arch, "bert"), strcpy(c.model.preset, "bert-tiny");
    c.model.hidden_size = 128, c.model.layers = 2, c.model.heads = 2, c.model.intermediate_size = 512;
    c.model.num_labels = 2;
    strcpy(c.data.dataset, "imdb"); /* a 30522-token WordPiece vocabulary */
    c.data.train_size = 1000, c.data.eval_size = 100, c.data.max_len = 24;
    c.train.epochs = 1, c.train.batch_size = 32;
    return c;
}

Test(sched, bert_tiny_memory_by_hand) {
    qn_trial_config c = bert_tiny();
    qn_step steps[] = {QN_STEP_TRAIN};
    qn_trial_cost k;
    char err[256];
    cr_assert_eq(qn_trial_cost_estimate(&c, steps, 1, &k, err, sizeof err), 0, "%s", err);
    double P = 4386178, BT = 32 * 24;
    double act = 2 * (10 * BT * 128 + 32 * 2 * 24 * 24 + 2 * BT * 512 + 4 * BT) + 10 * BT * 128 + 2 * BT * 512;
    cr_expect_float_eq(k.memory_bytes, 16 * P + 4 * act, 1, "memory %g", k.memory_bytes);
    double Pm = P - (30522 + 512 + 2) * 128.0;
    cr_expect_float_eq(k.flops, 1000 * 3 * (2 * Pm * 24 + 4 * 2 * 24 * 24 * 128.0), 1e3, "flops %g", k.flops);
}

Test(sched, big_trial_refused_on_2080ti_placed_on_l40s) {
    qn_trial_cost k = {.memory_bytes = 20e9, .flops = 1e15};
    char why[256] = "";
    cr_expect_lt(qn_trial_seconds(&k, qn_device_kind_find("rtx2080ti"), why, sizeof why), 0);
    cr_expect(strstr(why, "20.0 GB") != NULL, "%s", why);
    cr_expect_gt(qn_trial_seconds(&k, qn_device_kind_find("l40s"), why, sizeof why), 0);
}

Test(sched, bf16_refused_on_turing) {
    qn_trial_config c = bert_tiny();
    strcpy(c.quant.weight.name, "bf16");
    qn_step steps[] = {QN_STEP_EVAL};
    qn_trial_cost k;
    char err[256];
    cr_assert_eq(qn_trial_cost_estimate(&c, steps, 1, &k, err, sizeof err), 0, "%s", err);
    cr_expect(k.needs_bf16);
    cr_expect_lt(qn_trial_seconds(&k, qn_device_kind_find("rtx8000"), err, sizeof err), 0);
    cr_expect(strstr(err, "bf16") != NULL, "%s", err);
    cr_expect_gt(qn_trial_seconds(&k, qn_device_kind_find("h200"), err, sizeof err), 0);
}

Test(sched, lpt_hand_example_is_optimal) {
    /* 2 identical machines, trials 2,4,3,3: optimum 6 (4+2 | 3+3) = half the work; LPT finds it
     * (3,3,2,2,2 would not: LPT's textbook 7-vs-6 case) */
    double sec[] = {2, 4, 3, 3};
    int count[] = {2};
    double speed[] = {1};
    qn_sched_problem p = {1, count, speed, 4, sec};
    cr_expect_float_eq(qn_schedule(&p, QN_SCHED_LPT, NULL, NULL), 6, 1e-12);
    cr_expect_float_eq(qn_schedule_lower_bound(&p), 6, 1e-12);
}

Test(sched, makespan_at_least_lower_bound_random) {
    srand(1);
    for (int inst = 0; inst < 200; inst++) {
        int K = 1 + rand() % 3, n = 1 + rand() % 60;
        int count[3];
        double speed[3], *sec = malloc(sizeof *sec * n * K);
        for (int k = 0; k < K; k++) count[k] = 1 + rand() % 5, speed[k] = 1 + rand() % 8;
        for (int t = 0; t < n; t++) {
            double work = 1 + rand() % 100;
            for (int k = 0; k < K; k++) sec[t * K + k] = (k > 0 && rand() % 4 == 0) ? -1 : work / speed[k];
        }
        qn_sched_problem p = {K, count, speed, n, sec};
        double lb = qn_schedule_lower_bound(&p);
        cr_assert_gt(lb, 0);
        cr_expect_geq(qn_schedule(&p, QN_SCHED_LPT, NULL, NULL), lb * (1 - 1e-12), "instance %d", inst);
        cr_expect_geq(qn_schedule(&p, QN_SCHED_FIFO, NULL, NULL), lb * (1 - 1e-12), "instance %d", inst);
        free(sec);
    }
}

Test(sched, fifo_worse_than_lpt_on_adversarial_case) {
    /* short trials first, the long one last: FIFO starts it late; LPT starts it at 0 */
    double sec[] = {1, 1, 1, 1, 4};
    int count[] = {2};
    double speed[] = {1};
    qn_sched_problem p = {1, count, speed, 5, sec};
    double lpt = qn_schedule(&p, QN_SCHED_LPT, NULL, NULL), fifo = qn_schedule(&p, QN_SCHED_FIFO, NULL, NULL);
    cr_expect_float_eq(lpt, 4, 1e-12);
    cr_expect_float_eq(fifo, 6, 1e-12);
}

Test(sched, trial_fitting_nowhere_is_refused) {
    double sec[] = {-1};
    int count[] = {4};
    double speed[] = {1};
    qn_sched_problem p = {1, count, speed, 1, sec};
    cr_expect_lt(qn_schedule(&p, QN_SCHED_LPT, NULL, NULL), 0);
}

Test(sched, counting_bound_is_tight_for_rounds_of_equal_trials) {
    /* 3 unit trials on 2 identical devices: fluid says 1.5, the longest 1; a trial is indivisible,
     * so one device runs two: 2, which LPT reaches */
    double sec[] = {1, 1, 1};
    int count[] = {2};
    double speed[] = {1};
    qn_sched_problem p = {1, count, speed, 3, sec};
    cr_expect_float_eq(qn_schedule_lower_bound(&p), 2.0, 1e-6, "bound %g", qn_schedule_lower_bound(&p));
    cr_expect_float_eq(qn_schedule(&p, QN_SCHED_LPT, NULL, NULL), 2.0, 1e-12);
}

Test(sched, bounds_on_uniform_machines_with_few_long_trials) {
    /* one fast device (speed 2) and ten slow ones: two trials of work 10 take 5 on the fast one and
     * 10 on a slow one. fluid 20/12 and the longest trial (5) are far below the optimum, 10 (both on
     * the fast device, or one on each); the preemptive bound gives 20/3, the counting bound 10. */
    double sec[] = {5, 10, 5, 10};
    int count[] = {1, 10};
    double speed[] = {2, 1};
    qn_sched_problem p = {2, count, speed, 2, sec};
    double lb = qn_schedule_lower_bound(&p), lpt = qn_schedule(&p, QN_SCHED_LPT, NULL, NULL);
    cr_expect_geq(lb, 20.0 / 3 - 1e-9, "bound %g", lb);
    cr_expect_float_eq(lb, 10.0, 1e-6, "bound %g", lb);
    cr_expect_float_eq(lpt, 10.0, 1e-12);
}

Test(sched, preemptive_bound_beats_fluid_and_longest) {
    /* one device of speed 4, four of speed 1; four trials of work 8 (2 on the fast one, 8 on a slow
     * one) and many tiny ones: fluid (32 + tiny) / 8 ~ 4, longest 2; the four big trials can use at
     * most the four fastest devices, speed 4 + 3: 32 / 7 */
    enum { N = 4 + 40 };
    double sec[N * 2];
    for (int t = 0; t < N; t++) {
        double w = t < 4 ? 8 : 0.01;
        sec[t * 2] = w / 4, sec[t * 2 + 1] = w;
    }
    int count[] = {1, 4};
    double speed[] = {4, 1};
    qn_sched_problem p = {2, count, speed, N, sec};
    double lb = qn_schedule_lower_bound(&p), lpt = qn_schedule(&p, QN_SCHED_LPT, NULL, NULL);
    cr_expect_geq(lb, 32.0 / 7 - 1e-9, "bound %g", lb);
    cr_expect_leq(lb, lpt + 1e-12, "bound %g above a real schedule %g", lb, lpt);
}
