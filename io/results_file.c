/* results_file.c: creating, resuming and writing the results file (one writer, durable rows). */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qn_checkpoint.h"
#include "qn_clock.h"
#include "results_internal.h"

static const char *const trial_columns[] = {"id", "stage", "status", "device", "worker", "parent", "start_time", "wall_s", "error"};

static void quiet_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static qn_results *handle_new(const char *path) {
    qn_results *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->path = strdup(path);
    r->lock_fd = -1;
    r->journal_fd = -1;
    r->file = -1;
    r->str_type = H5Tcopy(H5T_C_S1);
    H5Tset_size(r->str_type, H5T_VARIABLE);
    H5Tset_cset(r->str_type, H5T_CSET_UTF8);
    return r;
}

static void handle_free(qn_results *r) {
    if (!r) return;
    if (r->file >= 0) H5Fclose(r->file);
    if (r->lock_fd >= 0) close(r->lock_fd);
    qn_journal_close(r, 0);
    for (int i = 0; i < r->nstages_seen; i++) free(r->stages_seen[i].name);
    free(r->stages_seen);
    H5Tclose(r->str_type);
    free(r->path);
    free(r);
}

/* HDF5's own flock would keep readers (quench ls, h5py) out while a run writes: the writer turns it
 * off and guards against a second writer with an OFD fcntl lock, which is independent of flock. */
static hid_t fapl_without_locking(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, 0, 1);
    return fapl;
}

/* An open-file-description lock: it conflicts with any other open of the file, in this process or
 * another, and the kernel drops it when the writer dies (kill -9 included). */
static int take_writer_lock(qn_results *r, char *err, size_t errlen) {
    r->lock_fd = open(r->path, O_RDWR | O_CLOEXEC);
    if (r->lock_fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", r->path, strerror(errno));
        return errno == ENOENT || errno == EACCES || errno == EISDIR ? 2 : 1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(r->lock_fd, F_OFD_SETLK, &fl) != 0) {
        snprintf(err, errlen, "%s is being written by another quench run: wait for it to end, or use another -o",
                 r->path);
        return 2;
    }
    return 0;
}

hid_t qn_group_create(hid_t parent, const char *name) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

static hid_t group_open_or_create(hid_t parent, const char *name) {
    if (H5Lexists(parent, name, H5P_DEFAULT) > 0) return H5Gopen2(parent, name, H5P_DEFAULT);
    return qn_group_create(parent, name);
}

/* Make everything written so far, the journal's rows included, durable in the image
 * (results_commit.c), and empty the journal. */
static int make_durable(qn_results *r) {
    char err[QN_ERR_LEN];
    double started = qn_clock_monotonic_s();
    if (qn_journal_apply(r, err, sizeof err) != 0 || qn_results_commit(r, 0, err, sizeof err) != 0) {
        fprintf(stderr, "quench: %s\n", err);
        return -1;
    }
    qn_journal_committed(r, started);
    return 0;
}

/* Readers of rows see the journal's too: write them into the image first (no commit needed: they
 * are durable in the journal). */
static void settle(const qn_results *rc) {
    qn_results *r = (qn_results *)rc;
    char err[QN_ERR_LEN];
    if (r->writable && r->npending > 0 && qn_journal_apply(r, err, sizeof err) != 0)
        fprintf(stderr, "quench: warning: %s\n", err);
}

