/* The decoder without PyTorch (tests/e2e/llm_parity.sh has the parity with it): tiny random models of
 * each architecture written as Hugging Face directories, then the KV cache against full recompute
 * (decode one at a time and in chunks), batch rows independent of each other, greedy tokens equal to
 * the argmax of a recompute, perplexity against its definition, and llama3 rope frequencies against
 * transformers' values. */
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

static qn_llm *model(qn_llm_arch arch, int nkv, char *dir) {
    strcpy(dir, "/tmp/qn-llm-XXXXXX");
    cr_assert(mkdtemp(dir));
    cr_assert(qn_tiny_llm_write(dir, arch, &tiny_dims, nkv, 42 + (uint64_t)arch) == 0);
    char err[512] = "";
    qn_llm *m = qn_llm_load(dir, err, sizeof err);
    cr_assert(m, "%s", err);
    return m;
}

static void cleanup(qn_llm *m, const char *dir) {
    qn_llm_free(m);
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir), unlink(p);
    snprintf(p, sizeof p, "%s/config.json", dir), unlink(p);
    rmdir(dir);
}

/* Logits (B,T,V) of ids (B,T) fed in chunks of the given sizes (summing to T). */
static float *run_chunks(qn_llm *m, const int32_t *ids, int B, int T, const int *chunks) {
    char err[512];
    cr_assert_eq(qn_llm_reset(m, B, T, err, sizeof err), 0, "%s", err);
    float *logits = malloc((size_t)B * T * V * sizeof(float)), *hidden = malloc((size_t)B * T * C * sizeof(float));
    int32_t *part = malloc((size_t)B * T * sizeof(int32_t));
    for (int t0 = 0, k = 0; t0 < T; t0 += chunks[k++]) {
        int n = chunks[k];
        for (int b = 0; b < B; b++) memcpy(part + (size_t)b * n, ids + (size_t)b * T + t0, n * sizeof(int32_t));
        cr_assert_eq(qn_llm_forward(m, part, n, hidden, err, sizeof err), 0, "%s", err);
        for (int b = 0; b < B; b++)
            qn_llm_logits(m, hidden + (size_t)b * n * C, n, logits + ((size_t)b * T + t0) * V);
    }
    free(hidden), free(part);
    return logits;
}

