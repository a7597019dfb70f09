/* test_llm_parity.c: the CUDA decoder (worker/llm_cuda.c) against the CPU one (worker/llm_*.c) on tiny
 * random models written as Hugging Face directories: Llama with GQA and llama3 rope scaling, Phi-3
 * with fused qkv/gate_up, Phi-2 with partial rotary, LayerNorm, gelu_tanh and biases. For each
 * architecture and precision (every Linear quantized, lm_head included): the prefill logits of a
 * batch (B*T rows > the GEMV's 8: SGEMM, dequantized tiles, the int8 tiled GEMM), then decode steps
 * (B rows: the fused GEMVs) fed the CPU's greedy tokens, logits compared at each step. For float32
 * also the whole greedy generation (the same tokens) and perplexity with overlapping windows, and on
 * a Phi-3 with a sliding window shorter than the sequences: left-padded prompts and EOS stopping;
 * on a Phi-3 with longrope scaling, generation across original_max_position_embeddings; and a cache
 * long enough that the attention kernel's scores need more than 48 KiB of shared memory (the opt-in).
 * Exits 77 (ctest: skipped) without CUDA or GPU.
 *
 * Tolerances: both backends multiply by the same dequantized weight values and differ only in the
 * order of float32 sums, so 1e-3 relative (floor: 0.1 x the largest logit) holds for every weight
 * format (host emulation of the kernels: worst 6e-6); LLM.int8 quantizes activations, where a
 * last-bit difference can move an element one int8 step or flip an outlier column (emulation: up to
 * 4.5e-3 norm-wise at threshold 1.5, against about 1 when the outlier term is dropped), so it is
 * compared norm-wise at 5e-2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_test.h"
#include "../../worker/llm.h"
#include "../../worker/llm_cuda.h"
#include "qn_kernels.h"
#include "qn_llm_cuda.h"
#include "../support/tiny_llm.h"

#ifdef QUENCH_HAVE_CUDA

enum { V = 301, C = 64, NH = 4, HD = 16, I = 96, L = 2 };
enum { B = 2, T = 6, S = 4 };

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "  FAIL %s:%d: ", __FILE__, __LINE__);                                \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define compare(...) qn_gpu_compare(&failures, __VA_ARGS__)
#define compare_norm(...) qn_gpu_compare_norm(&failures, __VA_ARGS__)

static const qn_tiny_llm_dims tiny_dims = {V, C, NH, HD, I, L};

static void remove_model(const char *dir) {
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir), unlink(p);
    snprintf(p, sizeof p, "%s/config.json", dir), unlink(p);
    rmdir(dir);
}

static int32_t argmax(const float *v, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* Prefill and teacher-forced decode logits of one model at one precision, CPU against CUDA. */
static void parity(const char *dir, const char *arch, const char *precision) {
    char err[512] = "", what[160];
    const char *const keep_none[1] = {NULL};
    qn_llm *m = qn_llm_load(dir, err, sizeof err);
    CHECK(m, "%s: %s", dir, err);
    if (!m) return;
    qn_llm_cuda *d = NULL;
    float *cpu = malloc((size_t)B * T * V * sizeof(float)), *gpu = malloc((size_t)B * T * V * sizeof(float));
    float *hidden = malloc((size_t)B * T * C * sizeof(float));
    int32_t tok[B], gtok[B], prompts[B * T];
    for (int i = 0; i < B * T; i++) prompts[i] = (i * 37 + 11) % V;
    if (!cpu || !gpu || !hidden) abort();
    int rc = qn_llm_quantize(m, precision, keep_none, 0, err, sizeof err);
    CHECK(rc == 0, "%s %s: quantize: %s", arch, precision, err);
    if (rc) goto out;
    d = qn_llm_cuda_new(m, 0, err, sizeof err);
    CHECK(d, "%s %s: qn_llm_cuda_new: %s", arch, precision, err);
    if (!d) goto out;
    rc = qn_llm_reset(m, B, T + S, err, sizeof err) || qn_llm_forward(m, prompts, T, hidden, err, sizeof err);
    CHECK(rc == 0, "%s %s: cpu prefill: %s", arch, precision, err);
    rc = rc || qn_llm_cuda_reset(d, B, T + S, err, sizeof err) || qn_llm_cuda_forward(d, prompts, T, err, sizeof err) ||
         qn_llm_cuda_logits(d, gpu, err, sizeof err);
    CHECK(rc == 0, "%s %s: cuda prefill: %s", arch, precision, err);
    if (rc) goto out;
    qn_llm_logits(m, hidden, B * T, cpu);
    const int int8 = strncmp(precision, "int8", 4) == 0;
    snprintf(what, sizeof what, "%s %s prefill logits", arch, precision);
    if (int8) compare_norm(what, cpu, gpu, (size_t)B * T * V, 5e-2);
    else compare(what, cpu, gpu, (size_t)B * T * V, 1e-3);
    for (int b = 0; b < B; b++) tok[b] = argmax(cpu + ((size_t)b * T + T - 1) * V, V);
    rc = qn_llm_cuda_next_tokens(d, gtok, gpu, err, sizeof err);
    CHECK(rc == 0, "%s %s: next tokens: %s", arch, precision, err);
    int agree = 0, steps = 0;
    for (int s = 0; s < S && rc == 0; s++) {
        if (s > 0) {
            rc = qn_llm_forward(m, tok, 1, hidden, err, sizeof err) || qn_llm_cuda_forward(d, tok, 1, err, sizeof err) ||
                 qn_llm_cuda_next_tokens(d, gtok, gpu, err, sizeof err);
            CHECK(rc == 0, "%s %s: decode step %d: %s", arch, precision, s, err);
            if (rc) break;
            qn_llm_logits(m, hidden, B, cpu);
        } else { /* the last positions through the head together, as next_tokens (LLM.int8's outlier columns) */
            for (int b = 0; b < B; b++)
                memmove(hidden + (size_t)b * C, hidden + ((size_t)b * T + T - 1) * C, C * sizeof(float));
            qn_llm_logits(m, hidden, B, cpu);
        }
        snprintf(what, sizeof what, "%s %s step %d logits", arch, precision, s);
        if (int8) compare_norm(what, cpu, gpu, (size_t)B * V, 5e-2);
        else compare(what, cpu, gpu, (size_t)B * V, 1e-3);
        for (int b = 0; b < B; b++) {
            tok[b] = argmax(cpu + (size_t)b * V, V); /* both continue with the CPU's choice */
            agree += gtok[b] == tok[b], steps++;
        }
    }
    printf("%-6s %-26s greedy choices equal at %d of %d steps\n", arch, precision, agree, steps);
    if (!strcmp(precision, "fp32")) CHECK(agree == steps, "%s fp32: the CUDA argmax differs from the CPU's", arch);
out:
    qn_llm_cuda_free(d);
    qn_llm_free(m);
    free(cpu), free(gpu), free(hidden);
}

