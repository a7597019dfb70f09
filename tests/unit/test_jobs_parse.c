/* Valid job files: stages, grid expansion order, ranges, from: links, trial seeds, configuration
 * building (percentages of width), plan text and did-you-mean. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_job.h"

static qn_job load(const char *path) {
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_load(path, &job, err, sizeof err), 0, "%s", err);
    return job;
}

static qn_job load_text(const char *text) {
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_load_text("t.yaml", text, strlen(text), &job, err, sizeof err), 0, "%s", err);
    return job;
}

static const char *param_str(const qn_trial *t, const char *name) {
    for (int i = 0; i < t->nparams; i++)
        if (!strcmp(t->params[i].name, name) && t->params[i].value.kind == QN_VAL_STR) return t->params[i].value.str;
    return NULL;
}

static double param_num(const qn_trial *t, const char *name) {
    for (int i = 0; i < t->nparams; i++)
        if (!strcmp(t->params[i].name, name) && t->params[i].value.kind == QN_VAL_NUM) return t->params[i].value.num;
    return NAN;
}

#define HEADER                                                                                        \
    "name: t\nseed: 5\nmodel: {arch: mlp, embed_dim: 8, hidden_size: 8}\n"                              \
    "data: {dataset: synthetic-sentiment, train_size: 64, eval_size: 32, max_len: 16}\n"               \
    "train: {epochs: 1, batch_size: 16, lr: 1.0e-3, weight_decay: 0.0}\n"

Test(job_parse, e2e_study_stages_and_counts) {
    qn_job job = load(QN_TEST_DATA "/e2e/jobs/study.yaml");
    cr_expect_str_eq(job.name, "e2e-study");
    cr_expect_eq(job.seed, 7);
    cr_assert_eq(job.nstages, 4);
    cr_expect_eq(job.ntrials, 11);
    const int64_t counts[] = {1, 2, 4, 4}, firsts[] = {0, 1, 3, 7};
    for (int s = 0; s < 4; s++) {
        cr_expect_eq(job.stages[s].ntrials, counts[s], "stage %d", s);
        cr_expect_eq(job.stages[s].first_trial, firsts[s], "stage %d", s);
    }
    cr_expect_eq(job.stages[0].from.kind, QN_FROM_NONE);
    cr_expect_eq(job.stages[2].from.kind, QN_FROM_STAGE);
    cr_expect_eq(job.stages[2].from.stage, 0);
    cr_expect_eq(job.stages[3].from.kind, QN_FROM_BEST);
    cr_expect_eq(job.stages[3].from.stage, 2);
    cr_expect_str_eq(job.stages[3].from.metric, "qat_accuracy");
    cr_expect_eq(job.stages[3].from.maximize, 1);
    cr_expect_eq(job.stages[2].nsteps, 2);
    cr_expect_eq(job.stages[2].steps[0], QN_STEP_PTQ_EVAL);
    cr_expect_eq(job.stages[2].steps[1], QN_STEP_QAT);
    cr_expect_eq(job.stages[3].steps[0], QN_STEP_PRUNE);
    cr_expect_eq(job.base.model.embed_dim, 16);
    cr_expect_eq(job.base.data.train_size, 800);
    cr_expect_float_eq(job.base.train.lr, 2.0e-3, 1e-15);
    qn_job_free(&job);
}

Test(job_parse, grid_expands_row_major_last_axis_fastest) {
    qn_job job = load(QN_TEST_DATA "/e2e/jobs/study.yaml");
    /* sweep: width [4, 8] x frac ["25%", "50%"] -> ids 3..6 */
    const double widths[] = {4, 4, 8, 8};
    const char *fracs[] = {"25%", "50%", "25%", "50%"};
    for (int i = 0; i < 4; i++) {
        qn_trial t;
        cr_assert_eq(qn_job_trial(&job, 3 + i, &t), 0);
        cr_expect_eq(t.stage, 2);
        cr_expect_eq(t.id, 3 + i);
        cr_expect_str_eq(param_str(&t, "quant.name"), "integer");
        cr_expect_eq(param_num(&t, "quant.width"), widths[i]);
        char buf[32];
        for (int p = 0; p < t.nparams; p++)
            if (!strcmp(t.params[p].name, "quant.frac_width"))
                cr_expect_str_eq(qn_value_format(&t.params[p].value, buf, sizeof buf), fracs[i]);
        qn_trial_free(&t);
    }
    qn_trial t;
    cr_expect_eq(qn_job_trial(&job, 11, &t), -1, "trial past the end");
    cr_expect_eq(qn_job_trial(&job, -1, &t), -1, "negative trial id");
    qn_job_free(&job);
}

