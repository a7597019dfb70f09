/* sampler_space.c: search-space parameters: defaults, validation, conditions, and TPE's internal
 * units (Optuna's _transform: ln for log params, domains widened by half a step for discrete ones). */
#include <math.h>
#include <stdio.h>

#include "sampler_internal.h"

static qn_space_param base(const char *name, qn_param_kind kind) {
    qn_space_param p = {0};
    p.name = name, p.kind = kind, p.parent = -1;
    return p;
}

qn_space_param qn_param_float(const char *name, double low, double high, int log) {
    qn_space_param p = base(name, QN_PARAM_FLOAT);
    p.low = low, p.high = high, p.log = log;
    return p;
}

qn_space_param qn_param_int(const char *name, long low, long high, int log) {
    qn_space_param p = base(name, QN_PARAM_INT);
    p.low = (double)low, p.high = (double)high, p.log = log, p.step = 1;
    return p;
}

qn_space_param qn_param_categorical(const char *name, int n_choices) {
    qn_space_param p = base(name, QN_PARAM_CATEGORICAL);
    p.n_choices = n_choices;
    return p;
}

int qn_space_check(const qn_space *space, char *err, size_t errlen) {
#define FAIL(...) return snprintf(err, errlen, "parameter '%s': " __VA_ARGS__), -1
    if (space->n < 0 || (space->n > 0 && !space->params)) return snprintf(err, errlen, "empty parameter list"), -1;
    for (int i = 0; i < space->n; i++) {
        const qn_space_param *p = &space->params[i];
        const char *name = p->name ? p->name : "?";
        if (p->kind == QN_PARAM_CATEGORICAL) {
            if (p->n_choices < 1) FAIL("a categorical needs at least one choice", name);
        } else if (p->kind == QN_PARAM_FLOAT || p->kind == QN_PARAM_INT) {
            if (!isfinite(p->low) || !isfinite(p->high)) FAIL("bounds must be finite", name);
            if (p->kind == QN_PARAM_FLOAT ? !(p->low < p->high) : !(p->low <= p->high)) FAIL("low must be below high", name);
            if (p->step < 0 || !isfinite(p->step)) FAIL("step must be positive", name);
            if (p->kind == QN_PARAM_INT && (p->low != floor(p->low) || p->high != floor(p->high) || p->step != floor(p->step)))
                FAIL("an int's bounds and step must be integers", name);
            if (p->log && p->low <= 0) FAIL("a log scale needs low > 0", name);
            if (p->log && (p->kind == QN_PARAM_FLOAT ? p->step > 0 : p->step > 1)) FAIL("a log scale takes no step", name);
            if (p->step > 0) {
                /* the top of the range must be a grid point (Optuna moves it down; we ask) */
                double k = (p->high - p->low) / p->step;
                if (fabs(k - nearbyint(k)) > 1e-9 * fmax(1.0, k)) FAIL("high - low must be a multiple of step", name);
            }
        } else {
            FAIL("unknown kind", name);
        }
        if (p->parent >= 0) {
            if (p->parent >= i) FAIL("its condition must name an earlier parameter", name);
            const qn_space_param *q = &space->params[p->parent];
            if (q->kind != QN_PARAM_CATEGORICAL) FAIL("its condition must name a categorical", name);
            if (p->parent_choice < 0 || p->parent_choice >= q->n_choices) FAIL("its condition names no choice of '%s'", name, q->name ? q->name : "?");
        } else if (p->parent != -1) {
            FAIL("parent must be -1 or a parameter index", name);
        }
        if (p->n_values < 0 || (p->n_values > 0 && !p->values)) FAIL("grid values missing", name);
    }
    return 0;
#undef FAIL
}

int qn_space_active(const qn_space *space, const double *x, int p) {
    /* parents come first, so one walk up the chain decides */
    for (int i = p; space->params[i].parent >= 0; i = space->params[i].parent) {
        int q = space->params[i].parent;
        if (isnan(x[q]) || x[q] != (double)space->params[i].parent_choice) return 0;
    }
    return 1;
}

void qn_domain_of(const qn_space_param *p, qn_domain *d) {
    *d = (qn_domain){0};
    if (p->kind == QN_PARAM_CATEGORICAL) {
        d->categorical = 1, d->n_choices = p->n_choices;
        return;
    }
    d->log = p->log, d->is_int = p->kind == QN_PARAM_INT;
    d->low = p->low, d->high = p->high;
    d->step = p->kind == QN_PARAM_INT ? (p->step > 0 ? p->step : 1) : p->step;
    if (d->log) {
        /* a log int's cells are [k - 1/2, k + 1/2] in linear units, continuous in ln space */
        d->lo = log(d->is_int ? d->low - 0.5 : d->low);
        d->hi = log(d->is_int ? d->high + 0.5 : d->high);
        d->step = d->is_int ? 1 : 0;
    } else if (d->step > 0) {
        d->lo = d->low - d->step / 2, d->hi = d->high + d->step / 2, d->q = d->step;
    } else {
        d->lo = d->low, d->hi = d->high;
    }
}

double qn_domain_internal(const qn_domain *d, double x) { return d->log ? log(x) : x; }

double qn_domain_external(const qn_domain *d, double v) {
    if (d->categorical) return v;
    double x = d->log ? exp(v) : v;
    if (d->log && d->is_int) x = nearbyint(x);
    else if (d->step > 0) x = nearbyint((x - d->low) / d->step) * d->step + d->low;
    return x < d->low ? d->low : x > d->high ? d->high : x;
}
