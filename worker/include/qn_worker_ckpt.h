/* qn_worker_ckpt.h: a model's parameter buffer as a checkpoint of named tensors, and back.
 *
 * Contract:
 *  - Tensors carry Hugging Face state-dict names: bert as BertForSequenceClassification
 *    ("bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight",
 *    ..., "bert.pooler.dense.weight", "classifier.weight"); mlp as a PyTorch module
 *    ("embedding.weight", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias").
 *  - A Linear weight or bias whose operand format is quantized is stored as the values the layer
 *    computes with (the fake-quantized ones), packed when the format has an exact code (integer,
 *    binary, ternary), float32 otherwise; every other tensor as its float32 values.
 *  - The layout follows from the model config and the buffer's length alone (the vocabulary size is
 *    what is left), so the coordinator can pack a buffer a worker sent.
 */
#ifndef QN_WORKER_CKPT_H
#define QN_WORKER_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "qn_checkpoint.h"
#include "qn_job.h"
#include "qn_results.h"

/* Pack params (nparams floats of the model cfg describes) with cfg's quantization; with_master keeps
 * the float buffer too. Returns 0, or -1 with a message. Free with qn_ckpt_free. */
int qn_ckpt_build(const qn_trial_config *cfg, const float *params, size_t nparams, int with_master, qn_ckpt *out,
                  char *err, size_t errlen);

typedef struct qn_model qn_model;

/* A model of cfg holding the checkpoint's values, ready to evaluate exactly as the trial did: operands
 * stored quantized are used as stored (not quantized again); inputs are quantized per cfg; activation
 * pruning per cfg when `pruned` (the trial ran a prune step). Batches up to max_batch of T tokens.
 * Returns NULL with a one-line message. */
qn_model *qn_ckpt_model(const qn_trial_config *cfg, const qn_ckpt *c, int pruned, int max_batch, int T, char *err,
                        size_t errlen);

/* A recorded trial of a results file: its configuration (the job stored in the file, the parameters
 * inherited along its from: chain, its own), whether it pruned, and its checkpoint. Returns 0, 2 with
 * a message for a user error (no such trial, no checkpoint), 1 otherwise. */
typedef struct {
    qn_job job;
    qn_trial_config cfg;
    int64_t id;
    int pruned;
    qn_ckpt ckpt;
} qn_recorded_trial;
int qn_recorded_trial_load(const char *path, int64_t id, qn_recorded_trial *out, char *err, size_t errlen);
void qn_recorded_trial_free(qn_recorded_trial *t);

#endif
