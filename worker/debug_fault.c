/* debug_fault.c: injected delays and crashes, for testing how the runtime survives them. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "debug_fault.h"

static void sleep_ms(double ms) {
    struct timespec left = {(time_t)(ms / 1000.0), (long)((ms - 1000.0 * (double)(time_t)(ms / 1000.0)) * 1e6)};
    /* a handled signal (a graceful stop) must not cut the simulated work short */
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

void qn_debug_first_step(const qn_debug_cfg *d) {
    if (d->sleep_ms > 0) sleep_ms(d->sleep_ms);
    switch (qn_fault_of(d->fault)) {
    case QN_FAULT_SEGV: {
        /* a volatile pointer to volatile memory: the compiler can neither prove it NULL (and emit a
         * trap instead) nor drop the store as unobservable */
        volatile int *volatile target = NULL;
        *target = 1;
        raise(SIGSEGV); /* not reached where page 0 is unmapped */
        break;
    }
    case QN_FAULT_ABORT:
        abort();
    case QN_FAULT_HANG:
        for (;;) pause();
    case QN_FAULT_NONE:
    case QN_FAULT_NAN:
        break;
    }
}
