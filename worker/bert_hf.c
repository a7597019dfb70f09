/* bert_hf.c: a Hugging Face BERT directory (config.json + model.safetensors) into qn_bert: the
 * sizes from config.json, every tensor by its state-dict name (with or without the "bert." prefix
 * of BertForSequenceClassification, LayerNorm as weight/bias or the old gamma/beta). A checkpoint
 * without a classifier (a plain BertModel) keeps the freshly initialised head. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "qn_safetensors.h"

static int json_int(json_t *root, const char *key, int dflt) {
    json_t *v = json_object_get(root, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

int qn_bert_config_from_hf(const char *dir, qn_bert_config *c, char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%s: %s (line %d)", path, je.text, je.line);
        return 2;
    }
    int rc = 0;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: not a JSON object", path);
        rc = 2;
    } else {
        json_t *mt = json_object_get(root, "model_type");
        if (json_is_string(mt) && strcmp(json_string_value(mt), "bert") != 0) {
            snprintf(err, errlen, "%s: model_type is '%.40s', not bert", path, json_string_value(mt));
            rc = 2;
        }
        json_t *labels = json_object_get(root, "id2label");
        json_t *eps = json_object_get(root, "layer_norm_eps");
        *c = (qn_bert_config){json_int(root, "vocab_size", 30522), json_int(root, "max_position_embeddings", 512),
                              json_int(root, "type_vocab_size", 2), json_int(root, "hidden_size", 768),
                              json_int(root, "num_hidden_layers", 12), json_int(root, "num_attention_heads", 12),
                              json_int(root, "intermediate_size", 3072),
                              json_is_object(labels) ? (int)json_object_size(labels) : 2,
                              json_is_number(eps) ? (float)json_number_value(eps) : 1e-12f};
        json_t *pos = json_object_get(root, "position_embedding_type");
        if (!rc && json_is_string(pos) && strcmp(json_string_value(pos), "absolute") != 0) {
            snprintf(err, errlen, "%s: position_embedding_type '%.40s' is not supported (only absolute)", path,
                     json_string_value(pos));
            rc = 2;
        }
        json_t *act = json_object_get(root, "hidden_act");
        if (!rc && json_is_string(act) && strcmp(json_string_value(act), "gelu") != 0) {
            snprintf(err, errlen, "%s: hidden_act '%.40s' is not supported (BERT's exact gelu is)", path, json_string_value(act));
            rc = 2;
        }
        if (!rc && (c->hidden <= 0 || c->layers <= 0 || c->heads <= 0 || c->hidden % c->heads || c->intermediate <= 0 ||
                    c->vocab_size <= 0 || c->max_position <= 0 || c->type_vocab <= 0 || c->num_labels < 2)) {
            snprintf(err, errlen, "%s: inconsistent sizes (hidden %d, layers %d, heads %d, intermediate %d)", path,
                     c->hidden, c->layers, c->heads, c->intermediate);
            rc = 2;
        }
    }
    json_decref(root);
    return rc;
}

/* Copy tensor `name` (with or without the "bert." prefix; gamma/beta for LayerNorm weight/bias) of
 * exactly n floats into dst. Returns 0, 1 when absent and optional, 2 on a mismatch (err). */
static int load(const qn_safetensors *st, const char *name, float *dst, size_t n, int optional, char *err,
                size_t errlen) {
    char alt[512];
    const qn_st_tensor *t = qn_st_find(st, name);
    if (!t) {
        snprintf(alt, sizeof alt, "bert.%s", name);
        t = qn_st_find(st, alt);
    }
    if (!t && strstr(name, "LayerNorm.")) {
        snprintf(alt, sizeof alt, "%s", name);
        char *w = strstr(alt, "LayerNorm.weight"), *b = strstr(alt, "LayerNorm.bias");
        if (w) strcpy(w, "LayerNorm.gamma");
        if (b) strcpy(b, "LayerNorm.beta");
        t = qn_st_find(st, alt);
        if (!t) {
            char alt2[520];
            snprintf(alt2, sizeof alt2, "bert.%s", alt);
            t = qn_st_find(st, alt2);
        }
    }
    if (!t) {
        if (optional) return 1;
        snprintf(err, errlen, "%s: no tensor '%s'", st->path, name);
        return 2;
    }
    if (t->numel != n) {
        snprintf(err, errlen, "%s: tensor '%s' has %zu values, the model needs %zu", st->path, t->name, t->numel, n);
        return 2;
    }
    if (qn_st_read_f32(st, t, dst) != 0) {
        snprintf(err, errlen, "%s: tensor '%s' is %s, not a floating type", st->path, t->name, qn_st_dtype_name(t->dtype));
        return 2;
    }
    return 0;
}

