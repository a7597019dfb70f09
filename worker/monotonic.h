/* monotonic.h: the one clock the worker times trials and steps with (monotonic seconds). */
#ifndef QN_MONOTONIC_H
#define QN_MONOTONIC_H

#include <time.h>

static inline double qn_monotonic_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
