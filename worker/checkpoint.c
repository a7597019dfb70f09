/* checkpoint.c: a model's parameter buffer as named, packed tensors and back (qn_worker_ckpt.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "model.h"
#include "qn_formats.h"
#include "qn_worker_ckpt.h"

typedef struct {
    char name[128];
    int64_t offset;
    int ndim;
    int64_t shape[2];
    int linear;  /* index in the model's Linear list, -1 for other tensors */
    int operand; /* 1 weight, 2 bias (qn_linear.fmt index) */
} slot;

typedef struct {
    slot *s;
    int n, cap;
    int64_t off;
    int fail;
    int encoder_layers; /* bert: the Linear layers' names */
} layout;

static void add(layout *l, const char *name, int64_t rows, int64_t cols, int linear, int operand) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        slot *s = realloc(l->s, (size_t)cap * sizeof *s);
        if (!s) {
            l->fail = 1;
            return;
        }
        l->s = s, l->cap = cap;
    }
    slot *t = &l->s[l->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = l->off;
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows, t->shape[1] = cols;
    t->linear = linear, t->operand = operand;
    l->off += rows * (cols ? cols : 1);
}

static void add_linear(layout *l, const char *prefix, int64_t out, int64_t in, int linear) {
    char name[128]; /* tensor names are at most 127 characters (qn_checkpoint.h); layer names far less */
    snprintf(name, sizeof name, "%.119s.weight", prefix);
    add(l, name, out, in, linear, 1);
    snprintf(name, sizeof name, "%.119s.bias", prefix);
    add(l, name, out, 0, linear, 2);
}

/* The tensors of the buffer, in buffer order (mirrors mlp.c's and bert.c's views). */
static int make_layout(const qn_model_cfg *cfg, int64_t nparams, layout *l, char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    if (!strcmp(cfg->arch, "null")) {
        /* a null trial's placeholder state (worker/null_trial.c): whatever its length */
        add(l, "null.state", nparams, 0, -1, 0);
    } else if (!strcmp(cfg->arch, "mlp")) {
        int64_t E = cfg->embed_dim, H = cfg->hidden_size, C = cfg->num_labels, rest = H * E + H + C * H + C;
        if (E <= 0 || nparams <= rest || (nparams - rest) % E) goto mismatch;
        char name[QN_LAYER_NAME_LEN];
        add(l, "embedding.weight", (nparams - rest) / E, E, -1, 0);
        add_linear(l, qn_linear_layer_name("mlp", 0, 0, name, sizeof name), H, E, 0);
        add_linear(l, qn_linear_layer_name("mlp", 0, 1, name, sizeof name), C, H, 1);
    } else if (!strcmp(cfg->arch, "bert")) {
        qn_bert_config c = {0, 512, 2, cfg->hidden_size, cfg->layers, cfg->heads, cfg->intermediate_size,
                            cfg->num_labels, 1e-12f};
        if (cfg->pretrained[0] && qn_bert_config_from_hf(cfg->pretrained, &c, err, errlen) != 0) return -1;
        int64_t C = c.hidden, I = c.intermediate;
        c.vocab_size = 0;
        int64_t base = (int64_t)qn_bert_param_count(&c);
        if (C <= 0 || nparams <= base || (nparams - base) % C) goto mismatch;
        c.vocab_size = (int)((nparams - base) / C);
        char name[128];
        add(l, "bert.embeddings.word_embeddings.weight", c.vocab_size, C, -1, 0);
        add(l, "bert.embeddings.position_embeddings.weight", c.max_position, C, -1, 0);
        add(l, "bert.embeddings.token_type_embeddings.weight", c.type_vocab, C, -1, 0);
        add(l, "bert.embeddings.LayerNorm.weight", C, 0, -1, 0);
        add(l, "bert.embeddings.LayerNorm.bias", C, 0, -1, 0);
        l->encoder_layers = c.layers;
        for (int y = 0; y < c.layers; y++) {
            for (int k = 0; k < 6; k++) {
                /* the names the job's layers.<LAYER>.* use (jobs/job_layers.c) */
                qn_linear_layer_name("bert", c.layers, y * 6 + k, name, sizeof name);
                add_linear(l, name, k == 4 ? I : C, k == 5 ? I : C, y * 6 + k);
                if (k == 3 || k == 5) {
                    const char *ln = k == 3 ? "attention.output.LayerNorm" : "output.LayerNorm";
                    snprintf(name, sizeof name, "bert.encoder.layer.%d.%s.weight", y, ln);
                    add(l, name, C, 0, -1, 0);
                    snprintf(name, sizeof name, "bert.encoder.layer.%d.%s.bias", y, ln);
                    add(l, name, C, 0, -1, 0);
                }
            }
        }
        add_linear(l, qn_linear_layer_name("bert", c.layers, c.layers * 6, name, sizeof name), C, C, c.layers * 6);
        add_linear(l, qn_linear_layer_name("bert", c.layers, c.layers * 6 + 1, name, sizeof name), c.num_labels, C,
                   c.layers * 6 + 1);
    } else {
        snprintf(err, errlen, "model.arch '%s' has no checkpoint layout", cfg->arch);
        return -1;
    }
    if (l->fail) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (l->off == nparams) return 0;
mismatch:
    free(l->s);
    l->s = NULL;
    snprintf(err, errlen, "a %s buffer of %lld parameters does not fit the model's sizes", cfg->arch, (long long)nparams);
    return -1;
}

