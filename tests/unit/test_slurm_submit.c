/* test_slurm_submit.c: running sbatch (the case a machine without Slurm can check: sbatch missing;
 * tests/e2e/submit.sh covers a stand-in sbatch that prints a job id). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_slurm.h"

Test(slurm_submit, missing_sbatch) {
    /* No sbatch on PATH: told apart from sbatch refusing the job. */
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", "/nonexistent-dir", 1);
    char id[64], err[256] = "";
    int rc = qn_slurm_submit("/tmp/x.sbatch", id, sizeof id, err, sizeof err);
    if (old) setenv("PATH", old, 1);
    free(old);
    cr_assert_eq(rc, 2, "rc %d: %s", rc, err);
    cr_assert(strstr(err, "sbatch is not installed"), "%s", err);
}
