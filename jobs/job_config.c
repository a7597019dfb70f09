/* job_config.c: a trial's configuration as dotted parameters ("quant.width", "train.lr", ...):
 * the table of every parameter with its type and range, setting one, and the checks that need
 * several (frac_width against width). The job file's base sections and grid axes both go through
 * qn_config_set, so they accept exactly the same names and values. */
#include <ctype.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job_internal.h"
#include "qn_job.h"

typedef enum { F_INT, F_NUM, F_STR, F_PATH } field_type; /* F_PATH: any single-line text */

typedef struct {
    const char *path;
    size_t offset, size;   /* where the value lives in qn_trial_config */
    field_type type;
    double min, max;       /* inclusive, except where open_min / open_max */
    int open_min, open_max;
    const char *choices;   /* F_STR: allowed values, "|"-separated */
    int base_only;         /* may not vary across trials (the model family, the dataset) */
} field;

/* offset and size of member m, which must have type T (a char array reads as char *): a table entry
 * naming the wrong member type fails to compile (char[-1]). */
#define MEMBER(m, T)                                                                                    \
    offsetof(qn_trial_config, m) + 0 * sizeof(char[_Generic(((qn_trial_config *)0)->m, T: 1, default: -1)]), \
        sizeof(((qn_trial_config *)0)->m)

static const field fields[] = {
    {"model.arch", MEMBER(model.arch, char *), F_STR, 0, 0, 0, 0, "mlp|bert|null|llm", 1},
    {"model.preset", MEMBER(model.preset, char *), F_STR, 0, 0, 0, 0, "bert-tiny|bert-mini|bert-small", 1},
    {"model.embed_dim", MEMBER(model.embed_dim, int), F_INT, 1, 65536, 0, 0, NULL, 0},
    {"model.hidden_size", MEMBER(model.hidden_size, int), F_INT, 1, 65536, 0, 0, NULL, 0},
    {"model.layers", MEMBER(model.layers, int), F_INT, 1, 48, 0, 0, NULL, 0},
    {"model.heads", MEMBER(model.heads, int), F_INT, 1, 64, 0, 0, NULL, 0},
    {"model.intermediate_size", MEMBER(model.intermediate_size, int), F_INT, 1, 65536, 0, 0, NULL, 0},
    {"model.num_labels", MEMBER(model.num_labels, int), F_INT, 2, 1000, 0, 0, NULL, 1},
    {"model.pretrained", MEMBER(model.pretrained, char *), F_PATH, 0, 0, 0, 0, NULL, 1},
    {"data.dataset", MEMBER(data.dataset, char *), F_STR, 0, 0, 0, 0, "synthetic-sentiment|imdb|csv|tsv|jsonl", 1},
    {"data.path", MEMBER(data.path, char *), F_PATH, 0, 0, 0, 0, NULL, 1},
    {"data.vocab", MEMBER(data.vocab, char *), F_PATH, 0, 0, 0, 0, NULL, 1},
    {"data.train_size", MEMBER(data.train_size, int), F_INT, 1, 10000000, 0, 0, NULL, 0},
    {"data.eval_size", MEMBER(data.eval_size, int), F_INT, 1, 10000000, 0, 0, NULL, 0},
    {"data.max_len", MEMBER(data.max_len, int), F_INT, 2, 4096, 0, 0, NULL, 0},
    {"data.label_noise", MEMBER(data.label_noise, double), F_NUM, 0, 0.5, 0, 0, NULL, 0},
    {"train.optimizer", MEMBER(train.optimizer, char *), F_STR, 0, 0, 0, 0, "adamw", 1},
    {"train.checkpoints", MEMBER(train.checkpoints, char *), F_STR, 0, 0, 0, 0, "none|best|all", 1},
    {"train.lr_schedule", MEMBER(train.lr_schedule, char *), F_STR, 0, 0, 0, 0, "constant|linear|cosine", 0},
    {"train.warmup_ratio", MEMBER(train.warmup_ratio, double), F_NUM, 0, 1, 0, 0, NULL, 0},
    {"train.epochs", MEMBER(train.epochs, int), F_INT, 1, 1000000, 0, 0, NULL, 0},
    {"train.batch_size", MEMBER(train.batch_size, int), F_INT, 1, 65536, 0, 0, NULL, 0},
    {"train.devices", MEMBER(train.devices, int), F_INT, 1, 64, 0, 0, NULL, 0}, /* QN_MAX_GROUP */
    {"train.lr", MEMBER(train.lr, double), F_NUM, 0, INFINITY, 1, 0, NULL, 0},
    {"train.weight_decay", MEMBER(train.weight_decay, double), F_NUM, 0, INFINITY, 0, 0, NULL, 0},
    {"train.weight_decay_params", MEMBER(train.weight_decay_params, char *), F_STR, 0, 0, 0, 0, "trainer|all", 0},
    {"train.beta1", MEMBER(train.beta1, double), F_NUM, 0, 1, 0, 1, NULL, 0},
    {"train.beta2", MEMBER(train.beta2, double), F_NUM, 0, 1, 0, 1, NULL, 0},
    {"train.eps", MEMBER(train.eps, double), F_NUM, 0, INFINITY, 1, 0, NULL, 0},
    {"debug.fault", MEMBER(debug.fault, char *), F_STR, 0, 0, 0, 0, "none|segv|abort|hang|nan", 0},
    {"debug.sleep_ms", MEMBER(debug.sleep_ms, double), F_NUM, 0, INFINITY, 0, 0, NULL, 0},
    /* inference stages (model.arch: llm); llm.precision is checked by finish_llm */
    {"llm.model", MEMBER(llm.model, char *), F_PATH, 0, 0, 0, 0, NULL, 0},
    {"llm.precision", MEMBER(llm.precision, char *), F_PATH, 0, 0, 0, 0, NULL, 0},
    {"llm.keep", MEMBER(llm.keep, char *), F_PATH, 0, 0, 0, 0, NULL, 0},
    {"llm.prompt", MEMBER(llm.prompt, char *), F_PATH, 0, 0, 0, 0, NULL, 0},
    {"llm.prompt_len", MEMBER(llm.prompt_len, int), F_INT, 1, 65536, 0, 0, NULL, 0},
    {"llm.max_new_tokens", MEMBER(llm.max_new_tokens, int), F_INT, 1, 65536, 0, 0, NULL, 0},
    {"llm.batch", MEMBER(llm.batch, int), F_INT, 1, 4096, 0, 0, NULL, 0},
    {"llm.ignore_eos", MEMBER(llm.ignore_eos, char *), F_STR, 0, 0, 0, 0, "true|false", 0},
    {"llm.perplexity_file", MEMBER(llm.perplexity_file, char *), F_PATH, 0, 0, 0, 0, NULL, 0},
    {"llm.context", MEMBER(llm.context, int), F_INT, 2, 1 << 20, 0, 0, NULL, 0},
    {"llm.stride", MEMBER(llm.stride, int), F_INT, 1, 1 << 20, 0, 0, NULL, 0},
    {"device.kind", MEMBER(device.kind, char *), F_PATH, 0, 0, 0, 0, NULL, 0},
};

