/* cmd_run.c: quench run JOB -o FILE [--resume] [--retry-failed] [--progress MODE] [--grace SECONDS] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "qn_coordinator.h"

static const char *help =
    "usage: quench run JOB -o FILE [--resume [--retry-failed]] [--progress auto|bar|plain|quiet]\n"
    "                  [--grace SECONDS]\n"
    "\n"
    "Run the study of job file JOB and record every trial in the HDF5 file FILE.\n"
    "\n"
    "Alone (`quench run ...`) it runs every trial in this process. Under mpirun or srun\n"
    "(`mpirun -np 4 quench run ...`) rank 0 coordinates and ranks 1..N-1 run trials, one device each.\n"
    "A worker gets only trials that fit its device (memory, bf16); one that fits no worker is recorded\n"
    "failed with the reason. Grid stages hand out their longest trials first (docs/cli.md).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   results file to create (refused if it exists, unless --resume)\n"
    "  --resume            finish FILE: run only the trials it does not hold yet (refused if the job\n"
    "                      changed in a way that changes the trials); starts FILE if it does not exist\n"
    "  --retry-failed      with --resume: run failed trials again (their rows are replaced)\n"
    "  --progress MODE     auto (a bar on a terminal, plain lines otherwise and under Slurm),\n"
    "                      bar, plain, quiet\n"
    "  --grace SECONDS     after a stop signal, how long running trials may go on before they are\n"
    "                      abandoned (default: SIGUSR1 100, SIGTERM 20, SIGINT no limit)\n"
    "  -h, --help          this help\n"
    "\n"
    "Prints one line per finished trial (id, stage, params, key metric, worker, seconds) and a summary.\n"
    "SIGUSR1 (Slurm's warning before the time limit), SIGTERM, SIGINT: no new trials are started;\n"
    "running ones finish and are recorded until the grace period ends, then they are abandoned\n"
    "(not recorded); a second signal stops at once. Either way --resume finishes the study.\n"
    "exit codes: 0 all trials done, 3 finished with failed trials, 2 bad input, 1 internal failure,\n"
    "128+N stopped by signal N (138 SIGUSR1, 143 SIGTERM, 130 SIGINT).\n";

#define FINALIZE_WAIT_S 10
static volatile sig_atomic_t finalize_rc;
static void finalize_timeout(int sig) {
    (void)sig;
    _exit(finalize_rc);
}

/* Launched by mpirun or srun? Then MPI is initialised; alone, quench needs no MPI at all. */
static int launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

static int is_rank0(void) {
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r) r = getenv("PMIX_RANK");
    if (!r) r = getenv("PMI_RANK");
    return !r || atoi(r) == 0;
}

int qn_cmd_run(int argc, char **argv) {
    qn_run_opts opts;
    memset(&opts, 0, sizeof opts);
    int quiet_errors = !is_rank0(); /* one message per job, not one per rank */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (qn_is_help(a)) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc) return quiet_errors ? 2 : qn_usage_error("run", "%s needs a file name", a);
            opts.out_path = argv[++i];
        } else if (strncmp(a, "--output=", 9) == 0) {
            opts.out_path = a + 9;
        } else if (strcmp(a, "--resume") == 0) {
            opts.resume = 1;
        } else if (strcmp(a, "--grace") == 0 || strncmp(a, "--grace=", 8) == 0) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : "");
            char *end;
            opts.grace_s = strtod(v, &end);
            if (!v[0] || *end || !(opts.grace_s >= 0) || opts.grace_s > 1e9)
                return quiet_errors ? 2 : qn_usage_error("run", "--grace takes a number of seconds >= 0, not '%s'", v);
            opts.grace_given = 1;
        } else if (strcmp(a, "--retry-failed") == 0) {
            opts.retry_failed = 1;
        } else if (strcmp(a, "--progress") == 0 || strncmp(a, "--progress=", 11) == 0) {
            const char *mode = a[10] == '=' ? a + 11 : (i + 1 < argc ? argv[++i] : "");
            if (strcmp(mode, "auto") == 0) opts.progress = QN_PROGRESS_AUTO;
            else if (strcmp(mode, "bar") == 0) opts.progress = QN_PROGRESS_BAR;
            else if (strcmp(mode, "plain") == 0) opts.progress = QN_PROGRESS_PLAIN;
            else if (strcmp(mode, "quiet") == 0) opts.progress = QN_PROGRESS_QUIET;
            else return quiet_errors ? 2 : qn_usage_error("run", "--progress takes auto, bar, plain or quiet, not '%s'", mode);
        } else if (a[0] == '-' && a[1] != 0) {
            return quiet_errors ? 2 : qn_usage_error("run", "unknown option '%s'", a);
        } else if (!opts.job_path) {
            opts.job_path = a;
        } else {
            return quiet_errors ? 2 : qn_usage_error("run", "unexpected argument '%s' (one job file per run)", a);
        }
    }
    if (!opts.job_path) return quiet_errors ? 2 : qn_usage_error("run", "missing the job file");
    if (!opts.out_path) return quiet_errors ? 2 : qn_usage_error("run", "missing -o FILE (the results file)");
    if (opts.retry_failed && !opts.resume) return quiet_errors ? 2 : qn_usage_error("run", "--retry-failed needs --resume");

    if (!launched_by_mpi()) return qn_study_run(&opts);
    opts.use_mpi = 1;
    /* srun and mpirun pass USR1 to every task; a worker that gets it during MPI_Init must live on */
    if (!is_rank0()) signal(SIGUSR1, SIG_IGN);
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "quench: run: MPI_Init failed\n");
        return 1;
    }
    int rc = qn_study_run(&opts);
    /* Stopped by a signal: the results file is closed, and a worker that cannot stop its trial must
     * not hold this rank in MPI_Finalize past the batch system's kill. */
    if (rc > 128) {
        finalize_rc = rc;
        signal(SIGALRM, finalize_timeout);
        alarm(FINALIZE_WAIT_S);
    }
    MPI_Finalize();
    return rc;
}
