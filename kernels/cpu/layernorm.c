/* layernorm.c: LayerNorm over the last axis (torch.nn.LayerNorm: biased variance, eps inside the
 * square root), forward and backward. Statistics are accumulated in double and stored as float.
 *
 * Each row's sums run in LANES interleaved partial sums, added in a fixed order at the end: one
 * running double sum would chain every addition on the last (latency-bound, a few percent of a
 * BERT training step); lanes vectorize. Rows are split over the kernels' threads; the weight and
 * bias gradients, sums over rows, are split by columns and added row by row in order, so results
 * do not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "parallel.h"
#include "qn_nn.h"

enum { LANES = 8, ROWS_PER_CHUNK = 64, COLS_PER_CHUNK = 64 };

/* The row and column loops, one clone per instruction set: the baseline's SSE did the double lanes
 * two at a time with scalar conversions. Each clone performs the same IEEE operations in the same
 * order (the lanes are explicit, no contraction in C17 mode), so all give the same floats. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QN_CLONES
#endif

/* The lanes as vectors (GCC's and Clang's vector extensions): written as arrays of LANES, the
 * float-to-double lanes stayed scalar in every clone, and LayerNorm's backward was 3 % of a step.
 * Lane l does what the array's element l did, operation for operation. */
#if defined(__GNUC__)
#define QN_LN_VECTORS 1
typedef float lanes_f __attribute__((vector_size(LANES * sizeof(float))));
typedef double lanes_d __attribute__((vector_size(LANES * sizeof(double))));
/* *out = x[0:LANES] as doubles (through a pointer: a vector returned by value changes the ABI of
 * the clones without AVX-512) */
static inline void lanes_load(lanes_d *out, const float *x) {
    lanes_f f;
    memcpy(&f, x, sizeof f);
    *out = __builtin_convertvector(f, lanes_d);
}
#endif

