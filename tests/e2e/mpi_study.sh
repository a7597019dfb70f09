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

expect_rc 3 "$QUENCH" run "$JOBS/study.yaml" -o "$WORK/np1.h5" --progress plain >/dev/null
$CHECK "$WORK/np1.h5" --trials 11 --done 10 --failed 1 --dump-csv "$WORK/np1.csv" >/dev/null
diff "$WORK/np1.csv" "$WORK/np4.csv" || die "1 rank and 4 ranks gave different metrics"
echo "ok"
