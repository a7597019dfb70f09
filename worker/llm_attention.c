/* llm_attention.c: causal grouped-query attention over the KV cache, as transformers' eager
 * attention: softmax(q k^T / sqrt(HD) + causal mask) v in float32, query head h reading key/value
 * head h / (NH/NKV) (repeat_kv). Scores and the weighted sum go through the GEMM, one query head of
 * one sequence at a time. */
#include <math.h>
#include <string.h>

#include "llm.h"
#include "qn_kernels.h"

/* The cache of layer l, sequence b, kv head g: (Tmax, HD). */
static float *cache_at(const qn_llm *m, float *cache, int l, int b, int g) {
    const qn_llm_config *c = &m->cfg;
    return cache + ((((size_t)l * m->B + b) * c->kv_heads + g) * m->Tmax) * c->head_dim;
}

void qn_llm_attention(qn_llm *m, int l, float *qkv, int n, int pos0, float *out, float *scores) {
    const qn_llm_config *c = &m->cfg;
    const int NH = c->heads, NKV = c->kv_heads, HD = c->head_dim, B = m->B;
    const int QKV = (NH + 2 * NKV) * HD, len = pos0 + n, group = NH / NKV;
    const float scale = 1.0f / sqrtf((float)HD);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < n; t++) {
            float *row = qkv + ((size_t)b * n + t) * QKV;
            qn_llm_rope_apply(row, NH, HD, c->rotary_dim, m->inv_freq, pos0 + t);           // q
            qn_llm_rope_apply(row + NH * HD, NKV, HD, c->rotary_dim, m->inv_freq, pos0 + t); // k
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
                int visible = pos0 + t + 1; // causal: keys 0..pos0+t
                float mx = -INFINITY, sum = 0.0f;
                for (int j = 0; j < visible; j++) mx = s[j] > mx ? s[j] : mx;
                for (int j = 0; j < visible; j++) sum += (s[j] = expf(s[j] - mx));
                for (int j = 0; j < visible; j++) s[j] /= sum;
                for (int j = visible; j < len; j++) s[j] = 0.0f;
            }
            // out (n,HD) = att (n,len) V (len,HD), head h's columns of (B,n,NH*HD)
            qn_sgemm(0, 0, n, HD, len, 1.0f, scores, len, V, HD, 0.0f, out + (size_t)b * n * NH * HD + (size_t)h * HD,
                     NH * HD);
        }
}