/* Per-operand quantization keys (quant.KEY sets all three operands, quant.OPERAND.KEY one). */
static const char *const quant_operands[] = {"data_in", "weight", "bias"};
static const char *const quant_keys[] = {"name", "width", "frac_width", "exponent_width", "exponent_bias",
                                        "exponent_bias_width", "block_size", "bipolar", "scaling_factor",
                                        "double_quant", "threshold"};
/* Per-target pruning keys (prune.KEY sets weight and activation, prune.TARGET.KEY one). */
static const char *const prune_targets[] = {"weight", "activation"};
static const char *const prune_keys[] = {"method", "scope", "sparsity"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every parameter name, for "did you mean" and the docs. */
int qn_param_names(const char **out, int max) {
    static char buf[64][48];
    int n = 0;
    for (int i = 0; i < COUNT(fields) && n < max; i++) out[n++] = fields[i].path;
    int b = 0;
    for (int k = 0; k < COUNT(quant_keys) && n < max; k++) {
        snprintf(buf[b], sizeof buf[b], "quant.%s", quant_keys[k]);
        out[n++] = buf[b++];
        for (int o = 0; o < COUNT(quant_operands) && n < max; o++) {
            snprintf(buf[b], sizeof buf[b], "quant.%s.%s", quant_operands[o], quant_keys[k]);
            out[n++] = buf[b++];
        }
    }
    for (int k = 0; k < COUNT(prune_keys) && n < max; k++) {
        snprintf(buf[b], sizeof buf[b], "prune.%s", prune_keys[k]);
        out[n++] = buf[b++];
        for (int t = 0; t < COUNT(prune_targets) && n < max; t++) {
            snprintf(buf[b], sizeof buf[b], "prune.%s.%s", prune_targets[t], prune_keys[k]);
            out[n++] = buf[b++];
        }
    }
    return n;
}

int qn_param_is_base_only(const char *name) {
    for (int i = 0; i < COUNT(fields); i++)
        if (strcmp(fields[i].path, name) == 0) return fields[i].base_only;
    return 0;
}

void qn_config_defaults(qn_trial_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->model.arch, sizeof c->model.arch, "mlp");
    c->model.embed_dim = 64;
    c->model.hidden_size = 0; /* resolved by qn_config_finish: 128 for mlp, the preset's for bert */
    c->model.num_labels = 2;
    snprintf(c->data.dataset, sizeof c->data.dataset, "synthetic-sentiment");
    c->data.train_size = 4000;
    c->data.eval_size = 1000;
    c->data.max_len = 64;
    c->data.label_noise = -1; /* the dataset's default: qn_config_finish */
    snprintf(c->train.optimizer, sizeof c->train.optimizer, "adamw");
    snprintf(c->train.checkpoints, sizeof c->train.checkpoints, "best");
    snprintf(c->train.lr_schedule, sizeof c->train.lr_schedule, "constant");
    c->train.warmup_ratio = 0.0;
    c->train.epochs = 2;
    c->train.batch_size = 32;
    c->train.devices = 1;
    c->train.lr = 1e-3;
    c->train.weight_decay = 0.01;
    snprintf(c->train.weight_decay_params, sizeof c->train.weight_decay_params, "trainer");
    c->train.beta1 = 0.9;
    c->train.beta2 = 0.999;
    c->train.eps = 1e-8;
    qn_quant_operand *ops[3] = {&c->quant.data_in, &c->quant.weight, &c->quant.bias};
    for (int i = 0; i < 3; i++) ops[i]->frac_pct = -1.0;
    snprintf(c->prune.weight.scope, sizeof c->prune.weight.scope, "local");
    snprintf(c->prune.activation.scope, sizeof c->prune.activation.scope, "local");
    c->prune.weight.sparsity = c->prune.activation.sparsity = -1.0; /* not set */
    snprintf(c->debug.fault, sizeof c->debug.fault, "none");
    snprintf(c->llm.precision, sizeof c->llm.precision, "fp32");
    snprintf(c->llm.keep, sizeof c->llm.keep, "lm_head"); /* seed 002's default */
    c->llm.prompt_len = 8;
    c->llm.max_new_tokens = 16;
    c->llm.batch = 1;
    snprintf(c->llm.ignore_eos, sizeof c->llm.ignore_eos, "false");
    c->llm.context = 128;
}

