/* test_functions.h: the synthetic objectives of quench bench sampler, with their search spaces,
 * known minima, and the grid both quench and the Optuna reference use for a trial budget. */
#ifndef QN_TEST_FUNCTIONS_H
#define QN_TEST_FUNCTIONS_H

#include "qn_sampler.h"

#define QN_TF_MAX_DIM 10

typedef struct {
    const char *name;
    int dim;
    qn_space_param params[QN_TF_MAX_DIM]; /* x in the parameters' units; a categorical's value is its index */
    double optimum;                 /* the global minimum */
    double (*f)(const double *x);
} qn_test_function;

/* NULL when unknown. */
const qn_test_function *qn_test_function_find(const char *name);
/* "branin, hartmann6, ...", for messages. */
const char *qn_test_function_names(void);

/* The grid for a budget of `trials`: each numeric parameter k values, k = max(2, floor((trials /
 * C)^(1/d))) with C the product of the categoricals' choice counts and d the numeric parameters;
 * linspace(low, high, k), in log space for log parameters, ints rounded half to even, clipped to
 * [low, high], repeats dropped. Fills values[p] (room for trials + 2 doubles each) and n_values[p] (0 for categoricals:
 * every choice). bench/optuna_sampler_ref.py builds the same grid. */
void qn_test_function_grid(const qn_test_function *tf, int trials, double *values[QN_TF_MAX_DIM],
                           int n_values[QN_TF_MAX_DIM]);

#endif
