# Lab 1 as `make demo` runs it (jobs/examples/lab1-ptq-qat.yaml and lab1-prune.yaml, bert-tiny on the
# synthetic data, mpirun with 3 ranks), and the lab reports' findings in its numbers: PTQ at 4 bits
# far below the baseline and QAT recovering most of it, 8 bits near the baseline, L1-norm pruning
# holding accuracy longer than random at moderate sparsity; then the report's figures.
source "$(dirname "$0")/lib.sh"

for job in lab1-ptq-qat lab1-prune; do
  mpi 3 "$QUENCH" run "$SRC/jobs/examples/$job.yaml" -o "$WORK/$job.h5" --progress plain >"$WORK/$job.log" 2>&1 \
    || die "$job failed: $(tail -5 "$WORK/$job.log")"
done
PYTHONPATH="$SRC/analysis" "$PYTHON" - "$WORK" <<'PY' || die "the lab 1 findings do not show"
import sys
from quench_results import load_trials
w = sys.argv[1]
q = load_trials(f"{w}/lab1-ptq-qat.h5")
assert (q["status"] == "done").all(), q[["id", "status", "error"]]
base = float(q.loc[q["stage"] == "baseline", "metrics/accuracy"].iloc[0])
assert base >= 0.9, f"the fp32 baseline reaches only {base}"
sweep = q[q["stage"] == "ptq_qat"]
by_width = sweep.groupby("params/quant.width")[["metrics/ptq_accuracy", "metrics/qat_accuracy"]].max()
ptq4, qat4 = by_width.loc[4]
ptq8 = by_width.loc[8, "metrics/ptq_accuracy"]
print(f"baseline {base:.3f}; 4 bits PTQ {ptq4:.3f} QAT {qat4:.3f}; 8 bits PTQ {ptq8:.3f}")
assert ptq4 <= base - 0.1, "PTQ at 4 bits is not far below the baseline"
assert qat4 - ptq4 >= 0.5 * (base - ptq4), "QAT at 4 bits does not recover most of the loss"
assert ptq8 >= base - 0.02, "PTQ at 8 bits is not near the baseline"

p = load_trials(f"{w}/lab1-prune.h5")
assert (p["status"] == "done").all(), p[["id", "status", "error"]]
pruned = p[p["stage"] == "prune"]
same = pruned[pruned["params/prune.weight.method"] == pruned["params/prune.activation.method"]]  # the lab's curves
assert len(pruned) == 36 and len(same) == 18, (len(pruned), len(same))
pr = same.pivot_table(index="params/prune.sparsity", columns="params/prune.weight.method", values="metrics/accuracy")
print(pr.round(3).to_string())
moderate = pr.loc[(pr.index > 0.35) & (pr.index < 0.75)]
assert (moderate["l1-norm"] >= moderate["random"] - 0.01).all(), "random beats L1-norm at moderate sparsity"
assert (moderate["l1-norm"] - moderate["random"]).mean() >= 0.05, "L1-norm does not hold accuracy longer than random"
assert pr.loc[pr.index < 0.15].min().min() >= base - 0.05, "light pruning loses accuracy"
assert pr.loc[pr.index > 0.85, "random"].iloc[0] <= 0.6, "random pruning at 0.9 keeps its accuracy"
PY
"$QUENCH" report "$WORK/lab1-prune.h5" -o "$WORK/report" >/dev/null || die "quench report failed"
for f in index.html accuracy_vs_width.png accuracy_vs_sparsity.png train_loss.png; do
  [[ -s $WORK/report/$f ]] || die "the report lacks $f"
done
echo ok
