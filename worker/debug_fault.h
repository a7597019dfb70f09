/* debug_fault.h: the job's debug: section acted out inside a trial (docs/jobs.md, "debug"), and the
 * test hooks that break a whole worker rank (docs/faults.md, "Test hooks"). */
#ifndef QN_DEBUG_FAULT_H
#define QN_DEBUG_FAULT_H

#include "qn_job.h"

/* At the start of a trial's first step: sleep debug.sleep_ms, then fire debug.fault when it is
 * segv (a real invalid write), abort or hang (never returns). nan is the caller's: it poisons the
 * training loss so that the ordinary NaN detection reports the trial. */
void qn_debug_first_step(const qn_debug_cfg *d);

/* Worker-rank test hooks: each variable holds world ranks, comma-separated.
 *  QUENCH_DEBUG_BROKEN_RANK        the device goes away at the rank's first trial: that trial's runner
 *                                  child dies (SIGBUS) and no runner can start there again
 *                                  ("...:start": not even the first, so the rank never gets a device);
 *  QUENCH_DEBUG_DEVICE_ERROR_RANK  every trial there fails with a simulated fatal CUDA error;
 *  QUENCH_DEBUG_SILENT_RANK        the rank never says hello to the coordinator. */
#define QN_DEBUG_BROKEN_RANK "QUENCH_DEBUG_BROKEN_RANK"
#define QN_DEBUG_DEVICE_ERROR_RANK "QUENCH_DEBUG_DEVICE_ERROR_RANK"
#define QN_DEBUG_SILENT_RANK "QUENCH_DEBUG_SILENT_RANK"

/* Does variable `var` list this process's MPI world rank (from the launcher's environment, so that a
 * forked child that never calls MPI knows it too)? 1 listed, 2 listed with the suffix ":start", 0 not. */
int qn_debug_rank_listed(const char *var);

/* The simulated fatal CUDA error's message (QUENCH_DEBUG_DEVICE_ERROR_RANK): the text CUDA gives for
 * an error that leaves the context unusable. */
#define QN_DEBUG_CUDA_ERROR "simulated CUDA error (" QN_DEBUG_DEVICE_ERROR_RANK "): an illegal memory access was encountered"

#endif
