/* submit.c: hand a batch script to sbatch. fork/execvp with an argument vector, never a shell, so
 * no path is ever parsed as shell text; a close-on-exec pipe tells "sbatch is not installed" apart
 * from "sbatch ran and refused the job". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qn_slurm.h"

/* Read until EOF or the buffer is full; returns the bytes read, -1 on error. */
static ssize_t read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        n += (size_t)k;
    }
    return (ssize_t)n;
}

int qn_slurm_submit(const char *script_path, char *jobid, size_t jobidlen, char *err, size_t errlen) {
    int out[2], status_pipe[2];
    if (pipe(out) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return 1;
    }
    if (pipe(status_pipe) != 0 || fcntl(status_pipe[1], F_SETFD, FD_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(out[0]);
        close(out[1]);
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(out[0]), close(out[1]), close(status_pipe[0]), close(status_pipe[1]);
        return 1;
    }
    if (pid == 0) {
        close(out[0]);
        close(status_pipe[0]);
        dup2(out[1], STDOUT_FILENO);
        close(out[1]);
        char *argv[] = {"sbatch", "--parsable", (char *)script_path, NULL};
        execvp("sbatch", argv);
        int e = errno; /* only reached when exec failed: report why to the parent */
        ssize_t w = write(status_pipe[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(out[1]);
    close(status_pipe[1]);
    char buf[256];
    ssize_t n = read_all(out[0], buf, sizeof buf - 1);
    close(out[0]);
    int exec_errno = 0;
    ssize_t k = read_all(status_pipe[0], (char *)&exec_errno, sizeof exec_errno);
    close(status_pipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (k == (ssize_t)sizeof exec_errno) {
        if (exec_errno == ENOENT) {
            snprintf(err, errlen, "sbatch is not installed (not on PATH)");
            return 2;
        }
        snprintf(err, errlen, "cannot run sbatch: %s", strerror(exec_errno));
        return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "sbatch refused the job (its message is above)");
        return 1;
    }
    if (n <= 0) {
        snprintf(err, errlen, "sbatch printed no job id");
        return 1;
    }
    buf[n] = 0;
    /* --parsable prints "jobid" or "jobid;cluster" */
    size_t idlen = strcspn(buf, ";\n");
    if (idlen == 0 || idlen >= jobidlen) {
        snprintf(err, errlen, "sbatch printed no job id");
        return 1;
    }
    memcpy(jobid, buf, idlen);
    jobid[idlen] = 0;
    return 0;
}
