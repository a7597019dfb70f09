/* layernorm.c: LayerNorm over the last axis (torch.nn.LayerNorm: biased variance, eps inside the
 * square root), forward and backward. Statistics are accumulated in double and stored as float. */
#include <math.h>

#include "qn_nn.h"

void qn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                          const float *bias, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        double m = 0.0;
        for (int i = 0; i < C; i++) m += x[i];
        m /= C;
        double var = 0.0;
        for (int i = 0; i < C; i++) var += (x[i] - m) * (x[i] - m);
        var /= C;
        float s = (float)(1.0 / sqrt(var + eps));
        for (int i = 0; i < C; i++) o[i] = ((x[i] - (float)m) * s) * weight[i] + bias[i];
        mean[n] = (float)m;
        rstd[n] = s;
    }
}

void qn_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, const float *mean, const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        const float m = mean[n], s = rstd[n];
        /* dnorm = dout * weight; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) */
        double sum_dnorm = 0.0, sum_dnorm_norm = 0.0;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s, dnorm = d[i] * weight[i];
            sum_dnorm += dnorm;
            sum_dnorm_norm += (double)dnorm * norm;
        }
        const float mean_dnorm = (float)(sum_dnorm / C), mean_dnorm_norm = (float)(sum_dnorm_norm / C);
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s, dnorm = d[i] * weight[i];
            dbias[i] += d[i];
            dweight[i] += d[i] * norm;
            dx[i] += s * (dnorm - mean_dnorm - norm * mean_dnorm_norm);
        }
    }
}
