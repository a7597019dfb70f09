/* debug_fault.c: injected delays and crashes, for testing how the runtime survives them. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

static int world_rank(void) {
    const char *names[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

int qn_debug_rank_listed(const char *var) {
    const char *v = getenv(var);
    if (!v || !*v) return 0;
    int me = world_rank();
    for (const char *p = v; *p;) {
        char *end;
        long r = strtol(p, &end, 10);
        if (end == p) return 0; /* not a list of ranks: the hook is off */
        int start = strncmp(end, ":start", 6) == 0;
        if (start) end += 6;
        if (r == me) return start ? 2 : 1;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return 0;
    }
    return 0;
}
