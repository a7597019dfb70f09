/* What the decoder masks and when it stops (tests/e2e/llm_parity.sh has the parity with PyTorch):
 * Phi-3's sliding window (decode through the KV cache equals prefill, a window past the sequence
 * changes nothing, a shorter one changes exactly the positions past it), left-padded batches equal
 * each prompt run alone, the mask and position rules themselves, the EOS stopping rule of
 * qn_llm_gen_step, and the generation_config.json / config.json stop ids. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../worker/llm.h"
#include "qn_kernels.h"
#include "../support/tiny_llm.h"
#include "../support/test_arrays.h"

enum { V = 37, C = 32, NH = 4, HD = 8, I = 48, L = 2 };

static const qn_tiny_llm_dims tiny_dims = {V, C, NH, HD, I, L};

static void remove_model(const char *dir) {
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir), unlink(p);
    snprintf(p, sizeof p, "%s/config.json", dir), unlink(p);
    snprintf(p, sizeof p, "%s/generation_config.json", dir), unlink(p);
    rmdir(dir);
}

/* A tiny model whose config.json gets `extra` (JSON members, or "") before its closing brace. */
static qn_llm *model(qn_llm_arch arch, const char *extra, char *dir) {
    strcpy(dir, "/tmp/qn-llm-mask-XXXXXX");
    cr_assert(mkdtemp(dir));
    cr_assert(qn_tiny_llm_write(dir, arch, &tiny_dims, 2, 7 + (uint64_t)arch) == 0);
    cr_assert(qn_tiny_llm_config_add(dir, extra) == 0);
    char err[512] = "";
    qn_llm *m = qn_llm_load(dir, err, sizeof err);
    cr_assert(m, "%s", err);
    return m;
}

/* Logits (B,T,V) of ids (B,T) fed `step` tokens at a time (T % step == 0), padding pad or NULL. */
static float *run(qn_llm *m, const int32_t *ids, int B, int T, int step, const int32_t *pad) {
    char err[512];
    cr_assert_eq(qn_llm_reset(m, B, T, err, sizeof err), 0, "%s", err);
    m->pad = pad;
    float *logits = malloc((size_t)B * T * V * sizeof(float)), *hidden = malloc((size_t)B * step * C * sizeof(float));
    int32_t *part = malloc((size_t)B * step * sizeof(int32_t));
    for (int t0 = 0; t0 < T; t0 += step) {
        for (int b = 0; b < B; b++) memcpy(part + (size_t)b * step, ids + (size_t)b * T + t0, step * sizeof(int32_t));
        cr_assert_eq(qn_llm_forward(m, part, step, hidden, err, sizeof err), 0, "%s", err);
        for (int b = 0; b < B; b++) qn_llm_logits(m, hidden + (size_t)b * step * C, step, logits + ((size_t)b * T + t0) * V);
    }
    free(hidden), free(part);
    return logits;
}

Test(mask, sliding_window_in_prefill_and_decode) {
    enum { B = 2, T = 12, W = 4 };
    char d1[64], d2[64], d3[64];
    qn_llm *swa = model(QN_LLM_PHI3, ", \"sliding_window\": 4", d1), *full = model(QN_LLM_PHI3, "", d2);
    qn_llm *wide = model(QN_LLM_PHI3, ", \"sliding_window\": 64", d3);
    cr_assert_eq(swa->cfg.sliding_window, W);
    int32_t ids[B * T];
    for (int i = 0; i < B * T; i++) ids[i] = (i * 5 + 2) % V;
    float *pre = run(swa, ids, B, T, T, NULL), *dec = run(swa, ids, B, T, 1, NULL), *chunks = run(swa, ids, B, T, 3, NULL);
    float *ref = run(full, ids, B, T, T, NULL), *w = run(wide, ids, B, T, T, NULL);
    cr_expect_lt(qn_test_max_rel_diff(pre, dec, (size_t)B * T * V), 2e-6f, "one token at a time vs prefill");
    cr_expect_lt(qn_test_max_rel_diff(pre, chunks, (size_t)B * T * V), 2e-6f, "chunks vs prefill");
    cr_expect_eq(qn_test_max_rel_diff(ref, w, (size_t)B * T * V), 0.0f,
                 "a window longer than the sequence masks nothing");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float e = qn_test_max_rel_diff(ref + ((size_t)b * T + t) * V, pre + ((size_t)b * T + t) * V, V);
            if (t < W) cr_expect_eq(e, 0.0f, "position %d sees all its keys within the window", t);
            else cr_expect_gt(e, 1e-3f, "position %d: the window drops key %d", t, t - W);
        }
    free(pre), free(dec), free(chunks), free(ref), free(w);
    qn_llm_free(swa), qn_llm_free(full), qn_llm_free(wide);
    remove_model(d1), remove_model(d2), remove_model(d3);
}

