/* results_stage.c: the derived part of /stages/<name>, recomputed from /trials.
 *
 * Contract: qn_results_stage_refresh() reads the stage's rows of /trials (id, status and the
 * stage's metric) and rewrites done, failed, best_trial, best_value, best_params and the
 * best_so_far dataset. It is called by every trial write before the commit, so a stage's summary
 * is durable with the trial that changed it, and by qn_results_set_stage (so a --resume starts from
 * what the table holds, not from state kept anywhere else). docs/results-format.md has the layout.
 *
 * best_so_far[k]: the best value of the metric (by the stage's goal) over the stage's first k+1
 * recorded trials in trial-id order; a failed trial, or one without a value of the metric, repeats
 * the value before it (NaN until the first trial with a value). Ties keep the lower trial id, as
 * `from: best(...)` and the resume rebuild in coordinator/study.c do.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results_internal.h"

typedef struct {
    int64_t id, row;
} stage_row;

static int by_id(const void *a, const void *b) {
    const stage_row *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The first n values of a string column, each into out[i*width] (NUL-terminated, cut at width-1). */
static int read_strs(qn_results *r, hid_t ds, int64_t n, char *out, size_t width) {
    hid_t t = H5Dget_type(ds);
    int rc = 0;
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0 && n > 0 && qn_col_length(ds) >= n) {
        size_t w = H5Tget_size(t);
        char *buf = malloc((size_t)n * w);
        rc = !buf || qn_col_read_rows(ds, 0, n, t, buf) != 0 ? -1 : 0;
        for (int64_t i = 0; rc == 0 && i < n; i++) {
            size_t k = w < width - 1 ? w : width - 1;
            memcpy(out + (size_t)i * width, buf + (size_t)i * w, k);
            out[(size_t)i * width + k] = 0;
        }
        free(buf);
    } else {
        for (int64_t i = 0; i < n && rc == 0; i++) rc = qn_col_get_str(r, ds, i, out + (size_t)i * width, width);
    }
    H5Tclose(t);
    return rc;
}

static int better(double v, double best, int maximize) {
    if (isnan(v)) return 0;
    if (isnan(best)) return 1;
    return maximize ? v > best : v < best;
}

/* A growing string buffer for the best_params JSON object. */
typedef struct {
    char *s;
    size_t len, cap;
    int bad;
} sbuf;

static void sb_put(sbuf *b, const char *p, size_t n) {
    if (b->bad) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->bad = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(sbuf *b, const char *s) {
    sb_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p, esc[2] = 0;
            sb_str(b, esc);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_str(b, esc);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_str(b, "\"");
}

/* {"quant.width": 8, "quant.name": "integer", ...}: the params/<name> columns with a value in row. */
static char *params_json(qn_results *r, hid_t trials, int64_t row) {
    sbuf b = {0};
    sb_str(&b, "{");
    hid_t pg = row >= 0 && H5Lexists(trials, "params", H5P_DEFAULT) > 0 ? H5Gopen2(trials, "params", H5P_DEFAULT) : -1;
    if (pg >= 0) {
        char **names;
        int n = qn_group_datasets(pg, &names), first = 1;
        for (int i = 0; i < n; i++) {
            hid_t ds = H5Dopen2(pg, names[i], H5P_DEFAULT);
            if (ds < 0) continue;
            char val[256];
            double x = NAN;
            int str = qn_col_type_of(ds) == QN_COL_STR;
            int have = str ? qn_col_get_str(r, ds, row, val, sizeof val) == 0 && val[0]
                           : qn_col_get_f64(ds, row, &x) == 0 && isfinite(x);
            H5Dclose(ds);
            if (!have) continue;
            sb_str(&b, first ? "" : ", ");
            first = 0;
            sb_json_string(&b, names[i]);
            sb_str(&b, ": ");
            if (str) {
                sb_json_string(&b, val);
            } else {
                char num[40];
                snprintf(num, sizeof num, "%.17g", x);
                sb_str(&b, num);
            }
        }
        qn_names_free(names, n);
        H5Gclose(pg);
    }
    sb_str(&b, "}");
    if (b.bad) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* A fixed-length UTF-8 string attribute (created or replaced): its bytes live in the object
 * header, so rewriting it leaves nothing behind in the global heap (see results_columns.c). */
static int attr_put_fixed_str(hid_t obj, const char *name, const char *value) {
    size_t n = strlen(value);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, n ? n : 1);
    H5Tset_cset(t, H5T_CSET_UTF8);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hid_t sp = H5Screate(H5S_SCALAR);
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, t, n ? value : "");
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc < 0 ? -1 : 0;
}

struct qn_stage_seen *qn_stage_seen(qn_results *r, const char *stage) {
    for (int i = 0; i < r->nstages_seen; i++)
        if (!strcmp(r->stages_seen[i].name, stage)) return &r->stages_seen[i];
    struct qn_stage_seen *more = realloc(r->stages_seen, (size_t)(r->nstages_seen + 1) * sizeof *more);
    if (!more) return NULL;
    r->stages_seen = more;
    struct qn_stage_seen *e = &more[r->nstages_seen];
    e->name = strdup(stage);
    if (!e->name) return NULL;
    e->ntrials = e->refreshed_rows = -1;
    r->nstages_seen++;
    return e;
}

