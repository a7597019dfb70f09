# The BERT-style encoder (model.arch: bert) through a study under mpirun: baseline, PTQ/QAT, pruning
# from the best QAT trial; the same numbers with 1 rank; 16-bit PTQ keeps the baseline's accuracy.
source "$(dirname "$0")/lib.sh"

grep -q "model  bert" <<<"$("$QUENCH" validate "$JOBS/bert.yaml")" || die "validate does not describe the bert model"
mpi 3 "$QUENCH" run "$JOBS/bert.yaml" -o "$WORK/b3.h5" --progress plain >"$WORK/run.log" 2>&1 || die "run failed: $(tail -5 "$WORK/run.log")"
$CHECK "$WORK/b3.h5" --trials 5 --done 5 --failed 0 --metric accuracy --metric ptq_accuracy --metric qat_accuracy \
  --metric weight_sparsity --dump-csv "$WORK/b3.csv" >/dev/null
"$QUENCH" run "$JOBS/bert.yaml" -o "$WORK/b1.h5" --progress quiet >/dev/null || die "1-rank run failed"
$CHECK "$WORK/b1.h5" --trials 5 --done 5 --dump-csv "$WORK/b1.csv" >/dev/null
diff "$WORK/b1.csv" "$WORK/b3.csv" || die "1 rank and 3 ranks gave different metrics"
PYTHONPATH="$SRC/analysis" "$PYTHON" - "$WORK/b3.h5" <<'PY'
import sys
from quench_results import load_trials
df = load_trials(sys.argv[1])
base = float(df.loc[df["stage"] == "baseline", "metrics/accuracy"].iloc[0])
q16 = df[(df["stage"] == "ptq_qat") & (df["params/quant.width"] == 16)]
assert abs(float(q16["metrics/ptq_accuracy"].iloc[0]) - base) <= 0.02, (q16["metrics/ptq_accuracy"], base)
prune = df[df["stage"] == "prune"]
best = df.loc[df[df["stage"] == "ptq_qat"]["metrics/qat_accuracy"].idxmax(), "id"]
assert (prune["parent"] == best).all()
assert prune["metrics/weight_sparsity"].between(0.29, 0.32).all(), prune["metrics/weight_sparsity"]
PY
echo ok
