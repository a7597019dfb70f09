/* Search stages in the job file: method/trials/parameters parsed into axes, grid size capping the
 * trials, sampler points mapped to parameters, and the plan text. Errors: tests/jobs/bad/search-*. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "qn_job.h"

static const char *JOB = "name: s\n"
                         "model: {arch: mlp, embed_dim: 8, hidden_size: 8}\n"
                         "quant: {name: integer, width: 8}\n"
                         "stages:\n"
                         "  - name: t\n"
                         "    method: tpe\n"
                         "    trials: 7\n"
                         "    metric: {name: qat_loss, goal: minimize}\n"
                         "    parameters:\n"
                         "      quant.frac_width: {values: [\"25%\", \"50%\"]}\n"
                         "      train.lr: {min: 1.0e-5, max: 1.0e-2, distribution: log_uniform}\n"
                         "      train.batch_size: {min: 8, max: 32}\n"
                         "    run: [qat]\n"
                         "  - name: g\n"
                         "    method: grid\n"
                         "    trials: 50\n"
                         "    parameters: {train.batch_size: {min: 8, max: 24, q: 8}, layers.fc1.quant.width: {values: [4, 8]}}\n"
                         "    run: [ptq_eval]\n";

Test(job_search, parses_method_trials_and_space) {
    qn_job job;
    char err[QN_ERR_LEN] = "";
    cr_assert_eq(qn_job_load_text("s.yaml", JOB, strlen(JOB), &job, err, sizeof err), 0, "%s", err);
    const qn_stage *t = &job.stages[0], *g = &job.stages[1];
    cr_assert_str_eq(t->kind, "search");
    cr_assert_eq(t->method, QN_SEARCH_TPE);
    cr_assert_eq(t->ntrials, 7);
    cr_assert_eq(t->maximize, 0);
    cr_assert_eq(t->naxes, 3);
    cr_assert_eq(t->axes[0].dist, QN_DIST_VALUES);
    cr_assert_eq(t->axes[1].dist, QN_DIST_LOG_UNIFORM);
    cr_assert_eq(t->axes[2].dist, QN_DIST_INT_UNIFORM); /* integer bounds: W&B's default */
    cr_assert_eq(g->method, QN_SEARCH_GRID);
    cr_assert_eq(g->ntrials, 6, "a grid stage runs each of its 3 x 2 points once");
    cr_assert_eq(job.ntrials, 13);

    qn_trial tr;
    cr_assert_eq(qn_job_trial(&job, 0, &tr), 0);
    cr_assert_eq(tr.nparams, 0, "a search trial's parameters come from the sampler");
    double x[3] = {1, 1e-3, NAN};
    cr_assert_eq(qn_search_params(t, x, &tr), 0);
    cr_assert_eq(tr.nparams, 2, "NAN is an absent parameter");
    cr_assert_str_eq(tr.params[0].name, "quant.frac_width");
    cr_assert_str_eq(tr.params[0].value.str, "50%");
    cr_assert_float_eq(tr.params[1].value.num, 1e-3, 0);
    qn_trial_config cfg;
    cr_assert_eq(qn_trial_config_build(&job, NULL, 0, &tr, &cfg, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(cfg.train.lr, 1e-3, 0);
    cr_assert_eq(cfg.quant.weight.frac_width, 4);
    qn_trial_free(&tr);

    char *plan = qn_job_plan_text(&job);
    cr_assert(strstr(plan, "stage t search 7 trials") && strstr(plan, "method tpe") &&
              strstr(plan, "param train.lr: log_uniform"), "%s", plan);
    free(plan);
    qn_job_free(&job);
}

/* when: with several choices becomes one axis per (parent, choice), all under one name; the point's
 * inactive copies are absent whatever x holds. */
static const char *COND = "name: c\n"
                          "model: {arch: mlp, embed_dim: 8, hidden_size: 8}\n"
                          "stages:\n"
                          "  - name: f\n"
                          "    method: tpe\n"
                          "    trials: 5\n"
                          "    parameters:\n"
                          "      quant.name: {values: [integer, minifloat_ieee, fp16]}\n"
                          "      quant.width: {values: [8, 16], when: {quant.name: [integer, minifloat_ieee]}}\n"
                          "      quant.frac_width: {values: [\"25%\", \"50%\"], when: {quant.name: integer}}\n"
                          "      quant.exponent_width: {values: [3, 4, 5], when: {quant.name: minifloat_ieee}}\n"
                          "      train.lr: {min: 1.0e-4, max: 1.0e-2, when: {quant.width: 16}}\n"
                          "    run: [ptq_eval]\n";

Test(job_search, conditional_parameters_map_to_parent_and_choice) {
    qn_job job;
    char err[QN_ERR_LEN] = "";
    cr_assert_eq(qn_job_load_text("c.yaml", COND, strlen(COND), &job, err, sizeof err), 0, "%s", err);
    const qn_stage *f = &job.stages[0];
    /* name, width|integer, width|minifloat, frac|integer, exp|minifloat, lr|(each width copy, 16) */
    cr_assert_eq(f->naxes, 7);
    const char *names[] = {"quant.name", "quant.width", "quant.width", "quant.frac_width", "quant.exponent_width",
                           "train.lr", "train.lr"};
    const int parent[] = {-1, 0, 0, 0, 0, 1, 2}, choice[] = {0, 0, 1, 0, 1, 1, 1};
    for (int a = 0; a < 7; a++) {
        cr_assert_str_eq(f->axes[a].name, names[a]);
        cr_assert_eq(f->axes[a].parent, parent[a], "axis %d", a);
        cr_assert_eq(f->axes[a].parent_choice, choice[a], "axis %d", a);
    }
    qn_trial tr = {0};
    /* minifloat_ieee, width 16: only the minifloat copies count, though every slot holds a value */
    double x[7] = {1, 0, 1, 1, 2, 1e-3, 2e-3};
    cr_assert_eq(qn_search_params(f, x, &tr), 0);
    cr_assert_eq(tr.nparams, 4);
    cr_assert_str_eq(tr.params[0].value.str, "minifloat_ieee");
    cr_assert_str_eq(tr.params[1].name, "quant.width");
    cr_assert_float_eq(tr.params[1].value.num, 16, 0);
    cr_assert_str_eq(tr.params[2].name, "quant.exponent_width");
    cr_assert_float_eq(tr.params[2].value.num, 5, 0);
    cr_assert_str_eq(tr.params[3].name, "train.lr");
    cr_assert_float_eq(tr.params[3].value.num, 2e-3, 0);
    /* fp16: nothing else */
    double y[7] = {2, 0, 1, 1, 2, 1e-3, 2e-3};
    cr_assert_eq(qn_search_params(f, y, &tr), 0);
    cr_assert_eq(tr.nparams, 1);
    qn_trial_free(&tr);
    char *plan = qn_job_plan_text(&job);
    cr_assert(strstr(plan, "when axis 0 = 1\n  axis quant.width:"), "%s", plan);
    free(plan);
    qn_job_free(&job);
}

/* layers.*.KEY: one axis per Linear layer, in model order; a * in when: is the same layer. */
Test(job_search, layer_wildcard_expands_per_linear_layer) {
    const char *text = "name: w\n"
                       "model: {arch: bert, preset: bert-tiny}\n"
                       "stages:\n"
                       "  - name: m\n"
                       "    method: random\n"
                       "    trials: 3\n"
                       "    parameters:\n"
                       "      layers.*.quant.name: {values: [fp32, integer]}\n"
                       "      layers.*.quant.width: {values: [8, 16, 32], when: {layers.*.quant.name: integer}}\n"
                       "      layers.*.quant.frac_width: {values: [2, 4, 8], when: {layers.*.quant.name: integer}}\n"
                       "    run: [ptq_eval]\n";
    qn_job job;
    char err[QN_ERR_LEN] = "";
    cr_assert_eq(qn_job_load_text("w.yaml", text, strlen(text), &job, err, sizeof err), 0, "%s", err);
    const qn_stage *m = &job.stages[0];
    cr_assert_eq(m->naxes, 3 * 14, "bert-tiny has 14 Linear layers");
    cr_assert_str_eq(m->axes[0].name, "layers.bert.encoder.layer.0.attention.self.query.quant.name");
    cr_assert_str_eq(m->axes[5].name, "layers.bert.encoder.layer.0.output.dense.quant.name");
    cr_assert_str_eq(m->axes[12].name, "layers.bert.pooler.dense.quant.name");
    cr_assert_str_eq(m->axes[13].name, "layers.classifier.quant.name");
    for (int l = 0; l < 14; l++) {
        cr_assert_eq(m->axes[l].parent, -1);
        cr_assert_eq(m->axes[14 + l].parent, l, "width of layer %d under its own name", l);
        cr_assert_eq(m->axes[14 + l].parent_choice, 1);
        cr_assert_eq(m->axes[28 + l].parent, l);
    }
    cr_assert_str_eq(m->axes[27].name, "layers.classifier.quant.width");
    cr_assert_str_eq(m->axes[41].name, "layers.classifier.quant.frac_width");
    /* the classifier integer (width 16, frac 4), every other layer fp32 */
    double x[42];
    for (int a = 0; a < 42; a++) x[a] = 0;
    x[13] = 1, x[27] = 1, x[41] = 1;
    qn_trial tr = {0};
    cr_assert_eq(qn_search_params(m, x, &tr), 0);
    cr_assert_eq(tr.nparams, 16);
    qn_trial_config cfg;
    cr_assert_eq(qn_trial_config_build(&job, NULL, 0, &tr, &cfg, err, sizeof err), 0, "%s", err);
    qn_quant_cfg q;
    qn_prune_cfg pr;
    cr_assert_eq(qn_layer_config(&cfg, "classifier", &q, &pr, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(q.weight.name, "integer");
    cr_assert_eq(q.weight.width, 16);
    cr_assert_eq(q.weight.frac_width, 4);
    cr_assert_eq(qn_layer_config(&cfg, "bert.pooler.dense", &q, &pr, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(q.weight.name, "", "fp32: not quantized");
    qn_trial_free(&tr);
    qn_job_free(&job);

    /* bert-small: 26 layers, under the 64 a trial may override */
    const char *small = "name: w\n"
                        "model: {arch: bert, preset: bert-small}\n"
                        "quant: {name: integer, width: 8}\n"
                        "stages:\n"
                        "  - {name: m, method: tpe, trials: 2, run: [ptq_eval],\n"
                        "     parameters: {layers.*.quant.width: {values: [8, 16]}}}\n";
    cr_assert_eq(qn_job_load_text("s.yaml", small, strlen(small), &job, err, sizeof err), 0, "%s", err);
    cr_assert_eq(job.stages[0].naxes, 26);
    cr_assert_str_eq(job.stages[0].axes[25].name, "layers.classifier.quant.width");
    qn_job_free(&job);
}
