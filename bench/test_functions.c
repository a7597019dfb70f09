/* test_functions.c: Branin, Hartmann-6, Ackley-5, Styblinski-Tang-5, a mixed HPO-like function and
 * a 10-d sphere (for the speed figure at 10 parameters), as defined in the research note on
 * samplers, so their regrets compare with Optuna's published and measured ones. */
#include <math.h>
#include <string.h>

#include "test_functions.h"

static double branin(const double *x) {
    const double pi = 3.14159265358979323846, b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
    double u = x[1] - b * x[0] * x[0] + c * x[0] - 6;
    return u * u + 10 * (1 - t) * cos(x[0]) + 10;
}

static double hartmann6(const double *x) {
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14}, {3, 3.5, 1.7, 10, 17, 8},
                                   {17, 8, 0.05, 10, 0.1, 14}};
    static const double P[4][6] = {{1312, 1696, 5569, 124, 8283, 5886}, {2329, 4135, 8307, 3736, 1004, 9991},
                                   {2348, 1451, 3522, 2883, 3047, 6650}, {4047, 8828, 8732, 5743, 1091, 381}};
    double s = 0;
    for (int i = 0; i < 4; i++) {
        double e = 0;
        for (int j = 0; j < 6; j++) {
            double d = x[j] - 1e-4 * P[i][j];
            e += A[i][j] * d * d;
        }
        s += alpha[i] * exp(-e);
    }
    return -s;
}

static double ackley5(const double *x) {
    double sq = 0, cs = 0;
    for (int i = 0; i < 5; i++) sq += x[i] * x[i], cs += cos(2 * 3.14159265358979323846 * x[i]);
    return -20 * exp(-0.2 * sqrt(sq / 5)) - exp(cs / 5) + 20 + exp(1.0);
}

static double styblinski5(const double *x) {
    double s = 0;
    for (int i = 0; i < 5; i++) s += x[i] * x[i] * x[i] * x[i] - 16 * x[i] * x[i] + 5 * x[i];
    return 0.5 * s;
}

/* lr (log float), batch size (log int), optimizer (sgd, adam, rmsprop), weight decay: a bowl in
 * log lr and log2 batch, a penalty per optimizer, linear in weight decay. Minimum 0 at lr = 1e-3,
 * batch 64, adam, weight decay 0. */
static double mixed(const double *x) {
    static const double opt_penalty[3] = {0.3, 0.0, 0.1};
    double a = log10(x[0]) + 3, b = log2(x[1]) - 6;
    return a * a + b * b / 4 + opt_penalty[(int)x[2]] + 10 * x[3];
}

static double sphere10(const double *x) {
    double s = 0;
    for (int i = 0; i < 10; i++) s += x[i] * x[i];
    return s;
}

#define F(n, lo, hi) {.name = n, .kind = QN_PARAM_FLOAT, .low = lo, .high = hi, .parent = -1}
static const qn_test_function functions[] = {
    {"branin", 2, {F("x1", -5, 10), F("x2", 0, 15)}, 0.397887357729738, branin},
    {"hartmann6", 6, {F("x1", 0, 1), F("x2", 0, 1), F("x3", 0, 1), F("x4", 0, 1), F("x5", 0, 1), F("x6", 0, 1)},
     -3.32236801141551, hartmann6},
    {"ackley5", 5,
     {F("x1", -32.768, 32.768), F("x2", -32.768, 32.768), F("x3", -32.768, 32.768), F("x4", -32.768, 32.768),
      F("x5", -32.768, 32.768)},
     0.0, ackley5},
    {"styblinski5", 5, {F("x1", -5, 5), F("x2", -5, 5), F("x3", -5, 5), F("x4", -5, 5), F("x5", -5, 5)},
     -39.16616570377142 * 5, styblinski5},
    {"mixed", 4,
     {{.name = "lr", .kind = QN_PARAM_FLOAT, .low = 1e-5, .high = 1e-1, .log = 1, .parent = -1},
      {.name = "batch_size", .kind = QN_PARAM_INT, .low = 8, .high = 512, .step = 1, .log = 1, .parent = -1},
      {.name = "optimizer", .kind = QN_PARAM_CATEGORICAL, .n_choices = 3, .parent = -1},
      F("weight_decay", 0, 0.1)},
     0.0, mixed},
    {"sphere10", 10,
     {F("x1", -5, 5), F("x2", -5, 5), F("x3", -5, 5), F("x4", -5, 5), F("x5", -5, 5), F("x6", -5, 5), F("x7", -5, 5),
      F("x8", -5, 5), F("x9", -5, 5), F("x10", -5, 5)},
     0.0, sphere10},
};
#undef F

const qn_test_function *qn_test_function_find(const char *name) {
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++)
        if (strcmp(functions[i].name, name) == 0) return &functions[i];
    return NULL;
}

const char *qn_test_function_names(void) { return "branin, hartmann6, ackley5, styblinski5, mixed, sphere10"; }

void qn_test_function_grid(const qn_test_function *tf, int trials, double *values[QN_TF_MAX_DIM],
                           int n_values[QN_TF_MAX_DIM]) {
    int C = 1, d = 0;
    for (int p = 0; p < tf->dim; p++)
        if (tf->params[p].kind == QN_PARAM_CATEGORICAL) C *= tf->params[p].n_choices;
        else d++;
    int k = d ? (int)floor(pow((double)trials / C, 1.0 / d) + 1e-9) : 0;
    if (k < 2) k = 2;
    for (int p = 0; p < tf->dim; p++) {
        const qn_space_param *q = &tf->params[p];
        n_values[p] = 0;
        if (q->kind == QN_PARAM_CATEGORICAL) continue;
        for (int i = 0; i < k; i++) {
            double v = q->log ? exp(log(q->low) + (log(q->high) - log(q->low)) * i / (k - 1))
                              : q->low + (q->high - q->low) * i / (k - 1);
            if (q->kind == QN_PARAM_INT) v = nearbyint(v);
            v = v < q->low ? q->low : v > q->high ? q->high : v; /* exp(log(high)) may overshoot */
            int seen = 0;
            for (int j = 0; j < n_values[p]; j++) seen |= values[p][j] == v;
            if (!seen) values[p][n_values[p]++] = v;
        }
    }
}