static void kv_cache(qn_llm_arch arch, int nkv) {
    char dir[64];
    qn_llm *m = model(arch, nkv, dir);
    enum { B = 2, T = 11 };
    int32_t ids[B * T];
    for (int i = 0; i < B * T; i++) ids[i] = (i * 7 + 3) % V;
    const int whole[] = {T}, ones[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, mixed[] = {4, 3, 1, 3};
    float *full = run_chunks(m, ids, B, T, whole), *step = run_chunks(m, ids, B, T, ones),
          *mix = run_chunks(m, ids, B, T, mixed);
    cr_expect_lt(qn_test_max_rel_diff(full, step, (size_t)B * T * V), 2e-6f, "one token at a time vs prefill");
    cr_expect_lt(qn_test_max_rel_diff(full, mix, (size_t)B * T * V), 2e-6f, "chunks vs prefill");
    /* each sequence alone gives its row of the batch */
    float *alone = run_chunks(m, ids + T, 1, T, whole);
    cr_expect_lt(qn_test_max_rel_diff(full + (size_t)T * V, alone, (size_t)T * V), 2e-6f, "batch rows independent");
    /* the logits depend on the tokens before (causal, and not trivially constant) */
    cr_expect_gt(qn_test_max_rel_diff(full, full + (size_t)T * V, (size_t)T * V), 1e-2f, "sequences differ");
    free(full), free(step), free(mix), free(alone);
    cleanup(m, dir);
}

Test(llm, kv_cache_llama_gqa) { kv_cache(QN_LLM_LLAMA, 2); }
Test(llm, kv_cache_phi3_fused) { kv_cache(QN_LLM_PHI3, 4); }
Test(llm, kv_cache_phi2_partial_rotary) { kv_cache(QN_LLM_PHI2, 4); }

Test(llm, greedy_is_argmax_of_recompute) {
    char dir[64], err[512];
    qn_llm *m = model(QN_LLM_LLAMA, 1, dir);
    enum { B = 2, T = 5, S = 6 };
    int32_t prompts[B * T] = {1, 2, 3, 4, 5, 30, 20, 10, 0, 36}, out[B * S];
    float *steps = malloc((size_t)B * S * V * sizeof(float));
    cr_assert_eq(qn_llm_generate_greedy(m, prompts, B, T, S, NULL, out, NULL, steps, err, sizeof err), 0, "%s", err);
    int32_t all[B * (T + S)];
    for (int b = 0; b < B; b++) {
        memcpy(all + b * (T + S), prompts + b * T, T * sizeof(int32_t));
        memcpy(all + b * (T + S) + T, out + b * S, S * sizeof(int32_t));
    }
    const int whole[] = {T + S};
    float *full = run_chunks(m, all, B, T + S, whole);
    for (int b = 0; b < B; b++)
        for (int s = 0; s < S; s++) {
            const float *z = full + ((size_t)b * (T + S) + T - 1 + s) * V;
            int best = 0;
            for (int j = 1; j < V; j++) best = z[j] > z[best] ? j : best;
            cr_expect_eq(out[b * S + s], best, "sequence %d step %d", b, s);
            cr_expect_lt(qn_test_max_rel_diff(z, steps + ((size_t)b * S + s) * V, V), 2e-6f);
        }
    free(steps), free(full);
    cleanup(m, dir);
}

Test(llm, perplexity_matches_its_definition) {
    char dir[64], err[512];
    qn_llm *m = model(QN_LLM_PHI2, 4, dir);
    enum { N = 23 };
    int32_t tok[N];
    for (int i = 0; i < N; i++) tok[i] = (i * 11 + 5) % V;
    /* one window holding everything: exp(mean -log p(t_i+1 | t_..i)) over N-1 tokens */
    const int whole[] = {N};
    float *z = run_chunks(m, tok, 1, N, whole);
    double nll = 0;
    for (int i = 0; i < N - 1; i++) {
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < V; j++) mx = fmax(mx, z[(size_t)i * V + j]);
        for (int j = 0; j < V; j++) s += exp(z[(size_t)i * V + j] - mx);
        nll += log(s) + mx - z[(size_t)i * V + tok[i + 1]];
    }
    double ppl;
    long scored;
    cr_assert_eq(qn_llm_perplexity(m, tok, N, 64, 64, &ppl, &scored, err, sizeof err), 0, "%s", err);
    cr_expect_eq(scored, N - 1);
    cr_expect_lt(fabs(ppl / exp(nll / (N - 1)) - 1), 1e-9);
    /* sliding windows still score every token but the first, once; shorter context changes the value */
    double ppl2;
    cr_assert_eq(qn_llm_perplexity(m, tok, N, 8, 3, &ppl2, &scored, err, sizeof err), 0, "%s", err);
    cr_expect_eq(scored, N - 1);
    cr_expect_gt(fabs(ppl2 - ppl), 1e-6);
    cr_expect_eq(qn_llm_perplexity(m, tok, N, 8, 9, &ppl2, &scored, err, sizeof err), 2);
    free(z);
    cleanup(m, dir);
}

Test(llm, bad_ids_and_full_cache_are_errors) {
    char dir[64], err[512];
    qn_llm *m = model(QN_LLM_PHI3, 2, dir);
    cr_assert_eq(qn_llm_reset(m, 1, 2, err, sizeof err), 0);
    int32_t bad = V, ok[3] = {1, 2, 3};
    cr_expect_eq(qn_llm_forward(m, &bad, 1, NULL, err, sizeof err), 2);
    cr_expect(strstr(err, "outside the vocabulary"), "%s", err);
    cr_expect_eq(qn_llm_forward(m, ok, 3, NULL, err, sizeof err), 2);
    cr_expect_eq(qn_llm_reset(m, 1, 65, err, sizeof err), 2);
    cr_expect(strstr(err, "max_position_embeddings"), "%s", err);
    cleanup(m, dir);
}

