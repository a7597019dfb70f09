/* train.devices: the number of workers that train a trial data-parallel (docs/jobs.md): 1 by
 * default, an integer in 1..64 (the largest group the coordinator forms), a grid axis like any training parameter. */
#include <criterion/criterion.h>
#include <string.h>

#include "qn_job.h"

#define HEAD "name: t\nmodel: {arch: mlp}\ndata: {train_size: 64, eval_size: 32, max_len: 16}\n"
#define STAGE "stages:\n  - name: s\n    kind: grid\n    run: [train, eval]\n"

static int load(const char *text, qn_job *job, char *err) {
    return qn_job_load_text("t.yaml", text, strlen(text), job, err, QN_ERR_LEN);
}

Test(job_devices, default_is_one_and_values_are_kept) {
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(load(HEAD STAGE, &job, err), 0, "%s", err);
    cr_expect_eq(job.base.train.devices, 1);
    qn_job_free(&job);
    cr_assert_eq(load(HEAD "train: {batch_size: 10, devices: 4}\n" STAGE, &job, err), 0, "%s", err);
    cr_expect_eq(job.base.train.devices, 4);
    qn_job_free(&job);
    cr_assert_eq(load(HEAD "train: {devices: 64}\n" STAGE, &job, err), 0, "%s", err);
    cr_expect_eq(job.base.train.devices, 64);
    qn_job_free(&job);
}

Test(job_devices, a_grid_axis_sets_each_trial) {
    qn_job job;
    char err[QN_ERR_LEN];
    const char *text = HEAD "stages:\n  - name: s\n    kind: grid\n    grid: {train.devices: [1, 2, 4]}\n"
                            "    run: [train, eval]\n";
    cr_assert_eq(load(text, &job, err), 0, "%s", err);
    cr_assert_eq(job.ntrials, 3);
    for (int64_t id = 0; id < 3; id++) {
        qn_trial t;
        qn_trial_config c;
        cr_assert_eq(qn_job_trial(&job, id, &t), 0);
        cr_assert_eq(qn_trial_config_build(&job, NULL, 0, &t, &c, err, sizeof err), 0, "%s", err);
        cr_expect_eq(c.train.devices, 1 << id);
        qn_trial_free(&t);
    }
    qn_job_free(&job);
}

Test(job_devices, out_of_range_and_non_integers_are_errors) {
    const char *bad[] = {"0", "65", "2.5", "-1", "two"};
    for (int i = 0; i < 5; i++) {
        char text[512];
        snprintf(text, sizeof text, HEAD "train: {devices: %s}\n" STAGE, bad[i]);
        qn_job job;
        char err[QN_ERR_LEN] = "";
        cr_expect_neq(load(text, &job, err), 0, "devices: %s was accepted", bad[i]);
        cr_expect(strstr(err, "train.devices") != NULL, "devices: %s: the message names the key: %s", bad[i], err);
    }
}
