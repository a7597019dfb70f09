/* The HDF5 results file: a round trip of every kind of column, curve and checkpoint; columns that
 * appear late; refusal of an existing file and of a changed plan; replacing a retried row; and crash
 * safety: a writer killed with SIGKILL at random instants leaves a file that opens, with every
 * counted row whole, and that --resume continues. */
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

#include "results_fixtures.h"

/* A record for trial `id` with params, metrics, a curve and optionally a checkpoint. */
typedef struct {
    qn_param params[2];
    const char *metric_names[3];
    double metric_values[3];
    const char *curve_names[1];
    const float *curves[1];
    int curve_lens[1];
    float curve[5];
    float ckpt[7];
    qn_trial_record rec;
} record_buf;

static void make_record(record_buf *b, int64_t id, int with_late_metric) {
    memset(b, 0, sizeof *b);
    b->params[0].name = "quant.width";
    b->params[0].value.kind = QN_VAL_NUM;
    b->params[0].value.num = 4 + (double)id;
    b->params[1].name = "quant.frac_width";
    b->params[1].value.kind = QN_VAL_STR;
    b->params[1].value.str = id % 2 ? "50%" : "25%";
    b->metric_names[0] = "accuracy";
    b->metric_values[0] = 0.5 + 0.01 * (double)id;
    b->metric_names[1] = "eval_loss";
    b->metric_values[1] = id == 2 ? NAN : 1.0 / (double)(id + 1);
    b->metric_names[2] = "qat_accuracy";
    b->metric_values[2] = 0.25 * (double)id;
    for (int i = 0; i < 5; i++) b->curve[i] = (float)id + 0.5f * (float)i;
    for (int i = 0; i < 7; i++) b->ckpt[i] = (float)(id * 10 + i);
    b->curve_names[0] = "train_loss";
    b->curves[0] = b->curve;
    b->curve_lens[0] = 5;
    qn_trial_record *r = &b->rec;
    r->id = id;
    r->stage = id < 2 ? "baseline" : "sweep";
    r->status = id == 3 ? "failed" : "done";
    r->device = "cpu";
    r->worker = 1 + (int)(id % 3);
    r->parent = id == 0 ? -1 : 0;
    r->start_time = 1.7e9 + (double)id;
    r->wall_s = 0.125 * (double)id;
    r->error = id == 3 ? "loss became NaN at step 3 (epoch 1)" : "";
    r->nparams = 2;
    r->params = b->params;
    r->nmetrics = with_late_metric ? 3 : 2;
    r->metric_names = b->metric_names;
    r->metric_values = b->metric_values;
    r->ncurves = 1;
    r->curve_names = b->curve_names;
    r->curves = b->curves;
    r->curve_lens = b->curve_lens;
    r->checkpoint = id == 0 ? b->ckpt : NULL;
    r->checkpoint_len = id == 0 ? 7 : 0;
}

static hid_t h5_open(const char *path) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    cr_assert_geq(f, 0, "cannot open %s", path);
    return f;
}

static void read_f64(hid_t f, const char *name, double *out, int n) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert_geq(ds, 0, "no dataset %s", name);
    hid_t space = H5Dget_space(ds);
    hsize_t len;
    H5Sget_simple_extent_dims(space, &len, NULL);
    cr_assert_geq((int)len, n, "%s has %d values", name, (int)len);
    double *buf = malloc(sizeof(double) * len);
    cr_assert_geq(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    memcpy(out, buf, sizeof(double) * (size_t)n);
    free(buf);
    H5Sclose(space);
    H5Dclose(ds);
}

