/* The MLP classifier: gradients against central finite differences (in double over float params),
 * MASE's LinearInteger on a hand-checked vector, determinism, training that learns, pruning that
 * holds through fine-tuning, and a diverging run reported as a failed trial. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/mlp.h"
#include "qn_dataset.h"
#include "qn_worker.h"

enum { V = 11, E = 5, H = 7, C = 3, B = 4, T = 6 };
static const int32_t ids[B * T] = {2, 4, 5, 6, 3, 0, 2, 7, 3, 0, 0, 0, 2, 8, 9, 10, 4, 3, 2, 3, 0, 0, 0, 0};
static const int32_t lengths[B] = {5, 3, 6, 2};
static const int32_t labels[B] = {0, 2, 1, 2};

Test(mlp, gradients_match_finite_differences) {
    qn_mlp *m = qn_mlp_new(V, E, H, C, B, T, 11);
    cr_assert_not_null(m);
    qn_rng rng;
    qn_rng_seed(&rng, 1);
    qn_mlp_forward(m, ids, lengths, labels, B, &rng);
    qn_mlp_backward(m, ids, lengths, labels, B);
    float *analytic = malloc(m->nparams * sizeof(float));
    memcpy(analytic, m->grads, m->nparams * sizeof(float));
    int checked = 0, bad = 0;
    const float h = 1e-2f;
    for (size_t i = 0; i < m->nparams; i++) {
        float saved = m->params[i];
        m->params[i] = saved + h;
        double up = qn_mlp_forward(m, ids, lengths, labels, B, &rng);
        m->params[i] = saved - h;
        double down = qn_mlp_forward(m, ids, lengths, labels, B, &rng);
        m->params[i] = saved;
        double numeric = (up - down) / (2.0 * h);
        double err = fabs(numeric - analytic[i]);
        if (err > 2e-3 + 2e-2 * fabs(numeric)) {
            bad++;
            cr_log_warn("param %zu: analytic %.6g, numeric %.6g", i, analytic[i], numeric);
        }
        checked++;
    }
    /* A ReLU kink inside [-h, h] can spoil a difference; allow one in every 100. */
    cr_expect_leq(bad, checked / 100, "%d of %d gradients disagree with finite differences", bad, checked);
    /* and the gradient is not trivially zero */
    double norm = 0;
    for (size_t i = 0; i < m->nparams; i++) norm += (double)analytic[i] * analytic[i];
    cr_expect_gt(norm, 1e-6);
    free(analytic);
    qn_mlp_free(m);
}

Test(mlp, linear_integer_hand_checked_vector) {
    /* fc1 with E = 2, H = 2: x = [0.3, -1.03125], W = [[0.5, 0.26], [-0.7, 1.1]], b = [0.1, -0.05], w8 f4:
     * Q(x) = [0.3125, -1], Q(W) = [[0.5, 0.25], [-0.6875, 1.125]], Q(b) = [0.125, -0.0625]
     * -> y = [0.03125, -1.40234375] (the output itself is not quantized, as in MASE). */
    qn_mlp *m = qn_mlp_new(4, 2, 2, 2, 1, 2, 1);
    cr_assert_not_null(m);
    m->emb[2 * 2 + 0] = 0.3f, m->emb[2 * 2 + 1] = -1.03125f;
    const float W[4] = {0.5f, 0.26f, -0.7f, 1.1f}, b[2] = {0.1f, -0.05f};
    memcpy(m->layers[0].W, W, sizeof W);
    memcpy(m->layers[0].b, b, sizeof b);
    qn_quant_cfg q;
    memset(&q, 0, sizeof q);
    qn_quant_operand op = {.name = "integer", .width = 8, .frac_width = 4, .frac_pct = -1.0};
    q.data_in = q.weight = q.bias = op;
    char err[256];
    cr_assert_eq(qn_mlp_set_quant(m, &q, err, sizeof err), 0, "%s", err);
    const int32_t one_id[2] = {2, 0}, one_len[1] = {1};
    qn_rng rng;
    qn_rng_seed(&rng, 1);
    qn_mlp_forward(m, one_id, one_len, NULL, 1, &rng);
    cr_expect_eq(m->h1[0], 0.03125f, "got %.9g", m->h1[0]);
    cr_expect_eq(m->h1[1], -1.40234375f, "got %.9g", m->h1[1]);
    /* The weights themselves are untouched: quantization is fake, the float master copy trains. */
    cr_expect_eq(m->layers[0].W[1], 0.26f);
    qn_mlp_free(m);
}

