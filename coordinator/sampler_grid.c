/* sampler_grid.c: Optuna's GridSampler: every point of the Cartesian product once, in a seeded
 * random order (or in order). A point is used when any trial in the history, running, done or
 * failed, has exactly its values, so the history alone (a resumed study's included) says what is
 * left; nothing is reserved elsewhere. Conditional parameters: a point leaves an inactive parameter
 * absent, so each branch of the tree is enumerated once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler_internal.h"

#define MAX_RAW (1L << 26) /* combinations enumerated before conditions prune them */

static uint64_t hash_point(const double *x, int D) {
    uint64_t h = 0x243f6a8885a308d3ull;
    for (int i = 0; i < D; i++) {
        double v = isnan(x[i]) ? NAN : x[i] == 0 ? 0.0 : x[i]; /* one NaN, one zero */
        uint64_t b;
        memcpy(&b, &v, sizeof b);
        h = qn_splitmix64(h ^ b);
    }
    return h;
}

static int same_point(const double *a, const double *b, int D) {
    for (int i = 0; i < D; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))) return 0;
    return 1;
}

/* the slot holding x's id, or the empty slot where it would go */
static long find_slot(const qn_sampler *s, const double *x) {
    const int D = s->space->n;
    long i = (long)(hash_point(x, D) & (uint64_t)(s->n_slots - 1));
    while (s->slots[i] >= 0 && !same_point(s->points + (size_t)s->slots[i] * D, x, D)) i = (i + 1) & (s->n_slots - 1);
    return i;
}

/* a parameter's grid values: given, or every choice / integer step / FLOAT step point */
static long n_values_of(const qn_space_param *p) {
    if (p->n_values > 0) return p->n_values;
    if (p->kind == QN_PARAM_CATEGORICAL) return p->n_choices;
    double step = p->kind == QN_PARAM_INT && p->step <= 0 ? 1 : p->step;
    if (step <= 0) return -1; /* continuous FLOAT */
    double k = nearbyint((p->high - p->low) / step) + 1;
    return k > (double)MAX_RAW ? MAX_RAW + 1 : (long)k;
}

static double value_of(const qn_space_param *p, long i) {
    if (p->n_values > 0) return p->values[i];
    if (p->kind == QN_PARAM_CATEGORICAL) return (double)i;
    double step = p->kind == QN_PARAM_INT && p->step <= 0 ? 1 : p->step;
    return p->low + (double)i * step;
}

int qn_grid_build(qn_sampler *s, char *err, size_t errlen) {
    const qn_space *sp = s->space;
    const int D = sp->n;
    long raw = 1;
    for (int p = 0; p < D; p++) {
        long k = n_values_of(&sp->params[p]);
        const char *name = sp->params[p].name ? sp->params[p].name : "?";
        if (k < 0) return snprintf(err, errlen, "parameter '%s': a grid over a continuous float needs a step or values", name), -1;
        if (k > MAX_RAW || raw * k > MAX_RAW) return snprintf(err, errlen, "the grid has more than %ld points", MAX_RAW), -1;
        raw *= k;
    }
    long *digit = calloc((size_t)D + 1, sizeof *digit);
    double *x = malloc(((size_t)D + 1) * sizeof *x);
    s->points = malloc((size_t)raw * ((size_t)D + 1) * sizeof *s->points);
    s->n_slots = 1;
    while (s->n_slots < 2 * raw) s->n_slots *= 2;
    s->slots = malloc((size_t)s->n_slots * sizeof *s->slots);
    s->used = malloc((size_t)raw);
    if (!digit || !x || !s->points || !s->slots || !s->used) {
        free(digit), free(x);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    for (long i = 0; i < s->n_slots; i++) s->slots[i] = -1;
    s->n_points = 0;
    for (long c = 0; c < raw; c++) {
        /* digits of c, last parameter fastest */
        long rest = c;
        for (int p = D - 1; p >= 0; p--) {
            long k = n_values_of(&sp->params[p]);
            digit[p] = rest % k, rest /= k;
        }
        int keep = 1;
        for (int p = 0; p < D && keep; p++) {
            if (qn_space_active(sp, x, p)) x[p] = value_of(&sp->params[p], digit[p]);
            else if (digit[p] == 0) x[p] = NAN;
            else keep = 0; /* the same point as with digit 0: counted there */
        }
        if (!keep) continue;
        long slot = find_slot(s, x);
        if (s->slots[slot] >= 0) continue; /* repeated values in a list: one point */
        memcpy(s->points + (size_t)s->n_points * D, x, (size_t)D * sizeof *x);
        s->slots[slot] = s->n_points++;
    }
    free(digit), free(x);
    return 0;
}

int qn_grid_suggest(qn_sampler *s, const qn_history *h, double *x) {
    const int D = s->space->n;
    memset(s->used, 0, (size_t)s->n_points);
    for (int i = 0; i < h->n; i++) {
        long id = s->slots[find_slot(s, h->x + (size_t)i * D)];
        if (id >= 0) s->used[id] = 1;
    }
    long unused = 0;
    for (long i = 0; i < s->n_points; i++) unused += !s->used[i];
    if (unused == 0) return 1;
    long pick = 0;
    if (s->o.grid_shuffle) {
        qn_rng r;
        qn_sampler_rng(&r, s->o.seed, h->n, QN_STREAM_GRID);
        pick = (long)qn_rng_below(&r, (uint64_t)unused);
    }
    for (long i = 0; i < s->n_points; i++)
        if (!s->used[i] && pick-- == 0) {
            memcpy(x, s->points + (size_t)i * D, (size_t)D * sizeof *x);
            return 0;
        }
    return 1;
}

long qn_sampler_grid_size(const qn_sampler *s) { return s->kind == QN_SAMPLER_GRID ? s->n_points : 0; }

int qn_sampler_grid_point(const qn_sampler *s, long i, double *x) {
    if (s->kind != QN_SAMPLER_GRID || i < 0 || i >= s->n_points) return -1;
    memcpy(x, s->points + (size_t)i * s->space->n, (size_t)s->space->n * sizeof *x);
    return 0;
}
