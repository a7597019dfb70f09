/* qn_sampler.h: search spaces and the samplers that propose trials in them: grid, random and TPE
 * (Optuna's univariate TPESampler with its defaults and the corrected >= 3.5 density).
 *
 * Contract:
 * - A space is an ordered list of parameters; a value is a double in the parameter's own units
 *   (a categorical's value is its choice index 0..n-1, an int's value is integral). NAN means
 *   "absent": the parameter was inactive in that trial (conditional spaces).
 * - A parameter with parent >= 0 is active only when the parent (an earlier categorical) is active
 *   and has the value parent_choice.
 * - The history is every trial so far in trial-number order, running and failed ones included.
 * - A suggestion depends only on (seed, space, options, history): the sampler keeps no memory
 *   between calls beyond scratch space, so a study rebuilt from its results file (resume) gets the
 *   same suggestions it would have got without the interruption.
 * - Library code: errors are return codes with a message, never exit().
 */
#ifndef QN_SAMPLER_H
#define QN_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef enum { QN_PARAM_FLOAT, QN_PARAM_INT, QN_PARAM_CATEGORICAL } qn_param_kind;

/* (Named qn_space_param: qn_job.h's qn_param is a trial's name = value.) */
typedef struct {
    const char *name;      /* for messages only */
    qn_param_kind kind;
    double low, high;      /* FLOAT, INT: inclusive bounds (low < high for FLOAT, low <= high for INT) */
    double step;           /* FLOAT: 0 continuous, > 0 a grid low, low+step, ..., high;
                            * INT: 0 or 1 every integer, > 1 every step-th from low */
    int log;               /* FLOAT, INT: log scale (low > 0; not with a step, except INT step 1) */
    int n_choices;         /* CATEGORICAL: the number of choices (>= 1) */
    int parent;            /* -1: always active; else the index of an earlier CATEGORICAL parameter */
    int parent_choice;     /* ... and the choice of it that activates this one */
    const double *values;  /* grid sampler only, optional: the grid's values for this parameter */
    int n_values;          /* (default: every choice / every int / every FLOAT step point) */
} qn_space_param;

/* A parameter with defaults (unconditional, no grid values); fill kind-specific fields after. */
qn_space_param qn_param_float(const char *name, double low, double high, int log);
qn_space_param qn_param_int(const char *name, long low, long high, int log);
qn_space_param qn_param_categorical(const char *name, int n_choices);

typedef struct {
    int n;                 /* parameters */
    const qn_space_param *params;
} qn_space;

/* 0 when the space is well formed, else -1 and a one-line message naming the parameter. */
int qn_space_check(const qn_space *space, char *err, size_t errlen);
/* 1 when parameter p is active given the values x of the parameters before it, else 0. */
int qn_space_active(const qn_space *space, const double *x, int p);

typedef enum { QN_TRIAL_RUNNING, QN_TRIAL_DONE, QN_TRIAL_FAILED } qn_trial_state;

typedef struct {
    int n;                        /* trials, in trial-number order */
    const qn_trial_state *state;  /* n */
    const double *value;          /* n; the objective, read for DONE trials only (NaN counts as failed) */
    const double *x;              /* n * space->n values, row-major; NAN = absent */
} qn_history;

typedef enum { QN_SAMPLER_GRID, QN_SAMPLER_RANDOM, QN_SAMPLER_TPE } qn_sampler_kind;

typedef struct {
    int maximize;            /* 0: minimize the objective (default), 1: maximize */
    uint64_t seed;
    /* grid */
    int grid_shuffle;        /* 1 (default): a seeded uniform pick among unused points, as Optuna's
                              * GridSampler; 0: the first unused point in order (last parameter fastest) */
    /* TPE: Optuna's defaults */
    int n_startup_trials;    /* 10: random until this many trials are DONE */
    int n_ei_candidates;     /* 24 */
    double prior_weight;     /* 1.0 */
    int consider_magic_clip; /* 1 */
    int consider_endpoints;  /* 0 */
    int constant_liar;       /* 1: RUNNING trials count as the worst observations, so parallel
                              * suggestions spread out (Optuna's constant_liar=True) */
    int optuna31_density;    /* 0: the correct truncated-normal density (Optuna >= 3.5); 1: Optuna
                              * 3.1-3.4's, which omits the 1/sigma factor (for comparisons only) */
} qn_sampler_options;

/* The defaults above. */
void qn_sampler_defaults(qn_sampler_options *o);

typedef struct qn_sampler qn_sampler;

/* A sampler over `space` (not copied: it must outlive the sampler). NULL options = defaults.
 * Returns NULL with a message on a bad space (e.g. a grid over a continuous FLOAT without values,
 * a grid of more than 2^26 points) or out of memory. */
qn_sampler *qn_sampler_new(qn_sampler_kind kind, const qn_space *space, const qn_sampler_options *options,
                           char *err, size_t errlen);
void qn_sampler_free(qn_sampler *s);

/* The parameters of trial number h->n, given the history, into x (space->n values, NAN for
 * inactive parameters). Returns 0; 1 for a grid with no unused point left (every point is done,
 * failed or running: the caller waits for running ones or stops); -1 out of memory (message in err).
 * Grid: a point counts as used by any trial whose values equal it (done, failed or running), as
 * Optuna's GridSampler, whose failed points are not retried. */
int qn_sampler_suggest(qn_sampler *s, const qn_history *h, double *x, char *err, size_t errlen);

/* Grid: the number of points (each conditional branch counts once); other kinds: 0. */
long qn_sampler_grid_size(const qn_sampler *s);
/* Grid: point i (0 <= i < size) into x. Returns 0, or -1 when i is out of range. */
int qn_sampler_grid_point(const qn_sampler *s, long i, double *x);

#endif