Test(mask, sliding_window_is_phi3s_alone) {
    char dir[64];
    qn_llm *m = model(QN_LLM_LLAMA, ", \"sliding_window\": 2, \"use_sliding_window\": false", dir);
    cr_expect_eq(m->cfg.sliding_window, 0, "transformers' Llama has no sliding window");
    qn_llm_free(m), remove_model(dir);
    m = model(QN_LLM_PHI2, ", \"sliding_window\": 2", dir);
    cr_expect_eq(m->cfg.sliding_window, 0, "nor has Phi-2");
    qn_llm_free(m), remove_model(dir);
    m = model(QN_LLM_PHI3, ", \"sliding_window\": null", dir);
    cr_expect_eq(m->cfg.sliding_window, 0);
    qn_llm_free(m), remove_model(dir);
    qn_llm_config c;
    char err[512];
    const char *bad = "{\"model_type\": \"phi3\", \"vocab_size\": 10, \"hidden_size\": 8, \"num_hidden_layers\": 1, "
                      "\"num_attention_heads\": 2, \"intermediate_size\": 8, \"sliding_window\": 0}";
    cr_expect_eq(qn_hf_llm_config_parse("config.json", bad, strlen(bad), &c, err, sizeof err), 2);
    cr_expect(strstr(err, "config.json: 'sliding_window' must be an integer"), "%s", err);
}

Test(mask, positions_and_visible_keys) {
    qn_llm m = {0};
    const int32_t pad[2] = {0, 2};
    m.pad = pad, m.cfg.sliding_window = 3;
    cr_expect_eq(qn_llm_position(&m, 0, 4), 4);
    cr_expect_eq(qn_llm_position(&m, 1, 2), 0, "the first real token is position 0");
    cr_expect_eq(qn_llm_position(&m, 1, 0), 1, "pads take position 1, as transformers fills them");
    cr_expect_eq(qn_llm_visible_keys(&m, 0, 1), 0);
    cr_expect_eq(qn_llm_visible_keys(&m, 0, 5), 3, "q - W < k: keys 3, 4, 5");
    cr_expect_eq(qn_llm_visible_keys(&m, 1, 3), 2, "pad keys 0 and 1 masked");
    cr_expect_eq(qn_llm_visible_keys(&m, 1, 6), 4);
    cr_expect_eq(qn_llm_visible_keys(&m, 1, 1), 1, "a pad query sees itself alone");
    m.pad = NULL, m.cfg.sliding_window = 0;
    cr_expect_eq(qn_llm_visible_keys(&m, 1, 9), 0);
    cr_expect_eq(qn_llm_position(&m, 1, 9), 9);
}

/* Left-padded prompts of lengths 6, 2 and 4 (pad id 0) generate what each prompt does alone; the
 * sliding window (3) applies to real positions as without padding. */
