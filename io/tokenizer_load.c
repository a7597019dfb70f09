/* tokenizer_load.c: reads a tokenizer.json into a qn_tokenizer, accepting exactly the components
 * docs/tokenizers.md lists and refusing the others with one line that names them. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

typedef struct {
    const char *name;
    char *err;
    size_t errlen;
} loader;

static int fail(loader *L, const char *fmt, ...) {
    int used = snprintf(L->err, L->errlen, "%s: ", L->name);
    if (used < 0) used = 0;
    if ((size_t)used < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + used, L->errlen - (size_t)used, fmt, ap);
        va_end(ap);
    }
    return 2;
}

static int oom(loader *L) {
    snprintf(L->err, L->errlen, "%s: out of memory", L->name);
    return 1;
}

/* A flag: absent or null is dflt; anything but a boolean is an error (-1). */
static int get_bool(json_t *obj, const char *key, int dflt) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return dflt;
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

static int bool_field(loader *L, json_t *obj, const char *where, const char *key, int dflt, int *out) {
    *out = get_bool(obj, key, dflt);
    return *out < 0 ? fail(L, "%s.%s is not a boolean", where, key) : 0;
}

/* A string member; NULL when absent or not a string. */
static const char *get_str(json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

static int type_of(loader *L, json_t *obj, const char *where, const char **type) {
    if (!json_is_object(obj)) return fail(L, "%s is not an object", where);
    *type = get_str(obj, "type");
    return *type ? 0 : fail(L, "%s has no \"type\"", where);
}

/* {"String": s} for a literal; {"Regex": r} when regex_ok. */
static int pattern_of(loader *L, json_t *obj, const char *where, int regex_ok, char **literal, char **regex) {
    json_t *p = json_object_get(obj, "pattern");
    *literal = *regex = NULL;
    const char *s = get_str(p, "String"), *r = get_str(p, "Regex");
    if (s && *s) *literal = strdup(s);
    else if (r && regex_ok) *regex = strdup(r);
    else if (r) return fail(L, "unsupported %s: a Regex pattern (only String)", where);
    else return fail(L, "%s has no pattern {\"String\": ...}%s", where, regex_ok ? " or {\"Regex\": ...}" : "");
    return *literal || *regex ? 0 : oom(L);
}

static int compile_regex(loader *L, const char *pattern, int literal, const char *where, pcre2_code **out) {
    int code;
    PCRE2_SIZE offset;
    /* UCP: \p{L}, \s and friends are Unicode-aware as in the `tokenizers` library's regexes;
     * MATCH_INVALID_UTF: invalid UTF-8 input never matches instead of failing the match. */
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    *out = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &offset, NULL);
    if (!*out) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return fail(L, "%s: bad regex at offset %zu: %s", where, (size_t)offset, (const char *)msg);
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* where the JIT is missing, the interpreter runs */
    return 0;
}

/* GPT-2's pre-tokenizer regex, the one ByteLevel(use_regex=true) applies. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int prepend_scheme_of(loader *L, json_t *obj, const char *where, int *scheme) {
    const char *s = get_str(obj, "prepend_scheme");
    if (s) {
        if (!strcmp(s, "always")) *scheme = PREPEND_ALWAYS;
        else if (!strcmp(s, "first")) *scheme = PREPEND_FIRST;
        else if (!strcmp(s, "never")) *scheme = PREPEND_NEVER;
        else return fail(L, "unsupported %s prepend_scheme '%s'", where, s);
        return 0;
    }
    int add;
    if (bool_field(L, obj, where, "add_prefix_space", 1, &add)) return 2;
    *scheme = add ? PREPEND_ALWAYS : PREPEND_NEVER;
    return 0;
}

static int replacement_of(loader *L, json_t *obj, const char *where, char **out) {
    const char *r = get_str(obj, "replacement");
    if (!r || !*r) return fail(L, "%s has no replacement", where);
    return (*out = strdup(r)) ? 0 : oom(L);
}

/* ---- Sequence: the normalizer, pre_tokenizer and decoder lists ---- */

typedef int (*add_stage_fn)(loader *L, qn_tokenizer *t, json_t *stage, int depth);

/* A "Sequence" stage: each item of seq[list_key] added in order by `add`. Nesting deeper than 4 is
 * refused, so a hostile file cannot run the recursion off the stack. */
