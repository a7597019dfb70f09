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

#endif
