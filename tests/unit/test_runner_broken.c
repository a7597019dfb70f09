/* A worker whose device breaks (docs/faults.md, "A worker whose device breaks"): the runner tells a
 * child that cannot start again apart from a failed trial, results carry the worker's flags to the
 * coordinator, fatal CUDA errors and crashes on a GPU count as device faults, and the rank-list test
 * hooks parse as documented. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../coordinator/protocol.h"
#include "../../coordinator/trial_runner.h"
#include "../support/trial_msg.h"
#include "../../worker/debug_fault.h"

enum { GOOD, SEGV };

/* The first child starts; every replacement fails, as on a device that has gone. */
static void *first_only_init(void *arg, int local_rank, int first, qn_device_profile *dev) {
    (void)local_rank;
    static int state;
    snprintf(dev->kind, sizeof dev->kind, "%s", arg ? (const char *)arg : "cpu");
    snprintf(dev->name, sizeof dev->name, "test engine");
    return first ? &state : NULL;
}

static int crash_or_done(void *state, const qn_trial_msg *m, const float *parent, size_t parent_len,
                         qn_trial_result *out) {
    (void)state, (void)parent, (void)parent_len;
    if (m->trial_seed == SEGV) raise(SIGSEGV);
    out->status = QN_TRIAL_DONE;
    return 0;
}

static qn_runner *start(const char *kind) {
    static qn_runner_engine e;
    e = (qn_runner_engine){first_only_init, crash_or_done, (void *)kind};
    qn_device_profile dev;
    char err[256] = "";
    qn_runner *r = qn_runner_start(&e, 0, &dev, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    return r;
}

Test(broken, a_runner_that_cannot_restart_says_so_and_the_trial_never_ran) {
    qn_runner *r = start(NULL);
    qn_trial_msg m = qn_test_trial_msg(0, SEGV);
    qn_trial_result res;
    cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res), 0);
    cr_assert_eq(res.status, QN_TRIAL_FAILED);
    cr_assert(strstr(res.error, "trial crashed its process: killed by signal 11"), "%s", res.error);
    cr_assert_not(qn_runner_device_fault(r, &res), "a crash on the CPU is the trial's");
    qn_trial_result_free(&res);
    /* Starting the replacement right away tells the caller the worker cannot go on. */
    char err[512] = "";
    cr_assert_eq(qn_runner_restart(r, NULL, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "could not restart the trial runner: the trial runner died while probing the device"), "%s", err);
    /* And a trial sent anyway is answered 2: no child, the trial did not run. */
    m = qn_test_trial_msg(1, GOOD);
    cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res), 2);
    cr_assert_eq(res.status, QN_TRIAL_FAILED);
    cr_assert(strstr(res.error, "could not restart the trial runner"), "%s", res.error);
    qn_trial_result_free(&res);
    qn_runner_free(r);
}

Test(broken, restart_keeps_a_running_child) {
    qn_runner *r = start(NULL);
    pid_t pid = qn_runner_pid(r);
    char err[256] = "";
    cr_assert_eq(qn_runner_restart(r, NULL, NULL, err, sizeof err), 0);
    cr_assert_eq(qn_runner_pid(r), pid);
    qn_runner_free(r);
}

Test(broken, device_faults_are_crashes_on_a_gpu_and_fatal_cuda_errors) {
    qn_runner *gpu = start("cuda"), *cpu = start(NULL);
    qn_trial_result res;
    memset(&res, 0, sizeof res);
    res.status = QN_TRIAL_FAILED;
    snprintf(res.error, sizeof res.error, "trial crashed its process: killed by signal 11 (SIGSEGV)");
    cr_assert(qn_runner_device_fault(gpu, &res));
    cr_assert_not(qn_runner_device_fault(cpu, &res));
    snprintf(res.error, sizeof res.error, "cudaMemcpy failed: an illegal memory access was encountered");
    cr_assert(qn_runner_device_fault(cpu, &res));
    snprintf(res.error, sizeof res.error, "fc1: format 7 is not supported on CUDA yet");
    cr_assert_not(qn_runner_device_fault(gpu, &res), "an unsupported format is the trial's, not the device's");
    snprintf(res.error, sizeof res.error, "loss became NaN at step 1 (epoch 1)");
    cr_assert_not(qn_runner_device_fault(gpu, &res));
    res.status = QN_TRIAL_DONE;
    snprintf(res.error, sizeof res.error, "an illegal memory access was encountered");
    cr_assert_not(qn_runner_device_fault(gpu, &res), "a done trial is no fault");
    qn_runner_free(gpu);
    qn_runner_free(cpu);
}

Test(broken, result_flags_travel_and_plain_unpack_ignores_them) {
    qn_trial_result r, back;
    memset(&r, 0, sizeof r);
    r.status = QN_TRIAL_FAILED;
    snprintf(r.error, sizeof r.error, "could not restart the trial runner: gone");
    size_t len = 0;
    void *buf = qn_result_pack_flags(9, &r, QN_RESULT_WORKER_BROKEN | QN_RESULT_DEVICE_FAULT, &len);
    cr_assert_not_null(buf);
    int64_t id = -1;
    uint32_t flags = 0;
    cr_assert_eq(qn_result_unpack_flags(buf, len, &id, &back, &flags), 0);
    cr_assert_eq(id, 9);
    cr_assert_eq(flags, QN_RESULT_WORKER_BROKEN | QN_RESULT_DEVICE_FAULT);
    cr_assert_str_eq(back.error, r.error);
    qn_trial_result_free(&back);
    cr_assert_eq(qn_result_unpack(buf, len, &id, &back), 0);
    qn_trial_result_free(&back);
    free(buf);
    buf = qn_result_pack(3, &r, &len);
    cr_assert_eq(qn_result_unpack_flags(buf, len, &id, &back, &flags), 0);
    cr_assert_eq(flags, 0u);
    qn_trial_result_free(&back);
    free(buf);
}

Test(broken, rank_lists) {
    setenv("OMPI_COMM_WORLD_RANK", "2", 1);
    setenv("QUENCH_TEST_RANKS", "1,2", 1);
    cr_assert_eq(qn_debug_rank_listed("QUENCH_TEST_RANKS"), 1);
    setenv("QUENCH_TEST_RANKS", "3,2:start", 1);
    cr_assert_eq(qn_debug_rank_listed("QUENCH_TEST_RANKS"), 2);
    setenv("QUENCH_TEST_RANKS", "1,3", 1);
    cr_assert_eq(qn_debug_rank_listed("QUENCH_TEST_RANKS"), 0);
    setenv("QUENCH_TEST_RANKS", "two", 1);
    cr_assert_eq(qn_debug_rank_listed("QUENCH_TEST_RANKS"), 0);
    cr_assert_eq(qn_debug_rank_listed("QUENCH_TEST_UNSET_VARIABLE"), 0);
    unsetenv("OMPI_COMM_WORLD_RANK");
    setenv("QUENCH_TEST_RANKS", "0", 1);
    cr_assert_eq(qn_debug_rank_listed("QUENCH_TEST_RANKS"), 1, "one process is rank 0");
}