static int add_sequence(loader *L, qn_tokenizer *t, json_t *seq, const char *what, const char *list_key, int depth,
                        add_stage_fn add) {
    json_t *list = json_object_get(seq, list_key);
    if (!json_is_array(list) || depth > 4) return fail(L, "%s Sequence has no %s list", what, list_key);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) if (add(L, t, item, depth + 1)) return 2;
    return 0;
}

/* ---- normalizer ---- */

static int add_normalizer(loader *L, qn_tokenizer *t, json_t *n, int depth) {
    const char *type;
    if (type_of(L, n, "normalizer", &type)) return 2;
    if (!strcmp(type, "Sequence")) return add_sequence(L, t, n, "normalizer", "normalizers", depth, add_normalizer);
    tok_normalizer *grown = realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *grown);
    if (!grown) return oom(L);
    t->norm = grown;
    tok_normalizer *out = &t->norm[t->n_norm];
    memset(out, 0, sizeof *out);
    if (!strcmp(type, "Prepend")) {
        const char *p = get_str(n, "prepend");
        if (!p) return fail(L, "normalizer Prepend has no prepend string");
        out->kind = NORM_PREPEND;
        if (!(out->to = strdup(p))) return oom(L);
    } else if (!strcmp(type, "Replace")) {
        const char *content = get_str(n, "content");
        if (!content) return fail(L, "normalizer Replace has no content");
        char *regex;
        out->kind = NORM_REPLACE;
        t->n_norm++; /* owned from here on, freed with the tokenizer */
        if (pattern_of(L, n, "normalizer Replace", 0, &out->from, &regex)) return 2;
        return (out->to = strdup(content)) ? 0 : oom(L);
    } else if (!strcmp(type, "NFC")) {
        out->kind = NORM_NFC; /* documented: applied as the identity (text is taken as NFC already) */
    } else {
        return fail(L, "unsupported normalizer '%s'", type);
    }
    t->n_norm++;
    return 0;
}

/* ---- pre-tokenizer ---- */

static int add_pretokenizer(loader *L, qn_tokenizer *t, json_t *p, int depth) {
    const char *type;
    if (type_of(L, p, "pre_tokenizer", &type)) return 2;
    if (!strcmp(type, "Sequence")) return add_sequence(L, t, p, "pre_tokenizer", "pretokenizers", depth, add_pretokenizer);
    tok_pretokenizer *grown = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *grown);
    if (!grown) return oom(L);
    t->pre = grown;
    tok_pretokenizer *out = &t->pre[t->n_pre];
    memset(out, 0, sizeof *out);
    t->n_pre++; /* owned from here on */
    if (!strcmp(type, "ByteLevel")) {
        out->kind = PRE_BYTELEVEL;
        if (bool_field(L, p, "pre_tokenizer ByteLevel", "add_prefix_space", 0, &out->add_prefix_space) ||
            bool_field(L, p, "pre_tokenizer ByteLevel", "use_regex", 1, &out->use_regex))
            return 2;
        if (out->use_regex) return compile_regex(L, gpt2_pattern, 0, "ByteLevel", &out->re);
        return 0;
    }
    if (!strcmp(type, "Split")) {
        out->kind = PRE_SPLIT;
        const char *behavior = get_str(p, "behavior");
        if (!behavior) return fail(L, "pre_tokenizer Split has no behavior");
        if (!strcmp(behavior, "Isolated")) out->behavior = SPLIT_ISOLATED;
        else if (!strcmp(behavior, "Removed")) out->behavior = SPLIT_REMOVED;
        else if (!strcmp(behavior, "MergedWithPrevious")) out->behavior = SPLIT_MERGED_PREV;
        else if (!strcmp(behavior, "MergedWithNext")) out->behavior = SPLIT_MERGED_NEXT;
        else return fail(L, "unsupported pre_tokenizer Split behavior '%s'", behavior);
        int invert;
        if (bool_field(L, p, "pre_tokenizer Split", "invert", 0, &invert)) return 2;
        if (invert) return fail(L, "unsupported pre_tokenizer Split with invert=true");
        char *literal, *regex;
        if (pattern_of(L, p, "pre_tokenizer Split", 1, &literal, &regex)) return 2;
        int rc = compile_regex(L, literal ? literal : regex, literal != NULL, "pre_tokenizer Split", &out->re);
        free(literal), free(regex);
        return rc;
    }
    if (!strcmp(type, "Metaspace")) {
        out->kind = PRE_METASPACE;
        if (replacement_of(L, p, "pre_tokenizer Metaspace", &out->replacement) ||
            prepend_scheme_of(L, p, "pre_tokenizer Metaspace", &out->prepend_scheme) ||
            bool_field(L, p, "pre_tokenizer Metaspace", "split", 1, &out->split))
            return 2;
        /* split: pieces start at each replacement character */
        return out->split ? compile_regex(L, out->replacement, 1, "pre_tokenizer Metaspace", &out->re) : 0;
    }
    return fail(L, "unsupported pre_tokenizer '%s'", type);
}

