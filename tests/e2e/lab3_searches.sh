# The lab 3 example jobs shrunk to run in CI (a smaller encoder, less data, a few trials per search,
# the same per-layer search spaces): every trial runs once under mpirun, a layer's format keys are
# set exactly when its format needs them, and the report draws best-so-far and per-layer formats.
source "$(dirname "$0")/lib.sh"

shrink() {
  sed -e 's/model: {arch: bert, preset: bert-tiny}/model: {arch: bert, hidden_size: 16, layers: 1, heads: 2, intermediate_size: 32}/' \
      -e 's/train_size: 4000, eval_size: 1000/train_size: 200, eval_size: 100/' \
      -e 's/trials: 100/trials: 12/' -e 's/trials: 30/trials: 3/' "$1"
}
shrink "$SRC/jobs/examples/lab3-mixed-precision.yaml" >"$WORK/mixed.yaml"
shrink "$SRC/jobs/examples/lab3-all-formats.yaml" >"$WORK/formats.yaml"
grep -q "hidden_size: 16" "$WORK/mixed.yaml" && grep -q "trials: 12" "$WORK/formats.yaml" && grep -q "trials: 3" "$WORK/formats.yaml" \
  || die "the examples changed: update the shrinking in $0"
for job in mixed formats; do
  mpi 3 "$QUENCH" run "$WORK/$job.yaml" -o "$WORK/$job.h5" --progress plain >"$WORK/$job.log" 2>&1 \
    || die "$job failed: $(tail -5 "$WORK/$job.log")"
done
PYTHONPATH="$SRC/analysis" "$PYTHON" - "$WORK" <<'PY' || die "lab 3 results are wrong"
import sys
import numpy as np
from quench_results import load_trials
w = sys.argv[1]
m = load_trials(f"{w}/mixed.h5")
assert len(m) == 13 and (m["status"] == "done").all(), m[["id", "stage", "status", "error"]]
names = [c for c in m.columns if c.startswith("params/layers.") and c.endswith(".quant.name")]
assert len(names) == 8, names  # 6 per encoder layer, the pooler and the classifier
s = m[m["stage"] == "mixed"]
for c in names:
    width = c.replace(".quant.name", ".quant.weight.width")
    integer = s[c] == "integer"
    assert s.loc[integer, width].notna().all() and s.loc[~integer, width].isna().all(), (c, s[[c, width]])
f = load_trials(f"{w}/formats.h5")
assert (f["status"] == "done").all(), f[["id", "stage", "status", "error"]]
assert len(f) == 1 + 12 + 7 * 3, len(f)
for stage in ("integer", "minifloat_ieee", "block_log", "binary"):
    chosen = set(np.concatenate([f.loc[f["stage"] == stage, c].dropna().unique()
                                 for c in f.columns if c.startswith("params/layers.") and c.endswith(".quant.name")]))
    assert chosen <= {"fp32", stage}, (stage, chosen)
PY
"$QUENCH" report "$WORK/mixed.h5" -o "$WORK/report" >/dev/null || die "quench report failed"
for fig in best_so_far.png layer_formats.png; do [[ -s $WORK/report/$fig ]] || die "the report lacks $fig"; done
echo ok
