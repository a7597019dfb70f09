/* hf_llm_config.c: config.json of a Llama, Phi-3 or Phi-2 checkpoint into qn_llm_config (see
 * qn_hf_llm.h). Defaults are transformers' (LlamaConfig, Phi3Config, PhiConfig) for keys a file
 * leaves out; what quench cannot run yet (other rope scalings, qk_layernorm) is refused by name. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_error.h"
#include "hf_internal.h"
#include "qn_hf_llm.h"

#define MAX_DIM (1 << 24)
#define MAX_CONFIG_BYTES ((size_t)16 << 20)

const char *qn_llm_arch_name(qn_llm_arch a) {
    switch (a) {
    case QN_LLM_LLAMA: return "llama";
    case QN_LLM_PHI3: return "phi3";
    case QN_LLM_PHI2: return "phi";
    }
    return "?";
}

/* An integer key in [lo, hi]: absent or null gives dflt (required: an error). */
static int get_int(json_t *o, const char *key, int dflt, int required, int lo, int hi, int *out, const char *path,
                   char *err, size_t errlen) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) return qn_file_error(err, errlen, path, "'%s' is missing; a Hugging Face config.json of this model has it", key);
        *out = dflt;
        return 0;
    }
    double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : NAN;
    if (!(d == floor(d)) || d < lo || d > hi)
        return qn_file_error(err, errlen, path, "'%s' must be an integer in [%d, %d]", key, lo, hi);
    *out = (int)d;
    return 0;
}

/* A number key, finite and > 0 (or >= 0 with allow_zero). */
static int get_num(json_t *o, const char *key, double dflt, int required, double *out, const char *path, char *err,
                   size_t errlen) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) return qn_file_error(err, errlen, path, "'%s' is missing", key);
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) <= 0)
        return qn_file_error(err, errlen, path, "'%s' must be a positive number", key);
    *out = json_number_value(v);
    return 0;
}

