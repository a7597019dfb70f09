# quench bench schedule: the JSON's keys and makespan >= lower bound on lab 1's trials, the exact
# bound on lab2-compression-aware (no timing assertions), and one-line errors with exit code 2 for bad flags and cluster specs.
source "$(dirname "$0")/lib.sh"

"$QUENCH" bench schedule "$SRC/jobs/examples/lab1-ptq-qat.yaml" --cluster 8xl40s,4xrtx8000,16xrtx2080ti --json \
  > "$WORK/s.json" || die "bench schedule failed"
"$PYTHON" - "$WORK/s.json" <<'PY' || die "bench schedule --json: unexpected output"
import json, sys
o = json.loads(open(sys.argv[1]).read())
for k in ("makespan", "lower_bound", "fifo_makespan", "us_per_trial"):
    assert isinstance(o[k], (int, float)), o
assert o["trials"] == 22 and o["devices"] == 28, o
assert [(p["workers"], p["trials"]) for p in o["scaling"]] == [(10, 1000), (100, 10000), (1000, 100000)], o
assert all(p["us_per_trial"] > 0 for p in o["scaling"]), o
assert o["makespan"] >= o["lower_bound"] * (1 - 1e-9) and o["fifo_makespan"] >= o["lower_bound"] * (1 - 1e-9), o
# lab 1's trials fall in few classes: the exact search proves its bound the optimum
assert o["lower_bound_optimal"] is True, o
PY
# lab2-compression-aware: the bound is the optimum and LPT reaches it (docs/benchmarks.md)
"$QUENCH" bench schedule "$SRC/jobs/examples/lab2-compression-aware.yaml" --cluster 8xl40s,4xrtx8000,16xrtx2080ti \
  --json > "$WORK/c.json" || die "bench schedule (lab2-compression-aware) failed"
"$PYTHON" - "$WORK/c.json" <<'PY' || die "bench schedule: lab2-compression-aware's bound is not its optimum"
import json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["lower_bound_optimal"] is True and o["makespan"] <= o["lower_bound"] * (1 + 1e-9), o
PY
"$QUENCH" bench schedule "$SRC/jobs/examples/lab1-ptq-qat.yaml" --cluster 2xh200 --trials 500 >/dev/null \
  || die "bench schedule --trials failed"

J="$SRC/jobs/examples/lab1-ptq-qat.yaml"
expect_usage_error "bench schedule $J"
expect_usage_error "bench schedule --cluster 8xl40s"
expect_usage_error "bench schedule $J --cluster 8xfoo"
expect_usage_error "bench schedule $J --cluster l40s"
expect_usage_error "bench schedule $J --cluster 0xl40s"
expect_usage_error "bench schedule $J --cluster 8xl40s --trials 0"
expect_usage_error "bench schedule $J --cluster 8xl40s --seeds 3"
expect_usage_error "bench schedule $J --cluster 8xl40s --bogus"
expect_usage_error "bench kernels --cluster 8xl40s"
echo "bench schedule: ok"
