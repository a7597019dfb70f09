/* The live dispatch rule (coordinator/live_placement.h): longest trials first, only where they fit,
 * the finish-first rule near the end of a stage and not before, refusals with their reason, the
 * per-kind calibration of the model's times. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "../../coordinator/live_placement.h"
#include "qn_cost.h"

/* A kind of given memory (bytes), speed (FLOP/s) and bf16 support, with one worker. */
static void add_kind(qn_live_kinds *ks, const char *name, double memory, double rate, int bf16) {
    qn_live_kind *k = &ks->k[ks->n++];
    memset(k, 0, sizeof *k);
    snprintf(k->kind.name, sizeof k->kind.name, "%s", name);
    snprintf(k->kind.label, sizeof k->kind.label, "%s", name);
    k->kind.memory_bytes = memory;
    k->kind.peak_flops = rate;
    k->kind.efficiency = 1;
    k->kind.bf16 = bf16;
    k->kind.cc_major = bf16 ? 8 : 7, k->kind.cc_minor = bf16 ? 9 : 5;
    k->workers = 1;
}

static qn_trial_cost cost(double flops, double memory, int bf16) {
    qn_trial_cost c;
    memset(&c, 0, sizeof c);
    c.flops = flops, c.memory_bytes = memory, c.needs_bf16 = bf16;
    return c;
}

static int64_t take(qn_stage_queue *q, const qn_live_kinds *ks, int kind) {
    double s;
    return qn_queue_take(q, ks, kind, &s, NULL, NULL);
}

Test(live, longest_first_then_ids) {
    qn_live_kinds ks = {0};
    add_kind(&ks, "gpu", 1e9, 1e12, 1);
    int64_t ids[] = {10, 11, 12, 13, 14};
    qn_trial_cost c[] = {cost(1, 1, 0), cost(3, 1, 0), cost(3, 1, 0), cost(2, 1, 0), cost(1, 1, 0)};
    qn_stage_queue q;
    cr_assert_eq(qn_queue_build(&q, ids, c, 5), 0);
    cr_expect_eq(q.nclasses, 3);
    qn_queue_rate(&q, &ks);
    int64_t want[] = {11, 12, 13, 10, 14, -1};
    for (int i = 0; i < 6; i++) cr_expect_eq(take(&q, &ks, 0), want[i], "take %d", i);
    qn_queue_free(&q);
}

Test(live, equal_costs_keep_id_order_in_one_class) {
    qn_live_kinds ks = {0};
    add_kind(&ks, "gpu", 1e9, 1e12, 1);
    int64_t ids[1000];
    qn_trial_cost c[1000];
    for (int i = 0; i < 1000; i++) ids[i] = i, c[i] = cost(5, 5, 0);
    qn_stage_queue q;
    cr_assert_eq(qn_queue_build(&q, ids, c, 1000), 0);
    cr_expect_eq(q.nclasses, 1);
    qn_queue_rate(&q, &ks);
    for (int i = 0; i < 1000; i++) cr_assert_eq(take(&q, &ks, 0), i);
    qn_queue_free(&q);
}

static int odd(void *arg, int64_t id) {
    (void)arg;
    return id % 2;
}

Test(live, skip_drops_trials_no_longer_pending) {
    qn_live_kinds ks = {0};
    add_kind(&ks, "gpu", 1e9, 1e12, 1);
    int64_t ids[] = {0, 1, 2, 3};
    qn_trial_cost c[] = {cost(1, 1, 0), cost(1, 1, 0), cost(1, 1, 0), cost(1, 1, 0)};
    qn_stage_queue q;
    cr_assert_eq(qn_queue_build(&q, ids, c, 4), 0);
    qn_queue_rate(&q, &ks);
    double s;
    cr_expect_eq(qn_queue_take(&q, &ks, 0, &s, odd, NULL), 0);
    cr_expect_eq(qn_queue_take(&q, &ks, 0, &s, odd, NULL), 2);
    cr_expect_eq(qn_queue_take(&q, &ks, 0, &s, odd, NULL), -1);
    qn_queue_free(&q);
}

