/* hf_generation_config.c: the stop and pad ids a Hugging Face model generates with (see qn_hf_llm.h):
 * eos_token_id and pad_token_id of generation_config.json, else of config.json, as transformers'
 * generate takes them (GenerationConfig.from_pretrained, from_model_config without the file). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_error.h"
#include "hf_internal.h"
#include "qn_hf_llm.h"

#define MAX_GENERATION_BYTES ((size_t)1 << 20)

/* A token id: an integer in [0, INT32_MAX]. */
static int token_id(json_t *v, int32_t *out) {
    double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : NAN;
    if (!(d == floor(d)) || d < 0 || d > 2147483647.0) return -1;
    *out = (int32_t)d;
    return 0;
}

int qn_hf_generation_parse(const char *path, const char *text, size_t len, qn_hf_generation *g, char *err,
                           size_t errlen) {
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root) return qn_file_error(err, errlen, path, "not valid JSON: %.200s (line %d)", je.text, je.line);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = qn_file_error(err, errlen, path, "not a JSON object");
        goto out;
    }
    json_t *eos = json_object_get(root, "eos_token_id");
    if (eos && !json_is_null(eos)) { // an int or a list of ints; null or absent: the other file's
        const int list = json_is_array(eos);
        const size_t n = list ? json_array_size(eos) : 1;
        if (n > QN_HF_MAX_EOS) {
            rc = qn_file_error(err, errlen, path, "'eos_token_id' lists more than %d ids", QN_HF_MAX_EOS);
            goto out;
        }
        g->neos = 0;
        for (size_t i = 0; i < n; i++)
            if (token_id(list ? json_array_get(eos, i) : eos, &g->eos[g->neos++])) {
                rc = qn_file_error(err, errlen, path, "'eos_token_id' must be a token id or a list of token ids (integers >= 0)");
                goto out;
            }
    }
    json_t *pad = json_object_get(root, "pad_token_id");
    if (pad && !json_is_null(pad)) {
        if (token_id(pad, &g->pad_token_id)) {
            rc = qn_file_error(err, errlen, path, "'pad_token_id' must be a token id (an integer >= 0)");
            goto out;
        }
        g->has_pad = 1;
    }
out:
    json_decref(root);
    return rc;
}

static int parse_file(const char *path, qn_hf_generation *g, char *err, size_t errlen) {
    char *text;
    size_t len;
    int rc = qn_hf_read_small_file(path, MAX_GENERATION_BYTES, &text, &len, err, errlen);
    if (rc) return rc;
    rc = qn_hf_generation_parse(path, text, len, g, err, errlen);
    free(text);
    return rc;
}

int qn_hf_generation_load(const char *dir, qn_hf_generation *g, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = parse_file(path, g, err, errlen);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (access(path, F_OK) == 0 && (rc = parse_file(path, g, err, errlen)) != 0) return rc; // its keys win
    if (!g->has_pad && g->neos) g->pad_token_id = g->eos[0], g->has_pad = 1; // generate: pad = eos[0]
    return 0;
}