Test(llm, llama3_rope_frequencies_match_transformers) {
    qn_llm_config c = {.rotary_dim = 64, .rope_theta = 500000.0, .rope_llama3 = 1, .rope_factor = 32.0,
                       .rope_low_freq_factor = 1.0, .rope_high_freq_factor = 4.0, .rope_original_max_position = 8192};
    float f[64];
    qn_llm_rope_inv_freq(&c, f);
    /* transformers' _compute_llama3_parameters for Llama 3.2 (tests/e2e/tiny_llm.py's copy of it):
     * 0 and 10 kept, 15-17 blended, 20 and 31 divided by the factor */
    static const struct {
        int i;
        double want;
    } ref[] = {{0, 1.0},
               {10, 0.016560440883040428},
               {15, 0.0012905480107292533},
               {16, 0.000429556705057621},
               {17, 9.708286233944818e-05},
               {20, 8.570255886297673e-06},
               {31, 9.418306490260875e-08}};
    for (size_t k = 0; k < sizeof ref / sizeof ref[0]; k++)
        cr_expect_lt(fabs(f[ref[k].i] / ref[k].want - 1), 2e-6, "inv_freq[%d] = %.9g, transformers %.9g", ref[k].i,
                     f[ref[k].i], ref[k].want);
}

Test(llm, rope_rotates_pairs_half_apart) {
    /* rotate_half pairs dim i with i + RD/2; dims past RD (partial rotary) stay */
    float x[8] = {1, 0, 0, 0, 0, 0, 5, 7}, inv[2] = {1.0f, 0.5f};
    qn_llm_rope_apply(x, 1, 8, 4, inv, 1.0f, 1);
    cr_expect_float_eq(x[0], cosf(1.0f), 1e-6);
    cr_expect_float_eq(x[2], sinf(1.0f), 1e-6);
    cr_expect(x[1] == 0 && x[3] == 0 && x[6] == 5 && x[7] == 7);
    /* longrope's attention factor scales cos and sin, so the rotated part grows by it */
    float y[4] = {1, 0, 0, 0};
    qn_llm_rope_apply(y, 1, 4, 4, inv, 1.5f, 1);
    cr_expect_float_eq(y[0], 1.5f * cosf(1.0f), 1e-6);
    cr_expect_float_eq(y[2], 1.5f * sinf(1.0f), 1e-6);
}

Test(llm, linear_rope_divides_the_frequencies) {
    qn_llm_config c = {.rotary_dim = 8, .rope_theta = 10000.0};
    float plain[8], linear[8];
    qn_llm_rope_inv_freq(&c, plain);
    c.rope_linear = 1, c.rope_factor = 4.0;
    qn_llm_rope_inv_freq(&c, linear);
    for (int i = 0; i < 8; i++)
        cr_expect(linear[i] == plain[i] / 4.0f, "inv_freq[%d] = %g, want %g", i, linear[i], plain[i] / 4);
}

Test(llm, longrope_frequencies_and_switch_match_transformers) {
    qn_llm_config c = {.rotary_dim = 8, .rope_theta = 10000.0, .rope_longrope = 1, .rope_original_max_position = 16,
                       .rope_short_factor = {1.0f, 1.5f, 2.0f, 4.0f}, .rope_long_factor = {1.0f, 3.0f, 9.0f, 27.0f}};
    float f[8];
    qn_llm_rope_inv_freq(&c, f);
    /* _compute_longrope_parameters: 1 / (ext_factors * 10000^(arange(0, 8, 2) / 8)), float32 */
    static const double want[8] = {1.0, 0.06666666666666667, 0.005, 0.00025, 1.0, 0.03333333333333333,
                                   0.0011111111111111111, 3.7037037037037037e-05};
    for (int i = 0; i < 8; i++)
        cr_expect_lt(fabs(f[i] / want[i] - 1), 1e-6, "inv_freq[%d] = %.9g, want %.9g", i, f[i], want[i]);
    /* long factors once max(position_ids) + 1 > original_max: the last slot 16 (17 tokens), or 17
     * with one pad slot in every sequence */
    cr_expect_eq(qn_llm_rope_long(&c, NULL, 2, 15), 0);
    cr_expect_eq(qn_llm_rope_long(&c, NULL, 2, 16), 1);
    const int32_t pad[2] = {1, 3};
    cr_expect_eq(qn_llm_rope_long(&c, pad, 2, 16), 0);
    cr_expect_eq(qn_llm_rope_long(&c, pad, 2, 17), 1);
    /* generate recomputes at the step the sequence first reaches 17 tokens, never after */
    cr_expect_eq(qn_llm_rope_recompute(&c, 10, 7), 1);
    cr_expect_eq(qn_llm_rope_recompute(&c, 10, 6) + qn_llm_rope_recompute(&c, 10, 8), 0);
    cr_expect_eq(qn_llm_rope_recompute(&c, 17, 0), 0);
    cr_expect_eq(qn_llm_longest_forward(&c, 10, 8), 17);
    cr_expect_eq(qn_llm_longest_forward(&c, 10, 7), 10); /* the last step is 6 */
    c.rope_longrope = 0; /* any other scaling: both halves the same */
    qn_llm_rope_inv_freq(&c, f);
    for (int i = 0; i < 4; i++) cr_expect(f[i] == f[i + 4]);
    cr_expect_eq(qn_llm_rope_long(&c, NULL, 1, 100), 0);
}