Test(job_parse, range_gives_exact_decimal_steps) {
    qn_job job = load_text(HEADER "stages:\n  - name: s\n    grid:\n      prune.weight.method: [random]\n"
                                  "      prune.sparsity: {start: 0.1, stop: 0.9, step: 0.1}\n    run: [prune, eval]\n");
    cr_assert_eq(job.ntrials, 9);
    for (int i = 0; i < 9; i++) {
        qn_trial t;
        cr_assert_eq(qn_job_trial(&job, i, &t), 0);
        char want[16];
        snprintf(want, sizeof want, "0.%d", i + 1);
        cr_expect_eq(param_num(&t, "prune.sparsity"), strtod(want, NULL), "value %d is %.17g", i,
                     param_num(&t, "prune.sparsity"));
        qn_trial_free(&t);
    }
    qn_job_free(&job);
}

Test(job_parse, percentage_frac_width_resolves_against_width) {
    qn_job job = load_text(HEADER "stages:\n  - name: s\n    grid:\n      quant.name: [integer]\n"
                                  "      quant.width: [6, 8, 32]\n      quant.frac_width: [\"25%\", \"50%\", 3]\n"
                                  "    run: [ptq_eval]\n");
    cr_assert_eq(job.ntrials, 9);
    /* round half up: 25% of 6 = 1.5 -> 2 */
    const int want[] = {2, 3, 3, 2, 4, 3, 8, 16, 3};
    for (int i = 0; i < 9; i++) {
        qn_trial t;
        qn_trial_config cfg;
        char err[QN_ERR_LEN];
        cr_assert_eq(qn_job_trial(&job, i, &t), 0);
        cr_assert_eq(qn_trial_config_build(&job, NULL, 0, &t, &cfg, err, sizeof err), 0, "%s", err);
        cr_expect_eq(cfg.quant.weight.frac_width, want[i], "trial %d: frac %d", i, cfg.quant.weight.frac_width);
        cr_expect_eq(cfg.quant.data_in.frac_width, want[i]);
        cr_expect_eq(cfg.quant.bias.frac_width, want[i]);
        cr_expect_str_eq(cfg.quant.bias.name, "integer");
        qn_trial_free(&t);
    }
    qn_job_free(&job);
}

Test(job_parse, per_operand_quant_and_inherited_params) {
    qn_job job = load_text(HEADER "stages:\n  - name: base\n    run: [train, eval]\n"
                                  "  - name: s\n    from: base\n    grid:\n      quant.name: [integer]\n"
                                  "      quant.width: [8]\n      quant.frac_width: [4]\n      quant.bias.width: [16]\n"
                                  "    run: [ptq_eval]\n");
    qn_trial t;
    qn_trial_config cfg;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_trial(&job, 1, &t), 0);
    qn_value lr = {QN_VAL_NUM, 0.05, NULL};
    qn_param inherited = {"train.lr", lr};
    cr_assert_eq(qn_trial_config_build(&job, &inherited, 1, &t, &cfg, err, sizeof err), 0, "%s", err);
    cr_expect_eq(cfg.quant.weight.width, 8);
    cr_expect_eq(cfg.quant.bias.width, 16);
    cr_expect_eq(cfg.quant.data_in.width, 8);
    cr_expect_float_eq(cfg.train.lr, 0.05, 1e-15, "inherited parameter not applied");
    qn_trial_free(&t);
    qn_job_free(&job);
}

Test(job_parse, trial_seeds_depend_on_job_seed_and_id_only) {
    uint64_t a = qn_trial_seed(7, 3), b = qn_trial_seed(7, 3);
    cr_expect_eq(a, b);
    cr_expect_neq(qn_trial_seed(7, 3), qn_trial_seed(7, 4));
    cr_expect_neq(qn_trial_seed(7, 3), qn_trial_seed(8, 3));
    qn_job job = load(QN_TEST_DATA "/e2e/jobs/study.yaml");
    qn_trial t;
    cr_assert_eq(qn_job_trial(&job, 5, &t), 0);
    cr_expect_eq(t.seed, qn_trial_seed(7, 5));
    qn_trial_free(&t);
    qn_job_free(&job);
}

Test(job_parse, plan_text_ignores_comments_and_sees_changes) {
    const char *base = HEADER "stages:\n  - name: s\n    grid:\n      train.lr: [1.0e-3, 2.0e-3]\n    run: [train, eval]\n";
    const char *commented = "# a comment\n" HEADER "stages:\n  - name: s   # the sweep\n    grid:\n"
                            "      train.lr: [0.001, 0.002]\n    run: [train, eval]\n";
    const char *changed = HEADER "stages:\n  - name: s\n    grid:\n      train.lr: [1.0e-3, 3.0e-3]\n    run: [train, eval]\n";
    qn_job a = load_text(base), b = load_text(commented), c = load_text(changed);
    char *pa = qn_job_plan_text(&a), *pb = qn_job_plan_text(&b), *pc = qn_job_plan_text(&c);
    cr_expect_str_eq(pa, pb);
    cr_expect_str_neq(pa, pc);
    free(pa), free(pb), free(pc);
    qn_job_free(&a), qn_job_free(&b), qn_job_free(&c);
}

