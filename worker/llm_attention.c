/* llm_attention.c: causal grouped-query attention over the KV cache, as transformers' eager
 * attention: softmax(q k^T / sqrt(HD) + mask) v in float32, query head h reading key/value head
 * h / (NH/NKV) (repeat_kv). Scores and the weighted sum go through the GEMM, one query head of one
 * sequence at a time, the heads shared among the decoder's threads (qn_llm_set_threads). The mask
 * (qn_llm_visible_keys) is causal, Phi-3's sliding window, and left padding; padded sequences take
 * their positions from their first real token. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "qn_kernels.h"

/* The cache of layer l, sequence b, kv head g: (Tmax, HD). */
static float *cache_at(const qn_llm *m, float *cache, int l, int b, int g) {
    const qn_llm_config *c = &m->cfg;
    return cache + ((((size_t)l * m->B + b) * c->kv_heads + g) * m->Tmax) * c->head_dim;
}

int qn_llm_position(const qn_llm *m, int b, int i) {
    const int pad = m->pad ? m->pad[b] : 0;
    return i >= pad ? i - pad : 1; // transformers: cumsum(mask) - 1, pads filled with 1
}

int qn_llm_visible_keys(const qn_llm *m, int b, int q) {
    int lo = m->pad ? m->pad[b] : 0;                    // padded keys are masked for every query
    const int W = m->cfg.sliding_window;
    if (W > 0 && q - W + 1 > lo) lo = q - W + 1;        // sliding window: q - W < k
    return lo <= q ? lo : q; // a pad query (all its keys padded) sees itself alone: finite, never used
}

/* Below this many multiply-adds (per product) the heads stay on one thread. */
#define ATTENTION_THREAD_MIN_WORK (1 << 17)

typedef struct {
    qn_llm *m;
    int l;
    const float *qkv;
    int n, pos0;
    float *out, *scores;
} heads_job;

/* Heads [lo, hi) of (B, NH), each as one query head of one sequence: scores, masked softmax, and the
 * weighted sum of V. Every head is computed the same way whichever thread runs it. */
static void attend_heads(void *arg, size_t lo, size_t hi) {
    const heads_job *j = arg;
    qn_llm *m = j->m;
    const qn_llm_config *c = &m->cfg;
    const int NH = c->heads, NKV = c->kv_heads, HD = c->head_dim, n = j->n, pos0 = j->pos0, l = j->l;
    const int QKV = (NH + 2 * NKV) * HD, len = pos0 + n, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HD);
    /* the caller's scratch when one call takes every head, else one of this call's own */
    const int whole = lo == 0 && hi == (size_t)m->B * NH;
    float *scores = whole ? j->scores : malloc((size_t)n * len * sizeof(float));
    for (size_t bh = lo; bh < hi; bh++) {
        const int b = (int)(bh / NH), h = (int)(bh % NH);
        float *o = j->out + (size_t)b * n * NH * HD + (size_t)h * HD;
        if (!scores) { /* out of memory: visibly wrong */
            for (int t = 0; t < n; t++)
                for (int d = 0; d < HD; d++) o[(size_t)t * NH * HD + d] = NAN;
            continue;
        }
        const float *q = j->qkv + (size_t)b * n * QKV + (size_t)h * HD;
        const float *K = cache_at(m, m->kcache, l, b, h / group), *V = cache_at(m, m->vcache, l, b, h / group);
        // scores (n, len) = q (n,HD) K^T (HD,len) / sqrt(HD)
        qn_sgemm(0, 1, n, len, HD, scale, q, QKV, K, HD, 0.0f, scores, len);
        for (int t = 0; t < n; t++) {
            float *s = scores + (size_t)t * len;
            const int klo = qn_llm_visible_keys(m, b, pos0 + t), khi = pos0 + t + 1; // keys [klo, khi)
            float mx = -INFINITY, sum = 0.0f;
            for (int k = klo; k < khi; k++) mx = s[k] > mx ? s[k] : mx;
            for (int k = klo; k < khi; k++) sum += (s[k] = expf(s[k] - mx));
            for (int k = klo; k < khi; k++) s[k] /= sum;
            for (int k = 0; k < klo; k++) s[k] = 0.0f;
            for (int k = khi; k < len; k++) s[k] = 0.0f;
        }
        // out (n,HD) = att (n,len) V (len,HD), head h's columns of (B,n,NH*HD)
        qn_sgemm(0, 0, n, HD, len, 1.0f, scores, len, V, HD, 0.0f, o, NH * HD);
    }
    if (!whole) free(scores);
}

void qn_llm_attention(qn_llm *m, int l, float *qkv, int n, int pos0, float *out, float *scores) {
    const qn_llm_config *c = &m->cfg;
    const int NH = c->heads, NKV = c->kv_heads, HD = c->head_dim, B = m->B;
    const int QKV = (NH + 2 * NKV) * HD, len = pos0 + n;
    const float af = (float)c->rope_attention_factor;
    const float *inv_freq = m->inv_freq + qn_llm_rope_long(c, m->pad, B, len - 1) * (c->rotary_dim / 2);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < n; t++) {
            float *row = qkv + ((size_t)b * n + t) * QKV;
            const int pos = qn_llm_position(m, b, pos0 + t);
            qn_llm_rope_apply(row, NH, HD, c->rotary_dim, inv_freq, af, pos);           // q
            qn_llm_rope_apply(row + NH * HD, NKV, HD, c->rotary_dim, inv_freq, af, pos); // k
            for (int g = 0; g < NKV; g++) {
                memcpy(cache_at(m, m->kcache, l, b, g) + (size_t)(pos0 + t) * HD, row + (NH + g) * HD, HD * sizeof(float));
                memcpy(cache_at(m, m->vcache, l, b, g) + (size_t)(pos0 + t) * HD, row + (NH + NKV + g) * HD,
                       HD * sizeof(float));
            }
        }
    heads_job job = {m, l, qkv, n, pos0, out, scores};
    const size_t work = (size_t)B * NH * n * len * HD, heads = (size_t)B * NH;
    /* the (sequence, head) pairs on the decoder's threads, each whole on one of them; short ones on one */
    qn_parallel_blocks(heads, 1, work < ATTENTION_THREAD_MIN_WORK ? 1 : qn_llm_threads(), attend_heads, &job);
}
