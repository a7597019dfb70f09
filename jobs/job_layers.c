/* job_layers.c: per-layer compression. The names of each architecture's Linear layers (the one
 * list the job checks, the models and the checkpoint layout use), and a layer's effective
 * quantization and pruning: the trial's own with the layer's override (layers.<LAYER>.*) on top. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"
#include "qn_job.h"

/* A BERT encoder layer's Linear layers, in the order bert.c holds them (QN_BERT_LIN_*). */
static const char *const bert_linears[] = {"attention.self.query", "attention.self.key",    "attention.self.value",
                                           "attention.output.dense", "intermediate.dense", "output.dense"};
#define BERT_LIN_PER_LAYER 6

int qn_linear_layer_count(const char *arch, int encoder_layers) {
    if (!strcmp(arch, "mlp")) return 2;
    if (!strcmp(arch, "bert")) return encoder_layers * BERT_LIN_PER_LAYER + 2;
    return 0;
}

char *qn_linear_layer_name(const char *arch, int encoder_layers, int i, char *buf, size_t len) {
    if (i < 0 || i >= qn_linear_layer_count(arch, encoder_layers)) return NULL;
    if (!strcmp(arch, "mlp"))
        snprintf(buf, len, "fc%d", i + 1);
    else if (i < encoder_layers * BERT_LIN_PER_LAYER)
        snprintf(buf, len, "bert.encoder.layer.%d.%s", i / BERT_LIN_PER_LAYER, bert_linears[i % BERT_LIN_PER_LAYER]);
    else
        snprintf(buf, len, "%s", i == encoder_layers * BERT_LIN_PER_LAYER ? "bert.pooler.dense" : "classifier");
    return buf;
}

/* The encoder layers whose names a job may use: the model's, or, from a pretrained checkpoint whose
 * config.json decides the count (read by the worker, not here), the most a job may have. */
static int name_layers(const qn_model_cfg *m) { return m->pretrained[0] ? 48 : m->layers; }

/* Is `layer` a Linear layer of the model? 0, or -1 with a did-you-mean. */
int qn_layer_check_name(const qn_model_cfg *m, const char *layer, char *err, size_t errlen) {
    int L = name_layers(m), n = qn_linear_layer_count(m->arch, L);
    char(*names)[QN_LAYER_NAME_LEN] = calloc((size_t)n + 1, sizeof *names);
    const char **ptrs = calloc((size_t)n + 1, sizeof *ptrs);
    int found = 0;
    for (int i = 0; names && ptrs && i < n; i++) {
        ptrs[i] = qn_linear_layer_name(m->arch, L, i, names[i], sizeof names[i]);
        found |= !strcmp(names[i], layer);
    }
    const char *hint = found || !names || !ptrs ? NULL : qn_suggest(layer, ptrs, n);
    char model[64];
    if (!strcmp(m->arch, "bert") && !m->pretrained[0])
        snprintf(model, sizeof model, "bert (%d encoder layer%s)", L, L == 1 ? "" : "s");
    else
        snprintf(model, sizeof model, "%s", m->arch);
    if (!found && hint)
        snprintf(err, errlen, "layers.%s: no such Linear layer in this %s: did you mean '%s'?", layer, model, hint);
    else if (!found)
        snprintf(err, errlen, "layers.%s: no such Linear layer in this %s (docs/jobs.md lists the layer names)", layer,
                 model);
    free(names);
    free(ptrs);
    return found ? 0 : -1;
}

/* An override's keys over the trial's operand. A name starts the operand afresh (the format's
 * defaults), as MASE's per-layer configs replace the default one: keys written for the trial's
 * format need not fit the layer's. */
