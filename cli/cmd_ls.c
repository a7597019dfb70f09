/* cmd_ls.c: quench ls FILE and quench export FILE --csv [-o OUT] */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "qn_results.h"

static const char *ls_help =
    "usage: quench ls FILE\n"
    "\n"
    "Summarise a results file: trials by status, the best trial of each stage, and a table of\n"
    "every trial with its parameters and metrics. Works while a run is still writing the file.\n";

static const char *export_help =
    "usage: quench export FILE --csv [-o OUT]\n"
    "\n"
    "Write the trial table of a results file as CSV (one row per trial, columns as in /trials:\n"
    "id, stage, status, device, worker, parent, start_time, wall_s, error, params/..., metrics/...;\n"
    "missing values are empty) to standard output, or to OUT.\n";

int qn_cmd_ls(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (qn_is_help(argv[i])) {
            fputs(ls_help, stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1] != 0) return qn_usage_error("ls", "unknown option '%s'", argv[i]);
        if (path) return qn_usage_error("ls", "unexpected argument '%s'", argv[i]);
        path = argv[i];
    }
    if (!path) return qn_usage_error("ls", "missing the results file");
    char err[QN_ERR_LEN];
    int rc = qn_results_ls(path, stdout, err, sizeof err);
    if (rc != 0) fprintf(stderr, "quench: %s\n", err);
    return rc;
}

int qn_cmd_export(int argc, char **argv) {
    const char *path = NULL, *out_path = NULL;
    int csv = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (qn_is_help(a)) {
            fputs(export_help, stdout);
            return 0;
        } else if (strcmp(a, "--csv") == 0) {
            csv = 1;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc) return qn_usage_error("export", "%s needs a file name", a);
            out_path = argv[++i];
        } else if (a[0] == '-' && a[1] != 0) {
            return qn_usage_error("export", "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return qn_usage_error("export", "unexpected argument '%s'", a);
        }
    }
    if (!path) return qn_usage_error("export", "missing the results file");
    if (!csv) return qn_usage_error("export", "say which format: --csv");
    FILE *out = stdout;
    if (out_path && !(out = fopen(out_path, "w"))) {
        fprintf(stderr, "quench: export: cannot write %s\n", out_path);
        return 2;
    }
    char err[QN_ERR_LEN];
    int rc = qn_results_export_csv(path, out, err, sizeof err);
    if (rc != 0) fprintf(stderr, "quench: %s\n", err);
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "quench: export: cannot write %s\n", out_path);
        rc = 1;
    }
    return rc;
}
