/* study_search.c: search stages in the coordinator: the job's parameters as a sampler space, the
 * history each suggestion sees, and recorded parameters mapped back to points on resume. */
#include "study_search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qn_sampler.h"

struct qn_search {
    const qn_stage *stage;
    qn_space_param *params;
    qn_space space;
    qn_sampler *sampler;
    double *x;              /* ntrials * naxes: each trial's point, NAN until assigned */
    uint8_t *assigned;      /* ntrials */
    qn_search_state *state; /* ntrials */
    double *value;          /* ntrials: the stage metric of done trials */
};

qn_search *qn_search_new(const qn_job *job, int s, char *err, size_t errlen) {
    const qn_stage *g = &job->stages[s];
    qn_search *ss = calloc(1, sizeof *ss);
    if (!ss) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ss->stage = g;
    size_t n = (size_t)g->ntrials, k = (size_t)g->naxes;
    ss->params = calloc(k + 1, sizeof *ss->params);
    ss->x = malloc((n * k + 1) * sizeof *ss->x);
    ss->assigned = calloc(n + 1, 1);
    ss->state = calloc(n + 1, sizeof *ss->state);
    ss->value = malloc((n + 1) * sizeof *ss->value);
    if (!ss->params || !ss->x || !ss->assigned || !ss->state || !ss->value) {
        snprintf(err, errlen, "out of memory");
        qn_search_free(ss);
        return NULL;
    }
    for (size_t i = 0; i < n * k; i++) ss->x[i] = NAN;
    for (size_t i = 0; i < n; i++) ss->value[i] = NAN;
    for (int a = 0; a < g->naxes; a++) {
        const qn_axis *ax = &g->axes[a];
        qn_space_param *p = &ss->params[a];
        if (ax->dist == QN_DIST_VALUES) {
            *p = qn_param_categorical(ax->name, ax->nvalues);
        } else if (ax->dist == QN_DIST_INT_UNIFORM) {
            *p = qn_param_int(ax->name, (long)ax->low, (long)ax->high, 0);
            p->step = ax->q;
        } else {
            *p = qn_param_float(ax->name, ax->low, ax->high, ax->dist == QN_DIST_LOG_UNIFORM);
            p->step = ax->q;
        }
        p->parent = ax->parent; /* the job keeps the sampler's order: parents first */
        p->parent_choice = ax->parent_choice;
    }
    ss->space.n = g->naxes;
    ss->space.params = ss->params;
    qn_sampler_options o;
    qn_sampler_defaults(&o);
    o.maximize = g->maximize;
    /* negative ids are never trials: the stage's stream is apart from every trial's */
    o.seed = qn_trial_seed(job->seed, -1 - (int64_t)s);
    qn_sampler_kind kind = g->method == QN_SEARCH_GRID ? QN_SAMPLER_GRID
                           : g->method == QN_SEARCH_RANDOM ? QN_SAMPLER_RANDOM : QN_SAMPLER_TPE;
    char msg[256];
    ss->sampler = qn_sampler_new(kind, &ss->space, &o, msg, sizeof msg);
    if (!ss->sampler) {
        snprintf(err, errlen, "stage '%s': %s", g->name, msg);
        qn_search_free(ss);
        return NULL;
    }
    return ss;
}

void qn_search_free(qn_search *ss) {
    if (!ss) return;
    if (ss->sampler) qn_sampler_free(ss->sampler);
    free(ss->params);
    free(ss->x);
    free(ss->assigned);
    free(ss->state);
    free(ss->value);
    free(ss);
}

int qn_search_assigned(const qn_search *ss, int64_t i) { return ss->assigned[i]; }

int qn_search_trial_params(const qn_search *ss, int64_t i, qn_trial *t) {
    return qn_search_params(ss->stage, ss->x + i * ss->stage->naxes, t);
}

void qn_search_note(qn_search *ss, int64_t i, qn_search_state state, double value) {
    ss->state[i] = state;
    ss->value[i] = value;
}

int qn_search_assign(qn_search *ss, int64_t i, char *err, size_t errlen) {
    int k = ss->stage->naxes;
    qn_trial_state *state = malloc(((size_t)i + 1) * sizeof *state);
    if (!state) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* every earlier trial of the stage, in id order; one not finished counts as running */
    for (int64_t j = 0; j < i; j++)
        state[j] = ss->state[j] == QN_SEARCH_DONE ? QN_TRIAL_DONE
                   : ss->state[j] == QN_SEARCH_FAILED ? QN_TRIAL_FAILED : QN_TRIAL_RUNNING;
    qn_history h = {.n = (int)i, .state = state, .value = ss->value, .x = ss->x};
    int rc = qn_sampler_suggest(ss->sampler, &h, ss->x + i * k, err, errlen);
    free(state);
    if (rc == 0) ss->assigned[i] = 1;
    return rc;
}

void qn_search_restore(qn_search *ss, int64_t i, const qn_param *params, int n) {
    const qn_stage *g = ss->stage;
    double *x = ss->x + i * g->naxes;
    for (int a = 0; a < g->naxes; a++) {
        const qn_axis *ax = &g->axes[a];
        x[a] = NAN;
        /* copies of one name under different conditions: the value is the active copy's */
        if (ax->parent >= 0 && (isnan(x[ax->parent]) || x[ax->parent] != ax->parent_choice)) continue;
        for (int p = 0; p < n; p++) {
            if (strcmp(params[p].name, ax->name) != 0) continue;
            const qn_value *v = &params[p].value;
            if (ax->dist != QN_DIST_VALUES) {
                x[a] = v->kind == QN_VAL_NUM ? v->num : NAN;
                continue;
            }
            for (int c = 0; c < ax->nvalues; c++) {
                const qn_value *y = &ax->values[c];
                if (y->kind == v->kind && (y->kind == QN_VAL_NUM ? y->num == v->num : !strcmp(y->str, v->str))) x[a] = c;
            }
        }
    }
    ss->assigned[i] = 1;
}
