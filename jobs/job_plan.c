/* job_plan.c: the trials a job expands to (grid points, row-major, last axis fastest), their
 * configurations, the canonical plan text that --resume compares, and `quench validate`'s report. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"
#include "qn_job.h"

int qn_job_trial(const qn_job *job, int64_t id, qn_trial *out) {
    memset(out, 0, sizeof *out);
    if (id < 0 || id >= job->ntrials) return -1;
    int s = 0;
    while (s < job->nstages && id >= job->stages[s].first_trial + job->stages[s].ntrials) s++;
    const qn_stage *st = &job->stages[s];
    out->id = id;
    out->stage = s;
    out->seed = qn_trial_seed(job->seed, id);
    out->nparams = st->method ? 0 : st->naxes; /* a search trial's come from the sampler */
    out->params = calloc((size_t)st->naxes + 1, sizeof *out->params);
    if (!out->params) return -1;
    if (st->method) return 0;
    int64_t rest = id - st->first_trial;
    for (int a = st->naxes - 1; a >= 0; a--) {
        const qn_axis *ax = &st->axes[a];
        const qn_value *v = &ax->values[rest % ax->nvalues];
        rest /= ax->nvalues;
        out->params[a].name = strdup(ax->name);
        out->params[a].value = *v;
        if (v->kind == QN_VAL_STR) out->params[a].value.str = strdup(v->str);
    }
    return 0;
}

void qn_trial_free(qn_trial *t) {
    for (int i = 0; t->params && i < t->nparams; i++) {
        free(t->params[i].name);
        if (t->params[i].value.kind == QN_VAL_STR) free(t->params[i].value.str);
    }
    free(t->params);
    t->params = NULL;
    t->nparams = 0;
}

int qn_trial_config_build(const qn_job *job, const qn_param *inherited, int ninherited, const qn_trial *trial,
                          qn_trial_config *out, char *err, size_t errlen) {
    *out = job->base;
    for (int i = 0; i < ninherited; i++)
        if (qn_config_set(out, inherited[i].name, &inherited[i].value, err, errlen) != 0) return -1;
    for (int i = 0; i < trial->nparams; i++)
        if (qn_config_set(out, trial->params[i].name, &trial->params[i].value, err, errlen) != 0) return -1;
    /* one model family per job; null trials (no model) may be mixed in, for testing */
    if (strcmp(out->model.arch, job->base.model.arch) != 0 && strcmp(out->model.arch, "null") != 0 &&
        strcmp(job->base.model.arch, "null") != 0) {
        snprintf(err, errlen, "model.arch %s differs from the job's %s: a job varies model.arch only to mix in null trials",
                 out->model.arch, job->base.model.arch);
        return -1;
    }
    return qn_config_finish(out, err, errlen);
}

/* ---------------------------------------------------------------- text */

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} sbuf;

static void add(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->oom) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void add_operand(sbuf *b, const char *name, const qn_quant_operand *op) {
    if (!op->name[0]) {
        add(b, "base quant.%s none\n", name);
        return;
    }
    qn_format f;
    char err[QN_ERR_LEN], desc[256];
    if (qn_quant_operand_format(op, &f, err, sizeof err) != 0) snprintf(desc, sizeof desc, "%s (invalid)", op->name);
    else qn_format_describe(&f, desc, sizeof desc);
    if (op->frac_pct >= 0) add(b, "base quant.%s %s frac_width=%.12g%%\n", name, desc, op->frac_pct);
    else add(b, "base quant.%s %s\n", name, desc);
}

