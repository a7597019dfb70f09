/* trial_runner.h: run trials in a child process, so that a trial that crashes its process or hangs
 * costs that trial only (docs/faults.md).
 *
 * Contract:
 *  - qn_runner_start() forks one long-lived child before the caller touches the device. The child
 *    probes the device, owns the CUDA context and the worker context (with its cached dataset) and
 *    runs one trial at a time for the parent, over a socketpair. The parent never initialises CUDA.
 *  - qn_runner_run() always ends with a result for the trial: the child's, or QN_TRIAL_FAILED with
 *    why (killed by a signal, exited, exceeded the trial's timeout, sent a malformed reply). After a
 *    death or a timeout the child is reaped and the next run starts a fresh one; on a CUDA device,
 *    after any failed trial too (a CUDA error may have left the context unusable).
 *  - The child never calls MPI, never outlives the thread that started it (PR_SET_PDEATHSIG, checked
 *    after the fork), ignores SIGINT, SIGTERM and SIGUSR1 (its parent decides when to stop), closes
 *    every inherited descriptor but stdio and its socket, and leaves by _exit: nothing the parent has
 *    open (MPI, the HDF5 results file) is touched by it.
 *  - The per-trial cost is one round trip on the socket; the parent's last checkpoint travels only
 *    when it differs from the one the child already holds.
 */
#ifndef QN_TRIAL_RUNNER_H
#define QN_TRIAL_RUNNER_H

#include <stddef.h>
#include <sys/types.h>

#include "protocol.h"
#include "qn_device.h"
#include "qn_gradsync.h"
#include "qn_worker.h"

/* In the child, its socket is always this descriptor (tests that garble replies write to it). */
#define QN_RUNNER_CHILD_FD 3

/* What the child runs. NULL to qn_runner_start means the trial engine (qn_trial_execute on the
 * device qn_device_probe picks for local_rank); tests substitute their own. */
typedef struct {
    /* Once per child, in the child: fill *dev; first is 1 for the first child (measure the device),
     * 0 for a respawn. Returns the state execute gets, or NULL to give up (the child exits). */
    void *(*init)(void *arg, int local_rank, int first, qn_device_profile *dev);
    /* In the child: run one trial into *out. Returns 0, or -1 with out->error set. */
    int (*execute)(void *state, const qn_trial_msg *m, const float *parent, size_t parent_len, qn_trial_result *out);
    void *arg;
} qn_runner_engine;

typedef struct qn_runner qn_runner;

/* Fork the child and wait for its device profile (*dev). Returns NULL with a one-line message. */
qn_runner *qn_runner_start(const qn_runner_engine *engine, int local_rank, qn_device_profile *dev, char *err,
                           size_t errlen);

/* Polled between slices of the wait (every few ms) while a trial runs: non-zero abandons the trial. */
typedef int (*qn_runner_stop_fn)(void *arg);

/* Run trial m (timeout m->timeout_s seconds, 0 = none) from parent weights (NULL when m->parent < 0).
 * Returns 0 with *out filled (done or failed), 1 when stop asked to abandon it (the child is killed;
 * *out is empty), 2 when no child could be started for it (the last one died and its replacement
 * cannot start: the worker is broken and the trial never ran; *out is failed with why), -1 when out
 * of memory. */
int qn_runner_run(qn_runner *r, const qn_trial_msg *m, const float *parent, size_t parent_len,
                  qn_runner_stop_fn stop, void *stop_arg, qn_trial_result *out);

/* The same for one member of a data-parallel trial (m->group_size > 1): the child trains its share
 * and asks for each host collective over the socket; the parent does it through relay (on the group's
 * MPI communicator) while it waits, and answers. A relay error fails the child's trial with that
 * message. The caller keeps the group's collectives going after the child is gone (the other members
 * may still be asking). */
int qn_runner_run_group(qn_runner *r, const qn_trial_msg *m, const float *parent, size_t parent_len,
                        qn_runner_stop_fn stop, void *stop_arg, const qn_gradsync_relay *relay, qn_trial_result *out);

/* After a trial that lost the child (it died, timed out, or failed on a GPU): start its replacement
 * now rather than at the next trial, so that the caller learns whether the worker can go on before it
 * reports the trial (docs/faults.md, "A worker whose device breaks"). 0 when a child runs (or was
 * running), 1 when stop asked, -1 when none can start (err: "could not restart the trial runner: ..."). */
int qn_runner_restart(qn_runner *r, qn_runner_stop_fn stop, void *stop_arg, char *err, size_t errlen);

/* After a trial that failed and took the child with it: start the next child now. When none can
 * start the device is gone, and may have taken the trial with it: res->error then names both ("could
 * not restart the trial runner: ... (after the trial failed: ...)") and 1 is returned; else 0. */
int qn_runner_recover(qn_runner *r, qn_runner_stop_fn stop, void *stop_arg, qn_trial_result *res);

/* Does this failed result point at the device rather than the trial: the child died on a GPU, or the
 * error is one of CUDA's that leave the context unusable (an illegal memory access, an uncorrectable
 * ECC error...)? */
int qn_runner_device_fault(const qn_runner *r, const qn_trial_result *res);

/* In the child (an engine's execute): the relay whose collectives the parent performs. */
void qn_runner_child_relay(qn_gradsync_relay *relay);

/* The child's pid, or -1 when none is running (it died, and the next run starts one). */
pid_t qn_runner_pid(const qn_runner *r);

/* Kill the child, reap it and free. NULL is fine. */
void qn_runner_free(qn_runner *r);

#endif
