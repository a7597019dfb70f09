/* llm_attention.c: causal grouped-query attention over the KV cache, as transformers' eager
 * attention: softmax(q k^T / sqrt(HD) + mask) v in float32, query head h reading key/value head
 * h / (NH/NKV) (repeat_kv). Scores and the weighted sum go through the GEMM, one query head of one
 * sequence at a time. The mask (qn_llm_visible_keys) is causal, Phi-3's sliding window, and left
 * padding; padded sequences take their positions from their first real token. */
#include <math.h>
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

void qn_llm_attention(qn_llm *m, int l, float *qkv, int n, int pos0, float *out, float *scores) {
    const qn_llm_config *c = &m->cfg;
    const int NH = c->heads, NKV = c->kv_heads, HD = c->head_dim, B = m->B;
    const int QKV = (NH + 2 * NKV) * HD, len = pos0 + n, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HD), af = (float)c->rope_attention_factor;
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
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * n * QKV + (size_t)h * HD;
            const float *K = cache_at(m, m->kcache, l, b, h / group), *V = cache_at(m, m->vcache, l, b, h / group);
            // scores (n, len) = q (n,HD) K^T (HD,len) / sqrt(HD)
            qn_sgemm(0, 1, n, len, HD, scale, q, QKV, K, HD, 0.0f, scores, len);
            for (int t = 0; t < n; t++) {
                float *s = scores + (size_t)t * len;
                const int lo = qn_llm_visible_keys(m, b, pos0 + t), hi = pos0 + t + 1; // keys [lo, hi)
                float mx = -INFINITY, sum = 0.0f;
                for (int j = lo; j < hi; j++) mx = s[j] > mx ? s[j] : mx;
                for (int j = lo; j < hi; j++) sum += (s[j] = expf(s[j] - mx));
                for (int j = lo; j < hi; j++) s[j] /= sum;
                for (int j = 0; j < lo; j++) s[j] = 0.0f;
                for (int j = hi; j < len; j++) s[j] = 0.0f;
            }
            // out (n,HD) = att (n,len) V (len,HD), head h's columns of (B,n,NH*HD)
            qn_sgemm(0, 0, n, HD, len, 1.0f, scores, len, V, HD, 0.0f, out + (size_t)b * n * NH * HD + (size_t)h * HD,
                     NH * HD);
        }
}
