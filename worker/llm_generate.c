/* llm_generate.c: what users run a decoder for: greedy generation with the KV cache (prefill the
 * prompts, then one token at a time; left-padded prompts and EOS stopping as transformers' generate),
 * and perplexity with a sliding window as Hugging Face's perplexity guide computes it. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qn_clock.h"
#include "llm.h"

static int32_t argmax(const float *v, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i; // the first of equal maxima, as torch.argmax
    return best;
}

int qn_llm_gen_start(qn_llm_gen *gen, int B, int T, int V, unsigned char *done, char *err, size_t errlen) {
    memset(done, 0, (size_t)B);
    if (!gen) return 0;
    gen->steps = 0, gen->tokens = 0;
    if (gen->neos < 0 || gen->neos > QN_HF_MAX_EOS || (gen->neos && !gen->eos)) {
        snprintf(err, errlen, "at most %d EOS ids", QN_HF_MAX_EOS);
        return 2;
    }
    // a stopped sequence is fed pad_token_id, so it must have an embedding
    if (gen->neos && (gen->pad_token_id < 0 || gen->pad_token_id >= V)) {
        snprintf(err, errlen, "pad_token_id %d is outside the vocabulary [0, %d)", (int)gen->pad_token_id, V);
        return 2;
    }
    for (int b = 0; gen->pad && b < B; b++)
        if (gen->pad[b] < 0 || gen->pad[b] >= T) {
            snprintf(err, errlen, "prompt %d has %d pad tokens of %d: every prompt needs a real token", b,
                     (int)gen->pad[b], T);
            return 2;
        }
    return 0;
}

int qn_llm_gen_step(qn_llm_gen *gen, int B, int S, int s, int32_t *tok, unsigned char *done, int32_t *new_tokens) {
    int all = 1;
    for (int b = 0; b < B; b++) {
        if (done[b]) tok[b] = gen->pad_token_id; // transformers: tokens * unfinished + pad * (1 - unfinished)
        else if (gen) {
            gen->tokens++;
            for (int e = 0; e < gen->neos; e++) done[b] |= tok[b] == gen->eos[e];
        }
        new_tokens[(size_t)b * S + s] = tok[b];
        all &= done[b];
    }
    if (gen) gen->steps = s + 1;
    if (!all) return 0;
    for (int b = 0; b < B; b++) // the steps not run, as the sequences would have continued
        for (int r = s + 1; r < S; r++) new_tokens[(size_t)b * S + r] = gen->pad_token_id;
    return 1;
}

int qn_llm_longest_forward(const qn_llm_config *c, int T, int S) {
    const int s = c->rope_original_max_position + 1 - T; // the step a recompute would come at
    return qn_llm_rope_recompute(c, T, s) && s < S ? T + s : T;
}

int32_t *qn_llm_sequence_ids(const int32_t *prompts, int B, int T, const int32_t *new_tokens, int S, int s) {
    int32_t *ids = malloc((size_t)B * (T + s) * sizeof(int32_t));
    for (int b = 0; ids && b < B; b++) {
        memcpy(ids + (size_t)b * (T + s), prompts + (size_t)b * T, (size_t)T * sizeof(int32_t));
        memcpy(ids + (size_t)b * (T + s) + T, new_tokens + (size_t)b * S, (size_t)s * sizeof(int32_t));
    }
    return ids;
}

int qn_llm_generate_greedy(qn_llm *m, const int32_t *prompts, int B, int T, int S, qn_llm_gen *gen,
                           int32_t *new_tokens, float *prompt_logits, float *step_logits, char *err, size_t errlen) {
    const int C = m->cfg.hidden, V = m->cfg.vocab_size;
    int rc = qn_llm_reset(m, B, T + (S > 1 ? S - 1 : 0), err, errlen);
    if (rc) return rc;
    const int widest = qn_llm_longest_forward(&m->cfg, T, S); // the prompts, or longrope's recompute
    float *hidden = malloc((size_t)B * widest * C * sizeof(float)), *logits = malloc((size_t)B * V * sizeof(float));
    int32_t *tok = malloc((size_t)B * sizeof(int32_t));
    unsigned char *done = malloc((size_t)B);
    if (!hidden || !logits || !tok || !done) {
        snprintf(err, errlen, "out of memory");
        rc = 2;
        goto out;
    }
    if ((rc = qn_llm_gen_start(gen, B, T, V, done, err, errlen)) != 0) goto out;
    m->pad = gen ? gen->pad : NULL;
    if (step_logits) memset(step_logits, 0, (size_t)B * S * V * sizeof(float));
    m->prefill_s = m->decode_s = 0.0;
    double t0 = qn_clock_monotonic_s();
    if ((rc = qn_llm_forward(m, prompts, T, hidden, err, errlen)) != 0) goto out; // prefill (B,T,C)
    if (prompt_logits) qn_llm_logits(m, hidden, B * T, prompt_logits);
    int s = 0;
    for (; s < S; s++) {
        if (s == 1) m->prefill_s = qn_clock_monotonic_s() - t0, t0 = qn_clock_monotonic_s(); // prefill up to the first token's logits
        int fed = s ? 1 : T; // tokens per sequence of the last forward
        if (s > 0 && qn_llm_rope_recompute(&m->cfg, T, s)) { // the whole sequences again (B,T+s,C)
            int32_t *ids = qn_llm_sequence_ids(prompts, B, T, new_tokens, S, s);
            fed = T + s, m->pos = 0;
            rc = ids ? qn_llm_forward(m, ids, fed, hidden, err, errlen) : (snprintf(err, errlen, "out of memory"), 2);
            free(ids);
            if (rc) goto out;
        } else if (s > 0 && (rc = qn_llm_forward(m, tok, 1, hidden, err, errlen)) != 0) goto out; // decode (B,1,C)
        for (int b = 0; b < B; b++) {
            const float *last = hidden + ((size_t)b * fed + fed - 1) * C;
            qn_llm_logits(m, last, 1, logits + (size_t)b * V);
            tok[b] = argmax(logits + (size_t)b * V, V);
            if (step_logits) memcpy(step_logits + ((size_t)b * S + s) * V, logits + (size_t)b * V, V * sizeof(float));
        }
        if (qn_llm_gen_step(gen, B, S, s, tok, done, new_tokens)) {
            s++;
            break;
        }
    }
    if (s <= 1) m->prefill_s = qn_clock_monotonic_s() - t0;
    else m->decode_s = qn_clock_monotonic_s() - t0;
out:
    m->pad = NULL; // borrowed for this run only
    free(hidden), free(logits), free(tok), free(done);
    return rc;
}

int qn_llm_perplexity_windows(const qn_llm_ppl_backend *be, int vocab, const int32_t *tokens, int n, int context,
                              int stride, float *logits, double *ppl, long *scored, char *err, size_t errlen) {
    double nll = 0.0;
    long count = 0;
    int prev_end = 0, rc;
    for (int begin = 0; begin < n; begin += stride) {
        int end = begin + context < n ? begin + context : n, len = end - begin;
        int trg = end - prev_end; // the last trg tokens of the window are targets (the rest: -100)
        if ((rc = be->forward(be->ctx, tokens + begin, len, err, errlen)) != 0) return rc;
        // position i predicts token i+1; it counts when that token is a target and not the window's first
        int first = len - trg > 1 ? len - trg - 1 : 0;
        for (int r0 = first; r0 < len - 1; r0 += QN_LLM_PPL_ROWS) {
            int rows = len - 1 - r0 < QN_LLM_PPL_ROWS ? len - 1 - r0 : QN_LLM_PPL_ROWS;
            if ((rc = be->logits(be->ctx, r0, rows, logits, err, errlen)) != 0) return rc;
            for (int r = 0; r < rows; r++) {
                const float *z = logits + (size_t)r * vocab;
                float mx = -FLT_MAX;
                for (int j = 0; j < vocab; j++) mx = z[j] > mx ? z[j] : mx;
                double sum = 0.0;
                for (int j = 0; j < vocab; j++) sum += exp((double)z[j] - mx);
                nll += log(sum) + mx - z[tokens[begin + r0 + r + 1]];
                count++;
            }
        }
        prev_end = end;
        if (end == n) break;
    }
    *ppl = exp(nll / (double)count);
    *scored = count;
    return 0;
}

/* The CPU backend's window: the hidden states of every position, their logits a block of rows at a
 * time (bounds the memory a long window needs with a large vocabulary). */
