/* model.c: the trial's classifier behind one interface (see model.h). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "bert_cuda.h"
#include "mlp.h"

/* ---------------------------------------------------------------- the architectures */

static float mlp_forward(qn_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                         qn_rng *rng) {
    return qn_mlp_forward(m->impl, ids, lengths, labels, B, rng);
}
static void mlp_backward(qn_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B) {
    qn_mlp_backward(m->impl, ids, lengths, labels, B);
}
static void mlp_destroy(void *impl) { qn_mlp_free(impl); }

/* ---------------------------------------------------------------- the GPU copy (bert) */

static void cuda_stop(qn_model *m) {
    qn_bert_cuda_free(m->cuda);
    m->cuda = NULL;
}

/* Start the device copy from the host buffers, or stay on the CPU with a note on why. */
static void cuda_start(qn_model *m) {
    char err[256];
    qn_bert *p = m->impl;
    if (qn_bert_cuda_supported(p, err, sizeof err) != 0 || !(m->cuda = qn_bert_cuda_new(p, m->cuda_device, err, sizeof err))) {
        fprintf(stderr, "quench: worker: running this trial on the CPU: %s\n", err);
        m->cuda_device = -1;
        return;
    }
    if (qn_bert_cuda_upload(m->cuda, m->adam_mask, m->decay_mask, err, sizeof err) != 0) {
        fprintf(stderr, "quench: worker: running this trial on the CPU: %s\n", err);
        cuda_stop(m);
        m->cuda_device = -1;
    }
}

static float bert_forward(qn_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                          qn_rng *rng);

void qn_model_prefer_cuda(qn_model *m, int device) {
    if (m->forward != bert_forward || m->cuda) return; /* the mlp has no CUDA path */
    m->cuda_device = device;
}

int qn_model_sync_host(qn_model *m, char *err, size_t errlen) {
    if (!m->cuda) return 0;
    int rc = qn_bert_cuda_download(m->cuda, QN_BERT_CUDA_PARAMS | QN_BERT_CUDA_MOMENTS, err, errlen);
    cuda_stop(m); /* the host copy is the truth until the next forward uploads it */
    return rc;
}

const char *qn_model_backend(const qn_model *m) { return m->cuda ? "cuda" : "cpu"; }

float *qn_model_device_grads(qn_model *m) { return m->cuda ? qn_bert_cuda_grads(m->cuda) : NULL; }

static float bert_forward(qn_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B,
                          qn_rng *rng) {
    if (m->cuda_device >= 0 && !m->cuda) cuda_start(m);
    if (m->cuda) {
        float loss;
        if (qn_bert_cuda_forward(m->cuda, ids, lengths, labels, B, rng, &loss, m->backend_error,
                                 sizeof m->backend_error) != 0)
            return NAN;
        return loss;
    }
    return qn_bert_forward(m->impl, ids, lengths, labels, B, rng);
}
static void bert_backward(qn_model *m, const int32_t *ids, const int32_t *lengths, const int32_t *labels, int B) {
    (void)lengths;
    if (m->cuda) {
        /* an error here shows as NaN at the next forward's sync point; keep the first message */
        char err[256];
        if (qn_bert_cuda_backward(m->cuda, ids, labels, B, err, sizeof err) != 0 && !m->backend_error[0])
            snprintf(m->backend_error, sizeof m->backend_error, "%s", err);
        return;
    }
    qn_bert_backward(m->impl, ids, labels, B);
}
static void bert_destroy(void *impl) { qn_bert_free(impl); }

static qn_bert_config bert_config(const qn_model_cfg *cfg, int vocab_size) {
    return (qn_bert_config){vocab_size, 512, 2, cfg->hidden_size, cfg->layers, cfg->heads, cfg->intermediate_size,
                            cfg->num_labels, 1e-12f};
}

size_t qn_model_cfg_param_count(const qn_model_cfg *cfg, int vocab_size) {
    if (!strcmp(cfg->arch, "mlp")) return qn_mlp_param_count(vocab_size, cfg->embed_dim, cfg->hidden_size, cfg->num_labels);
    if (!strcmp(cfg->arch, "bert")) {
        qn_bert_config c = bert_config(cfg, vocab_size);
        char err[256];
        if (cfg->pretrained[0] && qn_bert_config_from_hf(cfg->pretrained, &c, err, sizeof err) != 0) return 0;
        return qn_bert_param_count(&c);
    }
    return 0;
}

