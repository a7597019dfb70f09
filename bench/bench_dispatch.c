/* bench_dispatch.c: how many trials per second the runtime itself sustains (dispatch over MPI,
 * recording, the durable results file), measured with null trials that cost nothing.
 *
 * mpirun start-up and MPI_Finalize take a second or so and vary from run to run, which would hide
 * what is measured. So two studies run, the same job but for their trial count: N trials and N/10.
 * Both pay the same start-up and shutdown; the difference of their times is what N - N/10 trials
 * cost in the dispatch phase alone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qn_clock.h"
#include "bench_dispatch.h"

/* A job of `trials` null trials: one grid stage over a dummy axis, no checkpoints, no sleep. */
static int write_job(const char *path, long trials) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "name: bench-dispatch\n"
            "model: {arch: null}\n"
            "train: {checkpoints: none}\n"
            "debug: {sleep_ms: 0}\n"
            "stages:\n"
            "  - name: dispatch\n"
            "    run: [eval]\n"
            "    grid:\n"
            "      train.lr: {start: 1, stop: %ld, step: 1}\n",
            trials);
    return fclose(f);
}

/* mpirun -np RANKS quench run JOB -o RESULTS --progress quiet; its wall time, or -1 (message on stderr). */
static double run_study(const char *exe, int ranks, const char *job, const char *results, const char *log) {
    const char *mpiexec = getenv("MPIEXEC");
    if (!mpiexec || !mpiexec[0]) mpiexec = "mpirun";
    char np[16];
    snprintf(np, sizeof np, "%d", ranks);
    double t0 = qn_clock_monotonic_s();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        /* Open MPI refuses root unless told; containers and CI often run as root */
        if (geteuid() == 0) {
            setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
            setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        }
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        execlp(mpiexec, mpiexec, "--oversubscribe", "-np", np, exe, "run", job, "-o", results, "--progress", "quiet",
               (char *)NULL);
        fprintf(stderr, "cannot start %s: %s\n", mpiexec, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    double t = qn_clock_monotonic_s() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "quench: bench dispatch: the study of %s failed (%s %d); its output:\n", job,
                WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        FILE *f = fopen(log, "r");
        char line[512];
        for (int n = 0; f && n < 20 && fgets(line, sizeof line, f); n++) fputs(line, stderr);
        if (f) fclose(f);
        return -1;
    }
    return t;
}

int qn_bench_dispatch(int ranks, long trials, const char *keep, int json, FILE *out) {
    if (keep && access(keep, F_OK) == 0) {
        fprintf(stderr, "quench: bench dispatch: %s exists: give a new path to keep the results at\n", keep);
        return 2;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "quench: bench dispatch: cannot find the quench binary (/proc/self/exe)\n");
        return 1;
    }
    exe[n] = 0;
    const char *tmpdir = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/quench-bench-dispatch.XXXXXX", tmpdir && tmpdir[0] ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "quench: bench dispatch: cannot create a directory under %s: %s\n", dir, strerror(errno));
        return 1;
    }
    long small = trials / 10 > 0 ? trials / 10 : 1;
    char job_big[4200], job_small[4200], res_big[4200], res_small[4200], log[4200];
    snprintf(job_big, sizeof job_big, "%s/big.yaml", dir);
    snprintf(job_small, sizeof job_small, "%s/small.yaml", dir);
    snprintf(res_big, sizeof res_big, "%s/big.h5", dir);
    snprintf(res_small, sizeof res_small, "%s/small.h5", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    int rc = 1;
    double t_small = -1, t_big = -1;
    if (write_job(job_big, trials) != 0 || write_job(job_small, small) != 0) {
        fprintf(stderr, "quench: bench dispatch: cannot write the jobs in %s\n", dir);
    } else {
        /* a first run warms the page cache and the MPI libraries; it is not counted */
        t_small = run_study(exe, ranks, job_small, res_small, log);
        if (t_small >= 0) unlink(res_small), t_small = run_study(exe, ranks, job_small, res_small, log);
        if (t_small >= 0) t_big = run_study(exe, ranks, job_big, res_big, log);
        rc = t_big >= 0 ? 0 : 1;
    }
    if (rc == 0 && keep && rename(res_big, keep) != 0) {
        fprintf(stderr, "quench: bench dispatch: cannot move the results to %s: %s\n", keep, strerror(errno));
        rc = 1;
    }
    unlink(job_big), unlink(job_small), unlink(res_big), unlink(res_small), unlink(log);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.quench-tmp", res_big), unlink(tmp);
    snprintf(tmp, sizeof tmp, "%s.quench-tmp", res_small), unlink(tmp);
    rmdir(dir);
    if (rc) return rc;
    double dt = t_big - t_small, rate = dt > 0 ? (double)(trials - small) / dt : 0;
    if (json) {
        fprintf(out, "{\"trials_per_s\": %.1f, \"ranks\": %d, \"workers\": %d, \"trials\": %ld, \"small_trials\": %ld, "
                     "\"seconds\": %.3f, \"small_seconds\": %.3f}\n",
                rate, ranks, ranks - 1, trials, small, t_big, t_small);
        return 0;
    }
    fprintf(out, "dispatch: null trials (no model, no data, no sleep) through %d MPI ranks (1 coordinator, %d workers),\n"
                 "every trial recorded durably in the results file\n",
            ranks, ranks - 1);
    fprintf(out, "  %8ld trials  %8.3f s (mpirun to exit)\n", trials, t_big);
    fprintf(out, "  %8ld trials  %8.3f s\n", small, t_small);
    fprintf(out, "  %.1f trials/s in the dispatch phase: (%ld - %ld) trials / (%.3f - %.3f) s; the difference\n"
                 "  cancels MPI start-up and shutdown, which both runs pay alike\n",
            rate, trials, small, t_big, t_small);
    return 0;
}
