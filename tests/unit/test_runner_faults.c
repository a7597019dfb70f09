/* The trial runner child: results come back whole, and a child that crashes, exits, hangs past the
 * timeout or garbles its reply costs one failed trial with the reason, then a fresh child runs the
 * next one. The engines here stand in for the trial engine and misbehave on request (trial_seed). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../coordinator/trial_runner.h"
#include "../support/trial_msg.h"

enum { GOOD, SEGV, EXIT7, HANG, GARBAGE, HUGE_LEN, SHORT_THEN_EXIT, OTHER_ID, ABORT };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The state is a profile: hostname, when arg gives one, names the file a HANG trial creates. */
static void *test_init(void *arg, int local_rank, int first, qn_device_profile *dev) {
    (void)local_rank;
    static qn_device_profile state;
    snprintf(dev->kind, sizeof dev->kind, "cpu");
    snprintf(dev->name, sizeof dev->name, "test engine %d", first);
    memset(&state, 0, sizeof state);
    if (arg) snprintf(state.hostname, sizeof state.hostname, "%s", (const char *)arg);
    return &state;
}

/* In the child: bytes straight onto the socket (no Criterion asserts there: it is not a test process). */
static void raw(const void *p, size_t n) {
    if (write(QN_RUNNER_CHILD_FD, p, n) != (ssize_t)n) _exit(9);
}

static int test_execute(void *state, const qn_trial_msg *m, const float *parent, size_t parent_len,
                        qn_trial_result *out) {
    (void)state;
    switch (m->trial_seed) {
    case SEGV: raise(SIGSEGV); break;
    case ABORT: abort();
    case EXIT7: exit(7);
    case HANG:
        if (state != NULL && ((qn_device_profile *)state)->hostname[0]) { /* say "hanging now" with a file */
            FILE *f = fopen(((qn_device_profile *)state)->hostname, "w");
            if (f) fclose(f);
        }
        for (;;) pause();
    case GARBAGE: raw("this is not a frame at all", 26); break;
    case HUGE_LEN: {
        uint32_t h[4] = {0x464e5251u, 4, 0xffffffffu, 0xffffffffu}; /* a RESULT of 2^64-1 bytes */
        raw(h, sizeof h);
        break;
    }
    case SHORT_THEN_EXIT: {
        uint32_t h[4] = {0x464e5251u, 4, 1000, 0};
        raw(h, sizeof h);
        raw("0123456789", 10);
        _exit(0);
    }
    case OTHER_ID: {
        qn_trial_result r;
        memset(&r, 0, sizeof r);
        size_t len = 0;
        void *buf = qn_result_pack(m->id + 1, &r, &len);
        uint32_t h[4] = {0x464e5251u, 4, (uint32_t)len, 0};
        raw(h, sizeof h);
        raw(buf, len);
        free(buf);
        break;
    }
    default: break;
    }
    out->status = QN_TRIAL_DONE;
    out->nmetrics = 3;
    /* the last layer override's name, as a number: it must travel with the trial */
    snprintf(out->metrics[2].name, QN_NAME_LEN, "last_layer");
    out->metrics[2].value = m->cfg.nlayers > 0 ? atof(m->cfg.layers[m->cfg.nlayers - 1].layer) : -1;
    snprintf(out->metrics[0].name, QN_NAME_LEN, "id");
    out->metrics[0].value = (double)m->id;
    double sum = 0;
    for (size_t i = 0; parent && i < parent_len; i++) sum += parent[i];
    snprintf(out->metrics[1].name, QN_NAME_LEN, "parent_sum");
    out->metrics[1].value = sum;
    if (m->want_checkpoint) {
        out->checkpoint_len = 1000;
        out->checkpoint = malloc(1000 * sizeof(float));
        for (int i = 0; i < 1000; i++) out->checkpoint[i] = (float)i;
    }
    out->wall_s = 0.001;
    return 0;
}

static const qn_runner_engine engine = {test_init, test_execute, NULL};

