/* test_slurm_check.c: the whitelists for values quench submit writes into a batch script: --gpus,
 * Slurm's time formats, counts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_slurm.h"

Test(slurm_check, gpus_spec) {
    qn_slurm_request r;
    char err[256];
    cr_assert_eq(qn_slurm_parse_gpus("l40s:8,rtx2080ti:16", &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.ntypes, 2);
    cr_assert_str_eq(r.gpus[1].type, "rtx2080ti");
    cr_assert_eq(r.gpus[1].count, 16);
    const char *bad[] = {"", "l40s", "l40s:", ":4", "l40s:0", "l40s:-1", "l40s:4x", "l40s:99999999999999999999",
                         "l40s:4,", "l40s:4,l40s:2", "l 40s:4", "l40s:4;rm", "l40s:1e3", "l40s:4097"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        cr_assert_eq(qn_slurm_parse_gpus(bad[i], &r, err, sizeof err), -1, "accepted --gpus '%s'", bad[i]);
        cr_assert(strncmp(err, "--gpus", 6) == 0, "'%s': %s", bad[i], err);
    }
    cr_assert_eq(qn_slurm_parse_gpus("l40s:4096", &r, err, sizeof err), 0, "%s", err);
}

Test(slurm_check, time_formats) {
    char err[256];
    const char *good[] = {"30", "90", "30:00", "4:00:00", "04:00:00", "1-0", "1-12", "2-12:30", "7-00:00:30", "0:30"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        cr_assert_eq(qn_slurm_check_time("--time", good[i], err, sizeof err), 0, "refused '%s': %s", good[i], err);
    const char *bad[] = {"",     "0",       "00:00",  "1:60",    "1:00:60", "1:2:3:4", "1-24",  "1-1:60",
                         "-1",   "1-",      "1--2",   "a",       "1h",      "1:00 ",   "1;rm",  "1-2-3",
                         "1:",   ":30",     "1-1:1:1:1", "UNLIMITED", "10000-0", "1234567"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        cr_assert_eq(qn_slurm_check_time("--time", bad[i], err, sizeof err), -1, "accepted '%s'", bad[i]);
        cr_assert(strncmp(err, "--time", 6) == 0, "%s", err);
    }
}

Test(slurm_check, counts) {
    char err[256];
    int v = 0;
    cr_assert_eq(qn_slurm_parse_count("--nodes", "16", 1024, &v, err, sizeof err), 0);
    cr_assert_eq(v, 16);
    const char *bad[] = {"", "0", "-2", "1025", "2x", " 2", "0x10", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(qn_slurm_parse_count("--nodes", bad[i], 1024, &v, err, sizeof err), -1, "accepted '%s'", bad[i]);
}
