/* llm_quant.c: a loaded model's Linear weights to a lower precision (qn_llm_quantize), with the
 * footprint by storage dtype as seed 002 reports it. The formats are those of qn_infer_formats.h
 * (bitsandbytes-exact); llm_linear.c multiplies by them. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "qn_lowbit_gemv.h"

int qn_llm_linears(qn_llm *m, qn_llm_linear **out, char (*names)[96], int cap) {
    const qn_llm_config *c = &m->cfg;
    int n = 0;
#define ADD(lin, ...)                                                        \
    do {                                                                     \
        if (n < cap) {                                                       \
            out[n] = (lin);                                                  \
            if (names) snprintf(names[n], sizeof names[n], __VA_ARGS__);     \
        }                                                                    \
        n++;                                                                 \
    } while (0)
    for (int i = 0; i < c->layers; i++) {
        qn_llm_layer *y = &m->layers[i];
        if (c->arch == QN_LLM_PHI3) {
            ADD(&y->qkv[0], "model.layers.%d.self_attn.qkv_proj", i);
            ADD(&y->o, "model.layers.%d.self_attn.o_proj", i);
            ADD(&y->mlp_in[0], "model.layers.%d.mlp.gate_up_proj", i);
            ADD(&y->down, "model.layers.%d.mlp.down_proj", i);
        } else {
            static const char *qkv[3] = {"q_proj", "k_proj", "v_proj"};
            for (int k = 0; k < 3; k++) ADD(&y->qkv[k], "model.layers.%d.self_attn.%s", i, qkv[k]);
            if (c->arch == QN_LLM_PHI2) {
                ADD(&y->o, "model.layers.%d.self_attn.dense", i);
                ADD(&y->mlp_in[0], "model.layers.%d.mlp.fc1", i);
                ADD(&y->down, "model.layers.%d.mlp.fc2", i);
            } else {
                ADD(&y->o, "model.layers.%d.self_attn.o_proj", i);
                ADD(&y->mlp_in[0], "model.layers.%d.mlp.gate_proj", i);
                ADD(&y->mlp_in[1], "model.layers.%d.mlp.up_proj", i);
                ADD(&y->down, "model.layers.%d.mlp.down_proj", i);
            }
        }
    }
    ADD(&m->lm_head, "lm_head");
#undef ADD
    return n;
}

typedef struct {
    qn_llm_weight_format format;
    int bf16;
    float threshold;
    qn_4bit_type type4;
    int block_size, double_quant;
} precision_spec;

/* "NAME[:key=value,...]" into spec; 0 or 2 with err. fp32 gives format F32. */
static int parse_precision(const char *p, precision_spec *s, char *err, size_t errlen) {
    *s = (precision_spec){.threshold = 6.0f, .block_size = 64, .double_quant = 0};
    char name[32];
    const char *colon = strchr(p, ':');
    size_t nl = colon ? (size_t)(colon - p) : strlen(p);
    if (nl == 0 || nl >= sizeof name) goto bad_name;
    memcpy(name, p, nl), name[nl] = 0;
    if (!strcmp(name, "fp32")) s->format = QN_LLM_WEIGHT_F32;
    else if (!strcmp(name, "fp16")) s->format = QN_LLM_WEIGHT_F16;
    else if (!strcmp(name, "bf16")) s->format = QN_LLM_WEIGHT_BF16, s->bf16 = 1;
    else if (!strcmp(name, "w8a16")) s->format = QN_LLM_WEIGHT_W8A16;
    else if (!strcmp(name, "int8")) s->format = QN_LLM_WEIGHT_INT8;
    else if (!strcmp(name, "nf4")) s->format = QN_LLM_WEIGHT_4BIT, s->type4 = QN_4BIT_NF4;
    else if (!strcmp(name, "fp4")) s->format = QN_LLM_WEIGHT_4BIT, s->type4 = QN_4BIT_FP4;
    else goto bad_name;
    if (!colon) return 0;
    if (!colon[1]) {
        snprintf(err, errlen, "precision '%s': nothing after ':'", p);
        return 2;
    }
    for (const char *kv = colon + 1; *kv;) {
        const char *end = strchr(kv, ','), *eq = strchr(kv, '=');
        size_t len = end ? (size_t)(end - kv) : strlen(kv);
        if (!eq || eq >= kv + len) {
            snprintf(err, errlen, "precision '%s': '%.*s' is not key=value", p, (int)len, kv);
            return 2;
        }
        size_t kl = (size_t)(eq - kv);
        char val[32];
        size_t vl = len - kl - 1;
        if (vl == 0 || vl >= sizeof val) goto bad_value;
        memcpy(val, eq + 1, vl), val[vl] = 0;
        char *vend;
        if (s->format == QN_LLM_WEIGHT_INT8 && kl == 9 && !strncmp(kv, "threshold", 9)) {
            double t = strtod(val, &vend);
            if (*vend || !(t >= 0.0 && t < 1e30)) goto bad_value;
            s->threshold = (float)t;
        } else if (s->format == QN_LLM_WEIGHT_4BIT && kl == 10 && !strncmp(kv, "block_size", 10)) {
            long b = strtol(val, &vend, 10);
            if (*vend || b < 32 || b > 4096 || (b & (b - 1))) {
                snprintf(err, errlen, "precision '%s': block_size must be a power of two in [32, 4096], not '%s'", p, val);
                return 2;
            }
            s->block_size = (int)b;
        } else if (s->format == QN_LLM_WEIGHT_4BIT && kl == 12 && !strncmp(kv, "double_quant", 12)) {
            if (strcmp(val, "0") && strcmp(val, "1")) goto bad_value;
            s->double_quant = val[0] == '1';
        } else {
            snprintf(err, errlen, "precision '%s': unknown key '%.*s' for %s", p, (int)kl, kv, name);
            return 2;
        }
        kv += len + (end ? 1 : 0);
        continue;
    bad_value:
        snprintf(err, errlen, "precision '%s': bad value in '%.*s'", p, (int)len, kv);
        return 2;
    }
    return 0;
bad_name:
    snprintf(err, errlen, "unknown precision '%s' (fp32, fp16, bf16, w8a16, int8, nf4, fp4)", p);
    return 2;
}