qn_bert *qn_bert_load_hf(const char *dir, int max_batch, int T, char *err, size_t errlen) {
    qn_bert_config c;
    if (qn_bert_config_from_hf(dir, &c, err, errlen) != 0) return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    qn_safetensors st;
    if (qn_st_open(path, &st, err, errlen) != 0) return NULL;
    qn_bert *m = qn_bert_new(&c, max_batch, T, 0);
    if (!m) {
        snprintf(err, errlen, "%s: cannot build the model (out of memory, or %d tokens exceed %d positions)", dir, T,
                 c.max_position);
        qn_st_close(&st);
        return NULL;
    }
    const size_t C = (size_t)c.hidden;
    int rc = 0;
    rc |= load(&st, "embeddings.word_embeddings.weight", m->word, (size_t)c.vocab_size * C, 0, err, errlen) == 2;
    if (!rc) rc |= load(&st, "embeddings.position_embeddings.weight", m->pos, (size_t)c.max_position * C, 0, err, errlen) == 2;
    if (!rc) rc |= load(&st, "embeddings.token_type_embeddings.weight", m->type, (size_t)c.type_vocab * C, 0, err, errlen) == 2;
    if (!rc) rc |= load(&st, "embeddings.LayerNorm.weight", m->emb_ln_w, C, 0, err, errlen) == 2;
    if (!rc) rc |= load(&st, "embeddings.LayerNorm.bias", m->emb_ln_b, C, 0, err, errlen) == 2;
    static const char *const lin[QN_BERT_LIN_PER_LAYER] = {"attention.self.query", "attention.self.key",
                                                           "attention.self.value", "attention.output.dense",
                                                           "intermediate.dense", "output.dense"};
    for (int l = 0; l < c.layers && !rc; l++) {
        qn_bert_layer *y = &m->layer[l];
        char name[256];
        for (int k = 0; k < QN_BERT_LIN_PER_LAYER && !rc; k++) {
            qn_linear *L = &y->lin[k];
            snprintf(name, sizeof name, "encoder.layer.%d.%s.weight", l, lin[k]);
            rc |= load(&st, name, L->W, (size_t)L->out * L->in, 0, err, errlen) == 2;
            snprintf(name, sizeof name, "encoder.layer.%d.%s.bias", l, lin[k]);
            if (!rc) rc |= load(&st, name, L->b, (size_t)L->out, 0, err, errlen) == 2;
        }
        const char *lns[4] = {"attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
                              "output.LayerNorm.weight", "output.LayerNorm.bias"};
        float *dst[4] = {y->ln1_w, y->ln1_b, y->ln2_w, y->ln2_b};
        for (int k = 0; k < 4 && !rc; k++) {
            snprintf(name, sizeof name, "encoder.layer.%d.%s", l, lns[k]);
            rc |= load(&st, name, dst[k], C, 0, err, errlen) == 2;
        }
    }
    if (!rc) rc |= load(&st, "pooler.dense.weight", m->pooler.W, C * C, 1, err, errlen) == 2;
    if (!rc) rc |= load(&st, "pooler.dense.bias", m->pooler.b, C, 1, err, errlen) == 2;
    if (!rc) rc |= load(&st, "classifier.weight", m->classifier.W, (size_t)c.num_labels * C, 1, err, errlen) == 2;
    if (!rc) rc |= load(&st, "classifier.bias", m->classifier.b, (size_t)c.num_labels, 1, err, errlen) == 2;
    qn_st_close(&st);
    if (rc) {
        qn_bert_free(m);
        return NULL;
    }
    return m;
}
