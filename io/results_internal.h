/* results_internal.h: what the results-file sources share: the handle and column helpers. */
#ifndef QN_RESULTS_INTERNAL_H
#define QN_RESULTS_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "qn_checkpoint.h"
#include "qn_results.h"

struct qn_results {
    hid_t file;
    char *path;
    int writable;
    int lock_fd;      /* the writer's OFD lock on the current FILE (-1 for readers) */
    int64_t rows;     /* complete rows in /trials, the journal's pending rows included */
    int session;
    hid_t str_type;   /* variable-length UTF-8 string */
    /* The journal (results_journal.c): trials durable in FILE.quench-journal, not yet in the image. */
    int journal_fd;   /* -1 until the first journaled trial */
    uint64_t journal_epoch; /* the header's: records of other epochs are void */
    int64_t journal_at, journal_size; /* where the next record goes; bytes written (zeros ahead) */
    int npending, cap_pending;
    unsigned char **pending; /* serialized trial records, in row order */
    size_t *pending_len;
    double image_at, image_cost; /* when the last image commit ended, and what it took (s) */
    double last_append_at, append_gap; /* when the last trial came, and the running mean gap (s) */
    /* per stage: the ntrials last written and the rows its summary was last derived from, so that
     * qn_results_set_stage after every trial costs nothing when nothing changed */
    int nstages_seen;
    struct qn_stage_seen {
        char *name;
        int64_t ntrials, refreshed_rows;
    } *stages_seen;
};

/* The entry of `stage` in r->stages_seen (added, with -1s, when new); NULL when out of memory. */
struct qn_stage_seen *qn_stage_seen(qn_results *r, const char *stage);

typedef enum { QN_COL_I64, QN_COL_I32, QN_COL_F64, QN_COL_STR } qn_col_type;

/* Open a column of `group` (a dataset), creating it with `type` and back-filling `rows` missing
 * values when it does not exist. Returns the dataset or a negative id. */
hid_t qn_col_open(qn_results *r, hid_t group, const char *name, qn_col_type type, int64_t rows);
qn_col_type qn_col_type_of(hid_t ds);
/* Write one value at `row`, extending the column as needed. */
int qn_col_put_i64(hid_t ds, int64_t row, int64_t v);
int qn_col_put_i32(hid_t ds, int64_t row, int32_t v);
int qn_col_put_f64(hid_t ds, int64_t row, double v);
int qn_col_put_str(qn_results *r, hid_t ds, int64_t row, const char *s);
/* Write the missing value (NaN, "", -1) at `row`. */
int qn_col_put_missing(qn_results *r, hid_t ds, int64_t row);
/* Read one value; strings into buf. Return 0, or -1. */
int qn_col_get_i64(hid_t ds, int64_t row, int64_t *v);
int qn_col_get_f64(hid_t ds, int64_t row, double *v);
int qn_col_get_str(qn_results *r, hid_t ds, int64_t row, char *buf, size_t len);
/* Read rows [row, row + n) as memtype into out (n = 0 reads nothing). Returns 0, or -1 (past the end). */
int qn_col_read_rows(hid_t ds, int64_t row, int64_t n, hid_t memtype, void *out);
int64_t qn_col_length(hid_t ds);
int qn_col_set_length(hid_t ds, int64_t n);

/* Attributes on an object (created or replaced). */
int qn_attr_put_str(qn_results *r, hid_t obj, const char *name, const char *value);
int qn_attr_put_i64(hid_t obj, const char *name, int64_t value);
int qn_attr_put_f64(hid_t obj, const char *name, double value);
/* Read attributes: strings are malloc'd (NULL when missing). */
char *qn_attr_get_str(hid_t obj, const char *name);
int qn_attr_get_i64(hid_t obj, const char *name, int64_t *value);
int qn_attr_get_f64(hid_t obj, const char *name, double *value);

/* Cut every dataset of `group` to `rows` values (they may be longer after a crash); -1 if one
 * is shorter. */
int qn_group_trim(hid_t group, int64_t rows);

/* The writer's file access: the file lives in memory (core driver) between commits. */
hid_t qn_results_fapl_memory(void);
/* Take an OFD write lock on fd: 0, or -1 if another open file description holds one. */
int qn_lock_fd(int fd);
/* Make everything written so far durable by replacing FILE with the current image (results_commit.c).
 * first: FILE must not exist yet (returns -2 if it does). Returns 0, or -1 with err. */
int qn_results_commit(qn_results *r, int first, char *err, size_t errlen);

/* Write rows [row, row + n) of a column from values of `type` (QN_COL_STR: const char *[n]),
 * extending it as needed; strings into a numeric column are refused (-1). */
int qn_col_put_rows(qn_results *r, hid_t ds, int64_t row, int64_t n, qn_col_type type, const void *values);

/* The journal (results_journal.c). Whether a trial goes to the journal rather than an image commit
 * now: the image is rewritten only when that costs at most a tenth of the time. */
int qn_journal_wanted(qn_results *r, const qn_trial_record *rec);
/* Append the record to FILE.quench-journal and fdatasync: durable. Returns 0, or -1 with err. */
int qn_journal_append(qn_results *r, const qn_trial_record *rec, char *err, size_t errlen);
/* Write the pending rows into the in-memory image (no commit; they stay in the journal until one).
 * Returns 0, or -1 with err. */
int qn_journal_apply(qn_results *r, char *err, size_t errlen);
/* After an image commit that holds every pending row: empty the journal and time the next commit. */
void qn_journal_committed(qn_results *r, double started);
/* On resume: the journal's complete records whose trial the image lacks become pending rows,
 * in journal order. Returns the number of rows added, or -1 with err (out of memory). */
int qn_journal_replay(qn_results *r, char *err, size_t errlen);
/* Close the journal and remove its file (everything is in the image). */
void qn_journal_close(qn_results *r, int remove_file);

/* Recompute the derived attributes of /stages/<stage> (done, failed, best_trial, best_value,
 * best_params) and its best_so_far dataset from the first nrows rows of /trials (results_stage.c).
 * A stage without a record is left alone. Returns 0, or -1. */
int qn_results_stage_refresh(qn_results *r, const char *stage, int64_t nrows);

/* (Re)create /trial/<id> with the record's curves and checkpoint (results_file.c); the journal
 * writes its rows' groups with it too, so both paths leave the same layout. Returns 0, or -1. */
int qn_results_write_trial_group(qn_results *r, const qn_trial_record *rec);

/* Write /trial/<id>/checkpoint into the trial's group (results_checkpoint.c). */
int qn_results_write_ckpt(qn_results *r, hid_t trial_group, const qn_ckpt *c);

/* A new group that tracks its links' creation order (the order h5py and qn_group_datasets list). */
hid_t qn_group_create(hid_t parent, const char *name);

/* Names of the datasets in a group, in creation order; returns the count (names malloc'd). */
int qn_group_datasets(hid_t group, char ***names);
void qn_names_free(char **names, int n);

#endif
