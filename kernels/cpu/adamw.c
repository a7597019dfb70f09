/* adamw.c: one AdamW step, as torch.optim.AdamW (amsgrad off): decoupled weight decay first, then
 * the Adam update with bias correction. Bias corrections are computed in double and used as float,
 * as PyTorch's single-tensor path does with Python floats; the first moment is a lerp, as there. */
#include <math.h>

#include "qn_kernels.h"

void qn_adamw_step(float *p, const float *g, float *m, float *v, const uint8_t *mask, size_t n, float lr,
                   float beta1, float beta2, float eps, float weight_decay, int t) {
    const float decay = (float)(1.0 - (double)lr * (double)weight_decay);
    const double bc1 = 1.0 - pow((double)beta1, t);
    const double bc2 = 1.0 - pow((double)beta2, t);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float lerp_weight = 1.0f - beta1;
    for (size_t i = 0; i < n; i++) {
        float pi = p[i] * decay;
        /* exp_avg.lerp_(grad, 1 - beta1), with torch.lerp's two-sided formula */
        float mi = lerp_weight < 0.5f ? m[i] + lerp_weight * (g[i] - m[i]) : g[i] - (g[i] - m[i]) * (1.0f - lerp_weight);
        float vi = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        pi -= step_size * mi / denom;
        p[i] = (mask && !mask[i]) ? 0.0f : pi; /* pruned weights stay exactly zero */
    }
}
