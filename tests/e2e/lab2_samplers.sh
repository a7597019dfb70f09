# jobs/examples/lab2-samplers.yaml shrunk to run in CI (smaller architectures, data and budgets, the
# same three search stages): every trial runs once under mpirun, each sampler's architectures come
# from the search space, grid never repeats a point, and the report draws the figures.
source "$(dirname "$0")/lib.sh"

sed -e 's/trials: 30/trials: 8/' \
    -e 's/train_size: 4000, eval_size: 1000/train_size: 300, eval_size: 200/' \
    -e 's/model.layers: {values: \[2, 4, 8\]}/model.layers: {values: [1, 2, 3]}/' \
    -e 's/model.hidden_size: {values: \[128, 192, 256, 384, 512\]}/model.hidden_size: {values: [16, 32, 48, 64, 80]}/' \
    -e 's/model.intermediate_size: {values: \[512, 768, 1024, 1536, 2048\]}/model.intermediate_size: {values: [32, 48, 64, 96, 128]}/' \
    "$SRC/jobs/examples/lab2-samplers.yaml" >"$WORK/lab2.yaml"
grep -q "values: \[16, 32, 48, 64, 80\]" "$WORK/lab2.yaml" && grep -q "trials: 8" "$WORK/lab2.yaml" \
  || die "the example changed: update the shrinking in $0"
"$QUENCH" validate "$WORK/lab2.yaml" >/dev/null || die "the shrunk lab 2 job does not validate"
mpi 3 "$QUENCH" run "$WORK/lab2.yaml" -o "$WORK/lab2.h5" --progress plain >"$WORK/run.log" 2>&1 \
  || die "lab 2 failed: $(tail -5 "$WORK/run.log")"
PYTHONPATH="$SRC/analysis" "$PYTHON" - "$WORK/lab2.h5" <<'PY' || die "lab 2 results are wrong"
import sys
from quench_results import load_trials
df = load_trials(sys.argv[1])
assert len(df) == 24 and (df["status"] == "done").all(), df[["id", "stage", "status", "error"]]
space = {"params/model.layers": {1, 2, 3}, "params/model.heads": {2, 4, 8, 16},
         "params/model.hidden_size": {16, 32, 48, 64, 80}, "params/model.intermediate_size": {32, 48, 64, 96, 128}}
for col, allowed in space.items():
    assert set(df[col].astype(int)) <= allowed, (col, sorted(set(df[col])))
for stage in ("grid", "random", "tpe"):
    s = df[df["stage"] == stage]
    assert len(s) == 8 and s["metrics/accuracy"].between(0, 1).all(), s
grid = df[df["stage"] == "grid"][list(space)]
assert not grid.duplicated().any(), "the grid sampler repeated a point"
PY
"$QUENCH" report "$WORK/lab2.h5" -o "$WORK/report" >/dev/null || die "quench report failed"
[[ -s $WORK/report/index.html ]] || die "no report"
echo ok
