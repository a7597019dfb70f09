/* attention.c: the core of BERT's multi-head self-attention, forward and backward: per head,
 * softmax(Q K^T / sqrt(HS) + padding mask) V. The mask is Hugging Face's additive one,
 * (1 - mask) * (most negative float), so padded keys get probability exactly 0. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_nn.h"

/* q, k, v, out (B,T,C) with head h at columns [h*HS, (h+1)*HS); att (B,NH,T,T) */
void qn_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          const int32_t *mask, int B, int T, int C, int NH) {
    const int HS = C / NH;
    const float scale = 1.0f / sqrtf((float)HS);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *qt = q + ((size_t)b * T + t) * C + (size_t)h * HS;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    const float *kj = k + ((size_t)b * T + j) * C + (size_t)h * HS;
                    float dot = 0.0f;
                    for (int d = 0; d < HS; d++) dot += qt[d] * kj[d];
                    float s = dot * scale;
                    if (mask && !mask[(size_t)b * T + j]) s += -FLT_MAX;
                    a[j] = s;
                    mx = s > mx ? s : mx;
                }
                float sum = 0.0f;
                for (int j = 0; j < T; j++) sum += (a[j] = expf(a[j] - mx));
                const float inv = 1.0f / sum;
                for (int j = 0; j < T; j++) a[j] *= inv;
                float *ot = out + ((size_t)b * T + t) * C + (size_t)h * HS;
                memset(ot, 0, (size_t)HS * sizeof(float));
                for (int j = 0; j < T; j++) {
                    const float *vj = v + ((size_t)b * T + j) * C + (size_t)h * HS;
                    for (int d = 0; d < HS; d++) ot[d] += a[j] * vj[d];
                }
            }
}

void qn_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att, const float *q,
                           const float *k, const float *v, int B, int T, int C, int NH) {
    const int HS = C / NH;
    const float scale = 1.0f / sqrtf((float)HS);
    float *datt = malloc((size_t)T * sizeof *datt); /* one row of score gradients */
    if (!datt) return; /* nothing sensible to do without memory; callers size T by data.max_len */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                const float *dot = dout + ((size_t)b * T + t) * C + (size_t)h * HS;
                /* out = att V: datt = dout V^T, dV += att^T dout */
                float dsum = 0.0f;
                for (int j = 0; j < T; j++) {
                    const float *vj = v + ((size_t)b * T + j) * C + (size_t)h * HS;
                    float *dvj = dv + ((size_t)b * T + j) * C + (size_t)h * HS;
                    float s = 0.0f;
                    for (int d = 0; d < HS; d++) {
                        s += dot[d] * vj[d];
                        dvj[d] += a[j] * dot[d];
                    }
                    datt[j] = s;
                    dsum += a[j] * s;
                }
                /* softmax: dscore = att * (datt - sum(att * datt)); scores = scale * q k^T */
                const float *qt = q + ((size_t)b * T + t) * C + (size_t)h * HS;
                float *dqt = dq + ((size_t)b * T + t) * C + (size_t)h * HS;
                for (int j = 0; j < T; j++) {
                    float ds = a[j] * (datt[j] - dsum) * scale;
                    if (ds == 0.0f) continue;
                    const float *kj = k + ((size_t)b * T + j) * C + (size_t)h * HS;
                    float *dkj = dk + ((size_t)b * T + j) * C + (size_t)h * HS;
                    for (int d = 0; d < HS; d++) {
                        dqt[d] += ds * kj[d];
                        dkj[d] += ds * qt[d];
                    }
                }
            }
    free(datt);
}
