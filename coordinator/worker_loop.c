/* worker_loop.c: a worker rank. Announces its device, then receives trials (and the parent
 * checkpoints they start from, cached), runs them and sends the results back, until STOP. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "qn_device.h"
#include "qn_worker.h"
#include "study_internal.h"
#include "transport.h"

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

int qn_worker_loop(volatile sig_atomic_t *signal_flag) {
    (void)signal_flag; /* a worker finishes its trial; the coordinator decides when to stop */
    qn_device_profile dev;
    qn_device_probe(local_rank(), 1, &dev);
    if (qn_send_bytes(&dev, sizeof dev, 0, QN_TAG_HELLO) != 0) return 1;

    qn_worker_ctx *ctx = qn_worker_ctx_new();
    if (!ctx) return 1;
    if (!strcmp(dev.kind, "cuda")) qn_worker_ctx_use_gpu(ctx, dev.device_index);
    cached_ckpt cache[CACHE];
    memset(cache, 0, sizeof cache);
    int next_slot = 0, rc = 0;
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
        if (!have_parent) {
            r.status = QN_TRIAL_FAILED;
            snprintf(r.error, sizeof r.error, "worker did not receive the checkpoint of parent trial %lld", (long long)m.parent);
        } else {
            qn_step steps[QN_MAX_STEPS];
            for (int i = 0; i < m.nsteps && i < QN_MAX_STEPS; i++) steps[i] = (qn_step)m.steps[i];
            if (qn_trial_execute(ctx, &m.cfg, steps, m.nsteps, m.data_seed, m.trial_seed, parent, parent_len,
                                 m.want_checkpoint, &r) != 0 && r.error[0] == 0)
                snprintf(r.error, sizeof r.error, "internal error in the trial engine");
        }
        size_t len = 0;
        void *buf = qn_result_pack(m.id, &r, &len);
        if (!buf) { rc = 1; qn_trial_result_free(&r); break; }
        int bad = qn_send_bytes(buf, len, 0, QN_TAG_RESULT);
        free(buf);
        if (!bad && r.checkpoint && r.checkpoint_len)
            bad = qn_send_bytes(r.checkpoint, r.checkpoint_len * sizeof(float), 0, QN_TAG_RESULT_CKPT);
        qn_trial_result_free(&r);
        if (bad) { rc = 1; break; }
    }
    for (int i = 0; i < CACHE; i++) free(cache[i].buf);
    qn_worker_ctx_free(ctx);
    return rc;
}
