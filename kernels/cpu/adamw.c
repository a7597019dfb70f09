/* adamw.c: one AdamW step, as torch.optim.AdamW (amsgrad off): decoupled weight decay first, then
 * the Adam update with bias correction. Bias corrections are computed in double and used as float,
 * as PyTorch's single-tensor path does with Python floats. */
#include <math.h>

#include "qn_kernels.h"

void qn_adamw_step(float *p, const float *g, float *m, float *v, const uint8_t *mask, size_t n, float lr,
                   float beta1, float beta2, float eps, float weight_decay, int t) {
    const float decay = 1.0f - lr * weight_decay;
    const double bc1 = 1.0 - pow((double)beta1, t);
    const double bc2 = 1.0 - pow((double)beta2, t);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    for (size_t i = 0; i < n; i++) {
        float pi = p[i] * decay;
        float mi = beta1 * m[i] + (1.0f - beta1) * g[i];
        float vi = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        pi -= step_size * mi / denom;
        p[i] = (mask && !mask[i]) ? 0.0f : pi; /* pruned weights stay exactly zero */
    }
}