/* String columns are fixed-length UTF-8 (results_columns.c says why). */
static void read_str(hid_t f, const char *name, int row, char *out, size_t len) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert_geq(ds, 0, "no dataset %s", name);
    hid_t type = H5Dget_type(ds);
    cr_assert_eq(H5Tget_class(type), H5T_STRING, "%s is not a string column", name);
    cr_assert(H5Tis_variable_str(type) == 0, "%s is a variable-length string column", name);
    cr_assert_eq(H5Tget_cset(type), H5T_CSET_UTF8);
    size_t width = H5Tget_size(type);
    hid_t space = H5Dget_space(ds);
    hsize_t dims;
    H5Sget_simple_extent_dims(space, &dims, NULL);
    char *all = calloc(dims * width + 1, 1);
    cr_assert_geq(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, all), 0);
    size_t n = strnlen(all + (size_t)row * width, width);
    snprintf(out, len, "%.*s", (int)n, all + (size_t)row * width);
    free(all);
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(ds);
}

static int64_t rows_attr(hid_t f) {
    hid_t g = H5Gopen2(f, "trials", H5P_DEFAULT);
    hid_t a = H5Aopen(g, "rows", H5P_DEFAULT);
    int64_t rows = -1;
    H5Aread(a, H5T_NATIVE_INT64, &rows);
    H5Aclose(a);
    H5Gclose(g);
    return rows;
}

Test(results, round_trip_of_columns_curves_and_checkpoints, .init = make_dir, .fini = remove_dir) {
    qn_job job = load_job();
    char *plan = qn_job_plan_text(&job), path[300], err[QN_ERR_LEN];
    snprintf(path, sizeof path, "%s/r.h5", dir);
    qn_results *r;
    cr_assert_eq(qn_results_create(path, &job, plan, &r, err, sizeof err), 0, "%s", err);
    for (int64_t id = 0; id < 4; id++) {
        record_buf b;
        make_record(&b, id, id >= 2); /* qat_accuracy appears with trial 2 */
        cr_assert_eq(qn_results_append_trial(r, &b.rec, err, sizeof err), 0, "%s", err);
    }
    qn_device_record dev = {1, 0, "node1", "cpu", "Xeon", 0, 0, 2, 1e9, 12.5};
    cr_assert_eq(qn_results_add_device(r, &dev, err, sizeof err), 0, "%s", err);
    qn_stage_record st = {.name = "sweep", .kind = "grid", .from = "baseline", .metric = "qat_accuracy", .maximize = 1,
                          .ntrials = 4, .done = 1, .failed = 1, .best_trial = 2, .best_value = 0.5};
    cr_assert_eq(qn_results_set_stage(r, &st, err, sizeof err), 0, "%s", err);
    cr_expect_eq(qn_results_nrows(r), 4);
    cr_assert_eq(qn_results_close(r), 0);

    hid_t f = h5_open(path);
    cr_expect_eq(rows_attr(f), 4);
    double acc[4], loss[4], qat[4], width[4];
    read_f64(f, "trials/metrics/accuracy", acc, 4);
    read_f64(f, "trials/metrics/eval_loss", loss, 4);
    read_f64(f, "trials/metrics/qat_accuracy", qat, 4);
    read_f64(f, "trials/params/quant.width", width, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(acc[i], 0.5 + 0.01 * i);
        cr_expect_eq(width[i], 4.0 + i);
    }
    cr_expect(isnan(loss[2]), "a NaN metric is stored as NaN");
    cr_expect(isnan(qat[0]) && isnan(qat[1]), "rows before a column existed read NaN");
    cr_expect_eq(qat[3], 0.75);
    char s[128];
    read_str(f, "trials/params/quant.frac_width", 1, s, sizeof s);
    cr_expect_str_eq(s, "50%");
    read_str(f, "trials/status", 3, s, sizeof s);
    cr_expect_str_eq(s, "failed");
    read_str(f, "trials/error", 3, s, sizeof s);
    cr_expect_str_eq(s, "loss became NaN at step 3 (epoch 1)");
    read_str(f, "trials/stage", 2, s, sizeof s);
    cr_expect_str_eq(s, "sweep");
    read_str(f, "trials/device", 1, s, sizeof s);
    cr_expect_str_eq(s, "cpu");
    double curve[5];
    read_f64(f, "trial/2/train_loss", curve, 5);
    for (int i = 0; i < 5; i++) cr_expect_eq(curve[i], 2.0 + 0.5 * i);
    double ck[7];
    read_f64(f, "trial/0/checkpoint/master", ck, 7);
    for (int i = 0; i < 7; i++) cr_expect_eq(ck[i], (double)i);
    H5Fclose(f);

    /* read back through the API, as resume does */
    cr_assert_eq(qn_results_open_read(path, &r, err, sizeof err), 0, "%s", err);
    int64_t id;
    char status[16];
    cr_assert_eq(qn_results_row(r, 3, &id, status, sizeof status), 0);
    cr_expect_eq(id, 3);
    cr_expect_str_eq(status, "failed");
    cr_expect_eq(qn_results_metric(r, 1, "accuracy"), 0.51);
    cr_expect(isnan(qn_results_metric(r, 1, "no_such_metric")));
    float *buf;
    size_t len;
    cr_assert_eq(qn_results_read_checkpoint(r, 0, &buf, &len), 0);
    cr_expect_eq(len, 7);
    cr_expect_eq(buf[6], 6.0f);
    free(buf);
    cr_expect_eq(qn_results_read_checkpoint(r, 1, &buf, &len), -1);
    qn_results_close(r);
    free(plan);
    qn_job_free(&job);
}

