/* llm_load.c: a Hugging Face directory into qn_llm: every tensor by its state-dict name
 * (LlamaForCausalLM, Phi3ForCausalLM, PhiForCausalLM), each checked against the shape config.json
 * implies, as views of the mapped checkpoint: Linear weights and the embedding as stored (F32, F16,
 * BF16: converting them is qn_llm_quantize's choice, so a 16-bit model never exists in float32 as a
 * whole), norms and biases as float32 (small, and the compute reads them so). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"

typedef struct {
    qn_llm *m;
    char *err;
    size_t errlen;
} loader;

/* name (printf-style) of shape (d0) or (d0,d1): 0 found, 1 absent and optional, 2 error. */
static int tensor(loader *ld, const float **out, int optional, int64_t d0, int64_t d1, const char *fmt, int layer) {
    char name[256];
    snprintf(name, sizeof name, fmt, layer);
    int64_t shape[2] = {d0, d1};
    int rc = qn_hf_weights_f32(&ld->m->weights, name, d1 ? 2 : 1, shape, optional, out, ld->err, ld->errlen);
    if (rc == 0) ld->m->weight_bytes += (size_t)d0 * (size_t)(d1 ? d1 : 1) * sizeof(float);
    return rc == 1 ? 0 : rc;
}

/* A Linear over the stored weight v (out,in): float32 in place, or F16/BF16 over the mapping. */
static void set_weight(qn_llm *m, qn_llm_linear *l, const qn_hf_view *v) {
    if (v->dtype == QN_ST_F32) {
        l->format = QN_LLM_WEIGHT_F32, l->w = v->data;
        return;
    }
    qn_llm_packed *p = &m->views[m->nviews++];
    *p = (qn_llm_packed){.h = (uint16_t *)v->data, .h_mapped = 1}; /* read only, never written or freed */
    l->format = v->dtype == QN_ST_BF16 ? QN_LLM_WEIGHT_BF16 : QN_LLM_WEIGHT_F16, l->w = NULL, l->packed = p;
}

/* A Linear `prefix.weight` (out,in) with `prefix.bias` (out) when has_bias. */
static int linear(loader *ld, qn_llm_linear *l, int out, int in, int has_bias, const char *prefix_fmt, int layer) {
    char fmt[256], name[256];
    *l = (qn_llm_linear){.out = out, .in = in, .format = QN_LLM_WEIGHT_F32};
    snprintf(fmt, sizeof fmt, "%s.weight", prefix_fmt);
    snprintf(name, sizeof name, fmt, layer);
    qn_hf_view v;
    int64_t shape[2] = {out, in};
    int rc = qn_hf_weights_view(&ld->m->weights, name, 2, shape, 0, &v, ld->err, ld->errlen);
    if (rc) return rc;
    ld->m->weight_bytes += (size_t)out * (size_t)in * sizeof(float); /* counted as float32 until quantized */
    set_weight(ld->m, l, &v);
    if (!has_bias) return 0;
    snprintf(fmt, sizeof fmt, "%s.bias", prefix_fmt);
    return tensor(ld, &l->bias, 0, out, 0, fmt, layer);
}

static int load_layer(loader *ld, int i) {
    const qn_llm_config *c = &ld->m->cfg;
    qn_llm_layer *y = &ld->m->layers[i];
    const int C = c->hidden, HD = c->head_dim, NH = c->heads, NKV = c->kv_heads, I = c->intermediate;
    int rc;
#define TRY(e) \
    if ((rc = (e)) != 0) return rc
    switch (c->arch) {
    case QN_LLM_LLAMA:
    case QN_LLM_PHI3:
        TRY(tensor(ld, &y->norm1_w, 0, C, 0, "model.layers.%d.input_layernorm.weight", i));
        TRY(tensor(ld, &y->norm2_w, 0, C, 0, "model.layers.%d.post_attention_layernorm.weight", i));
        if (c->arch == QN_LLM_PHI3) {
            // fused: qkv_proj ((NH+2NKV)HD, C) rows q | k | v; gate_up_proj (2I, C) rows gate | up
            y->nqkv = 1, y->nmlp_in = 1;
            TRY(linear(ld, &y->qkv[0], (NH + 2 * NKV) * HD, C, 0, "model.layers.%d.self_attn.qkv_proj", i));
            TRY(linear(ld, &y->mlp_in[0], 2 * I, C, 0, "model.layers.%d.mlp.gate_up_proj", i));
        } else {
            y->nqkv = 3, y->nmlp_in = 2;
            TRY(linear(ld, &y->qkv[0], NH * HD, C, c->attention_bias, "model.layers.%d.self_attn.q_proj", i));
            TRY(linear(ld, &y->qkv[1], NKV * HD, C, c->attention_bias, "model.layers.%d.self_attn.k_proj", i));
            TRY(linear(ld, &y->qkv[2], NKV * HD, C, c->attention_bias, "model.layers.%d.self_attn.v_proj", i));
            TRY(linear(ld, &y->mlp_in[0], I, C, c->mlp_bias, "model.layers.%d.mlp.gate_proj", i));
            TRY(linear(ld, &y->mlp_in[1], I, C, c->mlp_bias, "model.layers.%d.mlp.up_proj", i));
        }
        TRY(linear(ld, &y->o, C, NH * HD, c->attention_bias, "model.layers.%d.self_attn.o_proj", i));
        TRY(linear(ld, &y->down, C, I, c->mlp_bias, "model.layers.%d.mlp.down_proj", i));
        break;
    case QN_LLM_PHI2:
        TRY(tensor(ld, &y->norm1_w, 0, C, 0, "model.layers.%d.input_layernorm.weight", i));
        TRY(tensor(ld, &y->norm1_b, 0, C, 0, "model.layers.%d.input_layernorm.bias", i));
        y->nqkv = 3, y->nmlp_in = 1;
        TRY(linear(ld, &y->qkv[0], NH * HD, C, 1, "model.layers.%d.self_attn.q_proj", i));
        TRY(linear(ld, &y->qkv[1], NKV * HD, C, 1, "model.layers.%d.self_attn.k_proj", i));
        TRY(linear(ld, &y->qkv[2], NKV * HD, C, 1, "model.layers.%d.self_attn.v_proj", i));
        TRY(linear(ld, &y->o, C, NH * HD, 1, "model.layers.%d.self_attn.dense", i));
        TRY(linear(ld, &y->mlp_in[0], I, C, 1, "model.layers.%d.mlp.fc1", i));
        TRY(linear(ld, &y->down, C, I, 1, "model.layers.%d.mlp.fc2", i));
        break;
    }
#undef TRY
    return 0;
}

