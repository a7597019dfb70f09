/* group_link.c: a data-parallel trial's communicator in the worker process, and the collectives its
 * trial runner child asks for (group_link.h says how a member that is gone is handled). */
#include "group_link.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

enum { OP_SUM_FLOAT = 1, OP_SUM_DOUBLE, OP_BCAST };

/* Wait for a nonblocking collective, sleeping between tests (fast at first, then up to 1 ms). */
static int wait_request(MPI_Request *req) {
    long sleep_ns = 2000;
    for (;;) {
        int done = 0;
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return -1;
        if (done) return 0;
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 1000000) sleep_ns *= 2;
    }
}

typedef struct {
    int some_gone, some_live, gone_rank;
    int agree;        /* the live members ask for the same collective */
    int64_t op, n;
} header;

/* The header all-reduce: what this member is about to do (op, n), or that it is gone. */
static int exchange_header(qn_group_link *g, int64_t op, int64_t n, header *out) {
    int world = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    int64_t h[7] = {g->gone, !g->gone, g->gone ? INT64_MIN : op, g->gone ? INT64_MIN : -op,
                    g->gone ? INT64_MIN : n, g->gone ? INT64_MIN : -n, g->gone ? world : -1};
    MPI_Request req;
    if (MPI_Iallreduce(MPI_IN_PLACE, h, 7, MPI_INT64_T, MPI_MAX, g->comm, &req) != MPI_SUCCESS || wait_request(&req))
        return -1;
    out->some_gone = h[0] != 0;
    out->some_live = h[1] != 0;
    out->agree = h[2] == -h[3] && h[4] == -h[5];
    out->op = h[2];
    out->n = h[4];
    out->gone_rank = (int)h[6];
    return 0;
}

/* Before a collective: 0 when every member asks for this one, else -1 with why. */
static int agree(qn_group_link *g, int64_t op, int64_t n, char *err, size_t errlen) {
    header h;
    if (exchange_header(g, op, n, &h) != 0) {
        snprintf(err, errlen, "the data-parallel group's MPI communication failed");
        return -1;
    }
    if (h.some_gone) {
        snprintf(err, errlen, "worker rank %d of the trial's data-parallel group stopped (its trial crashed, timed "
                 "out or failed)", h.gone_rank);
        return -1;
    }
    if (!h.agree) {
        snprintf(err, errlen, "the workers of the trial's data-parallel group went out of step");
        return -1;
    }
    if (n > INT_MAX) {
        snprintf(err, errlen, "a collective of %lld values is too large for MPI", (long long)n);
        return -1;
    }
    return 0;
}

static int group_sum(void *arg, void *buf, size_t n, int is_double, char *err, size_t errlen) {
    qn_group_link *g = arg;
    if (agree(g, is_double ? OP_SUM_DOUBLE : OP_SUM_FLOAT, (int64_t)n, err, errlen) != 0) return -1;
    MPI_Request req;
    if (MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, is_double ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, g->comm, &req) !=
            MPI_SUCCESS ||
        wait_request(&req) != 0) {
        snprintf(err, errlen, "the data-parallel group's all-reduce failed");
        return -1;
    }
    return 0;
}

static int group_bcast(void *arg, void *buf, size_t bytes, char *err, size_t errlen) {
    qn_group_link *g = arg;
    if (agree(g, OP_BCAST, (int64_t)bytes, err, errlen) != 0) return -1;
    MPI_Request req;
    if (MPI_Ibcast(buf, (int)bytes, MPI_BYTE, 0, g->comm, &req) != MPI_SUCCESS || wait_request(&req) != 0) {
        snprintf(err, errlen, "the data-parallel group's broadcast failed");
        return -1;
    }
    return 0;
}

int qn_group_open(qn_group_link *g, const qn_trial_msg *m, char *err, size_t errlen) {
    g->comm = MPI_COMM_NULL;
    g->gone = 0;
    g->size = m->group_size;
    g->rank = m->group_rank;
    if (m->group_size < 2 || m->group_size > QN_MAX_GROUP || m->group_rank < 0 || m->group_rank >= m->group_size) {
        snprintf(err, errlen, "internal error: a data-parallel group of %d with this worker at %d", m->group_size,
                 m->group_rank);
        return -1;
    }
    MPI_Group world, group;
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    int rc = MPI_Group_incl(world, m->group_size, m->group_ranks, &group);
    MPI_Group_free(&world);
    if (rc != MPI_SUCCESS) {
        snprintf(err, errlen, "internal error: the data-parallel group's ranks are not valid");
        return -1;
    }
    /* The groups of trials running at once are disjoint; the tag only has to be the same on every
     * member (and within the guaranteed tag range). */
    rc = MPI_Comm_create_group(MPI_COMM_WORLD, group, (int)(m->id % 32768), &g->comm);
    MPI_Group_free(&group);
    if (rc != MPI_SUCCESS || g->comm == MPI_COMM_NULL) {
        snprintf(err, errlen, "could not create the data-parallel group's communicator");
        g->comm = MPI_COMM_NULL;
        return -1;
    }
    return 0;
}

void qn_group_relay(qn_group_link *g, qn_gradsync_relay *relay) {
    relay->sum = group_sum;
    relay->bcast = group_bcast;
    relay->arg = g;
}

void qn_group_close(qn_group_link *g) {
    if (g->comm == MPI_COMM_NULL) return;
    g->gone = 1;
    for (;;) {
        header h;
        if (exchange_header(g, 0, 0, &h) != 0 || !h.some_live) break;
    }
    MPI_Comm_free(&g->comm);
}
