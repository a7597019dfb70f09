/* qn_gradsync.h: the gradient synchroniser of a data-parallel trial (train.devices: k).
 *
 * Contract:
 *  - The k ranks of one trial share a communicator (the coordinator makes it with
 *    MPI_Comm_create_group); qn_gradsync_new is collective over it. With device >= 0 it also
 *    builds an NCCL communicator from it (rank 0 makes the unique id, MPI_Bcast sends it) for
 *    gradients that live on that GPU.
 *  - A step's gradient is the gradient of the GLOBAL batch's mean loss. Each rank's backward gives
 *    the gradient of its own shard's mean loss; qn_gradsync_allreduce multiplies it by
 *    weight = shard size / global batch size and sums over the ranks: sum_r (n_r/N) * g_r is the
 *    1-rank gradient for any split of the batch, unequal shards and empty ones (weight 0) included.
 *  - Every rank ends with the same buffer (bit for bit: float addition is commutative, and MPI and
 *    NCCL give every rank the one reduced value), so identical AdamW updates keep the replicas equal.
 *  - Results equal 1 rank's to float tolerance only: the sum runs in another order (docs/gradsync.md).
 *  - The host transport is MPI on the group's communicator, or a caller's relay: a process that may
 *    not call MPI itself (the worker's forked trial runner) asks its parent to do each sum and
 *    broadcast (qn_gradsync_new_relay). NCCL needs the host transport only to hand out its id.
 *  - Collective calls: every rank of the group must make the same calls in the same order.
 *  - Errors: 0, or -1 with a one-line message in err; nothing here exits.
 */
#ifndef QN_GRADSYNC_H
#define QN_GRADSYNC_H

#include <stddef.h>

#include <mpi.h>

typedef struct qn_gradsync qn_gradsync;

/* Collective over comm (which stays the caller's: it must outlive the synchroniser). device: the
 * CUDA device this rank trains on (an NCCL communicator is built for it), or -1 for the CPU backend.
 * NULL with a message (out of memory, NCCL missing or failing). */
qn_gradsync *qn_gradsync_new(MPI_Comm comm, int device, char *err, size_t errlen);
/* The host transport of a relay group: the same collectives as MPI_Allreduce(MPI_IN_PLACE, SUM)
 * and MPI_Bcast from rank 0 over the group, done by someone else. Each returns 0, or -1 with err. */
typedef struct {
    /* buf[0..n) <- its sum over the group's ranks: floats, or doubles when is_double */
    int (*sum)(void *arg, void *buf, size_t n, int is_double, char *err, size_t errlen);
    /* buf[0..bytes) <- rank 0's bytes */
    int (*bcast)(void *arg, void *buf, size_t bytes, char *err, size_t errlen);
    void *arg;
} qn_gradsync_relay;
/* The same synchroniser as rank `rank` of `size` over relay (copied), collective over the group in
 * the same way; device as for qn_gradsync_new (the NCCL id travels by relay->bcast). */
qn_gradsync *qn_gradsync_new_relay(int rank, int size, const qn_gradsync_relay *relay, int device, char *err,
                                   size_t errlen);
/* Collective when an NCCL communicator exists. NULL is allowed. */
void qn_gradsync_free(qn_gradsync *g);

int qn_gradsync_rank(const qn_gradsync *g);
int qn_gradsync_size(const qn_gradsync *g);
/* Whether device buffers can be reduced (an NCCL communicator was built). */
int qn_gradsync_has_device(const qn_gradsync *g);

/* Host gradients: grads[0..n) <- sum over ranks of weight * grads (MPI_Allreduce, in place). */
int qn_gradsync_allreduce(qn_gradsync *g, float *grads, size_t n, double weight, char *err, size_t errlen);
/* Device gradients (a pointer on this rank's GPU): the same with ncclAllReduce (a pre-multiplied sum)
 * on the trainer's stream (the default stream, where kernels/cuda queues every kernel). */
int qn_gradsync_allreduce_device(qn_gradsync *g, float *grads, size_t n, double weight, char *err, size_t errlen);
/* Small host sums the trainer needs beside the gradients (the step's loss, eval counts):
 * v[0..n) <- sum over ranks, in double. */
int qn_gradsync_sum(qn_gradsync *g, double *v, int n, char *err, size_t errlen);

#endif
