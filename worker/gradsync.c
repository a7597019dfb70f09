/* gradsync.c: one all-reduce of the gradient buffer per step, MPI (or a caller's relay) for host
 * buffers and NCCL for device ones (see qn_gradsync.h; the design and its tolerance are in
 * docs/gradsync.md). */
#include "qn_gradsync.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef QUENCH_HAVE_CUDA
#include <cuda_runtime.h>
#include <nccl.h>
#endif

struct qn_gradsync {
    qn_gradsync_relay relay; /* the host transport: MPI on comm, or the caller's */
    MPI_Comm comm;           /* MPI_COMM_NULL with a caller's relay */
    int rank, size;
    int device; /* -1: no NCCL communicator */
#ifdef QUENCH_HAVE_CUDA
    ncclComm_t nccl;
#endif
};

/* ---------------------------------------------------------------- the MPI transport */

/* MPI counts are ints: big buffers go in pieces below INT_MAX. */
#define MPI_CHUNK ((size_t)1 << 30)

static int mpi_failed(int rc, const char *what, char *err, size_t errlen) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    snprintf(err, errlen, "%s failed: %s", what, msg);
    return -1;
}

static int mpi_sum(void *arg, void *buf, size_t n, int is_double, char *err, size_t errlen) {
    qn_gradsync *g = arg;
    size_t elem = is_double ? sizeof(double) : sizeof(float);
    for (size_t off = 0; off < n; off += MPI_CHUNK) {
        size_t len = n - off < MPI_CHUNK ? n - off : MPI_CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * elem, (int)len, is_double ? MPI_DOUBLE : MPI_FLOAT,
                               MPI_SUM, g->comm);
        if (rc != MPI_SUCCESS) return mpi_failed(rc, "MPI_Allreduce", err, errlen);
    }
    return 0;
}

static int mpi_bcast(void *arg, void *buf, size_t bytes, char *err, size_t errlen) {
    qn_gradsync *g = arg;
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, g->comm);
    return rc == MPI_SUCCESS ? 0 : mpi_failed(rc, "MPI_Bcast", err, errlen);
}

/* ---------------------------------------------------------------- NCCL */

#ifdef QUENCH_HAVE_CUDA
#define NCCL_TRY(call, what)                                                                       \
    do {                                                                                           \
        ncclResult_t qn_r_ = (call);                                                               \
        if (qn_r_ != ncclSuccess) {                                                                \
            snprintf(err, errlen, "%s failed: %s", what, ncclGetErrorString(qn_r_));               \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

/* Rank 0 makes the id, the host transport hands it to the others, each joins on its GPU. */
static int nccl_start(qn_gradsync *g, char *err, size_t errlen) {
    cudaError_t ce = cudaSetDevice(g->device);
    if (ce != cudaSuccess) {
        snprintf(err, errlen, "cudaSetDevice(%d) failed: %s", g->device, cudaGetErrorString(ce));
        return -1;
    }
    ncclUniqueId id;
    if (g->rank == 0) NCCL_TRY(ncclGetUniqueId(&id), "ncclGetUniqueId");
    if (g->relay.bcast(g->relay.arg, &id, sizeof id, err, errlen) != 0) return -1;
    NCCL_TRY(ncclCommInitRank(&g->nccl, g->size, id, g->rank), "ncclCommInitRank");
    return 0;
}
#endif

/* ---------------------------------------------------------------- the synchroniser */

static qn_gradsync *start(qn_gradsync *g, int device, char *err, size_t errlen) {
    g->device = -1;
    if (device < 0) return g;
#ifdef QUENCH_HAVE_CUDA
    g->device = device;
    if (nccl_start(g, err, errlen) == 0) return g;
#else
    snprintf(err, errlen, "quench was built without CUDA: no NCCL for device %d", device);
#endif
    free(g);
    return NULL;
}

qn_gradsync *qn_gradsync_new(MPI_Comm comm, int device, char *err, size_t errlen) {
    qn_gradsync *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory making the gradient synchroniser");
        return NULL;
    }
    g->comm = comm;
    g->relay = (qn_gradsync_relay){mpi_sum, mpi_bcast, g};
    MPI_Comm_rank(comm, &g->rank);
    MPI_Comm_size(comm, &g->size);
    return start(g, device, err, errlen);
}

qn_gradsync *qn_gradsync_new_relay(int rank, int size, const qn_gradsync_relay *relay, int device, char *err,
                                   size_t errlen) {
    if (rank < 0 || size < 1 || rank >= size || !relay || !relay->sum || !relay->bcast) {
        snprintf(err, errlen, "bad gradient relay (rank %d of %d)", rank, size);
        return NULL;
    }
    qn_gradsync *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory making the gradient synchroniser");
        return NULL;
    }
    g->comm = MPI_COMM_NULL;
    g->relay = *relay;
    g->rank = rank, g->size = size;
    return start(g, device, err, errlen);
}

void qn_gradsync_free(qn_gradsync *g) {
    if (!g) return;
#ifdef QUENCH_HAVE_CUDA
    if (g->device >= 0) ncclCommDestroy(g->nccl);
#endif
    free(g);
}

int qn_gradsync_rank(const qn_gradsync *g) { return g->rank; }
int qn_gradsync_size(const qn_gradsync *g) { return g->size; }
int qn_gradsync_has_device(const qn_gradsync *g) { return g->device >= 0; }

int qn_gradsync_allreduce(qn_gradsync *g, float *grads, size_t n, double weight, char *err, size_t errlen) {
    /* weight before the sum (not a division by k after it): shards of unequal size still give the
     * global batch's mean gradient. An empty shard (weight 0) contributes exact zeros. */
    float w = (float)weight;
    if (weight == 0.0)
        for (size_t i = 0; i < n; i++) grads[i] = 0.0f;
    else if (weight != 1.0)
        for (size_t i = 0; i < n; i++) grads[i] *= w;
    return g->relay.sum(g->relay.arg, grads, n, 0, err, errlen);
}

int qn_gradsync_allreduce_device(qn_gradsync *g, float *grads, size_t n, double weight, char *err, size_t errlen) {
#ifdef QUENCH_HAVE_CUDA
    if (g->device < 0) {
        snprintf(err, errlen, "device gradients but no NCCL communicator (the group was made for the CPU)");
        return -1;
    }
    /* NCCL multiplies each rank's input by its own scalar before summing: one pass, no extra kernel.
     * Stream 0: kernels/cuda queues every kernel on the default stream, so this waits for the
     * backward and AdamW (queued next) waits for it. */
    float w = (float)weight;
    ncclRedOp_t op;
    NCCL_TRY(ncclRedOpCreatePreMulSum(&op, &w, ncclFloat, ncclScalarHostImmediate, g->nccl), "ncclRedOpCreatePreMulSum");
    ncclResult_t r = ncclAllReduce(grads, grads, n, ncclFloat, op, g->nccl, 0);
    ncclRedOpDestroy(op, g->nccl);
    if (r != ncclSuccess) {
        snprintf(err, errlen, "ncclAllReduce of the gradients failed: %s", ncclGetErrorString(r));
        return -1;
    }
    return 0;
#else
    (void)g, (void)grads, (void)n, (void)weight;
    snprintf(err, errlen, "quench was built without CUDA: no device gradients to reduce");
    return -1;
#endif
}

int qn_gradsync_sum(qn_gradsync *g, double *v, int n, char *err, size_t errlen) {
    return g->relay.sum(g->relay.arg, v, (size_t)n, 1, err, errlen);
}