static double attr_f64(hid_t g, const char *name) {
    double v = NAN;
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    cr_assert_geq(a, 0, "no attribute %s", name);
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    return v;
}

static void attr_text(hid_t g, const char *name, char *out, size_t len) {
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    cr_assert_geq(a, 0, "no attribute %s", name);
    hid_t t = H5Aget_type(a);
    cr_assert_eq(H5Tget_class(t), H5T_STRING);
    out[0] = 0;
    if (H5Tis_variable_str(t) > 0) {
        char *p = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Aread(a, mt, &p);
        snprintf(out, len, "%s", p ? p : "");
        H5free_memory(p);
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        char *buf = calloc(n + 1, 1);
        H5Aread(a, t, buf);
        snprintf(out, len, "%s", buf);
        free(buf);
    }
    H5Tclose(t);
    H5Aclose(a);
}

/* /stages/<name>: best_so_far, best_trial, best_value, best_params and done/failed are derived from
 * the rows in trial-id order, and are on disk with the commit of the trial that changed them. */
Test(results, stage_record_derived_from_rows_and_committed_with_each_trial, .init = make_dir, .fini = remove_dir) {
    /* every append an image commit, so that the file after each one can be read here (fast
     * appends otherwise go to the journal first: test_io_journal.c) */
    setenv("QUENCH_RESULTS_JOURNAL", "0", 1);
    qn_job job = load_job();
    char *plan = qn_job_plan_text(&job), path[300], err[QN_ERR_LEN];
    snprintf(path, sizeof path, "%s/s.h5", dir);
    qn_results *r;
    cr_assert_eq(qn_results_create(path, &job, plan, &r, err, sizeof err), 0, "%s", err);
    qn_stage_record st = {.name = "sweep", .kind = "search", .from = "", .metric = "qat_accuracy", .maximize = 1,
                          .ntrials = 5, .best_trial = -1, .best_value = NAN, .method = "tpe"};
    cr_assert_eq(qn_results_set_stage(r, &st, err, sizeof err), 0, "%s", err);
    /* finished out of id order: 3, 1, 2 (failed), 0, 4; values by id: 0.4, 0.7, -, 0.6, 0.7 */
    const int64_t order[5] = {3, 1, 2, 0, 4};
    const double value[5] = {0.4, 0.7, NAN, 0.6, 0.7};
    /* best_so_far on disk after each commit, in id order of the trials recorded so far */
    const double expect[5][5] = {{0.6}, {0.7, 0.7}, {0.7, 0.7, 0.7}, {0.4, 0.7, 0.7, 0.7}, {0.4, 0.7, 0.7, 0.7, 0.7}};
    for (int k = 0; k < 5; k++) {
        record_buf b;
        make_record(&b, order[k], 1);
        b.rec.stage = "sweep";
        b.rec.status = order[k] == 2 ? "failed" : "done";
        b.metric_values[2] = value[order[k]];
        b.rec.checkpoint = NULL;
        cr_assert_eq(qn_results_append_trial(r, &b.rec, err, sizeof err), 0, "%s", err);
        hid_t f = h5_open(path); /* what a reader (or a resume after kill -9) sees now */
        double got[5];
        read_f64(f, "stages/sweep/best_so_far", got, k + 1);
        hid_t ds = H5Dopen2(f, "stages/sweep/best_so_far", H5P_DEFAULT);
        hid_t sp = H5Dget_space(ds);
        hsize_t len = 0;
        H5Sget_simple_extent_dims(sp, &len, NULL);
        cr_expect_eq((int)len, k + 1, "after %d trials best_so_far has %d values", k + 1, (int)len);
        H5Sclose(sp);
        H5Dclose(ds);
        for (int i = 0; i <= k; i++) cr_expect_eq(got[i], expect[k][i], "commit %d, value %d: %g", k, i, got[i]);
        H5Fclose(f);
    }
    cr_assert_eq(qn_results_close(r), 0);

    hid_t f = h5_open(path);
    hid_t g = H5Gopen2(f, "stages/sweep", H5P_DEFAULT);
    cr_assert_geq(g, 0);
    cr_expect_eq(attr_f64(g, "best_trial"), 1.0, "ties keep the lower id");
    cr_expect_eq(attr_f64(g, "best_value"), 0.7);
    cr_expect_eq(attr_f64(g, "done"), 4.0);
    cr_expect_eq(attr_f64(g, "failed"), 1.0);
    char text[512];
    attr_text(g, "method", text, sizeof text);
    cr_expect_str_eq(text, "tpe");
    attr_text(g, "best_params", text, sizeof text);
    cr_expect_str_eq(text, "{\"quant.width\": 5, \"quant.frac_width\": \"50%\"}"); /* column order */
    H5Gclose(g);
    H5Fclose(f);

    /* a stage without rows, recorded on resume: no best, method defaults to grid */
    cr_assert_eq(qn_results_open_resume(path, plan, &r, err, sizeof err), 0, "%s", err);
    qn_stage_record again = st;
    again.name = "other";
    again.method = NULL;
    cr_assert_eq(qn_results_set_stage(r, &again, err, sizeof err), 0, "%s", err);
    cr_assert_eq(qn_results_close(r), 0);
    f = h5_open(path);
    g = H5Gopen2(f, "stages/other", H5P_DEFAULT);
    attr_text(g, "method", text, sizeof text);
    cr_expect_str_eq(text, "grid");
    cr_expect_eq(attr_f64(g, "best_trial"), -1.0);
    attr_text(g, "best_params", text, sizeof text);
    cr_expect_str_eq(text, "{}");
    H5Gclose(g);
    H5Fclose(f);
    free(plan);
    qn_job_free(&job);
}

