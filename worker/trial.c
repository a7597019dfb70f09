/* trial.c: run one trial's steps (train, eval, ptq_eval, qat, prune) on the job's classifier. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qn_clock.h"
#include "debug_fault.h"
#include "inference_trial.h"
#include "lr_schedule.h"
#include "model.h"
#include "null_trial.h"
#include "qn_dataset.h"
#include "qn_gradsync.h"
#include "qn_wordpiece.h"
#include "qn_kernels.h"
#include "qn_worker.h"

struct qn_worker_ctx {
    /* The dataset of the last data config, kept across trials (every trial of a study shares it). */
    qn_data_cfg data;
    char vocab_path[600];
    uint64_t data_seed;
    qn_dataset *train, *eval;
    qn_vocab *vocab;          /* the file datasets' WordPiece vocabulary */
    int gpu;                  /* the CUDA device trials run on, or -1 */
};

qn_worker_ctx *qn_worker_ctx_new(void) {
    /* One BLAS thread: results must not depend on the machine's core count. */
    qn_set_num_threads(1);
    qn_worker_ctx *ctx = calloc(1, sizeof(qn_worker_ctx));
    if (ctx) ctx->gpu = -1;
    return ctx;
}

void qn_worker_ctx_use_gpu(qn_worker_ctx *ctx, int device) { ctx->gpu = device; }

void qn_worker_ctx_free(qn_worker_ctx *ctx) {
    if (!ctx) return;
    qn_dataset_free(ctx->train);
    qn_dataset_free(ctx->eval);
    qn_vocab_free(ctx->vocab);
    free(ctx);
}

size_t qn_model_param_count(const qn_model_cfg *cfg, int vocab_size) { return qn_model_cfg_param_count(cfg, vocab_size); }

void qn_trial_result_free(qn_trial_result *r) {
    for (int i = 0; i < r->ncurves; i++) free(r->curves[i].values);
    r->ncurves = 0;
    free(r->checkpoint);
    r->checkpoint = NULL;
}

/* The trial's data: generated (synthetic) or read and tokenized (files), cached across trials.
 * Returns 0, -1 when out of memory, 2 for unusable files (message in err). */
static int ensure_data(qn_worker_ctx *ctx, const qn_trial_config *cfg, uint64_t seed, char *err, size_t errlen) {
    const qn_data_cfg *d = &cfg->data;
    char vocab_path[600] = "";
    if (strcmp(d->dataset, "synthetic-sentiment") != 0) {
        if (d->vocab[0]) snprintf(vocab_path, sizeof vocab_path, "%s", d->vocab);
        else snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", cfg->model.pretrained);
    }
    if (ctx->train && ctx->data_seed == seed && memcmp(&ctx->data, d, sizeof *d) == 0 && !strcmp(ctx->vocab_path, vocab_path))
        return 0;
    qn_dataset_free(ctx->train);
    qn_dataset_free(ctx->eval);
    qn_vocab_free(ctx->vocab);
    ctx->train = ctx->eval = NULL;
    ctx->vocab = NULL;
    ctx->vocab_path[0] = 0;
    if (!vocab_path[0]) {
        ctx->train = qn_synth_generate(seed, QN_SPLIT_TRAIN, d->train_size, d->max_len, d->label_noise);
        ctx->eval = qn_synth_generate(seed, QN_SPLIT_EVAL, d->eval_size, d->max_len, 0.0);
        if (!ctx->train || !ctx->eval) return -1;
    } else {
        int rc = qn_vocab_load(vocab_path, &ctx->vocab, err, errlen);
        if (rc) return rc == 1 ? -1 : 2;
        ctx->train = qn_dataset_load_files(d->dataset, d->path, QN_SPLIT_TRAIN, ctx->vocab, d->train_size, d->max_len, seed,
                                           d->label_noise, cfg->model.num_labels, err, errlen);
        ctx->eval = ctx->train ? qn_dataset_load_files(d->dataset, d->path, QN_SPLIT_EVAL, ctx->vocab, d->eval_size,
                                                       d->max_len, seed, 0.0, cfg->model.num_labels, err, errlen)
                               : NULL;
        if (!ctx->train || !ctx->eval) return 2;
    }
    ctx->data = *d;
    ctx->data_seed = seed;
    snprintf(ctx->vocab_path, sizeof ctx->vocab_path, "%s", vocab_path);
    return 0;
}