int qn_results_create(const char *path, const qn_job *job, const char *plan_text, qn_results **out, char *err,
                      size_t errlen) {
    quiet_hdf5();
    *out = NULL;
    if (access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s exists: use --resume to finish it, or choose another -o", path);
        return 2;
    }
    qn_results *r = handle_new(path);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    hid_t fapl = qn_results_fapl_memory();
    r->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl); /* in memory until the first commit */
    H5Pclose(fapl);
    if (r->file < 0) {
        snprintf(err, errlen, "%s: cannot create the results file (HDF5 error)", path);
        handle_free(r);
        return 1;
    }
    r->writable = 1;
    r->session = 1;
    char created[32];
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    int bad = 0;
    bad |= qn_attr_put_str(r, r->file, "format", QN_RESULTS_FORMAT);
    bad |= qn_attr_put_i64(r->file, "format_version", QN_RESULTS_FORMAT_VERSION);
    bad |= qn_attr_put_str(r, r->file, "quench_version", QUENCH_VERSION);
    bad |= qn_attr_put_str(r, r->file, "job", job->text ? job->text : "");
    bad |= qn_attr_put_str(r, r->file, "job_name", job->name ? job->name : "");
    bad |= qn_attr_put_str(r, r->file, "job_path", job->path ? job->path : "");
    bad |= qn_attr_put_str(r, r->file, "plan", plan_text);
    bad |= qn_attr_put_i64(r->file, "ntrials", job->ntrials);
    bad |= qn_attr_put_str(r, r->file, "created", created);
    bad |= qn_attr_put_i64(r->file, "sessions", 1);
    hid_t trials = qn_group_create(r->file, "trials");
    hid_t sub[2] = {qn_group_create(trials, "params"), qn_group_create(trials, "metrics")};
    for (int i = 0; i < 9; i++) {
        qn_col_type t = i == 0 || i == 5 ? QN_COL_I64 : i == 4 ? QN_COL_I32 : i == 6 || i == 7 ? QN_COL_F64 : QN_COL_STR;
        hid_t ds = qn_col_open(r, trials, trial_columns[i], t, 0);
        bad |= ds < 0;
        if (ds >= 0) H5Dclose(ds);
    }
    bad |= qn_attr_put_i64(trials, "rows", 0);
    hid_t others[3] = {qn_group_create(r->file, "trial"), qn_group_create(r->file, "devices"), qn_group_create(r->file, "stages")};
    bad |= qn_attr_put_i64(others[1], "rows", 0);
    for (int i = 0; i < 3; i++) bad |= others[i] < 0, H5Gclose(others[i]);
    bad |= sub[0] < 0 || sub[1] < 0 || trials < 0;
    H5Gclose(sub[0]);
    H5Gclose(sub[1]);
    H5Gclose(trials);
    double started = qn_clock_monotonic_s();
    int rc = bad ? -1 : qn_results_commit(r, 1, err, errlen);
    if (rc != 0) {
        if (bad) snprintf(err, errlen, "%s: cannot write the results file", path);
        handle_free(r);
        return rc == -2 ? 2 : 1;
    }
    qn_journal_committed(r, started);
    qn_journal_close(r, 1); /* a journal left by a study whose file was since removed is not ours */
    *out = r;
    return 0;
}

static int check_format(qn_results *r, char *err, size_t errlen) {
    char *format = qn_attr_get_str(r->file, "format");
    int ok = format && strcmp(format, QN_RESULTS_FORMAT) == 0;
    free(format);
    if (!ok) {
        snprintf(err, errlen, "%s is not a quench results file", r->path);
        return 2;
    }
    hid_t t = H5Gopen2(r->file, "trials", H5P_DEFAULT);
    if (t < 0 || qn_attr_get_i64(t, "rows", &r->rows) != 0) {
        if (t >= 0) H5Gclose(t);
        snprintf(err, errlen, "%s is damaged: /trials or its rows attribute is missing", r->path);
        return 2;
    }
    H5Gclose(t);
    int64_t sessions = 1;
    qn_attr_get_i64(r->file, "sessions", &sessions);
    r->session = (int)sessions;
    return 0;
}

