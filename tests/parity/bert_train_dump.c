/* bert_train_dump: train a Hugging Face BERT directory for a few full-batch AdamW updates through
 * the worker's model interface (worker/model.h: the trial's forward, backward, pruning and AdamW, the
 * learning rate of worker/lr_schedule.c as trial.c's train() applies it), and write what PyTorch
 * must reproduce (tests/e2e/bert_train_parity.sh):
 *
 *   bert_train_dump MODEL_DIR IDS.npy LENGTHS.npy LABELS.npy OUT_DIR [--steps N] [--lr X]
 *                   [--weight-decay X] [--weight-decay-params trainer|all] [--schedule NAME]
 *                   [--warmup-ratio X] [--quant WIDTH,FRAC] [--prune-weight SPARSITY]
 *                   [--prune-activation SPARSITY] [--cuda]
 *
 * OUT_DIR gets float32 .npy files: params0 (after pruning, before training), logits0 and grads0
 * (the first forward and backward), loss (the loss of each update's forward, then one more forward
 * after the last update), lr (each update's rate) and params (after the last update). Parameters
 * and gradients are the model's flat buffer, Hugging Face's state-dict order (worker/bert.h).
 * --quant: MASE's integer format on every Linear layer's data_in, weight and bias; --prune-*:
 * l1-norm, local scope; --weight-decay-params: train.weight_decay_params (default trainer); --cuda: train on GPU 0 (the CUDA backend), exit 77 where the model cannot run
 * there. Bad arguments: one line, exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/bert.h"
#include "../../worker/bert_cuda.h"
#include "../../worker/lr_schedule.h"
#include "../../worker/model.h"
#include "qn_npy.h"

static int usage(const char *why) {
    fprintf(stderr, "bert_train_dump: %s (usage: bert_train_dump MODEL_DIR IDS.npy LENGTHS.npy LABELS.npy OUT_DIR "
                    "[--steps N] [--lr X] [--weight-decay X] [--weight-decay-params trainer|all] [--schedule NAME] "
                    "[--warmup-ratio X] [--quant W,F] [--prune-weight S] [--prune-activation S] [--cuda])\n",
            why);
    return 2;
}

static int read_ints(const char *path, qn_npy *a) {
    char err[512];
    if (qn_npy_read_ints(path, a, err, sizeof err) != 0) {
        fprintf(stderr, "bert_train_dump: %s\n", err);
        return -1;
    }
    return 0;
}

static int write(const char *dir, const char *name, const float *x, int64_t n) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    if (qn_npy_write_f32(path, x, &n, 1, err, sizeof err) != 0) {
        fprintf(stderr, "bert_train_dump: %s\n", err);
        return -1;
    }
    return 0;
}

static void prune_target(qn_prune_target *t, double sparsity) {
    snprintf(t->method, sizeof t->method, "l1-norm");
    snprintf(t->scope, sizeof t->scope, "local");
    t->sparsity = sparsity;
}

int main(int argc, char **argv) {
    if (argc < 6) return usage("needs five paths");
    const char *dir = argv[1], *out = argv[5];
    qn_train_cfg t = {.optimizer = "adamw", .lr_schedule = "constant", .weight_decay_params = "trainer", .epochs = 1,
                      .lr = 1e-3, .weight_decay = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    int steps = 3, qwidth = 0, qfrac = 0, cuda = 0;
    double prune_w = -1.0, prune_a = -1.0;
    for (int i = 6; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--cuda")) {
            cuda = 1;
            continue;
        }
        if (!v) return usage("an option without its value");
        i++;
        if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--lr")) t.lr = atof(v);
        else if (!strcmp(a, "--weight-decay")) t.weight_decay = atof(v);
        else if (!strcmp(a, "--weight-decay-params")) {
            if (strcmp(v, "trainer") && strcmp(v, "all")) return usage("--weight-decay-params takes trainer or all");
            snprintf(t.weight_decay_params, sizeof t.weight_decay_params, "%s", v);
        }
        else if (!strcmp(a, "--schedule")) snprintf(t.lr_schedule, sizeof t.lr_schedule, "%s", v);
        else if (!strcmp(a, "--warmup-ratio")) t.warmup_ratio = atof(v);
        else if (!strcmp(a, "--quant")) {
            if (sscanf(v, "%d,%d", &qwidth, &qfrac) != 2) return usage("--quant takes WIDTH,FRAC");
        } else if (!strcmp(a, "--prune-weight")) prune_w = atof(v);
        else if (!strcmp(a, "--prune-activation")) prune_a = atof(v);
        else return usage("unknown option");
    }
    if (steps < 1 || steps > 1000) return usage("--steps must be 1..1000");
    if (!dir[0]) return usage("MODEL_DIR is empty"); /* "" would build a random model of no size */

    qn_npy ids_a = {0}, len_a = {0}, lab_a = {0};
    if (read_ints(argv[2], &ids_a) || read_ints(argv[3], &len_a) || read_ints(argv[4], &lab_a)) return 2;
    if (ids_a.ndim != 2 || len_a.ndim != 1 || lab_a.ndim != 1) return usage("ids (N,T), lengths (N), labels (N)");
    const int N = (int)ids_a.shape[0], T = (int)ids_a.shape[1];
    if (N < 1 || T < 1 || len_a.n != (size_t)N || lab_a.n != (size_t)N) return usage("ids (N,T), lengths (N), labels (N)");
    int32_t *ids = malloc((size_t)N * T * sizeof *ids), *lens = malloc((size_t)N * sizeof *lens),
            *labels = malloc((size_t)N * sizeof *labels);
    float *loss = malloc((size_t)(steps + 1) * sizeof *loss), *lr = malloc((size_t)steps * sizeof *lr);
    if (!ids || !lens || !labels || !loss || !lr) return fprintf(stderr, "bert_train_dump: out of memory\n"), 1;
    for (size_t i = 0; i < (size_t)N * T; i++) ids[i] = (int32_t)ids_a.ints[i];
    for (int i = 0; i < N; i++) lens[i] = (int32_t)len_a.ints[i], labels[i] = (int32_t)lab_a.ints[i];

    char err[512];
    qn_bert_config bc;
    if (qn_bert_config_from_hf(dir, &bc, err, sizeof err) != 0) return fprintf(stderr, "bert_train_dump: %s\n", err), 2;
    for (size_t i = 0; i < (size_t)N * T; i++)
        if (ids[i] < 0 || ids[i] >= bc.vocab_size) return usage("a token id outside the model's vocabulary");
    for (int i = 0; i < N; i++)
        if (lens[i] < 1 || lens[i] > T || labels[i] < 0 || labels[i] >= bc.num_labels)
            return usage("a length outside 1..T or a label outside the model's labels");
    qn_trial_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.model.arch, sizeof cfg.model.arch, "bert");
    snprintf(cfg.model.pretrained, sizeof cfg.model.pretrained, "%s", dir);
    cfg.model.num_labels = bc.num_labels;
    cfg.train = t;
    qn_model *m = qn_model_new(&cfg.model, bc.vocab_size, N, T, 0, err, sizeof err);
    if (!m) return fprintf(stderr, "bert_train_dump: %s\n", err), 2;
    if (qwidth) { /* MASE's integer format: width bits, frac_width of them after the binary point */
        qn_quant_operand op;
        memset(&op, 0, sizeof op);
        snprintf(op.name, sizeof op.name, "integer");
        op.width = qwidth, op.frac_width = qfrac, op.frac_pct = -1.0, op.given = QN_QK_NAME | QN_QK_FRAC_WIDTH;
        cfg.quant.data_in = cfg.quant.weight = cfg.quant.bias = op;
        if (qn_model_set_quant(m, &cfg.quant, err, sizeof err) != 0) return fprintf(stderr, "bert_train_dump: %s\n", err), 2;
    }
    if (prune_w >= 0) prune_target(&cfg.prune.weight, prune_w);
    if (prune_a >= 0) prune_target(&cfg.prune.activation, prune_a);
    if ((prune_w >= 0 || prune_a >= 0) && !(qn_model_prune(m, &cfg, 1, ids, lens, N) >= 0))
        return fprintf(stderr, "bert_train_dump: pruning failed\n"), 1;

    if (cuda) qn_model_prefer_cuda(m, 0);
    int rc = write(out, "params0", m->params, (int64_t)m->nparams);
    qn_rng rng;
    qn_rng_seed(&rng, 7);
    /* trial.c's train(): the update counted from 0 of `total`, at t->lr times the schedule's factor */
    qn_train_cfg at = t;
    for (int s = 0; s < steps && !rc; s++) {
        loss[s] = m->forward(m, ids, lens, labels, N, &rng);
        if (cuda && strcmp(qn_model_backend(m), "cuda") != 0) {
            fprintf(stderr, "bert_train_dump: skipped: no CUDA backend for this model here\n");
            qn_model_free(m);
            return 77;
        }
        m->backward(m, ids, lens, labels, N);
        if (s == 0 && m->cuda && qn_bert_cuda_download(m->cuda, QN_BERT_CUDA_GRADS, err, sizeof err) != 0)
            fprintf(stderr, "bert_train_dump: %s\n", err), rc = 1;
        if (s == 0 && !rc)
            rc = write(out, "logits0", m->logits, (int64_t)N * m->num_labels) ||
                 write(out, "grads0", m->grads, (int64_t)m->nparams);
        at.lr = t.lr * qn_lr_factor(&t, s, steps);
        lr[s] = (float)at.lr;
        qn_model_adamw(m, &at);
    }
    loss[steps] = m->forward(m, ids, lens, labels, N, &rng);
    if (qn_model_sync_host(m, err, sizeof err) != 0) fprintf(stderr, "bert_train_dump: %s\n", err), rc = 1;
    if (!rc) rc = write(out, "loss", loss, steps + 1) || write(out, "lr", lr, steps) ||
                  write(out, "params", m->params, (int64_t)m->nparams);
    if (*m->quant_failed) fprintf(stderr, "bert_train_dump: a fake quantization failed\n"), rc = 1;
    qn_model_free(m);
    qn_npy_free(&ids_a), qn_npy_free(&len_a), qn_npy_free(&lab_a);
    free(ids), free(lens), free(labels), free(loss), free(lr);
    return rc ? 1 : 0;
}
