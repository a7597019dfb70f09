/* protocol.h: the MPI messages between the coordinator (rank 0) and the workers.
 *
 *   worker -> coordinator  HELLO   qn_device_profile (bytes)
 *   coordinator -> worker  CKPT    int64 trial id, then the float32 parameter buffer (bytes); sent
 *                                  before a TRIAL whose parent the worker does not have cached
 *   coordinator -> worker  TRIAL   qn_trial_msg (bytes); a data-parallel trial (train.devices: k) goes
 *                                  to each of its k workers at once, with the worker's place in the group
 *   worker -> coordinator  BROKEN  a one-line reason (text): instead of HELLO, when the worker's trial
 *                                  runner cannot start (its device is gone); it then only waits for STOP
 *   worker -> coordinator  RESULT  a packed qn_trial_result (qn_result_pack_flags), with QN_RESULT_* flags
 *   worker -> coordinator  RESULT_CKPT  float32 parameters, right after RESULT when asked for
 *   coordinator -> worker  STOP    empty
 * All ranks run the same binary, so plain structs travel as bytes.
 */
#ifndef QN_PROTOCOL_H
#define QN_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include "qn_job.h"
#include "qn_worker.h"

enum { QN_TAG_HELLO = 11, QN_TAG_CKPT, QN_TAG_TRIAL, QN_TAG_RESULT, QN_TAG_RESULT_CKPT, QN_TAG_STOP, QN_TAG_BROKEN };

/* The most workers one data-parallel trial trains on. */
#define QN_MAX_GROUP 64

typedef struct {
    int64_t id;
    int64_t parent;         /* -1: start from a fresh initialisation */
    uint64_t data_seed, trial_seed;
    int32_t stage, nsteps, want_checkpoint, reserved;
    double timeout_s;       /* the stage's trial_timeout; 0: none */
    /* The trial's data-parallel group: group_size workers (world ranks group_ranks, the leader first;
     * its result is the trial's), this one at group_rank. 1 (or 0): the worker trains alone. */
    int32_t group_size, group_rank;
    int32_t group_ranks[QN_MAX_GROUP];
    int32_t steps[QN_MAX_STEPS];
    qn_trial_config cfg;
} qn_trial_msg;

/* The bytes of m that a TRIAL message carries: all but the unused layer overrides at the end, so
 * that the message stays under Open MPI's eager limit and a send does not wait for the worker. */
static inline size_t qn_trial_msg_len(const qn_trial_msg *m) {
    int n = m->cfg.nlayers < 0 ? 0 : m->cfg.nlayers > QN_MAX_LAYER_OVERRIDES ? QN_MAX_LAYER_OVERRIDES : m->cfg.nlayers;
    return offsetof(qn_trial_msg, cfg.layers) + (size_t)n * sizeof(qn_layer_override);
}

/* What a worker says about a result besides the trial's own outcome (docs/faults.md, "A worker whose
 * device breaks"):
 *  WORKER_BROKEN  the worker's trial runner cannot start again: the worker is out of service, and the
 *                 trial's failure is not the trial's (it goes to another worker);
 *  DEVICE_FAULT   the trial failed in a way that points at the device (its runner died on a GPU, or a
 *                 fatal CUDA error); the coordinator retires a worker after a streak of these. */
enum { QN_RESULT_WORKER_BROKEN = 1, QN_RESULT_DEVICE_FAULT = 2 };

/* Pack a result into one malloc'd buffer (*len bytes). Returns NULL when out of memory. */
void *qn_result_pack(int64_t id, const qn_trial_result *r, size_t *len);
void *qn_result_pack_flags(int64_t id, const qn_trial_result *r, uint32_t flags, size_t *len);
/* Unpack into *r (curves are malloc'd: free with qn_trial_result_free). Returns 0, or -1 if malformed. */
int qn_result_unpack(const void *buf, size_t len, int64_t *id, qn_trial_result *r);
/* The same, with the QN_RESULT_* flags (flags may be NULL). */
int qn_result_unpack_flags(const void *buf, size_t len, int64_t *id, qn_trial_result *r, uint32_t *flags);

#endif
