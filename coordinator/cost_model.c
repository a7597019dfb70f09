/* cost_model.c: a trial's memory and FLOPs from its configuration, and its time on a device kind
 * (qn_cost.h). Counts follow the buffers the models really allocate (worker/bert.h), so the memory
 * figure is what a worker needs, not a guess from parameter counts alone. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qn_cost.h"
#include "qn_dataset.h"
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

int qn_trial_cost_estimate(const qn_trial_config *cfg, const qn_step *steps, int nsteps, qn_trial_cost *out,
                           char *err, size_t errlen) {
    const qn_model_cfg *m = &cfg->model;
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

double qn_trial_seconds(const qn_trial_cost *c, const qn_device_kind *k, char *why, size_t whylen) {
    if (c->memory_bytes > k->memory_bytes) {
        snprintf(why, whylen, "needs %.1f GB of device memory, %s has %.1f GB", c->memory_bytes / 1e9, k->name,
                 k->memory_bytes / 1e9);
        return -1;
    }
    if (c->needs_bf16 && !k->bf16) {
        snprintf(why, whylen, "uses bf16, which %s (sm_%d%d) does not offer", k->name, k->cc_major, k->cc_minor);
        return -1;
    }
    double rate = k->peak_flops * k->efficiency;
    if (rate <= 0) {
        snprintf(why, whylen, "%s has no measured GEMM rate", k->name);
        return -1;
    }
    /* FP8 below Ada is emulated: the fake-quant work roughly doubles the step */
    double slow = c->uses_fp8 && !k->fp8 ? 2.0 : 1.0;
    return c->flops / rate * slow;
}
