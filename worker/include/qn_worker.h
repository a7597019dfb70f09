/* qn_worker.h: run one trial on this process's device.
 *
 * Contract:
 *  - qn_trial_execute() builds the model from cfg, loads parent weights when given (else a seeded
 *    initialisation), applies the trial's compression and runs the steps in order. It never exits
 *    the process: a NaN loss or a bad checkpoint is reported as status QN_TRIAL_FAILED with a
 *    one-line message, and the study goes on.
 *  - Results depend only on (cfg, steps, seed, parent weights): the same trial gives the same
 *    numbers on any rank, with any number of ranks, on the CPU backend.
 *  - The dataset is generated once per (data config, job seed) and cached in the context.
 */
#ifndef QN_WORKER_H
#define QN_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include "qn_job.h"

#define QN_MAX_METRICS 32
#define QN_MAX_CURVES 4
#define QN_NAME_LEN 48

typedef enum { QN_TRIAL_DONE = 0, QN_TRIAL_FAILED = 1 } qn_trial_status;

typedef struct {
    char name[QN_NAME_LEN];
    double value;
} qn_metric;

typedef struct {
    char name[QN_NAME_LEN];
    int n;
    float *values; /* owned */
} qn_curve;

typedef struct {
    qn_trial_status status;
    char error[QN_ERR_LEN];
    int nmetrics;
    qn_metric metrics[QN_MAX_METRICS];
    int ncurves;
    qn_curve curves[QN_MAX_CURVES];
    float *checkpoint;       /* the trained parameter buffer (owned), when asked for */
    size_t checkpoint_len;   /* floats */
    double wall_s;
} qn_trial_result;

typedef struct qn_worker_ctx qn_worker_ctx;

qn_worker_ctx *qn_worker_ctx_new(void);
void qn_worker_ctx_free(qn_worker_ctx *ctx);
/* Train and evaluate on CUDA device `device` where the model has a GPU path (bert), from now on. */
void qn_worker_ctx_use_gpu(qn_worker_ctx *ctx, int device);

/* data_seed: the job seed (the dataset is the job's, not the trial's). trial_seed: initialisation,
 * shuffling and random masks. parent/parent_len: weights to start from, or NULL. Returns 0 when a
 * result was produced (done or failed), -1 only on an internal error (out of memory), with out->error set. */
int qn_trial_execute(qn_worker_ctx *ctx, const qn_trial_config *cfg, const qn_step *steps, int nsteps,
                     uint64_t data_seed, uint64_t trial_seed, const float *parent, size_t parent_len,
                     int want_checkpoint, qn_trial_result *out);
/* The same trial trained data-parallel by the ranks of group (train.devices: k, worker/gradsync.c),
 * collective: every rank of the group calls it with the same arguments. Each rank trains on its shard
 * of every batch and the gradients are all-reduced once per step, so the weights stay equal on every
 * rank and equal one rank's to float tolerance (docs/gradsync.md). Only rank 0 (the leader)
 * evaluates: its result is the trial's; the others' carry the train loss (and a checkpoint if asked).
 * A non-finite loss or a failed sync stops every rank at the same step; a failure only some ranks
 * meet before training (a data file one of them cannot read) leaves the others waiting in the first
 * sync, so every rank must get the same inputs. */
typedef struct qn_gradsync qn_gradsync;
int qn_trial_execute_group(qn_worker_ctx *ctx, qn_gradsync *group, const qn_trial_config *cfg, const qn_step *steps,
                           int nsteps, uint64_t data_seed, uint64_t trial_seed, const float *parent, size_t parent_len,
                           int want_checkpoint, qn_trial_result *out);
void qn_trial_result_free(qn_trial_result *r);
/* Set metric `name` (added if new; ignored once QN_MAX_METRICS are set). */
void qn_trial_result_set_metric(qn_trial_result *r, const char *name, double v);

/* Number of floats in the parameter buffer of the model cfg describes (to check a checkpoint). */
size_t qn_model_param_count(const qn_model_cfg *cfg, int vocab_size);

#endif
