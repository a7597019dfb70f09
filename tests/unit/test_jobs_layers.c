/* Per-layer compression in job files: layers.<LAYER>.quant.* / layers.<LAYER>.prune.* in grids and
 * in the layers: section, the layer names per architecture, a layer's effective configuration (the
 * trial's with the override on top; a name starts afresh), the limit, and the plan text. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_job.h"

static qn_job load_text(const char *text) {
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_load_text("t.yaml", text, strlen(text), &job, err, sizeof err), 0, "%s", err);
    return job;
}

static void load_fails(const char *text, const char *want) {
    qn_job job;
    char err[QN_ERR_LEN] = "";
    cr_assert_eq(qn_job_load_text("t.yaml", text, strlen(text), &job, err, sizeof err), -1, "loaded; wanted %s", want);
    cr_expect(strstr(err, want) != NULL, "got '%s', wanted '%s'", err, want);
}

static qn_trial_config trial_cfg(const qn_job *job, int64_t id) {
    qn_trial t;
    qn_trial_config cfg;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_trial(job, id, &t), 0);
    cr_assert_eq(qn_trial_config_build(job, NULL, 0, &t, &cfg, err, sizeof err), 0, "%s", err);
    qn_trial_free(&t);
    return cfg;
}

#define BERT                                                                                          \
    "name: t\nmodel: {arch: bert, hidden_size: 16, layers: 2, heads: 2, intermediate_size: 32}\n"       \
    "data: {train_size: 64, eval_size: 32, max_len: 16}\ntrain: {epochs: 1, batch_size: 16}\n"

Test(job_layers, names_follow_the_state_dict) {
    char b[QN_LAYER_NAME_LEN];
    cr_expect_eq(qn_linear_layer_count("mlp", 0), 2);
    cr_expect_str_eq(qn_linear_layer_name("mlp", 0, 0, b, sizeof b), "fc1");
    cr_expect_str_eq(qn_linear_layer_name("mlp", 0, 1, b, sizeof b), "fc2");
    cr_expect_null(qn_linear_layer_name("mlp", 0, 2, b, sizeof b));
    cr_expect_eq(qn_linear_layer_count("bert", 2), 14);
    cr_expect_str_eq(qn_linear_layer_name("bert", 2, 0, b, sizeof b), "bert.encoder.layer.0.attention.self.query");
    cr_expect_str_eq(qn_linear_layer_name("bert", 2, 3, b, sizeof b), "bert.encoder.layer.0.attention.output.dense");
    cr_expect_str_eq(qn_linear_layer_name("bert", 2, 11, b, sizeof b), "bert.encoder.layer.1.output.dense");
    cr_expect_str_eq(qn_linear_layer_name("bert", 2, 12, b, sizeof b), "bert.pooler.dense");
    cr_expect_str_eq(qn_linear_layer_name("bert", 2, 13, b, sizeof b), "classifier");
    cr_expect_eq(qn_linear_layer_count("resnet", 2), 0);
}

Test(job_layers, grid_axis_overrides_one_layer) {
    qn_job job = load_text(BERT "quant: {name: integer, width: 8, frac_width: \"50%\"}\n"
                                "stages:\n  - name: a\n    grid:\n"
                                "      layers.bert.encoder.layer.0.attention.self.query.quant.width: [4, 6]\n"
                                "    run: [ptq_eval]\n");
    cr_assert_eq(job.ntrials, 2);
    for (int64_t id = 0; id < 2; id++) {
        qn_trial_config cfg = trial_cfg(&job, id);
        cr_assert_eq(cfg.nlayers, 1);
        qn_quant_cfg q;
        char err[QN_ERR_LEN];
        cr_assert_eq(qn_layer_config(&cfg, "bert.encoder.layer.0.attention.self.query", &q, NULL, err, sizeof err), 0,
                     "%s", err);
        int w = id == 0 ? 4 : 6;
        /* every operand, and the trial's 50% follows the layer's width */
        cr_expect_eq(q.data_in.width, w);
        cr_expect_eq(q.weight.width, w);
        cr_expect_eq(q.bias.width, w);
        cr_expect_eq(q.weight.frac_width, w / 2);
        cr_expect_str_eq(q.weight.name, "integer");
        /* the other layers keep the trial's */
        cr_assert_eq(qn_layer_config(&cfg, "bert.encoder.layer.0.attention.self.key", &q, NULL, err, sizeof err), 0);
        cr_expect_eq(q.weight.width, 8);
        cr_expect_eq(q.weight.frac_width, 4);
    }
    qn_job_free(&job);
}

