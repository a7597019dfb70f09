/* debug_fault.h: the job's debug: section acted out inside a trial (docs/jobs.md, "debug"). */
#ifndef QN_DEBUG_FAULT_H
#define QN_DEBUG_FAULT_H

#include "qn_job.h"

/* At the start of a trial's first step: sleep debug.sleep_ms, then fire debug.fault when it is
 * segv (a real invalid write), abort or hang (never returns). nan is the caller's: it poisons the
 * training loss so that the ordinary NaN detection reports the trial. */
void qn_debug_first_step(const qn_debug_cfg *d);

#endif