Test(mlp, straight_through_gradient_uses_quantized_operands) {
    qn_mlp *m = qn_mlp_new(V, E, H, C, B, T, 4);
    qn_quant_cfg q;
    memset(&q, 0, sizeof q);
    qn_quant_operand op = {.name = "integer", .width = 4, .frac_width = 2, .frac_pct = -1.0};
    q.data_in = q.weight = q.bias = op;
    char err[256];
    cr_assert_eq(qn_mlp_set_quant(m, &q, err, sizeof err), 0, "%s", err);
    qn_rng rng;
    qn_rng_seed(&rng, 1);
    qn_mlp_forward(m, ids, lengths, labels, B, &rng);
    qn_mlp_backward(m, ids, lengths, labels, B);
    /* dW of fc2 = dlogits^T Q(r1): every row of dW is a combination of quantized inputs, which sit on
     * the 2^-2 grid, scaled by dlogits; compare with the product computed here. */
    qn_linear *l = &m->layers[1];
    for (int o = 0; o < l->out; o++)
        for (int i = 0; i < l->in; i++) {
            double acc = 0;
            for (int bb = 0; bb < B; bb++) acc += (double)m->dlogits[bb * C + o] * l->x_q[bb * l->in + i];
            cr_expect(fabs(acc - l->dW[o * l->in + i]) < 1e-6, "dW[%d,%d]", o, i);
        }
    for (int i = 0; i < B * l->in; i++) cr_expect_eq(fmodf(l->x_q[i], 0.25f), 0.0f, "input not quantized");
    qn_mlp_free(m);
}

static qn_trial_config small_config(void) {
    qn_trial_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.model.arch, sizeof c.model.arch, "mlp");
    c.model.embed_dim = 32, c.model.hidden_size = 64, c.model.num_labels = 2;
    snprintf(c.data.dataset, sizeof c.data.dataset, "synthetic-sentiment");
    c.data.train_size = 2000, c.data.eval_size = 500, c.data.max_len = 40, c.data.label_noise = 0.0;
    snprintf(c.train.optimizer, sizeof c.train.optimizer, "adamw");
    c.train.epochs = 5, c.train.batch_size = 32, c.train.lr = 1e-2, c.train.weight_decay = 0.01;
    c.train.beta1 = 0.9, c.train.beta2 = 0.999, c.train.eps = 1e-8;
    c.prune.weight.sparsity = c.prune.activation.sparsity = -1;
    snprintf(c.prune.weight.scope, sizeof c.prune.weight.scope, "local");
    snprintf(c.prune.activation.scope, sizeof c.prune.activation.scope, "local");
    return c;
}

static double metric(const qn_trial_result *r, const char *name) {
    for (int i = 0; i < r->nmetrics; i++)
        if (!strcmp(r->metrics[i].name, name)) return r->metrics[i].value;
    cr_assert_fail("no metric %s", name);
    return NAN;
}

