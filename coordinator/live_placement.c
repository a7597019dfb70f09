/* live_placement.c: the dispatch rule of live_placement.h. Classes of equal cost keep the common
 * case (a grid over learning rates or formats: one class) at O(1) per trial handed out, and bound
 * the scan of a heterogeneous cluster by the number of distinct trial sizes, not of trials. */
#include "live_placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pass a class over only when another kind finishes it this much sooner: the estimates are rough. */
#define FINISH_FIRST_MARGIN 0.9
/* Classes looked at per take: a worker that fits none of them stays idle until the next round. */
#define SCAN_LIMIT 256

int qn_live_kind_add(qn_live_kinds *ks, const qn_device_profile *p) {
    qn_device_kind k;
    qn_device_kind_from_profile(p, &k);
    for (int i = 0; i < ks->n; i++) {
        const qn_device_kind *o = &ks->k[i].kind;
        if (!strcmp(o->label, k.label) && o->memory_bytes == k.memory_bytes && o->bf16 == k.bf16) {
            ks->k[i].workers++;
            return i;
        }
    }
    if (ks->n == QN_MAX_LIVE_KINDS) { /* unlikely: 16 device models in one job */
        ks->k[ks->n - 1].workers++;
        return ks->n - 1;
    }
    memset(&ks->k[ks->n], 0, sizeof ks->k[ks->n]);
    ks->k[ks->n].kind = k;
    ks->k[ks->n].workers = 1;
    return ks->n++;
}

void qn_live_kind_observe(qn_live_kinds *ks, int k, double est, double wall) {
    if (k < 0 || k >= ks->n || !(est > 0) || !(wall >= 0)) return;
    ks->k[k].est_sum += est;
    ks->k[k].wall_sum += wall;
}

double qn_live_kind_scale(const qn_live_kinds *ks, int k) {
    if (ks->k[k].est_sum > 0) return ks->k[k].wall_sum / ks->k[k].est_sum;
    double est = 0, wall = 0;
    for (int i = 0; i < ks->n; i++) est += ks->k[i].est_sum, wall += ks->k[i].wall_sum;
    return est > 0 ? wall / est : 1;
}

static const qn_trial_cost *sort_costs; /* qsort has no context argument in C17 */
static const int64_t *sort_ids;
static int longest_first(const void *pa, const void *pb) {
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    const qn_trial_cost *x = &sort_costs[a], *y = &sort_costs[b];
    if (x->flops != y->flops) return x->flops < y->flops ? 1 : -1;
    if (x->memory_bytes != y->memory_bytes) return x->memory_bytes < y->memory_bytes ? 1 : -1;
    if (x->needs_bf16 != y->needs_bf16) return x->needs_bf16 < y->needs_bf16 ? 1 : -1;
    if (x->uses_fp8 != y->uses_fp8) return x->uses_fp8 < y->uses_fp8 ? 1 : -1;
    int k = strcmp(x->device_kind, y->device_kind); /* trials pinned to one kind form their own classes */
    if (k) return k;
    return sort_ids[a] < sort_ids[b] ? -1 : 1;
}

static int same_cost(const qn_trial_cost *x, const qn_trial_cost *y) {
    return x->flops == y->flops && x->memory_bytes == y->memory_bytes && x->needs_bf16 == y->needs_bf16 &&
           x->uses_fp8 == y->uses_fp8 && !strcmp(x->device_kind, y->device_kind);
}

int qn_queue_build(qn_stage_queue *q, const int64_t *ids, const qn_trial_cost *costs, int64_t n) {
    memset(q, 0, sizeof *q);
    int64_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    q->ids = malloc((size_t)(n ? n : 1) * sizeof *q->ids);
    if (!order || !q->ids) goto oom;
    int sorted = 1;
    for (int64_t i = 0; i < n; i++) {
        order[i] = i;
        if (i && !same_cost(&costs[i], &costs[0])) sorted = 0;
    }
    if (!sorted) { /* all equal (the usual grid) stay in id order, unsorted */
        sort_costs = costs, sort_ids = ids;
        qsort(order, (size_t)n, sizeof *order, longest_first);
    }
    int cap = 0;
    for (int64_t i = 0; i < n; i++) {
        q->ids[i] = ids[order[i]];
        if (i && same_cost(&costs[order[i]], &costs[order[i - 1]])) {
            q->classes[q->nclasses - 1].n++;
            continue;
        }
        if (q->nclasses == cap) {
            cap = cap ? 2 * cap : 4;
            qn_trial_class *c = realloc(q->classes, (size_t)cap * sizeof *c);
            if (!c) goto oom;
            q->classes = c;
        }
        qn_trial_class *c = &q->classes[q->nclasses++];
        memset(c, 0, sizeof *c);
        c->cost = costs[order[i]];
        c->first = i, c->n = 1;
    }
    free(order);
    return 0;
oom:
    free(order);
    qn_queue_free(q);
    return -1;
}

