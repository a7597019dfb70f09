/* results_table.c: the /trials table read back whole: `quench ls` and `quench export --csv`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results_internal.h"

typedef struct {
    char *name;          /* "id", "params/quant.width", ... */
    qn_col_type type;
    double *num;         /* (rows) numbers */
    char **str;          /* (rows) strings */
} column;

typedef struct {
    int64_t rows;
    int n;
    column *cols;
} table;

static int load_group(qn_results *r, hid_t g, const char *prefix, table *t) {
    char **names;
    int n = qn_group_datasets(g, &names);
    column *cols = realloc(t->cols, (size_t)(t->n + n + 1) * sizeof *cols);
    if (!cols) {
        qn_names_free(names, n);
        return -1;
    }
    t->cols = cols;
    for (int i = 0; i < n; i++) {
        hid_t ds = H5Dopen2(g, names[i], H5P_DEFAULT);
        if (ds < 0) continue;
        column *c = &t->cols[t->n++];
        memset(c, 0, sizeof *c);
        size_t len = strlen(prefix) + strlen(names[i]) + 2;
        c->name = malloc(len);
        snprintf(c->name, len, "%s%s%s", prefix, prefix[0] ? "/" : "", names[i]);
        c->type = qn_col_type_of(ds);
        if (c->type == QN_COL_STR) c->str = calloc((size_t)t->rows + 1, sizeof *c->str);
        else c->num = calloc((size_t)t->rows + 1, sizeof *c->num);
        for (int64_t row = 0; row < t->rows; row++) {
            if (c->type == QN_COL_STR) {
                char buf[1024];
                if (qn_col_get_str(r, ds, row, buf, sizeof buf) != 0) buf[0] = 0;
                c->str[row] = strdup(buf);
            } else if (qn_col_get_f64(ds, row, &c->num[row]) != 0) {
                c->num[row] = NAN;
            }
        }
        H5Dclose(ds);
    }
    qn_names_free(names, n);
    return 0;
}

static void table_free(table *t) {
    for (int i = 0; i < t->n; i++) {
        for (int64_t row = 0; t->cols[i].str && row < t->rows; row++) free(t->cols[i].str[row]);
        free(t->cols[i].str);
        free(t->cols[i].num);
        free(t->cols[i].name);
    }
    free(t->cols);
}

static int load_table(qn_results *r, table *t) {
    memset(t, 0, sizeof *t);
    t->rows = r->rows;
    hid_t g = H5Gopen2(r->file, "trials", H5P_DEFAULT);
    if (g < 0) return -1;
    int bad = load_group(r, g, "", t);
    hid_t p = H5Gopen2(g, "params", H5P_DEFAULT), m = H5Gopen2(g, "metrics", H5P_DEFAULT);
    if (p >= 0) bad |= load_group(r, p, "params", t), H5Gclose(p);
    if (m >= 0) bad |= load_group(r, m, "metrics", t), H5Gclose(m);
    H5Gclose(g);
    return bad;
}

static const column *find(const table *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->cols[i].name, name) == 0) return &t->cols[i];
    return NULL;
}

static void cell(const column *c, int64_t row, char *buf, size_t len, int csv) {
    if (c->type == QN_COL_STR) {
        snprintf(buf, len, "%s", c->str[row]);
    } else if (isnan(c->num[row])) {
        snprintf(buf, len, "%s", csv ? "" : "-");
    } else if (c->type != QN_COL_F64) {
        snprintf(buf, len, "%lld", (long long)c->num[row]);
    } else {
        snprintf(buf, len, csv ? "%.17g" : "%.4g", c->num[row]);
    }
}

