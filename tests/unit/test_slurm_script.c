/* test_slurm_script.c: the generated sbatch scripts against golden copies (tests/unit/slurm/),
 * and every value the generator must refuse. QN_UPDATE_GOLDEN=1 rewrites the golden files after a
 * deliberate change; review their diff. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_slurm.h"

static qn_slurm_request base(void) {
    qn_slurm_request r;
    memset(&r, 0, sizeof r);
    r.job_name = "lab1-ptq";
    r.job_path = "/home/u/jobs/lab1.yaml";
    r.results_path = "/scratch/u/lab1.h5";
    r.quench_exe = "/opt/quench/bin/quench";
    return r;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

static void golden(const qn_slurm_request *r, const char *name) {
    char *script = NULL, err[512] = "";
    cr_assert_eq(qn_slurm_script(r, &script, err, sizeof err), 0, "%s", err);
    char path[1024];
    snprintf(path, sizeof path, "%s/unit/slurm/%s", QN_TEST_DATA, name);
    if (getenv("QN_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        cr_assert(f);
        fputs(script, f);
        fclose(f);
    }
    char *want = slurp(path);
    cr_assert(want, "missing golden file %s", path);
    cr_assert_str_eq(script, want, "generated script differs from %s:\n%s", path, script);
    free(want);
    free(script);
}

Test(slurm_script, one_type_golden) {
    qn_slurm_request r = base();
    cr_assert_eq(qn_slurm_parse_gpus("l40s:4", &r, (char[256]){0}, 256), 0);
    r.partition = "gpu";
    r.account = "proj-7";
    r.time = "1-12:00";
    golden(&r, "one_type.sbatch");
}

Test(slurm_script, one_type_two_nodes_golden) {
    qn_slurm_request r = base();
    cr_assert_eq(qn_slurm_parse_gpus("l40s:8", &r, (char[256]){0}, 256), 0);
    r.nodes = 2;
    golden(&r, "one_type_two_nodes.sbatch");
}

Test(slurm_script, two_types_golden) {
    qn_slurm_request r = base();
    cr_assert_eq(qn_slurm_parse_gpus("l40s:2,rtx2080ti:4", &r, (char[256]){0}, 256), 0);
    r.partition = "gpu";
    r.time = "04:00:00";
    golden(&r, "two_types.sbatch");
}

Test(slurm_script, always_signal_requeue_append) {
    qn_slurm_request r = base();
    cr_assert_eq(qn_slurm_parse_gpus("a100:1", &r, (char[256]){0}, 256), 0);
    char *s = NULL, err[256];
    cr_assert_eq(qn_slurm_script(&r, &s, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(s, "#SBATCH --signal=B:USR1@120\n"));
    cr_assert(strstr(s, "#SBATCH --requeue\n"));
    cr_assert(strstr(s, "#SBATCH --open-mode=append\n"));
    cr_assert(strstr(s, "#SBATCH --job-name=lab1-ptq\n"));
    cr_assert(strstr(s, "#SBATCH --ntasks=2\n"));
    cr_assert(strstr(s, "#SBATCH --gres=gpu:a100:1\n"));
    cr_assert_null(strstr(s, "--partition"));
    cr_assert_null(strstr(s, "--time"));
    free(s);
}

/* Each refused value: the script is not produced and the message names the culprit. */
static void refused(qn_slurm_request r, const char *what) {
    char *s = (char *)1, err[512] = "";
    cr_assert_eq(qn_slurm_script(&r, &s, err, sizeof err), -1, "accepted a bad %s", what);
    cr_assert_null(s);
    cr_assert(strstr(err, what), "message '%s' does not name %s", err, what);
    cr_assert_null(strchr(err, '\n'), "message spans lines: %s", err);
}

Test(slurm_script, refuses_unsafe_values) {
    qn_slurm_request ok = base();
    cr_assert_eq(qn_slurm_parse_gpus("l40s:4", &ok, (char[256]){0}, 256), 0);
    const char *bad_names[] = {"a b", "a;b", "a'b", "a\"b", "a$b", "a`b", "a\\b", "a\nb", "a/b", "", "gpu,x", "a:b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        qn_slurm_request r = ok;
        r.partition = bad_names[i];
        refused(r, "--partition");
        r = ok;
        r.account = bad_names[i];
        refused(r, "--account");
        r = ok;
        r.job_name = bad_names[i];
        refused(r, "job name");
        r = ok;
        snprintf(r.gpus[0].type, sizeof r.gpus[0].type, "%s", bad_names[i]);
        refused(r, "GPU type");
    }
    const char *bad_paths[] = {"/a'b", "/a\"b", "/a$b", "/a`b`", "/a\\b", "/a\nb", "/a\rb", "relative/x.h5"};
    for (size_t i = 0; i < sizeof bad_paths / sizeof *bad_paths; i++) {
        qn_slurm_request r = ok;
        r.job_path = bad_paths[i];
        refused(r, "job file");
        r = ok;
        r.results_path = bad_paths[i];
        refused(r, "-o");
        r = ok;
        r.quench_exe = bad_paths[i];
        refused(r, "quench binary");
    }
    /* The results path also goes into #SBATCH --output, where blanks split and % expands. */
    qn_slurm_request r = ok;
    r.results_path = "/a b/x.h5";
    refused(r, "-o");
    r.results_path = "/a/%j.h5";
    refused(r, "-o");
    r = ok;
    r.job_path = "/my jobs/x.yaml"; /* only single-quoted in the body: a blank is fine */
    char *s = NULL, err[256];
    cr_assert_eq(qn_slurm_script(&r, &s, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(s, "job='/my jobs/x.yaml'\n"));
    free(s);
    r = ok;
    r.time = "1:2:3:4";
    refused(r, "--time");
    r = ok;
    r.gpus[0].count = 0;
    refused(r, "--gpus");
    r = ok;
    r.nodes = 3; /* 4 GPUs on 3 nodes */
    refused(r, "--nodes");
    r = ok;
    cr_assert_eq(qn_slurm_parse_gpus("l40s:2,t4:2", &r, (char[256]){0}, 256), 0);
    r.nodes = 2;
    refused(r, "--nodes");
}
