/* The results file's journal (io/results_journal.c): trials recorded faster than the image can be
 * rewritten are durable in FILE.quench-journal; a writer killed at any instant loses none of them,
 * --resume writes them into the image exactly once, and a record cut short is ignored. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qn_results.h"

#define SCRATCH_DIR_TEMPLATE "/tmp/qn-journal-XXXXXX"
#include "results_fixtures.h"

typedef struct {
    qn_param params[2];
    const char *mnames[2];
    double mvalues[2];
    const char *cnames[1];
    const float *curves[1];
    int clens[1];
    float curve[3];
    qn_trial_record rec;
} record_buf;

static void make_record(record_buf *b, int64_t id) {
    memset(b, 0, sizeof *b);
    b->params[0].name = "quant.width";
    b->params[0].value.kind = QN_VAL_NUM;
    b->params[0].value.num = (double)(id % 7);
    b->params[1].name = "quant.name";
    b->params[1].value.kind = QN_VAL_STR;
    b->params[1].value.str = id % 2 ? "integer" : "mxint";
    b->mnames[0] = "accuracy";
    b->mvalues[0] = 0.5 + 0.001 * (double)id;
    b->mnames[1] = id % 5 == 0 ? "late_metric" : "eval_loss"; /* a column that appears later */
    b->mvalues[1] = (double)id;
    for (int i = 0; i < 3; i++) b->curve[i] = (float)id + (float)i;
    b->cnames[0] = "train_loss";
    b->curves[0] = b->curve;
    b->clens[0] = id % 4 == 0 ? 0 : 3; /* with and without curves */
    qn_trial_record *r = &b->rec;
    r->id = id;
    r->stage = "sweep";
    r->status = id % 9 == 8 ? "failed" : "done";
    r->device = "cpu";
    r->worker = 1 + (int)(id % 3);
    r->parent = -1;
    r->start_time = 1.7e9 + (double)id;
    r->wall_s = 0.001 * (double)id;
    r->error = id % 9 == 8 ? "loss became NaN at step 1 (epoch 1)" : "";
    r->nparams = 2, r->params = b->params;
    r->nmetrics = 2, r->metric_names = b->mnames, r->metric_values = b->mvalues;
    r->ncurves = 1, r->curve_names = b->cnames, r->curves = b->curves, r->curve_lens = b->clens;
}

static const qn_stage_record sweep = {.name = "sweep", .kind = "grid", .from = "", .metric = "accuracy",
                                      .maximize = 1, .ntrials = 100000, .best_trial = -1, .best_value = NAN};

/* Append trials from the row count on, with the stage record after each as the coordinator does;
 * `upto` then exit without closing, as a kill would (or run until killed). */
static void writer(const char *path, const char *plan, int64_t upto, int progress_fd) {
    char err[QN_ERR_LEN];
    qn_results *r;
    if (qn_results_open_resume(path, plan, &r, err, sizeof err) != 0) {
        fprintf(stderr, "writer: %s\n", err);
        _exit(3);
    }
    for (int64_t id = qn_results_nrows(r); id < upto; id++) {
        record_buf b;
        make_record(&b, id);
        if (qn_results_append_trial(r, &b.rec, err, sizeof err) != 0 || qn_results_set_stage(r, &sweep, err, sizeof err) != 0) {
            fprintf(stderr, "writer: %s\n", err);
            _exit(4);
        }
        /* one byte per recorded trial, so the killer knows the writer is under way whatever the load */
        if (progress_fd >= 0 && write(progress_fd, "", 1) < 0) progress_fd = -1;
    }
    _exit(0);
}

