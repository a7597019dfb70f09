/* trial.c: run one trial's steps (train, eval, ptq_eval, qat, prune) on the job's classifier. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lr_schedule.h"
#include "model.h"
#include "qn_dataset.h"
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

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void add_metric(qn_trial_result *r, const char *name, double v) {
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

/* Train for the configured epochs. Returns 0, 1 when the loss stopped being finite (message in
 * r->error), -1 when out of memory. */
static int train(qn_model *m, const qn_dataset *d, const qn_train_cfg *t, qn_rng *rng, curve_buf *curve,
                 double *last_epoch_loss, qn_trial_result *r) {
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
            for (int k = 0; k < b; k++) {
                int e = order[start + k];
                memcpy(ids + (size_t)k * T, d->ids + (size_t)e * T, (size_t)T * sizeof *ids);
                lens[k] = d->lengths[e];
                labels[k] = d->labels[e];
            }
            float loss = m->forward(m, ids, lens, labels, b, rng);
            if (!isfinite(loss)) {
                snprintf(r->error, sizeof r->error, "loss became %s at step %d (epoch %d)", isnan(loss) ? "NaN" : "inf",
                         m->step + 1, epoch);
                rc = 1;
                break;
            }
            m->backward(m, ids, lens, labels, b);
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

int qn_trial_execute(qn_worker_ctx *ctx, const qn_trial_config *cfg, const qn_step *steps, int nsteps,
                     uint64_t data_seed, uint64_t trial_seed, const float *parent, size_t parent_len,
                     int want_checkpoint, qn_trial_result *out) {
    memset(out, 0, sizeof *out);
    double t0 = seconds();
    out->status = QN_TRIAL_FAILED;
    int drc = ensure_data(ctx, cfg, data_seed, out->error, sizeof out->error);
    if (drc == 2) {
        out->wall_s = seconds() - t0;
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
        out->wall_s = seconds() - t0;
        return strstr(out->error, "out of memory") ? -1 : 0; /* else a failed trial with the reason */
    }
    if (parent) {
        if (parent_len != m->nparams) {
            snprintf(out->error, sizeof out->error,
                     "the parent checkpoint has %zu parameters but this model has %zu (model sizes differ)", parent_len,
                     m->nparams);
            qn_model_free(m);
            out->wall_s = seconds() - t0;
            return 0;
        }
        memcpy(m->params, parent, parent_len * sizeof(float));
    }
    if (ctx->gpu >= 0) qn_model_prefer_cuda(m, ctx->gpu);
    /* the quantization acts from the start, or from a quantize step (full precision until then) */
    int quantize_later = 0;
    for (int s = 0; s < nsteps; s++) quantize_later |= steps[s] == QN_STEP_QUANTIZE;
    if (!quantize_later && qn_model_set_layer_quant(m, cfg, out->error, sizeof out->error) != 0) {
        qn_model_free(m);
        out->wall_s = seconds() - t0;
        return 0; /* a failed trial with the format's message */
    }
    qn_rng rng;
    qn_rng_seed(&rng, qn_splitmix64(trial_seed ^ 0x7a11ull));
    curve_buf curve = {0};
    int rc = 0, failed = 0;
    for (int s = 0; s < nsteps && !failed && rc == 0; s++) {
        double acc, loss, last = NAN;
        int pruned_activations = 0;
        switch (steps[s]) {
        case QN_STEP_TRAIN:
        case QN_STEP_QAT:
            rc = train(m, ctx->train, &cfg->train, &rng, &curve, &last, out);
            if (rc == 1) failed = 1;
            if (rc != 0) break;
            add_metric(out, "train_loss", last);
            if (steps[s] == QN_STEP_TRAIN) break;
            /* qat: evaluate the quantized model it trained */
            qn_model_reset_activation_counters(m);
            evaluate(m, ctx->eval, B, &rng, &acc, &loss);
            add_metric(out, "qat_accuracy", acc);
            add_metric(out, "qat_loss", loss);
            break;
        case QN_STEP_EVAL:
        case QN_STEP_PTQ_EVAL:
            qn_model_reset_activation_counters(m);
            evaluate(m, ctx->eval, B, &rng, &acc, &loss);
            add_metric(out, steps[s] == QN_STEP_EVAL ? "accuracy" : "ptq_accuracy", acc);
            add_metric(out, steps[s] == QN_STEP_EVAL ? "eval_loss" : "ptq_loss", loss);
            pruned_activations = qn_model_prunes_activations(m);
            if (pruned_activations) add_metric(out, "activation_sparsity", qn_model_activation_sparsity(m));
            break;
        case QN_STEP_QUANTIZE:
            if (qn_model_set_layer_quant(m, cfg, out->error, sizeof out->error) != 0) failed = 1;
            break;
        case QN_STEP_PRUNE: {
            /* calibration batch for global activation thresholds: the first training examples */
            const qn_dataset *cal = ctx->train;
            int nb = cal->n < B ? cal->n : B;
            double sp = qn_model_prune(m, cfg, qn_splitmix64(trial_seed ^ 0x9e0eull), cal->ids, cal->lengths, nb);
            if (isnan(sp)) rc = -1;
            else add_metric(out, "weight_sparsity", sp);
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
    out->wall_s = seconds() - t0;
    return rc < 0 ? -1 : 0;
}
