/* model.arch null and the debug: faults inside qn_trial_execute: a null trial records each step's
 * metrics as deterministic hashes without touching data; segv, abort and hang really crash or hang
 * the process (checked in a forked child); nan fails the trial with the NaN path's message. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../jobs/job_internal.h"
#include "qn_worker.h"
#include "qn_worker_ckpt.h"

static qn_trial_config null_cfg(void) {
    qn_trial_config c;
    char err[QN_ERR_LEN];
    qn_config_defaults(&c);
    snprintf(c.model.arch, sizeof c.model.arch, "null");
    /* a file dataset whose files do not exist: a null trial that loaded data would fail */
    snprintf(c.data.dataset, sizeof c.data.dataset, "csv");
    snprintf(c.data.path, sizeof c.data.path, "/nonexistent/data");
    snprintf(c.data.vocab, sizeof c.data.vocab, "/nonexistent/vocab.txt");
    cr_assert_eq(qn_config_finish_model(&c, err, sizeof err), 0, "%s", err);
    return c;
}

static double metric(const qn_trial_result *r, const char *name) {
    for (int i = 0; i < r->nmetrics; i++)
        if (!strcmp(r->metrics[i].name, name)) return r->metrics[i].value;
    return -1;
}

static const qn_step all_steps[] = {QN_STEP_TRAIN, QN_STEP_EVAL, QN_STEP_PTQ_EVAL, QN_STEP_QAT, QN_STEP_PRUNE};

Test(null_trial, metrics_are_deterministic_hashes_without_data) {
    qn_worker_ctx *ctx = qn_worker_ctx_new();
    qn_trial_config c = null_cfg();
    c.prune.weight.sparsity = 0.25;
    qn_trial_result a, b, other;
    cr_assert_eq(qn_trial_execute(ctx, &c, all_steps, 5, 1, 42, NULL, 0, 1, &a), 0);
    cr_assert_eq(a.status, QN_TRIAL_DONE, "%s", a.error);
    cr_assert_eq(qn_trial_execute(ctx, &c, all_steps, 5, 1, 42, NULL, 0, 0, &b), 0);
    cr_assert_eq(qn_trial_execute(ctx, &c, all_steps, 5, 1, 43, NULL, 0, 0, &other), 0);
    const char *names[] = {"train_loss", "accuracy", "eval_loss", "ptq_accuracy", "ptq_loss", "qat_accuracy", "qat_loss"};
    for (int i = 0; i < 7; i++) {
        double v = metric(&a, names[i]);
        cr_expect(v >= 0 && v < (strstr(names[i], "accuracy") ? 1.0 : 2.0), "%s = %g", names[i], v);
        cr_expect_eq(v, metric(&b, names[i]), "%s differs between two runs of one seed", names[i]);
        cr_expect_neq(v, metric(&other, names[i]), "%s is the same for two seeds", names[i]);
    }
    cr_expect_eq(metric(&a, "weight_sparsity"), 0.25);
    /* steps differ: eval and ptq_eval hash different step indices */
    cr_expect_neq(metric(&a, "accuracy"), metric(&a, "ptq_accuracy"));
    /* a checkpoint when asked for, that the coordinator can pack; none otherwise */
    cr_assert_eq(a.checkpoint_len, 1);
    cr_expect_null(b.checkpoint);
    qn_ckpt ck;
    char err[QN_ERR_LEN];
    cr_expect_eq(qn_ckpt_build(&c, a.checkpoint, a.checkpoint_len, 1, &ck, err, sizeof err), 0, "%s", err);
    qn_ckpt_free(&ck);
    /* a parent checkpoint of any length is accepted */
    qn_trial_result child;
    cr_assert_eq(qn_trial_execute(ctx, &c, all_steps, 2, 1, 44, a.checkpoint, a.checkpoint_len, 0, &child), 0);
    cr_expect_eq(child.status, QN_TRIAL_DONE, "%s", child.error);
    qn_trial_result_free(&a), qn_trial_result_free(&b), qn_trial_result_free(&other), qn_trial_result_free(&child);
    qn_worker_ctx_free(ctx);
}

Test(null_trial, nan_fault_fails_with_the_nan_message) {
    qn_worker_ctx *ctx = qn_worker_ctx_new();
    qn_trial_config c = null_cfg();
    snprintf(c.debug.fault, sizeof c.debug.fault, "nan");
    qn_trial_result r;
    cr_assert_eq(qn_trial_execute(ctx, &c, all_steps, 2, 1, 42, NULL, 0, 1, &r), 0);
    cr_expect_eq(r.status, QN_TRIAL_FAILED);
    cr_expect_str_eq(r.error, "loss became NaN at step 1 (epoch 1)");
    qn_trial_result_free(&r);
    qn_worker_ctx_free(ctx);
}

