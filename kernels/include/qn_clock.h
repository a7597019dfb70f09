/* qn_clock.h: the one clock every module times with: monotonic seconds for durations, unix seconds
 * for the timestamps users read. */
#ifndef QN_CLOCK_H
#define QN_CLOCK_H

#include <time.h>

static inline double qn_clock_monotonic_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double qn_clock_wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
