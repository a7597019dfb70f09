/* placement: each_device_kind (docs/jobs.md, Inference stages): unknown kinds leave the stage's own
 * trials; given kinds (any order, repeats) add a last axis device.kind over them, sorted, exactly as
 * a written axis would, and the plan text records them for --resume (qn_plan_device_kinds). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qn_job.h"

static char dir[64], job_path[128];

/* A job file next to a model directory with a config.json (all the parser checks of llm.model). */
static void write_job(const char *placement_and_grid) {
    snprintf(dir, sizeof dir, "/tmp/qn-placement-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char path[160];
    snprintf(path, sizeof path, "%s/model", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/model/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{}", f);
    fclose(f);
    snprintf(job_path, sizeof job_path, "%s/job.yaml", dir);
    f = fopen(job_path, "w");
    fprintf(f, "name: p\nmodel: {arch: llm}\nllm: {model: %s/model}\nstages:\n  - name: s\n    kind: inference\n%s",
            dir, placement_and_grid);
    fclose(f);
}

static void remove_job(void) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

#define STAGE "    placement: each_device_kind\n    grid: {llm.precision: [fp32, int8]}\n"

Test(job_placement, unknown_kinds_leave_the_grid) {
    write_job(STAGE);
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_load(job_path, &job, err, sizeof err), 0, "%s", err);
    cr_expect_eq(job.ntrials, 2);
    cr_expect_eq(job.stages[0].each_device_kind, 1);
    cr_expect_eq(job.stages[0].naxes, 1);
    cr_expect(qn_job_has_each_device_kind(&job));
    qn_job_free(&job);
    remove_job();
}

Test(job_placement, kinds_make_a_sorted_last_axis) {
    write_job(STAGE);
    const char *kinds[] = {"rtx2080ti", "cpu", "l40s", "cpu"};
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_load_kinds(job_path, kinds, 4, &job, err, sizeof err), 0, "%s", err);
    cr_assert_eq(job.ntrials, 6);
    const qn_stage *st = &job.stages[0];
    cr_expect_eq(st->each_device_kind, 2);
    cr_assert_eq(st->naxes, 2);
    cr_expect_str_eq(st->axes[1].name, "device.kind");
    const char *want[] = {"cpu", "l40s", "rtx2080ti"};
    for (int64_t id = 0; id < 6; id++) { /* last axis fastest: the kinds of one precision in a row */
        qn_trial t;
        qn_trial_config c;
        cr_assert_eq(qn_job_trial(&job, id, &t), 0);
        cr_assert_eq(qn_trial_config_build(&job, NULL, 0, &t, &c, err, sizeof err), 0, "%s", err);
        cr_expect_str_eq(c.device.kind, want[id % 3]);
        cr_expect_str_eq(c.llm.precision, id < 3 ? "fp32" : "int8");
        qn_trial_free(&t);
    }
    char *plan = qn_job_plan_text(&job);
    cr_assert_not_null(plan);
    cr_expect_not_null(strstr(plan, "  axis device.kind: \"cpu\" \"l40s\" \"rtx2080ti\"\n"), "%s", plan);
    char **back = NULL;
    int n = 0;
    cr_assert_eq(qn_plan_device_kinds(plan, &back, &n), 0, "%s", plan);
    cr_assert_eq(n, 3);
    for (int k = 0; k < 3; k++) cr_expect_str_eq(back[k], want[k]);
    qn_kinds_free(back, n);
    /* the same kinds in another order plan the same: ids do not depend on the order of the hellos */
    qn_job again;
    const char *other[] = {"l40s", "rtx2080ti", "cpu"};
    cr_assert_eq(qn_job_load_kinds(job_path, other, 3, &again, err, sizeof err), 0, "%s", err);
    char *plan2 = qn_job_plan_text(&again);
    cr_expect_str_eq(plan, plan2);
    free(plan2);
    free(plan);
    qn_job_free(&again);
    qn_job_free(&job);
    remove_job();
}

Test(job_placement, a_plan_without_placement_has_no_kinds) {
    char **kinds = NULL;
    int n = 5;
    cr_expect_eq(qn_plan_device_kinds("seed 1\nstage s grid 1 trials from - run eval metric accuracy max\n", &kinds, &n), -1);
    cr_expect_null(kinds);
    cr_expect_eq(n, 0);
    cr_expect_eq(qn_plan_device_kinds(NULL, &kinds, &n), -1);
}
