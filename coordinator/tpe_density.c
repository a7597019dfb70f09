/* tpe_density.c: the continuous Parzen log density, log sum_k e^(c_k - z_k^2 / 2), the bulk of TPE's
 * time (two per candidate, ~1000 kernels in the "above" estimator).
 *
 * Kernels are visited outward from v in order of their means, right then left, the prior first:
 * the visit stops before the first kernel whose bound (the largest constant and widest kernel from
 * there on) falls NEGLIGIBLE below the best term so far. Visited term i goes to partial sum i mod 4;
 * a term NEGLIGIBLE below the top adds nothing (e^-40 ~ 4e-18). The result is
 * top + log((s0 + s1) + (s2 + s3)).
 *
 * The visit computes sixteen terms at a time; along a side the bound only falls (sorted means,
 * running maxima, IEEE rounding is monotonic) and the best term only rises, so when the block's last
 * bound holds against the block's best term, no kernel of the block stops the visit; otherwise the
 * block is checked kernel by kernel. The exponentials are taken only in chunks of eight terms (two
 * rows of the four partial sums) that hold a live term. Vectors of four lanes, compiled for
 * x86-64-v4 (AVX-512's masks and three-way logic help the selects), AVX2 and the baseline, picked at
 * load time; every lane does the same IEEE operations as a scalar evaluation (C17 mode: no FMA
 * contraction, even where x86-64-v4 has FMA), in the same order per partial sum, so the result does
 * not depend on the machine. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sampler_internal.h"

#define NEGLIGIBLE 40.0

/* The helpers below return vectors by value (and take them by pointer, which GCC does not warn
 * about): all are inlined into the one dispatched function, so the ABI warning GCC gives for such
 * returns in a baseline build does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));

static inline v4d load4(const double *p) {
    v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store4(double *p, const v4d *v) { memcpy(p, v, sizeof *v); }

static inline v4d splat4(double x) { return (v4d){x, x, x, x}; }

static inline v4d reverse4(const v4d *x) { return __builtin_shuffle(*x, (v4i){3, 2, 1, 0}); }

/* lane-wise a > b ? a : b (no NaN here) */
static inline v4d max4(const v4d *a, const v4d *b) {
    v4i m = *a > *b;
    return (v4d)(((v4i)*a & m) | ((v4i)*b & ~m));
}

/* the largest lane of four vectors */
static inline double hmax16(const v4d x[4]) {
    v4d m01 = max4(&x[0], &x[1]), m23 = max4(&x[2], &x[3]), m = max4(&m01, &m23);
    v4d swapped = __builtin_shuffle(m, (v4i){2, 3, 0, 1});
    m = max4(&m, &swapped);
    return m[0] > m[1] ? m[0] : m[1];
}

/* Bounds the terms of the chunks of eight positions of t (8q..8q+7) that the block stored at
 * cnt..cnt+15 covers by m, the block's largest term. Blocks follow each other (cnt only grows): the
 * first chunk also holds earlier blocks' terms unless it starts at cnt, the others hold this
 * block's (and later ones', which raise the bound again). Upper bounds, not maxima (a block's
 * unvisited lanes count too): a chunk wrongly judged live only costs exponentials of dead terms,
 * which add exact zeros. */
static inline void note_block(double *chunk_max, int cnt, double m) {
    const int a = cnt >> 3;
    const double before = cnt & 7 ? chunk_max[a] : -INFINITY;
    chunk_max[a] = m > before ? m : before;
    chunk_max[a + 1] = m, chunk_max[a + 2] = m;
}

/* The block's kernels one by one, in visit order: how many are visited before the stop (16: none
 * stops); *top follows. */
static inline int scan_block(const v4d bound[4], const v4d tk[4], double *top) {
    double t = *top;
    for (int i = 0; i < 16; i++) {
        if (bound[i / 4][i % 4] < t - NEGLIGIBLE) {
            *top = t;
            return i;
        }
        t = tk[i / 4][i % 4] > t ? tk[i / 4][i % 4] : t;
    }
    *top = t;
    return 16;
}

/* e^x for x in (-NEGLIGIBLE, 0], within 2 ulp of exp(): x = k ln2 + r with |r| <= ln2 / 2, a
 * degree-13 Taylor polynomial of e^r (the error term r^14 / 14! is under 1e-17), times 2^k built in
 * the exponent bits. Lanes at or below -NEGLIGIBLE give 0 (evaluated at the floor, then masked). */
