/* Per-layer compression in the trial engine: a BERT with one Linear layer at integer width 4 and
 * the rest fp32 quantizes that layer's weight only (its Wq is MASE's integer of W, every other layer
 * multiplies by W itself), pruning overrides act on their layer only, and the packed checkpoint
 * stores each layer in its own format. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/model.h"
#include "qn_dataset.h"
#include "qn_worker_ckpt.h"

enum { N = 8, T = 12 };
static const char *const QUERY = "bert.encoder.layer.1.attention.self.query";

static void set(qn_trial_config *c, const char *name, const char *s, double x) {
    qn_value v = {.kind = s ? QN_VAL_STR : QN_VAL_NUM, .num = x, .str = (char *)s};
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_config_set(c, name, &v, err, sizeof err), 0, "%s: %s", name, err);
}

static qn_trial_config bert_cfg(void) {
    qn_trial_config c;
    memset(&c, 0, sizeof c);
    /* defaults as a job without sections gives them */
    c.model.num_labels = 2;
    snprintf(c.data.dataset, sizeof c.data.dataset, "synthetic-sentiment");
    c.data.max_len = T, c.data.train_size = c.data.eval_size = N;
    c.quant.data_in.frac_pct = c.quant.weight.frac_pct = c.quant.bias.frac_pct = -1.0;
    snprintf(c.prune.weight.scope, sizeof c.prune.weight.scope, "local");
    snprintf(c.prune.activation.scope, sizeof c.prune.activation.scope, "local");
    c.prune.weight.sparsity = c.prune.activation.sparsity = -1.0;
    set(&c, "model.arch", "bert", 0);
    set(&c, "model.hidden_size", NULL, 16);
    set(&c, "model.layers", NULL, 2);
    set(&c, "model.heads", NULL, 2);
    set(&c, "model.intermediate_size", NULL, 32);
    return c;
}

static void finish(qn_trial_config *c) {
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_config_finish(c, err, sizeof err), 0, "%s", err);
}

