/* results_fixtures.h: what the results-file tests (test_io_results.c, test_io_journal.c) share: a
 * scratch directory per test (Criterion .init/.fini) and the study job whose plan their files are
 * created for. A test file may name its own directory with SCRATCH_DIR_TEMPLATE before including
 * this, so that a directory a crashed run leaves behind says which test left it. */
#ifndef QN_TEST_RESULTS_FIXTURES_H
#define QN_TEST_RESULTS_FIXTURES_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "qn_job.h"

#ifndef SCRATCH_DIR_TEMPLATE
#define SCRATCH_DIR_TEMPLATE "/tmp/qn-results-XXXXXX"
#endif

static char dir[256];

static void make_dir(void) {
    snprintf(dir, sizeof dir, SCRATCH_DIR_TEMPLATE);
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static qn_job load_job(void) {
    qn_job job;
    char err[QN_ERR_LEN];
    cr_assert_eq(qn_job_load(QN_TEST_DATA "/e2e/jobs/study.yaml", &job, err, sizeof err), 0, "%s", err);
    return job;
}

#endif