static qn_runner *start(void) {
    qn_device_profile dev;
    char err[256] = "";
    qn_runner *r = qn_runner_start(&engine, 0, &dev, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cr_assert_str_eq(dev.name, "test engine 1");
    return r;
}

/* Run trial id with the given behaviour; expect a failure whose message contains `why`. */
static void expect_failure(qn_runner *r, int64_t id, uint64_t behaviour, const char *why) {
    qn_trial_msg m = qn_test_trial_msg(id, behaviour);
    qn_trial_result res;
    cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res), 0);
    cr_assert_eq(res.status, QN_TRIAL_FAILED, "trial %lld should have failed", (long long)id);
    cr_assert(strstr(res.error, why), "error '%s' lacks '%s'", res.error, why);
    cr_assert_eq(qn_runner_pid(r), -1, "the dead child must be reaped");
    qn_trial_result_free(&res);
}

static void expect_good(qn_runner *r, int64_t id) {
    qn_trial_msg m = qn_test_trial_msg(id, GOOD);
    qn_trial_result res;
    cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res), 0);
    cr_assert_eq(res.status, QN_TRIAL_DONE, "trial %lld: %s", (long long)id, res.error);
    cr_assert_eq(res.metrics[0].value, (double)id);
    cr_assert_gt(qn_runner_pid(r), 0);
    qn_trial_result_free(&res);
}

static int reaped(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

Test(runner, result_parent_and_checkpoint_round_trip) {
    qn_runner *r = start();
    float parent[300];
    for (int i = 0; i < 300; i++) parent[i] = 0.5f;
    qn_trial_msg m = qn_test_trial_msg(4, GOOD);
    m.parent = 2;
    m.want_checkpoint = 1;
    qn_trial_result res;
    cr_assert_eq(qn_runner_run(r, &m, parent, 300, NULL, NULL, &res), 0);
    cr_assert_eq(res.status, QN_TRIAL_DONE, "%s", res.error);
    cr_assert_eq(res.nmetrics, 3);
    cr_assert_eq(res.metrics[1].value, 150.0);
    cr_assert_eq(res.metrics[2].value, -1.0);
    cr_assert_eq(res.checkpoint_len, 1000);
    cr_assert_not_null(res.checkpoint);
    cr_assert_eq(res.checkpoint[999], 999.0f);
    qn_trial_result_free(&res);
    /* The child keeps the parent it has: the same parent id needs no weights again. Layer
     * overrides travel (the message stops after the ones in use). */
    m.id = 5;
    m.cfg.nlayers = 3;
    snprintf(m.cfg.layers[2].layer, QN_LAYER_NAME_LEN, "17");
    cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res), 0);
    cr_assert_eq(res.status, QN_TRIAL_DONE, "%s", res.error);
    cr_assert_eq(res.metrics[1].value, 150.0);
    cr_assert_eq(res.metrics[2].value, 17.0);
    qn_trial_result_free(&res);
    pid_t pid = qn_runner_pid(r);
    qn_runner_free(r);
    cr_assert(reaped(pid), "the child outlived qn_runner_free");
}

