/* transport.c: chunked MPI sends and receives, and a polling wait (Open MPI's blocking calls
 * busy-poll; an idle rank must not take a core from a busy one). */
#include "transport.h"

#include <mpi.h>
#include <time.h>

#define CHUNK ((size_t)1 << 30)

int qn_send_bytes(const void *buf, size_t len, int dest, int tag) {
    const char *p = buf;
    do {
        size_t n = len < CHUNK ? len : CHUNK;
        if (MPI_Send(p, (int)n, MPI_BYTE, dest, tag, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
        p += n;
        len -= n;
    } while (len > 0);
    return 0;
}

int qn_recv_bytes(void *buf, size_t len, int source, int tag) {
    char *p = buf;
    do {
        size_t n = len < CHUNK ? len : CHUNK;
        if (MPI_Recv(p, (int)n, MPI_BYTE, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) return -1;
        p += n;
        len -= n;
    } while (len > 0);
    return 0;
}

int qn_wait_message(int source, int *out_source, int *out_tag, volatile sig_atomic_t *stop_flag) {
    /* Poll fast at first (a reply is often immediate), then back off to 1 ms. */
    long sleep_ns = 20000;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(source, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (flag) {
            *out_source = st.MPI_SOURCE;
            *out_tag = st.MPI_TAG;
            return 1;
        }
        if (stop_flag && *stop_flag) return 0;
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 1000000) sleep_ns *= 2;
    }
}
