/* trial_msg.h: the trial message the trial-runner suites send their test engines: trial id, no
 * parent, and the behaviour the engine acts out carried in trial_seed. */
#ifndef QN_TEST_TRIAL_MSG_H
#define QN_TEST_TRIAL_MSG_H

#include <stdint.h>
#include <string.h>

#include "../../coordinator/protocol.h"

static inline qn_trial_msg qn_test_trial_msg(int64_t id, uint64_t behaviour) {
    qn_trial_msg m;
    memset(&m, 0, sizeof m);
    m.id = id;
    m.parent = -1;
    m.trial_seed = behaviour;
    return m;
}

#endif