typedef struct {
    qn_llm *m;
    float *hidden;
} cpu_window;

static int cpu_forward(void *ctx, const int32_t *ids, int len, char *err, size_t errlen) {
    cpu_window *w = ctx;
    w->m->pos = 0;
    return qn_llm_forward(w->m, ids, len, w->hidden, err, errlen);
}

static int cpu_logits(void *ctx, int r0, int rows, float *out, char *err, size_t errlen) {
    (void)err, (void)errlen;
    cpu_window *w = ctx;
    qn_llm_logits(w->m, w->hidden + (size_t)r0 * w->m->cfg.hidden, rows, out);
    return 0;
}

int qn_llm_perplexity(qn_llm *m, const int32_t *tokens, int n, int context, int stride, double *ppl, long *scored,
                      char *err, size_t errlen) {
    const int C = m->cfg.hidden, V = m->cfg.vocab_size;
    if (n < 2 || context < 2 || stride < 1 || stride > context) {
        snprintf(err, errlen, "perplexity needs at least 2 tokens, a context >= 2 and 1 <= stride <= context");
        return 2;
    }
    if (context > n) context = n;
    int rc = qn_llm_reset(m, 1, context, err, errlen);
    if (rc) return rc;
    cpu_window w = {m, malloc((size_t)context * C * sizeof(float))};
    float *logits = malloc((size_t)QN_LLM_PPL_ROWS * V * sizeof(float));
    if (!w.hidden || !logits) {
        snprintf(err, errlen, "out of memory");
        rc = 2;
    } else {
        qn_llm_ppl_backend be = {&w, cpu_forward, cpu_logits};
        rc = qn_llm_perplexity_windows(&be, V, tokens, n, context, stride, logits, ppl, scored, err, errlen);
    }
    free(w.hidden), free(logits);
    return rc;
}
