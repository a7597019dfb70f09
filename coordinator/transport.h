/* transport.h: MPI point-to-point for buffers of any size (MPI counts are int: split into
 * chunks of at most 1 GiB, sent in order with the same tag). */
#ifndef QN_TRANSPORT_H
#define QN_TRANSPORT_H

#include <signal.h>
#include <stddef.h>

int qn_send_bytes(const void *buf, size_t len, int dest, int tag);
int qn_recv_bytes(void *buf, size_t len, int source, int tag);
/* Wait for a message from `source` (or MPI_ANY_SOURCE) with any tag, polling so the process does
 * not spin a core; *tag and *source receive what arrived. Returns 1 when a message is there, 0 when
 * stop_flag became non-zero first. */
int qn_wait_message(int source, int *out_source, int *out_tag, volatile sig_atomic_t *stop_flag);

#endif