qn_fault qn_fault_of(const char *name) {
    return !strcmp(name, "segv")    ? QN_FAULT_SEGV
           : !strcmp(name, "abort") ? QN_FAULT_ABORT
           : !strcmp(name, "hang")  ? QN_FAULT_HANG
           : !strcmp(name, "nan")   ? QN_FAULT_NAN
                                    : QN_FAULT_NONE;
}

static int in_choices(const char *s, const char *choices) {
    size_t n = strlen(s);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

/* "a|b|c" -> "a, b or c" */
static void choices_text(const char *choices, char *out, size_t len) {
    size_t n = 0;
    const char *last = strrchr(choices, '|');
    out[0] = 0;
    for (const char *p = choices; *p && n + 5 < len; p++) {
        if (*p == '|') {
            const char *sep = p == last ? " or " : ", ";
            n += (size_t)snprintf(out + n, len - n, "%s", sep);
        } else {
            out[n++] = *p;
            out[n] = 0;
        }
    }
}

static int check_number(const char *name, const qn_value *v, int integral, double *out, char *err, size_t errlen) {
    if (v->kind != QN_VAL_NUM) {
        snprintf(err, errlen, "%s must be %s, not '%s'", name, integral ? "an integer" : "a number", v->str);
        return -1;
    }
    if (!isfinite(v->num)) {
        snprintf(err, errlen, "%s must be a finite number", name);
        return -1;
    }
    if (integral && v->num != floor(v->num)) {
        snprintf(err, errlen, "%s must be an integer, not %g", name, v->num);
        return -1;
    }
    *out = v->num;
    return 0;
}

static int set_field(qn_trial_config *c, const field *f, const qn_value *v, char *err, size_t errlen) {
    void *p = (char *)c + f->offset;
    if (f->type == F_PATH) {
        if (v->kind != QN_VAL_STR || !v->str[0] || strpbrk(v->str, "\n\r")) {
            snprintf(err, errlen, "%s must be a path", f->path);
            return -1;
        }
        if (strlen(v->str) >= f->size) {
            snprintf(err, errlen, "%s is longer than %zu characters", f->path, f->size - 1);
            return -1;
        }
        snprintf((char *)p, f->size, "%s", v->str);
        return 0;
    }
    if (f->type == F_STR) {
        char tmp[64];
        if (v->kind != QN_VAL_STR) {
            snprintf(err, errlen, "%s must be a name, not a number", f->path);
            return -1;
        }
        if (!in_choices(v->str, f->choices)) {
            choices_text(f->choices, tmp, sizeof tmp);
            snprintf(err, errlen, "unknown %s '%.100s': expected %s", f->path, v->str, tmp);
            return -1;
        }
        snprintf((char *)p, f->size, "%s", v->str);
        return 0;
    }
    double x;
    if (check_number(f->path, v, f->type == F_INT, &x, err, errlen) != 0) return -1;
    int low = f->open_min ? !(x > f->min) : !(x >= f->min);
    int high = f->open_max ? !(x < f->max) : !(x <= f->max);
    if (low || high) {
        char lo[32], hi[32];
        snprintf(lo, sizeof lo, "%g", f->min);
        snprintf(hi, sizeof hi, "%g", f->max);
        if (isinf(f->max))
            snprintf(err, errlen, "%s must be %s %s (got %g)", f->path, f->open_min ? "greater than" : "at least", lo, x);
        else
            snprintf(err, errlen, "%s must be in %s%s, %s%s (got %g)", f->path, f->open_min ? "(" : "[", lo, hi,
                     f->open_max ? ")" : "]", x);
        return -1;
    }
    if (f->type == F_INT)
        *(int *)p = (int)x;
    else
        *(double *)p = x;
    return 0;
}

static int set_quant(qn_quant_operand *op, const char *name, const char *key, const qn_value *v, char *err,
                     size_t errlen) {
    if (!strcmp(key, "name")) {
        qn_format_kind kind = v->kind == QN_VAL_STR ? qn_format_kind_of(v->str) : QN_FMT_NONE;
        /* fp32 reads as the labs write "not quantized" (MASE's per-layer choice of fp32 or integer) */
        int plain = v->kind == QN_VAL_STR && (!strcmp(v->str, "none") || !strcmp(v->str, "fp32"));
        if (v->kind != QN_VAL_STR || (kind == QN_FMT_NONE && !plain)) {
            const char *names[QN_FMT_COUNT + 1];
            int n = 0;
            for (int k = 1; k < QN_FMT_COUNT; k++) names[n++] = qn_format_name((qn_format_kind)k);
            names[n++] = "none";
            const char *hint = v->kind == QN_VAL_STR ? qn_suggest(v->str, names, n) : NULL;
            if (hint)
                snprintf(err, errlen, "unknown %s '%.100s': did you mean '%s'?", name, v->str, hint);
            else
                snprintf(err, errlen, "unknown %s '%.100s': expected one of %s, or none", name,
                         v->kind == QN_VAL_STR ? v->str : "number", qn_format_names());
            return -1;
        }
        snprintf(op->name, sizeof op->name, "%s", plain ? "" : v->str);
        op->given |= QN_QK_NAME;
        return 0;
    }
    static const struct {
        const char *key;
        unsigned bit;
    } ints[] = {{"exponent_width", QN_QK_EXPONENT_WIDTH}, {"exponent_bias", QN_QK_EXPONENT_BIAS},
                {"exponent_bias_width", QN_QK_EXPONENT_BIAS_WIDTH}, {"block_size", QN_QK_BLOCK_SIZE},
                {"bipolar", QN_QK_BIPOLAR}, {"scaling_factor", QN_QK_SCALING_FACTOR},
                {"double_quant", QN_QK_DOUBLE_QUANT}};
    for (int i = 0; i < COUNT(ints); i++) {
        if (strcmp(key, ints[i].key) != 0) continue;
        double x;
        if (check_number(name, v, 1, &x, err, errlen) != 0) return -1;
        if (fabs(x) > 1e6) {
            snprintf(err, errlen, "%s is out of range (got %g)", name, x);
            return -1;
        }
        int *fields[] = {&op->exponent_width, &op->exponent_bias, &op->exponent_bias_width, &op->block_size,
                         &op->bipolar, &op->scaling_factor, &op->double_quant};
        *fields[i] = (int)x;
        op->given |= ints[i].bit;
        return 0;
    }
    if (!strcmp(key, "threshold")) {
        double x;
        if (check_number(name, v, 0, &x, err, errlen) != 0) return -1;
        if (x < 0) {
            snprintf(err, errlen, "%s must be at least 0 (got %g)", name, x);
            return -1;
        }
        op->threshold = x;
        op->given |= QN_QK_THRESHOLD;
        return 0;
    }
    if (!strcmp(key, "width")) {
        double x;
        if (check_number(name, v, 1, &x, err, errlen) != 0) return -1;
        if (x < 2 || x > 32) {
            snprintf(err, errlen, "%s must be in [2, 32] (got %g)", name, x);
            return -1;
        }
        op->width = (int)x;
        op->given |= QN_QK_WIDTH;
        return 0;
    }
    /* frac_width: bits, or "NN%" of the width */
    if (v->kind == QN_VAL_STR) {
        const char *s = v->str;
        char *end;
        size_t n = strlen(s);
        double pct = n > 1 && s[n - 1] == '%' && (isdigit((unsigned char)s[0]) || s[0] == '.') ? strtod(s, &end) : -1;
        if (pct < 0 || end != s + n - 1 || !isfinite(pct)) {
            snprintf(err, errlen, "%s must be a number of bits or a percentage of the width like \"50%%\", not '%.100s'",
                     name, s);
            return -1;
        }
        if (pct > 100) {
            snprintf(err, errlen, "%s percentage must be in [0%%, 100%%] (got %s)", name, s);
            return -1;
        }
        op->frac_pct = pct;
        op->frac_width = 0;
        op->given |= QN_QK_FRAC_WIDTH;
        return 0;
    }
    double x;
    if (check_number(name, v, 1, &x, err, errlen) != 0) return -1;
    if (x < 0 || x > 32) {
        snprintf(err, errlen, "%s must be in [0, 32] bits (got %g)", name, x);
        return -1;
    }
    op->frac_width = (int)x;
    op->frac_pct = -1.0;
    op->given |= QN_QK_FRAC_WIDTH;
    return 0;
}

int qn_quant_operand_format(const qn_quant_operand *op, qn_format *f, char *err, size_t errlen) {
    qn_format_kind kind = qn_format_kind_of(op->name);
    qn_format_defaults(kind, f);
    if (kind == QN_FMT_NONE) return 0;
    struct {
        const char *key;
        int given;
        double value;
    } keys[] = {
        {"width", op->width > 0, op->width},
        /* integer's frac_width defaults to 0 bits */
        {"frac_width", (op->given & QN_QK_FRAC_WIDTH) || kind == QN_FMT_INTEGER, op->frac_width},
        {"exponent_width", !!(op->given & QN_QK_EXPONENT_WIDTH), op->exponent_width},
        {"exponent_bias", !!(op->given & QN_QK_EXPONENT_BIAS), op->exponent_bias},
        {"exponent_bias_width", !!(op->given & QN_QK_EXPONENT_BIAS_WIDTH), op->exponent_bias_width},
        {"block_size", !!(op->given & QN_QK_BLOCK_SIZE), op->block_size},
        {"bipolar", !!(op->given & QN_QK_BIPOLAR), op->bipolar},
        {"scaling_factor", !!(op->given & QN_QK_SCALING_FACTOR), op->scaling_factor},
        {"double_quant", !!(op->given & QN_QK_DOUBLE_QUANT), op->double_quant},
        {"threshold", !!(op->given & QN_QK_THRESHOLD), op->threshold},
    };
    for (int i = 0; i < COUNT(keys); i++)
        if (keys[i].given && qn_format_set(f, keys[i].key, keys[i].value, err, errlen) != 0) return -1;
    return qn_format_check(f, err, errlen);
}

static int set_prune(qn_prune_target *t, const char *name, const char *key, const qn_value *v, char *err,
                     size_t errlen) {
    if (!strcmp(key, "sparsity")) {
        double x;
        if (check_number(name, v, 0, &x, err, errlen) != 0) return -1;
        if (x < 0 || x > 1) {
            snprintf(err, errlen, "%s must be in [0, 1] (got %g)", name, x);
            return -1;
        }
        t->sparsity = x;
        return 0;
    }
    const char *choices = !strcmp(key, "method") ? "random|l1-norm" : "local|global";
    if (v->kind != QN_VAL_STR || !in_choices(v->str, choices)) {
        char tmp[64];
        choices_text(choices, tmp, sizeof tmp);
        snprintf(err, errlen, "unknown %s '%.100s': expected %s", name, v->kind == QN_VAL_STR ? v->str : "number", tmp);
        return -1;
    }
    if (!strcmp(key, "method"))
        snprintf(t->method, sizeof t->method, "%s", v->str);
    else
        snprintf(t->scope, sizeof t->scope, "%s", v->str);
    return 0;
}

static int find_index(const char *s, size_t len, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncmp(list[i], s, len) == 0) return i;
    return -1;
}

