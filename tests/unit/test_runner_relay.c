/* The trial runner's relay (a data-parallel trial's collectives, asked by the child and done by the
 * parent, docs/gradsync.md): sums and broadcasts come back with the parent's values, a relay error
 * fails the child's trial with its message, the time waiting in a collective does not count against
 * the trial's timeout, and a collective outside a group trial is refused. No MPI: the parent's relay
 * here is a stand-in that scales. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../coordinator/trial_runner.h"

static void *relay_init(void *arg, int local_rank, int first, qn_device_profile *dev) {
    (void)arg, (void)local_rank, (void)first;
    snprintf(dev->kind, sizeof dev->kind, "cpu");
    snprintf(dev->name, sizeof dev->name, "relay test engine");
    static int state;
    return &state;
}

/* In the child: a float sum, a double sum and a broadcast through the relay; the values it got back
 * become metrics. A relay error fails the trial with the relay's message. */
static int relay_execute(void *state, const qn_trial_msg *m, const float *parent, size_t parent_len,
                         qn_trial_result *out) {
    (void)state, (void)m, (void)parent, (void)parent_len;
    qn_gradsync_relay relay;
    qn_runner_child_relay(&relay);
    memset(out, 0, sizeof *out);
    float f[3] = {1, 2, 3};
    double d = 0.25;
    char id[16] = "child";
    if (relay.sum(relay.arg, f, 3, 0, out->error, sizeof out->error) != 0 ||
        relay.sum(relay.arg, &d, 1, 1, out->error, sizeof out->error) != 0 ||
        relay.bcast(relay.arg, id, sizeof id, out->error, sizeof out->error) != 0) {
        out->status = QN_TRIAL_FAILED;
        return 0;
    }
    out->status = QN_TRIAL_DONE;
    const char *names[] = {"f0", "f1", "f2", "d", "bcast_is_parent"};
    double values[] = {f[0], f[1], f[2], d, strcmp(id, "parent") == 0};
    for (int i = 0; i < 5; i++) {
        snprintf(out->metrics[i].name, sizeof out->metrics[i].name, "%s", names[i]);
        out->metrics[i].value = values[i];
    }
    out->nmetrics = 5;
    return 0;
}

typedef struct {
    int calls;
    int fail_at;        /* the call that fails (1-based), 0: none */
    double sleep_s;     /* each call waits this long, as if for slow partners */
} parent_relay;

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Stand-in for the group's MPI_Allreduce: "the sum over 4 equal ranks". */
static int parent_sum(void *arg, void *buf, size_t n, int is_double, char *err, size_t errlen) {
    parent_relay *p = arg;
    nap(p->sleep_s);
    if (++p->calls == p->fail_at) {
        snprintf(err, errlen, "worker rank 3 of the trial's data-parallel group stopped");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_double) ((double *)buf)[i] *= 4;
        else ((float *)buf)[i] *= 4;
    }
    return 0;
}

static int parent_bcast(void *arg, void *buf, size_t bytes, char *err, size_t errlen) {
    parent_relay *p = arg;
    nap(p->sleep_s);
    if (++p->calls == p->fail_at) {
        snprintf(err, errlen, "broadcast refused");
        return -1;
    }
    snprintf(buf, bytes, "parent");
    return 0;
}

static qn_runner *start(void) {
    qn_runner_engine e = {relay_init, relay_execute, NULL};
    qn_device_profile dev;
    char err[256];
    qn_runner *r = qn_runner_start(&e, 0, &dev, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    return r;
}

static double metric(const qn_trial_result *r, const char *name) {
    for (int i = 0; i < r->nmetrics; i++)
        if (!strcmp(r->metrics[i].name, name)) return r->metrics[i].value;
    cr_assert_fail("no metric %s", name);
    return 0;
}

static qn_trial_msg group_msg(int64_t id, double timeout_s) {
    qn_trial_msg m;
    memset(&m, 0, sizeof m);
    m.id = id;
    m.parent = -1;
    m.group_size = 2;
    m.timeout_s = timeout_s;
    return m;
}

Test(runner_relay, collectives_come_back_with_the_parents_values) {
    qn_runner *r = start();
    parent_relay p = {0, 0, 0};
    qn_gradsync_relay relay = {parent_sum, parent_bcast, &p};
    qn_trial_msg m = group_msg(1, 0);
    qn_trial_result out;
    cr_assert_eq(qn_runner_run_group(r, &m, NULL, 0, NULL, NULL, &relay, &out), 0);
    cr_assert_eq(out.status, QN_TRIAL_DONE, "%s", out.error);
    cr_assert_eq(metric(&out, "f0"), 4);
    cr_assert_eq(metric(&out, "f2"), 12);
    cr_assert_eq(metric(&out, "d"), 1.0);
    cr_assert_eq(metric(&out, "bcast_is_parent"), 1);
    cr_assert_eq(p.calls, 3);
    qn_trial_result_free(&out);
    qn_runner_free(r);
}

Test(runner_relay, a_relay_error_fails_the_trial_with_its_message) {
    qn_runner *r = start();
    for (int at = 1; at <= 3; at++) {
        parent_relay p = {0, at, 0};
        qn_gradsync_relay relay = {parent_sum, parent_bcast, &p};
        qn_trial_msg m = group_msg(10 + at, 0);
        qn_trial_result out;
        cr_assert_eq(qn_runner_run_group(r, &m, NULL, 0, NULL, NULL, &relay, &out), 0);
        cr_assert_eq(out.status, QN_TRIAL_FAILED);
        cr_assert_str_eq(out.error, at == 3 ? "broadcast refused" : "worker rank 3 of the trial's data-parallel group stopped");
        cr_assert_eq(p.calls, at, "the child went on after a failed collective");
        qn_trial_result_free(&out);
    }
    cr_assert_gt(qn_runner_pid(r), 0, "a failed relay must not cost the child");
    qn_runner_free(r);
}

Test(runner_relay, waiting_in_a_collective_does_not_count_against_the_timeout) {
    qn_runner *r = start();
    parent_relay p = {0, 0, 0.4}; /* 1.2 s in collectives, timeout 0.5 s */
    qn_gradsync_relay relay = {parent_sum, parent_bcast, &p};
    qn_trial_msg m = group_msg(20, 0.5);
    qn_trial_result out;
    cr_assert_eq(qn_runner_run_group(r, &m, NULL, 0, NULL, NULL, &relay, &out), 0);
    cr_assert_eq(out.status, QN_TRIAL_DONE, "%s", out.error);
    qn_trial_result_free(&out);
    qn_runner_free(r);
}

Test(runner_relay, a_collective_outside_a_group_trial_is_refused) {
    qn_runner *r = start();
    qn_trial_msg m = group_msg(30, 0);
    qn_trial_result out;
    cr_assert_eq(qn_runner_run(r, &m, NULL, 0, NULL, NULL, &out), 0);
    cr_assert_eq(out.status, QN_TRIAL_FAILED);
    cr_assert(strstr(out.error, "a collective outside a data-parallel trial") != NULL, "%s", out.error);
    qn_trial_result_free(&out);
    qn_runner_free(r);
}
