/* bench_clock.h: the one clock every benchmark times with (monotonic seconds). */
#ifndef QN_BENCH_CLOCK_H
#define QN_BENCH_CLOCK_H

#include <time.h>

static inline double qn_bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