/* Split "group.a.b" into the part after the group and its optional middle component. */
static int grouped(const char *name, const char *group, const char *const *mids, int nmids, const char *const *keys,
                   int nkeys, int *mid, int *key) {
    size_t g = strlen(group);
    if (strncmp(name, group, g) != 0 || name[g] != '.') return 0;
    const char *rest = name + g + 1;
    const char *dot = strchr(rest, '.');
    *mid = -1;
    if (dot) {
        *mid = find_index(rest, (size_t)(dot - rest), mids, nmids);
        if (*mid < 0) return 0;
        rest = dot + 1;
    }
    *key = find_index(rest, strlen(rest), keys, nkeys);
    return *key >= 0;
}

/* "did you mean" for the key part of a per-layer parameter: the layer's name is checked later,
 * against the model */
static void unknown_layer_key(const char *name, size_t prefix, char *err, size_t errlen) {
    const char *names[128];
    int n = 0, all = qn_param_names(names, 128);
    for (int i = 0; i < all; i++)
        if (!strncmp(names[i], "quant.", 6) || !strncmp(names[i], "prune.", 6)) names[n++] = names[i];
    const char *hint = qn_suggest(name + prefix, names, n);
    if (hint)
        snprintf(err, errlen, "unknown parameter '%.150s': did you mean '%.*s%s'?", name, (int)prefix, name, hint);
    else
        snprintf(err, errlen, "unknown parameter '%.150s': per-layer parameters are layers.LAYER.quant.KEY and "
                              "layers.LAYER.prune.KEY", name);
}