/* A layer override's keys as given (only those: the rest follows the trial's quant and prune). */
static void add_layer(sbuf *b, const qn_layer_override *ov) {
    static const char *const operands[3] = {"data_in", "weight", "bias"};
    const qn_quant_operand *ops[3] = {&ov->quant.data_in, &ov->quant.weight, &ov->quant.bias};
    for (int o = 0; o < 3; o++) {
        const qn_quant_operand *op = ops[o];
        unsigned g = op->given;
        if (!g) continue;
        add(b, "base layers.%s.quant.%s", ov->layer, operands[o]);
        if (g & QN_QK_NAME) add(b, " name=%s", op->name[0] ? op->name : "none");
        if (g & QN_QK_WIDTH) add(b, " width=%d", op->width);
        if ((g & QN_QK_FRAC_WIDTH) && op->frac_pct >= 0) add(b, " frac_width=%.12g%%", op->frac_pct);
        else if (g & QN_QK_FRAC_WIDTH) add(b, " frac_width=%d", op->frac_width);
        const struct {
            unsigned bit;
            const char *key;
            int value;
        } ints[] = {{QN_QK_EXPONENT_WIDTH, "exponent_width", op->exponent_width},
                    {QN_QK_EXPONENT_BIAS, "exponent_bias", op->exponent_bias},
                    {QN_QK_EXPONENT_BIAS_WIDTH, "exponent_bias_width", op->exponent_bias_width},
                    {QN_QK_BLOCK_SIZE, "block_size", op->block_size},
                    {QN_QK_BIPOLAR, "bipolar", op->bipolar},
                    {QN_QK_SCALING_FACTOR, "scaling_factor", op->scaling_factor},
                    {QN_QK_DOUBLE_QUANT, "double_quant", op->double_quant}};
        for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
            if (g & ints[i].bit) add(b, " %s=%d", ints[i].key, ints[i].value);
        if (g & QN_QK_THRESHOLD) add(b, " threshold=%.17g", op->threshold);
        add(b, "\n");
    }
    const qn_prune_target *pt[2] = {&ov->prune.weight, &ov->prune.activation};
    const char *pn[2] = {"weight", "activation"};
    for (int i = 0; i < 2; i++)
        if (pt[i]->method[0] || pt[i]->scope[0] || pt[i]->sparsity >= 0)
            add(b, "base layers.%s.prune.%s method=%s scope=%s sparsity=%.17g\n", ov->layer, pn[i],
                pt[i]->method[0] ? pt[i]->method : "-", pt[i]->scope[0] ? pt[i]->scope : "-", pt[i]->sparsity);
}

static void add_from(sbuf *b, const qn_job *job, const qn_stage *st) {
    if (st->from.kind == QN_FROM_STAGE)
        add(b, "%s", job->stages[st->from.stage].name);
    else if (st->from.kind == QN_FROM_BEST)
        add(b, "best(%s, %s, %s)", job->stages[st->from.stage].name, st->from.metric, st->from.maximize ? "max" : "min");
    else
        add(b, "-");
}

static const char *dist_name(qn_dist d) {
    return d == QN_DIST_UNIFORM ? "uniform" : d == QN_DIST_LOG_UNIFORM ? "log_uniform" : d == QN_DIST_INT_UNIFORM ? "int_uniform" : "values";
}