static void merge_operand(qn_quant_operand *eff, const qn_quant_operand *ov) {
    unsigned g = ov->given;
    if (g & QN_QK_NAME) {
        memset(eff, 0, sizeof *eff);
        eff->frac_pct = -1.0;
        snprintf(eff->name, sizeof eff->name, "%s", ov->name);
    }
    if (g & QN_QK_WIDTH) eff->width = ov->width;
    if (g & QN_QK_FRAC_WIDTH) eff->frac_width = ov->frac_width, eff->frac_pct = ov->frac_pct;
    if (g & QN_QK_EXPONENT_WIDTH) eff->exponent_width = ov->exponent_width;
    if (g & QN_QK_EXPONENT_BIAS) eff->exponent_bias = ov->exponent_bias;
    if (g & QN_QK_EXPONENT_BIAS_WIDTH) eff->exponent_bias_width = ov->exponent_bias_width;
    if (g & QN_QK_BLOCK_SIZE) eff->block_size = ov->block_size;
    if (g & QN_QK_BIPOLAR) eff->bipolar = ov->bipolar;
    if (g & QN_QK_SCALING_FACTOR) eff->scaling_factor = ov->scaling_factor;
    if (g & QN_QK_DOUBLE_QUANT) eff->double_quant = ov->double_quant;
    if (g & QN_QK_THRESHOLD) eff->threshold = ov->threshold;
    eff->given |= g;
    /* a percentage follows the layer's width (the trial's 50% of a layer's 4 bits is 2) */
    if (eff->frac_pct >= 0 && eff->width > 0) eff->frac_width = (int)floor(eff->width * eff->frac_pct / 100.0 + 0.5);
}

static void merge_target(qn_prune_target *eff, const qn_prune_target *ov) {
    if (ov->method[0]) snprintf(eff->method, sizeof eff->method, "%s", ov->method);
    if (ov->scope[0]) snprintf(eff->scope, sizeof eff->scope, "%s", ov->scope);
    if (ov->sparsity >= 0) eff->sparsity = ov->sparsity;
}

static const qn_layer_override *find_override(const qn_trial_config *cfg, const char *layer) {
    for (int i = 0; i < cfg->nlayers; i++)
        if (!strcmp(cfg->layers[i].layer, layer)) return &cfg->layers[i];
    return NULL;
}

static void resolve(const qn_trial_config *cfg, const qn_layer_override *ov, qn_quant_cfg *q, qn_prune_cfg *p) {
    *q = cfg->quant;
    *p = cfg->prune;
    if (!ov) return;
    merge_operand(&q->data_in, &ov->quant.data_in);
    merge_operand(&q->weight, &ov->quant.weight);
    merge_operand(&q->bias, &ov->quant.bias);
    merge_target(&p->weight, &ov->prune.weight);
    merge_target(&p->activation, &ov->prune.activation);
}

int qn_layer_config(const qn_trial_config *cfg, const char *layer, qn_quant_cfg *quant, qn_prune_cfg *prune,
                    char *err, size_t errlen) {
    qn_quant_cfg q;
    qn_prune_cfg p;
    resolve(cfg, find_override(cfg, layer), &q, &p);
    const qn_quant_operand *ops[3] = {&q.data_in, &q.weight, &q.bias};
    for (int o = 0; o < 3; o++) {
        qn_format f;
        char msg[QN_ERR_LEN];
        if (qn_quant_operand_format(ops[o], &f, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "layers.%s.quant.%s: %s", layer, o == 0 ? "data_in" : o == 1 ? "weight" : "bias", msg);
            return -1;
        }
    }
    if (quant) *quant = q;
    if (prune) *prune = p;
    return 0;
}

qn_layer_override *qn_layer_override_slot(qn_trial_config *cfg, const char *layer, char *err, size_t errlen) {
    for (int i = 0; i < cfg->nlayers; i++)
        if (!strcmp(cfg->layers[i].layer, layer)) return &cfg->layers[i];
    if (!layer[0] || strlen(layer) >= QN_LAYER_NAME_LEN) {
        snprintf(err, errlen, "layers.%.100s: a layer name has 1 to %d characters", layer, QN_LAYER_NAME_LEN - 1);
        return NULL;
    }
    if (cfg->nlayers == QN_MAX_LAYER_OVERRIDES) {
        snprintf(err, errlen, "layers.%.100s: a trial overrides at most %d layers", layer, QN_MAX_LAYER_OVERRIDES);
        return NULL;
    }
    qn_layer_override *ov = &cfg->layers[cfg->nlayers++];
    memset(ov, 0, sizeof *ov);
    snprintf(ov->layer, sizeof ov->layer, "%s", layer);
    ov->quant.data_in.frac_pct = ov->quant.weight.frac_pct = ov->quant.bias.frac_pct = -1.0;
    ov->prune.weight.sparsity = ov->prune.activation.sparsity = -1.0;
    return ov;
}

static int same_operand(const qn_quant_operand *a, const qn_quant_operand *b) {
    return !strcmp(a->name, b->name) && a->width == b->width && a->frac_width == b->frac_width && a->given == b->given &&
           a->frac_pct == b->frac_pct && a->exponent_width == b->exponent_width &&
           a->exponent_bias == b->exponent_bias && a->exponent_bias_width == b->exponent_bias_width &&
           a->block_size == b->block_size && a->bipolar == b->bipolar && a->scaling_factor == b->scaling_factor &&
           a->double_quant == b->double_quant && a->threshold == b->threshold;
}

