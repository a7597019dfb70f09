/* qn_results.h: the study's HDF5 results file (layout in docs/results-format.md).
 *
 * Contract:
 *  - One writer (the coordinator). Every qn_results_append_trial() is durable when it returns:
 *    the file on disk is atomically replaced by the complete new image (io/results_commit.c), so
 *    a writer killed at any instant leaves the file of its last commit, with the trial's stage
 *    summary (/stages/<name>) in the same commit; or, while trials come faster than the image can
 *    be rewritten, the trial is appended to FILE.quench-journal and fdatasync'ed, and goes into the
 *    image later (io/results_journal.c): qn_results_open_resume() takes the journal's trials first.
 *    Dropped checkpoints become durable with the next image commit (or at close).
 *  - Columns are created on first use; rows written before a column existed read NaN (numbers)
 *    or "" (strings) there. All columns of /trials always have the same length after a call.
 *  - Readers (ls, export, h5py) may open the file while a run writes it: the writer does not take
 *    HDF5's flock; an OFD lock on the file refuses a second writer. They see the last image commit
 *    (the journal's trials once the run closes the file, or a --resume after a kill).
 */
#ifndef QN_RESULTS_H
#define QN_RESULTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "qn_checkpoint.h"
#include "qn_job.h"

#define QN_RESULTS_FORMAT "quench-results"
#define QN_RESULTS_FORMAT_VERSION 1

typedef struct qn_results qn_results;

typedef struct {
    int64_t id;
    const char *stage;
    const char *status;      /* "done", "failed" */
    const char *device;      /* device name */
    int worker;              /* rank */
    int64_t parent;          /* parent trial id, -1 for none */
    double start_time;       /* unix seconds */
    double wall_s;
    const char *error;       /* "" when none */
    int nparams;
    const qn_param *params;  /* columns params/<name>: numbers as float64, strings as UTF-8 strings */
    int nmetrics;
    const char *const *metric_names;  /* columns metrics/<name>, float64 */
    const double *metric_values;
    int ncurves;             /* datasets /trial/<id>/<name>, float32 */
    const char *const *curve_names;
    const float *const *curves;
    const int *curve_lens;
    const qn_ckpt *ckpt;     /* /trial/<id>/checkpoint: packed tensors (and master), or NULL */
    const float *checkpoint; /* without ckpt: the float buffer alone, as checkpoint/master, or NULL */
    size_t checkpoint_len;
} qn_trial_record;

typedef struct {
    int rank;
    int session;             /* 0 for the first run, +1 per --resume */
    const char *hostname, *kind, *name;
    int cc_major, cc_minor, cores;
    double memory_bytes, gemm_gflops;
} qn_device_record;

typedef struct {
    const char *name, *kind, *from, *metric;
    int maximize;
    int64_t ntrials;
    /* done, failed, best_trial, best_value: what the caller believes; the file's attributes (and
     * best_params, best_so_far) are recomputed from /trials by every set_stage and trial write. */
    int64_t done, failed;
    int64_t best_trial;      /* -1 when none yet */
    double best_value;
    const char *method;      /* "grid", "random", "tpe"; NULL: "grid" */
} qn_stage_record;

/* Create a new file. Refuses (returns 2, nothing touched) if path exists. Returns 0, 1 on I/O error. */
int qn_results_create(const char *path, const qn_job *job, const char *plan_text, qn_results **out,
                      char *err, size_t errlen);
/* Open an existing file to finish it. Returns 2 (user error: not a results file, another run is
 * writing it, or its plan differs from plan_text, with the first difference in err), 1 on I/O error, 0. */
int qn_results_open_resume(const char *path, const char *plan_text, qn_results **out, char *err, size_t errlen);
int qn_results_close(qn_results *r);

/* Sessions: the number of runs that wrote the file before this one (0 for a new file). */
int qn_results_session(const qn_results *r);

int qn_results_append_trial(qn_results *r, const qn_trial_record *rec, char *err, size_t errlen);
/* Replace the row of a trial that is already recorded (a failed trial retried on resume). */
int qn_results_replace_trial(qn_results *r, int64_t row, const qn_trial_record *rec, char *err, size_t errlen);
int qn_results_add_device(qn_results *r, const qn_device_record *d, char *err, size_t errlen);
/* Create or update /stages/<name>: kind, from, metric, goal and method are written once, ntrials
 * each call; done, failed, best_trial, best_value, best_params (JSON) and the best_so_far dataset
 * are derived from the stage's /trials rows (in trial-id order) here and before every trial commit,
 * so they are durable with the trial that changed them and right after --resume. */
int qn_results_set_stage(qn_results *r, const qn_stage_record *s, char *err, size_t errlen);
/* Remove /trial/<id>/checkpoint (a superseded best). Missing is not an error. */
int qn_results_drop_checkpoint(qn_results *r, int64_t id);
/* Remove /trial/<id>/checkpoint/master only (no later stage starts from the trial any more). */
int qn_results_drop_master(qn_results *r, int64_t id);
/* 1 if trial id has a checkpoint (*has_master: with the float buffer), else 0. */
int qn_results_has_checkpoint(const qn_results *r, int64_t id, int *has_master);

/* Reading back (the writer on resume, and readers). */
int64_t qn_results_nrows(const qn_results *r);
/* Row `row`: trial id and status (copied into status, e.g. "done"). */
int qn_results_row(const qn_results *r, int64_t row, int64_t *id, char *status, size_t len);
/* Metric of a row, NaN if the column or value is missing. */
double qn_results_metric(const qn_results *r, int64_t row, const char *name);
/* Parameter `name` of a row (params/<name>) into out (a string is malloc'd). Returns 0, or -1 when
 * the column or the row's value is missing. */
int qn_results_param(const qn_results *r, int64_t row, const char *name, qn_value *out);
/* The float parameter buffer a child stage starts from: checkpoint/master, or the tensors when they
 * are all unquantized float32. malloc'd. Returns 0, or -1 if the trial has none. */
int qn_results_read_checkpoint(const qn_results *r, int64_t id, float **buf, size_t *len);
/* The whole checkpoint: tensors as stored (packed codes, scales) and master when present. Returns 0,
 * or -1 with err (no checkpoint, malformed). Free with qn_ckpt_free. */
int qn_results_read_ckpt(const qn_results *r, int64_t id, qn_ckpt *out, char *err, size_t errlen);
/* The parent trial (from:) of a row, -1 for none. */
int64_t qn_results_parent(const qn_results *r, int64_t row);
/* The job text (root attribute `job`), malloc'd; NULL when missing. */
char *qn_results_job_text(const qn_results *r);
/* The plan text (root attribute `plan`, qn_job_plan_text), malloc'd; NULL when missing. */
char *qn_results_plan_text(const qn_results *r);

/* Open read-only for ls/export/eval (works while a run writes the file). Returns 0, 2 if not a
 * results file or missing, 1 on I/O error. */
int qn_results_open_read(const char *path, qn_results **out, char *err, size_t errlen);

/* quench ls: status counts, best trial per stage, a table of trials. Returns 0, or 2/1 with err. */
int qn_results_ls(const char *path, FILE *out, char *err, size_t errlen);
/* quench export --csv: the /trials table as CSV (header row; NaN written empty). */
int qn_results_export_csv(const char *path, FILE *out, char *err, size_t errlen);

#endif