static int kept(const char *name, const char *const *keep, int nkeep) {
    static const char *const lm_head[] = {"lm_head"};
    if (!keep) keep = lm_head, nkeep = 1;
    for (int i = 0; i < nkeep; i++)
        if (keep[i] && fnmatch(keep[i], name, 0) == 0) return 1;
    return 0;
}

static void free_packed(qn_llm_packed *p) {
    if (!p->h_mapped) free(p->h);
    free(p->q), free(p->absmax);
    qn_4bit_free(&p->t);
}

void qn_llm_quant_free(qn_llm *m) {
    for (int i = 0; i < m->npacked; i++) free_packed(&m->packed[i]);
    free(m->packed);
    m->packed = NULL, m->npacked = 0;
}

/* Pack the float32 weight w (out,in) of l; adds its bytes to the footprint parts. 0, or -1 out of memory. */
static int pack(qn_llm *m, const qn_llm_linear *l, const float *w, const precision_spec *s, qn_llm_packed *p,
                double *bytes) {
    size_t n = (size_t)l->out * (size_t)l->in;
    *p = (qn_llm_packed){.threshold = s->threshold};
    switch (s->format) {
    case QN_LLM_WEIGHT_F16:
    case QN_LLM_WEIGHT_BF16:
        if (!(p->h = malloc(n * sizeof *p->h))) return -1;
        for (size_t i = 0; i < n; i++) p->h[i] = s->bf16 ? qn_f32_to_bf16(w[i]) : qn_f32_to_f16(w[i]);
        m->fp_f16 += (double)n * 2, *bytes = (double)n * 2;
        return 0;
    case QN_LLM_WEIGHT_W8A16:
    case QN_LLM_WEIGHT_INT8:
        p->q = malloc(n), p->absmax = malloc((size_t)l->out * sizeof(float));
        if (!p->q || !p->absmax) return -1;
        qn_int8_rowwise_quantize(w, l->out, l->in, p->q, p->absmax);
        m->fp_i8 += (double)n, m->fp_other += (double)l->out * 4;
        *bytes = (double)n + (double)l->out * 4;
        return 0;
    case QN_LLM_WEIGHT_4BIT: {
        if (qn_4bit_quantize(w, n, s->type4, s->block_size, s->double_quant, &p->t)) return -1;
        /* the codes, and the absmax: fp32 each, or 8-bit codes, fp32 per 256 and the offset */
        size_t nb = (n + (size_t)s->block_size - 1) / (size_t)s->block_size;
        double b = (double)((n + 1) / 2) + (s->double_quant ? (double)nb + 4.0 * (double)((nb + 255) / 256) + 4.0 : 4.0 * (double)nb);
        m->fp_other += b, *bytes = b;
        return 0;
    }
    case QN_LLM_WEIGHT_F32: break;
    }
    return 0;
}

