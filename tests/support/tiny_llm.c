/* tiny_llm.c: see tiny_llm.h. The safetensors header is built as text as the weights are drawn. */
#include "tiny_llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_infer_formats.h"
#include "qn_kernels.h"

typedef struct {
    char header[16384];
    float *data;
    size_t n, cap;
    qn_rng rng;
    int bits16, bf16;  /* stored as 16 bits: IEEE half or bfloat16 */
    int round16, round_bf16; /* values rounded to a 16-bit format (whatever is stored) */
} st_builder;

/* A tensor of shape (d0) or (d0, d1) with entries base + scale * N(0, 1). */
static void add(st_builder *b, const char *name, int64_t d0, int64_t d1, float base, float scale) {
    size_t numel = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    if (b->n + numel > b->cap) {
        b->cap = (b->n + numel) * 2;
        b->data = realloc(b->data, b->cap * sizeof(float));
        if (!b->data) abort();
    }
    for (size_t i = 0; i < numel; i++) {
        float v = base + scale * qn_rng_normal(&b->rng);
        if (b->round16) v = b->round_bf16 ? qn_bf16_to_f32(qn_f32_to_bf16(v)) : qn_f16_to_f32(qn_f32_to_f16(v));
        b->data[b->n + i] = v;
    }
    char e[256];
    const char *dtype = !b->bits16 ? "F32" : b->bf16 ? "BF16" : "F16";
    const size_t es = b->bits16 ? 2 : 4;
    if (d1)
        snprintf(e, sizeof e, "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%lld, %lld], \"data_offsets\": [%zu, %zu]}",
                 b->header[1] ? ", " : "", name, dtype, (long long)d0, (long long)d1, b->n * es, (b->n + numel) * es);
    else
        snprintf(e, sizeof e, "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [%lld], \"data_offsets\": [%zu, %zu]}",
                 b->header[1] ? ", " : "", name, dtype, (long long)d0, b->n * es, (b->n + numel) * es);
    if (strlen(b->header) + strlen(e) + 2 >= sizeof b->header) abort(); /* a test's model, never this large */
    strcat(b->header, e);
    b->n += numel;
}

static void lin(st_builder *b, const char *name, int out, int in, int bias) {
    char n[192];
    snprintf(n, sizeof n, "%s.weight", name);
    add(b, n, out, in, 0.0f, 1.0f / sqrtf((float)in));
    if (bias) {
        snprintf(n, sizeof n, "%s.bias", name);
        add(b, n, out, 0, 0.0f, 0.1f);
    }
}

static void add_layers(st_builder *b, qn_llm_arch arch, const qn_tiny_llm_dims *d, int nkv) {
    const int C = d->hidden, Q = d->heads * d->head_dim, KV = nkv * d->head_dim, I = d->intermediate;
    char p[160];
    for (int l = 0; l < d->layers; l++) {
#define NAME(s) (snprintf(p, sizeof p, "model.layers.%d.%s", l, s), p)
        if (arch == QN_LLM_PHI2) {
            add(b, NAME("input_layernorm.weight"), C, 0, 1.0f, 0.1f);
            add(b, NAME("input_layernorm.bias"), C, 0, 0.0f, 0.1f);
            lin(b, NAME("self_attn.q_proj"), Q, C, 1);
            lin(b, NAME("self_attn.k_proj"), KV, C, 1);
            lin(b, NAME("self_attn.v_proj"), KV, C, 1);
            lin(b, NAME("self_attn.dense"), C, Q, 1);
            lin(b, NAME("mlp.fc1"), I, C, 1);
            lin(b, NAME("mlp.fc2"), C, I, 1);
            continue;
        }
        add(b, NAME("input_layernorm.weight"), C, 0, 1.0f, 0.1f);
        add(b, NAME("post_attention_layernorm.weight"), C, 0, 1.0f, 0.1f);
        if (arch == QN_LLM_PHI3) {
            lin(b, NAME("self_attn.qkv_proj"), Q + 2 * KV, C, 0);
            lin(b, NAME("mlp.gate_up_proj"), 2 * I, C, 0);
        } else {
            lin(b, NAME("self_attn.q_proj"), Q, C, 0);
            lin(b, NAME("self_attn.k_proj"), KV, C, 0);
            lin(b, NAME("self_attn.v_proj"), KV, C, 0);
            lin(b, NAME("mlp.gate_proj"), I, C, 0);
            lin(b, NAME("mlp.up_proj"), I, C, 0);
        }
        lin(b, NAME("self_attn.o_proj"), C, Q, 0);
        lin(b, NAME("mlp.down_proj"), C, I, 0);
#undef NAME
    }
}

