/* reference_process.c: run a bench reference script and read its JSON (see reference_process.h). */
#include "reference_process.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"
#define MAX_ARGS 40

static const char *bench_dir(void) {
    const char *d = getenv("QUENCH_BENCH_DIR");
    if (d && *d) return d;
#ifdef QUENCH_BENCH_DIR
    return QUENCH_BENCH_DIR;
#else
    return "bench";
#endif
}

json_t *qn_bench_run_reference(const char *script_name, const char *const *args, const char *threads, const char *module,
                               const char *package, char *why, size_t whylen) {
    char script[4096];
    snprintf(script, sizeof script, "%s/%s", bench_dir(), script_name);
    if (access(PYTHON, X_OK) != 0) {
        snprintf(why, whylen, "%s is not installed", PYTHON);
        return NULL;
    }
    if (access(script, R_OK) != 0) {
        snprintf(why, whylen, "%.300s: %s (set QUENCH_BENCH_DIR to the source tree's bench/)", script, strerror(errno));
        return NULL;
    }
    char *argv[MAX_ARGS + 3];
    int argc = 0;
    argv[argc++] = PYTHON, argv[argc++] = script;
    for (int i = 0; args[i] && argc < MAX_ARGS + 2; i++) argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    int out[2], err[2];
    if (pipe(out) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return NULL;
    }
    if (pipe(err) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        close(out[0]), close(out[1]);
        return NULL;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        return NULL;
    }
    if (pid == 0) {
        /* the reference's BLAS and OpenMP pools get the thread count it is measured at */
        setenv("OMP_NUM_THREADS", threads, 1), setenv("OPENBLAS_NUM_THREADS", threads, 1);
        dup2(out[1], 1), dup2(err[1], 2);
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        execv(PYTHON, argv);
        _exit(127);
    }
    close(out[1]), close(err[1]);
    /* stdout is one line of JSON; stderr (a traceback when a module is missing) is drained after
     * it, keeping its tail for the message */
    char buf[16384], ebuf[8192];
    size_t n = 0, en = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(out[0], buf + n, sizeof buf - 1 - n)) != 0)
        if (r > 0) n += (size_t)r;
        else if (errno != EINTR) break;
    buf[n] = 0;
    while ((r = read(err[0], ebuf + en, sizeof ebuf - 1 - en)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        en += (size_t)r;
        if (en == sizeof ebuf - 1) {
            memmove(ebuf, ebuf + en / 2, en - en / 2);
            en -= en / 2;
        }
    }
    ebuf[en] = 0;
    close(out[0]), close(err[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        while (en && (ebuf[en - 1] == '\n' || ebuf[en - 1] == ' ')) ebuf[--en] = 0;
        const char *last = strrchr(ebuf, '\n');
        last = last ? last + 1 : ebuf;
        char missing[128];
        snprintf(missing, sizeof missing, "No module named '%s'", module);
        if (strstr(ebuf, missing)) snprintf(why, whylen, "%s is not installed", package);
        else snprintf(why, whylen, "the reference script failed%s%.300s", *last ? ": " : "", last);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!j) snprintf(why, whylen, "the reference printed no JSON: %s", jerr.text);
    return j;
}
