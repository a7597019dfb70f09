/* The job file's testing aids: model.arch null, the debug: section and trial_timeout:. */
#include <criterion/criterion.h>
#include <string.h>

#include "qn_job.h"

static int load(const char *text, qn_job *job, char *err) {
    return qn_job_load_text("t.yaml", text, strlen(text), job, err, QN_ERR_LEN);
}

Test(job_debug, null_arch_with_debug_section_and_axes) {
    const char *text = "name: t\n"
                       "model: {arch: null}\n"
                       "debug: {fault: none, sleep_ms: 2.5}\n"
                       "stages:\n"
                       "  - name: s\n"
                       "    run: [train, eval]\n"
                       "    grid:\n"
                       "      debug.fault: [none, segv, abort, hang, nan]\n"
                       "      debug.sleep_ms: [0, 10]\n";
    qn_job job;
    char err[QN_ERR_LEN] = "";
    cr_assert_eq(load(text, &job, err), 0, "%s", err);
    cr_expect_str_eq(job.base.model.arch, "null");
    cr_expect_eq(job.base.debug.sleep_ms, 2.5);
    cr_expect_eq(job.stages[0].ntrials, 10);
    cr_expect_eq(qn_linear_layer_count("null", 0), 0);
    const char *want[] = {"none", "segv", "abort", "hang", "nan"};
    for (int i = 0; i < 5; i++) {
        qn_trial t;
        qn_trial_config cfg;
        cr_assert_eq(qn_job_trial(&job, 2 * i + 1, &t), 0);
        cr_assert_eq(qn_trial_config_build(&job, NULL, 0, &t, &cfg, err, sizeof err), 0, "%s", err);
        cr_expect_str_eq(cfg.debug.fault, want[i]);
        cr_expect_eq(cfg.debug.sleep_ms, 10.0);
        cr_expect_eq((int)qn_fault_of(cfg.debug.fault), i);
        qn_trial_free(&t);
    }
    qn_job_free(&job);
}

Test(job_debug, defaults_are_no_fault_and_no_timeout) {
    const char *text = "name: t\nstages:\n  - name: s\n    run: [train, eval]\n";
    qn_job job;
    char err[QN_ERR_LEN] = "";
    cr_assert_eq(load(text, &job, err), 0, "%s", err);
    cr_expect_str_eq(job.base.debug.fault, "none");
    cr_expect_eq(job.base.debug.sleep_ms, 0.0);
    cr_expect_eq(job.trial_timeout_s, 0.0);
    cr_expect_eq(job.stages[0].trial_timeout_s, 0.0);
    /* the plan of a job without debug: is what it was before debug: existed (--resume of old files) */
    char *plan = qn_job_plan_text(&job);
    cr_expect_null(strstr(plan, "debug"));
    free(plan);
    qn_job_free(&job);
}

Test(job_debug, trial_timeout_units_and_stage_override) {
    const char *text = "name: t\n"
                       "model: {arch: null}\n"
                       "stages:\n"
                       "  - {name: a, run: [eval]}\n"
                       "  - {name: b, run: [eval], trial_timeout: 90s}\n"
                       "  - {name: c, run: [eval], trial_timeout: 10m}\n"
                       "  - {name: d, run: [eval], trial_timeout: \"2h\"}\n"
                       "  - {name: e, run: [eval], trial_timeout: 0}\n"
                       "  - {name: f, run: [eval], trial_timeout: 1.5}\n"
                       "trial_timeout: 30\n"; /* after the stages: still the job's default */
    qn_job job;
    char err[QN_ERR_LEN] = "";
    cr_assert_eq(load(text, &job, err), 0, "%s", err);
    cr_expect_eq(job.trial_timeout_s, 30.0);
    double want[] = {30, 90, 600, 7200, 0, 1.5};
    for (int s = 0; s < 6; s++)
        cr_expect_eq(job.stages[s].trial_timeout_s, want[s], "stage %d: %g", s, job.stages[s].trial_timeout_s);
    qn_job_free(&job);
}

Test(job_debug, bad_values_name_the_place) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"name: t\ntrial_timeout: 5x\nstages: [{name: s, run: [eval]}]\n", "t.yaml:2:16: trial_timeout must be"},
        {"name: t\ntrial_timeout: m\nstages: [{name: s, run: [eval]}]\n", "t.yaml:2:16: trial_timeout must be"},
        {"name: t\ntrial_timeout: .inf\nstages: [{name: s, run: [eval]}]\n", "t.yaml:2:16: trial_timeout must be"},
        {"name: t\nstages: [{name: s, run: [eval], trial_timeout: -1s}]\n", "t.yaml:2:48: trial_timeout must be"},
        {"name: t\ndebug: {sleep_ms: -3}\nstages: [{name: s, run: [eval]}]\n", "t.yaml:2:19: debug.sleep_ms must be at least 0"},
        {"name: t\ndebug: {fault: 3}\nstages: [{name: s, run: [eval]}]\n", "t.yaml:2:16: debug.fault must be a name"},
        {"name: t\ndebug: {faults: segv}\nstages: [{name: s, run: [eval]}]\n", "t.yaml:2:9: unknown parameter 'debug.faults'"},
        {"name: t\nmodel: {arch: nul}\nstages: [{name: s, run: [eval]}]\n", "t.yaml:2:15: unknown model.arch 'nul'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qn_job job;
        char err[QN_ERR_LEN] = "";
        cr_expect_eq(load(cases[i].text, &job, err), -1, "case %zu loaded", i);
        cr_expect(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0, "case %zu:\n  got:  %s\n  want: %s...", i,
                  err, cases[i].want);
    }
}

Test(job_debug, null_job_mixes_in_one_real_stage) {
    const char *text = "name: t\n"
                       "model: {arch: null, embed_dim: 8, hidden_size: 8}\n"
                       "stages:\n"
                       "  - {name: fast, run: [train, eval], grid: {debug.sleep_ms: [1, 2]}}\n"
                       "  - {name: real, run: [train, eval], grid: {model.arch: [mlp]}}\n"
                       "  - {name: ft, run: [eval], from: \"best(real, accuracy)\"}\n";
    qn_job job;
    char err[QN_ERR_LEN] = "";
    cr_assert_eq(load(text, &job, err), 0, "%s", err);
    const char *want[] = {"null", "null", "mlp"};
    for (int i = 0; i < 3; i++) {
        qn_trial t;
        qn_trial_config cfg;
        cr_assert_eq(qn_job_trial(&job, i, &t), 0);
        cr_assert_eq(qn_trial_config_build(&job, NULL, 0, &t, &cfg, err, sizeof err), 0, "%s", err);
        cr_expect_str_eq(cfg.model.arch, want[i], "trial %d", i);
        qn_trial_free(&t);
    }
    qn_job_free(&job);
}