static int write_config(const char *dir, qn_llm_arch arch, const qn_tiny_llm_dims *d, int nkv) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const char *type = arch == QN_LLM_PHI2 ? "phi" : arch == QN_LLM_PHI3 ? "phi3" : "llama";
    fprintf(f,
            "{\"model_type\": \"%s\", \"vocab_size\": %d, \"hidden_size\": %d, \"num_hidden_layers\": %d, "
            "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"intermediate_size\": %d, "
            "\"max_position_embeddings\": 64%s}",
            type, d->vocab, d->hidden, d->layers, d->heads, nkv, d->intermediate,
            arch == QN_LLM_PHI2 ? ", \"partial_rotary_factor\": 0.5"
            : arch == QN_LLM_LLAMA
                ? ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 4.0, \"low_freq_factor\": 1.0, "
                  "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 16}"
                : "");
    return fclose(f) == 0 ? 0 : -1;
}

int qn_tiny_llm_write(const char *dir, qn_llm_arch arch, const qn_tiny_llm_dims *d, int kv_heads, uint64_t seed) {
    return qn_tiny_llm_write_stored(dir, arch, d, kv_heads, seed, NULL);
}

/* The data as stored: float32, or each value (already rounded) in 16 bits. */
static int write_data(FILE *f, const st_builder *b) {
    if (!b->bits16) return fwrite(b->data, sizeof(float), b->n, f) == b->n;
    uint16_t chunk[4096];
    for (size_t i = 0; i < b->n;) {
        size_t k = 0;
        for (; k < 4096 && i < b->n; k++, i++) chunk[k] = b->bf16 ? qn_f32_to_bf16(b->data[i]) : qn_f32_to_f16(b->data[i]);
        if (fwrite(chunk, 2, k, f) != k) return 0;
    }
    return 1;
}

int qn_tiny_llm_write_stored(const char *dir, qn_llm_arch arch, const qn_tiny_llm_dims *d, int kv_heads, uint64_t seed,
                             const qn_tiny_llm_storage *storage) {
    st_builder *b = calloc(1, sizeof *b);
    if (!b) return -1;
    const qn_tiny_llm_storage plain = {QN_ST_F32, QN_ST_F32, 0}, *s = storage ? storage : &plain;
    b->bits16 = s->dtype == QN_ST_F16 || s->dtype == QN_ST_BF16, b->bf16 = s->dtype == QN_ST_BF16;
    b->round16 = b->bits16 || s->round_to == QN_ST_F16 || s->round_to == QN_ST_BF16;
    b->round_bf16 = b->bits16 ? b->bf16 : s->round_to == QN_ST_BF16;
    strcpy(b->header, "{");
    qn_rng_seed(&b->rng, seed);
    add(b, "model.embed_tokens.weight", d->vocab, d->hidden, 0.0f, 0.5f);
    add_layers(b, arch, d, kv_heads);
    if (arch == QN_LLM_PHI2) {
        add(b, "model.final_layernorm.weight", d->hidden, 0, 1.0f, 0.1f);
        add(b, "model.final_layernorm.bias", d->hidden, 0, 0.0f, 0.1f);
        lin(b, "lm_head", d->vocab, d->hidden, 1);
    } else {
        add(b, "model.norm.weight", d->hidden, 0, 1.0f, 0.1f);
        if (!s->tied) lin(b, "lm_head", d->vocab, d->hidden, 0);
    }
    strcat(b->header, "}");
    while (strlen(b->header) % 8) strcat(b->header, " "); /* the data starts 8-byte aligned */
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        uint64_t h = strlen(b->header);
        int ok = fwrite(&h, 8, 1, f) == 1 && fwrite(b->header, 1, h, f) == h && write_data(f, b);
        rc = fclose(f) == 0 && ok ? 0 : -1;
    }
    if (rc == 0) rc = write_config(dir, arch, d, kv_heads);
    if (rc == 0 && s->tied) rc = qn_tiny_llm_config_add(dir, ", \"tie_word_embeddings\": true");
    free(b->data);
    free(b);
    return rc;
}

int qn_tiny_llm_config_add(const char *dir, const char *members) {
    char path[512], text[8192];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "r+");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    char *brace = strrchr(text, '}');
    int rc = -1;
    if (brace && n < sizeof text - 1) { /* the members go before the closing brace: the file only grows */
        *brace = 0;
        rewind(f);
        rc = fprintf(f, "%s%s}", text, members) > 0 ? 0 : -1;
    }
    return fclose(f) == 0 ? rc : -1;
}
