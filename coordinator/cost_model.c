/* cost_model.c: a trial's memory and FLOPs from its configuration, and its time on a device kind
 * (qn_cost.h). Counts follow the buffers the models really allocate (worker/bert.h), so the memory
 * figure is what a worker needs, not a guess from parameter counts alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_cost.h"
#include "qn_dataset.h"
#include "qn_hf_llm.h"
#include "qn_worker.h"

/* Efficiencies: the fraction of fp32 peak quench's cuBLAS path reaches on a small-BERT step (short
 * sequences, narrow layers: far from peak), larger on cards whose peak is harder to saturate. */
static const qn_device_kind kinds[] = {
    {"rtx2080ti", "NVIDIA GeForce RTX 2080 Ti", 7, 5, 11e9, 13.4e12, 0.40, 0, 0},
    {"rtx8000", "Quadro RTX 8000", 7, 5, 48e9, 16.3e12, 0.40, 0, 0},
    {"l40s", "NVIDIA L40S", 8, 9, 48e9, 91.6e12, 0.25, 1, 1},
    {"h200", "NVIDIA H200", 9, 0, 141e9, 67e12, 0.35, 1, 1},
};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

const qn_device_kind *qn_device_kind_find(const char *name) {
    for (int i = 0; i < N_KINDS; i++)
        if (!strcmp(kinds[i].name, name)) return &kinds[i];
    return NULL;
}
int qn_device_kind_count(void) { return N_KINDS; }
const qn_device_kind *qn_device_kind_at(int i) { return i >= 0 && i < N_KINDS ? &kinds[i] : NULL; }

void qn_device_kind_from_profile(const qn_device_profile *p, qn_device_kind *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", p->kind);
    snprintf(out->label, sizeof out->label, "%s", p->name);
    out->cc_major = p->cc_major, out->cc_minor = p->cc_minor;
    out->memory_bytes = p->memory_bytes;
    /* the GEMM rate is measured, so it already is what a step reaches: efficiency 1 */
    out->peak_flops = p->gemm_gflops * 1e9;
    out->efficiency = 1.0;
    out->bf16 = p->bf16, out->fp8 = p->fp8;
    /* the CPU backend computes every format in fp32 (fake quantization): it offers bf16 too */
    if (!strcmp(p->kind, "cpu")) out->bf16 = 1;
}

const char *qn_device_kind_id(const qn_device_kind *k, char *buf, size_t len) {
    if (!strcmp(k->name, "cpu")) return snprintf(buf, len, "cpu"), buf;
    for (int i = 0; i < N_KINDS; i++)
        if (!strcmp(kinds[i].name, k->name) || !strcmp(kinds[i].label, k->label))
            return snprintf(buf, len, "%s", kinds[i].name), buf;
    snprintf(buf, len, "%s", k->label[0] ? k->label : k->name);
    return buf;
}

int qn_cluster_parse(const char *spec, const qn_device_kind **kinds, int *count, int max, int *nkinds, char *err,
                     size_t errlen) {
    *nkinds = 0;
    const char *s = spec;
    while (*s) {
        char *end;
        long n = strtol(s, &end, 10);
        size_t len = strcspn(end + (*end == 'x'), ",");
        if (end == s || *end != 'x' || n < 1 || n > 1000000 || len == 0 || len >= 16) {
            snprintf(err, errlen, "--cluster: expected COUNTxKIND[,COUNTxKIND...] (e.g. 8xl40s,4xrtx8000), not '%s'", spec);
            return -1;
        }
        char name[16];
        memcpy(name, end + 1, len), name[len] = 0;
        const qn_device_kind *k = qn_device_kind_find(name);
        if (!k) {
            snprintf(err, errlen, "--cluster: unknown device kind '%s': available: rtx2080ti, rtx8000, l40s, h200", name);
            return -1;
        }
        if (*nkinds == max) {
            snprintf(err, errlen, "--cluster: at most %d groups", max);
            return -1;
        }
        kinds[*nkinds] = k, count[(*nkinds)++] = (int)n;
        s = end + 1 + len;
        if (*s == ',') s++;
    }
    if (!*nkinds) {
        snprintf(err, errlen, "--cluster: empty");
        return -1;
    }
    return 0;
}