/* ---------------------------------------------------------------- weight decay groups */

static void no_decay(qn_model *m, const float *tensor, size_t n) {
    memset(m->decay_mask + (tensor - m->params), 0, n);
}

/* Hugging Face's Trainer (get_decay_parameter_names) decays a parameter unless its name contains
 * "bias" or it belongs to a LayerNorm module; what that leaves here: every Linear weight and the
 * embedding tables. The views say where each tensor is (bert.h, mlp.h). Returns 0, or -1 when out of
 * memory. */
static int build_decay_mask(qn_model *m) {
    if (!(m->decay_mask = malloc(m->nparams ? m->nparams : 1))) return -1;
    memset(m->decay_mask, 1, m->nparams);
    for (int i = 0; i < m->nlinears; i++) no_decay(m, m->linears[i]->b, (size_t)m->linears[i]->out);
    if (m->forward == bert_forward) {
        const qn_bert *p = m->impl;
        const size_t C = (size_t)p->cfg.hidden;
        no_decay(m, p->emb_ln_w, C), no_decay(m, p->emb_ln_b, C);
        for (int l = 0; l < p->cfg.layers; l++) {
            const qn_bert_layer *y = &p->layer[l];
            no_decay(m, y->ln1_w, C), no_decay(m, y->ln1_b, C), no_decay(m, y->ln2_w, C), no_decay(m, y->ln2_b, C);
        }
    }
    return 0;
}

qn_model *qn_model_new(const qn_model_cfg *cfg, int vocab_size, int max_batch, int T, uint64_t seed, char *err,
                       size_t errlen) {
    qn_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory building the model");
        return NULL;
    }
    m->num_labels = cfg->num_labels;
    m->cuda_device = -1;
    snprintf(m->arch, sizeof m->arch, "%s", cfg->arch);
    if (!strcmp(cfg->arch, "mlp")) {
        qn_mlp *p = qn_mlp_new(vocab_size, cfg->embed_dim, cfg->hidden_size, cfg->num_labels, max_batch, T, seed);
        if (!p) goto oom;
        m->impl = p, m->forward = mlp_forward, m->backward = mlp_backward, m->destroy = mlp_destroy;
        m->nparams = p->nparams, m->params = p->params, m->grads = p->grads, m->m = p->m, m->v = p->v;
        m->probs = p->probs, m->logits = p->logits, m->quant_failed = &p->quant_failed;
        for (int k = 0; k < QN_MLP_LAYERS; k++) m->linears[m->nlinears++] = &p->layers[k];
    } else if (!strcmp(cfg->arch, "bert")) {
        qn_bert *p;
        if (cfg->pretrained[0]) {
            /* the checkpoint decides the sizes; the data's vocabulary must be the checkpoint's */
            if (!(p = qn_bert_load_hf(cfg->pretrained, max_batch, T, err, errlen))) {
                free(m);
                return NULL;
            }
            if (p->cfg.vocab_size != vocab_size || p->cfg.num_labels != cfg->num_labels) {
                snprintf(err, errlen, "%s: the model has %d tokens and %d labels, the data %d tokens and %d labels",
                         cfg->pretrained, p->cfg.vocab_size, p->cfg.num_labels, vocab_size, cfg->num_labels);
                qn_bert_free(p);
                free(m);
                return NULL;
            }
        } else {
            qn_bert_config c = bert_config(cfg, vocab_size);
            if (T > c.max_position) {
                snprintf(err, errlen, "%d tokens do not fit BERT's %d positions", T, c.max_position);
                free(m);
                return NULL;
            }
            p = qn_bert_new(&c, max_batch, T, seed);
            if (!p) goto oom;
        }
        m->impl = p, m->forward = bert_forward, m->backward = bert_backward, m->destroy = bert_destroy;
        m->nparams = p->nparams, m->params = p->params, m->grads = p->grads, m->m = p->m, m->v = p->v;
        m->probs = p->probs, m->logits = p->logits, m->quant_failed = &p->quant_failed;
        m->nlinears = qn_bert_linears(p, m->linears, QN_MODEL_MAX_LINEARS);
        m->encoder_layers = p->cfg.layers; /* a pretrained model's own count */
    } else {
        snprintf(err, errlen, "model.arch '%s' is not available in this build", cfg->arch);
        free(m);
        return NULL;
    }
    if (build_decay_mask(m) != 0) {
        qn_model_free(m);
        snprintf(err, errlen, "out of memory building the model");
        return NULL;
    }
    return m;