char *qn_job_plan_text(const qn_job *job) {
    sbuf b = {0};
    const qn_trial_config *c = &job->base;
    add(&b, "seed %llu\n", (unsigned long long)job->seed);
    add(&b, "base model %s embed_dim=%d hidden_size=%d num_labels=%d\n", c->model.arch, c->model.embed_dim,
        c->model.hidden_size, c->model.num_labels);
    if (!strcmp(c->model.arch, "bert"))
        add(&b, "base model bert preset=%s layers=%d heads=%d intermediate_size=%d\n", c->model.preset, c->model.layers,
            c->model.heads, c->model.intermediate_size);
    add(&b, "base data %s train_size=%d eval_size=%d max_len=%d label_noise=%.17g\n", c->data.dataset,
        c->data.train_size, c->data.eval_size, c->data.max_len, c->data.label_noise);
    if (c->data.path[0] || c->data.vocab[0] || c->model.pretrained[0])
        add(&b, "base files data.path=%s data.vocab=%s model.pretrained=%s\n", c->data.path, c->data.vocab,
            c->model.pretrained);
    add(&b, "base train %s epochs=%d batch_size=%d lr=%.17g weight_decay=%.17g beta1=%.17g beta2=%.17g eps=%.17g\n",
        c->train.optimizer, c->train.epochs, c->train.batch_size, c->train.lr, c->train.weight_decay, c->train.beta1,
        c->train.beta2, c->train.eps);
    /* only when not the default, so that the plans of earlier results files still match */
    if (strcmp(c->train.lr_schedule, "constant") != 0 || c->train.warmup_ratio != 0.0)
        add(&b, "base train lr_schedule=%s warmup_ratio=%.17g\n", c->train.lr_schedule, c->train.warmup_ratio);
    /* only when not decaying every parameter, as quench did before this key: a results file written
     * then resumes with weight_decay_params: all, which trains its remaining trials the same way */
    if ((!strcmp(c->model.arch, "mlp") || !strcmp(c->model.arch, "bert")) && strcmp(c->train.weight_decay_params, "all"))
        add(&b, "base train weight_decay_params=%s\n", c->train.weight_decay_params);
    if (strcmp(c->debug.fault, "none") != 0 || c->debug.sleep_ms != 0.0)
        add(&b, "base debug fault=%s sleep_ms=%.17g\n", c->debug.fault, c->debug.sleep_ms);
    add_operand(&b, "data_in", &c->quant.data_in);
    add_operand(&b, "weight", &c->quant.weight);
    add_operand(&b, "bias", &c->quant.bias);
    const qn_prune_target *pt[2] = {&c->prune.weight, &c->prune.activation};
    const char *pn[2] = {"weight", "activation"};
    for (int i = 0; i < 2; i++)
        add(&b, "base prune.%s %s scope=%s sparsity=%.17g\n", pn[i], pt[i]->method[0] ? pt[i]->method : "none",
            pt[i]->scope, pt[i]->sparsity);
    /* only with overrides, so that the plans of earlier results files still match */
    for (int i = 0; i < c->nlayers; i++) add_layer(&b, &c->layers[i]);
    /* only for language models, so that the plans of earlier results files still match */
    if (!strcmp(c->model.arch, "llm"))
        add(&b, "base llm model=%s precision=%s keep=%s prompt=%s prompt_len=%d max_new_tokens=%d batch=%d ppl=%s "
                "context=%d stride=%d device=%s\n", c->llm.model, c->llm.precision, c->llm.keep, c->llm.prompt, c->llm.prompt_len,
            c->llm.max_new_tokens, c->llm.batch, c->llm.perplexity_file, c->llm.context, c->llm.stride, c->device.kind);
    /* only when set, for the same reason */
    if (!strcmp(c->model.arch, "llm") && !strcmp(c->llm.ignore_eos, "true")) add(&b, "base llm ignore_eos=true\n");
    for (int s = 0; s < job->nstages; s++) {
        const qn_stage *st = &job->stages[s];
        add(&b, "stage %s %s %lld trials from ", st->name, st->kind, (long long)st->ntrials);
        add_from(&b, job, st);
        add(&b, " run");
        for (int i = 0; i < st->nsteps; i++) add(&b, " %s", qn_step_name(st->steps[i]));
        add(&b, " metric %s %s\n", st->metric, st->maximize ? "max" : "min");
        if (st->method) add(&b, "  method %s\n", qn_search_method_name(st->method));
        for (int a = 0; a < st->naxes; a++) {
            /* only conditional axes say so: plans of jobs without when: read as before */
            if (st->axes[a].parent >= 0) add(&b, "  when axis %d = %d\n", st->axes[a].parent, st->axes[a].parent_choice);
            if (st->axes[a].dist != QN_DIST_VALUES) {
                add(&b, "  param %s: %s %.17g %.17g q %.17g\n", st->axes[a].name, dist_name(st->axes[a].dist),
                    st->axes[a].low, st->axes[a].high, st->axes[a].q);
                continue;
            }
            add(&b, "  axis %s:", st->axes[a].name);
            for (int v = 0; v < st->axes[a].nvalues; v++) {
                const qn_value *x = &st->axes[a].values[v];
                if (x->kind == QN_VAL_STR)
                    add(&b, " \"%s\"", x->str);
                else
                    add(&b, " %.17g", x->num);
            }
            add(&b, "\n");
        }
        /* the kinds the ids were fixed on: --resume reads them back (qn_plan_device_kinds) */
        if (st->each_device_kind) {
            add(&b, "  placement each_device_kind:");
            const qn_axis *ax = st->each_device_kind == 2 ? &st->axes[st->naxes - 1] : NULL;
            for (int v = 0; ax && v < ax->nvalues; v++) add(&b, " \"%s\"", ax->values[v].str);
            add(&b, "\n");
        }
    }
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    return b.buf ? b.buf : strdup("");
}

void qn_kinds_free(char **kinds, int n) {
    for (int i = 0; kinds && i < n; i++) free(kinds[i]);
    free(kinds);
}