/* fp32 greedy generation, end to end: the same tokens, step logits close, memory counted. */
static void generation(const char *dir, const char *arch) {
    char err[512] = "";
    qn_llm *m = qn_llm_load(dir, err, sizeof err);
    CHECK(m, "%s: %s", dir, err);
    if (!m) return;
    qn_llm_cuda *d = qn_llm_cuda_new(m, 0, err, sizeof err);
    CHECK(d, "%s: qn_llm_cuda_new: %s", arch, err);
    int32_t prompts[B * T], cpu_tok[B * S], gpu_tok[B * S];
    for (int i = 0; i < B * T; i++) prompts[i] = (i * 53 + 5) % V;
    float *cpu = malloc((size_t)B * S * V * sizeof(float)), *gpu = malloc((size_t)B * S * V * sizeof(float));
    float *cpu_p = malloc((size_t)B * T * V * sizeof(float)), *gpu_p = malloc((size_t)B * T * V * sizeof(float));
    if (!cpu || !gpu || !cpu_p || !gpu_p) abort();
    if (d) {
        int rc = qn_llm_generate_greedy(m, prompts, B, T, S, NULL, cpu_tok, cpu_p, cpu, err, sizeof err);
        CHECK(rc == 0, "%s: cpu generate: %s", arch, err);
        qn_llm_cuda_memory mem0, mem1;
        qn_llm_cuda_memory_of(d, &mem0);
        rc = rc || qn_llm_cuda_generate_greedy(d, prompts, B, T, S, NULL, gpu_tok, gpu_p, gpu, err, sizeof err);
        CHECK(rc == 0, "%s: cuda generate: %s", arch, err);
        if (rc == 0) {
            CHECK(!memcmp(cpu_tok, gpu_tok, sizeof cpu_tok), "%s: fp32 greedy tokens differ", arch);
            char what[96];
            snprintf(what, sizeof what, "%s generate prompt logits", arch);
            compare(what, cpu_p, gpu_p, (size_t)B * T * V, 1e-3);
            snprintf(what, sizeof what, "%s generate step logits", arch);
            compare(what, cpu, gpu, (size_t)B * S * V, 1e-3);
            double prefill, decode;
            qn_llm_cuda_times(d, &prefill, &decode);
            CHECK(prefill > 0 && decode > 0, "%s: prefill %g s, decode %g s", arch, prefill, decode);
            qn_llm_cuda_memory_of(d, &mem1);
            CHECK(mem0.weights > 0 && mem0.now >= mem0.weights, "%s: weights %g, held %g", arch, mem0.weights, mem0.now);
            CHECK(mem1.now > mem0.now && mem1.peak >= mem1.now, "%s: held %g then %g, peak %g", arch, mem0.now, mem1.now,
                  mem1.peak);
            /* perplexity with overlapping windows, the same tokens scored */
            int32_t text[23];
            for (int i = 0; i < 23; i++) text[i] = (i * 71 + 2) % V;
            double pc = 0, pg = 0;
            long nc = 0, ng = 0;
            rc = qn_llm_perplexity(m, text, 23, 8, 5, &pc, &nc, err, sizeof err);
            CHECK(rc == 0, "%s: cpu perplexity: %s", arch, err);
            rc = rc || qn_llm_cuda_perplexity(d, text, 23, 8, 5, &pg, &ng, err, sizeof err);
            CHECK(rc == 0, "%s: cuda perplexity: %s", arch, err);
            CHECK(rc || (nc == ng && fabs(pg - pc) <= 1e-4 * pc), "%s: perplexity cpu %.9g (%ld) cuda %.9g (%ld)", arch,
                  pc, nc, pg, ng);
            /* bad input is a one-line error (2), not a crash (after a reset: perplexity filled the cache) */
            int32_t bad[B] = {V, 0};
            CHECK(qn_llm_cuda_reset(d, B, T, err, sizeof err) == 0, "%s: reset: %s", arch, err);
            CHECK(qn_llm_cuda_forward(d, bad, 1, err, sizeof err) == 2 && strstr(err, "vocabulary"),
                  "%s: an id outside the vocabulary: %s", arch, err);
            CHECK(qn_llm_cuda_reset(d, B, 65, err, sizeof err) == 2, "%s: more tokens than max_position", arch);
        }
    }
    qn_llm_cuda_free(d);
    qn_llm_free(m);
    free(cpu), free(gpu), free(cpu_p), free(gpu_p);
}

