/* model.h: the classifier a trial trains, whichever architecture the job names (model.arch: mlp or
 * bert), behind one interface: forward, backward, AdamW, the Linear layers compression acts on, and
 * pruning with MASE's semantics over those layers. */
#ifndef QN_MODEL_H
#define QN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "linear.h"
#include "qn_job.h"
#include "qn_kernels.h"

#define QN_MODEL_MAX_LINEARS 512

typedef struct qn_model qn_model;
struct qn_model {
    size_t nparams;
    float *params, *grads, *m, *v;   /* the architecture's buffers */
    uint8_t *adam_mask;              /* (nparams) 0 where a weight is pruned, or NULL */
    uint8_t *decay_mask;             /* (nparams) 0 for biases and LayerNorm parameters: the ones Hugging
                                      * Face's Trainer gives weight_decay 0 (train.weight_decay_params) */
    int step;                        /* AdamW steps taken */
    int num_labels;
    const float *probs;              /* (B, num_labels) after a forward */
    const float *logits;             /* (B, num_labels) after a forward */
    int *quant_failed;
    int nlinears;
    qn_linear *linears[QN_MODEL_MAX_LINEARS]; /* in qn_linear_layer_name order (jobs/job_layers.c) */
    char arch[16];                   /* model.arch, and (bert) the encoder layers: the Linear layers' names */
    int encoder_layers;
    void *impl;
    int cuda_device;                 /* the GPU to train on (bert), or -1: the CPU backend */
    void *cuda;                      /* the device copy once started (qn_bert_cuda), else NULL */
    char backend_error[256];         /* why the last forward returned NaN on the GPU, or "" */
    float (*forward)(qn_model *, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B, qn_rng *rng);
    void (*backward)(qn_model *, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B);
    void (*destroy)(void *impl);
};

/* Build the model cfg describes for a vocabulary of vocab_size tokens, batches up to max_batch of T
 * tokens. NULL with a message when out of memory or the sizes do not fit. */
qn_model *qn_model_new(const qn_model_cfg *cfg, int vocab_size, int max_batch, int T, uint64_t seed, char *err,
                       size_t errlen);
void qn_model_free(qn_model *m);
/* Floats in the parameter buffer of that model (to check a checkpoint); 0 for an unknown arch. */
size_t qn_model_cfg_param_count(const qn_model_cfg *cfg, int vocab_size);

/* Run on GPU `device` from the next forward on, where the architecture and the Linear layers'
 * formats and pruning have a CUDA path (bert), else stay on the CPU (a note on stderr says why).
 * The parameters move to the GPU at that forward; qn_model_sync_host brings them back. */
void qn_model_prefer_cuda(qn_model *m, int device);
/* Parameters and AdamW moments back in m->params, m->m, m->v when the model runs on a GPU (before
 * reading or writing them on the host); the next forward uploads them again. Returns 0, or -1 with
 * a message. */
int qn_model_sync_host(qn_model *m, char *err, size_t errlen);
/* The GPU's gradient buffer while the model runs on one (the data-parallel all-reduce reduces it
 * there), else NULL: the gradients are in m->grads. */
float *qn_model_device_grads(qn_model *m);
/* "cuda" while the model runs on a GPU, else "cpu". */
const char *qn_model_backend(const qn_model *m);

/* The same formats on every Linear layer. Returns 0, or -1 with a message. */
int qn_model_set_quant(qn_model *m, const qn_quant_cfg *q, char *err, size_t errlen);
/* Each Linear layer's own formats: the trial's quant with the layer's override (cfg->layers) on top.
 * Returns 0, or -1 with a message (a format that does not fit, an override naming no layer of this
 * model: a pretrained checkpoint may have fewer encoder layers than the job could check). */
int qn_model_set_layer_quant(qn_model *m, const qn_trial_config *cfg, char *err, size_t errlen);
/* Name of Linear layer i ("fc1", "bert.encoder.layer.0.attention.self.query", ...) into buf. */
const char *qn_model_layer_name(const qn_model *m, int i, char *buf, size_t len);
/* One AdamW step with t's rates; weight decay on every parameter (t->weight_decay_params "all") or
 * only where m->decay_mask is 1 (otherwise: the Trainer's groups). */
void qn_model_adamw(qn_model *m, const qn_train_cfg *t);
/* Pruning of each Linear layer by its effective config (the trial's prune with the layer's override
 * on top): weight masks (random or l1-norm, local or global) applied now and kept through
 * fine-tuning; activation pruning enabled on the layer's input. Global l1-norm scope: one threshold
 * over the layers that share that target's method, scope and sparsity (every layer, without
 * overrides), from their weights, or from their inputs on the calibration batch ids/lengths of B
 * rows. Returns the achieved sparsity over all Linear weights, NaN when out of memory. */
double qn_model_prune(qn_model *m, const qn_trial_config *cfg, uint64_t seed, const int32_t *ids, const int32_t *lengths,
                      int B);
/* Each layer's effective pruning under cfg into out[0..m->nlinears). Returns 0, or -1 with a message. */
int qn_model_layer_prune(const qn_model *m, const qn_trial_config *cfg, qn_prune_cfg *out, char *err, size_t errlen);
/* Whether any Linear layer prunes its input. */
int qn_model_prunes_activations(const qn_model *m);
/* Activation sparsity counted since the last reset, over every Linear input. */
double qn_model_activation_sparsity(const qn_model *m);
void qn_model_reset_activation_counters(qn_model *m);

#endif
