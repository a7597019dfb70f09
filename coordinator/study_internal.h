/* study_internal.h: the worker side of the coordinator's protocol (ranks 1..N-1). */
#ifndef QN_STUDY_INTERNAL_H
#define QN_STUDY_INTERNAL_H

#include <signal.h>

/* Announce this rank's device, then run trials until the coordinator says stop. Returns the exit code. */
int qn_worker_loop(volatile sig_atomic_t *signal_flag);

#endif