int qn_results_stage_refresh(qn_results *r, const char *stage, int64_t nrows) {
    char path[512];
    snprintf(path, sizeof path, "stages/%s", stage);
    if (H5Lexists(r->file, "stages", H5P_DEFAULT) <= 0 || H5Lexists(r->file, path, H5P_DEFAULT) <= 0) return 0;
    hid_t g = H5Gopen2(r->file, path, H5P_DEFAULT);
    if (g < 0) return -1;
    char *metric = qn_attr_get_str(g, "metric"), *goal = qn_attr_get_str(g, "goal");
    int maximize = !goal || strcmp(goal, "minimize") != 0;
    free(goal);
    if (!metric) {
        H5Gclose(g);
        return 0; /* not a stage record (yet) */
    }
    int bad = 0;
    size_t n = (size_t)(nrows > 0 ? nrows : 0);
    enum { W = 130 };
    double *idf = calloc(n + 1, sizeof *idf), *val = calloc(n + 1, sizeof *val), *bsf = calloc(n + 1, sizeof *bsf);
    char *stg = calloc(n + 1, W), *sts = calloc(n + 1, W);
    stage_row *mine = calloc(n + 1, sizeof *mine);
    hid_t t = H5Gopen2(r->file, "trials", H5P_DEFAULT);
    bad |= !idf || !val || !bsf || !stg || !sts || !mine || t < 0;
    if (!bad) {
        hid_t di = H5Dopen2(t, "id", H5P_DEFAULT), dg = H5Dopen2(t, "stage", H5P_DEFAULT),
              dst = H5Dopen2(t, "status", H5P_DEFAULT);
        bad |= di < 0 || dg < 0 || dst < 0;
        bad |= !bad && (qn_col_read_rows(di, 0, (int64_t)n, H5T_NATIVE_DOUBLE, idf) != 0 ||
                        read_strs(r, dg, (int64_t)n, stg, W) != 0 || read_strs(r, dst, (int64_t)n, sts, W) != 0);
        if (di >= 0) H5Dclose(di);
        if (dg >= 0) H5Dclose(dg);
        if (dst >= 0) H5Dclose(dst);
        char mpath[300];
        snprintf(mpath, sizeof mpath, "metrics/%s", metric);
        for (size_t i = 0; i < n; i++) val[i] = NAN;
        if (!bad && H5Lexists(t, "metrics", H5P_DEFAULT) > 0 && H5Lexists(t, mpath, H5P_DEFAULT) > 0) {
            hid_t dm = H5Dopen2(t, mpath, H5P_DEFAULT);
            bad |= dm < 0 || qn_col_read_rows(dm, 0, (int64_t)n, H5T_NATIVE_DOUBLE, val) != 0;
            if (dm >= 0) H5Dclose(dm);
        }
    }
    /* The stage's rows in trial-id order, then the running best. */
    size_t m = 0;
    int64_t done = 0, failed = 0, best_trial = -1, best_row = -1;
    double best = NAN;
    for (size_t i = 0; !bad && i < n; i++) {
        if (strcmp(stg + i * W, stage) != 0) continue;
        mine[m].id = (int64_t)idf[i];
        mine[m].row = (int64_t)i;
        m++;
    }
    if (!bad) qsort(mine, m, sizeof *mine, by_id);
    for (size_t k = 0; !bad && k < m; k++) {
        size_t i = (size_t)mine[k].row;
        int ok = strcmp(sts + i * W, "done") == 0;
        done += ok;
        failed += !ok;
        if (ok && better(val[i], best, maximize)) {
            best = val[i];
            best_trial = mine[k].id;
            best_row = mine[k].row;
        }
        bsf[k] = best;
    }
    if (!bad) {
        bad |= qn_attr_put_i64(g, "done", done) != 0;
        bad |= qn_attr_put_i64(g, "failed", failed) != 0;
        bad |= qn_attr_put_i64(g, "best_trial", best_trial) != 0;
        bad |= qn_attr_put_f64(g, "best_value", best) != 0;
        char *json = params_json(r, t, best_row);
        bad |= !json || attr_put_fixed_str(g, "best_params", json) != 0;
        free(json);
        hid_t ds = qn_col_open(r, g, "best_so_far", QN_COL_F64, 0);
        bad |= ds < 0 || qn_col_set_length(ds, (int64_t)m) != 0;
        bad |= !bad && qn_col_put_rows(r, ds, 0, (int64_t)m, QN_COL_F64, bsf) != 0;
        if (ds >= 0) H5Dclose(ds);
    }
    if (t >= 0) H5Gclose(t);
    H5Gclose(g);
    free(metric);
    free(idf), free(val), free(bsf), free(stg), free(sts), free(mine);
    struct qn_stage_seen *e = bad ? NULL : qn_stage_seen(r, stage);
    if (e) e->refreshed_rows = nrows;
    return bad ? -1 : 0;
}