static inline v4d masked_exp4(const v4d *in) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    const v4d floor_ = splat4(-NEGLIGIBLE);
    v4d x = *in;
    v4i live = x > floor_;
    x = (v4d)(((v4i)x & live) | ((v4i)floor_ & ~live));
    v4d shifted = x * 1.44269504088896340736 + shifter;
    v4d k = shifted - shifter;
    v4d r = (x - k * ln2_hi) - k * ln2_lo;
    v4d p = r * (1.0 / 6227020800.0) + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* the low bits of `shifted` hold k as an integer: 2^k is (k + 1023) in the exponent field */
    const v4i shifter_bits = (v4i)splat4(shifter);
    v4i scale = (((v4i)shifted - shifter_bits) + 1023) << 52;
    return (v4d)((v4i)(p * (v4d)scale) & live);
}

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"))) double
qn_parzen_logpdf_continuous(const qn_parzen *pe, double v) {
    const int ns = pe->ns, prior = pe->n - 1;
    double *t = pe->scratch, zp = (v - pe->mu[prior]) * pe->inv_sigma[prior];
    double top = pe->c[prior] - 0.5 * zp * zp;
    int cnt = 0;
    t[cnt++] = top;
    /* the first position with mean >= v, by a branch-free binary search */
    int lo = 0;
    if (ns > 0) {
        int len = ns;
        while (len > 1) {
            int h = len / 2;
            lo = pe->smu[lo + h] < v ? lo + h : lo;
            len -= h;
        }
        lo += pe->smu[lo] < v;
    }
    const double *smu = pe->smu, *sc = pe->sc, *sinv = pe->sinv;
    double *chunk_max = pe->chunk_max;
    chunk_max[0] = top;
    const v4d vv = splat4(v), half = splat4(0.5);
    /* right: positions j..j+15 in four quads; the padding after the last kernel (bound -inf) stops
     * the visit */
    for (int j = lo;; j += 16) {
        v4d dist[4], tk[4];
        for (int q = 0; q < 4; q++) {
            dist[q] = load4(smu + j + 4 * q) - vv;
            v4d z = dist[q] * load4(sinv + j + 4 * q);
            tk[q] = load4(sc + j + 4 * q) - half * z * z;
            store4(t + cnt + 4 * q, &tk[q]);
        }
        double m = hmax16(tk), fin = m > top ? m : top;
        note_block(chunk_max, cnt, m);
        double zl = (smu[j + 15] - v) / pe->suf_s[j + 15], last = pe->suf_c[j + 15] - 0.5 * zl * zl;
        if (last >= fin - NEGLIGIBLE) {
            top = fin, cnt += 16;
            continue;
        }
        v4d bound[4];
        for (int q = 0; q < 4; q++) {
            v4d zb = dist[q] / load4(pe->suf_s + j + 4 * q);
            bound[q] = load4(pe->suf_c + j + 4 * q) - half * zb * zb;
        }
        int took = scan_block(bound, tk, &top);
        cnt += took;
        if (took < 16) break;
    }
    /* left: positions j, j-1, ..., j-15, each quad loaded from its lowest position and reversed;
     * the padding before the first kernel stops the visit */
    for (int j = lo - 1;; j -= 16) {
        v4d dist[4], tk[4];
        for (int q = 0; q < 4; q++) {
            const int at = j - 3 - 4 * q;
            dist[q] = vv - load4(smu + at);
            v4d z = dist[q] * load4(sinv + at);
            v4d term = load4(sc + at) - half * z * z;
            tk[q] = reverse4(&term);
            store4(t + cnt + 4 * q, &tk[q]);
        }
        double m = hmax16(tk), fin = m > top ? m : top;
        note_block(chunk_max, cnt, m);
        double zl = (v - smu[j - 15]) / pe->pre_s[j - 15], last = pe->pre_c[j - 15] - 0.5 * zl * zl;
        if (last >= fin - NEGLIGIBLE) {
            top = fin, cnt += 16;
            continue;
        }
        v4d bound[4];
        for (int q = 0; q < 4; q++) {
            const int at = j - 3 - 4 * q;
            v4d zb = dist[q] / load4(pe->pre_s + at);
            v4d b = load4(pe->pre_c + at) - half * zb * zb;
            bound[q] = reverse4(&b);
        }
        int took = scan_block(bound, tk, &top);
        cnt += took;
        if (took < 16) break;
    }
    /* the terms in chunks of eight (two rows of four), padded with dead ones; a chunk with no live
     * term would add exact zeros: only the live chunks are listed (a bound of max(t) - top bounds
     * every t - top), then evaluated two at a time, four rows, independent chains that hide each
     * other's latency */
    for (int i = 0; i < 8; i++) t[cnt + i] = -INFINITY; /* after the last block's unvisited lanes */
    const v4d top4 = splat4(top);
    int *live_chunk = pe->live_chunk, n_live = 0;
    for (int q = 0; 8 * q < cnt; q++) {
        live_chunk[n_live] = 8 * q;
        n_live += chunk_max[q] - top > -NEGLIGIBLE;
    }
    v4d s = {0, 0, 0, 0};
    int c = 0;
    for (; c + 2 <= n_live; c += 2) {
        const double *a = t + live_chunk[c], *b = t + live_chunk[c + 1];
        v4d x0 = load4(a) - top4, x1 = load4(a + 4) - top4, x2 = load4(b) - top4, x3 = load4(b + 4) - top4;
        v4d e0 = masked_exp4(&x0), e1 = masked_exp4(&x1), e2 = masked_exp4(&x2), e3 = masked_exp4(&x3);
        s += e0, s += e1, s += e2, s += e3;
    }
    if (c < n_live) {
        const double *a = t + live_chunk[c];
        v4d x0 = load4(a) - top4, x1 = load4(a + 4) - top4;
        v4d e0 = masked_exp4(&x0), e1 = masked_exp4(&x1);
        s += e0, s += e1;
    }
    return top + log((s[0] + s[1]) + (s[2] + s[3]));
}