static qn_model *model_of(const qn_trial_config *c) {
    char err[256];
    qn_model *m = qn_model_new(&c->model, qn_synth_vocab_size(), N, T, 21, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    return m;
}

static int layer_index(const qn_model *m, const char *layer) {
    char name[QN_LAYER_NAME_LEN];
    for (int i = 0; i < m->nlinears; i++)
        if (!strcmp(qn_model_layer_name(m, i, name, sizeof name), layer)) return i;
    return -1;
}

Test(worker_layers, one_layer_at_width_4_only_that_weight_changes) {
    qn_trial_config c = bert_cfg();
    set(&c, "layers.bert.encoder.layer.1.attention.self.query.quant.name", "integer", 0);
    set(&c, "layers.bert.encoder.layer.1.attention.self.query.quant.width", NULL, 4);
    set(&c, "layers.bert.encoder.layer.1.attention.self.query.quant.frac_width", NULL, 2);
    finish(&c);
    qn_model *m = model_of(&c);
    cr_assert_eq(m->nlinears, 14);
    char err[256];
    cr_assert_eq(qn_model_set_layer_quant(m, &c, err, sizeof err), 0, "%s", err);
    int q = layer_index(m, QUERY);
    cr_assert_geq(q, 0);
    /* a larger scale so that 4 bits with 2 fractional ones visibly round */
    for (size_t i = 0; i < (size_t)m->linears[q]->out * m->linears[q]->in; i++) m->linears[q]->W[i] *= 40.0f;
    qn_dataset *d = qn_synth_generate(3, QN_SPLIT_TRAIN, N, T, 0.0);
    qn_rng rng;
    qn_rng_seed(&rng, 1);
    float loss = m->forward(m, d->ids, d->lengths, d->labels, N, &rng);
    cr_assert(isfinite(loss));
    for (int i = 0; i < m->nlinears; i++) {
        qn_linear *l = m->linears[i];
        size_t n = (size_t)l->out * l->in;
        if (i != q) {
            cr_expect_eq(l->fmt[1].kind, QN_FMT_NONE, "layer %d is quantized", i);
            cr_expect(l->w_used == l->W, "layer %d does not multiply by its float weight", i);
            continue;
        }
        cr_assert(l->w_used == l->Wq, "the query layer does not use its quantized weight");
        /* MASE's integer, width 4, frac_width 2: multiples of 1/4 in [-2, 1.75] */
        size_t differ = 0;
        for (size_t k = 0; k < n; k++) {
            float want = fminf(fmaxf(roundf(l->W[k] * 4.0f) / 4.0f, -2.0f), 1.75f);
            cr_expect_float_eq(l->Wq[k], want, 1e-7f, "Wq[%zu] = %g, want %g (W %g)", k, l->Wq[k], want, l->W[k]);
            differ += l->Wq[k] != l->W[k];
        }
        cr_expect_gt(differ, n / 2, "only %zu of %zu quantized weights differ from W", differ, n);
    }
    /* the checkpoint packs that layer at 4 bits and keeps the others as float32 */
    qn_ckpt ck;
    cr_assert_eq(qn_ckpt_build(&c, m->params, m->nparams, 0, &ck, err, sizeof err), 0, "%s", err);
    int seen = 0;
    for (int i = 0; i < ck.ntensors; i++) {
        const qn_ckpt_tensor *t = &ck.tensors[i];
        if (!strcmp(t->name, "bert.encoder.layer.1.attention.self.query.bias")) {
            cr_expect_str_eq(t->format, "integer:width=4,frac_width=2");
        } else if (!strcmp(t->name, "bert.encoder.layer.1.attention.self.query.weight")) {
            cr_expect_str_eq(t->format, "integer:width=4,frac_width=2");
            cr_expect_eq(t->enc, QN_ENC_FIXED);
            cr_expect_eq(t->width, 4);
            seen++;
        } else {
            cr_expect_str_eq(t->format, "none", "%s", t->name);
        }
    }
    cr_expect_eq(seen, 1);
    /* and a model rebuilt from it computes what this one did */
    qn_model *r = qn_ckpt_model(&c, &ck, 0, N, T, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    qn_rng_seed(&rng, 1);
    float loss2 = r->forward(r, d->ids, d->lengths, d->labels, N, &rng);
    cr_expect_float_eq(loss2, loss, 1e-6f, "rebuilt %g vs %g", loss2, loss);
    qn_model_free(r);
    qn_ckpt_free(&ck);
    qn_dataset_free(d);
    qn_model_free(m);
}

Test(worker_layers, pruning_override_spares_one_layer) {
    qn_trial_config c = bert_cfg();
    set(&c, "prune.weight.method", "l1-norm", 0);
    set(&c, "prune.weight.scope", "global", 0);
    set(&c, "prune.sparsity", NULL, 0.5);
    set(&c, "layers.classifier.prune.weight.sparsity", NULL, 0.0);
    finish(&c);
    qn_model *m = model_of(&c);
    double sp = qn_model_prune(m, &c, 7, NULL, NULL, 0);
    cr_assert(isfinite(sp));
    int cls = layer_index(m, "classifier");
    size_t zeros_other = 0, total_other = 0;
    for (int i = 0; i < m->nlinears; i++) {
        qn_linear *l = m->linears[i];
        size_t n = (size_t)l->out * l->in, z = 0;
        for (size_t k = 0; k < n; k++) z += l->W[k] == 0.0f;
        if (i == cls) cr_expect_eq(z, 0, "the classifier lost %zu weights", z);
        else zeros_other += z, total_other += n;
    }
    /* one global threshold over the other 13 layers */
    cr_expect(fabs((double)zeros_other / (double)total_other - 0.5) < 0.01, "%zu of %zu", zeros_other, total_other);
    qn_model_free(m);
}

Test(worker_layers, override_of_a_missing_layer_fails_the_trial) {
    /* a pretrained checkpoint may have fewer encoder layers than a job can check: the worker refuses */
    qn_trial_config c = bert_cfg();
    set(&c, "quant.name", "integer", 0);
    set(&c, "quant.width", NULL, 8);
    finish(&c);
    qn_layer_override *ov = &c.layers[c.nlayers++];
    memset(ov, 0, sizeof *ov);
    snprintf(ov->layer, sizeof ov->layer, "bert.encoder.layer.5.output.dense");
    qn_model *m = model_of(&c);
    char err[256] = "";
    cr_expect_eq(qn_model_set_layer_quant(m, &c, err, sizeof err), -1);
    cr_expect(strstr(err, "layers.bert.encoder.layer.5.output.dense") != NULL, "%s", err);
    qn_model_free(m);
}