void qn_queue_free(qn_stage_queue *q) {
    free(q->ids);
    free(q->classes);
    memset(q, 0, sizeof *q);
}

void qn_queue_rate(qn_stage_queue *q, const qn_live_kinds *ks) {
    char why[256];
    for (int c = 0; c < q->nclasses; c++)
        for (int k = 0; k < ks->n; k++) {
            const qn_device_kind *kind = &ks->k[k].kind;
            double *s = &q->classes[c].sec[k];
            if (!qn_trial_fits(&q->classes[c].cost, kind, why, sizeof why)) *s = -1;
            else if (kind->peak_flops * kind->efficiency <= 0) *s = 0; /* speed unknown */
            else *s = qn_trial_seconds(&q->classes[c].cost, kind, why, sizeof why);
        }
    q->nkinds_rated = ks->n;
}

/* Workers of the kinds that would finish this class clearly sooner than `kind`, counting their wait. */
static int faster_workers(const qn_trial_class *c, const qn_live_kinds *ks, int kind, double mine) {
    if (ks->n < 2 || mine <= 0) return 0;
    mine *= qn_live_kind_scale(ks, kind);
    int n = 0;
    for (int k = 0; k < ks->n; k++) {
        if (k == kind || ks->k[k].workers <= 0 || c->sec[k] <= 0) continue;
        if (ks->k[k].avail + c->sec[k] * qn_live_kind_scale(ks, k) < FINISH_FIRST_MARGIN * mine) n += ks->k[k].workers;
    }
    return n;
}

int64_t qn_queue_take(qn_stage_queue *q, const qn_live_kinds *ks, int kind, double *seconds,
                      int (*skip)(void *arg, int64_t id), void *skip_arg) {
    int scanned = 0;
    int64_t ahead = 0; /* trials left at least as long as this class's */
    for (int c = q->head; c < q->nclasses && scanned < SCAN_LIMIT; c++) {
        qn_trial_class *cl = &q->classes[c];
        while (cl->next < cl->n && skip && skip(skip_arg, q->ids[cl->first + cl->next])) cl->next++;
        if (cl->next >= cl->n) {
            if (c == q->head) q->head++;
            continue;
        }
        scanned++;
        ahead += cl->n - cl->next;
        double mine = kind < q->nkinds_rated ? cl->sec[kind] : -1;
        /* pass it over only when the faster kinds can take it and every longer one left: near the
         * end of the stage; before that every worker has work, and the slow ones take their share */
        if (mine < 0 || ahead <= faster_workers(cl, ks, kind, mine)) continue;
        *seconds = mine;
        return q->ids[cl->first + cl->next++];
    }
    return -1;
}

int qn_fits_none(const qn_trial_cost *c, const qn_live_kinds *ks, const char *what, char *why, size_t whylen) {
    qn_device_kind live[QN_MAX_LIVE_KINDS];
    int n = 0;
    for (int k = 0; k < ks->n; k++)
        if (ks->k[k].workers > 0) live[n++] = ks->k[k].kind;
    return qn_trial_fits_none(c, live, n, what, why, whylen);
}

int qn_queue_unfit(const qn_stage_queue *q, const qn_live_kinds *ks, char *why, size_t whylen) {
    for (int c = q->head; c < q->nclasses; c++) {
        const qn_trial_class *cl = &q->classes[c];
        if (cl->next >= cl->n) continue;
        if (qn_fits_none(&cl->cost, ks, "worker", why, whylen)) return c;
    }
    return -1;
}