static void csv_field(FILE *out, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

int qn_results_export_csv(const char *path, FILE *out, char *err, size_t errlen) {
    qn_results *r;
    int rc = qn_results_open_read(path, &r, err, errlen);
    if (rc) return rc;
    table t;
    if (load_table(r, &t) != 0) {
        snprintf(err, errlen, "%s: cannot read the trial table", path);
        table_free(&t);
        qn_results_close(r);
        return 1;
    }
    for (int i = 0; i < t.n; i++) {
        if (i) fputc(',', out);
        csv_field(out, t.cols[i].name);
    }
    fputc('\n', out);
    for (int64_t row = 0; row < t.rows; row++) {
        for (int i = 0; i < t.n; i++) {
            char buf[1100];
            cell(&t.cols[i], row, buf, sizeof buf, 1);
            if (i) fputc(',', out);
            csv_field(out, buf);
        }
        fputc('\n', out);
    }
    table_free(&t);
    qn_results_close(r);
    return 0;
}

int qn_results_ls(const char *path, FILE *out, char *err, size_t errlen) {
    qn_results *r;
    int rc = qn_results_open_read(path, &r, err, errlen);
    if (rc) return rc;
    table t;
    if (load_table(r, &t) != 0) {
        snprintf(err, errlen, "%s: cannot read the trial table", path);
        table_free(&t);
        qn_results_close(r);
        return 1;
    }
    char *name = qn_attr_get_str(r->file, "job_name"), *job_path = qn_attr_get_str(r->file, "job_path");
    int64_t total = -1;
    qn_attr_get_i64(r->file, "ntrials", &total);
    fprintf(out, "%s: study %s (job %s)\n", path, name ? name : "?", job_path ? job_path : "?");
    free(name);
    free(job_path);

    const column *status = find(&t, "status"), *stage = find(&t, "stage"), *id = find(&t, "id");
    int64_t done = 0, failed = 0;
    for (int64_t row = 0; status && row < t.rows; row++) {
        done += strcmp(status->str[row], "done") == 0;
        failed += strcmp(status->str[row], "failed") == 0;
    }
    fprintf(out, "%lld done, %lld failed, %lld of %lld trials recorded\n\n", (long long)done, (long long)failed,
            (long long)t.rows, (long long)total);

    /* Stages: progress and best trial, from /stages (kept by the coordinator). */
    hid_t sg = H5Gopen2(r->file, "stages", H5P_DEFAULT);
    if (sg >= 0) {
        hsize_t n = 0;
        H5G_info_t info;
        if (H5Gget_info(sg, &info) >= 0) n = info.nlinks;
        fprintf(out, "%-16s %6s %6s %6s  %s\n", "stage", "done", "failed", "trials", "best");
        for (hsize_t i = 0; i < n; i++) {
            char sname[256];
            if (H5Lget_name_by_idx(sg, ".", H5_INDEX_NAME, H5_ITER_INC, i, sname, sizeof sname, H5P_DEFAULT) < 0) continue;
            hid_t g = H5Gopen2(sg, sname, H5P_DEFAULT);
            if (g < 0) continue;
            int64_t nt = 0, nd = 0, nf = 0, best = -1;
            double bv = NAN;
            qn_attr_get_i64(g, "ntrials", &nt);
            qn_attr_get_i64(g, "done", &nd);
            qn_attr_get_i64(g, "failed", &nf);
            qn_attr_get_i64(g, "best_trial", &best);
            qn_attr_get_f64(g, "best_value", &bv);
            char *metric = qn_attr_get_str(g, "metric");
            char params[512] = "";
            size_t used = 0;
            for (int64_t row = 0; id && best >= 0 && row < t.rows; row++) {
                if ((int64_t)id->num[row] != best) continue;
                for (int c = 0; c < t.n && used < sizeof params - 1; c++) {
                    if (strncmp(t.cols[c].name, "params/", 7) != 0) continue;
                    char buf[128];
                    cell(&t.cols[c], row, buf, sizeof buf, 0);
                    if (!strcmp(buf, "-") || !buf[0]) continue;
                    used += (size_t)snprintf(params + used, sizeof params - used, " %s=%s", t.cols[c].name + 7, buf);
                }
            }
            if (best >= 0)
                fprintf(out, "%-16s %6lld %6lld %6lld  trial %lld: %s=%.4f%s\n", sname, (long long)nd, (long long)nf,
                        (long long)nt, (long long)best, metric ? metric : "?", bv, params);
            else
                fprintf(out, "%-16s %6lld %6lld %6lld  -\n", sname, (long long)nd, (long long)nf, (long long)nt);
            free(metric);
            H5Gclose(g);
        }
        H5Gclose(sg);
    }

    /* The table: fixed columns, then params and metrics, widths fitted to the values. */
    const char *fixed[] = {"id", "stage", "status", "worker", "wall_s"};
    int order[512], nshow = 0;
    for (int f = 0; f < 5; f++)
        for (int c = 0; c < t.n && nshow < 512; c++)
            if (!strcmp(t.cols[c].name, fixed[f])) order[nshow++] = c;
    for (int c = 0; c < t.n && nshow < 512; c++)
        if (!strncmp(t.cols[c].name, "params/", 7)) order[nshow++] = c;
    for (int c = 0; c < t.n && nshow < 512; c++)
        if (!strncmp(t.cols[c].name, "metrics/", 8)) order[nshow++] = c;
    int width[512];
    for (int k = 0; k < nshow; k++) {
        const char *h = strchr(t.cols[order[k]].name, '/');
        h = h ? h + 1 : t.cols[order[k]].name;
        width[k] = (int)strlen(h);
        for (int64_t row = 0; row < t.rows; row++) {
            char buf[128];
            cell(&t.cols[order[k]], row, buf, sizeof buf, 0);
            int l = (int)strlen(buf);
            if (l > width[k]) width[k] = l > 24 ? 24 : l;
        }
    }
    fputc('\n', out);
    for (int k = 0; k < nshow; k++) {
        const char *h = strchr(t.cols[order[k]].name, '/');
        fprintf(out, "%s%-*s", k ? "  " : "", width[k], h ? h + 1 : t.cols[order[k]].name);
    }
    fputc('\n', out);
    for (int64_t row = 0; row < t.rows; row++) {
        for (int k = 0; k < nshow; k++) {
            char buf[128];
            cell(&t.cols[order[k]], row, buf, sizeof buf, 0);
            fprintf(out, "%s%-*.*s", k ? "  " : "", width[k], width[k], buf);
        }
        fputc('\n', out);
    }
    /* Failed trials: their reasons in full. */
    const column *error = find(&t, "error");
    for (int64_t row = 0; error && status && row < t.rows; row++)
        if (!strcmp(status->str[row], "failed"))
            fprintf(out, "%strial %lld (%s) failed: %s\n", row == 0 ? "\n" : "", (long long)(id ? id->num[row] : row),
                    stage ? stage->str[row] : "?", error->str[row]);
    table_free(&t);
    qn_results_close(r);
    return 0;
}