/* layers.<LAYER>.quant.* / layers.<LAYER>.prune.*: LAYER holds dots, so it ends where ".quant." or
 * ".prune." starts. */
static int set_layer(qn_trial_config *cfg, const char *name, const qn_value *v, char *err, size_t errlen) {
    const char *rest = name + 7;
    const char *q = strstr(rest, ".quant."), *p = strstr(rest, ".prune.");
    const char *end = q && (!p || q < p) ? q : p;
    if (!end || end == rest) {
        unknown_layer_key(name, strlen(name), err, errlen);
        return -1;
    }
    size_t prefix = (size_t)(end + 1 - name);
    int mid, key;
    int is_quant = end == q;
    if (is_quant ? !grouped(end + 1, "quant", quant_operands, COUNT(quant_operands), quant_keys, COUNT(quant_keys), &mid, &key)
                 : !grouped(end + 1, "prune", prune_targets, COUNT(prune_targets), prune_keys, COUNT(prune_keys), &mid, &key)) {
        unknown_layer_key(name, prefix, err, errlen);
        return -1;
    }
    char layer[QN_LAYER_NAME_LEN + 1];
    size_t len = (size_t)(end - rest);
    if (len >= sizeof layer) len = sizeof layer - 1; /* too long: refused by the slot with the name cut */
    memcpy(layer, rest, len);
    layer[len] = 0;
    qn_layer_override *ov = qn_layer_override_slot(cfg, layer, err, errlen);
    if (!ov) return -1;
    if (is_quant) {
        qn_quant_operand *ops[3] = {&ov->quant.data_in, &ov->quant.weight, &ov->quant.bias};
        for (int o = 0; o < 3; o++)
            if ((mid < 0 || mid == o) && set_quant(ops[o], name, quant_keys[key], v, err, errlen) != 0) return -1;
        return 0;
    }
    qn_prune_target *ts[2] = {&ov->prune.weight, &ov->prune.activation};
    for (int t = 0; t < 2; t++)
        if ((mid < 0 || mid == t) && set_prune(ts[t], name, prune_keys[key], v, err, errlen) != 0) return -1;
    return 0;
}

