/* activations.c: GELU (BERT's exact erf form) and tanh, forward and backward. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "parallel.h"
#include "qn_nn.h"

/* GELU needs Phi(x) = 0.5 erfc(-x / sqrt 2) for every element of (B*T, I), the largest activation:
 * libm's erff per element was a tenth of a training step. Here Phi comes from a branch-free float
 * formula that the compiler vectorizes (one clone per ISA; no contraction, so every clone gives the
 * same floats): for u = |x| / sqrt 2,
 *   erfc(u) = t exp(-u^2) Q(t),  t = 1 / (1 + p u),
 * the form of Abramowitz and Stegun 7.1.26 (p = 0.3275911) with Q, a polynomial of degree 9 in
 * s = 1 - t, fitted by Chebyshev interpolation of erfc(u) exp(u^2) / t for u in [0, 9.5] (beyond,
 * Phi is 0 or 1 in float): error below 3e-9. In s, Q starts at 1 with terms that shrink where
 * exp(-u^2) is large, so float rounding stays small where it matters. Evaluated in float, Phi is within a few units in the last place (absolute error
 * under 1e-7, relative error under 1e-6 in the negative tail), as accurate as PyTorch's float
 * GELU, which forms 1 + erf(x / sqrt 2) and so has no relative accuracy in that tail. The same
 * exponential exp(-x^2 / 2) gives the density for the backward. */
#define INV_SQRT2 0.70710678f
#define INV_SQRT_2PI 0.39894228f

/* exp(y) for y <= 0: 2^k times a degree-7 Taylor polynomial of r, |r| <= ln2 / 2 (error ~5e-9);
 * y below -87 (exp(y) under float's smallest normal) gives 0. */
static inline float exp_neg(float y) {
    const float yc = y < -87.0f ? -87.0f : y;
    const float shift = 0x1.8p23f; /* adding it rounds to an integer, left in the low mantissa bits */
    float kf = yc * 1.44269504f + shift;
    int32_t bits;
    memcpy(&bits, &kf, sizeof bits);
    kf -= shift;
    /* ln 2 split so that kf * hi is exact for |k| <= 127 */
    const float r = (yc - kf * 0.693359375f) - kf * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f, p = p * r + 1.0f / 120.0f, p = p * r + 1.0f / 24.0f, p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f, p = p * r + 1.0f, p = p * r + 1.0f;
    /* 2^k: k sits in bits' low bits (two's complement for k < 0, hence the unsigned arithmetic) */
    const uint32_t e = ((uint32_t)bits + 127u) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return y < -87.0f ? 0.0f : p * scale;
}

/* Phi(x), given e = exp(-x^2 / 2) */
static inline float normal_cdf(float x, float e) {
    static const float Q[10] = {1.0f,          -2.44447453f,  3.42933741f, -2.77640741f,  0.957281900f,
                                0.295306659f,  -0.271905499f, -0.150214208f, 0.206362137f, -0.0605253945f};
    float u = (x < 0.0f ? -x : x) * INV_SQRT2;
    u = u > 9.5f ? 9.5f : u; /* the fitted range; e is 0 beyond it in any case */
    /* s = 1 - t, but formed as p u t: 1 + p u has lost p u's low bits, and Q is steep in s */
    const float pu = 0.3275911f * u, t = 1.0f / (1.0f + pu), s = pu * t;
    float q = Q[9];
    for (int i = 8; i >= 0; i--) q = q * s + Q[i];
    const float half_erfc = 0.5f * t * e * q;
    return x < 0.0f ? half_erfc : 1.0f - half_erfc;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QN_CLONES
#endif

QN_CLONES static void gelu_forward(float *restrict out, const float *restrict inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i];
        out[i] = x * normal_cdf(x, exp_neg(-0.5f * (x * x)));
    }
}

/* dout * GELU'(x) */
static inline float gelu_grad(float x, float dout) {
    const float e = exp_neg(-0.5f * (x * x));
    return dout * (normal_cdf(x, e) + x * (INV_SQRT_2PI * e));
}

/* dinp += (accumulate) or = dout * GELU'(x): two loops, so that the storing one never reads dinp */
QN_CLONES static void gelu_backward(float *restrict dinp, const float *restrict inp, const float *restrict dout,
                                    size_t n, int accumulate) {
    if (accumulate)
        for (size_t i = 0; i < n; i++) dinp[i] += gelu_grad(inp[i], dout[i]);
    else
        for (size_t i = 0; i < n; i++) dinp[i] = gelu_grad(inp[i], dout[i]);
}

/* d = d * GELU'(x) in place (the GEMM's output block it was stored in): the floats of gelu_backward */
QN_CLONES static void gelu_backward_in_place(float *d, const float *restrict inp, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = gelu_grad(inp[i], d[i]);
}

/* chunks of elements on the kernels' threads (elementwise: any split gives the same floats) */
typedef struct {
    float *out;
    const float *inp, *dout;
    int accumulate;
} gelu_args;
enum { GELU_CHUNK = 1 << 14 };

static void gelu_forward_chunk(void *ctx, size_t lo, size_t hi) {
    const gelu_args *a = ctx;
    gelu_forward(a->out + lo, a->inp + lo, hi - lo);
}

static void gelu_backward_chunk(void *ctx, size_t lo, size_t hi) {
    const gelu_args *a = ctx;
    gelu_backward(a->out + lo, a->inp + lo, a->dout + lo, hi - lo, a->accumulate);
}

void qn_gelu_forward(float *out, const float *inp, size_t n) {
    gelu_args a = {out, inp, NULL, 0};
    qn_parallel_for(n, GELU_CHUNK, gelu_forward_chunk, &a);
}

void qn_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    gelu_args a = {dinp, inp, dout, 1};
    qn_parallel_for(n, GELU_CHUNK, gelu_backward_chunk, &a);
}

void qn_gelu_backward_write(float *dinp, const float *inp, const float *dout, size_t n) {
    gelu_args a = {dinp, inp, dout, 0};
    qn_parallel_for(n, GELU_CHUNK, gelu_backward_chunk, &a);
}

void qn_gelu_forward_rows(float *out, size_t ldo, const float *inp, size_t ldi, int rows, int cols) {
    for (int r = 0; r < rows; r++) gelu_forward(out + (size_t)r * ldo, inp + (size_t)r * ldi, (size_t)cols);
}

void qn_gelu_backward_in_place_rows(float *d, size_t ldd, const float *inp, size_t ldi, int rows, int cols) {
    for (int r = 0; r < rows; r++) gelu_backward_in_place(d + (size_t)r * ldd, inp + (size_t)r * ldi, (size_t)cols);
}

void qn_tanh_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
}

void qn_tanh_backward(float *dinp, const float *out, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}
