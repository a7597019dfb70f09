#!/usr/bin/python3
"""Reference for `quench bench sampler`: the same functions, samplers and grid with Optuna.

Prints one line of JSON: {"median_regret": {"10": R, ...}, "mean_regret": {...}, "ms_per_suggest": X,
"optuna_version": V, "density": D}. ms_per_suggest is the mean wall time of a whole trial (ask,
suggest, trivial objective, tell) in an in-memory study: Optuna's cost of proposing one trial.

Optuna 3.1-3.4 (Debian's python3-optuna is 3.1) compute the truncated-normal log density without
its -log(sigma) term (fixed by Optuna commit 206e719, first released in 3.5). quench implements the
fixed formula, so with an older Optuna this script subtracts log(scale) in _truncnorm.logpdf, which
is exactly the fix; "density" says which was used.
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import optuna

CHECKPOINTS = (10, 25, 50, 100, 200)


def branin(x):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]


def hartmann6(x):
    s = 0.0
    for i, alpha in enumerate((1.0, 1.2, 3.0, 3.2)):
        s += alpha * math.exp(-sum(A[i][j] * (x[j] - 1e-4 * P[i][j]) ** 2 for j in range(6)))
    return -s


def ackley5(x):
    sq = sum(v * v for v in x)
    cs = sum(math.cos(2 * math.pi * v) for v in x)
    return -20 * math.exp(-0.2 * math.sqrt(sq / 5)) - math.exp(cs / 5) + 20 + math.e


def styblinski5(x):
    return 0.5 * sum(v ** 4 - 16 * v * v + 5 * v for v in x)


OPTIMIZERS = ["sgd", "adam", "rmsprop"]


def mixed(x):
    return (math.log10(x[0]) + 3) ** 2 + (math.log2(x[1]) - 6) ** 2 / 4 + (0.3, 0.0, 0.1)[x[2]] + 10 * x[3]


def sphere10(x):
    return sum(v * v for v in x)


def floats(n, lo, hi):
    return [("float", "x%d" % (i + 1), lo, hi, False) for i in range(n)]


# name -> (params [(kind, name, low, high, log) | ("cat", name, n)], minimum, f); as bench/test_functions.c
FUNCTIONS = {
    "branin": ([("float", "x1", -5, 10, False), ("float", "x2", 0, 15, False)], 0.397887357729738, branin),
    "hartmann6": (floats(6, 0, 1), -3.32236801141551, hartmann6),
    "ackley5": (floats(5, -32.768, 32.768), 0.0, ackley5),
    "styblinski5": (floats(5, -5, 5), -39.16616570377142 * 5, styblinski5),
    "mixed": ([("float", "lr", 1e-5, 1e-1, True), ("int", "batch_size", 8, 512, True), ("cat", "optimizer", 3),
               ("float", "weight_decay", 0, 0.1, False)], 0.0, mixed),
    "sphere10": (floats(10, -5, 5), 0.0, sphere10),
}


def grid_values(params, trials):
    """The grid of qn_test_function_grid: k values per numeric parameter, every choice otherwise."""
    C = 1
    d = 0
    for p in params:
        if p[0] == "cat":
            C *= p[2]
        else:
            d += 1
    k = max(2, math.floor((trials / C) ** (1.0 / d) + 1e-9)) if d else 0
    space = {}
    for p in params:
        if p[0] == "cat":
            space[p[1]] = OPTIMIZERS[: p[2]]
            continue
        kind, name, low, high, log = p
        vals = []
        for i in range(k):
            if log:
                v = math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (k - 1))
            else:
                v = low + (high - low) * i / (k - 1)
            if kind == "int":
                v = float(round(v))  # round half to even, as nearbyint
            v = min(max(v, low), high)
            if v not in vals:
                vals.append(v)
        space[name] = [int(v) for v in vals] if kind == "int" else vals
    return space


def patch_density():
    """Give Optuna < 3.5 the fixed truncated-normal log density. Returns the density used."""
    major, minor = (int(v) for v in optuna.__version__.split(".")[:2])
    if (major, minor) >= (3, 5):
        return "fixed density (native)"
    from optuna.samplers._tpe import _truncnorm

    buggy = _truncnorm.logpdf

    def logpdf(x, a, b, loc=0, scale=1):
        return buggy(x, a, b, loc, scale) - np.log(scale)

    _truncnorm.logpdf = logpdf
    return "fixed density: 3.5's fix patched in"


def run(fname, sampler_name, trials, seed, space):
    params, minimum, f = FUNCTIONS[fname]

    def objective(trial):
        x = []
        for p in params:
            if p[0] == "float":
                x.append(trial.suggest_float(p[1], p[2], p[3], log=p[4]))
            elif p[0] == "int":
                x.append(trial.suggest_int(p[1], p[2], p[3], log=p[4]))
            else:
                x.append(OPTIMIZERS.index(trial.suggest_categorical(p[1], OPTIMIZERS[: p[2]])))
        return f(x)

    if sampler_name == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    elif sampler_name == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.GridSampler(space, seed=seed)
    study = optuna.create_study(sampler=sampler)
    stamps = []
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials, callbacks=[lambda s, t: stamps.append(time.perf_counter())])
    elapsed = (stamps[-1] - t0) if stamps else 0.0
    values = [t.value for t in study.trials if t.value is not None]
    best, regret = math.inf, {}
    for i, v in enumerate(values):
        best = min(best, v)
        if i + 1 in CHECKPOINTS:
            regret[i + 1] = best - minimum
    for c in CHECKPOINTS:  # the grid may end early: the best stays
        if c <= trials and c not in regret:
            regret[c] = best - minimum
    return regret, elapsed, len(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--function", required=True, choices=sorted(FUNCTIONS))
    ap.add_argument("--sampler", required=True, choices=["tpe", "random", "grid"])
    ap.add_argument("--trials", type=int, required=True)
    ap.add_argument("--seeds", type=int, required=True)
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    density = patch_density()
    space = grid_values(FUNCTIONS[a.function][0], a.trials)
    per_seed, total_s, total_n = [], 0.0, 0
    for s in range(a.seeds):
        r, el, n = run(a.function, a.sampler, a.trials, s, space)
        per_seed.append(r)
        total_s += el
        total_n += n
    cps = [c for c in CHECKPOINTS if c <= a.trials]
    out = {
        "median_regret": {str(c): statistics.median(r[c] for r in per_seed) for c in cps},
        "mean_regret": {str(c): statistics.fmean(r[c] for r in per_seed) for c in cps},
        "ms_per_suggest": total_s * 1e3 / max(total_n, 1),
        "optuna_version": optuna.__version__,
        "density": density if a.sampler == "tpe" else "",
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