int qn_config_set(qn_trial_config *cfg, const char *name, const qn_value *v, char *err, size_t errlen) {
    if (!strncmp(name, "layers.", 7)) return set_layer(cfg, name, v, err, errlen);
    for (int i = 0; i < COUNT(fields); i++)
        if (strcmp(fields[i].path, name) == 0) return set_field(cfg, &fields[i], v, err, errlen);
    int mid, key;
    if (grouped(name, "quant", quant_operands, COUNT(quant_operands), quant_keys, COUNT(quant_keys), &mid, &key)) {
        qn_quant_operand *ops[3] = {&cfg->quant.data_in, &cfg->quant.weight, &cfg->quant.bias};
        for (int o = 0; o < 3; o++)
            if ((mid < 0 || mid == o) && set_quant(ops[o], name, quant_keys[key], v, err, errlen) != 0) return -1;
        return 0;
    }
    if (grouped(name, "prune", prune_targets, COUNT(prune_targets), prune_keys, COUNT(prune_keys), &mid, &key)) {
        qn_prune_target *ts[2] = {&cfg->prune.weight, &cfg->prune.activation};
        for (int t = 0; t < 2; t++)
            if ((mid < 0 || mid == t) && set_prune(ts[t], name, prune_keys[key], v, err, errlen) != 0) return -1;
        return 0;
    }
    const char *names[128]; /* every name: the table's, then the quant and prune keys */
    int n = qn_param_names(names, 128);
    const char *hint = qn_suggest(name, names, n);
    if (hint)
        snprintf(err, errlen, "unknown parameter '%.100s': did you mean '%s'?", name, hint);
    else
        snprintf(err, errlen, "unknown parameter '%.100s' (see docs/jobs.md for the list)", name);
    return -1;
}

static int same_operand(const qn_quant_operand *a, const qn_quant_operand *b) {
    return !strcmp(a->name, b->name) && a->width == b->width && a->frac_width == b->frac_width && a->given == b->given &&
           a->exponent_width == b->exponent_width && a->exponent_bias == b->exponent_bias &&
           a->exponent_bias_width == b->exponent_bias_width && a->block_size == b->block_size &&
           a->bipolar == b->bipolar && a->scaling_factor == b->scaling_factor && a->double_quant == b->double_quant &&
           a->threshold == b->threshold;
}

/* The model's sizes: mlp defaults, or a BERT preset (bert-tiny unless named) for what is not given. */
static int finish_model(qn_model_cfg *m, int max_len, char *err, size_t errlen);
int qn_config_finish_model(qn_trial_config *cfg, char *err, size_t errlen) {
    return finish_model(&cfg->model, cfg->data.max_len, err, errlen);
}

static int finish_model(qn_model_cfg *m, int max_len, char *err, size_t errlen) {
    if (!strcmp(m->arch, "null") || !strcmp(m->arch, "llm")) {
        /* no model: the sizes mean nothing, so giving one is a mistake worth naming */
        if (m->preset[0] || m->layers || m->heads || m->intermediate_size || m->pretrained[0]) {
            snprintf(err, errlen, "model.preset, model.layers, model.heads, model.intermediate_size and "
                                  "model.pretrained are for model.arch: bert, not %s", m->arch);
            return -1;
        }
        return 0;
    }
    if (!strcmp(m->arch, "mlp")) {
        if (m->preset[0] || m->layers || m->heads || m->intermediate_size) {
            snprintf(err, errlen, "model.preset, model.layers, model.heads and model.intermediate_size are for "
                                  "model.arch: bert, not mlp");
            return -1;
        }
        if (!m->hidden_size) m->hidden_size = 128;
        return 0;
    }
    static const struct {
        const char *name;
        int L, C, NH, I;
    } presets[] = {{"bert-tiny", 2, 128, 2, 512}, {"bert-mini", 4, 256, 4, 1024}, {"bert-small", 4, 512, 8, 2048}};
    int p = 0;
    for (int i = 0; i < 3; i++)
        if (!strcmp(m->preset, presets[i].name)) p = i;
    if (!m->preset[0]) snprintf(m->preset, sizeof m->preset, "%s", presets[0].name);
    if (!m->hidden_size) m->hidden_size = presets[p].C;
    if (!m->layers) m->layers = presets[p].L;
    if (!m->heads) m->heads = presets[p].NH;
    if (!m->intermediate_size) m->intermediate_size = presets[p].I;
    if (m->hidden_size % m->heads != 0) {
        snprintf(err, errlen, "model.hidden_size %d is not a multiple of model.heads %d", m->hidden_size, m->heads);
        return -1;
    }
    if (max_len > 512) {
        snprintf(err, errlen, "data.max_len %d is longer than BERT's 512 positions", max_len);
        return -1;
    }
    return 0;
}