/* FP8 = the two OCP element formats, E4M3 and E5M2, as minifloat or as mxfp elements: what Ada and
 * Hopper tensor cores take. Other small floats (E3M2, E2M1) have no native path anywhere we run. */
static int operand_fp8(const qn_quant_operand *o) {
    int e = o->exponent_width, f = o->frac_width;
    int e4m3 = e == 4 && f == 3, e5m2 = e == 5 && f == 2;
    if (!strcmp(o->name, "mxfp")) return e4m3 || e5m2;
    if (!strncmp(o->name, "minifloat", 9)) return o->width == 8 && (e == 4 || e == 5);
    return 0;
}
static void scan_quant(const qn_quant_cfg *q, int *bf16, int *fp8, int *any) {
    const qn_quant_operand *ops[3] = {&q->data_in, &q->weight, &q->bias};
    for (int i = 0; i < 3; i++) {
        if (!ops[i]->name[0] || !strcmp(ops[i]->name, "none")) continue;
        *any = 1;
        if (!strcmp(ops[i]->name, "bf16")) *bf16 = 1;
        if (operand_fp8(ops[i])) *fp8 = 1;
    }
}

/* Bytes per weight of a Linear layer in llm.precision as the worker stores it (worker/llm_quant.c):
 * 4-bit codes carry one fp32 absmax per 64 weights (less with double quantization: ignored here). */
static double llm_weight_bytes(const char *precision) {
    size_t n = strcspn(precision, ":");
    if (!strncmp(precision, "fp16", n) || !strncmp(precision, "bf16", n)) return 2.0;
    if (!strncmp(precision, "w8a16", n) || !strncmp(precision, "int8", n)) return 1.0;
    if (!strncmp(precision, "nf4", n) || !strncmp(precision, "fp4", n)) return 0.5 + 4.0 / 64;
    return 4.0;
}

/* An inference trial (model.arch: llm): the model's weights in its precision (embeddings and the
 * layers llm.keep names stay fp32), the KV cache of batch x (prompt + new tokens), and the activations
 * of the prefill; flops are 2 per weight per token generated or scored. */
static int llm_cost(const qn_trial_config *cfg, qn_trial_cost *out, char *err, size_t errlen) {
    const qn_llm_cfg *lc = &cfg->llm;
    qn_llm_config c;
    if (qn_hf_llm_config_load(lc->model, &c, err, errlen) != 0) return -1;
    double C = c.hidden, I = c.intermediate, L = c.layers, V = c.vocab_size, HD = c.head_dim;
    double NH = c.heads, NKV = c.kv_heads > 0 ? c.kv_heads : c.heads;
    double per_layer = C * (NH + 2 * NKV) * HD + NH * HD * C + (c.arch == QN_LLM_PHI2 ? 2 : 3) * C * I;
    double linear = L * per_layer, head = V * C, embed = V * C;
    double wb = llm_weight_bytes(lc->precision);
    /* lm_head stays fp32 unless llm.keep leaves it out ("none", or patterns without it) */
    int keep_head = strstr(lc->keep, "lm_head") != NULL;
    double B = lc->batch, T = lc->prompt[0] ? (double)strlen(lc->prompt) + 1 : lc->prompt_len, S = lc->max_new_tokens;
    double kv = 2 * L * B * NKV * (T + S) * HD * 4;
    double act = B * T * (C * 6 + (NH + 2 * NKV) * HD + 2 * I) * 4 + B * V * 4 + B * T * (T + S) * 4;
    memset(out, 0, sizeof *out);
    out->params = linear + head + (c.tie_word_embeddings ? 0 : embed);
    out->matmul_params = linear + head;
    out->memory_bytes = linear * wb + head * (keep_head ? 4.0 : wb) + (c.tie_word_embeddings ? 0 : embed * 4) + kv + act;
    out->needs_bf16 = !strncmp(lc->precision, "bf16", strcspn(lc->precision, ":"));
    double tokens = B * (T + S);
    if (lc->perplexity_file[0]) {
        /* about 4 bytes of text per token; each window recomputes context tokens every stride */
        FILE *f = fopen(lc->perplexity_file, "rb");
        double bytes = 0;
        if (f && fseek(f, 0, SEEK_END) == 0) bytes = (double)ftell(f);
        if (f) fclose(f);
        tokens += bytes / 4 * (lc->stride > 0 ? (double)lc->context / lc->stride : 1);
    }
    out->flops = 2 * out->matmul_params * tokens;
    return 0;
}

