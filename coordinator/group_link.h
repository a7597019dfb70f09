/* group_link.h: the MPI side of one data-parallel trial (train.devices: k) in a worker process: the
 * communicator of the trial's k workers, and the collectives their trial runners ask for
 * (docs/gradsync.md, "Dispatch and relay").
 *
 * Contract:
 *  - qn_group_open is collective over the trial's workers (MPI_Comm_create_group with a tag from
 *    the trial id); qn_group_close likewise, and every member calls it, however its trial ended.
 *  - Each collective is preceded by a small header all-reduce that says what every member is about
 *    to do. A member whose trial has ended (its runner child died, timed out or was stopped, or it
 *    simply finished) answers only headers, as "gone", from qn_group_close until every member is
 *    gone. A member that sees another gone, or members asking for different collectives, does not
 *    run the payload and fails its own step with a message. So a crashed child costs the trial on
 *    every member at its next collective, and nobody waits on a partner that will never come.
 *  - Waits poll with short sleeps (Open MPI's blocking calls busy-poll, and the workers may share
 *    cores); they cannot be abandoned, since every member reaches the same header in the end.
 */
#ifndef QN_GROUP_LINK_H
#define QN_GROUP_LINK_H

#include <stddef.h>

#include <mpi.h>

#include "protocol.h"
#include "qn_gradsync.h"

/* How the message of a member that failed because another stopped begins. */
#define QN_GROUP_STOPPED "worker rank "

typedef struct {
    MPI_Comm comm;
    int rank, size;
    int gone; /* this member's trial ended: it only answers headers */
} qn_group_link;

/* Collective over m's group. 0, or -1 with a message (bad group, MPI failed). */
int qn_group_open(qn_group_link *g, const qn_trial_msg *m, char *err, size_t errlen);
/* The relay a runner parent uses for this member (arg is g). */
void qn_group_relay(qn_group_link *g, qn_gradsync_relay *relay);
/* This member is done: answer the others' headers as gone until every member is, then free the
 * communicator. */
void qn_group_close(qn_group_link *g);

#endif
