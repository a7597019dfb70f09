/* sdpa.c: scaled dot-product attention on (B, H, T, D), naive and fused (qn_sdpa.h).
 * The naive path is lab 4's matmul-softmax-matmul with every head's T x T scores in memory; the
 * fused one is FlashAttention's online softmax: per query row a running max m, sum l and
 * unnormalised output o, updated key tile by key tile, so memory traffic stays O(T * D) per head. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"
#include "qn_kernels.h"
#include "qn_sdpa.h"
#include "softmax_row.h"

/* Query rows and keys per tile of the fused kernel: the 64 x 128 scores (32 KiB), the 64 x D output
 * and a 128-key tile of K and V (64 KiB each at D = 128) stay in L2 while the query rows use them.
 * Larger tiles pay qn_sgemm's per-call packing less often; on 2 cores 64 x 128 measured best. */
enum { SDPA_BR = 64, SDPA_BC = 128 };

size_t qn_sdpa_naive_scores(int B, int H, int T) { return (size_t)B * H * T * T; }

/* The softmax's row work (softmax_row.h) is shared by both kernels, so that they differ only in
 * what they keep in memory. */

typedef struct {
    float *out, *scores;
    const float *q, *k, *v;
    int T, D, causal;
    atomic_int failed;
} sdpa_args;

static void naive_heads(void *ctx, size_t lo, size_t hi) {
    sdpa_args *x = ctx;
    const int T = x->T, D = x->D;
    const float scale = 1.0f / sqrtf((float)D);
    for (size_t bh = lo; bh < hi; bh++) {
        const size_t off = bh * T * D;
        float *s = x->scores + bh * T * T;
        qn_sgemm(0, 1, T, T, D, scale, x->q + off, D, x->k + off, D, 0.0f, s, T); /* S = scale Q K^T */
        for (int i = 0; i < T; i++) {
            float *row = s + (size_t)i * T;
            const int n = x->causal ? i + 1 : T; /* keys past the query get probability 0 */
            const float inv = 1.0f / qn_exp_sum(row, n, qn_row_max(row, n, -INFINITY));
            for (int j = 0; j < n; j++) row[j] *= inv;
            for (int j = n; j < T; j++) row[j] = 0.0f;
        }
        qn_sgemm(0, 0, T, D, T, 1.0f, s, T, x->v + off, D, 0.0f, x->out + off, D); /* O = P V */
    }
}

void qn_sdpa_naive(float *out, float *scores, const float *q, const float *k, const float *v, int B, int H, int T,
                   int D, int causal) {
    sdpa_args x = {.out = out, .scores = scores, .q = q, .k = k, .v = v, .T = T, .D = D, .causal = causal};
    qn_parallel_for((size_t)B * H, 1, naive_heads, &x);
}

/* One query tile [i0, i0 + br) of one head against its key tiles. s: br x SDPA_BC scores, o: br x D
 * unnormalised output, m and l: br. Both products are small GEMMs (qn_sgemm's register-tiled
 * kernels, one thread each: the caller is already parallel), the softmax bookkeeping is per row. */
static void fused_tile(const sdpa_args *x, size_t bh, int i0, float *restrict s, float *restrict o, float *restrict m,
                       float *restrict l) {
    const int T = x->T, D = x->D, br = T - i0 < SDPA_BR ? T - i0 : SDPA_BR;
    const float scale = 1.0f / sqrtf((float)D);
    const float *q = x->q + bh * T * D + (size_t)i0 * D, *k = x->k + bh * T * D, *v = x->v + bh * T * D;
    memset(o, 0, (size_t)br * D * sizeof *o);
    for (int i = 0; i < br; i++) m[i] = -INFINITY, l[i] = 0.0f;
    const int kend = x->causal ? i0 + br : T; /* tiles wholly above the diagonal are skipped */
    for (int j0 = 0; j0 < kend; j0 += SDPA_BC) {
        const int bc = kend - j0 < SDPA_BC ? kend - j0 : SDPA_BC;
        qn_sgemm(0, 1, br, bc, D, scale, q, D, k + (size_t)j0 * D, D, 0.0f, s, SDPA_BC); /* scale Q_i K_j^T */
        for (int i = 0; i < br; i++) {
            float *restrict si = s + i * SDPA_BC;
            int n = bc; /* keys j0 + n .. are in the query's future */
            if (x->causal && j0 + bc > i0 + i + 1) n = i0 + i + 1 - j0 > 0 ? i0 + i + 1 - j0 : 0;
            /* mt is finite: key 0 is in every query's past, and tile 0 comes first */
            const float mt = qn_row_max(si, n, m[i]);
            const float alpha = m[i] == -INFINITY ? 0.0f : qn_exp_nonpositive(m[i] - mt);
            const float sum = qn_exp_sum(si, n, mt);
            for (int j = n; j < bc; j++) si[j] = 0.0f;
            l[i] = l[i] * alpha + sum;
            m[i] = mt;
            float *restrict oi = o + (size_t)i * D;
            for (int d = 0; d < D; d++) oi[d] *= alpha;
        }
        qn_sgemm(0, 0, br, D, bc, 1.0f, s, SDPA_BC, v + (size_t)j0 * D, D, 1.0f, o, D); /* o += P_ij V_j */
    }
    float *dst = x->out + bh * T * D + (size_t)i0 * D;
    for (int i = 0; i < br; i++) {
        const float inv = 1.0f / l[i];
        for (int d = 0; d < D; d++) dst[(size_t)i * D + d] = o[(size_t)i * D + d] * inv;
    }
}

static void fused_tiles(void *ctx, size_t lo, size_t hi) {
    sdpa_args *x = ctx;
    const size_t tiles = ((size_t)x->T + SDPA_BR - 1) / SDPA_BR, D = (size_t)x->D;
    float *ws = malloc((SDPA_BR * SDPA_BC + SDPA_BR * D + 2 * SDPA_BR) * sizeof *ws);
    if (!ws) {
        atomic_store(&x->failed, 1);
        return;
    }
    float *s = ws, *o = s + SDPA_BR * SDPA_BC, *m = o + SDPA_BR * D, *l = m + SDPA_BR;
    for (size_t w = lo; w < hi; w++) fused_tile(x, w / tiles, (int)(w % tiles) * SDPA_BR, s, o, m, l);
    free(ws);
}

int qn_sdpa_fused(float *out, const float *q, const float *k, const float *v, int B, int H, int T, int D, int causal) {
    sdpa_args x = {.out = out, .q = q, .k = k, .v = v, .T = T, .D = D, .causal = causal};
    atomic_init(&x.failed, 0);
    if (T <= 0 || D <= 0) return 0;
    const size_t tiles = ((size_t)T + SDPA_BR - 1) / SDPA_BR;
    qn_parallel_for((size_t)B * H * tiles, 1, fused_tiles, &x);
    return atomic_load(&x.failed) ? -1 : 0;
}