qn_llm *qn_llm_load(const char *dir, char *err, size_t errlen) {
    qn_llm *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    loader ld = {m, err, errlen};
    const qn_llm_config *c = &m->cfg;
    int rc = qn_hf_llm_config_load(dir, &m->cfg, err, errlen);
    if (!rc) rc = qn_hf_weights_open(dir, &m->weights, err, errlen);
    if (rc) goto fail;
    const int C = c->hidden, V = c->vocab_size;
    m->layers = calloc((size_t)c->layers, sizeof *m->layers);
    m->inv_freq = malloc((size_t)c->rotary_dim * sizeof(float)); // qn_llm_rope_inv_freq's two halves
    if (m->layers) m->views = calloc((size_t)qn_llm_linears(m, NULL, NULL, 0), sizeof *m->views);
    if (!m->layers || !m->inv_freq || !m->views) {
        snprintf(err, errlen, "%s: out of memory", dir);
        goto fail;
    }
    qn_llm_rope_inv_freq(c, m->inv_freq);
    const int64_t embed_shape[2] = {V, C};
    if ((rc = qn_hf_weights_view(&m->weights, "model.embed_tokens.weight", 2, embed_shape, 0, &m->embed_view, err,
                                 errlen)) != 0)
        goto fail;
    m->weight_bytes += (size_t)V * (size_t)C * sizeof(float);
    if (m->embed_view.dtype == QN_ST_F32) m->embed = m->embed_view.data;
    for (int i = 0; i < c->layers; i++)
        if ((rc = load_layer(&ld, i)) != 0) goto fail;
    int phi2 = c->arch == QN_LLM_PHI2;
    if ((rc = tensor(&ld, &m->final_w, 0, C, 0, phi2 ? "model.final_layernorm.weight" : "model.norm.weight", 0)) != 0)
        goto fail;
    if (phi2 && (rc = tensor(&ld, &m->final_b, 0, C, 0, "model.final_layernorm.bias", 0)) != 0) goto fail;
    if (c->tie_word_embeddings) {
        m->lm_head = (qn_llm_linear){.out = V, .in = C};
        set_weight(m, &m->lm_head, &m->embed_view); /* a 16-bit embedding: the head is a second view of it */
    } else if ((rc = linear(&ld, &m->lm_head, V, C, phi2, "lm_head", 0)) != 0)
        goto fail;
    return m;
fail:
    qn_llm_free(m);
    return NULL;
}

void qn_llm_free(qn_llm *m) {
    if (!m) return;
    qn_llm_quant_free(m);
    qn_hf_weights_close(&m->weights);
    free(m->layers), free(m->inv_freq), free(m->views), free(m->kcache), free(m->vcache);
    free(m->x), free(m->h), free(m->tmp), free(m->qkv), free(m->att), free(m->mlp), free(m->mlp_act), free(m->scores);
    free(m->norm_mean), free(m->norm_rstd);
    free(m);
}

size_t qn_llm_weight_bytes(const qn_llm *m) { return m->weight_bytes; }

void qn_llm_embed_rows(const qn_llm *m, int r0, int r1, float *out) {
    const size_t C = (size_t)m->cfg.hidden;
    if (m->embed) memcpy(out, m->embed + (size_t)r0 * C, (size_t)(r1 - r0) * C * sizeof(float));
    else qn_hf_view_to_f32(&m->embed_view, (size_t)r0 * C, (size_t)(r1 - r0) * C, out);
}