/* ---- decoder ---- */

static int add_decoder(loader *L, qn_tokenizer *t, json_t *d, int depth) {
    const char *type;
    if (type_of(L, d, "decoder", &type)) return 2;
    if (!strcmp(type, "Sequence")) return add_sequence(L, t, d, "decoder", "decoders", depth, add_decoder);
    tok_decoder *grown = realloc(t->dec, (size_t)(t->n_dec + 1) * sizeof *grown);
    if (!grown) return oom(L);
    t->dec = grown;
    tok_decoder *out = &t->dec[t->n_dec];
    memset(out, 0, sizeof *out);
    t->n_dec++;
    if (!strcmp(type, "ByteLevel")) {
        out->kind = DEC_BYTELEVEL;
    } else if (!strcmp(type, "ByteFallback")) {
        out->kind = DEC_BYTEFALLBACK;
    } else if (!strcmp(type, "Fuse")) {
        out->kind = DEC_FUSE;
    } else if (!strcmp(type, "Replace")) {
        out->kind = DEC_REPLACE;
        const char *content = get_str(d, "content");
        char *regex;
        if (!content) return fail(L, "decoder Replace has no content");
        if (pattern_of(L, d, "decoder Replace", 0, &out->from, &regex)) return 2;
        if (!(out->to = strdup(content))) return oom(L);
    } else if (!strcmp(type, "Strip")) {
        out->kind = DEC_STRIP;
        const char *content = get_str(d, "content");
        json_t *start = json_object_get(d, "start"), *stop = json_object_get(d, "stop");
        if (!content || !*content) return fail(L, "decoder Strip has no content");
        if (!json_is_integer(start) || !json_is_integer(stop) || json_integer_value(start) < 0 ||
            json_integer_value(stop) < 0 || json_integer_value(start) > 1000 || json_integer_value(stop) > 1000)
            return fail(L, "decoder Strip needs start and stop counts");
        out->start = (int)json_integer_value(start), out->stop = (int)json_integer_value(stop);
        if (!(out->strip = strdup(content))) return oom(L);
    } else if (!strcmp(type, "Metaspace")) {
        out->kind = DEC_METASPACE;
        if (replacement_of(L, d, "decoder Metaspace", &out->from) ||
            prepend_scheme_of(L, d, "decoder Metaspace", &out->prepend_scheme))
            return 2;
    } else {
        return fail(L, "unsupported decoder '%s'", type);
    }
    return 0;
}

/* ---- model ---- */

static int set_id_token(loader *L, qn_tokenizer *t, int32_t id, const char *token, int special) {
    if (id < 0 || id >= t->n_ids) return fail(L, "token id %d out of range", (int)id);
    if (t->id_token[id]) {
        if (strcmp(t->id_token[id], token) != 0)
            return fail(L, "id %d is both '%s' and '%s'", (int)id, t->id_token[id], token);
    } else {
        if (!(t->id_token[id] = strdup(token))) return oom(L);
        t->id_len[id] = (uint32_t)strlen(token);
    }
    if (special) t->id_special[id] = 1;
    return 0;
}

/* Ids index a table: they must be non-negative and not far sparser than the tokens. */
static int check_id(loader *L, json_t *v, const char *what, const char *token, json_int_t *max_id) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX / 2)
        return fail(L, "%s '%.40s' has no valid id", what, token);
    if (json_integer_value(v) > *max_id) *max_id = json_integer_value(v);
    return 0;
}