Test(trial, training_learns_and_is_deterministic) {
    qn_worker_ctx *ctx = qn_worker_ctx_new();
    qn_trial_config c = small_config();
    const qn_step steps[] = {QN_STEP_EVAL, QN_STEP_TRAIN, QN_STEP_EVAL};
    qn_trial_result r1, r2, before;
    const qn_step eval_only[] = {QN_STEP_EVAL};
    cr_assert_eq(qn_trial_execute(ctx, &c, eval_only, 1, 3, 77, NULL, 0, 0, &before), 0);
    cr_assert_eq(qn_trial_execute(ctx, &c, steps, 3, 3, 77, NULL, 0, 1, &r1), 0);
    cr_assert_eq(qn_trial_execute(ctx, &c, steps, 3, 3, 77, NULL, 0, 1, &r2), 0);
    cr_assert_eq(r1.status, QN_TRIAL_DONE, "%s", r1.error);
    double acc0 = metric(&before, "accuracy"), acc = metric(&r1, "accuracy");
    cr_expect_gt(acc, 0.65, "trained accuracy %.3f", acc);
    cr_expect_gt(acc, acc0 + 0.1, "training did not help: %.3f -> %.3f", acc0, acc);
    cr_expect_eq(metric(&r1, "accuracy"), metric(&r2, "accuracy"));
    cr_expect_eq(metric(&r1, "train_loss"), metric(&r2, "train_loss"));
    cr_assert_not_null(r1.checkpoint);
    cr_expect(memcmp(r1.checkpoint, r2.checkpoint, r1.checkpoint_len * sizeof(float)) == 0, "same seed, same weights");
    cr_expect_gt(r1.ncurves, 0);
    cr_expect_eq(r1.curves[0].n > 0, 1);
    /* the loss curve goes down */
    const qn_curve *cv = &r1.curves[0];
    cr_expect_lt(cv->values[cv->n - 1], cv->values[0]);
    /* a different trial seed gives different weights */
    qn_trial_result r3;
    cr_assert_eq(qn_trial_execute(ctx, &c, steps, 3, 3, 78, NULL, 0, 1, &r3), 0);
    cr_expect(memcmp(r1.checkpoint, r3.checkpoint, r1.checkpoint_len * sizeof(float)) != 0);
    qn_trial_result_free(&before), qn_trial_result_free(&r1), qn_trial_result_free(&r2), qn_trial_result_free(&r3);
    qn_worker_ctx_free(ctx);
}

Test(trial, ptq_from_parent_and_qat) {
    qn_worker_ctx *ctx = qn_worker_ctx_new();
    qn_trial_config c = small_config();
    const qn_step train[] = {QN_STEP_TRAIN, QN_STEP_EVAL};
    qn_trial_result parent;
    cr_assert_eq(qn_trial_execute(ctx, &c, train, 2, 3, 5, NULL, 0, 1, &parent), 0);
    qn_trial_config q = c;
    qn_quant_operand op = {.name = "integer", .width = 16, .frac_width = 8, .frac_pct = -1.0};
    q.quant.data_in = q.quant.weight = q.quant.bias = op;
    const qn_step steps[] = {QN_STEP_PTQ_EVAL, QN_STEP_QAT};
    qn_trial_result r;
    cr_assert_eq(qn_trial_execute(ctx, &q, steps, 2, 3, 6, parent.checkpoint, parent.checkpoint_len, 0, &r), 0);
    cr_assert_eq(r.status, QN_TRIAL_DONE, "%s", r.error);
    /* 16 bits with 8 fractional: PTQ barely moves the accuracy of the parent */
    cr_expect(fabs(metric(&r, "ptq_accuracy") - metric(&parent, "accuracy")) < 0.02, "ptq %.3f vs fp32 %.3f",
              metric(&r, "ptq_accuracy"), metric(&parent, "accuracy"));
    cr_expect_gt(metric(&r, "qat_accuracy"), 0.6);
    /* a 2-bit PTQ hurts */
    qn_quant_operand tiny = {.name = "integer", .width = 2, .frac_width = 1, .frac_pct = -1.0};
    q.quant.data_in = q.quant.weight = q.quant.bias = tiny;
    const qn_step ptq[] = {QN_STEP_PTQ_EVAL};
    qn_trial_result r2;
    cr_assert_eq(qn_trial_execute(ctx, &q, ptq, 1, 3, 6, parent.checkpoint, parent.checkpoint_len, 0, &r2), 0);
    cr_expect_lt(metric(&r2, "ptq_accuracy"), metric(&parent, "accuracy") - 0.05);
    /* a checkpoint of the wrong size is a failed trial, not a crash */
    qn_trial_result r3;
    cr_assert_eq(qn_trial_execute(ctx, &q, ptq, 1, 3, 6, parent.checkpoint, parent.checkpoint_len - 1, 0, &r3), 0);
    cr_expect_eq(r3.status, QN_TRIAL_FAILED);
    cr_expect_neq(r3.error[0], 0);
    qn_trial_result_free(&parent), qn_trial_result_free(&r), qn_trial_result_free(&r2), qn_trial_result_free(&r3);
    qn_worker_ctx_free(ctx);
}

