# The quantize step: before it the model trains in full precision (the same training-loss curve as
# a job without quantization), after it the trial's formats act; and lab2-compression-aware.yaml
# shrunk to run in CI (smaller architectures, data and budgets, the same stages).
source "$(dirname "$0")/lib.sh"

cat >"$WORK/fp32.yaml" <<EOF
name: q
seed: 7
model: {arch: mlp, embed_dim: 8, hidden_size: 8}
data: {dataset: synthetic-sentiment, train_size: 128, eval_size: 64, max_len: 12}
train: {epochs: 2, batch_size: 16, lr: 1.0e-2}
stages:
  - name: s
    run: [train, eval]
EOF
sed -e 's/^stages:/quant: {name: integer, width: 4, frac_width: 1}\nstages:/' -e 's/run: \[train, eval\]/run: [train, quantize, eval]/' \
  "$WORK/fp32.yaml" >"$WORK/late.yaml"
sed -e 's/run: \[train, quantize, eval\]/run: [train, eval]/' "$WORK/late.yaml" >"$WORK/early.yaml"
for j in fp32 late early; do
  "$QUENCH" run "$WORK/$j.yaml" -o "$WORK/$j.h5" --progress quiet >/dev/null || die "$j failed"
done
"$PYTHON" - "$WORK" <<'PY' || die "the quantize step does not act where it stands"
import sys, h5py, numpy as np
w = sys.argv[1]
def run(j):
    with h5py.File(f"{w}/{j}.h5", "r") as f:
        t = f["trials"]
        return f["trial/0/train_loss"][...], float(t["metrics/eval_loss"][0])
fp32, late, early = run("fp32"), run("late"), run("early")
assert np.array_equal(fp32[0], late[0]), "training before quantize is not full precision"
assert not np.array_equal(fp32[0], early[0]), "without quantize the formats do not act from the start"
assert late[1] != fp32[1], "the evaluation after quantize is not quantized"
PY

sed -e 's/trials: 30/trials: 4/' \
    -e 's/train_size: 4000, eval_size: 1000/train_size: 200, eval_size: 100/' \
    -e 's/model.layers: {values: \[2, 4, 8\]}/model.layers: {values: [1, 2]}/' \
    -e 's/model.hidden_size: {values: \[128, 192, 256, 384, 512\]}/model.hidden_size: {values: [16, 32]}/' \
    -e 's/model.intermediate_size: {values: \[512, 768, 1024, 1536, 2048\]}/model.intermediate_size: {values: [32, 64]}/' \
    "$SRC/jobs/examples/lab2-compression-aware.yaml" >"$WORK/ca.yaml"
[[ $(grep -c "hidden_size: {values: \[16, 32\]}" "$WORK/ca.yaml") -eq 2 ]] || die "the example changed: update the shrinking in $0"
mpi 3 "$QUENCH" run "$WORK/ca.yaml" -o "$WORK/ca.h5" --progress plain >"$WORK/ca.log" 2>&1 || die "lab 2 task 2 failed: $(tail -5 "$WORK/ca.log")"
PYTHONPATH="$SRC/analysis" "$PYTHON" - "$WORK/ca.h5" <<'PY' || die "lab 2 task 2 results are wrong"
import sys
from quench_results import load_trials
df = load_trials(sys.argv[1])
assert len(df) == 13 and (df["status"] == "done").all(), df[["id", "stage", "status", "error"]]
for stage in ("ca_no_ft", "ca_ft", "compress_best"):
    s = df[df["stage"] == stage]
    assert s["metrics/weight_sparsity"].between(0.45, 0.55).all(), (stage, s["metrics/weight_sparsity"])
    assert s["metrics/accuracy"].between(0, 1).all()
nas = df[df["stage"] == "nas"].set_index("id")
parent = int(df.loc[df["stage"] == "compress_best", "parent"].iloc[0])
assert nas.loc[parent, "metrics/accuracy"] == nas["metrics/accuracy"].max(), (parent, nas["metrics/accuracy"])
PY
echo ok
