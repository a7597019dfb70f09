/* The coordinator <-> worker result message: packing round-trips, and malformed buffers are refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../coordinator/protocol.h"

static qn_trial_result sample(void) {
    qn_trial_result r;
    memset(&r, 0, sizeof r);
    r.status = QN_TRIAL_FAILED;
    snprintf(r.error, sizeof r.error, "loss became NaN at step 3 (epoch 1)");
    r.nmetrics = 2;
    snprintf(r.metrics[0].name, QN_NAME_LEN, "accuracy");
    r.metrics[0].value = 0.8125;
    snprintf(r.metrics[1].name, QN_NAME_LEN, "eval_loss");
    r.metrics[1].value = NAN;
    r.ncurves = 2;
    snprintf(r.curves[0].name, QN_NAME_LEN, "train_loss");
    r.curves[0].n = 5;
    r.curves[0].values = malloc(5 * sizeof(float));
    for (int i = 0; i < 5; i++) r.curves[0].values[i] = 1.0f / (float)(i + 1);
    snprintf(r.curves[1].name, QN_NAME_LEN, "empty");
    r.curves[1].n = 0;
    r.curves[1].values = NULL;
    r.wall_s = 1.25;
    return r;
}

Test(protocol, result_round_trip) {
    qn_trial_result r = sample();
    size_t len = 0;
    void *buf = qn_result_pack(42, &r, &len);
    cr_assert_not_null(buf);
    qn_trial_result back;
    int64_t id = -1;
    cr_assert_eq(qn_result_unpack(buf, len, &id, &back), 0);
    cr_assert_eq(id, 42);
    cr_assert_eq(back.status, QN_TRIAL_FAILED);
    cr_assert_str_eq(back.error, r.error);
    cr_assert_eq(back.nmetrics, 2);
    cr_assert_str_eq(back.metrics[0].name, "accuracy");
    cr_assert_eq(back.metrics[0].value, 0.8125);
    cr_assert(isnan(back.metrics[1].value));
    cr_assert_eq(back.ncurves, 2);
    cr_assert_eq(back.curves[0].n, 5);
    for (int i = 0; i < 5; i++) cr_assert_eq(back.curves[0].values[i], r.curves[0].values[i]);
    cr_assert_eq(back.curves[1].n, 0);
    cr_assert_eq(back.wall_s, 1.25);
    cr_assert_eq(back.checkpoint_len, 0);
    free(buf);
    qn_trial_result_free(&back);
    qn_trial_result_free(&r);
}

Test(protocol, checkpoint_size_travels_with_the_result) {
    qn_trial_result r = sample();
    float params[3] = {1, 2, 3};
    r.checkpoint = params;
    r.checkpoint_len = 3;
    size_t len = 0;
    void *buf = qn_result_pack(7, &r, &len);
    r.checkpoint = NULL;
    qn_trial_result back;
    int64_t id;
    cr_assert_eq(qn_result_unpack(buf, len, &id, &back), 0);
    cr_assert_eq(back.checkpoint_len, 3);
    cr_assert_null(back.checkpoint);
    free(buf);
    qn_trial_result_free(&back);
    qn_trial_result_free(&r);
}

Test(protocol, truncated_buffers_are_refused) {
    qn_trial_result r = sample();
    size_t len = 0;
    char *buf = qn_result_pack(1, &r, &len);
    for (size_t cut = 0; cut < len; cut += 7) {
        qn_trial_result back;
        int64_t id;
        cr_assert_eq(qn_result_unpack(buf, cut, &id, &back), -1, "accepted a buffer cut at %zu of %zu", cut, len);
    }
    free(buf);
    qn_trial_result_free(&r);
}
