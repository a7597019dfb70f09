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
