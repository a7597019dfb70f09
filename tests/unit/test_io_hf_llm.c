/* Hugging Face decoder directories: config.json of each architecture with transformers' defaults,
 * every refusal named; model.safetensors.index.json; both parsers fuzzed (never a crash, always 0 or 2
 * with one line naming the file); the memory-mapped reader and weights handed out as float32 (in
 * place for F32, converted once for F16/BF16), shards and their index checked against each other. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qn_hf_llm.h"

static const char *llama_cfg =
    "{\"model_type\": \"llama\", \"vocab_size\": 128256, \"hidden_size\": 2048, \"num_hidden_layers\": 16,"
    " \"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"intermediate_size\": 8192,"
    " \"max_position_embeddings\": 131072, \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0,"
    " \"hidden_act\": \"silu\", \"tie_word_embeddings\": true, \"head_dim\": 64,"
    " \"rope_scaling\": {\"factor\": 32.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0,"
    " \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}}";

static int parse(const char *json, qn_llm_config *c, char *err, size_t errlen) {
    return qn_hf_llm_config_parse("config.json", json, strlen(json), c, err, errlen);
}

Test(hf_config, llama_3_2_1b) {
    qn_llm_config c;
    char err[512] = "";
    cr_assert_eq(parse(llama_cfg, &c, err, sizeof err), 0, "%s", err);
    cr_expect_eq(c.arch, QN_LLM_LLAMA);
    cr_expect_eq(c.vocab_size, 128256);
    cr_expect_eq(c.kv_heads, 8);
    cr_expect_eq(c.head_dim, 64);
    cr_expect_eq(c.rotary_dim, 64);
    cr_expect_eq(c.tie_word_embeddings, 1);
    cr_expect_eq(c.rope_llama3, 1);
    cr_expect_eq(c.rope_original_max_position, 8192);
    cr_expect_float_eq(c.norm_eps, 1e-5f, 1e-12);
    cr_expect_float_eq(c.rope_theta, 500000.0, 1e-9);
}

Test(hf_config, phi2_and_phi3_defaults) {
    qn_llm_config c;
    char err[512] = "";
    /* microsoft/phi-2: partial rotary 0.4 of a head of 80 = 32, num_key_value_heads null */
    cr_assert_eq(parse("{\"model_type\": \"phi\", \"vocab_size\": 51200, \"hidden_size\": 2560, \"num_hidden_layers\": 32,"
                       " \"num_attention_heads\": 32, \"num_key_value_heads\": null, \"intermediate_size\": 10240,"
                       " \"partial_rotary_factor\": 0.4, \"hidden_act\": \"gelu_new\", \"layer_norm_eps\": 1e-05,"
                       " \"qk_layernorm\": false, \"rope_scaling\": null}",
                       &c, err, sizeof err),
                 0, "%s", err);
    cr_expect_eq(c.arch, QN_LLM_PHI2);
    cr_expect_eq(c.kv_heads, 32);
    cr_expect_eq(c.head_dim, 80);
    cr_expect_eq(c.rotary_dim, 32);
    cr_expect_eq(c.max_position, 2048);
    cr_assert_eq(parse("{\"model_type\": \"phi3\", \"vocab_size\": 32064, \"hidden_size\": 3072, \"num_hidden_layers\": 32,"
                       " \"num_attention_heads\": 32, \"intermediate_size\": 8192, \"rope_scaling\": null}",
                       &c, err, sizeof err),
                 0, "%s", err);
    cr_expect_eq(c.arch, QN_LLM_PHI3);
    cr_expect_eq(c.kv_heads, 32);
    cr_expect_eq(c.rotary_dim, 96);
    cr_expect_eq(c.tie_word_embeddings, 0);
}

/* Phi-3-mini-128k / Phi-3.5-mini: 96 rotary dims, 48 factors each, 131072 positions stretched from
 * 4096; the attention factor sqrt(1 + ln(32) / ln(4096)) = sqrt(17/12) as transformers computes it. */