Test(runner, crashes_cost_one_trial_and_a_fresh_child_follows) {
    qn_runner *r = start();
    pid_t first = qn_runner_pid(r);
    expect_good(r, 0);
    expect_failure(r, 1, SEGV, "trial crashed its process: killed by signal 11 (SIGSEGV)");
    cr_assert(reaped(first));
    expect_good(r, 2);
    cr_assert_neq(qn_runner_pid(r), first);
    expect_failure(r, 3, ABORT, "killed by signal 6 (SIGABRT)");
    expect_failure(r, 4, EXIT7, "trial crashed its process: exited with status 7");
    expect_failure(r, 5, SHORT_THEN_EXIT, "exited with status 0");
    expect_good(r, 6);
    /* A respawned child must be sent the parent again. */
    float parent[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    qn_trial_msg m = qn_test_trial_msg(7, GOOD);
    m.parent = 3;
    qn_trial_result res;
    cr_assert_eq(qn_runner_run(r, &m, parent, 10, NULL, NULL, &res), 0);
    cr_assert_eq(res.metrics[1].value, 10.0);
    qn_trial_result_free(&res);
    expect_failure(r, 8, SEGV, "SIGSEGV");
    m.id = 9;
    cr_assert_eq(qn_runner_run(r, &m, parent, 10, NULL, NULL, &res), 0);
    cr_assert_eq(res.status, QN_TRIAL_DONE, "%s", res.error);
    cr_assert_eq(res.metrics[1].value, 10.0);
    qn_trial_result_free(&res);
    qn_runner_free(r);
}

/* Is pid a zombie (dead, not yet reaped)? */
static int zombie(pid_t pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

Test(runner, a_child_that_dies_between_trials_is_not_blamed_on_the_next) {
    qn_runner *r = start();
    expect_good(r, 0);
    pid_t pid = qn_runner_pid(r);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    double t0 = now();
    while (!zombie(pid) && now() - t0 < 5) usleep(1000);
    cr_assert(zombie(pid));
    expect_good(r, 1);
    cr_assert(reaped(pid));
    cr_assert_neq(qn_runner_pid(r), pid);
    qn_runner_free(r);
}

Test(runner, garbled_replies_fail_the_trial_not_the_parent) {
    qn_runner *r = start();
    expect_failure(r, 0, GARBAGE, "malformed reply");
    expect_good(r, 1);
    expect_failure(r, 2, HUGE_LEN, "malformed reply");
    expect_good(r, 3);
    expect_failure(r, 4, OTHER_ID, "the result of another trial");
    expect_good(r, 5);
    qn_runner_free(r);
}

Test(runner, a_hang_ends_at_the_timeout) {
    qn_runner *r = start();
    qn_trial_msg m = qn_test_trial_msg(0, HANG);
    m.timeout_s = 0.3;
    qn_trial_result res;
    double t0 = now();
    cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res), 0);
    double took = now() - t0;
    cr_assert_eq(res.status, QN_TRIAL_FAILED);
    cr_assert_str_eq(res.error, "exceeded trial_timeout of 0.3 s");
    cr_assert(took >= 0.3 && took < 3.0, "took %.2f s", took);
    cr_assert(res.wall_s >= 0.3);
    qn_trial_result_free(&res);
    expect_good(r, 1);
    /* A trial within its timeout is not cut short. */
    m = qn_test_trial_msg(2, GOOD);
    m.timeout_s = 5;
    cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res), 0);
    cr_assert_eq(res.status, QN_TRIAL_DONE);
    qn_trial_result_free(&res);
    qn_runner_free(r);
}

static int calls;
static int stop_after_a_while(void *arg) {
    (void)arg;
    return ++calls >= 20;
}

Test(runner, stop_abandons_the_running_trial) {
    qn_runner *r = start();
    pid_t pid = qn_runner_pid(r);
    qn_trial_msg m = qn_test_trial_msg(0, HANG);
    qn_trial_result res;
    calls = 0;
    cr_assert_eq(qn_runner_run(r, &m, NULL, 0, stop_after_a_while, NULL, &res), 1);
    cr_assert_eq(calls, 20);
    cr_assert_eq(res.ncurves, 0);
    cr_assert(reaped(pid));
    expect_good(r, 1);
    qn_runner_free(r);
}

static void *gpu_init(void *arg, int local_rank, int first, qn_device_profile *dev) {
    void *state = test_init(arg, local_rank, first, dev);
    snprintf(dev->kind, sizeof dev->kind, "cuda");
    return state;
}

static int nan_execute(void *state, const qn_trial_msg *m, const float *parent, size_t parent_len,
                       qn_trial_result *out) {
    if (m->trial_seed != GOOD) {
        out->status = QN_TRIAL_FAILED;
        snprintf(out->error, sizeof out->error, "loss became NaN at step 1 (epoch 1)");
        return 0;
    }
    return test_execute(state, m, parent, parent_len, out);
}