static void padded_equals_alone(qn_llm_arch arch, const char *extra) {
    enum { B = 3, T = 6, S = 5 };
    char dir[64], err[512];
    qn_llm *m = model(arch, extra, dir);
    const int len[B] = {6, 2, 4};
    int32_t ids[B * T], pad[B], out[B * S];
    float *plog = malloc((size_t)B * T * V * sizeof(float)), *slog = malloc((size_t)B * S * V * sizeof(float));
    for (int b = 0; b < B; b++) {
        pad[b] = T - len[b];
        for (int t = 0; t < T; t++) ids[b * T + t] = t < pad[b] ? 0 : (b * 13 + t * 7 + 1) % V;
    }
    qn_llm_gen gen = {.pad = pad};
    cr_assert_eq(qn_llm_generate_greedy(m, ids, B, T, S, &gen, out, plog, slog, err, sizeof err), 0, "%s", err);
    cr_expect_eq(gen.steps, S);
    cr_expect_eq(gen.tokens, B * S);
    cr_expect_null(m->pad, "the padding is borrowed for the run only");
    for (int b = 0; b < B; b++) {
        int32_t alone[S];
        float *ap = malloc((size_t)len[b] * V * sizeof(float)), *as = malloc((size_t)S * V * sizeof(float));
        cr_assert_eq(qn_llm_generate_greedy(m, ids + b * T + pad[b], 1, len[b], S, NULL, alone, ap, as, err, sizeof err), 0,
                     "%s", err);
        cr_expect_arr_eq(out + b * S, alone, sizeof alone, "prompt %d: padded tokens differ from alone", b);
        cr_expect_lt(qn_test_max_rel_diff(ap, plog + ((size_t)b * T + pad[b]) * V, (size_t)len[b] * V), 2e-6f,
                     "prompt %d prefill", b);
        cr_expect_lt(qn_test_max_rel_diff(as, slog + (size_t)b * S * V, (size_t)S * V), 2e-6f, "prompt %d steps", b);
        free(ap), free(as);
    }
    /* every prompt needs a real token */
    pad[1] = T;
    cr_expect_eq(qn_llm_generate_greedy(m, ids, B, T, S, &gen, out, NULL, NULL, err, sizeof err), 2);
    cr_expect(strstr(err, "needs a real token"), "%s", err);
    free(plog), free(slog);
    qn_llm_free(m), remove_model(dir);
}

Test(mask, left_padding_llama) { padded_equals_alone(QN_LLM_LLAMA, ""); }
Test(mask, left_padding_phi3_sliding_window) { padded_equals_alone(QN_LLM_PHI3, ", \"sliding_window\": 3"); }
Test(mask, left_padding_phi2) { padded_equals_alone(QN_LLM_PHI2, ""); }