Test(job_parse, example_jobs_load) {
    const char *paths[] = {QN_SOURCE_DIR "/jobs/examples/lab1-ptq-qat.yaml", QN_SOURCE_DIR "/jobs/examples/lab1-prune.yaml",
                           QN_TEST_DATA "/e2e/jobs/long.yaml", QN_TEST_DATA "/e2e/jobs/tiny.yaml"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        qn_job job = load(paths[i]);
        cr_expect_gt(job.ntrials, 0);
        qn_job_free(&job);
    }
    qn_job job = load(QN_SOURCE_DIR "/jobs/examples/lab1-ptq-qat.yaml");
    cr_expect_eq(job.ntrials, 22);
    qn_job_free(&job);
}

Test(job_parse, suggest_finds_near_words_only) {
    const char *words[] = {"model", "data", "train", "stages", "seed", "name"};
    cr_expect_str_eq(qn_suggest("modle", words, 6), "model");
    cr_expect_str_eq(qn_suggest("stage", words, 6), "stages");
    cr_expect_str_eq(qn_suggest("trian", words, 6), "train");
    cr_expect_null(qn_suggest("optimizer", words, 6));
    cr_expect_null(qn_suggest("zz", words, 6));
}

Test(job_parse, weight_decay_params_default_grid_and_plan) {
    /* the default: the Trainer's groups, written in the plan (a results file from before the key has
     * no such line and trained with every parameter decayed) */
    qn_job a = load_text(HEADER "stages:\n  - name: s\n    run: [train, eval]\n");
    cr_expect_str_eq(a.base.train.weight_decay_params, "trainer");
    char *pa = qn_job_plan_text(&a);
    cr_expect_not_null(strstr(pa, "\nbase train weight_decay_params=trainer\n"), "%s", pa);
    /* all: the plan of before the key */
    qn_job b = load_text("name: t\nseed: 5\nmodel: {arch: mlp, embed_dim: 8, hidden_size: 8}\n"
                         "data: {dataset: synthetic-sentiment, train_size: 64, eval_size: 32, max_len: 16}\n"
                         "train: {epochs: 1, batch_size: 16, lr: 1.0e-3, weight_decay: 0.0, weight_decay_params: all}\n"
                         "stages:\n  - name: s\n    run: [train, eval]\n");
    cr_expect_str_eq(b.base.train.weight_decay_params, "all");
    char *pb = qn_job_plan_text(&b);
    cr_expect_null(strstr(pb, "weight_decay_params"), "%s", pb);
    /* a grid axis like any train key, each trial's configuration taking its value */
    qn_job c = load_text(HEADER "stages:\n  - name: s\n    grid:\n      train.weight_decay_params: [all, trainer]\n"
                                "    run: [train, eval]\n");
    cr_assert_eq(c.ntrials, 2);
    const char *want[] = {"all", "trainer"};
    for (int i = 0; i < 2; i++) {
        qn_trial t;
        qn_trial_config cfg;
        char err[QN_ERR_LEN];
        cr_assert_eq(qn_job_trial(&c, i, &t), 0);
        cr_assert_eq(qn_trial_config_build(&c, NULL, 0, &t, &cfg, err, sizeof err), 0, "%s", err);
        cr_expect_str_eq(cfg.train.weight_decay_params, want[i]);
        qn_trial_free(&t);
    }
    /* models that do not train: no line, their plans stay as they were */
    qn_job d = load_text("name: t\nmodel: {arch: null}\nstages:\n  - name: s\n    run: [train, eval]\n");
    char *pd = qn_job_plan_text(&d);
    cr_expect_null(strstr(pd, "weight_decay_params"), "%s", pd);
    free(pa), free(pb), free(pd);
    qn_job_free(&a), qn_job_free(&b), qn_job_free(&c), qn_job_free(&d);
}

Test(job_parse, defaults_apply_when_sections_are_short) {
    qn_job job = load_text("name: t\nstages:\n  - name: a\n    run: [train, eval]\n");
    cr_expect_str_eq(job.base.model.arch, "mlp");
    cr_expect_str_eq(job.base.data.dataset, "synthetic-sentiment");
    cr_expect_str_eq(job.base.train.optimizer, "adamw");
    cr_expect_gt(job.base.train.epochs, 0);
    cr_expect_eq(job.ntrials, 1);
    qn_job_free(&job);
}
