/* bench_median.h: the median the benchmarks report (of decode steps, of seeds' regrets): robust to
 * the runs another process on a shared machine disturbed. */
#ifndef QN_BENCH_MEDIAN_H
#define QN_BENCH_MEDIAN_H

#include <stddef.h>

/* The median of v[0..n) (n >= 1), the mean of the middle two for even n; sorts v. */
double qn_bench_median(double *v, size_t n);

#endif
