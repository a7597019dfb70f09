# A study over every family of number formats (grid per format and per operand) runs to the end
# under mpirun, with parameters recorded per trial and sensible accuracies: 16-bit formats keep the
# baseline's accuracy, all trials done.
source "$(dirname "$0")/lib.sh"

"$QUENCH" validate "$JOBS/formats.yaml" >/dev/null || die "formats.yaml does not validate"
mpi 3 "$QUENCH" run "$JOBS/formats.yaml" -o "$WORK/f.h5" --progress plain >"$WORK/run.log" 2>&1 || die "run failed: $(tail -5 "$WORK/run.log")"
PYTHONPATH="$SRC/analysis" "$PYTHON" - "$WORK/f.h5" <<'PY'
import sys
from quench_results import load_trials
df = load_trials(sys.argv[1])
assert (df["status"] == "done").all(), df[df["status"] != "done"][["id", "stage", "error"]]
assert len(df) == 1 + 8 + 4 + 2 + 1 + 3 + 4 + 1 + 3, len(df)
base = float(df.loc[df["stage"] == "baseline", "metrics/accuracy"].iloc[0])
bf16 = df[(df["stage"] == "others") & (df["params/quant.name"] == "bf16")]
assert abs(float(bf16["metrics/ptq_accuracy"].iloc[0]) - base) <= 0.01, (bf16["metrics/ptq_accuracy"], base)
w = df[df["stage"] == "weight_only"]
assert set(w["params/quant.weight.name"]) == {"nf4", "fp4", "int8"}
assert (w["params/quant.data_in.name"] == "fp16").all()
int8 = float(w.loc[w["params/quant.weight.name"] == "int8", "metrics/ptq_accuracy"].iloc[0])
assert abs(int8 - base) <= 0.03, (int8, base)
assert set(df.loc[df["stage"] == "blocks", "params/quant.block_size"]) == {8.0, 16.0}
assert df["metrics/ptq_accuracy"].dropna().between(0.3, 1.0).all()
PY
echo ok