int qn_plan_device_kinds(const char *plan, char ***kinds, int *n) {
    static const char key[] = "\n  placement each_device_kind:";
    const char *at = plan ? strstr(plan, key) : NULL;
    *kinds = NULL;
    *n = 0;
    if (!at) return -1;
    const char *end = strchr(at + 1, '\n');
    if (!end) end = at + strlen(at);
    char **out = NULL;
    int count = 0;
    for (const char *q = at + sizeof key - 1; q < end;) {
        const char *open = memchr(q, '"', (size_t)(end - q));
        const char *close = open ? memchr(open + 1, '"', (size_t)(end - open - 1)) : NULL;
        if (!close) break;
        char **grown = realloc(out, ((size_t)count + 1) * sizeof *out);
        if (!grown || !(grown[count] = strndup(open + 1, (size_t)(close - open - 1)))) {
            qn_kinds_free(grown ? grown : out, count);
            return -1;
        }
        out = grown;
        count++;
        q = close + 1;
    }
    if (!count) return -1;
    *kinds = out;
    *n = count;
    return 0;
}

/* ---------------------------------------------------------------- quench validate */

static int64_t training_steps(const qn_stage *st) {
    int64_t n = 0;
    for (int i = 0; i < st->nsteps; i++) n += st->steps[i] == QN_STEP_TRAIN || st->steps[i] == QN_STEP_QAT;
    return n;
}