/* Phi-3 with a sliding window (3) shorter than the sequences, prompts left-padded (0 and 3 pads):
 * generation on both backends (positions, the padded and windowed mask in prefill and decode), then
 * again stopping at an EOS that prompt 0 emits at its second step (the shared stopping rule). */
static void masked(const char *dir) {
    char err[512] = "";
    qn_llm *m = qn_llm_load(dir, err, sizeof err);
    CHECK(m && m->cfg.sliding_window == 3, "%s: %s", dir, err);
    if (!m) return;
    qn_llm_cuda *d = qn_llm_cuda_new(m, 0, err, sizeof err);
    CHECK(d, "phi3 window: qn_llm_cuda_new: %s", err);
    int32_t prompts[B * T], cpu_tok[B * S], gpu_tok[B * S];
    const int32_t pad[B] = {0, 3};
    for (int i = 0; i < B * T; i++) prompts[i] = (i * 29 + 3) % V;
    float *cpu = malloc((size_t)B * S * V * sizeof(float)), *gpu = malloc((size_t)B * S * V * sizeof(float));
    float *cpu_p = malloc((size_t)B * T * V * sizeof(float)), *gpu_p = malloc((size_t)B * T * V * sizeof(float));
    if (!cpu || !gpu || !cpu_p || !gpu_p) abort();
    qn_llm_gen gc = {.pad = pad}, gg = {.pad = pad};
    int rc = d ? qn_llm_generate_greedy(m, prompts, B, T, S, &gc, cpu_tok, cpu_p, cpu, err, sizeof err) : 1;
    CHECK(rc == 0, "phi3 window: cpu generate: %s", err);
    rc = rc || qn_llm_cuda_generate_greedy(d, prompts, B, T, S, &gg, gpu_tok, gpu_p, gpu, err, sizeof err);
    CHECK(rc == 0, "phi3 window: cuda generate: %s", err);
    if (rc == 0) {
        CHECK(!memcmp(cpu_tok, gpu_tok, sizeof cpu_tok), "phi3 window, padded: greedy tokens differ");
        compare("phi3 window, padded: prompt logits", cpu_p, gpu_p, (size_t)B * T * V, 1e-3);
        compare("phi3 window, padded: step logits", cpu, gpu, (size_t)B * S * V, 1e-3);
        const int32_t eos[1] = {cpu_tok[1]};
        gc = (qn_llm_gen){.pad = pad, .eos = eos, .neos = 1, .pad_token_id = 0}, gg = gc;
        rc = qn_llm_generate_greedy(m, prompts, B, T, S, &gc, cpu_tok, NULL, NULL, err, sizeof err) ||
             qn_llm_cuda_generate_greedy(d, prompts, B, T, S, &gg, gpu_tok, NULL, NULL, err, sizeof err);
        CHECK(rc == 0, "phi3 window, EOS: %s", err);
        CHECK(rc || (!memcmp(cpu_tok, gpu_tok, sizeof cpu_tok) && gc.steps == gg.steps && gc.tokens == gg.tokens),
              "phi3 window, EOS: cpu %d steps %ld tokens, cuda %d steps %ld tokens", gc.steps, gc.tokens, gg.steps,
              gg.tokens);
    }
    qn_llm_cuda_free(d);
    qn_llm_free(m);
    free(cpu), free(gpu), free(cpu_p), free(gpu_p);
}

