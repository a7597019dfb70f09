/* cmd_validate.c: quench validate JOB... */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "qn_job.h"

static const char *help =
    "usage: quench validate JOB [JOB...]\n"
    "\n"
    "Check job files completely (every key, type, range, every trial of every stage, and the from:\n"
    "links between stages) without running anything, and print each job's stages, trial counts,\n"
    "what each trial costs, and the order stages run in.\n"
    "Errors are one line, FILE:LINE:COL: message, and the exit code is 2.\n";

int qn_cmd_validate(int argc, char **argv) {
    int njobs = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (qn_is_help(argv[i])) {
            fputs(help, stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1] != 0) return qn_usage_error("validate", "unknown option '%s'", argv[i]);
    }
    for (int i = 1; i < argc; i++) {
        qn_job job;
        char err[QN_ERR_LEN];
        njobs++;
        if (qn_job_load(argv[i], &job, err, sizeof err) != 0) {
            fprintf(stderr, "quench: %s\n", err);
            rc = 2;
            continue;
        }
        if (njobs > 1) printf("\n");
        qn_job_print_plan(&job, stdout);
        qn_job_free(&job);
    }
    if (njobs == 0) return qn_usage_error("validate", "missing the job file");
    return rc;
}