Test(hf_config, phi3_longrope) {
    char json[8192], list[2][1024] = {"", ""};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 48; i++)
            snprintf(list[k] + strlen(list[k]), sizeof list[k] - strlen(list[k]), "%s%g", i ? ", " : "", 1.0 + (k + 1) * 0.25 * i);
    snprintf(json, sizeof json,
             "{\"model_type\": \"phi3\", \"vocab_size\": 32064, \"hidden_size\": 3072, \"num_hidden_layers\": 32,"
             " \"num_attention_heads\": 32, \"intermediate_size\": 8192, \"max_position_embeddings\": 131072,"
             " \"original_max_position_embeddings\": 4096, \"rope_scaling\": {\"type\": \"longrope\","
             " \"short_factor\": [%s], \"long_factor\": [%s]}}",
             list[0], list[1]);
    qn_llm_config c;
    char err[512] = "";
    cr_assert_eq(parse(json, &c, err, sizeof err), 0, "%s", err);
    cr_expect_eq(c.rope_longrope, 1);
    cr_expect_eq(c.rope_llama3, 0);
    cr_expect_eq(c.rope_original_max_position, 4096);
    cr_expect_float_eq(c.rope_attention_factor, sqrt(17.0 / 12.0), 1e-12);
    cr_expect(c.rope_short_factor[0] == 1.0f && c.rope_short_factor[47] == 1.0f + 0.25f * 47);
    cr_expect(c.rope_long_factor[1] == 1.5f && c.rope_long_factor[47] == 1.0f + 0.5f * 47);
    /* the older name "su", an explicit attention_factor, and Phi3Config's default original 4096:
     * 4096 positions are not stretched, so the factor is 1 unless the file says otherwise */
    const char *su = "{\"model_type\": \"phi3\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
                     " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"max_position_embeddings\": 4096,"
                     " \"rope_scaling\": {\"type\": \"su\", \"short_factor\": [1, 2], \"long_factor\": [3, 4]%s}}";
    snprintf(json, sizeof json, su, "");
    cr_assert_eq(parse(json, &c, err, sizeof err), 0, "%s", err);
    cr_expect(c.rope_longrope == 1 && c.rope_original_max_position == 4096 && c.rope_attention_factor == 1.0);
    snprintf(json, sizeof json, su, ", \"attention_factor\": 1.25");
    cr_assert_eq(parse(json, &c, err, sizeof err), 0, "%s", err);
    cr_expect_float_eq(c.rope_attention_factor, 1.25, 1e-12);
    /* without rope_scaling every config has attention factor 1 */
    cr_assert_eq(parse(llama_cfg, &c, err, sizeof err), 0, "%s", err);
    cr_expect(c.rope_attention_factor == 1.0 && c.rope_longrope == 0);
}

Test(hf_config, refusals_name_the_problem) {
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"[1]", "not a JSON object"},
        {"{\"model_type\": \"gpt2\"}", "model_type 'gpt2' is not supported"},
        {"{\"vocab_size\": 3}", "'model_type' is missing"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10}", "'hidden_size' is missing"},
        {"{\"model_type\": \"llama\", \"vocab_size\": -1, \"hidden_size\": 8}", "'vocab_size' must be an integer"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 1.5, \"hidden_size\": 8}", "'vocab_size' must be an integer"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 3, \"intermediate_size\": 4}",
         "not a multiple of num_attention_heads"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 4, \"num_key_value_heads\": 3, \"intermediate_size\": 4}",
         "not a multiple of num_key_value_heads"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2}}",
         "rope_scaling type 'dynamic' is not supported"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"rope_scaling\": {\"type\": \"linear\"}}",
         "'factor' is missing"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 2}}",
         "'low_freq_factor' is missing"},
