/* Training through the worker's generic model interface (worker/model.h: qn_model_new, forward,
 * backward, qn_model_adamw) on the built-in synthetic data: two trainings of a small BERT from the
 * same seed give bit-identical parameters and losses (another seed does not), with and without fake
 * quantization; and quantization-aware training with MASE's integer format at widths 8 and 4 lowers
 * the training loss on a fixed batch from its untrained ln 2 to well under half of it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/bert.h"
#include "../../worker/model.h"
#include "qn_dataset.h"

enum { N = 16, T = 16 };

static qn_model_cfg bert_cfg(void) {
    qn_model_cfg c;
    memset(&c, 0, sizeof c);
    snprintf(c.arch, sizeof c.arch, "bert");
    c.hidden_size = 32, c.layers = 2, c.heads = 2, c.intermediate_size = 64, c.num_labels = 2;
    return c;
}

static qn_train_cfg train_cfg(double lr) {
    qn_train_cfg t;
    memset(&t, 0, sizeof t);
    snprintf(t.optimizer, sizeof t.optimizer, "adamw");
    t.epochs = 1, t.batch_size = N, t.lr = lr, t.weight_decay = 0.01, t.beta1 = 0.9, t.beta2 = 0.999, t.eps = 1e-8;
    return t;
}

/* MASE's integer format on data_in, weight and bias: width bits, frac of them fractional. */
static qn_quant_cfg integer_quant(int width, int frac) {
    qn_quant_cfg q;
    memset(&q, 0, sizeof q);
    qn_quant_operand op;
    memset(&op, 0, sizeof op);
    snprintf(op.name, sizeof op.name, "integer");
    op.width = width, op.frac_width = frac, op.frac_pct = -1.0, op.given = QN_QK_FRAC_WIDTH;
    q.data_in = q.weight = q.bias = op;
    /* the job layer builds the same format from it */
    qn_format f;
    char err[256];
    cr_assert_eq(qn_quant_operand_format(&op, &f, err, sizeof err), 0, "%s", err);
    cr_assert_eq(f.kind, QN_FMT_INTEGER);
    return q;
}

typedef struct {
    float first, last;   /* loss before and after training */
    float *params;       /* a copy of the trained parameters */
    size_t nparams;
    float losses[64];
} run_result;

/* Train a fresh model (seed) for steps AdamW steps. Mini-batches of 8 drawn from the N examples with a
 * seeded stream when shuffle, else the whole fixed batch every step. */