Test(llm, linear_gemv_and_gemm_agree_whatever_the_threads) {
    enum { OUT = 1030, IN = 1027, M = 12 };
    float *w = malloc((size_t)OUT * IN * sizeof(float)), *x = malloc((size_t)M * IN * sizeof(float));
    float *b = malloc(OUT * sizeof(float)), *y1 = malloc((size_t)M * OUT * sizeof(float)),
          *y3 = malloc((size_t)M * OUT * sizeof(float)), *yg = malloc((size_t)M * OUT * sizeof(float));
    qn_rng r;
    qn_rng_seed(&r, 7);
    for (size_t i = 0; i < (size_t)OUT * IN; i++) w[i] = qn_rng_normal(&r);
    for (size_t i = 0; i < (size_t)M * IN; i++) x[i] = qn_rng_normal(&r);
    for (int i = 0; i < OUT; i++) b[i] = qn_rng_normal(&r);
    qn_llm_linear l = {.out = OUT, .in = IN, .format = QN_LLM_WEIGHT_F32, .w = w, .bias = b};
    qn_llm_set_threads(1);
    for (int i = 0; i < 4; i++) qn_llm_linear_forward(&l, y1 + (size_t)i * OUT, OUT, x + (size_t)i * IN, IN, 1); // GEMV
    qn_llm_set_threads(3);
    qn_llm_linear_forward(&l, y3, OUT, x, IN, 4); // GEMV, 4 rows, 3 threads
    qn_llm_set_threads(1);
    cr_expect_eq(memcmp(y1, y3, 4 * OUT * sizeof(float)), 0, "threads change the GEMV's result");
    qn_llm_linear_forward(&l, yg, OUT, x, IN, M); // GEMM
    cr_expect_lt(qn_test_max_rel_diff(yg, y1, 4 * OUT), 2e-6f, "GEMV vs GEMM");
    double ref = b[5];
    for (int k = 0; k < IN; k++) ref += (double)x[IN + k] * w[(size_t)5 * IN + k];
    cr_expect_lt(fabs(y3[OUT + 5] - ref), 1e-3, "row 1 output 5: %g vs %g", y3[OUT + 5], ref);
    free(w), free(x), free(b), free(y1), free(y3), free(yg);
}

/* Attention shares its heads among the decoder's threads once a product is large enough (a prefill
 * of 64 tokens here): the logits are the same bits at 1 and 3 threads, prefill and decode. */
Test(llm, attention_is_the_same_whatever_the_threads) {
    char dir[64];
    qn_llm *m = model(QN_LLM_LLAMA, 2, dir);
    enum { B = 2, T = 64 };
    int32_t ids[B * T];
    for (int i = 0; i < B * T; i++) ids[i] = (i * 11 + 5) % V;
    const int chunks[] = {56, 1, 1, 1, 1, 1, 1, 1, 1};
    qn_llm_set_threads(1);
    float *one = run_chunks(m, ids, B, T, chunks);
    qn_llm_set_threads(3);
    float *three = run_chunks(m, ids, B, T, chunks);
    qn_llm_set_threads(1);
    cr_expect(memcmp(one, three, (size_t)B * T * V * sizeof(float)) == 0, "logits differ at 3 threads");
    free(one), free(three);
    cleanup(m, dir);
}
