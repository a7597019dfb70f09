/* cmd_submit.c: quench submit JOB --gpus TYPE:N[,...]: write an sbatch script next to the results
 * file and submit it (slurm/ does the work; this file is flags, paths and messages). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "qn_job.h"
#include "qn_slurm.h"

static const char *help =
    "usage: quench submit JOB --gpus TYPE:N[,TYPE:N...] [--partition P] [--time T] [--account A]\n"
    "                     [--nodes N] [--dry-run] [-o FILE]\n"
    "\n"
    "Write a Slurm batch script that runs the study on N GPUs of each TYPE (one worker per GPU, plus\n"
    "the coordinator, which needs no GPU), and submit it with sbatch. Several types make a\n"
    "heterogeneous job, one component per type.\n"
    "\n"
    "options:\n"
    "  --gpus TYPE:N,...   GPUs by GRES type, e.g. l40s:4 or l40s:8,rtx2080ti:16\n"
    "  -o FILE             the results file (default: <job name>.h5 here); the script is FILE.sbatch,\n"
    "                      the logs FILE.<jobid>.out and FILE.<jobid>.err, all next to FILE\n"
    "  --partition P       Slurm partition (default: the cluster's)\n"
    "  --time T            time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS\n"
    "  --account A         Slurm account\n"
    "  --nodes N           spread one GPU type over N nodes (N must divide its count)\n"
    "  --dry-run           write the script and print its path and content; submit nothing\n"
    "  -h, --help          this help\n"
    "\n"
    "The job gets USR1 120 s before its limit, passes it to the study and, unless the study finished,\n"
    "requeues itself; the requeued job resumes FILE. Prints the Slurm job id. See docs/cli.md.\n"
    "exit codes: 0 submitted (or written, with --dry-run), 2 bad input, 1 sbatch missing or failed.\n";

/* Absolute form of path without resolving it (the results file may not exist yet). */
static char *absolute(const char *path) {
    if (path[0] == '/') return strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return NULL;
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", path);
    return s;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : -1;
}

int qn_cmd_submit(int argc, char **argv) {
    const char *job_path = NULL, *out = NULL, *gpus = NULL, *nodes = NULL;
    qn_slurm_request req;
    memset(&req, 0, sizeof req);
    int dry_run = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (qn_is_help(a)) {
            fputs(help, stdout);
            return 0;
        }
        const char **dst = NULL;
        if (strcmp(a, "-o") == 0) dst = &out;
        else if (strcmp(a, "--gpus") == 0) dst = &gpus;
        else if (strcmp(a, "--partition") == 0) dst = &req.partition;
        else if (strcmp(a, "--time") == 0) dst = &req.time;
        else if (strcmp(a, "--account") == 0) dst = &req.account;
        else if (strcmp(a, "--nodes") == 0) dst = &nodes;
        if (dst) {
            if (i + 1 >= argc) return qn_usage_error("submit", "%s needs a value", a);
            *dst = argv[++i];
        } else if (strcmp(a, "--dry-run") == 0) {
            dry_run = 1;
        } else if (a[0] == '-' && a[1] != 0) {
            return qn_usage_error("submit", "unknown option '%s'", a);
        } else if (job_path) {
            return qn_usage_error("submit", "unexpected argument '%s' (one job file per submission)", a);
        } else {
            job_path = a;
        }
    }
    if (!job_path) return qn_usage_error("submit", "missing the job file");

    /* The job first: a bad job would fail on the cluster after waiting in the queue. */
    qn_job job;
    char err[QN_ERR_LEN];
    if (qn_job_load(job_path, &job, err, sizeof err) != 0) {
        fprintf(stderr, "quench: %s\n", err);
        return 2;
    }
    int rc = 2;
    char *abs_job = NULL, *abs_out = NULL, *script_path = NULL, *script = NULL, *default_out = NULL;
    char exe[PATH_MAX];
    if (!gpus) {
        rc = qn_usage_error("submit", "missing --gpus TYPE:N[,TYPE:N...]");
        goto done;
    }
    if (qn_slurm_parse_gpus(gpus, &req, err, sizeof err) != 0 ||
        (nodes && qn_slurm_parse_count("--nodes", nodes, QN_SLURM_MAX_NODES, &req.nodes, err, sizeof err) != 0) ||
        (req.partition && qn_slurm_check_name("--partition", req.partition, err, sizeof err) != 0) ||
        (req.account && qn_slurm_check_name("--account", req.account, err, sizeof err) != 0) ||
        (req.time && qn_slurm_check_time("--time", req.time, err, sizeof err) != 0)) {
        rc = qn_usage_error("submit", "%s", err);
        goto done;
    }
    if (qn_slurm_check_name("the job's name", job.name, err, sizeof err) != 0) {
        fprintf(stderr, "quench: %s: %s\n", job_path, err);
        goto done;
    }
    if (!out) {
        size_t n = strlen(job.name) + 4;
        default_out = malloc(n);
        if (!default_out) goto oom;
        snprintf(default_out, n, "%s.h5", job.name);
        out = default_out;
    }
    abs_job = realpath(job_path, NULL);
    abs_out = absolute(out);
    if (!abs_job || !abs_out) goto oom;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "quench: submit: cannot find the quench binary (/proc/self/exe): %s\n", strerror(errno));
        rc = 1;
        goto done;
    }
    exe[n] = 0;
    req.job_name = job.name;
    req.job_path = abs_job;
    req.results_path = abs_out;
    req.quench_exe = exe;
    if (qn_slurm_script(&req, &script, err, sizeof err) != 0) {
        rc = qn_usage_error("submit", "%s", err);
        goto done;
    }
    size_t sn = strlen(abs_out) + sizeof ".sbatch";
    script_path = malloc(sn);
    if (!script_path) goto oom;
    snprintf(script_path, sn, "%s.sbatch", abs_out);
    if (write_file(script_path, script) != 0) {
        fprintf(stderr, "quench: submit: cannot write %s: %s\n", script_path, strerror(errno));
        goto done;
    }
    if (dry_run) {
        printf("%s\n%s", script_path, script);
        rc = 0;
        goto done;
    }
    char jobid[64];
    int s = qn_slurm_submit(script_path, jobid, sizeof jobid, err, sizeof err);
    if (s == 0) {
        printf("%s\n", jobid);
        rc = 0;
    } else {
        /* Not bad input: the script is fine and stays for sbatch elsewhere, hence exit 1. */
        fprintf(stderr, "quench: submit: %s; the script is %s\n", err, script_path);
        rc = 1;
    }
    goto done;
oom:
    fprintf(stderr, "quench: submit: %s\n", errno ? strerror(errno) : "out of memory");
    rc = 1;
done:
    free(script);
    free(script_path);
    free(abs_job);
    free(abs_out);
    free(default_out);
    qn_job_free(&job);
    return rc;
}
