/* llm_ops.c: the decoder's elementwise ops and norms: RMSNorm, SwiGLU, gelu_new and rotary position
 * embeddings (with Llama's linear and Llama 3's scaling and Phi-3's longrope), each as transformers
 * computes it in float32. */
#include <math.h>

#include "llm.h"

void qn_llm_rmsnorm(float *out, const float *x, const float *w, int M, int C, float eps) {
    for (int i = 0; i < M; i++) {
        const float *xi = x + (size_t)i * C;
        float *oi = out + (size_t)i * C;
        float ss = 0.0f; // LlamaRMSNorm: variance = x.pow(2).mean(-1) in float32
        for (int j = 0; j < C; j++) ss += xi[j] * xi[j];
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        for (int j = 0; j < C; j++) oi[j] = w[j] * (xi[j] * r);
    }
}

void qn_llm_swiglu(float *out, const float *gu, int M, int I) {
    for (int i = 0; i < M; i++) {
        const float *g = gu + (size_t)i * 2 * I, *u = g + I;
        float *o = out + (size_t)i * I;
        for (int j = 0; j < I; j++) o[j] = g[j] / (1.0f + expf(-g[j])) * u[j];
    }
}

void qn_llm_gelu_tanh(float *x, size_t n) {
    // NewGELUActivation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    const float k = 0.7978845608028654f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

void qn_llm_rope_inv_freq(const qn_llm_config *c, float *inv_freq) {
    const int RD = c->rotary_dim, half = RD / 2;
    for (int i = 0; i < half; i++) {
        if (c->rope_longrope) {
            // _compute_longrope_parameters: 1 / (ext_factors * theta^(arange(0, dim, 2) / dim)) in float32
            const float p = (float)pow(c->rope_theta, (double)((float)(2 * i) / (float)RD));
            inv_freq[i] = 1.0f / (c->rope_short_factor[i] * p);
            inv_freq[half + i] = 1.0f / (c->rope_long_factor[i] * p);
            continue;
        }
        // 1 / theta^(2i/RD), in float32 as transformers' default rope init
        float f = (float)(1.0 / pow(c->rope_theta, (double)(float)(2 * i) / RD));
        if (c->rope_llama3) {
            // _compute_llama3_parameters: long wavelengths divided by factor, short ones kept, a
            // smooth blend between
            double old = c->rope_original_max_position;
            double low_wl = old / c->rope_low_freq_factor, high_wl = old / c->rope_high_freq_factor;
            double wl = 2.0 * M_PI / f, out = f;
            if (wl > low_wl) out = f / c->rope_factor;
            else if (wl >= high_wl) {
                double s = (old / wl - c->rope_low_freq_factor) / (c->rope_high_freq_factor - c->rope_low_freq_factor);
                out = (1.0 - s) * f / c->rope_factor + s * f;
            }
            f = (float)out;
        }
        if (c->rope_linear) f /= (float)c->rope_factor; // positions / factor, as inv_freq / factor
        inv_freq[i] = inv_freq[half + i] = f;
    }
}

int qn_llm_rope_long(const qn_llm_config *c, const int32_t *pad, int B, int last) {
    if (!c->rope_longrope) return 0;
    int min_pad = 0; // the least padded sequence holds the largest position
    for (int b = 0; pad && b < B; b++)
        if (b == 0 || pad[b] < min_pad) min_pad = pad[b];
    return last - min_pad + 1 > c->rope_original_max_position;
}

int qn_llm_rope_recompute(const qn_llm_config *c, int T, int s) {
    // the cache holds T+s-1 <= original_max tokens and the sequence reaches original_max + 1
    return c->rope_longrope && s >= 1 && T + s == c->rope_original_max_position + 1;
}

void qn_llm_rope_apply(float *x, int nheads, int HD, int RD, const float *inv_freq, float attention_factor, int pos) {
    int half = RD / 2;
    for (int i = 0; i < half; i++) {
        float ang = (float)pos * inv_freq[i]; // freqs = position x inv_freq in float32
        float c = cosf(ang) * attention_factor, s = sinf(ang) * attention_factor;
        for (int h = 0; h < nheads; h++) {
            float *xh = x + (size_t)h * HD;
            // x*cos + rotate_half(x)*sin, rotate_half(x) = cat(-x2, x1)
            float x1 = xh[i], x2 = xh[i + half];
            xh[i] = x1 * c - x2 * s;
            xh[i + half] = x2 * c + x1 * s;
        }
    }
}
