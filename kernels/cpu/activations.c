/* activations.c: GELU (BERT's exact erf form) and tanh, forward and backward. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "parallel.h"
#include "qn_nn.h"

/* GELU needs Phi(x) = 0.5 erfc(-x / sqrt 2) for every element of (B*T, I), the largest activation:
 * libm's erff per element was a tenth of a training step. Here Phi comes from a branch-free
 * formula evaluated in double, which the compiler vectorizes (one clone per ISA):
 *   erfc(z) = t exp(-z^2 + P(t)),  t = 1 / (1 + z/2),  z >= 0,
 * the form of Numerical Recipes' erfcc with P (degree 12) refitted by least squares against
 * erfc in double: relative error below 4e-9 for every z, so Phi and GELU are correctly rounded
 * floats but for rare last-bit ties, negative tails included. exp is computed the same way
 * (2^k times a degree-11 Taylor polynomial, |r| <= ln2/2: error ~1e-13). */
#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* exp(y) for y <= 700 (y below -700 gives exp(-700), which rounds to 0 as a float all the same) */
static inline double exp_d(double y) {
    y = y < -700.0 ? -700.0 : y;
    const double shift = 0x1.8p52; /* adding it rounds to an integer, left in the low mantissa bits */
    double kd = y * 1.4426950408889634074 + shift;
    int64_t bits;
    memcpy(&bits, &kd, sizeof bits);
    kd -= shift;
    const double r = (y - kd * 6.93147180369123816490e-01) - kd * 1.90821492927058770002e-10; /* ln 2, hi + lo */
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0, p = p * r + 1.0 / 362880.0, p = p * r + 1.0 / 40320.0, p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0, p = p * r + 1.0 / 120.0, p = p * r + 1.0 / 24.0, p = p * r + 1.0 / 6.0;
    p = p * r + 0.5, p = p * r + 1.0, p = p * r + 1.0;
    /* 2^k: k sits in bits' low bits; shifted as unsigned, since bits is negative-patterned for k < 0 */
    uint64_t e = ((uint64_t)bits + 1023u) << 52;
    double scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
}

/* Phi(x) = 0.5 erfc(-x / sqrt 2) */
static inline double normal_cdf(double x) {
    static const double P[13] = {-1.2655061887518171,  0.99978398569672866, 0.37848989185356391, 0.050235902357979298,
                                 0.11928441077866908,  -1.0196294308850749, 2.5404763758779461,  -5.5498892805144084,
                                 8.3000124366167789,   -7.687908932570771,  4.2948298563106704,  -1.3415937860585601,
                                 0.18141475940948334};
    const double z = (x < 0.0 ? -x : x) * INV_SQRT2, t = 1.0 / (1.0 + 0.5 * z);
    double q = P[12];
    for (int i = 11; i >= 0; i--) q = q * t + P[i];
    const double half_erfc = 0.5 * t * exp_d(q - z * z);
    return x < 0.0 ? half_erfc : 1.0 - half_erfc;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QN_CLONES
#endif

QN_CLONES static void gelu_forward(float *restrict out, const float *restrict inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const double x = inp[i];
        out[i] = (float)(x * normal_cdf(x));
    }
}

QN_CLONES static void gelu_backward(float *restrict dinp, const float *restrict inp, const float *restrict dout,
                                    size_t n) {
    for (size_t i = 0; i < n; i++) {
        const double x = inp[i];
        const double pdf = INV_SQRT_2PI * exp_d(-0.5 * x * x);
        dinp[i] += dout[i] * (float)(normal_cdf(x) + x * pdf);
    }
}

/* chunks of elements on the kernels' threads (elementwise: any split gives the same floats) */
typedef struct {
    float *out;
    const float *inp, *dout;
} gelu_args;
enum { GELU_CHUNK = 1 << 14 };

static void gelu_forward_chunk(void *ctx, size_t lo, size_t hi) {
    const gelu_args *a = ctx;
    gelu_forward(a->out + lo, a->inp + lo, hi - lo);
}

static void gelu_backward_chunk(void *ctx, size_t lo, size_t hi) {
    const gelu_args *a = ctx;
    gelu_backward(a->out + lo, a->inp + lo, a->dout + lo, hi - lo);
}

void qn_gelu_forward(float *out, const float *inp, size_t n) {
    gelu_args a = {out, inp, NULL};
    qn_parallel_for(n, GELU_CHUNK, gelu_forward_chunk, &a);
}

void qn_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    gelu_args a = {dinp, inp, dout};
    qn_parallel_for(n, GELU_CHUNK, gelu_backward_chunk, &a);
}

void qn_tanh_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
}

void qn_tanh_backward(float *dinp, const float *out, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}