/* sum of x[0:C] and of (x[i] - shift)^2 (when shift is given), in LANES double lanes */
static inline double lane_sum(const float *x, int C, const double *shift) {
    double acc[LANES] = {0};
    int i = 0;
#ifdef QN_LN_VECTORS
    lanes_d v = {0};
    if (shift)
        for (; i + LANES <= C; i += LANES) {
            lanes_d d;
            lanes_load(&d, x + i);
            d -= *shift;
            v += d * d;
        }
    else
        for (; i + LANES <= C; i += LANES) {
            lanes_d d;
            lanes_load(&d, x + i);
            v += d;
        }
    memcpy(acc, &v, sizeof acc);
#else
    if (shift)
        for (; i + LANES <= C; i += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += (x[i + l] - *shift) * (x[i + l] - *shift);
    else
        for (; i + LANES <= C; i += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += x[i + l];
#endif
    for (int l = 0; i < C; i++, l++) acc[l] += shift ? (x[i] - *shift) * (x[i] - *shift) : x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

typedef struct {
    float *out, *mean, *rstd;
    const float *inp, *weight, *bias;
    int C;
    float eps;
} ln_fwd_args;

QN_CLONES static void forward_row_range(const ln_fwd_args *a, size_t lo, size_t hi) {
    const int C = a->C;
    for (size_t n = lo; n < hi; n++) {
        const float *x = a->inp + n * C;
        float *o = a->out + n * C;
        const double m = lane_sum(x, C, NULL) / C;
        const double var = lane_sum(x, C, &m) / C;
        const float s = (float)(1.0 / sqrt(var + a->eps)), mf = (float)m;
        for (int i = 0; i < C; i++) o[i] = ((x[i] - mf) * s) * a->weight[i] + a->bias[i];
        a->mean[n] = mf;
        a->rstd[n] = s;
    }
}

static void forward_rows(void *ctx, size_t lo, size_t hi) { forward_row_range(ctx, lo, hi); }

void qn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                          const float *bias, int N, int C, float eps) {
    ln_fwd_args a = {out, mean, rstd, inp, weight, bias, C, eps};
    qn_parallel_for((size_t)N, ROWS_PER_CHUNK, forward_rows, &a);
}

typedef struct {
    float *dinp, *dweight, *dbias;
    const float *dout, *inp, *weight, *mean, *rstd;
    int N, C;
    int accumulate; /* dinp += (1) or dinp = (0) */
} ln_bwd_args;

/* dinp of rows [lo, hi): dnorm = dout * weight; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) */
QN_CLONES static void backward_row_range(const ln_bwd_args *a, size_t lo, size_t hi) {
    const int C = a->C;
    const float *restrict w = a->weight;
    for (size_t n = lo; n < hi; n++) {
        const float *restrict x = a->inp + n * C, *restrict d = a->dout + n * C;
        float *restrict dx = a->dinp + n * C;
        const float m = a->mean[n], s = a->rstd[n];
        double acc[LANES] = {0}, accn[LANES] = {0};
        int i = 0;
#ifdef QN_LN_VECTORS
        lanes_d va = {0}, vn = {0};
        for (; i + LANES <= C; i += LANES) {
            lanes_f xv, dv, wv;
            memcpy(&xv, x + i, sizeof xv), memcpy(&dv, d + i, sizeof dv), memcpy(&wv, w + i, sizeof wv);
            const lanes_f norm = (xv - m) * s, dnorm = dv * wv;
            const lanes_d dn = __builtin_convertvector(dnorm, lanes_d);
            va += dn;
            vn += dn * __builtin_convertvector(norm, lanes_d);
        }
        memcpy(acc, &va, sizeof acc), memcpy(accn, &vn, sizeof accn);
#else
        for (; i + LANES <= C; i += LANES)
            for (int l = 0; l < LANES; l++) {
                const float norm = (x[i + l] - m) * s, dnorm = d[i + l] * w[i + l];
                acc[l] += dnorm;
                accn[l] += (double)dnorm * norm;
            }
#endif
        for (int l = 0; i < C; i++, l++) {
            const float norm = (x[i] - m) * s, dnorm = d[i] * w[i];
            acc[l] += dnorm;
            accn[l] += (double)dnorm * norm;
        }
        const double sum_dnorm = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        const double sum_dnorm_norm =
            ((accn[0] + accn[1]) + (accn[2] + accn[3])) + ((accn[4] + accn[5]) + (accn[6] + accn[7]));
        const float mean_dnorm = (float)(sum_dnorm / C), mean_dnorm_norm = (float)(sum_dnorm_norm / C);
        if (a->accumulate)
            for (i = 0; i < C; i++) {
                const float norm = (x[i] - m) * s, dnorm = d[i] * w[i];
                dx[i] += s * (dnorm - mean_dnorm - norm * mean_dnorm_norm);
            }
        else /* the same value stored: what zeros and then += give (but for -0, which stays -0) */
            for (i = 0; i < C; i++) {
                const float norm = (x[i] - m) * s, dnorm = d[i] * w[i];
                dx[i] = s * (dnorm - mean_dnorm - norm * mean_dnorm_norm);
            }
    }
}

static void backward_rows(void *ctx, size_t lo, size_t hi) { backward_row_range(ctx, lo, hi); }

/* dweight and dbias of columns [lo, hi) * COLS_PER_CHUNK, over all rows in order */
QN_CLONES static void backward_param_range(const ln_bwd_args *a, size_t lo, size_t hi) {
    const int c0 = (int)lo * COLS_PER_CHUNK, c1 = (int)hi * COLS_PER_CHUNK < a->C ? (int)hi * COLS_PER_CHUNK : a->C;
    float *restrict dw = a->dweight, *restrict db = a->dbias;
    for (int n = 0; n < a->N; n++) {
        const float *restrict x = a->inp + (size_t)n * a->C, *restrict d = a->dout + (size_t)n * a->C;
        const float m = a->mean[n], s = a->rstd[n];
        for (int i = c0; i < c1; i++) {
            db[i] += d[i];
            dw[i] += d[i] * ((x[i] - m) * s);
        }
    }
}

static void backward_params(void *ctx, size_t lo, size_t hi) { backward_param_range(ctx, lo, hi); }

static void layernorm_backward(ln_bwd_args *a) {
    qn_parallel_for((size_t)a->N, ROWS_PER_CHUNK, backward_rows, a);
    qn_parallel_for(((size_t)a->C + COLS_PER_CHUNK - 1) / COLS_PER_CHUNK, a->N >= 512 ? 1 : (size_t)a->C,
                    backward_params, a);
}

void qn_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, const float *mean, const float *rstd, int N, int C) {
    ln_bwd_args a = {dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C, 1};
    layernorm_backward(&a);
}

void qn_layernorm_backward_write(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                 const float *weight, const float *mean, const float *rstd, int N, int C) {
    ln_bwd_args a = {dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C, 0};
    layernorm_backward(&a);
}
