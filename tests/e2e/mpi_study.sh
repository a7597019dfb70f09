# mpirun -np 4: a three-stage study with a failing trial, checked with h5py; then the same study
# with 1 rank (no mpirun) gives identical parameters and metrics.
source "$(dirname "$0")/lib.sh"

expect_rc 3 mpi 4 "$QUENCH" run "$JOBS/study.yaml" -o "$WORK/np4.h5" --progress plain | tee "$WORK/np4.log"
grep -q "FAILED: loss became" "$WORK/np4.log" || die "no FAILED line for the diverging trial"
grep -q "1 trial failed" "$WORK/np4.log" || die "summary does not count the failed trial"
$CHECK "$WORK/np4.h5" --trials 11 --done 10 --failed 1 \
  --param train.lr --param quant.name --param quant.width --param quant.frac_width \
  --param prune.weight.method --param prune.sparsity \
  --metric accuracy --metric eval_loss --metric train_loss --metric ptq_accuracy --metric ptq_loss \
  --metric qat_accuracy --metric qat_loss --metric weight_sparsity \
  --curve baseline:train_loss --curve sweep:train_loss --curve prune:train_loss \
  --dump-csv "$WORK/np4.csv"
# Trials ran on workers 1..3, never on the coordinator.
"$PYTHON" - "$WORK/np4.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
w = set(f["trials"]["worker"][:].tolist())
assert w <= {1, 2, 3, -1} and len(w - {-1}) >= 2, w
assert int(f["devices"].attrs["rows"]) == 3, f["devices"].attrs["rows"]
PY

# The pandas loader users are pointed to reads the same table, with parents resolved by from:.
PYTHONPATH="$SRC/analysis" "$PYTHON" - "$WORK/np4.h5" <<'PY'
import sys
from quench_results import load_trials, load_curve
df = load_trials(sys.argv[1])
assert len(df) == 11 and list(df.columns[:3]) == ["id", "stage", "status"], df.columns
assert sorted(df["id"]) == list(range(11))
sweep = df[df["stage"] == "sweep"]
assert (sweep["parent"] == 0).all(), sweep["parent"]            # from: baseline (trial 0)
best = sweep.loc[sweep["metrics/qat_accuracy"].idxmax(), "id"]
prune = df[df["stage"] == "prune"]
assert (prune["parent"] == best).all(), (prune["parent"].tolist(), best)   # from: best(sweep, qat_accuracy)
assert set(sweep["params/quant.frac_width"]) == {"25%", "50%"}
assert len(load_curve(sys.argv[1], int(best))) > 0
PY

expect_rc 3 "$QUENCH" run "$JOBS/study.yaml" -o "$WORK/np1.h5" --progress plain >/dev/null
$CHECK "$WORK/np1.h5" --trials 11 --done 10 --failed 1 --dump-csv "$WORK/np1.csv" >/dev/null
diff "$WORK/np1.csv" "$WORK/np4.csv" || die "1 rank and 4 ranks gave different metrics"
echo "ok"