static int load_merges(loader *L, qn_tokenizer *t, json_t *merges) {
    if (!json_is_array(merges)) return fail(L, "model.merges is not a list");
    if (tok_merges_init(&t->merges, (uint32_t)json_array_size(merges))) return oom(L);
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *left, *right;
        size_t left_len, right_len;
        if (json_is_string(m)) {
            /* "a b": exactly one space, as the `tokenizers` library requires */
            const char *s = json_string_value(m), *space = strchr(s, ' ');
            if (!space || strchr(space + 1, ' ') || space == s || !space[1])
                return fail(L, "model.merges[%zu] '%.40s' is not two tokens separated by one space", i, s);
            left = s, left_len = (size_t)(space - s), right = space + 1, right_len = strlen(right);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            left = json_string_value(json_array_get(m, 0)), right = json_string_value(json_array_get(m, 1));
            left_len = json_string_length(json_array_get(m, 0)), right_len = json_string_length(json_array_get(m, 1));
        } else {
            return fail(L, "model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", i);
        }
        int32_t a = tok_strmap_get(&t->vocab, left, left_len), b = tok_strmap_get(&t->vocab, right, right_len);
        char *joined = malloc(left_len + right_len + 1);
        if (!joined) return oom(L);
        memcpy(joined, left, left_len), memcpy(joined + left_len, right, right_len);
        int32_t ab = tok_strmap_get(&t->vocab, joined, left_len + right_len);
        if (a < 0 || b < 0 || ab < 0) {
            int rc = fail(L, "model.merges[%zu]: '%.*s' is not in the vocab", i,
                          (int)(a < 0 ? left_len : b < 0 ? right_len : left_len + right_len),
                          a < 0 ? left : b < 0 ? right : joined);
            free(joined);
            return rc;
        }
        free(joined);
        tok_merges_put(&t->merges, a, b, (uint32_t)i, ab); /* a repeated pair keeps its first rank */
    }
    return 0;
}

static int load_model(loader *L, qn_tokenizer *t, json_t *model, json_t *added, json_int_t *max_id) {
    if (!json_is_object(model)) return fail(L, "no model object");
    const char *type = get_str(model, "type");
    if (type && strcmp(type, "BPE") != 0) return fail(L, "unsupported model '%s' (only BPE)", type);
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) return fail(L, "model.vocab is not an object");
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0))
        return fail(L, "unsupported model.dropout (BPE dropout)");
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(model, affixes[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && !*json_string_value(v)))
            return fail(L, "unsupported model.%s", affixes[i]);
    }
    if (bool_field(L, model, "model", "byte_fallback", 0, &t->byte_fallback) ||
        bool_field(L, model, "model", "fuse_unk", 0, &t->fuse_unk) ||
        bool_field(L, model, "model", "ignore_merges", 0, &t->ignore_merges))
        return 2;

    /* ids first: the table's size */
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) if (check_id(L, v, "vocab token", key, max_id)) return 2;
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        const char *content = get_str(a, "content");
        if (!content || !*content) return fail(L, "added_tokens[%zu] has no content", i);
        if (check_id(L, json_object_get(a, "id"), "added token", content, max_id)) return 2;
    }
    size_t tokens = json_object_size(vocab) + json_array_size(added);
    if (*max_id >= 0 && (size_t)*max_id > 2 * tokens + 1024)
        return fail(L, "token ids are sparse (largest %lld for %zu tokens)", (long long)*max_id, tokens);
    t->n_ids = (int32_t)(*max_id + 1);
    t->id_token = calloc((size_t)t->n_ids + 1, sizeof *t->id_token);
    t->id_len = calloc((size_t)t->n_ids + 1, sizeof *t->id_len);
    t->id_special = calloc((size_t)t->n_ids + 1, 1);
    if (!t->id_token || !t->id_len || !t->id_special || tok_strmap_init(&t->vocab, (uint32_t)json_object_size(vocab)))
        return oom(L);
    json_object_foreach(vocab, key, v) {
        int32_t id = (int32_t)json_integer_value(v);
        if (set_id_token(L, t, id, key, 0)) return 2;
        if (tok_strmap_put(&t->vocab, t->id_token[id], t->id_len[id], id) == 1) return oom(L);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_token[b] = tok_strmap_get(&t->vocab, name, 6);
    }
    t->unk = -1;
    json_t *unk = json_object_get(model, "unk_token");
    if (unk && !json_is_null(unk)) {
        if (!json_is_string(unk)) return fail(L, "model.unk_token is not a string");
        t->unk = tok_strmap_get(&t->vocab, json_string_value(unk), json_string_length(unk));
        if (t->unk < 0) return fail(L, "model.unk_token '%.40s' is not in the vocab", json_string_value(unk));
    }
    return load_merges(L, t, json_object_get(model, "merges"));
}

