# quench bench sampler: the JSON's shape on short runs of each sampler (no timing or regret
# assertions: the machine may be shared), the reference's figures when python3-optuna is there, the
# reference reported unavailable without its script, and one-line errors with exit code 2 for bad flags.
source "$(dirname "$0")/lib.sh"

have_optuna=0
"$PYTHON" -c 'import optuna' 2>/dev/null && have_optuna=1
for s in tpe random grid; do
  "$QUENCH" bench sampler --function mixed --sampler $s --trials 30 --seeds 2 --json > "$WORK/$s.json" \
    || die "bench sampler --sampler $s failed"
  "$PYTHON" - "$WORK/$s.json" "$have_optuna" "$s" <<'PY' || die "bench sampler --sampler $s --json: unexpected output"
import json, sys
text = open(sys.argv[1]).read()
assert text.count("\n") == 1, text
o = json.loads(text)
assert o["function"] == "mixed" and o["sampler"] == sys.argv[3], o
def figures(f):
    assert set(f["median_regret"]) == {"10", "25"} and set(f["mean_regret"]) == {"10", "25"}, f
    for k in ("median_regret", "mean_regret"):
        for v in f[k].values():
            assert isinstance(v, (int, float)) and v >= 0, f
    assert f["median_regret"]["25"] <= f["median_regret"]["10"] + 1e-12, f
    assert isinstance(f["ms_per_suggest"], (int, float)) and f["ms_per_suggest"] >= 0, f
figures(o)
if sys.argv[2] == "1":
    figures(o["reference"])
else:
    assert o["reference"] is None and o["reference_error"], o
PY
done

# without the reference script: quench's figures alone, the reference reported unavailable
QUENCH_BENCH_DIR="$WORK/nowhere" "$QUENCH" bench sampler --trials 12 --seeds 1 > "$WORK/noref.txt" \
  || die "bench sampler without a reference failed"
grep -q "^10 " "$WORK/noref.txt" && grep -q "unavailable" "$WORK/noref.txt" || die "no reference: $(cat "$WORK/noref.txt")"

# bad flags: one line on stderr, exit code 2
for args in "sampler --function nope" "sampler --sampler cmaes" "sampler --trials 0" "sampler --seeds x" \
            "sampler --trials" "sampler --preset bert-tiny" "train --function branin" "kernels --seeds 3" "sampler --bogus"; do
  expect_usage_error "bench $args"
done
grep -q "bench sampler" <<<"$("$QUENCH" bench --help)" || die "bench --help does not list sampler"
echo "bench sampler: ok"