Test(job_layers, a_layer_name_starts_from_the_formats_defaults) {
    /* the trial's integer keys (frac_width) do not carry over to the layer's nf4 */
    qn_job job = load_text(BERT "quant: {name: integer, width: 8, frac_width: 4}\n"
                                "layers:\n  classifier: {quant: {weight: {name: nf4}, data_in: {name: none}}}\n"
                                "stages:\n  - {name: a, run: [ptq_eval]}\n");
    qn_trial_config cfg = trial_cfg(&job, 0);
    qn_quant_cfg q;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_layer_config(&cfg, "classifier", &q, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(q.weight.name, "nf4");
    cr_expect_eq(q.weight.frac_width, 0);
    cr_expect_eq(q.data_in.name[0], 0, "data_in: none");
    cr_expect_str_eq(q.bias.name, "integer");
    cr_expect_eq(q.bias.width, 8);
    qn_job_free(&job);
}

Test(job_layers, quant_only_on_one_layer_counts_as_quantized) {
    qn_job job = load_text(BERT "stages:\n  - name: a\n    grid:\n"
                                "      layers.classifier.quant.name: [integer]\n"
                                "      layers.classifier.quant.width: [4]\n"
                                "    run: [ptq_eval]\n");
    qn_trial_config cfg = trial_cfg(&job, 0);
    qn_quant_cfg q;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_layer_config(&cfg, "bert.pooler.dense", &q, NULL, err, sizeof err), 0);
    cr_expect_eq(q.weight.name[0], 0, "other layers stay fp32");
    cr_assert_eq(qn_layer_config(&cfg, "classifier", &q, NULL, err, sizeof err), 0);
    cr_expect_eq(q.weight.width, 4);
    qn_job_free(&job);
}