static void first_difference(const char *a, const char *b, char *out, size_t len) {
    int line = 1;
    while (1) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la != lb || strncmp(a, b, la) != 0) {
            snprintf(out, len, "line %d was '%.*s' and is now '%.*s'", line, (int)(la > 160 ? 160 : la), a,
                     (int)(lb > 160 ? 160 : lb), b);
            return;
        }
        if (!ea || !eb) {
            snprintf(out, len, "the plan has %s lines", ea ? "fewer" : "more");
            return;
        }
        a = ea + 1;
        b = eb + 1;
        line++;
    }
}

int qn_results_open_resume(const char *path, const char *plan_text, qn_results **out, char *err, size_t errlen) {
    quiet_hdf5();
    *out = NULL;
    qn_results *r = handle_new(path);
    if (!r) return 1;
    if (H5Fis_hdf5(path) <= 0) {
        snprintf(err, errlen, "%s is not a quench results file (not HDF5)", path);
        handle_free(r);
        return 2;
    }
    /* Lock first and check read-only: a refused resume leaves the file byte for byte as it was. */
    int rc = take_writer_lock(r, err, errlen);
    if (rc) {
        handle_free(r);
        return rc;
    }
    hid_t fapl = fapl_without_locking();
    r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (r->file < 0) {
        H5Pclose(fapl);
        snprintf(err, errlen, "%s: cannot open the results file", path);
        handle_free(r);
        return 1;
    }
    rc = check_format(r, err, errlen);
    if (!rc) {
        char *plan = qn_attr_get_str(r->file, "plan");
        if (!plan || strcmp(plan, plan_text) != 0) {
            char diff[QN_ERR_LEN];
            first_difference(plan ? plan : "", plan_text, diff, sizeof diff);
            snprintf(err, errlen, "%s was written by a different plan: %s; use a new -o or restore the job file", path, diff);
            rc = 2;
        }
        free(plan);
    }
    H5Fclose(r->file);
    H5Pclose(fapl);
    /* Continue in memory from the committed image (results_commit.c). */
    fapl = qn_results_fapl_memory();
    r->file = rc ? H5I_INVALID_HID : H5Fopen(path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (!rc && r->file < 0) {
        snprintf(err, errlen, "%s: cannot open the results file for writing", path);
        rc = 1;
    }
    if (!rc) {
        r->writable = 1;
        rc = check_format(r, err, errlen); /* reads rows and sessions of the writable handle */
    }
    if (!rc) {
        /* Files written before commits were atomic could hold columns longer than `rows`. */
        hid_t t = H5Gopen2(r->file, "trials", H5P_DEFAULT);
        hid_t p = H5Gopen2(t, "params", H5P_DEFAULT), m = H5Gopen2(t, "metrics", H5P_DEFAULT);
        if (qn_group_trim(t, r->rows) || qn_group_trim(p, r->rows) || qn_group_trim(m, r->rows)) {
            snprintf(err, errlen, "%s is damaged: a /trials column is shorter than its rows attribute", path);
            rc = 2;
        }
        H5Gclose(p), H5Gclose(m), H5Gclose(t);
    }
    if (!rc && qn_journal_replay(r, err, errlen) < 0) rc = 1;
    if (!rc) {
        /* the journal's trials go into the image with this commit, and the journal is emptied */
        qn_attr_put_i64(r->file, "sessions", ++r->session);
        if (make_durable(r) != 0) {
            snprintf(err, errlen, "%s: cannot write the results file", path);
            rc = 1;
        }
    }
    if (rc) {
        handle_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int qn_results_open_read(const char *path, qn_results **out, char *err, size_t errlen) {
    quiet_hdf5();
    *out = NULL;
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return 2;
    }
    if (H5Fis_hdf5(path) <= 0) {
        snprintf(err, errlen, "%s is not a quench results file (not HDF5)", path);
        return 2;
    }
    qn_results *r = handle_new(path);
    if (!r) return 1;
    hid_t fapl = fapl_without_locking();
    /* A writer may be in the middle of a flush: try again for about a second. */
    for (int attempt = 0; attempt < 10 && r->file < 0; attempt++) {
        r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (r->file < 0) usleep(100000);
    }
    H5Pclose(fapl);
    if (r->file < 0) {
        snprintf(err, errlen, "%s: cannot open the results file", path);
        handle_free(r);
        return 1;
    }
    int rc = check_format(r, err, errlen);
    if (rc) {
        handle_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int qn_results_close(qn_results *r) {
    int rc = 0;
    if (r->writable) rc = make_durable(r);
    if (r->writable && rc == 0) qn_journal_close(r, 1); /* all in the image */
    handle_free(r);
    return rc;
}

int qn_results_session(const qn_results *r) { return r->session - 1; }

int64_t qn_results_nrows(const qn_results *r) { return r->rows; }

/* ---------------------------------------------------------------- trials */

static int in_list(const char *name, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}

/* Every column of `g` not in `given` gets the missing value at `row`. */
static int fill_missing(qn_results *r, hid_t g, int64_t row, const char *const *given, int ngiven) {
    char **names;
    int n = qn_group_datasets(g, &names), bad = 0;
    for (int i = 0; i < n; i++) {
        if (in_list(names[i], given, ngiven)) continue;
        hid_t ds = H5Dopen2(g, names[i], H5P_DEFAULT);
        bad |= ds < 0 || qn_col_put_missing(r, ds, row) != 0;
        if (ds >= 0) H5Dclose(ds);
    }
    qn_names_free(names, n);
    return bad ? -1 : 0;
}

/* /trial/<id> holds the trial's arrays only (curves, checkpoint); its scalars are its /trials row.
 * A group left by a writer killed mid-trial is replaced. */
int qn_results_write_trial_group(qn_results *r, const qn_trial_record *rec) {
    char name[64];
    snprintf(name, sizeof name, "/trial/%lld", (long long)rec->id);
    if (H5Lexists(r->file, name, H5P_DEFAULT) > 0) H5Ldelete(r->file, name, H5P_DEFAULT);
    hid_t g = H5Gcreate2(r->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int bad = 0;
    for (int i = 0; i < rec->ncurves; i++) {
        hsize_t n = (hsize_t)rec->curve_lens[i];
        hid_t sp = H5Screate_simple(1, &n, NULL);
        hid_t ds = H5Dcreate2(g, rec->curve_names[i], H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        bad |= ds < 0 || (n && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, rec->curves[i]) < 0);
        if (ds >= 0) H5Dclose(ds);
        H5Sclose(sp);
    }
    if (rec->ckpt) {
        bad |= qn_results_write_ckpt(r, g, rec->ckpt) != 0;
    } else if (rec->checkpoint) {
        /* the float buffer alone, as the parent of a later stage */
        qn_ckpt c = {.nparams = (int64_t)rec->checkpoint_len, .master = (float *)rec->checkpoint};
        bad |= qn_results_write_ckpt(r, g, &c) != 0;
    }
    H5Gclose(g);
    return bad ? -1 : 0;
}

static int write_row(qn_results *r, int64_t row, const qn_trial_record *rec, char *err, size_t errlen) {
    hid_t t = H5Gopen2(r->file, "trials", H5P_DEFAULT);
    hid_t pg = H5Gopen2(t, "params", H5P_DEFAULT), mg = H5Gopen2(t, "metrics", H5P_DEFAULT);
    int bad = t < 0 || pg < 0 || mg < 0;
    int64_t rows_now = r->rows;
    const char *what = "/trials"; /* the part being written, for the message */
    /* The fixed columns. */
    for (int i = 0; i < 9 && !bad; i++) {
        what = trial_columns[i];
        hid_t ds = H5Dopen2(t, trial_columns[i], H5P_DEFAULT);
        if (ds < 0) { bad = 1; break; }
        switch (i) {
        case 0: bad |= qn_col_put_i64(ds, row, rec->id); break;
        case 1: bad |= qn_col_put_str(r, ds, row, rec->stage); break;
        case 2: bad |= qn_col_put_str(r, ds, row, rec->status); break;
        case 3: bad |= qn_col_put_str(r, ds, row, rec->device); break;
        case 4: bad |= qn_col_put_i32(ds, row, rec->worker); break;
        case 5: bad |= qn_col_put_i64(ds, row, rec->parent); break;
        case 6: bad |= qn_col_put_f64(ds, row, rec->start_time); break;
        case 7: bad |= qn_col_put_f64(ds, row, rec->wall_s); break;
        case 8: bad |= qn_col_put_str(r, ds, row, rec->error ? rec->error : ""); break;
        }
        H5Dclose(ds);
    }
    /* params/<name>: the type is fixed by the first value written. */
    const char *pnames[256];
    int np = 0;
    for (int i = 0; i < rec->nparams && !bad && np < 256; i++) {
        const qn_param *p = &rec->params[i];
        pnames[np++] = p->name;
        what = p->name;
        hid_t ds = qn_col_open(r, pg, p->name, p->value.kind == QN_VAL_STR ? QN_COL_STR : QN_COL_F64, rows_now);
        if (ds < 0) { bad = 1; break; }
        if (qn_col_type_of(ds) == QN_COL_STR) {
            char buf[64];
            bad |= qn_col_put_str(r, ds, row, p->value.kind == QN_VAL_STR ? p->value.str : qn_value_format(&p->value, buf, sizeof buf));
        } else if (p->value.kind == QN_VAL_STR) {
            snprintf(err, errlen, "%s: parameter %s holds numbers, cannot record '%s'", r->path, p->name, p->value.str);
            H5Dclose(ds);
            H5Gclose(pg), H5Gclose(mg), H5Gclose(t);
            return -1;
        } else {
            bad |= qn_col_put_f64(ds, row, p->value.num);
        }
        H5Dclose(ds);
    }
    if (!bad) what = "params (missing values)";
    bad |= !bad && fill_missing(r, pg, row, pnames, np) != 0;
    for (int i = 0; i < rec->nmetrics && !bad; i++) {
        what = rec->metric_names[i];
        hid_t ds = qn_col_open(r, mg, rec->metric_names[i], QN_COL_F64, rows_now);
        bad |= ds < 0 || qn_col_put_f64(ds, row, rec->metric_values[i]) != 0;
        if (ds >= 0) H5Dclose(ds);
    }
    if (!bad) what = "metrics (missing values)";
    bad |= !bad && fill_missing(r, mg, row, (const char *const *)rec->metric_names, rec->nmetrics) != 0;
    if (!bad) what = "/trial/<id>";
    bad |= !bad && qn_results_write_trial_group(r, rec) != 0;
    if (!bad) what = "the rows attribute";
    if (!bad && row >= r->rows) bad |= qn_attr_put_i64(t, "rows", row + 1) != 0;
    if (!bad) what = "the stage record";
    /* The stage's summary and best_so_far go into the same commit as the row. */
    bad |= !bad && qn_results_stage_refresh(r, rec->stage, row >= r->rows ? row + 1 : r->rows) != 0;
    if (t >= 0) H5Gclose(t);
    if (pg >= 0) H5Gclose(pg);
    if (mg >= 0) H5Gclose(mg);
    if (!bad) what = "the commit";
    if (bad || make_durable(r) != 0) {
        snprintf(err, errlen, "%s: cannot write trial %lld to the results file (%s)", r->path, (long long)rec->id, what);
        return -1;
    }
    if (row >= r->rows) r->rows = row + 1;
    return 0;
}

int qn_results_append_trial(qn_results *r, const qn_trial_record *rec, char *err, size_t errlen) {
    /* durable in the journal now, in the image later (results_journal.c) */
    if (qn_journal_wanted(r, rec)) return qn_journal_append(r, rec, err, errlen);
    settle(r);
    return write_row(r, r->rows, rec, err, errlen);
}

int qn_results_replace_trial(qn_results *r, int64_t row, const qn_trial_record *rec, char *err, size_t errlen) {
    settle(r);
    if (row < 0 || row >= r->rows) {
        snprintf(err, errlen, "%s: no row %lld to replace", r->path, (long long)row);
        return -1;
    }
    return write_row(r, row, rec, err, errlen);
}

int qn_results_add_device(qn_results *r, const qn_device_record *d, char *err, size_t errlen) {
    hid_t g = H5Gopen2(r->file, "devices", H5P_DEFAULT);
    int64_t rows = 0;
    int bad = g < 0 || qn_attr_get_i64(g, "rows", &rows) != 0;
    struct {
        const char *name;
        qn_col_type type;
        double num;
        const char *str;
    } cols[] = {{"rank", QN_COL_I32, d->rank, NULL},         {"session", QN_COL_I32, d->session, NULL},
                {"hostname", QN_COL_STR, 0, d->hostname},    {"kind", QN_COL_STR, 0, d->kind},
                {"name", QN_COL_STR, 0, d->name},            {"cc_major", QN_COL_I32, d->cc_major, NULL},
                {"cc_minor", QN_COL_I32, d->cc_minor, NULL}, {"cores", QN_COL_I32, d->cores, NULL},
                {"memory_bytes", QN_COL_F64, d->memory_bytes, NULL}, {"gemm_gflops", QN_COL_F64, d->gemm_gflops, NULL}};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0] && !bad; i++) {
        hid_t ds = qn_col_open(r, g, cols[i].name, cols[i].type, rows);
        if (ds < 0) { bad = 1; break; }
        if (cols[i].type == QN_COL_STR) bad |= qn_col_put_str(r, ds, rows, cols[i].str ? cols[i].str : "");
        else if (cols[i].type == QN_COL_I32) bad |= qn_col_put_i32(ds, rows, (int32_t)cols[i].num);
        else bad |= qn_col_put_f64(ds, rows, cols[i].num);
        H5Dclose(ds);
    }
    if (!bad) bad |= qn_attr_put_i64(g, "rows", rows + 1);
    if (g >= 0) H5Gclose(g);
    if (bad || make_durable(r) != 0) {
        snprintf(err, errlen, "%s: cannot record a device", r->path);
        return -1;
    }
    return 0;
}

int qn_results_set_stage(qn_results *r, const qn_stage_record *s, char *err, size_t errlen) {
    /* called after every trial: nothing to do unless ntrials or the rows changed */
    struct qn_stage_seen *seen = qn_stage_seen(r, s->name);
    if (seen && seen->ntrials == s->ntrials && (r->npending > 0 || seen->refreshed_rows == r->rows)) return 0;
    hid_t stages = H5Gopen2(r->file, "stages", H5P_DEFAULT);
    hid_t g = stages < 0 ? -1 : group_open_or_create(stages, s->name);
    int bad = g < 0;
    /* The text attributes never change: written once, so no variable-length string is ever
     * rewritten (see results_columns.c); the counters are rewritten in place. */
    if (!bad && H5Aexists(g, "kind") <= 0) {
        bad |= qn_attr_put_str(r, g, "kind", s->kind);
        bad |= qn_attr_put_str(r, g, "from", s->from ? s->from : "");
        bad |= qn_attr_put_str(r, g, "metric", s->metric);
        bad |= qn_attr_put_str(r, g, "goal", s->maximize ? "maximize" : "minimize");
    }
    if (!bad && H5Aexists(g, "method") <= 0) /* files written before it had no method */
        bad |= qn_attr_put_str(r, g, "method", s->method && s->method[0] ? s->method : "grid");
    if (!bad) bad |= qn_attr_put_i64(g, "ntrials", s->ntrials);
    if (!bad && seen) seen->ntrials = s->ntrials;
    if (g >= 0) H5Gclose(g);
    if (stages >= 0) H5Gclose(stages);
    /* done, failed, the best trial and best_so_far: from the table, never from the record; with
     * journaled rows pending, when they are written into the image (qn_journal_apply) */
    bad |= !bad && r->npending == 0 && qn_results_stage_refresh(r, s->name, r->rows) != 0;
    /* Stage summaries are derived from the rows (results_stage.c) and committed with each row. */
    if (bad) {
        snprintf(err, errlen, "%s: cannot record stage %s", r->path, s->name);
        return -1;
    }
    return 0;
}

int qn_results_drop_checkpoint(qn_results *r, int64_t id) {
    char name[64];
    snprintf(name, sizeof name, "/trial/%lld/checkpoint", (long long)id);
    if (H5Lexists(r->file, "/trial", H5P_DEFAULT) <= 0) return 0;
    char parent[64];
    snprintf(parent, sizeof parent, "/trial/%lld", (long long)id);
    if (H5Lexists(r->file, parent, H5P_DEFAULT) <= 0 || H5Lexists(r->file, name, H5P_DEFAULT) <= 0) return 0;
    return H5Ldelete(r->file, name, H5P_DEFAULT) < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- reading */

int qn_results_row(const qn_results *rc, int64_t row, int64_t *id, char *status, size_t len) {
    qn_results *r = (qn_results *)rc;
    settle(r);
    if (row < 0 || row >= r->rows) return -1;
    hid_t t = H5Gopen2(r->file, "trials", H5P_DEFAULT);
    hid_t di = H5Dopen2(t, "id", H5P_DEFAULT), ds = H5Dopen2(t, "status", H5P_DEFAULT);
    int bad = di < 0 || ds < 0 || qn_col_get_i64(di, row, id) != 0 || qn_col_get_str(r, ds, row, status, len) != 0;
    if (di >= 0) H5Dclose(di);
    if (ds >= 0) H5Dclose(ds);
    H5Gclose(t);
    return bad ? -1 : 0;
}

double qn_results_metric(const qn_results *rc, int64_t row, const char *name) {
    qn_results *r = (qn_results *)rc;
    settle(r);
    if (row < 0 || row >= r->rows) return NAN;
    hid_t m = H5Gopen2(r->file, "trials/metrics", H5P_DEFAULT);
    double v = NAN;
    if (m >= 0 && H5Lexists(m, name, H5P_DEFAULT) > 0) {
        hid_t ds = H5Dopen2(m, name, H5P_DEFAULT);
        if (ds < 0 || qn_col_get_f64(ds, row, &v) != 0) v = NAN;
        if (ds >= 0) H5Dclose(ds);
    }
    if (m >= 0) H5Gclose(m);
    return v;
}

int qn_results_param(const qn_results *rc, int64_t row, const char *name, qn_value *out) {
    qn_results *r = (qn_results *)rc;
    settle(r);
    memset(out, 0, sizeof *out);
    if (row < 0 || row >= r->rows) return -1;
    hid_t g = H5Gopen2(r->file, "trials/params", H5P_DEFAULT);
    int rc2 = -1;
    if (g >= 0 && H5Lexists(g, name, H5P_DEFAULT) > 0) {
        hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
        if (ds >= 0 && qn_col_type_of(ds) == QN_COL_STR) {
            char buf[256];
            if (qn_col_get_str(r, ds, row, buf, sizeof buf) == 0 && buf[0] && (out->str = strdup(buf))) {
                out->kind = QN_VAL_STR;
                rc2 = 0;
            }
        } else if (ds >= 0 && qn_col_get_f64(ds, row, &out->num) == 0 && !isnan(out->num)) {
            out->kind = QN_VAL_NUM;
            rc2 = 0;
        }
        if (ds >= 0) H5Dclose(ds);
    }
    if (g >= 0) H5Gclose(g);
    return rc2;
}