static int load_added(loader *L, qn_tokenizer *t, json_t *added) {
    size_t n = json_array_size(added);
    t->added = calloc(n + 1, sizeof *t->added);
    if (!t->added || tok_strmap_init(&t->added_map, (uint32_t)n)) return oom(L);
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        tok_added *out = &t->added[t->n_added];
        int single_word;
        if (bool_field(L, a, "added_tokens[]", "single_word", 0, &single_word) ||
            bool_field(L, a, "added_tokens[]", "lstrip", 0, &out->lstrip) ||
            bool_field(L, a, "added_tokens[]", "rstrip", 0, &out->rstrip) ||
            bool_field(L, a, "added_tokens[]", "special", 0, &out->special) ||
            bool_field(L, a, "added_tokens[]", "normalized", !out->special, &out->normalized))
            return 2;
        if (single_word) return fail(L, "unsupported added token '%.40s' with single_word=true", get_str(a, "content"));
        /* a token the model's vocab has keeps the vocab's id, whatever the file says, as in the library */
        const char *content = get_str(a, "content");
        int32_t in_vocab = tok_strmap_get(&t->vocab, content, strlen(content));
        out->id = in_vocab >= 0 ? in_vocab : (int32_t)json_integer_value(json_object_get(a, "id"));
        if (set_id_token(L, t, out->id, content, out->special)) return 2;
        out->content = t->id_token[out->id], out->len = t->id_len[out->id];
        int rc = tok_strmap_put(&t->added_map, out->content, (uint32_t)out->len, out->id);
        if (rc == 1) return oom(L);
        if (rc == 0) t->n_added++; /* the same token listed twice is matched once */
    }
    return 0;
}

/* ---- post-processor: TemplateProcessing's "single" template (BOS before, EOS after) ---- */

static int template_ids(loader *L, json_t *specials, const char *name, int32_t **ids, int *n) {
    json_t *entry = json_object_get(specials, name);
    json_t *list = json_object_get(entry, "ids");
    if (!json_is_array(list)) return fail(L, "post_processor special token '%.40s' is not in special_tokens", name);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
            return fail(L, "post_processor special token '%.40s' has a bad id", name);
        int32_t *grown = realloc(*ids, (size_t)(*n + 1) * sizeof *grown);
        if (!grown) return oom(L);
        *ids = grown;
        (*ids)[(*n)++] = (int32_t)json_integer_value(v);
    }
    return 0;
}

static int add_postprocessor(loader *L, qn_tokenizer *t, json_t *p, int depth) {
    const char *type;
    if (type_of(L, p, "post_processor", &type)) return 2;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(p, "processors");
        if (!json_is_array(list) || depth > 4) return fail(L, "post_processor Sequence has no processors list");
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) if (add_postprocessor(L, t, item, depth + 1)) return 2;
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) return 0; /* it only trims offsets, which quench does not report */
    if (strcmp(type, "TemplateProcessing") != 0) return fail(L, "unsupported post_processor '%s'", type);
    if (t->n_prefix || t->n_suffix) return fail(L, "unsupported post_processor: two TemplateProcessing");
    json_t *single = json_object_get(p, "single"), *specials = json_object_get(p, "special_tokens");
    if (!json_is_array(single)) return fail(L, "post_processor TemplateProcessing has no single template");
    int seen_sequence = 0;
    size_t i;
    json_t *item;
    json_array_foreach(single, i, item) {
        json_t *special = json_object_get(item, "SpecialToken"), *sequence = json_object_get(item, "Sequence");
        if (json_is_object(sequence)) {
            const char *id = get_str(sequence, "id");
            if (!id || strcmp(id, "A") != 0 || seen_sequence)
                return fail(L, "unsupported post_processor single template (only one Sequence A)");
            seen_sequence = 1;
        } else if (json_is_object(special) && get_str(special, "id")) {
            int rc = seen_sequence ? template_ids(L, specials, get_str(special, "id"), &t->suffix, &t->n_suffix)
                                   : template_ids(L, specials, get_str(special, "id"), &t->prefix, &t->n_prefix);
            if (rc) return rc;
        } else {
            return fail(L, "post_processor single template item %zu is neither SpecialToken nor Sequence", i);
        }
    }
    if (!seen_sequence) return fail(L, "post_processor single template has no Sequence A");
    return 0;
}