oom:
    snprintf(err, errlen, "out of memory building the model");
    free(m);
    return NULL;
}

void qn_model_free(qn_model *m) {
    if (!m) return;
    cuda_stop(m);
    if (m->destroy) m->destroy(m->impl);
    free(m->adam_mask);
    free(m->decay_mask);
    free(m);
}

const char *qn_model_layer_name(const qn_model *m, int i, char *buf, size_t len) {
    if (!qn_linear_layer_name(m->arch, m->encoder_layers, i, buf, len)) snprintf(buf, len, "?");
    return buf;
}

/* Every override must name a layer of this model. */
static int check_overrides(const qn_model *m, const qn_trial_config *cfg, char *err, size_t errlen) {
    for (int k = 0; k < cfg->nlayers; k++) {
        int found = 0;
        char name[QN_LAYER_NAME_LEN];
        for (int i = 0; i < m->nlinears && !found; i++)
            found = !strcmp(qn_model_layer_name(m, i, name, sizeof name), cfg->layers[k].layer);
        if (!found) {
            snprintf(err, errlen, "layers.%s: this %s model has no such Linear layer (%d encoder layers)",
                     cfg->layers[k].layer, m->arch, m->encoder_layers);
            return -1;
        }
    }
    return 0;
}

static int after_quant_change(qn_model *m, char *err, size_t errlen);

int qn_model_set_layer_quant(qn_model *m, const qn_trial_config *cfg, char *err, size_t errlen) {
    if (check_overrides(m, cfg, err, errlen) != 0) return -1;
    for (int i = 0; i < m->nlinears; i++) {
        char name[QN_LAYER_NAME_LEN];
        qn_quant_cfg q;
        if (qn_layer_config(cfg, qn_model_layer_name(m, i, name, sizeof name), &q, NULL, err, errlen) != 0 ||
            qn_linear_set_quant(m->linears[i], &q, err, errlen) != 0)
            return -1;
    }
    return after_quant_change(m, err, errlen);
}