Test(job_layers, prune_overrides_per_target) {
    qn_job job = load_text("name: t\nmodel: {arch: mlp, embed_dim: 8, hidden_size: 8}\n"
                           "prune: {method: l1-norm, sparsity: 0.5}\n"
                           "layers:\n  fc2: {prune: {weight: {sparsity: 0.0}, activation: {method: random}}}\n"
                           "stages:\n  - {name: a, run: [prune, eval]}\n");
    qn_trial_config cfg = trial_cfg(&job, 0);
    qn_prune_cfg p;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_layer_config(&cfg, "fc2", NULL, &p, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(p.weight.method, "l1-norm");
    cr_expect_eq(p.weight.sparsity, 0.0);
    cr_expect_str_eq(p.activation.method, "random");
    cr_expect_eq(p.activation.sparsity, 0.5);
    cr_assert_eq(qn_layer_config(&cfg, "fc1", NULL, &p, err, sizeof err), 0);
    cr_expect_eq(p.weight.sparsity, 0.5);
    cr_expect_str_eq(p.activation.method, "l1-norm");
    qn_job_free(&job);
}

Test(job_layers, mistakes_are_refused_with_hints) {
    load_fails(BERT "quant: {name: integer, width: 8}\nstages:\n  - name: a\n    grid:\n"
                    "      layers.bert.encoder.layer.0.attention.self.querry.quant.width: [4]\n    run: [ptq_eval]\n",
               "t.yaml:9:7: layers.bert.encoder.layer.0.attention.self.querry: no such Linear layer in this bert (2 "
               "encoder layers): did you mean 'bert.encoder.layer.0.attention.self.query'?");
    load_fails(BERT "quant: {name: integer, width: 8}\nstages:\n  - name: a\n    grid:\n"
                    "      layers.classifier.quant.widht: [4]\n    run: [ptq_eval]\n",
               "t.yaml:9:7: unknown parameter 'layers.classifier.quant.widht': did you mean "
               "'layers.classifier.quant.width'?");
    load_fails(BERT "layers:\n  classifier: {quant: {width: 4}}\nstages:\n  - {name: a, run: [eval]}\n",
               "t.yaml:6:3: layers.classifier.quant is set but the layer is not quantized");
    load_fails(BERT "layers:\n  classifier: {quant: {name: nf4, block_size: 48}}\nstages:\n  - {name: a, run: [eval]}\n",
               "t.yaml:6:3: layers.classifier.quant: nf4 block_size must be a power of two");
    load_fails(BERT "layers:\n  classifier: {prune: {method: random}}\nstages:\n  - {name: a, run: [prune, eval]}\n",
               "t.yaml:6:3: layers.classifier.prune.weight.sparsity is not set");
    load_fails(BERT "layers:\n  classifier: {prune: {method: random, sparsity: 0.5}}\nstages:\n  - {name: a, run: [eval]}\n",
               "prune.* is set but stage 'a' has no prune step");
    load_fails(BERT "layers:\n  classifier: {quant: {name: integer, width: 4}, bias: {}}\nstages:\n  - {name: a, run: [eval]}\n",
               "t.yaml:6:50: unknown key 'bias' in layers.classifier");
    /* a grid over model.layers: names are checked for every trial's model */
    load_fails(BERT "quant: {name: integer, width: 8}\nstages:\n  - name: a\n    grid:\n      model.layers: [2, 1]\n"
                    "      layers.bert.encoder.layer.1.output.dense.quant.width: [4]\n    run: [ptq_eval]\n",
               "t.yaml:10:62: layers.bert.encoder.layer.1.output.dense: no such Linear layer in this bert (1 encoder layer)");
}

Test(job_layers, at_most_the_documented_number_of_layers) {
    /* 65 layers of a 12-layer bert (74 Linear layers): one more than QN_MAX_LAYER_OVERRIDES */
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap);
    n += (size_t)snprintf(text + n, cap - n, "name: t\nmodel: {arch: bert, hidden_size: 16, layers: 12, heads: 2, "
                                             "intermediate_size: 32}\nquant: {name: integer, width: 8}\nlayers:\n");
    char b[QN_LAYER_NAME_LEN];
    for (int i = 0; i <= QN_MAX_LAYER_OVERRIDES; i++)
        n += (size_t)snprintf(text + n, cap - n, "  %s: {quant: {width: 4}}\n", qn_linear_layer_name("bert", 12, i, b, sizeof b));
    snprintf(text + n, cap - n, "stages:\n  - {name: a, run: [ptq_eval]}\n");
    load_fails(text, "a trial overrides at most 64 layers");
    free(text);
}

Test(job_layers, plan_text_sees_layer_overrides) {
    const char *a = BERT "quant: {name: integer, width: 8}\nlayers:\n  classifier: {quant: {width: 4}}\n"
                         "stages:\n  - {name: a, run: [ptq_eval]}\n";
    const char *b = BERT "quant: {name: integer, width: 8}\nlayers:\n  classifier: {quant: {width: 6}}\n"
                         "stages:\n  - {name: a, run: [ptq_eval]}\n";
    const char *c = BERT "quant: {name: integer, width: 8}\nstages:\n  - {name: a, run: [ptq_eval]}\n";
    qn_job ja = load_text(a), jb = load_text(b), jc = load_text(c);
    char *pa = qn_job_plan_text(&ja), *pb = qn_job_plan_text(&jb), *pc = qn_job_plan_text(&jc);
    cr_expect(strstr(pa, "base layers.classifier.quant.weight width=4") != NULL, "%s", pa);
    cr_expect(strcmp(pa, pb) != 0);
    cr_expect(strstr(pc, "base layers.") == NULL, "no overrides, no lines: %s", pc);
    free(pa), free(pb), free(pc);
    qn_job_free(&ja), qn_job_free(&jb), qn_job_free(&jc);
}