static int get_bool(json_t *o, const char *key, int dflt, int *out, const char *path, char *err, size_t errlen) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) return qn_file_error(err, errlen, path, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* rope_scaling[key]: a list of exactly n positive numbers, kept as float32 (transformers makes a
 * float32 tensor of it). */
static int get_factors(json_t *rs, const char *key, int n, float *out, const char *path, char *err, size_t errlen) {
    json_t *v = json_object_get(rs, key);
    if (!v || json_is_null(v))
        return qn_file_error(err, errlen, path, "rope_scaling '%s' is missing; longrope needs a list of %d numbers", key,
                             n);
    if (!json_is_array(v) || json_array_size(v) != (size_t)n)
        return qn_file_error(err, errlen, path,
                             "rope_scaling '%s' must be a list of %d numbers (one per pair of the %d rotary dimensions)",
                             key, n, 2 * n);
    for (int i = 0; i < n; i++) {
        json_t *x = json_array_get(v, (size_t)i);
        double d = json_is_number(x) ? json_number_value(x) : NAN;
        if (!(d > 0) || !isfinite((float)d))
            return qn_file_error(err, errlen, path, "rope_scaling '%s'[%d] must be a positive number", key, i);
        out[i] = (float)d;
    }
    return 0;
}

/* Phi-3's longrope as transformers (_compute_longrope_parameters and Phi3Config): the factor lists,
 * original_max_position_embeddings from the top level of config.json (Phi3Config's default 4096), and
 * attention_factor from rope_scaling or else from max_position_embeddings / that. */
static int parse_longrope(json_t *root, json_t *rs, qn_llm_config *c, const char *path, char *err, size_t errlen) {
    const int n = c->rotary_dim / 2;
    if (n > QN_LLM_MAX_ROPE_FACTORS)
        return qn_file_error(err, errlen, path, "longrope over %d rotary dimensions is not supported (at most %d)",
                             c->rotary_dim, 2 * QN_LLM_MAX_ROPE_FACTORS);
    int rc;
    double af = 0;
    if ((rc = get_factors(rs, "short_factor", n, c->rope_short_factor, path, err, errlen)) ||
        (rc = get_factors(rs, "long_factor", n, c->rope_long_factor, path, err, errlen)) ||
        (rc = get_int(root, "original_max_position_embeddings", 4096, 0, 2, MAX_DIM, &c->rope_original_max_position,
                      path, err, errlen)) ||
        (rc = get_num(rs, "attention_factor", 0, 0, &af, path, err, errlen)))
        return rc;
    if (af == 0) { // sqrt(1 + ln(factor) / ln(original)), the factor the context was stretched by
        const double factor = (double)c->max_position / c->rope_original_max_position;
        af = factor <= 1.0 ? 1.0 : sqrt(1.0 + log(factor) / log((double)c->rope_original_max_position));
    }
    c->rope_longrope = 1, c->rope_attention_factor = af;
    return 0;
}

static int parse_rope_scaling(json_t *root, qn_llm_config *c, const char *path, char *err, size_t errlen) {
    json_t *rs = json_object_get(root, "rope_scaling");
    if (!rs || json_is_null(rs)) return 0;
    if (!json_is_object(rs)) return qn_file_error(err, errlen, path, "'rope_scaling' must be an object or null");
    json_t *t = json_object_get(rs, "rope_type");
    if (!t) t = json_object_get(rs, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : NULL;
    if (!type) return qn_file_error(err, errlen, path, "'rope_scaling' needs a string 'rope_type' (or 'type')");
    if (!strcmp(type, "default")) return 0;
    // Phi3Config renames the older "su" to "longrope"
    if (c->arch == QN_LLM_PHI3 && (!strcmp(type, "longrope") || !strcmp(type, "su")))
        return parse_longrope(root, rs, c, path, err, errlen);
    if (c->arch == QN_LLM_LLAMA && !strcmp(type, "linear")) { // _compute_linear_scaling_rope_parameters
        c->rope_linear = 1;
        return get_num(rs, "factor", 0, 1, &c->rope_factor, path, err, errlen);
    }
    if (c->arch != QN_LLM_LLAMA || strcmp(type, "llama3") != 0)
        return qn_file_error(err, errlen, path,
                             "rope_scaling type '%.40s' is not supported for %s (quench runs Llama's 'llama3' and "
                             "'linear' and Phi-3's 'longrope' scalings, and rope_scaling null otherwise)",
                             type, qn_llm_arch_name(c->arch));
    c->rope_llama3 = 1;
    int rc;
    if ((rc = get_num(rs, "factor", 0, 1, &c->rope_factor, path, err, errlen)) ||
        (rc = get_num(rs, "low_freq_factor", 0, 1, &c->rope_low_freq_factor, path, err, errlen)) ||
        (rc = get_num(rs, "high_freq_factor", 0, 1, &c->rope_high_freq_factor, path, err, errlen)) ||
        (rc = get_int(rs, "original_max_position_embeddings", 0, 1, 1, MAX_DIM, &c->rope_original_max_position, path,
                      err, errlen)))
        return rc;
    if (!(c->rope_high_freq_factor > c->rope_low_freq_factor))
        return qn_file_error(err, errlen, path, "rope_scaling: high_freq_factor must be larger than low_freq_factor");
    return 0;
}

int qn_hf_llm_config_parse(const char *path, const char *text, size_t len, qn_llm_config *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    c->rope_attention_factor = 1.0;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return qn_file_error(err, errlen, path, "not valid JSON: %.200s (line %d)", je.text, je.line);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = qn_file_error(err, errlen, path, "not a JSON object");
        goto out;
    }
    json_t *mt = json_object_get(root, "model_type");
    const char *type = json_is_string(mt) ? json_string_value(mt) : NULL;
    if (!type) {
        rc = qn_file_error(err, errlen, path, "'model_type' is missing; quench runs llama, phi3 and phi checkpoints");
        goto out;
    }
    if (!strcmp(type, "llama")) c->arch = QN_LLM_LLAMA;
    else if (!strcmp(type, "phi3")) c->arch = QN_LLM_PHI3;
    else if (!strcmp(type, "phi")) c->arch = QN_LLM_PHI2;
    else {
        rc = qn_file_error(err, errlen, path, "model_type '%.40s' is not supported (llama, phi3 and phi are)", type);
        goto out;
    }
    int is_phi2 = c->arch == QN_LLM_PHI2;
    double eps = 0, partial = 1;
    int head_dim = 0;
    if ((rc = get_int(root, "vocab_size", 0, 1, 1, MAX_DIM, &c->vocab_size, path, err, errlen)) ||
        (rc = get_int(root, "hidden_size", 0, 1, 1, MAX_DIM, &c->hidden, path, err, errlen)) ||
        (rc = get_int(root, "num_hidden_layers", 0, 1, 1, 4096, &c->layers, path, err, errlen)) ||
        (rc = get_int(root, "num_attention_heads", 0, 1, 1, 4096, &c->heads, path, err, errlen)) ||
        (rc = get_int(root, "num_key_value_heads", c->heads, 0, 1, 4096, &c->kv_heads, path, err, errlen)) ||
        (rc = get_int(root, "intermediate_size", 0, 1, 1, MAX_DIM, &c->intermediate, path, err, errlen)) ||
        (rc = get_int(root, "max_position_embeddings", 2048, 0, 1, MAX_DIM, &c->max_position, path, err, errlen)) ||
        (rc = get_int(root, "head_dim", 0, 0, 1, 65536, &head_dim, path, err, errlen)) ||
        (rc = get_num(root, "rope_theta", 10000.0, 0, &c->rope_theta, path, err, errlen)) ||
        (rc = get_num(root, is_phi2 ? "layer_norm_eps" : "rms_norm_eps", is_phi2 ? 1e-5 : c->arch == QN_LLM_PHI3 ? 1e-5 : 1e-6,
                      0, &eps, path, err, errlen)) ||
        (rc = get_num(root, "partial_rotary_factor", is_phi2 ? 0.5 : 1.0, 0, &partial, path, err, errlen)) ||
        (rc = get_bool(root, "tie_word_embeddings", 0, &c->tie_word_embeddings, path, err, errlen)) ||
        (rc = get_bool(root, "attention_bias", 0, &c->attention_bias, path, err, errlen)) ||
        (rc = get_bool(root, "mlp_bias", 0, &c->mlp_bias, path, err, errlen)))
        goto out;
    c->norm_eps = (float)eps;
    if (c->arch != QN_LLM_LLAMA && (c->attention_bias || c->mlp_bias)) {
        rc = qn_file_error(err, errlen, path, "attention_bias/mlp_bias are Llama options; %s checkpoints do not use them", type);
        goto out;
    }
    if (c->heads % c->kv_heads) {
        rc = qn_file_error(err, errlen, path, "num_attention_heads %d is not a multiple of num_key_value_heads %d", c->heads,
                           c->kv_heads);
        goto out;
    }
    if (head_dim && c->arch != QN_LLM_LLAMA && head_dim * c->heads != c->hidden) {
        rc = qn_file_error(err, errlen, path, "head_dim %d differs from hidden_size / num_attention_heads", head_dim);
        goto out;
    }
    if (!head_dim) {
        if (c->hidden % c->heads) {
            rc = qn_file_error(err, errlen, path, "hidden_size %d is not a multiple of num_attention_heads %d", c->hidden, c->heads);
            goto out;
        }
        head_dim = c->hidden / c->heads;
    }
    c->head_dim = head_dim;
    if (partial > 1) {
        rc = qn_file_error(err, errlen, path, "'partial_rotary_factor' must be in (0, 1]");
        goto out;
    }
    c->rotary_dim = (int)(partial * head_dim); /* Python's int(): truncation, as transformers */
    if (c->rotary_dim < 2 || c->rotary_dim % 2) {
        rc = qn_file_error(err, errlen, path, "head_dim %d x partial_rotary_factor %g gives %d rotary dimensions; an even number >= 2 is needed",
                           head_dim, partial, c->rotary_dim);
        goto out;
    }
    json_t *act = json_object_get(root, "hidden_act");
    const char *want = is_phi2 ? "gelu_new" : "silu";
    if (act && !json_is_null(act) && (!json_is_string(act) || strcmp(json_string_value(act), want) != 0)) {
        rc = qn_file_error(err, errlen, path, "hidden_act must be '%s' for %s (other activations are not supported)", want, type);
        goto out;
    }
    int qk_ln = 0;
    if ((rc = get_bool(root, "qk_layernorm", 0, &qk_ln, path, err, errlen))) goto out;
    if (qk_ln) {
        rc = qn_file_error(err, errlen, path, "qk_layernorm true is not supported (Phi-2 checkpoints have it false)");
        goto out;
    }
    /* Phi-3 masks keys outside its window (transformers' create_sliding_window_causal_mask); a Llama or
     * Phi-2 config may carry the key (null, or Qwen-style with use_sliding_window false) but neither
     * model applies it, so it is not read there. */
    if (c->arch == QN_LLM_PHI3 &&
        (rc = get_int(root, "sliding_window", 0, 0, 1, MAX_DIM, &c->sliding_window, path, err, errlen)))
        goto out;
    rc = parse_rope_scaling(root, c, path, err, errlen);
out:
    json_decref(root);
    return rc;
}

int qn_hf_read_small_file(const char *path, size_t limit, char **out, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read it; a Hugging Face model directory has one", path);
        return 2;
    }
    char *buf = malloc(limit + 1);
    size_t n = buf ? fread(buf, 1, limit + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "%s: cannot read it", path);
        return 1;
    }
    if (n > limit) {
        free(buf);
        snprintf(err, errlen, "%s: larger than %zu MiB; not a Hugging Face metadata file", path, limit >> 20);
        return 2;
    }
    buf[n] = 0;
    *out = buf, *len = n;
    return 0;
}

int qn_hf_llm_config_load(const char *dir, qn_llm_config *c, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text;
    size_t len;
    int rc = qn_hf_read_small_file(path, MAX_CONFIG_BYTES, &text, &len, err, errlen);
    if (rc) return rc;
    rc = qn_hf_llm_config_parse(path, text, len, c, err, errlen);
    free(text);
    return rc;
}