#define PHI3_TINY                                                                                              \
    "{\"model_type\": \"phi3\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"                   \
    " \"num_attention_heads\": 2, \"intermediate_size\": 4, " /* 4 rotary dims: factor lists of 2 */
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"longrope\"}}", "rope_scaling 'short_factor' is missing"},
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"su\", \"short_factor\": [1.0], \"long_factor\": [1, 2]}}",
         "rope_scaling 'short_factor' must be a list of 2 numbers"},
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": \"1,2\", \"long_factor\": [1, 2]}}",
         "rope_scaling 'short_factor' must be a list of 2 numbers"},
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [1, 2]}}",
         "rope_scaling 'long_factor' is missing"},
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [1, 2], \"long_factor\": [1, \"x\"]}}",
         "rope_scaling 'long_factor'[1] must be a positive number"},
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [0, 2], \"long_factor\": [1, 2]}}",
         "rope_scaling 'short_factor'[0] must be a positive number"},
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [1, 2], \"long_factor\": [1, 1e300]}}",
         "rope_scaling 'long_factor'[1] must be a positive number"},
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [1, 2], \"long_factor\": [1, 2],"
                   " \"attention_factor\": \"big\"}}",
         "'attention_factor' must be a positive number"},
        {PHI3_TINY "\"original_max_position_embeddings\": 1, \"rope_scaling\": {\"type\": \"longrope\","
                   " \"short_factor\": [1, 2], \"long_factor\": [1, 2]}}",
         "'original_max_position_embeddings' must be an integer"},
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2.0}}",
         "rope_scaling type 'yarn' is not supported for phi3"},
        {PHI3_TINY "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}",
         "rope_scaling type 'linear' is not supported for phi3"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"rope_scaling\": {\"type\": \"longrope\","
         " \"short_factor\": [1, 2], \"long_factor\": [1, 2]}}",
         "rope_scaling type 'longrope' is not supported for llama"},
#undef PHI3_TINY
        {"{\"model_type\": \"phi\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"qk_layernorm\": true}",
         "qk_layernorm true is not supported"},
        {"{\"model_type\": \"phi\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"hidden_act\": \"relu\"}",
         "hidden_act must be 'gelu_new'"},
        {"{\"model_type\": \"phi\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"partial_rotary_factor\": 0.2}",
         "rotary dimensions"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"tie_word_embeddings\": \"yes\"}",
         "'tie_word_embeddings' must be true or false"},
        {"{\"model_type\": \"llama\", \"model_type\": \"phi\"}", "not valid JSON"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        qn_llm_config c;
        char err[512] = "";
        cr_expect_eq(parse(cases[k].json, &c, err, sizeof err), 2, "case %zu parsed", k);
        cr_expect(strstr(err, cases[k].want) && !strncmp(err, "config.json: ", 13), "case %zu: '%s' lacks '%s'", k, err,
                  cases[k].want);
    }
}

/* Mutate a valid text (byte flips, JSON punctuation, truncation): 0 or 2, one line naming the file. */
static void fuzz(const char *base, int is_index) {
    size_t len = strlen(base);
    uint64_t s = 0x5EEDull + (uint64_t)is_index;
    int ok = 0;
    for (int it = 0; it < 20000; it++) {
        char buf[2048];
        memcpy(buf, base, len);
        size_t n = len;
        for (int e = 0; e < 1 + it % 4; e++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            size_t pos = (size_t)(s >> 20) % n;
            switch (s % 4) {
            case 0: buf[pos] = (char)(s >> 8); break;
            case 1: n = pos ? pos : 1; break;
            case 2: buf[pos] = "{}[],:\"0123456789-e.n/"[(s >> 9) % 22]; break;
            default: buf[pos] = (char)('0' + (s >> 30) % 10); break;
            }
        }
        char *exact = malloc(n);
        memcpy(exact, buf, n); /* no NUL: the parser must respect len */
        char err[512] = "";
        int rc;
        if (is_index) {
            qn_hf_index ix;
            rc = qn_hf_index_parse("ix.json", exact, n, &ix, err, sizeof err);
            if (!rc) {
                for (int i = 0; i < ix.n; i++) cr_assert(!strchr(ix.shards[i], '/'), "iteration %d", it);
                qn_hf_index_free(&ix);
            }
        } else {
            qn_llm_config c;
            rc = qn_hf_llm_config_parse("ix.json", exact, n, &c, err, sizeof err);
            if (!rc)
                cr_assert(c.hidden > 0 && c.heads > 0 && c.heads % c.kv_heads == 0 && c.rotary_dim >= 2 &&
                              c.rotary_dim <= c.head_dim,
                          "iteration %d: accepted an inconsistent config", it);
        }
        if (rc == 0) ok++;
        else {
            cr_assert_eq(rc, 2, "iteration %d: %s", it, err);
            cr_assert(!strncmp(err, "ix.json: ", 9) && !strchr(err, '\n'), "iteration %d: '%s'", it, err);
        }
        free(exact);
    }
    cr_log_info("%d of 20000 mutated files parsed", ok);
}

