/* inference_trial.c: one inference trial (inference_trial.h): what seed 004 measures with
 * transformers and bitsandbytes (load, latency per token, throughput, memory start/end/peak) and
 * seed 002's footprint by dtype, on quench's own decoder (worker/llm.h), on the worker's GPU when it
 * has one (worker/llm_cuda.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qn_clock.h"
#include "debug_fault.h"
#include "inference_trial.h"
#include "llm.h"
#include "llm_cuda.h"
#include "qn_kernels.h"
#include "qn_tokenizer.h"

/* A line of /proc/self/status ("VmRSS:", "VmHWM:") in bytes; 0 where there is no such file. */
static double proc_status_bytes(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) {
            kb = strtod(line + kl, NULL);
            break;
        }
    fclose(f);
    return kb * 1024.0;
}

/* The peak resident set restarts from the current one (Linux >= 4.0), so that a runner child that
 * ran earlier trials does not report their peak as this one's. */
static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

/* The whole of a text file tokenized (no BOS: perplexity windows start anywhere). 0, or 2 with err. */
static int tokenize_file(const qn_tokenizer *tok, const char *path, int32_t **ids, size_t *n, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "llm.perplexity_file %.300s: cannot open it", path);
        return 2;
    }
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    for (size_t got; text && (got = fread(text + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            char *t = realloc(text, cap *= 2);
            if (!t) free(text);
            text = t;
        }
    }
    fclose(f);
    int rc = !text || qn_tokenizer_encode(tok, text, len, 0, ids, n) != 0;
    free(text);
    if (rc) snprintf(err, errlen, "out of memory tokenizing llm.perplexity_file");
    return rc ? 2 : 0;
}

/* A tokenizer with more ids than the model has embeddings would index past them: refuse the text. */
static int ids_in_vocab(const int32_t *ids, size_t n, int V, const char *what, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            snprintf(err, errlen, "%s: token id %d is outside the model's vocabulary of %d (tokenizer.json does not "
                                  "belong to this model)", what, (int)ids[i], V);
            return 0;
        }
    return 1;
}