Test(runner, on_a_gpu_a_failed_trial_retires_the_child) {
    /* A CUDA error may leave the context unusable: the next trial gets a fresh process. */
    for (int gpu = 0; gpu <= 1; gpu++) {
        qn_runner_engine e = {gpu ? gpu_init : test_init, nan_execute, NULL};
        qn_device_profile dev;
        char err[256] = "";
        qn_runner *r = qn_runner_start(&e, 0, &dev, err, sizeof err);
        cr_assert_not_null(r, "%s", err);
        expect_good(r, 0);
        pid_t first = qn_runner_pid(r);
        expect_good(r, 1);
        cr_assert_eq(qn_runner_pid(r), first, "a done trial keeps the child");
        qn_trial_msg m = qn_test_trial_msg(2, 99);
        qn_trial_result res;
        cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res), 0);
        cr_assert_eq(res.status, QN_TRIAL_FAILED);
        cr_assert_str_eq(res.error, "loss became NaN at step 1 (epoch 1)");
        qn_trial_result_free(&res);
        if (gpu) {
            cr_assert_eq(qn_runner_pid(r), -1, "on a GPU a failed trial retires the child");
            cr_assert(reaped(first));
        } else {
            cr_assert_eq(qn_runner_pid(r), first, "on the CPU a failed trial keeps the child");
        }
        expect_good(r, 3);
        qn_runner_free(r);
    }
}

static void *failing_init(void *arg, int local_rank, int first, qn_device_profile *dev) {
    (void)arg, (void)local_rank, (void)first, (void)dev;
    return NULL;
}

Test(runner, a_child_that_cannot_start_is_reported) {
    qn_runner_engine bad = {failing_init, test_execute, NULL};
    qn_device_profile dev;
    char err[256] = "";
    cr_assert_null(qn_runner_start(&bad, 0, &dev, err, sizeof err));
    cr_assert(strstr(err, "died while probing the device: exited with status 3"), "%s", err);
}

Test(runner, the_child_dies_with_its_parent) {
    /* Orphans come back to this process (not init), so it can see the child go. */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    char hanging[64];
    snprintf(hanging, sizeof hanging, "/tmp/qn-runner-hanging.%d", (int)getpid());
    unlink(hanging);
    pid_t mid = fork();
    if (mid == 0) {
        qn_device_profile dev;
        char err[256];
        qn_runner_engine e = {test_init, test_execute, hanging};
        qn_runner *r = qn_runner_start(&e, 0, &dev, err, sizeof err);
        pid_t child = r ? qn_runner_pid(r) : -1;
        if (write(p[1], &child, sizeof child) != sizeof child) _exit(1);
        /* The child hangs in its trial (not reading the socket), so only PDEATHSIG can end it. */
        qn_trial_msg m = qn_test_trial_msg(0, HANG);
        qn_trial_result res;
        if (r) qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res);
        _exit(1);
    }
    pid_t child = -1;
    cr_assert_eq(read(p[0], &child, sizeof child), (ssize_t)sizeof child);
    cr_assert_gt(child, 0);
    double t1 = now();
    while (access(hanging, F_OK) != 0 && now() - t1 < 10) usleep(1000);
    cr_assert_eq(access(hanging, F_OK), 0, "the child never started its trial");
    unlink(hanging);
    cr_assert_eq(kill(mid, SIGKILL), 0);
    cr_assert_eq(waitpid(mid, NULL, 0), mid);
    int status = 0;
    double t0 = now();
    pid_t got = 0;
    while ((got = waitpid(child, &status, WNOHANG)) == 0 && now() - t0 < 5) usleep(1000);
    if (got != child) kill(child, SIGKILL); /* do not leave it behind when failing */
    cr_assert_eq(got, child, "the runner child outlived its parent");
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "wait status %#x", (unsigned)status);
}

Test(runner, a_round_trip_costs_tens_of_microseconds) {
    qn_runner *r = start();
    qn_trial_result res;
    int n = 20000;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        qn_trial_msg m = qn_test_trial_msg(i, GOOD);
        cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &res), 0);
        qn_trial_result_free(&res);
    }
    double us = (now() - t0) / n * 1e6;
    cr_log_info("runner round trip: %.1f us per trial", us);
    printf("runner round trip: %.1f us per trial\n", us);
    /* Generous for a loaded CI machine; an idle one does it in 10-30 us. */
    cr_assert_lt(us, 500.0);
    qn_runner_free(r);
}