Test(trial, pruned_weights_stay_zero_through_fine_tuning) {
    qn_worker_ctx *ctx = qn_worker_ctx_new();
    qn_trial_config c = small_config();
    snprintf(c.prune.weight.method, sizeof c.prune.weight.method, "l1-norm");
    c.prune.weight.sparsity = 0.6;
    const qn_step steps[] = {QN_STEP_PRUNE, QN_STEP_TRAIN, QN_STEP_EVAL};
    qn_trial_result r;
    cr_assert_eq(qn_trial_execute(ctx, &c, steps, 3, 3, 9, NULL, 0, 1, &r), 0);
    cr_assert_eq(r.status, QN_TRIAL_DONE, "%s", r.error);
    double sp = metric(&r, "weight_sparsity");
    cr_expect(sp >= 0.6 && sp < 0.61, "weight sparsity %.4f", sp);
    /* count zeros in the Linear weights of the trained checkpoint */
    int vocab = qn_synth_vocab_size();
    size_t emb = (size_t)vocab * c.model.embed_dim, w1 = (size_t)c.model.hidden_size * c.model.embed_dim;
    size_t w2 = (size_t)c.model.num_labels * c.model.hidden_size, zeros = 0;
    for (size_t i = 0; i < w1; i++) zeros += r.checkpoint[emb + i] == 0.0f;
    for (size_t i = 0; i < w2; i++) zeros += r.checkpoint[emb + w1 + c.model.hidden_size + i] == 0.0f;
    cr_expect(fabs((double)zeros / (double)(w1 + w2) - sp) < 1e-9, "%zu zeros of %zu after fine-tuning", zeros, w1 + w2);
    qn_trial_result_free(&r);
    qn_worker_ctx_free(ctx);
}

Test(trial, diverging_loss_is_a_failed_trial) {
    qn_worker_ctx *ctx = qn_worker_ctx_new();
    qn_trial_config c = small_config();
    c.train.lr = 1e30;
    const qn_step steps[] = {QN_STEP_TRAIN, QN_STEP_EVAL};
    qn_trial_result r;
    cr_assert_eq(qn_trial_execute(ctx, &c, steps, 2, 3, 1, NULL, 0, 0, &r), 0);
    cr_expect_eq(r.status, QN_TRIAL_FAILED);
    cr_expect(strstr(r.error, "loss became") == r.error, "%s", r.error);
    qn_trial_result_free(&r);
    qn_worker_ctx_free(ctx);
}

Test(trial, activation_pruning_local_and_global) {
    qn_worker_ctx *ctx = qn_worker_ctx_new();
    const qn_step steps[] = {QN_STEP_TRAIN, QN_STEP_PRUNE, QN_STEP_EVAL};
    const char *scopes[] = {"local", "global"};
    for (int s = 0; s < 2; s++) {
        qn_trial_config c = small_config();
        c.train.epochs = 1;
        snprintf(c.prune.activation.method, sizeof c.prune.activation.method, "l1-norm");
        snprintf(c.prune.activation.scope, sizeof c.prune.activation.scope, "%s", scopes[s]);
        c.prune.activation.sparsity = 0.5;
        qn_trial_result r;
        cr_assert_eq(qn_trial_execute(ctx, &c, steps, 3, 3, 9, NULL, 0, 0, &r), 0);
        cr_assert_eq(r.status, QN_TRIAL_DONE, "%s", r.error);
        double sp = metric(&r, "activation_sparsity");
        /* local: the quantile of each batch with a strict comparison, so at least half (more where
         * the ReLU output holds many exact zeros); global: a threshold fixed on a calibration batch */
        if (s == 0) cr_expect(sp >= 0.5 && sp < 0.9, "local activation sparsity %.3f", sp);
        else cr_expect(sp > 0.3 && sp < 0.7, "global activation sparsity %.3f", sp);
        cr_expect_eq(metric(&r, "weight_sparsity"), 0.0, "weights untouched");
        qn_trial_result_free(&r);
    }
    qn_worker_ctx_free(ctx);
}