/* config.json's max_position_embeddings (64 as tiny_llm writes it) set to n. 0, or -1. */
static int set_max_position(const char *dir, int n) {
    char path[512], text[8192];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    static const char key[] = "\"max_position_embeddings\": 64";
    const char *at = strstr(text, key);
    if (!at || !(f = fopen(path, "w"))) return -1;
    int ok = fprintf(f, "%.*s\"max_position_embeddings\": %d%s", (int)(at - text), text, n, at + strlen(key)) > 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A one-layer Llama whose cache passes 48 KiB of attention scores per block (the kernel's opt-in to
 * more dynamic shared memory, which the short sequences above never need): LONG - TAIL - 1 tokens
 * fed in chunks, then TAIL more (logits compared) and one decode step, on both backends. */
enum { LONG = 12800, TAIL = 500, CHUNK = 1100 };
static void long_cache(const char *dir) {
    char err[512] = "";
    qn_llm *m = qn_llm_load(dir, err, sizeof err);
    CHECK(m, "%s: %s", dir, err);
    if (!m) return;
    qn_llm_cuda *d = qn_llm_cuda_new(m, 0, err, sizeof err);
    CHECK(d, "long cache: qn_llm_cuda_new: %s", err);
    int32_t *ids = malloc((size_t)LONG * sizeof(int32_t)), tok[1], gtok[1];
    float *hidden = malloc((size_t)CHUNK * C * sizeof(float));
    float *cpu = malloc((size_t)TAIL * V * sizeof(float)), *gpu = malloc((size_t)TAIL * V * sizeof(float));
    if (!ids || !hidden || !cpu || !gpu) abort();
    for (int i = 0; i < LONG; i++) ids[i] = (i * 37 + 11) % V;
    int rc = !d || qn_llm_reset(m, 1, LONG, err, sizeof err) || qn_llm_cuda_reset(d, 1, LONG, err, sizeof err);
    CHECK(rc == 0, "long cache: reset to %d tokens: %s", LONG, err);
    const int head = LONG - TAIL - 1;
    for (int p = 0, n; p < head && rc == 0; p += n) {
        n = head - p < CHUNK ? head - p : CHUNK;
        rc = qn_llm_forward(m, ids + p, n, NULL, err, sizeof err) ||
             qn_llm_cuda_forward(d, ids + p, n, err, sizeof err);
        CHECK(rc == 0, "long cache: tokens %d..%d: %s", p, p + n, err);
    }
    if (rc == 0) {
        const int HDL = m->cfg.head_dim;
        CHECK(qn_cuda_llm_attention_needs_optin(HDL, head + TAIL), "long cache: %d slots do not reach the opt-in",
              head + TAIL);
        rc = qn_llm_forward(m, ids + head, TAIL, hidden, err, sizeof err) ||
             qn_llm_cuda_forward(d, ids + head, TAIL, err, sizeof err) || qn_llm_cuda_logits(d, gpu, err, sizeof err);
        CHECK(rc == 0, "long cache: the last %d tokens: %s", TAIL, err);
    }
    if (rc == 0) {
        qn_llm_logits(m, hidden, TAIL, cpu);
        compare("long cache: logits past 48 KiB of scores", cpu, gpu, (size_t)TAIL * V, 1e-3);
        tok[0] = argmax(cpu + (size_t)(TAIL - 1) * V, V);
        rc = qn_llm_forward(m, tok, 1, hidden, err, sizeof err) || qn_llm_cuda_forward(d, tok, 1, err, sizeof err) ||
             qn_llm_cuda_next_tokens(d, gtok, gpu, err, sizeof err);
        CHECK(rc == 0, "long cache: decode at %d: %s", LONG - 1, err);
        if (rc == 0) {
            qn_llm_logits(m, hidden, 1, cpu);
            compare("long cache: decode logits", cpu, gpu, (size_t)V, 1e-3);
        }
    }
    qn_llm_cuda_free(d);
    qn_llm_free(m);
    free(ids), free(hidden), free(cpu), free(gpu);
}

int main(void) {
    QN_GPU_TEST_SKIP_WITHOUT_GPU();
    static const struct {
        qn_llm_arch arch;
        const char *name;
        int nkv;
    } archs[] = {{QN_LLM_LLAMA, "llama", 2}, {QN_LLM_PHI3, "phi3", 4}, {QN_LLM_PHI2, "phi2", 4}};
    static const char *precisions[] = {"fp32", "fp16", "bf16", "w8a16", "int8", "int8:threshold=1.5", "nf4", "fp4",
                                       "nf4:double_quant=1", "fp4:block_size=32,double_quant=1"};
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        char dir[64] = "/tmp/qn-llm-cuda-XXXXXX";
        if (!mkdtemp(dir) || qn_tiny_llm_write(dir, archs[a].arch, &tiny_dims, archs[a].nkv, 42 + (uint64_t)a) != 0) {
            fprintf(stderr, "cannot write a model in /tmp\n");
            return 1;
        }
        generation(dir, archs[a].name);
        if (archs[a].arch == QN_LLM_PHI3) {
            char swa[64] = "/tmp/qn-llm-cuda-XXXXXX";
            if (!mkdtemp(swa) || qn_tiny_llm_write(swa, QN_LLM_PHI3, &tiny_dims, 2, 7) != 0 ||
                qn_tiny_llm_config_add(swa, ", \"sliding_window\": 3") != 0) {
                fprintf(stderr, "cannot write a model in /tmp\n");
                return 1;
            }
            masked(swa);
            remove_model(swa);
            /* longrope: short factors up to original_max_position_embeddings 7, long past it: the
             * generation crosses at its third step (both recompute the sequence), the perplexity
             * windows of 8 are long, parity's decode steps switch per forward */
            char lr[64] = "/tmp/qn-llm-cuda-XXXXXX";
            if (!mkdtemp(lr) || qn_tiny_llm_write(lr, QN_LLM_PHI3, &tiny_dims, 2, 11) != 0 ||
                qn_tiny_llm_config_add(lr, ", \"original_max_position_embeddings\": 7, \"rope_scaling\": {\"type\": "
                                           "\"longrope\", \"short_factor\": [1, 1.2, 1.4, 1.9, 2.3, 3.1, 3.6, 4.2], "
                                           "\"long_factor\": [1.1, 1.8, 2.9, 4.4, 7.3, 11.6, 17.9, 30.2]}") != 0) {
                fprintf(stderr, "cannot write a model in /tmp\n");
                return 1;
            }
            generation(lr, "phi3 longrope");
            parity(lr, "phi3 longrope", "fp32");
            remove_model(lr);
        }
        for (size_t p = 0; p < sizeof precisions / sizeof precisions[0]; p++) parity(dir, archs[a].name, precisions[p]);
        remove_model(dir);
    }
    /* a 16-bit checkpoint, tied as Llama 3.2's: never quantized (its Linears and embedding widened on
     * the way up), bf16 in place, fp16 converted from it, nf4 packed a layer at a time */
    char half[64] = "/tmp/qn-llm-cuda-XXXXXX";
    const qn_tiny_llm_storage bf16_tied = {QN_ST_BF16, QN_ST_BF16, 1};
    if (!mkdtemp(half) || qn_tiny_llm_write_stored(half, QN_LLM_LLAMA, &tiny_dims, 2, 17, &bf16_tied) != 0) {
        fprintf(stderr, "cannot write a model in /tmp\n");
        return 1;
    }
    generation(half, "llama bf16 tied");
    static const char *half_precisions[] = {"fp32", "bf16", "fp16", "nf4"};
    for (size_t p = 0; p < sizeof half_precisions / sizeof half_precisions[0]; p++)
        parity(half, "llama bf16 tied", half_precisions[p]);
    remove_model(half);
    char longdir[64] = "/tmp/qn-llm-cuda-XXXXXX";
    const qn_tiny_llm_dims long_dims = {V, C, NH, HD, I, 1};
    if (!mkdtemp(longdir) || qn_tiny_llm_write(longdir, QN_LLM_LLAMA, &long_dims, 2, 13) != 0 ||
        set_max_position(longdir, LONG) != 0) {
        fprintf(stderr, "cannot write a model in /tmp\n");
        return 1;
    }
    long_cache(longdir);
    remove_model(longdir);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    puts("CUDA decoder matches the CPU one");
    return 0;
}

#else

int main(void) { QN_GPU_TEST_SKIP_WITHOUT_GPU(); }

#endif