static run_result train(uint64_t seed, const qn_quant_cfg *q, int steps, double lr, int shuffle) {
    run_result r;
    memset(&r, 0, sizeof r);
    qn_dataset *d = qn_synth_generate(3, QN_SPLIT_TRAIN, N, T, 0.0);
    cr_assert_not_null(d);
    qn_model_cfg mc = bert_cfg();
    char err[256];
    qn_model *m = qn_model_new(&mc, qn_synth_vocab_size(), N, T, seed, err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    if (q) cr_assert_eq(qn_model_set_quant(m, q, err, sizeof err), 0, "%s", err);
    qn_train_cfg t = train_cfg(lr);
    qn_rng rng;
    qn_rng_seed(&rng, seed ^ 0x7a11);
    r.first = m->forward(m, d->ids, d->lengths, d->labels, N, &rng);
    int32_t ids[N * T], lens[N], labels[N];
    for (int step = 0; step < steps; step++) {
        int B = shuffle ? 8 : N;
        for (int k = 0; k < B; k++) {
            int e = shuffle ? (int)qn_rng_below(&rng, N) : k;
            memcpy(ids + k * T, d->ids + e * T, T * sizeof *ids);
            lens[k] = d->lengths[e], labels[k] = d->labels[e];
        }
        float loss = m->forward(m, ids, lens, labels, B, &rng);
        cr_assert(isfinite(loss), "step %d: loss %g", step, loss);
        if (step < 64) r.losses[step] = loss;
        m->backward(m, ids, lens, labels, B);
        qn_model_adamw(m, &t);
    }
    r.last = m->forward(m, d->ids, d->lengths, d->labels, N, &rng);
    cr_expect_eq(*m->quant_failed, 0);
    r.nparams = m->nparams;
    r.params = malloc(m->nparams * sizeof *r.params);
    cr_assert_not_null(r.params);
    memcpy(r.params, m->params, m->nparams * sizeof *r.params);
    qn_model_free(m);
    qn_dataset_free(d);
    return r;
}

static void check_same(const run_result *a, const run_result *b, const char *what) {
    cr_assert_eq(a->nparams, b->nparams);
    size_t differ = 0;
    for (size_t i = 0; i < a->nparams; i++) differ += memcmp(&a->params[i], &b->params[i], sizeof(float)) != 0;
    cr_expect_eq(differ, 0, "%s: %zu of %zu parameters differ", what, differ, a->nparams);
    cr_expect(memcmp(a->losses, b->losses, sizeof a->losses) == 0, "%s: the loss curves differ", what);
    cr_expect(memcmp(&a->last, &b->last, sizeof a->last) == 0, "%s: final loss %.9g vs %.9g", what, a->last, b->last);
}

Test(training, same_seed_bit_identical_parameters, .timeout = 120) {
    for (int quant = 0; quant < 2; quant++) {
        qn_quant_cfg q = integer_quant(8, 4);
        const qn_quant_cfg *qp = quant ? &q : NULL;
        const char *what = quant ? "integer 8/4" : "fp32";
        run_result a = train(17, qp, 12, 3e-3, 1), b = train(17, qp, 12, 3e-3, 1), c = train(18, qp, 12, 3e-3, 1);
        check_same(&a, &b, what);
        size_t differ = 0;
        for (size_t i = 0; i < a.nparams; i++) differ += a.params[i] != c.params[i];
        cr_expect_gt(differ, a.nparams / 2, "%s: seeds 17 and 18 give nearly the same model (%zu of %zu differ)", what,
                     differ, a.nparams);
        free(a.params), free(b.params), free(c.params);
    }
}

/* BERT initialises its weights with std 0.02, so the fractional part must resolve that scale: with 4
 * fractional bits (step 1/16) about a tenth of the weights start non-zero and the straight-through
 * gradients grow the rest; at width 4 that is the whole width (range [-0.5, 0.4375]). With fewer
 * fractional bits (width 4, frac_width 2: step 1/4) every weight quantizes to zero, the classifier
 * sees zeros and no gradient reaches the weights: from BERT's initialisation such a model cannot
 * train, which is why the lab's QAT starts from a trained baseline. */
Test(training, qat_lowers_the_loss_at_width_8_and_4, .timeout = 120) {
    const int widths[2] = {8, 4};
    run_result fp = train(5, NULL, 40, 3e-3, 0);
    cr_log_info("fp32: loss %.4f -> %.4f", fp.first, fp.last);
    cr_expect_lt(fp.last, 0.5f * fp.first);
    for (int k = 0; k < 2; k++) {
        qn_quant_cfg q = integer_quant(widths[k], 4);
        for (uint64_t seed = 5; seed <= 6; seed++) {
            run_result r = train(seed, &q, 40, 3e-3, 0);
            cr_log_info("integer width %d, seed %d: loss %.4f -> %.4f", widths[k], (int)seed, r.first, r.last);
            cr_expect(r.first > 0.6f, "width %d: the untrained loss %g is already low", widths[k], r.first);
            cr_expect_lt(r.last, 0.5f * r.first, "width %d seed %d: QAT took the loss only from %g to %g", widths[k],
                         (int)seed, r.first, r.last);
            if (seed == 5) { /* the quantized training is not the fp32 one */
                size_t differ = 0;
                for (size_t i = 0; i < r.nparams; i++) differ += r.params[i] != fp.params[i];
                cr_expect_gt(differ, r.nparams / 2, "width %d trains the same weights as fp32", widths[k]);
            }
            free(r.params);
        }
    }
    free(fp.params);
}
