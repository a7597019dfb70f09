/* sampler.c: the sampler object: options, creation, and one suggestion dispatched by kind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sampler_internal.h"

void qn_sampler_defaults(qn_sampler_options *o) {
    *o = (qn_sampler_options){0};
    o->grid_shuffle = 1;
    o->n_startup_trials = 10;
    o->n_ei_candidates = 24;
    o->prior_weight = 1.0;
    o->consider_magic_clip = 1;
    o->constant_liar = 1;
}

qn_sampler *qn_sampler_new(qn_sampler_kind kind, const qn_space *space, const qn_sampler_options *options,
                           char *err, size_t errlen) {
    if (qn_space_check(space, err, errlen)) return NULL;
    qn_sampler *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, errlen, "out of memory"), NULL;
    s->kind = kind, s->space = space;
    if (options) s->o = *options;
    else qn_sampler_defaults(&s->o);
    if (s->o.n_ei_candidates < 1 || s->o.n_startup_trials < 0 || !(s->o.prior_weight > 0)) {
        snprintf(err, errlen, "TPE options: n_ei_candidates >= 1, n_startup_trials >= 0 and prior_weight > 0");
        free(s);
        return NULL;
    }
    qn_parzen_init(&s->below), qn_parzen_init(&s->above);
    s->domains = malloc((size_t)(space->n ? space->n : 1) * sizeof *s->domains);
    if (!s->domains) {
        snprintf(err, errlen, "out of memory");
        qn_sampler_free(s);
        return NULL;
    }
    for (int i = 0; i < space->n; i++) qn_domain_of(&space->params[i], &s->domains[i]);
    if (kind == QN_SAMPLER_GRID && qn_grid_build(s, err, errlen)) {
        qn_sampler_free(s);
        return NULL;
    }
    return s;
}

void qn_sampler_free(qn_sampler *s) {
    if (!s) return;
    free(s->points), free(s->slots), free(s->used), free(s->domains);
    qn_parzen_release(&s->below), qn_parzen_release(&s->above);
    free(s->idx), free(s->is_below), free(s->obs_below), free(s->obs_above);
    free(s->kernel_of), free(s->group), free(s->order_below), free(s->order_above);
    free(s->seen_x), free(s->sorted_trial), free(s->sorted_key), free(s->n_sorted);
    free(s);
}

int qn_sampler_suggest(qn_sampler *s, const qn_history *h, double *x, char *err, size_t errlen) {
    if (h->n < 0 || (h->n > 0 && (!h->state || !h->value || (s->space->n > 0 && !h->x))))
        return snprintf(err, errlen, "bad history"), -1;
    switch (s->kind) {
    case QN_SAMPLER_GRID: return qn_grid_suggest(s, h, x);
    case QN_SAMPLER_TPE: return qn_tpe_suggest(s, h, x, err, errlen);
    case QN_SAMPLER_RANDOM: break;
    }
    qn_rng r;
    qn_sampler_rng(&r, s->o.seed, h->n, QN_STREAM_RANDOM);
    qn_random_suggest(s->space, &r, x);
    return 0;
}