/* Every row holds trial `row` with its values; the stage summary counts them. */
static void check_rows(const char *path, int64_t n) {
    char err[QN_ERR_LEN];
    qn_results *r;
    cr_assert_eq(qn_results_open_read(path, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(qn_results_nrows(r), n, "%lld rows, expected %lld", (long long)qn_results_nrows(r), (long long)n);
    for (int64_t row = 0; row < n; row++) {
        int64_t id;
        char st[16];
        cr_assert_eq(qn_results_row(r, row, &id, st, sizeof st), 0);
        cr_assert_eq(id, row, "row %lld holds trial %lld", (long long)row, (long long)id);
        cr_assert_str_eq(st, id % 9 == 8 ? "failed" : "done");
        cr_assert_eq(qn_results_metric(r, row, "accuracy"), 0.5 + 0.001 * (double)id);
        double late = qn_results_metric(r, row, "late_metric");
        cr_assert(id % 5 == 0 ? late == (double)id : isnan(late), "row %lld late_metric %g", (long long)row, late);
        qn_value v;
        cr_assert_eq(qn_results_param(r, row, "quant.name", &v), 0);
        cr_assert_str_eq(v.str, id % 2 ? "integer" : "mxint");
        free(v.str);
    }
    qn_results_close(r);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    cr_assert_geq(f, 0);
    hid_t g = H5Gopen2(f, "stages/sweep", H5P_DEFAULT), a = H5Aopen(g, "done", H5P_DEFAULT);
    int64_t done = -1;
    H5Aread(a, H5T_NATIVE_INT64, &done);
    cr_expect_eq(done, n - n / 9, "the stage summary counts %lld done of %lld", (long long)done, (long long)n);
    H5Aclose(a);
    hid_t ds = H5Dopen2(g, "best_so_far", H5P_DEFAULT), sp = H5Dget_space(ds);
    hsize_t len = 0;
    H5Sget_simple_extent_dims(sp, &len, NULL);
    cr_expect_eq((int64_t)len, n);
    H5Sclose(sp), H5Dclose(ds), H5Gclose(g);
    for (int64_t id = 1; id < n; id += 4) { /* a trial with a curve */
        char name[64];
        snprintf(name, sizeof name, "trial/%lld/train_loss", (long long)id);
        cr_expect_gt(H5Lexists(f, "trial", H5P_DEFAULT), 0);
        cr_expect_gt(H5Oexists_by_name(f, name, H5P_DEFAULT), 0, "no %s", name);
    }
    H5Fclose(f);
}

static void new_file(const char *path, const qn_job *job, const char *plan) {
    char err[QN_ERR_LEN];
    qn_results *r;
    cr_assert_eq(qn_results_create(path, job, plan, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(qn_results_set_stage(r, &sweep, err, sizeof err), 0, "%s", err);
    cr_assert_eq(qn_results_close(r), 0);
}

Test(journal, killed_writer_loses_nothing_and_resume_records_each_once, .init = make_dir, .fini = remove_dir) {
    setenv("QUENCH_RESULTS_JOURNAL", "1", 1); /* every trial through the journal */
    qn_job job = load_job();
    char *plan = qn_job_plan_text(&job), path[300], journal[320];
    snprintf(path, sizeof path, "%s/j.h5", dir);
    snprintf(journal, sizeof journal, "%s.quench-journal", path);
    new_file(path, &job, plan);
    pid_t pid = fork();
    if (pid == 0) writer(path, plan, 40, -1);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %#x", status);
    /* the image holds none of them (only the resume's own commit); the journal holds all 40 */
    cr_assert_eq(access(journal, F_OK), 0, "no journal");
    /* a kill in the middle of a record leaves a partial one at the end */
    FILE *f = fopen(journal, "ab");
    cr_assert_not_null(f);
    fwrite("\x51\x4e\x4a\x31\x40\x00\x00\x00garbage", 1, 15, f);
    fclose(f);
    /* a resume writes them into the image, then goes on */
    pid = fork();
    if (pid == 0) writer(path, plan, 60, -1);
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %#x", status);
    char err[QN_ERR_LEN];
    qn_results *r;
    cr_assert_eq(qn_results_open_resume(path, plan, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(qn_results_nrows(r), 60, "%lld rows", (long long)qn_results_nrows(r));
    cr_assert_eq(qn_results_close(r), 0);
    cr_expect_neq(access(journal, F_OK), 0, "the journal outlived a clean close");
    check_rows(path, 60);
    free(plan);
    qn_job_free(&job);
}

Test(journal, survives_sigkill_at_any_instant, .init = make_dir, .fini = remove_dir, .timeout = 120) {
    unsetenv("QUENCH_RESULTS_JOURNAL"); /* as a run decides: journal while the image is costly */
    qn_job job = load_job();
    char *plan = qn_job_plan_text(&job), path[300], err[QN_ERR_LEN];
    snprintf(path, sizeof path, "%s/k.h5", dir);
    new_file(path, &job, plan);
    int64_t last = 0;
    for (int round = 0; round < 12; round++) {
        int progress[2];
        cr_assert_eq(pipe(progress), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(progress[0]);
            writer(path, plan, 1000000, progress[1]);
        }
        close(progress[1]);
        /* let it record a few trials (a different number each round), then kill it a moment later:
         * in the middle of the next record, its journal sync or an image rewrite */
        int want = 1 + round * 7 % 23;
        char byte;
        for (int got = 0; got < want && read(progress[0], &byte, 1) == 1;) got++;
        usleep((useconds_t)(round * 7919 % 3000));
        kill(pid, SIGKILL);
        close(progress[0]);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "writer ended on its own (status %#x)", status);
        /* what a resume finds: every trial recorded before the kill, each once, in order */
        qn_results *r;
        cr_assert_eq(qn_results_open_resume(path, plan, &r, err, sizeof err), 0, "round %d: %s", round, err);
        int64_t n = qn_results_nrows(r);
        qn_results_close(r);
        cr_assert_geq(n, last, "round %d: rows went back from %lld to %lld", round, (long long)last, (long long)n);
        check_rows(path, n);
        last = n;
    }
    cr_log_info("%lld rows written across 12 killed writers", (long long)last);
    cr_expect_geq(last, 12, "every round records at least one trial before its kill");
    free(plan);
    qn_job_free(&job);
}