/* A small real model: the fault goes through the ordinary training loop's NaN detection. */
Test(null_trial, nan_fault_on_a_real_model_uses_the_nan_path) {
    qn_worker_ctx *ctx = qn_worker_ctx_new();
    qn_trial_config c;
    char err[QN_ERR_LEN];
    qn_config_defaults(&c);
    c.model.embed_dim = 8, c.model.hidden_size = 8;
    c.data.train_size = 64, c.data.eval_size = 16, c.data.max_len = 8, c.train.epochs = 1;
    cr_assert_eq(qn_config_finish(&c, err, sizeof err), 0, "%s", err);
    snprintf(c.debug.fault, sizeof c.debug.fault, "nan");
    qn_trial_result r;
    cr_assert_eq(qn_trial_execute(ctx, &c, all_steps, 2, 1, 42, NULL, 0, 0, &r), 0);
    cr_expect_eq(r.status, QN_TRIAL_FAILED);
    cr_expect_str_eq(r.error, "loss became NaN at step 1 (epoch 1)");
    qn_trial_result_free(&r);
    /* an eval-only stage fails the same way */
    cr_assert_eq(qn_trial_execute(ctx, &c, all_steps + 1, 1, 1, 42, NULL, 0, 0, &r), 0);
    cr_expect_eq(r.status, QN_TRIAL_FAILED);
    cr_expect_str_eq(r.error, "loss became NaN at step 1 (epoch 1)");
    qn_trial_result_free(&r);
    qn_worker_ctx_free(ctx);
}

Test(null_trial, sleep_ms_takes_that_long) {
    qn_worker_ctx *ctx = qn_worker_ctx_new();
    qn_trial_config c = null_cfg();
    c.debug.sleep_ms = 60;
    qn_trial_result r;
    cr_assert_eq(qn_trial_execute(ctx, &c, all_steps, 2, 1, 42, NULL, 0, 0, &r), 0);
    cr_expect_eq(r.status, QN_TRIAL_DONE, "%s", r.error);
    cr_expect(r.wall_s >= 0.06 && r.wall_s < 5, "wall %g s", r.wall_s);
    qn_trial_result_free(&r);
    qn_worker_ctx_free(ctx);
}

/* Run a faulting trial of `arch` in a child; its wait status after at most wait_ms (0: still running, killed). */
static int child_status(const char *arch, const char *fault, int wait_ms) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        qn_worker_ctx *ctx = qn_worker_ctx_new();
        qn_trial_config c = null_cfg();
        char err[QN_ERR_LEN];
        if (strcmp(arch, "null") != 0) {
            qn_config_defaults(&c);
            c.model.embed_dim = 8, c.model.hidden_size = 8;
            c.data.train_size = 32, c.data.eval_size = 16, c.data.max_len = 8, c.train.epochs = 1;
            if (qn_config_finish(&c, err, sizeof err) != 0) _exit(3);
        }
        snprintf(c.debug.fault, sizeof c.debug.fault, "%s", fault);
        qn_trial_result r;
        qn_trial_execute(ctx, &c, all_steps, 2, 1, 42, NULL, 0, 0, &r);
        _exit(0); /* the fault did not fire */
    }
    int status = 0;
    for (int waited = 0; waited < wait_ms; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid) return status;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 0;
}

Test(null_trial, segv_abort_and_hang_really_happen) {
    const char *arches[] = {"null", "mlp"};
    for (int a = 0; a < 2; a++) {
        int st = child_status(arches[a], "segv", 20000);
#ifdef __SANITIZE_ADDRESS__
        /* AddressSanitizer catches the SIGSEGV, reports it and exits 1 */
        cr_expect((WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) || (WIFEXITED(st) && WEXITSTATUS(st) == 1),
                  "%s segv: status %#x", arches[a], st);
#else
        cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "%s segv: status %#x", arches[a], st);
#endif
        st = child_status(arches[a], "abort", 20000);
        cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s abort: status %#x", arches[a], st);
        /* still running after a while (killed then) */
        cr_expect_eq(child_status(arches[a], "hang", 500), 0, "%s hang: it exited", arches[a]);
    }
}