void qn_trial_result_set_metric(qn_trial_result *r, const char *name, double v) {
    for (int i = 0; i < r->nmetrics; i++)
        if (strcmp(r->metrics[i].name, name) == 0) {
            r->metrics[i].value = v;
            return;
        }
    if (r->nmetrics == QN_MAX_METRICS) return;
    snprintf(r->metrics[r->nmetrics].name, QN_NAME_LEN, "%s", name);
    r->metrics[r->nmetrics++].value = v;
}

/* The per-step training loss, appended across training steps. */
typedef struct {
    float *v;
    int n, cap;
} curve_buf;

static int curve_push(curve_buf *c, float x) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 256;
        float *v = realloc(c->v, (size_t)cap * sizeof(float));
        if (!v) return -1;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = x;
    return 0;
}

/* This rank's contiguous part [lo, hi) of a batch of b examples split among size ranks: the parts'
 * sizes differ by at most one, the first b % size ranks take the larger ones. */
static void shard_of(int b, int rank, int size, int *lo, int *hi) {
    int q = b / size, extra = b % size;
    *lo = rank * q + (rank < extra ? rank : extra);
    *hi = *lo + q + (rank < extra);
}

/* One data-parallel step's sync (g: the trial's group): the global batch's mean loss into *loss
 * (every rank gets the same value, so a non-finite loss stops every rank at the same step), and
 * after the backward the global mean gradient. Returns 0, or 1 with the message in r->error. */
static int sync_loss(qn_gradsync *g, float *loss, int nb, int b, qn_trial_result *r) {
    double sum = nb ? (double)*loss * nb : 0.0;
    if (qn_gradsync_sum(g, &sum, 1, r->error, sizeof r->error) != 0) return 1;
    *loss = (float)(sum / b);
    return 0;
}
static int sync_grads(qn_gradsync *g, qn_model *m, int nb, int b, qn_trial_result *r) {
    float *device_grads = qn_model_device_grads(m);
    double weight = (double)nb / b;
    int rc = device_grads ? qn_gradsync_allreduce_device(g, device_grads, m->nparams, weight, r->error, sizeof r->error)
                          : qn_gradsync_allreduce(g, m->grads, m->nparams, weight, r->error, sizeof r->error);
    return rc != 0;
}

/* Train for the configured epochs. Returns 0, 1 when the loss stopped being finite or the group's
 * sync failed (message in r->error), -1 when out of memory. poison_nan: debug.fault nan, the first
 * loss reads as NaN. g: the data-parallel group or NULL; each rank then trains on its shard of every
 * batch, with fwd_rng (its own stream) for the forward's random activation masks and rng (the same on
 * every rank) for the shuffle alone. */
