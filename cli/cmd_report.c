/* cmd_report.c: quench report FILE [-o DIR]: figures and index.html, drawn by analysis/quench_report.py
 * (Python, h5py, pandas, matplotlib). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *help =
    "usage: quench report FILE [-o DIR]\n"
    "\n"
    "Write PNG figures and an index.html for a results file into DIR (default: FILE without .h5,\n"
    "plus -report): accuracy against bit width (PTQ and QAT, one curve per fractional width),\n"
    "accuracy against sparsity (one curve per weight/activation method pair), training-loss curves,\n"
    "best-so-far against trials (one curve per search stage, each trial a faint point), the format\n"
    "per layer of the best per-layer mixed-precision trials and their weight memory against fp32,\n"
    "the best trial of each stage and the devices. Needs /usr/bin/python3 with h5py, pandas and\n"
    "matplotlib; the script is analysis/quench_report.py (QUENCH_ANALYSIS_DIR overrides its folder).\n";

int qn_cmd_report(int argc, char **argv) {
    const char *file = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (qn_is_help(argv[i])) {
            fputs(help, stdout);
            return 0;
        } else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) {
            if (i + 1 >= argc) return qn_usage_error("report", "%s needs a directory", argv[i]);
            out = argv[++i];
        } else if (argv[i][0] == '-') {
            return qn_usage_error("report", "unknown option '%s'", argv[i]);
        } else if (!file) {
            file = argv[i];
        } else {
            return qn_usage_error("report", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!file) return qn_usage_error("report", "say which results file: quench report FILE");
    if (access(file, R_OK) != 0) {
        fprintf(stderr, "quench: %s: cannot read the results file\n", file);
        return 2;
    }
    const char *dir = getenv("QUENCH_ANALYSIS_DIR");
    char script[4096];
    snprintf(script, sizeof script, "%s/quench_report.py", dir ? dir : QUENCH_ANALYSIS_DIR);
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "quench: report: %s is missing (set QUENCH_ANALYSIS_DIR to quench's analysis folder)\n", script);
        return 1;
    }
    char *args[6] = {"/usr/bin/python3", script, (char *)file, NULL, NULL, NULL};
    if (out) args[3] = "-o", args[4] = (char *)out;
    execv(args[0], args);
    perror("quench: report: cannot run /usr/bin/python3");
    return 1;
}