/* The file datasets need their files and a vocabulary; a pretrained model needs its directory. */
static int finish_data(qn_trial_config *cfg, char *err, size_t errlen) {
    qn_data_cfg *d = &cfg->data;
    /* real labels are kept as they are unless noise is asked for; the synthetic data has 5% by default */
    if (d->label_noise < 0) d->label_noise = strcmp(d->dataset, "synthetic-sentiment") ? 0.0 : 0.05;
    if (cfg->model.pretrained[0]) {
        char f[600];
        snprintf(f, sizeof f, "%s/config.json", cfg->model.pretrained);
        if (strcmp(cfg->model.arch, "bert") != 0) {
            snprintf(err, errlen, "model.pretrained needs model.arch: bert");
            return -1;
        }
        if (access(f, R_OK) != 0) {
            snprintf(err, errlen, "model.pretrained: %s is not readable: give a Hugging Face model directory", f);
            return -1;
        }
    }
    if (!strcmp(d->dataset, "synthetic-sentiment")) {
        if (d->path[0] || d->vocab[0]) {
            snprintf(err, errlen, "data.path and data.vocab are for file datasets (imdb, csv, tsv, jsonl), not synthetic-sentiment");
            return -1;
        }
        return 0;
    }
    if (!d->path[0]) {
        snprintf(err, errlen, "data.dataset %s needs data.path", d->dataset);
        return -1;
    }
    if (access(d->path, R_OK) != 0) {
        snprintf(err, errlen, "data.path '%.300s' is not readable", d->path);
        return -1;
    }
    if (!d->vocab[0] && !cfg->model.pretrained[0]) {
        snprintf(err, errlen, "data.dataset %s needs a vocabulary: data.vocab (a vocab.txt) or model.pretrained", d->dataset);
        return -1;
    }
    if (d->vocab[0] && access(d->vocab, R_OK) != 0) {
        snprintf(err, errlen, "data.vocab '%.300s' is not readable", d->vocab);
        return -1;
    }
    return 0;
}

/* An inference trial's settings: the model directory and files it names exist, the precision is one
 * the worker knows (its keys are checked where it is applied, worker/llm_quant.c). */
static int finish_llm(qn_trial_config *cfg, char *err, size_t errlen) {
    qn_llm_cfg *l = &cfg->llm;
    if (strcmp(cfg->model.arch, "llm") != 0) {
        if (l->model[0] || cfg->device.kind[0]) {
            snprintf(err, errlen, "%s is for model.arch: llm (an inference stage), not %s",
                     l->model[0] ? "llm.model" : "device.kind", cfg->model.arch);
            return -1;
        }
        return 0;
    }
    /* the base may leave llm.model to the grid: the parser checks every trial has one */
    char f[600];
    snprintf(f, sizeof f, "%s/config.json", l->model);
    if (l->model[0] && access(f, R_OK) != 0) {
        snprintf(err, errlen, "llm.model: %.400s is not readable: give a Hugging Face model directory", f);
        return -1;
    }
    static const char *const precisions[] = {"fp32", "fp16", "bf16", "w8a16", "int8", "nf4", "fp4"};
    size_t nlen = strcspn(l->precision, ":");
    int known = 0;
    for (int i = 0; i < 7; i++) known |= strlen(precisions[i]) == nlen && !strncmp(precisions[i], l->precision, nlen);
    if (!known) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(nlen < 63 ? nlen : 63), l->precision);
        const char *hint = qn_suggest(name, precisions, 7);
        if (hint)
            snprintf(err, errlen, "unknown llm.precision '%s': did you mean '%s'?", name, hint);
        else
            snprintf(err, errlen, "unknown llm.precision '%s': expected fp32, fp16, bf16, w8a16, int8, nf4 or fp4 "
                                  "(optionally NAME:key=value,...)", name);
        return -1;
    }
    if (l->prompt[0] && l->model[0]) {
        snprintf(f, sizeof f, "%s/tokenizer.json", l->model);
        if (access(f, R_OK) != 0) {
            snprintf(err, errlen, "llm.prompt is text, which needs %.400s: give llm.prompt_len (random ids) instead", f);
            return -1;
        }
    }
    if (l->perplexity_file[0]) {
        snprintf(f, sizeof f, "%s/tokenizer.json", l->model);
        if (access(l->perplexity_file, R_OK) != 0) {
            snprintf(err, errlen, "llm.perplexity_file '%.300s' is not readable", l->perplexity_file);
            return -1;
        }
        if (l->model[0] && access(f, R_OK) != 0) {
            snprintf(err, errlen, "llm.perplexity_file is text, which needs %.400s", f);
            return -1;
        }
        if (!l->stride) l->stride = l->context / 2 > 0 ? l->context / 2 : 1;
        if (l->stride > l->context) {
            snprintf(err, errlen, "llm.stride %d is longer than llm.context %d (windows would skip tokens)", l->stride,
                     l->context);
            return -1;
        }
    }
    return 0;
}