Test(eos, stopping_rule) {
    enum { B = 3, S = 4 };
    const int32_t eos[2] = {7, 8};
    qn_llm_gen gen = {.eos = eos, .neos = 2, .pad_token_id = 9};
    unsigned char done[B];
    int32_t out[B * S], tok[B];
    char err[256];
    cr_assert_eq(qn_llm_gen_start(&gen, B, 5, 10, done, err, sizeof err), 0, "%s", err);
    /* step 0: sequence 1 emits EOS 8; step 1: sequence 0 emits 7, 1 is padded; step 2: 2 emits 7 */
    const int32_t choice[3][B] = {{1, 8, 2}, {7, 5, 3}, {4, 6, 7}};
    cr_expect_eq(qn_llm_gen_step(&gen, B, S, 0, memcpy(tok, choice[0], sizeof tok), done, out), 0);
    cr_expect_eq(qn_llm_gen_step(&gen, B, S, 1, memcpy(tok, choice[1], sizeof tok), done, out), 0);
    cr_expect_eq(tok[1], 9, "a stopped sequence is fed pad_token_id");
    cr_expect_eq(qn_llm_gen_step(&gen, B, S, 2, memcpy(tok, choice[2], sizeof tok), done, out), 1, "all stopped");
    const int32_t want[B * S] = {1, 7, 9, 9, 8, 9, 9, 9, 2, 3, 7, 9};
    cr_expect_arr_eq(out, want, sizeof want);
    cr_expect_eq(gen.steps, 3);
    cr_expect_eq(gen.tokens, 2 + 1 + 3, "tokens up to and including each EOS");
    /* no EOS ids: never stops, every token counts */
    qn_llm_gen plain = {0};
    cr_assert_eq(qn_llm_gen_start(&plain, B, 5, 10, done, err, sizeof err), 0);
    for (int s = 0; s < S; s++) cr_expect_eq(qn_llm_gen_step(&plain, B, S, s, memcpy(tok, choice[0], sizeof tok), done, out), 0);
    cr_expect_eq(plain.steps, S);
    cr_expect_eq(plain.tokens, B * S);
    /* a stopped sequence is fed its pad id, which must be in the vocabulary */
    gen.pad_token_id = 10;
    cr_expect_eq(qn_llm_gen_start(&gen, B, 5, 10, done, err, sizeof err), 2);
    cr_expect(strstr(err, "pad_token_id 10 is outside the vocabulary"), "%s", err);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(eos, stop_ids_from_the_model_directory) {
    char dir[64] = "/tmp/qn-llm-gen-XXXXXX", err[512];
    cr_assert(mkdtemp(dir));
    qn_hf_generation g;
    write_file(dir, "config.json", "{\"eos_token_id\": 2, \"pad_token_id\": null}");
    cr_assert_eq(qn_hf_generation_load(dir, &g, err, sizeof err), 0, "%s", err);
    cr_expect(g.neos == 1 && g.eos[0] == 2 && g.has_pad && g.pad_token_id == 2, "pad defaults to the first EOS");
    write_file(dir, "generation_config.json", "{\"eos_token_id\": [128001, 128008, 128009], \"pad_token_id\": 5}");
    cr_assert_eq(qn_hf_generation_load(dir, &g, err, sizeof err), 0, "%s", err);
    cr_expect(g.neos == 3 && g.eos[0] == 128001 && g.eos[2] == 128009 && g.pad_token_id == 5,
              "generation_config.json wins");
    write_file(dir, "generation_config.json", "{\"do_sample\": true}");
    cr_assert_eq(qn_hf_generation_load(dir, &g, err, sizeof err), 0, "%s", err);
    cr_expect(g.neos == 1 && g.eos[0] == 2, "a key generation_config.json lacks comes from config.json");
    write_file(dir, "config.json", "{\"model_type\": \"llama\"}");
    cr_assert_eq(qn_hf_generation_load(dir, &g, err, sizeof err), 0, "%s", err);
    cr_expect(g.neos == 0 && !g.has_pad, "no EOS anywhere: generation never stops");
    static const char *bad[] = {"{\"eos_token_id\": \"2\"}", "{\"eos_token_id\": [1, -3]}", "{\"eos_token_id\": 1.5}",
                                "{\"pad_token_id\": [1]}", "[1]", "{\"eos_token_id\": "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(dir, "generation_config.json", bad[i]);
        err[0] = 0;
        cr_expect_eq(qn_hf_generation_load(dir, &g, err, sizeof err), 2, "%s", bad[i]);
        cr_expect(strstr(err, "generation_config.json: ") && !strchr(err, '\n'), "%s: '%s'", bad[i], err);
    }
    remove_model(dir);
}

/* generation_config.json files with random bytes changed, dropped or inserted: never a crash, always
 * 0 (with ids >= 0) or 2 with one line naming the file. */
Test(eos, mutated_generation_configs) {
    static const char seed[] = "{\"bos_token_id\": 1, \"eos_token_id\": [2, 32000, 32007], \"pad_token_id\": 32000, "
                               "\"do_sample\": false, \"transformers_version\": \"4.46.3\"}";
    qn_rng rng;
    qn_rng_seed(&rng, 11);
    int ok = 0;
    for (int it = 0; it < 20000; it++) {
        char buf[256];
        size_t n = sizeof seed - 1;
        memcpy(buf, seed, n);
        for (int k = 0, edits = 1 + (int)(qn_rng_u64(&rng) % 4); k < edits; k++) {
            size_t at = (size_t)(qn_rng_u64(&rng) % n);
            const char pick[] = "[]{},:\"-0123456789.e ntrufalsx";
            char ch = pick[qn_rng_u64(&rng) % (sizeof pick - 1)];
            switch (qn_rng_u64(&rng) % 3) {
            case 0: buf[at] = ch; break;
            case 1: memmove(buf + at, buf + at + 1, n - at - 1), n--; break;
            default:
                if (n < sizeof buf) memmove(buf + at + 1, buf + at, n - at), buf[at] = ch, n++;
            }
        }
        char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n); /* no NUL: the parser must respect len */
        qn_hf_generation g = {0};
        char err[512] = "";
        int rc = qn_hf_generation_parse("generation_config.json", exact, n, &g, err, sizeof err);
        if (rc == 0) {
            ok++;
            cr_assert(g.neos >= 0 && g.neos <= QN_HF_MAX_EOS, "iteration %d", it);
            for (int i = 0; i < g.neos; i++) cr_assert_geq(g.eos[i], 0, "iteration %d", it);
        } else {
            cr_assert_eq(rc, 2, "iteration %d: %s", it, err);
            cr_assert(!strncmp(err, "generation_config.json: ", 24) && !strchr(err, '\n'), "iteration %d: '%s'", it, err);
        }
        free(exact);
    }
    cr_log_info("%d of 20000 mutated files parsed", ok);
}