/* The stored 16-bit weight of a Linear still as qn_llm_load left it (F16/BF16 over the checkpoint). */
static qn_hf_view stored_view(const qn_llm_linear *l) {
    const qn_llm_packed *p = l->packed;
    return (qn_hf_view){l->format == QN_LLM_WEIGHT_BF16 ? QN_ST_BF16 : QN_ST_F16, p->h, (size_t)l->out * l->in};
}
static int is_stored_view(const qn_llm_linear *l) {
    const qn_llm_packed *p = l->packed;
    return l->format != QN_LLM_WEIGHT_F32 && p && p->h_mapped;
}

/* A stored 16-bit Linear to float32 (fp32, or kept): a copy the weights own. A tied head widens the
 * embedding instead, and the lookup reads that float32 copy from then on (one copy for both). */
static int widen_linear(qn_llm *m, qn_llm_linear *l, int tied, char *err, size_t errlen) {
    const float *w;
    const qn_hf_view v = tied ? m->embed_view : stored_view(l);
    if (tied && m->embed) {
        w = m->embed;
    } else {
        if (qn_hf_weights_widen(&m->weights, &v, &w, err, errlen)) return 2;
        qn_hf_weights_release(&m->weights, v.data, v.numel * 2); /* read once: the copy replaces it */
        if (tied) m->embed = w;
    }
    l->format = QN_LLM_WEIGHT_F32, l->w = w, l->packed = NULL;
    return 0;
}

/* A stored 16-bit Linear at the other 16-bit format: each element widened (exact) and rounded once,
 * what packing its float32 conversion gives. */
static int pack_other_half(qn_llm *m, const qn_llm_linear *l, const precision_spec *s, qn_llm_packed *p, double *bytes) {
    const uint16_t *src = ((const qn_llm_packed *)l->packed)->h;
    size_t n = (size_t)l->out * (size_t)l->in;
    *p = (qn_llm_packed){.threshold = s->threshold};
    if (!(p->h = malloc(n * sizeof *p->h))) return -1;
    for (size_t i = 0; i < n; i++)
        p->h[i] = s->bf16 ? qn_f32_to_bf16(qn_f16_to_f32(src[i])) : qn_f32_to_f16(qn_bf16_to_f32(src[i]));
    m->fp_f16 += (double)n * 2, *bytes = (double)n * 2;
    return 0;
}