Test(live, a_worker_takes_only_what_fits_it) {
    qn_live_kinds ks = {0};
    add_kind(&ks, "small", 10e9, 1e12, 0);
    add_kind(&ks, "big", 40e9, 1e12, 1);
    int64_t ids[] = {0, 1, 2};
    /* 0: 20 GB (big only), 1: bf16 (big only), 2: fits both */
    qn_trial_cost c[] = {cost(3, 20e9, 0), cost(2, 1e9, 1), cost(1, 1e9, 0)};
    qn_stage_queue q;
    cr_assert_eq(qn_queue_build(&q, ids, c, 3), 0);
    qn_queue_rate(&q, &ks);
    cr_expect_eq(take(&q, &ks, 0), 2);
    cr_expect_eq(take(&q, &ks, 0), -1);
    cr_expect_eq(take(&q, &ks, 1), 0);
    cr_expect_eq(take(&q, &ks, 1), 1);
    char why[256];
    cr_expect_eq(qn_queue_unfit(&q, &ks, why, sizeof why), -1);
    qn_queue_free(&q);
}

Test(live, unfit_classes_name_the_reason) {
    qn_live_kinds ks = {0};
    add_kind(&ks, "rtx2080ti", 11e9, 1e12, 0);
    int64_t ids[] = {0, 1, 2};
    qn_trial_cost c[] = {cost(3, 23.4e9, 0), cost(2, 1e9, 1), cost(1, 1e9, 0)};
    qn_stage_queue q;
    cr_assert_eq(qn_queue_build(&q, ids, c, 3), 0);
    qn_queue_rate(&q, &ks);
    char why[256];
    int u = qn_queue_unfit(&q, &ks, why, sizeof why);
    cr_assert_eq(u, 0);
    cr_expect_str_eq(why, "needs 23.4 GB of device memory; the largest worker (rtx2080ti) has 11.0 GB");
    q.classes[0].next = q.classes[0].n; /* the caller records them failed */
    u = qn_queue_unfit(&q, &ks, why, sizeof why);
    cr_assert_eq(u, 1);
    cr_expect(strstr(why, "uses bf16, which no worker offers") != NULL, "%s", why);
    q.classes[1].next = q.classes[1].n;
    cr_expect_eq(qn_queue_unfit(&q, &ks, why, sizeof why), -1);
    cr_expect_eq(take(&q, &ks, 0), 2);
    qn_queue_free(&q);
}

Test(live, finish_first_only_near_the_end) {
    qn_live_kinds ks = {0};
    add_kind(&ks, "slow", 40e9, 1e9, 1);
    add_kind(&ks, "fast", 40e9, 10e9, 1);
    /* one long trial (100 s slow, 10 s fast) and short ones */
    int64_t ids[] = {0, 1, 2, 3};
    qn_trial_cost c[] = {cost(100e9, 1, 0), cost(1e9, 1, 0), cost(1e9, 1, 0), cost(1e9, 1, 0)};
    qn_stage_queue q;
    cr_assert_eq(qn_queue_build(&q, ids, c, 4), 0);
    qn_queue_rate(&q, &ks);
    /* the fast card frees in 5 s: 15 s there beats 100 s here; the slow card takes a short one */
    ks.k[1].avail = 5;
    cr_expect_eq(take(&q, &ks, 0), 1);
    /* the fast card is busy for 1000 s: the long trial is better started here now */
    ks.k[1].avail = 1000;
    cr_expect_eq(take(&q, &ks, 0), 0);
    qn_queue_free(&q);

    /* three long trials and one fast card: every worker has work, the slow one takes a long one */
    int64_t ids3[] = {0, 1, 2, 3};
    qn_trial_cost c3[] = {cost(100e9, 1, 0), cost(100e9, 1, 0), cost(100e9, 1, 0), cost(1e9, 1, 0)};
    cr_assert_eq(qn_queue_build(&q, ids3, c3, 4), 0);
    qn_queue_rate(&q, &ks);
    ks.k[1].avail = 5;
    cr_expect_eq(take(&q, &ks, 0), 0);
    cr_expect_eq(take(&q, &ks, 1), 1);
    /* one long one left, the fast card soon free: the slow one takes the short trial */
    cr_expect_eq(take(&q, &ks, 0), 3);
    cr_expect_eq(take(&q, &ks, 1), 2);
    qn_queue_free(&q);
}