void qn_job_print_plan(const qn_job *job, FILE *out) {
    const qn_trial_config *c = &job->base;
    int pending = 0; /* stages with placement: each_device_kind whose kinds are not known here */
    for (int s = 0; s < job->nstages; s++) pending |= job->stages[s].each_device_kind == 1;
    fprintf(out, "job %s (%s): %d stage%s, %lld trials%s, seed %llu\n", job->name, job->path, job->nstages,
            job->nstages == 1 ? "" : "s", (long long)job->ntrials,
            pending ? " (placement: each_device_kind stages: x each device kind present at run time)" : "",
            (unsigned long long)job->seed);
    if (!strcmp(c->model.arch, "bert"))
        fprintf(out, "  model  bert (%s sizes unless given): %d layers, hidden %d, %d heads, intermediate %d, %d labels\n",
                c->model.preset, c->model.layers, c->model.hidden_size, c->model.heads, c->model.intermediate_size,
                c->model.num_labels);
    else if (!strcmp(c->model.arch, "null"))
        fprintf(out, "  model  null: no model and no data, metrics are hashes of the trial seed (for testing)\n");
    else if (!strcmp(c->model.arch, "llm"))
        fprintf(out, "  model  llm: %s in %s (keep %s), %s, %d new tokens x batch %d%s%s\n",
                c->llm.model[0] ? c->llm.model : "llm.model of the grid", c->llm.precision, c->llm.keep,
                c->llm.prompt[0] ? "prompt text" : "random prompt ids", c->llm.max_new_tokens, c->llm.batch,
                c->llm.perplexity_file[0] ? ", perplexity of " : "", c->llm.perplexity_file);
    else
        fprintf(out, "  model  %s: embed_dim %d, hidden_size %d, %d labels\n", c->model.arch, c->model.embed_dim,
                c->model.hidden_size, c->model.num_labels);
    int classifier = strcmp(c->model.arch, "llm") != 0; /* inference stages have no data or training */
    if (classifier)
        fprintf(out, "  data   %s: %d train / %d eval examples, max_len %d, label noise %g\n", c->data.dataset,
            c->data.train_size, c->data.eval_size, c->data.max_len, c->data.label_noise);
    if (classifier)
        fprintf(out, "  train  %s: %d epoch%s x batch %d, lr %g, weight_decay %g (%s)\n", c->train.optimizer,
            c->train.epochs, c->train.epochs == 1 ? "" : "s", c->train.batch_size, c->train.lr, c->train.weight_decay,
            strcmp(c->train.weight_decay_params, "all") ? "not biases, LayerNorm" : "every parameter");
    if (strcmp(c->train.lr_schedule, "constant") != 0 || c->train.warmup_ratio != 0.0)
        fprintf(out, "         lr schedule %s, warmup %g of the updates\n", c->train.lr_schedule, c->train.warmup_ratio);
    if (c->train.devices > 1)
        fprintf(out, "         data-parallel on %d workers of one kind at once (fewer if the study has fewer; one "
                     "process: alone)\n", c->train.devices);
    if (c->quant.weight.name[0]) {
        qn_format f;
        char err[QN_ERR_LEN], desc[256];
        if (qn_quant_operand_format(&c->quant.weight, &f, err, sizeof err) == 0)
            fprintf(out, "  quant  %s (weight)\n", qn_format_describe(&f, desc, sizeof desc));
    }
    for (int i = 0; i < c->nlayers; i++) {
        qn_quant_cfg q;
        qn_format f;
        char err[QN_ERR_LEN], desc[256];
        if (qn_layer_config(c, c->layers[i].layer, &q, NULL, err, sizeof err) == 0 &&
            qn_quant_operand_format(&q.weight, &f, err, sizeof err) == 0)
            fprintf(out, "  layer  %s: %s (weight)\n", c->layers[i].layer, qn_format_describe(&f, desc, sizeof desc));
    }
    fprintf(out, "\n%-16s %-6s %7s  %-28s %s\n", "stage", "kind", "trials", "from", "run");
    for (int s = 0; s < job->nstages; s++) {
        const qn_stage *st = &job->stages[s];
        sbuf from = {0}, run = {0};
        add_from(&from, job, st);
        for (int i = 0; i < st->nsteps; i++) add(&run, "%s%s", i ? ", " : "", qn_step_name(st->steps[i]));
        fprintf(out, "%-16s %-6s %7lld  %-28s %s\n", st->name, st->kind, (long long)st->ntrials, from.buf ? from.buf : "-",
                run.buf ? run.buf : "");
        free(from.buf);
        free(run.buf);
        if (st->method)
            fprintf(out, "    method %s, %lld trials; parameters drawn by the sampler when each trial starts\n",
                    qn_search_method_name(st->method), (long long)st->ntrials);
        for (int a = 0; a < st->naxes; a++) {
            const qn_axis *ax = &st->axes[a];
            char cond[320] = "";
            if (ax->parent >= 0) {
                char buf[64];
                const qn_axis *pa = &st->axes[ax->parent];
                snprintf(cond, sizeof cond, " (when %.200s = %s)", pa->name,
                         qn_value_format(&pa->values[ax->parent_choice], buf, sizeof buf));
            }
            if (ax->dist != QN_DIST_VALUES) {
                fprintf(out, "    %s: %s [%g, %g]", ax->name, dist_name(ax->dist), ax->low, ax->high);
                if (ax->q > 0) fprintf(out, " q %g", ax->q);
                fprintf(out, "%s\n", cond);
                continue;
            }
            fprintf(out, "    %s (%d):", ax->name, ax->nvalues);
            for (int v = 0; v < ax->nvalues && v < 12; v++) {
                char buf[64];
                fprintf(out, "%s %s", v ? "," : "", qn_value_format(&ax->values[v], buf, sizeof buf));
            }
            if (ax->nvalues > 12) fprintf(out, ", ... (%d more)", ax->nvalues - 12);
            fprintf(out, "%s%s\n", cond, st->each_device_kind == 2 && a == st->naxes - 1 ? " (placement: each_device_kind)" : "");
        }
        if (st->each_device_kind == 1)
            fprintf(out, "    x each device kind present at run time (placement: each_device_kind: a last axis "
                         "device.kind; --cluster SPEC shows it on those kinds)\n");
        int64_t steps = training_steps(st);
        if (!strcmp(st->kind, "inference")) {
            fprintf(out, "    key metric %s (%s); trial ids %lld..%lld; one generation per trial\n", st->metric,
                    st->maximize ? "max" : "min", (long long)st->first_trial,
                    (long long)(st->first_trial + st->ntrials - 1));
            continue;
        }
        fprintf(out, "    key metric %s (%s); trial ids %lld..%lld; cost per trial: %lld training examples",
                st->metric, st->maximize ? "max" : "min", (long long)st->first_trial,
                (long long)(st->first_trial + st->ntrials - 1), (long long)(steps * c->train.epochs * c->data.train_size));
        fprintf(out, " (at the base epochs and train_size)\n");
    }
    /* Execution order: a stage runs once the stage it starts from has finished. */
    fprintf(out, "\norder:");
    int *done = calloc((size_t)job->nstages, sizeof *done);
    int printed = 0, parallel = 0;
    for (int round = 0; done && round < job->nstages; round++) {
        int first = 1;
        for (int s = 0; s < job->nstages; s++) {
            const qn_stage *st = &job->stages[s];
            if (done[s] || (st->from.kind != QN_FROM_NONE && done[st->from.stage] != 1)) continue;
            fprintf(out, "%s%s", first ? (printed ? " -> " : " ") : " + ", st->name);
            parallel |= !first;
            done[s] = 2;
            first = 0;
            printed = 1;
        }
        for (int s = 0; s < job->nstages; s++)
            if (done[s] == 2) done[s] = 1;
    }
    free(done);
    fprintf(out, "\n");
    if (parallel) fprintf(out, "(stages joined by + can run at the same time)\n");
}
