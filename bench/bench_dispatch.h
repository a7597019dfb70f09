/* bench_dispatch.h: quench bench dispatch (null trials through mpirun: the runtime's own speed). */
#ifndef QN_BENCH_DISPATCH_H
#define QN_BENCH_DISPATCH_H

#include <stdio.h>

/* Trials per second of `ranks` MPI ranks (one coordinator, ranks - 1 workers) running null trials,
 * results file included, over the dispatch phase only. keep: a path to keep the timed run's results
 * file at, or NULL. Returns 0, 1 (a run failed) or 2 (keep exists). */
int qn_bench_dispatch(int ranks, long trials, const char *keep, int json, FILE *out);

#endif
