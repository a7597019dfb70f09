/* Malformed job files: each tests/jobs/bad/NAME.yaml starts with "# expect: MESSAGE", the exact
 * one-line error qn_job_load must give for it (quench prints it after "quench: " and exits 2). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qn_job.h"

static int is_yaml(const char *name) {
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".yaml") == 0;
}

static int read_expectation(const char *path, char *out, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    int ok = fgets(line, sizeof line, f) && strncmp(line, "# expect: ", 10) == 0;
    fclose(f);
    if (!ok) return -1;
    line[strcspn(line, "\n")] = 0;
    snprintf(out, len, "%s", line + 10);
    return 0;
}

Test(job_errors, every_bad_file_gives_its_exact_message) {
    cr_assert_eq(chdir(QN_TEST_DATA "/jobs/bad"), 0, "cannot enter tests/jobs/bad");
    DIR *d = opendir(".");
    cr_assert_not_null(d);
    int checked = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_yaml(e->d_name)) continue;
        char want[1024], err[QN_ERR_LEN] = "";
        cr_assert_eq(read_expectation(e->d_name, want, sizeof want), 0, "%s: first line is not '# expect: ...'",
                     e->d_name);
        qn_job job;
        int rc = qn_job_load(e->d_name, &job, err, sizeof err);
        cr_expect_eq(rc, -1, "%s: loaded, but should fail with: %s", e->d_name, want);
        if (rc == 0) {
            qn_job_free(&job);
            continue;
        }
        cr_expect_str_eq(err, want, "%s:\n  got:  %s\n  want: %s", e->d_name, err, want);
        checked++;
    }
    closedir(d);
    cr_assert_geq(checked, 25, "only %d malformed job files", checked);
}

Test(job_errors, missing_file_names_the_file) {
    char err[QN_ERR_LEN];
    qn_job job;
    cr_assert_eq(qn_job_load("/nonexistent/dir/job.yaml", &job, err, sizeof err), -1);
    cr_expect(strstr(err, "/nonexistent/dir/job.yaml") != NULL, "%s", err);
}

Test(job_errors, error_messages_are_one_line_with_location) {
    const char *texts[] = {
        "name: x\nstages: [",
        "name: x\nstages:\n  - name: a\n    run: [train]\n    grid: {train.lr: [\"fast\"]}\n",
        "name: x\nseed: 1\nseed: 2\n",
        "name: x\nmodel: {arch: resnet}\nstages:\n  - {name: a, run: [train]}\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char err[QN_ERR_LEN] = "";
        qn_job job;
        cr_assert_eq(qn_job_load_text("t.yaml", texts[i], strlen(texts[i]), &job, err, sizeof err), -1, "text %zu", i);
        int line = 0, col = 0;
        cr_expect_eq(sscanf(err, "t.yaml:%d:%d:", &line, &col), 2, "no FILE:LINE:COL in '%s'", err);
        cr_expect(line >= 1 && col >= 1, "%s", err);
        cr_expect_null(strchr(err, '\n'), "message spans lines: %s", err);
    }
}
