/* flag_values.c: flag values checked the same way by every command (integers: whole string, in
 * range, no overflow, the usage error naming the flag and its range), and the arguments the bench
 * subcommands share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int qn_int_flag(const char *cmd, const char *flag, const char *value, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(value, &end, 10);
    if (errno || end == value || *end || x < lo || x > hi)
        return qn_usage_error(cmd, "%s takes an integer in [%ld, %ld], not '%s'", flag, lo, hi, value);
    *out = x;
    return 0;
}

qn_bench_arg qn_bench_common_arg(char **argv, int i, int self, const char *help, int *json) {
    if (i == self) return QN_BENCH_ARG_TAKEN;
    if (qn_is_help(argv[i])) {
        fputs(help, stdout);
        return QN_BENCH_ARG_HELP;
    }
    if (strcmp(argv[i], "--json") == 0) {
        *json = 1;
        return QN_BENCH_ARG_TAKEN;
    }
    return QN_BENCH_ARG_OTHER;
}

long qn_threads_or_cores(long given) {
    if (given) return given;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores;
}