Test(live, calibration_scales_the_model_per_kind) {
    qn_live_kinds ks = {0};
    add_kind(&ks, "a", 1e9, 1e12, 1);
    add_kind(&ks, "b", 1e9, 1e12, 1);
    cr_expect_float_eq(qn_live_kind_scale(&ks, 0), 1.0, 1e-12);
    qn_live_kind_observe(&ks, 0, 2.0, 6.0);
    cr_expect_float_eq(qn_live_kind_scale(&ks, 0), 3.0, 1e-12);
    cr_expect_float_eq(qn_live_kind_scale(&ks, 1), 3.0, 1e-12); /* all kinds' until b has its own */
    qn_live_kind_observe(&ks, 1, 1.0, 1.0);
    cr_expect_float_eq(qn_live_kind_scale(&ks, 1), 1.0, 1e-12);
    qn_live_kind_observe(&ks, 1, 0.0, 5.0); /* unknown estimates teach nothing */
    cr_expect_float_eq(qn_live_kind_scale(&ks, 1), 1.0, 1e-12);
}

Test(live, kinds_group_workers_by_device) {
    qn_live_kinds ks = {0};
    qn_device_profile p;
    memset(&p, 0, sizeof p);
    strcpy(p.kind, "cuda"), strcpy(p.name, "NVIDIA L40S");
    p.memory_bytes = 48e9, p.bf16 = 1, p.cc_major = 8, p.cc_minor = 9, p.gemm_gflops = 20000;
    cr_expect_eq(qn_live_kind_add(&ks, &p), 0);
    cr_expect_eq(qn_live_kind_add(&ks, &p), 0);
    strcpy(p.name, "NVIDIA GeForce RTX 2080 Ti");
    p.memory_bytes = 11e9, p.bf16 = 0, p.cc_major = 7, p.cc_minor = 5;
    cr_expect_eq(qn_live_kind_add(&ks, &p), 1);
    cr_expect_eq(ks.n, 2);
    cr_expect_eq(ks.k[0].workers, 2);
    /* the CPU emulates every format: it offers bf16 */
    memset(&p, 0, sizeof p);
    strcpy(p.kind, "cpu"), strcpy(p.name, "Some CPU");
    p.memory_bytes = 64e9;
    int k = qn_live_kind_add(&ks, &p);
    cr_expect(ks.k[k].kind.bf16);
}

Test(live, cluster_spec) {
    const qn_device_kind *kinds[4];
    int count[4], n;
    char err[256];
    cr_assert_eq(qn_cluster_parse("8xl40s,16xrtx2080ti", kinds, count, 4, &n, err, sizeof err), 0, "%s", err);
    cr_expect_eq(n, 2);
    cr_expect_str_eq(kinds[0]->name, "l40s");
    cr_expect_eq(count[1], 16);
    cr_expect_eq(qn_cluster_parse("8xfoo", kinds, count, 4, &n, err, sizeof err), -1);
    cr_expect(strstr(err, "unknown device kind 'foo'") != NULL, "%s", err);
    cr_expect_eq(qn_cluster_parse("l40s", kinds, count, 4, &n, err, sizeof err), -1);
    cr_expect_eq(qn_cluster_parse("", kinds, count, 4, &n, err, sizeof err), -1);
    /* the refusal names the cluster's largest device, as quench validate prints it */
    qn_device_kind k[2] = {*qn_device_kind_find("rtx2080ti"), *qn_device_kind_find("rtx8000")};
    qn_trial_cost c = cost(1, 60e9, 0);
    char why[256];
    cr_assert(qn_trial_fits_none(&c, k, 2, "device in the cluster", why, sizeof why));
    cr_expect_str_eq(why, "needs 60.0 GB of device memory; the largest device in the cluster (rtx8000) has 48.0 GB");
    c = cost(1, 1e9, 1);
    cr_assert(qn_trial_fits_none(&c, k, 2, "device in the cluster", why, sizeof why));
    cr_expect(strstr(why, "uses bf16, which no device in the cluster offers") != NULL, "%s", why);
    k[1] = *qn_device_kind_find("l40s");
    cr_expect_not(qn_trial_fits_none(&c, k, 2, "device in the cluster", why, sizeof why));
}
