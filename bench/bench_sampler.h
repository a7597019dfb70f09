/* bench_sampler.h: quench bench sampler (its own header: bench.h belongs to the speed benchmarks). */
#ifndef QN_BENCH_SAMPLER_H
#define QN_BENCH_SAMPLER_H

#include <stdio.h>

/* Best-so-far regret (median and mean over `seeds` seeds at 10/25/50/100/200 trials) and ms per
 * suggestion of a sampler (tpe, random, grid) on a synthetic function, against Optuna running the
 * same study (bench/optuna_sampler_ref.py) in the same run. Returns 0, 1 or 2 (unknown name). */
int qn_bench_sampler(const char *function, const char *sampler, int trials, int seeds, int json, FILE *out);

#endif