int qn_config_finish(qn_trial_config *cfg, char *err, size_t errlen) {
    if (finish_model(&cfg->model, cfg->data.max_len, err, errlen) != 0) return -1;
    if (finish_llm(cfg, err, errlen) != 0) return -1;
    if (finish_data(cfg, err, errlen) != 0) return -1;
    qn_quant_operand *ops[3] = {&cfg->quant.data_in, &cfg->quant.weight, &cfg->quant.bias};
    for (int o = 0; o < 3; o++) {
        qn_quant_operand *op = ops[o];
        if (!op->name[0]) continue;
        if (op->frac_pct >= 0 && strcmp(op->name, "integer") != 0) {
            snprintf(err, errlen, "quant.%s.frac_width as a percentage of the width applies to integer, not %s",
                     quant_operands[o], op->name);
            return -1;
        }
        if (op->frac_pct >= 0 && op->width == 0) {
            snprintf(err, errlen, "quant.%s.frac_width is a percentage of quant.%s.width, which is not set",
                     quant_operands[o], quant_operands[o]);
            return -1;
        }
        if (op->frac_pct >= 0) {
            /* round half up: 25% of 6 bits is 2 (1.5 rounds up) */
            op->frac_width = (int)floor(op->width * op->frac_pct / 100.0 + 0.5);
        }
    }
    for (int o = 0; o < 3; o++) {
        qn_quant_operand *op = ops[o];
        if (!op->name[0]) continue;
        /* Written once for all operands (quant.width): name it the way the user wrote it. */
        int shared = same_operand(ops[0], op) && same_operand(ops[1], op) && same_operand(ops[2], op);
        const char *operand = shared ? "" : quant_operands[o], *dot = shared ? "" : ".";
        if (!strcmp(op->name, "integer") && op->frac_width > op->width && op->width > 0) {
            snprintf(err, errlen, "quant%s%s.frac_width %d is larger than quant%s%s.width %d", dot, operand,
                     op->frac_width, dot, operand, op->width);
            return -1;
        }
        qn_format f;
        char msg[QN_ERR_LEN];
        if (qn_quant_operand_format(op, &f, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "quant%s%s: %s", dot, operand, msg);
            return -1;
        }
    }
    qn_prune_target *targets[2] = {&cfg->prune.weight, &cfg->prune.activation};
    const char *target_names[2] = {"weight", "activation"};
    for (int t = 0; t < 2; t++) {
        if (targets[t]->method[0] && targets[t]->sparsity < 0) {
            snprintf(err, errlen, "prune.%s.sparsity is not set (prune.%s.method is %s): set prune.sparsity",
                     target_names[t], target_names[t], targets[t]->method);
            return -1;
        }
    }
    return qn_layers_finish(cfg, err, errlen);
}


/* ---------------------------------------------------------------- names and values */

const char *qn_step_name(qn_step s) {
    switch (s) {
    case QN_STEP_TRAIN: return "train";
    case QN_STEP_EVAL: return "eval";
    case QN_STEP_PTQ_EVAL: return "ptq_eval";
    case QN_STEP_QAT: return "qat";
    case QN_STEP_PRUNE: return "prune";
    case QN_STEP_QUANTIZE: return "quantize";
    case QN_STEP_INFER: return "infer";
    }
    return "?";
}

const char *qn_step_metric(qn_step s) {
    switch (s) {
    case QN_STEP_TRAIN: return "train_loss";
    case QN_STEP_EVAL: return "accuracy";
    case QN_STEP_PTQ_EVAL: return "ptq_accuracy";
    case QN_STEP_QAT: return "qat_accuracy";
    case QN_STEP_PRUNE: return "weight_sparsity";
    case QN_STEP_QUANTIZE: return "";
    case QN_STEP_INFER: return "tokens_per_s";
    }
    return "?";
}

int qn_step_metrics(qn_step s, const char **out) {
    int n = 0;
    switch (s) {
    case QN_STEP_TRAIN: out[n++] = "train_loss"; break;
    case QN_STEP_EVAL: out[n++] = "accuracy", out[n++] = "eval_loss", out[n++] = "activation_sparsity"; break;
    case QN_STEP_PTQ_EVAL: out[n++] = "ptq_accuracy", out[n++] = "ptq_loss", out[n++] = "activation_sparsity"; break;
    case QN_STEP_QAT: out[n++] = "qat_accuracy", out[n++] = "qat_loss", out[n++] = "train_loss"; break;
    case QN_STEP_PRUNE: out[n++] = "weight_sparsity"; break;
    case QN_STEP_QUANTIZE: break;
    case QN_STEP_INFER:
        out[n++] = "tokens_per_s", out[n++] = "decode_ms_per_token", out[n++] = "prefill_ms", out[n++] = "ttft_ms";
        out[n++] = "load_s", out[n++] = "perplexity";
        break;
    }
    return n;
}

char *qn_value_format(const qn_value *v, char *buf, size_t len) {
    if (v->kind == QN_VAL_STR)
        snprintf(buf, len, "%s", v->str);
    else
        snprintf(buf, len, "%.12g", v->num);
    return buf;
}

uint64_t qn_trial_seed(uint64_t job_seed, int64_t id) {
    /* splitmix64 of the job seed, mixed with the id and mixed again: neighbouring ids get unrelated seeds. */
    uint64_t z = job_seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= (z >> 31) ^ ((uint64_t)id * 0xd1b54a32d192ed03ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