static int check_post_ids(loader *L, qn_tokenizer *t) {
    for (int k = 0; k < 2; k++) {
        const int32_t *ids = k ? t->suffix : t->prefix;
        for (int i = 0; i < (k ? t->n_suffix : t->n_prefix); i++)
            if (ids[i] >= t->n_ids || !t->id_token[ids[i]])
                return fail(L, "post_processor adds id %d, which is not in the vocab", (int)ids[i]);
    }
    return 0;
}

/* ---- the file ---- */

static int load_tokenizer(loader *L, qn_tokenizer *t, json_t *root) {
    if (!json_is_object(root)) return fail(L, "not a JSON object");
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_null(added) && !json_is_array(added)) return fail(L, "added_tokens is not a list");
    json_int_t max_id = -1;
    int rc = load_model(L, t, json_object_get(root, "model"), added, &max_id);
    if (!rc) rc = load_added(L, t, added);
    static const char *const parts[] = {"normalizer", "pre_tokenizer", "decoder", "post_processor"};
    for (int i = 0; i < 4 && !rc; i++) {
        json_t *part = json_object_get(root, parts[i]);
        if (!part || json_is_null(part)) continue;
        rc = i == 0 ? add_normalizer(L, t, part, 0)
             : i == 1 ? add_pretokenizer(L, t, part, 0)
             : i == 2 ? add_decoder(L, t, part, 0)
                      : add_postprocessor(L, t, part, 0);
    }
    if (!rc) rc = check_post_ids(L, t);
    /* normalized added tokens are matched as the normalizers write them (after the normalizers load) */
    for (int k = 0; k < t->n_added && !rc; k++) {
        tok_added *a = &t->added[k];
        if (!a->normalized) continue;
        if (tok_normalize_text(t, a->content, a->len, &a->norm_content, &a->norm_len)) rc = oom(L);
        else if (a->norm_len == 0) a->normalized = 0; /* nothing to match: as raw text */
        else t->n_added_normalized++;
    }
    tok_byte_map(t->byte_char, t->char_byte);
    return rc;
}

void qn_tokenizer_free(qn_tokenizer *t) {
    if (!t) return;
    tok_strmap_free(&t->vocab), tok_strmap_free(&t->added_map), tok_merges_free(&t->merges);
    for (int32_t i = 0; i < t->n_ids; i++) free(t->id_token[i]);
    for (int k = 0; k < t->n_added; k++) free(t->added[k].norm_content);
    free(t->id_token), free(t->id_len), free(t->id_special), free(t->added);
    for (int i = 0; i < t->n_norm; i++) free(t->norm[i].from), free(t->norm[i].to);
    for (int i = 0; i < t->n_pre; i++) pcre2_code_free(t->pre[i].re), free(t->pre[i].replacement);
    for (int i = 0; i < t->n_dec; i++) free(t->dec[i].from), free(t->dec[i].to), free(t->dec[i].strip);
    free(t->norm), free(t->pre), free(t->dec), free(t->prefix), free(t->suffix);
    free(t);
}

int qn_tokenizer_from_json(const char *json, size_t len, const char *name, qn_tokenizer **out, char *err,
                           size_t errlen) {
    loader L = {name, err, errlen};
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return fail(&L, "line %d: %s", jerr.line, jerr.text);
    qn_tokenizer *t = calloc(1, sizeof *t);
    int rc = t ? load_tokenizer(&L, t, root) : oom(&L);
    json_decref(root);
    if (rc) {
        qn_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int qn_tokenizer_load(const char *path, qn_tokenizer **out, char *err, size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? 2 : 1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf), fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return 1;
            }
            buf = grown;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int io_error = ferror(f);
    fclose(f);
    if (io_error) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return 1;
    }
    int rc = qn_tokenizer_from_json(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}
