/* reference_process.h: the Python references of quench bench (PyTorch, Optuna), run as a child
 * process in the same invocation, their one line of JSON read from a pipe. */
#ifndef QN_REFERENCE_PROCESS_H
#define QN_REFERENCE_PROCESS_H

#include <jansson.h>
#include <stddef.h>

/* Run bench/<script> (bench/ is $QUENCH_BENCH_DIR, else the configured source tree) with args (NULL
 * terminated), OMP/OpenBLAS pools at `threads`, and parse its stdout as JSON. NULL with the reason
 * in why: python3 or the script missing, `module` not importable ("PACKAGE is not installed"), or
 * the last line the script wrote to stderr. */
json_t *qn_bench_run_reference(const char *script, const char *const *args, const char *threads, const char *module,
                               const char *package, char *why, size_t whylen);

#endif
