/* worker_loop.c: a worker rank. Announces its device, then receives trials (and the parent
 * checkpoints they start from, cached), runs them in its trial runner child (so a crash or a hang
 * costs the trial, not the rank: docs/faults.md) and sends the results back, until STOP. For a
 * data-parallel trial it also does the group's collectives its child asks for (group_link.h). A
 * worker whose runner cannot start (its device is gone) says so, with its result or instead of its
 * hello, and then only waits for STOP: the coordinator retires it. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "group_link.h"
#include "protocol.h"
#include "../worker/debug_fault.h"
#include "qn_device.h"
#include "qn_worker.h"
#include "study_internal.h"
#include "transport.h"
#include "trial_runner.h"

#define CACHE 4

typedef struct {
    int64_t id;
    float *buf;
    size_t len;
} cached_ckpt;

static int local_rank(void) {
    const char *v = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!v) v = getenv("SLURM_LOCALID");
    return v ? atoi(v) : 0;
}

/* While a trial runs: has the coordinator said STOP (it does at the end of a signal's grace period)? */
static int stop_sent(void *arg) {
    (void)arg;
    int flag = 0;
    MPI_Iprobe(0, QN_TAG_STOP, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    return flag;
}

/* A broken worker: out of service until STOP (trials sent before the coordinator heard are dropped:
 * it requeues them). Returns 0, or 1 when MPI fails. */
static int wait_for_stop(void) {
    for (;;) {
        int source, tag;
        qn_wait_message(0, &source, &tag, NULL);
        MPI_Status status;
        int count = 0;
        MPI_Probe(0, tag, MPI_COMM_WORLD, &status);
        MPI_Get_count(&status, MPI_BYTE, &count);
        char *buf = malloc(count > 0 ? (size_t)count : 1);
        if (!buf || MPI_Recv(buf, count, MPI_BYTE, 0, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            free(buf);
            return 1;
        }
        free(buf);
        if (tag == QN_TAG_STOP) return 0;
    }
}

/* Test hook (docs/faults.md): a rank that never says hello (as one whose device probe hangs), until
 * the coordinator's STOP or a signal (mpirun ends it when the coordinator gives up on the run). */
static int stay_silent(volatile sig_atomic_t *signal_flag) {
    while (!*signal_flag) {
        if (stop_sent(NULL)) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, QN_TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            return 0;
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    return 1;
}

int qn_worker_loop(volatile sig_atomic_t *signal_flag) {
    /* a worker finishes its trial; the coordinator decides when to stop */
    if (qn_debug_rank_listed(QN_DEBUG_SILENT_RANK)) return stay_silent(signal_flag);
    /* The child probes the device and owns it: this process never initialises CUDA. */
    qn_device_profile dev;
    char err[QN_ERR_LEN];
    qn_runner *runner = qn_runner_start(NULL, local_rank(), &dev, err, sizeof err);
    if (!runner) { /* no device for this worker: the coordinator retires it and the others go on */
        int rank = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        fprintf(stderr, "quench: worker rank %d: %s\n", rank, err);
        char msg[QN_ERR_LEN + 256] = "";
        gethostname(msg, 255); /* "hostname\0why\0": the coordinator's line names both */
        size_t host = strlen(msg) + 1;
        snprintf(msg + host, sizeof msg - host, "its trial runner could not start: %s", err);
        if (qn_send_bytes(msg, host + strlen(msg + host) + 1, 0, QN_TAG_BROKEN) != 0) return 1;
        return wait_for_stop();
    }
    if (qn_send_bytes(&dev, sizeof dev, 0, QN_TAG_HELLO) != 0) {
        qn_runner_free(runner);
        return 1;
    }
    cached_ckpt cache[CACHE];
    memset(cache, 0, sizeof cache);
    int next_slot = 0, rc = 0, broken = 0;
    for (;;) {
        int source, tag;
        qn_wait_message(0, &source, &tag, NULL);
        if (tag == QN_TAG_STOP) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, QN_TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            break;
        }
        if (tag == QN_TAG_CKPT) {
            int64_t hdr[2];
            if (qn_recv_bytes(hdr, sizeof hdr, 0, QN_TAG_CKPT) != 0) { rc = 1; break; }
            cached_ckpt *c = &cache[next_slot];
            next_slot = (next_slot + 1) % CACHE;
            free(c->buf);
            c->id = hdr[0];
            c->len = (size_t)hdr[1];
            c->buf = malloc(c->len * sizeof(float) + 1);
            if (!c->buf || qn_recv_bytes(c->buf, c->len * sizeof(float), 0, QN_TAG_CKPT) != 0) { rc = 1; break; }
            continue;
        }
        if (tag != QN_TAG_TRIAL) {
            fprintf(stderr, "quench: worker: unexpected message (tag %d)\n", tag);
            rc = 1;
            break;
        }
        qn_trial_msg m;
        if (qn_recv_bytes(&m, sizeof m, 0, QN_TAG_TRIAL) != 0) { rc = 1; break; }
        const float *parent = NULL;
        size_t parent_len = 0;
        qn_trial_result r;
        memset(&r, 0, sizeof r);
        int have_parent = m.parent < 0;
        for (int i = 0; i < CACHE && !have_parent; i++)
            if (cache[i].buf && cache[i].id == m.parent) {
                parent = cache[i].buf;
                parent_len = cache[i].len;
                have_parent = 1;
            }
        /* A data-parallel trial (docs/gradsync.md): this worker's child trains its share and this
         * process does the group's collectives; however the trial ends here, the group is closed, so
         * the other members fail at their next collective instead of waiting. */
        int grouped = m.group_size > 1, linked = 0;
        qn_group_link link;
        if (grouped) {
            if (qn_group_open(&link, &m, err, sizeof err) == 0) {
                linked = 1;
            } else {
                r.status = QN_TRIAL_FAILED;
                snprintf(r.error, sizeof r.error, "%s", err);
            }
        }
        if (grouped && !linked) {
            /* failed above */
        } else if (!have_parent) {
            r.status = QN_TRIAL_FAILED;
            snprintf(r.error, sizeof r.error, "worker did not receive the checkpoint of parent trial %lld", (long long)m.parent);
        } else {
            qn_gradsync_relay relay;
            if (linked) qn_group_relay(&link, &relay);
            int ran = qn_runner_run_group(runner, &m, parent, parent_len, stop_sent, NULL, linked ? &relay : NULL, &r);
            if (ran != 0 && linked) qn_group_close(&link);
            if (ran == 1) { /* STOP while busy: the trial is abandoned (it stays unrecorded) */
                MPI_Recv(NULL, 0, MPI_BYTE, 0, QN_TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                break;
            }
            if (ran == 2) broken = 1; /* no runner could start: the trial never ran */
            else if (ran != 0) { rc = 1; break; }
        }
        if (linked) qn_group_close(&link);
        uint32_t flags = 0;
        if (!broken && r.status == QN_TRIAL_FAILED) {
            if (qn_runner_device_fault(runner, &r)) flags |= QN_RESULT_DEVICE_FAULT;
            /* The trial lost the child and no new one can start: the trial goes to another worker. */
            if (qn_runner_recover(runner, stop_sent, NULL, &r)) broken = 1;
        }
        if (broken) {
            flags |= QN_RESULT_WORKER_BROKEN;
            free(r.checkpoint); /* the trial's outcome does not count */
            r.checkpoint = NULL;
            r.checkpoint_len = 0;
        }
        if (grouped && m.group_rank != 0) { /* only the leader's result is recorded: keep the weights home */
            free(r.checkpoint);
            r.checkpoint = NULL;
            r.checkpoint_len = 0;
        }
        size_t len = 0;
        void *buf = qn_result_pack_flags(m.id, &r, flags, &len);
        if (!buf) { rc = 1; qn_trial_result_free(&r); break; }
        int bad = qn_send_bytes(buf, len, 0, QN_TAG_RESULT);
        free(buf);
        if (!bad && r.checkpoint && r.checkpoint_len)
            bad = qn_send_bytes(r.checkpoint, r.checkpoint_len * sizeof(float), 0, QN_TAG_RESULT_CKPT);
        qn_trial_result_free(&r);
        if (bad) { rc = 1; break; }
        if (broken) { /* out of service: the coordinator sends no more trials, only STOP */
            rc = wait_for_stop();
            break;
        }
    }
    for (int i = 0; i < CACHE; i++) free(cache[i].buf);
    qn_runner_free(runner);
    return rc;
}