int qn_trial_cost_estimate(const qn_trial_config *cfg, const qn_step *steps, int nsteps, qn_trial_cost *out,
                           char *err, size_t errlen) {
    const qn_model_cfg *m = &cfg->model;
    if (!strcmp(m->arch, "llm")) {
        if (llm_cost(cfg, out, err, errlen) != 0) return -1;
        snprintf(out->device_kind, sizeof out->device_kind, "%.95s", cfg->device.kind);
        return 0;
    }
    if (!strcmp(m->arch, "null")) {
        /* no model, no data: a null trial costs (next to) nothing anywhere */
        memset(out, 0, sizeof *out);
        return 0;
    }
    /* the synthetic data has its own small vocabulary; file data uses a BERT WordPiece one */
    int V = !strcmp(cfg->data.dataset, "synthetic-sentiment") ? qn_synth_vocab_size() : 30522;
    double P = (double)qn_model_param_count(m, V);
    if (P <= 0) {
        snprintf(err, errlen, "cannot size model.arch '%s'%s", m->arch, m->pretrained[0] ? " (pretrained config)" : "");
        return -1;
    }
    memset(out, 0, sizeof *out);
    int any_quant = 0;
    scan_quant(&cfg->quant, &out->needs_bf16, &out->uses_fp8, &any_quant);
    for (int i = 0; i < cfg->nlayers; i++) scan_quant(&cfg->layers[i].quant, &out->needs_bf16, &out->uses_fp8, &any_quant);

    double B = cfg->train.batch_size > 0 ? cfg->train.batch_size : 1, T = cfg->data.max_len > 0 ? cfg->data.max_len : 1;
    double act, attn_fwd; /* activation floats of one batch; attention's T^2 FLOPs per example, forward */
    if (!strcmp(m->arch, "bert")) {
        double C = m->hidden_size, I = m->intermediate_size, L = m->layers, NH = m->heads;
        out->matmul_params = P - (V + 512.0 + 2.0) * C; /* less word, position and token-type embeddings */
        /* per layer: out,q,k,v,ctx,att_out,res1,h1,ffn_out,res2 (BT,C); att (B,NH,T,T); inter, gelu (BT,I);
         * 2 LayerNorms' mean/rstd (BT); then emb, x0 and 8 gradient scratch (BT,C), 2 (BT,I) */
        act = L * (10 * B * T * C + B * NH * T * T + 2 * B * T * I + 4 * B * T) + 10 * B * T * C + 2 * B * T * I;
        /* fake-quant copies of each Linear's input: q, k, v, att_out, inter take (BT,C), out (BT,I) */
        if (any_quant) act += L * (5 * B * T * C + B * T * I);
        attn_fwd = 4 * L * T * T * C; /* QK^T and att.V: 2 T^2 C each */
    } else {
        out->matmul_params = P - (double)V * m->embed_dim;
        act = 4 * B * (m->embed_dim + m->hidden_size + m->num_labels) + B * T;
        attn_fwd = 0;
    }
    out->params = P;
    out->memory_bytes = 16 * P + (any_quant ? 4 * out->matmul_params : 0) + 4 * act;

    double train_ex = 0, eval_ex = 0;
    for (int s = 0; s < nsteps; s++) {
        double tr = (double)cfg->train.epochs * cfg->data.train_size, ev = cfg->data.eval_size;
        if (steps[s] == QN_STEP_TRAIN) train_ex += tr;
        else if (steps[s] == QN_STEP_QAT) train_ex += tr, eval_ex += ev;
        else if (steps[s] == QN_STEP_EVAL || steps[s] == QN_STEP_PTQ_EVAL) eval_ex += ev;
        /* prune and quantize are one pass over the weights: negligible */
    }
    double per_tok = 2 * out->matmul_params;
    out->flops = train_ex * 3 * (per_tok * T + attn_fwd) + eval_ex * (per_tok * T + attn_fwd);
    return 0;
}