/* llm.keep as patterns: "none" keeps no layer, else comma-separated fnmatch patterns (in place). */
static int keep_patterns(char *keep, const char **pat, int max) {
    if (!strcmp(keep, "none")) return 0;
    int n = 0;
    for (char *save = NULL, *t = strtok_r(keep, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t l = strlen(t);
        while (l && t[l - 1] == ' ') t[--l] = 0;
        if (*t) pat[n++] = t;
    }
    return n;
}

int qn_inference_trial_execute(const qn_trial_config *cfg, uint64_t trial_seed, int gpu, qn_trial_result *out) {
    const qn_llm_cfg *lc = &cfg->llm;
    double t_start = qn_clock_monotonic_s();
    out->status = QN_TRIAL_FAILED;
    qn_debug_first_step(&cfg->debug);
    reset_peak_rss();
    double mem_start = proc_status_bytes("VmRSS:");
    char *err = out->error;
    size_t errlen = sizeof out->error;
    qn_tokenizer *tok = NULL;
    qn_llm_cuda *dev = NULL;
    qn_llm_cuda_memory dmem0 = {0, 0, 0}, dmem1 = {0, 0, 0};
    int32_t *prompt = NULL, *text_ids = NULL, *generated = NULL, *ppl_ids = NULL;
    size_t ntext = 0, nppl = 0;
    int rc = 0;

    double t0 = qn_clock_monotonic_s();
    qn_llm *m = qn_llm_load(lc->model, err, errlen);
    if (!m) goto done;
    double load_s = qn_clock_monotonic_s() - t0;
    char keep[sizeof lc->keep];
    snprintf(keep, sizeof keep, "%s", lc->keep);
    const char *pat[64];
    int npat = keep_patterns(keep, pat, 64);
    t0 = qn_clock_monotonic_s();
    if (qn_llm_quantize(m, lc->precision, pat, npat, err, errlen) != 0) goto done;
    double quantize_s = qn_clock_monotonic_s() - t0;
    qn_llm_footprint fp;
    qn_llm_footprint_of(m, &fp);

    if (lc->prompt[0] || lc->perplexity_file[0]) {
        char path[600];
        snprintf(path, sizeof path, "%s/tokenizer.json", lc->model);
        int trc = qn_tokenizer_load(path, &tok, err, errlen);
        if (trc == 1) snprintf(err, errlen, "out of memory reading %.400s", path);
        if (trc) goto done;
    }
    /* the prompt: B copies of the text's ids, or random ids seeded by the trial */
    const int B = lc->batch, S = lc->max_new_tokens, V = m->cfg.vocab_size;
    double t_tok = qn_clock_monotonic_s();
    int T = lc->prompt_len;
    if (lc->prompt[0]) {
        if (qn_tokenizer_encode(tok, lc->prompt, strlen(lc->prompt), 1, &text_ids, &ntext) != 0) {
            snprintf(err, errlen, "out of memory tokenizing llm.prompt");
            goto done;
        }
        if (ntext == 0) {
            snprintf(err, errlen, "llm.prompt encodes to no tokens");
            goto done;
        }
        if (!ids_in_vocab(text_ids, ntext, V, "llm.prompt", err, errlen)) goto done;
        T = (int)ntext;
    }
    prompt = malloc((size_t)B * T * sizeof *prompt);
    generated = malloc((size_t)B * S * sizeof *generated);
    if (!prompt || !generated) {
        rc = -1;
        snprintf(err, errlen, "out of memory for the prompt");
        goto done;
    }
    uint64_t z = qn_splitmix64(trial_seed ^ 0x11a7ull);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            if (text_ids) prompt[(size_t)b * T + t] = text_ids[t];
            else prompt[(size_t)b * T + t] = (int32_t)((z = qn_splitmix64(z)) % (uint64_t)V);
        }
    double tokenize_s = qn_clock_monotonic_s() - t_tok;
    if (T + S > m->cfg.max_position) {
        snprintf(err, errlen, "the prompt (%d tokens) and llm.max_new_tokens %d exceed the model's %d positions", T, S,
                 m->cfg.max_position);
        goto done;
    }
    /* transformers' generate stops each sequence at its EOS (llm.ignore_eos: never) */
    qn_llm_gen gen = {0};
    qn_hf_generation stop;
    if (strcmp(lc->ignore_eos, "true") != 0) {
        if (qn_hf_generation_load(lc->model, &stop, err, errlen) != 0) goto done;
        gen.eos = stop.eos, gen.neos = stop.neos, gen.pad_token_id = stop.pad_token_id;
    }
    if (gpu >= 0) {
        /* a GPU worker decodes on its GPU; seed 004's memory is then the device's, counted from the
         * model resident (start) to the last step (end), as torch.cuda.memory_allocated */
        char derr[400] = "";
        if (!(dev = qn_llm_cuda_new(m, gpu, derr, sizeof derr))) {
            snprintf(err, errlen, "on the GPU: %s", derr);
            goto done;
        }
        qn_llm_cuda_memory_of(dev, &dmem0);
        if (qn_llm_cuda_generate_greedy(dev, prompt, B, T, S, &gen, generated, NULL, NULL, derr, sizeof derr) != 0) {
            snprintf(err, errlen, "on the GPU: %s", derr);
            goto done;
        }
        qn_llm_cuda_times(dev, &m->prefill_s, &m->decode_s); /* read below as the CPU's */
    } else if (qn_llm_generate_greedy(m, prompt, B, T, S, &gen, generated, NULL, NULL, err, errlen) != 0) {
        goto done;
    }

    /* prefill_s runs to the first token's logits (llm_generate.c); decode_s covers the other steps run,
     * fewer than S - 1 when every sequence stopped at its EOS: the rates count the steps run */
    double prefill_ms = m->prefill_s * 1e3, decode_s = m->decode_s;
    const int steps = gen.steps;
    qn_trial_result_set_metric(out, "load_s", load_s);
    qn_trial_result_set_metric(out, "quantize_s", quantize_s);
    qn_trial_result_set_metric(out, "prompt_tokens", T);
    qn_trial_result_set_metric(out, "new_tokens", steps);
    qn_trial_result_set_metric(out, "generated_tokens", (double)gen.tokens);
    qn_trial_result_set_metric(out, "batch", B);
    qn_trial_result_set_metric(out, "prefill_ms", prefill_ms);
    qn_trial_result_set_metric(out, "ttft_ms", (tokenize_s + m->prefill_s) * 1e3);
    if (steps > 1) {
        qn_trial_result_set_metric(out, "decode_ms_per_token", decode_s * 1e3 / (steps - 1));
        qn_trial_result_set_metric(out, "decode_tokens_per_s", decode_s > 0 ? (double)B * (steps - 1) / decode_s : 0.0);
    }
    /* seed 004's throughput: all new tokens over the whole generation, prefill included */
    double gen_s = m->prefill_s + decode_s;
    qn_trial_result_set_metric(out, "tokens_per_s", gen_s > 0 ? (double)B * steps / gen_s : 0.0);
    qn_trial_result_set_metric(out, "latency_ms", gen_s * 1e3);
    /* seed 002's "Memory Usage by dtype" */
    qn_trial_result_set_metric(out, "weights_float32_bytes", fp.float32);
    qn_trial_result_set_metric(out, "weights_float16_bytes", fp.float16);
    qn_trial_result_set_metric(out, "weights_int8_bytes", fp.int8);
    qn_trial_result_set_metric(out, "weights_other_bytes", fp.other);
    qn_trial_result_set_metric(out, "weights_bytes", fp.total);
    qn_trial_result_set_metric(out, "kv_cache_bytes", 2.0 * m->cfg.layers * B * m->cfg.kv_heads * (T + S) * m->cfg.head_dim * sizeof(float));

    if (lc->perplexity_file[0]) {
        if (tokenize_file(tok, lc->perplexity_file, &ppl_ids, &nppl, err, errlen) != 0) goto done;
        if (!ids_in_vocab(ppl_ids, nppl, V, "llm.perplexity_file", err, errlen)) goto done;
        if (nppl < 2) {
            snprintf(err, errlen, "llm.perplexity_file %.300s has fewer than 2 tokens", lc->perplexity_file);
            goto done;
        }
        double ppl;
        long scored;
        t0 = qn_clock_monotonic_s();
        if (dev) {
            char derr[400] = "";
            if (qn_llm_cuda_perplexity(dev, ppl_ids, (int)nppl, lc->context, lc->stride, &ppl, &scored, derr, sizeof derr)) {
                snprintf(err, errlen, "on the GPU: %s", derr);
                goto done;
            }
        } else if (qn_llm_perplexity(m, ppl_ids, (int)nppl, lc->context, lc->stride, &ppl, &scored, err, errlen) != 0) {
            goto done;
        }
        qn_trial_result_set_metric(out, "perplexity", ppl);
        qn_trial_result_set_metric(out, "perplexity_tokens", (double)scored);
        qn_trial_result_set_metric(out, "perplexity_s", qn_clock_monotonic_s() - t0);
    }
    double mem_end = proc_status_bytes("VmRSS:"), mem_peak = proc_status_bytes("VmHWM:");
    if (dev) {
        qn_llm_cuda_memory_of(dev, &dmem1);
        qn_trial_result_set_metric(out, "mem_start_bytes", dmem0.now);
        qn_trial_result_set_metric(out, "mem_end_bytes", dmem1.now);
        qn_trial_result_set_metric(out, "mem_peak_bytes", dmem1.peak);
        qn_trial_result_set_metric(out, "device_used_bytes", qn_llm_cuda_device_used(dev));
        qn_trial_result_set_metric(out, "host_peak_bytes", mem_peak > mem_end ? mem_peak : mem_end);
    } else {
        qn_trial_result_set_metric(out, "mem_start_bytes", mem_start);
        qn_trial_result_set_metric(out, "mem_end_bytes", mem_end);
        qn_trial_result_set_metric(out, "mem_peak_bytes", mem_peak > mem_end ? mem_peak : mem_end);
    }
    qn_trial_result_set_metric(out, "host_rss_bytes", mem_end);
    qn_trial_result_set_metric(out, "backend_cpu", dev ? 0.0 : 1.0);
    qn_trial_result_set_metric(out, "gpu_worker", gpu >= 0 ? 1.0 : 0.0);
    qn_trial_result_set_metric(out, "total_s", qn_clock_monotonic_s() - t_start);
    out->status = QN_TRIAL_DONE;
done:
    if (out->status != QN_TRIAL_DONE) out->nmetrics = 0;
    qn_llm_cuda_free(dev);
    qn_llm_free(m);
    qn_tokenizer_free(tok);
    free(prompt), free(text_ids), free(generated), free(ppl_ids);
    return rc;
}