int qn_model_layer_prune(const qn_model *m, const qn_trial_config *cfg, qn_prune_cfg *out, char *err, size_t errlen) {
    if (check_overrides(m, cfg, err, errlen) != 0) return -1;
    for (int i = 0; i < m->nlinears; i++) {
        char name[QN_LAYER_NAME_LEN];
        if (qn_layer_config(cfg, qn_model_layer_name(m, i, name, sizeof name), NULL, &out[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

int qn_model_set_quant(qn_model *m, const qn_quant_cfg *q, char *err, size_t errlen) {
    for (int i = 0; i < m->nlinears; i++)
        if (qn_linear_set_quant(m->linears[i], q, err, errlen) != 0) return -1;
    return after_quant_change(m, err, errlen);
}

/* A format without a CUDA path sends the trial back to the CPU. */
static int after_quant_change(qn_model *m, char *err, size_t errlen) {
    char why[256];
    if (m->cuda && qn_bert_cuda_supported(m->impl, why, sizeof why) != 0) {
        fprintf(stderr, "quench: worker: continuing this trial on the CPU: %s\n", why);
        if (qn_model_sync_host(m, err, errlen) != 0) return -1;
        m->cuda_device = -1;
    }
    return 0;
}

void qn_model_adamw(qn_model *m, const qn_train_cfg *t) {
    m->step++;
    /* without decay the groups are one: skip reading the mask */
    const int by_groups = t->weight_decay != 0.0 && strcmp(t->weight_decay_params, "all") != 0;
    if (m->cuda) {
        char err[256];
        if (qn_bert_cuda_adamw(m->cuda, (float)t->lr, (float)t->beta1, (float)t->beta2, (float)t->eps,
                               (float)t->weight_decay, by_groups, m->step, err, sizeof err) != 0 &&
            !m->backend_error[0])
            snprintf(m->backend_error, sizeof m->backend_error, "%s", err);
        return;
    }
    qn_adamw_step_groups(m->params, m->grads, m->m, m->v, m->adam_mask, by_groups ? m->decay_mask : NULL, m->nparams,
                         (float)t->lr, (float)t->beta1, (float)t->beta2, (float)t->eps, (float)t->weight_decay, m->step);
}

/* ---------------------------------------------------------------- pruning */

static double prune_on_host(qn_model *m, const qn_prune_cfg *lp, uint64_t seed, const int32_t *ids,
                            const int32_t *lengths, int B);

/* Layers a and b share one global l1-norm threshold for that target. */
static int same_global(const qn_prune_target *a, const qn_prune_target *b) {
    return !strcmp(a->method, b->method) && !strcmp(a->scope, b->scope) && a->sparsity == b->sparsity;
}

static int is_global_l1(const qn_prune_target *t) {
    return !strcmp(t->method, "l1-norm") && !strcmp(t->scope, "global");
}

/* One threshold per group of layers with the same global l1-norm activation target, from the layers'
 * inputs on one forward of the calibration batch, with activation pruning off and the inputs
 * unquantized (the raw activations MASE records as samples). Returns 0, or -1 when out of memory. */
static int global_activation_thresholds(qn_model *m, const qn_prune_cfg *lp, const int32_t *ids, const int32_t *lengths,
                                        int B) {
    qn_prune_target saved_act[QN_MODEL_MAX_LINEARS];
    qn_format saved_fmt[QN_MODEL_MAX_LINEARS];
    for (int i = 0; i < m->nlinears; i++) {
        saved_act[i] = m->linears[i]->act_prune, saved_fmt[i] = m->linears[i]->fmt[0];
        m->linears[i]->act_prune.method[0] = 0;
        qn_format_defaults(QN_FMT_NONE, &m->linears[i]->fmt[0]);
    }
    qn_rng rng;
    qn_rng_seed(&rng, 1);
    for (int i = 0; i < m->nlinears; i++) m->linears[i]->act_zeros = m->linears[i]->act_total = 0;
    m->forward(m, ids, lengths, NULL, B, &rng);
    int rc = 0;
    char done[QN_MODEL_MAX_LINEARS] = {0};
    for (int i = 0; i < m->nlinears && rc == 0; i++) {
        if (done[i] || !is_global_l1(&lp[i].activation)) continue;
        /* how many input rows each layer saw: B*T for token-wise layers, B for the per-sequence ones */
        const float *bufs[QN_MODEL_MAX_LINEARS];
        size_t lens[QN_MODEL_MAX_LINEARS];
        int n = 0;
        for (int k = i; k < m->nlinears; k++)
            if (!done[k] && same_global(&lp[k].activation, &lp[i].activation)) {
                bufs[n] = m->linears[k]->x_q, lens[n++] = (size_t)m->linears[k]->last_rows * (size_t)m->linears[k]->in;
                done[k] = 2;
            }
        float t = qn_abs_quantile(bufs, lens, n, lp[i].activation.sparsity);
        if (isnan(t)) rc = -1;
        for (int k = i; k < m->nlinears; k++)
            if (done[k] == 2) m->linears[k]->act_threshold = t, done[k] = 1;
    }
    for (int i = 0; i < m->nlinears; i++) m->linears[i]->act_prune = saved_act[i], m->linears[i]->fmt[0] = saved_fmt[i];
    return rc;
}

double qn_model_prune(qn_model *m, const qn_trial_config *cfg, uint64_t seed, const int32_t *ids, const int32_t *lengths,
                      int B) {
    /* masks are computed on the host; the next forward uploads the pruned weights and the mask */
    char err[256];
    qn_prune_cfg *lp = malloc((size_t)(m->nlinears + 1) * sizeof *lp);
    if (!lp) return NAN;
    if (qn_model_layer_prune(m, cfg, lp, err, sizeof err) != 0 || qn_model_sync_host(m, err, sizeof err) != 0) {
        fprintf(stderr, "quench: worker: %s\n", err);
        free(lp);
        return NAN;
    }
    int device = m->cuda_device;
    m->cuda_device = -1; /* the global threshold's calibration forward reads the host inputs */
    double sparsity = prune_on_host(m, lp, seed, ids, lengths, B);
    m->cuda_device = device;
    free(lp);
    return sparsity;
}

static double prune_on_host(qn_model *m, const qn_prune_cfg *lp, uint64_t seed, const int32_t *ids,
                            const int32_t *lengths, int B) {
    qn_rng rng;
    qn_rng_seed(&rng, seed);
    /* global l1-norm thresholds, one per group of layers sharing the weight target */
    float global_t[QN_MODEL_MAX_LINEARS];
    char done[QN_MODEL_MAX_LINEARS] = {0};
    for (int i = 0; i < m->nlinears; i++) {
        if (done[i] || !is_global_l1(&lp[i].weight)) continue;
        const float *bufs[QN_MODEL_MAX_LINEARS];
        size_t lens[QN_MODEL_MAX_LINEARS];
        int n = 0;
        for (int k = i; k < m->nlinears; k++)
            if (!done[k] && same_global(&lp[k].weight, &lp[i].weight))
                bufs[n] = m->linears[k]->W, lens[n++] = (size_t)m->linears[k]->out * m->linears[k]->in, done[k] = 2;
        float t = qn_abs_quantile(bufs, lens, n, lp[i].weight.sparsity);
        for (int k = i; k < m->nlinears; k++)
            if (done[k] == 2) global_t[k] = t, done[k] = 1;
    }
    for (int k = 0; k < m->nlinears; k++) {
        const qn_prune_target *weight = &lp[k].weight;
        if (!weight->method[0]) continue;
        if (!m->adam_mask) {
            if (!(m->adam_mask = malloc(m->nparams))) return NAN;
            memset(m->adam_mask, 1, m->nparams);
        }
        qn_linear *l = m->linears[k];
        size_t n = (size_t)l->out * l->in;
        if (!l->weight_mask && !(l->weight_mask = malloc(n))) return NAN;
        if (!strcmp(weight->method, "l1-norm")) {
            float t = global_t[k];
            if (!is_global_l1(weight)) {
                const float *bufs[1] = {l->W};
                size_t lens[1] = {n};
                t = qn_abs_quantile(bufs, lens, 1, weight->sparsity);
            }
            /* sparsity 0 keeps every weight (the 0-quantile is the smallest magnitude, which the mask
             * would remove): how a layer is spared under the trial's pruning */
            if (weight->sparsity <= 0) t = -1.0f;
            qn_mask_l1(l->W, n, t, l->weight_mask);
        } else {
            qn_mask_random(n, weight->sparsity, &rng, l->weight_mask);
        }
        qn_apply_mask(l->W, l->weight_mask, l->W, n);
        memcpy(m->adam_mask + (l->W - m->params), l->weight_mask, n);
    }
    size_t zeros = 0, total = 0;
    int global_act = 0;
    for (int k = 0; k < m->nlinears; k++) {
        qn_linear *l = m->linears[k];
        size_t n = (size_t)l->out * l->in;
        for (size_t i = 0; i < n; i++) zeros += l->W[i] == 0.0f;
        total += n;
        l->act_prune = lp[k].activation;
        l->act_zeros = l->act_total = 0.0;
        global_act |= is_global_l1(&lp[k].activation);
    }
    if (global_act && ids && B > 0 && global_activation_thresholds(m, lp, ids, lengths, B) != 0) return NAN;
    return total ? (double)zeros / (double)total : 0.0;
}

/* Whether any Linear layer prunes its input. */
int qn_model_prunes_activations(const qn_model *m) {
    for (int k = 0; k < m->nlinears; k++)
        if (m->linears[k]->act_prune.method[0]) return 1;
    return 0;
}

double qn_model_activation_sparsity(const qn_model *m) {
    double zeros = 0, total = 0;
    for (int k = 0; k < m->nlinears; k++) zeros += m->linears[k]->act_zeros, total += m->linears[k]->act_total;
    return total > 0 ? zeros / total : NAN;
}

void qn_model_reset_activation_counters(qn_model *m) {
    for (int k = 0; k < m->nlinears; k++) m->linears[k]->act_zeros = m->linears[k]->act_total = 0.0;
}