/* "23.4 GB", "12.5 MB": readable at either end of the scale */
static const char *bytes_text(double b, char *buf, size_t len) {
    if (b >= 1e9) snprintf(buf, len, "%.1f GB", b / 1e9);
    else snprintf(buf, len, "%.1f MB", b / 1e6);
    return buf;
}

int qn_trial_fits(const qn_trial_cost *c, const qn_device_kind *k, char *why, size_t whylen) {
    char id[96];
    if (c->device_kind[0] && strcmp(c->device_kind, qn_device_kind_id(k, id, sizeof id)) != 0) {
        snprintf(why, whylen, "runs on device.kind %s only, not %s", c->device_kind, id);
        return 0;
    }
    if (c->memory_bytes > k->memory_bytes) {
        char need[32], have[32];
        snprintf(why, whylen, "needs %s of device memory, %s has %s", bytes_text(c->memory_bytes, need, sizeof need),
                 k->name, bytes_text(k->memory_bytes, have, sizeof have));
        return 0;
    }
    if (c->needs_bf16 && !k->bf16) {
        snprintf(why, whylen, "uses bf16, which %s (sm_%d%d) does not offer", k->name, k->cc_major, k->cc_minor);
        return 0;
    }
    return 1;
}

/* How a kind is named in messages: its --cluster name, or the device's own for a measured one. */
static const char *kind_label(const qn_device_kind *k) {
    return !strcmp(k->name, "cpu") || !strcmp(k->name, "cuda") ? k->label : k->name;
}

int qn_trial_fits_none(const qn_trial_cost *c, const qn_device_kind *kinds, int n, const char *what, char *why,
                       size_t whylen) {
    const qn_device_kind *largest = NULL;
    int any_bf16 = 0;
    char w[256], need[32], have[32], id[96];
    bytes_text(c->memory_bytes, need, sizeof need);
    if (c->device_kind[0]) {
        /* pinned to one kind: that kind's own reason, or that there is none of it */
        for (int k = 0; k < n; k++)
            if (!strcmp(c->device_kind, qn_device_kind_id(&kinds[k], id, sizeof id))) {
                if (qn_trial_fits(c, &kinds[k], w, sizeof w)) return 0;
                if (c->memory_bytes > kinds[k].memory_bytes)
                    snprintf(why, whylen, "needs %s of device memory; device.kind %s (%s) has %s", need, id,
                             kinds[k].label[0] ? kinds[k].label : kinds[k].name,
                             bytes_text(kinds[k].memory_bytes, have, sizeof have));
                else
                    snprintf(why, whylen, "device.kind %s: %s", id, w);
                return 1;
            }
        snprintf(why, whylen, "device.kind %s: there is no %s of that kind", c->device_kind, what);
        return 1;
    }
    for (int k = 0; k < n; k++) {
        if (qn_trial_fits(c, &kinds[k], w, sizeof w)) return 0;
        if (!largest || kinds[k].memory_bytes > largest->memory_bytes) largest = &kinds[k];
        any_bf16 |= kinds[k].bf16;
    }
    if (!largest)
        snprintf(why, whylen, "there is no %s", what);
    else if (c->memory_bytes > largest->memory_bytes)
        snprintf(why, whylen, "needs %s of device memory; the largest %s (%s) has %s", need, what, kind_label(largest),
                 bytes_text(largest->memory_bytes, have, sizeof have));
    else if (!any_bf16)
        snprintf(why, whylen, "uses bf16, which no %s offers (it needs compute capability 8.0 or newer; %s is sm_%d%d)",
                 what, kind_label(largest), largest->cc_major, largest->cc_minor);
    else
        snprintf(why, whylen, "needs %s of device memory and bf16: no %s has both", need, what);
    return 1;
}

double qn_trial_seconds(const qn_trial_cost *c, const qn_device_kind *k, char *why, size_t whylen) {
    if (!qn_trial_fits(c, k, why, whylen)) return -1;
    double rate = k->peak_flops * k->efficiency;
    if (rate <= 0) {
        snprintf(why, whylen, "%s has no measured GEMM rate", k->name);
        return -1;
    }
    /* FP8 below Ada is emulated: the fake-quant work roughly doubles the step */
    double slow = c->uses_fp8 && !k->fp8 ? 2.0 : 1.0;
    return c->flops / rate * slow;
}