Test(hf_config, fuzz) { fuzz(llama_cfg, 0); }

/* longrope's lists and the top-level original_max_position_embeddings */
Test(hf_config, fuzz_longrope) {
    fuzz("{\"model_type\": \"phi3\", \"vocab_size\": 10, \"hidden_size\": 16, \"num_hidden_layers\": 1,"
         " \"num_attention_heads\": 2, \"intermediate_size\": 4, \"max_position_embeddings\": 64,"
         " \"original_max_position_embeddings\": 8, \"rope_scaling\": {\"type\": \"longrope\","
         " \"short_factor\": [1.0, 1.25, 1.5, 2.0], \"long_factor\": [1, 2.5, 4e0, 8.125], \"attention_factor\": 1.2}}",
         0);
}

static const char *index_json =
    "{\"metadata\": {\"total_size\": 100}, \"weight_map\": {\"model.embed_tokens.weight\": "
    "\"model-00001-of-00002.safetensors\", \"model.norm.weight\": \"model-00002-of-00002.safetensors\", "
    "\"lm_head.weight\": \"model-00002-of-00002.safetensors\"}}";

Test(hf_index, parses_and_refuses) {
    qn_hf_index ix;
    char err[512] = "";
    cr_assert_eq(qn_hf_index_parse("ix.json", index_json, strlen(index_json), &ix, err, sizeof err), 0, "%s", err);
    cr_expect_eq(ix.n, 3);
    cr_expect_eq(ix.nshards, 2);
    cr_expect_str_eq(ix.shard_files[0], "model-00001-of-00002.safetensors");
    qn_hf_index_free(&ix);
    static const char *bad[] = {
        "{}",
        "{\"weight_map\": {}}",
        "{\"weight_map\": {\"a\": 3}}",
        "{\"weight_map\": {\"a\": \"../model.safetensors\"}}",
        "{\"weight_map\": {\"a\": \"/etc/passwd.safetensors\"}}",
        "{\"weight_map\": {\"a\": \"model.bin\"}}",
        "{\"weight_map\": {\"a\": \".safetensors\"}}",
        "{\"weight_map\": {\"a\": \"m.safetensors\"}, \"metadata\": 3}",
        "{\"weight_map\": {\"a\": \"m.safetensors\", \"a\": \"n.safetensors\"}}",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cr_expect_eq(qn_hf_index_parse("ix.json", bad[k], strlen(bad[k]), &ix, err, sizeof err), 2, "case %zu", k);
        cr_expect(!strncmp(err, "ix.json: ", 9), "case %zu: %s", k, err);
    }
}

Test(hf_index, fuzz) { fuzz(index_json, 1); }