int qn_layers_finish(qn_trial_config *cfg, char *err, size_t errlen) {
    static const char *const operands[3] = {"data_in", "weight", "bias"};
    for (int i = 0; i < cfg->nlayers; i++) {
        const qn_layer_override *ov = &cfg->layers[i];
        const char *L = ov->layer;
        if (qn_layer_check_name(&cfg->model, L, err, errlen) != 0) return -1;
        qn_quant_cfg q;
        qn_prune_cfg p;
        resolve(cfg, ov, &q, &p);
        const qn_quant_operand *ops[3] = {&q.data_in, &q.weight, &q.bias};
        const qn_quant_operand *given[3] = {&ov->quant.data_in, &ov->quant.weight, &ov->quant.bias};
        /* written once for all operands (layers.L.quant.width): named as the user wrote it */
        int shared = same_operand(given[0], given[1]) && same_operand(given[0], given[2]);
        /* keys for a layer that ends up unquantized are a mistake (an explicit name: none is not) */
        unsigned keys = given[0]->given | given[1]->given | given[2]->given;
        if (keys && !(keys & QN_QK_NAME) && !ops[0]->name[0] && !ops[1]->name[0] && !ops[2]->name[0]) {
            snprintf(err, errlen, "layers.%s.quant is set but the layer is not quantized: set quant.name or "
                                  "layers.%s.quant.name", L, L);
            return -1;
        }
        for (int o = 0; o < 3; o++) {
            const qn_quant_operand *op = ops[o];
            char at[QN_LAYER_NAME_LEN + 32];
            snprintf(at, sizeof at, "layers.%s.quant%s%s", L, shared ? "" : ".", shared ? "" : operands[o]);
            if (!given[o]->given) continue;
            if (!op->name[0]) continue;
            if (op->frac_pct >= 0 && strcmp(op->name, "integer") != 0) {
                snprintf(err, errlen, "%s.frac_width as a percentage of the width applies to integer, not %s", at, op->name);
                return -1;
            }
            if (op->frac_pct >= 0 && op->width == 0) {
                snprintf(err, errlen, "%s.frac_width is a percentage of the width, which is not set", at);
                return -1;
            }
            if (!strcmp(op->name, "integer") && op->width > 0 && op->frac_width > op->width) {
                snprintf(err, errlen, "%s.frac_width %d is larger than the layer's width %d", at, op->frac_width, op->width);
                return -1;
            }
            qn_format f;
            char msg[QN_ERR_LEN];
            if (qn_quant_operand_format(op, &f, msg, sizeof msg) != 0) {
                snprintf(err, errlen, "%s: %s", at, msg);
                return -1;
            }
        }
        const qn_prune_target *t[2] = {&p.weight, &p.activation};
        const qn_prune_target *tg[2] = {&ov->prune.weight, &ov->prune.activation};
        static const char *const targets[2] = {"weight", "activation"};
        for (int k = 0; k < 2; k++) {
            int touched = tg[k]->method[0] || tg[k]->scope[0] || tg[k]->sparsity >= 0;
            if (touched && t[k]->method[0] && t[k]->sparsity < 0) {
                snprintf(err, errlen, "layers.%s.prune.%s.sparsity is not set (the layer's %s method is %s): set "
                                      "layers.%s.prune.sparsity or prune.sparsity", L, targets[k], targets[k],
                         t[k]->method, L);
                return -1;
            }
        }
    }
    return 0;
}

int qn_config_any_quant(const qn_trial_config *cfg) {
    if (cfg->quant.data_in.name[0] || cfg->quant.weight.name[0] || cfg->quant.bias.name[0]) return 1;
    for (int i = 0; i < cfg->nlayers; i++) {
        const qn_quant_cfg *q = &cfg->layers[i].quant;
        if (q->data_in.name[0] || q->weight.name[0] || q->bias.name[0]) return 1;
    }
    return 0;
}

int qn_config_any_prune(const qn_trial_config *cfg) {
    if (cfg->prune.weight.method[0] || cfg->prune.activation.method[0]) return 1;
    for (int i = 0; i < cfg->nlayers; i++)
        if (cfg->layers[i].prune.weight.method[0] || cfg->layers[i].prune.activation.method[0]) return 1;
    return 0;
}
