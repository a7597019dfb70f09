/* llm_generate.c: what users run a decoder for: greedy generation with the KV cache (prefill the
 * prompts, then one token at a time), and perplexity with a sliding window as Hugging Face's
 * perplexity guide computes it. */
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

int qn_llm_generate_greedy(qn_llm *m, const int32_t *prompts, int B, int T, int S, int32_t *new_tokens,
                           float *prompt_logits, float *step_logits, char *err, size_t errlen) {
    const int C = m->cfg.hidden, V = m->cfg.vocab_size;
    int rc = qn_llm_reset(m, B, T + (S > 1 ? S - 1 : 0), err, errlen);
    if (rc) return rc;
    float *hidden = malloc((size_t)B * T * C * sizeof(float)), *logits = malloc((size_t)B * V * sizeof(float));
    int32_t *tok = malloc((size_t)B * sizeof(int32_t));
    if (!hidden || !logits || !tok) {
        snprintf(err, errlen, "out of memory");
        rc = 2;
        goto out;
    }
    m->prefill_s = m->decode_s = 0.0;
    double t0 = qn_clock_monotonic_s();
    if ((rc = qn_llm_forward(m, prompts, T, hidden, err, errlen)) != 0) goto out; // prefill (B,T,C)
    if (prompt_logits) qn_llm_logits(m, hidden, B * T, prompt_logits);
    for (int s = 0; s < S; s++) {
        if (s == 1) m->prefill_s = qn_clock_monotonic_s() - t0, t0 = qn_clock_monotonic_s(); // prefill up to the first token's logits
        if (s > 0 && (rc = qn_llm_forward(m, tok, 1, hidden, err, errlen)) != 0) goto out; // decode (B,1,C)
        for (int b = 0; b < B; b++) {
            const float *last = hidden + ((size_t)b * (s ? 1 : T) + (s ? 0 : T - 1)) * C;
            qn_llm_logits(m, last, 1, logits + (size_t)b * V);
            tok[b] = new_tokens[(size_t)b * S + s] = argmax(logits + (size_t)b * V, V);
            if (step_logits) memcpy(step_logits + ((size_t)b * S + s) * V, logits + (size_t)b * V, V * sizeof(float));
        }
    }
    if (S <= 1) m->prefill_s = qn_clock_monotonic_s() - t0;
    else m->decode_s = qn_clock_monotonic_s() - t0;
out:
    free(hidden), free(logits), free(tok);
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