/* A safetensors file of tensors (name, dtype, count, bytes) at path. */
static void write_st(const char *path, const char *header, const void *data, size_t dlen) {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    uint64_t h = strlen(header);
    fwrite(&h, 8, 1, f);
    fwrite(header, 1, h, f);
    fwrite(data, 1, dlen, f);
    fclose(f);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(hf_weights, mapped_shards_in_place_and_converted) {
    char dir[] = "/tmp/qn-hf-XXXXXX", path[256];
    cr_assert(mkdtemp(dir));
    /* shard 1: an F32 (2,2) at offset 0 (8-aligned header: in place); shard 2: F16 and BF16 (converted) */
    const float a[4] = {1.5f, -2.0f, 0.25f, 3.0f};
    char h1[128] = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}";
    while (strlen(h1) % 8) strcat(h1, " "); /* as the reference writer pads */
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    write_st(path, h1, a, sizeof a);
    const uint16_t hb[4] = {0x3C00, 0xC000, 0x3F80, 0xBF00}; /* f16 1, -2; bf16 1, -0.5 */
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    write_st(path,
             "{\"h\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]}, "
             "\"b\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [4, 8]}}",
             hb, sizeof hb);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_text(path, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", "
                     "\"h\": \"model-00002-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\"}}");
    qn_hf_weights w;
    char err[512] = "";
    cr_assert_eq(qn_hf_weights_open(dir, &w, err, sizeof err), 0, "%s", err);
    cr_expect_eq(w.nshards, 2);
    cr_expect(w.shards[0].mapped);
    const float *p;
    int64_t s22[2] = {2, 2}, s2[1] = {2}, s4[1] = {4};
    cr_assert_eq(qn_hf_weights_f32(&w, "a", 2, s22, 0, &p, err, sizeof err), 0, "%s", err);
    cr_expect_eq(memcmp(p, a, sizeof a), 0);
    cr_expect((const unsigned char *)p >= w.shards[0].buf && (const unsigned char *)p < w.shards[0].buf + w.shards[0].len,
              "an aligned F32 tensor is read in place");
    cr_assert_eq(qn_hf_weights_f32(&w, "h", 1, s2, 0, &p, err, sizeof err), 0, "%s", err);
    cr_expect(p[0] == 1.0f && p[1] == -2.0f);
    cr_assert_eq(qn_hf_weights_f32(&w, "b", 1, s2, 0, &p, err, sizeof err), 0, "%s", err);
    cr_expect(p[0] == 1.0f && p[1] == -0.5f);
    cr_expect_eq(w.nowned, 2);
    cr_expect_eq(qn_hf_weights_f32(&w, "a", 1, s4, 0, &p, err, sizeof err), 2);
    cr_expect(strstr(err, "has shape [2, 2] where config.json implies [4]"), "%s", err);
    cr_expect_eq(qn_hf_weights_f32(&w, "zz", 1, s4, 1, &p, err, sizeof err), 1);
    cr_expect_null(p);
    cr_expect_eq(qn_hf_weights_f32(&w, "zz", 1, s4, 0, &p, err, sizeof err), 2);
    cr_expect(strstr(err, "no tensor 'zz'"), "%s", err);
    qn_hf_weights_close(&w);
    /* the index places a tensor in a shard that lacks it */
    write_text(path, "{\"weight_map\": {\"a\": \"model-00002-of-00002.safetensors\"}}");
    cr_expect_eq(qn_hf_weights_open(dir, &w, err, sizeof err), 2);
    cr_expect(strstr(err, "has no tensor 'a'"), "%s", err);
    /* a shard is missing */
    write_text(path, "{\"weight_map\": {\"a\": \"model-00003-of-00003.safetensors\"}}");
    cr_expect_eq(qn_hf_weights_open(dir, &w, err, sizeof err), 2);
    cr_expect(strstr(err, "model-00003-of-00003.safetensors: missing"), "%s", err);
    /* neither file */
    unlink(path);
    cr_expect_eq(qn_hf_weights_open(dir, &w, err, sizeof err), 2);
    cr_expect(strstr(err, "neither model.safetensors nor"), "%s", err);
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

/* 16-bit tensors as views: in place when aligned, realigned once (still 16 bits) at an odd offset,
 * F32 in place; widening copies into the weights and counts the bytes. */
Test(hf_weights, views_of_16_bit_tensors) {
    char dir[] = "/tmp/qn-hfv-XXXXXX", path[256];
    cr_assert(mkdtemp(dir));
    /* data: F16 h at [0, 4), a U8 at [4, 5), BF16 b at [5, 9) (odd), F32 a at [12, 20) */
    unsigned char data[20] = {0};
    const uint16_t h[2] = {0x3C00, 0xC000}, b[2] = {0x3F80, 0xBF00}; /* f16 1, -2; bf16 1, -0.5 */
    const float a[2] = {0.5f, 3.0f};
    memcpy(data, h, 4), memcpy(data + 5, b, 4), memcpy(data + 12, a, 8);
    char hdr[512] = "{\"h\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]}, "
                    "\"u\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [4, 5]}, "
                    "\"b\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [5, 9]}, "
                    "\"p\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [9, 12]}, "
                    "\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}";
    while (strlen(hdr) % 8) strcat(hdr, " ");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_st(path, hdr, data, sizeof data);
    qn_hf_weights w;
    char err[512] = "";
    cr_assert_eq(qn_hf_weights_open(dir, &w, err, sizeof err), 0, "%s", err);
    const unsigned char *lo = w.shards[0].buf, *hi = lo + w.shards[0].len;
    const int64_t s2[1] = {2};
    qn_hf_view v;
    float f[2];
    cr_assert_eq(qn_hf_weights_view(&w, "h", 1, s2, 0, &v, err, sizeof err), 0, "%s", err);
    cr_expect(v.dtype == QN_ST_F16 && v.numel == 2 && (const unsigned char *)v.data >= lo && (const unsigned char *)v.data < hi);
    qn_hf_view_to_f32(&v, 0, 2, f);
    cr_expect(f[0] == 1.0f && f[1] == -2.0f);
    cr_expect_eq(w.bytes_converted, 0, "an aligned 16-bit tensor is used in place");
    cr_assert_eq(qn_hf_weights_view(&w, "b", 1, s2, 0, &v, err, sizeof err), 0, "%s", err);
    cr_expect(v.dtype == QN_ST_BF16 && ((uintptr_t)v.data & 1) == 0);
    cr_expect((const unsigned char *)v.data < lo || (const unsigned char *)v.data >= hi, "an odd offset is realigned");
    cr_expect_eq(w.bytes_converted, 4, "in 16 bits");
    qn_hf_view_to_f32(&v, 1, 1, f);
    cr_expect(f[0] == -0.5f);
    const float *wide;
    cr_assert_eq(qn_hf_weights_widen(&w, &v, &wide, err, sizeof err), 0, "%s", err);
    cr_expect(wide[0] == 1.0f && wide[1] == -0.5f);
    cr_expect_eq(w.bytes_converted, 4 + 8);
    cr_assert_eq(qn_hf_weights_view(&w, "a", 1, s2, 0, &v, err, sizeof err), 0, "%s", err);
    cr_expect(v.dtype == QN_ST_F32 && (const unsigned char *)v.data >= lo && (const unsigned char *)v.data < hi);
    cr_assert_eq(qn_hf_weights_widen(&w, &v, &wide, err, sizeof err), 0, "%s", err);
    cr_expect(wide == v.data && w.bytes_converted == 12, "a float32 view widens to itself");
    cr_expect_eq(qn_hf_weights_view(&w, "u", 1, (const int64_t[1]){1}, 0, &v, err, sizeof err), 2);
    cr_expect(strstr(err, "tensor 'u' is U8"), "%s", err);
    cr_expect_eq(qn_hf_weights_view(&w, "zz", 1, s2, 1, &v, err, sizeof err), 1);
    cr_expect_null(v.data);
    qn_hf_weights_close(&w);
    unlink(path);
    rmdir(dir);
}
