/* null_trial.c: a trial without a model, for measuring and testing the runtime around trials
 * (dispatch, results writing, fault handling) at near-zero cost. Its numbers are hashes, not
 * measurements, but deterministic ones, so searches and best(...) behave as with real trials. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug_fault.h"
#include "null_trial.h"
#include "qn_kernels.h"

/* [0, 1) from (trial_seed, step index, which metric of the step) */
static double unit_hash(uint64_t trial_seed, int step, int k) {
    uint64_t z = qn_splitmix64(qn_splitmix64(trial_seed ^ 0x6e756c6cull) + (uint64_t)step * 16 + (uint64_t)k);
    return (double)(z >> 11) * 0x1.0p-53;
}

int qn_null_trial_execute(const qn_trial_config *cfg, const qn_step *steps, int nsteps, uint64_t trial_seed,
                          int want_checkpoint, qn_trial_result *out) {
    out->status = QN_TRIAL_FAILED;
    if (nsteps > 0) qn_debug_first_step(&cfg->debug);
    if (nsteps > 0 && qn_fault_of(cfg->debug.fault) == QN_FAULT_NAN) {
        /* the message the real NaN detection writes (trial.c) */
        snprintf(out->error, sizeof out->error, "loss became NaN at step 1 (epoch 1)");
        return 0;
    }
    for (int s = 0; s < nsteps; s++) {
        /* accuracies in [0, 1); losses in [0, 2) */
        double a = unit_hash(trial_seed, s, 0), l = 2.0 * unit_hash(trial_seed, s, 1);
        switch (steps[s]) {
        case QN_STEP_TRAIN: qn_trial_result_set_metric(out, "train_loss", l); break;
        case QN_STEP_EVAL: qn_trial_result_set_metric(out, "accuracy", a), qn_trial_result_set_metric(out, "eval_loss", l); break;
        case QN_STEP_PTQ_EVAL: qn_trial_result_set_metric(out, "ptq_accuracy", a), qn_trial_result_set_metric(out, "ptq_loss", l); break;
        case QN_STEP_QAT:
            qn_trial_result_set_metric(out, "train_loss", 2.0 * unit_hash(trial_seed, s, 2));
            qn_trial_result_set_metric(out, "qat_accuracy", a), qn_trial_result_set_metric(out, "qat_loss", l);
            break;
        case QN_STEP_PRUNE:
            /* the sparsity asked for is what pruning would reach */
            qn_trial_result_set_metric(out, "weight_sparsity", cfg->prune.weight.sparsity >= 0 ? cfg->prune.weight.sparsity : 0.0);
            break;
        case QN_STEP_QUANTIZE:
        case QN_STEP_INFER: break;
        }
    }
    if (want_checkpoint) {
        /* one float: a from: stage needs a recorded checkpoint to start from (worker/checkpoint.c's "null" layout) */
        out->checkpoint = calloc(1, sizeof(float));
        if (!out->checkpoint) {
            snprintf(out->error, sizeof out->error, "out of memory running the trial");
            return -1;
        }
        out->checkpoint_len = 1;
    }
    out->status = QN_TRIAL_DONE;
    return 0;
}