Test(results, existing_file_refused_and_changed_plan_refused, .init = make_dir, .fini = remove_dir) {
    qn_job job = load_job();
    char *plan = qn_job_plan_text(&job), path[300], err[QN_ERR_LEN];
    snprintf(path, sizeof path, "%s/r.h5", dir);
    qn_results *r;
    cr_assert_eq(qn_results_create(path, &job, plan, &r, err, sizeof err), 0, "%s", err);
    record_buf b;
    make_record(&b, 0, 0);
    cr_assert_eq(qn_results_append_trial(r, &b.rec, err, sizeof err), 0, "%s", err);
    /* a second writer is refused while the first holds the file */
    qn_results *second;
    cr_expect_eq(qn_results_open_resume(path, plan, &second, err, sizeof err), 2);
    cr_log_info("second writer: %s", err);
    qn_results_close(r);

    cr_expect_eq(qn_results_create(path, &job, plan, &r, err, sizeof err), 2);
    cr_expect(strstr(err, path) != NULL, "%s", err);
    char *changed = strdup(plan);
    char *w = strstr(changed, "quant.width");
    cr_assert_not_null(w, "plan text has no quant.width axis: %s", plan);
    w[0] = 'Q';
    cr_expect_eq(qn_results_open_resume(path, changed, &r, err, sizeof err), 2);
    cr_expect(strstr(err, "plan") != NULL, "%s", err);
    cr_assert_eq(qn_results_open_resume(path, plan, &r, err, sizeof err), 0, "%s", err);
    cr_expect_eq(qn_results_nrows(r), 1);
    cr_expect_eq(qn_results_session(r), 1);
    /* a retried trial replaces its row */
    make_record(&b, 0, 1);
    b.rec.status = "done";
    b.metric_values[0] = 0.99;
    cr_assert_eq(qn_results_replace_trial(r, 0, &b.rec, err, sizeof err), 0, "%s", err);
    cr_expect_eq(qn_results_nrows(r), 1);
    cr_expect_eq(qn_results_metric(r, 0, "accuracy"), 0.99);
    qn_results_close(r);
    /* not a results file */
    char junk[300];
    snprintf(junk, sizeof junk, "%s/junk.h5", dir);
    FILE *fj = fopen(junk, "w");
    fputs("not hdf5", fj);
    fclose(fj);
    cr_expect_eq(qn_results_open_read(junk, &r, err, sizeof err), 2);
    cr_expect(strstr(err, junk) != NULL, "%s", err);
    free(changed);
    free(plan);
    qn_job_free(&job);
}

