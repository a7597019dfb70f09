/* qn_coordinator.h: run a study (quench run).
 *
 * Contract:
 *  - qn_study_run() is called on every rank of the job (after MPI_Init when launched by mpirun,
 *    without MPI when run alone). Rank 0 is the coordinator: it loads the job, owns the results
 *    file, and hands trials to ranks 1..N-1 as they free up; with one rank it runs them itself.
 *  - The coordinator never blocks on one worker: it polls, so it also serves signals and progress.
 *  - Trials run in a child process of their worker (of rank 0 with one rank): a trial that crashes
 *    it or runs past its trial_timeout is recorded failed with the reason (docs/faults.md).
 *  - Each finished trial is durable in the results file before the next is recorded.
 *  - Returns the process exit code: 0 all trials done, 3 finished with failed trials, 2 bad user
 *    input (job file, existing output without --resume, changed job on --resume), 1 internal
 *    failure, 128+signal when stopped by SIGUSR1/SIGTERM/SIGINT (finish with --resume).
 *  - A signal stops dispatch; running trials may finish until the grace deadline (USR1 100 s, TERM
 *    20 s, INT none; --grace overrides), then are abandoned, unrecorded. A second signal: at once.
 */
#ifndef QN_COORDINATOR_H
#define QN_COORDINATOR_H

typedef enum { QN_PROGRESS_AUTO = 0, QN_PROGRESS_BAR = 1, QN_PROGRESS_PLAIN = 2, QN_PROGRESS_QUIET = 3 } qn_progress_mode;

typedef struct {
    const char *job_path;
    const char *out_path;
    int resume;          /* finish an existing file */
    int retry_failed;    /* with resume: run failed trials again */
    qn_progress_mode progress;
    int use_mpi;         /* launched by mpirun/srun: MPI_Init has been called */
    int grace_given;     /* --grace: grace_s replaces the signal's default grace period */
    double grace_s;
} qn_run_opts;

int qn_study_run(const qn_run_opts *opts);

#endif
