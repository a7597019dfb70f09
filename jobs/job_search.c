/* job_search.c: a search stage's sampler point -> the trial's parameters. The sampler itself lives
 * in coordinator/ (jobs depends on nothing); here only the mapping, so that the coordinator and the
 * validator name the same values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qn_job.h"

const char *qn_search_method_name(qn_search_method m) {
    return m == QN_SEARCH_GRID ? "grid" : m == QN_SEARCH_RANDOM ? "random" : m == QN_SEARCH_TPE ? "tpe" : "";
}

int qn_search_params(const qn_stage *st, const double *x, qn_trial *t) {
    qn_trial_free(t);
    t->params = calloc((size_t)st->naxes + 1, sizeof *t->params);
    unsigned char *active = calloc((size_t)st->naxes + 1, 1);
    if (!t->params || !active) {
        free(active);
        return -1;
    }
    for (int a = 0; a < st->naxes; a++) {
        const qn_axis *ax = &st->axes[a];
        /* parents come first: one pass decides; copies of one name are exclusive, so each is set once */
        active[a] = !isnan(x[a]) && (ax->parent < 0 || (active[ax->parent] && x[ax->parent] == ax->parent_choice));
    }
    for (int a = 0; a < st->naxes; a++) {
        const qn_axis *ax = &st->axes[a];
        if (!active[a]) continue; /* absent: the trial keeps its base or inherited value */
        qn_param *p = &t->params[t->nparams];
        p->name = strdup(ax->name);
        if (!p->name) {
            free(active);
            return -1;
        }
        t->nparams++;
        if (ax->dist == QN_DIST_VALUES) {
            int i = (int)x[a];
            if (i < 0 || i >= ax->nvalues) i = 0;
            p->value = ax->values[i];
            if (p->value.kind == QN_VAL_STR && !(p->value.str = strdup(p->value.str))) {
                free(active);
                return -1;
            }
        } else {
            p->value.kind = QN_VAL_NUM;
            p->value.num = x[a];
        }
    }
    free(active);
    return 0;
}