/* The child appends rows as fast as it can; the parent kills it at a random instant. */
static void writer_child(const char *path, const qn_job *job, const char *plan) {
    char err[QN_ERR_LEN];
    qn_results *r;
    if (qn_results_open_resume(path, plan, &r, err, sizeof err) != 0) {
        fprintf(stderr, "writer child: %s\n", err);
        _exit(3);
    }
    for (int64_t id = qn_results_nrows(r); id < 100000; id++) {
        record_buf b;
        make_record(&b, id, id % 3 == 0);
        b.rec.checkpoint = b.ckpt; /* checkpoints too: the biggest writes */
        b.rec.checkpoint_len = 7;
        if (qn_results_append_trial(r, &b.rec, err, sizeof err) != 0) {
            fprintf(stderr, "writer child: %s\n", err);
            _exit(4);
        }
    }
    (void)job;
    _exit(0);
}

Test(results, survives_sigkill_at_any_instant, .init = make_dir, .fini = remove_dir, .timeout = 120) {
    qn_job job = load_job();
    char *plan = qn_job_plan_text(&job), path[300], err[QN_ERR_LEN];
    snprintf(path, sizeof path, "%s/r.h5", dir);
    qn_results *r;
    cr_assert_eq(qn_results_create(path, &job, plan, &r, err, sizeof err), 0, "%s", err);
    qn_results_close(r);
    int64_t last = 0;
    for (int round = 0; round < 12; round++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) writer_child(path, &job, plan);
        usleep(20000 + (useconds_t)(round * 7919 % 40000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "writer ended on its own (status %d)", status);
        /* a reader sees whole rows only */
        cr_assert_eq(qn_results_open_read(path, &r, err, sizeof err), 0, "round %d: %s", round, err);
        int64_t n = qn_results_nrows(r);
        cr_assert_geq(n, last, "round %d: rows went back from %lld to %lld", round, (long long)last, (long long)n);
        for (int64_t row = 0; row < n; row++) {
            int64_t id;
            char st[16];
            cr_assert_eq(qn_results_row(r, row, &id, st, sizeof st), 0);
            cr_assert_eq(id, row, "round %d: row %lld holds trial %lld", round, (long long)row, (long long)id);
            cr_assert_eq(qn_results_metric(r, row, "accuracy"), 0.5 + 0.01 * (double)id);
        }
        qn_results_close(r);
        last = n;
    }
    cr_log_info("%lld rows written across 12 killed writers", (long long)last);
    cr_expect_gt(last, 0);
    free(plan);
    qn_job_free(&job);
}
