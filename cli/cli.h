/* cli.h: the quench subcommands. Each parses its own flags and returns the process exit code:
 * 0 success, 2 bad user input (message "quench: ..." on stderr), 1 internal failure. */
#ifndef QN_CLI_H
#define QN_CLI_H

int qn_cmd_run(int argc, char **argv);
int qn_cmd_validate(int argc, char **argv);
int qn_cmd_ls(int argc, char **argv);
int qn_cmd_export(int argc, char **argv);
int qn_cmd_devices(int argc, char **argv);
int qn_cmd_quantize(int argc, char **argv);
int qn_cmd_bench(int argc, char **argv);
int qn_cmd_eval(int argc, char **argv);
int qn_cmd_generate(int argc, char **argv);
int qn_cmd_report(int argc, char **argv);
int qn_cmd_submit(int argc, char **argv);
int qn_cmd_tokenize(int argc, char **argv);

/* Print "quench: CMD: message (see quench CMD --help)" and return 2. */
int qn_usage_error(const char *cmd, const char *fmt, ...);
/* 1 if argv[i] is -h or --help. */
int qn_is_help(const char *arg);
/* An integer flag value in [lo, hi] into out: 0, or the usage error (2) "FLAG takes an integer in
 * [LO, HI], not 'VALUE'" for CMD. */
int qn_int_flag(const char *cmd, const char *flag, const char *value, long lo, long hi, long *out);
/* The arguments the bench subcommands that parse their own flags (attention, dequant, decode) take
 * alike: argv[self] (the subcommand's name), -h/--help and --json. */
typedef enum { QN_BENCH_ARG_OTHER, QN_BENCH_ARG_TAKEN, QN_BENCH_ARG_HELP } qn_bench_arg;
/* argv[i]: TAKEN (skip it), HELP (help printed: return 0) or OTHER (the subcommand's own). */
qn_bench_arg qn_bench_common_arg(char **argv, int i, int self, const char *help, int *json);
/* --threads as given, or 0: one per online core. */
long qn_threads_or_cores(long given);

#endif