static const qn_quant_operand *operand_of(const qn_quant_cfg *q, int operand) {
    return operand == 1 ? &q->weight : operand == 2 ? &q->bias : NULL;
}

/* The formats Linear layer `linear` computed with: the trial's quant with the layer's override. */
static int layer_quant(const qn_trial_config *cfg, const layout *l, int linear, qn_quant_cfg *q, char *err,
                       size_t errlen) {
    char name[QN_LAYER_NAME_LEN];
    if (!qn_linear_layer_name(cfg->model.arch, l->encoder_layers, linear, name, sizeof name)) {
        snprintf(err, errlen, "no Linear layer %d in the checkpoint layout", linear);
        return -1;
    }
    return qn_layer_config(cfg, name, q, NULL, err, errlen);
}

int qn_ckpt_build(const qn_trial_config *cfg, const float *params, size_t nparams, int with_master, qn_ckpt *out,
                  char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    layout l;
    if (make_layout(&cfg->model, (int64_t)nparams, &l, err, errlen) != 0) return -1;
    snprintf(out->arch, sizeof out->arch, "%s", cfg->model.arch);
    out->nparams = (int64_t)nparams;
    out->tensors = calloc((size_t)l.n, sizeof *out->tensors);
    int rc = out->tensors ? 0 : -1;
    float *fq = NULL;
    for (int i = 0; i < l.n && rc == 0; i++) {
        const slot *s = &l.s[i];
        qn_ckpt_tensor *t = &out->tensors[out->ntensors++];
        snprintf(t->name, sizeof t->name, "%s", s->name);
        t->ndim = s->ndim, t->shape[0] = s->shape[0], t->shape[1] = s->shape[1], t->offset = s->offset;
        snprintf(t->format, sizeof t->format, "none");
        const float *x = params + s->offset;
        qn_format f;
        qn_format_defaults(QN_FMT_NONE, &f);
        qn_quant_cfg q;
        const qn_quant_operand *op = NULL;
        if (s->linear >= 0 && layer_quant(cfg, &l, s->linear, &q, err, errlen) != 0) rc = -1;
        else if (s->linear >= 0) op = operand_of(&q, s->operand);
        if (!rc && op && qn_quant_operand_format(op, &f, err, errlen) != 0) rc = -1;
        if (rc || f.kind == QN_FMT_NONE) {
            if (!rc && qn_ckpt_encode(t, QN_ENC_FLOAT32, x) != 0) rc = -1;
            continue;
        }
        /* the values the layer computes with: its operand as the Linear layer quantizes it,
         * a weight (out, in), a bias (1, out) */
        size_t n = (size_t)qn_ckpt_numel(t);
        free(fq);
        fq = malloc(n * sizeof(float) + 1);
        int64_t shape[2] = {s->operand == 1 ? s->shape[0] : 1, s->operand == 1 ? s->shape[1] : s->shape[0]};
        if (!fq || qn_format_apply(&f, x, fq, shape, 2, err, errlen) != 0) {
            if (!fq) snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        qn_format_describe(&f, t->format, sizeof t->format);
        qn_encoding enc = f.kind == QN_FMT_INTEGER ? QN_ENC_FIXED
                          : f.kind == QN_FMT_BINARY ? QN_ENC_BINARY
                          : f.kind == QN_FMT_TERNARY ? QN_ENC_TERNARY
                                                     : QN_ENC_FLOAT32;
        t->width = f.width, t->frac_width = f.frac_width, t->bipolar = f.bipolar;
        /* binary/ternary statistics are per row of the operand: a bias is one row */
        if (s->operand == 2 && enc != QN_ENC_FIXED) t->ndim = 1;
        if (qn_ckpt_encode(t, enc, fq) < 0) rc = -1;
    }
    free(fq);
    free(l.s);
    if (rc == 0 && with_master) {
        out->master = malloc(nparams * sizeof(float) + 1);
        if (out->master) memcpy(out->master, params, nparams * sizeof(float));
        else rc = -1;
    }
    if (rc) {
        if (!err[0]) snprintf(err, errlen, "out of memory packing the checkpoint");
        qn_ckpt_free(out);
    }
    return rc;
}

qn_model *qn_ckpt_model(const qn_trial_config *cfg, const qn_ckpt *c, int pruned, int max_batch, int T, char *err,
                        size_t errlen) {
    layout l;
    if (make_layout(&cfg->model, c->nparams, &l, err, errlen) != 0) return NULL;
    int V = (int)l.s[0].shape[0];
    qn_model *m = qn_model_new(&cfg->model, V, max_batch, T, 0, err, errlen);
    if (!m) {
        free(l.s);
        return NULL;
    }
    int bad = (int64_t)m->nparams != c->nparams;
    if (bad) snprintf(err, errlen, "the checkpoint has %lld parameters, the model %zu", (long long)c->nparams, m->nparams);
    if (!bad && qn_model_set_layer_quant(m, cfg, err, errlen) != 0) bad = 1;
    if (!bad && c->ntensors == 0 && c->master) memcpy(m->params, c->master, m->nparams * sizeof(float));
    for (int i = 0; i < l.n && !bad && c->ntensors > 0; i++) {
        const slot *s = &l.s[i];
        const qn_ckpt_tensor *t = NULL;
        for (int j = 0; j < c->ntensors && !t; j++)
            if (!strcmp(c->tensors[j].name, s->name)) t = &c->tensors[j];
        if (!t || qn_ckpt_numel(t) != s->shape[0] * (s->shape[1] ? s->shape[1] : 1)) {
            snprintf(err, errlen, "the checkpoint %s tensor %s", t ? "has a wrongly sized" : "lacks the", s->name);
            bad = 1;
            break;
        }
        if (qn_ckpt_decode(t, m->params + s->offset) != 0) {
            snprintf(err, errlen, "checkpoint tensor %s is malformed", s->name);
            bad = 1;
        }
        /* stored quantized: these are the values the trial computed with; quantizing them again
         * would not be the identity for every format */
        if (strcmp(t->format, "none") != 0 && s->linear >= 0 && s->linear < m->nlinears)
            qn_format_defaults(QN_FMT_NONE, &m->linears[s->linear]->fmt[s->operand]);
    }
    qn_prune_cfg *lp = !bad && pruned ? malloc((size_t)(m->nlinears + 1) * sizeof *lp) : NULL;
    if (!bad && pruned && (!lp || qn_model_layer_prune(m, cfg, lp, err, errlen) != 0)) {
        if (!lp) snprintf(err, errlen, "out of memory");
        bad = 1;
    }
    for (int k = 0; lp && k < m->nlinears && !bad; k++) {
        const qn_prune_target *a = &lp[k].activation;
        if (a->method[0] && !strcmp(a->method, "l1-norm") && !strcmp(a->scope, "global")) {
            snprintf(err, errlen, "the trial pruned activations with one global threshold, which its checkpoint does not hold");
            bad = 1;
        }
        m->linears[k]->act_prune = *a;
    }
    free(lp);
    free(l.s);
    if (bad) {
        qn_model_free(m);
        return NULL;
    }
    return m;
}

/* ---------------------------------------------------------------- a recorded trial */

static int64_t row_of(const qn_results *r, int64_t id, char *status, size_t len) {
    for (int64_t row = 0; row < qn_results_nrows(r); row++) {
        int64_t rid;
        if (qn_results_row(r, row, &rid, status, len) == 0 && rid == id) return row;
    }
    return -1;
}

int qn_recorded_trial_load(const char *path, int64_t id, qn_recorded_trial *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->id = id;
    qn_results *r;
    int rc = qn_results_open_read(path, &r, err, errlen);
    if (rc) return rc;
    char *text = qn_results_job_text(r);
    char status[32] = "";
    int64_t row = row_of(r, id, status, sizeof status);
    int64_t chain[64];
    int nchain = 0;
    if (!text || !text[0]) {
        snprintf(err, errlen, "%s holds no job text", path);
        rc = 2;
    } else if (qn_job_load_text(path, text, strlen(text), &out->job, err, errlen) != 0) {
        rc = 2;
    } else if (row < 0) {
        snprintf(err, errlen, "%s: no trial %lld is recorded", path, (long long)id);
        rc = 2;
    } else if (strcmp(status, "done") != 0) {
        snprintf(err, errlen, "%s: trial %lld %s", path, (long long)id, status);
        rc = 2;
    }
    /* the from: chain, oldest ancestor first: each stage inherits its parent's inherited and own parameters */
    for (int64_t p = rc ? -1 : qn_results_parent(r, row); p >= 0 && nchain < 64;) {
        chain[nchain++] = p;
        int64_t prow = row_of(r, p, status, sizeof status);
        p = prow < 0 ? -1 : qn_results_parent(r, prow);
    }
    qn_trial trials[64], own;
    int nt = 0, ninherited = 0;
    for (int i = nchain - 1; i >= 0 && !rc; i--) {
        if (qn_job_trial(&out->job, chain[i], &trials[nt]) != 0) rc = 2;
        else ninherited += trials[nt++].nparams;
    }
    qn_param *inherited = calloc((size_t)ninherited + 1, sizeof *inherited);
    int k = 0;
    for (int i = 0; i < nt && inherited; i++)
        for (int j = 0; j < trials[i].nparams; j++) inherited[k++] = trials[i].params[j];
    if (!rc && !inherited) rc = 1;
    if (!rc && qn_job_trial(&out->job, id, &own) != 0) {
        snprintf(err, errlen, "%s: trial %lld is not in the job's plan", path, (long long)id);
        rc = 2;
    } else if (!rc) {
        if (qn_trial_config_build(&out->job, inherited, k, &own, &out->cfg, err, errlen) != 0) rc = 2;
        const qn_stage *g = &out->job.stages[own.stage];
        for (int i = 0; i < g->nsteps; i++) out->pruned |= g->steps[i] == QN_STEP_PRUNE;
        qn_trial_free(&own);
    }
    free(inherited);
    for (int i = 0; i < nt; i++) qn_trial_free(&trials[i]);
    if (!rc && qn_results_read_ckpt(r, id, &out->ckpt, err, errlen) != 0) {
        snprintf(err, errlen, "%s: trial %lld has no checkpoint (the job's checkpoints: setting dropped it)", path,
                 (long long)id);
        rc = 2;
    }
    free(text);
    qn_results_close(r);
    return rc;
}

void qn_recorded_trial_free(qn_recorded_trial *t) {
    qn_job_free(&t->job);
    qn_ckpt_free(&t->ckpt);
}