static int train(qn_model *m, const qn_dataset *d, const qn_train_cfg *t, qn_rng *rng, qn_gradsync *g, qn_rng *fwd_rng,
                 curve_buf *curve, double *last_epoch_loss, int poison_nan, qn_trial_result *r) {
    int n = d->n, B = t->batch_size, T = d->max_len;
    int *order = malloc((size_t)n * sizeof *order);
    int32_t *ids = malloc((size_t)B * T * sizeof *ids), *lens = malloc((size_t)B * sizeof *lens),
            *labels = malloc((size_t)B * sizeof *labels);
    if (!order || !ids || !lens || !labels) {
        free(order), free(ids), free(lens), free(labels);
        return -1;
    }
    for (int i = 0; i < n; i++) order[i] = i;
    int rc = 0;
    long total = (long)t->epochs * ((n + B - 1) / B), update = 0;
    qn_train_cfg at = *t; /* the rate of this update */
    for (int epoch = 1; epoch <= t->epochs && rc == 0; epoch++) {
        for (int i = n - 1; i > 0; i--) { /* Fisher-Yates with the trial's stream */
            int j = (int)qn_rng_below(rng, (uint64_t)i + 1);
            int tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        double sum = 0.0;
        int steps = 0;
        for (int start = 0; start < n; start += B) {
            int b = n - start < B ? n - start : B;
            int lo = 0, hi = b;
            if (g) shard_of(b, qn_gradsync_rank(g), qn_gradsync_size(g), &lo, &hi);
            /* an empty shard (a batch smaller than the group) still runs the batch's first example, so
             * every rank takes the same path (a GPU copy starts at the first forward), and adds it with
             * weight 0 */
            int nb = hi - lo, rows = nb ? nb : 1;
            if (!nb) lo = 0;
            for (int k = 0; k < rows; k++) {
                int e = order[start + lo + k];
                memcpy(ids + (size_t)k * T, d->ids + (size_t)e * T, (size_t)T * sizeof *ids);
                lens[k] = d->lengths[e];
                labels[k] = d->labels[e];
            }
            float loss = m->forward(m, ids, lens, labels, rows, fwd_rng);
            if (g && sync_loss(g, &loss, nb, b, r) != 0) {
                rc = 1;
                break;
            }
            if (poison_nan) loss = NAN;
            if (!isfinite(loss)) {
                snprintf(r->error, sizeof r->error, "loss became %s at step %d (epoch %d)", isnan(loss) ? "NaN" : "inf",
                         m->step + 1, epoch);
                rc = 1;
                break;
            }
            m->backward(m, ids, lens, labels, rows);
            if (g && sync_grads(g, m, nb, b, r) != 0) {
                rc = 1;
                break;
            }
            at.lr = t->lr * qn_lr_factor(t, update++, total);
            qn_model_adamw(m, &at);
            if (curve_push(curve, loss) != 0) {
                rc = -1;
                break;
            }
            sum += loss;
            steps++;
        }
        if (steps) *last_epoch_loss = sum / steps;
    }
    free(order), free(ids), free(lens), free(labels);
    return rc;
}

/* Accuracy and mean loss on the eval split. */
static int evaluate(qn_model *m, const qn_dataset *d, int B, qn_rng *rng, double *accuracy, double *loss) {
    int n = d->n, T = d->max_len, correct = 0;
    double sum = 0.0;
    for (int start = 0; start < n; start += B) {
        int b = n - start < B ? n - start : B;
        float l = m->forward(m, d->ids + (size_t)start * T, d->lengths + start, d->labels + start, b, rng);
        sum += (double)l * b;
        for (int k = 0; k < b; k++) {
            const float *p = m->probs + (size_t)k * m->num_labels;
            int best = 0;
            for (int c = 1; c < m->num_labels; c++)
                if (p[c] > p[best]) best = c;
            correct += best == d->labels[start + k];
        }
    }
    *accuracy = n ? (double)correct / n : NAN;
    *loss = n ? sum / n : NAN;
    return 0;
}

/* qn_trial_execute, and with g (a data-parallel group, else NULL) qn_trial_execute_group. */
static int execute_trial(qn_worker_ctx *ctx, qn_gradsync *g, const qn_trial_config *cfg, const qn_step *steps,
                         int nsteps, uint64_t data_seed, uint64_t trial_seed, const float *parent, size_t parent_len,
                         int want_checkpoint, qn_trial_result *out) {
    memset(out, 0, sizeof *out);
    double t0 = qn_clock_monotonic_s();
    out->status = QN_TRIAL_FAILED;
    if (!strcmp(cfg->model.arch, "null")) {
        int nrc = qn_null_trial_execute(cfg, steps, nsteps, trial_seed, want_checkpoint, out);
        out->wall_s = qn_clock_monotonic_s() - t0;
        return nrc;
    }
    if (!strcmp(cfg->model.arch, "llm")) {
        /* kind: inference: the CPU decoder on every worker (inference_trial.h says why) */
        int irc = qn_inference_trial_execute(cfg, trial_seed, ctx->gpu, out);
        out->wall_s = qn_clock_monotonic_s() - t0;
        return irc;
    }
    int drc = ensure_data(ctx, cfg, data_seed, out->error, sizeof out->error);
    if (drc == 2) {
        out->wall_s = qn_clock_monotonic_s() - t0;
        return 0; /* a failed trial naming the file */
    }
    if (drc != 0) {
        snprintf(out->error, sizeof out->error, "out of memory loading the dataset");
        return -1;
    }
    int V = ctx->vocab ? qn_vocab_size(ctx->vocab) : qn_synth_vocab_size();
    int B = cfg->train.batch_size;
    qn_model *m = qn_model_new(&cfg->model, V, B, cfg->data.max_len, qn_splitmix64(trial_seed ^ 0x1417ull), out->error,
                               sizeof out->error);
    if (!m) {
        out->wall_s = qn_clock_monotonic_s() - t0;
        return strstr(out->error, "out of memory") ? -1 : 0; /* else a failed trial with the reason */
    }
    if (parent) {
        if (parent_len != m->nparams) {
            snprintf(out->error, sizeof out->error,
                     "the parent checkpoint has %zu parameters but this model has %zu (model sizes differ)", parent_len,
                     m->nparams);
            qn_model_free(m);
            out->wall_s = qn_clock_monotonic_s() - t0;
            return 0;
        }
        memcpy(m->params, parent, parent_len * sizeof(float));
    }
    /* a group made for the CPU has no NCCL communicator: its ranks train on the CPU */
    if (ctx->gpu >= 0 && (!g || qn_gradsync_has_device(g))) qn_model_prefer_cuda(m, ctx->gpu);
    /* the quantization acts from the start, or from a quantize step (full precision until then) */
    int quantize_later = 0;
    for (int s = 0; s < nsteps; s++) quantize_later |= steps[s] == QN_STEP_QUANTIZE;
    if (!quantize_later && qn_model_set_layer_quant(m, cfg, out->error, sizeof out->error) != 0) {
        qn_model_free(m);
        out->wall_s = qn_clock_monotonic_s() - t0;
        return 0; /* a failed trial with the format's message */
    }
    qn_rng rng;
    qn_rng_seed(&rng, qn_splitmix64(trial_seed ^ 0x7a11ull));
    /* In a group the forward's random activation masks use the rank's own stream, so that the shuffle's
     * stream (rng) stays the same on every rank; only the leader evaluates (the whole eval set, in 1
     * rank's batches: its metrics are the trial's). */
    qn_rng group_rng, *fwd_rng = &rng;
    int lead = !g || qn_gradsync_rank(g) == 0;
    if (g) {
        qn_rng_seed(&group_rng, qn_splitmix64(trial_seed ^ 0x96a5ull ^ (uint64_t)qn_gradsync_rank(g) << 32));
        fwd_rng = &group_rng;
    }
    curve_buf curve = {0};
    int rc = 0, failed = 0;
    int poison_nan = qn_fault_of(cfg->debug.fault) == QN_FAULT_NAN, trains = 0;
    for (int s = 0; s < nsteps; s++) trains |= steps[s] == QN_STEP_TRAIN || steps[s] == QN_STEP_QAT;
    for (int s = 0; s < nsteps && !failed && rc == 0; s++) {
        double acc, loss, last = NAN;
        int pruned_activations = 0;
        if (s == 0) qn_debug_first_step(&cfg->debug);
        if (s == 0 && poison_nan && !trains) {
            /* nothing trains: fail as the first training step would have */
            snprintf(out->error, sizeof out->error, "loss became NaN at step 1 (epoch 1)");
            failed = 1;
            break;
        }
        switch (steps[s]) {
        case QN_STEP_TRAIN:
        case QN_STEP_QAT:
            rc = train(m, ctx->train, &cfg->train, &rng, g, fwd_rng, &curve, &last, poison_nan, out);
            poison_nan = 0;
            if (rc == 1) failed = 1;
            if (rc != 0) break;
            qn_trial_result_set_metric(out, "train_loss", last);
            if (steps[s] == QN_STEP_TRAIN || !lead) break;
            /* qat: evaluate the quantized model it trained */
            qn_model_reset_activation_counters(m);
            evaluate(m, ctx->eval, B, fwd_rng, &acc, &loss);
            qn_trial_result_set_metric(out, "qat_accuracy", acc);
            qn_trial_result_set_metric(out, "qat_loss", loss);
            break;
        case QN_STEP_EVAL:
        case QN_STEP_PTQ_EVAL:
            if (!lead) break;
            qn_model_reset_activation_counters(m);
            evaluate(m, ctx->eval, B, fwd_rng, &acc, &loss);
            qn_trial_result_set_metric(out, steps[s] == QN_STEP_EVAL ? "accuracy" : "ptq_accuracy", acc);
            qn_trial_result_set_metric(out, steps[s] == QN_STEP_EVAL ? "eval_loss" : "ptq_loss", loss);
            pruned_activations = qn_model_prunes_activations(m);
            if (pruned_activations) qn_trial_result_set_metric(out, "activation_sparsity", qn_model_activation_sparsity(m));
            break;
        case QN_STEP_QUANTIZE:
            if (qn_model_set_layer_quant(m, cfg, out->error, sizeof out->error) != 0) failed = 1;
            break;
        case QN_STEP_INFER: break; /* model.arch: llm trials never get here (the parser ties infer to llm) */
        case QN_STEP_PRUNE: {
            /* calibration batch for global activation thresholds: the first training examples */
            const qn_dataset *cal = ctx->train;
            int nb = cal->n < B ? cal->n : B;
            double sp = qn_model_prune(m, cfg, qn_splitmix64(trial_seed ^ 0x9e0eull), cal->ids, cal->lengths, nb);
            if (isnan(sp)) rc = -1;
            else qn_trial_result_set_metric(out, "weight_sparsity", sp);
            break;
        }
        }
        if (m->backend_error[0] && rc >= 0) {
            snprintf(out->error, sizeof out->error, "on the GPU: %s", m->backend_error);
            failed = 1;
        }
    }
    if (rc == 0 && !failed && *m->quant_failed) rc = -1;
    if (rc < 0) {
        snprintf(out->error, sizeof out->error, "out of memory running the trial");
    }
    if (curve.n) {
        snprintf(out->curves[0].name, QN_NAME_LEN, "train_loss");
        out->curves[0].n = curve.n;
        out->curves[0].values = curve.v;
        out->ncurves = 1;
    } else {
        free(curve.v);
    }
    if (!failed && rc == 0) {
        out->status = QN_TRIAL_DONE;
        out->error[0] = 0;
        if (want_checkpoint && qn_model_sync_host(m, out->error, sizeof out->error) != 0) {
            out->status = QN_TRIAL_FAILED;
        } else if (want_checkpoint) {
            out->checkpoint = malloc(m->nparams * sizeof(float));
            if (out->checkpoint) {
                memcpy(out->checkpoint, m->params, m->nparams * sizeof(float));
                out->checkpoint_len = m->nparams;
            }
        }
    }
    qn_model_free(m);
    out->wall_s = qn_clock_monotonic_s() - t0;
    return rc < 0 ? -1 : 0;
}

int qn_trial_execute(qn_worker_ctx *ctx, const qn_trial_config *cfg, const qn_step *steps, int nsteps,
                     uint64_t data_seed, uint64_t trial_seed, const float *parent, size_t parent_len,
                     int want_checkpoint, qn_trial_result *out) {
    return execute_trial(ctx, NULL, cfg, steps, nsteps, data_seed, trial_seed, parent, parent_len, want_checkpoint, out);
}

int qn_trial_execute_group(qn_worker_ctx *ctx, qn_gradsync *group, const qn_trial_config *cfg, const qn_step *steps,
                           int nsteps, uint64_t data_seed, uint64_t trial_seed, const float *parent, size_t parent_len,
                           int want_checkpoint, qn_trial_result *out) {
    return execute_trial(ctx, group, cfg, steps, nsteps, data_seed, trial_seed, parent, parent_len, want_checkpoint,
                         out);
}