int qn_llm_quantize(qn_llm *m, const char *precision, const char *const *keep, int nkeep, char *err, size_t errlen) {
    precision_spec s;
    if (parse_precision(precision ? precision : "", &s, err, errlen)) return 2;
    if (m->packed || m->precision[0]) {
        snprintf(err, errlen, "the model is already quantized (%s)", m->precision);
        return 2;
    }
    snprintf(m->precision, sizeof m->precision, "%s", precision);
    int n = qn_llm_linears(m, NULL, NULL, 0), rc = 0;
    qn_llm_linear **lin = malloc((size_t)n * sizeof *lin);
    char (*names)[96] = malloc((size_t)n * sizeof *names);
    float *scratch = NULL; /* one stored 16-bit layer in float32 at a time, for the formats packed from float32 */
    size_t scratch_n = 0;
    m->packed = calloc((size_t)n, sizeof *m->packed);
    if (!lin || !names || !m->packed) goto oom;
    qn_llm_linears(m, lin, names, n);
    for (int i = 0; i < n; i++) {
        qn_llm_linear *l = lin[i];
        const int tied = l == &m->lm_head && m->cfg.tie_word_embeddings;
        const size_t nw = (size_t)l->out * (size_t)l->in;
        if (s.format == QN_LLM_WEIGHT_F32 || kept(names[i], keep, nkeep)) {
            if (is_stored_view(l) && (rc = widen_linear(m, l, tied, err, errlen)) != 0) goto out;
            continue;
        }
        double bytes = 0;
        const int from_view = is_stored_view(l);
        if (from_view && l->format == s.format) {
            /* fp16 of F16, bf16 of BF16: the stored weight is the packed one, read in place */
            m->fp_f16 += (double)nw * 2, bytes = (double)nw * 2;
        } else {
            const qn_hf_view v = from_view ? stored_view(l) : (qn_hf_view){QN_ST_F32, l->w, nw};
            qn_llm_packed *p = &m->packed[m->npacked++];
            if (from_view && (s.format == QN_LLM_WEIGHT_F16 || s.format == QN_LLM_WEIGHT_BF16)) {
                if (pack_other_half(m, l, &s, p, &bytes)) goto oom;
            } else {
                const float *w = l->w;
                if (from_view) {
                    if (nw > scratch_n) {
                        free(scratch);
                        if (!(scratch = malloc(nw * sizeof *scratch))) goto oom;
                        scratch_n = nw;
                    }
                    qn_hf_view_to_f32(&v, 0, nw, scratch);
                    w = scratch;
                }
                if (pack(m, l, w, &s, p, &bytes)) goto oom;
            }
            /* the stored weight is not read again (a tied head's is: the embedding lookup) */
            if (!tied) qn_hf_weights_release(&m->weights, v.data, nw * (v.dtype == QN_ST_F32 ? sizeof(float) : 2));
            l->packed = p;
        }
        /* a tied lm_head shares the embedding, which the footprint counts once, as float32 (what its
         * lookup yields, however it is stored) */
        double f32 = (double)nw * sizeof(float);
        if (!tied) m->fp_f32_dropped += f32, m->weight_bytes -= (size_t)f32;
        m->weight_bytes += (size_t)bytes;
        l->format = s.format, l->w = NULL;
    }
    goto out;
oom:
    snprintf(err, errlen, "out of memory quantizing to %s", precision);
    rc = 2;
out:
    free(lin), free(names), free(scratch);
    return rc;
}

void qn_llm_footprint_of(const qn_llm *m, qn_llm_footprint *out) {
    /* weight_bytes counts every tensor as the forward reads it; take the packed parts back out */
    double packed = m->fp_f16 + m->fp_i8 + m->fp_other;
    out->float16 = m->fp_f16, out->int8 = m->fp_i8, out->other = m->fp_other;
    out->float32 = (double)m->weight_bytes - packed;
    if (out->float32 < 0) out->float32 = 0;
    out->total = out->float32 + packed;
}

void qn_llm_linear_dequantize(const qn_llm_linear *l, int j0, int j1, float *out) {
    const qn_llm_packed *p = l->packed;
    for (int j = j0; j < j1; j++) {
        float *o = out + (size_t)(j - j0) * l->in;
        switch (l->format) {
        case QN_LLM_WEIGHT_F32: memcpy(o, l->w + (size_t)j * l->in, (size_t)l->in * sizeof(float)); break;
        case QN_LLM_WEIGHT_F16:
        case QN_LLM_WEIGHT_BF16: qn_lowbit_row_h16(p->h, l->format == QN_LLM_WEIGHT_BF16, l->in, j, o); break;
        case QN_LLM_WEIGHT_W8A16:
        case QN_LLM_WEIGHT_INT8: qn_lowbit_row_i8(p->q, p->absmax, l->in, j, o); break;
        case QN_LLM_WEIGHT_4BIT: qn_lowbit_row_4bit(&p->t, l->in, j, o); break;
        }
    }
}
