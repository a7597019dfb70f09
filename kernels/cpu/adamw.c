/* adamw.c: one AdamW step, as torch.optim.AdamW (amsgrad off): decoupled weight decay first, then
 * the Adam update with bias correction. An optional per-element decay mask gives torch's two param
 * groups as Hugging Face's Trainer builds them (weight_decay 0 for biases and LayerNorm parameters):
 * p * 1.0f is p exactly, so an undecayed element gets torch's weight_decay=0 floats. Bias corrections are computed in double and used as float,
 * as PyTorch's single-tensor path does with Python floats; the first moment is a lerp, as there. */
#include <math.h>

#include "parallel.h"
#include "qn_kernels.h"

typedef struct {
    float *p, *m, *v;
    const float *g;
    const uint8_t *mask, *decays;
    float decay, step_size, bc2_sqrt, lerp_weight, beta2, eps;
} adamw_args;

/* One clone per instruction set (the baseline compiles this loop to 4-wide SSE; over BERT's 4.4M
 * parameters it is bound by memory either way, but the wider clones issue a quarter of the
 * instructions); the operations are IEEE's (no contraction in C17 mode, sqrt and division correctly
 * rounded), so every clone gives the same floats. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QN_CLONES
#endif

/* elements [lo, hi): each on its own, so any split over threads gives the same floats */
QN_CLONES static void adamw_elements(const adamw_args *a, size_t lo, size_t hi) {
    float *restrict p = a->p, *restrict m = a->m, *restrict v = a->v;
    const float *restrict g = a->g;
    const uint8_t *mask = a->mask, *decays = a->decays;
    const float decay = a->decay, step_size = a->step_size, bc2_sqrt = a->bc2_sqrt, lerp_weight = a->lerp_weight;
    const float beta2 = a->beta2, eps = a->eps;
    for (size_t i = lo; i < hi; i++) {
        float pi = p[i] * ((decays && !decays[i]) ? 1.0f : decay);
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

static void adamw_chunk(void *ctx, size_t lo, size_t hi) { adamw_elements(ctx, lo, hi); }

void qn_adamw_step_groups(float *p, const float *g, float *m, float *v, const uint8_t *mask, const uint8_t *decays,
                          size_t n, float lr, float beta1, float beta2, float eps, float weight_decay, int t) {
    const double bc1 = 1.0 - pow((double)beta1, t);
    const double bc2 = 1.0 - pow((double)beta2, t);
    adamw_args a = {p, m, v, g, mask, decays, (float)(1.0 - (double)lr * (double)weight_decay), (float)(lr / bc1),
                    (float)sqrt(bc2), 1.0f - beta1, beta2, eps};
    qn_parallel_for(n, 1 << 16, adamw_chunk, &a);
}

void qn_adamw_step(float *p, const float *g, float *m, float *v, const uint8_t *mask, size_t n, float lr,
                   float beta1, float beta2, float eps, float weight_decay, int t) {
    qn_adamw_step_groups(p, g, m, v, mask, NULL, n, lr, beta1, beta2, eps, weight_decay, t);
}
